//! Rendering diagnoses: a compact block per call for people (failed calls first) followed by
//! the file summary, and `{"calls": [...], "summary": {...}}` for programs.
//!
//! [`DiagnosisJson`] is the `diagnosis` object: `diagnose --json` flattens it into each call
//! and the export embeds it per call, so both say the same thing. It owns its strings, so it
//! can be built from a call that is dropped right after (streaming export).
//!
//! Every capture string printed as text goes through `escape_str`; JSON goes through
//! `escape::write_json`, or for the export's per-call object through [`AppendJson`] (the same
//! bytes, written by hand).

use std::collections::BTreeMap;
use std::io::{self, Write};

use serde::Serialize;

use super::escape::{escape_str, write_json};
use super::json::{AppendJson, JsonBuf};
use super::time::{clock_millis, push_duration, rfc3339_millis};
use crate::diagnose::{Diagnosis, Finding, LegRef, Severity, Summary, Timings};
use crate::dialog::{Call, HostIdx};
use crate::json_object;

/// How many causes the summary lists with an example.
pub const TOP_CAUSES: usize = 10;

/// A host as the diagnosis names it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct HostJson {
    /// `10.0.0.1`, or `127.0.0.1:5060` when the call has several endpoints on one address.
    pub host: String,
    pub role: &'static str,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct LegJson {
    pub from: HostJson,
    pub to: HostJson,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct WhereJson {
    pub path: Vec<HostJson>,
    pub generated_by: Option<HostJson>,
    pub proxied_by: Vec<HostJson>,
    pub received_by: Option<HostJson>,
    pub broken_leg: Option<LegJson>,
}

/// A message a finding points at.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct EvidenceJson {
    /// Index of the message in the call (0-based, in time order).
    pub message: usize,
    /// Input file (0-based) and frame number (1-based) of the frame that completed it.
    pub file: u16,
    pub frame: u64,
    pub time: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FindingJson {
    pub severity: &'static str,
    pub code: &'static str,
    pub text: String,
    pub evidence: Vec<EvidenceJson>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct TxTimingJson {
    pub method: String,
    pub cseq: u32,
    pub final_code: Option<u16>,
    pub first_response_ns: Option<i64>,
    pub final_response_ns: Option<i64>,
    pub request_retransmissions: usize,
    pub response_retransmissions: usize,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct TimingsJson {
    pub post_dial_delay_ns: Option<i64>,
    pub setup_ns: Option<i64>,
    pub final_response_ns: Option<i64>,
    pub answer_to_ack_ns: Option<i64>,
    pub duration_ns: Option<i64>,
    pub transactions: Vec<TxTimingJson>,
}

/// The `diagnosis` object of one call.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DiagnosisJson {
    /// One word from the documented vocabulary (docs/outcomes.md).
    pub outcome: &'static str,
    /// The same in a few words.
    pub outcome_text: &'static str,
    pub final_code: Option<u16>,
    /// The outcome needs attention (rejected, timeout, auth_failed, ...).
    pub failed: bool,
    pub cause: Option<String>,
    pub ended_by: Option<HostJson>,
    #[serde(rename = "where")]
    pub where_: WhereJson,
    pub why: Vec<FindingJson>,
    pub sdp: Vec<FindingJson>,
    pub timings: TimingsJson,
    pub findings: Vec<FindingJson>,
    /// Media findings (`no_rtp`, `one_way_audio`, `packet_loss`, ...). Absent when the
    /// call was diagnosed without its media (the export, which streams calls).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub media: Vec<FindingJson>,
    /// The call's RTP streams in brief; absent like `media`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub streams: Vec<StreamBriefJson>,
}

/// One RTP stream of the call, in brief (`sipscope media` has every figure).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct StreamBriefJson {
    pub src: String,
    pub dst: String,
    pub ssrc: String,
    pub codec: String,
    pub packets: u64,
    pub lost: i64,
    /// Found through the call's SDP (else by content, attached by address).
    pub announced: bool,
    pub text: String,
}

/// The export writes a diagnosis per call by hand ([`AppendJson`]): the same bytes as the
/// derived `Serialize` that `diagnose --json` uses (the export tests compare both).
macro_rules! append_objects {
    ($($t:ty { $($field:ident),* $(,)? })*) => {
        $(impl AppendJson for $t {
            fn append_json(&self, buf: &mut JsonBuf) -> serde_json::Result<()> {
                json_object!(buf, self; $($field),*);
                buf.push(b'}');
                Ok(())
            }
        })*
    };
}

