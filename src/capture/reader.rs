//! Walking the records of a pcap or pcapng capture held in memory.
//!
//! Owns: the record walk itself (classic pcap in both byte orders and both time resolutions;
//! pcapng with several sections, per-section interface tables, per-interface link types,
//! `if_tsresol` and `if_tsoffset`), timestamp conversion to nanoseconds, and turning every
//! defect of the file into a [`CaptureIssue`] value.
//!
//! The walk is zero-copy: a [`Frame`] borrows its bytes from the input, and nothing is allocated
//! per frame. pcap-parser parses the global pcap header and the pcapng section headers and
//! interface descriptions; the packet records themselves (pcap records, EPB, SPB, the obsolete
//! Packet Block) are read by hand, because pcap-parser's EPB parser collects the block options
//! into a fresh `Vec` for every packet and its streaming parsers report a short block as
//! "incomplete", which we must tell apart from a bad length ourselves anyway.

use pcap_parser::{
    parse_interfacedescriptionblock_be, parse_interfacedescriptionblock_le, parse_pcap_header,
    parse_sectionheaderblock, InterfaceDescriptionBlock,
};

use super::{CaptureIssue, Frame, IssueKind};

/// A record claiming more than this many bytes is taken as garbage rather than a packet.
const MAX_RECORD: usize = 256 << 20;

const NS_PER_S: i128 = 1_000_000_000;

/// pcapng block types we act on.
const SHB_TYPE: u32 = 0x0A0D_0D0A;
const IDB_TYPE: u32 = 0x0000_0001;
const PB_TYPE: u32 = 0x0000_0002;
const SPB_TYPE: u32 = 0x0000_0003;
const EPB_TYPE: u32 = 0x0000_0006;

/// IDB option codes.
const OPT_ENDOFOPT: u16 = 0;
const OPT_IF_TSRESOL: u16 = 9;
const OPT_IF_TSOFFSET: u16 = 14;

/// Which file format is being walked, and whether the walk is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    /// The global header has not been looked at yet.
    Start,
    Pcap {
        nanos: bool,
        linktype: u32,
    },
    PcapNg,
    Done,
}

/// How raw timestamp units of one interface become nanoseconds. Chosen once per interface so
/// the common resolutions cost one multiplication per frame, not an `i128` division.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TsScale {
    /// Units are 10^-d s with d <= 9: multiply.
    Mul(i128),
    /// Units are 10^-d s with d > 9: divide.
    Div(i128),
    /// Units are 2^-p s: multiply by 10^9, then shift.
    Shr(u32),
    /// A resolution so fine that any 64-bit count is less than a nanosecond.
    Zero,
}

impl TsScale {
    /// Decodes the `if_tsresol` byte: top bit clear means a negative power of 10, set means a
    /// negative power of 2.
    fn from_tsresol(v: u8) -> TsScale {
        if v & 0x80 == 0 {
            let d = u32::from(v);
            if d <= 9 {
                TsScale::Mul(10i128.pow(9 - d))
            } else if d - 9 <= 38 {
                TsScale::Div(10i128.pow(d - 9))
            } else {
                TsScale::Zero
            }
        } else {
            TsScale::Shr(u32::from(v & 0x7f))
        }
    }

    fn to_ns(self, units: u64) -> i128 {
        let u = i128::from(units);
        match self {
            // u < 2^64 and the factor <= 10^9 < 2^30: no overflow in i128.
            TsScale::Mul(f) => u.saturating_mul(f),
            TsScale::Div(d) => u.checked_div(d).unwrap_or(0),
            TsScale::Shr(p) => u.saturating_mul(NS_PER_S).checked_shr(p).unwrap_or(0),
            TsScale::Zero => 0,
        }
    }
}

/// One interface of the current pcapng section.
#[derive(Debug, Clone, Copy)]
struct Iface {
    linktype: u32,
    snaplen: u32,
    scale: TsScale,
    offset_ns: i128,
}

impl Iface {
    fn ts_ns(&self, units: u64) -> i64 {
        clamp_i64(self.scale.to_ns(units).saturating_add(self.offset_ns))
    }
}

fn clamp_i64(v: i128) -> i64 {
    i64::try_from(v).unwrap_or(if v < 0 { i64::MIN } else { i64::MAX })
}

/// Reads a u32 at `at` in the given byte order; `None` when the bytes are not there.
#[inline]
fn u32_at(b: &[u8], at: usize, big_endian: bool) -> Option<u32> {
    let end = at.checked_add(4)?;
    let raw: [u8; 4] = b.get(at..end)?.try_into().ok()?;
    Some(if big_endian {
        u32::from_be_bytes(raw)
    } else {
        u32::from_le_bytes(raw)
    })
}

#[inline]
fn u16_at(b: &[u8], at: usize, big_endian: bool) -> Option<u16> {
    let end = at.checked_add(2)?;
    let raw: [u8; 2] = b.get(at..end)?.try_into().ok()?;
    Some(if big_endian {
        u16::from_be_bytes(raw)
    } else {
        u16::from_le_bytes(raw)
    })
}

