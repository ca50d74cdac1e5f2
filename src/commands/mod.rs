//! One file per command: each takes its checked configuration, runs the pipeline it needs and
//! writes its output. [`run`] dispatches.

mod calls;
mod diagnose;
mod export;
mod ladder;
mod media;
mod stats;
mod view;

use std::io::Write;

use crate::cli::Config;
use crate::error::Error;

/// Runs one command, writing results to `out` and diagnostics to `err`.
pub fn run(config: Config, out: &mut dyn Write, err: &mut dyn Write) -> Result<(), Error> {
    match config {
        Config::Stats { files, json } => stats::run(&files, json, out, err),
        Config::Codes(q) => Ok(crate::output::codes::write(out, q)?),
        Config::Calls { sel, json } => calls::run(&sel, json, out, err),
        Config::View { sel } => view::run(&sel, out, err),
        Config::Ladder { sel, ladder } => ladder::run(&sel, &ladder, out, err),
        Config::Export { sel, export: cfg } => export::run(&sel, &cfg, out, err),
        Config::Schema => export::schema(out),
        Config::Diagnose { sel, json } => diagnose::run(&sel, json, out, err),
        Config::Media { sel, json } => media::run(&sel, json, out, err),
    }
}