append_objects! {
    HostJson { host, role }
    LegJson { from, to }
    WhereJson { path, generated_by, proxied_by, received_by, broken_leg }
    EvidenceJson { message, file, frame, time }
    FindingJson { severity, code, text, evidence }
    TxTimingJson {
        method, cseq, final_code, first_response_ns, final_response_ns,
        request_retransmissions, response_retransmissions,
    }
    TimingsJson {
        post_dial_delay_ns, setup_ns, final_response_ns, answer_to_ack_ns, duration_ns,
        transactions,
    }
    StreamBriefJson { src, dst, ssrc, codec, packets, lost, announced, text }
}

impl AppendJson for DiagnosisJson {
    fn append_json(&self, buf: &mut JsonBuf) -> serde_json::Result<()> {
        json_object!(buf, self; outcome, outcome_text, final_code, failed, cause, ended_by);
        buf.extend_from_slice(b",\"where\":");
        self.where_.append_json(buf)?;
        buf.extend_from_slice(b",\"why\":");
        self.why.append_json(buf)?;
        buf.extend_from_slice(b",\"sdp\":");
        self.sdp.append_json(buf)?;
        buf.extend_from_slice(b",\"timings\":");
        self.timings.append_json(buf)?;
        buf.extend_from_slice(b",\"findings\":");
        self.findings.append_json(buf)?;
        if !self.media.is_empty() {
            buf.extend_from_slice(b",\"media\":");
            self.media.append_json(buf)?;
        }
        if !self.streams.is_empty() {
            buf.extend_from_slice(b",\"streams\":");
            self.streams.append_json(buf)?;
        }
        buf.push(b'}');
        Ok(())
    }
}

fn host_json(call: &Call, h: HostIdx) -> HostJson {
    HostJson {
        host: call.host_label(h),
        role: call.hosts.get(h).map_or("unknown", |x| x.role.as_str()),
    }
}

fn leg_json(call: &Call, l: LegRef) -> LegJson {
    LegJson {
        from: host_json(call, l.from),
        to: host_json(call, l.to),
    }
}

fn finding_json(call: &Call, f: &Finding) -> FindingJson {
    FindingJson {
        severity: f.severity.as_str(),
        code: f.code,
        text: f.text.clone(),
        evidence: f
            .evidence
            .iter()
            .filter_map(|&m| {
                call.messages.get(m).map(|x| EvidenceJson {
                    message: m,
                    file: x.frame.file,
                    frame: x.frame.number,
                    time: rfc3339_millis(x.frame.ts_ns),
                })
            })
            .collect(),
    }
}

fn timings_json(t: &Timings) -> TimingsJson {
    TimingsJson {
        post_dial_delay_ns: t.post_dial_delay_ns,
        setup_ns: t.setup_ns,
        final_response_ns: t.final_response_ns,
        answer_to_ack_ns: t.answer_to_ack_ns,
        duration_ns: t.duration_ns,
        transactions: t
            .transactions
            .iter()
            .map(|x| TxTimingJson {
                method: x.method.clone(),
                cseq: x.cseq,
                final_code: x.final_code,
                first_response_ns: x.first_response_ns,
                final_response_ns: x.final_response_ns,
                request_retransmissions: x.request_retransmissions,
                response_retransmissions: x.response_retransmissions,
            })
            .collect(),
    }
}

impl DiagnosisJson {
    /// The JSON form of `d`, a diagnosis of `call`.
    pub fn new(call: &Call, d: &Diagnosis) -> DiagnosisJson {
        let w = &d.where_;
        let findings = |v: &[Finding]| v.iter().map(|f| finding_json(call, f)).collect();
        DiagnosisJson {
            outcome: d.outcome.as_str(),
            outcome_text: d.outcome.words(),
            final_code: d.final_code,
            failed: d.outcome.is_failure(),
            cause: d.cause.clone(),
            ended_by: d.ended_by.map(|h| host_json(call, h)),
            where_: WhereJson {
                path: w.path.iter().map(|&h| host_json(call, h)).collect(),
                generated_by: w.generated_by.map(|h| host_json(call, h)),
                proxied_by: w.proxied_by.iter().map(|&h| host_json(call, h)).collect(),
                received_by: w.received_by.map(|h| host_json(call, h)),
                broken_leg: w.broken_leg.map(|l| leg_json(call, l)),
            },
            why: findings(&d.why),
            sdp: findings(&d.sdp),
            timings: timings_json(&d.timings),
            findings: findings(&d.findings),
            media: findings(&d.media),
            streams: d
                .streams
                .iter()
                .map(|b| StreamBriefJson {
                    src: b.src.clone(),
                    dst: b.dst.clone(),
                    ssrc: b.ssrc.clone(),
                    codec: b.codec.clone(),
                    packets: b.packets,
                    lost: b.lost,
                    announced: b.announced,
                    text: b.text.clone(),
                })
                .collect(),
        }
    }
}

