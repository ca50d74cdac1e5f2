//! sipscope: a SIP trace analyzer.
//!
//! The pipeline, left to right; dependencies point one way only:
//!
//! ```text
//! file(s) -> capture -> net ---------> sip ---------> dialog -> output
//!            frames     datagrams,     messages       calls,     stats, json,
//!            (pcap,     TCP streams    (tolerant,     dialogs,   ladder
//!            pcapng,    (defrag,       anomalies)     transactions
//!            gz, stdin) reassembly)          ^            ^
//!                                            +-- knowledge+  (leaf: codes, classes, meanings)
//! ```
//!
//! [`ingest`] glues capture, net and sip together and keeps the books: every frame ends up
//! carried SIP, not SIP (by protocol), or undecodable (by reason).

pub mod alloc;
pub mod analysis;
pub mod capture;
pub mod cli;
pub mod commands;
pub mod diagnose;
pub mod dialog;
pub mod error;
pub mod ingest;
pub mod knowledge;
pub mod media;
pub mod net;
pub mod output;
pub mod sip;
#[cfg(test)]
mod testdata;
pub mod tui;

use std::io::Write;

use capture::Input;
use cli::Config;
use error::Error;

/// Opens every input; a file that cannot be opened is reported on `err` and skipped. Fails when
/// none could be opened.
pub fn open_inputs(files: &[String], err: &mut dyn Write) -> Result<Vec<Input>, Error> {
    let mut inputs = Vec::new();
    let mut failed = Vec::new();
    for (i, f) in files.iter().enumerate() {
        let index = u16::try_from(i).map_err(|_| Error::Usage("too many input files".into()))?;
        match capture::open(f, index) {
            Ok(input) => {
                if let Some(why) = &input.gzip_issue {
                    let _ = writeln!(
                        err,
                        "sipscope: warning: {}: gzip stream broke ({}); analysing what was inflated",
                        output::escape_str(&input.name),
                        why
                    );
                }
                inputs.push(input)
            }
            Err(e) => failed.push(e),
        }
    }
    // When nothing opened, the last failure is the command's error, said once by the caller.
    let last = if inputs.is_empty() {
        failed.pop()
    } else {
        None
    };
    for e in &failed {
        let _ = writeln!(err, "sipscope: error: {e}");
    }
    match (inputs.is_empty(), last) {
        (true, Some(e)) => Err(Error::Capture(e)),
        (true, None) => Err(Error::Usage("no input".into())),
        _ => Ok(inputs),
    }
}

/// Tells the user about capture defects and undecodable frames, naming files and frames.
pub fn report_books(books: &ingest::Books, err: &mut dyn Write) {
    let name = |file: u16| {
        books.inputs.get(usize::from(file)).map_or_else(
            || "?".to_string(),
            |b| output::escape_str(&b.name).into_owned(),
        )
    };
    for issue in &books.issues {
        let _ = writeln!(err, "sipscope: warning: {}: {}", name(issue.file), issue);
    }
    for (reason, count) in &books.undecoded {
        let frames: Vec<String> = books
            .undecoded_examples
            .iter()
            .filter(|(_, r)| r == reason)
            .take(8)
            .map(|(f, _)| format!("{}#{}", name(f.file), f.number))
            .collect();
        let more = if (frames.len() as u64) < *count {
            ", ..."
        } else {
            ""
        };
        let _ = writeln!(
            err,
            "sipscope: warning: {count} frame(s) not decoded ({}): {}{more}",
            output::escape_str(reason),
            frames.join(", ")
        );
    }
}

/// Runs one command, writing results to `out` and diagnostics to `err`.
pub fn run(config: Config, out: &mut dyn Write, err: &mut dyn Write) -> Result<(), Error> {
    commands::run(config, out, err)
}
