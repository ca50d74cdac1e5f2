//! Grouping messages into calls: all at once ([`analyze_all`]) or as they stream by
//! ([`CallTracker`], for captures with millions of calls that should not all sit in memory).
//!
//! A message without a Call-ID is a call of its own (Call-ID empty, with a note): lumping
//! unrelated broken messages together would invent a call nobody made. So the number of calls
//! is the number of distinct non-empty Call-IDs plus the number of messages without one.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};

use super::analyze::analyze_call;
use super::model::Call;
use super::msg::Msg;
use super::roles::{correlate_b2bua, RoleOverride};

/// Groups every message by Call-ID and analyses each group. Calls come back ordered by the
/// time of their first message (ties: order of first appearance). Every message lands in
/// exactly one call. B2BUAs that change the Call-ID are then found by
/// [`correlate_b2bua`](super::correlate_b2bua).
pub fn analyze_all(msgs: Vec<Msg>, overrides: &[RoleOverride]) -> Vec<Call> {
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut groups: Vec<Vec<Msg>> = Vec::new();
    for m in msgs {
        if m.call_id.is_empty() {
            groups.push(vec![m]);
            continue;
        }
        match index.get(&m.call_id) {
            Some(&g) => {
                if let Some(group) = groups.get_mut(g) {
                    group.push(m);
                }
            }
            None => {
                index.insert(m.call_id.clone(), groups.len());
                groups.push(vec![m]);
            }
        }
    }
    drop(index);
    let mut calls: Vec<Call> = groups
        .into_iter()
        .map(|g| analyze_call(g, overrides))
        .collect();
    // Stable: equal start times keep their order of first appearance.
    calls.sort_by_key(|c| c.summary.start_ns);
    correlate_b2bua(&mut calls);
    calls
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
    /// Deadline of the live heap entry.
    scheduled: i64,
    /// (CSeq number, method) of requests seen, to tell new activity from retransmissions.
    seen: HashSet<(u32, String)>,
    /// CSeq numbers of INVITEs that got a final failure (their ACK ends the call).
    failed_invites: HashSet<u32>,
    has_invite: bool,
}

impl Open {
    fn new(ts: i64) -> Open {
        Open {
            msgs: Vec::new(),
            last_ns: ts,
            over_at: None,
            gen: 0,
            scheduled: i64::MAX,
            seen: HashSet::new(),
            failed_invites: HashSet::new(),
            has_invite: false,
        }
    }

    fn deadline(&self, cfg: &TrackerConfig) -> i64 {
        match self.over_at {
            Some(t) => t.saturating_add(cfg.linger_ns),
            None => self.last_ns.saturating_add(cfg.idle_timeout_ns),
        }
    }

    /// Updates the "over" state with one more message.
    fn observe(&mut self, m: &Msg) {
        let ts = m.frame.ts_ns;
        self.last_ns = self.last_ns.max(ts);
        let (cseq, cseq_method) = match &m.cseq {
            Some((n, meth)) => (*n, meth.to_ascii_uppercase()),
            None => (0, String::new()),
        };
        if m.is_request() {
            let method = m.method().unwrap_or("").to_ascii_uppercase();
            if method == "ACK" {
                if self.failed_invites.contains(&cseq) {
                    self.over_at.get_or_insert(ts);
                }
            } else if self.seen.insert((cseq, method.clone())) {
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
            match cseq_method.as_str() {
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
    open: HashMap<String, Open>,
    /// (deadline, generation, Call-ID): at most one live entry per open call.
    heap: BinaryHeap<Reverse<(i64, u64, String)>>,
    now: i64,
    next_gen: u64,
}

impl CallTracker {
    pub fn new(cfg: TrackerConfig, overrides: Vec<RoleOverride>) -> Self {
        CallTracker {
            cfg,
            overrides,
            open: HashMap::new(),
            heap: BinaryHeap::new(),
            now: i64::MIN,
            next_gen: 0,
        }
    }

    /// Number of calls being collected.
    pub fn open_calls(&self) -> usize {
        self.open.len()
    }

    /// Adds one message and returns the calls that are over by its capture time (usually none).
    pub fn push(&mut self, msg: Msg) -> Vec<Call> {
        self.now = self.now.max(msg.frame.ts_ns);
        let mut out = self.expire(self.now);
        if msg.call_id.is_empty() {
            out.push(analyze_call(vec![msg], &self.overrides));
            return out;
        }
        if !self.open.contains_key(&msg.call_id) {
            self.open
                .insert(msg.call_id.clone(), Open::new(msg.frame.ts_ns));
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

    /// Hands back the calls whose deadline is not after `now`.
    fn expire(&mut self, now: i64) -> Vec<Call> {
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
                out.push(analyze_call(open.msgs, &self.overrides));
            }
        }
        out
    }
}
