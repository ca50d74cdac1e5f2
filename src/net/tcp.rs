//! Per-direction TCP stream reassembly: sequence order restored, retransmissions and overlaps
//! removed, gaps reported.
//!
//! Owns: the state of every TCP direction seen ([`Reassembler`]), keyed by [`Flow`]. It turns
//! [`Segment`]s (already cut out of IP by `net::ip`) into in-order [`Delivery`] values of kind
//! `Stream`, `StreamGap` and `StreamEnd`, and says for every segment what became of it.
//!
//! How it works, and why:
//! - Positions are kept as 64-bit stream offsets (`next_abs`) next to the 32-bit sequence number
//!   they correspond to (`next_seq`); an incoming sequence number is turned into an offset by its
//!   signed 32-bit distance from `next_seq`, so wrap-around needs no special case.
//! - In-order bytes are handed out at once, borrowed from the segment (no copy). Only segments
//!   that arrive ahead of a hole are copied, into a per-direction map of non-overlapping pieces.
//! - The first copy of a byte wins: already delivered bytes are never delivered again, and bytes
//!   already buffered are not replaced by a later overlapping segment (which only fills holes).
//!   When overlapping bytes differ from buffered ones, the deliveries carry `overlap_conflict`.
//! - One delivery per contiguous piece of one segment: `frames` is then exactly the carrier of
//!   `data` (the SIP framer relies on this to tell which frame carried which message), while
//!   `completed_by` is the frame being decoded (the one that filled the hole).
//! - When the per-direction buffer cap is exceeded, a FIN or RST arrives with a hole, or the
//!   capture ends, the hole is declared lost: a `StreamGap` delivery, then the buffered bytes.
//!   Held frames are therefore always delivered in the end, after a gap if need be.
//! - Memory is bounded three ways: bytes buffered per direction (`max_buffer`), bytes buffered
//!   over all directions (16 x `max_buffer`), and the number of directions tracked (the least
//!   recently used are ended and forgotten in batches).

use std::collections::{BTreeMap, HashMap};

use super::{Delivery, DeliveryFlags, DeliveryKind, Flow, FrameFate, FrameRef, Undecodable};

/// How many directions are tracked before the least recently used ones are evicted.
pub const DEFAULT_MAX_DIRECTIONS: usize = 100_000;

/// One TCP segment, as decoded from its IP packet.
#[derive(Debug, Clone, Copy)]
pub struct Segment<'a> {
    pub flow: Flow,
    pub seq: u32,
    pub syn: bool,
    pub fin: bool,
    pub rst: bool,
    pub payload: &'a [u8],
    pub frame: FrameRef,
    /// The snap length cut the frame: `payload` is shorter than what was on the wire.
    pub cut: bool,
}

/// Bytes buffered ahead of a hole, copied from one segment.
struct Piece {
    data: Vec<u8>,
    frame: FrameRef,
    cut: bool,
    conflict: bool,
}

/// State of one direction.
struct Direction {
    /// Sequence number of the next byte expected.
    next_seq: u32,
    /// Stream offset of the next byte expected (bytes delivered plus bytes declared missing).
    next_abs: u64,
    /// Initial sequence number when the SYN was seen (to recognise a retransmitted SYN).
    isn: Option<u32>,
    /// Out-of-order pieces by stream offset; never overlapping, all at or after `next_abs`.
    pending: BTreeMap<u64, Piece>,
    pending_bytes: usize,
    /// Stream offset of the FIN, once seen.
    fin_at: Option<u64>,
    ended: bool,
    /// The last in-order segment was cut by the snap length: its missing tail will never come,
    /// so a segment arriving ahead is not worth waiting for.
    cut_hole: bool,
    last_frame: FrameRef,
    /// Recency, for eviction.
    tick: u64,
}

impl Direction {
    fn new(next_seq: u32, isn: Option<u32>, frame: FrameRef, tick: u64) -> Direction {
        Direction {
            next_seq,
            next_abs: 0,
            isn,
            pending: BTreeMap::new(),
            pending_bytes: 0,
            fin_at: None,
            ended: false,
            cut_hole: false,
            last_frame: frame,
            tick,
        }
    }

