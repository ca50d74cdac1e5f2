//! A pass's located messages, written down so that a later pass over the same inputs can
//! read them back instead of decoding, reassembling and framing the capture again.
//!
//! Each message is one record in an unlinked temporary file, in a fixed little-endian layout
//! (no serde): its flow, frame, flags, where its bytes are (a position in the input's own
//! bytes, the memory map or standard input held in memory; or the bytes themselves when they
//! were copied out of a reassembly buffer) and, when it took more than its completing frame,
//! its frame list. A UDP message over IPv4 takes 49 bytes.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{offset_in, Books};
use crate::capture::Input;
use crate::net::{Endpoint, Flow, FrameRef, Transport};
use crate::sip::{Located, MessageFlags};

/// Buffer of the writer and of the reader.
const BUFFER: usize = 1 << 20;

// Bits of a record's first byte.
const TRANSPORT: u8 = 0b11;
const SRC_V6: u8 = 1 << 2;
const DST_V6: u8 = 1 << 3;
/// The bytes follow the record (copied); otherwise a position in the input.
const COPIED: u8 = 1 << 4;
/// The message took exactly its completing frame: no frame list follows.
const ONE_FRAME: u8 = 1 << 5;

/// Bytes of a frame reference: file, number, time.
const FRAME_REF: usize = 2 + 8 + 8;
/// Longest fixed part after the first byte: flags, two IPv6 endpoints, the frame, a
/// position and a length, a frame count.
const LONGEST_FIXED: usize = 2 + 2 * (16 + 2) + FRAME_REF + 8 + 4 + 4;

/// Writes records as a pass hands messages out. A write that fails spoils the recording
/// (it is then simply not made); the pass goes on.
pub struct Recorder {
    /// `None` once a write failed.
    file: Option<File>,
    records: u64,
    /// Records not yet written (written in steps of about [`BUFFER`]).
    buf: Vec<u8>,
}

/// A finished recording: every message of a pass that ran to the end, and the books of that
/// pass as a pass without RTP analysis keeps them.
pub struct Recording {
    file: File,
    records: u64,
    books: Books,
}

impl Recording {
    /// How many messages it holds.
    pub fn messages(&self) -> u64 {
        self.records
    }

    /// The books of the recorded pass.
    pub fn books(&self) -> &Books {
        &self.books
    }
}

fn transport_bits(t: Transport) -> u8 {
    match t {
        Transport::Udp => 0,
        Transport::Tcp => 1,
        Transport::Sctp => 2,
    }
}

/// Writes fields into a record's fixed part, on the stack.
struct Put {
    buf: [u8; 1 + LONGEST_FIXED],
    len: usize,
}

impl Put {
    fn bytes(&mut self, b: &[u8]) {
        if let Some(to) = self.buf.get_mut(self.len..self.len + b.len()) {
            to.copy_from_slice(b);
            self.len += b.len();
        }
    }

    fn endpoint(&mut self, e: &Endpoint) {
        match e.ip {
            IpAddr::V4(a) => self.bytes(&a.octets()),
            IpAddr::V6(a) => self.bytes(&a.octets()),
        }
        self.bytes(&e.port.to_le_bytes());
    }
}

fn put_frame(rec: &mut Vec<u8>, f: &FrameRef) {
    rec.extend_from_slice(&f.file.to_le_bytes());
    rec.extend_from_slice(&f.number.to_le_bytes());
    rec.extend_from_slice(&f.ts_ns.to_le_bytes());
}

fn flag_bits(f: &MessageFlags) -> u16 {
    [
        f.cut,
        f.bounced,
        f.reassembled,
        f.overlap_conflict,
        f.websocket,
        f.no_content_length,
        f.short_body,
        f.after_gap,
        f.junk_before,
    ]
    .iter()
    .enumerate()
    .fold(0, |acc, (n, &on)| acc | (u16::from(on) << n))
}

fn flags_of(bits: u16) -> MessageFlags {
    let on = |n: u16| bits & (1 << n) != 0;
    MessageFlags {
        cut: on(0),
        bounced: on(1),
        reassembled: on(2),
        overlap_conflict: on(3),
        websocket: on(4),
        no_content_length: on(5),
        short_body: on(6),
        after_gap: on(7),
        junk_before: on(8),
    }
}

