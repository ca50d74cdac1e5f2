//! From inputs to calls: every located SIP message becomes a [`Msg`], messages are grouped into
//! [`Call`]s (all at once, or streamed as calls end), and the selection's filter picks calls.
//! Shared by every command that works on calls.

use std::io::Write;

use crate::cli::Selection;
use crate::dialog::{self, Call, CallTracker, Msg, TrackerConfig};
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

/// Reads every input and builds all calls. `keep_raw` keeps each message's text.
pub fn load(sel: &Selection, keep_raw: bool, err: &mut dyn Write) -> Result<Loaded, Error> {
    let inputs = crate::open_inputs(&sel.files, err)?;
    let mut msgs = Vec::new();
    let (books, media) =
        ingest::run_with_media(&inputs, &mut |m| msgs.push(Msg::from_located(&m, keep_raw)));
    crate::report_books(&books, err);
    if books.frames == 0 && !books.issues.is_empty() {
        return Err(Error::NothingRead);
    }
    let calls = dialog::analyze_all(msgs, &sel.roles);
    Ok(Loaded {
        books,
        calls,
        media,
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
        let done = tracker.push(Msg::from_located(&m, keep_raw));
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
