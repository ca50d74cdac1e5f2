//! From the messages of one Call-ID to steps, hops, transactions and dialogs.
//!
//! One pass over the messages in time order, with a map for every lookup, so the work per
//! message does not grow with the size of the call (a keepalive series of thousands of OPTIONS
//! under one Call-ID stays linear). Most calls have a handful of messages, so the text a key is
//! made of (branches, sent-bys, tags, methods) is numbered once per call ([`Names`]) and the
//! maps are short lists until they grow past a few entries ([`SmallMap`]): no hashing of text,
//! no copies of it per message, no hash table to set up for a call of six messages. Then a few passes over the steps fix what only the whole
//! picture tells: hop order, who generated what, dialogs, roles and the summary.
//!
//! How a message finds its step: a proxy forwarding a request pushes its own Via on top, so the
//! bottom Via (the originator's, with its branch) is the same on every leg, and responses carry
//! the same bottom Via back. A step is therefore keyed by the bottom Via plus CSeq, method or
//! status code and To tag. 100 Trying is hop by hop (each proxy sends its own), so its key adds
//! the top Via. A CANCEL or the ACK of a failure that a proxy builds itself has only that
//! proxy's Via, so it is its own step per leg, tied to the INVITE through the per-leg
//! transaction its top Via names (RFC 3261 section 17). When the originator's branch lacks the
//! `z9hG4bK` cookie (RFC 2543 stacks), the bottom Via sent-by, branch text and From tag stand in
//! for the branch.
//!
//! The same step again on the same flow at the same Via depth is a repeat: a duplicate capture
//! when it comes within a few milliseconds with identical content (same packet seen on two
//! interfaces or in two merged files), otherwise a retransmission linked to the first sighting.
//! Different content under the same key (a second 180 with a body) is a new step.

use std::collections::HashMap;

/// Keys here are built from capture text per message: a fast hasher (no denial-of-service
/// concern for an offline analyzer reading one capture).
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

use super::model::*;

use std::borrow::Cow;

use smallvec::SmallVec;

use super::msg::{Msg, Start, Text};
use super::roles::{self, RoleOverride};
use super::summary;
use crate::net::Flow;

/// The magic cookie that marks an RFC 3261 branch.
const COOKIE: &str = "z9hG4bK";
/// Two sightings closer than this with identical content, in the same file, are one packet
/// captured twice (retransmission timers start at 500 ms, far above).
const DUP_WINDOW_NS: i64 = 5_000_000;
/// The same, for sightings from two different files (their clocks may differ a little).
const DUP_WINDOW_OTHER_FILE_NS: i64 = 200_000_000;

/// Number of a key text within one call (see [`Names`]).
type Id = usize;

/// Stands for an absent value where absence must differ from every text (no To tag is not an
/// empty To tag).
const ABSENT: Id = usize::MAX;

/// Past this many entries a [`SmallMap`] or [`Names`] moves to a hash map; up to it, scanning a
/// short list is cheaper than hashing and setting up a table.
const SMALL: usize = 16;

/// A map kept as a short list while it holds at most [`SMALL`] entries and as a hash map after:
/// the typical call of a few messages does no hashing, a call of thousands stays linear.
pub(super) struct SmallMap<K, V> {
    list: Vec<(K, V)>,
    map: Option<FastMap<K, V>>,
}

impl<K: Copy + Eq + std::hash::Hash, V: Copy> SmallMap<K, V> {
    #[cfg(test)]
    pub(super) fn new() -> Self {
        SmallMap {
            list: Vec::new(),
            map: None,
        }
    }

    /// An empty map whose list uses the room of `list` (an emptied list kept from an
    /// earlier call, see [`Scratch`]).
    pub(super) fn reusing(mut list: Vec<(K, V)>) -> Self {
        list.clear();
        SmallMap { list, map: None }
    }

    /// The list's room, emptied, for the next call.
    pub(super) fn into_room(self) -> Vec<(K, V)> {
        let mut list = self.list;
        list.clear();
        list
    }

    pub(super) fn get(&self, k: &K) -> Option<V> {
        match &self.map {
            Some(map) => map.get(k).copied(),
            None => self.list.iter().find(|(x, _)| x == k).map(|&(_, v)| v),
        }
    }

    /// Sets the value of `k`, replacing an earlier one.
    pub(super) fn insert(&mut self, k: K, v: V) {
        if let Some(map) = &mut self.map {
            map.insert(k, v);
            return;
        }
        if let Some(e) = self.list.iter_mut().find(|(x, _)| *x == k) {
            e.1 = v;
            return;
        }
        self.push_new(k, v);
    }

    /// Adds `k`, which the caller knows is absent (its `get` just said so): no search for an
    /// entry to replace.
    pub(super) fn insert_new(&mut self, k: K, v: V) {
        match &mut self.map {
            Some(map) => {
                map.insert(k, v);
            }
            None => self.push_new(k, v),
        }
    }

    fn push_new(&mut self, k: K, v: V) {
        self.list.push((k, v));
        if self.list.len() > SMALL {
            // Drained, not taken: the list keeps its room for the next call.
            self.map = Some(self.list.drain(..).collect());
        }
    }

    /// The value of `k`; when absent, `make()` is inserted first.
    pub(super) fn get_or_insert_with(&mut self, k: K, make: impl FnOnce() -> V) -> V {
        if let Some(v) = self.get(&k) {
            return v;
        }
        let v = make();
        self.insert_new(k, v);
        v
    }
}

/// A text's length and last eight bytes (all of it when shorter), compared before the text:
/// texts of one kind often share a length and a start (branches begin with the same cookie),
/// rarely an end. Up to eight bytes long, equal prints mean equal texts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Print {
    len: usize,
    tail: u64,
}

impl Print {
    fn of(s: &str) -> Print {
        let b = s.as_bytes();
        let last = b.len().checked_sub(8).and_then(|at| b.get(at..));
        let tail = match last.and_then(|l| <[u8; 8]>::try_from(l).ok()) {
            Some(word) => u64::from_le_bytes(word),
            None => b.iter().fold(0, |v, &x| (v << 8) | u64::from(x)),
        };
        Print { len: b.len(), tail }
    }

    /// [`Print::of`] for a constant text, at compile time.
    const fn of_const(s: &str) -> Print {
        let b = s.as_bytes();
        let n = b.len();
        let mut tail = 0u64;
        let mut i = 0;
        if n >= 8 {
            while i < 8 {
                tail |= (b[n - 8 + i] as u64) << (8 * i);
                i += 1;
            }
        } else {
            while i < n {
                tail = (tail << 8) | b[i] as u64;
                i += 1;
            }
        }
        Print { len: n, tail }
    }

    /// Whether the print alone tells the text (see [`Print`]).
    fn whole(&self) -> bool {
        self.len <= 8
    }
}

/// The key texts of one kind (methods, tags, branches or sent-bys) in one call, numbered in
/// order of first use: equal texts get equal numbers, so keys made of them are small integers
/// to compare and hash. Each kind has its own numbers (a key compares a kind with the same
/// kind only), so a search looks through few texts, each by its [`Print`] first. Texts of the
/// messages are borrowed; only a text the matching rewrote (a sent-by with its default port
/// added, a method in upper case) is kept.
struct Names<'a> {
    list: Vec<(Print, Cow<'a, str>)>,
    map: Option<FastMap<Cow<'a, str>, Id>>,
}

/// Numbers [`Names`] gives from the start: the empty text (every kind), and for methods the
/// standard ones (their places in [`KNOWN_METHODS`]).
const EMPTY: Id = 0;
const INVITE: Id = 1;
const ACK: Id = 2;
const CANCEL: Id = 4;

/// Methods numbered before the first message: a method written like one of these (almost
/// every method) gets its number from [`known_method`] without a search. Starts with the
/// empty text; at most [`SMALL`] entries, so the list stays a list.
const KNOWN_METHODS: [&str; 15] = [
    "",
    "INVITE",
    "ACK",
    "BYE",
    "CANCEL",
    "OPTIONS",
    "REGISTER",
    "PRACK",
    "UPDATE",
    "INFO",
    "NOTIFY",
    "SUBSCRIBE",
    "MESSAGE",
    "REFER",
    "PUBLISH",
];

/// The prints of [`KNOWN_METHODS`], worked out at compile time.
const KNOWN_METHOD_PRINTS: [Print; KNOWN_METHODS.len()] = {
    let mut out = [Print { len: 0, tail: 0 }; KNOWN_METHODS.len()];
    let mut k = 0;
    while k < KNOWN_METHODS.len() {
        out[k] = Print::of_const(KNOWN_METHODS[k]);
        k += 1;
    }
    out
};

