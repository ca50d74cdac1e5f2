//! `sipscope calls`: the call list, like sngrep's, as text or JSON.
//!
//! Streams with bounded memory ([`analysis::stream_exact`]): each call is reduced to its row
//! ([`CallRow`]) as soon as it ends, then held only until every call that started before it
//! is known, so rows come out in the order (and with the numbers) of a whole-file run. B2BUAs
//! found across calls ([`B2buaLinker`]) change the roles a row shows, so a row also waits
//! until no call still to come can pair with it. JSON rows are written as they are released;
//! text rows are spooled (the columns are as wide as their widest cell) and laid out at the
//! end.

use std::io::{self, Write};

use crate::analysis::{self, B2buaLinker, CallKey, Waiting, REORDER_SLACK_NS};
use crate::cli::Selection;
use crate::dialog::Detail;
use crate::error::Error;
use crate::output::calls::{CallRow, JsonList, TextTable};

/// Where released rows go.
enum Sink {
    Json(JsonList),
    Text(TextTable),
}

impl Sink {
    fn push(&mut self, out: &mut dyn Write, row: &CallRow) -> io::Result<()> {
        match self {
            Sink::Json(j) => j.push(out, row),
            Sink::Text(t) => t.push(row),
        }
    }
}

/// Releases, in list order, every waiting call that started before `horizon` and whose
/// B2BUA answer is final (`all`: every call, at the end).
fn release(
    pending: &mut Waiting<CallRow>,
    linker: &mut B2buaLinker,
    sink: &mut Sink,
    out: &mut dyn Write,
    horizon: i64,
    all: bool,
) -> io::Result<()> {
    pending.release(horizon, all, |key: CallKey, row| {
        let b2buas = linker.take(key);
        match row {
            Some(mut row) => {
                for h in b2buas {
                    row.promote(h);
                }
                sink.push(out, &row)
            }
            None => Ok(()),
        }
    })
}

pub fn run(
    sel: &Selection,
    json: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), Error> {
    let mut sink = if json {
        Sink::Json(JsonList::new())
    } else {
        Sink::Text(TextTable::new())
    };
    let mut linker = B2buaLinker::new();
    let mut pending = Waiting::new();
    // The JSON rows' outcome is a diagnosis, which reads every field.
    let detail = if json {
        Detail::Full
    } else {
        Detail::list(&sel.filter)
    };
    analysis::stream_exact(sel, detail, err, &mut |call, key, horizon| {
        let ready_at = linker.add(key, call);
        let row = sel.filter.matches(call).then(|| CallRow::new(call, json));
        pending.add(key, ready_at, row);
        let horizon = horizon.saturating_sub(REORDER_SLACK_NS);
        linker.advance(horizon);
        release(&mut pending, &mut linker, &mut sink, out, horizon, false)
    })?;
    linker.finish();
    release(&mut pending, &mut linker, &mut sink, out, i64::MAX, true)?;
    match sink {
        Sink::Json(j) => j.finish(out)?,
        Sink::Text(t) => t.finish(out)?,
    }
    Ok(())
}
