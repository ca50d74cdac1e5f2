//! Tracker tests on synthetic datagrams: announcement, detection by content, SSRC changes,
//! one-way streams, DTMF and RTCP attached to streams.

use super::*;
use std::net::{IpAddr, Ipv4Addr};

fn ep(last: u8, port: u16) -> Endpoint {
    Endpoint {
        ip: IpAddr::V4(Ipv4Addr::new(192, 0, 2, last)),
        port,
    }
}

fn flow(src: Endpoint, dst: Endpoint) -> Flow {
    Flow {
        transport: Transport::Udp,
        src,
        dst,
    }
}

fn frame(n: u64) -> FrameRef {
    FrameRef {
        file: 0,
        number: n,
        ts_ns: 0,
    }
}

fn rtp(pt: u8, marker: bool, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![0x80, pt | if marker { 0x80 } else { 0 }];
    v.extend_from_slice(&seq.to_be_bytes());
    v.extend_from_slice(&ts.to_be_bytes());
    v.extend_from_slice(&ssrc.to_be_bytes());
    v.extend_from_slice(payload);
    v
}

/// Sends `n` G.711 packets 20 ms apart starting at `seq0`, frame numbers from `frame0`.
fn send(
    t: &mut MediaTracker,
    f: &Flow,
    ssrc: u32,
    seq0: u16,
    n: u16,
    frame0: u64,
) -> Vec<Option<MediaKind>> {
    (0..n)
        .map(|i| {
            let seq = seq0.wrapping_add(i);
            let d = rtp(0, false, seq, u32::from(seq) * 160, ssrc, &[0xff; 160]);
            let fr = frame0 + u64::from(i);
            t.push(f, fr as i64 * 20_000_000, frame(fr), &d)
        })
        .collect()
}

fn hint(codecs: &[(u8, &str, u32)]) -> ExpectedMedia {
    ExpectedMedia {
        call_id: "call-1@x".into(),
        codecs: codecs
            .iter()
            .map(|(p, n, r)| (*p, n.to_string(), *r))
            .collect(),
        rtcp_port: None,
        media: "audio".into(),
        announced_by: Some(frame(1)),
    }
}

#[test]
fn unannounced_rtp_is_accepted_after_three_consistent_packets_and_all_are_counted() {
    let mut t = MediaTracker::new();
    let f = flow(ep(1, 40000), ep(2, 50000));
    let kinds = send(&mut t, &f, 0xabc, 100, 5, 10);
    assert_eq!(kinds[0], Some(MediaKind::RtpCandidate));
    assert_eq!(kinds[1], Some(MediaKind::RtpCandidate));
    assert_eq!(kinds[2], Some(MediaKind::Rtp { announced: false }));
    assert_eq!(kinds[4], Some(MediaKind::Rtp { announced: false }));
    let r = t.streams();
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].packets, 5);
    assert_eq!(r[0].first.number, 10);
    assert!(!r[0].announced);
    assert_eq!(r[0].ssrc, "0x00000ABC");
    assert_eq!(r[0].payload, "g711U");
    assert_eq!(r[0].codec, "PCMU");
    assert_eq!(r[0].src, "192.0.2.1:40000");
    assert!(r[0].one_way);
    assert_eq!(t.counters().rtp_packets, 5);
}

#[test]
fn announced_endpoint_is_rtp_from_the_first_packet_with_sdp_names() {
    let mut t = MediaTracker::new();
    let a = ep(1, 40000);
    let b = ep(2, 50000);
    t.expect(
        b,
        hint(&[(0, "PCMU", 8000), (101, "telephone-event", 8000)]),
    );
    let kinds = send(&mut t, &flow(a, b), 7, 1, 2, 1);
    assert_eq!(kinds, vec![Some(MediaKind::Rtp { announced: true }); 2]);
    // Reverse direction: covered by the sender's announcement too.
    let back = send(&mut t, &flow(b, a), 8, 1, 1, 3);
    assert_eq!(back[0], Some(MediaKind::Rtp { announced: true }));
    let r = t.streams();
    assert_eq!(r[0].call_id.as_deref(), Some("call-1@x"));
    assert!(!r[0].one_way);
}

