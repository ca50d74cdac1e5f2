//! The call list: one line per call for people (like sngrep's list), `{"calls": [...]}` for
//! programs. The JSON shapes are defined here, apart from the model, so the model can change
//! without breaking the schema.
//!
//! Every string from the capture is escaped before it reaches a terminal: the text view through
//! `escape_str`; the JSON view keeps the data exact but writes DEL, C1 controls and bidi /
//! zero-width characters as `\uXXXX` escapes (valid JSON, harmless when printed raw).

use std::borrow::Cow;
use std::io::{self, Write};

use serde::Serialize;

use crate::dialog::{Call, Role, RoleSource};

// `crate::output::escape::escape_str` is not on this branch yet: this private stand-in has the
// same contract (control, bidi and zero-width characters made visible). The integrator should
// replace it with the shared one.
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        )
}

fn escape_str(s: &str) -> Cow<'_, str> {
    if !s.chars().any(needs_escape) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if !needs_escape(c) {
            out.push(c);
        } else if (c as u32) < 0x100 {
            out.push_str(&format!("\\x{:02x}", c as u32));
        } else {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        }
    }
    Cow::Owned(out)
}

const CALL_ID_WIDTH: usize = 24;
const USER_WIDTH: usize = 20;
const METHOD_WIDTH: usize = 10;
const FINAL_WIDTH: usize = 28;

/// Cuts `s` to `w` characters, ending with `..` when cut.
fn fit_end(s: &str, w: usize) -> String {
    if s.chars().count() <= w {
        return s.to_string();
    }
    let mut out: String = s.chars().take(w.saturating_sub(2)).collect();
    out.push_str("..");
    out
}

/// Cuts `s` to `w` characters keeping both ends (a Call-ID's tail is often its host).
fn fit_middle(s: &str, w: usize) -> String {
    let n = s.chars().count();
    if n <= w {
        return s.to_string();
    }
    let keep = w.saturating_sub(2);
    let head = keep / 2;
    let tail = keep - head;
    let mut out: String = s.chars().take(head).collect();
    out.push_str("..");
    out.extend(s.chars().skip(n.saturating_sub(tail)));
    out
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    // Shift to an era starting on 0000-03-01 so leap days fall at the end of a year.
    let z = days.saturating_add(719_468);
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era.saturating_mul(400) + i64::from(month <= 2);
    (year, month, day)
}

/// `HH:MM:SS.mmm` (UTC), with `YYYY-MM-DD ` in front when `with_date`.
fn fmt_time(ns: i64, with_date: bool) -> String {
    let secs = ns.div_euclid(1_000_000_000);
    let ms = ns.rem_euclid(1_000_000_000) / 1_000_000;
    let sod = secs.rem_euclid(86_400);
    let (h, m, s) = (sod / 3600, sod % 3600 / 60, sod % 60);
    if with_date {
        let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
        format!("{y:04}-{mo:02}-{d:02} {h:02}:{m:02}:{s:02}.{ms:03}")
    } else {
        format!("{h:02}:{m:02}:{s:02}.{ms:03}")
    }
}

/// RFC 3339 UTC time with milliseconds, for JSON.
fn rfc3339(ns: i64) -> String {
    let t = fmt_time(ns, true);
    format!("{}Z", t.replacen(' ', "T", 1))
}

