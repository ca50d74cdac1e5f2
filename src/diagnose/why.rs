//! Why: what the deciding code means for the host that received it, what the Reason, Warning
//! and Retry-After headers add, what an operator's reason phrase usually hides, and how
//! authentication went. Meanings come from `dialog::annotate` and `knowledge`; nothing here
//! re-derives them.

use crate::dialog::{Annotation, Call, MsgIdx};
use crate::knowledge;

use super::outcome::{carried_credentials, code_of, hop_msgs};
use super::{Diagnosis, Finding, Outcome, Severity};

/// Value of a `;name=value` parameter (quotes removed), ASCII case-insensitive on the name.
pub(crate) fn param<'a>(value: &'a str, name: &str) -> Option<&'a str> {
    value.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().trim_matches('"'))
    })
}

/// `text="..."` of a Reason value, keeping semicolons inside the quotes.
fn reason_text(value: &str) -> Option<&str> {
    let lower = value.to_ascii_lowercase();
    let at = lower.find("text=")?;
    let rest = value.get(at.saturating_add(5)..)?.trim_start();
    match rest.strip_prefix('"') {
        Some(q) => Some(q.split('"').next().unwrap_or(q)),
        None => Some(rest.split(';').next().unwrap_or(rest).trim()),
    }
}

/// One Reason header value in words.
pub(crate) fn describe_reason(value: &str) -> (&'static str, String, Option<String>) {
    let proto = value.split(';').next().unwrap_or("").trim();
    let cause = param(value, "cause").and_then(|c| c.parse::<u16>().ok());
    let text = reason_text(value)
        .map(|t| format!(" (\"{t}\")"))
        .unwrap_or_default();
    match (proto.to_ascii_uppercase().as_str(), cause) {
        ("Q.850", Some(c)) => {
            let name = knowledge::q850_cause(c).unwrap_or("cause not defined by Q.850");
            let class = knowledge::q850_class(c)
                .map(|k| format!(", class: {k}"))
                .unwrap_or_default();
            (
                "reason_q850",
                format!("Reason: Q.850 cause {c}, {name}{class}{text}."),
                Some(format!("Q.850 {c} {name}")),
            )
        }
        ("SIP", Some(c)) => {
            let d = knowledge::describe(c);
            (
                "reason_sip",
                format!(
                    "Reason: SIP cause {c} {}{text}: {}",
                    d.reason(),
                    d.meaning()
                ),
                None,
            )
        }
        _ => ("reason_other", format!("Reason: {}", value.trim()), None),
    }
}

/// What a warn-code (RFC 3261 section 20.43) says.
fn warn_code_meaning(code: u16) -> Option<&'static str> {
    Some(match code {
        300 => "none of the offered network protocols is available",
        301 => "none of the offered network address formats is available",
        302 => "none of the offered transport protocols is available",
        303 => "none of the offered bandwidth measures is understood",
        304 => "none of the offered media types is available",
        305 => "none of the offered media formats (codecs) is available",
        306 => "an SDP attribute was not understood",
        307 => "an SDP parameter was not understood",
        330 => "multicast is not available",
        331 => "unicast is not available",
        370 => "not enough bandwidth",
        399 => "a miscellaneous warning",
        _ => return None,
    })
}

/// Appends `n` in decimal, as `Display` writes it.
pub(super) fn push_u16(out: &mut String, n: u16) {
    use std::fmt::Write;
    // Writing to a String cannot fail.
    let _ = write!(out, "{n}");
}

/// Messages of the steps that matter for headers: the deciding final response, the CANCEL,
/// the BYE (first sighting on each leg).
pub(super) fn header_sources(call: &Call, d: &Diagnosis) -> Vec<MsgIdx> {
    let cancels = d
        .transaction
        .and_then(|t| call.transactions.get(t))
        .map_or(&[][..], |tx| &tx.cancels[..]);
    let bye = call
        .steps
        .iter()
        .position(|s| s.is_request() && s.method() == "BYE");
    let steps = || d.final_step.iter().chain(cancels).chain(bye.as_ref());
    // Most calls carry none of those headers there: then no list at all.
    let has_headers = |m: &crate::dialog::Msg| {
        m.extra.reason_header.is_some()
            || m.extra.warning.is_some()
            || m.extra.retry_after.is_some()
    };
    let any = steps()
        .filter_map(|s| call.steps.get(*s))
        .flat_map(|step| &step.hops)
        .any(|h| call.messages.get(h.msg).is_some_and(has_headers));
    if !any {
        return Vec::new();
    }
    // The first sighting on each leg of those steps, straight into one list.
    let mut msgs: Vec<MsgIdx> = Vec::new();
    for s in steps() {
        if let Some(step) = call.steps.get(*s) {
            msgs.extend(step.hops.iter().map(|h| h.msg));
        }
    }
    msgs.sort_unstable();
    msgs.dedup();
    msgs
}