/// Appends the record of `m` to `rec`, with `inputs` the inputs of the pass (a message lying
/// in its frame's input is written as a position there). `None` when a length does not fit
/// the layout (never for messages framing hands out, which are at most about a megabyte).
fn encode(inputs: &[Input], m: &Located<'_>, rec: &mut Vec<u8>) -> Option<()> {
    let input = inputs
        .get(usize::from(m.frame.file))
        .and_then(|i| offset_in(i.bytes(), m.data));
    let one_frame = m.frames == [m.frame];
    let mut tag = transport_bits(m.flow.transport);
    if m.flow.src.ip.is_ipv6() {
        tag |= SRC_V6;
    }
    if m.flow.dst.ip.is_ipv6() {
        tag |= DST_V6;
    }
    if input.is_none() {
        tag |= COPIED;
    }
    if one_frame {
        tag |= ONE_FRAME;
    }
    let mut put = Put {
        buf: [0; 1 + LONGEST_FIXED],
        len: 0,
    };
    put.bytes(&[tag]);
    put.bytes(&flag_bits(&m.flags).to_le_bytes());
    put.endpoint(&m.flow.src);
    put.endpoint(&m.flow.dst);
    put.bytes(&m.frame.file.to_le_bytes());
    put.bytes(&m.frame.number.to_le_bytes());
    put.bytes(&m.frame.ts_ns.to_le_bytes());
    if let Some(start) = input {
        put.bytes(&u64::try_from(start).ok()?.to_le_bytes());
    }
    put.bytes(&u32::try_from(m.data.len()).ok()?.to_le_bytes());
    if !one_frame {
        put.bytes(&u32::try_from(m.frames.len()).ok()?.to_le_bytes());
    }
    rec.extend_from_slice(put.buf.get(..put.len)?);
    if !one_frame {
        for f in m.frames {
            put_frame(rec, f);
        }
    }
    if input.is_none() {
        rec.extend_from_slice(m.data);
    }
    Some(())
}

/// Where a decoded record's bytes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bytes {
    /// In the input of the record's frame, from `start`.
    Input { start: usize, len: usize },
    /// Right after the record's frame list, this many.
    Copied(usize),
}

/// The fixed part of a record, decoded.
#[derive(Debug, Clone, Copy)]
struct Head {
    flow: Flow,
    frame: FrameRef,
    flags: MessageFlags,
    bytes: Bytes,
    /// The message took only its completing frame.
    one_frame: bool,
}

/// Reads fields out of a record's fixed part.
struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    fn take<const N: usize>(&mut self) -> io::Result<[u8; N]> {
        let (head, rest) = self.0.split_first_chunk::<N>().ok_or_else(bad)?;
        self.0 = rest;
        Ok(*head)
    }

    fn u16(&mut self) -> io::Result<u16> {
        self.take().map(u16::from_le_bytes)
    }

    fn u32(&mut self) -> io::Result<u32> {
        self.take().map(u32::from_le_bytes)
    }

    fn u64(&mut self) -> io::Result<u64> {
        self.take().map(u64::from_le_bytes)
    }

    fn endpoint(&mut self, v6: bool) -> io::Result<Endpoint> {
        let ip = if v6 {
            IpAddr::V6(Ipv6Addr::from(self.take::<16>()?))
        } else {
            IpAddr::V4(Ipv4Addr::from(self.take::<4>()?))
        };
        Ok(Endpoint {
            ip,
            port: self.u16()?,
        })
    }

    fn frame(&mut self) -> io::Result<FrameRef> {
        Ok(FrameRef {
            file: self.u16()?,
            number: self.u64()?,
            ts_ns: self.take().map(i64::from_le_bytes)?,
        })
    }
}

fn bad() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, "malformed replay record")
}

/// Length of a record's fixed part (first byte included), told by its first byte.
fn fixed_len(tag: u8) -> usize {
    let ip_len = |v6: bool| if v6 { 16 } else { 4 };
    1 + 2
        + ip_len(tag & SRC_V6 != 0)
        + 2
        + ip_len(tag & DST_V6 != 0)
        + 2
        + FRAME_REF
        + if tag & COPIED != 0 { 0 } else { 8 }
        + 4
        + if tag & ONE_FRAME != 0 { 0 } else { 4 }
}

