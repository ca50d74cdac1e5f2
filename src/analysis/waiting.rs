//! Ended calls held back until they can be released in list order: [`Waiting`].
//!
//! A streaming consumer (`calls`, the view's list) gets each call when its last message is
//! in, but lists calls by start ([`CallKey`]). A call is released once every call that could
//! still come before it has come (its start is behind the horizon) and its B2BUA answer is
//! final. Tens of thousands wait on a gigabyte capture. What each one holds (a row, an entry
//! draft: hundreds of bytes) sits in a slot that never moves; the ordered map that queues
//! them holds three words a call. An ordered map of the items themselves moved whole items
//! on every insertion into its nodes. The map beat a binary heap of the same tickets: the
//! oldest call lies in its first leaf, always at hand, where a heap's removal walks down
//! its whole height, missing the cache at every step past the first few (`calls` over 1 GB:
//! 2.1% of the samples in the queue instead of 3.8%).

use std::collections::BTreeMap;

use super::CallKey;

/// Items in slots reused as items leave. Slots come in blocks of [`SLOT_BLOCK`] that never
/// move: a new block is added as more items wait, instead of copying every waiting item into
/// a larger array.
struct Slots<T> {
    blocks: Vec<Vec<Option<T>>>,
    free: Vec<usize>,
}

/// Slots in a block of [`Slots`].
const SLOT_BLOCK: usize = 64;

impl<T> Slots<T> {
    fn new() -> Slots<T> {
        Slots {
            blocks: Vec::new(),
            free: Vec::new(),
        }
    }

    /// Stores `item`, returning its slot.
    fn put(&mut self, item: T) -> usize {
        if let Some(i) = self.free.pop() {
            if let Some(slot) = self.slot(i) {
                *slot = Some(item);
                return i;
            }
        }
        let before = self.blocks.len().saturating_sub(1) * SLOT_BLOCK;
        match self.blocks.last_mut() {
            Some(block) if block.len() < SLOT_BLOCK => {
                block.push(Some(item));
                before + block.len() - 1
            }
            _ => {
                let mut block = Vec::with_capacity(SLOT_BLOCK);
                block.push(Some(item));
                self.blocks.push(block);
                (self.blocks.len() - 1) * SLOT_BLOCK
            }
        }
    }

    /// Slot `i` (`None` when there is no such slot).
    fn slot(&mut self, i: usize) -> Option<&mut Option<T>> {
        self.blocks
            .get_mut(i / SLOT_BLOCK)
            .and_then(|b| b.get_mut(i % SLOT_BLOCK))
    }

    /// Takes the item out of slot `i`, leaving the slot for the next item.
    fn take(&mut self, i: usize) -> Option<T> {
        let item = self.slot(i)?.take()?;
        self.free.push(i);
        Some(item)
    }
}

/// Ended calls, each with its item (`None` for a call the consumer shows nothing of), until
/// they are released in list order.
pub struct Waiting<T> {
    /// Per call: when its B2BUA answer is final (the horizon must pass this), and where its
    /// item waits in `slots` (`None` for a call without one).
    queue: BTreeMap<CallKey, (i64, Option<usize>)>,
    slots: Slots<T>,
}

impl<T> Default for Waiting<T> {
    fn default() -> Self {
        Waiting {
            queue: BTreeMap::new(),
            slots: Slots::new(),
        }
    }
}

impl<T> Waiting<T> {
    pub fn new() -> Waiting<T> {
        Waiting::default()
    }

    /// Adds the call `key`, whose B2BUA answer is final once the horizon passes `ready_at`.
    /// Keys are unique (a call's first message is its own); a key added again replaces the
    /// call waiting under it, whose item is dropped.
    pub fn add(&mut self, key: CallKey, ready_at: i64, item: Option<T>) {
        let slot = item.map(|item| self.slots.put(item));
        if let Some((_, Some(old))) = self.queue.insert(key, (ready_at, slot)) {
            debug_assert!(false, "call {key:?} added twice");
            self.slots.take(old);
        }
    }

