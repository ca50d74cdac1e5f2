//! SDP checks: the offer/answer codec intersection (an empty one explains 488 and 606), a
//! missing answer, private or CGNAT media addresses behind other signalling addresses (NAT:
//! one-way or no audio), held or inactive streams, and streams refused with port 0.

use std::net::IpAddr;

use smallvec::SmallVec;

use crate::dialog::{Call, MediaSummary, MsgIdx, SdpSummary, StepIdx, Text};

use super::outcome::hop_msgs;
use super::{Diagnosis, Finding, Severity};

/// Codecs that carry no media of their own: sharing only these is no agreement. Their names
/// are matched ignoring ASCII case (what lowercasing the name, then comparing, decides),
/// without allocating.
fn is_auxiliary(codec: &str) -> bool {
    let name = match codec.bytes().position(|b| b == b'/') {
        Some(slash) => codec.get(..slash).unwrap_or(""),
        None => codec,
    };
    [
        "telephone-event",
        "cn",
        "red",
        "ulpfec",
        "flexfec",
        "rtx",
        "comfort-noise",
    ]
    .iter()
    .any(|a| name.eq_ignore_ascii_case(a))
}

fn same_codec(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// Codec names of one media line: a few, so kept on the stack (a call's every negotiated
/// stream used to cost two allocations here).
type Codecs<'a> = SmallVec<[&'a str; 8]>;

/// Real codecs of an offer (`real`, see [`real`]) that the answer has too, as the offer
/// writes them.
fn common<'a>(real: &[&'a str], answer: &[Text]) -> Codecs<'a> {
    real.iter()
        .filter(|c| answer.iter().any(|a| same_codec(a, c)))
        .copied()
        .collect()
}

fn real(m: &MediaSummary) -> Codecs<'_> {
    m.codecs
        .iter()
        .filter(|c| !is_auxiliary(c))
        .map(|c| c.as_str())
        .collect()
}

/// Appends `items` joined with `, ` (what `items.join(", ")` gives).
fn push_joined(text: &mut String, items: &[&str]) {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            text.push_str(", ");
        }
        text.push_str(item);
    }
}

/// The SDP of a step as its generator sent it (its first hop).
fn sdp_of(call: &Call, step: StepIdx) -> Option<(MsgIdx, &SdpSummary)> {
    let m = call.steps.get(step)?.hops.first()?.msg;
    call.messages.get(m)?.extra.sdp.as_ref().map(|s| (m, s))
}

/// Private (RFC 1918), shared/CGNAT (RFC 6598) or link-local addresses.
pub(crate) fn private_kind(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(a) => {
            let o = a.octets();
            if a.is_private() {
                Some("private (RFC 1918)")
            } else if o[0] == 100 && (64..128).contains(&o[1]) {
                Some("carrier-grade NAT (RFC 6598)")
            } else if a.is_link_local() {
                Some("link-local")
            } else {
                None
            }
        }
        IpAddr::V6(a) => {
            let s = a.segments();
            if (s[0] & 0xfe00) == 0xfc00 {
                Some("unique-local (private IPv6)")
            } else if (s[0] & 0xffc0) == 0xfe80 {
                Some("link-local")
            } else {
                None
            }
        }
    }
}

fn is_public(ip: IpAddr) -> bool {
    private_kind(ip).is_none() && !ip.is_loopback() && !ip.is_unspecified() && !ip.is_multicast()
}

pub(crate) fn check(call: &Call, d: &mut Diagnosis) {
    codecs(call, d);
    addresses(call, d);
}

