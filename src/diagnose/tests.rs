//! Diagnoses of hand-made ladders, one per outcome the samples cannot (yet) show, and the
//! header, SDP and timer checks.

use super::*;
use crate::dialog::testkit::*;
use crate::dialog::{analyze_call, MediaSummary, Msg, SdpSummary};

fn host(call: &Call, n: u8) -> HostIdx {
    call.hosts
        .iter()
        .position(|h| h.addr == ip(n))
        .expect("host present")
}

fn has(d: &Diagnosis, code: &str) -> bool {
    d.all_findings().any(|f| f.code == code)
}

fn finding<'a>(d: &'a Diagnosis, code: &str) -> &'a Finding {
    d.all_findings()
        .find(|f| f.code == code)
        .unwrap_or_else(|| panic!("no {code} finding in {d:#?}"))
}

fn sdp(addr: &str, codecs: &[&str], direction: &str, port: u16) -> SdpSummary {
    SdpSummary {
        address: Some(addr.into()),
        media: vec![MediaSummary {
            kind: "audio".into(),
            port,
            proto: "RTP/AVP".into(),
            codecs: codecs.iter().map(|&c| c.into()).collect(),
            direction: direction.into(),
            address: None,
        }],
    }
}

fn with_sdp(mut m: Msg, s: Option<SdpSummary>) -> Msg {
    m.has_sdp = s.is_some();
    m.extra.make_mut().sdp = s;
    m
}

fn retransmit(m: &Msg, times_ms: &[i64]) -> Vec<Msg> {
    times_ms.iter().map(|&t| again(m, t)).collect()
}

/// The caller's INVITE resent on the T1 schedule, never answered.
#[test]
fn unanswered_invite_is_a_timeout_with_timer_b() {
    let inv = invite("to", 1, 2, 0, "z9hG4bK-t", 1);
    let mut msgs = vec![inv.clone()];
    msgs.extend(retransmit(&inv, &[500, 1500, 3500, 7500, 15500, 31500]));
    let call = analyze_call(msgs, &[]);
    let d = diagnose(&call);
    assert_eq!(d.outcome, Outcome::Timeout);
    assert_eq!(d.final_code, None);
    let leg = d.where_.broken_leg.expect("broken leg");
    assert_eq!((leg.from, leg.to), (host(&call, 1), host(&call, 2)));
    let f = finding(&d, "timer_b_expired");
    assert_eq!(f.evidence.len(), 7);
    assert!(f.text.contains("T1 = 500 ms"), "{}", f.text);
    assert!(d.outcome.is_failure());
}

/// Through a proxy: the callee never answers, the proxy gives up with 408.
#[test]
fn proxy_408_points_at_the_silent_leg() {
    let inv1 = invite("p408", 1, 2, 0, "z9hG4bK-1", 1);
    let trying = reply(&inv1, 100, 2, None);
    let inv2 = fwd(&inv1, 2, "z9hG4bK-2", 3, 3);
    let mut msgs = vec![inv1.clone(), trying, inv2.clone()];
    msgs.extend(retransmit(&inv2, &[503, 1503, 3503]));
    msgs.push(reply(&inv1, 408, 32_000, Some("px")));
    let call = analyze_call(msgs, &[]);
    let d = diagnose(&call);
    assert_eq!(d.outcome, Outcome::Timeout);
    assert_eq!(d.final_code, Some(408));
    assert_eq!(d.where_.generated_by, Some(host(&call, 2)));
    let leg = d.where_.broken_leg.expect("broken leg");
    assert_eq!((leg.from, leg.to), (host(&call, 2), host(&call, 3)));
}

