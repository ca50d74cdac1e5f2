//! `sipscope calls`: the call list, like sngrep's, as text or JSON.
//!
//! Streams with bounded memory ([`analysis::stream_exact`]): each call is reduced to its row
//! ([`CallRow`]) as soon as it ends, then held only until every call that started before it
//! is known, so rows come out in the order (and with the numbers) of a whole-file run. B2BUAs
//! found across calls ([`B2buaLinker`]) change the roles a row shows, so a row also waits
//! until no call still to come can pair with it. JSON rows are written as they are released;
//! text rows are spooled (the columns are as wide as their widest cell) and laid out at the
//! end.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::io::{self, Write};

use crate::analysis::{self, B2buaLinker, CallKey, REORDER_SLACK_NS};
use crate::cli::Selection;
use crate::dialog::Detail;
use crate::error::Error;
use crate::output::calls::{CallRow, JsonList, TextTable};

/// An ended call waiting for older calls (and for B2BUA partners). Ordered by `key` alone,
/// which is unique (a call's first message's time and number).
struct Waiting {
    key: CallKey,
    /// The horizon must pass this before the call's B2BUA answer is final.
    ready_at: i64,
    /// Where its row waits in [`Rows`]; `None` when the filter drops the call.
    row: Option<usize>,
}

impl PartialEq for Waiting {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}

impl Eq for Waiting {}

impl PartialOrd for Waiting {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Waiting {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key.cmp(&other.key)
    }
}

/// Waiting calls, the oldest first out: a heap, cheaper to add to and take from than an
/// ordered map, as only the oldest is ever looked at.
type Pending = BinaryHeap<Reverse<Waiting>>;

/// The rows of waiting calls, in slots reused as rows leave: the queue of waiting calls
/// holds only a slot number, so reordering there moves a few words instead of whole rows.
/// Slots come in blocks of [`SLOT_BLOCK`] that never move: a new block is added as more rows
/// wait, instead of copying every waiting row into a larger array.
#[derive(Default)]
struct Rows {
    blocks: Vec<Vec<Option<CallRow>>>,
    free: Vec<usize>,
}

/// Slots in a block of [`Rows`].
const SLOT_BLOCK: usize = 64;

impl Rows {
    /// Stores `row`, returning its slot.
    fn put(&mut self, row: CallRow) -> usize {
        if let Some(i) = self.free.pop() {
            if let Some(slot) = self.slot(i) {
                *slot = Some(row);
                return i;
            }
        }
        let before = self.blocks.len().saturating_sub(1) * SLOT_BLOCK;
        match self.blocks.last_mut() {
            Some(block) if block.len() < SLOT_BLOCK => {
                block.push(Some(row));
                before + block.len() - 1
            }
            _ => {
                let mut block = Vec::with_capacity(SLOT_BLOCK);
                block.push(Some(row));
                self.blocks.push(block);
                (self.blocks.len() - 1) * SLOT_BLOCK
            }
        }
    }

    /// Slot `i` (`None` when there is no such slot).
    fn slot(&mut self, i: usize) -> Option<&mut Option<CallRow>> {
        self.blocks
            .get_mut(i / SLOT_BLOCK)
            .and_then(|b| b.get_mut(i % SLOT_BLOCK))
    }

    /// The row in slot `i`.
    fn get_mut(&mut self, i: usize) -> Option<&mut CallRow> {
        self.slot(i).and_then(Option::as_mut)
    }

    /// Drops the row in slot `i` where it lies, leaving the slot for the next row.
    fn release(&mut self, i: usize) {
        if let Some(slot) = self.slot(i) {
            if slot.is_some() {
                *slot = None;
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
    pending: &mut Pending,
    rows: &mut Rows,
    linker: &mut B2buaLinker,
    sink: &mut Sink,
    out: &mut dyn Write,
    horizon: i64,
    all: bool,
) -> io::Result<()> {
    while let Some(Reverse(oldest)) = pending.peek() {
        if !all && (oldest.key.0 >= horizon || oldest.ready_at >= horizon) {
            break;
        }
        let Some(Reverse(waiting)) = pending.pop() else {
            break;
        };
        let b2buas = linker.take(waiting.key);
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
    let mut pending = Pending::new();
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
        pending.push(Reverse(Waiting { key, ready_at, row }));
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
        assert_eq!(rows.blocks.iter().map(Vec::len).sum::<usize>(), 3);
    }

    /// Past one block, slots keep their rows, and freed ones anywhere are reused first.
    #[test]
    fn rows_span_blocks() {
        let mut rows = Rows::default();
        let all: Vec<CallRow> = (0..3 * SLOT_BLOCK + 5)
            .map(|i| row(&format!("c{i}")))
            .collect();
        let slots: Vec<usize> = all.iter().map(|r| rows.put(r.clone())).collect();
        assert_eq!(slots, (0..all.len()).collect::<Vec<_>>());
        for (i, r) in all.iter().enumerate() {
            assert_eq!(rows.get_mut(i), Some(&mut r.clone()));
        }
        rows.release(SLOT_BLOCK + 3);
        rows.release(2);
        assert_eq!(rows.get_mut(2), None);
        assert_eq!(rows.put(all[0].clone()), 2);
        assert_eq!(rows.put(all[0].clone()), SLOT_BLOCK + 3);
        assert_eq!(rows.put(all[0].clone()), all.len());
        assert_eq!(rows.get_mut(all.len()), Some(&mut all[0].clone()));
        assert_eq!(
            rows.get_mut(SLOT_BLOCK + 4),
            Some(&mut all[SLOT_BLOCK + 4].clone())
        );
    }

    /// The queue gives the waiting calls back oldest first, as the ordered map did.
    #[test]
    fn pending_calls_come_out_oldest_first() {
        let mut pending = Pending::new();
        let mut keys: Vec<CallKey> = Vec::new();
        let mut x: u64 = 11;
        for seq in 0..500u64 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let key = ((x >> 40) as i64 % 50 - 10, seq);
            keys.push(key);
            pending.push(Reverse(Waiting {
                key,
                ready_at: 0,
                row: None,
            }));
        }
        keys.sort();
        let out: Vec<CallKey> =
            std::iter::from_fn(|| pending.pop().map(|Reverse(w)| w.key)).collect();
        assert_eq!(out, keys);
    }
}
