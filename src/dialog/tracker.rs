//! Grouping messages into calls: all at once ([`analyze_all`]) or as they stream by
//! ([`CallTracker`], for captures with millions of calls that should not all sit in memory).
//!
//! A message without a Call-ID is a call of its own (Call-ID empty, with a note): lumping
//! unrelated broken messages together would invent a call nobody made. So the number of calls
//! is the number of distinct non-empty Call-IDs plus the number of messages without one.

use std::borrow::Cow;
use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap, HashSet};

use super::analyze::analyze_call;
use super::model::Call;
use super::msg::{Msg, Text};
use super::roles::{correlate_b2bua, RoleOverride};

/// Hash maps keyed by Call-ID: foldhash is several times faster than the default SipHash on
/// these short keys, and the keys are only compared within one capture.
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;
type FastSet<K> = HashSet<K, foldhash::fast::RandomState>;

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
    index: FastMap<Text, usize>,
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

/// `s` in upper case, allocating only when it has lower-case letters (methods rarely do).
fn upper(s: &str) -> Cow<'_, str> {
    if s.bytes().any(|b| b.is_ascii_lowercase()) {
        Cow::Owned(s.to_ascii_uppercase())
    } else {
        Cow::Borrowed(s)
    }
}

/// When the tracker considers a call over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrackerConfig {
    /// A call with no message for this long (capture time) is handed back. Default 120 s.
    pub idle_timeout_ns: i64,
    /// A call that looks over is kept this long (capture time) to collect retransmissions and
    /// late ACKs before it is handed back. Default 32 s (64 x T1, the longest SIP transaction
    /// timer).
    pub linger_ns: i64,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        TrackerConfig {
            idle_timeout_ns: 120_000_000_000,
            linger_ns: 32_000_000_000,
        }
    }
}

/// A call still being collected.
struct Open {
    msgs: Vec<Msg>,
    last_ns: i64,
    /// Capture time at which the call started to look over, if it does.
    over_at: Option<i64>,
    /// Generation of the live heap entry; older entries are ignored.
    gen: u64,
    /// (capture time of the first message, arrival number): the call's place in
    /// [`CallTracker::oldest_open_start`].
    start_key: (i64, u64),
    /// Deadline of the live heap entry.
    scheduled: i64,
    /// (CSeq number, method) of requests seen, to tell new activity from retransmissions.
    /// Keyed by upper-case method, then CSeq number (looked up without allocating).
    seen: FastMap<String, FastSet<u32>>,
    /// CSeq numbers of INVITEs that got a final failure (their ACK ends the call).
    failed_invites: FastSet<u32>,
    has_invite: bool,
}

impl Open {
    fn new(ts: i64, arrival: u64) -> Open {
        Open {
            msgs: Vec::with_capacity(GROUP_START),
            start_key: (ts, arrival),
            last_ns: ts,
            over_at: None,
            gen: 0,
            scheduled: i64::MAX,
            seen: FastMap::default(),
            failed_invites: FastSet::default(),
            has_invite: false,
        }
    }

    fn deadline(&self, cfg: &TrackerConfig) -> i64 {
        match self.over_at {
            Some(t) => t.saturating_add(cfg.linger_ns),
            None => self.last_ns.saturating_add(cfg.idle_timeout_ns),
        }
    }

    /// Records request `method` (upper case) with CSeq `cseq`; true when not seen before.
    fn first_sighting(&mut self, method: &str, cseq: u32) -> bool {
        match self.seen.get_mut(method) {
            Some(numbers) => numbers.insert(cseq),
            None => {
                let mut numbers = FastSet::default();
                numbers.insert(cseq);
                self.seen.insert(method.to_string(), numbers);
                true
            }
        }
    }

    /// Updates the "over" state with one more message.
    fn observe(&mut self, m: &Msg) {
        let ts = m.frame.ts_ns;
        self.last_ns = self.last_ns.max(ts);
        let (cseq, cseq_method) = match &m.cseq {
            Some((n, meth)) => (*n, upper(meth)),
            None => (0, Cow::Borrowed("")),
        };
        if m.is_request() {
            let method = upper(m.method().unwrap_or(""));
            if method == "ACK" {
                if self.failed_invites.contains(&cseq) {
                    self.over_at.get_or_insert(ts);
                }
            } else if self.first_sighting(method.as_ref(), cseq) {
                // A new request: the call goes on.
                self.over_at = None;
                if method == "INVITE" {
                    self.has_invite = true;
                }
            }
        } else if let Some(code) = m.status() {
            if code < 200 {
                return;
            }
            match cseq_method.as_ref() {
                "BYE" => {
                    self.over_at.get_or_insert(ts);
                }
                "INVITE" if code >= 300 => {
                    self.failed_invites.insert(cseq);
                }
                "INVITE" | "CANCEL" | "ACK" => {}
                _ if !self.has_invite => {
                    self.over_at.get_or_insert(ts);
                }
                _ => {}
            }
        }
    }
}