/// Iterator over the frames of one capture. An `Err` item is a defect that did not stop the walk
/// (or, for a truncated file or an unreadable record header, the last item).
pub struct FrameIter<'a> {
    data: &'a [u8],
    file: u16,
    /// Offset of the next record or block.
    pos: usize,
    /// Number the next packet record will get (1-based, packet records only).
    next_number: u64,
    format: Format,
    /// Byte order of the pcap file or of the current pcapng section.
    big_endian: bool,
    /// Interfaces of the current pcapng section, in declaration order (their ids).
    ifaces: Vec<Iface>,
    /// Timestamp of the last packet that had one; Simple Packet Blocks carry none.
    last_ts_ns: i64,
}

impl<'a> FrameIter<'a> {
    pub fn new(data: &'a [u8], file: u16) -> Self {
        FrameIter {
            data,
            file,
            pos: 0,
            next_number: 1,
            format: Format::Start,
            big_endian: false,
            ifaces: Vec::new(),
            last_ts_ns: 0,
        }
    }

    /// Index of the input these frames come from.
    pub fn file(&self) -> u16 {
        self.file
    }

    fn issue(&self, offset: usize, frame: u64, kind: IssueKind) -> CaptureIssue {
        CaptureIssue {
            file: self.file,
            frame,
            offset: offset as u64,
            kind,
        }
    }

