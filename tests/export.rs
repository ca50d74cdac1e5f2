//! `sipscope export`, run as a user runs it: the JSON of every sample and every corpus capture
//! validates against the published schema; every message tshark sees comes out exactly once
//! with its frame number; NDJSON and JSON describe the same calls; `--raw` and `--schema` do
//! what they say; each call's `diagnosis` is what `diagnose --json` says of it; and the
//! capture written by `--format pcap` holds exactly the chosen calls.
//!
//! The corpus folder is `SIPSCOPE_CORPUS`, else `../shared/corpus` beside the crate. When it is
//! absent the corpus tests say so loudly, and fail under CI (`CI` set).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use common::{corpus_or_say, sipscope, TempFile};
use serde_json::Value;

fn manifest() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn samples() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(manifest().join("samples"))
        .expect("samples folder")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "pcap" || e == "pcapng"))
        .collect();
    v.sort();
    assert!(!v.is_empty(), "no sample captures");
    v
}

/// Corpus captures that have a tshark TSV, or `None` (said loudly; an error under CI).
fn corpus_files() -> Option<(PathBuf, Vec<PathBuf>)> {
    let dir = corpus_or_say("export")?;
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("read corpus dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && tsv_of(&dir, p).exists())
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "no capture with a TSV in {}",
        dir.display()
    );
    Some((dir, files))
}

fn tsv_of(dir: &Path, capture: &Path) -> PathBuf {
    dir.join("expected").join(format!("{}.tsv", name(capture)))
}

fn name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Runs the binary and returns standard output, failing with its standard error.
fn run_ok(args: &[&str]) -> Vec<u8> {
    let out = sipscope(args);
    assert!(
        out.status.success(),
        "sipscope {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn export_json(args: &[&str]) -> Value {
    let mut a = vec!["export"];
    a.extend_from_slice(args);
    serde_json::from_slice(&run_ok(&a)).expect("export is JSON")
}

fn export_ndjson(args: &[&str]) -> Vec<Value> {
    let mut a = vec!["export", "--format", "ndjson"];
    a.extend_from_slice(args);
    let out = run_ok(&a);
    let text = String::from_utf8(out).expect("utf-8");
    text.lines()
        .map(|l| serde_json::from_str(l).expect("each line is one JSON value"))
        .collect()
}

fn schema() -> Value {
    let text =
        std::fs::read_to_string(manifest().join("schema/export.schema.json")).expect("schema");
    serde_json::from_str(&text).expect("schema is JSON")
}

struct Validators {
    document: jsonschema::Validator,
    call: jsonschema::Validator,
}

fn validators() -> Validators {
    let s = schema();
    let mut call = s.clone();
    call["$ref"] = Value::from("#/$defs/call");
    Validators {
        document: jsonschema::validator_for(&s).expect("schema compiles"),
        call: jsonschema::validator_for(&call).expect("call schema compiles"),
    }
}

fn assert_valid(v: &jsonschema::Validator, instance: &Value, what: &str) {
    let errors: Vec<String> = v
        .iter_errors(instance)
        .take(5)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{what} does not match the schema: {errors:#?}"
    );
}

fn calls(doc: &Value) -> &Vec<Value> {
    doc["calls"].as_array().expect("calls array")
}

/// One message as tshark's TSV names it: frame, method or status, Call-ID.
type Row = (u64, String, String);

fn rows(calls: &[Value]) -> Vec<Row> {
    let mut out = Vec::new();
    for c in calls {
        let cid = c["call_id"].as_str().unwrap_or("").to_string();
        for m in c["messages"].as_array().expect("messages") {
            let what = match m["kind"].as_str() {
                Some("request") => m["method"].as_str().unwrap_or("").to_string(),
                Some("response") => m["status"].to_string(),
                _ => continue,
            };
            out.push((m["frame"].as_u64().expect("frame"), what, cid.clone()));
        }
    }
    out.sort();
    out
}

fn tsv_rows(tsv: &Path) -> Vec<Row> {
    let text = std::fs::read_to_string(tsv).expect("read tsv");
    let mut out = Vec::new();
    for line in text.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let frame: u64 = cols[0].parse().expect("frame number");
        let ids: Vec<&str> = cols
            .get(8)
            .map(|c| c.split(',').collect())
            .unwrap_or_default();
        for (k, w) in cols[7].split(',').enumerate() {
            out.push((frame, w.to_string(), ids.get(k).unwrap_or(&"").to_string()));
        }
    }
    out.sort();
    out
}

/// (Call-ID, messages) of every call, sorted: what two exports of one capture must share.
fn call_shapes(calls: &[Value]) -> Vec<(String, usize)> {
    let mut v: Vec<(String, usize)> = calls
        .iter()
        .map(|c| {
            let n = c["messages"].as_array().map_or(0, |m| m.len());
            assert_eq!(c["message_count"], n, "message_count counts the messages");
            (c["call_id"].as_str().unwrap_or("").to_string(), n)
        })
        .collect();
    v.sort();
    v
}