/// One call of `diagnose --json`: who and when, then the diagnosis flattened in.
#[derive(Debug, Clone, Serialize)]
pub struct CallDiagnosisJson {
    /// 1-based position in the full call list (as `calls` numbers it).
    pub index: usize,
    pub call_id: String,
    pub start: String,
    pub from_user: String,
    pub to_user: String,
    pub method: String,
    pub final_reason: Option<String>,
    #[serde(flatten)]
    pub diagnosis: DiagnosisJson,
}

impl CallDiagnosisJson {
    pub fn new(index: usize, call: &Call, d: &Diagnosis) -> CallDiagnosisJson {
        let s = &call.summary;
        let final_reason =
            d.final_step
                .and_then(|f| call.first_msg(f))
                .and_then(|m| match &m.start {
                    crate::dialog::Start::Response { reason, .. } => Some(reason.clone()),
                    _ => None,
                });
        CallDiagnosisJson {
            index,
            call_id: call.call_id.to_string(),
            start: rfc3339_millis(s.start_ns),
            from_user: s.from_user.to_string(),
            to_user: s.to_user.to_string(),
            method: s.first_method.to_string(),
            final_reason: final_reason.map(|r| r.to_string()),
            diagnosis: DiagnosisJson::new(call, d),
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CauseJson {
    pub cause: String,
    pub count: u64,
    pub example_call_id: String,
}

/// The file summary object.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SummaryJson {
    pub calls: u64,
    pub by_outcome: BTreeMap<&'static str, u64>,
    pub failures: u64,
    /// Keys are codes (`"486"`), or `"none"` for failures without a final response.
    pub failures_by_code: BTreeMap<String, u64>,
    pub failures_by_host: BTreeMap<String, u64>,
    /// Every cause, most frequent first, with one example Call-ID.
    pub failures_by_cause: Vec<CauseJson>,
    pub seizures: u64,
    pub answered: u64,
    /// Answered INVITE calls over all INVITE calls; null without INVITE calls.
    pub answer_seizure_ratio: Option<f64>,
    pub top_causes: Vec<CauseJson>,
}

impl SummaryJson {
    pub fn new(s: &Summary) -> SummaryJson {
        let causes = |n: usize| {
            s.top_causes(n)
                .into_iter()
                .map(|c| CauseJson {
                    cause: c.cause,
                    count: c.count,
                    example_call_id: c.example_call_id,
                })
                .collect()
        };
        SummaryJson {
            calls: s.calls,
            by_outcome: s.by_outcome.iter().map(|(o, n)| (o.as_str(), *n)).collect(),
            failures: s.failures(),
            failures_by_code: s
                .failures_by_code
                .iter()
                .map(|(c, n)| (c.map_or_else(|| "none".to_string(), |c| c.to_string()), *n))
                .collect(),
            failures_by_host: s.failures_by_host.clone(),
            failures_by_cause: causes(usize::MAX),
            seizures: s.seizures,
            answered: s.answered,
            answer_seizure_ratio: s.answer_seizure_ratio(),
            top_causes: causes(TOP_CAUSES),
        }
    }
}

#[derive(Serialize)]
struct Doc<'a> {
    calls: &'a [CallDiagnosisJson],
    summary: SummaryJson,
}

/// `{"calls": [...], "summary": {...}}` and a newline. `calls` holds (1-based index, call,
/// diagnosis) in the order to print.
pub fn write_json_doc(
    out: &mut dyn Write,
    calls: &[(usize, &Call, &Diagnosis)],
    summary: &Summary,
) -> io::Result<()> {
    let rows: Vec<CallDiagnosisJson> = calls
        .iter()
        .map(|(i, c, d)| CallDiagnosisJson::new(*i, c, d))
        .collect();
    write_json(
        out,
        &Doc {
            calls: &rows,
            summary: SummaryJson::new(summary),
        },
    )
}

fn host_text(call: &Call, h: HostIdx) -> String {
    let role = call.hosts.get(h).map_or("unknown", |x| x.role.as_str());
    let mut text = call.host_label(h);
    text.push_str(" (");
    text.push_str(role);
    text.push(')');
    text
}

fn mark(s: Severity) -> &'static str {
    match s {
        Severity::Info => "-",
        Severity::Warning => "!",
        Severity::Error => "X",
    }
}