/// A 2xx resent until the callee drops the call: no ACK anywhere.
#[test]
fn two_hundred_without_ack_is_ack_missing() {
    let inv = invite("na", 1, 2, 0, "z9hG4bK-n", 1);
    let ok = reply(&inv, 200, 300, Some("b"));
    let mut msgs = vec![inv, reply_180(&ok), ok.clone()];
    msgs.extend(retransmit(&ok, &[800, 1800, 3800, 7800]));
    let call = analyze_call(msgs, &[]);
    let d = diagnose(&call);
    assert_eq!(d.outcome, Outcome::AckMissing);
    assert_eq!(d.final_code, Some(200));
    let f = finding(&d, "ack_missing");
    assert_eq!(f.evidence.len(), 5, "{f:?}");
    assert!(has(&d, "ok_retransmitted"));
    assert!(d.outcome.is_answered());
}

fn reply_180(ok: &Msg) -> Msg {
    let mut r = again(ok, 100);
    r.start = crate::dialog::Start::Response {
        code: 180,
        reason: "Ringing".into(),
    };
    r
}

/// The caller's ACK reaches the proxy, which never forwards it: the callee keeps resending.
#[test]
fn ack_lost_between_proxy_and_callee() {
    let inv1 = invite("al", 1, 2, 0, "z9hG4bK-1", 1);
    let inv2 = fwd(&inv1, 2, "z9hG4bK-2", 3, 5);
    let ok3 = reply(&inv2, 200, 300, Some("b"));
    let ok2 = reply(&inv1, 200, 305, Some("b"));
    let ack1 = request("ACK", "al", 1, 2, 310, "z9hG4bK-a1", 1, "a", Some("b"));
    let mut msgs = vec![inv1, inv2, ok3.clone(), ok2, ack1];
    msgs.extend(retransmit(&ok3, &[800, 1800]));
    let call = analyze_call(msgs, &[]);
    let d = diagnose(&call);
    assert_eq!(d.outcome, Outcome::AckMissing);
    let leg = d.where_.broken_leg.expect("broken leg");
    assert_eq!((leg.from, leg.to), (host(&call, 2), host(&call, 3)));
    assert!(has(&d, "ack_lost"));
}

/// INVITE / 200 / ACK then a BYE: who ended it, and how.
fn answered_then_bye(
    id: &str,
    bye_from_callee: bool,
    reason: Option<&str>,
    bye_code: u16,
) -> (Call, Diagnosis) {
    let inv = invite(id, 1, 2, 0, "z9hG4bK-i", 1);
    let ok = reply(&inv, 200, 300, Some("b"));
    let ack = request("ACK", id, 1, 2, 310, "z9hG4bK-a", 1, "a", Some("b"));
    let mut bye = if bye_from_callee {
        let mut b = request("BYE", id, 2, 1, 5000, "z9hG4bK-y", 1, "b", Some("a"));
        b.from.tag = Some("b".into());
        b.to.tag = Some("a".into());
        b
    } else {
        request("BYE", id, 1, 2, 5000, "z9hG4bK-y", 2, "a", Some("b"))
    };
    bye.extra.make_mut().reason_header = reason.map(Into::into);
    let bye_ok = reply(&bye, bye_code, 5010, None);
    let call = analyze_call(vec![inv, ok, ack, bye, bye_ok], &[]);
    let d = diagnose(&call);
    (call, d)
}

#[test]
fn normal_hang_up_is_completed_and_names_who_ended_it() {
    let (call, d) = answered_then_bye("ok", false, Some("Q.850;cause=16;text=\"Normal\""), 200);
    assert_eq!(d.outcome, Outcome::Completed);
    assert_eq!(d.ended_by, Some(host(&call, 1)));
    assert_eq!(d.timings.duration_ns, Some(4_700_000_000));
    assert_eq!(d.timings.setup_ns, Some(300_000_000));
    assert_eq!(d.timings.answer_to_ack_ns, Some(10_000_000));
    assert!(!d.outcome.is_failure());
}

#[test]
fn bye_answered_481_is_aborted() {
    let (call, d) = answered_then_bye("ab", true, None, 481);
    assert_eq!(d.outcome, Outcome::Aborted);
    assert_eq!(d.ended_by, Some(host(&call, 2)));
    assert!(has(&d, "bye_481"));
}