    /// Ends the walk with one last issue about the record at `offset`.
    fn stop(&mut self, offset: usize, kind: IssueKind) -> Option<Result<Frame<'a>, CaptureIssue>> {
        self.format = Format::Done;
        Some(Err(self.issue(offset, self.next_number, kind)))
    }

    /// Hands out the next frame number (consumed even by packets we cannot deliver).
    fn take_number(&mut self) -> u64 {
        let n = self.next_number;
        self.next_number = n.saturating_add(1);
        n
    }

    /// Looks at the file magic and, for pcap, the global header.
    fn start(&mut self) -> Option<Result<Frame<'a>, CaptureIssue>> {
        let data = self.data;
        if data.is_empty() {
            self.format = Format::Done;
            return None;
        }
        let Some(magic) = data.get(..4) else {
            return self.stop(0, IssueKind::Truncated);
        };
        let (big_endian, nanos) = match magic {
            [0x0a, 0x0d, 0x0d, 0x0a] => {
                // The section header block is handled like any other block.
                self.format = Format::PcapNg;
                return None;
            }
            [0xd4, 0xc3, 0xb2, 0xa1] => (false, false),
            [0x4d, 0x3c, 0xb2, 0xa1] => (false, true),
            [0xa1, 0xb2, 0xc3, 0xd4] => (true, false),
            [0xa1, 0xb2, 0x3c, 0x4d] => (true, true),
            other => {
                let hex = other
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<Vec<_>>()
                    .join(" ");
                return self.stop(
                    0,
                    IssueKind::BadRecord(format!("not a pcap or pcapng capture (magic {hex})")),
                );
            }
        };
        match parse_pcap_header(data) {
            Ok((rest, header)) => {
                // The upper bits of the link-type field carry FCS information.
                let linktype = (header.network.0 as u32) & 0xFFFF;
                self.big_endian = big_endian;
                self.format = Format::Pcap { nanos, linktype };
                self.pos = data.len().saturating_sub(rest.len());
                None
            }
            Err(_) => self.stop(0, IssueKind::Truncated),
        }
    }

    /// Reads the next classic pcap record.
    fn next_pcap(&mut self, nanos: bool, linktype: u32) -> Option<Result<Frame<'a>, CaptureIssue>> {
        let offset = self.pos;
        let rest = self.data.get(offset..).unwrap_or(&[]);
        if rest.is_empty() {
            self.format = Format::Done;
            return None;
        }
        let be = self.big_endian;
        let (Some(sec), Some(frac), Some(caplen), Some(orig_len)) = (
            u32_at(rest, 0, be),
            u32_at(rest, 4, be),
            u32_at(rest, 8, be),
            u32_at(rest, 12, be),
        ) else {
            return self.stop(offset, IssueKind::Truncated);
        };
        let caplen = caplen as usize;
        let Some(body) = caplen.checked_add(16).and_then(|end| rest.get(16..end)) else {
            return self.stop(offset, IssueKind::Truncated);
        };
        if caplen > MAX_RECORD {
            return self.stop(
                offset,
                IssueKind::BadRecord(format!(
                    "captured length {caplen} is beyond any sane packet size"
                )),
            );
        }
        self.pos = offset.saturating_add(16).saturating_add(caplen);
        let frac_ns = if nanos {
            i128::from(frac)
        } else {
            i128::from(frac) * 1000
        };
        let ts_ns = clamp_i64(i128::from(sec) * NS_PER_S + frac_ns);
        self.last_ts_ns = ts_ns;
        let number = self.take_number();
        Some(Ok(Frame {
            file: self.file,
            number,
            ts_ns,
            linktype,
            data: body,
            orig_len,
            offset: offset as u64,
        }))
    }

    /// Walks pcapng blocks until one yields a frame or an issue.
    fn next_pcapng(&mut self) -> Option<Result<Frame<'a>, CaptureIssue>> {
        loop {
            let offset = self.pos;
            let rest = self.data.get(offset..).unwrap_or(&[]);
            if rest.is_empty() {
                self.format = Format::Done;
                return None;
            }
            let Some(raw_type) = rest.get(..4) else {
                return self.stop(offset, IssueKind::Truncated);
            };
            if raw_type == [0x0a, 0x0d, 0x0d, 0x0a] {
                // A new section may switch byte order: the byte-order mark says which.
                match rest.get(8..12) {
                    None => return self.stop(offset, IssueKind::Truncated),
                    Some([0x4d, 0x3c, 0x2b, 0x1a]) => self.big_endian = false,
                    Some([0x1a, 0x2b, 0x3c, 0x4d]) => self.big_endian = true,
                    Some(_) => {
                        return self.stop(
                            offset,
                            IssueKind::BadRecord(
                                "section header block with an unknown byte-order mark".into(),
                            ),
                        )
                    }
                }
            }
            let be = self.big_endian;
            let (Some(block_type), Some(len)) = (u32_at(rest, 0, be), u32_at(rest, 4, be)) else {
                return self.stop(offset, IssueKind::Truncated);
            };
            let len = len as usize;
            if len < 12 || len % 4 != 0 {
                return self.stop(
                    offset,
                    IssueKind::BadRecord(format!(
                        "block of type {block_type:#x} has an impossible length {len}"
                    )),
                );
            }
            let Some(block) = rest.get(..len) else {
                return self.stop(offset, IssueKind::Truncated);
            };
            if len > MAX_RECORD {
                return self.stop(
                    offset,
                    IssueKind::BadRecord(format!(
                        "block of type {block_type:#x} claims {len} bytes, beyond any sane size"
                    )),
                );
            }
            if u32_at(block, len - 4, be) != Some(len as u32) {
                return self.stop(
                    offset,
                    IssueKind::BadRecord(format!(
                        "block of type {block_type:#x}: trailing length differs from leading length {len}"
                    )),
                );
            }
            // From here on the block is framed correctly, so the walk can always go on after it.
            self.pos = offset.saturating_add(len);
            let body = block.get(8..len - 4).unwrap_or(&[]);
            let item = match block_type {
                SHB_TYPE => self.section_header(block, offset),
                IDB_TYPE => self.interface_description(block, body, offset),
                EPB_TYPE => Some(self.enhanced_packet(body, offset)),
                SPB_TYPE => Some(self.simple_packet(body, offset)),
                PB_TYPE => Some(self.obsolete_packet(body, offset)),
                // Name resolution, statistics, secrets, custom and unknown blocks carry no
                // packets.
                _ => None,
            };
            if item.is_some() {
                return item;
            }
        }
    }

    fn section_header(
        &mut self,
        block: &'a [u8],
        offset: usize,
    ) -> Option<Result<Frame<'a>, CaptureIssue>> {
        // Interface ids are local to a section.
        self.ifaces.clear();
        match parse_sectionheaderblock(block) {
            Ok(_) => None,
            Err(_) => self.stop(
                offset,
                IssueKind::BadRecord("section header block cannot be parsed".into()),
            ),
        }
    }

    fn interface_description(
        &mut self,
        block: &'a [u8],
        body: &'a [u8],
        offset: usize,
    ) -> Option<Result<Frame<'a>, CaptureIssue>> {
        let be = self.big_endian;
        let parsed = if be {
            parse_interfacedescriptionblock_be(block)
        } else {
            parse_interfacedescriptionblock_le(block)
        };
        match parsed {
            Ok((_, idb)) => {
                self.ifaces.push(iface_from_idb(&idb, be));
                None
            }
            Err(_) => {
                // Still declare the interface, so that the ids of later ones stay right.
                self.ifaces.push(Iface {
                    linktype: u16_at(body, 0, be).map_or(u32::MAX, u32::from),
                    snaplen: u32_at(body, 4, be).unwrap_or(0),
                    scale: TsScale::from_tsresol(6),
                    offset_ns: 0,
                });
                Some(Err(self.issue(
                    offset,
                    self.next_number,
                    IssueKind::BadRecord("interface description block cannot be parsed".into()),
                )))
            }
        }
    }

    /// Builds a frame from a packet block's fields, or the issue that stops it.
    fn packet(
        &mut self,
        offset: usize,
        if_id: u32,
        ts_units: Option<u64>,
        data: &'a [u8],
        orig_len: u32,
    ) -> Result<Frame<'a>, CaptureIssue> {
        let number = self.take_number();
        let Some(iface) = usize::try_from(if_id)
            .ok()
            .and_then(|i| self.ifaces.get(i))
            .copied()
        else {
            return Err(self.issue(offset, number, IssueKind::UnknownInterface(if_id)));
        };
        let ts_ns = match ts_units {
            Some(units) => iface.ts_ns(units),
            None => self.last_ts_ns,
        };
        self.last_ts_ns = ts_ns;
        Ok(Frame {
            file: self.file,
            number,
            ts_ns,
            linktype: iface.linktype,
            data,
            orig_len,
            offset: offset as u64,
        })
    }

    fn bad_packet(&mut self, offset: usize, why: &str) -> Result<Frame<'a>, CaptureIssue> {
        let number = self.take_number();
        Err(self.issue(offset, number, IssueKind::BadRecord(why.to_string())))
    }

    /// Packet fields shared by the EPB and the obsolete Packet Block, which differ only in how
    /// the interface id is stored.
    fn timed_packet(
        &mut self,
        body: &'a [u8],
        offset: usize,
        if_id: u32,
        what: &str,
    ) -> Result<Frame<'a>, CaptureIssue> {
        let be = self.big_endian;
        let (Some(ts_high), Some(ts_low), Some(caplen), Some(orig_len)) = (
            u32_at(body, 4, be),
            u32_at(body, 8, be),
            u32_at(body, 12, be),
            u32_at(body, 16, be),
        ) else {
            return self.bad_packet(offset, &format!("{what} too short for its header"));
        };
        let Some(data) = (caplen as usize)
            .checked_add(20)
            .and_then(|end| body.get(20..end))
        else {
            return self.bad_packet(
                offset,
                &format!("{what} captured length {caplen} runs past the end of its block"),
            );
        };
        let units = (u64::from(ts_high) << 32) | u64::from(ts_low);
        self.packet(offset, if_id, Some(units), data, orig_len)
    }

    fn enhanced_packet(
        &mut self,
        body: &'a [u8],
        offset: usize,
    ) -> Result<Frame<'a>, CaptureIssue> {
        match u32_at(body, 0, self.big_endian) {
            Some(if_id) => self.timed_packet(body, offset, if_id, "enhanced packet block"),
            None => self.bad_packet(offset, "enhanced packet block too short for its header"),
        }
    }

    fn obsolete_packet(
        &mut self,
        body: &'a [u8],
        offset: usize,
    ) -> Result<Frame<'a>, CaptureIssue> {
        match u16_at(body, 0, self.big_endian) {
            Some(if_id) => self.timed_packet(body, offset, u32::from(if_id), "packet block"),
            None => self.bad_packet(offset, "packet block too short for its header"),
        }
    }

    fn simple_packet(&mut self, body: &'a [u8], offset: usize) -> Result<Frame<'a>, CaptureIssue> {
        let Some(orig_len) = u32_at(body, 0, self.big_endian) else {
            return self.bad_packet(offset, "simple packet block too short for its header");
        };
        let avail = body.get(4..).unwrap_or(&[]);
        // The block holds min(original length, snaplen) bytes plus padding.
        let mut caplen = (orig_len as usize).min(avail.len());
        if let Some(iface) = self.ifaces.first() {
            if iface.snaplen != 0 {
                caplen = caplen.min(iface.snaplen as usize);
            }
        }
        let data = avail.get(..caplen).unwrap_or(avail);
        self.packet(offset, 0, None, data, orig_len)
    }
}

