//! Calls rebuilt on demand from the capture's bytes, so the view's list need not keep any
//! message.
//!
//! While the list loads, a [`FrameIndex`] notes where every frame of every input lies: its
//! data's byte offset inside the input's bytes (the memory map, or the in-memory copy of
//! standard input), its lengths and time. Each list entry keeps only [`CallFrames`]: which
//! frames carried its messages. Opening a call ([`rebuild`]) feeds just those frames, in the
//! order the whole-file run read them, through a fresh [`Ingest`], keeps the messages with the
//! call's Call-ID and analyses them as the whole-file run does.
//!
//! TCP needs more than the call's own frames: other calls' segments on the same connection
//! between two of this call's messages would look like lost bytes to a fresh reassembler
//! (it holds what follows a hole, and the framer resyncs and flags `after_gap`). So for a
//! call with a TCP message every frame of the capture from its first frame to its last is fed
//! (a fresh pipeline sees the connection as the whole-file run did from there on); messages
//! other than the call's own are dropped. As a safeguard for what happened on a connection
//! before the call's first frame, the two flags only that context decides (`after_gap`,
//! `junk_before`) are kept per message from the whole-file run and put back before analysis.

use std::collections::{HashMap, VecDeque};

use crate::capture::{Frame, Input, Merged};
use crate::dialog::{analyze_call, Call, HostIdx, Msg, RoleOverride};
use crate::ingest::Ingest;
use crate::net::FrameRef;

/// Where one frame is.
#[derive(Debug, Clone, Copy)]
struct FrameLoc {
    /// Offset of the frame's data in its input's bytes.
    data: u64,
    ts_ns: i64,
    caplen: u32,
    orig_len: u32,
}

/// A [`FrameLoc`] as the index stores it, in 16 bytes (one per frame of the capture: 1.8
/// million for 1 GB): the data's offset in the low [`OFFSET_BITS`] bits and its length above
/// them, for a frame that was not cut. Any other frame is [`OTHER`], found in the index's
/// side table.
#[derive(Debug, Clone, Copy)]
struct Packed {
    place: u64,
    ts_ns: i64,
}

const OFFSET_BITS: u32 = 48;
/// `place` of a frame kept whole in the side table.
const OTHER: u64 = u64::MAX;

impl Packed {
    fn of(loc: &FrameLoc) -> Option<Packed> {
        let fits = loc.data >> OFFSET_BITS == 0
            && loc.caplen == loc.orig_len
            && u64::from(loc.caplen) < (1 << (64 - OFFSET_BITS)) - 1;
        fits.then(|| Packed {
            place: (u64::from(loc.caplen) << OFFSET_BITS) | loc.data,
            ts_ns: loc.ts_ns,
        })
    }

    fn unpack(self) -> FrameLoc {
        let caplen = (self.place >> OFFSET_BITS) as u32;
        FrameLoc {
            data: self.place & ((1 << OFFSET_BITS) - 1),
            ts_ns: self.ts_ns,
            caplen,
            orig_len: caplen,
        }
    }
}

/// Every frame of every input by (input, frame number), with the link type runs of each
/// input, and (for several inputs) the position of each frame in the merged reading order.
#[derive(Debug, Default)]
pub struct FrameIndex {
    frames: Vec<Vec<Packed>>,
    /// Per input: frames that do not pack (cut by the snap length, longer than 64 KiB), by
    /// position in `frames`.
    others: Vec<HashMap<usize, FrameLoc>>,
    /// Per input: (first frame number, link type), ascending.
    linktypes: Vec<Vec<(u64, u32)>>,
    /// Per input, per frame: position in the merged order (empty with a single input, where
    /// the frame number is the order).
    order: Vec<Vec<u64>>,
}

impl FrameIndex {
    /// Walks the records of `inputs` (no decoding) in the same merged order as the ingest.
    /// Bytes behind the walk are handed back to the OS as the ingest does, so the walk does
    /// not leave the whole file resident.
    pub fn build(inputs: &[Input]) -> FrameIndex {
        Self::build_with(inputs, &mut |_, _| {})
    }

