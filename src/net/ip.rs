//! IPv4 and IPv6: headers, extension headers, and fragment reassembly with caps and timeouts.
//!
//! Headers are parsed by hand (a few fixed fields; no allocation). Lengths from the header are
//! trusted only as far as the captured bytes go: a packet longer than what was captured is
//! decoded with what is there and marked cut, and Ethernet padding past the IP length is dropped.
//!
//! The fragment pool is our own because it needs a memory cap and a capture-time timeout, and
//! must remember which frames carried which fragment so they can be reported either way.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{FrameRef, Undecodable};

/// Where a fragment sits in its datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FragInfo {
    /// Byte offset of this fragment's data in the reassembled payload.
    pub offset: u32,
    pub more: bool,
    pub id: u32,
}

/// An IP packet with its headers peeled off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpPacket<'a> {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// Transport protocol (for IPv6: the header after the extension headers; for a fragment:
    /// the protocol of the fragmented payload).
    pub proto: u8,
    /// The payload after all IP headers, limited to what the header says and what was captured.
    pub payload: &'a [u8],
    /// The header claims more bytes than were captured.
    pub cut: bool,
    /// Present when this packet is a fragment (not a whole datagram).
    pub frag: Option<FragInfo>,
}

/// Parses an IPv4 header.
pub fn parse_ipv4(data: &[u8]) -> Result<IpPacket<'_>, Undecodable> {
    let h = data.get(..20).ok_or(Undecodable::TruncatedHeader)?;
    if h[0] >> 4 != 4 {
        return Err(Undecodable::MalformedHeader);
    }
    let ihl = usize::from(h[0] & 0x0f) * 4;
    if ihl < 20 {
        return Err(Undecodable::MalformedHeader);
    }
    if data.len() < ihl {
        return Err(Undecodable::TruncatedHeader);
    }
    let total = usize::from(u16::from_be_bytes([h[2], h[3]]));
    // A total length of 0 is what captures of TSO-offloaded packets show: trust the capture.
    let (end, cut) = if total == 0 {
        (data.len(), false)
    } else if total < ihl {
        return Err(Undecodable::MalformedHeader);
    } else if total > data.len() {
        (data.len(), true)
    } else {
        (total, false)
    };
    let payload = data.get(ihl..end).unwrap_or_default();
    let flags_off = u16::from_be_bytes([h[6], h[7]]);
    let more = flags_off & 0x2000 != 0;
    let offset = u32::from(flags_off & 0x1fff) * 8;
    let frag = (more || offset != 0).then_some(FragInfo {
        offset,
        more,
        id: u32::from(u16::from_be_bytes([h[4], h[5]])),
    });
    Ok(IpPacket {
        src: IpAddr::V4(Ipv4Addr::new(h[12], h[13], h[14], h[15])),
        dst: IpAddr::V4(Ipv4Addr::new(h[16], h[17], h[18], h[19])),
        proto: h[9],
        payload,
        cut,
        frag,
    })
}

fn addr6(b: &[u8]) -> IpAddr {
    let mut a = [0u8; 16];
    if let Some(src) = b.get(..16) {
        a.copy_from_slice(src);
    }
    IpAddr::V6(Ipv6Addr::from(a))
}

/// Parses an IPv6 header and walks its extension headers up to the transport (or fragment).
pub fn parse_ipv6(data: &[u8]) -> Result<IpPacket<'_>, Undecodable> {
    let h = data.get(..40).ok_or(Undecodable::TruncatedHeader)?;
    if h[0] >> 4 != 6 {
        return Err(Undecodable::MalformedHeader);
    }
    let plen = usize::from(u16::from_be_bytes([h[4], h[5]]));
    let avail = data.len().saturating_sub(40);
    // Payload length 0 means a jumbogram (or a TSO capture): take what was captured.
    let (end, cut) = if plen == 0 {
        (data.len(), false)
    } else if plen > avail {
        (data.len(), true)
    } else {
        (40 + plen, false)
    };
    let body = data.get(40..end).unwrap_or_default();
    let (proto, payload, frag) = walk_ext(h[6], body)?;
    Ok(IpPacket {
        src: addr6(&h[8..24]),
        dst: addr6(&h[24..40]),
        proto,
        payload,
        cut,
        frag,
    })
}

