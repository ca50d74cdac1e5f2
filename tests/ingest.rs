//! End-to-end ingest: captures that no SIP stack makes on demand, built byte by byte with the
//! project's own pcap writer, run through the library pipeline and the real binary.

mod common;

use std::io::Write;

use common::*;
use sipscope::capture::linktype;
use sipscope::capture::writer::{pcap_bytes, PcapNgWriter, PcapWriter};

const A: (u8, u8, u8, u8) = (192, 0, 2, 1);

fn a() -> std::net::IpAddr {
    v4(A.0, A.1, A.2, A.3)
}
fn b() -> std::net::IpAddr {
    v4(192, 0, 2, 2)
}

fn sec(s: i64) -> i64 {
    1_700_000_000_000_000_000 + s * 1_000_000_000
}

#[test]
fn udp_sip_on_any_port_found_by_content() {
    let inv = request("INVITE", "port-1", 1, "");
    let cap = pcap_bytes(
        linktype::ETHERNET,
        &[
            (sec(0), eth_udp4(a(), 40000, b(), 7777, &inv)),
            (
                sec(1),
                eth_udp4(a(), 40000, b(), 7777, b"not sip at all\r\n"),
            ),
        ],
    );
    let msgs = messages(cap);
    assert_eq!(msgs, vec![(1, "INVITE".into(), "port-1".into())]);
}

#[test]
fn ipv4_fragments_reversed_and_duplicated_make_one_message_on_the_last_frame() {
    let body = "v=0\r\n".to_string() + &"a=x-padding:0123456789abcdef\r\n".repeat(1000);
    let inv = request("INVITE", "frag-1", 1, &body);
    assert!(inv.len() > 20_000, "a datagram over 20 KB");
    let dgram = udp(5060, 5060, &inv);
    let mut frames = Vec::new();
    let chunk = 1480;
    let mut off = 0;
    while off < dgram.len() {
        let end = (off + chunk).min(dgram.len());
        let more = end < dgram.len();
        frames.push(eth(
            ETH_IPV4,
            &ipv4(a(), b(), 17, 77, off, more, &dgram[off..end]),
        ));
        off = end;
    }
    let n = frames.len();
    frames.reverse();
    // A duplicate of one fragment in the middle.
    let dup = frames[n / 2].clone();
    frames.insert(1, dup);
    let total = frames.len() as u64;
    let cap = pcap_bytes(
        linktype::ETHERNET,
        &frames
            .into_iter()
            .enumerate()
            .map(|(i, f)| (sec(i as i64), f))
            .collect::<Vec<_>>(),
    );
    let msgs = messages(cap.clone());
    assert_eq!(msgs.len(), 1, "{msgs:?}");
    assert_eq!(msgs[0].1, "INVITE");
    // Reversed order: the datagram completes when the last frame (the first fragment) arrives.
    assert_eq!(msgs[0].0, total);
    let f = TempFile::new("frag.pcap", &cap);
    let j = stats_json(&[f.path()]);
    assert_eq!(j["sip_messages"], 1);
    assert_eq!(j["frames"], total);
    assert_eq!(j["sip_frames"], total);
}

#[test]
fn ipv6_fragments_out_of_order() {
    let src = v6("2001:db8::1");
    let dst = v6("2001:db8::2");
    let inv = request("OPTIONS", "v6-frag", 7, &"x".repeat(3000));
    let dgram = udp(5060, 5062, &inv);
    let cut = 1448;
    let f1 = eth(
        ETH_IPV6,
        &ipv6(src, dst, 17, Some((9, 0, true)), &dgram[..cut]),
    );
    let f2 = eth(
        ETH_IPV6,
        &ipv6(src, dst, 17, Some((9, cut, true)), &dgram[cut..2 * cut]),
    );
    let f3 = eth(
        ETH_IPV6,
        &ipv6(src, dst, 17, Some((9, 2 * cut, false)), &dgram[2 * cut..]),
    );
    let cap = pcap_bytes(
        linktype::ETHERNET,
        &[(sec(0), f3), (sec(1), f1), (sec(2), f2)],
    );
    assert_eq!(messages(cap), vec![(3, "OPTIONS".into(), "v6-frag".into())]);
}

fn tcp_frames(payload: &[u8], cuts: &[usize], isn: u32, syn: bool) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    if syn {
        out.push(eth_tcp4(a(), 50000, b(), 5060, isn, SYN, b""));
    }
    let mut start = 0;
    for &c in cuts.iter().chain(std::iter::once(&payload.len())) {
        let seq = isn.wrapping_add(1).wrapping_add(start as u32);
        out.push(eth_tcp4(
            a(),
            50000,
            b(),
            5060,
            seq,
            ACK | PSH,
            &payload[start..c],
        ));
        start = c;
    }
    out
}

