//! The counters of one RTP stream (source, destination, SSRC) and how each packet moves them.
//!
//! Owns: [`Stream`] and its per-packet [`Stream::push`] (constant time, no allocation except
//! when a new payload type, DTMF event, long gap or RTCP block is first recorded, each list
//! capped). Two sets of rules live here, on purpose:
//!
//! - Sequence numbers follow RFC 3550 appendix A.1: a 16-bit sequence extended by a cycle
//!   count, `expected = extended highest - base + 1`, `lost = expected - received` (negative
//!   when duplicates arrive, as tshark shows it). A 128-packet window of recently seen numbers
//!   tells duplicates from late (out of order) packets. Unlike A.1, a large forward jump is
//!   taken as loss rather than a sender restart (tshark does the same).
//! - Delta and jitter statistics follow what tshark's `rtp,streams` table prints (TShark 4.0,
//!   `rtppacket_analyse`), so that numbers can be compared with it: jitter is the RFC 3550
//!   section 6.4.1 estimator J += (|D| - J) / 16 computed in milliseconds, where D compares the
//!   arrival gap since the previous packet with the RTP timestamp step since the last packet
//!   that had a clock rate. Payload types without a usable clock rate (telephone-event, dynamic
//!   types nobody named) do not update the jitter, but they do move the arrival reference: the
//!   first audio packet after a DTMF event therefore shows a large D, as in tshark. Packets
//!   with the marker bit, comfort noise packets, the packet after comfort noise and packets
//!   whose timestamp goes back from the previous one update the estimator but are left out of
//!   min/mean/max; the mean is taken over the packets after the first (N - 1 values for N
//!   packets). The clock rate divides as tshark does it, in whole kHz (44100 Hz counts as 44).

use super::dtmf::{parse_event, DtmfLog};
use super::rtcp::{ReportBlock, SenderInfo};
use super::rtp::{is_comfort_noise, RtpPacket};
use crate::net::{Endpoint, FrameRef};

/// Arrival gaps longer than this are recorded as silences.
pub const GAP_NS: i64 = 1_000_000_000;
/// The most gaps, payload types and RTCP blocks kept per stream.
pub const MAX_GAPS: usize = 64;
pub const MAX_PAYLOAD_TYPES: usize = 16;
pub const MAX_RTCP_BLOCKS: usize = 256;

/// One payload type seen in a stream, named and timed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadSlot {
    pub payload_type: u8,
    /// As tshark names it: static short name, rtpmap name, or `RTPType-N`.
    pub tshark_name: String,
    /// SDP / IANA encoding name, when known.
    pub sdp_name: Option<String>,
    /// Clock rate used for jitter; 0 when unknown or not meaningful (telephone-event), and then
    /// no jitter is computed for these packets.
    pub clock_rate: u32,
    /// Nominal clock rate of the encoding (rtpmap or table), 0 when unknown.
    pub rate: u32,
    /// Telephone-event guessed from the payload type number alone (101 without SDP): packets
    /// count as events only when their payload looks like one.
    pub event_guessed: bool,
    pub telephone_event: bool,
    pub packets: u64,
}

/// An arrival gap longer than [`GAP_NS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gap {
    /// The last packet before the gap and the first after it.
    pub before: FrameRef,
    pub after: FrameRef,
    /// The packet after the gap had the marker bit (a talkspurt start: silence suppression).
    pub marker: bool,
}

/// An RTCP report block about this stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtcpBlockRecord {
    pub at: FrameRef,
    /// The RTCP sender and its SSRC.
    pub from: Endpoint,
    pub reporter: u32,
    pub block: ReportBlock,
}

/// RTCP about one stream: blocks reporting on it, and the sender reports of its source.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RtcpLog {
    pub blocks: Vec<RtcpBlockRecord>,
    pub blocks_dropped: u64,
    pub sender_reports: u64,
    pub last_sender: Option<(FrameRef, SenderInfo)>,
    pub bye: Option<FrameRef>,
}

/// Per-stream state.
#[derive(Debug, Clone)]
pub struct Stream {
    pub src: Endpoint,
    pub dst: Endpoint,
    pub ssrc: u32,
    /// Index of the SDP announcement this stream was matched to.
    pub expectation: Option<usize>,
    /// Value of the tracker's announcement counter when `expectation` was last looked up.
    pub(crate) checked_generation: u64,
    /// The SSRC this one replaced on the same source -> destination pair.
    pub previous_ssrc: Option<u32>,
    pub first: FrameRef,
    pub last: FrameRef,
    pub packets: u64,
    pub markers: u64,

