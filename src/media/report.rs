//! Plain report structs for RTP streams and RTCP flows, ready for a JSON or text writer.
//!
//! Owns: [`StreamReport`] and its parts, built from a [`Stream`] by [`stream_report`]. No serde
//! here: `crate::output` maps these to its own serialized types.
//!
//! Field layout, per stream:
//! - `src`, `dst`: `address:port` (IPv6 in brackets), `ssrc`: `0x58F33DEA`.
//! - `payload`: payload type names the way tshark's `rtp,streams` table prints them, in order of
//!   first appearance, comma-separated (`g711A, CN`, `g711U, telephone-event`, `RTPType-125`).
//! - `codec`: the SDP/IANA encoding name of the main payload type (`PCMA`), i.e. the one with
//!   the most packets apart from comfort noise and telephone-events; `payload_types` lists each
//!   type with both names, clock rate and packet count.
//! - `packets`, `expected`, `lost` (negative with duplicates, like tshark), `lost_percent`,
//!   `duplicates`, `out_of_order`.
//! - Delta and jitter in milliseconds, tshark's definitions (see [`super::stream`]); a minimum
//!   is `None` when no packet qualified (tshark prints -1 then).
//! - Times: `first`/`last` frames with their capture times (ns since the epoch).

use super::mos::{self, MosInput};
use super::rtcp::SenderInfo;
use super::stream::Stream;
use crate::net::{Endpoint, FrameRef};

/// One payload type of a stream.
#[derive(Debug, Clone, PartialEq)]
pub struct PayloadReport {
    pub payload_type: u8,
    /// tshark's name (`g711U`, `telephone-event`, `RTPType-96`).
    pub name: String,
    /// SDP/IANA encoding name, when known.
    pub sdp_name: Option<String>,
    /// 0 when unknown (jitter was not computed for these packets).
    pub clock_rate: u32,
    pub packets: u64,
}

/// One DTMF key press (RFC 4733).
#[derive(Debug, Clone, PartialEq)]
pub struct DtmfReport {
    pub event: u8,
    /// `0-9 * # A-D`, `!` for flash; `None` for other tones.
    pub key: Option<char>,
    pub first: FrameRef,
    /// Duration announced by the sender, in ms (timestamp units over the event's clock rate,
    /// 8000 Hz unless the rtpmap says otherwise).
    pub duration_ms: f64,
    pub volume_dbm0: i8,
    pub ended: bool,
    pub packets: u32,
}

/// A silence in arrivals longer than one second while the stream went on.
#[derive(Debug, Clone, PartialEq)]
pub struct GapReport {
    pub before: FrameRef,
    pub after: FrameRef,
    pub gap_ms: f64,
    /// The packet after the gap had the marker bit (expected with silence suppression).
    pub marker: bool,
}

/// An RTCP report block about this stream.
#[derive(Debug, Clone, PartialEq)]
pub struct RtcpBlockReport {
    pub at: FrameRef,
    /// Where the RTCP came from (`address:port`) and its sender's SSRC.
    pub from: String,
    pub reporter_ssrc: String,
    /// Fraction lost since the previous report, in percent.
    pub fraction_lost_percent: f64,
    pub cumulative_lost: i32,
    pub extended_highest_seq: u32,
    /// Interarrival jitter as reported (timestamp units) and converted with the clock rate.
    pub jitter_units: u32,
    pub jitter_ms: f64,
    /// Round trip from LSR/DLSR is not computed (needs the matching SR arrival); raw values.
    pub last_sr: u32,
    pub delay_since_last_sr: u32,
}

/// The latest sender report of the stream's source.
#[derive(Debug, Clone, PartialEq)]
pub struct SenderReport {
    pub at: FrameRef,
    pub sender_reports: u64,
    pub ntp_seconds: u32,
    pub ntp_fraction: u32,
    pub rtp_timestamp: u32,
    pub packet_count: u32,
    pub octet_count: u32,
}

/// Everything known about one RTP stream.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamReport {
    pub src: String,
    pub dst: String,
    pub src_endpoint: Endpoint,
    pub dst_endpoint: Endpoint,
    pub ssrc: String,
    pub ssrc_value: u32,
    pub payload: String,
    pub codec: String,
    pub payload_types: Vec<PayloadReport>,
    /// Found through an SDP announcement (else by content only).
    pub announced: bool,
    pub call_id: Option<String>,
    pub first: FrameRef,
    pub last: FrameRef,
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
    /// The SSRC this stream replaced on the same source -> destination pair.
    pub previous_ssrc: Option<String>,
    /// No stream was seen in the opposite direction (destination -> source).
    pub one_way: bool,
    pub gaps: Vec<GapReport>,
    pub gap_count: u64,
    pub max_gap_ms: f64,
    pub dtmf: Vec<DtmfReport>,
    pub dtmf_digits: String,
    pub rtcp_blocks: Vec<RtcpBlockReport>,
    pub rtcp_sender: Option<SenderReport>,
    /// Source said BYE in RTCP.
    pub rtcp_bye: Option<FrameRef>,
    pub r_factor: f64,
    pub mos: f64,
    /// How `mos` was estimated (assumptions included).
    pub mos_method: String,
}

