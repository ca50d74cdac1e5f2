//! Fuzz target: the commands end to end on arbitrary bytes as a capture file (with a valid
//! pcap header prepended, link type picked by the first byte, as in `pipeline`): stats, the
//! call list, diagnose (text and JSON), the ndjson export and the text ladder, through
//! [`sipscope::run`] as the binary calls it, and the view's list loaded with its calls opened.
//! Besides "no panic": every byte printed, on the output and the error stream, is free of
//! control characters but the line feed (text from the capture is always escaped), and the
//! JSON outputs parse.
#![no_main]

use std::io::Write;

use libfuzzer_sys::fuzz_target;

#[path = "pcap_body.rs"]
mod pcap_body;
use sipscope::capture::linktype;
use sipscope::cli::Config;

const LINKTYPES: [u32; 4] = [
    linktype::ETHERNET,
    linktype::RAW,
    linktype::LINUX_SLL,
    linktype::NULL,
];

/// One file per fuzzing process, rewritten for each input (commands read files by path).
fn scratch_path() -> String {
    let dir = std::env::var("TMPDIR").unwrap_or_else(|_| "/tmp".into());
    format!("{dir}/sipscope-fuzz-commands-{}.pcap", std::process::id())
}

fn raw_control(bytes: &[u8]) -> Option<char> {
    String::from_utf8_lossy(bytes).chars().find(|&c| {
        (c.is_control() && c != '\n')
            || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    })
}

fn run(path: &str, args: &[&str]) {
    let mut line = vec!["sipscope"];
    line.extend_from_slice(args);
    line.push(path);
    let Ok(config) = Config::from_args(&line) else {
        panic!("arguments rejected: {line:?}");
    };
    let (mut out, mut err) = (Vec::new(), Vec::new());
    // An error (nothing readable, say) is a normal outcome; it must still be printed safely.
    if let Err(e) = sipscope::run(config, &mut out, &mut err) {
        let _ = writeln!(err, "{e}");
    }
    if let Some(c) = raw_control(&out) {
        panic!("{args:?}: raw {c:?} on the output");
    }
    if let Some(c) = raw_control(&err) {
        panic!("{args:?}: raw {c:?} on the error stream");
    }
    if args.contains(&"--json") && !out.is_empty() {
        if let Err(e) = serde_json::from_slice::<serde_json::Value>(&out) {
            panic!("{args:?}: output is not JSON: {e}");
        }
    }
    if args.contains(&"ndjson") {
        for l in out.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            if let Err(e) = serde_json::from_slice::<serde_json::Value>(l) {
                panic!("ndjson line is not JSON: {e}");
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let lt = LINKTYPES[usize::from(pick) % LINKTYPES.len()];
    let file = pcap_body::with_pcap_header(lt, body);
    let path = scratch_path();
    if std::fs::write(&path, &file).is_err() {
        return;
    }
    for args in [
        &["stats"][..],
        &["calls"],
        &["diagnose"],
        &["diagnose", "--json"],
        &["export", "--format", "ndjson"],
        &["ladder", "--color", "never"],
    ] {
        run(&path, args);
    }
    open_in_view(&path);
});

/// The view's list loaded as the terminal view loads it, then every call opened (rebuilt from
/// the capture through the frame index, as pressing Enter does).
fn open_in_view(path: &str) {
    let sel = sipscope::cli::Selection {
        files: vec![path.to_string()],
        ..Default::default()
    };
    let Ok(mut app) = sipscope::tui::load_app(&sel) else {
        return;
    };
    for id in 0..app.entries.len().min(MAX_OPENED) {
        let _ = app.whole_call(id);
    }
}

/// Calls opened per input at most.
const MAX_OPENED: usize = 32;