#[test]
fn tcp_split_reordered_retransmitted_messages_are_framed_once() {
    let mut stream = request("INVITE", "tcp-1", 1, "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\n");
    stream.extend_from_slice(&request("BYE", "tcp-1", 2, ""));
    stream.extend_from_slice(b"\r\n\r\n"); // keep-alive
    stream.extend_from_slice(&request("OPTIONS", "tcp-2", 1, ""));
    let cuts = [100, 250, stream.len() - 30];
    let mut frames = tcp_frames(&stream, &cuts, 0xffff_fff0, true); // sequence wraps
                                                                    // Swap two data segments and retransmit one.
    frames.swap(2, 3);
    let again = frames[1].clone();
    frames.insert(4, again);
    let cap = pcap_bytes(
        linktype::ETHERNET,
        &frames
            .into_iter()
            .enumerate()
            .map(|(i, f)| (sec(i as i64), f))
            .collect::<Vec<_>>(),
    );
    let got: Vec<_> = messages(cap).into_iter().map(|(_, w, c)| (w, c)).collect();
    assert_eq!(
        got,
        vec![
            ("INVITE".into(), "tcp-1".into()),
            ("BYE".into(), "tcp-1".into()),
            ("OPTIONS".into(), "tcp-2".into())
        ]
    );
}

#[test]
fn tcp_capture_starting_mid_stream_locks_on_the_next_start_line() {
    let first = request("INVITE", "mid-0", 1, "");
    let mut stream = first[40..].to_vec(); // the tail of a message whose start was not captured
    stream.extend_from_slice(&request("ACK", "mid-1", 1, ""));
    let frames = tcp_frames(&stream, &[], 1000, false);
    let cap = pcap_bytes(linktype::ETHERNET, &[(sec(0), frames[0].clone())]);
    let got = messages(cap);
    assert_eq!(got, vec![(1, "ACK".into(), "mid-1".into())]);
}

#[test]
fn message_over_many_segments_carries_the_completing_frame() {
    let inv = request("INVITE", "many", 1, &"a=x\r\n".repeat(600));
    let cuts: Vec<usize> = (1..5).map(|k| k * inv.len() / 5).collect();
    let frames = tcp_frames(&inv, &cuts, 5, true);
    let n = frames.len() as u64;
    let cap = pcap_bytes(
        linktype::ETHERNET,
        &frames
            .into_iter()
            .enumerate()
            .map(|(i, f)| (sec(i as i64), f))
            .collect::<Vec<_>>(),
    );
    assert_eq!(messages(cap), vec![(n, "INVITE".into(), "many".into())]);
}

#[test]
fn link_layers_sll2_qinq_ipv6_null_raw() {
    let msg = request("REGISTER", "links", 1, "");
    let ip4 = ipv4(a(), b(), 17, 3, 0, false, &udp(5060, 5060, &msg));
    let ip6 = ipv6(
        v6("2001:db8::a"),
        v6("2001:db8::b"),
        17,
        None,
        &udp(5060, 5060, &msg),
    );
    // SLL2: protocol, reserved, ifindex, arphrd, pkttype, addrlen, addr[8]
    let mut sll2 = vec![
        0x08, 0x00, 0, 0, 0, 0, 0, 1, 0, 1, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    sll2.extend_from_slice(&ip4);
    let qinq = eth_vlan(&[(0x88a8, 100), (0x8100, 200)], ETH_IPV4, &ip4);
    let mut null_le = 2u32.to_le_bytes().to_vec();
    null_le.extend_from_slice(&ip4);
    let mut null_be = 30u32.to_be_bytes().to_vec();
    null_be.extend_from_slice(&ip6);
    for (lt, frame) in [
        (linktype::LINUX_SLL2, sll2),
        (linktype::ETHERNET, qinq),
        (linktype::ETHERNET, eth(ETH_IPV6, &ip6)),
        (linktype::NULL, null_le),
        (linktype::NULL, null_be),
        (linktype::RAW, ip4.clone()),
        (linktype::IPV6, ip6.clone()),
    ] {
        let got = messages(pcap_bytes(lt, &[(sec(0), frame)]));
        assert_eq!(
            got,
            vec![(1, "REGISTER".into(), "links".into())],
            "link type {lt}"
        );
    }
}

#[test]
fn unknown_link_type_is_counted_and_named_not_fatal() {
    let cap = pcap_bytes(147, &[(sec(0), vec![1, 2, 3, 4])]);
    let f = TempFile::new("dlt147.pcap", &cap);
    let out = sipscope(&["stats", "--json", f.path()]);
    assert!(out.status.success());
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["undecoded"]["unknown link type 147"], 1);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unknown link type 147") && err.contains("#1"),
        "{err}"
    );
}

