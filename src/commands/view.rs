//! `sipscope FILE...` without a subcommand: the interactive view when a person is at a
//! terminal (standard output and standard input both terminals), otherwise the call list, so
//! the command still does something useful in a pipe or a script.

use std::io::{IsTerminal, Write};

use crate::cli::Selection;
use crate::error::Error;

pub fn run(sel: &Selection, out: &mut dyn Write, err: &mut dyn Write) -> Result<(), Error> {
    if std::io::stdout().is_terminal() && std::io::stdin().is_terminal() {
        crate::tui::run(sel, err)
    } else {
        super::calls::run(sel, false, out, err)
    }
}
