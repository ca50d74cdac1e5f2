//! Decoder tests over hand-built packets (every link type, tunnel, transport, fragment case) and
//! over real captures of the shared corpus (records read here with a few lines, independent of
//! the capture module).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::*;
use crate::capture::linktype;

// ---------- packet builders ----------

const A4: [u8; 4] = [10, 0, 0, 1];
const B4: [u8; 4] = [10, 0, 0, 2];
const A6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
const B6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
const SIP: &[u8] = b"OPTIONS sip:x@example.com SIP/2.0\r\nCall-ID: 1\r\n\r\n";

fn ipv4_frag(
    src: [u8; 4],
    dst: [u8; 4],
    proto: u8,
    id: u16,
    offset: u16,
    more: bool,
    payload: &[u8],
) -> Vec<u8> {
    let total = (20 + payload.len()) as u16;
    let fo = (offset / 8) | if more { 0x2000 } else { 0 };
    let mut v = vec![0x45, 0];
    v.extend_from_slice(&total.to_be_bytes());
    v.extend_from_slice(&id.to_be_bytes());
    v.extend_from_slice(&fo.to_be_bytes());
    v.extend_from_slice(&[64, proto, 0, 0]);
    v.extend_from_slice(&src);
    v.extend_from_slice(&dst);
    v.extend_from_slice(payload);
    v
}

fn ipv4(proto: u8, payload: &[u8]) -> Vec<u8> {
    ipv4_frag(A4, B4, proto, 1, 0, false, payload)
}

fn ipv6_raw(next: u8, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![0x60, 0, 0, 0];
    v.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    v.extend_from_slice(&[next, 64]);
    v.extend_from_slice(&A6);
    v.extend_from_slice(&B6);
    v.extend_from_slice(payload);
    v
}

fn ipv6(next: u8, payload: &[u8]) -> Vec<u8> {
    ipv6_raw(next, payload)
}

fn ipv6_frag(next: u8, id: u32, offset: u16, more: bool, payload: &[u8]) -> Vec<u8> {
    let mut body = vec![next, 0];
    body.extend_from_slice(&(offset | u16::from(more)).to_be_bytes());
    body.extend_from_slice(&id.to_be_bytes());
    body.extend_from_slice(payload);
    ipv6_raw(44, &body)
}

fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&sport.to_be_bytes());
    v.extend_from_slice(&dport.to_be_bytes());
    v.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    v.extend_from_slice(&[0, 0]);
    v.extend_from_slice(payload);
    v
}

fn eth(ethertype: u16, body: &[u8]) -> Vec<u8> {
    let mut v = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1];
    v.extend_from_slice(&ethertype.to_be_bytes());
    v.extend_from_slice(body);
    v
}

fn sip_udp4() -> Vec<u8> {
    ipv4(17, &udp(5060, 5070, SIP))
}

fn sip_udp6() -> Vec<u8> {
    ipv6(17, &udp(5060, 5070, SIP))
}

fn sctp_chunk(kind: u8, flags: u8, value: &[u8]) -> Vec<u8> {
    let mut v = vec![kind, flags];
    v.extend_from_slice(&((4 + value.len()) as u16).to_be_bytes());
    v.extend_from_slice(value);
    while v.len() % 4 != 0 {
        v.push(0);
    }
    v
}

fn sctp_data(flags: u8, tsn: u32, stream: u16, data: &[u8]) -> Vec<u8> {
    let mut value = tsn.to_be_bytes().to_vec();
    value.extend_from_slice(&stream.to_be_bytes());
    value.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    value.extend_from_slice(data);
    sctp_chunk(0, flags, &value)
}

fn sctp(chunks: &[Vec<u8>]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&5060u16.to_be_bytes());
    v.extend_from_slice(&5061u16.to_be_bytes());
    v.extend_from_slice(&[0; 8]);
    for c in chunks {
        v.extend_from_slice(c);
    }
    v
}

// ---------- running the decoder ----------

#[derive(Debug, Clone, PartialEq)]
struct Got {
    kind: DeliveryKind,
    flow: Flow,
    data: Vec<u8>,
    frames: Vec<u64>,
    completed_by: u64,
    flags: DeliveryFlags,
}

fn frame(number: u64, ts_ns: i64, lt: u32, data: &[u8]) -> Frame<'_> {
    Frame {
        file: 0,
        number,
        ts_ns,
        linktype: lt,
        data,
        orig_len: data.len() as u32,
        offset: 0,
    }
}

struct Run {
    dec: Decoder,
    got: Vec<Got>,
}

impl Run {
    fn new() -> Self {
        Self::with(NetConfig::default())
    }

    fn with(cfg: NetConfig) -> Self {
        Run {
            dec: Decoder::new(cfg),
            got: Vec::new(),
        }
    }

    /// Pushes `data` as frame `number` (time = number seconds).
    fn push(&mut self, number: u64, lt: u32, data: &[u8]) -> FrameFate {
        self.push_at(number, number as i64 * 1_000_000_000, lt, data)
    }

    fn push_at(&mut self, number: u64, ts: i64, lt: u32, data: &[u8]) -> FrameFate {
        let got = &mut self.got;
        let f = frame(number, ts, lt, data);
        self.dec.push(&f, &mut |d: Delivery<'_>| got.push(own(&d)))
    }

    fn finish(&mut self) -> Vec<(u64, Undecodable)> {
        let got = &mut self.got;
        self.dec
            .finish(&mut |d: Delivery<'_>| got.push(own(&d)))
            .into_iter()
            .map(|(f, u)| (f.number, u))
            .collect()
    }
}

fn own(d: &Delivery<'_>) -> Got {
    Got {
        kind: d.kind,
        flow: d.flow,
        data: d.data.to_vec(),
        frames: d.frames.iter().map(|f| f.number).collect(),
        completed_by: d.completed_by.number,
        flags: d.flags,
    }
}

fn v4(a: [u8; 4]) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(a))
}

