//! From inputs to calls: every located SIP message becomes a [`Msg`], messages are grouped into
//! [`Call`]s (all at once, or streamed as calls end), and the selection's filter picks calls.
//! Shared by every command that works on calls.
//!
//! The exact streaming ([`stream_exact`] and the passes after [`LastMessages::find`] or
//! [`first_pass_with_media`]) reads a capture in two passes. The first decodes, reassembles
//! and frames it, notes each message's Call-ID, and writes every located message down in a
//! temporary file (positions in the capture, or the bytes when they were reassembled). The
//! second reads that recording back instead of decoding again, builds each [`Msg`] and hands
//! calls over as they end; it decodes only where a recording cannot serve (none could be
//! made, it cannot be read, or the pass needs RTP analysis: the interactive view).

use std::collections::{BTreeSet, HashMap};
use std::hash::BuildHasher;
use std::io::Write;

use crate::cli::Selection;
use crate::dialog::{analyze_call, Call, Detail, Grouper, Msg, RoleOverride};
use crate::error::Error;
use crate::ingest::{self, Books};
use crate::media::endpoints::MediaEndpoints;
use crate::media::{MediaTracker, StreamReport};
use crate::sip;

mod b2bua;
mod links;
mod times;
mod waiting;
pub use b2bua::{promote, B2buaLinker};
pub use links::LinkedCalls;
pub use waiting::Waiting;

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
        &|m| Msg::from_borrowed(&m, Detail::full(keep_raw)),
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

/// A call's place in the whole-file list ([`load`]): its start time, then the position of its
/// first message in the order messages come out of the ingest (whole-file grouping keeps
/// calls that start at the same time in order of first appearance). Unique per call.
pub type CallKey = (i64, u64);

/// Hash of a Call-ID's text as the model reads it (lossy UTF-8): equal Call-IDs hash equal.
fn call_id_hash(text: &[u8]) -> u64 {
    foldhash::fast::FixedState::with_seed(0x5195_c0be).hash_one(text)
}

/// [`call_id_hash`] of a Call-ID value as found in a message; `None` when empty. ASCII (the
/// usual case) reads the same as text, so only other values are converted first.
fn raw_call_id_hash(value: &[u8]) -> Option<u64> {
    if value.is_empty() {
        None
    } else if value.is_ascii() {
        Some(call_id_hash(value))
    } else {
        Some(call_id_hash(sip::headers::lossy(value).as_bytes()))
    }
}

/// For every message, in ingest order: whether it is the last one with its Call-ID. Two
/// different Call-IDs with the same hash only make the earlier one look unfinished (it is
/// then finished at the end of input): never wrong, only later.
///
/// Also, for the first message of every Call-ID, how many messages it has (a byte), so that
/// the second pass gives each call's list the room it needs at once ([`MessageCounts`]).
pub struct LastMessages {
    bits: Vec<u64>,
    /// One bit per message: the first one with its Call-ID's hash.
    firsts: Vec<u64>,
    /// Per Call-ID hash, in order of first appearance: its messages, saturated at 255.
    sizes: Vec<u8>,
    /// Messages the pass saw.
    count: u64,
    /// Every message the pass located, written down for the second pass to read back instead
    /// of decoding again (when the pass was asked to record and could).
    replay: Option<ingest::Recording>,
}

/// What the first pass keeps per Call-ID hash: its last message's number and its rank in
/// order of first appearance. In `u32`s (16 bytes an entry with the key) while the message
/// numbers fit, in `u64`s beyond.
enum Seen {
    Narrow(HashMap<u64, (u32, u32), foldhash::fast::RandomState>),
    Wide(HashMap<u64, (u64, u64), foldhash::fast::RandomState>),
}

impl Seen {
    fn new() -> Seen {
        Seen::Narrow(HashMap::default())
    }

    /// Notes message `seq` with Call-ID hash `h`: returns the hash's rank, and whether it is
    /// new. Message numbers above `narrow_max` (at most `u32::MAX`) widen the table first.
    fn note(&mut self, h: u64, seq: u64, narrow_max: u64) -> (u64, bool) {
        use std::collections::hash_map::Entry;
        if let Seen::Narrow(map) = self {
            match u32::try_from(seq) {
                Ok(s) if seq <= narrow_max => {
                    // Ranks are below message numbers, so they fit too.
                    let rank = u32::try_from(map.len()).unwrap_or(u32::MAX);
                    return match map.entry(h) {
                        Entry::Occupied(mut e) => {
                            let v = e.get_mut();
                            v.0 = s;
                            (u64::from(v.1), false)
                        }
                        Entry::Vacant(e) => {
                            e.insert((s, rank));
                            (u64::from(rank), true)
                        }
                    };
                }
                _ => {
                    let wide = std::mem::take(map)
                        .into_iter()
                        .map(|(k, (last, rank))| (k, (u64::from(last), u64::from(rank))))
                        .collect();
                    *self = Seen::Wide(wide);
                }
            }
        }
        match self {
            Seen::Wide(map) => {
                let rank = map.len() as u64;
                match map.entry(h) {
                    Entry::Occupied(mut e) => {
                        let v = e.get_mut();
                        v.0 = seq;
                        (v.1, false)
                    }
                    Entry::Vacant(e) => {
                        e.insert((seq, rank));
                        (rank, true)
                    }
                }
            }
            // Widened above.
            Seen::Narrow(_) => (u64::MAX, false),
        }
    }

    /// Every hash's last message.
    fn lasts(&self) -> Box<dyn Iterator<Item = u64> + '_> {
        match self {
            Seen::Narrow(map) => Box::new(map.values().map(|&(last, _)| u64::from(last))),
            Seen::Wide(map) => Box::new(map.values().map(|&(last, _)| last)),
        }
    }
}

/// Sets bit `n` of `bits` (when there is such a bit).
fn set_bit(bits: &mut [u64], n: u64) {
    if let Some(word) = usize::try_from(n / 64).ok().and_then(|w| bits.get_mut(w)) {
        *word |= 1u64 << (n % 64);
    }
}

/// Whether bit `n` of `bits` is set.
fn bit(bits: &[u64], n: u64) -> bool {
    usize::try_from(n / 64)
        .ok()
        .and_then(|w| bits.get(w))
        .is_some_and(|word| word & (1u64 << (n % 64)) != 0)
}