    // Sequence numbers (RFC 3550 A.1).
    pub base_seq: u16,
    pub max_seq: u16,
    pub cycles: u32,
    window: u128,
    pub duplicates: u64,
    pub out_of_order: u64,

    // tshark-compatible timing.
    last_raw_ts: u32,
    ext_ts: i64,
    /// Extended timestamp of the last packet that had a clock rate.
    nominal_ts: i64,
    /// Arrival of the previous packet, ms since the first.
    last_arrival_ms: f64,
    prev_pt: u8,
    jitter: f64,
    pub min_delta_ms: Option<f64>,
    pub max_delta_ms: f64,
    pub mean_delta_ms: f64,
    pub min_jitter_ms: Option<f64>,
    pub max_jitter_ms: f64,
    pub mean_jitter_ms: f64,

    // Silences.
    pub gaps: Vec<Gap>,
    pub gap_count: u64,
    pub max_gap_ns: i64,

    pub payloads: Vec<PayloadSlot>,
    /// Packets of payload types beyond [`MAX_PAYLOAD_TYPES`].
    pub unlisted_payload_packets: u64,
    slot: usize,
    pub dtmf: DtmfLog,
    pub rtcp: RtcpLog,
}

/// What the tracker resolves for a payload type the stream has not seen before.
pub type Resolver<'a> = &'a dyn Fn(u8) -> PayloadSlot;

impl Stream {
    pub fn new(src: Endpoint, dst: Endpoint, ssrc: u32, first: FrameRef) -> Stream {
        Stream {
            src,
            dst,
            ssrc,
            expectation: None,
            checked_generation: 0,
            previous_ssrc: None,
            first,
            last: first,
            packets: 0,
            markers: 0,
            base_seq: 0,
            max_seq: 0,
            cycles: 0,
            window: 0,
            duplicates: 0,
            out_of_order: 0,
            last_raw_ts: 0,
            ext_ts: 0,
            nominal_ts: 0,
            last_arrival_ms: 0.0,
            prev_pt: 0,
            jitter: 0.0,
            min_delta_ms: None,
            max_delta_ms: 0.0,
            mean_delta_ms: 0.0,
            min_jitter_ms: None,
            max_jitter_ms: 0.0,
            mean_jitter_ms: 0.0,
            gaps: Vec::new(),
            gap_count: 0,
            max_gap_ns: 0,
            payloads: Vec::new(),
            unlisted_payload_packets: 0,
            slot: usize::MAX,
            dtmf: DtmfLog::default(),
            rtcp: RtcpLog::default(),
        }
    }

    /// `expected = extended highest sequence - base + 1`.
    pub fn expected(&self) -> i64 {
        if self.packets == 0 {
            return 0;
        }
        i64::from(self.cycles) * 65536 + i64::from(self.max_seq) - i64::from(self.base_seq) + 1
    }

    /// `expected - received`; negative when duplicates outnumber losses.
    pub fn lost(&self) -> i64 {
        self.expected()
            .saturating_sub(i64::try_from(self.packets).unwrap_or(i64::MAX))
    }

    /// Finds (or makes, through `resolve`) the slot of a payload type.
    fn slot_for(&mut self, pt: u8, resolve: Resolver<'_>) -> Option<usize> {
        if let Some(s) = self.payloads.get(self.slot) {
            if s.payload_type == pt {
                return Some(self.slot);
            }
        }
        let found = self.payloads.iter().position(|s| s.payload_type == pt);
        let idx = match found {
            Some(i) => i,
            None if self.payloads.len() < MAX_PAYLOAD_TYPES => {
                self.payloads.push(resolve(pt));
                self.payloads.len() - 1
            }
            None => return None,
        };
        self.slot = idx;
        Some(idx)
    }

    /// Re-resolves every payload type (after the stream was matched to an SDP announcement).
    pub fn rename_payloads(&mut self, resolve: Resolver<'_>) {
        for s in &mut self.payloads {
            let packets = s.packets;
            *s = resolve(s.payload_type);
            s.packets = packets;
        }
    }

