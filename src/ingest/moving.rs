//! Handing a value over by place, to be moved exactly once: [`Moving`].
//!
//! A decoded message ([`crate::dialog::Msg`], 456 bytes) is built on the helper thread into
//! a batch, then moved on the consumer into the list of its call. Handed over by value,
//! it was copied three times on the consumer, the busier thread: out of the batch onto
//! the stack, into the consumer's argument, and into the call's list (a sixth of the view's
//! loading thread went to copying memory). A [`Moving`] points at the message where it lies;
//! the consumer reads it there and then either moves it straight into a vector
//! ([`Moving::push_into`], one copy) or takes it out by value ([`Moving::take`]); if it does
//! neither, the message is dropped where it lies. Either way it is moved or dropped once.
//!
//! The module's tests pass under Miri, with Stacked and with Tree Borrows (copy this file
//! into a crate of its own and run `cargo +nightly miri test`; the panic test leaks on
//! purpose, so add `MIRIFLAGS=-Zmiri-ignore-leaks`).

use std::mem::ManuallyDrop;
use std::ops::Deref;

/// A value lent by place, which the holder must move or let drop: it owns the value, but
/// the value stays where it was put until [`Moving::push_into`] or [`Moving::take`] moves
/// it. Only [`each`] and [`one`] make one, so that no other code can hand out a value it
/// would drop again.
pub struct Moving<'a, M> {
    /// Holds a live value that nothing else will read, move or drop.
    slot: &'a mut ManuallyDrop<M>,
}

impl<M> Deref for Moving<'_, M> {
    type Target = M;

    fn deref(&self) -> &M {
        self.slot
    }
}

impl<M> Moving<'_, M> {
    /// Moves the value to the end of `v`, copying it once.
    pub fn push_into(self, v: &mut Vec<M>) {
        // Growing may panic: the value is still ours then, and dropped by `Drop`.
        v.reserve(1);
        let this = ManuallyDrop::new(self);
        let src: *const M = &**this.slot;
        let len = v.len();
        // SAFETY: `src` points at a live `M` that nothing else reads, moves or drops
        // (`slot`'s invariant), and `this` is never dropped, so it is moved out exactly once.
        // `reserve(1)` left room for one more element at `len`, which `set_len` then counts.
        // The two places do not overlap: `v` owns its buffer, and `slot` is not in it (the
        // caller cannot lend an element of `v` while passing `v` itself).
        unsafe {
            std::ptr::copy_nonoverlapping(src, v.as_mut_ptr().add(len), 1);
            v.set_len(len + 1);
        }
    }

    /// The value itself, moved out.
    pub fn take(self) -> M {
        let mut this = ManuallyDrop::new(self);
        // SAFETY: the slot holds a live value that nothing else reads, moves or drops, and
        // `this` is never dropped: the value is moved out exactly once.
        unsafe { ManuallyDrop::take(&mut *this.slot) }
    }
}

impl<M> Drop for Moving<'_, M> {
    fn drop(&mut self) {
        // SAFETY: a `Moving` that is dropped has not moved its value (both ways out of it
        // forget it), so the slot still holds a live value that nothing else will drop.
        unsafe { ManuallyDrop::drop(self.slot) }
    }
}