    /// Same as [`FrameIndex::build`], telling `progress` the frames and bytes walked so far
    /// after every frame.
    pub fn build_with(inputs: &[Input], progress: &mut dyn FnMut(u64, u64)) -> FrameIndex {
        let n = inputs.len();
        let mut ix = FrameIndex {
            frames: vec![Vec::new(); n],
            others: vec![HashMap::new(); n],
            linktypes: vec![Vec::new(); n],
            order: vec![Vec::new(); if n > 1 { n } else { 0 }],
        };
        let mut released = vec![0usize; n];
        const STEP: usize = 8 << 20;
        let iters = inputs.iter().map(|i| i.frames()).collect();
        let mut seq = 0u64;
        let mut walked = vec![0u64; n];
        for frame in Merged::new(iters).flatten() {
            let file = usize::from(frame.file);
            let Some(input) = inputs.get(file) else {
                continue;
            };
            let bytes = input.bytes();
            let data = (frame.data.as_ptr() as usize).wrapping_sub(bytes.as_ptr() as usize);
            if let Some(list) = ix.frames.get_mut(file) {
                // Frame numbers count records from 1 with none skipped: the list's position
                // is the number. A record the reader skipped would break that, so check.
                if frame.number != list.len() as u64 + 1 {
                    continue;
                }
                let loc = FrameLoc {
                    data: data as u64,
                    ts_ns: frame.ts_ns,
                    caplen: u32::try_from(frame.data.len()).unwrap_or(u32::MAX),
                    orig_len: frame.orig_len,
                };
                match Packed::of(&loc) {
                    Some(p) => list.push(p),
                    None => {
                        if let Some(others) = ix.others.get_mut(file) {
                            others.insert(list.len(), loc);
                        }
                        list.push(Packed {
                            place: OTHER,
                            ts_ns: loc.ts_ns,
                        });
                    }
                }
            }
            if let Some(runs) = ix.linktypes.get_mut(file) {
                if runs.last().is_none_or(|&(_, l)| l != frame.linktype) {
                    runs.push((frame.number, frame.linktype));
                }
            }
            if let Some(order) = ix.order.get_mut(file) {
                order.push(seq);
            }
            seq = seq.wrapping_add(1);
            if let Some(w) = walked.get_mut(file) {
                *w = frame.offset.saturating_add(frame.data.len() as u64);
            }
            if seq % 4096 == 0 {
                progress(seq, walked.iter().sum());
            }
            if let Some(done) = released.get_mut(file) {
                let upto = usize::try_from(frame.offset).unwrap_or(0) & !(STEP - 1);
                if upto >= done.saturating_add(STEP) {
                    input.release_range(*done, upto);
                    *done = upto;
                }
            }
        }
        ix
    }

