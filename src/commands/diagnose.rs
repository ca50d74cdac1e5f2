//! `sipscope diagnose`: for every selected call, what happened, where and why (with what its
//! RTP says), then the file summary; as text or `{"calls": [...], "summary": {...}}`.
//!
//! Calls are grouped exactly as `sipscope calls` groups them ([`crate::analysis::ExactGrouper`]):
//! a first pass notes each Call-ID's last message ([`crate::analysis::LastMessages`]), the second
//! diagnoses each call as soon as that message is in and its B2BUA links to other calls are
//! final ([`crate::analysis::stream_linked_after`], as the ndjson export has them). Same
//! calls, same numbers, same order, same host roles.
//!
//! Media: each call's diagnosis judges the RTP streams of the whole capture, which are only
//! all known at its end. Most captures of this size hold signalling only, so the first pass
//! is made with a media watcher, betting that it finds no stream: then every call is rightly
//! diagnosed without media. The moment it finds one, that pass is dropped and made again
//! with the media tracker collecting the streams (memory grows with the number of streams,
//! not packets); the second pass diagnoses the calls with them. Standard input is held in
//! memory, so it is read twice like a file. The first pass is
//! [`crate::analysis::first_pass_with_media`], shared with the ndjson export.
//!
//! Streams with bounded memory: each call is diagnosed and rendered as soon as it is handed
//! over, then held (as rendered bytes and what the summary needs of it) only until every call
//! that started before it is known, so it gets the same number as in `sipscope calls` and comes
//! out in the same order as a whole-file run. Both text sections and the JSON array go to
//! unlinked temporary files, copied out at the end.
//!
//! Two threads in each pass (the shared pipeline of [`crate::ingest`]): a helper reads and
//! decodes (and runs the media tracker in the first pass); this one groups calls, diagnoses
//! and renders them. In the second pass the helper also builds every message, and frees the
//! messages of the calls diagnosed (they come back to it in bins, see
//! [`crate::ingest::run_parallel_on_until_recycling`]): this side is the busier one.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, Write};

use crate::analysis;
use crate::analysis::{CallKey, LastMessages, Linked};
use crate::capture::Input;
use crate::cli::Selection;
use crate::diagnose::{self, CaptureStreams, Diagnosis, MediaView, Summary, SummaryEntry};
use crate::dialog::{Call, Detail};
use crate::error::Error;
use crate::media::StreamReport;
use crate::output::diagnose as render;
use crate::output::escape::write_json;

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
/// call whose messages span the capture (a REGISTER refreshed with the same Call-ID) holds
/// back every later call until its last message: on a busy capture that is most of its calls.
const HOLD_BUDGET: usize = 4 << 20;

/// What the diagnosing pass knows of the capture's media.
enum Media {
    /// No stream: the first pass's watcher saw no RTP.
    Off,
    /// Every stream of the capture and the time of its last frame, from the first pass.
    Known {
        streams: Vec<StreamReport>,
        end: Option<i64>,
    },
}

/// The first pass: each Call-ID's last message, and what the capture holds of media.
fn first_pass(inputs: &[Input]) -> (LastMessages, Media) {
    let (lasts, media) = analysis::first_pass_with_media(inputs);
    let media = match media {
        Some(k) => Media::Known {
            streams: k.streams,
            end: k.end_ns,
        },
        None => Media::Off,
    };
    (lasts, media)
}

/// A spill file for rendered calls (see [`crate::output::spool`]).
fn spool() -> io::Result<BufWriter<File>> {
    let f = crate::output::spool::unlinked_temp_file("diagnose")?;
    Ok(BufWriter::with_capacity(1 << 16, f))
}

/// Copies a spool's content to `out`.
fn unspool(spool: BufWriter<File>, out: &mut dyn Write) -> io::Result<()> {
    let mut f = spool.into_inner().map_err(|e| e.into_error())?;
    f.rewind()?;
    io::copy(&mut f, out)?;
    Ok(())
}

/// Bytes of spilled bodies written, and read back, in one go.
const SPILL_CHUNK: usize = 1 << 16;