/// Collects messages (in capture time order) into calls and hands each call back once it is
/// over, so memory holds only the calls in progress.
///
/// A call is over when its BYE was answered, when the ACK of a failed INVITE was seen, or
/// (without an INVITE) when a non-INVITE request got its final response; it is then kept for
/// [`TrackerConfig::linger_ns`] more of capture time to catch retransmissions, and handed back
/// unless new requests arrived meanwhile. A call idle for [`TrackerConfig::idle_timeout_ns`] is
/// handed back as it is. Messages arriving for a Call-ID after its call was handed back start a
/// new call with the same Call-ID. Cost per message: a hash lookup and, at most, one heap
/// operation.
pub struct CallTracker {
    cfg: TrackerConfig,
    overrides: Vec<RoleOverride>,
    open: FastMap<Text, Open>,
    /// (deadline, generation, Call-ID): at most one live entry per open call.
    heap: BinaryHeap<Reverse<(i64, u64, Text)>>,
    now: i64,
    next_gen: u64,
    /// Start keys of the open calls, oldest first.
    open_starts: BTreeSet<(i64, u64)>,
    arrivals: u64,
}

impl CallTracker {
    pub fn new(cfg: TrackerConfig, overrides: Vec<RoleOverride>) -> Self {
        CallTracker {
            cfg,
            overrides,
            open: FastMap::default(),
            heap: BinaryHeap::new(),
            now: i64::MIN,
            next_gen: 0,
            open_starts: BTreeSet::new(),
            arrivals: 0,
        }
    }

    /// Earliest capture time at which a call still being collected started, or, when none
    /// is open, the latest capture time seen. Every call handed back later starts at this
    /// time or after it (for captures in time order): outputs that must come in start order
    /// can let go of everything that started before.
    pub fn horizon(&self) -> i64 {
        match self.open_starts.first() {
            Some(&(t, _)) => t.min(self.now),
            None => self.now,
        }
    }

    /// Number of calls being collected.
    pub fn open_calls(&self) -> usize {
        self.open.len()
    }

    /// Adds one message and returns the calls that are over by its capture time (usually none).
    pub fn push(&mut self, msg: Msg) -> Vec<Call> {
        self.push_raw(msg)
            .into_iter()
            .map(|g| analyze_call(g, &self.overrides))
            .collect()
    }

    /// [`CallTracker::push`] without the analysis: the calls that are over come back as their
    /// messages, and [`analyze_call`] with [`CallTracker::overrides`] makes each call, on
    /// whichever thread has the time.
    pub fn push_raw(&mut self, msg: Msg) -> Vec<Vec<Msg>> {
        self.now = self.now.max(msg.frame.ts_ns);
        let mut out = self.expire(self.now);
        if msg.call_id.is_empty() {
            out.push(vec![msg]);
            return out;
        }
        if !self.open.contains_key(&msg.call_id) {
            self.arrivals = self.arrivals.wrapping_add(1);
            let open = Open::new(msg.frame.ts_ns, self.arrivals);
            self.open_starts.insert(open.start_key);
            self.open.insert(msg.call_id.clone(), open);
        }
        let Some(open) = self.open.get_mut(&msg.call_id) else {
            return out;
        };
        open.observe(&msg);
        let deadline = open.deadline(&self.cfg);
        // Only an earlier deadline needs a new heap entry; a later one is found when the live
        // entry comes due, and is rescheduled then.
        if deadline < open.scheduled {
            self.next_gen = self.next_gen.wrapping_add(1);
            open.gen = self.next_gen;
            open.scheduled = deadline;
            self.heap
                .push(Reverse((deadline, self.next_gen, msg.call_id.clone())));
        }
        open.msgs.push(msg);
        out
    }

    /// Hands back every call still open, ordered by first message time.
    pub fn finish(mut self) -> Vec<Call> {
        let mut calls: Vec<Call> = self
            .open
            .drain()
            .map(|(_, o)| analyze_call(o.msgs, &self.overrides))
            .collect();
        calls.sort_by_key(|c| c.summary.start_ns);
        calls
    }

    /// The role overrides calls are analysed with.
    pub fn overrides(&self) -> &[RoleOverride] {
        &self.overrides
    }

    /// Hands back the messages of the calls whose deadline is not after `now`.
    fn expire(&mut self, now: i64) -> Vec<Vec<Msg>> {
        let mut out = Vec::new();
        while let Some(Reverse((deadline, _, _))) = self.heap.peek() {
            if *deadline > now {
                break;
            }
            let Some(Reverse((_, gen, id))) = self.heap.pop() else {
                break;
            };
            let Some(open) = self.open.get_mut(&id) else {
                continue;
            };
            if open.gen != gen {
                continue;
            }
            let actual = open.deadline(&self.cfg);
            if actual > now {
                open.scheduled = actual;
                self.heap.push(Reverse((actual, gen, id)));
                continue;
            }
            if let Some(open) = self.open.remove(&id) {
                self.open_starts.remove(&open.start_key);
                out.push(open.msgs);
            }
        }
        out
    }
}