fn v6(a: [u8; 16]) -> IpAddr {
    IpAddr::V6(Ipv6Addr::from(a))
}

fn flow_of(t: Transport, src: IpAddr, sport: u16, dst: IpAddr, dport: u16) -> Flow {
    Flow {
        transport: t,
        src: Endpoint {
            ip: src,
            port: sport,
        },
        dst: Endpoint {
            ip: dst,
            port: dport,
        },
    }
}

fn udp4_flow() -> Flow {
    flow_of(Transport::Udp, v4(A4), 5060, v4(B4), 5070)
}

fn udp6_flow() -> Flow {
    flow_of(Transport::Udp, v6(A6), 5060, v6(B6), 5070)
}

/// Decodes one frame and expects exactly one plain SIP datagram on `flow`.
fn expect_one(lt: u32, data: &[u8], flow: Flow) {
    let mut r = Run::new();
    assert_eq!(r.push(1, lt, data), FrameFate::Delivered, "linktype {lt}");
    assert_eq!(r.got.len(), 1, "linktype {lt}");
    let g = &r.got[0];
    assert_eq!(g.kind, DeliveryKind::Datagram);
    assert_eq!(g.flow, flow);
    assert_eq!(g.data, SIP);
    assert_eq!(g.frames, vec![1]);
    assert_eq!(g.completed_by, 1);
    assert_eq!(g.flags, DeliveryFlags::default());
    assert!(r.finish().is_empty());
}

// ---------- link layers ----------

#[test]
fn every_link_type_reaches_the_udp_payload() {
    expect_one(linktype::ETHERNET, &eth(0x0800, &sip_udp4()), udp4_flow());
    expect_one(linktype::ETHERNET, &eth(0x86dd, &sip_udp6()), udp6_flow());

    let mut vlan = vec![0, 100, 0x08, 0x00];
    vlan.extend_from_slice(&sip_udp4());
    expect_one(linktype::ETHERNET, &eth(0x8100, &vlan), udp4_flow());
    let mut qinq = vec![0, 10, 0x81, 0x00];
    qinq.extend_from_slice(&vlan);
    expect_one(linktype::ETHERNET, &eth(0x88a8, &qinq), udp4_flow());

    let mut sll = vec![0, 0, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, 0x08, 0x00];
    sll.extend_from_slice(&sip_udp4());
    expect_one(linktype::LINUX_SLL, &sll, udp4_flow());
    let mut sll2 = vec![0x86, 0xdd, 0, 0, 0, 0, 0, 3, 0, 1, 4, 6];
    sll2.extend_from_slice(&[1, 2, 3, 4, 5, 6, 0, 0]);
    sll2.extend_from_slice(&sip_udp6());
    expect_one(linktype::LINUX_SLL2, &sll2, udp6_flow());

    expect_one(linktype::RAW, &sip_udp4(), udp4_flow());
    expect_one(linktype::RAW, &sip_udp6(), udp6_flow());
    expect_one(linktype::RAW_12, &sip_udp4(), udp4_flow());
    expect_one(linktype::IPV4, &sip_udp4(), udp4_flow());
    expect_one(linktype::IPV6, &sip_udp6(), udp6_flow());

    let mut null_le = 2u32.to_le_bytes().to_vec();
    null_le.extend_from_slice(&sip_udp4());
    expect_one(linktype::NULL, &null_le, udp4_flow());
    let mut null_be = 30u32.to_be_bytes().to_vec();
    null_be.extend_from_slice(&sip_udp6());
    expect_one(linktype::NULL, &null_be, udp6_flow());
    let mut lo = 24u32.to_be_bytes().to_vec();
    lo.extend_from_slice(&sip_udp6());
    expect_one(linktype::LOOP, &lo, udp6_flow());
}

#[test]
fn unknown_link_type_and_non_ip() {
    let mut r = Run::new();
    assert_eq!(
        r.push(1, 147, &sip_udp4()),
        FrameFate::Undecodable(Undecodable::UnknownLinkType(147))
    );
    assert_eq!(
        r.push(2, linktype::ETHERNET, &eth(0x0806, &[0; 28])),
        FrameFate::NotSip("arp")
    );
    assert_eq!(
        r.push(3, linktype::ETHERNET, &eth(0x88cc, &[0; 28])),
        FrameFate::NotSip("lldp")
    );
    assert_eq!(
        r.push(4, linktype::RAW, &[0x75, 0, 0, 0]),
        FrameFate::Undecodable(Undecodable::MalformedHeader)
    );
    assert_eq!(
        r.push(5, linktype::ETHERNET, &eth(0x0800, &sip_udp4()[..12])),
        FrameFate::Undecodable(Undecodable::TruncatedHeader)
    );
    assert!(r.got.is_empty());
}

#[test]
fn empty_udp_and_other_protocols() {
    let mut r = Run::new();
    assert_eq!(
        r.push(1, linktype::RAW, &ipv4(17, &udp(1, 2, &[]))),
        FrameFate::NotSip("udp empty")
    );
    assert_eq!(
        r.push(2, linktype::RAW, &ipv4(2, &[0; 8])),
        FrameFate::NotSip("igmp")
    );
    assert_eq!(
        r.push(3, linktype::RAW, &ipv6(59, &[])),
        FrameFate::NotSip("ipv6 no next header")
    );
    assert_eq!(
        r.push(4, linktype::RAW, &ipv4(1, &[8, 0, 0, 0, 0, 0, 0, 0])),
        FrameFate::NotSip("icmp")
    );
    assert!(r.got.is_empty());
}