fn codecs(call: &Call, d: &mut Diagnosis) {
    let Some(tx) = d.transaction.and_then(|t| call.transactions.get(t)) else {
        return;
    };
    if tx.method != "INVITE" {
        return;
    }
    let offer = tx.request.and_then(|r| sdp_of(call, r));
    // The answer: the first response of the INVITE carrying SDP.
    let answer = tx
        .responses
        .iter()
        .filter(|&&r| {
            super::outcome::code_of(call, Some(r)).is_some_and(|c| (180..300).contains(&c))
        })
        .find_map(|&r| sdp_of(call, r));
    let Some((om, offer)) = offer else {
        if let (Some(f), Some(c)) = (d.final_step, d.final_code) {
            if (200..300).contains(&c) && answer.is_none() {
                d.sdp.push(Finding::new(
                    Severity::Info,
                    "late_offer",
                    "The INVITE carried no SDP and the 2xx no offer either: the media were set up outside this exchange (or not at all).",
                    hop_msgs(call, f),
                ));
            }
        }
        return;
    };
    match answer {
        Some((am, ans)) => {
            for (i, o) in offer.media.iter().enumerate() {
                let Some(a) = ans.media.get(i) else { continue };
                if a.port == 0 || o.port == 0 {
                    continue;
                }
                let offered = real(o);
                let both = common(&offered, &a.codecs);
                if both.is_empty() {
                    d.sdp.push(Finding::new(
                        Severity::Error,
                        "no_common_codec",
                        format!(
                            "{}: no codec in common between the offer ({}) and the answer ({}).",
                            o.kind,
                            offered.join(", "),
                            real(a).join(", ")
                        ),
                        vec![om, am],
                    ));
                    d.cause = Some("no common codec".into());
                } else {
                    // `{kind}: {both} agreed (offered {offered}).`, the lists joined with
                    // `, `, written in one string.
                    let mut text = String::with_capacity(64);
                    text.push_str(&o.kind);
                    text.push_str(": ");
                    push_joined(&mut text, &both);
                    text.push_str(" agreed (offered ");
                    push_joined(&mut text, &offered);
                    text.push_str(").");
                    d.sdp.push(Finding::new(
                        Severity::Info,
                        "codecs_negotiated",
                        text,
                        vec![om, am],
                    ));
                }
            }
            if offer.media.len() > ans.media.len() {
                d.sdp.push(Finding::new(
                    Severity::Warning,
                    "answer_media_missing",
                    format!(
                        "The answer has {} media line(s) for the offer's {}: RFC 3264 needs one per offered stream.",
                        ans.media.len(),
                        offer.media.len()
                    ),
                    vec![om, am],
                ));
            }
        }
        None => match d.final_code {
            Some(c @ (488 | 606 | 415)) => {
                // The refusal itself may carry the callee's capabilities.
                let refusal = d.final_step.and_then(|f| sdp_of(call, f));
                let offered: Vec<&str> = offer.media.iter().flat_map(real).collect();
                let mut ev = vec![om];
                ev.extend(d.final_step.map(|f| hop_msgs(call, f)).unwrap_or_default());
                let text = match refusal {
                    Some((rm, r)) => {
                        ev.push(rm);
                        let theirs: Vec<&str> = r.media.iter().flat_map(real).collect();
                        format!(
                            "Empty codec intersection: the offer had {} and the callee supports {}; refused with {c}.",
                            offered.join(", "),
                            theirs.join(", ")
                        )
                    }
                    None => format!(
                        "Empty codec intersection: the callee accepted none of the offered codecs ({}) and refused the call with {c}.",
                        offered.join(", ")
                    ),
                };
                ev.sort_unstable();
                ev.dedup();
                d.sdp
                    .push(Finding::new(Severity::Error, "no_common_codec", text, ev));
                d.cause = Some("no common codec".into());
            }
            Some(c) if (200..300).contains(&c) => {
                let ev = d.final_step.map(|f| hop_msgs(call, f)).unwrap_or_default();
                d.sdp.push(Finding::new(
                    Severity::Warning,
                    "missing_answer",
                    "The INVITE offered SDP but neither the 2xx nor a provisional response carried an answer: no media can flow.",
                    ev,
                ));
            }
            _ => {}
        },
    }
}

/// Media addresses, hold and port-0 streams in every SDP of the call (each leg's copy).
fn addresses(call: &Call, d: &mut Diagnosis) {
    let mut seen: Vec<String> = Vec::new();
    let mut once = |key: String| {
        if seen.contains(&key) {
            false
        } else {
            seen.push(key);
            true
        }
    };
    // The last address text parsed, and what it gave.
    let mut parsed: Option<(&str, Option<IpAddr>)> = None;
    for (si, s) in call.steps.iter().enumerate() {
        for h in &s.hops {
            let Some(m) = call.messages.get(h.msg) else {
                continue;
            };
            let Some(sdp) = &m.extra.sdp else { continue };
            let signalling = m.flow.src.ip;
            for media in &sdp.media {
                let addr_text = media.address.as_deref().or(sdp.address.as_deref());
                // Each leg's copy of an SDP usually repeats the address: parsed once.
                let addr = addr_text.and_then(|a| match parsed {
                    Some((text, ip)) if text == a => ip,
                    _ => {
                        let ip = a.trim().parse::<IpAddr>().ok();
                        parsed = Some((a, ip));
                        ip
                    }
                });
                if let Some(a) = addr {
                    if let Some(kind) = private_kind(a) {
                        if a != signalling && once(format!("nat:{a}")) {
                            let from = if is_public(signalling) {
                                "the public address "
                            } else {
                                ""
                            };
                            d.sdp.push(Finding::new(
                                Severity::Warning,
                                "private_media_address",
                                format!(
                                    "{} media address {a} is {kind}, but the SIP message came from {from}{signalling}: the sender is probably behind NAT. Unless something in the path rewrites the SDP or relays the media, audio towards {a} will be one-way or silent.",
                                    media.kind
                                ),
                                vec![h.msg],
                            ));
                        }
                    }
                    if a.is_unspecified() && once(format!("hold0:{si}")) {
                        d.sdp.push(Finding::new(
                            Severity::Info,
                            "hold",
                            format!(
                                "{} put on hold the old way (connection address {a}).",
                                media.kind
                            ),
                            vec![h.msg],
                        ));
                    }
                }
                // The direction, lowercased, when it is one of these.
                let held = ["sendonly", "recvonly", "inactive"]
                    .into_iter()
                    .find(|x| media.direction.eq_ignore_ascii_case(x));
                if let Some(dir) = held.filter(|_| once(format!("dir:{si}:{}", media.kind))) {
                    d.sdp.push(Finding::new(
                        Severity::Info,
                        "hold",
                        format!(
                            "{} is {dir} in {}: media flow one way or not at all (hold).",
                            media.kind,
                            s.method()
                        ),
                        vec![h.msg],
                    ));
                }
                if media.port == 0 && once(format!("port0:{si}:{}", media.kind)) {
                    let what = if s.is_request() {
                        "offered disabled"
                    } else {
                        "refused by the answerer"
                    };
                    d.sdp.push(Finding::new(
                        Severity::Info,
                        "port_zero",
                        format!("{} stream with port 0: {what}.", media.kind),
                        vec![h.msg],
                    ));
                }
            }
        }
    }
}