/// IPv6 extension headers we step over; anything else is taken as the upper-layer protocol.
const HOP_BY_HOP: u8 = 0;
const ROUTING: u8 = 43;
const FRAGMENT: u8 = 44;
const AUTH: u8 = 51;
const DEST_OPTS: u8 = 60;
const MOBILITY: u8 = 135;
const HIP: u8 = 139;
const SHIM6: u8 = 140;

/// Walks IPv6 extension headers starting with `next`, stopping at a fragment header (the rest
/// is fragment data) or at the first upper-layer protocol. Also used on a reassembled payload,
/// where extension headers may follow the fragment header.
pub fn walk_ext(
    mut next: u8,
    mut body: &[u8],
) -> Result<(u8, &[u8], Option<FragInfo>), Undecodable> {
    for _ in 0..32 {
        match next {
            HOP_BY_HOP | ROUTING | DEST_OPTS | MOBILITY | HIP | SHIM6 => {
                let h = body.get(..2).ok_or(Undecodable::TruncatedHeader)?;
                let len = (usize::from(h[1]) + 1) * 8;
                next = h[0];
                body = body.get(len..).ok_or(Undecodable::TruncatedHeader)?;
            }
            AUTH => {
                let h = body.get(..2).ok_or(Undecodable::TruncatedHeader)?;
                let len = (usize::from(h[1]) + 2) * 4;
                next = h[0];
                body = body.get(len..).ok_or(Undecodable::TruncatedHeader)?;
            }
            FRAGMENT => {
                let h = body.get(..8).ok_or(Undecodable::TruncatedHeader)?;
                let off_m = u16::from_be_bytes([h[2], h[3]]);
                let offset = u32::from(off_m >> 3) * 8;
                let more = off_m & 0x0001 != 0;
                let id = u32::from_be_bytes([h[4], h[5], h[6], h[7]]);
                let rest = body.get(8..).unwrap_or_default();
                // An "atomic" fragment (offset 0, no more) is a whole datagram: keep walking.
                if offset == 0 && !more {
                    next = h[0];
                    body = rest;
                    continue;
                }
                return Ok((h[0], rest, Some(FragInfo { offset, more, id })));
            }
            _ => return Ok((next, body, None)),
        }
    }
    Err(Undecodable::MalformedHeader)
}

/// Identity of a datagram being reassembled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FragKey {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub proto: u8,
    pub id: u32,
}

/// A datagram put back together.
#[derive(Debug)]
pub struct Reassembled {
    pub key: FragKey,
    pub payload: Vec<u8>,
    /// Frames of every fragment, in offset order (duplicates included, each frame once).
    pub frames: Vec<FrameRef>,
    /// Two fragments disagreed about bytes at the same offsets (the first seen were kept).
    pub conflict: bool,
    /// A fragment was cut by the snap length.
    pub cut: bool,
}

/// What the pool did with a fragment.
#[derive(Debug)]
pub enum FragOutcome {
    /// Kept, waiting for the rest.
    Held,
    /// It completed its datagram.
    Complete(Reassembled),
    /// Rejected (impossible offsets, or larger than the whole pool).
    Rejected(Undecodable),
}

/// One fragment's place in its datagram, and the frames that carried it.
#[derive(Debug)]
struct Piece {
    offset: u32,
    frames: Vec<FrameRef>,
}

#[derive(Debug)]
struct Pending {
    /// Insertion number, to tell a live queue entry from a stale one.
    serial: u64,
    first_ts: i64,
    /// Reassembly buffer; grows to the furthest fragment end seen.
    data: Vec<u8>,
    /// Byte ranges received so far, sorted and merged.
    have: Vec<(u32, u32)>,
    /// Payload length, known once the last fragment (more = false) was seen.
    total: Option<u32>,
    pieces: Vec<Piece>,
    conflict: bool,
    cut: bool,
    /// Bytes charged to the pool for this datagram (buffer plus bookkeeping per fragment).
    cost: usize,
}

/// Bookkeeping charged per fragment, so that a flood of tiny duplicates also hits the cap.
const PIECE_COST: usize = 64;

