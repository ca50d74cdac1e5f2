//! `sipscope export`: calls as one JSON document, as NDJSON (one call per line, streamed as
//! calls complete, so memory is bounded by the calls in progress), or the frames that carry
//! them as a new capture; `export --schema` prints the published JSON Schema.
//!
//! `--format json` walks the inputs here rather than through `analysis::load`, for a progress
//! bar driven by the byte offset of each frame. NDJSON and pcap stream with the exact
//! grouping of `analysis` (a first pass notes each Call-ID's last message); pcap then copies
//! the chosen calls' frames from the inputs kept open (standard input is held in memory).

use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::Path;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::analysis::{self, LastMessages};
use crate::capture::{Frame, Input, Merged};
use crate::cli::{ExportConfig, ExportFormat, Selection};
use crate::diagnose::CaptureStreams;
use crate::dialog::{self, Detail, Msg};
use crate::error::Error;
use crate::ingest::{Books, Ingest};
use crate::media::MediaTracker;
use crate::output::escape_str;
use crate::output::export::pcap::{self, FrameSet};
use crate::output::export::{
    self, CallJson, DocumentWriter, ExportContext, ExportMedia, LineWriter,
};

/// Inputs larger than this (in total) get a progress bar when standard error is a terminal.
const PROGRESS_MIN_BYTES: u64 = 50 * 1024 * 1024;
/// Frames between two progress updates (keeps the bar out of the hot path).
const PROGRESS_EVERY: u64 = 4096;

/// `export --schema`: the committed schema, byte for byte.
pub fn schema(out: &mut dyn Write) -> Result<(), Error> {
    out.write_all(export::SCHEMA.as_bytes())?;
    Ok(())
}

pub fn run(
    sel: &Selection,
    cfg: &ExportConfig,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), Error> {
    if cfg.format == ExportFormat::Pcap && cfg.output.is_none() && io::stdout().is_terminal() {
        return Err(Error::Usage(
            "refusing to write a capture to the terminal; use -o FILE or a pipe".into(),
        ));
    }
    let inputs = crate::open_inputs(&sel.files, err)?;
    let ctx = ExportContext {
        files: file_names(sel, &inputs),
        raw: cfg.raw,
    };
    let mut file_out;
    let sink: &mut dyn Write = match &cfg.output {
        Some(path) => {
            file_out = BufWriter::with_capacity(1 << 16, create(path)?);
            &mut file_out
        }
        None => out,
    };
    match cfg.format {
        ExportFormat::Json => json(sel, &inputs, &ctx, sink, err)?,
        ExportFormat::Ndjson => ndjson(sel, &inputs, &ctx, sink, err)?,
        ExportFormat::Pcap => capture(sel, &inputs, sink, err)?,
    }
    sink.flush()?;
    Ok(())
}

fn create(path: &Path) -> Result<File, Error> {
    File::create(path).map_err(|e| {
        Error::Output(io::Error::new(
            e.kind(),
            format!("cannot create {}: {e}", path.display()),
        ))
    })
}

/// Input names by command-line position; a file that could not be opened keeps its path.
fn file_names(sel: &Selection, inputs: &[Input]) -> Vec<String> {
    let mut names = sel.files.clone();
    for i in inputs {
        if let Some(n) = names.get_mut(usize::from(i.file_index)) {
            n.clone_from(&i.name);
        }
    }
    names
}

/// A progress bar over the bytes of all inputs, shown only where a person watches.
struct Progress {
    bar: Option<ProgressBar>,
    /// Bytes consumed so far in each input (the offset of the last frame read).
    done: Vec<u64>,
    frames: u64,
}

