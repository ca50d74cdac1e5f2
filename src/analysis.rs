//! From inputs to calls: every located SIP message becomes a [`Msg`], messages are grouped into
//! [`Call`]s (all at once, or streamed as calls end), and the selection's filter picks calls.
//! Shared by every command that works on calls.

use std::io::Write;

use crate::cli::Selection;
use crate::dialog::{Call, CallTracker, Grouper, Msg, TrackerConfig};
use crate::error::Error;
use crate::ingest::{self, Books};
use crate::media::MediaTracker;

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
        &|m| Msg::from_message(m, keep_raw),
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
        &|m| Msg::from_message(m, keep_raw),
        &mut |m| {
            let done = tracker.push(m);
            // The calls handed back together are no longer open: the horizon given with each
            // must also stay at or before the start of the ones still to be handed over.
            let mut horizon = tracker.horizon();
            for c in &done {
                horizon = horizon.min(c.summary.start_ns);
            }
            for c in done {
                if failure.is_none() {
                    if let Err(e) = on_call(c, horizon) {
                        failure = Some(e);
                    }
                }
            }
        },
    );
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
    Ok(books)
}