#[test]
fn pcapng_two_interfaces_with_different_link_types() {
    let msg1 = request("INVITE", "ng-1", 1, "");
    let msg2 = response(180, "Ringing", "ng-1", 1, "INVITE");
    let mut w = PcapNgWriter::new(Vec::new()).unwrap();
    let eth_if = w.add_interface(linktype::ETHERNET, Some(6), None).unwrap();
    let raw_if = w.add_interface(linktype::RAW, Some(9), Some(0)).unwrap();
    w.write_epb(eth_if, sec(0), &eth_udp4(a(), 5060, b(), 5060, &msg1), 0)
        .unwrap();
    let ip = ipv4(b(), a(), 17, 2, 0, false, &udp(5060, 5060, &msg2));
    w.write_epb(raw_if, sec(1), &ip, 0).unwrap();
    let cap = w.into_inner();
    assert_eq!(
        messages(cap),
        vec![
            (1, "INVITE".into(), "ng-1".into()),
            (2, "180".into(), "ng-1".into())
        ]
    );
}

#[test]
fn compact_folded_and_lf_only_headers_still_make_messages() {
    let compact = b"INVITE sip:b@x SIP/2.0\r\nv: SIP/2.0/UDP h;branch=z9hG4bK1\r\nf: <sip:a@x>;tag=1\r\nt: <sip:b@x>\r\ni: compact-1\r\nCSeq: 1 INVITE\r\nl: 0\r\n\r\n".to_vec();
    let folded = b"OPTIONS sip:b@x SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK2\r\nSubject: a\r\n  folded line\r\nCall-ID: folded-1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n".to_vec();
    let lf = b"SIP/2.0 200 OK\nVia: SIP/2.0/UDP h;branch=z9hG4bK3\nCall-ID: lf-1\nCSeq: 1 OPTIONS\nContent-Length: 0\n\n".to_vec();
    let cap = pcap_bytes(
        linktype::ETHERNET,
        &[
            (sec(0), eth_udp4(a(), 5060, b(), 5060, &compact)),
            (sec(1), eth_udp4(a(), 5060, b(), 5060, &folded)),
            (sec(2), eth_udp4(b(), 5060, a(), 5060, &lf)),
        ],
    );
    assert_eq!(
        messages(cap),
        vec![
            (1, "INVITE".into(), "compact-1".into()),
            (2, "OPTIONS".into(), "folded-1".into()),
            (3, "200".into(), "lf-1".into())
        ]
    );
}

#[test]
fn snaplen_cut_message_is_kept_and_flagged() {
    let inv = request("INVITE", "cut-1", 1, &"a=y\r\n".repeat(100));
    let frame = eth_udp4(a(), 5060, b(), 5060, &inv);
    let mut w = PcapWriter::new(Vec::new(), linktype::ETHERNET, false, false, 200).unwrap();
    w.write_packet(sec(0), &frame[..200], frame.len() as u32)
        .unwrap();
    let cap = w.into_inner();
    let f = TempFile::new("cut.pcap", &cap);
    let j = stats_json(&[f.path()]);
    assert_eq!(j["sip_messages"], 1);
    assert_eq!(j["message_flags"]["cut by snaplen"], 1);
}

#[test]
fn truncated_file_is_analysed_up_to_the_break_with_a_warning() {
    let mut packets = Vec::new();
    for i in 0..3 {
        packets.push((
            sec(i),
            eth_udp4(
                a(),
                5060,
                b(),
                5060,
                &request("OPTIONS", &format!("t{i}"), 1, ""),
            ),
        ));
    }
    let mut cap = pcap_bytes(linktype::ETHERNET, &packets);
    cap.truncate(cap.len() - 50);
    let f = TempFile::new("trunc.pcap", &cap);
    let out = sipscope(&["stats", "--json", f.path()]);
    assert!(out.status.success());
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["sip_messages"], 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("trunc.pcap") && err.contains("truncated") && err.contains("offset"),
        "{err}"
    );
}