/// Decodes a record's fixed part (`fixed`, of [`fixed_len`] bytes): the head, and how many
/// frames its list holds (none when the message took only its completing frame).
fn decode_head(fixed: &[u8]) -> io::Result<(Head, usize)> {
    let (&tag, rest) = fixed.split_first().ok_or_else(bad)?;
    let transport = match tag & TRANSPORT {
        0 => Transport::Udp,
        1 => Transport::Tcp,
        2 => Transport::Sctp,
        _ => return Err(bad()),
    };
    let mut c = Cursor(rest);
    let flags = flags_of(c.u16()?);
    let src = c.endpoint(tag & SRC_V6 != 0)?;
    let dst = c.endpoint(tag & DST_V6 != 0)?;
    let frame = c.frame()?;
    let start = if tag & COPIED != 0 {
        None
    } else {
        Some(usize::try_from(c.u64()?).map_err(|_| bad())?)
    };
    let len = usize::try_from(c.u32()?).map_err(|_| bad())?;
    let listed = if tag & ONE_FRAME != 0 {
        0
    } else {
        usize::try_from(c.u32()?).map_err(|_| bad())?
    };
    let bytes = match start {
        Some(start) => Bytes::Input { start, len },
        None => Bytes::Copied(len),
    };
    let head = Head {
        flow: Flow {
            transport,
            src,
            dst,
        },
        frame,
        flags,
        bytes,
        one_frame: tag & ONE_FRAME != 0,
    };
    Ok((head, listed))
}

impl Recorder {
    /// A recorder writing to a new unlinked temporary file; `None` when none can be made.
    pub fn new() -> Option<Recorder> {
        let file = crate::output::spool::unlinked_temp_file("replay").ok()?;
        Some(Recorder {
            file: Some(file),
            records: 0,
            buf: Vec::with_capacity(BUFFER + (BUFFER >> 2)),
        })
    }

    /// Writes down `m`, the next message of the pass over `inputs`.
    pub fn add(&mut self, inputs: &[Input], m: &Located<'_>) {
        let Some(file) = self.file.as_mut() else {
            return;
        };
        let ok = encode(inputs, m, &mut self.buf).is_some()
            && (self.buf.len() < BUFFER || file.write_all(&self.buf).is_ok());
        if !ok {
            // Spoilt: the pass that replays decodes instead.
            self.file = None;
            self.buf = Vec::new();
            return;
        }
        if self.buf.len() >= BUFFER {
            self.buf.clear();
        }
        self.records += 1;
    }

    /// The recording, with the books of the pass; `None` when a write failed.
    pub fn finish(self, books: Books) -> Option<Recording> {
        let mut file = self.file?;
        file.write_all(&self.buf).ok()?;
        Some(Recording {
            file,
            records: self.records,
            books,
        })
    }
}

/// One message read back.
pub struct Replayed<'a> {
    pub located: Located<'a>,
    /// Where its bytes lie in its frame's input, when they do (not copied).
    pub start: Option<usize>,
}

/// Reads a recording from its start.
pub struct Reader<'r> {
    file: &'r File,
    /// Bytes read from the file; `buf[pos..end]` not yet decoded.
    buf: Vec<u8>,
    pos: usize,
    end: usize,
    left: u64,
    frames: Vec<FrameRef>,
}

