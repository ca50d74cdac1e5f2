//! `sipscope stats`: one streaming pass, counting. Decoding runs on a helper thread while
//! this one counts; reading each message (start line, defects, hashes: [`Facts::of`]) is done
//! by whichever of the two has time for it (see [`crate::ingest::run_parallel`]).

use std::io::Write;

use crate::error::Error;
use crate::output::stats::{self, Facts, Stats};

pub fn run(
    files: &[String],
    json: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), Error> {
    let inputs = crate::open_inputs(files, err)?;
    let mut s = Stats::default();
    let (books, _) =
        crate::ingest::run_parallel(&inputs, false, &|m| Facts::of(&m), &mut |f| s.count(f));
    s.finish();
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