/// Reads link type, snap length and the timestamp options of an interface. Option values are
/// decoded here rather than with pcap-parser's helpers because those read `if_tsoffset` as
/// little-endian whatever the section's byte order, and reject every power-of-2 `if_tsresol`.
fn iface_from_idb(idb: &InterfaceDescriptionBlock<'_>, big_endian: bool) -> Iface {
    let mut tsresol: Option<u8> = None;
    let mut tsoffset: Option<i64> = None;
    for opt in &idb.options {
        let Ok(value) = opt.as_bytes() else { continue };
        match opt.code.0 {
            OPT_ENDOFOPT => break,
            OPT_IF_TSRESOL if tsresol.is_none() => tsresol = value.first().copied(),
            OPT_IF_TSOFFSET if tsoffset.is_none() => {
                if let Ok(raw) = <[u8; 8]>::try_from(value) {
                    tsoffset = Some(if big_endian {
                        i64::from_be_bytes(raw)
                    } else {
                        i64::from_le_bytes(raw)
                    });
                }
            }
            _ => {}
        }
    }
    Iface {
        linktype: (idb.linktype.0 as u32) & 0xFFFF,
        snaplen: idb.snaplen,
        scale: TsScale::from_tsresol(tsresol.unwrap_or(6)),
        offset_ns: i128::from(tsoffset.unwrap_or(0)) * NS_PER_S,
    }
}

impl<'a> Iterator for FrameIter<'a> {
    type Item = Result<Frame<'a>, CaptureIssue>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match self.format {
                Format::Start => {
                    if let Some(item) = self.start() {
                        return Some(item);
                    }
                }
                Format::Pcap { nanos, linktype } => return self.next_pcap(nanos, linktype),
                Format::PcapNg => return self.next_pcapng(),
                Format::Done => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::linktype;
    use super::super::writer::{pcap_bytes, PcapNgWriter, PcapWriter};
    use super::*;