#[test]
fn bye_with_an_error_reason_is_aborted_and_the_cause_named() {
    let (_, d) = answered_then_bye("rs", true, Some("Q.850;cause=41"), 200);
    assert_eq!(d.outcome, Outcome::Aborted);
    let f = finding(&d, "reason_q850");
    let name = crate::knowledge::q850_cause(41).expect("41 is a Q.850 cause");
    assert!(f.text.contains(name), "{}", f.text);
    assert!(d.cause.as_deref().is_some_and(|c| c.contains("41")));
}

/// INVITE challenged, retried with credentials, challenged again, and again.
#[test]
fn challenge_loop_is_auth_failed() {
    let mut msgs = Vec::new();
    for (i, cseq) in [1u32, 2, 3].into_iter().enumerate() {
        let t = i64::from(cseq) * 1000;
        let mut inv = invite("loop", 1, 2, t, &format!("z9hG4bK-{cseq}"), cseq);
        inv.has_credentials = i > 0;
        let ch = reply(&inv, 407, t + 10, Some("p"));
        let ack = hop_request(&inv, "ACK", t + 20, Some("p"));
        msgs.extend([inv, ch, ack]);
    }
    let call = analyze_call(msgs, &[]);
    let d = diagnose(&call);
    assert_eq!(d.outcome, Outcome::AuthFailed);
    assert_eq!(d.final_code, Some(407));
    let f = finding(&d, "auth_loop");
    assert!(f.text.contains("2 time(s)"), "{}", f.text);
}

#[test]
fn credentials_refused_with_403_is_auth_failed() {
    let inv = invite("pw", 1, 2, 0, "z9hG4bK-1", 1);
    let ch = reply(&inv, 401, 10, Some("p"));
    let ack = hop_request(&inv, "ACK", 20, Some("p"));
    let mut inv2 = invite("pw", 1, 2, 100, "z9hG4bK-2", 2);
    inv2.has_credentials = true;
    let no = reply(&inv2, 403, 110, Some("p"));
    let call = analyze_call(vec![inv, ch, ack, inv2, no], &[]);
    let d = diagnose(&call);
    assert_eq!(d.outcome, Outcome::AuthFailed);
    assert_eq!(d.final_code, Some(403));
    assert!(has(&d, "credentials_rejected"));
}

#[test]
fn register_challenged_then_accepted_is_success_200() {
    let r1 = request("REGISTER", "rg", 1, 2, 0, "z9hG4bK-1", 1, "a", None);
    let ch = reply(&r1, 401, 5, Some("r"));
    let mut r2 = request("REGISTER", "rg", 1, 2, 10, "z9hG4bK-2", 2, "a", None);
    r2.has_credentials = true;
    let ok = reply(&r2, 200, 15, Some("r"));
    let call = analyze_call(vec![r1, ch, r2, ok], &[]);
    let d = diagnose(&call);
    assert_eq!(d.outcome, Outcome::Success);
    assert_eq!(d.final_code, Some(200));
    assert!(has(&d, "auth_challenge"));
}

#[test]
fn unanswered_options_and_refused_register() {
    let o = request("OPTIONS", "op", 1, 2, 0, "z9hG4bK-o", 1, "a", None);
    let mut msgs = vec![o.clone()];
    msgs.extend(retransmit(&o, &[500, 1500]));
    let d = diagnose(&analyze_call(msgs, &[]));
    assert_eq!(d.outcome, Outcome::Unanswered);
    assert!(has(&d, "request_retransmitted"));

    let r = request("REGISTER", "rf", 1, 2, 0, "z9hG4bK-r", 1, "a", None);
    let mut no = reply(&r, 503, 20, Some("x"));
    no.extra.make_mut().retry_after = Some("30 (maintenance)".into());
    let d = diagnose(&analyze_call(vec![r, no], &[]));
    assert_eq!(d.outcome, Outcome::Failure);
    assert_eq!(d.final_code, Some(503));
    assert!(finding(&d, "retry_after").text.contains("30 s"));
}

