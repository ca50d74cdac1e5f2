//! Rendering diagnoses: a compact block per call for people (failed calls first) followed by
//! the file summary, and `{"calls": [...], "summary": {...}}` for programs.
//!
//! The JSON of a call's diagnosis has one writer, `put_diagnosis_fields`, working straight
//! from the [`Diagnosis`] and its [`Call`] into either buffer ([`JsonOut`]): the export
//! embeds it as the `diagnosis` object ([`CallDiagnosis`], [`put_diagnosis_object`]) and
//! `diagnose --json` flattens it into each call after the call's own fields
//! ([`push_call_json_body`]). The serde structs ([`DiagnosisJson`], [`CallDiagnosisJson`]) are
//! the reference form: the tests hold the written bytes to them, the export's `Serialize`
//! (its tests' reference) goes through them, and [`write_json_doc`] serialises them.
//!
//! The text blocks are written by hand too, straight into the caller's buffer
//! ([`push_call_body`]). Every capture string printed as text goes through `escape_str` (its
//! printable-ASCII shortcut checked a word at a time here); JSON strings go through
//! [`JsonOut::put_str`], the serializer's own fast path and escaping (`json::write_str`), so
//! the same bytes as `escape::write_json`.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::net::IpAddr;

use serde::Serialize;

use super::escape::{escape_str, write_json};
use super::json::{AppendJson, JsonBuf, JsonOut};
use super::time::{push_duration, rfc3339_millis};
use crate::diagnose::{Diagnosis, Finding, LegRef, Severity, Summary, Timings};
use crate::dialog::{Call, HostIdx};

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
    /// Media findings (`no_rtp`, `one_way_audio`, `packet_loss`, ...). Absent when there is
    /// none (also when the call was diagnosed without its media).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub media: Vec<FindingJson>,
    /// The call's RTP streams in brief; absent when there is none.
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
                method: String::from(x.method.as_str()),
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

/// A call's diagnosis as the export embeds it (`"diagnosis":{...}`), kept with its call.
/// [`AppendJson`] writes it with [`put_diagnosis_object`], the writer of `diagnose --json`;
/// its `Serialize` is the serde form ([`DiagnosisJson`]), the reference the tests hold the
/// written bytes to.
#[derive(Debug)]
pub struct CallDiagnosis<'a> {
    pub call: &'a Call,
    pub diagnosis: Diagnosis,
}

impl AppendJson for CallDiagnosis<'_> {
    fn append_json(&self, buf: &mut JsonBuf) -> serde_json::Result<()> {
        put_diagnosis_object(buf, self.call, &self.diagnosis)
    }
}

impl Serialize for CallDiagnosis<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        DiagnosisJson::new(self.call, &self.diagnosis).serialize(serializer)
    }
}

/// Appends a signed integer as JSON (plain decimal, as serde_json writes it).
fn put_int<W: JsonOut>(out: &mut W, n: i64) {
    if n < 0 {
        out.push(b'-');
    }
    push_decimal(out, n.unsigned_abs());
}

fn put_opt_int<W: JsonOut>(out: &mut W, n: Option<i64>) {
    match n {
        Some(n) => put_int(out, n),
        None => out.extend_from_slice(b"null"),
    }
}

fn put_opt_str<W: JsonOut>(out: &mut W, s: Option<&str>) -> serde_json::Result<()> {
    match s {
        Some(s) => out.put_str(s),
        None => {
            out.extend_from_slice(b"null");
            Ok(())
        }
    }
}

/// `"2023-11-14T22:13:20.123Z"`, the string [`rfc3339_millis`] gives.
fn put_json_millis<W: JsonOut>(out: &mut W, ns: i64) -> serde_json::Result<()> {
    match super::time::rfc3339_micros_bytes(ns) {
        // The microseconds' first three digits are the milliseconds (both truncate).
        Some(b) => {
            out.push(b'"');
            out.extend_from_slice(b.get(..23).unwrap_or_default());
            out.extend_from_slice(b"Z\"");
            Ok(())
        }
        None => out.put_str(&rfc3339_millis(ns)),
    }
}

