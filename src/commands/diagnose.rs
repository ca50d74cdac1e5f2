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
use crate::dialog::Call;
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

/// Prefix of a rendered text block with call number 0: flag, space, `#0`.
const TEXT_PREFIX: usize = 5;
/// Prefix of a rendered JSON object with index 0: `{"index":0`.
const JSON_PREFIX: &[u8] = b"{\"index\":0";

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
    let d = match media {
        Media::Known { end, .. } => {
            let mine = capture.of_call(call);
            diagnose::diagnose_with_media(
                call,
                &MediaView {
                    streams: &mine,
                    capture,
                    capture_end_ns: *end,
                },
            )
        }
        // Without media, or the capture has none: judged with no stream.
        Media::Off => diagnose::diagnose_with_media(
            call,
            &MediaView {
                streams: &[],
                capture,
                capture_end_ns: None,
            },
        ),
    };
    let body = render_body(json, call, &d)?;
    Ok(Some(Held {
        body: sink.hold(body)?,
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
    analysis::stream_linked_after(inputs, sel, false, lasts, err, &mut |handed| {
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
    if json {
        out.write_all(b"{\"calls\":[")?;
    }
    let (lasts, media) = first_pass(&inputs);
    let sink = pass(sel, &inputs, json, &lasts, &media, err)?;
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
