//! Tunnel headers: GRE (with PPP, transparent Ethernet bridging and ERSPAN II/III inside),
//! GTP-U G-PDUs and VXLAN. Each function peels one tunnel header and says what is inside, as a
//! [`Network`]; the decoder recurses on it with a depth limit. IP-in-IP needs no header of its
//! own (the outer IP protocol number says it), so it is handled where the protocol is read.

use super::link::{self, Network};
use super::Undecodable;

/// UDP port of GTP-U.
pub const GTPU_PORT: u16 = 2152;
/// UDP port of VXLAN (IANA).
pub const VXLAN_PORT: u16 = 4789;

fn be16(data: &[u8], at: usize) -> Option<u16> {
    let b = data.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([b[0], b[1]]))
}

/// GRE header (RFC 2784/2890, and the PPTP "enhanced" version 1 of RFC 2637).
pub fn gre(data: &[u8]) -> Result<Network<'_>, Undecodable> {
    let flags = be16(data, 0).ok_or(Undecodable::TruncatedHeader)?;
    let proto = be16(data, 2).ok_or(Undecodable::TruncatedHeader)?;
    let checksum = flags & 0x8000 != 0;
    let routing = flags & 0x4000 != 0;
    let key = flags & 0x2000 != 0;
    let seq = flags & 0x1000 != 0;
    let version = flags & 0x0007;
    let mut len = 4usize;
    match version {
        0 => {
            if routing {
                // RFC 1701 source routing: obsolete and never seen carrying SIP.
                return Ok(Network::Other("gre source route"));
            }
            if checksum {
                len += 4;
            }
            if key {
                len += 4;
            }
            if seq {
                len += 4;
            }
        }
        1 => {
            // Enhanced GRE: key (payload length + call id) always there, ack when flagged.
            len += 4;
            if seq {
                len += 4;
            }
            if flags & 0x0080 != 0 {
                len += 4;
            }
        }
        _ => return Err(Undecodable::MalformedHeader),
    }
    let rest = data.get(len..).ok_or(Undecodable::TruncatedHeader)?;
    match proto {
        0x0800 => Ok(Network::Ipv4(rest)),
        0x86dd => Ok(Network::Ipv6(rest)),
        0x880b => {
            if rest.is_empty() {
                // PPTP acknowledgement without a payload.
                Ok(Network::Other("gre ppp ack"))
            } else {
                link::ppp(rest)
            }
        }
        0x6558 => link::ethernet(rest),
        // ERSPAN type I has no sequence number and no header of its own.
        0x88be if !seq => link::ethernet(rest),
        0x88be => erspan2(rest),
        0x22eb => erspan3(rest),
        0x8847 | 0x8848 | 0x8100 => link::by_ethertype(proto, rest),
        _ => Ok(Network::Other("gre other")),
    }
}

/// ERSPAN type II: 8 bytes of header, then the mirrored Ethernet frame.
fn erspan2(data: &[u8]) -> Result<Network<'_>, Undecodable> {
    let rest = data.get(8..).ok_or(Undecodable::TruncatedHeader)?;
    link::ethernet(rest)
}

/// ERSPAN type III: 12 bytes of header, 8 more when the O bit says a platform sub-header
/// follows; the frame type field says Ethernet (0) or IP (2).
fn erspan3(data: &[u8]) -> Result<Network<'_>, Undecodable> {
    let h = data.get(..12).ok_or(Undecodable::TruncatedHeader)?;
    let optional = h[11] & 0x01 != 0;
    let frame_type = (h[10] >> 2) & 0x1f;
    let len = if optional { 20 } else { 12 };
    let rest = data.get(len..).ok_or(Undecodable::TruncatedHeader)?;
    match frame_type {
        0 => link::ethernet(rest),
        2 => Ok(Network::IpAny(rest)),
        _ => Ok(Network::Other("erspan other")),
    }
}

/// A GTP-U message (3GPP TS 29.281). Only G-PDUs carry user packets; echo, error indication and
/// end marker messages are set aside. Returns `None` when the bytes are not GTPv1-U at all, so
/// the caller can treat the datagram as plain UDP.
pub fn gtpu(data: &[u8]) -> Option<Result<Network<'_>, Undecodable>> {
    let h = data.get(..8)?;
    let version = h[0] >> 5;
    let protocol_type = h[0] & 0x10 != 0;
    if version != 1 || !protocol_type {
        return None;
    }
    if h[1] != 0xff {
        return Some(Ok(Network::Other("gtp-u signalling")));
    }
    let length = usize::from(u16::from_be_bytes([h[2], h[3]]));
    // The length counts everything after the mandatory 8 bytes; trust captured bytes beyond it
    // only up to that length (less captured is a snaplen cut, handled by the IP decoder).
    let end = 8usize.saturating_add(length).min(data.len());
    let body = data.get(8..end).unwrap_or_default();
    Some(gtpu_body(h[0], body))
}

fn gtpu_body(flags: u8, body: &[u8]) -> Result<Network<'_>, Undecodable> {
    let mut rest = body;
    if flags & 0x07 != 0 {
        // Sequence number (2), N-PDU number (1), next extension header type (1).
        let opt = rest.get(..4).ok_or(Undecodable::TruncatedHeader)?;
        let mut next = opt[3];
        rest = rest.get(4..).unwrap_or_default();
        if flags & 0x04 != 0 {
            let mut count = 0;
            while next != 0 {
                count += 1;
                if count > 16 {
                    return Err(Undecodable::MalformedHeader);
                }
                // Each extension header: length in 4-byte units, content, next type last.
                let units = usize::from(*rest.first().ok_or(Undecodable::TruncatedHeader)?);
                if units == 0 {
                    return Err(Undecodable::MalformedHeader);
                }
                let len = units * 4;
                let ext = rest.get(..len).ok_or(Undecodable::TruncatedHeader)?;
                next = *ext.last().ok_or(Undecodable::TruncatedHeader)?;
                rest = rest.get(len..).unwrap_or_default();
            }
        }
    }
    match rest.first().map(|b| b >> 4) {
        Some(4) => Ok(Network::Ipv4(rest)),
        Some(6) => Ok(Network::Ipv6(rest)),
        None => Ok(Network::Other("gtp-u empty")),
        // Non-IP PDU sessions (Ethernet, unstructured) are not followed.
        _ => Ok(Network::Other("gtp-u other")),
    }
}

