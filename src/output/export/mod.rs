//! `sipscope export`: the dialog model as JSON for programs (one document, or one call per
//! NDJSON line), and the frames of chosen calls as a new capture.
//!
//! Owns: the export's JSON shapes ([`CallJson`] and the types under it, kept apart from the
//! model so the model can change without breaking scripts), the published JSON Schema
//! ([`SCHEMA`], the committed `schema/export.schema.json`), the document and line writers, and
//! the frame copier of `--format pcap` ([`pcap`]).
//!
//! Stability: field names are snake_case and never change meaning within one
//! [`SCHEMA_VERSION`]; renaming, removing or retyping a field bumps it. Adding an optional
//! field does not. The version is an integer so scripts can compare it.
//!
//! Extension point: a new field of [`CallJson`] (or of an object under it) goes both in the
//! derived `Serialize` (the shared JSON writer and the reference of the tests) and in the
//! type's hand-written [`AppendJson`](super::json::AppendJson) form, which the line writer
//! uses (a message's field goes in `CallJson::put_message`, which writes messages straight
//! from the model); `line_writer_matches_the_shared_json_writer` and the tests after it fail
//! when the two disagree. The
//! `diagnosis` object is the one `diagnose --json` writes: its fields go in
//! `output::diagnose::DiagnosisJson` (the serde form) and in the writer next to it, held
//! together by that module's tests.

mod call;
pub mod pcap;

use std::io::{self, Write};

use serde::Serialize;

pub use call::{
    AnnotationJson, CallJson, DialogJson, ExportMedia, HintJson, LegJson, MediaJson, MessageJson,
    ParticipantJson, PartyJson, ResponseRef, SdpJson, TransactionJson,
};

use super::escape::write_json;
use super::json::{AppendJson, JsonBuf};
use super::time::rfc3339_micros;
use crate::ingest::Books;

/// Version of the export format; bumped by any change that can break a reader.
pub const SCHEMA_VERSION: u32 = 1;

/// The JSON Schema of the export (draft 2020-12), exactly as committed in the repository.
pub const SCHEMA: &str = include_str!("../../../schema/export.schema.json");

/// What the builder needs besides the call.
#[derive(Debug, Clone, Default)]
pub struct ExportContext {
    /// Name of every input, by its position on the command line (`Msg.frame.file`).
    pub files: Vec<String>,
    /// Put each message's text in `raw`.
    pub raw: bool,
}

impl ExportContext {
    /// Name of an input file by its index (`?` when unknown).
    pub fn file_name(&self, file: u16) -> &str {
        self.files
            .get(usize::from(file))
            .map_or("?", |s| s.as_str())
    }
}

/// Time in both forms every timestamp of the export has.
pub(crate) fn epoch_us(ns: i64) -> i64 {
    ns.div_euclid(1000)
}

/// One input of the document: where it came from and what span it covers.
#[derive(Debug, Serialize)]
pub struct InputJson<'a> {
    pub file: &'a str,
    pub frames: u64,
    pub first_time: Option<String>,
    pub first_epoch_us: Option<i64>,
    pub last_time: Option<String>,
    pub last_epoch_us: Option<i64>,
}

/// The head of a JSON document; `calls` are streamed after it by [`DocumentWriter`].
#[derive(Debug, Serialize)]
struct Head<'a> {
    schema_version: u32,
    tool: &'static str,
    tool_version: &'static str,
    inputs: Vec<InputJson<'a>>,
}

/// Writes `{"schema_version":..,"tool":..,"tool_version":..,"inputs":[..],"calls":[` then one
/// call per line, then `]}`: compact, valid JSON that is still readable line by line, without
/// holding every call's JSON in memory at once.
pub struct DocumentWriter<'w> {
    lines: LineWriter<'w>,
    calls: usize,
}

impl<'w> DocumentWriter<'w> {
    /// Writes the head of the document, with one entry per input of `books`.
    pub fn start(out: &'w mut dyn Write, books: &Books) -> io::Result<Self> {
        let inputs = books
            .inputs
            .iter()
            .map(|b| InputJson {
                file: &b.name,
                frames: b.frames,
                first_time: b.first_ts_ns.map(rfc3339_micros),
                first_epoch_us: b.first_ts_ns.map(epoch_us),
                last_time: b.last_ts_ns.map(rfc3339_micros),
                last_epoch_us: b.last_ts_ns.map(epoch_us),
            })
            .collect();
        let head = Head {
            schema_version: SCHEMA_VERSION,
            tool: "sipscope",
            tool_version: env!("CARGO_PKG_VERSION"),
            inputs,
        };
        // Serialise the head as an object, then reopen it to append the calls array.
        let mut buf = Vec::new();
        write_json(&mut buf, &head)?;
        if buf.last() == Some(&b'\n') {
            buf.pop();
        }
        if buf.last() == Some(&b'}') {
            buf.pop();
        }
        out.write_all(&buf)?;
        out.write_all(b",\"calls\":[\n")?;
        Ok(DocumentWriter {
            lines: LineWriter::new(out),
            calls: 0,
        })
    }

