//! Grouping messages into calls, all at once ([`analyze_all`], [`Grouper`]). Streaming
//! commands group the same way message by message (`crate::analysis::ExactGrouper`, which
//! hands each call over at its last message, known from a first pass).
//!
//! A message without a Call-ID is a call of its own (Call-ID empty, with a note): lumping
//! unrelated broken messages together would invent a call nobody made. So the number of calls
//! is the number of distinct non-empty Call-IDs plus the number of messages without one.

use std::collections::HashMap;

use super::analyze::analyze_call;
use super::model::Call;
use super::msg::Msg;
use super::roles::{correlate_b2bua, RoleOverride};

/// Hash maps keyed by Call-ID: foldhash is several times faster than the default SipHash on
/// these short keys, and the keys are only compared within one capture.
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// Groups every message by Call-ID and analyses each group. Calls come back ordered by the
/// time of their first message (ties: order of first appearance). Every message lands in
/// exactly one call. B2BUAs that change the Call-ID are then found by
/// [`correlate_b2bua`](super::correlate_b2bua).
pub fn analyze_all(msgs: Vec<Msg>, overrides: &[RoleOverride]) -> Vec<Call> {
    let mut g = Grouper::default();
    for m in msgs {
        g.push(m);
    }
    g.finish(overrides)
}

/// Whole-capture grouping, message by message: the same result as [`analyze_all`] without
/// first collecting every message in one vector (which cost a copy of each and, for a large
/// capture, reallocations of hundreds of megabytes).
#[derive(Default)]
pub struct Grouper {
    index: FastMap<super::CallId, usize>,
    groups: Vec<Vec<Msg>>,
}

/// Room reserved for a new call's messages: OPTIONS and REGISTER calls have 2 to 4, calls 5 to
/// 14 (a Msg is 776 bytes: unused room in every call adds up to hundreds of megabytes).
const GROUP_START: usize = 4;

impl Grouper {
    /// Adds one message to its Call-ID's group (a message without a Call-ID is a group of its
    /// own).
    pub fn push(&mut self, m: Msg) {
        if !m.call_id.is_empty() {
            if let Some(group) = self
                .index
                .get(m.call_id.as_str())
                .and_then(|&g| self.groups.get_mut(g))
            {
                group.push(m);
                return;
            }
            self.index.insert(m.call_id.clone(), self.groups.len());
        }
        let mut group = Vec::with_capacity(if m.call_id.is_empty() { 1 } else { GROUP_START });
        group.push(m);
        self.groups.push(group);
    }

    /// Analyses every group (on all cores; the order of the result does not depend on it),
    /// orders the calls and correlates B2BUA legs.
    pub fn finish(self, overrides: &[RoleOverride]) -> Vec<Call> {
        drop(self.index);
        let mut calls = analyze_groups(self.groups, overrides);
        // Stable: equal start times keep their order of first appearance.
        calls.sort_by_key(|c| c.summary.start_ns);
        correlate_b2bua(&mut calls);
        calls
    }
}

/// Fewer groups than this are analysed on the calling thread alone.
const PARALLEL_MIN_GROUPS: usize = 256;

/// `analyze_call` over every group, in order. Calls are independent, so the groups are cut
/// into one contiguous run per core (of about equal message counts) and the runs' results
/// are concatenated in order: the same vector as a sequential map.
fn analyze_groups(groups: Vec<Vec<Msg>>, overrides: &[RoleOverride]) -> Vec<Call> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if threads < 2 || groups.len() < PARALLEL_MIN_GROUPS {
        return groups
            .into_iter()
            .map(|g| analyze_call(g, overrides))
            .collect();
    }
    let total: usize = groups.iter().map(Vec::len).sum();
    let per = total.div_ceil(threads).max(1);
    let mut runs: Vec<Vec<Vec<Msg>>> = Vec::with_capacity(threads);
    let mut current = Vec::new();
    let mut size = 0usize;
    for g in groups {
        size = size.saturating_add(g.len());
        current.push(g);
        if size >= per && runs.len() + 1 < threads {
            runs.push(std::mem::take(&mut current));
            size = 0;
        }
    }
    runs.push(current);
    std::thread::scope(|scope| {
        let mut runs = runs.into_iter();
        let first = runs.next().unwrap_or_default();
        let handles: Vec<_> = runs
            .map(|run| {
                scope.spawn(move || {
                    run.into_iter()
                        .map(|g| analyze_call(g, overrides))
                        .collect::<Vec<Call>>()
                })
            })
            .collect();
        let mut calls: Vec<Call> = first
            .into_iter()
            .map(|g| analyze_call(g, overrides))
            .collect();
        for h in handles {
            match h.join() {
                Ok(mut part) => calls.append(&mut part),
                // Only a bug panics in analysis: re-raise it on this thread.
                Err(p) => std::panic::resume_unwind(p),
            }
        }
        calls
    })
}