/// Walks the message counts of [`LastMessages`] in step with the second pass: asked about
/// every message in order, it tells at each Call-ID's first one how many messages it has.
pub struct MessageCounts<'a> {
    lasts: &'a LastMessages,
    /// Rank of the next Call-ID hash to come.
    next: usize,
}

impl MessageCounts<'_> {
    /// For message `seq` (asked in order, every one): its Call-ID's count of messages
    /// (at most 255) when it is the first with that Call-ID's hash. Two Call-IDs with one
    /// hash count together, at the first of the two.
    pub fn at(&mut self, seq: u64) -> Option<usize> {
        if !bit(&self.lasts.firsts, seq) {
            return None;
        }
        let n = self.lasts.sizes.get(self.next).copied();
        self.next += 1;
        n.map(usize::from)
    }
}

/// What a first pass ([`LastMessages::find_with_media`]) learnt besides the last messages.
pub struct FirstPass {
    pub lasts: LastMessages,
    /// Books of the pass (not reported: the second pass reports its own, the same figures,
    /// replayed or decoded again).
    pub books: Books,
    /// The media tracker it was given, after seeing every datagram.
    pub media: Option<MediaTracker>,
}

impl LastMessages {
    /// No message known as last (nor counted).
    fn none() -> LastMessages {
        LastMessages {
            bits: Vec::new(),
            firsts: Vec::new(),
            sizes: Vec::new(),
            count: 0,
            replay: None,
        }
    }

    /// First pass over `inputs`: frames and decodes every message, notes its Call-ID's hash.
    /// Memory: one entry per distinct Call-ID, then two bits per message and a byte per
    /// Call-ID. Every message located is also written down in a temporary file (about 50
    /// bytes a message whose bytes lie in the capture), which the second pass
    /// ([`stream_exact_after`], [`stream_linked_after`]) reads back instead of decoding the
    /// capture again.
    pub fn find(inputs: &[crate::capture::Input]) -> LastMessages {
        let never = |_: Option<&MediaTracker>| false;
        match LastMessages::scan(ingest::Ingest::new(), inputs, &never, true) {
            Some((lasts, _)) => lasts,
            // Never stopped, so never here; with no message known as last, every call is
            // handed over at the end of input, still grouped right.
            None => LastMessages::none(),
        }
    }

    /// [`LastMessages::find`], noting also the endpoints that may carry media, so that a
    /// second pass with RTP analysis keeps only the SDP announcements a datagram can look up.
    /// The messages are recorded as in `find`: when no datagram could be media, a second pass
    /// with RTP analysis would find nothing, and can replay them instead.
    pub fn find_with_endpoints(
        inputs: &[crate::capture::Input],
    ) -> (LastMessages, Option<MediaEndpoints>) {
        let never = |_: Option<&MediaTracker>| false;
        let ing = ingest::Ingest::new().with_media_endpoints();
        match LastMessages::scan(ing, inputs, &never, true) {
            Some((lasts, (_, _, endpoints))) => (lasts, endpoints),
            // Never stopped, so never here (see `find`).
            None => (LastMessages::none(), None),
        }
    }

    /// [`LastMessages::find`] with `tracker` (when given) shown every datagram that is not
    /// SIP, as in a pass with RTP analysis; `stop` looks at it after every frame and at the
    /// end, and ends the pass early with `None` (e.g. a [`MediaTracker::watcher`] that saw
    /// RTP). Which messages come out, and in what order, does not depend on the tracker, so
    /// they are recorded for the second pass as in `find` (with the books as a pass without
    /// a tracker keeps them: [`Books::without_media_labels`]).
    pub fn find_with_media(
        inputs: &[crate::capture::Input],
        tracker: Option<MediaTracker>,
        stop: &(dyn Fn(Option<&MediaTracker>) -> bool + Sync),
    ) -> Option<FirstPass> {
        let ing = match tracker {
            Some(t) => ingest::Ingest::new().with_media_tracker(t),
            None => ingest::Ingest::new(),
        };
        let (lasts, (books, media, _)) = LastMessages::scan(ing, inputs, stop, true)?;
        Some(FirstPass {
            lasts,
            books,
            media,
        })
    }

    /// The pass itself, through the pipeline `ing` the caller set up; with `record`, the
    /// messages are written down for a second pass to replay ([`ingest::Source::Decode`]).
    fn scan(
        ing: ingest::Ingest,
        inputs: &[crate::capture::Input],
        stop: &(dyn Fn(Option<&MediaTracker>) -> bool + Sync),
        record: bool,
    ) -> Option<(LastMessages, ingest::Finished)> {
        LastMessages::scan_narrow_up_to(ing, inputs, stop, u64::from(u32::MAX), record)
    }

    /// [`LastMessages::scan`], with the table kept in `u32`s up to message `narrow_max`.
    fn scan_narrow_up_to(
        ing: ingest::Ingest,
        inputs: &[crate::capture::Input],
        stop: &(dyn Fn(Option<&MediaTracker>) -> bool + Sync),
        narrow_max: u64,
        record: bool,
    ) -> Option<(LastMessages, ingest::Finished)> {
        let mut seen = Seen::new();
        let mut firsts: Vec<u64> = Vec::new();
        let mut sizes: Vec<u8> = Vec::new();
        let mut seq = 0u64;
        // Framing and the Call-ID scan run on the helper thread (nothing of the message
        // crosses but its Call-ID's hash); this thread only keeps the table. The scan stops
        // at the Call-ID header and returns what a full parse would, for a fraction of its
        // cost.
        let hash_of = |m: sip::Located<'_>| raw_call_id_hash(sip::scan::call_id(m.data)?);
        let source = ingest::Source::Decode { ing, record };
        let mut note = |h: ingest::Moving<'_, Option<u64>>, _: &mut Vec<()>| {
            let h = *h;
            if seq % 64 == 0 {
                firsts.push(0);
            }
            if let Some(h) = h {
                let (rank, new) = seen.note(h, seq, narrow_max);
                if new {
                    set_bit(&mut firsts, seq);
                    sizes.push(1);
                } else if let Some(n) = usize::try_from(rank).ok().and_then(|r| sizes.get_mut(r)) {
                    *n = n.saturating_add(1);
                }
            }
            seq = seq.wrapping_add(1);
        };
        let (finished, replay) =
            ingest::run_parallel_from(source, inputs, stop, &hash_of, &mut note, false);
        let finished = finished?;
        // A recording that does not hold every message is of no use.
        let replay = replay.filter(|r| r.messages() == seq);
        let words = usize::try_from(seq.div_ceil(64)).unwrap_or(0);
        let mut bits = vec![0u64; words];
        for n in seen.lasts() {
            set_bit(&mut bits, n);
        }
        firsts.truncate(words);
        Some((
            LastMessages {
                bits,
                firsts,
                sizes,
                count: seq,
                replay,
            },
            finished,
        ))
    }

    /// How many messages the pass saw (the second pass sees the same).
    pub fn messages(&self) -> u64 {
        self.count
    }

    /// Whether message number `seq` (0-based, in ingest order) is its Call-ID's last one.
    pub fn is_last(&self, seq: u64) -> bool {
        bit(&self.bits, seq)
    }

    /// The count of messages of each Call-ID, told at its first message.
    pub fn counts(&self) -> MessageCounts<'_> {
        MessageCounts {
            lasts: self,
            next: 0,
        }
    }
}

