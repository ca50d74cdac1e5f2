//! Diagnoses of real captures: one sample per outcome made with sipp + Kamailio (samples/),
//! third-party captures from the corpus, and the synthetic generator at scale, whose truth file
//! gives every call's outcome and final code.
//!
//! The generator is `../shared/bench/gen_sip_pcap.py` beside the crate (or `SIPSCOPE_BENCH`);
//! the corpus `../shared/corpus` (or `SIPSCOPE_CORPUS`). When either is absent the test says so
//! loudly and fails under CI (`CI` set): a run that checked nothing must not look green there.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::captures_in;
use sipscope::analysis;
use sipscope::cli::Selection;
use sipscope::diagnose::{self, Diagnosis, Outcome, Summary};
use sipscope::dialog::{Call, Filter};
use sipscope::output::diagnose as render;

fn load(path: &Path) -> Vec<Call> {
    try_load(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn try_load(path: &Path) -> Result<Vec<Call>, sipscope::error::Error> {
    let sel = Selection {
        files: vec![path.to_string_lossy().into_owned()],
        filter: Filter::default(),
        roles: Vec::new(),
    };
    analysis::load(&sel, false, &mut Vec::new()).map(|l| l.calls)
}

fn sample(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("samples")
        .join(format!("{name}.pcap"))
}

/// The one call of a sample, diagnosed.
fn one(name: &str) -> (Call, Diagnosis) {
    let mut calls = load(&sample(name));
    assert_eq!(calls.len(), 1, "{name}: one call expected");
    let call = calls.remove(0);
    let d = diagnose::diagnose(&call);
    (call, d)
}

fn codes(d: &Diagnosis) -> Vec<&'static str> {
    d.all_findings().map(|f| f.code).collect()
}

fn text_of<'a>(d: &'a Diagnosis, code: &str) -> &'a str {
    d.all_findings()
        .find(|f| f.code == code)
        .map(|f| f.text.as_str())
        .unwrap_or_else(|| panic!("no {code} in {:?}", codes(d)))
}

