//! The call list: one line per call for people (like sngrep's list), `{"calls": [...]}` for
//! programs. The JSON shapes are defined here, apart from the model, so the model can change
//! without breaking the schema.
//!
//! Every string from the capture is escaped before it reaches a terminal: the text view through
//! `escape_str`; the JSON view keeps the data exact but writes DEL, C1 controls and bidi /
//! zero-width characters as `\uXXXX` escapes (valid JSON, harmless when printed raw).

use std::io::{self, Write};

use serde::Serialize;

use super::escape::{escape_str, write_json as write_json_value};
use super::time::{clock_millis, date_clock_millis, duration, rfc3339_millis};
use crate::dialog::{Call, Role, RoleSource};

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
                start: if with_date {
                    date_clock_millis(s.start_ns)
                } else {
                    clock_millis(s.start_ns)
                },
                call_id: fit_middle(&escape_str(&c.call_id), CALL_ID_WIDTH),
                from: fit_end(&escape_str(&s.from_user), USER_WIDTH),
                to: fit_end(&escape_str(&s.to_user), USER_WIDTH),
                method: fit_end(&escape_str(&s.first_method), METHOD_WIDTH),
                state: s.state.as_str(),
                fin: final_text(c),
                msgs: s.message_count.to_string(),
                dur: duration(s.duration_ns),
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
    /// The diagnosis outcome word (docs/outcomes.md).
    outcome: &'static str,
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
                    start: rfc3339_millis(s.start_ns),
                    start_ns: s.start_ns,
                    end_ns: s.end_ns,
                    from_user: &s.from_user,
                    to_user: &s.to_user,
                    first_method: &s.first_method,
                    state: s.state.as_str(),
                    outcome: crate::diagnose::diagnose(c).outcome.as_str(),
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
    write_json_value(out, &doc)
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
        assert_eq!(calls[0]["outcome"], "rejected");
        assert_eq!(calls[1]["outcome"], "unanswered");
        assert_eq!(calls[0]["failed"], true);
        assert_eq!(calls[1]["start"], "1970-01-02T01:00:00.000Z");
        assert_eq!(calls[0]["hosts"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn fit_helpers() {
        assert_eq!(fit_middle("abcdefghij", 6), "ab..ij");
        assert_eq!(fit_end("abcdefghij", 6), "abcd..");
    }
}