    fn advance(&mut self, n: u64) {
        self.next_abs = self.next_abs.saturating_add(n);
        // Truncation is the point: sequence numbers are modulo 2^32.
        self.next_seq = self.next_seq.wrapping_add(n as u32);
    }
}

/// Reassembles every TCP direction of a capture.
pub struct Reassembler {
    dirs: HashMap<Flow, Direction>,
    max_buffer: usize,
    max_total: usize,
    max_directions: usize,
    total_pending: usize,
    tick: u64,
}

/// Hands one piece of stream data to the sink.
fn deliver_data(
    flow: Flow,
    data: &[u8],
    carrier: FrameRef,
    completed_by: FrameRef,
    cut: bool,
    conflict: bool,
    sink: &mut dyn FnMut(Delivery<'_>),
) {
    sink(Delivery {
        kind: DeliveryKind::Stream,
        flow,
        data,
        frames: std::slice::from_ref(&carrier),
        completed_by,
        flags: DeliveryFlags {
            cut,
            overlap_conflict: conflict,
            ..DeliveryFlags::default()
        },
    });
}

fn deliver_marker(
    flow: Flow,
    kind: DeliveryKind,
    completed_by: FrameRef,
    sink: &mut dyn FnMut(Delivery<'_>),
) {
    sink(Delivery {
        kind,
        flow,
        data: &[],
        frames: &[],
        completed_by,
        flags: DeliveryFlags::default(),
    });
}

/// Hands out the pending pieces that start exactly at the next expected offset.
/// Returns true if one of them came from `current`.
fn drain_pending(
    flow: Flow,
    dir: &mut Direction,
    current: FrameRef,
    sink: &mut dyn FnMut(Delivery<'_>),
) -> bool {
    let mut delivered_current = false;
    while let Some(entry) = dir.pending.first_entry() {
        let key = *entry.key();
        if key > dir.next_abs {
            break;
        }
        let piece = entry.remove();
        dir.pending_bytes = dir.pending_bytes.saturating_sub(piece.data.len());
        // Pieces never start before `next_abs`; if one did, skip what was already handed out.
        let skip = usize::try_from(dir.next_abs - key).unwrap_or(usize::MAX);
        let data = piece.data.get(skip..).unwrap_or(&[]);
        if data.is_empty() {
            continue;
        }
        deliver_data(
            flow,
            data,
            piece.frame,
            current,
            piece.cut,
            piece.conflict,
            sink,
        );
        delivered_current |= piece.frame == current;
        dir.cut_hole = piece.cut;
        dir.advance(data.len() as u64);
    }
    delivered_current
}

/// Declares the hole before the first pending piece lost and hands out the run that follows.
/// Returns true if a piece of `current` was handed out.
fn skip_hole(
    flow: Flow,
    dir: &mut Direction,
    current: FrameRef,
    sink: &mut dyn FnMut(Delivery<'_>),
) -> bool {
    let Some((&key, _)) = dir.pending.first_key_value() else {
        return false;
    };
    if key > dir.next_abs {
        let missing = key - dir.next_abs;
        deliver_marker(flow, DeliveryKind::StreamGap { missing }, current, sink);
        dir.advance(missing);
    }
    drain_pending(flow, dir, current, sink)
}

/// Ends a direction: every hole declared, all buffered bytes handed out, then `StreamEnd`.
fn close(
    flow: Flow,
    dir: &mut Direction,
    current: FrameRef,
    sink: &mut dyn FnMut(Delivery<'_>),
) -> bool {
    let mut delivered_current = false;
    while !dir.pending.is_empty() {
        delivered_current |= skip_hole(flow, dir, current, sink);
    }
    if let Some(fin) = dir.fin_at {
        if fin > dir.next_abs {
            let missing = fin - dir.next_abs;
            deliver_marker(flow, DeliveryKind::StreamGap { missing }, current, sink);
            dir.advance(missing);
        }
        // The FIN takes one sequence number; a retransmitted FIN then falls before `next_seq`.
        dir.next_seq = dir.next_seq.wrapping_add(1);
    }
    deliver_marker(flow, DeliveryKind::StreamEnd, current, sink);
    dir.ended = true;
    dir.pending_bytes = 0;
    delivered_current
}

/// Splits `[start, start + data.len())` into the parts not already buffered, and tells whether
/// the parts that are buffered hold different bytes (marking those pieces as conflicting).
fn uncovered<'d>(
    pending: &mut BTreeMap<u64, Piece>,
    start: u64,
    data: &'d [u8],
) -> (Vec<(u64, &'d [u8])>, bool) {
    let end = start.saturating_add(data.len() as u64);
    let mut out = Vec::new();
    let mut conflict = false;
    let mut cursor = start;
    // The piece that begins before `start` may still reach into the range.
    let first = pending
        .range(..=start)
        .next_back()
        .map(|(&k, _)| k)
        .unwrap_or(start);
    for (&key, piece) in pending.range_mut(first..end) {
        let piece_end = key.saturating_add(piece.data.len() as u64);
        if piece_end <= cursor {
            continue;
        }
        if key > cursor {
            let a = usize::try_from(cursor - start).unwrap_or(usize::MAX);
            let b = usize::try_from(key - start).unwrap_or(usize::MAX);
            if let Some(part) = data.get(a..b) {
                out.push((cursor, part));
            }
            cursor = key;
        }
        // Compare the overlapping bytes.
        let ov_end = piece_end.min(end);
        let new_a = usize::try_from(cursor - start).unwrap_or(usize::MAX);
        let new_b = usize::try_from(ov_end - start).unwrap_or(usize::MAX);
        let old_a = usize::try_from(cursor - key).unwrap_or(usize::MAX);
        let old_b = usize::try_from(ov_end - key).unwrap_or(usize::MAX);
        if data.get(new_a..new_b) != piece.data.get(old_a..old_b) {
            conflict = true;
            piece.conflict = true;
        }
        cursor = ov_end;
        if cursor >= end {
            break;
        }
    }
    if cursor < end {
        let a = usize::try_from(cursor - start).unwrap_or(usize::MAX);
        if let Some(part) = data.get(a..) {
            out.push((cursor, part));
        }
    }
    (out, conflict)
}

impl Reassembler {
    /// `max_buffer`: bytes held out of order per direction before a hole is declared lost.
    pub fn new(max_buffer: usize) -> Self {
        Self::with_limits(max_buffer, DEFAULT_MAX_DIRECTIONS)
    }

    /// Like [`Reassembler::new`], with an explicit cap on the number of directions tracked.
    pub fn with_limits(max_buffer: usize, max_directions: usize) -> Self {
        Reassembler {
            dirs: HashMap::new(),
            max_buffer,
            max_total: max_buffer.saturating_mul(16),
            max_directions: max_directions.max(1),
            total_pending: 0,
            tick: 0,
        }
    }

    /// Number of directions currently tracked.
    pub fn directions(&self) -> usize {
        self.dirs.len()
    }

    /// Feeds one segment; calls sink with in-order Stream / StreamGap / StreamEnd deliveries.
    pub fn push(&mut self, seg: &Segment<'_>, sink: &mut dyn FnMut(Delivery<'_>)) -> FrameFate {
        self.tick = self.tick.wrapping_add(1);
        let has_data = !seg.payload.is_empty();
        if !has_data && !seg.syn && !seg.fin && !seg.rst {
            return FrameFate::NotSip("tcp control");
        }
        // Where the payload starts: a SYN takes one sequence number before the data.
        let data_seq = if seg.syn {
            seg.seq.wrapping_add(1)
        } else {
            seg.seq
        };

        let mut fresh = None;
        match self.dirs.get_mut(&seg.flow) {
            None => {
                if !seg.syn && !has_data {
                    // FIN or RST of a direction never seen carrying anything.
                    return FrameFate::NotSip("tcp control");
                }
                fresh = Some(Direction::new(
                    data_seq,
                    seg.syn.then_some(seg.seq),
                    seg.frame,
                    self.tick,
                ));
            }
            Some(dir) => {
                if seg.syn {
                    let same_syn = dir.isn == Some(seg.seq) && !dir.ended;
                    if same_syn && !has_data {
                        return FrameFate::NotSip("tcp retransmission");
                    }
                    if !same_syn {
                        // A new connection on the same addresses and ports.
                        if !dir.ended {
                            let before = dir.pending_bytes;
                            close(seg.flow, dir, seg.frame, sink);
                            self.total_pending = self.total_pending.saturating_sub(before);
                        }
                        *dir = Direction::new(data_seq, Some(seg.seq), seg.frame, self.tick);
                    }
                } else if dir.ended {
                    let rel = seg.seq.wrapping_sub(dir.next_seq) as i32;
                    if rel < 0 {
                        return FrameFate::NotSip("tcp retransmission");
                    }
                    if !has_data {
                        return FrameFate::NotSip("tcp control");
                    }
                    // Data beyond the end: a new connection whose SYN was not captured.
                    *dir = Direction::new(data_seq, None, seg.frame, self.tick);
                }
            }
        }
        if let Some(dir) = fresh {
            self.make_room(seg.frame, sink);
            self.dirs.insert(seg.flow, dir);
        }

        let max_buffer = self.max_buffer;
        let Some(dir) = self.dirs.get_mut(&seg.flow) else {
            return FrameFate::NotSip("tcp control");
        };
        let before = dir.pending_bytes;
        dir.tick = self.tick;
        let fate = Self::feed(dir, seg, data_seq, max_buffer, sink);
        let after = dir.pending_bytes;
        self.total_pending = self
            .total_pending
            .saturating_sub(before)
            .saturating_add(after);

        let mut fate = fate;
        if self.total_pending > self.max_total {
            // Too much held over all directions: give up waiting, starting with this one.
            if let Some(dir) = self.dirs.get_mut(&seg.flow) {
                let before = dir.pending_bytes;
                let mut delivered = false;
                while !dir.pending.is_empty() {
                    delivered |= skip_hole(seg.flow, dir, seg.frame, sink);
                }
                self.total_pending = self.total_pending.saturating_sub(before);
                if delivered {
                    fate = FrameFate::Delivered;
                }
            }
            if self.total_pending > self.max_total {
                self.flush_all_pending(seg.frame, sink);
            }
        }
        fate
    }

    /// Feeds one segment to its (started) direction.
    fn feed(
        dir: &mut Direction,
        seg: &Segment<'_>,
        data_seq: u32,
        max_buffer: usize,
        sink: &mut dyn FnMut(Delivery<'_>),
    ) -> FrameFate {
        let flow = seg.flow;
        dir.last_frame = seg.frame;
        let rel = i128::from(data_seq.wrapping_sub(dir.next_seq) as i32);
        let start = i128::from(dir.next_abs) + rel;
        let end = start + seg.payload.len() as i128;
        let next = i128::from(dir.next_abs);

        let mut delivered = false;
        let mut held = false;
        let mut retransmitted = false;

        if !seg.payload.is_empty() {
            if end <= next {
                retransmitted = true;
            } else {
                // Trim what was already handed out (`start` may even be before the stream).
                let skip = usize::try_from(next.saturating_sub(start).max(0)).unwrap_or(0);
                let data = seg.payload.get(skip..).unwrap_or(&[]);
                let s = u64::try_from(start.max(next)).unwrap_or(dir.next_abs);
                if s > dir.next_abs && dir.cut_hole && dir.pending.is_empty() {
                    // The hole is the cut tail of the previous segment: it will never come.
                    let missing = s - dir.next_abs;
                    deliver_marker(flow, DeliveryKind::StreamGap { missing }, seg.frame, sink);
                    dir.advance(missing);
                }
                let (parts, conflict) = uncovered(&mut dir.pending, s, data);
                if parts.is_empty() {
                    retransmitted = true;
                } else if s == dir.next_abs {
                    dir.cut_hole = false;
                    // In order: the parts fill the holes between buffered pieces.
                    for (off, part) in parts {
                        delivered |= drain_pending(flow, dir, seg.frame, sink);
                        if off != dir.next_abs {
                            // Cannot happen (parts and pieces tile the range); keep it anyway.
                            let piece = Piece {
                                data: part.to_vec(),
                                frame: seg.frame,
                                cut: seg.cut,
                                conflict,
                            };
                            dir.pending_bytes = dir.pending_bytes.saturating_add(part.len());
                            dir.pending.insert(off, piece);
                            held = true;
                            continue;
                        }
                        deliver_data(flow, part, seg.frame, seg.frame, seg.cut, conflict, sink);
                        dir.advance(part.len() as u64);
                        delivered = true;
                        dir.cut_hole = seg.cut;
                    }
                    delivered |= drain_pending(flow, dir, seg.frame, sink);
                } else {
                    for (off, part) in parts {
                        let piece = Piece {
                            data: part.to_vec(),
                            frame: seg.frame,
                            cut: seg.cut,
                            conflict,
                        };
                        dir.pending_bytes = dir.pending_bytes.saturating_add(part.len());
                        dir.pending.insert(off, piece);
                    }
                    held = true;
                }
            }
        }

        if seg.fin {
            if let Ok(fin) = u64::try_from(end) {
                if fin >= dir.next_abs && dir.fin_at.is_none() {
                    dir.fin_at = Some(fin);
                }
            }
        }

        // A hole that will not be filled in time: over the cap, or the sender is done.
        let sender_done = seg.rst || dir.fin_at.is_some_and(|f| f > dir.next_abs);
        if sender_done || dir.fin_at == Some(dir.next_abs) {
            delivered |= close(flow, dir, seg.frame, sink);
        } else {
            while dir.pending_bytes > max_buffer {
                delivered |= skip_hole(flow, dir, seg.frame, sink);
            }
        }

        if delivered {
            FrameFate::Delivered
        } else if held {
            FrameFate::Held
        } else if retransmitted {
            FrameFate::NotSip("tcp retransmission")
        } else {
            FrameFate::NotSip("tcp control")
        }
    }

    /// Declares every hole of every direction lost (global memory cap hit).
    fn flush_all_pending(&mut self, current: FrameRef, sink: &mut dyn FnMut(Delivery<'_>)) {
        let mut flows: Vec<Flow> = self
            .dirs
            .iter()
            .filter(|(_, d)| !d.pending.is_empty())
            .map(|(f, _)| *f)
            .collect();
        flows.sort();
        for flow in flows {
            if let Some(dir) = self.dirs.get_mut(&flow) {
                while !dir.pending.is_empty() {
                    skip_hole(flow, dir, current, sink);
                }
            }
        }
        self.total_pending = 0;
    }

    /// Makes room for one more direction by ending and forgetting the least recently used
    /// eighth when the cap is reached (in a batch, so the cost per new direction stays small).
    fn make_room(&mut self, current: FrameRef, sink: &mut dyn FnMut(Delivery<'_>)) {
        if self.dirs.len() < self.max_directions {
            return;
        }
        let mut ages: Vec<(u64, Flow)> = self.dirs.iter().map(|(f, d)| (d.tick, *f)).collect();
        let evict = (ages.len() / 8).max(1).min(ages.len());
        ages.select_nth_unstable(evict - 1);
        let mut victims: Vec<(u64, Flow)> = ages.get(..evict).unwrap_or(&[]).to_vec();
        victims.sort();
        for (_, flow) in victims {
            if let Some(mut dir) = self.dirs.remove(&flow) {
                self.total_pending = self.total_pending.saturating_sub(dir.pending_bytes);
                if !dir.ended {
                    close(flow, &mut dir, current, sink);
                }
            }
        }
    }

    /// End of capture: flushes buffered data (reporting gaps), ends open directions; returns
    /// frames held and never delivered.
    ///
    /// Every held piece is handed out here after its gap, so the list is empty unless a later
    /// version chooses to drop data; callers should still report what it holds.
    pub fn finish(&mut self, sink: &mut dyn FnMut(Delivery<'_>)) -> Vec<(FrameRef, Undecodable)> {
        let mut flows: Vec<Flow> = self
            .dirs
            .iter()
            .filter(|(_, d)| !d.ended)
            .map(|(f, _)| *f)
            .collect();
        flows.sort();
        for flow in flows {
            if let Some(dir) = self.dirs.get_mut(&flow) {
                let last = dir.last_frame;
                close(flow, dir, last, sink);
            }
        }
        self.dirs.clear();
        self.total_pending = 0;
        Vec::new()
    }
}
