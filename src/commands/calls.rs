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
    let mut loaded = analysis::load_calls(sel, false, err)?;
    loaded.calls.retain(|c| sel.filter.matches(c));
    if json {
        calls::write_json(out, &loaded.calls)?;
    } else {
        calls::write_text(out, &loaded.calls)?;
    }
    analysis::release(loaded);
    Ok(())
}