    /// Takes one packet of this stream.
    pub fn push(&mut self, p: &RtpPacket, at: FrameRef, resolve: Resolver<'_>) {
        let (clock_rate, telephone_event) = match self.slot_for(p.payload_type, resolve) {
            Some(i) => match self.payloads.get_mut(i) {
                Some(s) => {
                    s.packets += 1;
                    (s.clock_rate, (s.telephone_event, s.event_guessed))
                }
                None => (0, (false, false)),
            },
            None => {
                self.unlisted_payload_packets += 1;
                (0, (false, false))
            }
        };
        if telephone_event.0
            && p.payload_len >= 4
            && (!telephone_event.1 || (p.payload_len == 4 && p.head[0] <= 16))
        {
            self.dtmf.push(p.timestamp, parse_event(p.head), at);
        }
        if p.marker {
            self.markers += 1;
        }
        let now_ms = at.ts_ns.saturating_sub(self.first.ts_ns) as f64 / 1e6;

        if self.packets == 0 {
            self.first = at;
            self.last = at;
            self.packets = 1;
            self.base_seq = p.seq;
            self.max_seq = p.seq;
            self.window = 1;
            self.last_raw_ts = p.timestamp;
            self.ext_ts = i64::from(p.timestamp);
            self.nominal_ts = self.ext_ts;
            self.last_arrival_ms = 0.0;
            self.prev_pt = p.payload_type;
            return;
        }

        self.track_sequence(p.seq);

        let gap = at.ts_ns.saturating_sub(self.last.ts_ns);
        if gap > GAP_NS {
            self.gap_count += 1;
            self.max_gap_ns = self.max_gap_ns.max(gap);
            if self.gaps.len() < MAX_GAPS {
                self.gaps.push(Gap {
                    before: self.last,
                    after: at,
                    marker: p.marker,
                });
            }
        }

        // Extended RTP timestamp: the signed 32-bit step from the previous packet.
        let ts_step = p.timestamp.wrapping_sub(self.last_raw_ts) as i32;
        self.ext_ts = self.ext_ts.saturating_add(i64::from(ts_step));
        self.last_raw_ts = p.timestamp;
        let backwards = ts_step < 0;

        let cn = is_comfort_noise(p.payload_type);
        let after_cn = is_comfort_noise(self.prev_pt);
        self.prev_pt = p.payload_type;

        let delta = now_ms - self.last_arrival_ms;
        if clock_rate != 0 {
            let khz = f64::from((clock_rate / 1000).max(1));
            let nominal_ms = self.ext_ts.saturating_sub(self.nominal_ts) as f64 / khz;
            let d = (now_ms - (self.last_arrival_ms + nominal_ms)).abs();
            self.jitter = (15.0 * self.jitter + d) / 16.0;
            self.nominal_ts = self.ext_ts;
        }

        let regular = !(p.marker || cn || after_cn || backwards);
        if regular {
            // Number of packets before this one: the count of deltas including this one.
            let n = self.packets as f64;
            self.max_delta_ms = self.max_delta_ms.max(delta);
            self.min_delta_ms = Some(self.min_delta_ms.map_or(delta, |m| m.min(delta)));
            self.mean_delta_ms = (self.mean_delta_ms * (n - 1.0) + delta) / n;
            if clock_rate != 0 {
                let j = self.jitter;
                self.max_jitter_ms = self.max_jitter_ms.max(j);
                self.min_jitter_ms = Some(self.min_jitter_ms.map_or(j, |m| m.min(j)));
                self.mean_jitter_ms = (self.mean_jitter_ms * (n - 1.0) + j) / n;
            }
        }
        self.last_arrival_ms = now_ms;
        self.packets += 1;
        self.last = at;
    }

    fn track_sequence(&mut self, seq: u16) {
        let step = seq.wrapping_sub(self.max_seq) as i16;
        if step > 0 {
            if seq < self.max_seq {
                self.cycles = self.cycles.saturating_add(1);
            }
            let shift = u32::from(step.unsigned_abs());
            self.window = self.window.checked_shl(shift).unwrap_or(0) | 1;
            self.max_seq = seq;
        } else if step == 0 {
            self.duplicates += 1;
        } else {
            let back = u32::from(step.unsigned_abs());
            let bit = 1u128.checked_shl(back).unwrap_or(0);
            if bit != 0 && self.window & bit != 0 {
                self.duplicates += 1;
            } else {
                self.window |= bit;
                self.out_of_order += 1;
            }
        }
    }