impl Progress {
    fn new(inputs: &[Input]) -> Progress {
        let total: u64 = inputs.iter().map(|i| i.bytes().len() as u64).sum();
        let bar = (total > PROGRESS_MIN_BYTES && io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            if let Ok(style) = ProgressStyle::with_template(
                "{spinner} reading [{bar:40}] {bytes}/{total_bytes} ({eta} left)",
            ) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar
        });
        let slots = inputs
            .iter()
            .map(|i| usize::from(i.file_index) + 1)
            .max()
            .unwrap_or(0);
        Progress {
            bar,
            done: vec![0; slots],
            frames: 0,
        }
    }

    /// A bar counting SIP messages (of `total`), for the streaming formats' second pass,
    /// which sees calls rather than frames. Shown on the same terms as the byte bar.
    fn messages(inputs: &[Input], total: u64) -> Option<ProgressBar> {
        let bytes: u64 = inputs.iter().map(|i| i.bytes().len() as u64).sum();
        (bytes > PROGRESS_MIN_BYTES && io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            if let Ok(style) = ProgressStyle::with_template(
                "{spinner} calls [{bar:40}] {pos}/{len} SIP messages ({eta} left)",
            ) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar
        })
    }

    fn frame(&mut self, f: &Frame<'_>) {
        let Some(bar) = &self.bar else { return };
        self.frames = self.frames.wrapping_add(1);
        if let Some(d) = self.done.get_mut(usize::from(f.file)) {
            *d = f.offset;
        }
        if self.frames % PROGRESS_EVERY == 0 {
            bar.set_position(self.done.iter().sum());
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Mapped capture bytes are handed back to the OS in steps of this size (a power of two) once
/// read: resident memory must not grow with the file (the NDJSON export of a 1 GB capture
/// held 1.3 GB, nearly all of it pages of the map already decoded).
const RELEASE_STEP: usize = 8 << 20;

/// Hands the pages of mapped inputs back to the OS as a pass moves through them.
struct Release {
    /// Per input position: bytes before this offset were released.
    done: Vec<usize>,
}

impl Release {
    fn new(inputs: &[Input]) -> Release {
        Release {
            done: vec![0; inputs.len()],
        }
    }

    /// Everything before `frame` was decoded (what the decoder keeps, it copied), so the
    /// pages before it need not stay resident. Reading them again still works (they come
    /// back from the file): `--format pcap` copies frames afterwards.
    fn after(&mut self, inputs: &[Input], frame: &Frame<'_>) {
        let Some(pos) = inputs.iter().position(|i| i.file_index == frame.file) else {
            return;
        };
        let (Some(done), Some(input)) = (self.done.get_mut(pos), inputs.get(pos)) else {
            return;
        };
        let upto = usize::try_from(frame.offset).unwrap_or(0) & !(RELEASE_STEP - 1);
        if upto >= done.saturating_add(RELEASE_STEP) {
            input.release_range(*done, upto);
            *done = upto;
        }
    }
}

/// Runs every frame of `inputs` through the pipeline (with RTP analysis and a progress bar),
/// handing each message to `on_msg`. The caller reports the books with [`report`].
fn walk(
    inputs: &[Input],
    keep_raw: bool,
    on_msg: &mut dyn FnMut(Msg),
) -> (Books, Option<MediaTracker>) {
    let mut progress = Progress::new(inputs);
    let mut release = Release::new(inputs);
    let mut ing = Ingest::new().with_media();
    ing.add_inputs(inputs);
    let mut emit = |m: crate::sip::SipMessage| on_msg(Msg::from_message(m, keep_raw));
    for item in Merged::new(inputs.iter().map(|i| i.frames()).collect()) {
        match item {
            Ok(frame) => {
                progress.frame(&frame);
                ing.push_frame(&frame, &mut emit);
                release.after(inputs, &frame);
            }
            Err(issue) => ing.issue(issue),
        }
    }
    let (books, media) = ing.finish_all(&mut emit);
    progress.finish();
    (books, media)
}

/// Reports the books of a walk; nothing read at all is an error.
fn report(books: &Books, err: &mut dyn Write) -> Result<(), Error> {
    crate::report_books(books, err);
    if books.frames == 0 && !books.issues.is_empty() {
        return Err(Error::NothingRead);
    }
    Ok(())
}

/// One document: every call is built first (grouping needs the whole capture), then written
/// one per line inside the `calls` array.
fn json(
    sel: &Selection,
    inputs: &[Input],
    ctx: &ExportContext,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), Error> {
    let mut msgs = Vec::new();
    let (books, media) = walk(inputs, ctx.raw, &mut |m| msgs.push(m));
    report(&books, err)?;
    let calls = dialog::analyze_all(msgs, &sel.roles);
    let all = media.as_ref().map(|m| m.streams()).unwrap_or_default();
    let capture = CaptureStreams::new(&all);
    let em = ExportMedia {
        capture: &capture,
        capture_end_ns: books.inputs.iter().filter_map(|i| i.last_ts_ns).max(),
    };
    let mut doc = DocumentWriter::start(out, &books)?;
    for c in calls.iter().filter(|c| sel.filter.matches(c)) {
        doc.call(&CallJson::build_with_media(c, ctx, Some(&em)))?;
    }
    doc.finish()?;
    Ok(())
}

/// One call per line: calls are grouped exactly as `sipscope calls` and `--format json`
/// group them (a first pass notes each Call-ID's last message), and each carries its RTP
/// streams and media findings as the JSON document has them (when the capture holds RTP, the
/// first pass also collects every stream, so a call's streams are complete when it is
/// written) and its B2BUA links across Call-IDs ([`analysis::stream_linked_after`]). Memory
/// holds the calls whose last message is still to come and the calls with an INVITE waiting
/// for their B2BUA answer. Lines come in the order calls are released.
fn ndjson(
    sel: &Selection,
    inputs: &[Input],
    ctx: &ExportContext,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), Error> {
    let (lasts, media) = analysis::first_pass_with_media(inputs);
    let (streams, end) = match &media {
        Some(k) => (k.streams.as_slice(), k.end_ns),
        None => (&[][..], None),
    };
    let capture = CaptureStreams::new(streams);
    let em = ExportMedia {
        capture: &capture,
        capture_end_ns: end,
    };
    let bar = Progress::messages(inputs, lasts.messages());
    let mut lines = LineWriter::new(out);
    let streamed = analysis::stream_linked_after(
        inputs,
        sel,
        Detail::full(ctx.raw),
        &lasts,
        err,
        &mut |handed| {
            let analysis::Linked::Call(call, _) = handed else {
                return Ok(());
            };
            if let Some(b) = &bar {
                b.inc(call.messages.len() as u64);
            }
            if sel.filter.matches(call) {
                lines.line(&CallJson::build_with_media(call, ctx, Some(&em)))?;
            }
            Ok(())
        },
    );
    // The lines written before an error still go out, as they would line by line.
    let handed_on = lines.finish();
    streamed?;
    handed_on?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    Ok(())
}

/// The frames of the chosen calls, as a new capture. Calls are grouped exactly as `calls`
/// groups them, streaming (each handed over at its last message): only the frame numbers of
/// chosen calls are kept, not the calls.
fn capture(
    sel: &Selection,
    inputs: &[Input],
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), Error> {
    let mut wanted = FrameSet::new();
    let mut calls = 0usize;
    let lasts = LastMessages::find(inputs);
    let bar = Progress::messages(inputs, lasts.messages());
    let detail = Detail::list(&sel.filter);
    analysis::stream_exact_after(inputs, sel, detail, &lasts, err, &mut |c, _, _| {
        if let Some(b) = &bar {
            b.inc(c.messages.len() as u64);
        }
        if sel.filter.matches(c) {
            calls += 1;
            wanted.add_call(c);
        }
        Ok(())
    })?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let report = pcap::write_frames(inputs, &wanted, out)?;
    if calls == 0 {
        let _ = writeln!(
            err,
            "sipscope: warning: no call matched; the capture written is empty"
        );
    }
    for (file, frame, why) in report.skipped.iter().take(8) {
        let name = inputs
            .iter()
            .find(|i| i.file_index == *file)
            .map_or_else(|| "?".into(), |i| escape_str(&i.name).into_owned());
        let _ = writeln!(err, "sipscope: warning: {name}#{frame} not written: {why}");
    }
    if report.pcapng {
        let _ = writeln!(
            err,
            "sipscope: note: the frames have {} link types; wrote pcapng (one interface each)",
            report.linktypes.len()
        );
    }
    Ok(())
}
