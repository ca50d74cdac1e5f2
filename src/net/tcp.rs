//! Per-direction TCP stream reassembly: sequence order, retransmissions and overlaps removed, gaps reported.
//!
//! STUB kept on the net-decoder branch only so that the decoder builds and its tests run: it
//! hands every segment's payload straight out as stream bytes, in arrival order. The real
//! reassembler (same signatures) is written on another branch and replaces this file.

use super::{Delivery, DeliveryFlags, DeliveryKind, Flow, FrameFate, FrameRef, Undecodable};

/// One TCP segment as the decoder saw it.
#[derive(Debug, Clone, Copy)]
pub struct Segment<'a> {
    pub flow: Flow,
    pub seq: u32,
    pub syn: bool,
    pub fin: bool,
    pub rst: bool,
    pub payload: &'a [u8],
    pub frame: FrameRef,
    pub cut: bool,
}

/// Per-direction stream state.
#[derive(Debug, Default)]
pub struct Reassembler {
    _max_buffer: usize,
}

impl Reassembler {
    pub fn new(max_buffer: usize) -> Self {
        Reassembler {
            _max_buffer: max_buffer,
        }
    }

    /// Feeds one segment; calls sink with in-order Stream / StreamGap / StreamEnd deliveries.
    pub fn push(&mut self, seg: &Segment<'_>, sink: &mut dyn FnMut(Delivery<'_>)) -> FrameFate {
        let frames = [seg.frame];
        let flags = DeliveryFlags {
            cut: seg.cut,
            ..DeliveryFlags::default()
        };
        let mut fate = FrameFate::NotSip("tcp control");
        if !seg.payload.is_empty() {
            sink(Delivery {
                kind: DeliveryKind::Stream,
                flow: seg.flow,
                data: seg.payload,
                frames: &frames,
                completed_by: seg.frame,
                flags,
            });
            fate = FrameFate::Delivered;
        }
        if seg.fin || seg.rst {
            sink(Delivery {
                kind: DeliveryKind::StreamEnd,
                flow: seg.flow,
                data: &[],
                frames: &frames,
                completed_by: seg.frame,
                flags,
            });
        }
        fate
    }

    /// End of capture: flushes buffered data (reporting gaps), ends open directions; returns
    /// frames held and never delivered.
    pub fn finish(&mut self, _sink: &mut dyn FnMut(Delivery<'_>)) -> Vec<(FrameRef, Undecodable)> {
        Vec::new()
    }
}