/// A [`HostJson`] object.
fn put_json_host<W: JsonOut>(out: &mut W, call: &Call, h: HostIdx) -> serde_json::Result<()> {
    out.extend_from_slice(b"{\"host\":");
    match call.hosts.get(h) {
        Some(&crate::dialog::Host {
            addr: IpAddr::V4(a),
            port,
            ..
        }) => {
            // Digits, dots and a colon (as `host_label` spells it): a plain JSON string.
            out.push(b'"');
            out.extend_from_slice(crate::dialog::Ipv4Label::new(a, port).as_bytes());
            out.push(b'"');
        }
        _ => out.put_str(&call.host_label(h))?,
    }
    out.extend_from_slice(b",\"role\":");
    out.put_str(call.hosts.get(h).map_or("unknown", |x| x.role.as_str()))?;
    out.push(b'}');
    Ok(())
}

fn put_json_opt_host<W: JsonOut>(
    out: &mut W,
    call: &Call,
    h: Option<HostIdx>,
) -> serde_json::Result<()> {
    match h {
        Some(h) => put_json_host(out, call, h),
        None => {
            out.extend_from_slice(b"null");
            Ok(())
        }
    }
}

fn put_json_hosts<W: JsonOut>(
    out: &mut W,
    call: &Call,
    hosts: &[HostIdx],
) -> serde_json::Result<()> {
    out.push(b'[');
    for (i, &h) in hosts.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        put_json_host(out, call, h)?;
    }
    out.push(b']');
    Ok(())
}

/// A list of [`FindingJson`] objects.
fn put_json_findings<W: JsonOut>(
    out: &mut W,
    call: &Call,
    list: &[Finding],
) -> serde_json::Result<()> {
    out.push(b'[');
    for (i, f) in list.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"severity\":");
        out.put_str(f.severity.as_str())?;
        out.extend_from_slice(b",\"code\":");
        out.put_str(f.code)?;
        out.extend_from_slice(b",\"text\":");
        out.put_str(&f.text)?;
        out.extend_from_slice(b",\"evidence\":[");
        let evidence = f
            .evidence
            .iter()
            .filter_map(|&m| call.messages.get(m).map(|x| (m, x)));
        for (k, (m, x)) in evidence.enumerate() {
            if k > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"message\":");
            push_decimal(out, m as u64);
            out.extend_from_slice(b",\"file\":");
            push_decimal(out, u64::from(x.frame.file));
            out.extend_from_slice(b",\"frame\":");
            push_decimal(out, x.frame.number);
            out.extend_from_slice(b",\"time\":");
            put_json_millis(out, x.frame.ts_ns)?;
            out.push(b'}');
        }
        out.extend_from_slice(b"]}");
    }
    out.push(b']');
    Ok(())
}

/// A [`TimingsJson`] object.
fn put_json_timings<W: JsonOut>(out: &mut W, t: &Timings) -> serde_json::Result<()> {
    for (key, v) in [
        (&b"{\"post_dial_delay_ns\":"[..], t.post_dial_delay_ns),
        (b",\"setup_ns\":", t.setup_ns),
        (b",\"final_response_ns\":", t.final_response_ns),
        (b",\"answer_to_ack_ns\":", t.answer_to_ack_ns),
        (b",\"duration_ns\":", t.duration_ns),
    ] {
        out.extend_from_slice(key);
        put_opt_int(out, v);
    }
    out.extend_from_slice(b",\"transactions\":[");
    for (i, x) in t.transactions.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"method\":");
        out.put_str(&x.method)?;
        out.extend_from_slice(b",\"cseq\":");
        push_decimal(out, u64::from(x.cseq));
        out.extend_from_slice(b",\"final_code\":");
        put_opt_int(out, x.final_code.map(i64::from));
        out.extend_from_slice(b",\"first_response_ns\":");
        put_opt_int(out, x.first_response_ns);
        out.extend_from_slice(b",\"final_response_ns\":");
        put_opt_int(out, x.final_response_ns);
        out.extend_from_slice(b",\"request_retransmissions\":");
        push_decimal(out, x.request_retransmissions as u64);
        out.extend_from_slice(b",\"response_retransmissions\":");
        push_decimal(out, x.response_retransmissions as u64);
        out.push(b'}');
    }
    out.extend_from_slice(b"]}");
    Ok(())
}

