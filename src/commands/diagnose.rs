//! `sipscope diagnose`: for every selected call, what happened, where and why (with what its
//! RTP says), then the file summary; as text or `{"calls": [...], "summary": {...}}`.
//!
//! Media: each call's diagnosis judges the RTP streams of the whole capture, which are only
//! all known at its end. Most captures of this size hold signalling only, so one pass is made
//! with the media tracker watching, betting that it finds no stream: then every call was
//! rightly diagnosed without media. The moment it finds one, that pass is dropped and two are
//! made instead: one collecting the streams (memory grows with the number of streams, not
//! packets), one diagnosing the calls with them. Standard input is diagnosed without media.
//!
//! Streams with bounded memory: each call is diagnosed and rendered as soon as it ends, then
//! held (as rendered bytes and what the summary needs of it) only until every call that
//! started before it is known, so it gets the same number as in `sipscope calls` and comes
//! out in the same order as a whole-file run. Both text sections and the JSON array go to
//! unlinked temporary files, copied out at the end (a dropped pass leaves nothing behind).
//!
//! Two threads: a helper reads, decodes and builds messages (and runs the media tracker);
//! this one groups calls, diagnoses and renders them. The grouping is that of
//! [`analysis::stream_ordered`] (same tracker settings, same horizon), done here because that
//! one cannot stop a pass half-way.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, Write};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

use super::export::Release;
use crate::analysis;
use crate::capture::{Input, Merged};
use crate::cli::Selection;
use crate::diagnose::{self, CaptureStreams, Diagnosis, MediaView, Summary, SummaryEntry};
use crate::dialog::{Call, CallTracker, Msg, TrackerConfig};
use crate::error::Error;
use crate::ingest::{Books, Ingest};
use crate::media::{MediaTracker, StreamReport};
use crate::output::diagnose as render;
use crate::output::escape::write_json;

/// A call's place in the whole-file list: start time, then order of first appearance (the
/// first message's frame), then arrival (unique).
type Key = (i64, u16, u64, u64);

/// An ended call waiting for older calls. `None` when the filter drops it (it still takes
/// a number).
struct Held {
    /// What the summary counts of it.
    entry: SummaryEntry,
    /// Rendered block (text) or object (JSON) after its call number.
    body: Body,
}

/// A rendered call while it waits: in memory, or (past [`HOLD_BUDGET`]) in the spill file.
enum Body {
    Mem(Vec<u8>),
    Spilled { at: u64, len: usize },
}

/// Bytes of rendered calls held in memory at most; the rest wait in a temporary file. One
/// call that stays open (an answered call never hung up) holds back every later call for up
/// to the ordered idle timeout, an hour: on a busy capture that is most of its calls.
const HOLD_BUDGET: usize = 16 << 20;

/// How much later in capture time a call may still show up with an earlier start than calls
/// already ended: a message is handed over when its last byte arrives (TCP segments held for
/// reassembly, IP fragments), so arrival order is not quite start order. Calls are held this
/// much longer than the tracker's horizon says, at a small cost in memory (rendered text of
/// about a minute of calls).
const REORDER_SLACK_NS: i64 = 64_000_000_000;

/// Prefix of a rendered text block with call number 0: flag, space, `#0`.
const TEXT_PREFIX: usize = 5;
/// Prefix of a rendered JSON object with index 0: `{"index":0`.
const JSON_PREFIX: &[u8] = b"{\"index\":0";

/// Messages per batch handed from the reading thread to the diagnosing one: large enough
/// that the channel costs nothing per message, small enough to keep little in flight.
const BATCH: usize = 256;
/// Batches in flight at most; the reader waits when the diagnosing thread lags.
const BATCHES_IN_FLIGHT: usize = 8;
/// Batches of freed messages in flight back to the reader.
const TRASH_IN_FLIGHT: usize = 4;

/// What a pass knows of the capture's media.
enum Media {
    /// Nothing (standard input).
    Off,
    /// The media tracker watches the pass: its result holds only if it finds no stream.
    Bet,
    /// Every stream of the capture and the time of its last frame, from a first pass.
    Known {
        streams: Vec<StreamReport>,
        end: Option<i64>,
    },
}

/// The RTP streams of the whole capture and the time of its last frame.
fn media_pass(inputs: &[Input]) -> (Vec<StreamReport>, Option<i64>) {
    let (books, media) = crate::ingest::run_with_media(inputs, &mut |_| {});
    let end = books.inputs.iter().filter_map(|i| i.last_ts_ns).max();
    (media.streams(), end)
}