    /// Frames indexed over all inputs.
    pub fn len(&self) -> usize {
        self.frames.iter().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes of input `file` up to the end of frame `number` (for progress).
    pub fn bytes_upto(&self, file: u16, number: u64) -> u64 {
        self.loc(file, number)
            .map_or(0, |l| l.data.saturating_add(u64::from(l.caplen)))
    }

    fn loc(&self, file: u16, number: u64) -> Option<FrameLoc> {
        let i = usize::try_from(number.checked_sub(1)?).ok()?;
        let p = *self.frames.get(usize::from(file))?.get(i)?;
        if p.place == OTHER {
            return self.others.get(usize::from(file))?.get(&i).copied();
        }
        Some(p.unpack())
    }

    /// Position of a frame in the merged reading order.
    fn seq(&self, file: u16, number: u64) -> u64 {
        let i = usize::try_from(number.saturating_sub(1)).unwrap_or(usize::MAX);
        self.order
            .get(usize::from(file))
            .and_then(|o| o.get(i))
            .copied()
            .unwrap_or(number)
    }

    /// Every frame from `first` to `last` (inclusive) in reading order, as (position,
    /// input, number).
    fn between(
        &self,
        first: Option<(u64, u16, u64)>,
        last: Option<(u64, u16, u64)>,
    ) -> Vec<(u64, u16, u64)> {
        let (Some(first), Some(last)) = (first, last) else {
            return Vec::new();
        };
        if self.order.is_empty() {
            // One input: the frame number is the reading order.
            let (file, a, b) = (first.1, first.2, last.2);
            return (a..=b).map(|n| (n, file, n)).collect();
        }
        let mut all = Vec::new();
        for (f, order) in self.order.iter().enumerate() {
            let Ok(file) = u16::try_from(f) else { break };
            // Positions grow with the frame number within an input (the merge keeps each
            // input's order).
            let from = order.partition_point(|&s| s < first.0);
            let to = order.partition_point(|&s| s <= last.0);
            for (i, &s) in order.iter().enumerate().take(to).skip(from) {
                all.push((s, file, i as u64 + 1));
            }
        }
        all.sort_unstable();
        all
    }

    fn linktype(&self, file: u16, number: u64) -> u32 {
        let Some(runs) = self.linktypes.get(usize::from(file)) else {
            return 0;
        };
        let at = runs.partition_point(|&(first, _)| first <= number);
        at.checked_sub(1)
            .and_then(|i| runs.get(i))
            .map_or(0, |&(_, l)| l)
    }

    /// The frame again, borrowing its bytes from `inputs`.
    fn frame<'a>(&self, inputs: &'a [Input], file: u16, number: u64) -> Option<Frame<'a>> {
        let loc = self.loc(file, number)?;
        let bytes = inputs.get(usize::from(file))?.bytes();
        let start = usize::try_from(loc.data).ok()?;
        let end = start.checked_add(usize::try_from(loc.caplen).ok()?)?;
        Some(Frame {
            file,
            number,
            ts_ns: loc.ts_ns,
            linktype: self.linktype(file, number),
            data: bytes.get(start..end)?,
            orig_len: loc.orig_len,
            offset: loc.data,
        })
    }
}

/// Bits of a packed frame reference: the frame number above the input index.
const FILE_BITS: u32 = 16;
/// Flag bits below each packed frame of [`CallFrames`].
const MARK_BITS: u32 = 4;
/// On a message's mark: the whole capture's flags.
const AFTER_GAP: u64 = 1;
const JUNK_BEFORE: u64 = 2;
/// A frame that carried bytes of a message without completing one (not a mark).
const CARRIER: u64 = 4;
/// On the first mark: some message came over a stream (TCP).
const STREAM: u64 = 8;

/// `None` for a frame number too large to pack with its flags (no real capture has 2^44
/// records).
fn pack(f: &FrameRef) -> Option<u64> {
    if f.number >> (64 - FILE_BITS - MARK_BITS) != 0 {
        return None;
    }
    Some((f.number << FILE_BITS) | u64::from(f.file))
}

fn unpack(p: u64) -> (u16, u64) {
    ((p & 0xffff) as u16, p >> FILE_BITS)
}

/// What a list entry keeps to rebuild its call: the frames that carried its messages, and per
/// message (in the call's order) its completing frame with the flags only the whole capture
/// could tell.
///
/// One allocation per call (the list holds one per call of the capture), and nothing else:
/// the messages' marks first, then the frames that carried bytes of a message without
/// completing one (IP fragments, TCP segments before the last), told apart by a flag bit.
/// Over UDP without fragments there are none: the frames are the marks' frames.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallFrames {
    /// Packed (frame number, input) shifted past [`MARK_BITS`] flag bits: the completing
    /// frame of each message with its flags (and [`STREAM`] on the first), then the other
    /// frames ([`CARRIER`]), sorted, without repeats.
    packed: Box<[u64]>,
}