/// The fields of [`DiagnosisJson`], in order, without the braces around them: `"outcome":..`
/// to `"findings":[..]`, then `media` and `streams` when not empty (as the serde form skips
/// them). The one writer of the diagnosis: [`put_diagnosis_object`] closes them in braces (the
/// export's `diagnosis` object), [`push_call_json_body`] puts them after the call's own fields
/// (`diagnose --json`, where the diagnosis is flattened in).
fn put_diagnosis_fields<W: JsonOut>(
    out: &mut W,
    call: &Call,
    d: &Diagnosis,
) -> serde_json::Result<()> {
    out.extend_from_slice(b"\"outcome\":");
    out.put_str(d.outcome.as_str())?;
    out.extend_from_slice(b",\"outcome_text\":");
    out.put_str(d.outcome.words())?;
    out.extend_from_slice(b",\"final_code\":");
    put_opt_int(out, d.final_code.map(i64::from));
    out.extend_from_slice(if d.outcome.is_failure() {
        b",\"failed\":true"
    } else {
        b",\"failed\":false"
    });
    out.extend_from_slice(b",\"cause\":");
    put_opt_str(out, d.cause.as_deref())?;
    out.extend_from_slice(b",\"ended_by\":");
    put_json_opt_host(out, call, d.ended_by)?;
    let w = &d.where_;
    out.extend_from_slice(b",\"where\":{\"path\":");
    put_json_hosts(out, call, &w.path)?;
    out.extend_from_slice(b",\"generated_by\":");
    put_json_opt_host(out, call, w.generated_by)?;
    out.extend_from_slice(b",\"proxied_by\":");
    put_json_hosts(out, call, &w.proxied_by)?;
    out.extend_from_slice(b",\"received_by\":");
    put_json_opt_host(out, call, w.received_by)?;
    out.extend_from_slice(b",\"broken_leg\":");
    match w.broken_leg {
        Some(l) => {
            out.extend_from_slice(b"{\"from\":");
            put_json_host(out, call, l.from)?;
            out.extend_from_slice(b",\"to\":");
            put_json_host(out, call, l.to)?;
            out.push(b'}');
        }
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b"},\"why\":");
    put_json_findings(out, call, &d.why)?;
    out.extend_from_slice(b",\"sdp\":");
    put_json_findings(out, call, &d.sdp)?;
    out.extend_from_slice(b",\"timings\":");
    put_json_timings(out, &d.timings)?;
    out.extend_from_slice(b",\"findings\":");
    put_json_findings(out, call, &d.findings)?;
    if !d.media.is_empty() {
        out.extend_from_slice(b",\"media\":");
        put_json_findings(out, call, &d.media)?;
    }
    if !d.streams.is_empty() {
        out.extend_from_slice(b",\"streams\":[");
        for (i, b) in d.streams.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"src\":");
            out.put_str(&b.src)?;
            out.extend_from_slice(b",\"dst\":");
            out.put_str(&b.dst)?;
            out.extend_from_slice(b",\"ssrc\":");
            out.put_str(&b.ssrc)?;
            out.extend_from_slice(b",\"codec\":");
            out.put_str(&b.codec)?;
            out.extend_from_slice(b",\"packets\":");
            push_decimal(out, b.packets);
            out.extend_from_slice(b",\"lost\":");
            put_int(out, b.lost);
            out.extend_from_slice(if b.announced {
                b",\"announced\":true"
            } else {
                b",\"announced\":false"
            });
            out.extend_from_slice(b",\"text\":");
            out.put_str(&b.text)?;
            out.push(b'}');
        }
        out.push(b']');
    }
    Ok(())
}

/// The `diagnosis` object of `call`: the bytes [`DiagnosisJson`] serialises to (through
/// [`write_json`]), written without building it.
pub fn put_diagnosis_object<W: JsonOut>(
    out: &mut W,
    call: &Call,
    d: &Diagnosis,
) -> serde_json::Result<()> {
    out.push(b'{');
    put_diagnosis_fields(out, call, d)?;
    out.push(b'}');
    Ok(())
}

