//! Unit tests of the export builder, the document writer and the frame copier. The binary, the
//! schema and the real captures are tested in `tests/export.rs`.

use super::pcap::{write_frames, FrameSet};
use super::*;
use crate::capture::writer::{pcap_bytes, PcapNgWriter};
use crate::capture::{linktype, Input};
use crate::dialog::testkit::*;
use crate::dialog::{analyze_call, Call};
use crate::ingest::InputBooks;

fn ctx(raw: bool) -> ExportContext {
    ExportContext {
        files: vec!["a.pcap".into()],
        raw,
    }
}

/// Caller 1 -> proxy 2 -> callee 3; the callee answers 486 and the proxy passes it on; the
/// caller retransmits its INVITE once.
fn busy_call() -> Call {
    let inv1 = invite("busy-1", 1, 2, 0, "z9hG4bK-a", 1);
    let again1 = again(&inv1, 500);
    let inv2 = fwd(&inv1, 2, "z9hG4bK-b", 3, 5);
    let r2 = reply(&inv2, 486, 600, Some("callee"));
    let r1 = reply(&inv1, 486, 602, Some("callee"));
    analyze_call(vec![inv1, again1, inv2, r2, r1], &[])
}

fn to_value(c: &CallJson<'_>) -> serde_json::Value {
    let mut buf = Vec::new();
    write_line(&mut buf, c).unwrap();
    assert_eq!(buf.iter().filter(|b| **b == b'\n').count(), 1, "one line");
    serde_json::from_slice(&buf).unwrap()
}