impl<'r> Reader<'r> {
    /// A reader at the recording's first message.
    pub fn new(rec: &'r Recording) -> io::Result<Reader<'r>> {
        let mut file = &rec.file;
        file.seek(SeekFrom::Start(0))?;
        Ok(Reader {
            file,
            buf: vec![0; BUFFER],
            pos: 0,
            end: 0,
            left: rec.records,
            frames: Vec::new(),
        })
    }

    /// Makes sure `buf[pos..]` holds at least `n` bytes read from the file.
    fn need(&mut self, n: usize) -> io::Result<()> {
        if self.end - self.pos >= n {
            return Ok(());
        }
        self.buf.copy_within(self.pos..self.end, 0);
        self.end -= self.pos;
        self.pos = 0;
        if self.buf.len() < n {
            self.buf.resize(n, 0);
        }
        while self.end < n {
            let got = match self
                .file
                .read(self.buf.get_mut(self.end..).unwrap_or_default())
            {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(got) => got,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            self.end += got;
        }
        Ok(())
    }

    /// The next message, its bytes found in `inputs`; `Ok(None)` after the last one. A record
    /// that cannot be read, or whose bytes are not where it says, is an error.
    pub fn next<'a>(&'a mut self, inputs: &'a [Input]) -> io::Result<Option<Replayed<'a>>> {
        if self.left == 0 {
            return Ok(None);
        }
        self.need(1)?;
        let fixed = fixed_len(self.buf.get(self.pos).copied().ok_or_else(bad)?);
        self.need(fixed)?;
        let (head, listed) =
            decode_head(self.buf.get(self.pos..self.pos + fixed).ok_or_else(bad)?)?;
        let list = listed.checked_mul(FRAME_REF).ok_or_else(bad)?;
        let copied = match head.bytes {
            Bytes::Copied(len) => len,
            Bytes::Input { .. } => 0,
        };
        let total = fixed
            .checked_add(list)
            .and_then(|t| t.checked_add(copied))
            .ok_or_else(bad)?;
        self.need(total)?;
        let at = self.pos;
        self.pos += total;
        self.left -= 1;
        self.frames.clear();
        if head.one_frame {
            self.frames.push(head.frame);
        } else {
            let mut c = Cursor(
                self.buf
                    .get(at + fixed..at + fixed + list)
                    .ok_or_else(bad)?,
            );
            for _ in 0..listed {
                self.frames.push(c.frame()?);
            }
        }
        let (data, start) = match head.bytes {
            Bytes::Input { start, len } => {
                let data = inputs
                    .get(usize::from(head.frame.file))
                    .and_then(|i| i.bytes().get(start..start.checked_add(len)?))
                    .ok_or_else(bad)?;
                (data, Some(start))
            }
            Bytes::Copied(_) => (
                self.buf
                    .get(at + fixed + list..at + total)
                    .ok_or_else(bad)?,
                None,
            ),
        };
        Ok(Some(Replayed {
            located: Located {
                flow: head.flow,
                frame: head.frame,
                frames: &self.frames,
                data,
                flags: head.flags,
            },
            start,
        }))
    }
}

#[cfg(test)]
impl Recording {
    /// Bytes the recording holds.
    pub(crate) fn bytes_written(&self) -> usize {
        self.file
            .metadata()
            .ok()
            .and_then(|m| usize::try_from(m.len()).ok())
            .unwrap_or(0)
    }

    /// A copy holding only the first `keep` bytes, still claiming every message.
    pub(crate) fn cut_copy(&self, keep: usize) -> Recording {
        let mut all = Vec::new();
        let mut from = &self.file;
        from.seek(SeekFrom::Start(0)).unwrap();
        from.read_to_end(&mut all).unwrap();
        all.truncate(keep);
        let mut file = crate::output::spool::unlinked_temp_file("replay-test").unwrap();
        file.write_all(&all).unwrap();
        Recording {
            file,
            records: self.records,
            books: self.books.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Seen = (Flow, FrameRef, Vec<FrameRef>, Vec<u8>, MessageFlags);

    fn seen(m: &Located<'_>) -> Seen {
        (m.flow, m.frame, m.frames.to_vec(), m.data.to_vec(), m.flags)
    }

    /// Records round-trip: IPv4 and IPv6 ends, every transport, each flag alone, bytes in the
    /// input and copied, one frame and several (and none), empty data.
    #[test]
    fn records_round_trip() {
        let bytes: Vec<u8> = {
            let pkts = vec![(0i64, vec![0x45u8; 60])];
            crate::capture::writer::pcap_bytes(crate::capture::linktype::RAW, &pkts)
        };
        let input = Input::from_bytes("t", 0, bytes).unwrap();
        let inputs = vec![input];
        let whole = inputs[0].bytes();
        let inside = &whole[30..50];
        let outside: Vec<u8> = b"INVITE sip:x SIP/2.0\r\n\xff\x00".to_vec();
        let v4 = |a: u8, port: u16| Endpoint {
            ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, a)),
            port,
        };
        let v6 = |a: u16, port: u16| Endpoint {
            ip: IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0xffff, a)),
            port,
        };
        let f = |file: u16, number: u64, ts_ns: i64| FrameRef {
            file,
            number,
            ts_ns,
        };
        let frames = [f(0, 7, -5), f(0, 9, i64::MAX), f(0, u64::MAX, i64::MIN)];
        let mut all_flags = vec![MessageFlags::default()];
        for n in 0..9 {
            all_flags.push(flags_of(1 << n));
        }
        all_flags.push(flags_of(0x1ff));
        let mut cases: Vec<(Seen, bool)> = Vec::new();
        let mut n = 0;
        for transport in [Transport::Udp, Transport::Tcp, Transport::Sctp] {
            for (src, dst) in [
                (v4(1, 5060), v4(2, 5061)),
                (v6(1, 5060), v4(2, 0)),
                (v4(1, 65535), v6(2, 5062)),
                (v6(3, 1), v6(4, 2)),
            ] {
                for flags in &all_flags {
                    n += 1;
                    let frame = frames[n % 3];
                    let list: Vec<FrameRef> = match n % 4 {
                        0 => vec![frame],
                        1 => frames.to_vec(),
                        2 => Vec::new(),
                        _ => vec![frames[(n + 1) % 3]],
                    };
                    let data: Vec<u8> = match n % 3 {
                        0 => inside.to_vec(),
                        1 => outside.clone(),
                        _ => Vec::new(),
                    };
                    let flow = Flow {
                        transport,
                        src,
                        dst,
                    };
                    cases.push(((flow, frame, list, data, *flags), n % 3 == 0));
                }
            }
        }
        let mut rec = Recorder::new().unwrap();
        let mut kinds = (0, 0);
        for ((flow, frame, list, data, flags), in_input) in &cases {
            // The inside ones point into the input itself.
            let data: &[u8] = if *in_input { inside } else { data };
            let m = Located {
                flow: *flow,
                frame: *frame,
                frames: list,
                data,
                flags: *flags,
            };
            if offset_in(whole, data).is_some() {
                kinds.0 += 1;
            } else {
                kinds.1 += 1;
            }
            rec.add(&inputs, &m);
        }
        assert!(kinds.0 > 0 && kinds.1 > 0, "{kinds:?}");
        let recording = rec.finish(Books::default()).unwrap();
        assert_eq!(recording.messages(), cases.len() as u64);
        // Read twice: each reader starts at the beginning.
        for _ in 0..2 {
            let mut reader = Reader::new(&recording).unwrap();
            let mut back = Vec::new();
            while let Some(r) = reader.next(&inputs).unwrap() {
                if let Some(start) = r.start {
                    assert_eq!(offset_in(whole, r.located.data), Some(start));
                }
                back.push(seen(&r.located));
            }
            let want: Vec<Seen> = cases.iter().map(|(c, _)| c.clone()).collect();
            assert_eq!(back, want);
        }
    }