/// A call whose last message has not come yet.
struct Gathering {
    msgs: Vec<Msg>,
    /// Position of its first message, and the earliest capture time among its messages.
    first: u64,
    start: i64,
    /// Its INVITEs filed in [`ExactGrouper::open_invites`]: where and when (an initial
    /// INVITE files two places, kept in place).
    invites: smallvec::SmallVec<[(Place, i64); 2]>,
}

impl Gathering {
    /// Whether this is the call of `call_id` (its first message holds the Call-ID).
    fn is(&self, call_id: &str) -> bool {
        self.msgs.first().is_some_and(|m| m.call_id == call_id)
    }
}

/// An address and a called number (the last digits), where the cross-call B2BUA rule pairs
/// INVITEs.
pub type Place = (std::net::IpAddr, Number);

/// A called number's last digits ([`crate::dialog::number_tail`]: eight at most), held
/// inline: a place is made, copied and looked up without an allocation.
pub type Number = crate::dialog::Text;

/// Where an initial INVITE (no To tag) to a called number may be counted by the cross-call
/// B2BUA rule once its call is analysed: at its sender's address or its receiver's (which
/// hop ends it is only known then, so both).
fn invite_places(m: &Msg) -> Option<[Place; 2]> {
    let invite = matches!(&m.start, crate::dialog::Start::Request { method, .. }
        if method.eq_ignore_ascii_case("INVITE"));
    if !invite || m.to.tag.is_some() {
        return None;
    }
    let number = crate::dialog::number_tail(&m.to.user)?;
    Some([(m.flow.src.ip, number.clone()), (m.flow.dst.ip, number)])
}

/// Groups messages by Call-ID exactly as [`Grouper`] does, handing each call over as soon as
/// its last message (known from a first pass, [`LastMessages`]) is in. Messages must come in
/// the order of that pass, numbered from 0.
pub struct ExactGrouper {
    /// Open calls by their Call-ID's hash: no copy of the Call-ID as a key. A call whose hash
    /// an open call with another Call-ID holds already is filed in `clashes` instead.
    open: HashMap<u64, Gathering, foldhash::fast::RandomState>,
    clashes: HashMap<String, Gathering, foldhash::fast::RandomState>,
    /// Hashes the Call-IDs for `open`.
    ids: foldhash::fast::RandomState,
    /// Tests: every Call-ID gets the same hash.
    #[cfg(test)]
    collide: bool,
    /// (start, first message) of the open calls.
    starts: BTreeSet<(i64, u64)>,
    /// Per place, (capture time, first message of the call) of every initial INVITE of the
    /// open calls that the B2BUA rule may count there ([`invite_places`]).
    /// A place usually holds one or two ([`times::Stamps`]).
    open_invites: HashMap<Place, times::Stamps, foldhash::fast::RandomState>,
    /// Latest capture time seen.
    now: i64,
    overrides: Vec<RoleOverride>,
}

impl ExactGrouper {
    pub fn new(overrides: Vec<RoleOverride>) -> ExactGrouper {
        ExactGrouper {
            open: HashMap::default(),
            clashes: HashMap::default(),
            ids: foldhash::fast::RandomState::default(),
            #[cfg(test)]
            collide: false,
            starts: BTreeSet::new(),
            open_invites: HashMap::default(),
            now: i64::MIN,
            overrides,
        }
    }

    /// Every call handed over later starts at or after this time, up to the reordering of
    /// messages completed late (TCP reassembly, IP fragments).
    pub fn horizon(&self) -> i64 {
        match self.starts.first() {
            Some(&(t, _)) => t.min(self.now),
            None => self.now,
        }
    }

    /// Latest capture time seen.
    pub fn now(&self) -> i64 {
        self.now
    }

    /// An open call (its first message's number) with an initial INVITE at `place` captured
    /// between `lo` and `hi` (inclusive), if there is one.
    pub fn open_invite_at(&self, place: &Place, lo: i64, hi: i64) -> Option<u64> {
        if lo > hi {
            return None;
        }
        self.open_invites
            .get(place)?
            .first_between(lo, hi)
            .map(|(_, first)| first)
    }

    /// Capture time of the earliest initial INVITE at `place` among the open calls.
    pub fn first_open_invite_at(&self, place: &Place) -> Option<i64> {
        self.open_invites.get(place)?.first().map(|(t, _)| t)
    }

    /// Adds message number `seq`; returns its call when it was the call's last message.
    pub fn push(&mut self, m: Msg, seq: u64, last: bool) -> Option<(Call, CallKey)> {
        self.push_counted(m, seq, last, None)
    }

    /// [`ExactGrouper::push`], with the number of messages of the call when `m` is its first
    /// ([`MessageCounts`]): its list is made that size at once, rather than grown.
    pub fn push_counted(
        &mut self,
        m: Msg,
        seq: u64,
        last: bool,
        count: Option<usize>,
    ) -> Option<(Call, CallKey)> {
        ingest::moving::one(m, |m| self.push_moving(m, seq, last, count))
    }

