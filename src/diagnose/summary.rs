//! The file summary: calls by outcome, failures by code, by generating host and by cause, the
//! answer/seizure ratio, and the top causes with one example call each. Streaming-friendly: it
//! keeps counts and one example Call-ID per cause, never the calls; the maps are capped so a
//! hostile capture with endless distinct phrases cannot grow them without bound.

use std::collections::BTreeMap;

use crate::dialog::Call;

use super::{Diagnosis, Outcome};

/// Distinct keys kept per map; the rest are counted under [`OTHER`].
const MAX_KEYS: usize = 1000;
/// The bucket for keys past the cap.
pub const OTHER: &str = "(other)";

/// A cause and how often it occurred, with one call that shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CauseCount {
    pub cause: String,
    pub count: u64,
    pub example_call_id: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub calls: u64,
    pub by_outcome: BTreeMap<Outcome, u64>,
    /// Failed calls (see [`Outcome::is_failure`]) by final code; `None` when none came.
    pub failures_by_code: BTreeMap<Option<u16>, u64>,
    /// Failed calls by the host that generated the deciding response (label), or the host
    /// that never answered.
    pub failures_by_host: BTreeMap<String, u64>,
    /// Failed calls by cause, with an example Call-ID.
    pub failures_by_cause: BTreeMap<String, (u64, String)>,
    /// INVITE calls (seizures) and those answered.
    pub seizures: u64,
    pub answered: u64,
}

fn bump<K: Ord + Clone>(map: &mut BTreeMap<K, u64>, key: K, other: K) {
    let k = if map.len() >= MAX_KEYS && !map.contains_key(&key) {
        other
    } else {
        key
    };
    let v = map.entry(k).or_insert(0);
    *v = v.saturating_add(1);
}

/// What the summary reads of one diagnosed call: a streaming output that must count calls in
/// an order other than the one they end in keeps this (a few strings for a failed call,
/// nothing for another) instead of the call and its diagnosis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    outcome: Outcome,
    final_code: Option<u16>,
    failure: Option<Failure>,
}

/// The failed call's deciding host, cause and Call-ID.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Failure {
    host: String,
    cause: String,
    call_id: String,
}

impl Entry {
    pub fn of(call: &Call, d: &Diagnosis) -> Entry {
        let failure = d.outcome.is_failure().then(|| Failure {
            host: d
                .where_
                .generated_by
                .or(d.where_.broken_leg.map(|l| l.to))
                .map(|h| call.host_label(h))
                .unwrap_or_else(|| "(not captured)".to_string()),
            cause: d
                .cause
                .clone()
                .unwrap_or_else(|| d.outcome.words().to_string()),
            call_id: String::from(call.call_id.as_str()),
        });
        Entry {
            outcome: d.outcome,
            final_code: d.final_code,
            failure,
        }
    }

    /// Whether the call failed (see [`Outcome::is_failure`]).
    pub fn failed(&self) -> bool {
        self.outcome.is_failure()
    }
}

impl Summary {
    pub fn new() -> Summary {
        Summary::default()
    }

    /// Counts one diagnosed call.
    pub fn add(&mut self, call: &Call, d: &Diagnosis) {
        self.add_entry(Entry::of(call, d));
    }

    /// Counts one diagnosed call from what [`Entry::of`] kept of it.
    pub fn add_entry(&mut self, e: Entry) {
        self.calls = self.calls.saturating_add(1);
        bump(&mut self.by_outcome, e.outcome, e.outcome);
        if e.outcome.is_invite() {
            self.seizures = self.seizures.saturating_add(1);
            if e.outcome.is_answered() {
                self.answered = self.answered.saturating_add(1);
            }
        }
        let Some(failure) = e.failure else { return };
        bump(&mut self.failures_by_code, e.final_code, None);
        bump(&mut self.failures_by_host, failure.host, OTHER.to_string());
        let key = if self.failures_by_cause.len() >= MAX_KEYS
            && !self.failures_by_cause.contains_key(&failure.cause)
        {
            OTHER.to_string()
        } else {
            failure.cause
        };
        let e = self
            .failures_by_cause
            .entry(key)
            .or_insert_with(|| (0, failure.call_id));
        e.0 = e.0.saturating_add(1);
    }

    /// Answered INVITE calls over all INVITE calls, if there were any.
    pub fn answer_seizure_ratio(&self) -> Option<f64> {
        (self.seizures > 0).then(|| self.answered as f64 / self.seizures as f64)
    }

    pub fn failures(&self) -> u64 {
        self.failures_by_code.values().sum()
    }

    /// The `n` most frequent causes, most frequent first (ties by name).
    pub fn top_causes(&self, n: usize) -> Vec<CauseCount> {
        let mut v: Vec<CauseCount> = self
            .failures_by_cause
            .iter()
            .map(|(c, (n, ex))| CauseCount {
                cause: c.clone(),
                count: *n,
                example_call_id: ex.clone(),
            })
            .collect();
        v.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.cause.cmp(&b.cause)));
        v.truncate(n);
        v
    }
}