/// The number of a method written exactly as one of [`KNOWN_METHODS`] (not the empty one).
fn known_method(m: &str) -> Option<Id> {
    Some(match m {
        "INVITE" => INVITE,
        "ACK" => ACK,
        "BYE" => 3,
        "CANCEL" => CANCEL,
        "OPTIONS" => 5,
        "REGISTER" => 6,
        "PRACK" => 7,
        "UPDATE" => 8,
        "INFO" => 9,
        "NOTIFY" => 10,
        "SUBSCRIBE" => 11,
        "MESSAGE" => 12,
        "REFER" => 13,
        "PUBLISH" => 14,
        _ => return None,
    })
}

impl<'a> Names<'a> {
    #[cfg(test)]
    fn new() -> Self {
        Names::reusing(Vec::new())
    }

    /// Names numbering from scratch in the room of `list` (see [`Scratch`]).
    fn reusing(mut list: Vec<(Print, Cow<'a, str>)>) -> Self {
        list.clear();
        if list.capacity() == 0 {
            // Room for what a small call numbers, so the list grows once at most.
            list.reserve_exact(4);
        }
        list.push((Print::of(""), Cow::Borrowed("")));
        Names { list, map: None }
    }

    /// Names of methods, [`KNOWN_METHODS`] numbered already: every text numbered is in upper
    /// case (see [`Names::method`]).
    fn methods(mut list: Vec<(Print, Cow<'a, str>)>) -> Self {
        list.clear();
        list.extend(
            KNOWN_METHOD_PRINTS
                .into_iter()
                .zip(KNOWN_METHODS)
                .map(|(p, m)| (p, Cow::Borrowed(m))),
        );
        Names { list, map: None }
    }

    /// The list's room, emptied, for the next call.
    fn into_room(self) -> Vec<(Print, Cow<'static, str>)> {
        relabel(self.list)
    }

    fn id(&mut self, s: &'a str) -> Id {
        self.find(s).unwrap_or_else(|| self.add(Cow::Borrowed(s)))
    }

    /// Like [`Names::id`], for a text that lives only as long as the call (copied when new).
    fn id_copied(&mut self, s: &str) -> Id {
        self.find(s)
            .unwrap_or_else(|| self.add(Cow::Owned(s.to_string())))
    }

    fn find(&self, s: &str) -> Option<Id> {
        match &self.map {
            Some(map) => map.get(s).copied(),
            None => {
                let p = Print::of(s);
                self.list
                    .iter()
                    .position(|(q, x)| *q == p && (p.whole() || x.as_ref() == s))
            }
        }
    }

    fn add(&mut self, s: Cow<'a, str>) -> Id {
        if let Some(map) = &mut self.map {
            let id = map.len();
            map.insert(s, id);
            return id;
        }
        let id = self.list.len();
        self.list.push((Print::of(&s), s));
        if self.list.len() > SMALL {
            // Drained, not taken: the list keeps its room for the next call.
            self.map = Some(
                self.list
                    .drain(..)
                    .enumerate()
                    .map(|(i, (_, t))| (t, i))
                    .collect(),
            );
        }
        id
    }

    /// A method in upper case: its number and its text (copied as is when it has no lower-case
    /// letter, as methods rarely do). Every text numbered here is in upper case, so a method
    /// found as written needs no look at its letters.
    fn method(&mut self, t: &'a Text) -> (Id, Text) {
        if let Some(id) = known_method(t) {
            return (id, t.clone());
        }
        if let Some(id) = self.find(t) {
            return (id, t.clone());
        }
        if t.bytes().any(|b| b.is_ascii_lowercase()) {
            let u = t.to_ascii_uppercase();
            (self.id_copied(&u), u)
        } else {
            (self.add(Cow::Borrowed(t)), t.clone())
        }
    }
}

/// Who sent a request first: the bottom Via. RFC 3261: branch (with cookie) and sent-by, with
/// no From tag (`from_tag` is [`ABSENT`]). RFC 2543 (`legacy`): no cookie, so sent-by, whatever
/// branch text there is, and the From tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Origin {
    legacy: bool,
    sent_by: Id,
    branch: Id,
    from_tag: Id,
}

/// Whether a Via transport is TLS, in any case (a byte at a time: UDP fails at the first).
fn is_tls(t: &str) -> bool {
    matches!(t.as_bytes(), [a, b, c] if a.eq_ignore_ascii_case(&b'T')
        && b.eq_ignore_ascii_case(&b'L')
        && c.eq_ignore_ascii_case(&b'S'))
}

/// The Via sent-by as a matching key: lower case, with the transport's default port made
/// explicit (RFC 3261 18.2.1: 5060, or 5061 for TLS), so `192.0.2.1` and `192.0.2.1:5060` are
/// the same sender. Returns false when the sent-by as written is already its key (lower case
/// with a port, as almost every one is), else writes the key into `buf`.
fn sent_by_key_into(v: &super::ViaInfo, buf: &mut String) -> bool {
    let s = v.sent_by.as_str();
    // One look at the bytes: colons, upper-case letters, and how many colons came before the
    // last `]` (a port follows the bracket when later ones do).
    let (mut colons, mut has_upper, mut close) = (0usize, false, None);
    for b in s.bytes() {
        colons += usize::from(b == b':');
        has_upper |= b.is_ascii_uppercase();
        if b == b']' {
            close = Some(colons);
        }
    }
    let has_port = match close {
        Some(before) => colons > before,
        // No brackets: a port is there when exactly one colon (IPv4 or a name) is.
        None => colons == 1,
    };
    if has_port || s.is_empty() {
        if !has_upper {
            return false;
        }
        buf.clear();
        buf.push_str(s);
        buf.make_ascii_lowercase();
        return true;
    }
    let default = if is_tls(&v.transport) {
        ":5061"
    } else {
        ":5060"
    };
    buf.clear();
    let bracket = colons > 1 && !s.starts_with('[');
    if bracket {
        buf.push('[');
    }
    buf.push_str(s);
    buf.make_ascii_lowercase();
    if bracket {
        buf.push(']');
    }
    buf.push_str(default);
    true
}

/// [`sent_by_key_into`] as a string of its own.
#[cfg(test)]
fn sent_by_key(v: &super::ViaInfo) -> String {
    let mut buf = String::new();
    if sent_by_key_into(v, &mut buf) {
        buf
    } else {
        v.sent_by.to_string()
    }
}

/// A per-leg transaction: top Via (branch, sent-by), From tag, CSeq number and the
/// transaction's method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct LegKey {
    branch: Id,
    sent_by: Id,
    from_tag: Id,
    cseq: u32,
    class: Id,
}

/// Request method, or response code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum KindKey {
    Request(Id),
    Response(u16),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct StepKey {
    origin: Origin,
    cseq: u32,
    cseq_method: Id,
    kind: KindKey,
    /// [`ABSENT`] without a To tag.
    to_tag: Id,
    /// Top Via (branch, sent-by) for hop-by-hop responses (100 Trying); [`ABSENT`] otherwise.
    hop_local: (Id, Id),
}

/// The numbered parts of one message's keys, worked out once per message.
#[derive(Debug, Clone, Copy)]
struct MsgKeys {
    /// From tag, empty when absent.
    from_tag: Id,
    /// Top Via branch (empty when absent) and sent-by key; both empty without a Via.
    top_branch: Id,
    top_sent_by: Id,
}

impl MsgKeys {
    fn leg(&self, cseq: u32, class: Id) -> LegKey {
        LegKey {
            branch: self.top_branch,
            sent_by: self.top_sent_by,
            from_tag: self.from_tag,
            cseq,
            class,
        }
    }
}

/// Identical content, as far as the model can tell: the bytes when both were kept, otherwise
/// size and presence of a body description.
fn same_content(a: &Msg, b: &Msg) -> bool {
    match (&a.extra.raw, &b.extra.raw) {
        (Some(x), Some(y)) => x == y,
        _ => a.size == b.size && a.has_sdp == b.has_sdp && a.start == b.start,
    }
}

/// A transaction as matching follows it.
#[derive(Debug, Clone, Copy)]
struct TxState {
    got_2xx: bool,
    /// Got a final response of 300 or more.
    got_fail: bool,
    /// Its method's number.
    method: Id,
}