#[test]
fn redirect_names_the_target() {
    let inv = invite("rd", 1, 2, 0, "z9hG4bK-1", 1);
    let mut r = reply(&inv, 302, 10, Some("r"));
    r.extra.make_mut().contact = Some("sip:bob@10.9.9.9".into());
    let ack = hop_request(&inv, "ACK", 20, Some("r"));
    let d = diagnose(&analyze_call(vec![inv, r, ack], &[]));
    assert_eq!(d.outcome, Outcome::Redirected);
    assert_eq!(d.final_code, Some(302));
    assert!(finding(&d, "redirect_target").text.contains("10.9.9.9"));
}

#[test]
fn cancel_without_487_is_cancelled_with_no_final_code() {
    let inv = invite("cx", 1, 2, 0, "z9hG4bK-1", 1);
    let ring = reply(&inv, 180, 50, Some("b"));
    let cancel = hop_request(&inv, "CANCEL", 4000, None);
    let c200 = reply(&cancel, 200, 4005, None);
    let call = analyze_call(vec![inv, ring, cancel, c200], &[]);
    let d = diagnose(&call);
    assert_eq!(d.outcome, Outcome::Cancelled);
    assert_eq!(d.final_code, None);
    assert_eq!(d.ended_by, Some(host(&call, 1)));
    assert_eq!(d.timings.post_dial_delay_ns, Some(50_000_000));
    assert!(!d.outcome.is_failure());
}

#[test]
fn reason_with_q850_in_a_503_becomes_the_cause() {
    let inv1 = invite("q", 1, 2, 0, "z9hG4bK-1", 1);
    let inv2 = fwd(&inv1, 2, "z9hG4bK-2", 3, 5);
    let mut r3 = reply(&inv2, 503, 20, Some("g"));
    r3.extra.make_mut().reason_header =
        Some("Q.850;cause=34;text=\"No circuit; try later\"".into());
    r3.extra.make_mut().warning = Some("399 gw.example \"trunk group busy\"".into());
    let mut r2 = reply(&inv1, 503, 22, Some("g"));
    r2.extra.make_mut().reason_header = r3.extra.reason_header.clone();
    let call = analyze_call(vec![inv1, inv2, r3, r2], &[]);
    let d = diagnose(&call);
    assert_eq!(d.outcome, Outcome::Rejected);
    assert_eq!(d.where_.generated_by, Some(host(&call, 3)));
    assert_eq!(d.where_.proxied_by, vec![host(&call, 2)]);
    let f = finding(&d, "reason_q850");
    assert!(f.text.contains("No circuit; try later"), "{}", f.text);
    assert_eq!(
        d.all_findings().filter(|f| f.code == "reason_q850").count(),
        1
    );
    assert!(d
        .cause
        .as_deref()
        .is_some_and(|c| c.starts_with("Q.850 34")));
    assert!(finding(&d, "warning_header").text.contains("399"));
}