impl CallFrames {
    /// Notes the frames of a whole-file call.
    pub fn of(call: &Call) -> CallFrames {
        // Sized for the marks: over UDP there is nothing else, so this is the only
        // allocation.
        let mut packed: Vec<u64> = Vec::with_capacity(call.messages.len());
        let mut stream = false;
        for m in &call.messages {
            let p = pack(&m.frame).map_or(0, |p| p << MARK_BITS);
            let mut bits = 0;
            if m.flags.after_gap {
                bits |= AFTER_GAP;
            }
            if m.flags.junk_before {
                bits |= JUNK_BEFORE;
            }
            packed.push(p | bits);
            stream |= m.flow.transport == crate::net::Transport::Tcp;
        }
        if let Some(first) = packed.first_mut().filter(|_| stream) {
            *first |= STREAM;
        }
        // Completing frames, sorted for lookup (on the stack for most calls).
        let mut completing: smallvec::SmallVec<[u64; 16]> =
            packed.iter().map(|&m| m >> MARK_BITS).collect();
        completing.sort_unstable();
        let mut others: Vec<u64> = Vec::new();
        for m in &call.messages {
            for p in m.frames.iter().filter_map(pack) {
                if completing.binary_search(&p).is_err() {
                    others.push(p);
                }
            }
        }
        if !others.is_empty() {
            others.sort_unstable();
            others.dedup();
            packed.extend(others.into_iter().map(|p| (p << MARK_BITS) | CARRIER));
        }
        CallFrames {
            packed: packed.into_boxed_slice(),
        }
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.packed.len() * 8
    }

    /// How many of `packed` are marks (they come first).
    fn mark_count(&self) -> usize {
        self.packed.partition_point(|&p| p & CARRIER == 0)
    }

    /// Packed completing frame and flag bits of each message.
    fn marks(&self) -> &[u64] {
        self.packed.get(..self.mark_count()).unwrap_or(&[])
    }

    /// Some message came over a stream (TCP): other calls' segments on the same connection
    /// must be fed too.
    fn stream(&self) -> bool {
        self.packed.first().is_some_and(|&p| p & STREAM != 0)
    }

    /// Packed (frame number, input) of every frame, sorted, without repeats.
    fn frames(&self) -> Vec<u64> {
        let others = self.packed.get(self.mark_count()..).unwrap_or(&[]);
        let mut all: Vec<u64> = self
            .marks()
            .iter()
            .map(|&m| m >> MARK_BITS)
            // 0: a frame number too large to pack (see `pack`), left out as before.
            .filter(|&p| p != 0)
            .chain(others.iter().map(|&o| o >> MARK_BITS))
            .collect();
        all.sort_unstable();
        all.dedup();
        all
    }

    /// (input, frame number) of the first message's completing frame.
    fn first_message(&self) -> Option<(u16, u64)> {
        self.marks().first().map(|&m| unpack(m >> MARK_BITS))
    }
}

/// Rebuilds a call from its frames: decoded again through a fresh ingest (message text
/// kept), the messages with its Call-ID kept (a call without one is its single message), the
/// whole-capture flags put back, analysed with the same role overrides, and the hosts found
/// to be B2BUAs across calls promoted.
pub fn rebuild(
    inputs: &[Input],
    index: &FrameIndex,
    call_id: &str,
    frames: &CallFrames,
    overrides: &[RoleOverride],
    b2bua: &[HostIdx],
) -> Call {
    let mut order: Vec<(u64, u16, u64)> = frames
        .frames()
        .iter()
        .map(|&p| {
            let (file, number) = unpack(p);
            (index.seq(file, number), file, number)
        })
        .collect();
    order.sort_unstable();
    if frames.stream() {
        order = index.between(order.first().copied(), order.last().copied());
    }
    let mut ing = Ingest::new();
    ing.add_inputs(inputs);
    let mut msgs: Vec<Msg> = Vec::new();
    let first = frames.first_message();
    let completing: std::collections::HashSet<u64> =
        frames.marks().iter().map(|&m| m >> MARK_BITS).collect();
    let mut keep = |m: crate::sip::SipMessage| {
        let msg = Msg::from_message(m, true);
        let mine = if call_id.is_empty() {
            msg.call_id.is_empty() && Some((msg.frame.file, msg.frame.number)) == first
        } else {
            // Frames of other calls fed for the TCP state complete no message of this call
            // that the whole-file run did not find.
            msg.call_id == call_id && pack(&msg.frame).is_some_and(|p| completing.contains(&p))
        };
        if mine {
            msgs.push(msg);
        }
    };
    for (_, file, number) in order {
        if let Some(f) = index.frame(inputs, file, number) {
            ing.push_frame(&f, &mut keep);
        }
    }
    ing.finish(&mut keep);
    restore_flags(&mut msgs, frames.marks());
    let mut call = analyze_call(msgs, overrides);
    for &h in b2bua {
        if let Some(host) = call.hosts.get_mut(h) {
            crate::analysis::promote(host);
        }
    }
    call
}