/// Chunks read back kept at once: bodies go in in the order calls are released and come back
/// in list order, which interleaves a few runs of the file (calls with an INVITE are released
/// about a minute after the others that started with them).
const SPILL_READ_CHUNKS: usize = 4;

/// The spill file of [`Sink`]: bodies are appended in chunks of [`SPILL_CHUNK`] and read back
/// a chunk at a time, so that a capture whose every call spills (one call left open holds
/// back all the others) costs a few system calls per chunk, not a seek, a write, a seek and a
/// read per call.
struct Spill {
    file: File,
    /// Bytes written to the file.
    flushed: u64,
    /// Bodies put after `flushed`, not written yet.
    pending: Vec<u8>,
    /// Chunks read back (where each starts, its bytes), the most recently used last.
    read: Vec<(u64, Vec<u8>)>,
    /// Where the file's cursor stands.
    cursor: u64,
}

impl Spill {
    fn new(file: File) -> Spill {
        Spill {
            file,
            flushed: 0,
            pending: Vec::new(),
            read: Vec::new(),
            cursor: 0,
        }
    }

    /// Appends a body; returns where it starts.
    fn put(&mut self, body: &[u8]) -> io::Result<u64> {
        let at = self.flushed.saturating_add(self.pending.len() as u64);
        self.pending.extend_from_slice(body);
        if self.pending.len() >= SPILL_CHUNK {
            self.flush()?;
        }
        Ok(at)
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        self.seek(self.flushed)?;
        self.file.write_all(&self.pending)?;
        self.flushed = self.flushed.saturating_add(self.pending.len() as u64);
        self.cursor = self.flushed;
        self.pending.clear();
        Ok(())
    }

    fn seek(&mut self, to: u64) -> io::Result<()> {
        if self.cursor != to {
            self.file.seek(io::SeekFrom::Start(to))?;
            self.cursor = to;
        }
        Ok(())
    }

    /// The `len` bytes put at `at`, into `out`.
    fn get(&mut self, at: u64, len: usize, out: &mut Vec<u8>) -> io::Result<()> {
        let lost = || io::Error::other("spilled body out of the spill file");
        out.clear();
        let end = at.checked_add(len as u64).ok_or_else(lost)?;
        if at >= self.flushed {
            // Not written yet.
            let from = usize::try_from(at - self.flushed).map_err(|_| lost())?;
            let bytes = from
                .checked_add(len)
                .and_then(|to| self.pending.get(from..to))
                .ok_or_else(lost)?;
            out.extend_from_slice(bytes);
            return Ok(());
        }
        if end > self.flushed {
            // Partly written (bodies go in whole, so never): write the rest first.
            self.flush()?;
        }
        let holds = |&(start, ref bytes): &(u64, Vec<u8>)| {
            at >= start && end <= start.saturating_add(bytes.len() as u64)
        };
        match self.read.iter().position(holds) {
            Some(i) => {
                let chunk = self.read.remove(i);
                self.read.push(chunk);
            }
            None => {
                // A chunk from `at`: the body at least, no further than the file's end; in
                // the room of the least recently used one when all are taken.
                let mut bytes = if self.read.len() >= SPILL_READ_CHUNKS {
                    self.read.remove(0).1
                } else {
                    Vec::new()
                };
                let room = usize::try_from(self.flushed - at).unwrap_or(usize::MAX);
                let want = len.max(SPILL_CHUNK).min(room);
                bytes.resize(want, 0);
                self.seek(at)?;
                self.file.read_exact(&mut bytes)?;
                self.cursor = at.saturating_add(want as u64);
                self.read.push((at, bytes));
            }
        }
        let (start, bytes) = self.read.last().ok_or_else(lost)?;
        let from = usize::try_from(at - start).map_err(|_| lost())?;
        let bytes = from
            .checked_add(len)
            .and_then(|to| bytes.get(from..to))
            .ok_or_else(lost)?;
        out.extend_from_slice(bytes);
        Ok(())
    }
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
    /// Bodies past the budget.
    spill: Option<Spill>,
    /// Room to read a spilled body back into.
    scratch: Vec<u8>,
    /// Room to render a call into (a body held in memory is a copy of just its bytes).
    render: Vec<u8>,
    /// Room to write a call's number into.
    head: Vec<u8>,
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
            render: Vec::with_capacity(1024),
            head: Vec::new(),
        }
    }

    /// Keeps a rendered call until its turn: in memory within the budget, else in the
    /// spill file.
    fn hold(&mut self, body: &[u8]) -> io::Result<Body> {
        if self.held_bytes.saturating_add(body.len()) <= self.budget {
            let body = body.to_vec();
            self.held_bytes += body.capacity();
            return Ok(Body::Mem(body));
        }
        if self.spill.is_none() {
            let f = spool()?.into_inner().map_err(|e| e.into_error())?;
            self.spill = Some(Spill::new(f));
        }
        let Some(spill) = &mut self.spill else {
            return Err(io::Error::other("no spill file"));
        };
        let at = spill.put(body)?;
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
                let Some(spill) = &mut self.spill else {
                    return Err(io::Error::other("spilled call without a spill file"));
                };
                let mut buf = std::mem::take(&mut self.scratch);
                spill.get(at, len, &mut buf)?;
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
            let head = &mut self.head;
            head.clear();
            if self.json {
                if *n > 0 {
                    head.push(b',');
                }
                head.extend_from_slice(b"{\"index\":");
            } else {
                head.extend_from_slice(if failed { b"!! #" } else { b"   #" });
            }
            render::push_decimal(head, self.index as u64);
            w.write_all(head)?;
            w.write_all(&body)?;
            *n += 1;
        }
        // Kept for the next spilled body (one body at most, rendered calls are small).
        self.scratch = body;
        Ok(())
    }
}

