//! From inputs to calls: every located SIP message becomes a [`Msg`], messages are grouped into
//! [`Call`]s (all at once, or streamed as calls end), and the selection's filter picks calls.
//! Shared by every command that works on calls.

use std::collections::{BTreeSet, HashMap};
use std::hash::BuildHasher;
use std::io::Write;

use crate::cli::Selection;
use crate::dialog::{analyze_call, Call, CallTracker, Grouper, Msg, RoleOverride, TrackerConfig};
use crate::error::Error;
use crate::ingest::{self, Books};
use crate::media::endpoints::MediaEndpoints;
use crate::media::MediaTracker;
use crate::sip;

mod b2bua;
pub use b2bua::{promote, B2buaLinker};

/// Calls of a whole capture, in order of their first message, and the books of the ingest.
pub struct Loaded {
    pub books: Books,
    /// Every call (not yet filtered).
    pub calls: Vec<Call>,
    /// RTP and RTCP streams found (through SDP, or by content).
    pub media: MediaTracker,
}

impl Loaded {
    /// The calls the selection's filter keeps, with their 1-based position in the full list.
    pub fn selected<'a>(
        &'a self,
        sel: &'a Selection,
    ) -> impl Iterator<Item = (usize, &'a Call)> + 'a {
        self.calls
            .iter()
            .enumerate()
            .filter(move |(_, c)| sel.filter.matches(c))
            .map(|(i, c)| (i + 1, c))
    }
}

/// Lets go of a whole-capture model at the end of a command without freeing its millions of
/// small allocations one by one: the process is about to exit and the OS takes the memory
/// back at once (freeing took a fifth of the run time on large captures).
pub fn release(loaded: Loaded) {
    std::mem::forget(loaded);
}

/// Reads every input and builds all calls, with RTP/RTCP analysis. `keep_raw` keeps each
/// message's text.
pub fn load(sel: &Selection, keep_raw: bool, err: &mut dyn Write) -> Result<Loaded, Error> {
    load_with(sel, keep_raw, true, err)
}

/// Same as [`load`] without RTP/RTCP analysis (`media` comes back empty): for commands that
/// only look at SIP, it saves the media tracker's work on every non-SIP datagram.
pub fn load_calls(sel: &Selection, keep_raw: bool, err: &mut dyn Write) -> Result<Loaded, Error> {
    load_with(sel, keep_raw, false, err)
}

/// Decoding and framing run on a helper thread; this thread builds each [`Msg`] and groups
/// it by Call-ID as it comes; then the calls are analysed on all cores.
fn load_with(
    sel: &Selection,
    keep_raw: bool,
    media: bool,
    err: &mut dyn Write,
) -> Result<Loaded, Error> {
    let inputs = crate::open_inputs(&sel.files, err)?;
    let mut grouper = Grouper::default();
    let (books, media) = ingest::run_parallel(
        &inputs,
        media,
        &|m| Msg::from_borrowed(&m, keep_raw),
        &mut |m| grouper.push(m),
    );
    crate::report_books(&books, err);
    if books.frames == 0 && !books.issues.is_empty() {
        return Err(Error::NothingRead);
    }
    let calls = grouper.finish(&sel.roles);
    Ok(Loaded {
        books,
        calls,
        media: media.unwrap_or_default(),
    })
}

/// Reads every input and hands each call to `on_call` as soon as it is over (and the rest at
/// the end), so memory is bounded by the calls in progress. Calls the filter rejects are
/// dropped here.
pub fn stream(
    sel: &Selection,
    keep_raw: bool,
    err: &mut dyn Write,
    on_call: &mut dyn FnMut(Call) -> std::io::Result<()>,
) -> Result<Books, Error> {
    let inputs = crate::open_inputs(&sel.files, err)?;
    let mut tracker = CallTracker::new(TrackerConfig::default(), sel.roles.clone());
    let mut failure: Option<std::io::Error> = None;
    let mut deliver = |calls: Vec<Call>, failure: &mut Option<std::io::Error>| {
        for c in calls {
            if failure.is_none() && sel.filter.matches(&c) {
                if let Err(e) = on_call(c) {
                    *failure = Some(e);
                }
            }
        }
    };
    let books = ingest::run(&inputs, &mut |m| {
        let done = tracker.push(Msg::from_message(m, keep_raw));
        deliver(done, &mut failure);
    });
    deliver(tracker.finish(), &mut failure);
    crate::report_books(&books, err);
    if let Some(e) = failure {
        return Err(Error::Output(e));
    }
    if books.frames == 0 && !books.issues.is_empty() {
        return Err(Error::NothingRead);
    }
    Ok(books)
}

