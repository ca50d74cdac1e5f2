//! Writing pcap and pcapng files: used by the tests to build captures that no SIP stack makes on
//! demand, and by exports that save selected frames.
//!
//! Owns: the byte layout of what we write (classic pcap in either byte order and resolution;
//! pcapng sections, interface descriptions with `if_tsresol`/`if_tsoffset`, enhanced and simple
//! packet blocks, and arbitrary raw blocks so tests can build odd files).

use std::io::{self, Write};

const NS_PER_S: i128 = 1_000_000_000;

fn invalid(why: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, why)
}

fn len_u32(len: usize, what: &str) -> io::Result<u32> {
    u32::try_from(len).map_err(|_| invalid(format!("{what} of {len} bytes is too long")))
}

/// Bytes needed to pad `len` to a multiple of 4.
fn pad4(len: usize) -> usize {
    (4 - len % 4) % 4
}

/// Number writer in one byte order.
struct Ordered<W> {
    w: W,
    big_endian: bool,
}

impl<W: Write> Ordered<W> {
    fn u16(&mut self, v: u16) -> io::Result<()> {
        if self.big_endian {
            self.w.write_all(&v.to_be_bytes())
        } else {
            self.w.write_all(&v.to_le_bytes())
        }
    }
    fn u32(&mut self, v: u32) -> io::Result<()> {
        if self.big_endian {
            self.w.write_all(&v.to_be_bytes())
        } else {
            self.w.write_all(&v.to_le_bytes())
        }
    }
    fn i64(&mut self, v: i64) -> io::Result<()> {
        if self.big_endian {
            self.w.write_all(&v.to_be_bytes())
        } else {
            self.w.write_all(&v.to_le_bytes())
        }
    }
    fn bytes(&mut self, b: &[u8]) -> io::Result<()> {
        self.w.write_all(b)
    }
    fn pad(&mut self, len: usize) -> io::Result<()> {
        self.w.write_all(&[0u8; 3][..pad4(len)])
    }
}

/// Writes a classic pcap file.
pub struct PcapWriter<W: Write> {
    out: Ordered<W>,
    nanos: bool,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the global header. `nanos` picks nanosecond timestamps (magic a1b23c4d) over
    /// microseconds (a1b2c3d4).
    pub fn new(
        w: W,
        linktype: u32,
        nanos: bool,
        big_endian: bool,
        snaplen: u32,
    ) -> io::Result<Self> {
        let mut out = Ordered { w, big_endian };
        out.u32(if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 })?;
        out.u16(2)?;
        out.u16(4)?;
        out.u32(0)?; // thiszone
        out.u32(0)?; // sigfigs
        out.u32(snaplen)?;
        out.u32(linktype)?;
        Ok(PcapWriter { out, nanos })
    }

    /// Writes one record. `orig_len` may exceed `data.len()` to stand for a snaplen cut.
    pub fn write_packet(&mut self, ts_ns: i64, data: &[u8], orig_len: u32) -> io::Result<()> {
        let sec = u32::try_from(ts_ns.div_euclid(1_000_000_000))
            .map_err(|_| invalid(format!("timestamp {ts_ns} ns does not fit in pcap")))?;
        let ns = ts_ns.rem_euclid(1_000_000_000) as u32;
        let frac = if self.nanos { ns } else { ns / 1000 };
        let caplen = len_u32(data.len(), "packet")?;
        self.out.u32(sec)?;
        self.out.u32(frac)?;
        self.out.u32(caplen)?;
        self.out.u32(orig_len)?;
        self.out.bytes(data)
    }

    pub fn into_inner(self) -> W {
        self.out.w
    }
}