/// `annotation` is the deciding response's (`d.final_step`), as
/// [`annotate`](crate::dialog::annotate) gives it.
pub(crate) fn explain(call: &Call, d: &mut Diagnosis, annotation: Option<&Annotation>) {
    let failed = d.outcome.is_failure();
    let sev = if failed {
        Severity::Error
    } else {
        Severity::Info
    };
    if let (Some(f), Some(code)) = (d.final_step, d.final_code) {
        if code >= 300 {
            if let Some(a) = annotation {
                let phrase = call
                    .summary
                    .final_step
                    .filter(|&s| s == f)
                    .and(call.summary.final_reason.clone())
                    .or_else(|| {
                        call.first_msg(f).and_then(|m| match &m.start {
                            crate::dialog::Start::Response { reason, .. } => Some(reason.clone()),
                            _ => None,
                        })
                    })
                    .unwrap_or_default();
                // `{code} {phrase} ({class}): {meaning}.`, then ` A {role} receiving it:
                // {next}`, pieces put in one string (formatting took about a thousand
                // instructions a failed call).
                let meaning = a.meaning.trim_end_matches('.');
                let mut text = String::with_capacity(phrase.len() + meaning.len() + 128);
                push_u16(&mut text, code);
                text.push(' ');
                text.push_str(&phrase);
                // `{code} {phrase}`: the cause of a failed call.
                let head = text.len();
                text.push_str(" (");
                text.push_str(a.class.label());
                text.push_str("): ");
                text.push_str(meaning);
                text.push('.');
                if let (Some(r), Some(next)) = (a.receiver_role, a.on_receipt) {
                    text.push_str(" A ");
                    text.push_str(r.label());
                    text.push_str(" receiving it: ");
                    text.push_str(next);
                }
                if failed && code >= 300 {
                    d.cause = Some(String::from(text.get(..head).unwrap_or_default()));
                }
                d.why.push(Finding::new(
                    sev,
                    "response_meaning",
                    text,
                    hop_msgs(call, f),
                ));
                if let Some(h) = a.hint {
                    d.why.push(Finding::new(
                        Severity::Info,
                        "reason_phrase_hint",
                        format!("The phrase \"{}\" usually means: {}", h.phrase, h.cause),
                        hop_msgs(call, f),
                    ));
                }
            }
        }
    }
    headers(call, d, failed);
    auth(call, d);
    if d.outcome == Outcome::Redirected {
        if let Some(f) = d.final_step {
            let contact = call.first_msg(f).and_then(|m| m.extra.contact.clone());
            d.why.push(Finding::new(
                Severity::Info,
                "redirect_target",
                match contact {
                    Some(c) => format!("Redirected to {c}."),
                    None => "Redirected, without a Contact to go to.".to_string(),
                },
                hop_msgs(call, f),
            ));
        }
    }
}

fn headers(call: &Call, d: &mut Diagnosis, failed: bool) {
    let mut seen: Vec<String> = Vec::new();
    for m in header_sources(call, d) {
        let Some(msg) = call.messages.get(m) else {
            continue;
        };
        if let Some(r) = &msg.extra.reason_header {
            for v in r.split(',').filter(|v| !v.trim().is_empty()) {
                let key = format!("r:{}", v.trim());
                if seen.contains(&key) {
                    continue;
                }
                seen.push(key);
                let (code, text, cause) = describe_reason(v);
                d.why
                    .push(Finding::new(Severity::Info, code, text, vec![m]));
                if let Some(c) = cause.filter(|_| failed || d.outcome == Outcome::Aborted) {
                    d.cause = Some(c);
                }
            }
        }
        if let Some(w) = &msg.extra.warning {
            let key = format!("w:{w}");
            if !seen.contains(&key) {
                seen.push(key);
                let code = w
                    .split_whitespace()
                    .next()
                    .and_then(|c| c.parse::<u16>().ok());
                let meaning = code
                    .and_then(warn_code_meaning)
                    .map(|t| format!(": {t}"))
                    .unwrap_or_default();
                d.why.push(Finding::new(
                    Severity::Info,
                    "warning_header",
                    format!("Warning: {}{meaning}.", w.trim()),
                    vec![m],
                ));
            }
        }
        if let Some(ra) = &msg.extra.retry_after {
            let key = format!("ra:{ra}");
            if !seen.contains(&key) {
                seen.push(key);
                let secs = ra.split([';', '(']).next().unwrap_or("").trim();
                d.why.push(Finding::new(
                    Severity::Info,
                    "retry_after",
                    format!(
                        "Retry-After: {secs} s: the server is temporarily out of service and asks clients to wait that long before trying again."
                    ),
                    vec![m],
                ));
            }
        }
    }
}