/// Idle time after which [`stream_ordered`] considers a call over: long, so that a Call-ID
/// forms one call as in the whole-file grouping ([`load`]) in practice; memory stays bounded
/// by the calls in progress.
pub const ORDERED_IDLE_TIMEOUT_NS: i64 = 3_600_000_000_000;

/// Streaming for outputs that number calls as the whole-file list does: every call, the
/// filter NOT applied (the caller counts every call to number the ones it keeps), is handed
/// over as it ends with a horizon: every call handed over later starts at or after it. An
/// output can thus buffer what it renders and write, in start order, everything that started
/// before the horizon. Decoding and message building run on a helper thread.
///
/// Grouping differs from [`load`] only for a Call-ID reused after its call ended (a REGISTER
/// refreshed with the same Call-ID long after): streaming makes it a second call.
pub fn stream_ordered(
    sel: &Selection,
    keep_raw: bool,
    err: &mut dyn Write,
    on_call: &mut dyn FnMut(Call, i64) -> std::io::Result<()>,
) -> Result<Books, Error> {
    let inputs = crate::open_inputs(&sel.files, err)?;
    let cfg = TrackerConfig {
        idle_timeout_ns: ORDERED_IDLE_TIMEOUT_NS,
        ..TrackerConfig::default()
    };
    let mut tracker = CallTracker::new(cfg, sel.roles.clone());
    let mut failure: Option<std::io::Error> = None;
    let (books, _) = ingest::run_parallel(
        &inputs,
        false,
        &|m| Msg::from_borrowed(&m, keep_raw),
        &mut |m| {
            let done = tracker.push(m);
            hand_over(&tracker, done, &mut failure, on_call);
        },
    );
    hand_over_rest(tracker, &mut failure, on_call);
    crate::report_books(&books, err);
    if let Some(e) = failure {
        return Err(Error::Output(e));
    }
    if books.frames == 0 && !books.issues.is_empty() {
        return Err(Error::NothingRead);
    }
    Ok(books)
}

/// Hands over the calls a [`stream_ordered`]-style tracker just ended, with a horizon, unless
/// an output failure was met already (the first failure is kept in `failure`). The calls
/// handed back together are no longer open: the horizon given with each must also stay at or
/// before the start of the ones still to be handed over.
pub fn hand_over(
    tracker: &CallTracker,
    done: Vec<Call>,
    failure: &mut Option<std::io::Error>,
    on_call: &mut dyn FnMut(Call, i64) -> std::io::Result<()>,
) {
    let mut horizon = tracker.horizon();
    for c in &done {
        horizon = horizon.min(c.summary.start_ns);
    }
    for c in done {
        if failure.is_none() {
            if let Err(e) = on_call(c, horizon) {
                *failure = Some(e);
            }
        }
    }
}

/// End of a [`stream_ordered`]-style pass: the calls still open are handed to `on_call` with a
/// horizon (the earliest start among them, then none after the last), unless an output
/// failure was met already; the first failure is kept in `failure`.
pub fn hand_over_rest(
    tracker: CallTracker,
    failure: &mut Option<std::io::Error>,
    on_call: &mut dyn FnMut(Call, i64) -> std::io::Result<()>,
) {
    let rest = tracker.finish();
    let last = rest.len();
    let horizon = rest
        .iter()
        .map(|c| c.summary.start_ns)
        .min()
        .unwrap_or(i64::MAX);
    for (n, c) in rest.into_iter().enumerate() {
        // After the last call, nothing more comes.
        let horizon = if n + 1 == last { i64::MAX } else { horizon };
        if failure.is_none() {
            if let Err(e) = on_call(c, horizon) {
                *failure = Some(e);
            }
        }
    }
}

/// A call's place in the whole-file list ([`load`]): its start time, then the position of its
/// first message in the order messages come out of the ingest (whole-file grouping keeps
/// calls that start at the same time in order of first appearance). Unique per call.
pub type CallKey = (i64, u64);