/// Renders one call without its number (the number is only known once older calls ended)
/// into `buf`, emptied first.
fn render_body(json: bool, call: &Call, d: &Diagnosis, buf: &mut Vec<u8>) -> io::Result<()> {
    buf.clear();
    if json {
        render::push_call_json_body(buf, call, d)?;
    } else {
        render::push_call_body(buf, call, d);
    }
    Ok(())
}

/// One ended call diagnosed and rendered, held in `sink` until its number is known; `None`
/// when the filter drops it (it still takes a number).
/// `capture` is the index of `media`'s streams (empty without media).
fn diagnose_call(
    sel: &Selection,
    json: bool,
    media: &Media,
    capture: &CaptureStreams<'_>,
    sink: &mut Sink,
    call: &Call,
) -> io::Result<Option<Held>> {
    if !sel.filter.matches(call) {
        return Ok(None);
    }
    // The text shows no per-transaction timings: not measured for it.
    let diagnose_with_media = if json {
        diagnose::diagnose_with_media
    } else {
        diagnose::diagnose_with_media_for_text
    };
    let d = match media {
        Media::Known { end, .. } => {
            let mine = capture.of_call(call);
            diagnose_with_media(
                call,
                &MediaView {
                    streams: &mine,
                    capture,
                    capture_end_ns: *end,
                },
            )
        }
        // Without media, or the capture has none: judged with no stream.
        Media::Off => diagnose_with_media(
            call,
            &MediaView {
                streams: &[],
                capture,
                capture_end_ns: None,
            },
        ),
    };
    let mut buf = std::mem::take(&mut sink.render);
    let body = render_body(json, call, &d, &mut buf).and_then(|()| sink.hold(&buf));
    sink.render = buf;
    Ok(Some(Held {
        body: body?,
        entry: SummaryEntry::of(call, &d),
    }))
}

