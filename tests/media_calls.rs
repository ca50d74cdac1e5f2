//! The RTP of calls, end to end through the real binary: captures built packet by packet (SIP
//! with SDP, then RTP headers written by hand) for the cases no SIP stack makes on demand: loss,
//! reordering, a duplicate, a sequence wrap, an SSRC change, one-way audio, NAT, media after
//! BYE, a re-INVITE that moves the media, a codec nobody negotiated. Each asserts what
//! `media --json` says of the streams and what `diagnose --json` finds. The corpus part checks
//! that real calls with audio in both directions get no false `no_rtp` / `one_way_audio`.

mod common;

use std::net::IpAddr;

use common::{corpus_or_say, eth_udp4, sipscope, v4, TempFile};
use serde_json::Value;
use sipscope::capture::writer::pcap_bytes;

const T0: i64 = 1_700_000_000_000_000_000;
const MS: i64 = 1_000_000;

/// One side of a call: where it signals from and where it says it takes media.
#[derive(Clone, Copy)]
struct Side {
    ip: IpAddr,
    sdp_ip: IpAddr,
    port: u16,
}

const A_SIP: u16 = 5060;
const B_SIP: u16 = 5062;

fn sdp(ip: IpAddr, port: u16, pts: &str) -> String {
    let mut s = format!(
        "v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP {pts}\r\n"
    );
    for pt in pts.split_whitespace() {
        match pt {
            "0" => s.push_str("a=rtpmap:0 PCMU/8000\r\n"),
            "8" => s.push_str("a=rtpmap:8 PCMA/8000\r\n"),
            "101" => s.push_str("a=rtpmap:101 telephone-event/8000\r\n"),
            _ => {}
        }
    }
    s.push_str("a=sendrecv\r\n");
    s
}

/// A SIP message between the two sides; `to_tag` set once the dialog exists.
fn sip(start: &str, call_id: &str, cseq: &str, to_tag: bool, body: &str) -> Vec<u8> {
    sip_tagged(start, call_id, cseq, to_tag.then_some("b2"), body)
}

/// [`sip`] with the To tag given (forks answer with tags of their own).
fn sip_tagged(start: &str, call_id: &str, cseq: &str, to_tag: Option<&str>, body: &str) -> Vec<u8> {
    let tag = to_tag.map(|t| format!(";tag={t}")).unwrap_or_default();
    let ctype = if body.is_empty() {
        String::new()
    } else {
        "Content-Type: application/sdp\r\n".to_string()
    };
    format!(
        "{start}\r\n\
         Via: SIP/2.0/UDP 10.0.0.1:{A_SIP};branch=z9hG4bK-{call_id}-{}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:alice@10.0.0.1>;tag=a1\r\n\
         To: <sip:bob@10.0.0.2>{tag}\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: {cseq}\r\n\
         Contact: <sip:alice@10.0.0.1:{A_SIP}>\r\n\
         {ctype}Content-Length: {}\r\n\r\n{body}",
        cseq.replace(' ', "-"),
        body.len()
    )
    .into_bytes()
}

/// RTP header (version 2, no CSRC) and 160 bytes of payload.
fn rtp(pt: u8, marker: bool, seq: u16, ts: u32, ssrc: u32) -> Vec<u8> {
    let mut p = vec![0x80, pt | if marker { 0x80 } else { 0 }];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend(std::iter::repeat_n(0xd5, 160));
    p
}

/// A capture being built: packets with their times, sorted when written.
#[derive(Default)]
struct Cap {
    packets: Vec<(i64, Vec<u8>)>,
}

impl Cap {
    fn a_to_b(&mut self, t: i64, msg: Vec<u8>, a: Side, b: Side) {
        self.packets
            .push((t, eth_udp4(a.ip, A_SIP, b.ip, B_SIP, &msg)));
    }
    fn b_to_a(&mut self, t: i64, msg: Vec<u8>, a: Side, b: Side) {
        self.packets
            .push((t, eth_udp4(b.ip, B_SIP, a.ip, A_SIP, &msg)));
    }

    /// INVITE with A's SDP, 200 with B's, ACK, from `t`; returns the time after the ACK.
    fn setup(&mut self, t: i64, call_id: &str, a: Side, b: Side, pts: &str) -> i64 {
        let inv = sip(
            "INVITE sip:bob@10.0.0.2 SIP/2.0",
            call_id,
            "1 INVITE",
            false,
            &sdp(a.sdp_ip, a.port, pts),
        );
        self.a_to_b(t, inv, a, b);
        let ok = sip(
            "SIP/2.0 200 OK",
            call_id,
            "1 INVITE",
            true,
            &sdp(b.sdp_ip, b.port, pts),
        );
        self.b_to_a(t + 50 * MS, ok, a, b);
        let ack = sip("ACK sip:bob@10.0.0.2 SIP/2.0", call_id, "1 ACK", true, "");
        self.a_to_b(t + 60 * MS, ack, a, b);
        t + 70 * MS
    }