    /// The payload slot that carries the media: most packets, comfort noise and events aside.
    pub fn main_payload(&self) -> Option<&PayloadSlot> {
        self.payloads
            .iter()
            .filter(|s| !s.telephone_event && !is_comfort_noise(s.payload_type))
            .max_by_key(|s| s.packets)
            .or_else(|| self.payloads.first())
    }

    pub fn add_rtcp_block(&mut self, rec: RtcpBlockRecord) {
        if self.rtcp.blocks.len() < MAX_RTCP_BLOCKS {
            self.rtcp.blocks.push(rec);
        } else {
            self.rtcp.blocks_dropped += 1;
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    pub(crate) fn ep(last: u8, port: u16) -> Endpoint {
        Endpoint {
            ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, last)),
            port,
        }
    }

    pub(crate) fn at(number: u64, ms: f64) -> FrameRef {
        FrameRef {
            file: 0,
            number,
            ts_ns: (ms * 1e6).round() as i64,
        }
    }

    pub(crate) fn pkt(pt: u8, seq: u16, timestamp: u32, marker: bool) -> RtpPacket {
        RtpPacket {
            marker,
            payload_type: pt,
            seq,
            timestamp,
            ssrc: 0x1234,
            payload_len: 160,
            head: [0; 4],
        }
    }

    fn g711(pt: u8) -> PayloadSlot {
        PayloadSlot {
            payload_type: pt,
            tshark_name: format!("pt{pt}"),
            sdp_name: None,
            clock_rate: if pt == 101 { 0 } else { 8000 },
            rate: 8000,
            event_guessed: false,
            telephone_event: pt == 101,
            packets: 0,
        }
    }

    fn feed(seqs: &[u16]) -> Stream {
        let mut s = Stream::new(ep(1, 4000), ep(2, 5000), 0x1234, at(1, 0.0));
        for (i, &q) in seqs.iter().enumerate() {
            let ms = i as f64 * 20.0;
            s.push(
                &pkt(0, q, u32::from(q) * 160, false),
                at(i as u64 + 1, ms),
                &g711,
            );
        }
        s
    }

    #[test]
    fn loss_is_counted_from_sequence_numbers() {
        let s = feed(&[10, 11, 13, 14, 17]);
        assert_eq!(s.expected(), 8);
        assert_eq!(s.lost(), 3);
        assert_eq!(s.duplicates, 0);
        assert_eq!(s.out_of_order, 0);
    }

    #[test]
    fn reordering_is_not_loss() {
        let s = feed(&[1, 2, 4, 3, 5]);
        assert_eq!(s.lost(), 0);
        assert_eq!(s.out_of_order, 1);
        assert_eq!(s.duplicates, 0);
    }

    #[test]
    fn duplicates_make_loss_negative() {
        let s = feed(&[1, 2, 2, 3, 2, 4]);
        assert_eq!(s.duplicates, 2);
        assert_eq!(s.expected(), 4);
        assert_eq!(s.lost(), -2);
    }

    #[test]
    fn sequence_wraps_around() {
        let s = feed(&[65533, 65534, 65535, 0, 1, 3]);
        assert_eq!(s.cycles, 1);
        assert_eq!(s.expected(), 7);
        assert_eq!(s.lost(), 1);
        // A late packet from before the wrap is neither a new cycle nor loss.
        let s = feed(&[65534, 0, 65535, 1]);
        assert_eq!(s.cycles, 1);
        assert_eq!(s.lost(), 0);
        assert_eq!(s.out_of_order, 1);
    }