fn evidence_text(call: &Call, f: &Finding) -> String {
    if f.evidence.is_empty() {
        return String::new();
    }
    let frames: Vec<String> = f
        .evidence
        .iter()
        .take(6)
        .filter_map(|&m| call.messages.get(m))
        .map(|m| match m.frame.file {
            0 => format!("#{}", m.frame.number),
            n => format!("{n}#{}", m.frame.number),
        })
        .collect();
    let more = if f.evidence.len() > 6 { ",..." } else { "" };
    format!(" [frames {}{more}]", frames.join(","))
}

fn where_text(call: &Call, d: &Diagnosis) -> Vec<String> {
    let w = &d.where_;
    let mut lines = Vec::new();
    // Written piece by piece: one string per line, no intermediate lists or formatting.
    if let Some(g) = w.generated_by {
        let mut l = String::from("generated by ");
        l.push_str(&host_text(call, g));
        for (i, &h) in w.proxied_by.iter().enumerate() {
            l.push_str(if i == 0 { ", proxied by " } else { ", " });
            l.push_str(&host_text(call, h));
        }
        if let Some(r) = w.received_by {
            l.push_str(", received by ");
            l.push_str(&call.host_label(r));
        }
        lines.push(l);
    }
    if w.path.len() > 1 {
        let mut l = String::from("path ");
        for (i, &h) in w.path.iter().enumerate() {
            if i > 0 {
                l.push_str(" -> ");
            }
            l.push_str(&call.host_label(h));
        }
        lines.push(l);
    }
    if let Some(l) = w.broken_leg {
        lines.push(format!(
            "broken leg {} -> {}",
            call.host_label(l.from),
            call.host_label(l.to)
        ));
    }
    lines
}

/// `post-dial 1.234s, setup ...`: the timings known, written into one string.
fn timings_text(d: &Diagnosis) -> String {
    let t = &d.timings;
    let mut text = String::new();
    for (k, v) in [
        ("post-dial", t.post_dial_delay_ns),
        ("setup", t.setup_ns),
        ("final", t.final_response_ns),
        ("2xx->ACK", t.answer_to_ack_ns),
        ("duration", t.duration_ns),
    ] {
        let Some(v) = v else { continue };
        if !text.is_empty() {
            text.push_str(", ");
        }
        text.push_str(k);
        text.push(' ');
        push_duration(&mut text, v);
    }
    text
}

fn outcome_line(call: &Call, d: &Diagnosis) -> String {
    let mut l = d.outcome.as_str().to_string();
    if d.outcome.words() != d.outcome.as_str() {
        l.push_str(" (");
        l.push_str(d.outcome.words());
        l.push(')');
    }
    if let Some(c) = d.final_code {
        let reason = d
            .final_step
            .and_then(|f| call.first_msg(f))
            .and_then(|m| match &m.start {
                crate::dialog::Start::Response { reason, .. } => Some(reason.as_str()),
                _ => None,
            })
            .unwrap_or("");
        l.push_str(", final ");
        l.push_str(&c.to_string());
        l.push(' ');
        l.push_str(&escape_str(reason));
    }
    if let Some(h) = d.ended_by {
        let who = match d.where_.path.first() {
            Some(&o) if o == h => "the caller",
            Some(_) => "the callee side",
            None => "",
        };
        l.push_str(", ended by ");
        l.push_str(who);
        l.push(' ');
        l.push_str(&call.host_label(h));
    }
    l
}

/// The block of one call.
pub fn write_call(out: &mut dyn Write, index: usize, call: &Call, d: &Diagnosis) -> io::Result<()> {
    let s = &call.summary;
    let flag = if d.outcome.is_failure() { "!!" } else { "  " };
    writeln!(
        out,
        "{flag} #{index} {} {}  {} -> {}  {}",
        clock_millis(s.start_ns),
        escape_str(&call.call_id),
        escape_str(&s.from_user),
        escape_str(&s.to_user),
        escape_str(&s.first_method)
    )?;
    writeln!(out, "   outcome  {}", outcome_line(call, d))?;
    if let Some(c) = &d.cause {
        writeln!(out, "   cause    {}", escape_str(c))?;
    }
    for l in where_text(call, d) {
        writeln!(out, "   where    {l}")?;
    }
    for (label, list) in [
        ("why", &d.why),
        ("sdp", &d.sdp),
        ("media", &d.media),
        ("finding", &d.findings),
    ] {
        if label == "media" {
            // The streams first, then what is wrong with them.
            for b in &d.streams {
                writeln!(
                    out,
                    "   rtp      {} -> {} {}",
                    escape_str(&b.src),
                    escape_str(&b.dst),
                    escape_str(&b.text)
                )?;
            }
        }
        for f in list {
            writeln!(
                out,
                "   {label:<8} {} {}{}",
                mark(f.severity),
                escape_str(&f.text),
                evidence_text(call, f)
            )?;
        }
    }
    let t = timings_text(d);
    if !t.is_empty() {
        writeln!(out, "   timings  {t}")?;
    }
    Ok(())
}

