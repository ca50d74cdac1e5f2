//! SCTP: the common header, the chunk walk, and reassembly of user messages split over several
//! DATA (or I-DATA) chunks.
//!
//! Reassembly is kept simple on purpose: the fragments of a message must arrive in order
//! (consecutive TSNs for DATA, consecutive fragment sequence numbers for I-DATA, within one
//! stream). That is how a sender emits them; loss or reordering breaks the message, whose
//! frames are then reported instead of guessed at.

use std::collections::HashMap;

use super::{Flow, FrameRef, Undecodable};

/// One chunk of an SCTP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chunk<'a> {
    pub kind: u8,
    pub flags: u8,
    /// The chunk value (after the 4-byte chunk header), limited to the chunk length.
    pub value: &'a [u8],
    /// The chunk length claims more bytes than were captured.
    pub cut: bool,
}

/// SCTP common header ports and the chunk area.
pub fn parse_header(data: &[u8]) -> Result<(u16, u16, &[u8]), Undecodable> {
    let h = data.get(..12).ok_or(Undecodable::TruncatedHeader)?;
    Ok((
        u16::from_be_bytes([h[0], h[1]]),
        u16::from_be_bytes([h[2], h[3]]),
        data.get(12..).unwrap_or_default(),
    ))
}

/// Walks the chunks of an SCTP packet. Stops at the end, at a cut chunk (which it still yields
/// with `cut` set) or at a chunk whose length is impossible (then [`Chunks::malformed`] is set).
#[derive(Debug)]
pub struct Chunks<'a> {
    rest: &'a [u8],
    pub malformed: bool,
}

impl<'a> Chunks<'a> {
    pub fn new(area: &'a [u8]) -> Self {
        Chunks {
            rest: area,
            malformed: false,
        }
    }
}

impl<'a> Iterator for Chunks<'a> {
    type Item = Chunk<'a>;

    fn next(&mut self) -> Option<Chunk<'a>> {
        if self.rest.is_empty() {
            return None;
        }
        let Some(h) = self.rest.get(..4) else {
            // A few trailing bytes: padding or junk, nothing to decode.
            self.rest = &[];
            return None;
        };
        let (kind, flags) = (h[0], h[1]);
        let len = usize::from(u16::from_be_bytes([h[2], h[3]]));
        if len < 4 {
            self.malformed = true;
            self.rest = &[];
            return None;
        }
        let (value, cut) = match self.rest.get(4..len) {
            Some(v) => (v, false),
            None => (self.rest.get(4..).unwrap_or_default(), true),
        };
        // Chunks are padded to a multiple of 4 bytes.
        let padded = len.saturating_add(3) & !3;
        self.rest = self.rest.get(padded..).unwrap_or_default();
        Some(Chunk {
            kind,
            flags,
            value,
            cut,
        })
    }
}

/// Chunk types carrying user data.
pub const DATA: u8 = 0;
pub const I_DATA: u8 = 64;

/// The user-data part of a DATA or I-DATA chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserData<'a> {
    pub stream: u16,
    pub unordered: bool,
    pub begin: bool,
    pub end: bool,
    /// For DATA: the TSN. For I-DATA: the fragment sequence number (0 on the first fragment).
    pub seq: u32,
    /// For I-DATA: the message identifier (fragments of one message share it).
    pub mid: Option<u32>,
    pub data: &'a [u8],
}