#[test]
fn codec_intersection_in_answer_and_in_a_488_with_sdp() {
    let offer = sdp(
        "10.0.0.1",
        &["PCMU/8000", "telephone-event/8000"],
        "sendrecv",
        4000,
    );
    let inv = with_sdp(invite("cd", 1, 2, 0, "z9hG4bK-1", 1), Some(offer.clone()));
    let ok = with_sdp(
        reply(&inv, 200, 10, Some("b")),
        Some(sdp(
            "10.0.0.2",
            &["G729/8000", "telephone-event/8000"],
            "sendrecv",
            5000,
        )),
    );
    let d = diagnose(&analyze_call(vec![inv.clone(), ok], &[]));
    assert!(finding(&d, "no_common_codec").text.contains("G729/8000"));
    assert_eq!(d.cause.as_deref(), Some("no common codec"));

    let inv = with_sdp(invite("cd2", 1, 2, 0, "z9hG4bK-1", 1), Some(offer.clone()));
    let no = with_sdp(
        reply(&inv, 488, 10, Some("b")),
        Some(sdp("10.0.0.2", &["G729/8000"], "sendrecv", 5000)),
    );
    let d = diagnose(&analyze_call(vec![inv, no], &[]));
    assert_eq!(d.outcome, Outcome::Rejected);
    let f = finding(&d, "no_common_codec");
    assert!(f.text.contains("supports G729/8000"), "{}", f.text);

    let inv = with_sdp(invite("cd3", 1, 2, 0, "z9hG4bK-1", 1), Some(offer.clone()));
    let ok = with_sdp(
        reply(&inv, 200, 10, Some("b")),
        Some(sdp("10.0.0.2", &["pcmu/8000"], "sendrecv", 5000)),
    );
    let d = diagnose(&analyze_call(vec![inv, ok], &[]));
    assert!(!has(&d, "no_common_codec"));
    assert!(has(&d, "codecs_negotiated"));

    let inv = with_sdp(invite("cd4", 1, 2, 0, "z9hG4bK-1", 1), Some(offer));
    let ok = with_sdp(reply(&inv, 200, 10, Some("b")), None);
    let d = diagnose(&analyze_call(vec![inv, ok], &[]));
    assert!(has(&d, "missing_answer"));
}

#[test]
fn private_media_address_hold_and_port_zero() {
    // 10.0.0.1 signals, but offers media on another private network: NAT.
    let inv = with_sdp(
        invite("nat", 1, 2, 0, "z9hG4bK-1", 1),
        Some(sdp("192.168.1.50", &["PCMU/8000"], "sendrecv", 4000)),
    );
    let mut ans = sdp("10.0.0.2", &["PCMU/8000"], "sendonly", 5000);
    ans.media.push(MediaSummary {
        kind: "video".into(),
        port: 0,
        ..MediaSummary::default()
    });
    let ok = with_sdp(reply(&inv, 200, 10, Some("b")), Some(ans));
    let d = diagnose(&analyze_call(vec![inv, ok], &[]));
    let f = finding(&d, "private_media_address");
    assert!(f.text.contains("192.168.1.50") && f.text.contains("10.0.0.1"));
    assert_eq!(f.severity, Severity::Warning);
    // The answerer's own address is its signalling address: no NAT finding for it.
    assert_eq!(
        d.sdp
            .iter()
            .filter(|f| f.code == "private_media_address")
            .count(),
        1
    );
    assert!(finding(&d, "hold").text.contains("sendonly"));
    assert!(finding(&d, "port_zero").text.contains("video"));
    assert_eq!(
        sdp::private_kind("100.64.1.1".parse().unwrap()),
        Some("carrier-grade NAT (RFC 6598)")
    );
    assert_eq!(sdp::private_kind("8.8.8.8".parse().unwrap()), None);
}

#[test]
fn reason_values_are_read_with_quotes_and_several_protocols() {
    assert_eq!(why::param("Q.850;cause=17;text=\"x\"", "CAUSE"), Some("17"));
    let (code, text, cause) = why::describe_reason("SIP;cause=480;text=\"gone; away\"");
    assert_eq!(code, "reason_sip");
    assert!(
        text.contains("gone; away") && text.contains("480"),
        "{text}"
    );
    assert_eq!(cause, None);
    assert!(outcome::abnormal_reason("SIP;cause=200, Q.850;cause=38"));
    assert!(!outcome::abnormal_reason(
        "Q.850;cause=16;text=\"Normal call clearing\""
    ));
    assert!(!outcome::abnormal_reason("garbage;;;=="));
}