    fn collect(data: &[u8]) -> Vec<Result<Frame<'_>, CaptureIssue>> {
        FrameIter::new(data, 3).collect()
    }

    fn frames_only<'a>(items: &[Result<Frame<'a>, CaptureIssue>]) -> Vec<Frame<'a>> {
        items
            .iter()
            .filter_map(|r| r.as_ref().ok().copied())
            .collect()
    }

    const T0: i64 = 1_600_000_000_123_456_789;

    #[test]
    fn pcap_both_byte_orders_and_resolutions() {
        let payloads: [&[u8]; 3] = [b"first", b"", b"third packet"];
        for big_endian in [false, true] {
            for nanos in [false, true] {
                let mut w =
                    PcapWriter::new(Vec::new(), linktype::RAW, nanos, big_endian, 65535).unwrap();
                for (i, p) in payloads.iter().enumerate() {
                    w.write_packet(T0 + i as i64 * 1_000_001, p, p.len() as u32 + 10)
                        .unwrap();
                }
                let bytes = w.into_inner();
                let expected_magic: [u8; 4] = match (big_endian, nanos) {
                    (false, false) => [0xd4, 0xc3, 0xb2, 0xa1],
                    (false, true) => [0x4d, 0x3c, 0xb2, 0xa1],
                    (true, false) => [0xa1, 0xb2, 0xc3, 0xd4],
                    (true, true) => [0xa1, 0xb2, 0x3c, 0x4d],
                };
                assert_eq!(bytes[..4], expected_magic);
                let items = collect(&bytes);
                assert_eq!(items.len(), 3, "be={big_endian} nanos={nanos}");
                let mut offset = 24u64;
                for (i, item) in items.iter().enumerate() {
                    let f = item.as_ref().unwrap();
                    let exact = T0 + i as i64 * 1_000_001;
                    let want = if nanos { exact } else { exact - exact % 1000 };
                    assert_eq!(f.ts_ns, want);
                    assert_eq!(f.data, payloads[i]);
                    assert_eq!(f.orig_len, payloads[i].len() as u32 + 10);
                    assert!(f.is_cut());
                    assert_eq!(f.number, i as u64 + 1);
                    assert_eq!(f.file, 3);
                    assert_eq!(f.linktype, linktype::RAW);
                    assert_eq!(f.offset, offset);
                    offset += 16 + payloads[i].len() as u64;
                }
            }
        }
    }

    #[test]
    fn pcap_big_endian_laid_out_by_hand() {
        // Built byte by byte so that the reader is not only checked against our own writer.
        let mut b = vec![0xa1, 0xb2, 0xc3, 0xd4, 0, 2, 0, 4];
        b.extend_from_slice(&[0; 8]); // thiszone, sigfigs
        b.extend_from_slice(&[0, 0, 0xff, 0xff]); // snaplen
        b.extend_from_slice(&[0x10, 0, 0, 113]); // FCS flag bit set, link type 113
        b.extend_from_slice(&[0x5f, 0x5e, 0x10, 0x00]); // 1600000000 s
        b.extend_from_slice(&[0, 0x01, 0xe2, 0x40]); // 123456 us
        b.extend_from_slice(&[0, 0, 0, 3, 0, 0, 0, 9]);
        b.extend_from_slice(b"abc");
        let items = collect(&b);
        assert_eq!(items.len(), 1);
        let f = items[0].as_ref().unwrap();
        assert_eq!(f.ts_ns, 1_600_000_000_123_456_000);
        assert_eq!(f.linktype, linktype::LINUX_SLL);
        assert_eq!(f.data, b"abc");
        assert_eq!(f.orig_len, 9);
    }

    #[test]
    fn pcap_truncated_inside_data_and_inside_header() {
        let pkts: Vec<(i64, Vec<u8>)> = (0..3).map(|i| (T0 + i, vec![i as u8; 40])).collect();
        let full = pcap_bytes(linktype::ETHERNET, &pkts);
        let third = 24 + 2 * (16 + 40);
        for cut in [third + 16 + 20, third + 7] {
            let items = collect(&full[..cut]);
            assert_eq!(items.len(), 3, "cut at {cut}");
            assert_eq!(frames_only(&items).len(), 2);
            let issue = items[2].as_ref().unwrap_err();
            assert_eq!(issue.kind, IssueKind::Truncated);
            assert_eq!(issue.offset, third as u64);
            assert_eq!(issue.frame, 3);
            assert_eq!(issue.file, 3);
        }
        // A header cut short is truncated at offset 0, frame 1.
        let items = collect(&full[..10]);
        assert_eq!(items.len(), 1);
        let issue = items[0].as_ref().unwrap_err();
        assert_eq!(
            (issue.kind.clone(), issue.offset, issue.frame),
            (IssueKind::Truncated, 0, 1)
        );
    }

    #[test]
    fn pcap_absurd_caplen_running_past_the_end_is_truncation() {
        let mut b = pcap_bytes(linktype::ETHERNET, &[(T0, vec![1, 2, 3])]);
        b.extend_from_slice(&[0; 8]);
        b.extend_from_slice(&0xffff_fff0u32.to_le_bytes());
        b.extend_from_slice(&[0; 4]);
        b.extend_from_slice(&[0; 100]);
        let items = collect(&b);
        assert_eq!(items.len(), 2);
        let issue = items[1].as_ref().unwrap_err();
        assert_eq!(issue.kind, IssueKind::Truncated);
        assert_eq!(issue.offset, 24 + 16 + 3);
        assert_eq!(issue.frame, 2);
    }

    #[test]
    fn bad_magic_is_one_issue() {
        let items = collect(b"GET / HTTP/1.1\r\n\r\n");
        assert_eq!(items.len(), 1);
        match &items[0] {
            Err(CaptureIssue {
                kind: IssueKind::BadRecord(why),
                ..
            }) => assert!(why.contains("47 45 54 20"), "{why}"),
            other => panic!("unexpected {other:?}"),
        }
        assert!(collect(b"").is_empty());
    }

    /// Builds the two-section file used by several tests:
    /// section 1 (little-endian): if0 Ethernet (default µs), if1 RAW (ns); an NRB and a custom
    /// block in between; section 2 (big-endian): if0 SLL (2^-20 s, offset +1000 s),
    /// if1 NULL (ms, offset -5 s), an SPB.
    fn two_sections() -> Vec<u8> {
        let mut w = PcapNgWriter::new(Vec::new()).unwrap();
        assert_eq!(w.add_interface(linktype::ETHERNET, None, None).unwrap(), 0);
        assert_eq!(w.add_interface(linktype::RAW, Some(9), None).unwrap(), 1);
        w.write_epb(0, T0, b"eth-1", 5).unwrap();
        w.write_block(0x0000_0004, &[0; 4]).unwrap(); // NRB: just its end marker
        w.write_epb(1, T0 + 1, b"raw-2", 5).unwrap();
        w.write_block(0x0000_0BAD, b"custom payload").unwrap();
        w.write_block(0x0000_0005, &[0; 12]).unwrap(); // ISB
        w.new_section_with_order(true).unwrap();
        assert_eq!(
            w.add_interface(linktype::LINUX_SLL, Some(0x80 | 20), Some(1000))
                .unwrap(),
            0
        );
        assert_eq!(
            w.add_interface(linktype::NULL, Some(3), Some(-5)).unwrap(),
            1
        );
        w.write_epb(0, T0 + 2_000_000_000, b"sll-3", 5).unwrap();
        w.write_epb(1, T0 + 3_000_000_000, b"null-4", 6).unwrap();
        w.write_spb(b"spb-5", 5).unwrap();
        w.into_inner()
    }

    #[test]
    fn pcapng_sections_interfaces_resolutions_offsets() {
        let bytes = two_sections();
        let items = collect(&bytes);
        let frames = frames_only(&items);
        assert_eq!(frames.len(), items.len(), "no issue expected: {items:?}");
        let got: Vec<(u64, u32, &[u8])> = frames
            .iter()
            .map(|f| (f.number, f.linktype, f.data))
            .collect();
        assert_eq!(
            got,
            vec![
                (1, linktype::ETHERNET, &b"eth-1"[..]),
                (2, linktype::RAW, &b"raw-2"[..]),
                (3, linktype::LINUX_SLL, &b"sll-3"[..]),
                (4, linktype::NULL, &b"null-4"[..]),
                (5, linktype::LINUX_SLL, &b"spb-5"[..]),
            ]
        );
        // Microseconds lose the last three digits; nanoseconds keep them.
        assert_eq!(frames[0].ts_ns, T0 - T0 % 1000);
        assert_eq!(frames[1].ts_ns, T0 + 1);
        // 2^-20 s units are ~954 ns: the round trip is within one unit, below the true time.
        let sll_true = T0 + 2_000_000_000;
        assert!(frames[2].ts_ns <= sll_true && sll_true - frames[2].ts_ns < 954);
        let ms_true = T0 + 3_000_000_000;
        assert_eq!(frames[3].ts_ns, ms_true - ms_true % 1_000_000);
        // The SPB has no timestamp of its own: it takes the last one seen.
        assert_eq!(frames[4].ts_ns, frames[3].ts_ns);
        // Offsets point at block starts: the first EPB follows the SHB (28) and two IDBs (20, 32).
        assert_eq!(frames[0].offset, 28 + 20 + 32);
        assert_eq!(
            &bytes[frames[1].offset as usize..][..4],
            &6u32.to_le_bytes()
        );
        assert_eq!(
            &bytes[frames[2].offset as usize..][..4],
            &6u32.to_be_bytes()
        );
        assert_eq!(
            &bytes[frames[4].offset as usize..][..4],
            &3u32.to_be_bytes()
        );
    }

    /// An EPB body laid out by hand: interface, raw timestamp units, lengths, data.
    fn epb_body(if_id: u32, units: u64, data: &[u8], orig_len: u32) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&if_id.to_le_bytes());
        b.extend_from_slice(&((units >> 32) as u32).to_le_bytes());
        b.extend_from_slice(&(units as u32).to_le_bytes());
        b.extend_from_slice(&(data.len() as u32).to_le_bytes());
        b.extend_from_slice(&orig_len.to_le_bytes());
        b.extend_from_slice(data);
        b
    }

    #[test]
    fn pcapng_tsresol_and_tsoffset_from_raw_units() {
        let mut w = PcapNgWriter::new(Vec::new()).unwrap();
        w.add_interface(linktype::RAW, Some(0x80 | 20), Some(1000))
            .unwrap();
        w.add_interface(linktype::RAW, Some(6), None).unwrap();
        w.add_interface(linktype::RAW, Some(12), Some(-7)).unwrap();
        w.add_interface(linktype::RAW, Some(100), None).unwrap();
        w.add_interface(linktype::RAW, Some(0x80 | 72), None)
            .unwrap();
        // 3 * 2^19 units of 2^-20 s = 1.5 s, plus 1000 s.
        w.write_block(6, &epb_body(0, 3 << 19, b"a", 1)).unwrap();
        // 0x1_0000_0001 µs uses the high word.
        w.write_block(6, &epb_body(1, 0x1_0000_0001, b"b", 1))
            .unwrap();
        // picoseconds: 2_500_000 ps = 2500 ns, minus 7 s.
        w.write_block(6, &epb_body(2, 2_500_000, b"c", 1)).unwrap();
        // 10^-100 s: any 64-bit count is zero nanoseconds.
        w.write_block(6, &epb_body(3, u64::MAX, b"d", 1)).unwrap();
        // 2^-72 s: (2^64 - 1) units are just under 2^-8 s = 3_906_250 ns.
        w.write_block(6, &epb_body(4, u64::MAX, b"e", 1)).unwrap();
        let bytes = w.into_inner();
        let ts: Vec<i64> = collect(&bytes)
            .into_iter()
            .map(|r| r.unwrap().ts_ns)
            .collect();
        assert_eq!(
            ts,
            vec![
                1_001_500_000_000,
                0x1_0000_0001 * 1000,
                2500 - 7_000_000_000,
                0,
                3_906_249
            ]
        );
    }

    #[test]
    fn pcapng_huge_offset_clamps_instead_of_overflowing() {
        let mut w = PcapNgWriter::new(Vec::new()).unwrap();
        w.add_interface(linktype::RAW, Some(0), None).unwrap(); // whole seconds
        w.add_interface(linktype::RAW, Some(9), None).unwrap();
        w.write_block(6, &epb_body(0, u64::MAX, b"x", 1)).unwrap();
        let bytes = w.into_inner();
        let f = collect(&bytes)[0].clone().unwrap();
        assert_eq!(f.ts_ns, i64::MAX);
    }

    #[test]
    fn pcapng_spb_is_cut_to_snaplen_and_padding() {
        let mut w = PcapNgWriter::new(Vec::new()).unwrap();
        w.add_interface_with_snaplen(linktype::RAW, None, None, 64)
            .unwrap();
        w.write_spb(&[7u8; 100], 100).unwrap();
        w.write_spb(b"hello", 5).unwrap(); // padded to 8 in the block
        let bytes = w.into_inner();
        let frames: Vec<Frame> = collect(&bytes).into_iter().map(|r| r.unwrap()).collect();
        assert_eq!(frames[0].data.len(), 64);
        assert_eq!(frames[0].orig_len, 100);
        assert!(frames[0].is_cut());
        assert_eq!(frames[1].data, b"hello");
        // No timestamped packet before: zero.
        assert_eq!(frames[0].ts_ns, 0);
    }

    #[test]
    fn pcapng_obsolete_packet_block() {
        let mut w = PcapNgWriter::new(Vec::new()).unwrap();
        w.add_interface(linktype::ETHERNET, None, None).unwrap();
        w.add_interface(linktype::IPV4, None, None).unwrap();
        let mut body = Vec::new();
        body.extend_from_slice(&1u16.to_le_bytes()); // interface
        body.extend_from_slice(&0u16.to_le_bytes()); // drops
        body.extend_from_slice(&0u32.to_le_bytes());
        body.extend_from_slice(&5_000_000u32.to_le_bytes()); // 5 s in µs
        body.extend_from_slice(&3u32.to_le_bytes());
        body.extend_from_slice(&3u32.to_le_bytes());
        body.extend_from_slice(b"old");
        w.write_block(2, &body).unwrap();
        let bytes = w.into_inner();
        let f = collect(&bytes)[0].clone().unwrap();
        assert_eq!(
            (f.linktype, f.ts_ns, f.data, f.number),
            (linktype::IPV4, 5_000_000_000, &b"old"[..], 1)
        );
    }

    #[test]
    fn pcapng_unknown_interface_consumes_a_number_and_goes_on() {
        let mut w = PcapNgWriter::new(Vec::new()).unwrap();
        w.add_interface(linktype::ETHERNET, None, None).unwrap();
        w.write_epb(0, T0, b"one", 3).unwrap();
        w.write_epb(7, T0, b"two", 3).unwrap();
        w.write_epb(0, T0, b"three", 5).unwrap();
        w.new_section().unwrap();
        // The new section forgets the old interfaces, and SPBs need interface 0.
        w.write_spb(b"four", 4).unwrap();
        let bytes = w.into_inner();
        let items = collect(&bytes);
        assert_eq!(items.len(), 4);
        let issue = items[1].as_ref().unwrap_err();
        assert_eq!(issue.kind, IssueKind::UnknownInterface(7));
        assert_eq!(issue.frame, 2);
        assert_eq!(items[2].as_ref().unwrap().number, 3);
        let issue = items[3].as_ref().unwrap_err();
        assert_eq!(
            (issue.kind.clone(), issue.frame),
            (IssueKind::UnknownInterface(0), 4)
        );
    }

    #[test]
    fn pcapng_truncated_block() {
        let bytes = two_sections();
        let full = collect(&bytes);
        let last = frames_only(&full)[4].offset as usize; // the SPB
        let items = collect(&bytes[..last + 10]);
        assert_eq!(frames_only(&items).len(), 4);
        let issue = items.last().unwrap().as_ref().unwrap_err();
        assert_eq!(issue.kind, IssueKind::Truncated);
        assert_eq!(issue.offset, last as u64);
        assert_eq!(issue.frame, 5);
        // Cut inside the length field of a block.
        let items = collect(&bytes[..last + 5]);
        let issue = items.last().unwrap().as_ref().unwrap_err();
        assert_eq!(
            (issue.kind.clone(), issue.offset),
            (IssueKind::Truncated, last as u64)
        );
    }

    #[test]
    fn pcapng_bad_block_length_stops_the_walk() {
        let mut w = PcapNgWriter::new(Vec::new()).unwrap();
        w.add_interface(linktype::ETHERNET, None, None).unwrap();
        w.write_epb(0, T0, b"good", 4).unwrap();
        let good_end = w.into_inner().len();
        let base = {
            let mut w = PcapNgWriter::new(Vec::new()).unwrap();
            w.add_interface(linktype::ETHERNET, None, None).unwrap();
            w.write_epb(0, T0, b"good", 4).unwrap();
            w.write_epb(0, T0, b"next", 4).unwrap();
            w.write_epb(0, T0, b"last", 4).unwrap();
            w.into_inner()
        };
        // Leading length not a multiple of 4; too small; trailing length differing.
        for (at, value) in [
            (good_end + 4, 33u32),
            (good_end + 4, 8),
            (good_end + 32, 40),
        ] {
            let mut b = base.clone();
            b[at..at + 4].copy_from_slice(&value.to_le_bytes());
            let items = collect(&b);
            assert_eq!(items.len(), 2, "patch {at}={value}");
            assert_eq!(items[0].as_ref().unwrap().data, b"good");
            let issue = items[1].as_ref().unwrap_err();
            assert!(matches!(issue.kind, IssueKind::BadRecord(_)), "{issue:?}");
            assert_eq!((issue.offset, issue.frame), (good_end as u64, 2));
        }
    }

    #[test]
    fn pcapng_epb_caplen_past_its_block_is_skipped() {
        let mut w = PcapNgWriter::new(Vec::new()).unwrap();
        w.add_interface(linktype::ETHERNET, None, None).unwrap();
        w.write_block(6, &epb_body(0, 1, b"data", 4)[..20]).unwrap(); // claims 4 bytes, has 0
        w.write_epb(0, T0, b"after", 5).unwrap();
        let bytes = w.into_inner();
        let items = collect(&bytes);
        assert_eq!(items.len(), 2);
        let issue = items[0].as_ref().unwrap_err();
        assert!(matches!(issue.kind, IssueKind::BadRecord(_)));
        assert_eq!(issue.frame, 1);
        let f = items[1].as_ref().unwrap();
        assert_eq!((f.number, f.data), (2, &b"after"[..]));
    }

    /// A small xorshift generator: deterministic, no dependency.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    #[test]
    fn random_mutations_never_panic_and_always_end() {
        let pcap = pcap_bytes(
            linktype::ETHERNET,
            &(0..6)
                .map(|i| (T0 + i, vec![i as u8; 30 + i as usize]))
                .collect::<Vec<_>>(),
        );
        let mut be = PcapWriter::new(Vec::new(), linktype::RAW, true, true, 100).unwrap();
        be.write_packet(T0, b"big endian", 10).unwrap();
        be.write_packet(T0, b"again", 5).unwrap();
        let seeds = [pcap, be.into_inner(), two_sections()];
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        // More rounds on demand: SIPSCOPE_FUZZ_ROUNDS=1000000 cargo test --release ...
        let rounds = std::env::var("SIPSCOPE_FUZZ_ROUNDS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(3000usize);
        for round in 0..rounds {
            let mut b = seeds[round % seeds.len()].clone();
            for _ in 0..1 + rng.below(6) {
                let n = b.len();
                match rng.below(4) {
                    0 => {
                        let i = rng.below(n);
                        b[i] = rng.next() as u8;
                    }
                    1 if n >= 4 => {
                        // Plant a large or odd 32-bit value, where lengths live.
                        let i = rng.below(n.saturating_sub(4));
                        let v = [0xffff_ffffu32, 0x8000_0000, 13, 0, 0x1000_0000][rng.below(5)];
                        b[i..i + 4].copy_from_slice(&v.to_le_bytes());
                    }
                    2 => b.truncate(rng.below(n)),
                    _ => {
                        let i = rng.below(n);
                        b.insert(i, rng.next() as u8);
                    }
                }
                if b.is_empty() {
                    break;
                }
            }
            // Every item consumes at least one record header, so the walk must end quickly.
            let count = FrameIter::new(&b, 0).take(b.len() + 2).count();
            assert!(count <= b.len() / 4 + 1, "round {round}: {count} items");
        }
    }

    /// Throughput check, run by hand: `cargo test --release --lib capture::reader -- --ignored
    /// --nocapture`. Walks about 1 GB of pcap and of pcapng held in memory.
    #[test]
    #[ignore]
    fn throughput_one_gigabyte() {
        let payload = vec![0x55u8; 300];
        let n = (1usize << 30) / (16 + payload.len());
        let mut w = PcapWriter::new(
            Vec::with_capacity(1 << 30),
            linktype::ETHERNET,
            false,
            false,
            65535,
        )
        .unwrap();
        for i in 0..n {
            let len = 60 + i % 240;
            w.write_packet(T0 + i as i64, &payload[..len], len as u32)
                .unwrap();
        }
        let pcap = w.into_inner();
        let mut ng = PcapNgWriter::new(Vec::with_capacity(1 << 30)).unwrap();
        ng.add_interface(linktype::ETHERNET, Some(9), None).unwrap();
        for i in 0..n {
            let len = 60 + i % 240;
            ng.write_epb(0, T0 + i as i64, &payload[..len], len as u32)
                .unwrap();
        }
        let pcapng = ng.into_inner();
        for (name, bytes) in [("pcap", &pcap), ("pcapng", &pcapng)] {
            let start = std::time::Instant::now();
            let mut frames = 0usize;
            let mut sum = 0u64;
            for f in FrameIter::new(bytes, 0).flatten() {
                frames += 1;
                sum = sum.wrapping_add(f.data.len() as u64 ^ f.ts_ns as u64);
            }
            let secs = start.elapsed().as_secs_f64();
            eprintln!(
                "{name}: {frames} frames, {:.0} MB in {secs:.3} s ({:.2} GB/s) [{sum}]",
                bytes.len() as f64 / 1e6,
                bytes.len() as f64 / 1e9 / secs
            );
            assert_eq!(frames, n);
        }
    }
}