/// The diagnosing pass over `inputs`: every call grouped as the first pass's `lasts` allow,
/// linked to its B2BUA partners as the whole-file rule links them (so hosts show the same
/// roles as in `sipscope calls`), diagnosed, numbered and rendered into the sink.
fn pass(
    sel: &Selection,
    inputs: &[Input],
    json: bool,
    lasts: &LastMessages,
    media: &Media,
    err: &mut dyn Write,
) -> Result<Sink, Error> {
    let mut sink = Sink::new(json);
    // Indexed once: each call then looks only at the streams near it.
    let capture = match media {
        Media::Known { streams, .. } => CaptureStreams::new(streams),
        Media::Off => CaptureStreams::default(),
    };
    let mut pending: BTreeMap<CallKey, Option<Held>> = BTreeMap::new();
    analysis::stream_linked_after(inputs, sel, Detail::Full, lasts, err, &mut |handed| {
        match handed {
            Linked::Call(call, key) => {
                let held = diagnose_call(sel, json, media, &capture, &mut sink, call)?;
                pending.insert(key, held);
            }
            Linked::Settled(floor) => {
                // Calls handed over later start at or after the floor: older calls can
                // take their numbers (costs rendered text of about a minute of calls).
                while let Some(entry) = pending.first_entry() {
                    if entry.key().0 >= floor {
                        break;
                    }
                    sink.write(entry.remove())?;
                }
            }
        }
        Ok(())
    })?;
    // The last word was `Settled(i64::MAX)`: nothing is left but what the slack kept.
    while let Some((_, held)) = pending.pop_first() {
        sink.write(held)?;
    }
    Ok(sink)
}

pub fn run(
    sel: &Selection,
    json: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), Error> {
    let stdin = sel.files.iter().any(|f| f == "-");
    // Problems opening files are told once, and not at all when nothing could be opened
    // (the error says it); with standard input among the inputs, always.
    let inputs = if stdin {
        crate::open_inputs(&sel.files, err)?
    } else {
        let mut told = Vec::new();
        let inputs = crate::open_inputs(&sel.files, &mut told)?;
        err.write_all(&told)?;
        inputs
    };
    let (lasts, media) = first_pass(&inputs);
    // Nothing reaches the output before the pass succeeds (the calls are spooled): a run that
    // reads no frame prints no half-open JSON.
    let sink = pass(sel, &inputs, json, &lasts, &media, err)?;
    let Sink {
        objects,
        failed,
        others,
        summary,
        ..
    } = sink;
    if json {
        out.write_all(b"{\"calls\":[")?;
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
                    body: sink.hold(text.as_bytes()).unwrap(),
                })
            });
        }
        // A body held in memory costs its bytes, no more.
        if budget >= HOLD_BUDGET {
            assert_eq!(
                sink.held_bytes,
                "first body\n".len() + "third, longer body\n".len()
            );
        }
        for h in held {
            sink.write(h).unwrap();
        }
        assert_eq!(sink.held_bytes, 0);
        let mut out = Vec::new();
        let slot = if entry.failed() {
            sink.failed
        } else {
            sink.others
        };
        unspool(slot.unwrap().0, &mut out).unwrap();
        out
    }

    /// Bodies of every size put in a spill file come back whole in any order: from the
    /// bytes not written yet, from the chunk read last, or read again.
    #[test]
    fn spill_gives_back_every_body_in_any_order() {
        let mut spill = Spill::new(spool().unwrap().into_inner().unwrap());
        let mut bodies: Vec<(u64, Vec<u8>)> = Vec::new();
        let mut x: u64 = 7;
        for i in 0..3000usize {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let len = match i % 97 {
                0 => SPILL_CHUNK * 2 + 3,
                1 => 0,
                _ => (x >> 40) as usize % 900,
            };
            let body: Vec<u8> = (0..len).map(|k| (k as u64 ^ x) as u8).collect();
            let at = spill.put(&body).unwrap();
            bodies.push((at, body));
            // Some come back at once (before the chunk they are in is written).
            if i % 13 == 0 {
                let (at, body) = bodies.swap_remove(bodies.len() / 2);
                let mut out = Vec::new();
                spill.get(at, body.len(), &mut out).unwrap();
                assert_eq!(out, body, "{i}");
            }
        }
        // Mostly in order, with some swapped, as list order is to release order.
        for i in (0..bodies.len()).step_by(7) {
            let j = (i + 5).min(bodies.len() - 1);
            bodies.swap(i, j);
        }
        let mut out = Vec::new();
        for (n, (at, body)) in bodies.iter().enumerate() {
            spill.get(*at, body.len(), &mut out).unwrap();
            assert_eq!(&out, body, "{n}");
        }
        assert!(spill.get(u64::MAX - 1, 5, &mut out).is_err());
        assert!(spill
            .get(spill.flushed + spill.pending.len() as u64, 1, &mut out)
            .is_err());
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