/// A temporary file that is gone from the directory as soon as it is open.
fn spool() -> io::Result<BufWriter<File>> {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path =
        std::env::temp_dir().join(format!("sipscope-diagnose-{}-{n}.tmp", std::process::id()));
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)?;
    let _ = std::fs::remove_file(&path);
    Ok(BufWriter::with_capacity(1 << 16, f))
}

/// Copies a spool's content to `out`.
fn unspool(spool: BufWriter<File>, out: &mut dyn Write) -> io::Result<()> {
    let mut f = spool.into_inner().map_err(|e| e.into_error())?;
    f.rewind()?;
    io::copy(&mut f, out)?;
    Ok(())
}

/// Where numbered calls go: spools, with their counts.
struct Sink {
    json: bool,
    /// JSON: the objects of the `calls` array.
    objects: Option<(BufWriter<File>, u64)>,
    /// Text: failed and other calls.
    failed: Option<(BufWriter<File>, u64)>,
    others: Option<(BufWriter<File>, u64)>,
    /// Calls numbered so far (selected or not).
    index: usize,
    summary: Summary,
    /// Capacity of the bodies held in memory, and its limit.
    held_bytes: usize,
    budget: usize,
    /// Bodies past the budget, and the length of the file.
    spill: Option<(File, u64)>,
    /// Room to read a spilled body back into.
    scratch: Vec<u8>,
}

impl Sink {
    fn new(json: bool) -> Sink {
        Sink {
            json,
            objects: None,
            failed: None,
            others: None,
            index: 0,
            summary: Summary::new(),
            held_bytes: 0,
            budget: HOLD_BUDGET,
            spill: None,
            scratch: Vec::new(),
        }
    }

    /// Keeps a rendered call until its turn: in memory within the budget, else in the
    /// spill file.
    fn hold(&mut self, body: Vec<u8>) -> io::Result<Body> {
        if self.held_bytes.saturating_add(body.capacity()) <= self.budget {
            self.held_bytes += body.capacity();
            return Ok(Body::Mem(body));
        }
        if self.spill.is_none() {
            let f = spool()?.into_inner().map_err(|e| e.into_error())?;
            self.spill = Some((f, 0));
        }
        let Some((f, end)) = &mut self.spill else {
            return Err(io::Error::other("no spill file"));
        };
        let at = *end;
        f.seek(io::SeekFrom::Start(at))?;
        f.write_all(&body)?;
        *end = at.saturating_add(body.len() as u64);
        Ok(Body::Spilled {
            at,
            len: body.len(),
        })
    }

    fn write(&mut self, held: Option<Held>) -> io::Result<()> {
        self.index += 1;
        let Some(h) = held else { return Ok(()) };
        let body = match h.body {
            Body::Mem(v) => {
                self.held_bytes = self.held_bytes.saturating_sub(v.capacity());
                v
            }
            Body::Spilled { at, len } => {
                let Some((f, _)) = &mut self.spill else {
                    return Err(io::Error::other("spilled call without a spill file"));
                };
                let mut buf = std::mem::take(&mut self.scratch);
                buf.resize(len, 0);
                f.seek(io::SeekFrom::Start(at))?;
                f.read_exact(&mut buf)?;
                buf
            }
        };
        let failed = h.entry.failed();
        self.summary.add_entry(h.entry);
        let slot = if self.json {
            &mut self.objects
        } else if failed {
            &mut self.failed
        } else {
            &mut self.others
        };
        if slot.is_none() {
            *slot = Some((spool()?, 0));
        }
        if let Some((w, n)) = slot {
            if self.json {
                if *n > 0 {
                    w.write_all(b",")?;
                }
                write!(w, "{{\"index\":{}", self.index)?;
            } else {
                let flag = if failed { "!!" } else { "  " };
                write!(w, "{flag} #{}", self.index)?;
            }
            w.write_all(&body)?;
            *n += 1;
        }
        // Kept for the next spilled body (one body at most, rendered calls are small).
        self.scratch = body;
        Ok(())
    }
}

/// Renders one call without its number (the number is only known once older calls ended).
fn render_body(json: bool, call: &Call, d: &Diagnosis) -> io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(512);
    if json {
        write_json(&mut buf, &render::CallDiagnosisJson::new(0, call, d))?;
        buf.pop(); // the newline after the object
        if !buf.starts_with(JSON_PREFIX) {
            return Err(io::Error::other(
                "diagnosis object does not start with its index",
            ));
        }
        buf.drain(..JSON_PREFIX.len());
    } else {
        render::write_call(&mut buf, 0, call, d)?;
        if buf.get(2..TEXT_PREFIX) != Some(b" #0") {
            return Err(io::Error::other(
                "diagnosis block does not start with its number",
            ));
        }
        buf.drain(..TEXT_PREFIX);
    }
    Ok(buf)
}