impl Pending {
    fn frames(&self) -> impl Iterator<Item = FrameRef> + '_ {
        self.pieces.iter().flat_map(|p| p.frames.iter().copied())
    }

    fn complete(&self) -> bool {
        matches!((self.total, self.have.as_slice()), (Some(t), [(0, e)]) if *e == t)
    }
}

/// Largest IP payload a fragment may reach (the IPv4 total length and IPv6 payload length
/// fields are 16 bits).
const MAX_DATAGRAM: u32 = 65_535;

/// Fragment pool with a byte cap and a capture-time timeout.
#[derive(Debug)]
pub struct Defrag {
    max_bytes: usize,
    timeout_ns: i64,
    pending: HashMap<FragKey, Pending, foldhash::fast::RandomState>,
    /// Datagrams in arrival order of their first fragment, for timeouts and eviction.
    order: VecDeque<(u64, FragKey)>,
    bytes: usize,
    serial: u64,
    /// Frames dropped by timeout or eviction, with the reason, for the end-of-capture report.
    dropped: Vec<(FrameRef, Undecodable)>,
}

impl Defrag {
    pub fn new(max_bytes: usize, timeout_ns: i64) -> Self {
        Defrag {
            max_bytes,
            timeout_ns,
            pending: HashMap::default(),
            order: VecDeque::new(),
            bytes: 0,
            serial: 0,
            dropped: Vec::new(),
        }
    }

    /// True when nothing is held (lets the caller skip timeout checks cheaply).
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Drops datagrams whose first fragment is older than the timeout at capture time `now`.
    pub fn expire(&mut self, now: i64) {
        while let Some(&(serial, key)) = self.order.front() {
            let Some(p) = self.pending.get(&key) else {
                self.order.pop_front();
                continue;
            };
            if p.serial != serial {
                self.order.pop_front();
                continue;
            }
            if now.saturating_sub(p.first_ts) <= self.timeout_ns {
                break;
            }
            self.order.pop_front();
            self.drop_pending(&key, Undecodable::IncompleteFragments);
        }
    }

    fn drop_pending(&mut self, key: &FragKey, why: Undecodable) {
        if let Some(p) = self.pending.remove(key) {
            self.bytes = self.bytes.saturating_sub(p.cost);
            self.dropped.extend(p.frames().map(|f| (f, why)));
        }
    }

    /// Evicts the oldest datagrams until `need` more bytes fit under the cap.
    fn make_room(&mut self, need: usize, keep: &FragKey) -> bool {
        while self.bytes.saturating_add(need) > self.max_bytes {
            let Some((serial, key)) = self.order.pop_front() else {
                return false;
            };
            let live = self.pending.get(&key).is_some_and(|p| p.serial == serial);
            if !live {
                continue;
            }
            if &key == keep {
                // The datagram being extended is the oldest: give up on it rather than on
                // younger ones, it is the one that does not fit.
                self.order.push_front((serial, key));
                return false;
            }
            self.drop_pending(&key, Undecodable::OverCapacity);
        }
        true
    }

    /// Completed datagrams leave their queue entries behind; when those pile up behind a
    /// long-lived one at the front, sweep them out so the queue stays proportional to the pool.
    fn compact(&mut self) {
        if self.order.len() > 2 * self.pending.len() + 1024 {
            let pending = &self.pending;
            self.order
                .retain(|(serial, key)| pending.get(key).is_some_and(|p| p.serial == *serial));
        }
    }

