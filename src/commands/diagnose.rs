//! `sipscope diagnose`: for every selected call, what happened, where and why (with what its
//! RTP says), then the file summary; as text or `{"calls": [...], "summary": {...}}`.
//!
//! Media first: one pass over the inputs collects the RTP streams (memory grows with the number
//! of streams, not packets), so that each call's diagnosis can judge its media when the call
//! ends. Standard input cannot be read twice: from `-` calls are diagnosed without media.
//!
//! Streams with bounded memory ([`analysis::stream_ordered`]): each call is diagnosed and
//! rendered as soon as it ends, then held (as rendered bytes, with a call reduced to what the
//! summary reads) only until every call that started before it is known, so it gets the same
//! number as in `sipscope calls` and comes out in the same order as a whole-file run. JSON is
//! written as it goes; text puts failed calls first under a count, so both text sections go
//! to unlinked temporary files and are copied out at the end.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Seek, Write};

use crate::analysis;
use crate::cli::Selection;
use crate::diagnose::{self, Diagnosis, MediaView, Summary};
use crate::dialog::Call;
use crate::error::Error;
use crate::media::StreamReport;
use crate::output::diagnose as render;
use crate::output::escape::write_json;

/// A call's place in the whole-file list: start time, then order of first appearance (the
/// first message's frame), then arrival (unique).
type Key = (i64, u16, u64, u64);

/// An ended call waiting for older calls. `None` when the filter drops it (it still takes
/// a number).
struct Held {
    /// The call without its messages, steps and transactions: what the summary reads.
    lite: Call,
    diagnosis: Diagnosis,
    /// Rendered block (text) or object (JSON) after its call number.
    body: Vec<u8>,
}

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

/// The RTP streams of the whole capture and the time of its last frame, from a first pass.
fn media_pass(
    sel: &Selection,
    err: &mut dyn Write,
) -> Result<(Vec<StreamReport>, Option<i64>), Error> {
    if sel.files.iter().any(|f| f == "-") {
        let _ = writeln!(
            err,
            "sipscope: note: standard input is read once: calls are diagnosed without their RTP"
        );
        return Ok((Vec::new(), None));
    }
    // The second pass reports the inputs' problems; this one stays quiet.
    let inputs = crate::open_inputs(&sel.files, &mut io::sink())?;
    let (books, media) = crate::ingest::run_with_media(&inputs, &mut |_| {});
    let end = books.inputs.iter().filter_map(|i| i.last_ts_ns).max();
    Ok((media.streams(), end))
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

/// Where numbered calls go.
struct Sink<'a> {
    json: bool,
    out: &'a mut dyn Write,
    /// Text: failed and other calls, with their counts.
    failed: Option<(BufWriter<File>, u64)>,
    others: Option<(BufWriter<File>, u64)>,
    /// Calls numbered so far (selected or not).
    index: usize,
    /// JSON objects written so far.
    written: u64,
    summary: Summary,
}

impl Sink<'_> {
    fn write(&mut self, held: Option<Held>) -> io::Result<()> {
        self.index += 1;
        let Some(h) = held else { return Ok(()) };
        self.summary.add(&h.lite, &h.diagnosis);
        if self.json {
            if self.written > 0 {
                self.out.write_all(b",")?;
            }
            write!(self.out, "{{\"index\":{}", self.index)?;
            self.out.write_all(&h.body)?;
            self.written += 1;
            return Ok(());
        }
        let failed = h.diagnosis.outcome.is_failure();
        let slot = if failed {
            &mut self.failed
        } else {
            &mut self.others
        };
        if slot.is_none() {
            *slot = Some((spool()?, 0));
        }
        if let Some((w, n)) = slot {
            let flag = if failed { "!!" } else { "  " };
            write!(w, "{flag} #{}", self.index)?;
            w.write_all(&h.body)?;
            *n += 1;
        }
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

pub fn run(
    sel: &Selection,
    json: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), Error> {
    let mut sink = Sink {
        json,
        out,
        failed: None,
        others: None,
        index: 0,
        written: 0,
        summary: Summary::new(),
    };
    let (streams, capture_end_ns) = media_pass(sel, err)?;
    if json {
        sink.out.write_all(b"{\"calls\":[")?;
    }
    let mut pending: BTreeMap<Key, Option<Held>> = BTreeMap::new();
    let mut arrival = 0u64;
    analysis::stream_ordered(sel, false, err, &mut |call, horizon| {
        arrival = arrival.wrapping_add(1);
        let first = call.messages.first().map(|m| m.frame);
        let key = (
            call.summary.start_ns,
            first.map_or(0, |f| f.file),
            first.map_or(0, |f| f.number),
            arrival,
        );
        let held = if sel.filter.matches(&call) {
            let mine = diagnose::streams_of_call(&call, &streams);
            let d = diagnose::diagnose_with_media(
                &call,
                &MediaView {
                    streams: &mine,
                    capture: &streams,
                    capture_end_ns,
                },
            );
            let body = render_body(json, &call, &d)?;
            let lite = Call {
                messages: Vec::new(),
                info: Vec::new(),
                steps: Vec::new(),
                transactions: Vec::new(),
                dialogs: Vec::new(),
                ..call
            };
            Some(Held {
                lite,
                diagnosis: d,
                body,
            })
        } else {
            None
        };
        pending.insert(key, held);
        while let Some(entry) = pending.first_entry() {
            if entry.key().0 >= horizon.saturating_sub(REORDER_SLACK_NS) {
                break;
            }
            sink.write(entry.remove())?;
        }
        Ok(())
    })?;
    while let Some((_, held)) = pending.pop_first() {
        sink.write(held)?;
    }
    let Sink {
        out,
        failed,
        others,
        summary,
        ..
    } = sink;
    if json {
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