#[test]
fn summary_counts_outcomes_codes_hosts_causes_and_asr() {
    let mut s = Summary::new();
    let busy = |id: &str| {
        let inv = invite(id, 1, 3, 0, "z9hG4bK-1", 1);
        let r = reply(&inv, 486, 10, Some("b"));
        analyze_call(vec![inv, r], &[])
    };
    let (c1, c2) = (busy("b1"), busy("b2"));
    let (c3, _) = answered_then_bye("ok1", false, None, 200);
    let inv = invite("t1", 1, 2, 0, "z9hG4bK-1", 1);
    let c4 = analyze_call(vec![inv], &[]);
    for c in [&c1, &c2, &c3, &c4] {
        s.add(c, &diagnose(c));
    }
    assert_eq!(s.calls, 4);
    assert_eq!(s.by_outcome.get(&Outcome::Rejected), Some(&2));
    assert_eq!(s.by_outcome.get(&Outcome::Completed), Some(&1));
    assert_eq!(s.by_outcome.get(&Outcome::Timeout), Some(&1));
    assert_eq!(s.failures_by_code.get(&Some(486)), Some(&2));
    assert_eq!(s.failures_by_code.get(&None), Some(&1));
    assert_eq!(s.failures_by_host.get(&ip(3).to_string()), Some(&2));
    assert_eq!(s.answer_seizure_ratio(), Some(0.25));
    let top = s.top_causes(1);
    assert_eq!(top.len(), 1);
    assert_eq!(top[0].count, 2);
    assert!(top[0].cause.starts_with("486"));
    assert_eq!(top[0].example_call_id, "b1");
}

#[test]
fn vocabulary_words_round_trip() {
    for o in Outcome::ALL {
        assert_eq!(Outcome::parse(o.as_str()), Some(o));
        assert!(o
            .as_str()
            .chars()
            .all(|c| c.is_ascii_lowercase() || c == '_'));
    }
    let words: std::collections::BTreeSet<_> = Outcome::ALL.iter().map(|o| o.as_str()).collect();
    assert_eq!(words.len(), Outcome::ALL.len());
}

#[test]
fn a_call_of_unreadable_messages_does_not_panic() {
    let mut m = invite("x", 1, 2, 0, "", 1);
    m.start = crate::dialog::Start::Invalid;
    m.cseq = None;
    let d = diagnose(&analyze_call(vec![m], &[]));
    assert_eq!(d.final_code, None);
}

/// A CANCEL whose Via writes the sent-by without the default port still cancels the INVITE.
#[test]
fn cancel_with_a_differently_written_sent_by_still_counts() {
    let inv = invite("sb", 1, 2, 0, "z9hG4bK-1", 1);
    let ring = reply(&inv, 180, 50, Some("b"));
    let mut cancel = hop_request(&inv, "CANCEL", 4000, None);
    if let Some(v) = cancel.vias.first_mut() {
        v.sent_by = "10.0.0.1".into();
    }
    let late = reply(&inv, 408, 40_000, Some("b"));
    let call = analyze_call(vec![inv, ring, cancel, late], &[]);
    let d = diagnose(&call);
    assert_eq!(d.outcome, Outcome::Cancelled);
    assert_eq!(d.final_code, Some(408));
    assert_eq!(d.ended_by, Some(host(&call, 1)));
}

/// The messages whose Reason, Warning and Retry-After headers are read: every first sighting
/// of the deciding response, the CANCELs and the first BYE when one of them carries such a
/// header, none otherwise (nothing would be read from them).
#[test]
fn header_sources_are_listed_only_when_one_carries_a_header() {
    let reference = |call: &Call, d: &Diagnosis| -> Vec<MsgIdx> {
        let cancels = d
            .transaction
            .and_then(|t| call.transactions.get(t))
            .map(|t| t.cancels.clone())
            .unwrap_or_default();
        let bye = call
            .steps
            .iter()
            .position(|s| s.is_request() && s.method() == "BYE");
        let mut v: Vec<MsgIdx> = d
            .final_step
            .into_iter()
            .chain(cancels)
            .chain(bye)
            .flat_map(|s| outcome::hop_msgs(call, s))
            .collect();
        v.sort_unstable();
        v.dedup();
        let any = v.iter().any(|&m| {
            let m = &call.messages[m];
            m.extra.reason_header.is_some()
                || m.extra.warning.is_some()
                || m.extra.retry_after.is_some()
        });
        if any {
            v
        } else {
            Vec::new()
        }
    };
    for reason in [None, Some("Q.850;cause=16"), Some("")] {
        let (call, d) = answered_then_bye("hs", true, reason, 200);
        let got = why::header_sources(&call, &d);
        assert_eq!(got, reference(&call, &d), "{reason:?}");
        assert_eq!(got.is_empty(), reason.is_none(), "{reason:?}");
    }
    // A Warning on the deciding response only.
    let inv = invite("hw", 1, 2, 0, "z9hG4bK-1", 1);
    let mut no = reply(&inv, 488, 10, Some("b"));
    no.extra.make_mut().warning = Some("399 host \"x\"".into());
    let call = analyze_call(vec![inv, no], &[]);
    let d = diagnose(&call);
    assert_eq!(why::header_sources(&call, &d), vec![1]);
    assert!(has(&d, "warning_header"));
}

