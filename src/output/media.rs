//! `sipscope media`: the RTP streams of every call, as a table like tshark's `rtp,streams`
//! (plus loss, jitter, MOS, DTMF and the call each stream belongs to) or as JSON
//! (`{"streams": [...]}`). The JSON shape is defined here, apart from the media model.
//!
//! A stream's `dialog` names the dialog of its call whose SDP announced it (see
//! [`crate::diagnose::stream_dialog`]) by its tags, oriented as in the request that created
//! the dialog: `{"from_tag": .., "to_tag": ..}`, or `null` when no announcement names one.

use std::io::{self, Write};

use serde::Serialize;

use super::escape::{escape_str, write_json as write_json_value};
use super::time::rfc3339_micros;
use crate::dialog::Call;
use crate::media::StreamReport;

/// The dialog a stream belongs to, by its tags.
#[derive(Debug, Serialize)]
pub struct StreamDialogJson<'a> {
    pub from_tag: &'a str,
    pub to_tag: &'a str,
}

/// One stream as exported.
#[derive(Debug, Serialize)]
pub struct StreamJson<'a> {
    pub call_id: Option<&'a str>,
    /// The dialog of the call whose SDP announced the stream.
    pub dialog: Option<StreamDialogJson<'a>>,
    pub src: &'a str,
    pub dst: &'a str,
    pub ssrc: &'a str,
    /// Payload names as tshark lists them (`g711A`, `g711U, CN`).
    pub payload: &'a str,
    /// The codec SDP named for the main payload type (`PCMA`).
    pub codec: &'a str,
    pub announced: bool,
    pub first_frame: u64,
    pub last_frame: u64,
    pub start: String,
    pub end: String,
    pub duration_ms: f64,
    pub packets: u64,
    pub expected: i64,
    pub lost: i64,
    pub lost_percent: f64,
    pub duplicates: u64,
    pub out_of_order: u64,
    pub min_delta_ms: Option<f64>,
    pub mean_delta_ms: f64,
    pub max_delta_ms: f64,
    pub min_jitter_ms: Option<f64>,
    pub mean_jitter_ms: f64,
    pub max_jitter_ms: f64,
    pub markers: u64,
    pub previous_ssrc: Option<&'a str>,
    pub one_way: bool,
    pub gaps: u64,
    pub max_gap_ms: f64,
    pub dtmf: &'a str,
    pub rtcp_reports: usize,
    pub r_factor: f64,
    pub mos: f64,
    pub mos_method: &'a str,
}

impl<'a> StreamJson<'a> {
    /// A stream, with its dialog looked up in `call` (the call it belongs to, when known).
    pub fn of(s: &'a StreamReport, call: Option<&'a Call>) -> StreamJson<'a> {
        let dialog = call.and_then(|c| {
            let d = c.dialogs.get(crate::diagnose::stream_dialog(c, s)?)?;
            Some(StreamDialogJson {
                from_tag: &d.local_tag,
                to_tag: &d.remote_tag,
            })
        });
        StreamJson {
            call_id: s.call_id.as_deref(),
            dialog,
            src: &s.src,
            dst: &s.dst,
            ssrc: &s.ssrc,
            payload: &s.payload,
            codec: &s.codec,
            announced: s.announced,
            first_frame: s.first.number,
            last_frame: s.last.number,
            start: rfc3339_micros(s.first.ts_ns),
            end: rfc3339_micros(s.last.ts_ns),
            duration_ms: s.duration_ms,
            packets: s.packets,
            expected: s.expected,
            lost: s.lost,
            lost_percent: s.lost_percent,
            duplicates: s.duplicates,
            out_of_order: s.out_of_order,
            min_delta_ms: s.min_delta_ms,
            mean_delta_ms: s.mean_delta_ms,
            max_delta_ms: s.max_delta_ms,
            min_jitter_ms: s.min_jitter_ms,
            mean_jitter_ms: s.mean_jitter_ms,
            max_jitter_ms: s.max_jitter_ms,
            markers: s.markers,
            previous_ssrc: s.previous_ssrc.as_deref(),
            one_way: s.one_way,
            gaps: s.gap_count,
            max_gap_ms: s.max_gap_ms,
            dtmf: &s.dtmf_digits,
            rtcp_reports: s.rtcp_blocks.len(),
            r_factor: s.r_factor,
            mos: s.mos,
            mos_method: &s.mos_method,
        }
    }
}

#[derive(Serialize)]
struct StreamsDoc<'a> {
    streams: Vec<StreamJson<'a>>,
}

/// `{"streams": [...]}` and a newline. `call_of` finds the call a stream belongs to (for its
/// dialog).
pub fn write_json<'a>(
    out: &mut dyn Write,
    streams: &'a [StreamReport],
    call_of: &dyn Fn(&StreamReport) -> Option<&'a Call>,
) -> io::Result<()> {
    let doc = StreamsDoc {
        streams: streams
            .iter()
            .map(|s| StreamJson::of(s, call_of(s)))
            .collect(),
    };
    write_json_value(out, &doc)
}

/// A table, one stream per line, grouped by call.
pub fn write_text(out: &mut dyn Write, streams: &[StreamReport]) -> io::Result<()> {
    if streams.is_empty() {
        return writeln!(out, "no RTP streams");
    }
    let mut last_call: Option<Option<&str>> = None;
    for s in streams {
        let call = s.call_id.as_deref();
        if last_call != Some(call) {
            match call {
                Some(c) => writeln!(out, "call {}", escape_str(c))?,
                None => writeln!(out, "streams no SDP announced")?,
            }
            writeln!(
                out,
                "  {:<22} {:<22} {:<10} {:<12} {:>7} {:>7} {:>9} {:>9} {:>5}  notes",
                "source",
                "destination",
                "SSRC",
                "payload",
                "packets",
                "lost",
                "jitter ms",
                "max ms",
                "MOS"
            )?;
            last_call = Some(call);
        }
        let mut notes = Vec::new();
        if !s.announced {
            notes.push("unannounced".to_string());
        }
        if s.one_way {
            notes.push("one-way".to_string());
        }
        if let Some(prev) = &s.previous_ssrc {
            notes.push(format!("SSRC changed from {prev}"));
        }
        if s.gap_count > 0 {
            notes.push(format!(
                "{} gap(s), longest {:.0} ms",
                s.gap_count, s.max_gap_ms
            ));
        }
        if !s.dtmf_digits.is_empty() {
            notes.push(format!("DTMF {}", escape_str(&s.dtmf_digits)));
        }
        writeln!(
            out,
            "  {:<22} {:<22} {:<10} {:<12} {:>7} {:>7} {:>9.3} {:>9.3} {:>5.2}  {}",
            s.src,
            s.dst,
            s.ssrc,
            escape_str(&s.payload),
            s.packets,
            s.lost,
            s.mean_jitter_ms,
            s.max_jitter_ms,
            s.mos,
            notes.join("; ")
        )?;
    }
    Ok(())
}