    fn bye(&mut self, t: i64, call_id: &str, a: Side, b: Side) {
        let bye = sip("BYE sip:bob@10.0.0.2 SIP/2.0", call_id, "3 BYE", true, "");
        self.a_to_b(t, bye, a, b);
        let ok = sip("SIP/2.0 200 OK", call_id, "3 BYE", true, "");
        self.b_to_a(t + 10 * MS, ok, a, b);
    }

    /// RTP every 20 ms from `src` to `dst`, one packet per given sequence offset (so loss,
    /// reordering and duplicates are written as the list of offsets).
    #[allow(clippy::too_many_arguments)]
    fn stream(
        &mut self,
        t: i64,
        src: (IpAddr, u16),
        dst: (IpAddr, u16),
        ssrc: u32,
        pt: u8,
        seq0: u16,
        offsets: &[u16],
    ) {
        for (i, &k) in offsets.iter().enumerate() {
            let seq = seq0.wrapping_add(k);
            let ts = 1000u32.wrapping_add(u32::from(k) * 160);
            let at = t + i as i64 * 20 * MS;
            self.packets.push((
                at,
                eth_udp4(src.0, src.1, dst.0, dst.1, &rtp(pt, i == 0, seq, ts, ssrc)),
            ));
        }
    }

    fn write(mut self, name: &str) -> TempFile {
        self.packets.sort_by_key(|p| p.0);
        TempFile::new(name, &pcap_bytes(1, &self.packets))
    }
}

