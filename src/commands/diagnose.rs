//! `sipscope diagnose`: for every selected call, what happened, where and why, then the file
//! summary; as text or `{"calls": [...], "summary": {...}}`.

use std::io::Write;

use crate::analysis;
use crate::cli::Selection;
use crate::diagnose::{self, Summary};
use crate::error::Error;
use crate::output::diagnose as render;

pub fn run(
    sel: &Selection,
    json: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), Error> {
    let loaded = analysis::load_calls(sel, false, err)?;
    let mut summary = Summary::new();
    let diagnosed: Vec<_> = loaded
        .selected(sel)
        .map(|(i, c)| {
            let d = diagnose::diagnose(c);
            summary.add(c, &d);
            (i, c, d)
        })
        .collect();
    let rows: Vec<_> = diagnosed.iter().map(|(i, c, d)| (*i, *c, d)).collect();
    if json {
        render::write_json_doc(out, &rows, &summary)?;
    } else {
        render::write_text(out, &rows, &summary)?;
    }
    Ok(())
}
