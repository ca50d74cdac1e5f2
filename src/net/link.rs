//! Link layers: from a frame of a given link type to the network-layer packet inside it.
//!
//! Owns: Ethernet II (and 802.3/LLC frames, recognised and set aside), 802.1Q/802.1ad/QinQ tag
//! stacks, PPPoE session frames, MPLS label stacks, Linux cooked headers (SLL and SLL2), raw IP,
//! BSD NULL (either byte order) and LOOP, and PPP protocol fields. Everything is parsed by hand:
//! these headers are a few fixed fields, and doing it here keeps the common path free of
//! allocation and of a second header model. Tunnels that carry Ethernet reuse [`ethernet`].

use super::Undecodable;
use crate::capture::linktype;

/// The network-layer packet found inside a link-layer (or tunnel) header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network<'a> {
    /// Bytes starting with an IPv4 header (the version is checked by the IP decoder).
    Ipv4(&'a [u8]),
    /// Bytes starting with an IPv6 header.
    Ipv6(&'a [u8]),
    /// Bytes starting with an IP header whose version the first nibble tells.
    IpAny(&'a [u8]),
    /// Something that is not IP: the name says what ("arp", "lldp", ...).
    Other(&'static str),
}

/// At most this many VLAN tags / MPLS labels are walked, so a hostile frame cannot make us spin.
const MAX_TAGS: usize = 16;

/// Decodes the link-layer header of a frame captured with `linktype`.
pub fn decode(linktype: u32, data: &[u8]) -> Result<Network<'_>, Undecodable> {
    match linktype {
        linktype::ETHERNET => ethernet(data),
        linktype::RAW_12 | linktype::RAW | LINKTYPE_RAW_OPENBSD => Ok(Network::IpAny(data)),
        linktype::IPV4 => Ok(Network::Ipv4(data)),
        linktype::IPV6 => Ok(Network::Ipv6(data)),
        linktype::LINUX_SLL => sll(data),
        linktype::LINUX_SLL2 => sll2(data),
        linktype::NULL => bsd_null(data),
        linktype::LOOP => bsd_loop(data),
        LINKTYPE_PPP => ppp(data),
        other => Err(Undecodable::UnknownLinkType(other)),
    }
}

/// LINKTYPE_RAW as OpenBSD numbers it in some old files (DLT_RAW = 14 there).
const LINKTYPE_RAW_OPENBSD: u32 = 14;
/// LINKTYPE_PPP: PPP frames, optionally with the HDLC address/control bytes.
const LINKTYPE_PPP: u32 = 9;

fn be16(data: &[u8], at: usize) -> Option<u16> {
    let b = data.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([b[0], b[1]]))
}

/// Ethernet II header (destination, source, EtherType), then whatever the EtherType says.
/// A "type" of 1500 or less is an 802.3 length: the frame carries LLC, never IP for us.
pub fn ethernet(data: &[u8]) -> Result<Network<'_>, Undecodable> {
    let ethertype = be16(data, 12).ok_or(Undecodable::TruncatedHeader)?;
    let rest = data.get(14..).unwrap_or_default();
    by_ethertype(ethertype, rest)
}

/// Follows an EtherType (with any VLAN tags and MPLS labels under it) to the network layer.
pub fn by_ethertype(mut ethertype: u16, mut rest: &[u8]) -> Result<Network<'_>, Undecodable> {
    for _ in 0..MAX_TAGS {
        match ethertype {
            0x0800 => return Ok(Network::Ipv4(rest)),
            0x86dd => return Ok(Network::Ipv6(rest)),
            // 802.1Q, 802.1ad and the pre-standard QinQ tag: TCI then the next EtherType.
            0x8100 | 0x88a8 | 0x9100 | 0x9200 => {
                ethertype = be16(rest, 2).ok_or(Undecodable::TruncatedHeader)?;
                rest = rest.get(4..).unwrap_or_default();
            }
            // PPPoE session: version/type, code, session id, length, then a PPP protocol.
            0x8864 => {
                let body = rest.get(6..).ok_or(Undecodable::TruncatedHeader)?;
                return ppp_protocol(body);
            }
            0x8863 => return Ok(Network::Other("pppoe discovery")),
            0x8847 | 0x8848 => return mpls(rest),
            0x0806 => return Ok(Network::Other("arp")),
            0x8035 => return Ok(Network::Other("rarp")),
            0x88cc => return Ok(Network::Other("lldp")),
            0x888e => return Ok(Network::Other("eapol")),
            0x8809 => return Ok(Network::Other("slow protocols")),
            0x88e5 => return Ok(Network::Other("macsec")),
            0x8137 => return Ok(Network::Other("ipx")),
            0x9000 => return Ok(Network::Other("loopback")),
            0x0000..=0x05dc => return Ok(Network::Other("llc")),
            _ => return Ok(Network::Other("ethernet other")),
        }
    }
    Err(Undecodable::MalformedHeader)
}