#[test]
fn random_udp_is_not_taken_for_rtp() {
    let mut t = MediaTracker::new();
    let f = flow(ep(1, 40000), ep(2, 50000));
    let mut x: u64 = 0x1234_5678;
    for n in 0..2000u64 {
        let mut d = [0u8; 60];
        for b in d.iter_mut() {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            *b = (x >> 56) as u8;
        }
        d[0] = 0x80 | (d[0] & 0x3f);
        t.push(&f, n as i64, frame(n), &d);
    }
    assert!(t.streams().is_empty());
    // Well-formed RTP on a low port is not guessed either.
    let low = flow(ep(1, 53), ep(2, 50000));
    send(&mut t, &low, 1, 1, 10, 1);
    assert!(t.streams().is_empty());
}

#[test]
fn ssrc_change_on_a_pair_is_reported_and_taken_at_once() {
    let mut t = MediaTracker::new();
    let f = flow(ep(1, 40000), ep(2, 50000));
    send(&mut t, &f, 0x1111, 1, 10, 1);
    let kinds = send(&mut t, &f, 0x2222, 500, 3, 11);
    assert_eq!(kinds[0], Some(MediaKind::Rtp { announced: false }));
    let r = t.streams();
    assert_eq!(r.len(), 2);
    assert_eq!(r[1].previous_ssrc.as_deref(), Some("0x00001111"));
    assert_eq!(r[0].previous_ssrc, None);
    assert_eq!(r[1].packets, 3);
}

#[test]
fn sdp_seen_after_the_stream_started_is_adopted() {
    let mut t = MediaTracker::new();
    let a = ep(1, 40000);
    let b = ep(2, 50000);
    let f = flow(a, b);
    send(&mut t, &f, 5, 1, 4, 1);
    assert!(!t.streams()[0].announced);
    t.expect(b, hint(&[(0, "PCMU", 8000)]));
    send(&mut t, &f, 5, 5, 1, 5);
    let r = t.streams();
    assert!(r[0].announced);
    assert_eq!(r[0].packets, 5);
}

#[test]
fn dtmf_digits_are_read_from_announced_telephone_events() {
    let mut t = MediaTracker::new();
    let a = ep(1, 40000);
    let b = ep(2, 50000);
    t.expect(b, hint(&[(8, "PCMA", 8000), (96, "telephone-event", 8000)]));
    let f = flow(a, b);
    let mut seq = 1u16;
    let mut n = 1u64;
    let mut push = |t: &mut MediaTracker, d: Vec<u8>| {
        t.push(&f, n as i64 * 20_000_000, frame(n), &d);
        n += 1;
    };
    for (ts, key) in [(8000u32, 1u8), (16000, 10), (24000, 11)] {
        for (k, dur) in [
            (0u8, 160u16),
            (0, 320),
            (0x80, 400),
            (0x80, 400),
            (0x80, 400),
        ] {
            let payload = [key, k | 10, (dur >> 8) as u8, dur as u8];
            push(&mut t, rtp(96, k == 0 && dur == 160, seq, ts, 9, &payload));
            seq += 1;
        }
    }
    let r = t.streams();
    assert_eq!(r[0].dtmf_digits, "1*#");
    assert_eq!(r[0].dtmf.len(), 3);
    assert!(r[0].dtmf.iter().all(|d| d.ended && d.packets == 5));
    assert!((r[0].dtmf[0].duration_ms - 50.0).abs() < 1e-9);
    assert_eq!(r[0].dtmf[0].volume_dbm0, -10);
    assert_eq!(r[0].payload, "telephone-event");
    assert_eq!(r[0].lost, 0);
}

#[test]
fn unannounced_101_with_event_payloads_is_read_as_dtmf() {
    let mut t = MediaTracker::new();
    let f = flow(ep(1, 40000), ep(2, 50000));
    send(&mut t, &f, 3, 1, 5, 1);
    for (i, end) in [(6u16, 0u8), (7, 0x80), (8, 0x80)] {
        let d = rtp(101, false, i, 6 * 160, 3, &[7, end | 12, 1, 0]);
        t.push(&f, i64::from(i) * 20_000_000, frame(u64::from(i)), &d);
    }
    let r = t.streams();
    assert_eq!(r[0].dtmf_digits, "7");
    assert_eq!(r[0].payload, "g711U, RTPType-101");
}

