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
//! - A direction that carries no segment for [`DEFAULT_IDLE_TIMEOUT_NS`] of capture time is
//!   ended as the capture's end would end it (holes declared, buffered bytes handed out, then
//!   `StreamEnd`). Half of the connections of a long capture may never show their FIN (it came
//!   before or after the capture): without this they stayed open to the end, each with its SIP
//!   framing state, so memory and look-up costs grew with the capture instead of with the
//!   connections in use. A segment after the timeout starts the direction afresh, as one whose
//!   SYN was not captured. Ended directions are forgotten after twice the timeout.
//! - An ended direction must still be remembered (a retransmitted FIN or segment after the end
//!   is a retransmission, not a new stream), but only by where it ended: it moves from the map
//!   of open directions to a compact map of ended ones. The open map, looked up by every
//!   segment, then stays as small as the set of open connections and in the CPU cache, instead
//!   of growing with every connection the capture ever saw (on a 1 GB capture its look-ups
//!   were cache misses that made late segments slower than early ones).

use std::collections::{BTreeMap, HashMap};

use smallvec::SmallVec;

use super::{Delivery, DeliveryFlags, DeliveryKind, Flow, FrameFate, FrameRef, Undecodable};

/// How many directions are tracked before the least recently used ones are evicted.
pub const DEFAULT_MAX_DIRECTIONS: usize = 100_000;

/// Capture time without a segment after which a direction is ended (five minutes: longer than
/// any retransmission back-off worth waiting for, and than the keep-alive interval of SIP
/// outbound flows, RFC 5626).
pub const DEFAULT_IDLE_TIMEOUT_NS: i64 = 300 * 1_000_000_000;

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
    /// Buffers `part` of `seg` at stream offset `off` until the bytes before it arrive.
    fn hold(&mut self, off: u64, part: &[u8], seg: &Segment<'_>, conflict: bool) {
        self.pending_bytes = self.pending_bytes.saturating_add(part.len());
        self.pending.insert(
            off,
            Piece {
                data: part.to_vec(),
                frame: seg.frame,
                cut: seg.cut,
                conflict,
            },
        );
    }

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

/// What is left of an ended direction: all that decides what a later segment on it is.
#[derive(Debug, Clone, Copy)]
struct Ended {
    /// Sequence number just after the end (after the FIN, when there was one).
    next_seq: u32,
    /// Recency, for eviction (directions, open or ended, are evicted oldest first).
    tick: u64,
    /// Capture time of its last segment.
    last_ts_ns: i64,
}

/// Reassembles every TCP direction of a capture.
pub struct Reassembler {
    /// foldhash, not the std SipHash: hashing the flow of every segment was a visible share
    /// of the decoding thread; the random seed still keeps crafted flows from colliding.
    dirs: HashMap<Flow, Direction, foldhash::fast::RandomState>,
    /// Ended directions: sequence number after their end, and recency (see [`Ended`]).
    ended: HashMap<Flow, Ended, foldhash::fast::RandomState>,
    max_buffer: usize,
    max_total: usize,
    max_directions: usize,
    total_pending: usize,
    tick: u64,
    idle_timeout_ns: i64,
    /// Capture time of the next look for idle directions.
    next_sweep_ns: i64,
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

/// Parts of a segment not already buffered: nearly always one (the whole segment, when nothing
/// is buffered), so they are kept inline and a segment costs no allocation.
type Parts<'d> = SmallVec<[(u64, &'d [u8]); 2]>;