/// Hash of a Call-ID as the model reads it (lossy UTF-8): equal Call-IDs hash equal.
fn call_id_hash(text: &str) -> u64 {
    foldhash::fast::FixedState::with_seed(0x5195_c0be).hash_one(text.as_bytes())
}

/// For every message, in ingest order: whether it is the last one with its Call-ID. Two
/// different Call-IDs with the same hash only make the earlier one look unfinished (it is
/// then finished at the end of input): never wrong, only later.
struct LastMessages {
    bits: Vec<u64>,
}

impl LastMessages {
    /// First pass over `inputs`: frames, decodes and parses every message, notes its
    /// Call-ID's hash. Memory: one entry per distinct Call-ID, then one bit per message.
    /// With `media`, also the endpoints that may carry media, so that the second pass keeps
    /// only the SDP announcements a datagram can look up.
    fn find(
        inputs: &[crate::capture::Input],
        media: bool,
    ) -> (LastMessages, Option<MediaEndpoints>) {
        let mut last: HashMap<u64, u64, foldhash::fast::RandomState> = HashMap::default();
        let mut seq = 0u64;
        // Framing and parsing run on the helper thread (nothing of the message crosses but
        // its Call-ID's hash); this thread only keeps the map.
        let hash_of = |m: sip::Located<'_>| {
            let p = sip::parse(m.data);
            let text = sip::headers::lossy(p.call_id()?);
            (!text.is_empty()).then(|| call_id_hash(&text))
        };
        let ing = if media {
            ingest::Ingest::new().with_media_endpoints()
        } else {
            ingest::Ingest::new()
        };
        let (_, _, endpoints) = ingest::run_parallel_on(ing, inputs, &hash_of, &mut |h| {
            if let Some(h) = h {
                last.insert(h, seq);
            }
            seq = seq.wrapping_add(1);
        });
        let words = usize::try_from(seq.div_ceil(64)).unwrap_or(0);
        let mut bits = vec![0u64; words];
        for &n in last.values() {
            let (w, b) = (n / 64, n % 64);
            if let Some(word) = usize::try_from(w).ok().and_then(|w| bits.get_mut(w)) {
                *word |= 1u64 << b;
            }
        }
        (LastMessages { bits }, endpoints)
    }

    fn is_last(&self, seq: u64) -> bool {
        usize::try_from(seq / 64)
            .ok()
            .and_then(|w| self.bits.get(w))
            .is_some_and(|word| word & (1u64 << (seq % 64)) != 0)
    }
}

/// A call whose last message has not come yet.
struct Gathering {
    msgs: Vec<Msg>,
    /// Position of its first message, and the earliest capture time among its messages.
    first: u64,
    start: i64,
}

/// Groups messages by Call-ID exactly as [`Grouper`] does, handing each call over as soon as
/// its last message (known from a first pass) is in.
struct ExactGrouper {
    open: HashMap<String, Gathering, foldhash::fast::RandomState>,
    /// (start, first message) of the open calls.
    starts: BTreeSet<(i64, u64)>,
    /// Latest capture time seen.
    now: i64,
    overrides: Vec<RoleOverride>,
}

impl ExactGrouper {
    /// Every call handed over later starts at or after this time, up to the reordering of
    /// messages completed late (TCP reassembly, IP fragments).
    fn horizon(&self) -> i64 {
        match self.starts.first() {
            Some(&(t, _)) => t.min(self.now),
            None => self.now,
        }
    }

    /// Adds message number `seq`; returns its call when it was the call's last message.
    fn push(&mut self, m: Msg, seq: u64, last: bool) -> Option<(Call, CallKey)> {
        let ts = m.frame.ts_ns;
        self.now = self.now.max(ts);
        if m.call_id.is_empty() {
            // A message without a Call-ID is a call of its own.
            let call = analyze_call(vec![m], &self.overrides);
            let key = (call.summary.start_ns, seq);
            return Some((call, key));
        }
        let g = match self.open.get_mut(m.call_id.as_str()) {
            Some(g) => g,
            None => {
                self.starts.insert((ts, seq));
                self.open.entry(m.call_id.to_string()).or_insert(Gathering {
                    msgs: Vec::with_capacity(4),
                    first: seq,
                    start: ts,
                })
            }
        };
        if ts < g.start {
            self.starts.remove(&(g.start, g.first));
            g.start = ts;
            self.starts.insert((ts, g.first));
        }
        if !last {
            g.msgs.push(m);
            return None;
        }
        let id = m.call_id.clone();
        g.msgs.push(m);
        let g = self.open.remove(id.as_str())?;
        self.starts.remove(&(g.start, g.first));
        let call = analyze_call(g.msgs, &self.overrides);
        let key = (call.summary.start_ns, g.first);
        Some((call, key))
    }