/// Puts back the flags the whole capture gave each message: the n-th message completed by a
/// frame gets the n-th mark of that frame.
fn restore_flags(msgs: &mut [Msg], marks: &[u64]) {
    let mut by_frame: HashMap<u64, VecDeque<u64>> = HashMap::new();
    for &mk in marks {
        by_frame
            .entry(mk >> MARK_BITS)
            .or_default()
            .push_back(mk & ((1 << MARK_BITS) - 1));
    }
    for m in msgs {
        let Some(p) = pack(&m.frame) else { continue };
        if let Some(bits) = by_frame.get_mut(&p).and_then(VecDeque::pop_front) {
            m.flags.after_gap = bits & AFTER_GAP != 0;
            m.flags.junk_before = bits & JUNK_BEFORE != 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(l: &FrameLoc) -> (u64, i64, u32, u32) {
        (l.data, l.ts_ns, l.caplen, l.orig_len)
    }

    /// `CallFrames::of` as it was first written (hash set of completing frames).
    fn of_reference(call: &Call) -> CallFrames {
        let packed: Vec<u64> = call
            .messages
            .iter()
            .map(|m| {
                let p = pack(&m.frame).map_or(0, |p| p << MARK_BITS);
                let mut bits = 0;
                if m.flags.after_gap {
                    bits |= AFTER_GAP;
                }
                if m.flags.junk_before {
                    bits |= JUNK_BEFORE;
                }
                p | bits
            })
            .collect();
        let completing: std::collections::HashSet<u64> =
            packed.iter().map(|&m| m >> MARK_BITS).collect();
        let mut others: Vec<u64> = call
            .messages
            .iter()
            .flat_map(|m| m.frames.iter())
            .filter_map(pack)
            .filter(|p| !completing.contains(p))
            .collect();
        others.sort_unstable();
        others.dedup();
        let stream = call
            .messages
            .iter()
            .any(|m| m.flow.transport == crate::net::Transport::Tcp);
        let mut all = packed;
        if stream {
            all[0] |= STREAM;
        }
        all.extend(others.into_iter().map(|p| (p << MARK_BITS) | CARRIER));
        CallFrames {
            packed: all.into_boxed_slice(),
        }
    }

    fn fr(file: u16, number: u64) -> FrameRef {
        FrameRef {
            file,
            number,
            ts_ns: 0,
        }
    }

    #[test]
    fn call_frames_match_the_hash_set_reference() {
        use crate::dialog::testkit::{invite, reply};
        let inv = invite("c", 1, 2, 0, "z9hG4bK-1", 1);
        let ok = reply(&inv, 200, 10, Some("t"));
        // (completing frame, carrying frames, after_gap, junk_before, tcp) per message.
        type Shape = (FrameRef, Vec<FrameRef>, bool, bool, bool);
        let big = 1u64 << 50;
        let shapes: Vec<Vec<Shape>> = vec![
            // UDP: each message its own frame.
            vec![
                (fr(0, 1), vec![fr(0, 1)], false, false, false),
                (fr(0, 2), vec![fr(0, 2)], false, false, false),
            ],
            // Fragments and TCP segments, out of order and repeated, some completing
            // another message; flags on both.
            vec![
                (
                    fr(0, 9),
                    vec![fr(0, 7), fr(0, 9), fr(0, 3)],
                    true,
                    false,
                    true,
                ),
                (
                    fr(0, 3),
                    vec![fr(0, 3), fr(1, 7), fr(0, 7)],
                    false,
                    true,
                    false,
                ),
                (fr(0, 3), vec![fr(0, 5), fr(0, 5)], true, true, true),
            ],
            // Frame numbers too large to pack, no carrying frames, several inputs.
            vec![
                (fr(2, big), vec![fr(2, big), fr(2, 4)], true, false, false),
                (fr(1, 4), vec![], false, false, false),
                (fr(2, 4), vec![fr(1, 4), fr(2, big + 1)], false, true, false),
            ],
            // Twenty messages (past the stack room), each completed by the next's frame.
            (1..=20u64)
                .map(|n| {
                    (
                        fr(0, n + 1),
                        vec![fr(0, n), fr(0, 40 - n)],
                        n % 3 == 0,
                        n % 5 == 0,
                        n == 7,
                    )
                })
                .collect(),
        ];
        for shape in shapes {
            let mut msgs = Vec::new();
            for (n, (frame, frames, gap, junk, tcp)) in shape.into_iter().enumerate() {
                let mut m = if n % 2 == 0 { inv.clone() } else { ok.clone() };
                m.frame = frame;
                m.frames = frames.into_iter().collect();
                m.flags.after_gap = gap;
                m.flags.junk_before = junk;
                if tcp {
                    m.flow.transport = crate::net::Transport::Tcp;
                }
                msgs.push(m);
            }
            let mut call = crate::dialog::analyze_call(msgs.clone(), &[]);
            call.messages = msgs;
            let got = CallFrames::of(&call);
            assert_eq!(got, of_reference(&call));
            assert_eq!(got.frames(), of_reference(&call).frames());
            // What the accessors read back.
            let tcp = call
                .messages
                .iter()
                .any(|m| m.flow.transport == crate::net::Transport::Tcp);
            assert_eq!(got.stream(), tcp);
            assert_eq!(got.marks().len(), call.messages.len());
            for (mark, m) in got.marks().iter().zip(&call.messages) {
                assert_eq!(mark >> MARK_BITS, pack(&m.frame).unwrap_or(0));
                assert_eq!(mark & AFTER_GAP != 0, m.flags.after_gap);
                assert_eq!(mark & JUNK_BEFORE != 0, m.flags.junk_before);
            }
            let mut want: Vec<u64> = call
                .messages
                .iter()
                .flat_map(|m| m.frames.iter().chain([&m.frame]))
                .filter_map(pack)
                .collect();
            want.sort_unstable();
            want.dedup();
            assert_eq!(got.frames(), want);
        }
    }

    #[test]
    fn frame_places_pack_whole_or_go_to_the_side_table() {
        let loc = FrameLoc {
            data: (1 << OFFSET_BITS) - 1,
            ts_ns: -5,
            caplen: 65534,
            orig_len: 65534,
        };
        let packed = Packed::of(&loc).expect("fits");
        assert_ne!(packed.place, OTHER);
        assert_eq!(parts(&packed.unpack()), parts(&loc));
        let cut = FrameLoc {
            orig_len: 70000,
            ..loc
        };
        let far = FrameLoc {
            data: 1 << OFFSET_BITS,
            ..loc
        };
        let long = FrameLoc {
            caplen: 65535,
            orig_len: 65535,
            ..loc
        };
        for other in [cut, far, long] {
            assert!(Packed::of(&other).is_none(), "{:?}", parts(&other));
        }
    }
}