/// `12.345s` under a minute, `m:ss` under an hour, `h:mm:ss` beyond.
fn fmt_duration(ns: i64) -> String {
    let ns = ns.max(0);
    let secs = ns / 1_000_000_000;
    if secs < 60 {
        return format!("{}.{:03}s", secs, ns % 1_000_000_000 / 1_000_000);
    }
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

fn day_of(ns: i64) -> i64 {
    ns.div_euclid(86_400_000_000_000)
}

fn hosts_text(call: &Call) -> String {
    call.hosts
        .iter()
        .map(|h| match h.role {
            Role::UserAgent => h.label(),
            r => format!("{}({})", h.label(), r.as_str()),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn final_text(call: &Call) -> String {
    match call.summary.final_code {
        Some(c) => {
            let reason = call.summary.final_reason.as_deref().unwrap_or("");
            fit_end(&format!("{c} {}", escape_str(reason)), FINAL_WIDTH)
        }
        None => "-".to_string(),
    }
}

/// One line per call: index, start time (UTC; with the date when the calls span several
/// days), Call-ID (shortened), From user, To user, first method, state, final response,
/// message count, duration, hosts (with their role when not a plain user agent).
pub fn write_text(out: &mut dyn Write, calls: &[Call]) -> io::Result<()> {
    let first_day = calls.iter().map(|c| day_of(c.summary.start_ns)).min();
    let last_day = calls.iter().map(|c| day_of(c.summary.end_ns)).max();
    let with_date = first_day != last_day;
    struct Row {
        idx: String,
        start: String,
        call_id: String,
        from: String,
        to: String,
        method: String,
        state: &'static str,
        fin: String,
        msgs: String,
        dur: String,
        hosts: String,
    }
    let rows: Vec<Row> = calls
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let s = &c.summary;
            Row {
                idx: (i + 1).to_string(),
                start: fmt_time(s.start_ns, with_date),
                call_id: fit_middle(&escape_str(&c.call_id), CALL_ID_WIDTH),
                from: fit_end(&escape_str(&s.from_user), USER_WIDTH),
                to: fit_end(&escape_str(&s.to_user), USER_WIDTH),
                method: fit_end(&escape_str(&s.first_method), METHOD_WIDTH),
                state: s.state.as_str(),
                fin: final_text(c),
                msgs: s.message_count.to_string(),
                dur: fmt_duration(s.duration_ns),
                hosts: hosts_text(c),
            }
        })
        .collect();
    let width = |f: &dyn Fn(&Row) -> usize, title: &str| {
        rows.iter()
            .map(f)
            .chain(std::iter::once(title.chars().count()))
            .max()
            .unwrap_or(0)
    };
    let w_idx = width(&|r| r.idx.len(), "#");
    let w_start = width(&|r| r.start.len(), "Start");
    let w_id = width(&|r| r.call_id.chars().count(), "Call-ID");
    let w_from = width(&|r| r.from.chars().count(), "From");
    let w_to = width(&|r| r.to.chars().count(), "To");
    let w_method = width(&|r| r.method.chars().count(), "Method");
    let w_state = width(&|r| r.state.len(), "State");
    let w_fin = width(&|r| r.fin.chars().count(), "Final");
    let w_msgs = width(&|r| r.msgs.len(), "Msgs");
    let w_dur = width(&|r| r.dur.len(), "Duration");
    writeln!(
        out,
        "{:>w_idx$}  {:<w_start$}  {:<w_id$}  {:<w_from$}  {:<w_to$}  {:<w_method$}  {:<w_state$}  {:<w_fin$}  {:>w_msgs$}  {:>w_dur$}  Hosts",
        "#", "Start", "Call-ID", "From", "To", "Method", "State", "Final", "Msgs", "Duration"
    )?;
    for r in &rows {
        writeln!(
            out,
            "{:>w_idx$}  {:<w_start$}  {:<w_id$}  {:<w_from$}  {:<w_to$}  {:<w_method$}  {:<w_state$}  {:<w_fin$}  {:>w_msgs$}  {:>w_dur$}  {}",
            r.idx, r.start, r.call_id, r.from, r.to, r.method, r.state, r.fin, r.msgs, r.dur, r.hosts
        )?;
    }
    Ok(())
}

/// The JSON document of `write_json`.
#[derive(Serialize)]
struct CallsDoc<'a> {
    calls: Vec<CallJson<'a>>,
}

/// One call in the JSON list.
#[derive(Serialize)]
struct CallJson<'a> {
    /// 1-based, as in the text list.
    index: usize,
    call_id: &'a str,
    start: String,
    start_ns: i64,
    end_ns: i64,
    from_user: &'a str,
    to_user: &'a str,
    first_method: &'a str,
    state: &'static str,
    final_code: Option<u16>,
    final_reason: Option<&'a str>,
    failed: bool,
    messages: usize,
    duration_ns: i64,
    dialogs: usize,
    transactions: usize,
    hosts: Vec<HostJson<'a>>,
    notes: &'a [String],
}

#[derive(Serialize)]
struct HostJson<'a> {
    address: String,
    port: Option<u16>,
    role: &'static str,
    role_source: &'static str,
    user_agents: &'a [String],
    servers: &'a [String],
}

fn role_source(s: RoleSource) -> &'static str {
    match s {
        RoleSource::Wire => "wire",
        RoleSource::Hint => "hint",
        RoleSource::Override => "override",
    }
}

/// Rewrites the characters a terminal could act on as `\uXXXX` inside JSON strings (serde_json
/// already escapes C0 controls); the output stays compact JSON with the exact data.
struct TerminalSafe;

impl serde_json::ser::Formatter for TerminalSafe {
    fn write_string_fragment<W>(&mut self, writer: &mut W, fragment: &str) -> io::Result<()>
    where
        W: ?Sized + io::Write,
    {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            if needs_escape(c) {
                writer.write_all(fragment.get(start..i).unwrap_or("").as_bytes())?;
                // Every such character is in the Basic Multilingual Plane: one \u escape.
                write!(writer, "\\u{:04x}", c as u32)?;
                start = i + c.len_utf8();
            }
        }
        writer.write_all(fragment.get(start..).unwrap_or("").as_bytes())
    }
}