/// The reading side of a pass: every frame through the pipeline, messages in batches to
/// `tx`. `None` when betting on no media and the media tracker found a stream (the pass
/// stops there).
///
/// Messages come back through `trash` once their call is diagnosed, to be freed here: the
/// allocator frees fastest on the thread that allocated, and this side has time to spare.
fn read(
    inputs: &[Input],
    media: &Media,
    tx: SyncSender<Vec<Msg>>,
    trash: Receiver<Vec<Vec<Msg>>>,
) -> Option<Books> {
    let bet = matches!(media, Media::Bet);
    let mut ing = if bet {
        Ingest::new().with_media_tracker(MediaTracker::watcher())
    } else {
        Ingest::new()
    };
    ing.add_inputs(inputs);
    let found = |ing: &Ingest| bet && ing.media().is_some_and(MediaTracker::saw_rtp);
    let mut release = Release::new(inputs);
    let gone = Cell::new(false);
    let mut batch = Vec::with_capacity(BATCH);
    let mut emit = |m: crate::sip::SipMessage| {
        if gone.get() {
            return;
        }
        batch.push(Msg::from_message(m, false));
        if batch.len() >= BATCH {
            let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
            gone.set(tx.send(full).is_err());
            while let Ok(done) = trash.try_recv() {
                drop(done);
            }
        }
    };
    for item in Merged::new(inputs.iter().map(|i| i.frames()).collect()) {
        match item {
            Ok(frame) => {
                ing.push_frame(&frame, &mut emit);
                release.after(inputs, &frame);
                if found(&ing) {
                    return None;
                }
            }
            Err(issue) => ing.issue(issue),
        }
    }
    let (books, tracker) = ing.finish_all(&mut emit);
    if bet && tracker.as_ref().is_some_and(MediaTracker::saw_rtp) {
        return None;
    }
    if !batch.is_empty() && !gone.get() {
        let _ = tx.send(batch);
    }
    Some(books)
}

/// One pass over `inputs`: every call diagnosed, numbered and rendered into the sink.
/// `Ok(None)` when the bet on no media was lost.
fn pass(
    sel: &Selection,
    inputs: &[Input],
    json: bool,
    media: &Media,
    err: &mut dyn Write,
) -> Result<Option<Sink>, Error> {
    let mut sink = Sink::new(json);
    // Indexed once: each call then looks only at the streams near it.
    let capture = match media {
        Media::Known { streams, .. } => CaptureStreams::new(streams),
        Media::Off | Media::Bet => CaptureStreams::default(),
    };
    let mut pending: BTreeMap<Key, Option<Held>> = BTreeMap::new();
    let mut arrival = 0u64;
    // Messages of diagnosed calls, on their way back to the reading thread.
    let trash: RefCell<Vec<Vec<Msg>>> = RefCell::new(Vec::new());
    let mut on_call = |mut call: Call, horizon: i64| -> io::Result<()> {
        arrival = arrival.wrapping_add(1);
        let first = call.messages.first().map(|m| m.frame);
        let key = (
            call.summary.start_ns,
            first.map_or(0, |f| f.file),
            first.map_or(0, |f| f.number),
            arrival,
        );
        let held = if sel.filter.matches(&call) {
            let d = match media {
                Media::Known { end, .. } => {
                    let mine = capture.of_call(&call);
                    diagnose::diagnose_with_media(
                        &call,
                        &MediaView {
                            streams: &mine,
                            capture: &capture,
                            capture_end_ns: *end,
                        },
                    )
                }
                // Without media, or betting the capture has none: judged with no stream.
                Media::Off | Media::Bet => diagnose::diagnose_with_media(
                    &call,
                    &MediaView {
                        streams: &[],
                        capture: &capture,
                        capture_end_ns: None,
                    },
                ),
            };
            let body = render_body(json, &call, &d)?;
            Some(Held {
                body: sink.hold(body)?,
                entry: SummaryEntry::of(&call, &d),
            })
        } else {
            None
        };
        trash.borrow_mut().push(std::mem::take(&mut call.messages));
        pending.insert(key, held);
        while let Some(entry) = pending.first_entry() {
            if entry.key().0 >= horizon.saturating_sub(REORDER_SLACK_NS) {
                break;
            }
            sink.write(entry.remove())?;
        }
        Ok(())
    };
    let cfg = TrackerConfig {
        idle_timeout_ns: analysis::ORDERED_IDLE_TIMEOUT_NS,
        ..TrackerConfig::default()
    };
    let mut tracker = CallTracker::new(cfg, sel.roles.clone());
    let mut failure: Option<io::Error> = None;
    let books = std::thread::scope(|scope| {
        let (tx, rx) = sync_channel::<Vec<Msg>>(BATCHES_IN_FLIGHT);
        let (trash_tx, trash_rx) = sync_channel::<Vec<Vec<Msg>>>(TRASH_IN_FLIGHT);
        let reader = scope.spawn(move || read(inputs, media, tx, trash_rx));
        for batch in rx {
            for m in batch {
                let done = tracker.push(m);
                analysis::hand_over(&tracker, done, &mut failure, &mut on_call);
            }
            // Full (the reader is busy) or gone: these are freed here.
            let _ = trash_tx.try_send(trash.take());
        }
        drop(trash_tx);
        match reader.join() {
            Ok(books) => books,
            // The reader can only fail by a bug that panicked: re-raise it here.
            Err(p) => std::panic::resume_unwind(p),
        }
    });
    let Some(books) = books else {
        return Ok(None);
    };
    analysis::hand_over_rest(tracker, &mut failure, &mut on_call);
    crate::report_books(&books, err);
    if let Some(e) = failure {
        return Err(Error::Output(e));
    }
    if books.frames == 0 && !books.issues.is_empty() {
        return Err(Error::NothingRead);
    }
    while let Some((_, held)) = pending.pop_first() {
        sink.write(held)?;
    }
    Ok(Some(sink))
}