/// One call of `diagnose --json` after its `{"index":N`, appended to `buf`: the bytes
/// [`CallDiagnosisJson`] serialises to past its index, written without building it (no owned
/// strings, no flattening through a map).
pub fn push_call_json_body(buf: &mut Vec<u8>, call: &Call, d: &Diagnosis) -> io::Result<()> {
    put_call_json_body(buf, call, d).map_err(io::Error::other)
}

fn put_call_json_body(buf: &mut Vec<u8>, call: &Call, d: &Diagnosis) -> serde_json::Result<()> {
    let s = &call.summary;
    buf.extend_from_slice(b",\"call_id\":");
    buf.put_str(&call.call_id)?;
    buf.extend_from_slice(b",\"start\":");
    put_json_millis(buf, s.start_ns)?;
    buf.extend_from_slice(b",\"from_user\":");
    buf.put_str(&s.from_user)?;
    buf.extend_from_slice(b",\"to_user\":");
    buf.put_str(&s.to_user)?;
    buf.extend_from_slice(b",\"method\":");
    buf.put_str(&s.first_method)?;
    let final_reason = d
        .final_step
        .and_then(|f| call.first_msg(f))
        .and_then(|m| match &m.start {
            crate::dialog::Start::Response { reason, .. } => Some(reason.as_str()),
            _ => None,
        });
    buf.extend_from_slice(b",\"final_reason\":");
    put_opt_str(buf, final_reason)?;
    // The diagnosis, flattened in.
    buf.push(b',');
    put_diagnosis_fields(buf, call, d)?;
    buf.push(b'}');
    Ok(())
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

/// Appends `s` made safe for a terminal ([`escape_str`]). Printable ASCII, the common case,
/// is checked eight bytes at a time and copied as it is.
fn push_esc(buf: &mut Vec<u8>, s: &str) {
    if printable_ascii(s.as_bytes()) {
        buf.extend_from_slice(s.as_bytes());
    } else {
        buf.extend_from_slice(escape_str(s).as_bytes());
    }
}

/// Every byte is printable ASCII (0x20 to 0x7e): what [`escape_str`] keeps without looking at
/// characters.
fn printable_ascii(s: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut words = s.chunks_exact(8);
    let words_ok = words.by_ref().all(|w| {
        let w = u64::from_le_bytes(w.try_into().unwrap_or([0; 8]));
        // A byte is bad if its high bit is set, if it is below 0x20, or if it is DEL (0x7f,
        // the only byte that becomes >= 0x80 when 1 is added to a byte below 0x80).
        let below_space = w.wrapping_sub(ONES * 0x20) & !w;
        let del = w.wrapping_add(ONES) & !w;
        (w | below_space | del) & HIGH == 0
    });
    words_ok && words.remainder().iter().all(|b| (0x20..0x7f).contains(b))
}

/// Appends `n` in decimal, as `Display` (and serde_json) writes it.
pub(crate) fn push_decimal<W: JsonOut>(buf: &mut W, n: u64) {
    let mut digits = [0u8; 20];
    buf.extend_from_slice(super::json::decimal(n, &mut digits));
}

/// A host's label, as [`Call::host_label`] spells it (not capture text: not escaped). IPv4
/// (the common case) is written in place; other addresses go through `host_label`.
fn push_label(buf: &mut Vec<u8>, call: &Call, h: HostIdx) {
    match call.hosts.get(h) {
        Some(&crate::dialog::Host {
            addr: IpAddr::V4(a),
            port,
            ..
        }) => buf.extend_from_slice(crate::dialog::Ipv4Label::new(a, port).as_bytes()),
        _ => buf.extend_from_slice(call.host_label(h).as_bytes()),
    }
}

/// `label (role)`.
fn push_host_text(buf: &mut Vec<u8>, call: &Call, h: HostIdx) {
    push_label(buf, call, h);
    buf.extend_from_slice(b" (");
    let role = call.hosts.get(h).map_or("unknown", |x| x.role.as_str());
    buf.extend_from_slice(role.as_bytes());
    buf.push(b')');
}

fn mark(s: Severity) -> &'static [u8] {
    match s {
        Severity::Info => b"-",
        Severity::Warning => b"!",
        Severity::Error => b"X",
    }
}