    /// A record whose bytes lie outside the input, or a recording cut short, is an error,
    /// never a message with other bytes.
    #[test]
    fn bad_records_are_errors() {
        let input = Input::from_bytes(
            "t",
            0,
            crate::capture::writer::pcap_bytes(
                crate::capture::linktype::RAW,
                &[(0i64, vec![0u8; 20])],
            ),
        )
        .unwrap();
        let inputs = vec![input];
        let frame = FrameRef {
            file: 0,
            number: 1,
            ts_ns: 0,
        };
        let m = Located {
            flow: Flow {
                transport: Transport::Udp,
                src: Endpoint {
                    ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
                    port: 1,
                },
                dst: Endpoint {
                    ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
                    port: 2,
                },
            },
            frame,
            frames: &[frame],
            data: &inputs[0].bytes()[30..40],
            flags: MessageFlags::default(),
        };
        let mut rec = Recorder::new().unwrap();
        rec.add(&inputs, &m);
        let recording = rec.finish(Books::default()).unwrap();
        // Against a shorter input the position is out of range.
        let short = vec![Input::from_bytes(
            "s",
            0,
            crate::capture::writer::pcap_bytes(crate::capture::linktype::RAW, &[]),
        )
        .unwrap()];
        let mut reader = Reader::new(&recording).unwrap();
        assert!(reader.next(&short).is_err());
        // A recording that says it has more than it holds.
        let longer = Recording {
            file: recording.file.try_clone().unwrap(),
            records: 2,
            books: Books::default(),
        };
        let mut reader = Reader::new(&longer).unwrap();
        assert!(reader.next(&inputs).unwrap().is_some());
        assert!(reader.next(&inputs).is_err());
        // A bad transport.
        let mut bytes = Vec::new();
        encode(&inputs, &m, &mut bytes).unwrap();
        assert_eq!(bytes.len(), fixed_len(bytes[0]));
        assert!(decode_head(&bytes).is_ok());
        // Cut short.
        assert!(decode_head(&bytes[..bytes.len() - 1]).is_err());
        bytes[0] |= TRANSPORT;
        assert!(decode_head(&bytes).is_err());
    }
}