/// MPLS label stack: 4-byte entries until the bottom-of-stack bit; IP follows (version by nibble).
fn mpls(mut rest: &[u8]) -> Result<Network<'_>, Undecodable> {
    for _ in 0..MAX_TAGS {
        let entry = rest.get(..4).ok_or(Undecodable::TruncatedHeader)?;
        rest = rest.get(4..).unwrap_or_default();
        if entry[2] & 0x01 != 0 {
            return Ok(match rest.first().map(|b| b >> 4) {
                Some(4) => Network::Ipv4(rest),
                Some(6) => Network::Ipv6(rest),
                // Pseudowire control word / Ethernet over MPLS: not followed further.
                _ => Network::Other("mpls other"),
            });
        }
    }
    Err(Undecodable::MalformedHeader)
}

/// Linux cooked capture v1: packet type, ARPHRD type, address length, 8 address bytes, protocol.
fn sll(data: &[u8]) -> Result<Network<'_>, Undecodable> {
    let protocol = be16(data, 14).ok_or(Undecodable::TruncatedHeader)?;
    let arphrd = be16(data, 2).ok_or(Undecodable::TruncatedHeader)?;
    cooked(arphrd, protocol, data.get(16..).unwrap_or_default())
}

/// Linux cooked capture v2: protocol first, then reserved, interface index, ARPHRD type,
/// packet type, address length and 8 address bytes (20 bytes in all).
fn sll2(data: &[u8]) -> Result<Network<'_>, Undecodable> {
    if data.len() < 20 {
        return Err(Undecodable::TruncatedHeader);
    }
    let protocol = be16(data, 0).ok_or(Undecodable::TruncatedHeader)?;
    let arphrd = be16(data, 8).ok_or(Undecodable::TruncatedHeader)?;
    cooked(arphrd, protocol, data.get(20..).unwrap_or_default())
}

/// The protocol field of a cooked header is an EtherType, except for a few ARPHRD types and the
/// small values Linux uses for non-Ethernet framing.
fn cooked(arphrd: u16, protocol: u16, rest: &[u8]) -> Result<Network<'_>, Undecodable> {
    const ARPHRD_NETLINK: u16 = 824;
    if arphrd == ARPHRD_NETLINK {
        return Ok(Network::Other("netlink"));
    }
    match protocol {
        // ETH_P_802_3 / ETH_P_802_2: an 802.3 frame without its MAC header.
        0x0001 | 0x0004 => Ok(Network::Other("llc")),
        // ETH_P_CAN and friends.
        0x000c..=0x000e => Ok(Network::Other("can")),
        _ => by_ethertype(protocol, rest),
    }
}

/// BSD loopback encapsulation: a 4-byte address family in the byte order of the capturing host.
/// The families we know are small numbers, so a value that only makes sense swapped tells the
/// byte order.
fn bsd_null(data: &[u8]) -> Result<Network<'_>, Undecodable> {
    let b = data.get(..4).ok_or(Undecodable::TruncatedHeader)?;
    let le = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    let be = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    let family = if le <= 0xffff { le } else { be };
    Ok(by_family(family, data.get(4..).unwrap_or_default()))
}

/// OpenBSD LOOP: the same 4-byte family, always in network byte order.
fn bsd_loop(data: &[u8]) -> Result<Network<'_>, Undecodable> {
    let b = data.get(..4).ok_or(Undecodable::TruncatedHeader)?;
    let family = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    Ok(by_family(family, data.get(4..).unwrap_or_default()))
}