/// The summary block.
pub fn write_summary(out: &mut dyn Write, s: &Summary) -> io::Result<()> {
    writeln!(out, "Summary: {} call(s)", s.calls)?;
    let outcomes: Vec<String> = s
        .by_outcome
        .iter()
        .map(|(o, n)| format!("{} {n}", o.as_str()))
        .collect();
    writeln!(out, "  by outcome        {}", outcomes.join(", "))?;
    if let Some(r) = s.answer_seizure_ratio() {
        writeln!(
            out,
            "  answer/seizure    {:.1}% ({} of {} INVITE calls answered)",
            r * 100.0,
            s.answered,
            s.seizures
        )?;
    }
    writeln!(out, "  failures          {}", s.failures())?;
    if s.failures() == 0 {
        return Ok(());
    }
    let codes: Vec<String> = s
        .failures_by_code
        .iter()
        .map(|(c, n)| match c {
            Some(c) => format!("{c}: {n}"),
            None => format!("no final: {n}"),
        })
        .collect();
    writeln!(out, "  by code           {}", codes.join(", "))?;
    let mut hosts: Vec<(&String, &u64)> = s.failures_by_host.iter().collect();
    hosts.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
    let hosts: Vec<String> = hosts
        .iter()
        .take(TOP_CAUSES)
        .map(|(h, n)| format!("{}: {n}", escape_str(h)))
        .collect();
    writeln!(out, "  by generating host {}", hosts.join(", "))?;
    writeln!(out, "  top causes")?;
    for c in s.top_causes(TOP_CAUSES) {
        writeln!(
            out,
            "    {:>6}  {}  (e.g. {})",
            c.count,
            escape_str(&c.cause),
            escape_str(&c.example_call_id)
        )?;
    }
    Ok(())
}