#[test]
fn rtcp_receiver_report_attaches_to_the_stream_it_describes() {
    let mut t = MediaTracker::new();
    let a = ep(1, 40000);
    let b = ep(2, 50000);
    send(&mut t, &flow(a, b), 0xabcd, 1, 5, 1);
    // b reports on a's stream from its RTCP port.
    let mut rr = rtcp::tests::rr(0x7777, &[(0xabcd, 26, 4, 5, 80)]);
    rr.extend(rtcp::tests::sdes(0x7777));
    let kind = t.push(&flow(ep(2, 50001), ep(1, 40001)), 0, frame(9), &rr);
    assert_eq!(kind, Some(MediaKind::Rtcp));
    let r = t.streams();
    let blocks = &r[0].rtcp_blocks;
    assert_eq!(blocks.len(), 1);
    assert_eq!(blocks[0].cumulative_lost, 4);
    assert_eq!(blocks[0].reporter_ssrc, "0x00007777");
    assert_eq!(blocks[0].from, "192.0.2.2:50001");
    // 80 units at 8 kHz = 10 ms; 26/256 = 10.16 %.
    assert!((blocks[0].jitter_ms - 10.0).abs() < 1e-9);
    assert!((blocks[0].fraction_lost_percent - 26.0 * 100.0 / 256.0).abs() < 1e-9);
    let flows = t.rtcp_flows();
    assert_eq!(flows.len(), 1);
    assert_eq!(flows[0].receiver_reports, 1);
    assert_eq!(flows[0].other, 1);
    // An SDES alone on an unannounced port is not taken for RTCP.
    let lone = rtcp::tests::sdes(1);
    assert_eq!(
        t.push(&flow(ep(3, 6001), ep(4, 7001)), 0, frame(10), &lone),
        None
    );
}

#[test]
fn mos_and_method_are_reported() {
    let mut t = MediaTracker::new();
    let f = flow(ep(1, 40000), ep(2, 50000));
    send(&mut t, &f, 1, 1, 50, 1);
    let r = t.streams();
    assert!(r[0].mos > 4.0 && r[0].mos <= 4.5, "{}", r[0].mos);
    assert!(r[0].mos_method.contains("G.107"));
}

#[test]
fn tcp_and_garbage_are_not_media() {
    let mut t = MediaTracker::new();
    let mut f = flow(ep(1, 40000), ep(2, 50000));
    let d = rtp(0, false, 1, 1, 1, &[0; 20]);
    f.transport = Transport::Tcp;
    assert_eq!(t.push(&f, 0, frame(1), &d), None);
    f.transport = Transport::Udp;
    assert_eq!(t.push(&f, 0, frame(1), b"INVITE sip:x SIP/2.0"), None);
    assert_eq!(t.push(&f, 0, frame(1), &[]), None);
    assert_eq!(t.push(&f, 0, frame(1), &[0x80]), None);
}

#[test]
fn duplicates_while_a_candidate_are_kept_but_repeats_alone_do_not_make_rtp() {
    let mut t = MediaTracker::new();
    let f = flow(ep(1, 40000), ep(2, 50000));
    // The same datagram eight times: never three distinct sequence numbers.
    let d = rtp(0, false, 7, 1120, 4, &[0xff; 160]);
    for n in 0..8 {
        assert_eq!(
            t.push(&f, n, frame(n as u64), &d),
            Some(MediaKind::RtpCandidate)
        );
    }
    assert!(t.streams().is_empty());
    // A stream whose second packet is duplicated: accepted at the third distinct packet, with
    // the duplicate counted (lost -1, as tshark shows it).
    let g = flow(ep(3, 40000), ep(4, 50000));
    for (n, seq) in [1u16, 2, 2, 3, 4].into_iter().enumerate() {
        let d = rtp(0, false, seq, u32::from(seq) * 160, 5, &[0xff; 160]);
        t.push(&g, n as i64 * 20_000_000, frame(n as u64), &d);
    }
    let r = t.streams();
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].packets, 5);
    assert_eq!(r[0].lost, -1);
    assert_eq!(r[0].duplicates, 1);
}

#[test]
fn announcements_are_wanted_only_where_media_could_be_found() {
    assert!(MediaTracker::new().wants_announcements());
    let none = Arc::new(endpoints::MediaEndpoints::new());
    // No datagram could be media: no announcement could ever be looked up.
    assert!(!MediaTracker::new()
        .announcements_for(none)
        .wants_announcements());
    let mut some = endpoints::MediaEndpoints::new();
    some.note(&flow(ep(1, 4000), ep(2, 4002)), &[0x80, 0]);
    let t = MediaTracker::new().announcements_for(Arc::new(some));
    assert!(t.wants_announcements());
}