/// A VXLAN header (RFC 7348): flags with the I bit, 24-bit VNI, then an Ethernet frame.
/// Returns `None` when the I bit is missing, so the caller can treat the datagram as plain UDP.
pub fn vxlan(data: &[u8]) -> Option<Result<Network<'_>, Undecodable>> {
    let h = data.get(..8)?;
    if h[0] & 0x08 == 0 {
        return None;
    }
    Some(link::ethernet(data.get(8..).unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP4: &[u8] = &[0x45, 0, 0, 20];
    const IP6: &[u8] = &[0x60, 0, 0, 0];

    fn eth4() -> Vec<u8> {
        let mut v = vec![0u8; 12];
        v.extend_from_slice(&[0x08, 0x00]);
        v.extend_from_slice(IP4);
        v
    }

    #[test]
    fn gre_plain_and_with_optional_fields() {
        let mut a = vec![0x00, 0x00, 0x08, 0x00];
        a.extend_from_slice(IP4);
        assert_eq!(gre(&a), Ok(Network::Ipv4(IP4)));
        // Checksum, key and sequence: 12 more bytes.
        let mut b = vec![0xb0, 0x00, 0x86, 0xdd];
        b.extend_from_slice(&[0; 12]);
        b.extend_from_slice(IP6);
        assert_eq!(gre(&b), Ok(Network::Ipv6(IP6)));
        assert_eq!(gre(&b[..10]), Err(Undecodable::TruncatedHeader));
        assert_eq!(
            gre(&[0x00, 0x05, 0x08, 0x00]),
            Err(Undecodable::MalformedHeader)
        );
    }

    #[test]
    fn gre_ppp_teb_and_erspan() {
        // PPTP enhanced GRE with sequence number, PPP with address/control bytes.
        let mut p = vec![
            0x30, 0x01, 0x88, 0x0b, 0, 8, 0, 1, 0, 0, 0, 1, 0xff, 0x03, 0x00, 0x21,
        ];
        p.extend_from_slice(IP4);
        assert_eq!(gre(&p), Ok(Network::Ipv4(IP4)));
        // Without address/control and with the IPv6 protocol.
        let mut q = vec![0x20, 0x01, 0x88, 0x0b, 0, 8, 0, 1, 0x00, 0x57];
        q.extend_from_slice(IP6);
        assert_eq!(gre(&q), Ok(Network::Ipv6(IP6)));

        let mut teb = vec![0x00, 0x00, 0x65, 0x58];
        teb.extend_from_slice(&eth4());
        assert_eq!(gre(&teb), Ok(Network::Ipv4(IP4)));

        let mut e2 = vec![0x10, 0x00, 0x88, 0xbe, 0, 0, 0, 1];
        e2.extend_from_slice(&[0x10, 0, 0, 1, 0, 0, 0, 0]);
        e2.extend_from_slice(&eth4());
        assert_eq!(gre(&e2), Ok(Network::Ipv4(IP4)));

        let mut e3 = vec![0x10, 0x00, 0x22, 0xeb, 0, 0, 0, 1];
        e3.extend_from_slice(&[0x20, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0x01]);
        e3.extend_from_slice(&[0; 8]); // platform sub-header (O bit)
        e3.extend_from_slice(&eth4());
        assert_eq!(gre(&e3), Ok(Network::Ipv4(IP4)));
    }

    #[test]
    fn gtpu_gpdu_with_and_without_options() {
        let mut a = vec![0x30, 0xff, 0, IP4.len() as u8, 0, 0, 0, 1];
        a.extend_from_slice(IP4);
        assert_eq!(gtpu(&a), Some(Ok(Network::Ipv4(IP4))));
        // Sequence flag and one extension header (PDU session container, 1 unit).
        let mut b = vec![
            0x36, 0xff, 0, 12, 0, 0, 0, 1, 0, 1, 0, 0x85, 1, 0x10, 0x01, 0x00,
        ];
        b.extend_from_slice(IP6);
        assert_eq!(gtpu(&b), Some(Ok(Network::Ipv6(IP6))));
        // Echo request.
        assert_eq!(
            gtpu(&[0x32, 0x01, 0, 4, 0, 0, 0, 0, 0, 1, 0, 0]),
            Some(Ok(Network::Other("gtp-u signalling")))
        );
        // Not GTPv1 at all.
        assert_eq!(gtpu(&[0x50, 0xff, 0, 0, 0, 0, 0, 0]), None);
        // Extension header with length 0 must not loop.
        let c = vec![0x34, 0xff, 0, 8, 0, 0, 0, 1, 0, 0, 0, 0x85, 0, 0, 0, 0];
        assert_eq!(gtpu(&c), Some(Err(Undecodable::MalformedHeader)));
    }

    #[test]
    fn vxlan_header() {
        let mut v = vec![0x08, 0, 0, 0, 0, 0, 1, 0];
        v.extend_from_slice(&eth4());
        assert_eq!(vxlan(&v), Some(Ok(Network::Ipv4(IP4))));
        v[0] = 0;
        assert_eq!(vxlan(&v), None);
    }
}