    /// Calls waiting.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Hands `release`, in list order, every waiting call that started before `horizon` and
    /// whose B2BUA answer is final (`all`: every call), with its item; stops at the first
    /// error, which it returns (the call that failed is gone).
    pub fn release<E>(
        &mut self,
        horizon: i64,
        all: bool,
        mut release: impl FnMut(CallKey, Option<T>) -> Result<(), E>,
    ) -> Result<(), E> {
        while let Some(oldest) = self.queue.first_entry() {
            if !all && (oldest.key().0 >= horizon || oldest.get().0 >= horizon) {
                break;
            }
            let (key, (_, slot)) = oldest.remove_entry();
            let item = slot.and_then(|i| self.slots.take(i));
            release(key, item)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Slots are handed back and reused; each item stays where it was put until taken.
    #[test]
    fn items_keep_their_slots_until_taken() {
        let mut slots = Slots::new();
        let ia = slots.put("a");
        let ib = slots.put("b");
        assert_ne!(ia, ib);
        assert_eq!(slots.take(ia), Some("a"));
        assert_eq!(
            slots.take(ia),
            None,
            "taking twice hands the slot back once"
        );
        let ic = slots.put("c");
        assert_eq!(ic, ia);
        let id = slots.put("d");
        assert!(id != ib && id != ic);
        assert_eq!(slots.take(ib), Some("b"));
        assert_eq!(slots.take(ic), Some("c"));
        assert_eq!(slots.take(id), Some("d"));
        assert_eq!(slots.take(99), None);
        assert_eq!(slots.blocks.iter().map(Vec::len).sum::<usize>(), 3);
    }

    /// Past one block, slots keep their items, and freed ones anywhere are reused first.
    #[test]
    fn slots_span_blocks() {
        let mut slots = Slots::new();
        let n = 3 * SLOT_BLOCK + 5;
        let at: Vec<usize> = (0..n).map(|i| slots.put(i)).collect();
        assert_eq!(at, (0..n).collect::<Vec<_>>());
        assert_eq!(slots.take(SLOT_BLOCK + 3), Some(SLOT_BLOCK + 3));
        assert_eq!(slots.take(2), Some(2));
        assert_eq!(slots.put(1000), 2);
        assert_eq!(slots.put(1001), SLOT_BLOCK + 3);
        assert_eq!(slots.put(1002), n);
        assert_eq!(slots.take(n), Some(1002));
        assert_eq!(slots.take(SLOT_BLOCK + 4), Some(SLOT_BLOCK + 4));
        assert_eq!(slots.take(2), Some(1000));
    }

    /// Calls come out oldest first, as an ordered map would give them, each with its item.
    #[test]
    fn calls_come_out_oldest_first_with_their_items() {
        let mut waiting = Waiting::new();
        let mut keys: Vec<CallKey> = Vec::new();
        let mut x: u64 = 11;
        for seq in 0..500u64 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let key = ((x >> 40) as i64 % 50 - 10, seq);
            keys.push(key);
            waiting.add(key, 0, (seq % 3 != 0).then_some(seq));
        }
        keys.sort();
        let mut out = Vec::new();
        let r: Result<(), ()> = waiting.release(i64::MAX, true, |key, item| {
            assert_eq!(item, (key.1 % 3 != 0).then_some(key.1));
            out.push(key);
            Ok(())
        });
        assert!(r.is_ok());
        assert_eq!(out, keys);
        assert!(waiting.is_empty());
    }

    /// Only calls that started before the horizon and whose answer is final come out; an
    /// error stops the release.
    #[test]
    fn the_horizon_and_the_b2bua_answer_hold_calls_back() {
        let mut waiting = Waiting::new();
        waiting.add((10, 0), 5, Some("a"));
        waiting.add((20, 1), 50, Some("b"));
        waiting.add((30, 2), 5, None);
        let mut out: Vec<(i64, Option<&str>)> = Vec::new();
        let r: Result<(), ()> = waiting.release(25, false, |key, item| {
            out.push((key.0, item));
            Ok(())
        });
        assert!(r.is_ok());
        // (20, 1) started before 25, but its answer is final only past 50; the later one
        // waits behind it.
        assert_eq!(out, [(10, Some("a"))]);
        let r: Result<(), ()> = waiting.release(51, false, |key, item| {
            out.push((key.0, item));
            Ok(())
        });
        assert!(r.is_ok());
        assert_eq!(out, [(10, Some("a")), (20, Some("b")), (30, None)]);
        waiting.add((40, 3), 0, Some("c"));
        waiting.add((41, 4), 0, Some("d"));
        let r = waiting.release(i64::MAX, true, |_, _| Err("full"));
        assert_eq!(r, Err("full"));
        assert_eq!(
            waiting.len(),
            1,
            "the failed call is gone, the next one waits"
        );
    }
}