pub fn run(
    sel: &Selection,
    json: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), Error> {
    let stdin = sel.files.iter().any(|f| f == "-");
    if stdin {
        let _ = writeln!(
            err,
            "sipscope: note: standard input is read once: calls are diagnosed without their RTP"
        );
    }
    // Problems opening files are told once, and (as when a quiet media pass opened them
    // first) not at all when nothing could be opened: the error says it. Standard input
    // always told them.
    let inputs = if stdin {
        crate::open_inputs(&sel.files, err)?
    } else {
        let mut told = Vec::new();
        let inputs = crate::open_inputs(&sel.files, &mut told)?;
        err.write_all(&told)?;
        inputs
    };
    if json {
        out.write_all(b"{\"calls\":[")?;
    }
    let first = if stdin { Media::Off } else { Media::Bet };
    let sink = match pass(sel, &inputs, json, &first, err)? {
        Some(sink) => sink,
        None => {
            let (streams, end) = media_pass(&inputs);
            let known = Media::Known { streams, end };
            match pass(sel, &inputs, json, &known, err)? {
                Some(sink) => sink,
                None => return Err(Error::Output(io::Error::other("diagnosis pass lost"))),
            }
        }
    };
    let Sink {
        objects,
        failed,
        others,
        summary,
        ..
    } = sink;
    if json {
        if let Some((w, _)) = objects {
            unspool(w, out)?;
        }
        out.write_all(b"],\"summary\":")?;
        let mut buf = Vec::new();
        write_json(&mut buf, &render::SummaryJson::new(&summary))?;
        buf.pop();
        out.write_all(&buf)?;
        out.write_all(b"}\n")?;
        return Ok(());
    }
    for (title, section) in [("Failed calls", failed), ("Other calls", others)] {
        if let Some((w, n)) = section {
            writeln!(out, "{title} ({n})")?;
            unspool(w, out)?;
            writeln!(out)?;
        }
    }
    render::write_summary(out, &summary)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes three held calls (the middle one filtered out) through a sink and returns the
    /// text of its "other calls" section.
    fn section(budget: usize) -> Vec<u8> {
        let mut sink = Sink::new(false);
        sink.budget = budget;
        let call = crate::dialog::analyze_call(
            vec![crate::dialog::testkit::invite(
                "a@b", 1, 2, 0, "z9hG4bK1", 1,
            )],
            &[],
        );
        let entry = SummaryEntry::of(&call, &diagnose::diagnose(&call));
        let mut held = Vec::new();
        for text in ["first body\n", "", "third, longer body\n"] {
            held.push(if text.is_empty() {
                None
            } else {
                Some(Held {
                    entry: entry.clone(),
                    body: sink.hold(text.as_bytes().to_vec()).unwrap(),
                })
            });
        }
        for h in held {
            sink.write(h).unwrap();
        }
        let mut out = Vec::new();
        let slot = if entry.failed() {
            sink.failed
        } else {
            sink.others
        };
        unspool(slot.unwrap().0, &mut out).unwrap();
        out
    }

    #[test]
    fn spilled_bodies_come_back_as_they_went_in() {
        let kept = section(HOLD_BUDGET);
        assert_eq!(section(0), kept);
        let text = String::from_utf8(kept).unwrap();
        assert!(text.contains("#1first body\n"), "{text}");
        assert!(text.contains("#3third, longer body\n"), "{text}");
    }
}
