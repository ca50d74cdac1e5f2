//! Transport headers: UDP, TCP and the part of ICMP/ICMPv6 errors that quotes the offending
//! packet. Parsing only; what to do with the payloads is the decoder's business.

use super::Undecodable;

/// A UDP header and its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Udp<'a> {
    pub src_port: u16,
    pub dst_port: u16,
    /// The payload, limited to the UDP length and to what was captured.
    pub payload: &'a [u8],
    /// The UDP length claims more bytes than are present.
    pub cut: bool,
}

/// Parses a UDP header.
pub fn parse_udp(data: &[u8]) -> Result<Udp<'_>, Undecodable> {
    let h = data.get(..8).ok_or(Undecodable::TruncatedHeader)?;
    let len = usize::from(u16::from_be_bytes([h[4], h[5]]));
    // Length 0 is legal for IPv6 jumbograms and seen with offloads: trust the IP length then.
    let (end, cut) = if len == 0 {
        (data.len(), false)
    } else if len < 8 {
        return Err(Undecodable::MalformedHeader);
    } else if len > data.len() {
        (data.len(), true)
    } else {
        (len, false)
    };
    Ok(Udp {
        src_port: u16::from_be_bytes([h[0], h[1]]),
        dst_port: u16::from_be_bytes([h[2], h[3]]),
        payload: data.get(8..end).unwrap_or_default(),
        cut,
    })
}

/// The fields of a TCP header the stream reassembler needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tcp<'a> {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    pub syn: bool,
    pub fin: bool,
    pub rst: bool,
    pub payload: &'a [u8],
}

/// Parses a TCP header (options skipped by the data offset).
pub fn parse_tcp(data: &[u8]) -> Result<Tcp<'_>, Undecodable> {
    let h = data.get(..20).ok_or(Undecodable::TruncatedHeader)?;
    let offset = usize::from(h[12] >> 4) * 4;
    if offset < 20 {
        return Err(Undecodable::MalformedHeader);
    }
    let payload = data.get(offset..).ok_or(Undecodable::TruncatedHeader)?;
    let flags = h[13];
    Ok(Tcp {
        src_port: u16::from_be_bytes([h[0], h[1]]),
        dst_port: u16::from_be_bytes([h[2], h[3]]),
        seq: u32::from_be_bytes([h[4], h[5], h[6], h[7]]),
        ack: u32::from_be_bytes([h[8], h[9], h[10], h[11]]),
        fin: flags & 0x01 != 0,
        syn: flags & 0x02 != 0,
        rst: flags & 0x04 != 0,
        payload,
    })
}

/// If this ICMPv4 message is an error that quotes a packet (destination unreachable, time
/// exceeded), the quoted bytes (an IPv4 header and what follows, usually cut short).
pub fn icmp4_quote(data: &[u8]) -> Result<Option<&[u8]>, Undecodable> {
    let kind = *data.first().ok_or(Undecodable::TruncatedHeader)?;
    if !matches!(kind, 3 | 11) {
        return Ok(None);
    }
    data.get(8..).map(Some).ok_or(Undecodable::TruncatedHeader)
}

/// The same for ICMPv6 (destination unreachable, time exceeded): quotes an IPv6 packet.
pub fn icmp6_quote(data: &[u8]) -> Result<Option<&[u8]>, Undecodable> {
    let kind = *data.first().ok_or(Undecodable::TruncatedHeader)?;
    if !matches!(kind, 1 | 3) {
        return Ok(None);
    }
    data.get(8..).map(Some).ok_or(Undecodable::TruncatedHeader)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn udp_lengths() {
        let mut d = vec![0x13, 0xc4, 0x13, 0xc5, 0, 11, 0, 0, b'a', b'b', b'c', 0, 0];
        let u = parse_udp(&d).unwrap();
        assert_eq!((u.src_port, u.dst_port), (5060, 5061));
        assert_eq!(u.payload, b"abc");
        assert!(!u.cut);
        d[5] = 40;
        let u = parse_udp(&d).unwrap();
        assert!(u.cut);
        assert_eq!(u.payload.len(), 5);
        d[5] = 4;
        assert_eq!(parse_udp(&d), Err(Undecodable::MalformedHeader));
        assert_eq!(parse_udp(&d[..7]), Err(Undecodable::TruncatedHeader));
    }

    #[test]
    fn tcp_header() {
        let mut d = vec![0u8; 24];
        d[0..2].copy_from_slice(&5060u16.to_be_bytes());
        d[2..4].copy_from_slice(&40000u16.to_be_bytes());
        d[4..8].copy_from_slice(&1000u32.to_be_bytes());
        d[8..12].copy_from_slice(&77u32.to_be_bytes());
        d[12] = 6 << 4; // 24-byte header with options
        d[13] = 0x03; // SYN + FIN
        d.extend_from_slice(b"xy");
        let t = parse_tcp(&d).unwrap();
        assert_eq!(
            (t.src_port, t.dst_port, t.seq, t.ack),
            (5060, 40000, 1000, 77)
        );
        assert!(t.syn && t.fin && !t.rst);
        assert_eq!(t.payload, b"xy");
        d[12] = 4 << 4;
        assert_eq!(parse_tcp(&d), Err(Undecodable::MalformedHeader));
        d[12] = 15 << 4;
        assert_eq!(parse_tcp(&d), Err(Undecodable::TruncatedHeader));
    }

    #[test]
    fn icmp_error_types() {
        let q = [3u8, 3, 0, 0, 0, 0, 0, 0, 0x45];
        assert_eq!(icmp4_quote(&q), Ok(Some(&[0x45u8][..])));
        assert_eq!(icmp4_quote(&[8, 0, 0, 0, 0, 0, 0, 0]), Ok(None));
        assert_eq!(
            icmp6_quote(&[1, 4, 0, 0, 0, 0, 0, 0, 0x60]),
            Ok(Some(&[0x60u8][..]))
        );
        assert_eq!(icmp6_quote(&[128, 0, 0, 0]), Ok(None));
        assert_eq!(icmp6_quote(&[3, 0]), Err(Undecodable::TruncatedHeader));
    }
}