    /// Adds one fragment carried by `frames` (the frame being decoded, or the frames of an
    /// outer reassembled datagram).
    pub fn push(
        &mut self,
        key: FragKey,
        frag: FragInfo,
        bytes: &[u8],
        cut: bool,
        frames: &[FrameRef],
        now: i64,
    ) -> FragOutcome {
        let Ok(len) = u32::try_from(bytes.len()) else {
            return FragOutcome::Rejected(Undecodable::MalformedHeader);
        };
        let start = frag.offset;
        let end = start.saturating_add(len);
        if end > MAX_DATAGRAM {
            return FragOutcome::Rejected(Undecodable::MalformedHeader);
        }
        let grow = {
            let cur = self.pending.get(&key).map_or(0, |p| p.data.len());
            (end as usize)
                .saturating_sub(cur)
                .saturating_add(PIECE_COST)
        };
        if !self.make_room(grow, &key) {
            // Even after evicting everything else it does not fit: drop this datagram too.
            if self.pending.contains_key(&key) {
                self.drop_pending(&key, Undecodable::OverCapacity);
            }
            return FragOutcome::Rejected(Undecodable::OverCapacity);
        }
        if !self.pending.contains_key(&key) {
            self.compact();
            self.serial = self.serial.wrapping_add(1);
            self.order.push_back((self.serial, key));
            self.pending.insert(
                key,
                Pending {
                    serial: self.serial,
                    first_ts: now,
                    data: Vec::new(),
                    have: Vec::new(),
                    total: None,
                    pieces: Vec::new(),
                    conflict: false,
                    cut: false,
                    cost: 0,
                },
            );
        }
        let Some(p) = self.pending.get_mut(&key) else {
            return FragOutcome::Rejected(Undecodable::MalformedHeader);
        };
        if (end as usize) > p.data.len() {
            p.data
                .reserve_exact((end as usize).saturating_sub(p.data.len()));
            p.data.resize(end as usize, 0);
        }
        let cost = p
            .data
            .capacity()
            .saturating_add(PIECE_COST.saturating_mul(p.pieces.len().saturating_add(1)));
        self.bytes = self.bytes.saturating_add(cost.saturating_sub(p.cost));
        p.cost = cost;
        p.cut |= cut;
        if !frag.more {
            match p.total {
                Some(t) if t != end => p.conflict = true,
                Some(_) => {}
                None => p.total = Some(end),
            }
        }
        insert_range(p, start, end, bytes);
        let at = p.pieces.partition_point(|q| q.offset <= start);
        p.pieces.insert(
            at,
            Piece {
                offset: start,
                frames: frames.to_vec(),
            },
        );
        if !p.complete() {
            return FragOutcome::Held;
        }
        let Some(mut p) = self.pending.remove(&key) else {
            return FragOutcome::Held;
        };
        self.bytes = self.bytes.saturating_sub(p.cost);
        let total = p.total.unwrap_or(0) as usize;
        p.data.truncate(total);
        let mut out_frames: Vec<FrameRef> = Vec::with_capacity(p.pieces.len());
        for f in p.frames() {
            if !out_frames.contains(&f) {
                out_frames.push(f);
            }
        }
        FragOutcome::Complete(Reassembled {
            key,
            payload: p.data,
            frames: out_frames,
            conflict: p.conflict,
            cut: p.cut,
        })
    }

    /// Frames dropped so far (timeout, eviction) plus every frame still held; empties the pool.
    pub fn finish(&mut self) -> Vec<(FrameRef, Undecodable)> {
        let mut out = std::mem::take(&mut self.dropped);
        let mut rest: Vec<(u64, Pending)> =
            self.pending.drain().map(|(_, p)| (p.serial, p)).collect();
        rest.sort_by_key(|(s, _)| *s);
        for (_, p) in rest {
            out.extend(p.frames().map(|f| (f, Undecodable::IncompleteFragments)));
        }
        self.order.clear();
        self.bytes = 0;
        out
    }

    /// Bytes currently held (for tests and statistics).
    pub fn held_bytes(&self) -> usize {
        self.bytes
    }
}

/// Copies the parts of `[start, end)` not yet received, compares the parts already received
/// (a difference is a conflict; the first bytes win), and records the range.
fn insert_range(p: &mut Pending, start: u32, end: u32, bytes: &[u8]) {
    if start >= end {
        return;
    }
    let mut pos = start;
    for &(s, e) in &p.have {
        if e <= pos || s >= end {
            continue;
        }
        // Gap before this received range.
        if s > pos {
            copy_span(&mut p.data, bytes, start, pos, s);
        }
        let (os, oe) = (s.max(pos), e.min(end));
        let old = p.data.get(os as usize..oe as usize);
        let new = bytes.get((os - start) as usize..(oe - start) as usize);
        if old != new {
            p.conflict = true;
        }
        pos = oe;
        if pos >= end {
            break;
        }
    }
    if pos < end {
        copy_span(&mut p.data, bytes, start, pos, end);
    }
    // Record the range and merge neighbours.
    let at = p.have.partition_point(|&(s, _)| s < start);
    p.have.insert(at, (start, end));
    let mut merged: Vec<(u32, u32)> = Vec::with_capacity(p.have.len());
    for &(s, e) in &p.have {
        match merged.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => merged.push((s, e)),
        }
    }
    p.have = merged;
}