/// ` [frames #12,2#7,...]`: the frames of the first six pieces of evidence (nothing without
/// evidence).
fn push_evidence(buf: &mut Vec<u8>, call: &Call, f: &Finding) {
    if f.evidence.is_empty() {
        return;
    }
    buf.extend_from_slice(b" [frames ");
    let frames = f
        .evidence
        .iter()
        .take(6)
        .filter_map(|&m| call.messages.get(m));
    for (i, m) in frames.enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        if m.frame.file != 0 {
            push_decimal(buf, u64::from(m.frame.file));
        }
        buf.push(b'#');
        push_decimal(buf, m.frame.number);
    }
    if f.evidence.len() > 6 {
        buf.extend_from_slice(b",...");
    }
    buf.push(b']');
}

/// The `where` lines: who generated and passed on the deciding response, the path, the
/// broken leg.
fn push_where(buf: &mut Vec<u8>, call: &Call, d: &Diagnosis) {
    const PREFIX: &[u8] = b"   where    ";
    let w = &d.where_;
    if let Some(g) = w.generated_by {
        buf.extend_from_slice(PREFIX);
        buf.extend_from_slice(b"generated by ");
        push_host_text(buf, call, g);
        for (i, &h) in w.proxied_by.iter().enumerate() {
            buf.extend_from_slice(if i == 0 { b", proxied by " } else { b", " });
            push_host_text(buf, call, h);
        }
        if let Some(r) = w.received_by {
            buf.extend_from_slice(b", received by ");
            push_label(buf, call, r);
        }
        buf.push(b'\n');
    }
    if w.path.len() > 1 {
        buf.extend_from_slice(PREFIX);
        buf.extend_from_slice(b"path ");
        for (i, &h) in w.path.iter().enumerate() {
            if i > 0 {
                buf.extend_from_slice(b" -> ");
            }
            push_label(buf, call, h);
        }
        buf.push(b'\n');
    }
    if let Some(l) = w.broken_leg {
        buf.extend_from_slice(PREFIX);
        buf.extend_from_slice(b"broken leg ");
        push_label(buf, call, l.from);
        buf.extend_from_slice(b" -> ");
        push_label(buf, call, l.to);
        buf.push(b'\n');
    }
}

/// Appends `post-dial 1.234s, setup ...`: the timings known (nothing when none is).
fn push_timings(buf: &mut Vec<u8>, d: &Diagnosis) {
    let t = &d.timings;
    let mut first = true;
    for (k, v) in [
        (&b"post-dial "[..], t.post_dial_delay_ns),
        (b"setup ", t.setup_ns),
        (b"final ", t.final_response_ns),
        (b"2xx->ACK ", t.answer_to_ack_ns),
        (b"duration ", t.duration_ns),
    ] {
        let Some(v) = v else { continue };
        if !first {
            buf.extend_from_slice(b", ");
        }
        first = false;
        buf.extend_from_slice(k);
        push_duration_bytes(buf, v);
    }
}

/// A duration as [`push_duration`] writes it; under a minute (the common case) without
/// going through a string.
fn push_duration_bytes(buf: &mut Vec<u8>, ns: i64) {
    let ns = ns.max(0);
    let secs = ns / 1_000_000_000;
    if secs < 60 {
        // secs is 0..=59 and millis 0..=999: each digit is 0..=9, no cast truncates.
        let millis = ns % 1_000_000_000 / 1_000_000;
        let digit = |n: i64| b'0' + (n % 10) as u8;
        if secs >= 10 {
            buf.push(digit(secs / 10));
        }
        buf.extend_from_slice(&[
            digit(secs),
            b'.',
            digit(millis / 100),
            digit(millis / 10),
            digit(millis),
            b's',
        ]);
        return;
    }
    let mut text = String::new();
    push_duration(&mut text, ns);
    buf.extend_from_slice(text.as_bytes());
}