/// The first sighting of every attempt's request, and of the final response of those
/// challenged (401 or 407), in attempt order.
fn auth_evidence<'a>(
    call: &Call,
    attempts: impl Iterator<Item = &'a crate::dialog::Transaction>,
) -> Vec<MsgIdx> {
    let first_msg = |step: Option<usize>| {
        step.and_then(|s| call.steps.get(s))
            .and_then(|s| s.hops.first())
            .map(|h| h.msg)
    };
    let mut evidence = Vec::new();
    for t in attempts {
        evidence.extend(first_msg(t.request));
        if let Some(401 | 407) = code_of(call, t.final_response) {
            evidence.extend(first_msg(t.final_response));
        }
    }
    evidence
}

/// Challenges and retries among the transactions of the deciding method.
fn auth(call: &Call, d: &mut Diagnosis) {
    let Some(tx) = d.transaction.and_then(|t| call.transactions.get(t)) else {
        return;
    };
    let attempts = call
        .transactions
        .iter()
        .filter(|t| t.method == tx.method && !t.in_dialog);
    let mut challenges = Vec::new();
    let mut credentialed = 0usize;
    let mut challenged_after_credentials = 0usize;
    for t in attempts.clone() {
        let creds = carried_credentials(call, t);
        if creds {
            credentialed = credentialed.saturating_add(1);
        }
        if let Some(c @ (401 | 407)) = code_of(call, t.final_response) {
            challenges.push(c);
            if creds {
                challenged_after_credentials = challenged_after_credentials.saturating_add(1);
            }
        }
    }
    if challenges.is_empty() && !(d.final_code == Some(403) && carried_credentials(call, tx)) {
        return;
    }
    // Evidence only now that a finding may need it (most calls have no challenge).
    let mut evidence = auth_evidence(call, attempts);
    evidence.sort_unstable();
    let first = challenges.first().copied().unwrap_or(0);
    let last_code = d.final_code;
    if last_code.is_some_and(|c| (200..300).contains(&c)) {
        d.why.push(Finding::new(
            Severity::Info,
            "auth_challenge",
            format!(
                "Challenged with {first} ({} time(s)); the retry with credentials was accepted.",
                challenges.len()
            ),
            evidence,
        ));
    } else if last_code == Some(403) && carried_credentials(call, tx) {
        d.why.push(Finding::new(
            Severity::Error,
            "credentials_rejected",
            "The request carried credentials and was refused with 403: wrong user name or password, or an account not allowed to do this.",
            evidence,
        ));
        d.cause = Some("credentials rejected (403)".into());
    } else if challenged_after_credentials > 0 {
        d.why.push(Finding::new(
            Severity::Error,
            "auth_loop",
            format!(
                "Credentials were sent {credentialed} time(s) and challenged again each time ({}): wrong password, wrong realm or user name, or a nonce the server keeps rejecting.",
                {
                    let mut l: Vec<String> = challenges.iter().take(4).map(u16::to_string).collect();
                    if challenges.len() > 4 {
                        l.push(format!("... {} in all", challenges.len()));
                    }
                    l.join(", ")
                }
            ),
            evidence,
        ));
        d.cause = Some("authentication rejected (challenge loop)".into());
    } else if last_code.is_some_and(|c| c == 401 || c == 407) {
        d.why.push(Finding::new(
            Severity::Error,
            "auth_not_answered",
            format!(
                "Challenged with {first}, and no retry with credentials followed: the client has no credentials for this realm, or gave up."
            ),
            evidence,
        ));
        d.cause = Some("challenge not answered".into());
    }
}