fn copy_span(data: &mut [u8], bytes: &[u8], base: u32, from: u32, to: u32) {
    let (Some(dst), Some(src)) = (
        data.get_mut(from as usize..to as usize),
        bytes.get((from - base) as usize..(to - base) as usize),
    ) else {
        return;
    };
    dst.copy_from_slice(src);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fr(n: u64) -> FrameRef {
        FrameRef {
            file: 0,
            number: n,
            ts_ns: n as i64,
        }
    }

    fn key() -> FragKey {
        FragKey {
            src: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            dst: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
            proto: 17,
            id: 7,
        }
    }

    fn fi(offset: u32, more: bool) -> FragInfo {
        FragInfo {
            offset,
            more,
            id: 7,
        }
    }

    #[test]
    fn ipv4_header_fields_and_padding() {
        let mut p = vec![
            0x45, 0, 0, 24, 0, 9, 0x20, 0x01, 64, 17, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8,
        ];
        p.extend_from_slice(&[0xaa, 0xbb, 0xcc, 0xdd, 0, 0, 0]); // 3 bytes Ethernet padding
        let ip = parse_ipv4(&p).unwrap();
        assert_eq!(ip.src, IpAddr::V4(Ipv4Addr::new(1, 2, 3, 4)));
        assert_eq!(ip.dst, IpAddr::V4(Ipv4Addr::new(5, 6, 7, 8)));
        assert_eq!(ip.proto, 17);
        assert_eq!(ip.payload, &[0xaa, 0xbb, 0xcc, 0xdd]);
        assert!(!ip.cut);
        assert_eq!(
            ip.frag,
            Some(FragInfo {
                offset: 8,
                more: true,
                id: 9
            })
        );
    }

    #[test]
    fn ipv4_bad_headers() {
        assert_eq!(parse_ipv4(&[0x45; 10]), Err(Undecodable::TruncatedHeader));
        let mut p = vec![0x44u8; 20];
        assert_eq!(parse_ipv4(&p), Err(Undecodable::MalformedHeader));
        p[0] = 0x65;
        assert_eq!(parse_ipv4(&p), Err(Undecodable::MalformedHeader));
        p[0] = 0x46; // IHL 24 bytes but only 20 captured
        assert_eq!(parse_ipv4(&p), Err(Undecodable::TruncatedHeader));
        let mut q = vec![0u8; 20];
        q[0] = 0x45;
        q[3] = 10; // total length shorter than the header
        assert_eq!(parse_ipv4(&q), Err(Undecodable::MalformedHeader));
    }

    #[test]
    fn ipv4_cut_by_snaplen() {
        let mut p = vec![0u8; 20];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&100u16.to_be_bytes());
        p.extend_from_slice(&[1, 2, 3]);
        let ip = parse_ipv4(&p).unwrap();
        assert!(ip.cut);
        assert_eq!(ip.payload, &[1, 2, 3]);
    }

    #[test]
    fn ipv6_extension_headers_and_fragment() {
        let mut p = vec![0u8; 40];
        p[0] = 0x60;
        p[6] = HOP_BY_HOP;
        // hop-by-hop (8 bytes) -> routing (8 bytes) -> dest opts (16 bytes) -> fragment -> UDP
        let mut ext = vec![ROUTING, 0, 0, 0, 0, 0, 0, 0];
        ext.extend_from_slice(&[DEST_OPTS, 0, 0, 0, 0, 0, 0, 0]);
        ext.extend_from_slice(&[FRAGMENT, 1]);
        ext.extend_from_slice(&[0; 14]);
        ext.extend_from_slice(&[17, 0, 0x00, 0x11, 0, 0, 0, 42]); // offset 16, more
        ext.extend_from_slice(&[9, 9]);
        p[4..6].copy_from_slice(&(ext.len() as u16).to_be_bytes());
        p.extend_from_slice(&ext);
        let ip = parse_ipv6(&p).unwrap();
        assert_eq!(ip.proto, 17);
        assert_eq!(ip.payload, &[9, 9]);
        assert_eq!(
            ip.frag,
            Some(FragInfo {
                offset: 16,
                more: true,
                id: 42
            })
        );
        // The same chain cut inside the destination options header.
        assert_eq!(parse_ipv6(&p[..60]), Err(Undecodable::TruncatedHeader));
    }

    #[test]
    fn defrag_in_order_and_reversed() {
        for reversed in [false, true] {
            let mut d = Defrag::new(1 << 20, 1_000);
            let parts: Vec<(FragInfo, Vec<u8>, u64)> = vec![
                (fi(0, true), vec![1; 8], 1),
                (fi(8, true), vec![2; 8], 2),
                (fi(16, false), vec![3; 3], 3),
            ];
            let order: Vec<usize> = if reversed {
                vec![2, 1, 0]
            } else {
                vec![0, 1, 2]
            };
            let mut done = None;
            for (n, &i) in order.iter().enumerate() {
                let (f, b, num) = &parts[i];
                match d.push(key(), *f, b, false, &[fr(*num)], 0) {
                    FragOutcome::Held => assert!(n < 2),
                    FragOutcome::Complete(r) => done = Some(r),
                    FragOutcome::Rejected(u) => panic!("rejected {u:?}"),
                }
            }
            let r = done.expect("complete");
            let mut want = vec![1u8; 8];
            want.extend_from_slice(&[2; 8]);
            want.extend_from_slice(&[3; 3]);
            assert_eq!(r.payload, want);
            assert_eq!(r.frames, vec![fr(1), fr(2), fr(3)]);
            assert!(!r.conflict);
            assert_eq!(d.held_bytes(), 0);
            assert!(d.finish().is_empty());
        }
    }

    #[test]
    fn defrag_overlap_equal_and_conflicting() {
        let mut d = Defrag::new(1 << 20, 1_000);
        assert!(matches!(
            d.push(key(), fi(0, true), &[1; 16], false, &[fr(1)], 0),
            FragOutcome::Held
        ));
        // Overlaps 8..16 with equal bytes, adds 16..24.
        let mut b = vec![1u8; 8];
        b.extend_from_slice(&[2; 8]);
        assert!(matches!(
            d.push(key(), fi(8, false), &b, false, &[fr(2)], 0),
            FragOutcome::Complete(ref r) if !r.conflict && r.payload.len() == 24
        ));

        let mut d = Defrag::new(1 << 20, 1_000);
        d.push(key(), fi(0, true), &[1; 16], false, &[fr(1)], 0);
        let out = d.push(key(), fi(8, false), &[7; 16], false, &[fr(2)], 0);
        let FragOutcome::Complete(r) = out else {
            panic!("not complete")
        };
        assert!(r.conflict);
        // First-seen bytes kept in the overlap, new bytes after it.
        assert_eq!(&r.payload[..16], &[1; 16]);
        assert_eq!(&r.payload[16..], &[7; 8]);
    }

    #[test]
    fn defrag_cap_evicts_oldest_and_timeout_drops() {
        let mut d = Defrag::new(200, 1_000);
        let mut k2 = key();
        k2.id = 8;
        d.push(key(), fi(0, true), &[0; 64], false, &[fr(1)], 0);
        d.push(k2, fi(0, true), &[0; 64], false, &[fr(2)], 1);
        assert_eq!(d.dropped, vec![(fr(1), Undecodable::OverCapacity)]);
        d.expire(10_000);
        assert!(d.is_empty());
        let rep = d.finish();
        assert_eq!(
            rep,
            vec![
                (fr(1), Undecodable::OverCapacity),
                (fr(2), Undecodable::IncompleteFragments)
            ]
        );
    }

    #[test]
    fn defrag_rejects_beyond_max_datagram() {
        let mut d = Defrag::new(1 << 20, 1_000);
        assert!(matches!(
            d.push(key(), fi(65_528, false), &[0; 16], false, &[fr(1)], 0),
            FragOutcome::Rejected(Undecodable::MalformedHeader)
        ));
    }
}