    /// [`ExactGrouper::push_counted`] with the message lent where it lies: it is read there,
    /// and copied once, into its call's list.
    pub fn push_moving(
        &mut self,
        m: ingest::Moving<'_, Msg>,
        seq: u64,
        last: bool,
        count: Option<usize>,
    ) -> Option<(Call, CallKey)> {
        let ts = m.frame.ts_ns;
        self.now = self.now.max(ts);
        if m.call_id.is_empty() {
            // A message without a Call-ID is a call of its own.
            let mut msgs = Vec::with_capacity(1);
            m.push_into(&mut msgs);
            let call = analyze_call(msgs, &self.overrides);
            let key = (call.summary.start_ns, seq);
            return Some((call, key));
        }
        if last {
            // The call is complete: its gathering comes out in one look-up, and a call of one
            // message is never filed at all.
            let (mut msgs, first) = match self.take_open(m.call_id.as_str()) {
                Some(g) => {
                    self.starts.remove(&(g.start, g.first));
                    for (place, t) in &g.invites {
                        if let Some(at) = self.open_invites.get_mut(place) {
                            at.remove(&(*t, g.first));
                            if at.is_empty() {
                                self.open_invites.remove(place);
                            }
                        }
                    }
                    (g.msgs, g.first)
                }
                None => (Vec::with_capacity(1), seq),
            };
            m.push_into(&mut msgs);
            let call = analyze_call(msgs, &self.overrides);
            let key = (call.summary.start_ns, first);
            return Some((call, key));
        }
        use std::collections::hash_map::Entry;
        let id = m.call_id.as_str();
        // Exactly the room the first pass counted; without a count, the list grows as the
        // call does (room for eight from the start lifted `diagnose`'s peak memory on 1 GB
        // near its cap).
        let new = || Gathering {
            msgs: Vec::with_capacity(count.unwrap_or(0)),
            first: seq,
            start: ts,
            invites: smallvec::SmallVec::new(),
        };
        // The call under its hash, among the clashes, or new (under its hash when free).
        let h = self.hash_of(id);
        let (g, fresh) = match self.open.entry(h) {
            Entry::Occupied(e) if e.get().is(id) => (e.into_mut(), false),
            Entry::Occupied(_) => match self.clashes.entry(String::from(id)) {
                Entry::Occupied(e) => (e.into_mut(), false),
                Entry::Vacant(e) => (e.insert(new()), true),
            },
            Entry::Vacant(e) => match self.clashes.get_mut(id) {
                Some(g) => (g, false),
                None => (e.insert(new()), true),
            },
        };
        if fresh {
            self.starts.insert((ts, seq));
        } else if ts < g.start {
            self.starts.remove(&(g.start, g.first));
            g.start = ts;
            self.starts.insert((ts, g.first));
        }
        if let Some(places) = invite_places(&m) {
            for place in places {
                let at = self.open_invites.entry(place.clone()).or_default();
                at.insert((ts, g.first));
                g.invites.push((place, ts));
            }
        }
        m.push_into(&mut g.msgs);
        None
    }

    /// The key of `call_id` in `open`.
    fn hash_of(&self, call_id: &str) -> u64 {
        #[cfg(test)]
        if self.collide {
            return 0;
        }
        self.ids.hash_one(call_id)
    }

    /// The open call of `call_id`, taken out.
    fn take_open(&mut self, call_id: &str) -> Option<Gathering> {
        use std::collections::hash_map::Entry;
        let h = self.hash_of(call_id);
        match self.open.entry(h) {
            Entry::Occupied(e) if e.get().is(call_id) => Some(e.remove()),
            _ if self.clashes.is_empty() => None,
            _ => self.clashes.remove(call_id),
        }
    }