/// `{"calls": [...]}`, one object per call, followed by a newline.
pub fn write_json(out: &mut dyn Write, calls: &[Call]) -> io::Result<()> {
    let doc = CallsDoc {
        calls: calls
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let s = &c.summary;
                CallJson {
                    index: i + 1,
                    call_id: &c.call_id,
                    start: rfc3339(s.start_ns),
                    start_ns: s.start_ns,
                    end_ns: s.end_ns,
                    from_user: &s.from_user,
                    to_user: &s.to_user,
                    first_method: &s.first_method,
                    state: s.state.as_str(),
                    final_code: s.final_code,
                    final_reason: s.final_reason.as_deref(),
                    failed: s.failed,
                    messages: s.message_count,
                    duration_ns: s.duration_ns,
                    dialogs: c.dialogs.len(),
                    transactions: c.transactions.len(),
                    hosts: c
                        .hosts
                        .iter()
                        .map(|h| HostJson {
                            address: h.addr.to_string(),
                            port: h.port,
                            role: h.role.as_str(),
                            role_source: role_source(h.role_source),
                            user_agents: &h.user_agents,
                            servers: &h.servers,
                        })
                        .collect(),
                    notes: &c.notes,
                }
            })
            .collect(),
    };
    let mut ser = serde_json::Serializer::with_formatter(&mut *out, TerminalSafe);
    doc.serialize(&mut ser).map_err(io::Error::other)?;
    out.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialog::analyze_call;
    use crate::dialog::testkit::*;

    fn sample() -> Vec<Call> {
        let inv = invite(
            "abc\u{1b}[2J-very-long-call-id@host.example.com",
            1,
            3,
            0,
            "z9hG4bK-1",
            1,
        );
        let mut busy = reply(&inv, 486, 1500, Some("t"));
        busy.start = crate::dialog::Start::Response {
            code: 486,
            reason: "Busy\u{9b}Here\u{202e}".into(),
        };
        let o = request("OPTIONS", "k", 4, 5, 90_000_000, "z9hG4bK-2", 1, "a", None);
        vec![
            analyze_call(vec![inv, busy], &[]),
            analyze_call(vec![o], &[]),
        ]
    }

    #[test]
    fn text_lists_every_call_escaped() {
        let mut buf = Vec::new();
        write_text(&mut buf, &sample()).unwrap();
        let text = String::from_utf8(buf).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(
            !text.chars().any(|c| c.is_control() && c != '\n'),
            "{text:?}"
        );
        assert!(!text.contains('\u{202e}'));
        assert!(lines[1].contains("abc\\x1b"), "{}", lines[1]);
        assert!(
            lines[1].contains(".."),
            "long Call-ID shortened: {}",
            lines[1]
        );
        assert!(lines[1].contains("486 Busy\\x9bHere"), "{}", lines[1]);
        assert!(lines[1].contains("rejected"));
        assert!(lines[1].contains("1.500s"));
        assert!(lines[2].contains("unanswered"));
        // 90 000 s later is another day: dates are shown.
        assert!(lines[2].contains("1970-01-02 01:00:00.000"), "{}", lines[2]);
    }

    #[test]
    fn json_has_the_calls_and_is_terminal_safe() {
        let mut buf = Vec::new();
        write_json(&mut buf, &sample()).unwrap();
        let text = String::from_utf8(buf).unwrap();
        assert!(
            !text.chars().any(|c| c.is_control() && c != '\n'),
            "{text:?}"
        );
        assert!(text.contains("\\u009b") && text.contains("\\u202e"));
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let calls = v["calls"].as_array().unwrap();
        assert_eq!(calls.len(), 2);
        assert_eq!(
            calls[0]["call_id"],
            "abc\u{1b}[2J-very-long-call-id@host.example.com"
        );
        assert_eq!(calls[0]["final_code"], 486);
        assert_eq!(calls[0]["final_reason"], "Busy\u{9b}Here\u{202e}");
        assert_eq!(calls[0]["state"], "rejected");
        assert_eq!(calls[0]["failed"], true);
        assert_eq!(calls[1]["start"], "1970-01-02T01:00:00.000Z");
        assert_eq!(calls[0]["hosts"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn time_helpers() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(fmt_time(-1_000_000, false), "23:59:59.999");
        assert_eq!(fmt_duration(61_000_000_000), "1:01");
        assert_eq!(fmt_duration(3_725_000_000_000), "1:02:05");
        assert_eq!(fit_middle("abcdefghij", 6), "ab..ij");
        assert_eq!(fit_end("abcdefghij", 6), "abcd..");
        // Extreme times do not panic.
        let _ = fmt_time(i64::MIN, true);
        let _ = fmt_time(i64::MAX, true);
    }
}