/// Finds a shared folder beside the crate (`../shared/X`; worktrees sit one level deeper).
fn shared(env: &str, sub: &str) -> Option<PathBuf> {
    if let Ok(p) = std::env::var(env) {
        return Some(PathBuf::from(p));
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    [
        root.join("../shared").join(sub),
        root.join("../../shared").join(sub),
    ]
    .into_iter()
    .find(|p| p.is_dir())
}

fn missing(what: &str) {
    eprintln!("\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!");
    eprintln!("!!! {what} NOT FOUND: this test checked NOTHING.");
    eprintln!("!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n");
    assert!(
        std::env::var_os("CI").is_none(),
        "{what} is required under CI"
    );
}

#[test]
fn samples_each_show_their_outcome_code_and_key_finding() {
    // (sample, outcome, final code)
    let table: &[(&str, Outcome, Option<u16>)] = &[
        ("busy-486", Outcome::Rejected, Some(486)),
        ("decline-603", Outcome::Rejected, Some(603)),
        ("notfound-404", Outcome::Rejected, Some(404)),
        ("cancel-487", Outcome::Cancelled, Some(487)),
        ("auth-invite-407", Outcome::Completed, Some(200)),
        ("codec-mismatch-488", Outcome::Rejected, Some(488)),
        ("nat-sdp", Outcome::Completed, Some(200)),
        ("unavailable-503-retry-after", Outcome::Rejected, Some(503)),
        ("proxy-503-to-500", Outcome::Rejected, Some(500)),
        ("register-401", Outcome::Success, Some(200)),
        ("register-wrong-password-403", Outcome::Failure, Some(403)),
        ("options", Outcome::Success, Some(200)),
        ("answered-call-proxy", Outcome::Completed, Some(200)),
        ("timeout-no-answer", Outcome::Timeout, None),
        ("missing-ack", Outcome::AckMissing, Some(200)),
    ];
    for &(name, outcome, code) in table {
        let calls = load(&sample(name));
        assert!(!calls.is_empty(), "{name}: no call");
        for c in &calls {
            let d = diagnose::diagnose(c);
            assert_eq!(d.outcome, outcome, "{name}: {:?}", codes(&d));
            assert_eq!(d.final_code, code, "{name}");
        }
    }
}

#[test]
fn busy_through_the_proxy_is_generated_by_the_callee() {
    let (call, d) = one("busy-486");
    let label = |h: Option<usize>| h.map(|h| call.host_label(h)).unwrap_or_default();
    assert_eq!(label(d.where_.generated_by), "127.0.0.23");
    let proxied: Vec<String> = d
        .where_
        .proxied_by
        .iter()
        .map(|&h| call.host_label(h))
        .collect();
    assert_eq!(proxied, ["127.0.0.22"]);
    let leg = d.where_.broken_leg.expect("the leg that refused");
    assert_eq!(call.host_label(leg.from), "127.0.0.22");
    assert_eq!(call.host_label(leg.to), "127.0.0.23");
    assert!(text_of(&d, "response_meaning").starts_with("486"));
    assert_eq!(d.cause.as_deref(), Some("486 Busy Here"));
}

#[test]
fn codec_mismatch_is_explained_by_an_empty_intersection() {
    let (_, d) = one("codec-mismatch-488");
    let t = text_of(&d, "no_common_codec");
    assert!(t.contains("G729"), "{t}");
    assert!(text_of(&d, "warning_header").contains("305"));
    assert_eq!(d.cause.as_deref(), Some("no common codec"));
}

#[test]
fn nat_sample_reports_the_private_media_address() {
    let (_, d) = one("nat-sdp");
    let t = text_of(&d, "private_media_address");
    assert!(t.contains("192.168.1.50"), "{t}");
    assert!(!d.outcome.is_failure());
}

#[test]
fn retry_after_and_auth_history_are_reported() {
    let (_, d) = one("unavailable-503-retry-after");
    assert!(text_of(&d, "retry_after").contains("120"));
    let (_, d) = one("auth-invite-407");
    assert!(text_of(&d, "auth_challenge").contains("407"));
    let (_, d) = one("register-401");
    assert!(text_of(&d, "auth_challenge").contains("401"));
    // Wrong password: the credentials were refused, and the diagnosis says so.
    let (_, d) = one("register-wrong-password-403");
    assert!(text_of(&d, "credentials_rejected").contains("403"));
}

#[test]
fn timeout_and_missing_ack_samples_show_their_timers() {
    let (_, d) = one("timeout-no-answer");
    assert!(codes(&d).contains(&"timer_b_expired"), "{:?}", codes(&d));
    assert!(d.where_.broken_leg.is_some());
    let (_, d) = one("missing-ack");
    assert!(codes(&d).contains(&"ack_missing"));
    assert!(codes(&d).contains(&"ok_retransmitted"));
}

#[test]
fn cancel_sample_names_the_caller_as_the_one_who_ended_it() {
    let (call, d) = one("cancel-487");
    assert_eq!(
        d.ended_by.map(|h| call.host_label(h)).as_deref(),
        Some("127.0.0.31")
    );
    assert!(d.timings.post_dial_delay_ns.is_some());
}

/// Every capture of the samples, then of the corpus (saying loudly, as `missing` does, when
/// the corpus is not there: `what` names it).
fn samples_and_corpus(what: &str) -> Vec<PathBuf> {
    let mut files = captures_in(&Path::new(env!("CARGO_MANIFEST_DIR")).join("samples"));
    match shared("SIPSCOPE_CORPUS", "corpus") {
        Some(dir) => files.extend(captures_in(&dir)),
        None => missing(what),
    }
    files
}

/// The call list's outcome (decided alone) is the whole diagnosis's, on every call of the
/// samples and of the corpus.
#[test]
fn outcome_alone_is_the_diagnosis_outcome() {
    let files = samples_and_corpus("../shared/corpus");
    let mut checked = 0;
    for f in &files {
        // A capture with no readable frame has no call to check.
        let Ok(calls) = try_load(f) else {
            continue;
        };
        for call in calls {
            let d = diagnose::diagnose(&call);
            assert_eq!(
                diagnose::outcome_of(&call),
                d.outcome,
                "{} {}",
                f.display(),
                call.call_id
            );
            checked += 1;
        }
    }
    assert!(checked > 20, "only {checked} calls checked");
}

#[test]
fn corpus_failures() {
    let Some(dir) = shared("SIPSCOPE_CORPUS", "corpus") else {
        return missing("../shared/corpus");
    };
    // A 200 OK resent about a dozen times with no ACK, then a BYE.
    let calls = load(&dir.join("snort3-eyebeam-video-audio-options.pcap"));
    let invite = calls
        .iter()
        .find(|c| c.summary.first_method == "INVITE")
        .expect("an INVITE call");
    let d = diagnose::diagnose(invite);
    assert_eq!(d.outcome, Outcome::AckMissing, "{:?}", codes(&d));
    assert_eq!(d.final_code, Some(200));
    // Unanswered OPTIONS pings.
    assert!(calls
        .iter()
        .any(|c| diagnose::diagnose(c).outcome == Outcome::Unanswered));

    // REGISTER with a wrong password: 401, then 403 to the credentials.
    let calls = load(&dir.join("goffinet-sip-register-wrong-password-401-403.pcapng"));
    let reg = calls
        .iter()
        .find(|c| c.summary.first_method == "REGISTER")
        .expect("a REGISTER");
    let d = diagnose::diagnose(reg);
    assert_eq!(d.outcome, Outcome::Failure);
    assert_eq!(d.final_code, Some(403));
    assert!(
        codes(&d).contains(&"credentials_rejected"),
        "{:?}",
        codes(&d)
    );

    // sngrep's sample: a call the caller CANCELs (the CANCEL's Via writes `host` where the
    // INVITE's wrote `host:5060`; it still counts) that ends 408, a 480, refused credentials.
    let calls = load(&dir.join("sngrep-aaa.pcap"));
    let ds: Vec<Diagnosis> = calls.iter().map(diagnose::diagnose).collect();
    assert!(ds
        .iter()
        .any(|d| d.outcome == Outcome::Cancelled && d.final_code == Some(408)));
    assert!(ds
        .iter()
        .any(|d| d.outcome == Outcome::Rejected && d.final_code == Some(480)));
    assert!(ds
        .iter()
        .any(|d| d.outcome == Outcome::AuthFailed && d.final_code == Some(403)));
}

/// The generator's outcome names, in our vocabulary.
fn expected(truth_outcome: &str) -> Option<Outcome> {
    Some(match truth_outcome {
        "answered" => Outcome::Completed,
        "busy" | "notfound" | "unavailable" => Outcome::Rejected,
        "cancelled" => Outcome::Cancelled,
        "register" | "options" => Outcome::Success,
        _ => return None,
    })
}

#[test]
fn generated_capture_matches_its_truth_file() {
    let Some(bench) = shared("SIPSCOPE_BENCH", "bench") else {
        return missing("../shared/bench (gen_sip_pcap.py)");
    };
    let dir = std::env::temp_dir().join(format!("sipscope-diagnose-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let pcap = dir.join("x.pcap");
    let status = Command::new("python3")
        .arg(bench.join("gen_sip_pcap.py"))
        .args(["--calls", "2000", "--seed", "7", "--out"])
        .arg(&pcap)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("python3 runs");
    assert!(status.success());
    let truth_path = dir.join("x.pcap.truth.json");
    let truth: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&truth_path).expect("truth file")).expect("json");
    let calls = load(&pcap);
    let mut ours: BTreeMap<String, (Outcome, Option<u16>)> = BTreeMap::new();
    let mut summary = Summary::new();
    for c in &calls {
        let d = diagnose::diagnose(c);
        summary.add(c, &d);
        ours.insert(c.call_id.to_string(), (d.outcome, d.final_code));
    }
    let rows = truth["calls"].as_array().expect("calls");
    assert_eq!(rows.len(), 2000);
    let mut mismatches = Vec::new();
    for t in rows {
        let id = t["call_id"].as_str().expect("call_id");
        let want = (
            expected(t["outcome"].as_str().expect("outcome")).expect("known outcome"),
            t["final_code"].as_u64().and_then(|c| u16::try_from(c).ok()),
        );
        match ours.get(id) {
            Some(got) if *got == want => {}
            got => mismatches.push(format!("{id}: want {want:?}, got {got:?}")),
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} mismatches, first: {:?}",
        mismatches.len(),
        mismatches.iter().take(10).collect::<Vec<_>>()
    );
    // The summary agrees with the truth's counts.
    let by = &truth["summary"]["calls_by_outcome"];
    let n = |k: &str| by[k].as_u64().unwrap_or(0);
    assert_eq!(
        summary
            .by_outcome
            .get(&Outcome::Rejected)
            .copied()
            .unwrap_or(0),
        n("busy") + n("notfound") + n("unavailable")
    );
    assert_eq!(summary.answered, n("answered"));
    assert_eq!(
        summary.seizures,
        n("answered") + n("busy") + n("notfound") + n("unavailable") + n("cancelled")
    );
    // And the JSON document carries the same words.
    let picked: Vec<(usize, &Call, Diagnosis)> = calls
        .iter()
        .enumerate()
        .take(50)
        .map(|(i, c)| (i + 1, c, diagnose::diagnose(c)))
        .collect();
    let rows: Vec<(usize, &Call, &Diagnosis)> =
        picked.iter().map(|(i, c, d)| (*i, *c, d)).collect();
    let mut buf = Vec::new();
    render::write_json_doc(&mut buf, &rows, &summary).expect("write");
    let doc: serde_json::Value = serde_json::from_slice(&buf).expect("valid json");
    for (j, (_, c, d)) in rows.iter().enumerate() {
        let v = &doc["calls"][j];
        assert_eq!(v["call_id"], c.call_id.as_str());
        assert_eq!(v["outcome"], d.outcome.as_str());
        assert_eq!(v["final_code"].as_u64(), d.final_code.map(u64::from));
        assert!(v["why"].is_array() && v["sdp"].is_array() && v["findings"].is_array());
    }
    assert_eq!(doc["summary"]["calls"], 2000);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `(index, Call-ID, start)` of every call in the `calls` array of a command's JSON output, or
/// `None` when the command failed (a capture with nothing readable).
fn numbered_calls(cmd: &str, path: &Path) -> Option<Vec<(u64, String, String)>> {
    let out = Command::new(env!("CARGO_BIN_EXE_sipscope"))
        .args([cmd, "--json"])
        .arg(path)
        .output()
        .expect("run sipscope");
    if !out.status.success() {
        return None;
    }
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{cmd} {}: {e}", path.display()));
    let calls = doc["calls"].as_array().expect("a calls array");
    Some(
        calls
            .iter()
            .map(|c| {
                (
                    c["index"].as_u64().expect("index"),
                    c["call_id"].as_str().expect("call_id").to_string(),
                    c["start"].as_str().expect("start").to_string(),
                )
            })
            .collect(),
    )
}

/// An engineer reads "#6" in `diagnose` and opens call 6 of `calls` (or of the interactive
/// list): it must be the same call. Both group a capture exactly the same way, so every call
/// has the same number, Call-ID and start in both, in the same order, on every sample and
/// corpus capture (the corpus holds Call-IDs reused over long spans, where a streaming
/// grouping split them).
#[test]
fn diagnose_numbers_calls_as_the_call_list() {
    let files = samples_and_corpus("../shared/corpus (diagnose vs calls numbering)");
    let mut compared = 0;
    for path in &files {
        let listed = numbered_calls("calls", path);
        let diagnosed = numbered_calls("diagnose", path);
        assert_eq!(
            diagnosed.is_some(),
            listed.is_some(),
            "{}: one command failed",
            path.display()
        );
        if let (Some(listed), Some(diagnosed)) = (listed, diagnosed) {
            assert_eq!(diagnosed, listed, "{}", path.display());
            compared += listed.len();
        }
    }
    assert!(compared > 100, "only {compared} calls compared");
}

/// `sipscope diagnose` streams, `export --format json` reads the whole file: both must tell
/// the same story of every call, host roles included. Roles depend on the other calls of the
/// capture (a host that takes a call and places another to the same number within seconds is
/// a B2BUA), so this holds only if the streaming diagnosis links calls across Call-IDs as the
/// whole-file analysis does.
#[test]
fn diagnose_agrees_with_the_whole_file_export() {
    let mut files = captures_in(&Path::new(env!("CARGO_MANIFEST_DIR")).join("samples"));
    match shared("SIPSCOPE_CORPUS", "corpus") {
        Some(dir) => files.extend(captures_in(&dir)),
        None => missing("../shared/corpus (diagnose vs the JSON export)"),
    }
    let run = |args: &[&str], path: &Path| -> Option<serde_json::Value> {
        let out = Command::new(env!("CARGO_BIN_EXE_sipscope"))
            .args(args)
            .arg(path)
            .output()
            .expect("run sipscope");
        out.status.success().then(|| {
            serde_json::from_slice(&out.stdout)
                .unwrap_or_else(|e| panic!("{args:?} {}: {e}", path.display()))
        })
    };
    let (mut compared, mut b2bua) = (0, 0);
    for path in &files {
        let (Some(export), Some(diagnosed)) = (
            run(&["export", "--format", "json"], path),
            run(&["diagnose", "--json"], path),
        ) else {
            continue;
        };
        let mut whole = std::collections::HashMap::new();
        for c in export["calls"].as_array().expect("calls") {
            let id = c["call_id"].as_str().expect("call_id");
            assert!(whole.insert(id, &c["diagnosis"]).is_none(), "{id} twice");
        }
        for c in diagnosed["calls"].as_array().expect("calls") {
            let id = c["call_id"].as_str().expect("call_id");
            let w = whole[id].as_object().expect("a diagnosis object");
            for (k, v) in w {
                if let Some(mine) = c.get(k) {
                    assert_eq!(mine, v, "{} call {id}: {k}", path.display());
                }
            }
            compared += 1;
            b2bua += usize::from(c["where"].to_string().contains("\"b2bua\""));
        }
    }
    assert!(compared > 100, "only {compared} calls compared");
    // The corpus has calls through B2BUAs found only across Call-IDs.
    if shared("SIPSCOPE_CORPUS", "corpus").is_some() {
        assert!(b2bua > 10, "only {b2bua} calls with a B2BUA on their path");
    }
}