/// Builds a little-endian, nanosecond-resolution pcap file in memory (for tests).
pub fn pcap_bytes(linktype: u32, packets: &[(i64, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing into a Vec cannot fail; a timestamp that pcap cannot hold ends the file early.
    if let Ok(mut w) = PcapWriter::new(&mut out, linktype, true, false, 262_144) {
        for (ts, data) in packets {
            let orig = u32::try_from(data.len()).unwrap_or(u32::MAX);
            if w.write_packet(*ts, data, orig).is_err() {
                break;
            }
        }
    }
    out
}

/// Timestamp settings of an interface declared by a [`PcapNgWriter`].
#[derive(Debug, Clone, Copy)]
struct NgIface {
    tsresol: u8,
    tsoffset_s: i64,
}

/// Writes a pcapng file: one or more sections, each with its own interfaces.
pub struct PcapNgWriter<W: Write> {
    out: Ordered<W>,
    ifaces: Vec<NgIface>,
}

impl<W: Write> PcapNgWriter<W> {
    /// Starts a little-endian file with its first section header.
    pub fn new(w: W) -> io::Result<Self> {
        Self::with_byte_order(w, false)
    }

    /// Starts a file whose first section has the given byte order.
    pub fn with_byte_order(w: W, big_endian: bool) -> io::Result<Self> {
        let mut me = PcapNgWriter {
            out: Ordered { w, big_endian },
            ifaces: Vec::new(),
        };
        me.section_header()?;
        Ok(me)
    }

    fn section_header(&mut self) -> io::Result<()> {
        self.ifaces.clear();
        let out = &mut self.out;
        out.u32(0x0A0D_0D0A)?;
        out.u32(28)?;
        out.u32(0x1A2B_3C4D)?;
        out.u16(1)?;
        out.u16(0)?;
        out.i64(-1)?; // section length not given
        out.u32(28)
    }

    /// Starts another section in the same byte order; interface ids start again at 0.
    pub fn new_section(&mut self) -> io::Result<()> {
        self.section_header()
    }

    /// Starts another section in the given byte order.
    pub fn new_section_with_order(&mut self, big_endian: bool) -> io::Result<()> {
        self.out.big_endian = big_endian;
        self.section_header()
    }

    /// Declares an interface (no snap length); returns its id within the section.
    pub fn add_interface(
        &mut self,
        linktype: u32,
        tsresol: Option<u8>,
        tsoffset_s: Option<i64>,
    ) -> io::Result<u32> {
        self.add_interface_with_snaplen(linktype, tsresol, tsoffset_s, 0)
    }

    /// Declares an interface with a snap length (0: none).
    pub fn add_interface_with_snaplen(
        &mut self,
        linktype: u32,
        tsresol: Option<u8>,
        tsoffset_s: Option<i64>,
        snaplen: u32,
    ) -> io::Result<u32> {
        let linktype = u16::try_from(linktype)
            .map_err(|_| invalid(format!("link type {linktype} does not fit pcapng")))?;
        let mut opts_len = 0usize;
        if tsresol.is_some() {
            opts_len += 8;
        }
        if tsoffset_s.is_some() {
            opts_len += 12;
        }
        if opts_len > 0 {
            opts_len += 4; // opt_endofopt
        }
        let total = 20 + opts_len;
        let out = &mut self.out;
        out.u32(0x0000_0001)?;
        out.u32(total as u32)?;
        out.u16(linktype)?;
        out.u16(0)?;
        out.u32(snaplen)?;
        if let Some(r) = tsresol {
            out.u16(9)?;
            out.u16(1)?;
            out.bytes(&[r, 0, 0, 0])?;
        }
        if let Some(off) = tsoffset_s {
            out.u16(14)?;
            out.u16(8)?;
            out.i64(off)?;
        }
        if opts_len > 0 {
            out.u16(0)?;
            out.u16(0)?;
        }
        out.u32(total as u32)?;
        let id = self.ifaces.len() as u32;
        self.ifaces.push(NgIface {
            tsresol: tsresol.unwrap_or(6),
            tsoffset_s: tsoffset_s.unwrap_or(0),
        });
        Ok(id)
    }

    /// Converts nanoseconds to the interface's timestamp units (an undeclared interface counts
    /// as microseconds, so tests can write packets for interfaces that do not exist).
    fn ts_units(&self, iface: u32, ts_ns: i64) -> io::Result<u64> {
        let cfg = self.ifaces.get(iface as usize).copied().unwrap_or(NgIface {
            tsresol: 6,
            tsoffset_s: 0,
        });
        let rel = i128::from(ts_ns) - i128::from(cfg.tsoffset_s) * NS_PER_S;
        let units = if cfg.tsresol & 0x80 == 0 {
            let d = u32::from(cfg.tsresol);
            if d <= 9 {
                Some(rel / 10i128.pow(9 - d))
            } else {
                10i128.checked_pow(d - 9).and_then(|f| rel.checked_mul(f))
            }
        } else {
            let p = u32::from(cfg.tsresol & 0x7f);
            1i128
                .checked_shl(p)
                .and_then(|f| rel.checked_mul(f))
                .map(|v| v / NS_PER_S)
        };
        units.and_then(|u| u64::try_from(u).ok()).ok_or_else(|| {
            invalid(format!(
                "timestamp {ts_ns} ns does not fit interface {iface}"
            ))
        })
    }

    /// Writes an Enhanced Packet Block.
    pub fn write_epb(
        &mut self,
        iface: u32,
        ts_ns: i64,
        data: &[u8],
        orig_len: u32,
    ) -> io::Result<()> {
        let units = self.ts_units(iface, ts_ns)?;
        let caplen = len_u32(data.len(), "packet")?;
        let total = len_u32(32 + data.len() + pad4(data.len()), "block")?;
        let out = &mut self.out;
        out.u32(0x0000_0006)?;
        out.u32(total)?;
        out.u32(iface)?;
        out.u32((units >> 32) as u32)?;
        out.u32(units as u32)?;
        out.u32(caplen)?;
        out.u32(orig_len)?;
        out.bytes(data)?;
        out.pad(data.len())?;
        out.u32(total)
    }

    /// Writes a Simple Packet Block (interface 0, no timestamp).
    pub fn write_spb(&mut self, data: &[u8], orig_len: u32) -> io::Result<()> {
        let total = len_u32(16 + data.len() + pad4(data.len()), "block")?;
        let out = &mut self.out;
        out.u32(0x0000_0003)?;
        out.u32(total)?;
        out.u32(orig_len)?;
        out.bytes(data)?;
        out.pad(data.len())?;
        out.u32(total)
    }

    /// Writes any block with the given type and body (padded to 4 bytes): name resolution,
    /// custom or made-up blocks, obsolete packet blocks.
    pub fn write_block(&mut self, block_type: u32, body: &[u8]) -> io::Result<()> {
        let total = len_u32(12 + body.len() + pad4(body.len()), "block")?;
        let out = &mut self.out;
        out.u32(block_type)?;
        out.u32(total)?;
        out.bytes(body)?;
        out.pad(body.len())?;
        out.u32(total)
    }

    pub fn into_inner(self) -> W {
        self.out.w
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pcap_layout_little_endian_micro() {
        let mut w = PcapWriter::new(Vec::new(), 113, false, false, 1500).unwrap();
        w.write_packet(2_000_000_123_456, b"xyz", 60).unwrap();
        let b = w.into_inner();
        let mut want = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        want.extend_from_slice(&1500u32.to_le_bytes());
        want.extend_from_slice(&113u32.to_le_bytes());
        want.extend_from_slice(&2000u32.to_le_bytes());
        want.extend_from_slice(&123u32.to_le_bytes()); // 123_456 ns -> 123 µs
        want.extend_from_slice(&3u32.to_le_bytes());
        want.extend_from_slice(&60u32.to_le_bytes());
        want.extend_from_slice(b"xyz");
        assert_eq!(b, want);
    }

    #[test]
    fn timestamps_that_do_not_fit_are_refused() {
        let mut w = PcapWriter::new(Vec::new(), 1, true, false, 0).unwrap();
        assert!(w.write_packet(-1, b"", 0).is_err());
        assert!(w.write_packet(i64::MAX, b"", 0).is_err());
        let mut ng = PcapNgWriter::new(Vec::new()).unwrap();
        ng.add_interface(1, Some(9), Some(10)).unwrap();
        // Before the interface's offset: negative units.
        assert!(ng.write_epb(0, 5, b"", 0).is_err());
        assert!(ng.add_interface(70_000, None, None).is_err());
    }

    #[test]
    fn pcapng_blocks_are_padded_and_framed() {
        let mut ng = PcapNgWriter::with_byte_order(Vec::new(), true).unwrap();
        assert_eq!(ng.add_interface(1, Some(6), Some(0)).unwrap(), 0);
        ng.write_epb(0, 1_000, b"abcde", 5).unwrap();
        let b = ng.into_inner();
        // SHB (28) + IDB (20 + 8 tsresol + 12 tsoffset + 4 end) + EPB (32 + 8).
        assert_eq!(b.len(), 28 + 44 + 40);
        assert_eq!(&b[8..12], &[0x1a, 0x2b, 0x3c, 0x4d]);
        let epb = &b[72..];
        assert_eq!(&epb[4..8], &40u32.to_be_bytes());
        assert_eq!(&epb[36..40], &40u32.to_be_bytes());
        assert_eq!(&epb[16..20], &1u32.to_be_bytes()); // 1000 ns = 1 µs
        assert_eq!(&epb[28..36], b"abcde\0\0\0");
    }
}
