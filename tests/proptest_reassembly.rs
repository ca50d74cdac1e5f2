//! Properties of reassembly: whatever the order and duplication of the pieces, the bytes that
//! come out are the ones that went in.
//!
//! - TCP: several SIP messages on one stream, cut at arbitrary points into segments that arrive
//!   in arbitrary order with arbitrary duplicates and re-sent ranges that straddle other
//!   segments (after the SYN), through
//!   `net::tcp::Reassembler` + `sip::framing::Framer`, and through the whole ingest pipeline
//!   with a pcap built by the project's writer: exactly the original messages, in order.
//! - IPv4: a UDP datagram cut into fragments at arbitrary 8-byte boundaries, in arbitrary order
//!   with duplicates, through `net::ip::Defrag`: every datagram it completes is the original;
//!   and without duplicates, through the pipeline: exactly the original SIP message once.

mod common;

use std::net::{IpAddr, Ipv4Addr};

use common::*;
use proptest::prelude::*;
use sipscope::capture::{linktype, writer::pcap_bytes, Input};
use sipscope::net::ip::{Defrag, FragInfo, FragKey, FragOutcome};
use sipscope::net::tcp::{Reassembler, Segment};
use sipscope::net::{Endpoint, Flow, FrameRef, Transport};
use sipscope::sip::framing::Framer;
use sipscope::sip::SipMessage;

fn a() -> IpAddr {
    v4(192, 0, 2, 1)
}
fn b() -> IpAddr {
    v4(192, 0, 2, 2)
}

/// A few SIP messages of the kinds a stream carries, with generated Call-IDs and bodies.
fn sip_messages() -> impl Strategy<Value = Vec<Vec<u8>>> {
    let one = (0u8..4, "[a-z0-9]{1,12}", 1u32..1000, "[ -~\r\n]{0,400}").prop_map(
        |(kind, cid, cseq, body)| match kind {
            0 => request("INVITE", &cid, cseq, &body),
            1 => request("REGISTER", &cid, cseq, ""),
            2 => response(200, "OK", &cid, cseq, "INVITE"),
            _ => request("MESSAGE", &cid, cseq, &body),
        },
    );
    proptest::collection::vec(one, 1..5)
}

/// Cut points (sorted, deduplicated, inside the stream) from arbitrary numbers.
fn cuts(len: usize, raw: &[usize]) -> Vec<(usize, usize)> {
    let mut points: Vec<usize> = raw.iter().map(|p| p % len.max(1)).collect();
    points.push(0);
    points.push(len);
    points.sort_unstable();
    points.dedup();
    points.windows(2).map(|w| (w[0], w[1])).collect()
}

/// Adds re-sent ranges with their own boundaries (retransmissions that straddle other
/// segments), each consistent with the stream.
fn with_resends(
    len: usize,
    mut pieces: Vec<(usize, usize)>,
    resends: &[(usize, usize)],
) -> Vec<(usize, usize)> {
    for (start, n) in resends {
        let s = start % len.max(1);
        let e = (s + n).min(len);
        if s < e {
            pieces.push((s, e));
        }
    }
    pieces
}

/// The delivery order: every piece once, shuffled by `keys`, with the pieces named by `dups`
/// delivered again at the positions `keys` gives them.
fn order(n: usize, keys: &[u32], dups: &[(usize, u32)]) -> Vec<usize> {
    let mut items: Vec<(u32, usize)> = (0..n)
        .map(|i| (keys.get(i).copied().unwrap_or(0), i))
        .collect();
    for (which, key) in dups {
        items.push((*key, which % n.max(1)));
    }
    items.sort();
    items.into_iter().map(|(_, i)| i).collect()
}

fn tcp_flow() -> Flow {
    Flow {
        transport: Transport::Tcp,
        src: Endpoint {
            ip: a(),
            port: 40000,
        },
        dst: Endpoint {
            ip: b(),
            port: 5060,
        },
    }
}

fn fr(n: u64) -> FrameRef {
    FrameRef {
        file: 0,
        number: n,
        ts_ns: n as i64,
    }
}