    /// End of input: every call still open (Call-IDs that shared a hash), in list order.
    fn finish(self) -> Vec<(Call, CallKey)> {
        let overrides = self.overrides;
        let mut calls: Vec<(Call, CallKey)> = self
            .open
            .into_values()
            .map(|g| {
                let call = analyze_call(g.msgs, &overrides);
                let key = (call.summary.start_ns, g.first);
                (call, key)
            })
            .collect();
        calls.sort_by_key(|(_, k)| *k);
        calls
    }
}

/// Streaming with exactly the whole-file grouping of [`load`]: a first pass notes, for every
/// Call-ID, which message is its last; the second builds calls and hands each over (every
/// call, the filter NOT applied) as soon as its last message is in, with its [`CallKey`] and
/// a horizon: calls handed over later start at or after it, up to messages completed late
/// (TCP reassembly, IP fragments: allow a minute). Memory holds the calls in progress and a
/// bit per message. Decoding and framing run on a helper thread in both passes; the inputs
/// are read twice (standard input is held in memory, so it can be).
pub fn stream_exact(
    sel: &Selection,
    keep_raw: bool,
    err: &mut dyn Write,
    on_call: &mut dyn FnMut(Call, CallKey, i64) -> std::io::Result<()>,
) -> Result<Books, Error> {
    let inputs = crate::open_inputs(&sel.files, err)?;
    stream_exact_inputs(&inputs, sel, keep_raw, false, err, on_call).map(|(books, _)| books)
}

/// [`stream_exact`] over inputs already open (the interactive view keeps them to fetch
/// frames again), with RTP/RTCP analysis in the second pass when `media` is set (the tracker
/// comes back at the end). `sel.files` is not looked at.
pub fn stream_exact_inputs(
    inputs: &[crate::capture::Input],
    sel: &Selection,
    keep_raw: bool,
    media: bool,
    err: &mut dyn Write,
    on_call: &mut dyn FnMut(Call, CallKey, i64) -> std::io::Result<()>,
) -> Result<(Books, Option<MediaTracker>), Error> {
    let (lasts, endpoints) = LastMessages::find(inputs, media);
    let mut grouper = ExactGrouper {
        open: HashMap::default(),
        starts: BTreeSet::new(),
        now: i64::MIN,
        overrides: sel.roles.clone(),
    };
    let mut failure: Option<std::io::Error> = None;
    let mut seq = 0u64;
    let ing = match (media, endpoints) {
        (true, Some(found)) => ingest::Ingest::new()
            .with_media_tracker(MediaTracker::new().announcements_for(std::sync::Arc::new(found))),
        (true, None) => ingest::Ingest::new().with_media(),
        (false, _) => ingest::Ingest::new(),
    };
    let (books, tracker, _) = ingest::run_parallel_on(
        ing,
        inputs,
        &|m| Msg::from_borrowed(&m, keep_raw),
        &mut |m| {
            let done = grouper.push(m, seq, lasts.is_last(seq));
            seq = seq.wrapping_add(1);
            if let (Some((call, key)), None) = (done, &failure) {
                let horizon = grouper.horizon();
                if let Err(e) = on_call(call, key, horizon) {
                    failure = Some(e);
                }
            }
        },
    );
    let rest = grouper.finish();
    let last = rest.len();
    let horizon = rest.first().map_or(i64::MAX, |(_, k)| k.0);
    for (n, (call, key)) in rest.into_iter().enumerate() {
        // After the last call, nothing more comes.
        let horizon = if n + 1 == last { i64::MAX } else { horizon };
        if failure.is_none() {
            if let Err(e) = on_call(call, key, horizon) {
                failure = Some(e);
            }
        }
    }
    crate::report_books(&books, err);
    if let Some(e) = failure {
        return Err(Error::Output(e));
    }
    if books.frames == 0 && !books.issues.is_empty() {
        return Err(Error::NothingRead);
    }
    Ok((books, tracker))
}