/// The temporary tables of one call, kept on each thread from one call to the next: after the
/// first few calls, matching allocates only what the [`Call`] keeps (a call of six messages
/// used to set up about fifteen short lists and free them again). Every list is stored empty;
/// lists that borrowed the messages' text are stored as `'static` (see [`relabel`]).
#[derive(Default)]
struct Scratch {
    step_tags: Vec<(Option<Id>, Option<Id>)>,
    methods: Vec<(Print, Cow<'static, str>)>,
    tags: Vec<(Print, Cow<'static, str>)>,
    branches: Vec<(Print, Cow<'static, str>)>,
    sent_bys: Vec<(Print, Cow<'static, str>)>,
    buf: String,
    sent_by_seen: Vec<((&'static str, bool), Id)>,
    step_map: Vec<(StepKey, StepIdx)>,
    hop_map: Vec<((StepIdx, Flow, usize), usize)>,
    tx_map: Vec<((Origin, u32, Id), TxIdx)>,
    leg_map: Vec<(LegKey, (TxIdx, usize))>,
    tx_state: Vec<TxState>,
    dialogs: Vec<((Id, Id), DialogIdx)>,
    hosts: roles::HostScratch,
}

/// Past this many entries a per-message list is not kept for the next call (a call of a
/// hundred thousand keepalives must not hold its room on the thread afterwards).
const KEEP_ROOM: usize = 1024;

impl Scratch {
    /// This thread's tables (fresh ones when they are in use or gone). Boxed, so that taking
    /// and keeping them moves a pointer, not the tables' two dozen list headers.
    fn take() -> Box<Scratch> {
        SCRATCH
            .try_with(|cell| cell.try_borrow_mut().map(|mut s| s.take()))
            .ok()
            .and_then(Result::ok)
            .flatten()
            .unwrap_or_default()
    }

    /// Stores the tables for the next call on this thread.
    fn keep(mut self: Box<Self>) {
        if self.step_tags.capacity() > KEEP_ROOM {
            self.step_tags = Vec::new();
        }
        self.step_tags.clear();
        self.tx_state.clear();
        self.dialogs.clear();
        self.hosts.clear();
        let _ = SCRATCH.try_with(|cell| {
            if let Ok(mut s) = cell.try_borrow_mut() {
                *s = Some(self);
            }
        });
    }
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Option<Box<Scratch>>> = const { std::cell::RefCell::new(None) };
}

/// `v` emptied, as a vector of `U` in the same room. Used between types that differ only in a
/// lifetime (`Cow<'a, str>` and `Cow<'static, str>`): collecting an empty iterator in place
/// reuses the buffer (the standard library does so when the layouts match; otherwise the
/// result is merely a new, empty vector).
fn relabel<T, U>(mut v: Vec<T>) -> Vec<U> {
    v.clear();
    v.into_iter().filter_map(|_| None).collect()
}

struct Builder<'a> {
    steps: Vec<Step>,
    /// Per step: From and To tag numbers (for dialogs).
    step_tags: Vec<(Option<Id>, Option<Id>)>,
    txs: Vec<Transaction>,
    /// Per transaction: what matching needs to know about it.
    tx_state: Vec<TxState>,
    /// Texts of the keys, numbered per kind.
    methods: Names<'a>,
    tags: Names<'a>,
    branches: Names<'a>,
    sent_bys: Names<'a>,
    /// Scratch space for rewritten sent-by keys.
    buf: String,
    /// Sent-by as written, and whether over TLS (the two things its key depends on): the
    /// number of its key.
    sent_by_seen: SmallMap<(&'a str, bool), Id>,
    step_map: SmallMap<StepKey, StepIdx>,
    hop_map: SmallMap<(StepIdx, Flow, usize), usize>,
    tx_map: SmallMap<(Origin, u32, Id), TxIdx>,
    leg_map: SmallMap<LegKey, (TxIdx, usize)>,
    info: Vec<MsgInfo>,
    missing_cseq: usize,
    invalid: usize,
}

/// Groups, matches and annotates the messages of one call. `msgs` need not be sorted; they are
/// put in time order (stable). Overrides name hosts whose role the user knows.
pub fn analyze_call(mut msgs: Vec<Msg>, overrides: &[RoleOverride]) -> Call {
    let order = |m: &Msg| (m.frame.ts_ns, m.frame.file, m.frame.number);
    // Messages almost always come in order: checking is cheaper than moving them.
    if !msgs.is_sorted_by_key(order) {
        msgs.sort_by_key(order);
    }
    let call_id = msgs.first().map(|m| m.call_id.clone()).unwrap_or_default();
    let mut notes = Vec::new();
    // (The first message gave the Call-ID.)
    if msgs.iter().skip(1).any(|m| m.call_id != call_id) {
        notes.push("messages with different Call-IDs were analysed as one call".to_string());
    }
    if call_id.is_empty() && !msgs.is_empty() {
        notes.push("message without a Call-ID: kept as a call of its own".to_string());
    }

    let mut scratch = Scratch::take();
    let mut hosts = roles::identify_hosts(&msgs, &mut scratch.hosts);
    let (mut steps, mut txs, info) = {
        let mut step_tags = std::mem::take(&mut scratch.step_tags);
        step_tags.clear();
        step_tags.reserve(msgs.len());
        let mut b = Builder {
            steps: Vec::with_capacity(msgs.len()),
            step_tags,
            txs: Vec::new(),
            tx_state: std::mem::take(&mut scratch.tx_state),
            methods: Names::methods(relabel(std::mem::take(&mut scratch.methods))),
            tags: Names::reusing(relabel(std::mem::take(&mut scratch.tags))),
            branches: Names::reusing(relabel(std::mem::take(&mut scratch.branches))),
            sent_bys: Names::reusing(relabel(std::mem::take(&mut scratch.sent_bys))),
            buf: std::mem::take(&mut scratch.buf),
            sent_by_seen: SmallMap::reusing(relabel(std::mem::take(&mut scratch.sent_by_seen))),
            step_map: SmallMap::reusing(std::mem::take(&mut scratch.step_map)),
            hop_map: SmallMap::reusing(std::mem::take(&mut scratch.hop_map)),
            tx_map: SmallMap::reusing(std::mem::take(&mut scratch.tx_map)),
            leg_map: SmallMap::reusing(std::mem::take(&mut scratch.leg_map)),
            info: Vec::with_capacity(msgs.len()),
            missing_cseq: 0,
            invalid: 0,
        };
        for (i, m) in msgs.iter().enumerate() {
            let (src, dst) = scratch.hosts.ends.get(i).copied().unwrap_or((0, 0));
            b.place(&msgs, i, m, src, dst);
        }
        if b.invalid > 0 {
            notes.push(format!(
                "{} message(s) with an unreadable start line are listed but not matched",
                b.invalid
            ));
        }
        if b.missing_cseq > 0 {
            notes.push(format!(
                "{} message(s) without a CSeq were matched with CSeq 0",
                b.missing_cseq
            ));
        }
        scratch.methods = b.methods.into_room();
        scratch.tags = b.tags.into_room();
        scratch.branches = b.branches.into_room();
        scratch.sent_bys = b.sent_bys.into_room();
        scratch.buf = b.buf;
        scratch.sent_by_seen = relabel(b.sent_by_seen.into_room());
        scratch.step_map = b.step_map.into_room();
        scratch.hop_map = b.hop_map.into_room();
        scratch.tx_map = b.tx_map.into_room();
        scratch.leg_map = b.leg_map.into_room();
        scratch.tx_state = b.tx_state;
        scratch.step_tags = b.step_tags;
        (b.steps, b.txs, b.info)
    };
    let mut info = info;

    order_hops(&mut steps, &mut info);
    // (`rfc2543` was set when each transaction was created.)
    for tx in txs.iter_mut() {
        tx.final_response = decide_final(tx, &steps);
    }
    let dmap = SmallMap::reusing(std::mem::take(&mut scratch.dialogs));
    let (dialogs, dmap) = build_dialogs(&mut steps, &mut txs, &scratch.step_tags, dmap);
    scratch.dialogs = dmap.into_room();
    roles::assign(&mut hosts, &steps, &msgs, overrides, &mut scratch.hosts);
    scratch.keep();
    set_acting(&mut steps);

    let mut call = Call {
        call_id,
        messages: msgs,
        info,
        steps,
        transactions: txs,
        dialogs,
        hosts,
        summary: summary::empty(),
        related: Vec::new(),
        notes,
    };
    call.summary = summary::summarize(&call);
    call
}

impl<'a> Builder<'a> {
    /// Number of a Via's sent-by key. The same sent-by comes back on most messages of a call:
    /// its key is worked out once (see `sent_by_seen`).
    fn sent_by_id(&mut self, v: &'a super::ViaInfo) -> Id {
        let seen = (v.sent_by.as_str(), is_tls(&v.transport));
        if let Some(id) = self.sent_by_seen.get(&seen) {
            return id;
        }
        let id = if sent_by_key_into(v, &mut self.buf) {
            let Builder { sent_bys, buf, .. } = self;
            sent_bys.id_copied(buf)
        } else {
            self.sent_bys.id(&v.sent_by)
        };
        self.sent_by_seen.insert_new(seen, id);
        id
    }

    fn place(&mut self, msgs: &[Msg], i: MsgIdx, m: &'a Msg, src: HostIdx, dst: HostIdx) {
        let mut info = MsgInfo {
            step: None,
            hop: None,
            repeat: Repeat::First,
            src,
            dst,
        };
        let (kind, kind_key) = match &m.start {
            Start::Request { method, .. } => {
                let (id, method) = self.methods.method(method);
                (StepKind::Request { method }, KindKey::Request(id))
            }
            Start::Response { code, .. } => {
                (StepKind::Response { code: *code }, KindKey::Response(*code))
            }
            Start::Invalid => {
                self.invalid += 1;
                self.info.push(info);
                return;
            }
        };
        let (cseq, cseq_method, cseq_method_id) = match &m.cseq {
            Some((n, meth)) => match (&m.start, &kind, kind_key) {
                // A request's CSeq names its own method: reuse what was worked out for it.
                (
                    Start::Request { method: raw, .. },
                    StepKind::Request { method },
                    KindKey::Request(id),
                ) if raw == meth => (*n, method.clone(), id),
                _ => {
                    let (id, meth) = self.methods.method(meth);
                    (*n, meth, id)
                }
            },
            None => {
                self.missing_cseq += 1;
                match (&kind, kind_key) {
                    (StepKind::Request { method }, KindKey::Request(id)) => (0, method.clone(), id),
                    _ => (0, Text::default(), EMPTY),
                }
            }
        };
        let from_tag = match m.from.tag.as_deref() {
            Some(t) => self.tags.id(t),
            None => EMPTY,
        };
        let (top_branch, top_sent_by) = match m.vias.first() {
            Some(v) => {
                let b = match v.branch.as_deref() {
                    Some(b) => self.branches.id(b),
                    None => EMPTY,
                };
                (b, self.sent_by_id(v))
            }
            None => (EMPTY, EMPTY),
        };
        let keys = MsgKeys {
            from_tag,
            top_branch,
            top_sent_by,
        };
        let (origin, legacy) = match m.vias.last() {
            Some(v) => {
                // With one Via the bottom one is the top one, already numbered.
                let one = m.vias.len() == 1;
                let sent_by = if one { top_sent_by } else { self.sent_by_id(v) };
                let branch = |names: &mut Names<'a>, b: &'a str| {
                    if one {
                        top_branch
                    } else {
                        names.id(b)
                    }
                };
                match v.branch.as_deref() {
                    Some(b) if b.starts_with(COOKIE) => (
                        Origin {
                            legacy: false,
                            sent_by,
                            branch: branch(&mut self.branches, b),
                            from_tag: ABSENT,
                        },
                        false,
                    ),
                    b => (
                        Origin {
                            legacy: true,
                            sent_by,
                            branch: branch(&mut self.branches, b.unwrap_or("")),
                            from_tag,
                        },
                        true,
                    ),
                }
            }
            None => (
                Origin {
                    legacy: true,
                    sent_by: EMPTY,
                    branch: EMPTY,
                    from_tag,
                },
                true,
            ),
        };
        let hop_local = match kind {
            StepKind::Response { code: 100 } if !m.vias.is_empty() => (top_branch, top_sent_by),
            _ => (ABSENT, ABSENT),
        };
        let to_tag = m.to.tag.as_deref().map(|t| self.tags.id(t));
        let key = StepKey {
            origin,
            cseq,
            cseq_method: cseq_method_id,
            kind: kind_key,
            to_tag: to_tag.unwrap_or(ABSENT),
            hop_local,
        };
        let depth = m.vias.len();

        // A known step: a repeat on a known hop, a new hop, or different content (a new step).
        let known = self.step_map.get(&key);
        if let Some(s) = known {
            match self.hop_map.get(&(s, m.flow, depth)) {
                Some(h) => {
                    if let Some(repeat) = self.repeat_of(msgs, s, h, m) {
                        info.step = Some(s);
                        info.hop = Some(h);
                        info.repeat = repeat;
                        if let Some(hop) = self.steps.get_mut(s).and_then(|st| st.hops.get_mut(h)) {
                            match repeat {
                                Repeat::Duplicate { .. } => hop.duplicates.push(i),
                                _ => hop.retransmissions.push(i),
                            }
                        }
                        self.info.push(info);
                        return;
                    }
                }
                None => {
                    let h = self.add_hop(s, i, m, &keys, src, dst, cseq);
                    info.step = Some(s);
                    info.hop = Some(h);
                    self.info.push(info);
                    return;
                }
            }
        }

        // A new step.
        let (tx, part) = self.classify(
            &keys,
            &kind,
            kind_key,
            origin,
            legacy,
            cseq,
            (&cseq_method, cseq_method_id),
        );
        let s = self.steps.len();
        self.steps.push(Step {
            kind: kind.clone(),
            cseq,
            cseq_method,
            from_tag: m.from.tag.clone(),
            to_tag: m.to.tag.clone(),
            transaction: tx,
            part,
            hops: SmallVec::new(),
            generated_by: None,
            dialog: None,
        });
        self.step_tags
            .push((m.from.tag.is_some().then_some(from_tag), to_tag));
        if known.is_some() {
            self.step_map.insert(key, s);
        } else {
            self.step_map.insert_new(key, s);
        }
        if let Some(t) = self.txs.get_mut(tx) {
            match part {
                Part::Request => {
                    if t.request.is_none() {
                        t.request = Some(s);
                        t.in_dialog = m.to.tag.is_some();
                    }
                }
                Part::Response => t.responses.push(s),
                Part::Cancel | Part::CancelResponse => t.cancels.push(s),
                Part::Ack => t.acks.push(s),
            }
        }
        if part == Part::Response {
            if let (StepKind::Response { code }, Some(o)) = (&kind, self.tx_state.get_mut(tx)) {
                match code {
                    200..=299 => o.got_2xx = true,
                    300..=u16::MAX => o.got_fail = true,
                    _ => {}
                }
            }
        }
        let h = self.add_hop(s, i, m, &keys, src, dst, cseq);
        info.step = Some(s);
        info.hop = Some(h);
        self.info.push(info);
    }

    /// `Some` when `m` repeats what hop `h` of step `s` already carried.
    fn repeat_of(&self, msgs: &[Msg], s: StepIdx, h: usize, m: &Msg) -> Option<Repeat> {
        let hop = self.steps.get(s)?.hops.get(h)?;
        let latest = hop
            .msg
            .max(hop.retransmissions.last().copied().unwrap_or(0))
            .max(hop.duplicates.last().copied().unwrap_or(0));
        let prev = msgs.get(latest)?;
        let window = if prev.frame.file == m.frame.file {
            DUP_WINDOW_NS
        } else {
            DUP_WINDOW_OTHER_FILE_NS
        };
        let dt = m.frame.ts_ns.saturating_sub(prev.frame.ts_ns);
        if dt <= window && same_content(prev, m) {
            return Some(Repeat::Duplicate { of: latest });
        }
        let first = msgs.get(hop.msg)?;
        if same_content(first, m) {
            return Some(Repeat::Retransmission { of: hop.msg });
        }
        None
    }

    fn new_tx(&mut self, method: &str, method_id: Id, cseq: u32, legacy: bool) -> TxIdx {
        self.txs.push(Transaction {
            method: Text::from(method),
            cseq,
            request: None,
            responses: SmallVec::new(),
            final_response: None,
            cancels: SmallVec::new(),
            acks: SmallVec::new(),
            legs: SmallVec::new(),
            in_dialog: false,
            rfc2543: legacy,
            dialog: None,
            dialogs: SmallVec::new(),
        });
        self.tx_state.push(TxState {
            got_2xx: false,
            got_fail: false,
            method: method_id,
        });
        self.txs.len() - 1
    }

    /// The transaction of `method` (text and number) started by `origin` with `cseq`.
    fn tx_for(
        &mut self,
        origin: Origin,
        legacy: bool,
        cseq: u32,
        method: &str,
        method_id: Id,
    ) -> TxIdx {
        let k = (origin, cseq, method_id);
        if let Some(t) = self.tx_map.get(&k) {
            return t;
        }
        let t = self.new_tx(method, method_id, cseq, legacy);
        self.tx_map.insert_new(k, t);
        t
    }

    /// Which transaction a new step belongs to, and what it does there.
    #[allow(clippy::too_many_arguments)]
    fn classify(
        &mut self,
        keys: &MsgKeys,
        kind: &StepKind,
        kind_key: KindKey,
        origin: Origin,
        legacy: bool,
        cseq: u32,
        cseq_method: (&str, Id),
    ) -> (TxIdx, Part) {
        match kind {
            StepKind::Request { method } if method == "ACK" => {
                if let Some((t, _)) = self.leg_map.get(&keys.leg(cseq, INVITE)) {
                    // The ACK of a failure reuses the INVITE's branch; an ACK of a 2xx is a new
                    // transaction (some stacks reuse the branch anyway: tell them apart by what
                    // the INVITE got).
                    let (got_2xx, got_fail) = self
                        .tx_state
                        .get(t)
                        .map_or((false, false), |o| (o.got_2xx, o.got_fail));
                    if got_fail || !got_2xx {
                        return (t, Part::Ack);
                    }
                }
                (self.tx_for(origin, legacy, cseq, "ACK", ACK), Part::Request)
            }
            StepKind::Request { method } if method == "CANCEL" => {
                if let Some((t, _)) = self.leg_map.get(&keys.leg(cseq, INVITE)) {
                    return (t, Part::Cancel);
                }
                if let Some(t) = self.tx_map.get(&(origin, cseq, INVITE)) {
                    return (t, Part::Cancel);
                }
                (
                    self.tx_for(origin, legacy, cseq, "CANCEL", CANCEL),
                    Part::Request,
                )
            }
            StepKind::Request { method } => {
                let id = match kind_key {
                    KindKey::Request(id) => id,
                    KindKey::Response(_) => self.methods.id_copied(method),
                };
                (self.tx_for(origin, legacy, cseq, method, id), Part::Request)
            }
            StepKind::Response { .. } if cseq_method.0 == "CANCEL" => {
                if let Some((t, _)) = self.leg_map.get(&keys.leg(cseq, INVITE)) {
                    return (t, Part::CancelResponse);
                }
                if let Some(t) = self.tx_map.get(&(origin, cseq, cseq_method.1)) {
                    return (t, Part::Response);
                }
                if let Some(t) = self.tx_map.get(&(origin, cseq, INVITE)) {
                    return (t, Part::CancelResponse);
                }
                (
                    self.tx_for(origin, legacy, cseq, "CANCEL", cseq_method.1),
                    Part::Response,
                )
            }
            StepKind::Response { .. } => (
                self.tx_for(origin, legacy, cseq, cseq_method.0, cseq_method.1),
                Part::Response,
            ),
        }
    }

    /// Adds a hop to step `s` and ties it to its per-leg transaction. `s` is new, or has no
    /// hop on this message's flow at its Via depth yet.
    #[allow(clippy::too_many_arguments)]
    fn add_hop(
        &mut self,
        s: StepIdx,
        i: MsgIdx,
        m: &Msg,
        keys: &MsgKeys,
        src: HostIdx,
        dst: HostIdx,
        cseq: u32,
    ) -> usize {
        let depth = m.vias.len();
        let (tx, part) = match self.steps.get(s) {
            Some(st) => (st.transaction, st.part),
            None => return 0,
        };
        let class = match part {
            Part::Cancel | Part::CancelResponse | Part::Ack => INVITE,
            _ => match self.tx_state.get(tx) {
                Some(o) => o.method,
                None => EMPTY,
            },
        };
        let lk = keys.leg(cseq, class);
        let leg = match self.leg_map.get(&lk) {
            Some((t, l)) if t == tx => Some(l),
            Some(_) => None,
            None if part == Part::Request => self.txs.get_mut(tx).map(|t| {
                t.legs.push(Leg {
                    branch: m.vias.first().and_then(|v| v.branch.clone()),
                    sent_by: m
                        .vias
                        .first()
                        .map(|v| v.sent_by.clone())
                        .unwrap_or_default(),
                    via_depth: depth,
                    request: i,
                    client: src,
                    server: dst,
                });
                let l = t.legs.len() - 1;
                self.leg_map.insert_new(lk, (tx, l));
                l
            }),
            None => None,
        };
        let Some(st) = self.steps.get_mut(s) else {
            return 0;
        };
        st.hops.push(Hop {
            msg: i,
            src,
            dst,
            via_depth: depth,
            origin: HopOrigin::Generated,
            sender_acts: Acting::Client,
            receiver_acts: Acting::Server,
            leg,
            retransmissions: SmallVec::new(),
            duplicates: SmallVec::new(),
        });
        let h = st.hops.len() - 1;
        // Called for a step new or without a hop on this flow at this depth: never known.
        self.hop_map.insert_new((s, m.flow, depth), h);
        h
    }
}

/// Puts each step's hops in path order and says which sender generated it.
///
/// Requests go from few Vias to many, responses from many to few; within a depth, time
/// decides. Ordering by depth first keeps the path right even when merged files have skewed
/// clocks. A request with more than one Via was forwarded even if its originator's leg is not in
/// the capture (a user agent sends exactly one Via).
fn order_hops(steps: &mut [Step], info: &mut [MsgInfo]) {
    for (s, st) in steps.iter_mut().enumerate() {
        let req = st.is_request();
        if req {
            st.hops.sort_by_key(|h| (h.via_depth, h.msg));
        } else {
            st.hops
                .sort_by_key(|h| (std::cmp::Reverse(h.via_depth), h.msg));
        }
        let Some(first) = st.hops.first() else {
            continue;
        };
        let gen_src = first.src;
        let forwarded_origin = req && first.via_depth > 1;
        st.generated_by = if forwarded_origin {
            None
        } else {
            Some(gen_src)
        };
        for (h, hop) in st.hops.iter_mut().enumerate() {
            hop.origin = if !forwarded_origin && hop.src == gen_src {
                HopOrigin::Generated
            } else {
                HopOrigin::Forwarded
            };
            for m in std::iter::once(hop.msg)
                .chain(hop.retransmissions.iter().copied())
                .chain(hop.duplicates.iter().copied())
            {
                if let Some(inf) = info.get_mut(m) {
                    inf.step = Some(s);
                    inf.hop = Some(h);
                }
            }
        }
    }
}

/// The first 2xx; else the first final that reached the originator's leg; else the first final.
fn decide_final(tx: &Transaction, steps: &[Step]) -> Option<StepIdx> {
    let code = |s: StepIdx| steps.get(s).and_then(Step::code).unwrap_or(0);
    if let Some(&s) = tx
        .responses
        .iter()
        .find(|&&s| (200..300).contains(&code(s)))
    {
        return Some(s);
    }
    let origin_depth = tx
        .request
        .and_then(|r| steps.get(r))
        .and_then(|r| r.hops.first())
        .map(|h| h.via_depth)
        .unwrap_or(1);
    let finals = || tx.responses.iter().copied().filter(|&s| code(s) >= 200);
    finals()
        .find(|&s| {
            steps
                .get(s)
                .is_some_and(|st| st.hops.iter().any(|h| h.via_depth <= origin_depth))
        })
        .or_else(|| finals().next())
}

/// Adds `t` to a dialog's transactions unless it is the last one already (every step of a
/// transaction lands here in turn): the list comes out without consecutive repeats, and a
/// dialog's INVITE, ACK and BYE stay within its room.
fn push_tx(list: &mut SmallVec<[TxIdx; 4]>, t: TxIdx) {
    if list.last() != Some(&t) {
        list.push(t);
    }
}

/// A dialog's key from its two tag numbers, the same whichever side sent the request.
fn tag_pair(a: Id, b: Id) -> (Id, Id) {
    if a <= b {
        (a, b)
    } else {
        (b, a)
    }
}

/// Dialogs from tags: INVITE responses with a To tag create them (several when forked), a 2xx
/// confirms one, in-dialog requests join them (or reveal one whose start was not captured), a
/// BYE ends one, and a failed INVITE ends its early dialogs.
/// `tags` holds each step's From and To tag numbers.
/// `dmap` is an empty map to use (and hand back) for dialogs by tag pair.
fn build_dialogs(
    steps: &mut [Step],
    txs: &mut [Transaction],
    tags: &[(Option<Id>, Option<Id>)],
    mut dmap: SmallMap<(Id, Id), DialogIdx>,
) -> (Vec<Dialog>, SmallMap<(Id, Id), DialogIdx>) {
    let mut dialogs: Vec<Dialog> = Vec::new();
    for s in 0..steps.len() {
        let Some(st) = steps.get(s) else { continue };
        let t = st.transaction;
        let Some(tx) = txs.get(t) else { continue };
        let tags = match (&st.from_tag, &st.to_tag, tags.get(s)) {
            (Some(f), Some(to), Some(&(Some(fi), Some(ti)))) => Some((f, to, tag_pair(fi, ti))),
            _ => None,
        };
        let mut dialog = None;
        match (st.part, st.code()) {
            (Part::Request, _) => {
                if let Some((f, to, key)) = tags.filter(|_| st.method() != "REGISTER") {
                    let d = dmap.get_or_insert_with(key, || {
                        dialogs.push(Dialog {
                            local_tag: f.clone(),
                            remote_tag: to.clone(),
                            state: DialogState::Confirmed,
                            created_by: s,
                            created_by_tx: None,
                            confirmed_by: None,
                            ended_by: None,
                            transactions: SmallVec::new(),
                            seen_mid_way: true,
                        });
                        dialogs.len() - 1
                    });
                    if let Some(dl) = dialogs.get_mut(d) {
                        push_tx(&mut dl.transactions, t);
                        if st.method() == "BYE" {
                            dl.state = DialogState::Terminated;
                            dl.ended_by.get_or_insert(s);
                        }
                    }
                    dialog = Some(d);
                    if let Some(tx) = txs.get_mut(t) {
                        tx.dialog.get_or_insert(d);
                    }
                }
            }
            (Part::Response, Some(code)) => {
                if tx.in_dialog {
                    dialog = tx.dialog;
                } else if tx.method == "INVITE" && (101..300).contains(&code) {
                    if let Some((f, to, key)) = tags {
                        let d = dmap.get_or_insert_with(key, || {
                            dialogs.push(Dialog {
                                local_tag: f.clone(),
                                remote_tag: to.clone(),
                                state: DialogState::Early,
                                created_by: s,
                                created_by_tx: Some(t),
                                confirmed_by: None,
                                ended_by: None,
                                transactions: SmallVec::new(),
                                seen_mid_way: false,
                            });
                            dialogs.len() - 1
                        });
                        let confirmed = code >= 200;
                        if let Some(dl) = dialogs.get_mut(d) {
                            push_tx(&mut dl.transactions, t);
                            if confirmed {
                                if dl.state == DialogState::Early {
                                    dl.state = DialogState::Confirmed;
                                }
                                dl.confirmed_by.get_or_insert(s);
                            }
                        }
                        if let Some(tx) = txs.get_mut(t) {
                            if !tx.dialogs.contains(&d) {
                                tx.dialogs.push(d);
                            }
                            if confirmed {
                                let already = tx
                                    .dialog
                                    .and_then(|x| dialogs.get(x))
                                    .is_some_and(|x| x.confirmed_by.is_some());
                                if !already {
                                    tx.dialog = Some(d);
                                }
                            } else {
                                tx.dialog.get_or_insert(d);
                            }
                        }
                        dialog = Some(d);
                    }
                } else if tx.method == "INVITE" && code >= 300 {
                    // A fork that failed (487 after another fork answered, 486, ...) ends the
                    // early dialog its provisional responses made.
                    if let Some((_, _, key)) = tags {
                        if let Some(d) = dmap.get(&key) {
                            if let Some(dl) = dialogs.get_mut(d) {
                                if dl.confirmed_by.is_none() {
                                    dl.state = DialogState::Terminated;
                                    push_tx(&mut dl.transactions, t);
                                }
                            }
                        }
                    }
                } else if tx.request.is_none() {
                    // A response whose request was not captured: join a known dialog by tags.
                    if let Some((_, _, key)) = tags {
                        dialog = dmap.get(&key);
                    }
                }
            }
            _ => dialog = tx.dialog,
        }
        if let Some(st) = steps.get_mut(s) {
            st.dialog = dialog;
        }
    }
    // A failed INVITE ends the early dialogs it created.
    for tx in txs.iter() {
        let failed = tx
            .final_response
            .and_then(|f| steps.get(f))
            .and_then(Step::code)
            .is_some_and(|c| c >= 300);
        if tx.method == "INVITE" && failed {
            for &d in &tx.dialogs {
                if let Some(dl) = dialogs.get_mut(d) {
                    if dl.confirmed_by.is_none() {
                        dl.state = DialogState::Terminated;
                    }
                }
            }
        }
    }
    // Steps of a transaction that joined its dialog later (CANCEL, ACK of a failure).
    for st in steps.iter_mut() {
        if st.dialog.is_none() && matches!(st.part, Part::Cancel | Part::CancelResponse | Part::Ack)
        {
            st.dialog = txs.get(st.transaction).and_then(|t| t.dialog);
        }
    }
    (dialogs, dmap)
}

/// Up to this many hops, a step's senders are looked through one by one rather than sorted.
const FEW_HOPS: usize = 16;

/// Which hosts send a hop of a step. Almost every step has a hop or two: those are looked
/// through directly, and only a long path has its senders sorted into a list.
pub(super) struct Senders {
    /// Sorted, without repeats; empty (unused) for [`FEW_HOPS`] hops or fewer.
    sorted: Vec<HostIdx>,
}

impl Senders {
    pub(super) fn of(hops: &[Hop]) -> Self {
        let mut sorted = Vec::new();
        if hops.len() > FEW_HOPS {
            sorted = hops.iter().map(|h| h.src).collect();
            sorted.sort_unstable();
            sorted.dedup();
        }
        Senders { sorted }
    }

    /// Whether `host` sends one of `hops` (the hops this was made of).
    pub(super) fn has(&self, hops: &[Hop], host: HostIdx) -> bool {
        if hops.len() <= FEW_HOPS {
            hops.iter().any(|h| h.src == host)
        } else {
            self.sorted.binary_search(&host).is_ok()
        }
    }
}

/// Who does what on each hop: the sender originates/generates or forwards; the receiver
/// forwards it if it is the sender of another hop of the same step, else it is the end.
fn set_acting(steps: &mut [Step]) {
    for st in steps.iter_mut() {
        let senders = Senders::of(&st.hops);
        let req = st.is_request();
        for k in 0..st.hops.len() {
            let forwards = st
                .hops
                .get(k)
                .is_some_and(|hop| hop.dst != hop.src && senders.has(&st.hops, hop.dst));
            let Some(hop) = st.hops.get_mut(k) else {
                continue;
            };
            let generated = hop.origin == HopOrigin::Generated;
            hop.sender_acts = match (generated, req) {
                (false, _) => Acting::Forwarder,
                (true, true) => Acting::Client,
                (true, false) => Acting::Server,
            };
            hop.receiver_acts = match (forwards, req) {
                (true, _) => Acting::Forwarder,
                (false, true) => Acting::Server,
                (false, false) => Acting::Client,
            };
        }
    }
}

#[cfg(test)]
mod sent_by_tests {
    use super::{sent_by_key, sent_by_key_into};
    use crate::dialog::ViaInfo;

    /// The key as first written: one search or count per question.
    fn plain_key(v: &ViaInfo) -> String {
        let s = v.sent_by.as_str();
        let colons = s.bytes().filter(|&b| b == b':').count();
        let has_port = match s.rfind(']') {
            Some(close) => s[close..].contains(':'),
            None => colons == 1,
        };
        if has_port || s.is_empty() {
            return s.to_ascii_lowercase();
        }
        let default = if v.transport.eq_ignore_ascii_case("TLS") {
            ":5061"
        } else {
            ":5060"
        };
        let bracket = colons > 1 && !s.starts_with('[');
        let (open, close) = if bracket { ("[", "]") } else { ("", "") };
        format!("{open}{}{close}{default}", s.to_ascii_lowercase())
    }

    #[test]
    fn one_pass_key_agrees_with_plain_searches() {
        let texts = [
            "",
            ":",
            "::",
            "]",
            "[",
            "[]",
            "]:",
            ":]",
            "a:1",
            "A:1",
            "a",
            "A",
            "Host.Example",
            "10.0.0.1",
            "10.0.0.1:5060",
            "10.0.0.1:",
            "[2001:db8::1]",
            "[2001:DB8::1]:5070",
            "[2001:db8::1]:",
            "2001:db8::1",
            "2001:DB8::1",
            "[::1]x",
            "a]b:c]d",
            "a]b]c:1",
            "x:y:z]",
            "\u{e9}T:1",
            "\u{c9}t",
            "h\tst:5060",
            "[v6]]:1",
        ];
        let mut buf = String::from("left over");
        for s in texts {
            for transport in ["UDP", "tls", "TLS", "", "TCP", "TL", "TLSX", "Tls"] {
                let v = ViaInfo {
                    sent_by: s.into(),
                    transport: transport.into(),
                    ..Default::default()
                };
                let want = plain_key(&v);
                assert_eq!(sent_by_key(&v), want, "{s:?} {transport}");
                if sent_by_key_into(&v, &mut buf) {
                    assert_eq!(buf, want, "{s:?} {transport}");
                } else {
                    assert_eq!(s, want, "{s:?} {transport}");
                }
            }
        }
    }

    fn via(sent_by: &str, transport: &str) -> ViaInfo {
        ViaInfo {
            sent_by: sent_by.into(),
            transport: transport.into(),
            ..Default::default()
        }
    }

    #[test]
    fn default_port_is_implied() {
        assert_eq!(
            sent_by_key(&via("192.168.1.2", "UDP")),
            sent_by_key(&via("192.168.1.2:5060", "UDP"))
        );
        assert_eq!(
            sent_by_key(&via("PBX.example.com", "TLS")),
            "pbx.example.com:5061"
        );
        assert_eq!(
            sent_by_key(&via("[2001:db8::1]:5070", "UDP")),
            "[2001:db8::1]:5070"
        );
        assert_eq!(
            sent_by_key(&via("2001:db8::1", "UDP")),
            "[2001:db8::1]:5060"
        );
        assert_ne!(
            sent_by_key(&via("10.0.0.1:5062", "UDP")),
            sent_by_key(&via("10.0.0.1", "UDP"))
        );
    }
}

#[cfg(test)]
mod small_map_tests {
    use super::{Names, SmallMap, Text, EMPTY, INVITE, SMALL};

    #[test]
    fn small_map_keeps_every_entry_across_the_switch_to_hashing() {
        let mut m: SmallMap<(u32, u32), usize> = SmallMap::new();
        let n = SMALL * 4;
        for i in 0..n {
            let k = (i as u32 % 7, i as u32);
            assert_eq!(m.get(&k), None);
            m.insert(k, i);
            // Replacing a value keeps one entry.
            m.insert(k, i + 1);
        }
        assert!(m.map.is_some() && m.list.is_empty());
        for i in 0..n {
            assert_eq!(m.get(&(i as u32 % 7, i as u32)), Some(i + 1));
        }
        assert_eq!(m.get(&(99, 99)), None);
        assert_eq!(m.get_or_insert_with((99, 99), || 5), 5);
        assert_eq!(m.get_or_insert_with((99, 99), || 6), 5);
    }

    #[test]
    fn insert_new_agrees_with_insert_for_absent_keys() {
        let mut a: SmallMap<(u32, u32), usize> = SmallMap::new();
        let mut b: SmallMap<(u32, u32), usize> = SmallMap::new();
        for i in 0..SMALL * 3 {
            let k = (i as u32 % 5, i as u32 / 5);
            assert_eq!(a.get(&k), None);
            a.insert(k, i);
            b.insert_new(k, i);
            assert_eq!(a.map.is_some(), b.map.is_some());
            for j in 0..=i {
                let k = (j as u32 % 5, j as u32 / 5);
                assert_eq!(a.get(&k), b.get(&k));
            }
        }
    }

    #[test]
    fn names_give_equal_texts_equal_numbers_before_and_after_the_switch() {
        let texts: Vec<String> = (0..SMALL * 3).map(|i| format!("z9hG4bK-{i}")).collect();
        let mut names = Names::new();
        let first: Vec<usize> = texts.iter().map(|t| names.id(t)).collect();
        assert!(names.map.is_some());
        for (t, &id) in texts.iter().zip(&first) {
            assert_eq!(names.id(t), id);
            assert_eq!(names.id_copied(&t.clone()), id);
        }
        let mut sorted = first.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), texts.len());
        let raw = ["invite", "Info", "ACK"].map(Text::from);
        let mut methods = Names::methods(Vec::new());
        let (id, text) = methods.method(&raw[0]);
        assert_eq!((id, text.as_str()), (INVITE, "INVITE"));
        let (id, text) = methods.method(&raw[1]);
        assert_eq!((id, text.as_str()), (methods.id("INFO"), "INFO"));
        assert_eq!(methods.method(&raw[2]).0, methods.id("ACK"));
        assert_eq!(methods.id(""), EMPTY);
    }
}

#[cfg(test)]
mod print_tests {
    use super::{
        known_method, Names, Print, Text, ACK, CANCEL, INVITE, KNOWN_METHODS, KNOWN_METHOD_PRINTS,
        SMALL,
    };

    /// The numbered methods: numbers as the table says, prints as worked out at run time, and
    /// no number for anything written otherwise.
    #[test]
    fn known_methods_agree_with_their_table() {
        assert!(KNOWN_METHODS.len() <= SMALL);
        assert_eq!(KNOWN_METHODS[INVITE], "INVITE");
        assert_eq!(KNOWN_METHODS[ACK], "ACK");
        assert_eq!(KNOWN_METHODS[CANCEL], "CANCEL");
        for (i, m) in KNOWN_METHODS.iter().enumerate() {
            assert_eq!(KNOWN_METHOD_PRINTS[i], Print::of(m), "{m:?}");
            let want = (!m.is_empty()).then_some(i);
            assert_eq!(known_method(m), want, "{m:?}");
            for other in [m.to_ascii_lowercase(), format!("{m} "), format!("X{m}")] {
                if other != *m {
                    assert_eq!(known_method(&other), None, "{other:?}");
                }
            }
        }
        for m in [
            "",
            "invite",
            "Ack",
            "INVITEX",
            "ACK\0",
            "BYE\u{e9}",
            "X-FOO",
        ] {
            assert_eq!(known_method(m), None, "{m:?}");
        }
        let mut names = Names::methods(Vec::new());
        for (i, m) in KNOWN_METHODS.iter().enumerate() {
            assert_eq!(names.id(m), i);
        }
    }

    /// Texts that share lengths, starts or ends, short and long, with non-ASCII bytes.
    fn texts() -> Vec<String> {
        let mut out: Vec<String> = ["", "a", "A", "ab", "ba", "INVITE", "invite", "ACK", "BYE"]
            .iter()
            .map(|t| t.to_string())
            .collect();
        for stem in ["z9hG4bK", "z9hG4bK-", "10.0.0.1:5060", "é", "tag"] {
            for end in [
                "", "1", "2", "12", "21", "é", "abcdefgh", "abcdefgi", "xbcdefgh",
            ] {
                out.push(format!("{stem}{end}"));
                out.push(format!("{end}{stem}"));
            }
        }
        out.sort();
        out.dedup();
        out
    }

    #[test]
    fn equal_texts_equal_prints_and_short_prints_tell_the_text() {
        let all = texts();
        for a in &all {
            for b in &all {
                let (pa, pb) = (Print::of(a), Print::of(b));
                if a == b {
                    assert_eq!(pa, pb);
                }
                if pa == pb && pa.whole() {
                    assert_eq!(a, b, "{pa:?}");
                }
                assert_eq!(pa.whole(), a.len() <= 8);
            }
        }
    }

    /// Numbering through prints gives what a plain search of the texts gave, on lists short
    /// and long (past the switch to hashing).
    #[test]
    fn names_agree_with_a_plain_search() {
        let all = texts();
        for take in [3, SMALL, all.len()] {
            let mut names = Names::new();
            let mut reference: Vec<&str> = vec![""];
            for (round, t) in all.iter().take(take).chain(all.iter().rev()).enumerate() {
                let before = reference.iter().position(|x| x == t);
                assert_eq!(names.find(t), before, "{t:?} round {round}");
                let want = before.unwrap_or_else(|| {
                    reference.push(t);
                    reference.len() - 1
                });
                assert_eq!(names.id(t), want, "{t:?} round {round}");
            }
        }
    }

    /// The method's number and text, the way it was worked out before looking it up as
    /// written: upper-cased when it has a lower-case letter.
    #[test]
    fn method_agrees_with_upper_casing_first() {
        let raw: Vec<Text> = [
            "INVITE",
            "invite",
            "Invite",
            "ACK",
            "ack",
            "BYE",
            "bYe",
            "",
            "é",
            "Ée",
            "X-FOO",
            "PUBLISH",
            "publish",
            "REFER ",
            "INVITE\0",
            "Options",
            "SUBSCRIBE",
            "x-foo",
        ]
        .into_iter()
        .map(Text::from)
        .collect();
        for start in 0..raw.len() {
            let mut fast = Names::methods(Vec::new());
            let mut reference: Vec<String> =
                super::KNOWN_METHODS.iter().map(|m| m.to_string()).collect();
            for t in raw.iter().cycle().skip(start).take(raw.len() * 2) {
                let (id, text) = fast.method(t);
                let upper = if t.bytes().any(|b| b.is_ascii_lowercase()) {
                    t.to_ascii_uppercase().to_string()
                } else {
                    t.to_string()
                };
                let want = match reference.iter().position(|x| *x == upper) {
                    Some(i) => i,
                    None => {
                        reference.push(upper.clone());
                        reference.len() - 1
                    }
                };
                assert_eq!((id, text.as_str()), (want, upper.as_str()), "{t:?}");
            }
        }
    }
}

#[cfg(test)]
mod senders_tests {
    use super::*;

    fn hop(src: HostIdx, dst: HostIdx) -> Hop {
        Hop {
            msg: 0,
            src,
            dst,
            via_depth: 1,
            origin: HopOrigin::Generated,
            sender_acts: Acting::Client,
            receiver_acts: Acting::Server,
            leg: None,
            retransmissions: SmallVec::new(),
            duplicates: SmallVec::new(),
        }
    }

    /// Short and long paths (around [`FEW_HOPS`]), with repeated and absent hosts.
    #[test]
    fn senders_agree_with_a_sorted_list() {
        let mut seed: u64 = 11;
        let mut roll = |n: u64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((seed >> 33) % n) as usize
        };
        for len in 0..FEW_HOPS * 3 {
            for _ in 0..20 {
                let hops: Vec<Hop> = (0..len).map(|_| hop(roll(12), roll(12))).collect();
                let mut sorted: Vec<HostIdx> = hops.iter().map(|h| h.src).collect();
                sorted.sort_unstable();
                sorted.dedup();
                let senders = Senders::of(&hops);
                for host in 0..14 {
                    assert_eq!(
                        senders.has(&hops, host),
                        sorted.binary_search(&host).is_ok(),
                        "{len} {host}"
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod scratch_tests {
    use super::*;
    use crate::dialog::testkit::*;

    /// Calls of every size: direct, proxied with CANCEL and a failure's ACK, RFC 2543
    /// branches, a host talking to itself, and long keepalive series (past [`SMALL`] steps
    /// and past [`KEEP_ROOM`] messages) that move every table to hashing.
    fn calls() -> Vec<Vec<Msg>> {
        let mut out = Vec::new();
        let inv = invite("s1", 1, 2, 0, "z9hG4bK-1", 1);
        out.push(vec![
            inv.clone(),
            reply(&inv, 100, 1, None),
            reply(&inv, 180, 5, Some("b")),
            reply(&inv, 200, 9, Some("b")),
            request("ACK", "s1", 1, 2, 10, "z9hG4bK-2", 1, "a", Some("b")),
            request("BYE", "s1", 2, 1, 90, "z9hG4bK-3", 1, "b", Some("a")),
        ]);
        let inv1 = invite("s2", 1, 2, 0, "z9hG4bK-p1", 1);
        let inv2 = fwd(&inv1, 2, "z9hG4bK-p2", 3, 2);
        let busy = reply(&inv2, 486, 20, Some("x"));
        out.push(vec![
            inv1.clone(),
            reply(&inv1, 100, 1, None),
            inv2.clone(),
            again(&inv2, 3),
            reply(&inv2, 180, 10, Some("x")),
            hop_request(&inv1, "CANCEL", 15, None),
            busy.clone(),
            reply(&inv1, 486, 21, Some("x")),
            hop_request(&inv2, "ACK", 22, Some("x")),
        ]);
        let old = invite("s3", 4, 5, 0, "1234", 7);
        out.push(vec![
            old.clone(),
            reply(&old, 200, 4, Some("t")),
            again(&old, 500),
        ]);
        let me = invite("s4", 6, 6, 0, "z9hG4bK-self", 1);
        out.push(vec![me.clone(), reply(&me, 200, 1, Some("s"))]);
        for (id, n) in [("s5", SMALL * 3), ("s6", KEEP_ROOM + 10)] {
            let mut msgs = Vec::new();
            for k in 0..n {
                let b = format!("z9hG4bK-k{k}");
                let o = request("OPTIONS", id, 7, 8, k as i64 * 10, &b, k as u32, "o", None);
                msgs.push(reply(&o, 200, k as i64 * 10 + 1, Some("r")));
                msgs.push(o);
            }
            out.push(msgs);
        }
        out.push(Vec::new());
        out
    }

    /// The tables kept between calls change nothing: every call analysed on a fresh thread
    /// equals the same call analysed after all the others (forwards and backwards).
    #[test]
    fn reused_tables_give_what_fresh_ones_give() {
        let calls = calls();
        let fresh: Vec<Call> = calls
            .iter()
            .map(|c| {
                let c = c.clone();
                std::thread::spawn(move || analyze_call(c, &[]))
                    .join()
                    .expect("analysis thread")
            })
            .collect();
        for round in 0..2 {
            let order: Vec<usize> = if round == 0 {
                (0..calls.len()).collect()
            } else {
                (0..calls.len()).rev().collect()
            };
            for i in order {
                let again = analyze_call(calls[i].clone(), &[]);
                assert_eq!(again, fresh[i], "call {i}, round {round}");
            }
        }
    }

    /// The tables go back to the thread as the same box; taken twice at once, the second
    /// taker gets fresh ones and the first one's box is what is kept.
    #[test]
    fn kept_tables_are_the_same_box() {
        std::thread::spawn(|| {
            let a = Scratch::take();
            let b = Scratch::take();
            let pa = &*a as *const Scratch as usize;
            assert_ne!(pa, &*b as *const Scratch as usize);
            drop(b);
            a.keep();
            let again = Scratch::take();
            assert_eq!(&*again as *const Scratch as usize, pa);
            again.keep();
            let _ = analyze_call(calls().swap_remove(0), &[]);
            assert_eq!(&*Scratch::take() as *const Scratch as usize, pa);
        })
        .join()
        .expect("scratch thread");
    }

    #[test]
    fn relabel_keeps_the_room() {
        let mut v: Vec<Cow<'static, str>> = Vec::with_capacity(12);
        v.push(Cow::Borrowed("x"));
        let ptr = v.as_ptr() as usize;
        let text = String::from("borrowed");
        let mut w: Vec<Cow<'_, str>> = relabel(v);
        assert!(w.is_empty());
        assert_eq!((w.capacity(), w.as_ptr() as usize), (12, ptr));
        w.push(Cow::Borrowed(text.as_str()));
        let back: Vec<Cow<'static, str>> = relabel(w);
        assert!(back.is_empty());
        assert_eq!((back.capacity(), back.as_ptr() as usize), (12, ptr));
    }

    /// A map that moved to hashing gives back its list's room, empty, and a map made in it
    /// starts empty.
    #[test]
    fn small_map_room_comes_back_empty() {
        let mut m: SmallMap<u32, u32> = SmallMap::new();
        for k in 0..(SMALL as u32 * 2) {
            m.insert(k, k);
        }
        let room = m.into_room();
        assert!(room.is_empty() && room.capacity() > SMALL);
        let mut m = SmallMap::reusing(room);
        assert_eq!(m.get(&1), None);
        m.insert(1, 5);
        assert_eq!(m.get(&1), Some(5));
    }

    /// Skipping a transaction equal to the last one gives what pushing every one and
    /// removing consecutive repeats gave (the lists stay the same), on runs, returns to an
    /// earlier transaction and lists past the room kept in place.
    #[test]
    fn push_tx_equals_push_then_dedup() {
        let mut seed: u64 = 5;
        for len in 0..40 {
            for _ in 0..30 {
                let mut fast: SmallVec<[TxIdx; 4]> = SmallVec::new();
                let mut reference: Vec<TxIdx> = Vec::new();
                for _ in 0..len {
                    seed = seed
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    let t = ((seed >> 33) % 4) as usize;
                    push_tx(&mut fast, t);
                    reference.push(t);
                }
                reference.dedup();
                assert_eq!(fast.as_slice(), reference.as_slice(), "length {len}");
            }
        }
    }

    /// What keeping lists in place costs: a step holds two hops and a transaction two legs,
    /// so they must stay small (a step used to point at four hops on the heap, 416 bytes).
    #[test]
    fn model_records_stay_small() {
        use std::mem::size_of;
        let sizes = [
            ("Hop", size_of::<Hop>(), 104),
            ("Step", size_of::<Step>(), 360),
            ("Leg", size_of::<Leg>(), 80),
            ("Transaction", size_of::<Transaction>(), 360),
            ("Dialog", size_of::<Dialog>(), 160),
            ("Host", size_of::<Host>(), 160),
            // A message moves between threads and lists: one Via inline, the fields only
            // the detailed outputs read out of line (864 bytes with them inline).
            ("Msg", size_of::<crate::dialog::Msg>(), 456),
        ];
        for (name, size, most) in sizes {
            eprintln!("{name}: {size} bytes");
            assert!(size <= most, "{name}: {size} bytes, more than {most}");
        }
    }

    /// The usual calls (direct, through a proxy with a CANCEL, RFC 2543, a host talking to
    /// itself) keep every per-step, per-transaction and per-dialog list in its own room: none
    /// allocates.
    #[test]
    fn usual_calls_keep_their_lists_in_place() {
        for (i, msgs) in calls().into_iter().take(4).enumerate() {
            let call = analyze_call(msgs, &[]);
            assert!(!call.steps.is_empty(), "call {i}");
            for st in &call.steps {
                assert!(!st.hops.spilled(), "call {i}: {st:?}");
                for h in &st.hops {
                    assert!(!h.retransmissions.spilled() && !h.duplicates.spilled());
                }
            }
            for t in &call.transactions {
                assert!(
                    !t.legs.spilled() && !t.responses.spilled(),
                    "call {i}: {t:?}"
                );
                assert!(!t.cancels.spilled() && !t.acks.spilled() && !t.dialogs.spilled());
            }
            for d in &call.dialogs {
                assert!(!d.transactions.spilled(), "call {i}: {d:?}");
            }
            for h in &call.hosts {
                assert!(!h.user_agents.spilled() && !h.servers.spilled(), "call {i}");
            }
        }
    }
}