#[test]
fn schema_flag_prints_the_committed_schema_which_is_a_valid_json_schema() {
    let printed = run_ok(&["export", "--schema"]);
    let committed = std::fs::read(manifest().join("schema/export.schema.json")).unwrap();
    assert_eq!(printed, committed);
    let s: Value = serde_json::from_slice(&printed).unwrap();
    if let Err(e) = jsonschema::meta::validate(&s) {
        panic!("not a valid JSON Schema: {e}");
    }
    // A document with an unknown field or a wrong version is rejected: the schema is strict.
    let v = validators();
    let doc = export_json(&[path(&samples()[0])]);
    assert_valid(&v.document, &doc, "sample export");
    let mut bad = doc.clone();
    bad["schema_version"] = Value::from(99);
    assert!(!v.document.is_valid(&bad));
    let mut bad = doc.clone();
    bad["calls"][0]["surprise"] = Value::from(true);
    assert!(!v.document.is_valid(&bad));
}

#[test]
fn every_sample_exports_valid_json_and_the_same_calls_as_ndjson() {
    let v = validators();
    for s in samples() {
        let doc = export_json(&[path(&s)]);
        assert_valid(&v.document, &doc, &name(&s));
        assert_eq!(doc["inputs"][0]["file"], path(&s));
        assert!(doc["inputs"][0]["frames"].as_u64().unwrap() > 0);
        let lines = export_ndjson(&[path(&s)]);
        for l in &lines {
            assert_valid(&v.call, l, &format!("{} ndjson line", name(&s)));
        }
        assert!(!lines.is_empty(), "{}: no call", name(&s));
        assert_eq!(
            call_shapes(calls(&doc)),
            call_shapes(&lines),
            "{}",
            name(&s)
        );
        assert_eq!(rows(calls(&doc)), rows(&lines), "{}", name(&s));
        let _ = assert_same_calls(calls(&doc), &lines, &name(&s));
    }
}

/// The ndjson lines are the JSON document's calls, whole (grouping, media, diagnosis, and the
/// links the B2BUA rule makes between calls: roles, related Call-IDs), in another order.
/// Returns how many calls carry such links.
fn assert_same_calls(doc: &[Value], lines: &[Value], what: &str) -> usize {
    let canon = |cs: &[Value]| -> Vec<String> {
        let mut v: Vec<String> = cs.iter().map(|c| c.to_string()).collect();
        v.sort();
        v
    };
    let (a, b) = (canon(doc), canon(lines));
    assert_eq!(
        a.len(),
        b.len(),
        "{what}: calls in the document and ndjson lines"
    );
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(
            x, y,
            "{what}: a call differs between the document and ndjson"
        );
    }
    doc.iter()
        .filter(|c| {
            c["related_call_ids"]
                .as_array()
                .is_some_and(|r| !r.is_empty())
        })
        .count()
}

/// The export's `diagnosis` object of each call is what `diagnose --json` says of that call
/// (one writer makes both): its object without the call's own fields, on every sample and
/// corpus capture.
#[test]
fn export_diagnosis_is_what_diagnose_json_says() {
    const OWN: [&str; 7] = [
        "index",
        "call_id",
        "start",
        "from_user",
        "to_user",
        "method",
        "final_reason",
    ];
    let mut files = samples();
    if let Some((_, corpus)) = corpus_files() {
        files.extend(corpus);
    }
    let mut compared = 0;
    for f in &files {
        let mut exported: Vec<(String, String)> = export_ndjson(&[path(f)])
            .iter()
            .map(|c| {
                let id = c["call_id"].as_str().expect("call_id").to_string();
                (id, c["diagnosis"].to_string())
            })
            .collect();
        let doc: Value = serde_json::from_slice(&run_ok(&["diagnose", "--json", path(f)]))
            .expect("diagnose --json is JSON");
        let mut diagnosed: Vec<(String, String)> = calls(&doc)
            .iter()
            .map(|c| {
                let mut fields = c.as_object().expect("a call object").clone();
                let id = c["call_id"].as_str().expect("call_id").to_string();
                for k in OWN {
                    assert!(fields.remove(k).is_some(), "{}: no {k}", name(f));
                }
                (id, Value::Object(fields).to_string())
            })
            .collect();
        exported.sort();
        diagnosed.sort();
        assert_eq!(exported, diagnosed, "{}", name(f));
        compared += exported.len();
    }
    assert!(compared > 100, "only {compared} calls compared");
}