fn by_family(family: u32, rest: &[u8]) -> Network<'_> {
    match family {
        2 => Network::Ipv4(rest),
        // AF_INET6 is 24 on NetBSD/OpenBSD, 28 on FreeBSD, 30 on macOS.
        24 | 28 | 30 => Network::Ipv6(rest),
        _ => Network::Other("bsd loopback other"),
    }
}

/// A PPP frame, with or without the HDLC address (0xff) and control (0x03) bytes.
pub fn ppp(data: &[u8]) -> Result<Network<'_>, Undecodable> {
    let body = match data.get(..2) {
        Some([0xff, 0x03]) => data.get(2..).unwrap_or_default(),
        _ => data,
    };
    ppp_protocol(body)
}

/// The PPP protocol field: one byte when compressed (its low bit set), else two.
pub fn ppp_protocol(data: &[u8]) -> Result<Network<'_>, Undecodable> {
    let first = *data.first().ok_or(Undecodable::TruncatedHeader)?;
    let (protocol, rest) = if first & 0x01 != 0 {
        (u16::from(first), data.get(1..).unwrap_or_default())
    } else {
        let p = be16(data, 0).ok_or(Undecodable::TruncatedHeader)?;
        (p, data.get(2..).unwrap_or_default())
    };
    Ok(match protocol {
        0x0021 => Network::Ipv4(rest),
        0x0057 => Network::Ipv6(rest),
        0xc021 => Network::Other("ppp lcp"),
        0x8021 | 0x8057 => Network::Other("ppp ncp"),
        0xc023 | 0xc223 => Network::Other("ppp auth"),
        _ => Network::Other("ppp other"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP4: &[u8] = &[0x45, 0, 0, 20];
    const IP6: &[u8] = &[0x60, 0, 0, 0];

    fn eth(ethertype: u16, body: &[u8]) -> Vec<u8> {
        let mut v = vec![0u8; 12];
        v.extend_from_slice(&ethertype.to_be_bytes());
        v.extend_from_slice(body);
        v
    }

    #[test]
    fn ethernet_ipv4_and_ipv6() {
        assert_eq!(ethernet(&eth(0x0800, IP4)), Ok(Network::Ipv4(IP4)));
        assert_eq!(ethernet(&eth(0x86dd, IP6)), Ok(Network::Ipv6(IP6)));
    }

    #[test]
    fn ethernet_non_ip_is_named() {
        assert_eq!(ethernet(&eth(0x0806, &[0; 28])), Ok(Network::Other("arp")));
        assert_eq!(ethernet(&eth(0x88cc, &[0; 28])), Ok(Network::Other("lldp")));
        // 802.3 length field followed by LLC.
        assert_eq!(
            ethernet(&eth(46, &[0x42, 0x42, 0x03])),
            Ok(Network::Other("llc"))
        );
    }

    #[test]
    fn ethernet_too_short() {
        assert_eq!(ethernet(&[0; 13]), Err(Undecodable::TruncatedHeader));
    }

    #[test]
    fn vlan_and_qinq_stacks() {
        let mut inner = vec![0x00, 0x64];
        inner.extend_from_slice(&0x0800u16.to_be_bytes());
        inner.extend_from_slice(IP4);
        assert_eq!(ethernet(&eth(0x8100, &inner)), Ok(Network::Ipv4(IP4)));

        let mut outer = vec![0x00, 0x0a];
        outer.extend_from_slice(&0x8100u16.to_be_bytes());
        outer.extend_from_slice(&inner);
        assert_eq!(ethernet(&eth(0x88a8, &outer)), Ok(Network::Ipv4(IP4)));
        assert_eq!(ethernet(&eth(0x9100, &outer)), Ok(Network::Ipv4(IP4)));
        // A tag cut in the middle.
        assert_eq!(
            ethernet(&eth(0x8100, &[0x00])),
            Err(Undecodable::TruncatedHeader)
        );
    }

    #[test]
    fn endless_vlan_tags_stop() {
        let mut body = Vec::new();
        for _ in 0..40 {
            body.extend_from_slice(&[0, 1, 0x81, 0x00]);
        }
        assert_eq!(
            ethernet(&eth(0x8100, &body)),
            Err(Undecodable::MalformedHeader)
        );
    }

    #[test]
    fn pppoe_and_mpls() {
        let mut pppoe = vec![0x11, 0x00, 0x00, 0x01, 0x00, 0x06, 0x00, 0x57];
        pppoe.extend_from_slice(IP6);
        assert_eq!(ethernet(&eth(0x8864, &pppoe)), Ok(Network::Ipv6(IP6)));
        let mut mpls = vec![0x00, 0x01, 0x00, 0x40, 0x00, 0x02, 0x01, 0x40];
        mpls.extend_from_slice(IP4);
        assert_eq!(ethernet(&eth(0x8847, &mpls)), Ok(Network::Ipv4(IP4)));
    }

    #[test]
    fn linux_cooked_v1_and_v2() {
        let mut v1 = vec![0, 0, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, 0x86, 0xdd];
        v1.extend_from_slice(IP6);
        assert_eq!(decode(linktype::LINUX_SLL, &v1), Ok(Network::Ipv6(IP6)));
        assert_eq!(
            decode(linktype::LINUX_SLL, &v1[..15]),
            Err(Undecodable::TruncatedHeader)
        );

        let mut v2 = vec![0x08, 0x00, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6];
        v2.extend_from_slice(&[1, 2, 3, 4, 5, 6, 0, 0]);
        v2.extend_from_slice(IP4);
        assert_eq!(decode(linktype::LINUX_SLL2, &v2), Ok(Network::Ipv4(IP4)));
        let mut arp = v2.clone();
        arp[0..2].copy_from_slice(&[0x08, 0x06]);
        assert_eq!(
            decode(linktype::LINUX_SLL2, &arp),
            Ok(Network::Other("arp"))
        );
        assert_eq!(
            decode(linktype::LINUX_SLL2, &v2[..19]),
            Err(Undecodable::TruncatedHeader)
        );
    }

    #[test]
    fn raw_ip_link_types() {
        assert_eq!(decode(linktype::RAW, IP4), Ok(Network::IpAny(IP4)));
        assert_eq!(decode(linktype::RAW_12, IP6), Ok(Network::IpAny(IP6)));
        assert_eq!(decode(linktype::IPV4, IP4), Ok(Network::Ipv4(IP4)));
        assert_eq!(decode(linktype::IPV6, IP6), Ok(Network::Ipv6(IP6)));
    }

    #[test]
    fn bsd_null_both_byte_orders_and_loop() {
        let mut le = 2u32.to_le_bytes().to_vec();
        le.extend_from_slice(IP4);
        assert_eq!(decode(linktype::NULL, &le), Ok(Network::Ipv4(IP4)));
        for fam in [24u32, 28, 30] {
            let mut be = fam.to_be_bytes().to_vec();
            be.extend_from_slice(IP6);
            assert_eq!(decode(linktype::NULL, &be), Ok(Network::Ipv6(IP6)));
            let mut le = fam.to_le_bytes().to_vec();
            le.extend_from_slice(IP6);
            assert_eq!(decode(linktype::NULL, &le), Ok(Network::Ipv6(IP6)));
        }
        let mut lo = 2u32.to_be_bytes().to_vec();
        lo.extend_from_slice(IP4);
        assert_eq!(decode(linktype::LOOP, &lo), Ok(Network::Ipv4(IP4)));
        // LOOP is always big-endian: a little-endian family is not IPv4.
        assert_eq!(
            decode(linktype::LOOP, &le),
            Ok(Network::Other("bsd loopback other"))
        );
        assert_eq!(
            decode(linktype::NULL, &[2, 0]),
            Err(Undecodable::TruncatedHeader)
        );
    }

    #[test]
    fn unknown_link_type() {
        assert_eq!(decode(147, IP4), Err(Undecodable::UnknownLinkType(147)));
    }

    #[test]
    fn ppp_with_and_without_address_control() {
        let mut a = vec![0xff, 0x03, 0x00, 0x21];
        a.extend_from_slice(IP4);
        assert_eq!(ppp(&a), Ok(Network::Ipv4(IP4)));
        let mut b = vec![0x00, 0x57];
        b.extend_from_slice(IP6);
        assert_eq!(ppp(&b), Ok(Network::Ipv6(IP6)));
        // Protocol field compression: one odd byte.
        let mut c = vec![0x21];
        c.extend_from_slice(IP4);
        assert_eq!(ppp(&c), Ok(Network::Ipv4(IP4)));
        assert_eq!(ppp(&[0xc0, 0x21, 1]), Ok(Network::Other("ppp lcp")));
    }
}
