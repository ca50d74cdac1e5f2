//! `sipscope calls`: the call list, like sngrep's, as text or JSON.

use std::io::Write;

use crate::analysis;
use crate::cli::Selection;
use crate::error::Error;
use crate::output::calls;

pub fn run(
    sel: &Selection,
    json: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), Error> {
    let loaded = analysis::load(sel, false, err)?;
    let picked: Vec<_> = loaded.selected(sel).map(|(_, c)| c.clone()).collect();
    if json {
        calls::write_json(out, &picked)?;
    } else {
        calls::write_text(out, &picked)?;
    }
    Ok(())
}