/// `22:13:20.123`, the bytes of [`clock_millis`](super::time::clock_millis).
fn push_clock_millis(buf: &mut Vec<u8>, ns: i64) {
    const NS_PER_S: i64 = 1_000_000_000;
    let of_day = ns.div_euclid(NS_PER_S).rem_euclid(86_400);
    let millis = ns.rem_euclid(NS_PER_S) / 1_000_000;
    // Every value is not negative and below 100 (1000 for the milliseconds): each digit is
    // 0..=9, no cast truncates.
    let digit = |n: i64| b'0' + (n % 10) as u8;
    let (h, m, s) = (of_day / 3600, of_day % 3600 / 60, of_day % 60);
    buf.extend_from_slice(&[
        digit(h / 10),
        digit(h),
        b':',
        digit(m / 10),
        digit(m),
        b':',
        digit(s / 10),
        digit(s),
        b'.',
        digit(millis / 100),
        digit(millis / 10),
        digit(millis),
    ]);
}

/// The `outcome` line's text (after its label).
fn push_outcome(buf: &mut Vec<u8>, call: &Call, d: &Diagnosis) {
    buf.extend_from_slice(d.outcome.as_str().as_bytes());
    if d.outcome.words() != d.outcome.as_str() {
        buf.extend_from_slice(b" (");
        buf.extend_from_slice(d.outcome.words().as_bytes());
        buf.push(b')');
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
        buf.extend_from_slice(b", final ");
        push_decimal(buf, u64::from(c));
        buf.push(b' ');
        push_esc(buf, reason);
    }
    if let Some(h) = d.ended_by {
        let who = match d.where_.path.first() {
            Some(&o) if o == h => "the caller",
            Some(_) => "the callee side",
            None => "",
        };
        buf.extend_from_slice(b", ended by ");
        buf.extend_from_slice(who.as_bytes());
        buf.push(b' ');
        push_label(buf, call, h);
    }
}

/// The block of one call.
pub fn write_call(out: &mut dyn Write, index: usize, call: &Call, d: &Diagnosis) -> io::Result<()> {
    let mut buf = Vec::with_capacity(1024);
    buf.extend_from_slice(if d.outcome.is_failure() {
        b"!! #"
    } else {
        b"   #"
    });
    push_decimal(&mut buf, index as u64);
    push_call_body(&mut buf, call, d);
    out.write_all(&buf)
}