#[test]
fn output_file_holds_what_stdout_would() {
    let s = samples();
    let f = &s[0];
    let out = TempFile::new("export-o.json", b"");
    let run = sipscope(&["export", path(f), "-o", out.path()]);
    assert!(run.status.success());
    assert!(run.stdout.is_empty(), "everything went to the file");
    // A clean sample gives no diagnostics, and no progress bar off a terminal.
    assert!(
        run.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(
        std::fs::read(&out.0).unwrap(),
        run_ok(&["export", path(f)]),
        "-o writes the same bytes"
    );
}

#[test]
fn raw_text_comes_only_with_the_flag() {
    for s in samples() {
        let with = export_json(&["--raw", path(&s)]);
        let without = export_json(&[path(&s)]);
        assert_valid(&validators().document, &with, "--raw export");
        for (c, d) in calls(&with).iter().zip(calls(&without)) {
            for (m, n) in c["messages"]
                .as_array()
                .unwrap()
                .iter()
                .zip(d["messages"].as_array().unwrap())
            {
                assert!(n.get("raw").is_none(), "raw without --raw");
                let raw = m["raw"].as_str().expect("raw with --raw");
                // The samples are plain UTF-8: the text is the whole message, start line first.
                assert_eq!(raw.len() as u64, m["size"].as_u64().unwrap());
                let start = match m["kind"].as_str() {
                    Some("request") => format!("{} ", m["method"].as_str().unwrap()),
                    _ => format!("SIP/2.0 {} ", m["status"]),
                };
                assert!(raw.starts_with(&start), "{raw:.40}");
                // Apart from raw, both exports are the same.
                let mut m = m.clone();
                m.as_object_mut().unwrap().remove("raw");
                assert_eq!(&m, n);
            }
        }
    }
}

#[test]
fn every_corpus_message_appears_once_with_its_frame_and_the_export_validates() {
    let Some((dir, files)) = corpus_files() else {
        return;
    };
    let v = validators();
    let mut total = 0;
    let mut linked = 0;
    let mut failures = BTreeMap::new();
    for f in &files {
        let doc = export_json(&[path(f)]);
        assert_valid(&v.document, &doc, &name(f));
        let want = tsv_rows(&tsv_of(&dir, f));
        let got = rows(calls(&doc));
        total += want.len();
        // Same multiset: each tshark message exactly once, and nothing tshark does not see.
        if want != got {
            let missing: Vec<_> = want.iter().filter(|r| !got.contains(r)).take(5).collect();
            let extra: Vec<_> = got.iter().filter(|r| !want.contains(r)).take(5).collect();
            failures.insert(
                name(f),
                format!(
                    "tshark {}, export {}; missing {missing:?}; extra {extra:?}",
                    want.len(),
                    got.len()
                ),
            );
        }
        // The streamed export holds the same messages and the same calls.
        let lines = export_ndjson(&[path(f)]);
        for l in &lines {
            assert_valid(&v.call, l, &format!("{} ndjson line", name(f)));
        }
        assert_eq!(rows(&lines), got, "{}: ndjson messages", name(f));
        linked += assert_same_calls(calls(&doc), &lines, &name(f));
    }
    println!(
        "export: {} corpus files, {total} tshark messages",
        files.len()
    );
    // The corpus has calls through B2BUAs that change the Call-ID: the cross-call links were
    // compared, not just absent on both sides.
    assert!(linked > 0, "no corpus call linked to another");
    assert!(failures.is_empty(), "{failures:#?}");
}

/// A message as it survives a trip through a new capture (frame numbers change; the rest
/// must not).
fn identity(calls: &[Value]) -> Vec<String> {
    let mut v: Vec<String> = calls
        .iter()
        .flat_map(|c| {
            c["messages"]
                .as_array()
                .unwrap()
                .iter()
                .map(move |m| (c, m))
        })
        .map(|(c, m)| {
            let keep = [
                "kind",
                "method",
                "status",
                "cseq",
                "cseq_method",
                "branch",
                "epoch_us",
                "src_address",
                "src_port",
                "dst_address",
                "dst_port",
                "transport",
                "size",
                "flags",
                "repeat",
            ];
            let parts: Vec<String> = keep.iter().map(|k| m[*k].to_string()).collect();
            format!(
                "{} {} frames={}",
                c["call_id"],
                parts.join(" "),
                m["frames"].as_array().map_or(0, |f| f.len())
            )
        })
        .collect();
    v.sort();
    v
}

fn frames_referenced(calls: &[Value]) -> usize {
    calls
        .iter()
        .flat_map(|c| c["messages"].as_array().unwrap())
        .flat_map(|m| m["frames"].as_array().unwrap())
        .map(|f| f.as_u64().unwrap())
        .collect::<BTreeSet<_>>()
        .len()
}

/// Exports the calls chosen by `filter` as a capture and reads that capture back.
fn pcap_round_trip(input: &Path, filter: &[&str], tag: &str) -> (Value, Value, Vec<u8>) {
    let out = TempFile::new(&format!("roundtrip-{tag}.pcap"), b"");
    let mut args = vec!["export", path(input), "--format", "pcap", "-o", out.path()];
    args.extend_from_slice(filter);
    run_ok(&args);
    let bytes = std::fs::read(&out.0).unwrap();
    let mut args = vec![path(input)];
    args.extend_from_slice(filter);
    let original = export_json(&args);
    let again = export_json(&[out.path()]);
    (original, again, bytes)
}

#[test]
fn failed_calls_exported_as_pcap_read_back_the_same() {
    let mut failed_seen = 0;
    for s in samples() {
        // The failed calls (the ticket attachment), and every call (TCP samples included).
        for filter in [&["--failed"][..], &[][..]] {
            let tag = format!("{}{}", name(&s), filter.len());
            let (original, again, _) = pcap_round_trip(&s, filter, &tag);
            if !filter.is_empty() {
                assert!(calls(&original).iter().all(|c| c["failed"] == true));
                failed_seen += calls(&original).len();
            }
            // Same messages, same grouping; and no frame that no chosen message needed.
            assert_eq!(identity(calls(&again)), identity(calls(&original)), "{tag}");
            assert_eq!(call_shapes(calls(&again)), call_shapes(calls(&original)));
            assert_eq!(
                again["inputs"][0]["frames"].as_u64().unwrap() as usize,
                frames_referenced(calls(&original)),
                "{tag}: only the frames of the chosen calls"
            );
            // Original timestamps.
            let span = |d: &Value| calls(d).first().map(|c| c["start_epoch_us"].clone());
            assert_eq!(span(&again), span(&original));
        }
    }
    assert!(failed_seen > 0, "the samples include failed calls");
}

#[test]
fn pcap_export_keeps_every_fragment_and_segment_of_a_message() {
    let Some((dir, _)) = corpus_files() else {
        return;
    };
    // An INVITE in IPv4 fragments, and a 64 KB INVITE in 5 TCP segments on BSD loopback.
    for (file, linktype_null) in [
        ("goffinet-private-test-sip.pcapng", false),
        ("sv-sip-body-large.pcap", true),
    ] {
        let f = dir.join(file);
        let whole = export_json(&[path(&f)]);
        let multi: Vec<(String, u64)> = calls(&whole)
            .iter()
            .flat_map(|c| {
                c["messages"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|m| m["frames"].as_array().unwrap().len() > 1)
                    .map(move |m| {
                        (
                            c["call_id"].as_str().unwrap().to_string(),
                            m["size"].as_u64().unwrap(),
                        )
                    })
            })
            .collect();
        assert!(
            !multi.is_empty(),
            "{file}: a message carried by several frames"
        );
        let (cid, _) = &multi[0];
        let (original, again, bytes) = pcap_round_trip(&f, &["--call-id", cid], file);
        assert!(!calls(&original).is_empty());
        assert_eq!(
            identity(calls(&again)),
            identity(calls(&original)),
            "{file}"
        );
        if linktype_null {
            // Classic pcap, nanosecond magic, link type NULL kept.
            assert_eq!(&bytes[..4], &[0x4d, 0x3c, 0xb2, 0xa1]);
            assert_eq!(&bytes[20..24], &0u32.to_le_bytes());
        }
    }
}

#[test]
fn nothing_selected_gives_an_empty_document_and_an_empty_capture() {
    let s = &samples()[0];
    let doc = export_json(&[path(s), "--call-id", "no-such-call-id"]);
    assert!(calls(&doc).is_empty());
    assert!(export_ndjson(&[path(s), "--call-id", "no-such-call-id"]).is_empty());
    let (_, again, _) = pcap_round_trip(s, &["--call-id", "no-such-call-id"], "none");
    assert!(calls(&again).is_empty());
    assert_eq!(again["inputs"][0]["frames"], 0);
}

/// SIP over WebSocket exported as pcap keeps the HTTP upgrade of each direction: without it a
/// reader such as Wireshark cannot tell the stream is WebSocket (checked by hand with tshark 4.0:
/// 39 of 39 messages found in the export of this capture, 28 without the upgrade frames).
#[test]
fn websocket_export_keeps_the_upgrade_handshake() {
    let Some(dir) = corpus_or_say("WebSocket export") else {
        return;
    };
    let input = dir.join("heplify-sip-tcp-websocket.pcap");
    let (original, again, bytes) = pcap_round_trip(&input, &[], "websocket");
    assert_eq!(identity(calls(&again)), identity(calls(&original)));
    let has = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    assert!(
        has(b"Upgrade: websocket") || has(b"upgrade: websocket"),
        "upgrade request kept"
    );
    assert!(has(b"101 Switching Protocols"), "upgrade response kept");
}