/// Runs segments straight through the reassembler and the framer.
fn through_reassembler(
    isn: u32,
    stream: &[u8],
    pieces: &[(usize, usize)],
    order: &[usize],
) -> Vec<SipMessage> {
    let mut reasm = Reassembler::new(1 << 20);
    let mut framer = Framer::new(1 << 20);
    let mut out = Vec::new();
    let flow = tcp_flow();
    let syn = Segment {
        flow,
        seq: isn,
        syn: true,
        fin: false,
        rst: false,
        payload: &[],
        frame: fr(1),
        cut: false,
    };
    reasm.push(&syn, &mut |d| {
        framer.push(&d, &mut |m| out.push(m));
    });
    for (n, &i) in order.iter().enumerate() {
        let (s, e) = pieces[i];
        let seg = Segment {
            flow,
            seq: isn.wrapping_add(1).wrapping_add(s as u32),
            syn: false,
            fin: false,
            rst: false,
            payload: &stream[s..e],
            frame: fr(n as u64 + 2),
            cut: false,
        };
        reasm.push(&seg, &mut |d| {
            framer.push(&d, &mut |m| out.push(m));
        });
    }
    let held = reasm.finish(&mut |d| {
        framer.push(&d, &mut |m| out.push(m));
    });
    assert!(held.is_empty());
    framer.finish(&mut |m| out.push(m));
    out
}

/// The same segments as Ethernet/IPv4/TCP frames in a pcap, through `ingest::run`.
fn through_pipeline(
    isn: u32,
    stream: &[u8],
    pieces: &[(usize, usize)],
    order: &[usize],
) -> Vec<SipMessage> {
    let mut frames = vec![(0, eth_tcp4(a(), 40000, b(), 5060, isn, SYN, b""))];
    for (n, &i) in order.iter().enumerate() {
        let (s, e) = pieces[i];
        let seq = isn.wrapping_add(1).wrapping_add(s as u32);
        frames.push((
            (n as i64 + 1) * 1000,
            eth_tcp4(a(), 40000, b(), 5060, seq, ACK | PSH, &stream[s..e]),
        ));
    }
    let input = Input::from_bytes("prop", 0, pcap_bytes(linktype::ETHERNET, &frames)).unwrap();
    let mut out = Vec::new();
    let books = sipscope::ingest::run(std::slice::from_ref(&input), &mut |m| out.push(m));
    assert_eq!(books.accounted(), books.frames, "books do not balance");
    out
}