/// Failed calls first (full blocks), then the others, then the summary.
pub fn write_text(
    out: &mut dyn Write,
    calls: &[(usize, &Call, &Diagnosis)],
    summary: &Summary,
) -> io::Result<()> {
    let failed: Vec<_> = calls
        .iter()
        .filter(|(_, _, d)| d.outcome.is_failure())
        .collect();
    if !failed.is_empty() {
        writeln!(out, "Failed calls ({})", failed.len())?;
        for (i, c, d) in &failed {
            write_call(out, *i, c, d)?;
        }
        writeln!(out)?;
    }
    let rest: Vec<_> = calls
        .iter()
        .filter(|(_, _, d)| !d.outcome.is_failure())
        .collect();
    if !rest.is_empty() {
        writeln!(out, "Other calls ({})", rest.len())?;
        for (i, c, d) in &rest {
            write_call(out, *i, c, d)?;
        }
        writeln!(out)?;
    }
    write_summary(out, summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::diagnose;
    use crate::dialog::analyze_call;
    use crate::dialog::testkit::*;

    fn hostile() -> Call {
        let inv = invite("id\u{1b}]0;pwn\u{7}\u{202e}", 1, 3, 0, "z9hG4bK-1", 1);
        let mut busy = reply(&inv, 486, 15, Some("t"));
        busy.start = crate::dialog::Start::Response {
            code: 486,
            reason: "Busy\u{9b}31m\u{1b}[2J".into(),
        };
        busy.warning = Some("399 x \"\u{1b}[31mred\"".into());
        analyze_call(vec![inv, busy], &[])
    }

    #[test]
    fn text_is_escaped_and_failed_calls_come_first() {
        let bad = hostile();
        let o = request("OPTIONS", "fine", 4, 5, 0, "z9hG4bK-2", 1, "a", None);
        let o200 = reply(&o, 200, 3, Some("x"));
        let good = analyze_call(vec![o, o200], &[]);
        let (db, dg) = (diagnose(&bad), diagnose(&good));
        let mut s = Summary::new();
        s.add(&bad, &db);
        s.add(&good, &dg);
        let mut buf = Vec::new();
        write_text(&mut buf, &[(1, &good, &dg), (2, &bad, &db)], &s).unwrap();
        let text = String::from_utf8(buf).unwrap();
        assert!(
            !text.chars().any(|c| c.is_control() && c != '\n'),
            "{text:?}"
        );
        assert!(!text.contains('\u{202e}'));
        let failed_at = text.find("!! #2").expect("failed call flagged");
        let ok_at = text.find("#1 ").expect("other call listed");
        assert!(failed_at < ok_at, "{text}");
        assert!(
            text.contains("generated by 10.0.0.3 (user agent)"),
            "{text}"
        );
        assert!(text.contains("rejected"));
        assert!(text.contains("Summary: 2 call(s)"));
        assert!(text.contains("486: 1"), "{text}");
    }

    #[test]
    fn json_has_calls_and_summary_and_is_terminal_safe() {
        let bad = hostile();
        let d = diagnose(&bad);
        let mut s = Summary::new();
        s.add(&bad, &d);
        let mut buf = Vec::new();
        write_json_doc(&mut buf, &[(7, &bad, &d)], &s).unwrap();
        let text = String::from_utf8(buf).unwrap();
        assert!(
            !text.chars().any(|c| c.is_control() && c != '\n'),
            "{text:?}"
        );
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let c = &v["calls"][0];
        assert_eq!(c["index"], 7);
        assert_eq!(c["call_id"], bad.call_id.as_str());
        assert_eq!(c["outcome"], "rejected");
        assert_eq!(c["final_code"], 486);
        assert_eq!(c["failed"], true);
        assert_eq!(c["where"]["generated_by"]["host"], "10.0.0.3");
        let why = c["why"].as_array().unwrap();
        assert!(why.iter().any(|f| f["code"] == "response_meaning"
            && f["severity"] == "error"
            && !f["evidence"].as_array().unwrap().is_empty()));
        assert_eq!(v["summary"]["failures_by_code"]["486"], 1);
        assert_eq!(v["summary"]["by_outcome"]["rejected"], 1);
        assert_eq!(v["summary"]["answer_seizure_ratio"], 0.0);
        assert_eq!(
            v["summary"]["top_causes"][0]["example_call_id"],
            bad.call_id.as_str()
        );
        // The embeddable object serialises on its own with the same words.
        let alone = serde_json::to_value(DiagnosisJson::new(&bad, &d)).unwrap();
        assert_eq!(alone["outcome"], c["outcome"]);
        assert_eq!(alone["where"], c["where"]);
    }

    /// The export's hand-written diagnosis is byte for byte the derived `Serialize` through
    /// serde_json with the terminal-safe formatter, hostile text, media and streams included.
    #[test]
    fn hand_written_diagnosis_matches_serde() {
        let bad = hostile();
        let mut dj = DiagnosisJson::new(&bad, &diagnose(&bad));
        let reference = |dj: &DiagnosisJson| {
            let mut out = Vec::new();
            let mut ser = serde_json::Serializer::with_formatter(
                &mut out,
                super::super::escape::TerminalSafe,
            );
            dj.serialize(&mut ser).unwrap();
            out
        };
        let ours = |dj: &DiagnosisJson| {
            let mut out = JsonBuf::default();
            out.extend_from_slice(b"kept");
            dj.append_json(&mut out).unwrap();
            out.as_bytes().get(4..).unwrap().to_vec()
        };
        assert_eq!(ours(&dj), reference(&dj));
        dj.media.push(FindingJson {
            severity: "warning",
            code: "packet_loss",
            text: "lost \"5%\" \u{1b}[2J".into(),
            evidence: vec![EvidenceJson {
                message: 3,
                file: 1,
                frame: u64::MAX,
                time: "t\u{202e}".into(),
            }],
        });
        dj.streams.push(StreamBriefJson {
            src: "[2001:db8::1]:4000".into(),
            dst: "10.0.0.2:4002".into(),
            ssrc: "0x1234abcd".into(),
            codec: "PCMU\u{85}".into(),
            packets: 0,
            lost: -7,
            announced: true,
            text: "one way \\ back".into(),
        });
        let text = String::from_utf8(ours(&dj)).unwrap();
        assert!(text.contains("\"media\":[") && text.contains("\"streams\":["));
        assert_eq!(text.as_bytes(), reference(&dj).as_slice());
    }
}
