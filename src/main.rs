//! The `sipscope` binary: parse arguments, run, map the outcome to an exit code
//! (0 success, 2 error; a closed output pipe is a success, as for any Unix filter).

use std::io::{self, Write};
use std::process::ExitCode;

use clap::Parser;

// Analysing a capture allocates millions of small values: mimalloc (see `sipscope::alloc`).
#[global_allocator]
static GLOBAL: sipscope::alloc::Allocator = sipscope::alloc::Allocator;

fn main() -> ExitCode {
    let args = sipscope::cli::Args::parse();
    let config = match args.into_config() {
        Ok(c) => c,
        Err(msg) => {
            eprintln!("sipscope: {msg}");
            return ExitCode::from(2);
        }
    };
    let stdout = io::stdout();
    let mut out = io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut err = io::stderr();
    let result = sipscope::run(config, &mut out, &mut err)
        .map_err(anyhow::Error::from)
        .and_then(|()| out.flush().map_err(anyhow::Error::from));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(err, "sipscope: error: {}", said_once(&e));
            ExitCode::from(2)
        }
    }
}

/// The error and its causes, each cause added only when the text so far does not already say
/// it (a capture error names its I/O cause in its own message).
fn said_once(e: &anyhow::Error) -> String {
    let mut text = e.to_string();
    for cause in e.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
            || matches!(
                c.downcast_ref::<sipscope::error::Error>(),
                Some(sipscope::error::Error::Output(io)) if io.kind() == io::ErrorKind::BrokenPipe
            )
    })
}
