//! A sorted set of `(capture time, message number)` pairs that is usually tiny: the open
//! initial INVITEs the grouper files at one place (an address and a called number). Nearly
//! every place holds one or two of them at a time, and a place comes and goes with its call,
//! so a B-tree (one node allocated per place) costs more than it saves. Up to [`FEW`] pairs
//! live in a sorted small vector (two of them inline); a place that gathers more (a flood of
//! calls to one number) moves to a B-tree, so no operation grows with the set's size beyond
//! a logarithm.

use std::collections::BTreeSet;

use smallvec::SmallVec;

/// One entry: capture time (ns) and a message number.
pub type Stamp = (i64, u64);

/// Entries kept in the sorted small vector before moving to a B-tree.
const FEW: usize = 16;

/// A set of [`Stamp`]s in ascending order.
#[derive(Debug, Clone)]
pub enum Stamps {
    /// Sorted, without repeats, at most [`FEW`] long.
    Few(SmallVec<[Stamp; 2]>),
    Many(BTreeSet<Stamp>),
}

impl Default for Stamps {
    fn default() -> Self {
        Stamps::Few(SmallVec::new())
    }
}

impl Stamps {
    /// Adds `s` (nothing happens when it is there already).
    pub fn insert(&mut self, s: Stamp) {
        match self {
            Stamps::Few(v) => match v.binary_search(&s) {
                Ok(_) => {}
                Err(at) if v.len() < FEW => v.insert(at, s),
                Err(_) => {
                    let mut all: BTreeSet<Stamp> = v.drain(..).collect();
                    all.insert(s);
                    *self = Stamps::Many(all);
                }
            },
            Stamps::Many(set) => {
                set.insert(s);
            }
        }
    }

    /// Takes `s` out; whether it was there.
    pub fn remove(&mut self, s: &Stamp) -> bool {
        match self {
            Stamps::Few(v) => match v.binary_search(s) {
                Ok(at) => {
                    v.remove(at);
                    true
                }
                Err(_) => false,
            },
            Stamps::Many(set) => set.remove(s),
        }
    }

    pub fn is_empty(&self) -> bool {
        match self {
            Stamps::Few(v) => v.is_empty(),
            Stamps::Many(set) => set.is_empty(),
        }
    }

    /// The smallest entry.
    pub fn first(&self) -> Option<Stamp> {
        match self {
            Stamps::Few(v) => v.first().copied(),
            Stamps::Many(set) => set.first().copied(),
        }
    }

    /// The smallest entry whose time lies between `lo` and `hi` (inclusive).
    pub fn first_between(&self, lo: i64, hi: i64) -> Option<Stamp> {
        if lo > hi {
            return None;
        }
        let found = match self {
            Stamps::Few(v) => {
                let at = v.partition_point(|&(t, _)| t < lo);
                v.get(at).copied()
            }
            Stamps::Many(set) => set.range((lo, 0)..).next().copied(),
        };
        found.filter(|&(t, _)| t <= hi)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// An operation on both the set under test and a plain B-tree.
    #[derive(Debug, Clone)]
    enum Op {
        Insert(Stamp),
        Remove(Stamp),
        Between(i64, i64),
    }

    fn op() -> impl Strategy<Value = Op> {
        // Few distinct times and numbers, so repeats and removals of present entries are common.
        let stamp = (0i64..40, 0u64..4);
        prop_oneof![
            4 => stamp.clone().prop_map(Op::Insert),
            3 => stamp.prop_map(Op::Remove),
            2 => (-2i64..42, -2i64..42).prop_map(|(a, b)| Op::Between(a, b)),
        ]
    }

    proptest! {
        /// Whatever the operations, the set answers as a B-tree does, on both sides of the
        /// move from the small vector to the B-tree.
        #[test]
        fn answers_as_a_btree_does(ops in proptest::collection::vec(op(), 0..200)) {
            let mut ours = Stamps::default();
            let mut reference = BTreeSet::new();
            for op in ops {
                match op {
                    Op::Insert(s) => {
                        ours.insert(s);
                        reference.insert(s);
                    }
                    Op::Remove(s) => prop_assert_eq!(ours.remove(&s), reference.remove(&s)),
                    Op::Between(lo, hi) => {
                        let expected = if lo > hi {
                            None
                        } else {
                            reference.range((lo, 0)..=(hi, u64::MAX)).next().copied()
                        };
                        prop_assert_eq!(ours.first_between(lo, hi), expected);
                    }
                }
                prop_assert_eq!(ours.first(), reference.first().copied());
                prop_assert_eq!(ours.is_empty(), reference.is_empty());
            }
        }
    }

    #[test]
    fn moves_to_a_btree_past_the_few() {
        let mut s = Stamps::default();
        for t in 0..FEW as i64 {
            s.insert((t, 0));
        }
        assert!(matches!(s, Stamps::Few(_)));
        s.insert((-1, 7));
        assert!(matches!(s, Stamps::Many(_)));
        assert_eq!(s.first(), Some((-1, 7)));
        assert_eq!(s.first_between(3, 3), Some((3, 0)));
    }
}
