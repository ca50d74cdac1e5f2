//! `sipscope ladder` end to end on the project's samples: text snapshots (insta), Mermaid
//! checked for valid syntax (a strict grammar of what we emit, and Mermaid's own parser when
//! `tests/mermaid` is installed), SVG parsed as XML with one arrow per message.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use sipscope::capture::linktype;
use sipscope::capture::writer::pcap_bytes;

const SAMPLES: [&str; 11] = [
    "answered-call-proxy",
    "answered-call-rtp",
    "auth-invite-407",
    "busy-486",
    "call-tcp",
    "cancel-487",
    "fork-parallel",
    "one-way-rtp",
    "register-401",
    "reinvite",
    "timeout-no-answer",
];

fn sample(name: &str) -> String {
    format!("{}/samples/{name}.pcap", env!("CARGO_MANIFEST_DIR"))
}

fn run_ok(args: &[&str]) -> String {
    let out = sipscope(args);
    assert!(
        out.status.success(),
        "sipscope {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

fn ladder(name: &str, extra: &[&str]) -> String {
    let file = sample(name);
    let mut args = vec!["ladder", file.as_str()];
    args.extend_from_slice(extra);
    run_ok(&args)
}

/// Messages per call, as the call list counts them (every sighting).
fn message_counts(file: &str) -> Vec<u64> {
    let v: serde_json::Value = serde_json::from_str(&run_ok(&["calls", "--json", file])).unwrap();
    v["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["messages"].as_u64().unwrap())
        .collect()
}

/// Host labels of the first call (address, or address:port when ports vary).
fn hosts(file: &str) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_str(&run_ok(&["calls", "--json", file])).unwrap();
    v["calls"][0]["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| match h["port"].as_u64() {
            Some(p) => format!("{}:{p}", h["address"].as_str().unwrap()),
            None => h["address"].as_str().unwrap().to_string(),
        })
        .collect()
}

// ------------------------------------------------------------------------------------------
// Text.

#[test]
fn text_snapshots_at_120_columns() {
    for name in SAMPLES {
        let text = ladder(name, &["--color", "never", "--width", "120"]);
        insta::assert_snapshot!(format!("text_120_{name}"), text);
    }
}

#[test]
fn text_snapshots_at_60_columns() {
    for name in ["busy-486", "fork-parallel", "register-401"] {
        let text = ladder(name, &["--color", "never", "--width", "60"]);
        insta::assert_snapshot!(format!("text_60_{name}"), text);
    }
}

#[test]
fn text_stays_within_the_width_and_draws_every_message() {
    for name in SAMPLES {
        let counts = message_counts(&sample(name));
        // The narrowest drawing that still shows every address whole: the time column, half
        // a band outside the outer lifelines, a band of (widest address + 2) between hosts.
        let hosts = hosts(&sample(name));
        let widest = hosts.iter().map(|h| h.len() + 2).max().unwrap_or(0).max(8);
        let smallest = 14 + (hosts.len() - 1) * widest + 2 * widest.div_ceil(2) + 1;
        for width in [60usize, 100, 160] {
            let w = width.to_string();
            let text = ladder(name, &["--color", "never", "--width", &w]);
            for line in text.lines() {
                assert!(
                    line.chars().count() <= width.max(smallest),
                    "{name} at {width}: {line:?}"
                );
            }
            if smallest > width {
                // Too narrow for the hosts: drawn wider rather than broken.
                assert!(text.lines().any(|l| l.chars().count() > width));
            }
            // Arrow lines start with the time column: a clock or a +delta (RTP bands too, but
            // they are drawn with `=`).
            let arrows = text
                .lines()
                .filter(|l| l.starts_with(|c: char| c == '+' || c.is_ascii_digit()))
                .filter(|l| !l.contains("=="))
                .count();
            assert_eq!(
                arrows as u64,
                counts.iter().sum::<u64>(),
                "{name} at {width}"
            );
            assert_eq!(
                text.lines().filter(|l| l.starts_with("Call ")).count(),
                counts.len()
            );
        }
    }
}

#[test]
fn colour_follows_the_flag_and_never_reaches_a_pipe_by_default() {
    let always = ladder("busy-486", &["--color", "always", "--width", "100"]);
    assert!(always.contains("\x1b[31m486 Busy Here"), "486 in red");
    let never = ladder("busy-486", &["--color", "never", "--width", "100"]);
    assert!(!never.contains('\x1b'));
    // The test's stdout is a pipe: auto means no colour.
    let auto = ladder("busy-486", &["--width", "100"]);
    assert_eq!(auto, never);
    let no_annotate = ladder(
        "busy-486",
        &["--color", "never", "--width", "100", "--no-annotate"],
    );
    assert!(never.contains("Generated by"));
    assert!(!no_annotate.contains("Generated by"));
}

#[test]
fn index_picks_one_call_and_out_of_range_is_an_error() {
    let both = ladder("answered-call-proxy", &["--color", "never"]);
    assert!(both.contains("Call 1  Call-ID 1-") && both.contains("Call 2  Call-ID 2-"));
    let second = ladder("answered-call-proxy", &["--index", "2", "--color", "never"]);
    assert!(second.starts_with("Call 2  Call-ID 2-"), "{second}");
    assert!(!second.contains("Call-ID 1-"));
    let file = sample("answered-call-proxy");
    let out = sipscope(&["ladder", &file, "--index", "3"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("2 calls"));
    let filtered = ladder(
        "answered-call-proxy",
        &["--call-id", "2-", "--color", "never"],
    );
    assert_eq!(
        filtered.lines().filter(|l| l.starts_with("Call ")).count(),
        1
    );
}

#[test]
fn output_goes_to_the_file_asked() {
    let dir = std::env::temp_dir().join(format!("sipscope-ladder-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("busy.svg");
    let stdout = ladder(
        "busy-486",
        &["--format", "svg", "-o", path.to_str().unwrap()],
    );
    assert!(stdout.is_empty());
    let svg = std::fs::read_to_string(&path).unwrap();
    assert!(roxmltree::Document::parse(&svg).is_ok());
    let _ = std::fs::remove_dir_all(&dir);
}

// ------------------------------------------------------------------------------------------
// Mermaid.

/// Checks a diagram against the subset of the `sequenceDiagram` grammar the ladder emits,
/// strictly: the header, a title, participants declared once with short aliases, messages
/// with one of four arrows between declared participants, notes over or right of declared
/// participants, balanced `rect` / `end`, and label text free of every character Mermaid
/// would read as syntax (entity codes `#name;` and `<br/>` are the only way to write them).
fn check_mermaid(d: &str) -> Result<(), String> {
    let mut lines = d.lines().enumerate();
    match lines.next() {
        Some((_, "sequenceDiagram")) => {}
        other => return Err(format!("first line must be sequenceDiagram, got {other:?}")),
    }
    let mut declared: Vec<String> = Vec::new();
    let mut depth = 0usize;
    let mut messages = 0usize;
    let alias_ok = |a: &str| !a.is_empty() && a.chars().all(|c| c.is_ascii_uppercase());
    for (n, line) in lines {
        let err = |why: &str| Err(format!("line {}: {why}: {line:?}", n + 1));
        let Some(stmt) = line.strip_prefix("    ") else {
            return err("not indented");
        };
        if let Some(t) = stmt.strip_prefix("title ") {
            check_label(t).or_else(|e| err(&e))?;
        } else if let Some(rest) = stmt.strip_prefix("participant ") {
            let Some((alias, label)) = rest.split_once(" as ") else {
                return err("participant without `as`");
            };
            if !alias_ok(alias) || declared.iter().any(|d| d == alias) {
                return err("bad or repeated alias");
            }
            if messages > 0 {
                return err("participant after the first message");
            }
            check_label(label).or_else(|e| err(&e))?;
            declared.push(alias.to_string());
        } else if let Some(rest) = stmt.strip_prefix("Note ") {
            let (who, text) = rest.split_once(": ").ok_or("note without text")?;
            let names: Vec<&str> = if let Some(w) = who.strip_prefix("over ") {
                w.split(',').collect()
            } else if let Some(w) = who.strip_prefix("right of ") {
                vec![w]
            } else {
                return err("note must be `over` or `right of`");
            };
            if names.is_empty()
                || names.len() > 2
                || !names.iter().all(|a| declared.iter().any(|d| d == a))
            {
                return err("note names an undeclared participant");
            }
            check_label(text).or_else(|e| err(&e))?;
        } else if let Some(colour) = stmt.strip_prefix("rect ") {
            let ok = colour.starts_with("rgb(")
                && colour.ends_with(')')
                && colour[4..colour.len() - 1]
                    .split(", ")
                    .map(|v| v.parse::<u8>().is_ok())
                    .filter(|ok| *ok)
                    .count()
                    == 3;
            if !ok {
                return err("bad rect colour");
            }
            depth += 1;
        } else if stmt == "end" {
            depth = depth.checked_sub(1).ok_or("`end` without a block")?;
        } else {
            let Some((head, text)) = stmt.split_once(": ") else {
                return err("unknown statement");
            };
            let from_end = head.find(|c: char| !c.is_ascii_uppercase()).unwrap_or(0);
            let (from, rest) = head.split_at(from_end);
            let arrow_end = rest
                .find(|c: char| c.is_ascii_uppercase())
                .unwrap_or(rest.len());
            let (arrow, to) = rest.split_at(arrow_end);
            if !["->>", "-->>", "-)", "--)"].contains(&arrow) {
                return err("unknown arrow");
            }
            for a in [from, to] {
                if !alias_ok(a) || !declared.iter().any(|d| d == a) {
                    return err("message names an undeclared participant");
                }
            }
            check_label(text).or_else(|e| err(&e))?;
            messages += 1;
        }
    }
    if depth != 0 {
        return Err("unclosed rect".into());
    }
    Ok(())
}

fn check_label(t: &str) -> Result<(), String> {
    if t.trim().is_empty() {
        return Err("empty text".into());
    }
    let mut rest = t.replace("<br/>", "\u{0}");
    // Take out entity codes: `#` then letters or digits then `;`.
    while let Some(i) = rest.find('#') {
        let tail = &rest[i + 1..];
        let len = tail.find(';').ok_or("`#` without `;`")?;
        let name = &tail[..len];
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(format!("`#{name};` is not an entity code"));
        }
        rest.replace_range(i..i + len + 2, "");
    }
    if let Some(c) = rest.chars().find(|c| {
        matches!(c, ';' | '<' | '>' | '&' | '"' | '%' | ':' | '{' | '}')
            || c.is_control() && *c != '\u{0}'
    }) {
        return Err(format!("raw {c:?} in text"));
    }
    Ok(())
}

#[test]
fn the_mermaid_checker_rejects_broken_diagrams() {
    let good = "sequenceDiagram\n    title x\n    participant A as 10.0.0.1<br/>proxy\n    participant B as b\n    A->>B: INVITE bob #59; x\n    rect rgb(255, 228, 228)\n    B-->>A: 486 Busy\n    Note over A,B: why#58; busy\n    end\n    Note right of B: n\n";
    assert_eq!(check_mermaid(good), Ok(()));
    let broken = [
        good.replace("sequenceDiagram\n", ""),
        good.replace("A->>B", "A->>>B"),
        good.replace("A->>B", "A->>C"),
        good.replace("#59; x", "; x"),
        good.replace("#59; x", "# x"),
        good.replace("why#58;", "why:"),
        good.replace("    end\n", ""),
        good.replace("participant B as b", "participant A as b"),
        good.replace("Note over A,B", "Note over A,Z"),
        good.replace("<br/>proxy", "<b>proxy</b>"),
        good.replace("B-->>A: 486 Busy", "B-->>A 486 Busy"),
        good.replace("rgb(255, 228, 228)", "#ff0000"),
    ];
    for b in &broken {
        assert!(check_mermaid(b).is_err(), "accepted: {b}");
    }
}

/// The diagrams of a Mermaid output: the whole text for one call, the fenced blocks of the
/// Markdown document for several.
fn diagrams(out: &str) -> Vec<String> {
    if out.starts_with("sequenceDiagram") {
        return vec![out.to_string()];
    }
    let mut v = Vec::new();
    let mut cur: Option<String> = None;
    for line in out.lines() {
        match (&mut cur, line) {
            (None, "```mermaid") => cur = Some(String::new()),
            (Some(_), "```") => v.extend(cur.take()),
            (Some(c), l) => {
                c.push_str(l);
                c.push('\n');
            }
            (None, _) => {}
        }
    }
    v
}

/// A capture whose strings try everything: a reason phrase with terminal escapes and Mermaid
/// and XML syntax, a user with a semicolon and a hash.
fn hostile_capture(name: &str) -> TempFile {
    let a = v4(192, 0, 2, 1);
    let b = v4(192, 0, 2, 2);
    let cid = "evil;#1<x>@host";
    let inv = String::from_utf8(request("INVITE", cid, 1, ""))
        .unwrap()
        .replace("sip:bob@", "sip:b%6fb;#x<y>&\"z\":{w}@");
    let busy = response(
        486,
        "Busy\x1b[2J; #1 <b>&amp;</b> \"100%\" {x}: ]]>",
        cid,
        1,
        "INVITE",
    );
    let t0 = 1_700_000_000_000_000_000i64;
    let cap = pcap_bytes(
        linktype::ETHERNET,
        &[
            (t0, eth_udp4(a, 5060, b, 5060, inv.as_bytes())),
            (t0 + 5_000_000, eth_udp4(b, 5060, a, 5060, &busy)),
        ],
    );
    TempFile::new(name, &cap)
}

fn mermaid_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mermaid")
}

/// Runs Mermaid's own parser on the diagrams when `tests/mermaid` is installed (`npm ci
/// --prefix tests/mermaid`); `SIPSCOPE_REQUIRE_MERMAID=1` makes its absence a failure.
fn mermaid_parse(diagrams: &[(String, String)]) -> Option<Result<(), String>> {
    let dir = mermaid_dir();
    if !dir.join("node_modules/mermaid").is_dir() {
        assert!(
            std::env::var_os("SIPSCOPE_REQUIRE_MERMAID").is_none(),
            "SIPSCOPE_REQUIRE_MERMAID is set but tests/mermaid is not installed"
        );
        eprintln!("note: tests/mermaid not installed (npm ci --prefix tests/mermaid): Mermaid's own parser skipped");
        return None;
    }
    let tmp = std::env::temp_dir().join(format!("sipscope-mermaid-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let mut files = Vec::new();
    for (name, d) in diagrams {
        let p = tmp.join(format!("{name}.mmd"));
        std::fs::write(&p, d).unwrap();
        files.push(p);
    }
    let out = Command::new("node")
        .arg(dir.join("check.mjs"))
        .args(&files)
        .current_dir(&dir)
        .output()
        .expect("node runs");
    let _ = std::fs::remove_dir_all(&tmp);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    Some(if out.status.success() {
        Ok(())
    } else {
        Err(format!("{text}{}", String::from_utf8_lossy(&out.stderr)))
    })
}

#[test]
fn mermaid_output_is_valid_sequence_diagram_syntax() {
    let hostile = hostile_capture("hostile-mermaid.pcap");
    let mut all = Vec::new();
    let mut inputs: Vec<(String, String)> =
        SAMPLES.iter().map(|n| (n.to_string(), sample(n))).collect();
    inputs.push(("hostile".into(), hostile.path().to_string()));
    for (name, file) in &inputs {
        let out = run_ok(&["ladder", file, "--format", "mermaid"]);
        let ds = diagrams(&out);
        let counts = message_counts(file);
        assert_eq!(ds.len(), counts.len(), "{name}: one diagram per call");
        for (i, (d, count)) in ds.iter().zip(&counts).enumerate() {
            if let Err(e) = check_mermaid(d) {
                panic!("{name}: {e}\n{d}");
            }
            let arrows = d
                .lines()
                .filter(|l| {
                    ["->>", "-->>", "-)", "--)"].iter().any(|a| l.contains(a))
                        && !l.contains("Note ")
                        && !l.contains("participant ")
                        && !l.contains("title ")
                })
                .count();
            assert_eq!(
                arrows as u64, *count,
                "{name}: one message line per message"
            );
            all.push((format!("{name}-{i}"), d.clone()));
        }
    }
    let hostile_out = run_ok(&["ladder", hostile.path(), "--format", "mermaid"]);
    assert!(
        hostile_out.contains("486 Busy\\x1b[2J#59; #35;1 #lt;b#gt;#amp;amp#59;#lt;/b#gt;"),
        "{hostile_out}"
    );
    // Mermaid's own parser agrees, and (to show it is really checking) refuses a broken one.
    if let Some(r) = mermaid_parse(&all) {
        r.unwrap();
        let broken = vec![("broken".to_string(), all[0].1.replacen("->>", "->>>", 1))];
        assert!(mermaid_parse(&broken).unwrap().is_err());
    }
}

// ------------------------------------------------------------------------------------------
// SVG.

#[test]
fn svg_is_well_formed_with_one_arrow_per_message() {
    let hostile = hostile_capture("hostile-svg.pcap");
    let mut inputs: Vec<(String, String)> =
        SAMPLES.iter().map(|n| (n.to_string(), sample(n))).collect();
    inputs.push(("hostile".into(), hostile.path().to_string()));
    for (name, file) in &inputs {
        let svg = run_ok(&["ladder", file, "--format", "svg"]);
        let doc = roxmltree::Document::parse(&svg).unwrap_or_else(|e| panic!("{name}: {e}"));
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "svg");
        assert_eq!(
            root.tag_name().namespace(),
            Some("http://www.w3.org/2000/svg")
        );
        for attr in ["width", "height", "viewBox"] {
            assert!(root.attribute(attr).is_some(), "{name}: {attr}");
        }
        let arrows = doc
            .descendants()
            .filter(|n| {
                n.attribute("class")
                    .is_some_and(|c| c.split(' ').any(|t| t == "arrow"))
            })
            .count();
        let total: u64 = message_counts(file).iter().sum();
        assert_eq!(arrows as u64, total, "{name}");
        let texts: String = doc
            .descendants()
            .filter(|n| n.is_text())
            .filter_map(|n| n.text())
            .collect();
        assert!(
            !texts.contains('\x1b'),
            "{name}: no raw escape in the picture"
        );
        if name == "hostile" {
            assert!(
                texts.contains("<b>&amp;</b>"),
                "XML special characters kept as text"
            );
        }
    }
}
