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
//! Extension point: the diagnosis and the RTP streams of a call will join [`CallJson`] as
//! `diagnosis` and `streams` (already allowed by the schema). Add them as
//! `#[serde(skip_serializing_if = "Option::is_none")]` fields filled by whoever builds the
//! call's export, after [`CallJson::build`].

mod call;
pub mod pcap;

use std::io::{self, Write};

use serde::Serialize;

pub use call::{
    AnnotationJson, CallJson, DialogJson, ExportMedia, HintJson, LegJson, MediaJson, MessageJson,
    ParticipantJson, PartyJson, ResponseRef, SdpJson, TransactionJson,
};

use super::escape::write_json;
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
    out: &'w mut dyn Write,
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
        Ok(DocumentWriter { out, calls: 0 })
    }

    /// Appends one call to the `calls` array.
    pub fn call(&mut self, call: &CallJson<'_>) -> io::Result<()> {
        if self.calls > 0 {
            self.out.write_all(b",")?;
        }
        write_line(self.out, call)?;
        self.calls += 1;
        Ok(())
    }

    /// Closes the array and the document; returns how many calls were written.
    pub fn finish(self) -> io::Result<usize> {
        self.out.write_all(b"]}\n")?;
        Ok(self.calls)
    }
}

/// Writes one call as one NDJSON line.
///
/// The same bytes as [`write_json`](super::escape::write_json), faster: the call is
/// serialised into a buffer reused by the thread (the serialiser's many small writes become
/// inlined copies instead of calls through `dyn Write`) by [`super::json`], which copies plain
/// strings whole; then the line goes out in one write.
pub fn write_line(out: &mut dyn Write, call: &CallJson<'_>) -> io::Result<()> {
    thread_local! {
        static LINE: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    LINE.with(|line| {
        let mut buf = line.take();
        buf.clear();
        let done = serialize_line(&mut buf, call).and_then(|()| out.write_all(&buf));
        // A rare huge call does not keep its buffer for the rest of the run.
        if buf.capacity() <= LINE_KEEP {
            line.replace(buf);
        }
        done
    })
}

/// Capacity of the line buffer kept between calls.
const LINE_KEEP: usize = 1 << 20;

fn serialize_line(buf: &mut Vec<u8>, call: &CallJson<'_>) -> io::Result<()> {
    call.append_json(buf).map_err(io::Error::other)?;
    buf.push(b'\n');
    Ok(())
}

#[cfg(test)]
mod tests;