/// The authentication evidence: every attempt's request and each challenge, in message order.
#[test]
fn auth_evidence_lists_attempts_and_challenges() {
    let mut msgs = Vec::new();
    for (i, cseq) in [1u32, 2, 3].into_iter().enumerate() {
        let t = i64::from(cseq) * 1000;
        let mut inv = invite("ev", 1, 2, t, &format!("z9hG4bK-{cseq}"), cseq);
        inv.has_credentials = i > 0;
        let ch = reply(&inv, 401, t + 10, Some("p"));
        let ack = hop_request(&inv, "ACK", t + 20, Some("p"));
        msgs.extend([inv, ch, ack]);
    }
    let d = diagnose(&analyze_call(msgs, &[]));
    assert_eq!(finding(&d, "auth_loop").evidence, vec![0, 1, 3, 4, 6, 7]);
    // No challenge: no authentication finding at all.
    let (_, d) = answered_then_bye("noauth", false, None, 200);
    assert!(!d
        .all_findings()
        .any(|f| f.code.starts_with("auth") || f.code == "credentials_rejected"));
}

/// Codec lists longer than the stack room of a media line come out whole, as a plain join
/// of the lists writes them; the transaction timings name their methods.
#[test]
fn long_codec_lists_are_joined_whole() {
    let many: Vec<String> = (0..12).map(|i| format!("C{i}/8000")).collect();
    let mut offered: Vec<&str> = many.iter().map(String::as_str).collect();
    offered.push("telephone-event/8000");
    let answered: Vec<&str> = offered.iter().rev().copied().step_by(2).collect();
    let inv = with_sdp(
        invite("lc", 1, 2, 0, "z9hG4bK-1", 1),
        Some(sdp("10.0.0.1", &offered, "sendrecv", 4000)),
    );
    let ok = with_sdp(
        reply(&inv, 200, 10, Some("b")),
        Some(sdp("10.0.0.2", &answered, "sendrecv", 5000)),
    );
    let d = diagnose(&analyze_call(vec![inv, ok], &[]));
    let real: Vec<&str> = offered[..12].to_vec();
    let both: Vec<&str> = real
        .iter()
        .copied()
        .filter(|c| answered.contains(c))
        .collect();
    assert_eq!(
        finding(&d, "codecs_negotiated").text,
        format!(
            "audio: {} agreed (offered {}).",
            both.join(", "),
            real.join(", ")
        )
    );
    let methods: Vec<&str> = d
        .timings
        .transactions
        .iter()
        .map(|t| t.method.as_str())
        .collect();
    assert_eq!(methods, ["INVITE"]);
}

/// Codes are written as `Display` writes them.
#[test]
fn push_u16_is_display() {
    for n in [0u16, 7, 9, 10, 99, 100, 486, 999, 1000, 9999, 10000, 65535] {
        let mut s = String::from("x");
        why::push_u16(&mut s, n);
        assert_eq!(s, format!("x{n}"));
    }
}