#[test]
fn udp_on_any_port_is_delivered() {
    let mut r = Run::new();
    assert_eq!(
        r.push(1, linktype::RAW, &ipv4(17, &udp(40000, 12345, b"hello"))),
        FrameFate::Delivered
    );
    assert_eq!(r.got[0].data, b"hello");
    assert_eq!(r.got[0].flow.dst.port, 12345);
}

#[test]
fn snaplen_cut_clips_the_payload() {
    let full = eth(0x0800, &sip_udp4());
    let keep = full.len() - 10;
    let mut r = Run::new();
    let f = Frame {
        orig_len: full.len() as u32,
        ..frame(1, 0, linktype::ETHERNET, &full[..keep])
    };
    let got = &mut r.got;
    let fate = r.dec.push(&f, &mut |d: Delivery<'_>| got.push(own(&d)));
    assert_eq!(fate, FrameFate::Delivered);
    assert_eq!(r.got.len(), 1);
    assert!(r.got[0].flags.cut);
    assert_eq!(r.got[0].data, &SIP[..SIP.len() - 10]);
}

#[test]
fn ethernet_padding_is_not_payload() {
    let mut padded = eth(0x0800, &ipv4(17, &udp(1, 2, b"ab")));
    padded.extend_from_slice(&[0; 16]);
    let mut r = Run::new();
    assert_eq!(r.push(1, linktype::ETHERNET, &padded), FrameFate::Delivered);
    assert_eq!(r.got[0].data, b"ab");
    assert!(!r.got[0].flags.cut);
}

// ---------- tunnels ----------

fn inner_udp4() -> Vec<u8> {
    ipv4_frag(
        [192, 168, 1, 1],
        [192, 168, 1, 2],
        17,
        9,
        0,
        false,
        &udp(5060, 5080, SIP),
    )
}

fn inner_flow() -> Flow {
    flow_of(
        Transport::Udp,
        v4([192, 168, 1, 1]),
        5060,
        v4([192, 168, 1, 2]),
        5080,
    )
}

fn expect_inner(data: &[u8], flow: Flow) {
    let mut r = Run::new();
    assert_eq!(r.push(1, linktype::RAW, data), FrameFate::Delivered);
    assert_eq!(r.got.len(), 1);
    assert_eq!(r.got[0].flow, flow);
    assert_eq!(r.got[0].data, SIP);
}

#[test]
fn ip_in_ip_all_combinations() {
    expect_inner(&ipv4(4, &inner_udp4()), inner_flow());
    expect_inner(&ipv6(4, &inner_udp4()), inner_flow());
    expect_inner(&ipv4(41, &sip_udp6()), udp6_flow());
    expect_inner(&ipv6(41, &sip_udp6()), udp6_flow());
}

#[test]
fn hostile_nesting_stops() {
    let mut p = sip_udp4();
    for _ in 0..20 {
        p = ipv4(4, &p);
    }
    let mut r = Run::new();
    assert_eq!(
        r.push(1, linktype::RAW, &p),
        FrameFate::Undecodable(Undecodable::MalformedHeader)
    );
    assert!(r.got.is_empty());
    // Within the limit it still decodes.
    let mut q = sip_udp4();
    for _ in 0..MAX_DEPTH_FOR_TESTS {
        q = ipv4(4, &q);
    }
    assert_eq!(r.push(2, linktype::RAW, &q), FrameFate::Delivered);
}

const MAX_DEPTH_FOR_TESTS: usize = 8;

#[test]
fn gre_variants() {
    let mut plain = vec![0x00, 0x00, 0x08, 0x00];
    plain.extend_from_slice(&inner_udp4());
    expect_inner(&ipv4(47, &plain), inner_flow());

    let mut keyed = vec![0x30, 0x00, 0x86, 0xdd, 0, 0, 0, 5, 0, 0, 0, 1];
    keyed.extend_from_slice(&sip_udp6());
    expect_inner(&ipv4(47, &keyed), udp6_flow());

    let mut ppp = vec![
        0x30, 0x01, 0x88, 0x0b, 0, 0, 0, 1, 0, 0, 0, 7, 0xff, 0x03, 0x00, 0x21,
    ];
    ppp.extend_from_slice(&inner_udp4());
    expect_inner(&ipv4(47, &ppp), inner_flow());
    let mut ppp6 = vec![0x20, 0x01, 0x88, 0x0b, 0, 0, 0, 1, 0x00, 0x57];
    ppp6.extend_from_slice(&sip_udp6());
    expect_inner(&ipv6(47, &ppp6), udp6_flow());

    let mut teb = vec![0x00, 0x00, 0x65, 0x58];
    teb.extend_from_slice(&eth(0x0800, &inner_udp4()));
    expect_inner(&ipv4(47, &teb), inner_flow());

    let mut e2 = vec![
        0x10, 0x00, 0x88, 0xbe, 0, 0, 0, 1, 0x10, 0, 0, 1, 0, 0, 0, 0,
    ];
    e2.extend_from_slice(&eth(0x0800, &inner_udp4()));
    expect_inner(&ipv4(47, &e2), inner_flow());

    let mut e3 = vec![0x10, 0x00, 0x22, 0xeb, 0, 0, 0, 1];
    e3.extend_from_slice(&[0x20, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
    e3.extend_from_slice(&eth(0x86dd, &sip_udp6()));
    expect_inner(&ipv4(47, &e3), udp6_flow());
}

#[test]
fn gtpu_and_vxlan() {
    let inner = sip_udp6();
    let mut gtp = vec![0x32, 0xff];
    gtp.extend_from_slice(&((inner.len() + 4) as u16).to_be_bytes());
    gtp.extend_from_slice(&[0, 0, 0, 1, 0, 7, 0, 0]);
    gtp.extend_from_slice(&inner);
    expect_inner(&ipv6(17, &udp(2152, 2152, &gtp)), udp6_flow());

    let mut vx = vec![0x08, 0, 0, 0, 0, 0, 42, 0];
    vx.extend_from_slice(&eth(0x0800, &inner_udp4()));
    expect_inner(&ipv4(17, &udp(51000, 4789, &vx)), inner_flow());

    // Echo request on the GTP-U port is set aside, not delivered.
    let mut r = Run::new();
    let echo = [0x32, 0x01, 0, 4, 0, 0, 0, 0, 0, 1, 0, 0];
    assert_eq!(
        r.push(1, linktype::RAW, &ipv4(17, &udp(2152, 2152, &echo))),
        FrameFate::NotSip("gtp-u signalling")
    );
}

// ---------- SCTP ----------

fn sctp_flow() -> Flow {
    flow_of(Transport::Sctp, v4(A4), 5060, v4(B4), 5061)
}

#[test]
fn sctp_data_chunks_each_delivered() {
    let mut r = Run::new();
    let pkt = sctp(&[
        sctp_chunk(3, 0, &[0; 12]), // SACK first
        sctp_data(0x03, 1, 0, b"first"),
        sctp_data(0x07, 2, 1, b"second"),
    ]);
    assert_eq!(
        r.push(1, linktype::RAW, &ipv4(132, &pkt)),
        FrameFate::Delivered
    );
    assert_eq!(r.got.len(), 2);
    assert_eq!(r.got[0].data, b"first");
    assert_eq!(r.got[1].data, b"second");
    assert!(r.got.iter().all(|g| g.flow == sctp_flow()));
    let sack = sctp(&[sctp_chunk(3, 0, &[0; 12])]);
    assert_eq!(
        r.push(2, linktype::RAW, &ipv4(132, &sack)),
        FrameFate::NotSip("sctp control")
    );
}

#[test]
fn sctp_fragmented_message() {
    let mut r = Run::new();
    let a = sctp(&[sctp_data(0x02, 10, 0, b"OPTIONS ")]);
    let b = sctp(&[sctp_data(0x00, 11, 0, b"sip:x ")]);
    let c = sctp(&[sctp_data(0x01, 12, 0, b"SIP/2.0")]);
    assert_eq!(r.push(1, linktype::RAW, &ipv4(132, &a)), FrameFate::Held);
    assert_eq!(r.push(2, linktype::RAW, &ipv4(132, &b)), FrameFate::Held);
    assert_eq!(
        r.push(3, linktype::RAW, &ipv4(132, &c)),
        FrameFate::Delivered
    );
    assert_eq!(r.got.len(), 1);
    assert_eq!(r.got[0].data, b"OPTIONS sip:x SIP/2.0");
    assert_eq!(r.got[0].frames, vec![1, 2, 3]);
    assert_eq!(r.got[0].completed_by, 3);
    assert!(r.finish().is_empty());

    // A lost middle fragment: the end is dropped, the start reported at the end.
    let mut r = Run::new();
    assert_eq!(r.push(1, linktype::RAW, &ipv4(132, &a)), FrameFate::Held);
    assert_eq!(
        r.push(3, linktype::RAW, &ipv4(132, &c)),
        FrameFate::Undecodable(Undecodable::IncompleteSctpMessage)
    );
    assert!(r.got.is_empty());
    assert_eq!(r.finish(), vec![(1, Undecodable::IncompleteSctpMessage)]);
}

// ---------- ICMP ----------

#[test]
fn icmp_errors_bounce_the_quoted_datagram() {
    // The router quotes the IP header, UDP header and the first bytes of the payload.
    let original = ipv4_frag(A4, B4, 17, 3, 0, false, &udp(5060, 5070, SIP));
    let mut icmp = vec![3, 3, 0, 0, 0, 0, 0, 0];
    icmp.extend_from_slice(&original[..20 + 8 + 20]);
    let mut r = Run::new();
    let outer = ipv4_frag(B4, A4, 1, 4, 0, false, &icmp);
    assert_eq!(r.push(1, linktype::RAW, &outer), FrameFate::Delivered);
    assert_eq!(r.got.len(), 1);
    let g = &r.got[0];
    assert_eq!(g.flow, udp4_flow());
    assert_eq!(g.data, &SIP[..20]);
    assert!(g.flags.bounced);
    assert!(g.flags.cut);

    // ICMPv6 time exceeded quoting a whole datagram.
    let mut icmp6 = vec![3, 0, 0, 0, 0, 0, 0, 0];
    icmp6.extend_from_slice(&sip_udp6());
    let mut r = Run::new();
    assert_eq!(
        r.push(1, linktype::RAW, &ipv6(58, &icmp6)),
        FrameFate::Delivered
    );
    assert_eq!(r.got[0].flow, udp6_flow());
    assert_eq!(r.got[0].data, SIP);
    assert!(r.got[0].flags.bounced && !r.got[0].flags.cut);

    // Echo request: not SIP.
    assert_eq!(
        r.push(2, linktype::RAW, &ipv6(58, &[128, 0, 0, 0, 0, 1, 0, 1])),
        FrameFate::NotSip("icmp")
    );
}

// ---------- TCP hand-off ----------

#[test]
fn tcp_segments_go_to_the_reassembler() {
    let mut seg = vec![0u8; 20];
    seg[0..2].copy_from_slice(&5060u16.to_be_bytes());
    seg[2..4].copy_from_slice(&5070u16.to_be_bytes());
    seg[12] = 5 << 4;
    seg[13] = 0x18;
    seg.extend_from_slice(SIP);
    let mut r = Run::new();
    assert_eq!(
        r.push(1, linktype::RAW, &ipv4(6, &seg)),
        FrameFate::Delivered
    );
    assert!(r
        .got
        .iter()
        .any(|g| g.kind == DeliveryKind::Stream && g.data == SIP));
    assert!(r.got.iter().all(|g| g.flow.transport == Transport::Tcp));
    seg[12] = 2 << 4;
    assert_eq!(
        r.push(2, linktype::RAW, &ipv4(6, &seg)),
        FrameFate::Undecodable(Undecodable::MalformedHeader)
    );
}

// ---------- IP fragments ----------

/// A UDP datagram of `len` payload bytes, cut into IPv4 fragments of `step` bytes.
fn fragments4(id: u16, len: usize, step: usize) -> (Vec<u8>, Vec<Vec<u8>>) {
    let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
    let dgram = udp(5060, 5070, &payload);
    let frags = dgram
        .chunks(step)
        .enumerate()
        .map(|(i, c)| {
            let off = (i * step) as u16;
            let more = (i + 1) * step < dgram.len();
            ipv4_frag(A4, B4, 17, id, off, more, c)
        })
        .collect();
    (payload, frags)
}

#[test]
fn fragments_in_order_and_reversed() {
    for reversed in [false, true] {
        let (payload, mut frags) = fragments4(77, 3000, 1480);
        if reversed {
            frags.reverse();
        }
        let mut r = Run::new();
        let n = frags.len();
        for (i, f) in frags.iter().enumerate() {
            let fate = r.push(i as u64 + 1, linktype::RAW, f);
            let want = if i + 1 == n {
                FrameFate::Delivered
            } else {
                FrameFate::Held
            };
            assert_eq!(fate, want);
        }
        assert_eq!(r.got.len(), 1);
        let g = &r.got[0];
        assert_eq!(g.data, payload);
        assert_eq!(g.flow, udp4_flow());
        assert!(g.flags.reassembled && !g.flags.overlap_conflict);
        let mut want: Vec<u64> = (1..=n as u64).collect();
        if reversed {
            want.reverse();
        }
        assert_eq!(g.frames, want, "offset order");
        assert_eq!(g.completed_by, n as u64);
        assert!(r.finish().is_empty());
    }
}

#[test]
fn duplicated_and_overlapping_fragments() {
    let (payload, frags) = fragments4(5, 2000, 800);
    // Duplicate of the first fragment: both frames are listed, no conflict.
    let mut r = Run::new();
    assert_eq!(r.push(1, linktype::RAW, &frags[0]), FrameFate::Held);
    assert_eq!(r.push(2, linktype::RAW, &frags[0]), FrameFate::Held);
    assert_eq!(r.push(3, linktype::RAW, &frags[1]), FrameFate::Held);
    assert_eq!(r.push(4, linktype::RAW, &frags[2]), FrameFate::Delivered);
    assert_eq!(r.got[0].data, payload);
    assert_eq!(r.got[0].frames, vec![1, 2, 3, 4]);
    assert!(!r.got[0].flags.overlap_conflict);

    // Overlap with equal bytes: a fragment covering 400..1200 of the datagram.
    let dgram = udp(5060, 5070, &payload);
    let mid = ipv4_frag(A4, B4, 17, 5, 400, true, &dgram[400..1200]);
    let mut r = Run::new();
    r.push(1, linktype::RAW, &frags[0]);
    r.push(2, linktype::RAW, &mid);
    r.push(3, linktype::RAW, &frags[1]);
    assert_eq!(r.push(4, linktype::RAW, &frags[2]), FrameFate::Delivered);
    assert_eq!(r.got[0].data, payload);
    assert!(!r.got[0].flags.overlap_conflict);
    assert_eq!(r.got[0].frames, vec![1, 2, 3, 4]);

    // Overlap with different bytes: flagged, first-seen bytes kept.
    let bad = ipv4_frag(A4, B4, 17, 5, 400, true, &[0xee; 800]);
    let mut r = Run::new();
    r.push(1, linktype::RAW, &frags[0]);
    r.push(2, linktype::RAW, &bad);
    r.push(3, linktype::RAW, &frags[1]);
    assert_eq!(r.push(4, linktype::RAW, &frags[2]), FrameFate::Delivered);
    let g = &r.got[0];
    assert!(g.flags.overlap_conflict);
    // Bytes 400..800 came first from fragment 1 (genuine), 800..1200 from the bad one.
    assert_eq!(&g.data[392..792], &payload[392..792]);
    assert!(g.data[792..1192].iter().all(|&b| b == 0xee));
}

#[test]
fn large_datagram_reassembled() {
    let (payload, frags) = fragments4(9, 30_000, 1480);
    let mut r = Run::new();
    for (i, f) in frags.iter().enumerate() {
        r.push(i as u64 + 1, linktype::RAW, f);
    }
    assert_eq!(r.got.len(), 1);
    assert_eq!(r.got[0].data.len(), 30_000);
    assert_eq!(r.got[0].data, payload);
    assert_eq!(r.got[0].frames.len(), frags.len());
}

#[test]
fn fragment_cap_evicts_oldest() {
    let cfg = NetConfig {
        max_fragment_bytes: 3000,
        ..NetConfig::default()
    };
    let (_, a) = fragments4(1, 2000, 1480);
    let (pb, b) = fragments4(2, 2000, 1480);
    let mut r = Run::with(cfg);
    assert_eq!(r.push(1, linktype::RAW, &a[0]), FrameFate::Held);
    // The second datagram needs room: the first is evicted.
    assert_eq!(r.push(2, linktype::RAW, &b[0]), FrameFate::Held);
    assert_eq!(r.push(3, linktype::RAW, &b[1]), FrameFate::Delivered);
    assert_eq!(r.got.len(), 1);
    assert_eq!(r.got[0].data, pb);
    // The rest of the evicted datagram starts a new one that never completes.
    assert_eq!(r.push(4, linktype::RAW, &a[1]), FrameFate::Held);
    assert_eq!(
        r.finish(),
        vec![
            (1, Undecodable::OverCapacity),
            (4, Undecodable::IncompleteFragments)
        ]
    );
}

#[test]
fn fragment_timeout_by_capture_time() {
    let (_, f) = fragments4(3, 2000, 1480);
    let mut r = Run::new();
    assert_eq!(r.push_at(1, 0, linktype::RAW, &f[0]), FrameFate::Held);
    // 31 s later (default timeout 30 s): the first fragment is gone.
    assert_eq!(
        r.push_at(2, 31_000_000_000, linktype::RAW, &f[1]),
        FrameFate::Held
    );
    assert!(r.got.is_empty());
    assert_eq!(
        r.finish(),
        vec![
            (1, Undecodable::IncompleteFragments),
            (2, Undecodable::IncompleteFragments)
        ]
    );
}

#[test]
fn ipv6_fragments() {
    let payload: Vec<u8> = (0..2500).map(|i| (i % 13) as u8).collect();
    let dgram = udp(5060, 5070, &payload);
    let f1 = ipv6_frag(17, 0xabcd, 0, true, &dgram[..1232]);
    let f2 = ipv6_frag(17, 0xabcd, 1232, false, &dgram[1232..]);
    let mut r = Run::new();
    assert_eq!(r.push(1, linktype::RAW, &f2), FrameFate::Held);
    assert_eq!(r.push(2, linktype::RAW, &f1), FrameFate::Delivered);
    let g = &r.got[0];
    assert_eq!(g.data, payload);
    assert_eq!(g.flow, udp6_flow());
    assert_eq!(g.frames, vec![2, 1]);
    assert!(g.flags.reassembled);
}

#[test]
fn fragments_of_non_sip_are_accounted() {
    // A big ping in two fragments: the held frame is reported at the end.
    let mut echo = vec![8u8, 0, 0, 0, 0, 1, 0, 1];
    echo.extend_from_slice(&[0x55; 2000]);
    let f1 = ipv4_frag(A4, B4, 1, 8, 0, true, &echo[..1480]);
    let f2 = ipv4_frag(A4, B4, 1, 8, 1480, false, &echo[1480..]);
    let mut r = Run::new();
    assert_eq!(r.push(1, linktype::RAW, &f1), FrameFate::Held);
    assert_eq!(r.push(2, linktype::RAW, &f2), FrameFate::NotSip("icmp"));
    assert_eq!(r.finish(), vec![(1, Undecodable::FragmentOfNonSip("icmp"))]);
}

#[test]
fn fragment_beyond_max_size_rejected() {
    let f = ipv4_frag(A4, B4, 17, 1, 65_000, false, &[0; 1000]);
    let mut r = Run::new();
    assert_eq!(
        r.push(1, linktype::RAW, &f),
        FrameFate::Undecodable(Undecodable::MalformedHeader)
    );
}

#[test]
fn fragmented_inner_packet_in_a_tunnel() {
    let (payload, frags) = fragments4(4, 2000, 1480);
    let mut r = Run::new();
    let t1 = ipv6(4, &frags[0]);
    let t2 = ipv6(4, &frags[1]);
    assert_eq!(r.push(1, linktype::RAW, &t1), FrameFate::Held);
    assert_eq!(r.push(2, linktype::RAW, &t2), FrameFate::Delivered);
    assert_eq!(r.got[0].data, payload);
    assert_eq!(r.got[0].frames, vec![1, 2]);
}

// ---------- hostile bytes ----------

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

#[test]
fn random_bytes_never_panic_and_every_frame_gets_a_fate() {
    let types = [
        linktype::NULL,
        linktype::ETHERNET,
        linktype::RAW_12,
        linktype::RAW,
        linktype::LOOP,
        linktype::LINUX_SLL,
        linktype::IPV4,
        linktype::IPV6,
        linktype::LINUX_SLL2,
        9,
        14,
        999,
    ];
    // Valid packets to mutate, so the random walk gets past the first headers.
    let seeds: Vec<Vec<u8>> = vec![
        sip_udp4(),
        sip_udp6(),
        ipv4(
            132,
            &sctp(&[sctp_data(0x02, 1, 0, b"abc"), sctp_data(0x01, 2, 0, b"d")]),
        ),
        ipv4(
            47,
            &[
                0x30, 0x01, 0x88, 0x0b, 0, 0, 0, 1, 0, 0, 0, 7, 0xff, 0x03, 0x00, 0x21,
            ],
        ),
        ipv6(
            17,
            &udp(
                2152,
                2152,
                &[0x36, 0xff, 0, 8, 0, 0, 0, 1, 0, 1, 0, 0x85, 1, 0, 0, 0],
            ),
        ),
        ipv4(17, &udp(1, 4789, &[0x08, 0, 0, 0, 0, 0, 1, 0])),
        ipv4_frag(A4, B4, 17, 1, 8, true, &[1; 64]),
        ipv6_frag(17, 1, 16, true, &[1; 64]),
        ipv4(1, &[3, 3, 0, 0, 0, 0, 0, 0, 0x45, 0, 0, 40]),
    ];
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let mut r = Run::with(NetConfig {
        max_fragment_bytes: 1 << 16,
        ..NetConfig::default()
    });
    let mut n = 0u64;
    let mut held = Vec::new();
    for round in 0..4000 {
        for &lt in &types {
            n += 1;
            let mut data: Vec<u8> = if round % 2 == 0 {
                let len = (rng.next() % 200) as usize;
                (0..len).map(|_| rng.next() as u8).collect()
            } else {
                let seed = &seeds[(rng.next() % seeds.len() as u64) as usize];
                let mut d = match lt {
                    linktype::ETHERNET => eth(0x0800 | (rng.next() as u16 & 0x0100) << 7, seed),
                    _ => seed.clone(),
                };
                for _ in 0..(rng.next() % 4) {
                    if d.is_empty() {
                        break;
                    }
                    let at = (rng.next() % d.len() as u64) as usize;
                    d[at] = rng.next() as u8;
                }
                let cut = (rng.next() % (d.len() as u64 + 1)) as usize;
                if rng.next() % 3 == 0 {
                    d.truncate(cut);
                }
                d
            };
            if rng.next() % 5 == 0 {
                data.reverse();
            }
            // Any fate is fine, as long as nothing panics and held frames are accounted.
            if r.push(n, lt, &data) == FrameFate::Held {
                held.push(n);
            }
        }
    }
    let report = r.finish();
    // Every held frame ends up in a delivery or in the final report.
    let mut seen: std::collections::HashSet<u64> = report.iter().map(|(f, _)| *f).collect();
    seen.extend(r.got.iter().flat_map(|g| g.frames.iter().copied()));
    let lost: Vec<u64> = held.iter().copied().filter(|f| !seen.contains(f)).collect();
    assert!(lost.is_empty(), "held and never accounted: {lost:?}");
    assert!(
        !held.is_empty(),
        "the mutations should reach the fragment pool"
    );
}

// ---------- real captures ----------

/// Reads the packet records of a pcap or pcapng file: (linktype, bytes). Enough for the corpus;
/// the real reader lives in `crate::capture`.
fn read_capture(path: &str) -> Vec<(u32, Vec<u8>)> {
    let Ok(b) = std::fs::read(path) else {
        return Vec::new();
    };
    let u32_at = |at: usize, le: bool| -> u32 {
        let s = [b[at], b[at + 1], b[at + 2], b[at + 3]];
        if le {
            u32::from_le_bytes(s)
        } else {
            u32::from_be_bytes(s)
        }
    };
    let mut out = Vec::new();
    if b.len() >= 24 && b[..4] != [0x0a, 0x0d, 0x0d, 0x0a] {
        let le = matches!(b[..4], [0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1]);
        let lt = u32_at(20, le) & 0x0fff_ffff;
        let mut at = 24;
        while at + 16 <= b.len() {
            let caplen = u32_at(at + 8, le) as usize;
            let Some(data) = b.get(at + 16..at + 16 + caplen) else {
                break;
            };
            out.push((lt, data.to_vec()));
            at += 16 + caplen;
        }
    } else {
        let le = b.get(8..12) == Some(&[0x4d, 0x3c, 0x2b, 0x1a][..]);
        let mut lts = Vec::new();
        let mut at = 0;
        while at + 12 <= b.len() {
            let kind = u32_at(at, le);
            let len = u32_at(at + 4, le) as usize;
            if len < 12 || at + len > b.len() {
                break;
            }
            let body = &b[at + 8..at + len - 4];
            match kind {
                1 => lts.push(u32::from(if le {
                    u16::from_le_bytes([body[0], body[1]])
                } else {
                    u16::from_be_bytes([body[0], body[1]])
                })),
                6 => {
                    let iface = u32_at(at + 8, le) as usize;
                    let caplen = u32_at(at + 20, le) as usize;
                    if let (Some(&lt), Some(data)) = (lts.get(iface), body.get(20..20 + caplen)) {
                        out.push((lt, data.to_vec()));
                    }
                }
                _ => {}
            }
            at += len;
        }
    }
    out
}

/// What decoding a whole capture gave: deliveries, fates, finish report.
type Decoded = (Vec<Got>, Vec<FrameFate>, Vec<(u64, Undecodable)>);

/// Decodes a corpus file.
fn decode_corpus(name: &str) -> Option<Decoded> {
    let path = format!("{}/{name}", crate::testdata::corpus());
    let recs = read_capture(&path);
    if recs.is_empty() {
        eprintln!("skipping {name}: not readable here");
        return None;
    }
    let mut r = Run::new();
    let fates = recs
        .iter()
        .enumerate()
        .map(|(i, (lt, d))| r.push(i as u64 + 1, *lt, d))
        .collect();
    let rep = r.finish();
    Some((r.got, fates, rep))
}

fn is_sip(d: &[u8]) -> bool {
    const STARTS: [&[u8]; 10] = [
        b"SIP/2.0 ",
        b"INVITE ",
        b"ACK ",
        b"BYE ",
        b"CANCEL ",
        b"REGISTER ",
        b"OPTIONS ",
        b"SUBSCRIBE ",
        b"NOTIFY ",
        b"MESSAGE ",
    ];
    STARTS.iter().any(|s| d.starts_with(s))
}

#[test]
fn corpus_raw_ip_udp() {
    let Some((got, fates, rep)) = decode_corpus("heplify-ipip0.pcap") else {
        return;
    };
    assert_eq!(fates.len(), 8);
    assert!(fates.iter().all(|f| *f == FrameFate::Delivered));
    assert_eq!(got.iter().filter(|g| is_sip(&g.data)).count(), 8);
    assert!(rep.is_empty());
}

#[test]
fn corpus_gre_ppp_in_vlan() {
    let Some((got, fates, _)) = decode_corpus("ndpi-gre.pcapng") else {
        return;
    };
    assert_eq!(fates, vec![FrameFate::Delivered]);
    assert_eq!(got.len(), 1);
    assert!(got[0].data.starts_with(b"SIP/2.0 100"));
    assert_eq!(got[0].flow.transport, Transport::Udp);
}

#[test]
fn corpus_ipv6_udp() {
    let Some((got, _, _)) = decode_corpus("heplify-sip-ipv6-udp.pcap") else {
        return;
    };
    let sip: Vec<&Got> = got.iter().filter(|g| is_sip(&g.data)).collect();
    assert_eq!(sip.len(), 6);
    assert!(sip.iter().all(|g| g.flow.src.ip.is_ipv6()));
}

#[test]
fn corpus_sctp() {
    let Some((got, _, _)) = decode_corpus("heplify-sip-sctp.pcap") else {
        return;
    };
    let sip: Vec<&Got> = got
        .iter()
        .filter(|g| g.flow.transport == Transport::Sctp && is_sip(&g.data))
        .collect();
    assert_eq!(sip.len(), 4);
    // The INVITE is split over two DATA chunks in frames 1 and 2.
    assert!(sip[0].data.starts_with(b"INVITE "));
    assert_eq!(sip[0].frames, vec![1, 2]);
}

#[test]
fn corpus_gtpu_over_ipv6() {
    let Some((got, _, _)) = decode_corpus("arkime-gtp-iphone-ims.pcap") else {
        return;
    };
    // UDP SIP inside GTP-U; the flow is the inner one (IPv6 handset addresses).
    let udp_sip: Vec<&Got> = got
        .iter()
        .filter(|g| g.flow.transport == Transport::Udp && is_sip(&g.data))
        .collect();
    assert_eq!(udp_sip.len(), 4);
    assert!(udp_sip.iter().all(|g| g.flow.src.port != 2152));
    assert!(got
        .iter()
        .any(|g| g.flow.transport == Transport::Tcp && !g.data.is_empty()));
}

#[test]
fn corpus_ipv4_fragments() {
    let Some((got, fates, rep)) = decode_corpus("goffinet-private-test-sip.pcapng") else {
        return;
    };
    let re: Vec<&Got> = got
        .iter()
        .filter(|g| g.flags.reassembled && is_sip(&g.data))
        .collect();
    assert_eq!(re.len(), 1, "one INVITE arrives in two fragments");
    assert_eq!(re[0].frames.len(), 2);
    assert!(fates.contains(&FrameFate::Held));
    assert!(!rep
        .iter()
        .any(|(_, u)| *u == Undecodable::IncompleteFragments));
}

/// Throughput check, run by hand: `cargo test --release --lib net::tests::throughput -- --ignored
/// --nocapture`. One gigabyte of 1000-byte Ethernet/IPv4/UDP frames.
#[test]
#[ignore]
fn throughput() {
    let payload = vec![b'x'; 1000 - 14 - 20 - 8];
    let pkt = eth(0x0800, &ipv4(17, &udp(5060, 5070, &payload)));
    let mut dec = Decoder::new(NetConfig::default());
    let mut bytes = 0usize;
    let start = std::time::Instant::now();
    let n = 1_000_000u64;
    for i in 0..n {
        let f = frame(i, i as i64, linktype::ETHERNET, &pkt);
        dec.push(&f, &mut |d: Delivery<'_>| bytes += d.data.len());
    }
    let el = start.elapsed();
    assert_eq!(bytes, payload.len() * n as usize);
    eprintln!(
        "{n} frames, {} MB in {el:?}",
        (n as usize * pkt.len()) >> 20
    );
}

/// Whole-corpus summary, run by hand: `cargo test --lib net::tests::corpus_summary -- --ignored
/// --nocapture`. Prints per file the fates and how many deliveries start like SIP.
#[test]
#[ignore]
fn corpus_summary() {
    let Ok(dir) = std::fs::read_dir(crate::testdata::corpus()) else {
        eprintln!("!!!!!! the shared corpus is absent: nothing summarised !!!!!!");
        return;
    };
    let mut names: Vec<String> = dir
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".pcap") || n.ends_with(".pcapng"))
        .collect();
    names.sort();
    for name in names {
        let Some((got, fates, rep)) = decode_corpus(&name) else {
            continue;
        };
        let mut counts: std::collections::BTreeMap<String, usize> = Default::default();
        for f in &fates {
            *counts.entry(format!("{f:?}")).or_default() += 1;
        }
        let sip = got.iter().filter(|g| is_sip(&g.data)).count();
        eprintln!(
            "{name}: frames {} sip-like deliveries {sip} report {} {counts:?}",
            fates.len(),
            rep.len()
        );
    }
}