fn json(args: &[&str]) -> Value {
    let out = sipscope(args);
    assert!(
        out.status.success(),
        "sipscope {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn streams(file: &str) -> Vec<Value> {
    json(&["media", "--json", file])["streams"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn stream<'a>(all: &'a [Value], src: &str, dst: &str) -> &'a Value {
    all.iter()
        .find(|s| s["src"] == src && s["dst"] == dst)
        .unwrap_or_else(|| panic!("no stream {src} -> {dst} in {all:#?}"))
}

/// The diagnosed call with this Call-ID.
fn call(file: &str, call_id: &str) -> Value {
    let doc = json(&["diagnose", "--json", file]);
    doc["calls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["call_id"] == call_id)
        .cloned()
        .unwrap_or_else(|| panic!("no call {call_id}"))
}

/// (code, severity) of every media finding.
fn media_codes(c: &Value) -> Vec<(String, String)> {
    c["media"]
        .as_array()
        .map(|v| {
            v.iter()
                .map(|f| {
                    (
                        f["code"].as_str().unwrap().to_string(),
                        f["severity"].as_str().unwrap().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn has(c: &Value, code: &str) -> bool {
    media_codes(c).iter().any(|(k, _)| k == code)
}

fn a() -> Side {
    Side {
        ip: v4(10, 0, 0, 1),
        sdp_ip: v4(10, 0, 0, 1),
        port: 20000,
    }
}

fn b() -> Side {
    Side {
        ip: v4(10, 0, 0, 2),
        sdp_ip: v4(10, 0, 0, 2),
        port: 30000,
    }
}

fn seq(n: u16) -> Vec<u16> {
    (0..n).collect()
}

/// Audio both ways, nothing odd: the streams carry the Call-ID and the call gets no media
/// finding; the `streams` list of the diagnosis names both.
#[test]
fn a_clean_call_has_its_streams_and_no_media_finding() {
    let (a, b) = (a(), b());
    let mut cap = Cap::default();
    let t = cap.setup(T0, "clean", a, b, "0 101");
    cap.stream(t, (a.ip, a.port), (b.ip, b.port), 0x11, 0, 100, &seq(150));
    cap.stream(
        t + 5 * MS,
        (b.ip, b.port),
        (a.ip, a.port),
        0x22,
        0,
        7,
        &seq(150),
    );
    cap.bye(t + 3100 * MS, "clean", a, b);
    let f = cap.write("clean.pcap");
    let all = streams(f.path());
    assert_eq!(all.len(), 2);
    for s in &all {
        assert_eq!(s["call_id"], "clean");
        assert_eq!(s["announced"], true);
        assert_eq!(s["packets"], 150);
        assert_eq!(s["lost"], 0);
        assert_eq!(s["codec"], "PCMU");
    }
    let c = call(f.path(), "clean");
    assert_eq!(c["outcome"], "completed");
    assert!(media_codes(&c).is_empty(), "{:#?}", c["media"]);
    assert_eq!(c["streams"].as_array().map(Vec::len), Some(2));
}

/// Loss (12 of 200), a swapped pair, a duplicate and a sequence number wrapping 65535 -> 0 in
/// one stream: the counts are tshark's and the loss is an error (over 5%).
#[test]
fn loss_reordering_duplicate_and_wrap() {
    let (a, b) = (a(), b());
    let mut cap = Cap::default();
    let t = cap.setup(T0, "lossy", a, b, "0");
    // 200 offsets, 12 dropped (every 16th from 8), 50 and 51 swapped, 100 sent twice.
    let mut offs: Vec<u16> = (0..200u16).filter(|k| k % 16 != 8).collect();
    assert_eq!(offs.len(), 188);
    let i50 = offs.iter().position(|&k| k == 50).unwrap();
    offs.swap(i50, i50 + 1);
    let i100 = offs.iter().position(|&k| k == 100).unwrap();
    offs.insert(i100 + 1, 100);
    // Start near the top so the sequence wraps in the middle.
    cap.stream(t, (a.ip, a.port), (b.ip, b.port), 0xAAAA, 0, 65_436, &offs);
    cap.stream(
        t + 5 * MS,
        (b.ip, b.port),
        (a.ip, a.port),
        0xBBBB,
        0,
        1,
        &seq(200),
    );
    cap.bye(t + 4100 * MS, "lossy", a, b);
    let f = cap.write("lossy.pcap");
    let all = streams(f.path());
    let s = stream(&all, "10.0.0.1:20000", "10.0.0.2:30000");
    assert_eq!(s["packets"], 189);
    assert_eq!(s["expected"], 200, "the wrap must not count 65536 lost");
    // tshark's lost: expected minus received, duplicates included.
    assert_eq!(s["lost"], 11);
    assert_eq!(s["duplicates"], 1);
    assert!(s["out_of_order"].as_u64().unwrap() >= 1);
    let c = call(f.path(), "lossy");
    assert!(
        media_codes(&c).contains(&("packet_loss".into(), "error".into())),
        "{:#?}",
        c["media"]
    );
    // The clean direction is not blamed.
    let texts: Vec<&str> = c["media"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == "packet_loss")
        .map(|f| f["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts.len(), 1);
    assert!(texts[0].contains("from 10.0.0.1:20000"), "{texts:?}");
    // Evidence points at the SDP messages: the INVITE (0) and the 200 (1).
    let ev: Vec<u64> = c["media"][0]["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_u64().unwrap())
        .collect();
    assert_eq!(ev, vec![0, 1]);
}

/// A new SSRC on the same pair without renegotiation: a second stream that names the first,
/// and an `ssrc_change` warning.
#[test]
fn ssrc_change_mid_call() {
    let (a, b) = (a(), b());
    let mut cap = Cap::default();
    let t = cap.setup(T0, "ssrc", a, b, "0");
    cap.stream(t, (a.ip, a.port), (b.ip, b.port), 0x1111, 0, 10, &seq(100));
    cap.stream(
        t + 2000 * MS,
        (a.ip, a.port),
        (b.ip, b.port),
        0x2222,
        0,
        5000,
        &seq(100),
    );
    cap.stream(
        t + 5 * MS,
        (b.ip, b.port),
        (a.ip, a.port),
        0x3333,
        0,
        1,
        &seq(200),
    );
    cap.bye(t + 4100 * MS, "ssrc", a, b);
    let f = cap.write("ssrc.pcap");
    let all = streams(f.path());
    let second = all
        .iter()
        .find(|s| s["ssrc"] == "0x00002222")
        .expect("second SSRC");
    assert_eq!(second["previous_ssrc"], "0x00001111");
    assert_eq!(second["call_id"], "ssrc");
    let c = call(f.path(), "ssrc");
    assert!(
        media_codes(&c).contains(&("ssrc_change".into(), "warning".into())),
        "{:#?}",
        c["media"]
    );
}

/// Audio one way only, and in the same capture a second answered call with no RTP at all:
/// `one_way_audio` for the first, `no_rtp` for the second (the capture does see media).
#[test]
fn one_way_audio_and_no_rtp() {
    let (a, b) = (a(), b());
    let mut cap = Cap::default();
    let t = cap.setup(T0, "oneway", a, b, "0");
    cap.stream(t, (a.ip, a.port), (b.ip, b.port), 0x1, 0, 1, &seq(150));
    cap.bye(t + 3100 * MS, "oneway", a, b);
    let a2 = Side { port: 20010, ..a };
    let b2 = Side { port: 30010, ..b };
    let t2 = cap.setup(T0 + 10_000 * MS, "silent", a2, b2, "0");
    cap.bye(t2 + 3000 * MS, "silent", a2, b2);
    let f = cap.write("oneway.pcap");
    let all = streams(f.path());
    assert_eq!(all.len(), 1);
    assert_eq!(all[0]["one_way"], true);
    let c = call(f.path(), "oneway");
    assert!(
        media_codes(&c).contains(&("one_way_audio".into(), "warning".into())),
        "{:#?}",
        c["media"]
    );
    assert!(!has(&c, "no_rtp"));
    let c2 = call(f.path(), "silent");
    assert!(
        media_codes(&c2).contains(&("no_rtp".into(), "warning".into())),
        "{:#?}",
        c2["media"]
    );
    assert!(!has(&c2, "one_way_audio"));
}

/// A capture with no RTP at all says nothing about media: no `no_rtp`, no `media` key.
#[test]
fn signalling_only_capture_gets_no_media_finding() {
    let (a, b) = (a(), b());
    let mut cap = Cap::default();
    let t = cap.setup(T0, "sigonly", a, b, "0");
    cap.bye(t + 5000 * MS, "sigonly", a, b);
    let f = cap.write("sigonly.pcap");
    let c = call(f.path(), "sigonly");
    assert_eq!(c["outcome"], "completed");
    assert!(c.get("media").is_none(), "{c:#?}");
    assert!(c.get("streams").is_none());
}

/// B announces a private address but sits behind NAT at 203.0.113.5: A's RTP goes to the
/// public address (latched), B's comes from it.
#[test]
fn nat_rtp_to_unexpected_address() {
    let a = a();
    let b = Side {
        ip: v4(203, 0, 113, 5),
        sdp_ip: v4(192, 168, 1, 20),
        port: 30000,
    };
    let mut cap = Cap::default();
    let t = cap.setup(T0, "nat", a, b, "0");
    cap.stream(t, (a.ip, a.port), (b.ip, 31000), 0x1, 0, 1, &seq(150));
    cap.stream(
        t + 5 * MS,
        (b.ip, 31000),
        (a.ip, a.port),
        0x2,
        0,
        1,
        &seq(150),
    );
    cap.bye(t + 3100 * MS, "nat", a, b);
    let f = cap.write("nat.pcap");
    let all = streams(f.path());
    assert_eq!(all.len(), 2);
    assert!(all.iter().all(|s| s["call_id"] == "nat"));
    let c = call(f.path(), "nat");
    let to: Vec<&Value> = c["media"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == "rtp_to_unexpected_address")
        .collect();
    assert_eq!(to.len(), 1, "{:#?}", c["media"]);
    let text = to[0]["text"].as_str().unwrap();
    assert!(text.contains("203.0.113.5:31000"), "{text}");
    assert!(text.contains("192.168.1.20:30000"), "{text}");
    assert!(!has(&c, "one_way_audio"), "{:#?}", c["media"]);
}

/// One side keeps sending for 3 s after the BYE.
#[test]
fn media_after_bye() {
    let (a, b) = (a(), b());
    let mut cap = Cap::default();
    let t = cap.setup(T0, "ghost", a, b, "0");
    cap.stream(t, (a.ip, a.port), (b.ip, b.port), 0x1, 0, 1, &seq(150));
    // 300 packets: 6 s, the BYE comes at 3 s.
    cap.stream(
        t + 5 * MS,
        (b.ip, b.port),
        (a.ip, a.port),
        0x2,
        0,
        1,
        &seq(300),
    );
    cap.bye(t + 3000 * MS, "ghost", a, b);
    let f = cap.write("ghost.pcap");
    let c = call(f.path(), "ghost");
    let found: Vec<&Value> = c["media"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == "media_after_bye")
        .collect();
    assert_eq!(found.len(), 1, "{:#?}", c["media"]);
    assert!(found[0]["text"]
        .as_str()
        .unwrap()
        .contains("from 10.0.0.2:30000"));
}

/// A re-INVITE moves A's media to another port: the new stream is found through the new SDP
/// and attached to the call, and nothing is reported as one-way or misdirected.
#[test]
fn reinvite_moves_the_media_port() {
    let (a, b) = (a(), b());
    let mut cap = Cap::default();
    let t = cap.setup(T0, "moved", a, b, "0");
    cap.stream(t, (a.ip, a.port), (b.ip, b.port), 0x1, 0, 1, &seq(250));
    cap.stream(
        t + 5 * MS,
        (b.ip, b.port),
        (a.ip, a.port),
        0x2,
        0,
        1,
        &seq(100),
    );
    let re = t + 2010 * MS;
    let inv = sip(
        "INVITE sip:bob@10.0.0.2 SIP/2.0",
        "moved",
        "2 INVITE",
        true,
        &sdp(a.ip, 20002, "0"),
    );
    cap.a_to_b(re, inv, a, b);
    let ok = sip(
        "SIP/2.0 200 OK",
        "moved",
        "2 INVITE",
        true,
        &sdp(b.ip, b.port, "0"),
    );
    cap.b_to_a(re + 20 * MS, ok, a, b);
    let ack = sip("ACK sip:bob@10.0.0.2 SIP/2.0", "moved", "2 ACK", true, "");
    cap.a_to_b(re + 30 * MS, ack, a, b);
    // B now sends to the new port (same SSRC: a new destination is a new stream).
    cap.stream(
        re + 45 * MS,
        (b.ip, b.port),
        (a.ip, 20002),
        0x2,
        0,
        101,
        &seq(100),
    );
    cap.bye(t + 5100 * MS, "moved", a, b);
    let f = cap.write("moved.pcap");
    let all = streams(f.path());
    let moved = stream(&all, "10.0.0.2:30000", "10.0.0.1:20002");
    assert_eq!(moved["call_id"], "moved");
    assert_eq!(moved["announced"], true);
    assert_eq!(moved["packets"], 100);
    let c = call(f.path(), "moved");
    assert_eq!(c["streams"].as_array().map(Vec::len), Some(3));
    for code in ["one_way_audio", "rtp_to_unexpected_address", "no_rtp"] {
        assert!(!has(&c, code), "{code}: {:#?}", c["media"]);
    }
}

/// A sends PCMA while both SDPs list only PCMU; and a 3 s hole in B's stream.
#[test]
fn codec_mismatch_and_silence_gap() {
    let (a, b) = (a(), b());
    let mut cap = Cap::default();
    let t = cap.setup(T0, "odd", a, b, "0");
    cap.stream(t, (a.ip, a.port), (b.ip, b.port), 0x1, 8, 1, &seq(200));
    cap.stream(
        t + 5 * MS,
        (b.ip, b.port),
        (a.ip, a.port),
        0x2,
        0,
        1,
        &seq(50),
    );
    // Same stream, 3 s after its last packet, sequence going on (no marker after the first).
    let mut later = Cap::default();
    later.stream(
        t + 5 * MS + 49 * 20 * MS + 3000 * MS,
        (b.ip, b.port),
        (a.ip, a.port),
        0x2,
        0,
        1,
        &(50..100).collect::<Vec<u16>>(),
    );
    // Take away the marker of the first packet after the gap.
    if let Some((_, p)) = later.packets.first_mut() {
        let rtp_at = p.len() - 172 + 1;
        p[rtp_at] &= 0x7f;
    }
    cap.packets.extend(later.packets);
    cap.bye(t + 4500 * MS, "odd", a, b);
    let f = cap.write("odd.pcap");
    let c = call(f.path(), "odd");
    let codes = media_codes(&c);
    assert!(
        codes.contains(&("codec_mismatch".into(), "warning".into())),
        "{codes:?}"
    );
    assert!(
        codes.contains(&("silence_gap".into(), "warning".into())),
        "{codes:?}"
    );
    let mismatch = c["media"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "codec_mismatch")
        .unwrap();
    assert!(mismatch["text"].as_str().unwrap().contains("PCMA"));
}

/// Real calls with audio both ways: every answered call with streams gets no `no_rtp` and no
/// `one_way_audio`, and the NAT call of the voipshark capture is recognised.
#[test]
fn corpus_calls_with_rtp_get_no_false_alarm() {
    let Some(dir) = corpus_or_say("calls with RTP") else {
        return;
    };
    let cases: &[(&str, &str)] = &[
        ("voipshark-sip-rtp-normal-call.pcap", "3cfe1c77"),
        ("voipshark-sip-rtp-normal-call.pcap", "54be7fcc"),
        ("heplify-rtp-rtcp-sip-ipv4-udp.pcap", "12013223"),
        ("goffinet-rtp-protocol-prack.pcap", "1907983263"),
        ("michalcab-sip-invite-401-auth.pcap", "681270918"),
        // The B2BUA moved the media between the phones: the other leg's streams count.
        ("goffinet-sip-2phones-b2bua-asterisk.pcapng", "37686afc"),
    ];
    for (file, prefix) in cases {
        let path = dir.join(file);
        let doc = json(&["diagnose", "--json", path.to_str().unwrap()]);
        let c = doc["calls"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["call_id"].as_str().unwrap().starts_with(prefix))
            .unwrap_or_else(|| panic!("{file}: no call {prefix}"));
        let n = c["streams"].as_array().map_or(0, Vec::len);
        assert!(n >= 2, "{file} {prefix}: {n} streams");
        for code in ["no_rtp", "one_way_audio"] {
            assert!(!has(c, code), "{file} {prefix}: {code} {:#?}", c["media"]);
        }
    }
    let path = dir.join("voipshark-sip-rtp-normal-call.pcap");
    let nat = call(
        path.to_str().unwrap(),
        "54be7fcc-b009-4326-a81e-371a5a93c4b6",
    );
    assert!(has(&nat, "rtp_to_unexpected_address"), "{nat:#?}");
    // Every corpus file goes through without a failure, and no call without RTP in a capture
    // without RTP is told `no_rtp`.
    for entry in std::fs::read_dir(&dir).unwrap() {
        let p = entry.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if !(name.ends_with(".pcap") || name.ends_with(".pcapng")) {
            continue;
        }
        let out = sipscope(&["diagnose", "--json", p.to_str().unwrap()]);
        assert!(out.status.success(), "{name}");
        let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
        let media = json(&["media", "--json", p.to_str().unwrap()]);
        if media["streams"].as_array().is_some_and(Vec::is_empty) {
            for c in doc["calls"].as_array().unwrap() {
                assert!(!has(c, "no_rtp"), "{name}: {c:#?}");
            }
        }
    }
}

fn stdout(args: &[&str]) -> String {
    let out = sipscope(args);
    assert!(
        out.status.success(),
        "sipscope {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The ladder draws a band per stream after the message at or before its first packet (here
/// the ACK), pointing from sender to receiver, in text, Mermaid and SVG alike.
#[test]
fn ladder_draws_a_band_per_stream() {
    let (a, b) = (a(), b());
    let mut cap = Cap::default();
    let t = cap.setup(T0, "bands", a, b, "0");
    cap.stream(t, (a.ip, a.port), (b.ip, b.port), 0x11, 0, 1, &seq(150));
    cap.stream(
        t + 5 * MS,
        (b.ip, b.port),
        (a.ip, a.port),
        0x22,
        0,
        1,
        &seq(120),
    );
    cap.bye(t + 3100 * MS, "bands", a, b);
    let f = cap.write("bands.pcap");

    let text = stdout(&["ladder", "--width", "100", f.path()]);
    let lines: Vec<&str> = text.lines().collect();
    let pos = |needle: &str| {
        lines
            .iter()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("{needle} not in\n{text}"))
    };
    let ack = pos("ACK bob");
    let first = pos("RTP PCMU 150 pkts");
    let second = pos("RTP PCMU 120 pkts");
    let bye = pos("BYE bob");
    assert!(ack < first && first < second && second < bye, "{text}");
    // A (left column) sends the first stream: the band points right; the second points left.
    assert!(lines[first + 1].contains("=>|"), "{text}");
    assert!(lines[second + 1].contains("|<="), "{text}");

    let mermaid = stdout(&["ladder", "--format", "mermaid", f.path()]);
    let notes: Vec<&str> = mermaid
        .lines()
        .filter(|l| l.contains("Note over A,B: RTP PCMU"))
        .collect();
    assert_eq!(notes.len(), 2, "{mermaid}");
    assert!(notes[0].contains("10.0.0.1#58;20000 -#gt; 10.0.0.2#58;30000"));

    let svg = stdout(&["ladder", "--format", "svg", f.path()]);
    assert_eq!(svg.matches(r#"class="media success""#).count(), 2, "{svg}");
}

/// A lossy stream is drawn in the failure tone.
#[test]
fn ladder_band_of_a_lossy_stream_is_a_failure() {
    let (a, b) = (a(), b());
    let mut cap = Cap::default();
    let t = cap.setup(T0, "lossband", a, b, "0");
    let offs: Vec<u16> = (0..200u16).filter(|k| k % 10 != 0).collect();
    cap.stream(t, (a.ip, a.port), (b.ip, b.port), 0x11, 0, 1, &offs);
    cap.stream(
        t + 5 * MS,
        (b.ip, b.port),
        (a.ip, a.port),
        0x22,
        0,
        1,
        &seq(150),
    );
    cap.bye(t + 4000 * MS, "lossband", a, b);
    let f = cap.write("lossband.pcap");
    let svg = stdout(&["ladder", "--format", "svg", f.path()]);
    assert_eq!(svg.matches(r#"class="media failure""#).count(), 1, "{svg}");
    assert_eq!(svg.matches(r#"class="media success""#).count(), 1, "{svg}");
}

fn sample(name: &str) -> String {
    format!("{}/samples/{name}.pcap", env!("CARGO_MANIFEST_DIR"))
}

/// The sipp samples with real RTP on loopback: audio both ways is clean; without the echo it
/// is one-way, and said so with the SDP messages as evidence.
#[test]
fn sipp_rtp_samples() {
    let both = sample("answered-call-rtp");
    let all = streams(&both);
    assert_eq!(all.len(), 2, "{all:#?}");
    for s in &all {
        assert_eq!(s["packets"], 236);
        assert_eq!(s["lost"], 0);
        assert_eq!(s["codec"], "PCMA");
        assert_eq!(s["announced"], true);
        assert!(s["call_id"].as_str().unwrap().ends_with("@127.0.0.191"));
    }
    let doc = json(&["diagnose", "--json", &both]);
    let c = &doc["calls"][0];
    assert_eq!(c["outcome"], "completed");
    assert!(media_codes(c).is_empty(), "{:#?}", c["media"]);

    let one = sample("one-way-rtp");
    let all = streams(&one);
    assert_eq!(all.len(), 1);
    assert_eq!(all[0]["src"], "127.0.0.201:6000");
    assert_eq!(all[0]["one_way"], true);
    let doc = json(&["diagnose", "--json", &one]);
    let c = &doc["calls"][0];
    assert_eq!(
        media_codes(c),
        vec![("one_way_audio".into(), "warning".into())]
    );
    let ev: Vec<&str> = c["media"][0]["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["time"].as_str().unwrap())
        .collect();
    assert_eq!(ev.len(), 2, "the INVITE and the 200 with SDP");
}

/// Early media: the callee's 183 carries its SDP and it plays ringback before answering. That
/// one-way stretch is not one-way audio; after the 200 both sides talk.
#[test]
fn early_media_after_183_is_not_one_way() {
    let (a, b) = (a(), b());
    let mut cap = Cap::default();
    let inv = sip(
        "INVITE sip:bob@10.0.0.2 SIP/2.0",
        "early",
        "1 INVITE",
        false,
        &sdp(a.ip, a.port, "0"),
    );
    cap.a_to_b(T0, inv, a, b);
    let ringing = sip(
        "SIP/2.0 183 Session Progress",
        "early",
        "1 INVITE",
        true,
        &sdp(b.ip, b.port, "0"),
    );
    cap.b_to_a(T0 + 20 * MS, ringing, a, b);
    // 2 s of ringback from B, on its own SSRC.
    cap.stream(
        T0 + 40 * MS,
        (b.ip, b.port),
        (a.ip, a.port),
        0x77,
        0,
        1,
        &seq(100),
    );
    let ok = sip(
        "SIP/2.0 200 OK",
        "early",
        "1 INVITE",
        true,
        &sdp(b.ip, b.port, "0"),
    );
    cap.b_to_a(T0 + 2100 * MS, ok, a, b);
    let ack = sip("ACK sip:bob@10.0.0.2 SIP/2.0", "early", "1 ACK", true, "");
    cap.a_to_b(T0 + 2110 * MS, ack, a, b);
    cap.stream(
        T0 + 2120 * MS,
        (a.ip, a.port),
        (b.ip, b.port),
        0x88,
        0,
        1,
        &seq(100),
    );
    cap.stream(
        T0 + 2125 * MS,
        (b.ip, b.port),
        (a.ip, a.port),
        0x99,
        0,
        500,
        &seq(100),
    );
    cap.bye(T0 + 4200 * MS, "early", a, b);
    let f = cap.write("early.pcap");
    let all = streams(f.path());
    assert!(all.iter().all(|s| s["call_id"] == "early"), "{all:#?}");
    let ringback = all.iter().find(|s| s["ssrc"] == "0x00000077").unwrap();
    assert_eq!(ringback["packets"], 100);
    let c = call(f.path(), "early");
    assert_eq!(c["outcome"], "completed");
    assert!(!has(&c, "one_way_audio"), "{:#?}", c["media"]);
    assert!(!has(&c, "no_rtp"));
}

/// Without its media (the library's plain `diagnose`), a call gets no media finding at all.
#[test]
fn plain_diagnose_has_no_media_findings() {
    use sipscope::analysis;
    use sipscope::cli::Selection;
    use sipscope::dialog::Filter;
    let sel = Selection {
        files: vec![sample("one-way-rtp")],
        filter: Filter::default(),
        roles: Vec::new(),
    };
    let loaded = analysis::load(&sel, false, &mut Vec::new()).unwrap();
    let c = &loaded.calls[0];
    let plain = sipscope::diagnose::diagnose(c);
    assert!(plain.media.is_empty() && plain.streams.is_empty());
    let streams = loaded.media.streams();
    let capture = sipscope::diagnose::CaptureStreams::new(&streams);
    let mine = capture.of_call(c);
    assert_eq!(mine.len(), 1);
    let view = sipscope::diagnose::MediaView {
        streams: &mine,
        capture: &capture,
        capture_end_ns: None,
    };
    let full = sipscope::diagnose::diagnose_with_media(c, &view);
    assert_eq!(full.streams.len(), 1);
    assert!(full.media.iter().any(|f| f.code == "one_way_audio"));
    // Everything else is the same diagnosis.
    assert_eq!(full.outcome, plain.outcome);
    assert_eq!(full.sdp, plain.sdp);
}

/// A forked call: the INVITE (one offer, seen by both forks) reaches two phones through a
/// proxy; each answers 183 with SDP of its own and plays early media from its own address,
/// then the first answers 200 and audio flows both ways with it. Each stream must carry the
/// dialog (From tag + To tag) whose SDP announced it, in `media --json` and in the export,
/// even the two early streams that go to the same address of the caller; a stream only the
/// forked offer announced has none.
#[test]
fn forked_early_media_streams_stay_with_their_own_dialog() {
    let a = v4(10, 0, 0, 1);
    let proxy = v4(10, 0, 0, 10);
    let (b1, b2) = (v4(10, 0, 0, 2), v4(10, 0, 0, 3));
    let (pa, p1, p2) = (4000, 6000, 6002);
    let id = "forked";
    let mut cap = Cap::default();
    let to_a = |cap: &mut Cap, t: i64, msg: Vec<u8>| {
        cap.packets.push((t, eth_udp4(proxy, 5060, a, A_SIP, &msg)));
    };
    let inv = sip_tagged(
        "INVITE sip:bob@10.0.0.10 SIP/2.0",
        id,
        "1 INVITE",
        None,
        &sdp(a, pa, "0"),
    );
    cap.packets
        .push((T0, eth_udp4(a, A_SIP, proxy, 5060, &inv)));
    let p183 = |tag: &str, ip: IpAddr, port: u16| {
        sip_tagged(
            "SIP/2.0 183 Session Progress",
            id,
            "1 INVITE",
            Some(tag),
            &sdp(ip, port, "0"),
        )
    };
    to_a(&mut cap, T0 + 20 * MS, p183("fork1", b1, p1));
    to_a(&mut cap, T0 + 30 * MS, p183("fork2", b2, p2));
    // Early media from both phones to the caller's one address.
    cap.stream(T0 + 40 * MS, (b1, p1), (a, pa), 0x11, 0, 1, &seq(60));
    cap.stream(T0 + 50 * MS, (b2, p2), (a, pa), 0x22, 0, 1, &seq(60));
    // And from a port no SDP named (a NAT in front of one phone): only the forked offer
    // announced where it goes, which names no single dialog.
    cap.stream(T0 + 60 * MS, (b2, 7777), (a, pa), 0x55, 0, 1, &seq(60));
    let ok = sip_tagged(
        "SIP/2.0 200 OK",
        id,
        "1 INVITE",
        Some("fork1"),
        &sdp(b1, p1, "0"),
    );
    to_a(&mut cap, T0 + 1500 * MS, ok);
    let ack = sip_tagged(
        "ACK sip:bob@10.0.0.2 SIP/2.0",
        id,
        "1 ACK",
        Some("fork1"),
        "",
    );
    cap.packets
        .push((T0 + 1510 * MS, eth_udp4(a, A_SIP, proxy, 5060, &ack)));
    cap.stream(T0 + 1520 * MS, (a, pa), (b1, p1), 0x33, 0, 1, &seq(60));
    cap.stream(T0 + 1525 * MS, (b1, p1), (a, pa), 0x44, 0, 500, &seq(60));
    let bye = sip_tagged(
        "BYE sip:bob@10.0.0.2 SIP/2.0",
        id,
        "2 BYE",
        Some("fork1"),
        "",
    );
    cap.packets
        .push((T0 + 3000 * MS, eth_udp4(a, A_SIP, proxy, 5060, &bye)));
    let f = cap.write("forked-early-media.pcap");

    let tags = |s: &Value| {
        (
            s["dialog"]["from_tag"].as_str().unwrap_or("-").to_string(),
            s["dialog"]["to_tag"].as_str().unwrap_or("-").to_string(),
        )
    };
    let fork = |t: &str| ("a1".to_string(), t.to_string());
    let by_ssrc = |all: &[Value], ssrc: &str| {
        all.iter()
            .find(|s| s["ssrc"] == ssrc)
            .cloned()
            .unwrap_or_else(|| panic!("no stream {ssrc} in {all:#?}"))
    };
    let expect = [
        ("0x00000011", "fork1"),
        ("0x00000022", "fork2"),
        ("0x00000033", "fork1"),
        ("0x00000044", "fork1"),
    ];
    let all = streams(f.path());
    assert_eq!(all.len(), 5, "{all:#?}");
    for (ssrc, t) in expect {
        assert_eq!(tags(&by_ssrc(&all, ssrc)), fork(t), "media --json, {ssrc}");
    }
    let natted = by_ssrc(&all, "0x00000055");
    assert_eq!(natted["call_id"], id, "attached to the call by the offer");
    assert!(natted["dialog"].is_null(), "{natted:#?}");
    let doc = json(&["export", f.path()]);
    let c = doc["calls"]
        .as_array()
        .and_then(|v| v.iter().find(|c| c["call_id"] == id))
        .unwrap_or_else(|| panic!("no call {id} in the export"));
    // Both forks are dialogs of the call; the streams name them by the same tags.
    let dialogs: Vec<(String, String)> = c["dialogs"]
        .as_array()
        .unwrap()
        .iter()
        .map(tags_of_dialog)
        .collect();
    assert!(dialogs.contains(&fork("fork1")) && dialogs.contains(&fork("fork2")));
    let exported = c["streams"].as_array().cloned().unwrap_or_default();
    assert_eq!(exported.len(), 5, "{exported:#?}");
    for (ssrc, t) in expect {
        assert_eq!(tags(&by_ssrc(&exported, ssrc)), fork(t), "export, {ssrc}");
    }
    assert!(by_ssrc(&exported, "0x00000055")["dialog"].is_null());
}

fn tags_of_dialog(d: &Value) -> (String, String) {
    (
        d["from_tag"].as_str().unwrap_or("-").to_string(),
        d["to_tag"].as_str().unwrap_or("-").to_string(),
    )
}