/// Reads a DATA or I-DATA chunk's header fields.
pub fn user_data<'a>(c: &Chunk<'a>) -> Result<UserData<'a>, Undecodable> {
    let unordered = c.flags & 0x04 != 0;
    let begin = c.flags & 0x02 != 0;
    let end = c.flags & 0x01 != 0;
    let v = c.value;
    let be32 = |at: usize| -> Result<u32, Undecodable> {
        let b = v.get(at..at + 4).ok_or(Undecodable::TruncatedHeader)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    };
    let stream = {
        let b = v.get(4..6).ok_or(Undecodable::TruncatedHeader)?;
        u16::from_be_bytes([b[0], b[1]])
    };
    if c.kind == I_DATA {
        // TSN, stream, reserved, MID, PPID (first fragment) or FSN (others), data.
        let mid = be32(8)?;
        let fsn = if begin { 0 } else { be32(12)? };
        Ok(UserData {
            stream,
            unordered,
            begin,
            end,
            seq: fsn,
            mid: Some(mid),
            data: v.get(16..).ok_or(Undecodable::TruncatedHeader)?,
        })
    } else {
        // TSN, stream, stream sequence number, PPID, data.
        Ok(UserData {
            stream,
            unordered,
            begin,
            end,
            seq: be32(0)?,
            mid: None,
            data: v.get(12..).ok_or(Undecodable::TruncatedHeader)?,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    flow: Flow,
    stream: u16,
    unordered: bool,
    mid: Option<u32>,
}

#[derive(Debug)]
struct Partial {
    next_seq: u32,
    data: Vec<u8>,
    frames: Vec<FrameRef>,
    cut: bool,
}

/// What became of one user-data chunk.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A whole message that needs no state: deliver the chunk's bytes as they are.
    Whole,
    /// The chunk completed a message.
    Complete {
        data: Vec<u8>,
        frames: Vec<FrameRef>,
        cut: bool,
    },
    /// Kept, waiting for the rest of its message.
    Held,
    /// A retransmission of a fragment already taken.
    Duplicate,
    /// A fragment that fits no message being built (its start was lost), or a message over the
    /// cap: its bytes are dropped.
    Dropped(Undecodable),
}

/// Messages being put back together, per flow and stream.
#[derive(Debug)]
pub struct Reassembler {
    partials: HashMap<Key, Partial>,
    max_message: usize,
    max_total: usize,
    bytes: usize,
    /// Frames of messages that were given up, for the end-of-capture report.
    dropped: Vec<(FrameRef, Undecodable)>,
    /// A message holding the frame being decoded was given up while decoding it.
    dropped_current: bool,
}

impl Reassembler {
    pub fn new(max_message: usize, max_total: usize) -> Self {
        Reassembler {
            partials: HashMap::new(),
            max_message,
            max_total,
            bytes: 0,
            dropped: Vec::new(),
            dropped_current: false,
        }
    }

    fn give_up(&mut self, key: &Key, why: Undecodable, current: &[FrameRef]) {
        if let Some(p) = self.partials.remove(key) {
            self.bytes = self.bytes.saturating_sub(p.data.len());
            if p.frames.iter().any(|f| current.contains(f)) {
                self.dropped_current = true;
            }
            // The frame being decoded gets its own fate; report the earlier ones only.
            self.dropped.extend(
                p.frames
                    .into_iter()
                    .filter(|f| !current.contains(f))
                    .map(|f| (f, why)),
            );
        }
    }

    /// Feeds one user-data chunk carried by `frames` (usually just the frame being decoded).
    pub fn push(
        &mut self,
        flow: Flow,
        u: &UserData<'_>,
        cut: bool,
        frames: &[FrameRef],
    ) -> Outcome {
        let key = Key {
            flow,
            stream: u.stream,
            unordered: u.unordered,
            mid: u.mid,
        };
        if u.begin && u.end {
            // A message that was being built on this stream never got its end.
            self.give_up(&key, Undecodable::IncompleteSctpMessage, frames);
            return Outcome::Whole;
        }
        if u.begin {
            self.give_up(&key, Undecodable::IncompleteSctpMessage, frames);
            if !self.fits(u.data.len()) {
                return Outcome::Dropped(Undecodable::OverCapacity);
            }
            self.bytes = self.bytes.saturating_add(u.data.len());
            self.partials.insert(
                key,
                Partial {
                    next_seq: u.seq.wrapping_add(1),
                    data: u.data.to_vec(),
                    frames: frames.to_vec(),
                    cut,
                },
            );
            return Outcome::Held;
        }
        let Some(p) = self.partials.get(&key) else {
            return Outcome::Dropped(Undecodable::IncompleteSctpMessage);
        };
        if u.seq != p.next_seq {
            // A sequence number just behind the expected one is a retransmission.
            let behind = p.next_seq.wrapping_sub(u.seq);
            if behind != 0 && behind <= 0x8000_0000 {
                return Outcome::Duplicate;
            }
            self.give_up(&key, Undecodable::IncompleteSctpMessage, frames);
            return Outcome::Dropped(Undecodable::IncompleteSctpMessage);
        }
        let held = p.data.len();
        if held.saturating_add(u.data.len()) > self.max_message || !self.fits(u.data.len()) {
            self.give_up(&key, Undecodable::OverCapacity, frames);
            return Outcome::Dropped(Undecodable::OverCapacity);
        }
        let Some(p) = self.partials.get_mut(&key) else {
            return Outcome::Dropped(Undecodable::IncompleteSctpMessage);
        };
        self.bytes = self.bytes.saturating_add(u.data.len());
        p.data.extend_from_slice(u.data);
        p.next_seq = p.next_seq.wrapping_add(1);
        p.cut |= cut;
        for f in frames {
            if !p.frames.contains(f) {
                p.frames.push(*f);
            }
        }
        if !u.end {
            return Outcome::Held;
        }
        let Some(p) = self.partials.remove(&key) else {
            return Outcome::Held;
        };
        self.bytes = self.bytes.saturating_sub(p.data.len());
        Outcome::Complete {
            data: p.data,
            frames: p.frames,
            cut: p.cut,
        }
    }

    /// Called before the chunks of a frame are fed.
    pub fn begin_frame(&mut self) {
        self.dropped_current = false;
    }

    /// Whether the frame whose chunks were just fed is still held by a message being built.
    /// A chunk of the same frame may have given up a message that an earlier chunk had just
    /// started; then the frame is held only if another message still has it.
    pub fn still_holds(&self, current: &[FrameRef]) -> bool {
        !self.dropped_current
            || self
                .partials
                .values()
                .any(|p| p.frames.iter().any(|f| current.contains(f)))
    }

    fn fits(&self, more: usize) -> bool {
        more <= self.max_message && self.bytes.saturating_add(more) <= self.max_total
    }

    /// Frames of messages given up, plus those still being built; empties the state.
    pub fn finish(&mut self) -> Vec<(FrameRef, Undecodable)> {
        let mut out = std::mem::take(&mut self.dropped);
        let mut rest: Vec<Partial> = self.partials.drain().map(|(_, p)| p).collect();
        rest.sort_by_key(|p| p.frames.first().copied());
        for p in rest {
            out.extend(
                p.frames
                    .into_iter()
                    .map(|f| (f, Undecodable::IncompleteSctpMessage)),
            );
        }
        self.bytes = 0;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::{Endpoint, Transport};
    use std::net::{IpAddr, Ipv4Addr};

    fn flow() -> Flow {
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        Flow {
            transport: Transport::Sctp,
            src: Endpoint { ip, port: 5060 },
            dst: Endpoint { ip, port: 5061 },
        }
    }

    fn fr(n: u64) -> FrameRef {
        FrameRef {
            file: 0,
            number: n,
            ts_ns: 0,
        }
    }

    fn ud(seq: u32, begin: bool, end: bool, data: &[u8]) -> UserData<'_> {
        UserData {
            stream: 1,
            unordered: false,
            begin,
            end,
            seq,
            mid: None,
            data,
        }
    }

    #[test]
    fn chunk_walk_with_padding_and_bad_length() {
        // DATA chunk of length 17 (padded to 20), then a SACK header of length 4.
        let mut area = vec![0, 3, 0, 17];
        area.extend_from_slice(&[0; 12]);
        area.push(b'x');
        area.extend_from_slice(&[0, 0, 0]);
        area.extend_from_slice(&[3, 0, 0, 4]);
        let chunks: Vec<Chunk> = Chunks::new(&area).collect();
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks[0].value.len(), 13);
        assert_eq!(chunks[1].kind, 3);
        let mut bad = Chunks::new(&[0, 0, 0, 2, 1, 1]);
        assert!(bad.next().is_none());
        assert!(bad.malformed);
    }

    #[test]
    fn fragmented_message_in_order() {
        let mut r = Reassembler::new(1 << 20, 1 << 20);
        assert_eq!(
            r.push(flow(), &ud(10, true, false, b"ab"), false, &[fr(1)]),
            Outcome::Held
        );
        assert_eq!(
            r.push(flow(), &ud(11, false, false, b"cd"), false, &[fr(2)]),
            Outcome::Held
        );
        assert_eq!(
            r.push(flow(), &ud(11, false, false, b"cd"), false, &[fr(3)]),
            Outcome::Duplicate
        );
        assert_eq!(
            r.push(flow(), &ud(12, false, true, b"e"), false, &[fr(4)]),
            Outcome::Complete {
                data: b"abcde".to_vec(),
                frames: vec![fr(1), fr(2), fr(4)],
                cut: false
            }
        );
        assert!(r.finish().is_empty());
    }

    #[test]
    fn lost_fragment_drops_the_message() {
        let mut r = Reassembler::new(1 << 20, 1 << 20);
        r.push(flow(), &ud(10, true, false, b"ab"), false, &[fr(1)]);
        assert_eq!(
            r.push(flow(), &ud(12, false, true, b"e"), false, &[fr(3)]),
            Outcome::Dropped(Undecodable::IncompleteSctpMessage)
        );
        assert_eq!(
            r.finish(),
            vec![(fr(1), Undecodable::IncompleteSctpMessage)]
        );
    }

    #[test]
    fn message_over_cap_is_dropped() {
        let mut r = Reassembler::new(4, 1 << 20);
        r.push(flow(), &ud(1, true, false, b"abc"), false, &[fr(1)]);
        assert_eq!(
            r.push(flow(), &ud(2, false, true, b"def"), false, &[fr(2)]),
            Outcome::Dropped(Undecodable::OverCapacity)
        );
        assert_eq!(r.finish(), vec![(fr(1), Undecodable::OverCapacity)]);
    }
}
