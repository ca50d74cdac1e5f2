//! `sipscope stats`: one streaming pass, counting. Decoding runs on a helper thread while
//! this one parses and counts, reading the messages where they lie (see
//! [`crate::ingest::run_parallel_located`]).

use std::io::Write;

use crate::error::Error;
use crate::output::stats::{self, Stats};

pub fn run(
    files: &[String],
    json: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), Error> {
    let inputs = crate::open_inputs(files, err)?;
    let mut s = Stats::default();
    let (books, _) = crate::ingest::run_parallel_located(&inputs, false, &mut |m| s.add(m));
    crate::report_books(&books, err);
    if books.frames == 0 && !books.issues.is_empty() {
        return Err(Error::NothingRead);
    }
    if json {
        stats::write_json(out, &books, &s)?;
    } else {
        stats::write_text(out, &books, &s)?;
    }
    Ok(())
}