    /// End of input: every call still open (Call-IDs that shared a hash), in list order.
    pub fn finish(self) -> Vec<(Call, CallKey)> {
        let overrides = self.overrides;
        let mut calls: Vec<(Call, CallKey)> = self
            .open
            .into_values()
            .chain(self.clashes.into_values())
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
/// (TCP reassembly, IP fragments: allow a minute). Memory holds the calls in progress, two
/// bits per message and a byte per Call-ID. Decoding and framing run on a helper thread in
/// the first pass, which records every message in a temporary file; the second pass replays
/// that recording on the helper thread instead of decoding again, reading each message's
/// bytes in the inputs (standard input is held in memory, so it can be).
pub fn stream_exact(
    sel: &Selection,
    detail: Detail,
    err: &mut dyn Write,
    on_call: &mut dyn FnMut(&Call, CallKey, i64) -> std::io::Result<()>,
) -> Result<Books, Error> {
    let inputs = crate::open_inputs(&sel.files, err)?;
    stream_exact_inputs(&inputs, sel, detail, false, err, on_call).map(|(books, _)| books)
}

/// [`stream_exact`] over inputs already open (the interactive view keeps them to fetch
/// frames again), with RTP/RTCP analysis in the second pass when `media` is set (the tracker
/// comes back at the end; such a second pass decodes the capture again, as the tracker must
/// see every datagram). When the first pass saw no datagram a tracker would look at past
/// its first test (SIP only, say), the second pass replays the recording without one: the
/// tracker would have come back empty, and `None` says the same. `sel.files` is not looked
/// at.
pub fn stream_exact_inputs(
    inputs: &[crate::capture::Input],
    sel: &Selection,
    detail: Detail,
    media: bool,
    err: &mut dyn Write,
    on_call: &mut dyn FnMut(&Call, CallKey, i64) -> std::io::Result<()>,
) -> Result<(Books, Option<MediaTracker>), Error> {
    let (lasts, endpoints) = if media {
        LastMessages::find_with_endpoints(inputs)
    } else {
        (LastMessages::find(inputs), None)
    };
    let ing = match (media, endpoints) {
        (true, Some(found)) if found.is_empty() => ingest::Ingest::new(),
        (true, Some(found)) => ingest::Ingest::new()
            .with_media_tracker(MediaTracker::new().announcements_for(std::sync::Arc::new(found))),
        (true, None) => ingest::Ingest::new().with_media(),
        (false, _) => ingest::Ingest::new(),
    };
    second_pass(
        inputs,
        sel,
        detail,
        &lasts,
        ing,
        false,
        err,
        &mut |c, k, st, bin| lend(c, k, st, bin, on_call),
    )
}

/// What a first pass found of a capture's media: every RTP stream, and the time of the
/// capture's last frame (to judge calls still up when it ended).
pub struct KnownMedia {
    pub streams: Vec<StreamReport>,
    pub end_ns: Option<i64>,
}

/// The first pass of the exact streaming commands that judge media (`diagnose`, the ndjson
/// export): each Call-ID's last message and, when the capture holds RTP, every stream of it
/// (`None`: no RTP). A watcher bets on no RTP (no SDP kept, a header check per datagram);
/// when it sees some, the pass is made again with the full tracker. Inputs are read once or
/// twice (standard input is held in memory, so it can be). The pass that runs to the end
/// records its messages, for the second pass to replay.
pub fn first_pass_with_media(
    inputs: &[crate::capture::Input],
) -> (LastMessages, Option<KnownMedia>) {
    let saw_rtp = |t: Option<&MediaTracker>| t.is_some_and(MediaTracker::saw_rtp);
    if let Some(pass) =
        LastMessages::find_with_media(inputs, Some(MediaTracker::watcher()), &saw_rtp)
    {
        return (pass.lasts, None);
    }
    let never = |_: Option<&MediaTracker>| false;
    match LastMessages::find_with_media(inputs, Some(MediaTracker::new()), &never) {
        Some(pass) => {
            let end_ns = pass.books.inputs.iter().filter_map(|i| i.last_ts_ns).max();
            let streams = pass.media.map(|m| m.streams()).unwrap_or_default();
            (pass.lasts, Some(KnownMedia { streams, end_ns }))
        }
        // Never stopped, so never here: grouping still exact (calls end with the input).
        None => (LastMessages::find(inputs), None),
    }
}

/// The second pass of [`stream_exact`] with the first pass's `lasts` given: each call (the
/// filter NOT applied) is handed to `on_call` with its [`CallKey`] and horizon as soon as its
/// last message is in. When `on_call` fails (the output was closed), reading stops at once.
/// The messages come from the recording in `lasts` when there is one (no decoding), else
/// from decoding the inputs again.
pub fn stream_exact_after(
    inputs: &[crate::capture::Input],
    sel: &Selection,
    detail: Detail,
    lasts: &LastMessages,
    err: &mut dyn Write,
    on_call: &mut dyn FnMut(&Call, CallKey, i64) -> std::io::Result<()>,
) -> Result<Books, Error> {
    let ing = ingest::Ingest::new();
    second_pass(
        inputs,
        sel,
        detail,
        lasts,
        ing,
        false,
        err,
        &mut |c, k, st, bin| lend(c, k, st, bin, on_call),
    )
    .map(|(books, _)| books)
}

/// How much later in capture time a message may be handed over than messages already seen:
/// a message goes out when its last byte arrives (TCP segments held for reassembly, IP
/// fragments), so arrival order is not quite start order. The allowance every streaming
/// command makes before it takes a call's place in the list as known.
pub const REORDER_SLACK_NS: i64 = 64_000_000_000;

/// What [`stream_linked_after`] hands over.
pub enum Linked<'a> {
    /// A call complete with its links, and its place in the list. Lent: its messages go back
    /// to the thread that built them, to be freed there.
    Call(&'a Call, CallKey),
    /// Every call handed over from now on starts at or after this time (the reordering
    /// allowance [`REORDER_SLACK_NS`] made): said after each batch of calls, so that a caller
    /// numbering calls knows which ones it may number.
    Settled(i64),
}

/// [`stream_exact_after`] with the links the whole-file B2BUA rule makes between calls
/// ([`crate::dialog::correlate_b2bua`]: related Call-IDs, hosts made B2BUAs): each call is
/// handed to `on_call` (the filter NOT applied) once no call still open or to come can pair
/// with it ([`LinkedCalls`]), so a call with an initial INVITE waits about a minute of
/// capture time (longer when a call still open sent an INVITE within seconds of its own).
pub fn stream_linked_after(
    inputs: &[crate::capture::Input],
    sel: &Selection,
    detail: Detail,
    lasts: &LastMessages,
    err: &mut dyn Write,
    on_call: &mut dyn FnMut(Linked<'_>) -> std::io::Result<()>,
) -> Result<Books, Error> {
    let mut linked = LinkedCalls::new();
    let ing = ingest::Ingest::new();
    let (books, _) = second_pass(
        inputs,
        sel,
        detail,
        lasts,
        ing,
        true,
        err,
        &mut |c, k, st, bin| {
            linked.add(c, k, st, &mut |mut call, key| {
                on_call(Linked::Call(&call, key))?;
                bin.push(std::mem::take(&mut call.messages));
                Ok(())
            })?;
            // Calls not added yet start at or after the horizon, give or take the reordering
            // allowance; those held, at or after the oldest of them (exactly).
            let held = linked.oldest_held().map_or(i64::MAX, |k| k.0);
            on_call(Linked::Settled(
                st.horizon().saturating_sub(REORDER_SLACK_NS).min(held),
            ))
        },
    )?;
    linked
        .finish(&mut |call, key| on_call(Linked::Call(&call, key)))
        .map_err(Error::Output)?;
    on_call(Linked::Settled(i64::MAX)).map_err(Error::Output)?;
    Ok(books)
}

/// Where the second pass stands when it hands a call over.
pub struct Stage<'a> {
    horizon: i64,
    /// `None` once the input has ended (the calls still open are handed over one by one).
    grouper: Option<&'a ExactGrouper>,
}

impl Stage<'_> {
    /// Every call handed over later starts at or after this time, up to the reordering of
    /// messages completed late (see [`ExactGrouper::horizon`]).
    pub fn horizon(&self) -> i64 {
        self.horizon
    }

    /// The input has ended: the calls handed over now are the last, all at once.
    pub fn at_end(&self) -> bool {
        self.grouper.is_none()
    }

    /// Latest capture time seen.
    pub fn now(&self) -> i64 {
        self.grouper.map_or(i64::MAX, ExactGrouper::now)
    }

    /// See [`ExactGrouper::open_invite_at`].
    pub fn open_invite_at(&self, place: &Place, lo: i64, hi: i64) -> Option<u64> {
        self.grouper.and_then(|g| g.open_invite_at(place, lo, hi))
    }

    /// See [`ExactGrouper::first_open_invite_at`].
    pub fn first_open_invite_at(&self, place: &Place) -> Option<i64> {
        self.grouper.and_then(|g| g.first_open_invite_at(place))
    }
}

/// The messages of calls a consumer of [`second_pass`] is done with, to be freed on the
/// thread that built them.
type Bin = Vec<Vec<Msg>>;

/// Lends `call` to `on_call`, then puts its messages in the bin: the consumers of the exact
/// streaming only read a call (to a row, an entry of the view, frames to keep), so what costs
/// most to free goes back to the helper thread, the less busy one.
fn lend(
    mut call: Call,
    key: CallKey,
    stage: &Stage<'_>,
    bin: &mut Bin,
    on_call: &mut dyn FnMut(&Call, CallKey, i64) -> std::io::Result<()>,
) -> std::io::Result<()> {
    on_call(&call, key, stage.horizon())?;
    bin.push(std::mem::take(&mut call.messages));
    Ok(())
}

/// The grouping pass of the exact streaming, through the pipeline `ing` the caller set up
/// (with or without a media tracker, which comes back at the end). Without a tracker, the
/// first pass's recording in `lasts` (when whole) is replayed instead of decoding, and its
/// books (the first pass's, the same figures) are reported. `on_call` may put the
/// messages of a call it is done with in the bin it is given, which is emptied on the helper
/// thread: with `recycle`, every message is built there too
/// ([`ingest::run_parallel_on_until_recycling`]); otherwise messages are built on either
/// thread ([`ingest::run_parallel_on_until_returning`]).
#[allow(clippy::too_many_arguments)]
fn second_pass(
    inputs: &[crate::capture::Input],
    sel: &Selection,
    detail: Detail,
    lasts: &LastMessages,
    ing: ingest::Ingest,
    recycle: bool,
    err: &mut dyn Write,
    on_call: &mut dyn FnMut(Call, CallKey, &Stage<'_>, &mut Bin) -> std::io::Result<()>,
) -> Result<(Books, Option<MediaTracker>), Error> {
    let mut grouper = ExactGrouper::new(sel.roles.clone());
    let mut failure: Option<std::io::Error> = None;
    let gone = std::sync::atomic::AtomicBool::new(false);
    let stop = |_: Option<&MediaTracker>| gone.load(std::sync::atomic::Ordering::Relaxed);
    let mut seq = 0u64;
    let mut counts = lasts.counts();
    let map = |m: sip::Located<'_>| Msg::from_borrowed(&m, detail);
    let mut consume = |m: ingest::Moving<'_, Msg>, bin: &mut Bin| {
        let done = grouper.push_moving(m, seq, lasts.is_last(seq), counts.at(seq));
        seq = seq.wrapping_add(1);
        if let (Some((call, key)), None) = (done, &failure) {
            let stage = Stage {
                horizon: grouper.horizon(),
                grouper: Some(&grouper),
            };
            if let Err(e) = on_call(call, key, &stage, bin) {
                failure = Some(e);
                gone.store(true, std::sync::atomic::Ordering::Relaxed);
            }
        }
    };
    // The first pass's recording, when it holds every message, replaces decoding (a
    // pipeline with a media tracker decodes all the same: the replay has no datagrams to
    // show one, and `ingest` falls back).
    let source = match &lasts.replay {
        Some(recording) if recording.messages() == lasts.count => {
            ingest::Source::Replay { ing, recording }
        }
        _ => ingest::Source::Decode { ing, record: false },
    };
    let (finished, _) =
        ingest::run_parallel_from(source, inputs, &stop, &map, &mut consume, recycle);
    if let Some(e) = failure {
        return Err(Error::Output(e));
    }
    // Not stopped (only a failure stops it), so the books are there.
    let (books, tracker, _) = finished.unwrap_or_default();
    let rest = grouper.finish();
    let last = rest.len();
    let horizon = rest.first().map_or(i64::MAX, |(_, k)| k.0);
    for (n, (call, key)) in rest.into_iter().enumerate() {
        // After the last call, nothing more comes.
        let horizon = if n + 1 == last { i64::MAX } else { horizon };
        let stage = Stage {
            horizon,
            grouper: None,
        };
        // The helper thread is gone: what goes in the bin is freed here.
        on_call(call, key, &stage, &mut Vec::new()).map_err(Error::Output)?;
    }
    crate::report_books(&books, err);
    if books.frames == 0 && !books.issues.is_empty() {
        return Err(Error::NothingRead);
    }
    Ok((books, tracker))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialog::testkit::{invite, reply, request};

    fn sample(name: &str, file: u16) -> crate::capture::Input {
        let path = format!("{}/samples/{name}", env!("CARGO_MANIFEST_DIR"));
        crate::capture::open(&path, file).unwrap()
    }

    /// The plain way: every message's Call-ID as the model reads it, then per Call-ID its
    /// first and last message and how many it has.
    fn reference(inputs: &[crate::capture::Input]) -> (Vec<String>, HashMap<String, [u64; 3]>) {
        let mut ids = Vec::new();
        ingest::run_located(inputs, &mut |m| {
            ids.push(Msg::from_borrowed(&m, Detail::Full).call_id.to_string())
        });
        let mut per: HashMap<String, [u64; 3]> = HashMap::new();
        for (seq, id) in ids.iter().enumerate() {
            if id.is_empty() {
                continue;
            }
            let e = per.entry(id.clone()).or_insert([seq as u64, 0, 0]);
            e[1] = seq as u64;
            e[2] += 1;
        }
        (ids, per)
    }

    /// The first pass's last messages and counts equal the plain way's, whether its table
    /// stays narrow or widens early or at once; counts saturate at 255.
    #[test]
    fn first_pass_marks_lasts_and_counts_like_the_plain_way() {
        let mut cases: Vec<Vec<crate::capture::Input>> = [
            "fork-parallel.pcap",
            "call-tcp.pcap",
            "reinvite.pcap",
            "options.pcap",
        ]
        .iter()
        .map(|n| vec![sample(n, 0)])
        .collect();
        // Forty copies merged: every Call-ID forty times over, some past 255 messages.
        cases.push((0..40).map(|i| sample("fork-parallel.pcap", i)).collect());
        let mut saturated = false;
        for inputs in &cases {
            let (ids, per) = reference(inputs);
            assert!(!ids.is_empty());
            for narrow_max in [u64::from(u32::MAX), 7, 0] {
                let never = |_: Option<&MediaTracker>| false;
                let (lasts, _) = LastMessages::scan_narrow_up_to(
                    ingest::Ingest::new(),
                    inputs,
                    &never,
                    narrow_max,
                    false,
                )
                .unwrap();
                assert_eq!(lasts.messages(), ids.len() as u64);
                let mut counts = lasts.counts();
                for (seq, id) in ids.iter().enumerate() {
                    let seq = seq as u64;
                    let want = per.get(id.as_str());
                    assert_eq!(
                        lasts.is_last(seq),
                        want.is_some_and(|e| e[1] == seq),
                        "{seq}"
                    );
                    let count = want
                        .filter(|e| e[0] == seq)
                        .map(|e| usize::try_from(e[2].min(255)).unwrap());
                    assert_eq!(counts.at(seq), count, "{seq} {narrow_max}");
                    saturated |= count == Some(255);
                }
                // Past the end, nothing.
                assert!(!lasts.is_last(ids.len() as u64 + 64));
                assert_eq!(counts.at(ids.len() as u64 + 64), None);
            }
        }
        assert!(saturated);
    }

    /// A few calls' messages, interleaved: a long one, one of a single message, one without
    /// a Call-ID, two sharing an INVITE's number.
    fn messages() -> Vec<Msg> {
        let mut out = Vec::new();
        let mut a = invite("a", 1, 2, 0, "z9hG4bK-a1", 1);
        a.to.user = "+4930123456".into();
        out.push(reply(&a, 100, 10, None));
        out.push(a.clone());
        let mut b = invite("b", 2, 3, 20, "z9hG4bK-b1", 1);
        b.to.user = "030123456".into();
        out.push(b.clone());
        out.push(reply(&a, 200, 30, Some("x")));
        out.push(reply(&b, 486, 40, Some("y")));
        let mut lone = request("OPTIONS", "lone", 4, 5, 50, "z9hG4bK-o", 1, "o", None);
        out.push(lone.clone());
        lone.call_id = Default::default();
        out.push(lone);
        for n in 0..20 {
            let r = request(
                "INFO",
                "a",
                1,
                2,
                60 + n,
                &format!("z9hG4bK-a{n}"),
                2 + n as u32,
                "t",
                Some("x"),
            );
            out.push(reply(&r, 200, 61 + n, Some("x")));
            out.push(r);
        }
        out.push(request(
            "ACK",
            "b",
            2,
            3,
            100,
            "z9hG4bK-b1",
            1,
            "t",
            Some("y"),
        ));
        out
    }

    /// Call-IDs whose hashes clash group as distinct ones: a grouper that gives every Call-ID
    /// the same hash hands over the same calls at the same messages, with the same horizons,
    /// as one with real hashes, when a clashing call outlives the one it clashed with, when a
    /// new call takes the freed hash and when calls are still open at the end.
    #[test]
    fn clashing_hashes_group_as_distinct_ones() {
        let mut msgs = messages();
        let c = request("OPTIONS", "c", 6, 7, 90, "z9hG4bK-c", 1, "c", None);
        let at = msgs.len() - 1;
        msgs.insert(at, reply(&c, 200, 91, Some("r")));
        msgs.insert(at, c);
        for k in 0..3 {
            let d = request("INFO", "d", 8, 9, 5 + k, "z9hG4bK-d", 1, "d", None);
            msgs.insert(usize::try_from(k).unwrap_or(0) * 3 + 1, d);
        }
        let mut lasts: HashMap<String, u64> = HashMap::new();
        for (seq, m) in msgs.iter().enumerate() {
            lasts.insert(m.call_id.to_string(), seq as u64);
        }
        let run = |collide: bool| {
            let mut g = ExactGrouper::new(Vec::new());
            g.collide = collide;
            let mut out = Vec::new();
            let mut horizons = Vec::new();
            let mut clashed = 0;
            for (seq, m) in msgs.iter().enumerate() {
                let seq = seq as u64;
                // "d" never ends: its last message is not known (as for Call-IDs that shared
                // a hash in the first pass).
                let last = !m.call_id.is_empty()
                    && m.call_id != "d"
                    && lasts.get(m.call_id.as_str()) == Some(&seq);
                if let Some((call, key)) = g.push(m.clone(), seq, last) {
                    out.push((seq, call, key));
                }
                horizons.push(g.horizon());
                clashed = clashed.max(g.clashes.len());
            }
            for (call, key) in g.finish() {
                out.push((u64::MAX, call, key));
            }
            (out, horizons, clashed)
        };
        let (plain, plain_horizons, none) = run(false);
        let (clashing, clashing_horizons, some) = run(true);
        assert_eq!((none, some), (0, 2));
        assert_eq!(plain.len(), 6);
        assert_eq!(plain, clashing);
        assert_eq!(plain_horizons, clashing_horizons);
        assert!(plain
            .iter()
            .any(|(seq, c, _)| *seq == u64::MAX && c.call_id == "d"));
    }

    /// Counts given or not, right or wrong, the grouper hands over the same calls at the same
    /// messages; with the right counts, every list has exactly the room it needs.
    #[test]
    fn counted_grouping_equals_plain_grouping() {
        let msgs = messages();
        let mut per: HashMap<String, [u64; 3]> = HashMap::new();
        for (seq, m) in msgs.iter().enumerate() {
            let e = per
                .entry(m.call_id.to_string())
                .or_insert([seq as u64, 0, 0]);
            e[1] = seq as u64;
            e[2] += 1;
        }
        let run = |hint: &dyn Fn(u64, u64) -> Option<usize>| {
            let mut g = ExactGrouper::new(Vec::new());
            let mut out = Vec::new();
            for (seq, m) in msgs.iter().enumerate() {
                let seq = seq as u64;
                let e = per[m.call_id.as_str()];
                let last = !m.call_id.is_empty() && e[1] == seq;
                let count = (e[0] == seq).then(|| hint(e[2], seq)).flatten();
                if let Some((call, key)) = g.push_counted(m.clone(), seq, last, count) {
                    out.push((seq, call, key));
                }
            }
            for (call, key) in g.finish() {
                out.push((u64::MAX, call, key));
            }
            out
        };
        let plain = run(&|_, _| None);
        let exact = run(&|n, _| usize::try_from(n).ok());
        let small = run(&|_, _| Some(1));
        let large = run(&|n, seq| usize::try_from(n + seq * 3 + 5).ok());
        let look = |calls: &[(u64, Call, CallKey)]| -> Vec<(u64, CallKey, String, Vec<i64>)> {
            calls
                .iter()
                .map(|(seq, c, k)| {
                    let ts = c.messages.iter().map(|m| m.frame.ts_ns).collect();
                    (*seq, *k, c.call_id.to_string(), ts)
                })
                .collect()
        };
        assert_eq!(plain.len(), 4);
        for other in [&exact, &small, &large] {
            assert_eq!(look(&plain), look(other));
        }
        for (_, c, _) in &exact {
            assert_eq!(c.messages.capacity(), c.messages.len(), "{}", c.call_id);
        }
        assert!(plain
            .iter()
            .any(|(_, c, _)| c.messages.capacity() > c.messages.len()));
    }

    #[test]
    fn raw_call_id_hash_is_the_hash_of_the_lossy_text() {
        for value in [
            &b""[..],
            b"a84b4c76e66710@pc33.atlanta.example.com",
            b"caf\xc3\xa9-1@host",
            b"bad\xff\xfe-utf8@host",
            b"bad\xfe\xff-utf8@host",
            b"\x80",
            b"tab\there",
        ] {
            let text = sip::headers::lossy(value);
            let expected = (!text.is_empty()).then(|| call_id_hash(text.as_bytes()));
            assert_eq!(raw_call_id_hash(value), expected, "{value:?}");
        }
        // Different invalid bytes read as the same text: they must hash alike.
        assert_eq!(raw_call_id_hash(b"x\xff@h"), raw_call_id_hash(b"x\xfe@h"));
    }

    /// The second pass hands over the same calls (keys, horizons, every message's frame,
    /// Call-ID and flow) and reports the same books whether it replays the first pass's
    /// recording or decodes again: after `find` and after the media first pass (a capture
    /// without RTP, one with it, several inputs merged, a message split over TCP segments).
    #[test]
    fn second_pass_replayed_equals_decoded() {
        let sel = Selection {
            files: Vec::new(),
            filter: Default::default(),
            roles: Vec::new(),
        };
        let split = {
            let path = format!("{}/samples/call-tcp.pcap", env!("CARGO_MANIFEST_DIR"));
            let bytes = std::fs::read(path).unwrap();
            vec![crate::capture::Input::from_bytes("stdin", 0, bytes).unwrap()]
        };
        let cases: Vec<Vec<crate::capture::Input>> = vec![
            vec![sample("reinvite.pcap", 0)],
            vec![sample("answered-call-rtp.pcap", 0)],
            (0..12).map(|i| sample("fork-parallel.pcap", i)).collect(),
            split,
        ];
        type Look = Vec<(
            CallKey,
            i64,
            Vec<(crate::net::FrameRef, String, crate::net::Flow)>,
        )>;
        let run = |inputs: &[crate::capture::Input], lasts: &LastMessages| -> (Look, String) {
            let mut look: Look = Vec::new();
            let mut err = Vec::new();
            let books = stream_exact_after(
                inputs,
                &sel,
                Detail::Full,
                lasts,
                &mut err,
                &mut |c, k, h| {
                    let msgs = c
                        .messages
                        .iter()
                        .map(|m| (m.frame, m.call_id.to_string(), m.flow))
                        .collect();
                    look.push((k, h, msgs));
                    Ok(())
                },
            )
            .unwrap();
            let figures = format!(
                "{} {} {:?} {:?} {:?}",
                books.frames,
                books.sip_frames,
                books.not_sip,
                books.undecoded,
                String::from_utf8_lossy(&err)
            );
            (look, figures)
        };
        for inputs in &cases {
            for lasts in [LastMessages::find(inputs), first_pass_with_media(inputs).0] {
                assert!(lasts.replay.is_some());
                let replayed = run(inputs, &lasts);
                assert!(!replayed.0.is_empty());
                let decoded = run(
                    inputs,
                    &LastMessages {
                        replay: None,
                        ..lasts
                    },
                );
                assert_eq!(replayed, decoded);
            }
        }
    }

    /// The view's passes (`stream_exact_inputs` with RTP analysis): where the first pass saw
    /// no datagram that could be media, the second replays the recording without a tracker;
    /// calls, books and streams are what decoding again with the tracker gives (the way it
    /// always was done), on captures with and without RTP.
    #[test]
    fn media_pass_replays_only_what_no_tracker_could_see() {
        let sel = Selection {
            files: Vec::new(),
            filter: Default::default(),
            roles: Vec::new(),
        };
        type Look = Vec<(CallKey, i64, Vec<(crate::net::FrameRef, String)>)>;
        fn look_of(look: &mut Look) -> impl FnMut(&Call, CallKey, i64) -> std::io::Result<()> + '_ {
            move |c, k, h| {
                let msgs = c
                    .messages
                    .iter()
                    .map(|m| (m.frame, format!("{:?}", m)))
                    .collect();
                look.push((k, h, msgs));
                Ok(())
            }
        }
        let figures = |books: &Books, err: &[u8], streams: Vec<crate::media::StreamReport>| {
            format!(
                "{} {} {:?} {:?} {:?} {:?}",
                books.frames,
                books.sip_frames,
                books.not_sip,
                books.undecoded,
                String::from_utf8_lossy(err),
                streams
            )
        };
        let mut replayed_some = false;
        let mut decoded_some = false;
        for name in [
            "reinvite.pcap",
            "call-tcp.pcap",
            "answered-call-rtp.pcap",
            "one-way-rtp.pcap",
            "nat-sdp.pcap",
        ] {
            let inputs = vec![sample(name, 0)];
            // The new way.
            let mut look: Look = Vec::new();
            let mut err = Vec::new();
            let (books, tracker) =
                stream_exact_inputs(&inputs, &sel, Detail::Full, true, &mut err, &mut {
                    look_of(&mut look)
                })
                .unwrap();
            assert!(!look.is_empty(), "{name}");
            let new = figures(
                &books,
                &err,
                tracker.map(|t| t.streams()).unwrap_or_default(),
            );
            // The old way: no recording, the tracker always, decoding again.
            let (lasts, found) = LastMessages::find_with_endpoints(&inputs);
            let found = found.unwrap();
            assert!(lasts.replay.is_some(), "{name}");
            if found.is_empty() {
                replayed_some = true;
            } else {
                decoded_some = true;
            }
            let lasts = LastMessages {
                replay: None,
                ..lasts
            };
            let ing = ingest::Ingest::new().with_media_tracker(
                MediaTracker::new().announcements_for(std::sync::Arc::new(found)),
            );
            let mut old_look: Look = Vec::new();
            let mut old_err = Vec::new();
            let mut on_call = look_of(&mut old_look);
            let (old_books, old_tracker) = second_pass(
                &inputs,
                &sel,
                Detail::Full,
                &lasts,
                ing,
                false,
                &mut old_err,
                &mut |c, k, st, bin| lend(c, k, st, bin, &mut on_call),
            )
            .unwrap();
            drop(on_call);
            let old = figures(
                &old_books,
                &old_err,
                old_tracker.map(|t| t.streams()).unwrap_or_default(),
            );
            assert_eq!(look, old_look, "{name}");
            assert_eq!(new, old, "{name}");
        }
        assert!(replayed_some && decoded_some);
    }
}