/// Splits `[start, start + data.len())` into the parts not already buffered, and tells whether
/// the parts that are buffered hold different bytes (marking those pieces as conflicting).
fn uncovered<'d>(
    pending: &mut BTreeMap<u64, Piece>,
    start: u64,
    data: &'d [u8],
) -> (Parts<'d>, bool) {
    let mut out = Parts::new();
    if pending.is_empty() {
        // The usual case, in order or not: nothing to compare with, the segment is one part.
        if !data.is_empty() {
            out.push((start, data));
        }
        return (out, false);
    }
    let end = start.saturating_add(data.len() as u64);
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
            dirs: HashMap::default(),
            ended: HashMap::default(),
            max_buffer,
            max_total: max_buffer.saturating_mul(16),
            max_directions: max_directions.max(1),
            total_pending: 0,
            tick: 0,
            idle_timeout_ns: DEFAULT_IDLE_TIMEOUT_NS,
            next_sweep_ns: i64::MIN,
        }
    }

    /// Sets the idle timeout (capture time; at least one second).
    pub fn with_idle_timeout(mut self, ns: i64) -> Self {
        self.idle_timeout_ns = ns.max(1_000_000_000);
        self
    }

    /// Ends the directions that carried no segment for the idle timeout before `now_ns` (in
    /// flow order, each as [`Reassembler::finish`] would, its last frame completing what is
    /// handed out), and forgets ended directions idle for twice as long. Looks at most four
    /// times per timeout of capture time, so a call costs nothing in between.
    #[inline]
    pub fn expire(&mut self, now_ns: i64, sink: &mut dyn FnMut(Delivery<'_>)) {
        if now_ns < self.next_sweep_ns || (self.dirs.is_empty() && self.ended.is_empty()) {
            return;
        }
        self.sweep(now_ns, sink);
    }

    /// The look of [`Reassembler::expire`], out of line: the check before it runs for every
    /// frame, the look itself a few times per timeout.
    #[inline(never)]
    fn sweep(&mut self, now_ns: i64, sink: &mut dyn FnMut(Delivery<'_>)) {
        self.next_sweep_ns = now_ns.saturating_add(self.idle_timeout_ns / 4);
        let cutoff = now_ns.saturating_sub(self.idle_timeout_ns);
        let mut idle: Vec<Flow> = self
            .dirs
            .iter()
            .filter(|(_, d)| d.last_frame.ts_ns < cutoff)
            .map(|(f, _)| *f)
            .collect();
        idle.sort();
        for flow in idle {
            if let Some(mut dir) = self.dirs.remove(&flow) {
                self.total_pending = self.total_pending.saturating_sub(dir.pending_bytes);
                if !dir.ended {
                    let last = dir.last_frame;
                    close(flow, &mut dir, last, sink);
                }
                self.ended.insert(
                    flow,
                    Ended {
                        next_seq: dir.next_seq,
                        tick: dir.tick,
                        last_ts_ns: dir.last_frame.ts_ns,
                    },
                );
            }
        }
        let forget = now_ns.saturating_sub(self.idle_timeout_ns.saturating_mul(2));
        self.ended.retain(|_, e| e.last_ts_ns >= forget);
    }

    /// Number of directions currently tracked (open or ended).
    pub fn directions(&self) -> usize {
        self.dirs.len() + self.ended.len()
    }

    /// Bytes currently copied and held out of order, over all directions (in-order bytes are
    /// never held). Stays at or under 16 x `max_buffer` between calls to [`Reassembler::push`];
    /// tests and fuzz targets use it to check the memory caps.
    pub fn buffered_bytes(&self) -> usize {
        self.dirs.values().map(|d| d.pending_bytes).sum()
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
            None if self.ended.contains_key(&seg.flow) => {
                // An ended direction: a SYN starts a new connection; anything else is a
                // retransmission or control, unless it brings data beyond the end (a new
                // connection whose SYN was not captured).
                if !seg.syn {
                    let next_seq = self.ended.get(&seg.flow).map_or(0, |e| e.next_seq);
                    let rel = seg.seq.wrapping_sub(next_seq) as i32;
                    if rel < 0 {
                        return FrameFate::NotSip("tcp retransmission");
                    }
                    if !has_data {
                        return FrameFate::NotSip("tcp control");
                    }
                }
                self.ended.remove(&seg.flow);
                let isn = seg.syn.then_some(seg.seq);
                // Takes the place of the ended one: no room to make.
                self.dirs.insert(
                    seg.flow,
                    Direction::new(data_seq, isn, seg.frame, self.tick),
                );
            }
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
        let now_ended = dir.ended;
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
        if now_ended {
            if let Some(dir) = self.dirs.remove(&seg.flow) {
                self.total_pending = self.total_pending.saturating_sub(dir.pending_bytes);
                let e = Ended {
                    next_seq: dir.next_seq,
                    tick: dir.tick,
                    last_ts_ns: dir.last_frame.ts_ns,
                };
                self.ended.insert(seg.flow, e);
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
                            dir.hold(off, part, seg, conflict);
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
                        dir.hold(off, part, seg, conflict);
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
        if self.directions() < self.max_directions {
            return;
        }
        let mut ages: Vec<(u64, Flow)> = self.dirs.iter().map(|(f, d)| (d.tick, *f)).collect();
        ages.extend(self.ended.iter().map(|(f, e)| (e.tick, *f)));
        let evict = (ages.len() / 8).max(1).min(ages.len());
        ages.select_nth_unstable(evict - 1);
        let mut victims: Vec<(u64, Flow)> = ages.get(..evict).unwrap_or(&[]).to_vec();
        victims.sort();
        for (_, flow) in victims {
            if self.ended.remove(&flow).is_some() {
                continue;
            }
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
        self.ended.clear();
        self.total_pending = 0;
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::{Endpoint, Transport};
    use std::net::{IpAddr, Ipv4Addr};

    fn flow(port: u16) -> Flow {
        Flow {
            transport: Transport::Tcp,
            src: Endpoint {
                ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
                port,
            },
            dst: Endpoint {
                ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
                port: 5060,
            },
        }
    }

    fn fr(n: u64) -> FrameRef {
        FrameRef {
            file: 0,
            number: n,
            ts_ns: n as i64 * 1000,
        }
    }

    /// A delivery, owned, for comparing.
    #[derive(Debug, Clone, PartialEq, Eq)]
    enum Ev {
        Data {
            bytes: Vec<u8>,
            carrier: u64,
            by: u64,
            conflict: bool,
            cut: bool,
        },
        Gap(u64),
        End,
    }

    fn data(bytes: &[u8], carrier: u64, by: u64) -> Ev {
        Ev::Data {
            bytes: bytes.to_vec(),
            carrier,
            by,
            conflict: false,
            cut: false,
        }
    }

    fn record(evs: &mut Vec<Ev>, d: Delivery<'_>) {
        evs.push(match d.kind {
            DeliveryKind::Stream => {
                assert_eq!(d.frames.len(), 1, "one carrier per delivery");
                Ev::Data {
                    bytes: d.data.to_vec(),
                    carrier: d.frames[0].number,
                    by: d.completed_by.number,
                    conflict: d.flags.overlap_conflict,
                    cut: d.flags.cut,
                }
            }
            DeliveryKind::StreamGap { missing } => Ev::Gap(missing),
            DeliveryKind::StreamEnd => Ev::End,
            DeliveryKind::Datagram => panic!("datagram from TCP"),
        });
    }

    struct Seg {
        port: u16,
        seq: u32,
        syn: bool,
        fin: bool,
        rst: bool,
        payload: Vec<u8>,
        n: u64,
        cut: bool,
    }

    fn seg(seq: u32, payload: &[u8], n: u64) -> Seg {
        Seg {
            port: 1000,
            seq,
            syn: false,
            fin: false,
            rst: false,
            payload: payload.to_vec(),
            n,
            cut: false,
        }
    }

    fn push(r: &mut Reassembler, s: &Seg) -> (FrameFate, Vec<Ev>) {
        let mut evs = Vec::new();
        let fate = r.push(
            &Segment {
                flow: flow(s.port),
                seq: s.seq,
                syn: s.syn,
                fin: s.fin,
                rst: s.rst,
                payload: &s.payload,
                frame: fr(s.n),
                cut: s.cut,
            },
            &mut |d| record(&mut evs, d),
        );
        (fate, evs)
    }

    fn syn(seq: u32, n: u64) -> Seg {
        Seg {
            syn: true,
            ..seg(seq, b"", n)
        }
    }

    fn finish(r: &mut Reassembler) -> (Vec<(FrameRef, Undecodable)>, Vec<Ev>) {
        let mut evs = Vec::new();
        let lost = r.finish(&mut |d| record(&mut evs, d));
        (lost, evs)
    }

    #[test]
    fn in_order_delivered_at_once() {
        let mut r = Reassembler::new(1 << 16);
        assert_eq!(
            push(&mut r, &syn(1000, 1)).0,
            FrameFate::NotSip("tcp control")
        );
        let (fate, evs) = push(&mut r, &seg(1001, b"abc", 2));
        assert_eq!(fate, FrameFate::Delivered);
        assert_eq!(evs, vec![data(b"abc", 2, 2)]);
        let (fate, evs) = push(&mut r, &seg(1004, b"def", 3));
        assert_eq!(fate, FrameFate::Delivered);
        assert_eq!(evs, vec![data(b"def", 3, 3)]);
        // A pure ACK.
        assert_eq!(
            push(&mut r, &seg(1007, b"", 4)).0,
            FrameFate::NotSip("tcp control")
        );
    }

    #[test]
    fn reversed_segments_held_then_delivered_in_order() {
        let mut r = Reassembler::new(1 << 16);
        push(&mut r, &syn(0, 1));
        assert_eq!(push(&mut r, &seg(7, b"ghi", 2)), (FrameFate::Held, vec![]));
        assert_eq!(push(&mut r, &seg(4, b"def", 3)), (FrameFate::Held, vec![]));
        let (fate, evs) = push(&mut r, &seg(1, b"abc", 4));
        assert_eq!(fate, FrameFate::Delivered);
        assert_eq!(
            evs,
            vec![data(b"abc", 4, 4), data(b"def", 3, 4), data(b"ghi", 2, 4)]
        );
        assert_eq!(finish(&mut r), (vec![], vec![Ev::End]));
    }

    #[test]
    fn duplicates_and_retransmissions_dropped() {
        let mut r = Reassembler::new(1 << 16);
        push(&mut r, &syn(0, 1));
        push(&mut r, &seg(1, b"abc", 2));
        let retrans = FrameFate::NotSip("tcp retransmission");
        assert_eq!(push(&mut r, &seg(1, b"abc", 3)), (retrans, vec![]));
        // A duplicate of a held segment is also a retransmission.
        assert_eq!(push(&mut r, &seg(10, b"xyz", 4)).0, FrameFate::Held);
        assert_eq!(push(&mut r, &seg(10, b"xyz", 5)), (retrans, vec![]));
        let (_, evs) = push(&mut r, &seg(4, b"defghi", 6));
        assert_eq!(evs, vec![data(b"defghi", 6, 6), data(b"xyz", 4, 6)]);
        // Old data after all that.
        assert_eq!(push(&mut r, &seg(4, b"def", 7)), (retrans, vec![]));
        assert_eq!(push(&mut r, &syn(0, 8)), (retrans, vec![]));
    }

    #[test]
    fn overlaps_trimmed_and_conflicts_flagged() {
        let mut r = Reassembler::new(1 << 16);
        push(&mut r, &syn(0, 1));
        push(&mut r, &seg(1, b"0123456789", 2));
        // Half old, half new: only the new half comes out.
        let (fate, evs) = push(&mut r, &seg(6, b"56789ABCDE", 3));
        assert_eq!(fate, FrameFate::Delivered);
        assert_eq!(evs, vec![data(b"ABCDE", 3, 3)]);
        // Held bytes, then an in-order segment that disagrees about part of them: the held
        // copy (seen first) wins and both deliveries are flagged.
        assert_eq!(push(&mut r, &seg(21, b"KLMNO", 4)).0, FrameFate::Held);
        let (_, evs) = push(&mut r, &seg(16, b"FGHIJklmnoP", 5));
        let flagged = |bytes: &[u8], carrier| Ev::Data {
            bytes: bytes.to_vec(),
            carrier,
            by: 5,
            conflict: true,
            cut: false,
        };
        assert_eq!(
            evs,
            vec![flagged(b"FGHIJ", 5), flagged(b"KLMNO", 4), flagged(b"P", 5)]
        );
        // Same bytes overlapping held data: no conflict.
        push(&mut r, &seg(30, b"abcdef", 6));
        let (_, evs) = push(&mut r, &seg(28, b"xyabc", 7));
        assert_eq!(evs, vec![]);
        let (_, evs) = push(&mut r, &seg(27, b"w", 8));
        assert_eq!(
            evs,
            vec![data(b"w", 8, 8), data(b"xy", 7, 8), data(b"abcdef", 6, 8)]
        );
    }

    #[test]
    fn mid_stream_start_at_first_segment() {
        let mut r = Reassembler::new(1 << 16);
        let (fate, evs) = push(&mut r, &seg(5000, b"tail of something", 1));
        assert_eq!(fate, FrameFate::Delivered);
        assert_eq!(evs, vec![data(b"tail of something", 1, 1)]);
        let (_, evs) = push(&mut r, &seg(5017, b"more", 2));
        assert_eq!(evs, vec![data(b"more", 2, 2)]);
    }

    #[test]
    fn hole_declared_at_fin_then_buffered_data() {
        let mut r = Reassembler::new(1 << 16);
        push(&mut r, &syn(100, 1));
        push(&mut r, &seg(101, b"aaaa", 2));
        assert_eq!(push(&mut r, &seg(109, b"cccc", 3)).0, FrameFate::Held);
        let fin = Seg {
            fin: true,
            ..seg(113, b"dd", 4)
        };
        let (fate, evs) = push(&mut r, &fin);
        assert_eq!(fate, FrameFate::Delivered);
        assert_eq!(
            evs,
            vec![Ev::Gap(4), data(b"cccc", 3, 4), data(b"dd", 4, 4), Ev::End]
        );
        // The FIN again, and the lost segment arriving too late.
        let fin_again = Seg {
            fin: true,
            ..seg(115, b"", 5)
        };
        assert_eq!(
            push(&mut r, &fin_again).0,
            FrameFate::NotSip("tcp retransmission")
        );
        assert_eq!(
            push(&mut r, &seg(105, b"bbbb", 6)).0,
            FrameFate::NotSip("tcp retransmission")
        );
        assert_eq!(finish(&mut r), (vec![], vec![]));
    }

    /// A direction idle for the timeout is ended at the first frame after it, as the end of
    /// the capture would end it (hole declared, buffered bytes handed out by its last frame);
    /// a busy one is left alone; data after the end starts the direction afresh.
    #[test]
    fn idle_directions_end_after_the_timeout() {
        let timeout = 2_000_000_000;
        let mut r = Reassembler::new(1 << 16).with_idle_timeout(timeout);
        let at = |n: u64, port: u16, s: Seg| Seg {
            port,
            ..Seg { n, ..s }
        };
        let mut evs = Vec::new();
        push(&mut r, &at(1, 1, syn(0, 1)));
        push(&mut r, &at(2, 1, seg(1, b"ab", 2)));
        assert_eq!(
            push(&mut r, &at(3, 1, seg(10, b"zz", 3))).0,
            FrameFate::Held
        );
        push(&mut r, &at(4, 2, seg(500, b"busy", 4)));
        // Half the timeout later, nothing ends.
        r.expire(timeout / 2, &mut |d| record(&mut evs, d));
        assert!(evs.is_empty());
        assert_eq!(r.directions(), 2);
        // Port 2 stays busy; port 1 goes quiet past the timeout.
        push(&mut r, &at(timeout as u64 / 1000, 2, seg(504, b"more", 5)));
        r.expire(timeout + 4000, &mut |d| record(&mut evs, d));
        assert_eq!(evs, vec![Ev::Gap(7), data(b"zz", 3, 3), Ev::End]);
        assert_eq!(r.buffered_bytes(), 0);
        // The ended direction still knows where it ended: old bytes are a retransmission,
        // new ones start a fresh stream.
        assert_eq!(
            push(&mut r, &at(9, 1, seg(1, b"ab", 9))).0,
            FrameFate::NotSip("tcp retransmission")
        );
        let (fate, fresh) = push(&mut r, &at(10, 1, seg(12, b"new", 10)));
        assert_eq!(fate, FrameFate::Delivered);
        assert_eq!(fresh, vec![data(b"new", 10, 10)]);
        // Long after, everything is forgotten.
        evs.clear();
        r.expire(10 * timeout, &mut |d| record(&mut evs, d));
        assert_eq!(evs, vec![Ev::End, Ev::End]);
        assert_eq!(r.directions(), 0);
    }

    #[test]
    fn hole_declared_at_finish() {
        let mut r = Reassembler::new(1 << 16);
        push(&mut r, &syn(0, 1));
        push(&mut r, &seg(1, b"ab", 2));
        push(&mut r, &seg(10, b"zz", 3));
        let (lost, evs) = finish(&mut r);
        assert!(lost.is_empty());
        assert_eq!(evs, vec![Ev::Gap(7), data(b"zz", 3, 3), Ev::End]);
    }

    #[test]
    fn rst_ends_with_gap() {
        let mut r = Reassembler::new(1 << 16);
        push(&mut r, &seg(50, b"ab", 1));
        push(&mut r, &seg(60, b"zz", 2));
        let rst = Seg {
            rst: true,
            ..seg(62, b"", 3)
        };
        let (fate, evs) = push(&mut r, &rst);
        assert_eq!(fate, FrameFate::NotSip("tcp control"));
        assert_eq!(evs, vec![Ev::Gap(8), data(b"zz", 2, 3), Ev::End]);
    }

    #[test]
    fn sequence_wraps_around() {
        let mut r = Reassembler::new(1 << 16);
        let isn = u32::MAX - 2;
        push(&mut r, &syn(isn, 1));
        // Data starts at MAX-1: two bytes before the wrap, then on past zero.
        assert_eq!(push(&mut r, &seg(4, b"ghi", 2)).0, FrameFate::Held);
        let (_, evs) = push(&mut r, &seg(u32::MAX - 1, b"abcdef", 3));
        assert_eq!(evs, vec![data(b"abcdef", 3, 3), data(b"ghi", 2, 3)]);
        assert_eq!(
            push(&mut r, &seg(u32::MAX, b"bc", 4)).0,
            FrameFate::NotSip("tcp retransmission")
        );
        let (_, evs) = push(&mut r, &seg(7, b"j", 5));
        assert_eq!(evs, vec![data(b"j", 5, 5)]);
    }

    #[test]
    fn syn_fin_and_a_new_connection_on_the_same_ports() {
        let mut r = Reassembler::new(1 << 16);
        let with_syn_data = Seg {
            syn: true,
            ..seg(10, b"x", 1)
        };
        let (_, evs) = push(&mut r, &with_syn_data);
        assert_eq!(evs, vec![data(b"x", 1, 1)]);
        let fin = Seg {
            fin: true,
            ..seg(12, b"yz", 2)
        };
        let (_, evs) = push(&mut r, &fin);
        assert_eq!(evs, vec![data(b"yz", 2, 2), Ev::End]);
        // A new SYN on the same flow: a new stream.
        assert_eq!(
            push(&mut r, &syn(9000, 3)).0,
            FrameFate::NotSip("tcp control")
        );
        let (_, evs) = push(&mut r, &seg(9001, b"new", 4));
        assert_eq!(evs, vec![data(b"new", 4, 4)]);
        // A SYN with another ISN while open: the old stream ends first.
        push(&mut r, &seg(9010, b"q", 5));
        let (_, evs) = push(&mut r, &syn(42, 6));
        assert_eq!(evs, vec![Ev::Gap(6), data(b"q", 5, 6), Ev::End]);
        let (_, evs) = push(&mut r, &seg(43, b"again", 7));
        assert_eq!(evs, vec![data(b"again", 7, 7)]);
    }

    #[test]
    fn ended_directions_are_remembered_until_evicted() {
        // Cap of 4 directions; port 1000 ends after "ab" and its FIN.
        let mut r = Reassembler::with_limits(1 << 16, 4);
        push(&mut r, &syn(100, 1));
        let fin = Seg {
            fin: true,
            ..seg(101, b"ab", 2)
        };
        assert_eq!(push(&mut r, &fin).1, vec![data(b"ab", 2, 2), Ev::End]);
        assert_eq!(r.directions(), 1, "an ended direction is still tracked");
        // After the end, the FIN and the data again are retransmissions; a bare ACK is control.
        assert_eq!(
            push(&mut r, &fin),
            (FrameFate::NotSip("tcp retransmission"), vec![])
        );
        let ack = seg(104, b"", 4);
        assert_eq!(
            push(&mut r, &ack),
            (FrameFate::NotSip("tcp control"), vec![])
        );
        // Data beyond the end: a new stream whose SYN was not captured.
        let (fate, evs) = push(&mut r, &seg(200, b"new", 5));
        assert_eq!(fate, FrameFate::Delivered);
        assert_eq!(evs, vec![data(b"new", 5, 5)]);
        // It ends again; then four more directions push it out as the least recently used.
        let rst = Seg {
            rst: true,
            ..seg(203, b"", 6)
        };
        assert_eq!(push(&mut r, &rst).1, vec![Ev::End]);
        for i in 0..4u16 {
            let s = Seg {
                port: 3000 + i,
                ..seg(1, b"x", 10 + u64::from(i))
            };
            let (_, evs) = push(&mut r, &s);
            assert!(
                !evs.contains(&Ev::End),
                "an ended direction is not ended twice"
            );
            assert!(r.directions() <= 4);
        }
        // Forgotten: its retransmitted FIN is now a segment of an unknown direction.
        assert_eq!(push(&mut r, &fin).0, FrameFate::Delivered);
    }

    #[test]
    fn buffer_cap_declares_the_hole() {
        let mut r = Reassembler::new(10);
        push(&mut r, &syn(0, 1));
        push(&mut r, &seg(1, b"a", 2));
        assert_eq!(push(&mut r, &seg(5, b"12345678", 3)).0, FrameFate::Held);
        let (fate, evs) = push(&mut r, &seg(13, b"90", 4));
        // 10 bytes held is still within the cap.
        assert_eq!((fate, evs), (FrameFate::Held, vec![]));
        let (fate, evs) = push(&mut r, &seg(20, b"!", 5));
        assert_eq!(fate, FrameFate::Held);
        assert_eq!(
            evs,
            vec![Ev::Gap(3), data(b"12345678", 3, 5), data(b"90", 4, 5)]
        );
        // The next hole stays open while under the cap.
        let (_, evs) = push(&mut r, &seg(15, b"abcde", 6));
        assert_eq!(evs, vec![data(b"abcde", 6, 6), data(b"!", 5, 6)]);
    }

    #[test]
    fn cut_segment_flagged_and_its_hole_not_awaited() {
        let mut r = Reassembler::new(1 << 16);
        let cut = Seg {
            cut: true,
            ..seg(1, b"head", 1)
        };
        let (_, evs) = push(&mut r, &cut);
        assert_eq!(
            evs,
            vec![Ev::Data {
                bytes: b"head".to_vec(),
                carrier: 1,
                by: 1,
                conflict: false,
                cut: true
            }]
        );
        let (fate, evs) = push(&mut r, &seg(1400, b"next", 2));
        assert_eq!(fate, FrameFate::Delivered);
        assert_eq!(evs, vec![Ev::Gap(1395), data(b"next", 2, 2)]);
    }

    #[test]
    fn directions_are_capped() {
        let mut r = Reassembler::with_limits(1 << 16, 8);
        let mut ended = 0;
        for i in 0..100u16 {
            let s = Seg {
                port: 2000 + i,
                ..seg(1, b"x", u64::from(i))
            };
            let (_, evs) = push(&mut r, &s);
            ended += evs.iter().filter(|e| **e == Ev::End).count();
            assert!(r.directions() <= 8);
        }
        let (_, evs) = finish(&mut r);
        ended += evs.iter().filter(|e| **e == Ev::End).count();
        assert_eq!(ended, 100, "every evicted direction is ended, once");
    }

    #[test]
    fn control_segments_of_unknown_directions_leave_no_state() {
        let mut r = Reassembler::new(1 << 16);
        let fin = Seg {
            fin: true,
            ..seg(5, b"", 1)
        };
        assert_eq!(
            push(&mut r, &fin),
            (FrameFate::NotSip("tcp control"), vec![])
        );
        assert_eq!(
            push(&mut r, &seg(5, b"", 2)).0,
            FrameFate::NotSip("tcp control")
        );
        assert_eq!(r.directions(), 0);
    }
    /// xorshift64*: deterministic noise for the hostile-input test.
    fn noise(state: &mut u64) -> u64 {
        *state ^= *state >> 12;
        *state ^= *state << 25;
        *state ^= *state >> 27;
        state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// `uncovered` against a byte-by-byte reference: the parts are the maximal runs of
    /// offsets no piece holds, the conflict whether any held byte differs; with nothing held
    /// (its shortcut) and with random pieces around the range.
    #[test]
    fn uncovered_matches_a_byte_by_byte_reference() {
        let mut st = 0x0DDB_1A5E_5BAD_5EEDu64;
        for round in 0..2_000 {
            let mut pending = BTreeMap::new();
            let mut held = [None; 64];
            let pieces = if round % 3 == 0 {
                0
            } else {
                noise(&mut st) % 5
            };
            for _ in 0..pieces {
                let at = (noise(&mut st) % 60) as usize;
                let len = 1 + (noise(&mut st) % 8) as usize;
                let range = at..(at + len).min(64);
                if range.clone().any(|i| held[i].is_some()) {
                    continue; // pieces never overlap
                }
                let data: Vec<u8> = range
                    .clone()
                    .map(|_| b'a' + (noise(&mut st) % 2) as u8)
                    .collect();
                for (i, b) in range.clone().zip(&data) {
                    held[i] = Some(*b);
                }
                let piece = Piece {
                    data,
                    frame: fr(1),
                    cut: false,
                    conflict: false,
                };
                pending.insert(at as u64, piece);
            }
            let start = (noise(&mut st) % 56) as usize;
            let len = (noise(&mut st) % 9) as usize;
            let data: Vec<u8> = (0..len)
                .map(|_| b'a' + (noise(&mut st) % 2) as u8)
                .collect();

            let mut want: Vec<(u64, Vec<u8>)> = Vec::new();
            let mut want_conflict = false;
            for (k, &b) in data.iter().enumerate() {
                let at = start + k;
                match held[at] {
                    Some(old) => want_conflict |= old != b,
                    None => match want.last_mut() {
                        Some((off, run)) if *off as usize + run.len() == at => run.push(b),
                        _ => want.push((at as u64, vec![b])),
                    },
                }
            }
            let (parts, conflict) = uncovered(&mut pending, start as u64, &data);
            let got: Vec<(u64, Vec<u8>)> = parts.iter().map(|(o, p)| (*o, p.to_vec())).collect();
            assert_eq!((got, conflict), (want, want_conflict), "round {round}");
        }
    }

    #[test]
    fn hostile_segments_never_panic_and_stay_bounded() {
        let mut r = Reassembler::with_limits(64, 16);
        let mut st = 0x1234_5678_9ABC_DEF1u64;
        let mut delivered = 0usize;
        for n in 0..20_000u64 {
            let x = noise(&mut st);
            let port = 1000 + (x % 24) as u16;
            // Sequence numbers cluster near the wrap so that old, new and far ones all occur.
            let seq = (u32::MAX - 200).wrapping_add((noise(&mut st) % 600) as u32);
            let len = (noise(&mut st) % 40) as usize;
            let s = Seg {
                port,
                seq,
                syn: x & 0x100 != 0 && x & 0x200 != 0,
                fin: x & 0x400 != 0 && x & 0x800 != 0,
                rst: x & 0xF000 == 0,
                payload: vec![(x >> 20) as u8; len],
                n,
                cut: x & 0x10_0000 != 0,
            };
            let (_, evs) = push(&mut r, &s);
            delivered += evs.len();
            assert!(r.directions() <= 16);
            assert!(r.total_pending <= r.max_total);
        }
        let (lost, _) = finish(&mut r);
        assert!(lost.is_empty());
        assert!(delivered > 1000, "the noise did reach the delivery paths");
    }
}