fn assert_same(got: &[SipMessage], want: &[Vec<u8>]) -> Result<(), TestCaseError> {
    let got_data: Vec<&[u8]> = got.iter().map(|m| &m.data[..]).collect();
    let want_data: Vec<&[u8]> = want.iter().map(|m| &m[..]).collect();
    prop_assert_eq!(got_data, want_data);
    for m in got {
        prop_assert!(!m.flags.short_body && !m.flags.after_gap && !m.flags.junk_before);
        prop_assert!(!m.flags.overlap_conflict);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn tcp_any_order_and_duplicates_give_the_same_messages(
        msgs in sip_messages(),
        raw_cuts in proptest::collection::vec(any::<usize>(), 0..12),
        keys in proptest::collection::vec(any::<u32>(), 17),
        dups in proptest::collection::vec((any::<usize>(), any::<u32>()), 0..6),
        isn in prop_oneof![any::<u32>(), (u32::MAX - 2000)..=u32::MAX],
        resends in proptest::collection::vec((any::<usize>(), 1usize..400), 0..4),
    ) {
        let stream: Vec<u8> = msgs.concat();
        let pieces = with_resends(stream.len(), cuts(stream.len(), &raw_cuts), &resends);
        let order = order(pieces.len(), &keys, &dups);
        let got = through_reassembler(isn, &stream, &pieces, &order);
        assert_same(&got, &msgs)?;
    }

    #[test]
    fn tcp_pipeline_any_order_and_duplicates_give_the_same_messages(
        msgs in sip_messages(),
        raw_cuts in proptest::collection::vec(any::<usize>(), 0..8),
        keys in proptest::collection::vec(any::<u32>(), 13),
        dups in proptest::collection::vec((any::<usize>(), any::<u32>()), 0..4),
        isn in any::<u32>(),
        resends in proptest::collection::vec((any::<usize>(), 1usize..400), 0..4),
    ) {
        let stream: Vec<u8> = msgs.concat();
        let pieces = with_resends(stream.len(), cuts(stream.len(), &raw_cuts), &resends);
        let order = order(pieces.len(), &keys, &dups);
        let got = through_pipeline(isn, &stream, &pieces, &order);
        assert_same(&got, &msgs)?;
    }

    #[test]
    fn ipv4_fragments_any_order_and_duplicates_give_the_same_datagram(
        body in "[ -~]{200,2500}",
        raw_cuts in proptest::collection::vec(any::<usize>(), 1..10),
        keys in proptest::collection::vec(any::<u32>(), 11),
        dups in proptest::collection::vec((any::<usize>(), any::<u32>()), 0..6),
        id in any::<u16>(),
    ) {
        let datagram = udp(5060, 5060, &request("MESSAGE", "frag", 1, &body));
        // Fragment offsets are multiples of 8.
        let eights: Vec<usize> = raw_cuts.iter().map(|c| c / 8).collect();
        let pieces: Vec<(usize, usize)> = cuts(datagram.len() / 8, &eights)
            .into_iter()
            .map(|(s, e)| (s * 8, if e * 8 >= datagram.len() / 8 * 8 { datagram.len() } else { e * 8 }))
            .filter(|(s, e)| s < e)
            .collect();
        let order = order(pieces.len(), &keys, &dups);
        let mut pool = Defrag::new(1 << 20, i64::MAX);
        let key = FragKey {
            src: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
            dst: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)),
            proto: 17,
            id: u32::from(id),
        };
        let mut completed = 0;
        for (n, &i) in order.iter().enumerate() {
            let (s, e) = pieces[i];
            let frag = FragInfo {
                offset: s as u32,
                more: e < datagram.len(),
                id: u32::from(id),
            };
            match pool.push(key, frag, &datagram[s..e], false, &[fr(n as u64 + 1)], n as i64) {
                FragOutcome::Complete(r) => {
                    completed += 1;
                    prop_assert_eq!(&r.payload, &datagram);
                    prop_assert!(!r.conflict);
                }
                FragOutcome::Held => {}
                FragOutcome::Rejected(why) => prop_assert!(false, "fragment rejected: {:?}", why),
            }
        }
        prop_assert!(completed >= 1, "datagram never completed");
    }

    #[test]
    fn ipv4_fragments_any_order_through_pipeline(
        body in "[ -~]{200,2500}",
        raw_cuts in proptest::collection::vec(any::<usize>(), 1..8),
        keys in proptest::collection::vec(any::<u32>(), 9),
        id in any::<u16>(),
    ) {
        let msg = request("MESSAGE", "frag", 1, &body);
        let datagram = udp(5060, 5060, &msg);
        let eights: Vec<usize> = raw_cuts.iter().map(|c| c / 8).collect();
        let pieces: Vec<(usize, usize)> = cuts(datagram.len() / 8, &eights)
            .into_iter()
            .map(|(s, e)| (s * 8, if e * 8 >= datagram.len() / 8 * 8 { datagram.len() } else { e * 8 }))
            .filter(|(s, e)| s < e)
            .collect();
        let order = order(pieces.len(), &keys, &[]);
        let frames: Vec<(i64, Vec<u8>)> = order
            .iter()
            .enumerate()
            .map(|(n, &i)| {
                let (s, e) = pieces[i];
                let more = e < datagram.len();
                (n as i64 * 1000, eth(ETH_IPV4, &ipv4(a(), b(), 17, id, s, more, &datagram[s..e])))
            })
            .collect();
        let input = Input::from_bytes("frag", 0, pcap_bytes(linktype::ETHERNET, &frames)).unwrap();
        let mut out = Vec::new();
        let books = sipscope::ingest::run(std::slice::from_ref(&input), &mut |m| out.push(m));
        prop_assert_eq!(books.accounted(), books.frames);
        prop_assert_eq!(out.len(), 1);
        prop_assert_eq!(&out[0].data, &msg);
        prop_assert_eq!(out[0].frames.len(), pieces.len());
        prop_assert!(out[0].flags.reassembled || pieces.len() == 1);
    }
}