/// Hands every element of `v` to `f` in order, each as a [`Moving`]; `v` is left empty,
/// its room kept for reuse. If `f` panics, the elements not yet handed out are leaked (never
/// dropped twice).
pub fn each<M>(v: &mut Vec<M>, mut f: impl FnMut(Moving<'_, M>)) {
    let len = v.len();
    // SAFETY: with its length at 0 the vector no longer drops its elements: from here each
    // one belongs to the `Moving` it is handed out as (or is leaked by a panic).
    unsafe { v.set_len(0) };
    let base = v.as_mut_ptr();
    for i in 0..len {
        // SAFETY: `i` is below the former length, so the place is inside the buffer and holds
        // a live element (`ManuallyDrop<M>` has the layout of `M`). Nothing else reaches it
        // now: the vector counts none, and each place is lent once.
        let slot = unsafe { &mut *base.add(i).cast::<ManuallyDrop<M>>() };
        f(Moving { slot });
    }
}

/// Hands `value` to `f` as a [`Moving`] (from the stack), returning what `f` returns.
pub fn one<M, R>(value: M, f: impl FnOnce(Moving<'_, M>) -> R) -> R {
    let mut slot = ManuallyDrop::new(value);
    f(Moving { slot: &mut slot })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::rc::Rc;

    /// Counts its drops.
    struct Tracked(Rc<Cell<u32>>, u32);

    impl Drop for Tracked {
        fn drop(&mut self) {
            self.0.set(self.0.get() + 1);
        }
    }

    fn tracked(n: u32) -> (Rc<Cell<u32>>, Vec<Tracked>) {
        let drops = Rc::new(Cell::new(0));
        let v = (0..n).map(|i| Tracked(drops.clone(), i)).collect();
        (drops, v)
    }

    #[test]
    fn each_value_is_moved_or_dropped_once_whichever_way_it_leaves() {
        let (drops, mut v) = tracked(9);
        let mut kept = Vec::new();
        let mut taken = Vec::new();
        each(&mut v, |m| match m.1 % 3 {
            0 => m.push_into(&mut kept),
            1 => taken.push(m.take()),
            _ => drop(m),
        });
        assert!(v.is_empty());
        assert!(v.capacity() >= 9, "the batch's room is kept");
        // Only the ones let go were dropped so far, each once.
        assert_eq!(drops.get(), 3);
        assert_eq!(kept.iter().map(|t| t.1).collect::<Vec<_>>(), [0, 3, 6]);
        assert_eq!(taken.iter().map(|t| t.1).collect::<Vec<_>>(), [1, 4, 7]);
        drop(kept);
        drop(taken);
        assert_eq!(drops.get(), 9);
        drop(v);
        assert_eq!(drops.get(), 9, "the emptied vector drops nothing again");
    }

    #[test]
    fn values_are_read_where_they_lie_and_arrive_whole() {
        let mut v: Vec<String> = (0..300).map(|i| format!("message {i}")).collect();
        let mut out = Vec::with_capacity(1);
        let mut lens = 0;
        each(&mut v, |m| {
            lens += m.len();
            m.push_into(&mut out);
        });
        assert_eq!(out.len(), 300);
        assert_eq!(out.get(299).map(String::as_str), Some("message 299"));
        assert_eq!(lens, out.iter().map(String::len).sum::<usize>());
        // The vector is reusable.
        v.push("again".into());
        each(&mut v, |m| assert_eq!(m.take(), "again"));
    }

    #[test]
    fn one_moves_or_drops_its_value_once() {
        let (drops, mut v) = tracked(2);
        let (b, a) = (v.pop(), v.pop());
        let mut kept = Vec::new();
        if let Some(a) = a {
            one(a, |m| m.push_into(&mut kept));
        }
        assert_eq!(drops.get(), 0);
        if let Some(b) = b {
            let n = one(b, |m| m.1);
            assert_eq!(n, 1);
        }
        assert_eq!(drops.get(), 1, "a value neither moved nor taken is dropped");
        drop(kept);
        assert_eq!(drops.get(), 2);
    }

    #[test]
    fn a_panic_part_way_leaks_the_rest_and_drops_nothing_twice() {
        let (drops, mut v) = tracked(5);
        let mut kept = Vec::new();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            each(&mut v, |m| {
                assert!(m.1 < 2, "stop at the third");
                m.push_into(&mut kept);
            })
        }));
        assert!(r.is_err());
        // The third was dropped by its `Moving` as the panic unwound; the last two leak.
        assert_eq!(drops.get(), 1);
        assert_eq!(kept.len(), 2);
        drop(kept);
        drop(v);
        assert_eq!(drops.get(), 3);
    }
}