    /// Appends one call to the `calls` array.
    pub fn call(&mut self, call: &CallJson<'_>) -> io::Result<()> {
        self.lines
            .call_line(call, if self.calls > 0 { b"," } else { b"" })?;
        self.calls += 1;
        Ok(())
    }

    /// Closes the array and the document; returns how many calls were written.
    pub fn finish(mut self) -> io::Result<usize> {
        self.lines.buf.extend_from_slice(b"]}\n");
        self.lines.finish()?;
        Ok(self.calls)
    }
}

/// Writes calls as NDJSON lines (one call per line) to `out`, handing them on in pieces of at
/// least [`HAND_ON`] bytes.
///
/// Each call is serialised straight into the pending bytes by its [`AppendJson`] form (the
/// serialiser's many small writes are inlined copies instead of calls through `dyn Write`),
/// which gives the same bytes as [`write_json`](super::escape::write_json). A piece as large
/// as the output's own buffer (a 64 KiB `BufWriter` for standard output and for `-o FILE`)
/// goes past that buffer straight to the file: the lines are not copied a second time.
/// Whatever is pending is handed on by [`LineWriter::finish`], or when the writer is dropped
/// (an error on the way out of a command keeps the lines written before it, as when each
/// line was written at once).
pub struct LineWriter<'w> {
    out: &'w mut dyn Write,
    buf: JsonBuf,
}

/// Bytes gathered before they are handed on: the capacity of the output buffers of `main` and
/// `export -o`, so that those pass them through without copying.
const HAND_ON: usize = 1 << 16;

/// Capacity of the pending buffer kept after a piece goes out: a rare huge call does not keep
/// its buffer for the rest of the run.
const LINE_KEEP: usize = 1 << 20;

impl<'w> LineWriter<'w> {
    pub fn new(out: &'w mut dyn Write) -> Self {
        LineWriter {
            out,
            buf: JsonBuf::with_capacity(2 * HAND_ON),
        }
    }

    /// Writes one call as one line.
    pub fn line(&mut self, call: &CallJson<'_>) -> io::Result<()> {
        self.call_line(call, b"")
    }

    /// Writes `sep` and the call's line; nothing of it when serialising fails.
    fn call_line(&mut self, call: &CallJson<'_>, sep: &[u8]) -> io::Result<()> {
        let start = self.buf.len();
        self.buf.extend_from_slice(sep);
        if let Err(e) = serialize_line(&mut self.buf, call) {
            self.buf.truncate(start);
            return Err(e);
        }
        if self.buf.len() >= HAND_ON {
            self.hand_on()?;
        }
        Ok(())
    }

    fn hand_on(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let done = self.out.write_all(self.buf.as_bytes());
        self.buf.clear();
        if self.buf.capacity() > LINE_KEEP {
            self.buf = JsonBuf::with_capacity(2 * HAND_ON);
        }
        done
    }

    /// Hands on what is pending.
    pub fn finish(mut self) -> io::Result<()> {
        self.hand_on()
    }
}

impl Drop for LineWriter<'_> {
    fn drop(&mut self) {
        // After `finish` nothing is pending; otherwise a command is leaving on an error, and
        // that error is the one reported.
        let _ = self.hand_on();
    }
}

/// Writes one call as one NDJSON line (the bytes of [`LineWriter::line`], at once).
pub fn write_line(out: &mut dyn Write, call: &CallJson<'_>) -> io::Result<()> {
    let mut lines = LineWriter::new(out);
    lines.line(call)?;
    lines.finish()
}

fn serialize_line(buf: &mut JsonBuf, call: &CallJson<'_>) -> io::Result<()> {
    AppendJson::append_json(call, buf).map_err(io::Error::other)?;
    buf.push(b'\n');
    Ok(())
}

#[cfg(test)]
mod tests;