#[test]
fn not_a_capture_fails_with_the_file_named() {
    let f = TempFile::new("notes.txt", b"hello, this is not a capture\n");
    let out = sipscope(&["stats", f.path()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("notes.txt") && err.contains("not a pcap"),
        "{err}"
    );
    // Said once: one line, not a per-file line and the command's error again.
    assert_eq!(err.lines().count(), 1, "{err}");
    let missing = sipscope(&["stats", "/nonexistent/x.pcap"]);
    assert_eq!(missing.status.code(), Some(2));
    let err = String::from_utf8_lossy(&missing.stderr);
    assert!(err.contains("/nonexistent/x.pcap"), "{err}");
    // The OS's reason once, though it is both in the message and its cause.
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_eq!(err.matches("os error").count(), 1, "{err}");
    // Two bad inputs: the first is named on its own line, the last is the command's error.
    let both = sipscope(&["stats", f.path(), "/nonexistent/x.pcap"]);
    assert_eq!(both.status.code(), Some(2));
    let err = String::from_utf8_lossy(&both.stderr);
    assert_eq!(err.lines().count(), 2, "{err}");
    assert!(
        err.contains("notes.txt") && err.contains("/nonexistent/x.pcap"),
        "{err}"
    );
}

#[test]
fn gzip_stdin_and_merged_files() {
    let p1 = pcap_bytes(
        linktype::ETHERNET,
        &[
            (
                sec(0),
                eth_udp4(a(), 5060, b(), 5060, &request("INVITE", "m-1", 1, "")),
            ),
            (
                sec(4),
                eth_udp4(a(), 5060, b(), 5060, &request("BYE", "m-1", 2, "")),
            ),
        ],
    );
    let p2 = pcap_bytes(
        linktype::ETHERNET,
        &[(
            sec(2),
            eth_udp4(
                b(),
                5060,
                a(),
                5060,
                &response(200, "OK", "m-1", 1, "INVITE"),
            ),
        )],
    );
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&p2).unwrap();
    let f1 = TempFile::new("one.pcap", &p1);
    let f2 = TempFile::new("two.bin", &gz.finish().unwrap()); // gzip, whatever the name says
    let j = stats_json(&[f1.path(), f2.path()]);
    assert_eq!(j["sip_messages"], 3);
    assert_eq!(j["call_ids"], 1);
    assert_eq!(j["inputs"].as_array().unwrap().len(), 2);

    // Merged in time order: INVITE (file 1), 200 (file 2), BYE (file 1).
    let i1 = sipscope::capture::Input::from_bytes("1", 0, p1.clone()).unwrap();
    let i2 = sipscope::capture::Input::from_bytes("2", 1, p2.clone()).unwrap();
    let mut order = Vec::new();
    sipscope::ingest::run(&[i1, i2], &mut |m| {
        order.push((m.frame.file, m.frame.number))
    });
    assert_eq!(order, vec![(0, 1), (1, 1), (0, 2)]);

    // Standard input.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_sipscope"))
        .args(["stats", "--json", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&p1).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["sip_messages"], 2);
}

#[test]
fn sip_quoted_in_icmp_unreachable_is_a_bounced_message() {
    let inv = request("INVITE", "icmp-1", 1, "");
    let inner = ipv4(a(), b(), 17, 5, 0, false, &udp(5060, 5060, &inv));
    let mut icmp = vec![3, 3, 0, 0, 0, 0, 0, 0];
    icmp.extend_from_slice(&inner);
    let frame = eth(ETH_IPV4, &ipv4(b(), a(), 1, 6, 0, false, &icmp));
    let cap = pcap_bytes(linktype::ETHERNET, &[(sec(0), frame)]);
    let f = TempFile::new("icmp.pcap", &cap);
    let j = stats_json(&[f.path()]);
    assert_eq!(j["sip_messages"], 1);
    assert_eq!(j["message_flags"]["bounced (in ICMP error)"], 1);
}

#[test]
fn books_balance_every_frame_counted_once() {
    let mut packets = vec![
        (
            sec(0),
            eth_udp4(a(), 5060, b(), 5060, &request("OPTIONS", "bk", 1, "")),
        ),
        (sec(1), eth(0x0806, &[0u8; 28])), // ARP
        (sec(2), eth_tcp4(a(), 1, b(), 2, 9, SYN, b"")),
        (sec(3), eth_udp4(a(), 1234, b(), 53, b"\x12\x34\x01\x00")),
    ];
    packets.push((sec(4), vec![0x01])); // too short for Ethernet
    let cap = pcap_bytes(linktype::ETHERNET, &packets);
    let f = TempFile::new("books.pcap", &cap);
    let j = stats_json(&[f.path()]);
    let sum = |v: &serde_json::Value| {
        v.as_object()
            .unwrap()
            .values()
            .map(|n| n.as_u64().unwrap())
            .sum::<u64>()
    };
    assert_eq!(j["frames"], 5);
    let accounted = j["sip_frames"].as_u64().unwrap() + sum(&j["not_sip"]) + sum(&j["undecoded"]);
    assert_eq!(accounted, 5, "{j}");
    assert_eq!(j["sip_frames"], 1);
}