#[test]
fn a_call_carries_its_annotation_roles_and_repeats() {
    let call = busy_call();
    let ctx = ctx(false);
    let v = to_value(&CallJson::build(&call, &ctx));
    assert_eq!(v["schema_version"], SCHEMA_VERSION);
    assert_eq!(v["call_id"], "busy-1");
    assert_eq!(v["final_code"], 486);
    assert_eq!(v["failed"], true);
    assert_eq!(v["final_generated_by"], ip(3).to_string());
    let msgs = v["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), call.messages.len());
    // Every message names its frame, its file, and its place in the call.
    for (i, (m, orig)) in msgs.iter().zip(&call.messages).enumerate() {
        assert_eq!(m["index"], i);
        assert_eq!(m["frame"], orig.frame.number);
        assert_eq!(m["file"], "a.pcap");
        assert_eq!(m["epoch_us"], orig.frame.ts_ns / 1000);
        assert!(m.get("raw").is_none(), "raw only with --raw");
    }
    let retx: Vec<_> = msgs
        .iter()
        .filter(|m| m["retransmission"] == true)
        .collect();
    assert_eq!(retx.len(), 1);
    let orig = retx[0]["original"].as_u64().unwrap() as usize;
    assert_eq!(msgs[orig]["method"], "INVITE");
    assert_eq!(retx[0]["original_frame"], msgs[orig]["frame"]);
    // The 486 the proxy passed on says who generated it and who only forwarded it.
    let busy: Vec<_> = msgs.iter().filter(|m| m["status"] == 486).collect();
    assert_eq!(busy.len(), 2);
    for b in &busy {
        let a = &b["annotation"];
        assert_eq!(a["class"], "client_failure");
        assert_eq!(a["generated_by"], ip(3).to_string());
        assert_eq!(a["proxied_by"], serde_json::json!([ip(2).to_string()]));
        assert_eq!(a["received_by"], ip(1).to_string());
        assert!(a["expected_next"].is_string());
    }
    let origins: Vec<_> = busy.iter().map(|b| b["hop_origin"].clone()).collect();
    assert!(origins.contains(&"generated".into()) && origins.contains(&"forwarded".into()));
    assert!(msgs
        .iter()
        .filter(|m| m["kind"] == "request")
        .all(|m| m["annotation"].is_null() && m["status"].is_null()));
    // Participants and transactions refer to the same labels and indices.
    let roles: Vec<_> = v["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["label"].clone(), p["role"].clone()))
        .collect();
    assert!(roles.contains(&(ip(2).to_string().into(), "proxy".into())));
    let tx = &v["transactions"][0];
    assert_eq!(tx["method"], "INVITE");
    assert_eq!(tx["final_status"], 486);
    let fin = tx["final_response"].as_u64().unwrap() as usize;
    assert_eq!(msgs[fin]["status"], 486);
}

#[test]
fn raw_text_is_included_only_when_asked() {
    let mut call = busy_call();
    for m in &mut call.messages {
        m.extra.make_mut().raw = Some(b"INVITE sip:x SIP/2.0\r\n\xff\r\n".to_vec());
    }
    let with = ctx(true);
    let v = to_value(&CallJson::build(&call, &with));
    let raw = v["messages"][0]["raw"].as_str().unwrap();
    assert!(raw.starts_with("INVITE sip:x SIP/2.0\r\n"));
    assert!(
        raw.contains('\u{fffd}'),
        "invalid UTF-8 is replaced: {raw:?}"
    );
    let without = ctx(false);
    let v = to_value(&CallJson::build(&call, &without));
    assert!(v["messages"][0].get("raw").is_none());
}

#[test]
fn capture_text_cannot_reach_the_terminal_raw() {
    let mut inv = invite("evil\u{1b}]0;x\u{7}\u{9b}", 1, 2, 0, "z9hG4bK-e", 1);
    inv.user_agent = Some("ua\u{202e}".into());
    let call = analyze_call(vec![inv], &[]);
    let ctx = ctx(false);
    let mut buf = Vec::new();
    write_line(&mut buf, &CallJson::build(&call, &ctx)).unwrap();
    let text = String::from_utf8(buf.clone()).unwrap();
    assert!(!text.chars().any(|c| c.is_control() && c != '\n'), "{text}");
    assert!(!text.contains('\u{202e}'));
    // The data itself is exact once parsed.
    let v: serde_json::Value = serde_json::from_slice(&buf).unwrap();
    assert_eq!(v["call_id"], "evil\u{1b}]0;x\u{7}\u{9b}");
}

#[test]
fn document_is_one_valid_json_value_with_every_call() {
    let books = Books {
        inputs: vec![InputBooks {
            name: "a.pcap".into(),
            frames: 9,
            first_ts_ns: Some(1_500),
            last_ts_ns: Some(2_000_000),
        }],
        ..Default::default()
    };
    let call = busy_call();
    let ctx = ctx(false);
    for n in [0usize, 1, 3] {
        let mut buf = Vec::new();
        let mut doc = DocumentWriter::start(&mut buf, &books).unwrap();
        for _ in 0..n {
            doc.call(&CallJson::build(&call, &ctx)).unwrap();
        }
        assert_eq!(doc.finish().unwrap(), n);
        let v: serde_json::Value = serde_json::from_slice(&buf).unwrap();
        assert_eq!(v["schema_version"], SCHEMA_VERSION);
        assert_eq!(v["tool"], "sipscope");
        assert_eq!(v["calls"].as_array().unwrap().len(), n);
        assert_eq!(v["inputs"][0]["frames"], 9);
        assert_eq!(v["inputs"][0]["first_epoch_us"], 1);
        assert_eq!(v["inputs"][0]["last_epoch_us"], 2000);
    }
}

#[test]
fn schema_is_valid_json_and_defines_diagnosis_and_streams() {
    let s: serde_json::Value = serde_json::from_str(SCHEMA).unwrap();
    let call = &s["$defs"]["call"];
    assert_eq!(call["properties"]["diagnosis"]["$ref"], "#/$defs/diagnosis");
    let required: Vec<&str> = call["required"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(required.contains(&"diagnosis") && required.contains(&"streams"));
    let outcomes = s["$defs"]["diagnosis"]["properties"]["outcome"]["enum"]
        .as_array()
        .unwrap();
    for word in [
        "completed",
        "rejected",
        "ack_missing",
        "success",
        "unanswered",
    ] {
        assert!(outcomes.iter().any(|o| o == word), "{word}");
    }
    assert_eq!(
        s["$defs"]["stream"]["properties"]["ssrc"]["pattern"],
        "^0x[0-9A-F]{8}$"
    );
    assert_eq!(s["$defs"]["schema_version"]["const"], SCHEMA_VERSION);
}

/// A frame body that tells frames apart.
fn body(tag: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| tag.wrapping_add(i as u8)).collect()
}

fn frames_of(bytes: Vec<u8>) -> Vec<(i64, u32, Vec<u8>, u32)> {
    let input = Input::from_bytes("out", 0, bytes).unwrap();
    input
        .frames()
        .map(|f| {
            let f = f.unwrap();
            (f.ts_ns, f.linktype, f.data.to_vec(), f.orig_len)
        })
        .collect()
}

#[test]
fn wanted_frames_keep_their_order_times_and_link_type() {
    let pkts: Vec<(i64, Vec<u8>)> = (0..6)
        .map(|i| {
            (
                1_700_000_000_000_000_123 + i * 1_000_017,
                body(i as u8, 40 + i as usize),
            )
        })
        .collect();
    let input = Input::from_bytes("in", 0, pcap_bytes(linktype::LINUX_SLL, &pkts)).unwrap();
    let mut wanted = FrameSet::new();
    let mut call = busy_call();
    call.messages.clear();
    // A message carried by frames 2 and 5 (say two TCP segments), completed by 5.
    let mut m = invite("x", 1, 2, 0, "b", 1);
    m.frame.file = 0;
    m.frame.number = 5;
    m.frames = vec![
        m.frame,
        crate::net::FrameRef {
            number: 2,
            ..m.frame
        },
    ]
    .into();
    call.messages.push(m);
    wanted.add_call(&call);
    assert_eq!(wanted.len(), 2);
    let mut out = Vec::new();
    let report = write_frames(std::slice::from_ref(&input), &wanted, &mut out).unwrap();
    assert_eq!(report.written, 2);
    assert!(!report.pcapng);
    let got = frames_of(out);
    let want: Vec<_> = [1usize, 4]
        .iter()
        .map(|&i| {
            (
                pkts[i].0,
                linktype::LINUX_SLL,
                pkts[i].1.clone(),
                pkts[i].1.len() as u32,
            )
        })
        .collect();
    assert_eq!(got, want);
}

#[test]
fn several_link_types_give_pcapng_and_cut_frames_keep_their_wire_length() {
    let mut ng = PcapNgWriter::new(Vec::new()).unwrap();
    ng.add_interface(linktype::ETHERNET, Some(9), None).unwrap();
    ng.add_interface(linktype::RAW, Some(6), None).unwrap();
    ng.write_epb(0, 1_000_000_001, &body(1, 30), 30).unwrap();
    ng.write_epb(1, 2_000_000_000, &body(2, 20), 900).unwrap();
    ng.write_epb(0, 3_000_000_005, &body(3, 10), 10).unwrap();
    let input = Input::from_bytes("in", 3, ng.into_inner()).unwrap();
    let mut wanted = FrameSet::new();
    let mut call = busy_call();
    call.messages.truncate(2);
    call.messages[0].frame = crate::net::FrameRef {
        file: 3,
        number: 2,
        ts_ns: 0,
    };
    call.messages[0].frames = smallvec::smallvec![call.messages[0].frame];
    call.messages[1].frame = crate::net::FrameRef {
        file: 3,
        number: 3,
        ts_ns: 0,
    };
    call.messages[1].frames = Default::default();
    wanted.add_call(&call);
    let mut out = Vec::new();
    let report = write_frames(std::slice::from_ref(&input), &wanted, &mut out).unwrap();
    assert!(report.pcapng);
    assert_eq!(report.linktypes, vec![linktype::RAW, linktype::ETHERNET]);
    let got = frames_of(out);
    assert_eq!(
        got,
        vec![
            (2_000_000_000, linktype::RAW, body(2, 20), 900),
            (3_000_000_005, linktype::ETHERNET, body(3, 10), 10),
        ]
    );
}

#[test]
fn nothing_wanted_is_still_a_readable_capture() {
    let input =
        Input::from_bytes("in", 0, pcap_bytes(linktype::ETHERNET, &[(5, body(0, 9))])).unwrap();
    let mut out = Vec::new();
    let report = write_frames(std::slice::from_ref(&input), &FrameSet::new(), &mut out).unwrap();
    assert_eq!(report.written, 0);
    assert!(frames_of(out).is_empty());
}

/// The line writer (hand-written objects, fast strings) gives the same bytes as serde_json
/// with the terminal-safe formatter and the derived `Serialize`, hostile text included.
#[test]
fn line_writer_matches_the_shared_json_writer() {
    let mut call = busy_call();
    call.call_id = "bad\u{7f}\u{9b}\u{202e}id \"q\" \\ \u{1}é漢".into();
    if let Some(m) = call.messages.first_mut() {
        m.extra.make_mut().from_name.display = "Al\u{200b}ice\u{85}\u{1b}[2J".into();
    }
    for raw in [false, true] {
        let c = ctx(raw);
        let json = CallJson::build(&call, &c);
        let mut ours = Vec::new();
        write_line(&mut ours, &json).unwrap();
        let mut reference = Vec::new();
        let mut ser = serde_json::Serializer::with_formatter(
            &mut reference,
            crate::output::escape::TerminalSafe,
        );
        serde::Serialize::serialize(&json, &mut ser).unwrap();
        reference.push(b'\n');
        assert_eq!(
            String::from_utf8_lossy(&ours),
            String::from_utf8_lossy(&reference)
        );
        let mut shared = Vec::new();
        crate::output::escape::write_json(&mut shared, &json).unwrap();
        assert_eq!(ours, shared);
        assert!(ours.windows(6).any(|w| w == b"\\u202e"));
    }
}

/// Addresses and host labels written by hand read exactly as the standard formatting.
#[test]
fn hand_written_addresses_and_labels_match_the_standard_ones() {
    let mut call = busy_call();
    let samples = [
        "0.0.0.0",
        "9.10.99.100",
        "255.255.255.255",
        "127.0.0.1",
        "::1",
        "2001:db8::5",
    ];
    for (i, a) in samples.iter().enumerate() {
        let addr: std::net::IpAddr = a.parse().unwrap();
        assert_eq!(super::call::ip_text(addr).as_str(), addr.to_string());
        assert!(!call.hosts.is_empty(), "the busy call has hosts");
        call.hosts[0].addr = addr;
        for port in [None, Some(0), Some(5060), Some(u16::MAX)] {
            call.hosts[0].port = port;
            let want = call.hosts[0].label();
            assert_eq!(
                super::call::label(&call, 0).as_str(),
                want,
                "{a} {port:?} #{i}"
            );
        }
    }
    assert_eq!(
        super::call::label(&call, 999).as_str(),
        call.host_label(999)
    );
    for o in 0..=255u8 {
        for addr in [[o, 0, 255, o], [1, o, 22, 9]] {
            let addr = std::net::IpAddr::from(addr);
            assert_eq!(super::call::ip_text(addr).as_str(), addr.to_string());
            assert_eq!(super::call::ip_text(addr).into_string(), addr.to_string());
            call.hosts[0].addr = addr;
            call.hosts[0].port = Some(u16::from(o) * 257);
            let want = call.hosts[0].label();
            assert_eq!(super::call::label(&call, 0).as_str(), want);
            assert_eq!(super::call::label(&call, 0).into_string(), want);
        }
    }
}

/// The names written once per call read as the per-host ones: each label as `Host::label`,
/// each address as the standard formatting, whether taken from the host or not.
#[test]
fn host_names_written_once_match_the_standard_ones() {
    let mut call = busy_call();
    let addrs: [std::net::IpAddr; 3] = [
        "10.1.2.3".parse().unwrap(),
        "2001:db8::5".parse().unwrap(),
        "255.0.0.1".parse().unwrap(),
    ];
    assert!(call.hosts.len() >= 3, "the busy call has three hosts");
    for (h, (addr, port)) in
        call.hosts
            .iter_mut()
            .zip(addrs.iter().zip([Some(5060), None, Some(0)]))
    {
        h.addr = *addr;
        h.port = port;
    }
    let names = super::call::HostNames::of(&call);
    for i in 0..call.hosts.len() + 2 {
        assert_eq!(names.label(i).as_str(), call.host_label(i), "host {i}");
        assert_eq!(names.label(i), super::call::label(&call, i));
        for ip in addrs
            .iter()
            .copied()
            .chain(["9.9.9.9".parse().unwrap(), "::1".parse().unwrap()])
        {
            for host in [Some(i), None] {
                assert_eq!(
                    names.address_of(&call, host, ip).as_str(),
                    ip.to_string(),
                    "{ip} as host {host:?}"
                );
            }
        }
    }
    // Participants carry the same texts as before: the label and the bare address.
    let v = to_value(&CallJson::build(&call, &ctx(false)));
    for (p, h) in v["participants"]
        .as_array()
        .unwrap()
        .iter()
        .zip(&call.hosts)
    {
        assert_eq!(p["label"], h.label());
        assert_eq!(p["address"], h.addr.to_string());
    }
}

/// The call's times are written as `rfc3339_micros` writes them, the far ones included.
#[test]
fn call_times_read_as_rfc3339_micros() {
    use crate::output::time::rfc3339_micros;
    let mut call = busy_call();
    for (start, answered) in [
        (1_700_000_000_123_456_789, Some(1_700_000_001_000_000_000)),
        (-1, None),
        (i64::MIN, Some(i64::MAX)),
    ] {
        call.summary.start_ns = start;
        call.summary.answered_ns = answered;
        call.summary.ended_ns = answered.map(|a| a / 2);
        let v = to_value(&CallJson::build(&call, &ctx(false)));
        assert_eq!(v["start_time"], rfc3339_micros(start));
        assert_eq!(v["end_time"], rfc3339_micros(call.summary.end_ns));
        match answered {
            Some(a) => {
                assert_eq!(v["answered_time"], rfc3339_micros(a));
                assert_eq!(v["ended_time"], rfc3339_micros(a / 2));
            }
            None => {
                assert!(v["answered_time"].is_null());
                assert!(v["ended_time"].is_null());
            }
        }
    }
}

/// The lists written element by element from the call (participants, dialogs, transactions
/// with their legs and responses, messages with SDP media and annotations, raw text) give the
/// bytes of the collected reference form, with an IPv6 host, a hinted reason phrase, SDP
/// media and text that is not UTF-8.
#[test]
fn lists_written_from_the_call_match_the_collected_reference() {
    use crate::dialog::{MediaSummary, SdpSummary, Start};
    let mut call = busy_call();
    // A 486 phrase operators use that tells more than the code, when the table has one.
    let hinted = crate::knowledge::hints::hints_for(486)
        .iter()
        .find(|h| !h.is_default_phrase());
    for m in &mut call.messages {
        if let (Start::Response { reason, .. }, Some(h)) = (&mut m.start, hinted) {
            *reason = h.phrase.into();
        }
        m.extra.make_mut().raw = Some(b"SIP/2.0 486 \xfe\r\n\t folded\r\n".to_vec());
    }
    if let Some(m) = call.messages.first_mut() {
        m.extra.make_mut().sdp = Some(SdpSummary {
            address: Some("2001:db8::7".into()),
            media: vec![
                MediaSummary {
                    kind: "audio".into(),
                    port: 4000,
                    proto: "RTP/AVP".into(),
                    codecs: vec!["PCMU/8000".into(), "\"q\"\u{1b}".into()],
                    direction: "sendrecv".into(),
                    address: None,
                },
                MediaSummary {
                    kind: "video".into(),
                    port: 0,
                    proto: String::new().into(),
                    codecs: Vec::new(),
                    direction: "inactive".into(),
                    address: Some("10.0.0.9".into()),
                },
            ],
        });
    }
    assert!(call.hosts.len() >= 2, "the busy call has hosts");
    call.hosts[1].addr = "2001:db8::5".parse().unwrap();
    call.hosts[1].port = Some(5062);
    for raw in [false, true] {
        let c = ctx(raw);
        let json = CallJson::build(&call, &c);
        let mut ours = Vec::new();
        write_line(&mut ours, &json).unwrap();
        let mut reference = Vec::new();
        let mut ser = serde_json::Serializer::with_formatter(
            &mut reference,
            crate::output::escape::TerminalSafe,
        );
        serde::Serialize::serialize(&json, &mut ser).unwrap();
        reference.push(b'\n');
        assert_eq!(
            String::from_utf8_lossy(&ours),
            String::from_utf8_lossy(&reference)
        );
        let v: serde_json::Value = serde_json::from_slice(&ours).unwrap();
        let msgs = v["messages"].as_array().unwrap();
        assert_eq!(msgs[0]["sdp"]["media"].as_array().unwrap().len(), 2);
        assert_eq!(msgs[0]["sdp"]["media"][0]["codecs"][1], "\"q\"\u{1b}");
        let busy: Vec<_> = msgs.iter().filter(|m| m["status"] == 486).collect();
        assert_eq!(busy.len(), 2);
        for b in &busy {
            // Every sighting carries the same annotation, naming the IPv6 proxy.
            assert_eq!(b["annotation"], busy[0]["annotation"]);
            let proxy = call.hosts[1].label();
            assert_eq!(b["annotation"]["proxied_by"], serde_json::json!([proxy]));
            assert!(b["annotation"]["summary"]
                .as_str()
                .unwrap()
                .contains(&proxy));
            if let Some(h) = hinted {
                assert_eq!(b["annotation"]["hint"]["phrase"], h.phrase);
            }
        }
        let tx = &v["transactions"][0];
        assert_eq!(tx["responses"][0]["status"], 486);
        assert!(!tx["legs"].as_array().unwrap().is_empty());
        if raw {
            assert!(msgs[0]["raw"].as_str().unwrap().contains('\u{fffd}'));
        } else {
            assert!(msgs[0].get("raw").is_none());
        }
    }
}

/// A capture without RTP streams: a call with SDP finds none (the look ends at once) and its
/// line lists no streams.
#[test]
fn a_call_with_sdp_in_a_capture_without_streams_lists_none() {
    use crate::diagnose::CaptureStreams;
    use crate::dialog::{MediaSummary, SdpSummary};
    let mut call = busy_call();
    if let Some(m) = call.messages.first_mut() {
        m.extra.make_mut().sdp = Some(SdpSummary {
            address: Some("10.0.0.1".into()),
            media: vec![MediaSummary {
                kind: "audio".into(),
                port: 4000,
                proto: "RTP/AVP".into(),
                codecs: vec!["PCMU/8000".into()],
                direction: "sendrecv".into(),
                address: None,
            }],
        });
    }
    let capture = CaptureStreams::new(&[]);
    let c = ctx(false);
    assert!(capture.of_call(&call).is_empty());
    let em = ExportMedia {
        capture: &capture,
        capture_end_ns: Some(9_000_000_000),
    };
    let mut line = Vec::new();
    write_line(&mut line, &CallJson::build_with_media(&call, &c, Some(&em))).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&line).unwrap();
    assert_eq!(v["streams"], serde_json::json!([]));
}

/// The bytes of the line writer and of the serde reference (the collected `MessageJson`s) for
/// `call`, with and without `--raw`; they must be equal.
fn assert_writer_matches_reference(call: &Call, files: &[&str]) {
    for raw in [false, true] {
        let c = ExportContext {
            files: files.iter().map(|f| f.to_string()).collect(),
            raw,
        };
        let json = CallJson::build(call, &c);
        let mut ours = Vec::new();
        write_line(&mut ours, &json).unwrap();
        let mut reference = Vec::new();
        let mut ser = serde_json::Serializer::with_formatter(
            &mut reference,
            crate::output::escape::TerminalSafe,
        );
        serde::Serialize::serialize(&json, &mut ser).unwrap();
        reference.push(b'\n');
        assert_eq!(
            String::from_utf8_lossy(&ours),
            String::from_utf8_lossy(&reference),
            "raw {raw}"
        );
    }
}

/// Caller 1 -> proxy 2 -> callee 3 with every kind of sighting: retransmitted and duplicated
/// requests and responses, responses seen at two hops (their annotation written once and
/// copied), an ACK, TCP and SCTP legs.
fn eventful_call() -> Call {
    let inv1 = invite("ev-1", 1, 2, 0, "z9hG4bK-a", 1);
    let inv1_again = again(&inv1, 500);
    let inv2 = fwd(&inv1, 2, "z9hG4bK-b", 3, 5);
    let inv2_dup = again(&inv2, 6);
    let t1 = reply(&inv1, 100, 7, None);
    let r180b = reply(&inv2, 180, 20, Some("cal"));
    let r180a = reply(&inv1, 180, 22, Some("cal"));
    let r180a_again = again(&r180a, 1_000);
    let r486b = reply(&inv2, 486, 1_500, Some("cal"));
    let r486b_dup = again(&r486b, 1_501);
    let r486a = reply(&inv1, 486, 1_502, Some("cal"));
    let r486a_again = again(&r486a, 2_000);
    let ack1 = hop_request(&inv1, "ACK", 1_503, Some("cal"));
    let mut msgs = vec![
        inv1,
        inv1_again,
        inv2,
        inv2_dup,
        t1,
        r180b,
        r180a,
        r180a_again,
        r486b,
        r486b_dup,
        r486a,
        r486a_again,
        ack1,
    ];
    if let Some(m) = msgs.get_mut(2) {
        m.flow.transport = crate::net::Transport::Tcp;
    }
    if let Some(m) = msgs.get_mut(5) {
        m.flow.transport = crate::net::Transport::Sctp;
    }
    analyze_call(msgs, &[])
}

/// Messages written straight from the model give the bytes of the collected reference, for
/// every kind of sighting, and an annotation copied for a repeated sighting is the one its
/// step's first sighting carries.
#[test]
fn messages_written_from_the_model_match_the_reference_for_every_sighting() {
    let call = eventful_call();
    let repeats: Vec<_> = call.info.iter().map(|i| i.repeat).collect();
    assert!(repeats
        .iter()
        .any(|r| matches!(r, crate::dialog::Repeat::Retransmission { .. })));
    assert!(repeats
        .iter()
        .any(|r| matches!(r, crate::dialog::Repeat::Duplicate { .. })));
    assert_writer_matches_reference(&call, &["a.pcap"]);
    let v = to_value(&CallJson::build(&call, &ctx(false)));
    let msgs = v["messages"].as_array().unwrap();
    for code in [180, 486] {
        let seen: Vec<_> = msgs.iter().filter(|m| m["status"] == code).collect();
        assert!(seen.len() >= 3, "{code} at two hops and again");
        for m in &seen {
            assert!(m["annotation"].is_object());
            assert_eq!(m["annotation"], seen[0]["annotation"], "{code}");
        }
    }
    let kinds: Vec<_> = msgs.iter().map(|m| m["transport"].clone()).collect();
    for t in ["udp", "tcp", "sctp"] {
        assert!(kinds.contains(&t.into()), "{t}");
    }
}

/// Hostile and missing text in every field written from a message: control characters,
/// non-ASCII, quotes, empty lists, no CSeq, no Via, an unreadable start line, every optional
/// header present, a message from a second file, and a model whose indices point nowhere.
#[test]
fn messages_with_odd_or_missing_fields_match_the_reference() {
    use crate::dialog::{MediaSummary, SdpSummary, Start};
    let hostile = "x\u{1}\u{1b}[2J\"q\"\\é漢\u{85}\u{202e}\u{7f}";
    let mut call = eventful_call();
    let n = call.messages.len();
    for (i, m) in call.messages.iter_mut().enumerate() {
        match i % 4 {
            0 => {
                m.user_agent = Some(hostile.into());
                m.server = Some("srv".into());
                m.extra.make_mut().contact = Some("<sip:a@b>".into());
                m.extra.make_mut().reason_header = Some("Q.850;cause=16;text=\"x\"".into());
                m.extra.make_mut().warning = Some(String::new().into());
                m.extra.make_mut().retry_after = Some("5".into());
                m.extra.make_mut().expires = Some("3600".into());
                m.extra.make_mut().content_type = Some("application/sdp".into());
                m.extra.make_mut().max_forwards = Some(70);
                m.has_credentials = true;
                m.has_challenge = true;
                m.extra.make_mut().anomalies = vec![hostile.into(), String::new().into()];
                m.flags.cut = true;
                m.flags.junk_before = true;
                m.frame.file = 1;
                m.extra.make_mut().raw = Some(b"\xff\x00\x1b text\r\n".to_vec());
            }
            1 => {
                m.cseq = None;
                m.vias.clear();
                m.extra.make_mut().from_name.display = hostile.into();
                m.to.tag = Some(hostile.into());
                m.extra.make_mut().sdp = Some(SdpSummary {
                    address: None,
                    media: Vec::new(),
                });
                m.frame.file = 7;
            }
            2 => {
                match &mut m.start {
                    Start::Request { method, uri } => {
                        *method = hostile.into();
                        *uri = hostile.into();
                    }
                    Start::Response { reason, .. } => *reason = hostile.into(),
                    Start::Invalid => {}
                }
                if let Some(v) = m.vias.first_mut() {
                    v.transport = hostile.into();
                    v.branch = None;
                }
                m.extra.make_mut().sdp = Some(SdpSummary {
                    address: Some(hostile.into()),
                    media: vec![MediaSummary {
                        kind: hostile.into(),
                        port: 0,
                        proto: String::new().into(),
                        codecs: vec![hostile.into()],
                        direction: "recvonly".into(),
                        address: Some("::1".into()),
                    }],
                });
            }
            _ => {
                m.start = Start::Invalid;
                m.frames = smallvec::smallvec![m.frame, m.frame, m.frame];
            }
        }
    }
    assert_writer_matches_reference(&call, &["a.pcap", "b \"c\"\u{1b}.pcap"]);
    // Indices of the model that lead nowhere, and messages without their facts.
    if let Some(i) = call.info.get_mut(1) {
        i.hop = Some(99);
        i.src = 99;
    }
    if let Some(i) = call.info.get_mut(3) {
        i.step = Some(999);
        i.repeat = crate::dialog::Repeat::Retransmission { of: 999 };
    }
    call.info.truncate(n - 2);
    assert_writer_matches_reference(&call, &["a.pcap"]);
    // A call whose lists are all empty.
    let mut empty = eventful_call();
    empty.messages.clear();
    empty.info.clear();
    assert_writer_matches_reference(&empty, &[]);
}

/// The clock of a call's messages writes every time as `rfc3339_micros` does, whether it
/// reuses the second before or not: times in one second, across a second, a day and a year,
/// before the epoch, back in time, and out of the range of four-digit years.
#[test]
fn message_times_written_by_the_clock_read_as_rfc3339_micros() {
    use crate::output::json::JsonBuf;
    use crate::output::time::rfc3339_micros;
    let s = 1_000_000_000i64;
    let day = 86_400 * s;
    let base = 1_700_000_000 * s;
    let times = [
        base,
        base + 1,
        base + 999,
        base + 1_000,
        base + 123_456_789,
        base + s - 1,
        base + s,
        base + s + 7_000,
        base + 5,
        -1,
        -1_000,
        -s,
        -s - 1,
        0,
        0,
        19_357 * day - 1,
        19_357 * day,
        i64::MIN,
        i64::MIN + 1,
        i64::MAX,
        i64::MAX - 1,
        // The last nanosecond of 2261 and the first of 2262 (near i64::MAX).
        9_214_646_399 * s + 999_999_999,
        9_214_646_400 * s,
    ];
    let mut clock = super::call::Clock::default();
    for t in times {
        let mut buf = JsonBuf::new();
        clock.put(&mut buf, t).unwrap();
        let want = format!("\"{}\"", rfc3339_micros(t));
        assert_eq!(String::from_utf8_lossy(buf.as_bytes()), want, "{t}");
    }
}

/// A message without flags is written as one with every flag off: no name.
#[test]
fn no_flag_is_the_default_and_names_none() {
    use crate::sip::MessageFlags;
    assert_eq!(
        super::call::FlagNames(MessageFlags::default())
            .names()
            .count(),
        0
    );
    let mut call = eventful_call();
    if let Some(m) = call.messages.get_mut(1) {
        m.flags.after_gap = true;
        // One frame, not the one that completed the message.
        m.frames = smallvec::smallvec![crate::net::FrameRef {
            number: m.frame.number + 1,
            ..m.frame
        }];
    }
    if let Some(m) = call.messages.get_mut(2) {
        m.frames.clear();
    }
    assert_writer_matches_reference(&call, &["a.pcap"]);
}

/// The names written as literal pieces are the names of the model.
#[test]
fn literal_names_are_the_names() {
    use crate::dialog::Acting;
    use crate::net::Transport;
    for a in [Acting::Client, Acting::Server, Acting::Forwarder] {
        let want = format!("\"{}\"", super::call::acting_name(a));
        assert_eq!(super::call::acting_json(a), want.as_bytes());
    }
    for t in [Transport::Udp, Transport::Tcp, Transport::Sctp] {
        let want = format!(",\"transport\":\"{}\",\"via_transport\":", t.as_str());
        assert_eq!(super::call::transport_json(t), want.as_bytes());
    }
}

/// Annotations of every code, for several methods and with the operator phrases the hint
/// table knows, written twice on one thread (the second time from the kept pieces, with
/// more kinds than the table has slots): every line is the reference's.
#[test]
fn annotations_from_kept_pieces_match_the_reference() {
    use crate::dialog::Start;
    for round in 0..2 {
        for code in 100..=699u16 {
            let method = ["INVITE", "BYE", "REGISTER", "CANCEL"][usize::from(code % 4)];
            let req = crate::dialog::testkit::request(
                method,
                &format!("k-{code}-{round}"),
                1,
                2,
                0,
                "z9hG4bK-k",
                1,
                "a",
                None,
            );
            let mut resp = reply(&req, code, 10, Some("t"));
            if let (Start::Response { reason, .. }, Some(h)) = (
                &mut resp.start,
                crate::knowledge::hints::hints_for(code).first(),
            ) {
                *reason = h.phrase.into();
            }
            let call = analyze_call(vec![req, resp], &[]);
            assert_writer_matches_reference(&call, &["a.pcap"]);
        }
    }
}