/// Packets and kinds of RTCP seen on one source -> destination pair.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RtcpFlowReport {
    pub src: String,
    pub dst: String,
    pub packets: u64,
    pub sender_reports: u64,
    pub receiver_reports: u64,
    pub byes: u64,
    pub other: u64,
    pub announced: bool,
}

/// `0x58F33DEA`.
pub fn format_ssrc(ssrc: u32) -> String {
    format!("0x{ssrc:08X}")
}

fn ms(ns: i64) -> f64 {
    ns as f64 / 1e6
}

/// Builds the report of one stream. `call_id` comes from its announcement, `one_way` from the
/// tracker (whether the reverse pair carried RTP).
pub fn stream_report(s: &Stream, call_id: Option<&str>, one_way: bool) -> StreamReport {
    let main = s.main_payload();
    let codec = main
        .map(|p| p.sdp_name.clone().unwrap_or_else(|| p.tshark_name.clone()))
        .unwrap_or_default();
    let clock = main
        .map(|p| p.clock_rate)
        .filter(|&c| c > 0)
        .unwrap_or(8000);
    let expected = s.expected();
    let lost = s.lost();
    let est = mos::estimate(&MosInput {
        codec: &codec,
        expected,
        lost,
        mean_delta_ms: s.mean_delta_ms,
        max_jitter_ms: s.max_jitter_ms,
    });
    let event_clock = s
        .payloads
        .iter()
        .find(|p| p.telephone_event)
        .map(|p| p.rate)
        .filter(|&r| r > 0)
        .unwrap_or(8000);
    StreamReport {
        src: s.src.to_string(),
        dst: s.dst.to_string(),
        src_endpoint: s.src,
        dst_endpoint: s.dst,
        ssrc: format_ssrc(s.ssrc),
        ssrc_value: s.ssrc,
        payload: s
            .payloads
            .iter()
            .map(|p| p.tshark_name.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        codec,
        payload_types: s
            .payloads
            .iter()
            .map(|p| PayloadReport {
                payload_type: p.payload_type,
                name: p.tshark_name.clone(),
                sdp_name: p.sdp_name.clone(),
                clock_rate: p.clock_rate,
                packets: p.packets,
            })
            .collect(),
        announced: s.expectation.is_some(),
        call_id: call_id.map(str::to_string),
        first: s.first,
        last: s.last,
        duration_ms: ms(s.last.ts_ns.saturating_sub(s.first.ts_ns)),
        packets: s.packets,
        expected,
        lost,
        lost_percent: if expected != 0 {
            lost as f64 * 100.0 / expected as f64
        } else {
            0.0
        },
        duplicates: s.duplicates,
        out_of_order: s.out_of_order,
        min_delta_ms: s.min_delta_ms,
        mean_delta_ms: s.mean_delta_ms,
        max_delta_ms: s.max_delta_ms,
        min_jitter_ms: s.min_jitter_ms,
        mean_jitter_ms: s.mean_jitter_ms,
        max_jitter_ms: s.max_jitter_ms,
        markers: s.markers,
        previous_ssrc: s.previous_ssrc.map(format_ssrc),
        one_way,
        gaps: s
            .gaps
            .iter()
            .map(|g| GapReport {
                before: g.before,
                after: g.after,
                gap_ms: ms(g.after.ts_ns.saturating_sub(g.before.ts_ns)),
                marker: g.marker,
            })
            .collect(),
        gap_count: s.gap_count,
        max_gap_ms: ms(s.max_gap_ns),
        dtmf: s
            .dtmf
            .events
            .iter()
            .map(|e| DtmfReport {
                event: e.event,
                key: e.key,
                first: e.first,
                duration_ms: f64::from(e.duration) * 1000.0 / f64::from(event_clock),
                volume_dbm0: -(e.volume as i8),
                ended: e.ended,
                packets: e.packets,
            })
            .collect(),
        dtmf_digits: s.dtmf.digits(),
        rtcp_blocks: s
            .rtcp
            .blocks
            .iter()
            .map(|r| RtcpBlockReport {
                at: r.at,
                from: r.from.to_string(),
                reporter_ssrc: format_ssrc(r.reporter),
                fraction_lost_percent: f64::from(r.block.fraction_lost) * 100.0 / 256.0,
                cumulative_lost: r.block.cumulative_lost,
                extended_highest_seq: r.block.extended_highest_seq,
                jitter_units: r.block.jitter,
                jitter_ms: f64::from(r.block.jitter) * 1000.0 / f64::from(clock),
                last_sr: r.block.last_sr,
                delay_since_last_sr: r.block.delay_since_last_sr,
            })
            .collect(),
        rtcp_sender: s
            .rtcp
            .last_sender
            .map(|(at, i): (FrameRef, SenderInfo)| SenderReport {
                at,
                sender_reports: s.rtcp.sender_reports,
                ntp_seconds: i.ntp_seconds,
                ntp_fraction: i.ntp_fraction,
                rtp_timestamp: i.rtp_timestamp,
                packet_count: i.packet_count,
                octet_count: i.octet_count,
            }),
        rtcp_bye: s.rtcp.bye,
        r_factor: est.r_factor,
        mos: est.mos,
        mos_method: est.method,
    }
}