/// The meaning of the deciding response and the causes read as the formatted strings did,
/// with a reason phrase of capture text (odd case, spaces, non-ASCII).
#[test]
fn response_meaning_and_cause_as_formatted() {
    for (code, phrase) in [
        (486u16, "Busy Here"),
        (404, "nicht gefunden – ü"),
        (503, ""),
        (699, "Whatever"),
    ] {
        let inv = invite("rm", 1, 2, 0, "z9hG4bK-1", 1);
        let mut no = reply(&inv, code, 10, Some("b"));
        no.start = crate::dialog::Start::Response {
            code,
            reason: phrase.into(),
        };
        let call = analyze_call(vec![inv, no], &[]);
        let d = diagnose(&call);
        let a = crate::dialog::annotate(&call, d.final_step.unwrap()).unwrap();
        let mut want = format!(
            "{code} {phrase} ({}): {}",
            a.class.label(),
            a.meaning.trim_end_matches('.')
        );
        want.push('.');
        if let (Some(r), Some(next)) = (a.receiver_role, a.on_receipt) {
            want.push_str(&format!(" A {} receiving it: {next}", r.label()));
        }
        assert_eq!(finding(&d, "response_meaning").text, want);
        assert_eq!(
            d.cause.as_deref(),
            Some(format!("{code} {phrase}").as_str())
        );
    }
    // No final response: the outcome's words.
    let d = diagnose(&analyze_call(
        vec![invite("nf", 1, 2, 0, "z9hG4bK-1", 1)],
        &[],
    ));
    assert_eq!(d.cause.as_deref(), Some(Outcome::Timeout.words()));
}

/// The text output's diagnosis is the full one less the per-transaction timings, and renders
/// to the same text: on calls with retransmissions, several transactions, a challenge, a
/// slow answer, and one without any message read.
#[test]
fn diagnosis_for_text_is_the_full_one_without_the_transaction_table() {
    let mut calls = Vec::new();
    let inv = invite("to", 1, 2, 0, "z9hG4bK-t", 1);
    let mut msgs = vec![inv.clone()];
    msgs.extend(retransmit(&inv, &[500, 1500, 3500]));
    calls.push(analyze_call(msgs, &[]));
    calls.push(answered_then_bye("ok", false, None, 200).0);
    calls.push(answered_then_bye("ab", true, Some("SIP;cause=500"), 481).0);
    let mut msgs = Vec::new();
    for (i, cseq) in [1u32, 2].into_iter().enumerate() {
        let t = i64::from(cseq) * 1000;
        let mut inv = invite("ch", 1, 2, t, &format!("z9hG4bK-{cseq}"), cseq);
        inv.has_credentials = i > 0;
        let code = if i == 0 { 407 } else { 200 };
        let r = reply(&inv, code, t + 900, Some("p"));
        let ack = hop_request(&inv, "ACK", t + 950, Some("p"));
        msgs.extend([inv, r, ack]);
    }
    calls.push(analyze_call(msgs, &[]));
    let o = request("OPTIONS", "op", 1, 2, 0, "z9hG4bK-o", 1, "a", None);
    calls.push(analyze_call(
        vec![o.clone(), reply(&o, 200, 700, Some("x"))],
        &[],
    ));
    calls.push(analyze_call(Vec::new(), &[]));
    let view = MediaView {
        streams: &[],
        capture: &CaptureStreams::default(),
        capture_end_ns: None,
    };
    let mut tables = 0;
    for call in &calls {
        let full = diagnose_with_media(call, &view);
        let text = diagnose_with_media_for_text(call, &view);
        tables += full.timings.transactions.len();
        let mut want = full.clone();
        want.timings.transactions.clear();
        assert_eq!(text, want, "{}", call.call_id);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        crate::output::diagnose::push_call_body(&mut a, call, &full);
        crate::output::diagnose::push_call_body(&mut b, call, &text);
        assert_eq!(a, b, "{}", call.call_id);
    }
    assert!(tables >= calls.len(), "{tables}");
}