/// The block of one call after its flag and number (`!! #12`), appended to `buf`: what
/// [`write_call`] writes after them.
pub fn push_call_body(buf: &mut Vec<u8>, call: &Call, d: &Diagnosis) {
    let s = &call.summary;
    buf.push(b' ');
    push_clock_millis(buf, s.start_ns);
    buf.push(b' ');
    push_esc(buf, &call.call_id);
    buf.extend_from_slice(b"  ");
    push_esc(buf, &s.from_user);
    buf.extend_from_slice(b" -> ");
    push_esc(buf, &s.to_user);
    buf.extend_from_slice(b"  ");
    push_esc(buf, &s.first_method);
    buf.extend_from_slice(b"\n   outcome  ");
    push_outcome(buf, call, d);
    buf.push(b'\n');
    if let Some(c) = &d.cause {
        buf.extend_from_slice(b"   cause    ");
        push_esc(buf, c);
        buf.push(b'\n');
    }
    push_where(buf, call, d);
    // The label padded to eight columns, as `{label:<8}` writes it.
    for (prefix, list) in [
        (&b"   why      "[..], &d.why),
        (b"   sdp      ", &d.sdp),
        (b"   media    ", &d.media),
        (b"   finding  ", &d.findings),
    ] {
        if prefix == b"   media    " {
            // The streams first, then what is wrong with them.
            for b in &d.streams {
                buf.extend_from_slice(b"   rtp      ");
                push_esc(buf, &b.src);
                buf.extend_from_slice(b" -> ");
                push_esc(buf, &b.dst);
                buf.push(b' ');
                push_esc(buf, &b.text);
                buf.push(b'\n');
            }
        }
        for f in list {
            buf.extend_from_slice(prefix);
            buf.extend_from_slice(mark(f.severity));
            buf.push(b' ');
            push_esc(buf, &f.text);
            push_evidence(buf, call, f);
            buf.push(b'\n');
        }
    }
    let t = &d.timings;
    let any = [
        t.post_dial_delay_ns,
        t.setup_ns,
        t.final_response_ns,
        t.answer_to_ack_ns,
        t.duration_ns,
    ]
    .iter()
    .any(Option::is_some);
    if any {
        buf.extend_from_slice(b"   timings  ");
        push_timings(buf, d);
        buf.push(b'\n');
    }
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
        busy.extra.make_mut().warning = Some("399 x \"\u{1b}[31mred\"".into());
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

    /// A call with what the JSON writer must get right: capture text needing escapes,
    /// evidence before 1970 and past the message list, a proxied response, media findings
    /// and streams.
    fn tricky() -> (Call, Diagnosis) {
        let inv = invite("q\"uo\\te\u{85}", 1, 2, 0, "z9hG4bK-3", 1);
        let f = fwd(&inv, 2, "z9hG4bK-4", 3, 5);
        let ok = reply(&f, 200, 30, Some("t"));
        let back = fwd(&reply(&inv, 200, 31, Some("t")), 2, "z9hG4bK-3", 1, 31);
        let mut good = analyze_call(vec![inv, f, ok, back], &[]);
        if let Some(m) = good.messages.first_mut() {
            m.frame.ts_ns = -1_500_000_123;
        }
        let mut d = diagnose(&good);
        d.media.push(Finding::new(
            Severity::Warning,
            "one_way_audio",
            "a\u{202e}b \u{1b}[2J",
            vec![0, 1, 99],
        ));
        d.streams.push(crate::diagnose::StreamBrief {
            src: "10.0.0.1:4000".into(),
            dst: "10.0.0.2:\"5000\"".into(),
            ssrc: "0x1234abcd".into(),
            codec: "PCMU".into(),
            packets: 12_345_678_901,
            lost: -3,
            announced: true,
            text: "PCMU\u{7f} 250 pkts".into(),
        });
        (good, d)
    }

    /// The calls both JSON tests go through: the hostile one (no media), the tricky one
    /// (media and streams), and the hostile one on IPv6 hosts with a media finding only.
    fn json_cases() -> Vec<(Call, Diagnosis)> {
        let bad = hostile();
        let d = diagnose(&bad);
        let mut v6 = bad.clone();
        for (i, h) in v6.hosts.iter_mut().enumerate() {
            h.addr = format!("2001:db8::{}", i + 1).parse().unwrap();
        }
        let mut d6 = diagnose(&v6);
        d6.media.push(Finding::new(
            Severity::Error,
            "no_rtp",
            "no RTP \"at all\"",
            vec![],
        ));
        vec![(bad, d), tricky(), (v6, d6)]
    }

    /// `diagnose --json` writes each call by hand: the same bytes as the serde form.
    #[test]
    fn hand_written_call_object_is_the_serialised_one() {
        for (call, d) in json_cases() {
            let mut serde = Vec::new();
            write_json(&mut serde, &CallDiagnosisJson::new(7, &call, &d)).unwrap();
            let mut hand = b"{\"index\":7".to_vec();
            push_call_json_body(&mut hand, &call, &d).unwrap();
            hand.push(b'\n');
            assert_eq!(
                String::from_utf8_lossy(&hand),
                String::from_utf8_lossy(&serde)
            );
        }
    }

    /// The export's `diagnosis` object, written by the same writer as `diagnose --json` into
    /// the export's buffer, is byte for byte the derived `Serialize` of [`DiagnosisJson`]
    /// through serde_json with the terminal-safe formatter; `media` and `streams` are there
    /// only when not empty.
    #[test]
    fn hand_written_diagnosis_matches_serde() {
        let cases = json_cases();
        for (call, d) in &cases {
            let mut reference = Vec::new();
            let mut ser = serde_json::Serializer::with_formatter(
                &mut reference,
                super::super::escape::TerminalSafe,
            );
            DiagnosisJson::new(call, d).serialize(&mut ser).unwrap();
            let embedded = CallDiagnosis {
                call,
                diagnosis: d.clone(),
            };
            // After what the export wrote before it.
            let mut ours = JsonBuf::default();
            ours.extend_from_slice(b"kept");
            embedded.append_json(&mut ours).unwrap();
            assert_eq!(
                String::from_utf8_lossy(ours.as_bytes().get(4..).unwrap()),
                String::from_utf8_lossy(&reference)
            );
            let mut vec = Vec::new();
            put_diagnosis_object(&mut vec, call, d).unwrap();
            assert_eq!(vec, reference);
            // The export's reference form (its `Serialize`) is the same.
            let mut via_serde = Vec::new();
            write_json(&mut via_serde, &embedded).unwrap();
            assert_eq!(via_serde.strip_suffix(b"\n"), Some(&reference[..]));
            let text = String::from_utf8(reference).unwrap();
            assert_eq!(text.contains("\"media\":["), !d.media.is_empty());
            assert_eq!(text.contains("\"streams\":["), !d.streams.is_empty());
        }
        let kinds: Vec<_> = cases
            .iter()
            .map(|(_, d)| (d.media.is_empty(), d.streams.is_empty()))
            .collect();
        assert_eq!(kinds, [(true, true), (false, false), (false, true)]);
    }

    /// Times to try, `n` per kind: seeded random times of any size and within about
    /// `span` ns of the epoch, steps either side of it, and the extremes.
    fn times(seed: i64, n: i64, span: i64) -> impl Iterator<Item = i64> {
        let mut x = seed;
        (0..n).flat_map(move |i| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            [
                x,
                x % span,
                i * 999_999,
                -i * 1_000_001,
                i64::MIN + i,
                i64::MAX - i,
            ]
        })
    }

    /// Times as JSON strings: the jiff form, byte for byte, around the epoch and beyond.
    #[test]
    fn json_millis_are_rfc3339_millis() {
        for ns in times(12_345, 2000, 4_000_000_000_000_000_000) {
            let mut hand = Vec::new();
            put_json_millis(&mut hand, ns).unwrap();
            assert_eq!(
                hand,
                format!("\"{}\"", rfc3339_millis(ns)).into_bytes(),
                "{ns}"
            );
        }
    }

    /// Numbers as `Display` writes them, labels as `host_label` does.
    #[test]
    fn decimals_and_labels_are_written_as_display_writes_them() {
        for n in (0..2000u64).chain([9_999, 10_000, 65_535, u64::MAX - 1, u64::MAX]) {
            let mut buf = Vec::new();
            push_decimal(&mut buf, n);
            assert_eq!(buf, n.to_string().into_bytes());
        }
        for ns in times(99, 3000, 100_000_000_000) {
            let mut buf = Vec::new();
            push_clock_millis(&mut buf, ns);
            assert_eq!(
                buf,
                super::super::time::clock_millis(ns).into_bytes(),
                "{ns}"
            );
            let mut buf = Vec::new();
            push_duration_bytes(&mut buf, ns);
            assert_eq!(buf, super::super::time::duration(ns).into_bytes(), "{ns}");
        }
        let mut call = hostile();
        call.hosts.extend(call.hosts.clone());
        call.hosts.extend(call.hosts.clone());
        for (h, (a, p)) in [
            ("255.255.255.255", Some(65_535)),
            ("0.0.0.0", Some(0)),
            ("10.100.9.1", None),
            ("::1", Some(5060)),
            ("fe80::1", None),
        ]
        .into_iter()
        .enumerate()
        {
            if let Some(x) = call.hosts.get_mut(h) {
                x.addr = a.parse().unwrap();
                x.port = p;
            }
        }
        for h in 0..call.hosts.len() + 1 {
            let mut buf = Vec::new();
            push_label(&mut buf, &call, h);
            assert_eq!(buf, call.host_label(h).into_bytes());
        }
        for s in [
            "",
            "plain text here",
            "tab\there",
            "del\u{7f}",
            "caf\u{e9}",
            "~~~~~~~~ ",
            "a \"quoted\" word",
            "back\\slash in a longer text",
            "x\u{85}",
            "\u{202e}right to left",
        ] {
            let mut buf = Vec::new();
            push_esc(&mut buf, s);
            assert_eq!(buf, escape_str(s).as_bytes(), "{s:?}");
            let mut reference = Vec::new();
            let mut ser = serde_json::Serializer::with_formatter(
                &mut reference,
                super::super::escape::TerminalSafe,
            );
            s.serialize(&mut ser).unwrap();
            let mut vec = Vec::new();
            vec.put_str(s).unwrap();
            assert_eq!(vec, reference, "{s:?}");
            let mut buf = JsonBuf::default();
            buf.put_str(s).unwrap();
            assert_eq!(buf.as_bytes(), reference, "{s:?}");
        }
    }
}
