//! `sipscope calls`: the call list, like sngrep's, as text or JSON.
//!
//! Streams with bounded memory ([`analysis::stream_exact`]): each call is reduced to its row
//! ([`CallRow`]) as soon as it ends, then held only until every call that started before it
//! is known, so rows come out in the order (and with the numbers) of a whole-file run. B2BUAs
//! found across calls ([`B2buaLinker`]) change the roles a row shows, so a row also waits
//! until no call still to come can pair with it. JSON rows are written as they are released;
//! text rows are spooled (the columns are as wide as their widest cell) and laid out at the
//! end.

use std::collections::BTreeMap;
use std::io::{self, Write};

use crate::analysis::{self, B2buaLinker, CallKey, REORDER_SLACK_NS};
use crate::cli::Selection;
use crate::dialog::Detail;
use crate::error::Error;
use crate::output::calls::{CallRow, JsonList, TextTable};

/// An ended call waiting for older calls (and for B2BUA partners).
struct Waiting {
    /// The horizon must pass this before the call's B2BUA answer is final.
    ready_at: i64,
    /// Where its row waits in [`Rows`]; `None` when the filter drops the call.
    row: Option<usize>,
}

/// The rows of waiting calls, in slots reused as rows leave: the ordered map of waiting
/// calls holds only a slot number, so inserting and removing there moves a few words instead
/// of whole rows.
#[derive(Default)]
struct Rows {
    slots: Vec<Option<CallRow>>,
    free: Vec<usize>,
}

impl Rows {
    /// Stores `row`, returning its slot.
    fn put(&mut self, row: CallRow) -> usize {
        match self.free.pop() {
            Some(i) if i < self.slots.len() => {
                if let Some(slot) = self.slots.get_mut(i) {
                    *slot = Some(row);
                }
                i
            }
            _ => {
                self.slots.push(Some(row));
                self.slots.len() - 1
            }
        }
    }

    /// The row in slot `i`.
    fn get_mut(&mut self, i: usize) -> Option<&mut CallRow> {
        self.slots.get_mut(i).and_then(Option::as_mut)
    }

    /// Drops the row in slot `i`, leaving the slot for the next row.
    fn release(&mut self, i: usize) {
        if let Some(slot) = self.slots.get_mut(i) {
            if slot.take().is_some() {
                self.free.push(i);
            }
        }
    }
}

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
    pending: &mut BTreeMap<CallKey, Waiting>,
    rows: &mut Rows,
    linker: &mut B2buaLinker,
    sink: &mut Sink,
    out: &mut dyn Write,
    horizon: i64,
    all: bool,
) -> io::Result<()> {
    while let Some(entry) = pending.first_entry() {
        if !all && (entry.key().0 >= horizon || entry.get().ready_at >= horizon) {
            break;
        }
        let (key, waiting) = entry.remove_entry();
        let b2buas = linker.take(key);
        if let Some(i) = waiting.row {
            if let Some(row) = rows.get_mut(i) {
                for h in b2buas {
                    row.promote(h);
                }
                sink.push(out, row)?;
            }
            rows.release(i);
        }
    }
    Ok(())
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
    let mut pending: BTreeMap<CallKey, Waiting> = BTreeMap::new();
    let mut rows = Rows::default();
    // The JSON rows' outcome is a diagnosis, which reads every field.
    let detail = if json {
        Detail::Full
    } else {
        Detail::list(&sel.filter)
    };
    analysis::stream_exact(sel, detail, err, &mut |call, key, horizon| {
        let ready_at = linker.add(key, call);
        let row = sel
            .filter
            .matches(call)
            .then(|| rows.put(CallRow::new(call, json)));
        pending.insert(key, Waiting { ready_at, row });
        let horizon = horizon.saturating_sub(REORDER_SLACK_NS);
        linker.advance(horizon);
        release(
            &mut pending,
            &mut rows,
            &mut linker,
            &mut sink,
            out,
            horizon,
            false,
        )
    })?;
    linker.finish();
    release(
        &mut pending,
        &mut rows,
        &mut linker,
        &mut sink,
        out,
        i64::MAX,
        true,
    )?;
    match sink {
        Sink::Json(j) => j.finish(out)?,
        Sink::Text(t) => t.finish(out)?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialog::analyze_call;
    use crate::dialog::testkit::*;

    fn row(call_id: &str) -> CallRow {
        let inv = invite(call_id, 1, 2, 0, "z9hG4bK-1", 1);
        CallRow::new(&analyze_call(vec![inv], &[]), true)
    }

    /// Slots are handed back and reused; each row stays where it was put until released.
    #[test]
    fn rows_keep_their_slots_until_released() {
        let mut rows = Rows::default();
        let (a, b, c) = (row("a"), row("b"), row("c"));
        let ia = rows.put(a.clone());
        let ib = rows.put(b.clone());
        assert_ne!(ia, ib);
        assert_eq!(rows.get_mut(ia), Some(&mut a.clone()));
        rows.release(ia);
        assert_eq!(rows.get_mut(ia), None);
        // Releasing twice hands the slot back once.
        rows.release(ia);
        let ic = rows.put(c.clone());
        assert_eq!(ic, ia);
        let id = rows.put(a.clone());
        assert!(id != ib && id != ic);
        assert_eq!(rows.get_mut(ib), Some(&mut b.clone()));
        assert_eq!(rows.get_mut(ic), Some(&mut c.clone()));
        assert_eq!(rows.get_mut(id), Some(&mut a.clone()));
        assert_eq!(rows.get_mut(99), None);
        rows.release(99);
        assert_eq!(rows.slots.len(), 3);
    }
}