    #[test]
    fn jitter_follows_rfc3550_on_a_hand_computed_sequence() {
        // 8 kHz, 20 ms packets (160 ticks). Arrivals: 0, 20, 45, 60, 80 ms.
        // D for packet 2: |20 - 20| = 0 -> J = 0
        // packet 3: |45 - (20 + 20)| = 5 -> J = 5/16 = 0.3125
        // packet 4: |60 - (45 + 20)| = 5 -> J = (15*0.3125 + 5)/16 = 0.60546875
        // packet 5: |80 - (60 + 20)| = 0 -> J = 15*0.60546875/16 = 0.567626953125
        let mut s = Stream::new(ep(1, 4000), ep(2, 5000), 1, at(1, 0.0));
        for (i, ms) in [0.0, 20.0, 45.0, 60.0, 80.0].iter().enumerate() {
            s.push(
                &pkt(0, i as u16, i as u32 * 160, false),
                at(i as u64, *ms),
                &g711,
            );
        }
        let js = [0.0, 0.3125, 0.60546875, 0.567626953125];
        assert!((s.max_jitter_ms - 0.60546875).abs() < 1e-9);
        assert_eq!(s.min_jitter_ms, Some(0.0));
        let mean = js.iter().sum::<f64>() / 4.0;
        assert!(
            (s.mean_jitter_ms - mean).abs() < 1e-9,
            "{}",
            s.mean_jitter_ms
        );
        assert_eq!(s.min_delta_ms, Some(15.0));
        assert_eq!(s.max_delta_ms, 25.0);
        assert!((s.mean_delta_ms - 20.0).abs() < 1e-9);
    }

    #[test]
    fn marker_packets_update_jitter_but_stay_out_of_the_statistics() {
        let mut s = Stream::new(ep(1, 4000), ep(2, 5000), 1, at(1, 0.0));
        // A talkspurt starts after 2 s of silence: the marker packet's delta is not a max.
        s.push(&pkt(0, 0, 0, true), at(1, 0.0), &g711);
        s.push(&pkt(0, 1, 160, false), at(2, 20.0), &g711);
        s.push(&pkt(0, 2, 16_320, true), at(3, 2040.0), &g711);
        s.push(&pkt(0, 3, 16_480, false), at(4, 2060.0), &g711);
        assert_eq!(s.markers, 2);
        assert_eq!(s.max_delta_ms, 20.0);
        assert_eq!(s.gap_count, 1);
        assert_eq!(s.gaps[0].before.number, 2);
        assert!(s.gaps[0].marker);
        assert_eq!(s.max_gap_ns, 2_020_000_000);
    }

    #[test]
    fn audio_after_an_event_is_timed_from_the_event_but_stamped_from_the_last_audio() {
        // Audio ts 0 @ 0 ms, ts 160 @ 20 ms; event packets (ts 320) @ 40 and 60 ms;
        // audio ts 640 @ 80 ms: arrival gap 20 ms from the event packet, timestamp step
        // 480 ticks = 60 ms from the last audio: D = |80 - (60 + 60)| = 40, J = 40/16.
        let mut s = Stream::new(ep(1, 4000), ep(2, 5000), 1, at(1, 0.0));
        s.push(&pkt(0, 0, 0, false), at(1, 0.0), &g711);
        s.push(&pkt(0, 1, 160, false), at(2, 20.0), &g711);
        for (i, ms) in [(2u16, 40.0), (3, 60.0)] {
            let mut ev = pkt(101, i, 320, false);
            ev.head = [1, 10, 0, 160];
            s.push(&ev, at(u64::from(i) + 1, ms), &g711);
        }
        s.push(&pkt(0, 4, 640, false), at(5, 80.0), &g711);
        assert!((s.max_jitter_ms - 2.5).abs() < 1e-9, "{}", s.max_jitter_ms);
        assert_eq!(s.dtmf.digits(), "1");
    }

    #[test]
    fn events_are_logged_and_do_not_move_jitter() {
        let mut s = Stream::new(ep(1, 4000), ep(2, 5000), 1, at(1, 0.0));
        s.push(&pkt(0, 0, 0, false), at(1, 0.0), &g711);
        let mut ev = pkt(101, 1, 160, true);
        ev.head = [5, 10, 0, 160];
        s.push(&ev, at(2, 20.0), &g711);
        ev.marker = false;
        ev.seq = 2;
        ev.head = [5, 0x80 | 10, 1, 64];
        s.push(&ev, at(3, 73.0), &g711);
        assert_eq!(s.dtmf.digits(), "5");
        assert_eq!(s.max_jitter_ms, 0.0);
        assert_eq!(s.payloads.len(), 2);
        assert_eq!(s.payloads[1].packets, 2);
        assert_eq!(s.main_payload().map(|p| p.payload_type), Some(0));
    }
}
