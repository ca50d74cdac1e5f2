//! Media checks: what the RTP of a call says about its audio. Pure functions over the call and
//! the [`StreamReport`]s the caller hands in (through a [`MediaView`]); nothing here reads a
//! capture.
//!
//! Streams belong to a call when the SDP announcement that made the tracker decode them came
//! from the call (same Call-ID), or, for streams found by content alone, when one of their
//! address:port ends is an SDP endpoint of the call and they ran while the call did
//! ([`CaptureStreams::of_call`], which finds them through an index, not by reading every
//! stream of the capture for every call). Within its call a stream belongs to the dialog (From tag + To tag)
//! whose SDP announced its ends ([`stream_dialog`]): with a forked INVITE, each answerer's
//! early media stays with its own early dialog.
//!
//! Every finding's evidence is the SIP messages whose SDP set the stream up. The thresholds are
//! constants below and are documented in `docs/outcomes.md`:
//! - `no_rtp`: an answered call with SDP on both sides and no stream at all, over at least
//!   [`MIN_MEDIA_WINDOW_NS`] of call, in a capture that holds RTP of other calls;
//! - `one_way_audio`: packets one way and nothing back to their sender after the answer;
//! - `rtp_to_unexpected_address` / `rtp_from_unexpected_address`: an end that no SDP of the call
//!   announced (NAT, an SBC, latching);
//! - `media_after_bye`: RTP more than [`AFTER_BYE_GRACE_NS`] after the first BYE;
//! - `silence_gap`: arrival gaps over a second (the media tracker's threshold);
//! - `packet_loss`: over [`LOSS_WARN_PERCENT`] (warning) or [`LOSS_ERROR_PERCENT`] (error) of
//!   the expected packets, on streams of at least [`MIN_PACKETS_FOR_QUALITY`] packets;
//! - `high_jitter`: mean over [`JITTER_MEAN_MS`] or maximum over [`JITTER_MAX_MS`];
//! - `codec_mismatch`: a payload the receiver's SDP did not list;
//! - `ssrc_change`: a new SSRC on the same source -> destination pair;
//! - `low_mos`: estimated MOS under [`MOS_WARN`] (warning) or [`MOS_ERROR`] (error).

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use smallvec::SmallVec;

use crate::dialog::{Call, DialogIdx, MsgIdx, Start, Text};
use crate::media::StreamReport;
use crate::net::Endpoint;

use super::{Diagnosis, Finding, Severity};

/// Loss above this share of the expected packets (percent) is a warning.
pub const LOSS_WARN_PERCENT: f64 = 1.0;
/// Loss above this share (percent) is an error.
pub const LOSS_ERROR_PERCENT: f64 = 5.0;
/// Mean jitter (ms) above which a stream is flagged.
pub const JITTER_MEAN_MS: f64 = 30.0;
/// Largest jitter (ms) above which a stream is flagged.
pub const JITTER_MAX_MS: f64 = 60.0;
/// Estimated MOS under this is a warning (G.107: R below 70, some users dissatisfied).
pub const MOS_WARN: f64 = 3.6;
/// Estimated MOS under this is an error (R below 60, many users dissatisfied).
pub const MOS_ERROR: f64 = 3.1;
/// Loss, jitter and MOS are judged on streams of at least this many packets (a second of
/// 20 ms audio is 50): a handful of packets says nothing about quality.
pub const MIN_PACKETS_FOR_QUALITY: u64 = 50;
/// RTP this long after the BYE is more than packets in flight.
pub const AFTER_BYE_GRACE_NS: i64 = 1_000_000_000;
/// `no_rtp` needs the call up (answer to BYE, or to the end of the capture) at least this long.
pub const MIN_MEDIA_WINDOW_NS: i64 = 1_000_000_000;
/// A stream is attached to a call by address when it ends no earlier than this before the
/// call's first message.
const ATTACH_SLACK_NS: i64 = 1_000_000_000;
/// ... and, for a call that ended, starts no later than this after its last message.
const ATTACH_AFTER_BYE_NS: i64 = 5_000_000_000;
/// An SSRC change within this time after a re-INVITE or UPDATE is expected.
const SSRC_AFTER_REINVITE_NS: i64 = 2_000_000_000;

/// The media the caller found for one call, and what the capture as a whole could see.
#[derive(Debug, Clone, Copy)]
pub struct MediaView<'a> {
    /// The call's streams (see [`CaptureStreams::of_call`]).
    pub streams: &'a [&'a StreamReport],
    /// The capture's streams (of any call): whether the capture point could see media at all,
    /// and of which addresses. Without any, a call with no RTP says nothing (the capture was
    /// probably filtered to signalling).
    pub capture: &'a CaptureStreams<'a>,
    /// Time of the last frame of the capture, to judge how long an unended call was seen.
    pub capture_end_ns: Option<i64>,
}

/// The RTP streams of a capture, indexed by the Call-ID that announced them and by their
/// address:port ends, so that finding one call's streams costs what the call has, not what
/// the capture has (a gigabyte capture holds tens of thousands of streams).
#[derive(Debug, Clone, Default)]
pub struct CaptureStreams<'a> {
    streams: &'a [StreamReport],
    by_call: HashMap<&'a str, Vec<usize>>,
    by_endpoint: HashMap<Endpoint, Vec<usize>>,
    /// Addresses that are an end of some stream of the capture.
    ips: HashSet<IpAddr>,
}

impl<'a> CaptureStreams<'a> {
    /// Indexes every stream of a capture.
    pub fn new(all: &'a [StreamReport]) -> CaptureStreams<'a> {
        let ips = all
            .iter()
            .flat_map(|s| [s.src_endpoint.ip, s.dst_endpoint.ip])
            .collect();
        let mut by_call: HashMap<&'a str, Vec<usize>> = HashMap::new();
        let mut by_endpoint: HashMap<Endpoint, Vec<usize>> = HashMap::new();
        for (i, s) in all.iter().enumerate() {
            if let Some(id) = s.call_id.as_deref() {
                by_call.entry(id).or_default().push(i);
            }
            by_endpoint.entry(s.src_endpoint).or_default().push(i);
            if s.dst_endpoint != s.src_endpoint {
                by_endpoint.entry(s.dst_endpoint).or_default().push(i);
            }
        }
        CaptureStreams {
            streams: all,
            by_call,
            by_endpoint,
            ips,
        }
    }

    /// Whether the capture holds no stream at all.
    pub fn is_empty(&self) -> bool {
        self.streams.is_empty()
    }

    /// Whether some stream of the capture goes to or comes from `ip`.
    pub fn has_rtp_of(&self, ip: IpAddr) -> bool {
        self.ips.contains(&ip)
    }

    /// Picks the streams of `call`, in capture order: those announced by the call's SDP (same
    /// Call-ID), and any other whose source or destination is an SDP endpoint of the call and
    /// that ran while the call did (found by content, or announced by another call on the same
    /// endpoints: the two legs of a B2BUA that moved the media between the phones).
    pub fn of_call(&self, call: &Call) -> Vec<&'a StreamReport> {
        if self.streams.is_empty() {
            // A capture without RTP (most SIP-only captures): reading the call's SDP ends
            // would cost a string per codec for a look that can find nothing.
            return Vec::new();
        }
        let ends = sdp_ends(call);
        let mut near: Vec<usize> = self
            .by_call
            .get(call.call_id.as_str())
            .into_iter()
            .flatten()
            .copied()
            .collect();
        for e in &ends {
            near.extend(self.by_endpoint.get(&e.ep).into_iter().flatten());
        }
        near.sort_unstable();
        near.dedup();
        let start = call.messages.first().map(|m| m.frame.ts_ns);
        // A call still up at the end of the capture has no end; any other ended with its last
        // message (a refused or cancelled call can only have had early media before).
        let answered = call.messages.iter().any(|m| {
            m.status().is_some_and(|c| (200..300).contains(&c)) && m.method() == Some("INVITE")
        });
        let end = if answered && first_bye_ns(call).is_none() {
            None
        } else {
            call.messages.last().map(|m| m.frame.ts_ns)
        };
        let streams = self.streams;
        near.into_iter()
            .filter_map(|i| streams.get(i))
            .filter(|s| {
                if s.call_id.as_deref() == Some(call.call_id.as_str()) {
                    return true;
                }
                let by_addr = ends
                    .iter()
                    .any(|e| e.ep == s.dst_endpoint || e.ep == s.src_endpoint);
                let after_start =
                    start.is_none_or(|t| s.last.ts_ns >= t.saturating_sub(ATTACH_SLACK_NS));
                let before_end =
                    end.is_none_or(|t| s.first.ts_ns <= t.saturating_add(ATTACH_AFTER_BYE_NS));
                by_addr && after_start && before_end
            })
            .collect()
    }
}

/// A stream in one line, for the diagnosis of its call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamBrief {
    pub src: String,
    pub dst: String,
    pub ssrc: String,
    pub codec: String,
    pub packets: u64,
    pub lost: i64,
    /// Found through the call's SDP (else by content, attached by address).
    pub announced: bool,
    /// `PCMU 250 pkts, lost 0 (0.0%), jitter 0.2/0.5 ms, MOS 4.4` (may quote capture text:
    /// escape before printing).
    pub text: String,
}

/// Whether a stream carries video, by its main payload's clock (90 kHz is the video clock of
/// every RTP video format).
fn video_clock(s: &StreamReport) -> bool {
    s.payload_types
        .iter()
        .max_by_key(|p| p.packets)
        .is_some_and(|p| p.clock_rate == 90_000)
}

/// The band text of a stream: codec, packets, loss, jitter and MOS.
pub fn stream_line(s: &StreamReport) -> String {
    let codec = if s.codec.is_empty() {
        s.payload.as_str()
    } else {
        s.codec.as_str()
    };
    let mut t = format!(
        "RTP {codec} {} pkts, lost {} ({:.1}%), jitter {:.1}/{:.1} ms",
        s.packets,
        s.lost.max(0),
        s.lost_percent.max(0.0),
        s.mean_jitter_ms,
        s.max_jitter_ms
    );
    if s.mos > 0.0 && !video_clock(s) {
        t.push_str(&format!(", MOS {:.1}", s.mos));
    }
    if !s.announced {
        t.push_str(", not announced by SDP");
    }
    t
}

/// One SDP media line of the call: who receives where, as which message said it. Its words
/// are borrowed as the SDP writes them: compare them ignoring ASCII case.
#[derive(Debug, Clone)]
struct SdpEnd<'c> {
    ep: Endpoint,
    msg: MsgIdx,
    time_ns: i64,
    codecs: &'c [Text],
    direction: &'c str,
    /// `audio`, `video`, ...
    kind: &'c str,
    request: bool,
}

/// A call's SDP media lines: a few, kept on the stack.
type SdpEnds<'c> = SmallVec<[SdpEnd<'c>; 4]>;

/// Whether an SDP direction puts the stream on hold (or off).
fn is_hold(direction: &str) -> bool {
    ["sendonly", "recvonly", "inactive"]
        .iter()
        .any(|d| direction.eq_ignore_ascii_case(d))
}

fn sdp_ends(call: &Call) -> SdpEnds<'_> {
    let mut out = SdpEnds::new();
    for (i, m) in call.messages.iter().enumerate() {
        let Some(sdp) = &m.extra.sdp else { continue };
        // Offer/answer happens in these; SDP in OPTIONS answers only lists capabilities.
        if !matches!(m.method(), Some("INVITE" | "ACK" | "PRACK" | "UPDATE")) {
            continue;
        }
        for md in &sdp.media {
            let addr = md.address.as_deref().or(sdp.address.as_deref());
            let Some(ip) = addr.and_then(|a| a.trim().parse::<IpAddr>().ok()) else {
                continue;
            };
            if md.port == 0 || ip.is_unspecified() {
                continue;
            }
            out.push(SdpEnd {
                ep: Endpoint { ip, port: md.port },
                msg: i,
                time_ns: m.frame.ts_ns,
                codecs: &md.codecs,
                direction: &md.direction,
                kind: &md.kind,
                request: m.is_request(),
            });
        }
    }
    out
}

fn first_bye_ns(call: &Call) -> Option<(MsgIdx, i64)> {
    call.messages
        .iter()
        .enumerate()
        .find_map(|(i, m)| match &m.start {
            Start::Request { method, .. } if method == "BYE" => Some((i, m.frame.ts_ns)),
            _ => None,
        })
}

/// The dialog a stream of `call` belongs to: the dialog of the SDP message that announced
/// the stream's destination (where its receiver said it takes media), else its source (the
/// sender's own announcement, which names the fork when the receiver's offer went to several
/// answerers). Among several such messages the latest before the stream's first packet wins
/// (a re-INVITE or a later answer moves media), else the earliest after it.
///
/// A message names its dialog by its From and To tags. An initial INVITE has no To tag: it
/// names a dialog only when its transaction created exactly one; the offer of a forked INVITE
/// goes to every fork and says nothing about which one a stream belongs to. `None` when no
/// announcement names a dialog (a stream found by content on an address no SDP of the call
/// carried, a call whose INVITE got no tagged response).
pub fn stream_dialog(call: &Call, s: &StreamReport) -> Option<DialogIdx> {
    let ends = sdp_ends(call);
    let t = s.first.ts_ns;
    [s.dst_endpoint, s.src_endpoint].into_iter().find_map(|ep| {
        let named: Vec<(i64, DialogIdx)> = ends
            .iter()
            .filter(|e| e.ep == ep)
            .filter_map(|e| Some((e.time_ns, dialog_of_msg(call, e.msg)?)))
            .collect();
        named
            .iter()
            .filter(|(at, _)| *at <= t)
            .max_by_key(|(at, _)| *at)
            .or_else(|| named.iter().min_by_key(|(at, _)| *at))
            .map(|&(_, d)| d)
    })
}

/// The dialog one message belongs to, by its tags (in either orientation: requests from the
/// callee swap them), or for a message without a To tag the only dialog its transaction made.
fn dialog_of_msg(call: &Call, i: MsgIdx) -> Option<DialogIdx> {
    let m = call.messages.get(i)?;
    if let (Some(f), Some(t)) = (m.from.tag.as_deref(), m.to.tag.as_deref()) {
        return call.dialogs.iter().position(|d| {
            (d.local_tag == f && d.remote_tag == t) || (d.local_tag == t && d.remote_tag == f)
        });
    }
    let step = call.info.get(i)?.step?;
    let tx = call.steps.get(step)?.transaction;
    match call.transactions.get(tx)?.dialogs.as_slice() {
        [only] => Some(*only),
        _ => None,
    }
}

/// Diagnoses one call with its media: [`super::diagnose`] plus the media findings.
pub fn diagnose_with_media(call: &Call, media: &MediaView<'_>) -> Diagnosis {
    with_media(call, media, true)
}

/// [`diagnose_with_media`] for the text output, which prints no per-transaction timings:
/// `timings.transactions` stays empty, the rest is the same.
pub fn diagnose_with_media_for_text(call: &Call, media: &MediaView<'_>) -> Diagnosis {
    with_media(call, media, false)
}

fn with_media(call: &Call, media: &MediaView<'_>, per_transaction: bool) -> Diagnosis {
    let mut d = super::diagnose_as(call, per_transaction);
    // Nothing to judge (a capture without RTP): skip reading the call's SDP.
    if !(media.streams.is_empty() && media.capture.is_empty()) {
        check(call, media, &mut d);
    }
    d
}

fn secs(ns: i64) -> String {
    format!("{:.1} s", ns as f64 / 1e9)
}

/// A time as an offset from the call's first message: `+12.3 s`.
fn offset(t0: i64, t: i64) -> String {
    format!("+{:.1} s", t.saturating_sub(t0) as f64 / 1e9)
}

fn name_of(codec: &str) -> &str {
    codec.split('/').next().unwrap_or(codec).trim()
}

/// The SDP lines that announced an endpoint: the latest at or before `at`, else the first.
fn announcing<'a, 'c>(ends: &'a [SdpEnd<'c>], ep: Endpoint, at: i64) -> Option<&'a SdpEnd<'c>> {
    let mut all = ends.iter().filter(|e| e.ep == ep);
    let first = all.clone().next();
    all.rfind(|e| e.time_ns <= at).or(first)
}

/// The SDP messages behind a stream (the announcements of both ends), sorted.
fn evidence(ends: &[SdpEnd], s: &StreamReport) -> Vec<MsgIdx> {
    let mut v: Vec<MsgIdx> = [s.dst_endpoint, s.src_endpoint]
        .into_iter()
        .filter_map(|ep| announcing(ends, ep, s.first.ts_ns))
        .map(|e| e.msg)
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// When the call was answered: the time of the deciding 2xx.
fn answer_of(call: &Call, d: &Diagnosis) -> Option<i64> {
    if !d.outcome.is_answered() {
        return None;
    }
    d.final_step
        .and_then(|f| call.first_msg(f))
        .map(|m| m.frame.ts_ns)
}

pub(crate) fn check(call: &Call, media: &MediaView<'_>, d: &mut Diagnosis) {
    let ends = sdp_ends(call);
    let t0 = call.messages.first().map_or(0, |m| m.frame.ts_ns);
    d.streams = media
        .streams
        .iter()
        .map(|s| StreamBrief {
            src: s.src.clone(),
            dst: s.dst.clone(),
            ssrc: s.ssrc.clone(),
            codec: s.codec.clone(),
            packets: s.packets,
            lost: s.lost,
            announced: s.announced,
            text: stream_line(s),
        })
        .collect();
    let answered_at = answer_of(call, d);
    let bye = first_bye_ns(call);
    let hold = ends.iter().any(|e| is_hold(e.direction));
    no_rtp(media, d, &ends, answered_at, bye, hold);
    for s in media.streams {
        let ev = evidence(&ends, s);
        one_way(media, d, &ends, s, answered_at, hold, &ev);
        addresses(media, d, &ends, s, &ev);
        after_bye(d, s, bye, t0, &ev);
        let audio = kind_of(&ends, s).eq_ignore_ascii_case("audio");
        gaps(d, s, audio, t0, &ev);
        if audio {
            // Jitter and MOS limits are for voice: video sends bursts of packets per frame.
            quality(d, s, &ev);
        } else {
            loss(d, s, &ev);
        }
        codec(d, &ends, s, &ev);
        ssrc(call, d, s, t0, &ev);
    }
}

fn no_rtp(
    media: &MediaView<'_>,
    d: &mut Diagnosis,
    ends: &[SdpEnd],
    answered_at: Option<i64>,
    bye: Option<(MsgIdx, i64)>,
    hold: bool,
) {
    let Some(answer) = answered_at else { return };
    if !media.streams.is_empty() || media.capture.is_empty() {
        return;
    }
    let offer = ends.iter().find(|e| e.request);
    let reply = ends.iter().find(|e| !e.request);
    let (Some(offer), Some(reply)) = (offer, reply) else {
        return;
    };
    if ends
        .iter()
        .all(|e| e.direction.eq_ignore_ascii_case("inactive"))
    {
        return;
    }
    let end = bye.map(|(_, t)| t).or(media.capture_end_ns);
    let Some(window) = end.map(|e| e.saturating_sub(answer)) else {
        return;
    };
    if window < MIN_MEDIA_WINDOW_NS {
        return;
    }
    let until = if bye.is_some() {
        "before the BYE"
    } else {
        "before the capture ended"
    };
    let mut ev = vec![offer.msg, reply.msg];
    ev.sort_unstable();
    ev.dedup();
    // Whether the capture point saw RTP of both media addresses (in other calls): if not, it
    // may simply not be on this call's media path (phones sending straight to each other).
    let seen = |ip: IpAddr| media.capture.has_rtp_of(ip);
    let unseen: Vec<String> = [offer.ep.ip, reply.ep.ip]
        .into_iter()
        .filter(|&ip| !seen(ip))
        .map(|ip| ip.to_string())
        .fold(Vec::new(), |mut v, ip| {
            if !v.contains(&ip) {
                v.push(ip);
            }
            v
        });
    let mut text = format!(
        "Answered with SDP on both sides (media at {} and {}), but no RTP of this call was captured in either direction during the {} the call was up {until}.",
        offer.ep,
        reply.ep,
        secs(window)
    );
    let on_path = unseen.is_empty();
    if on_path {
        text.push_str(" The capture does hold RTP of these addresses in other calls, so it could see media: this call's media took another path, were blocked (firewall, NAT), or were never sent.");
    } else {
        text.push_str(&format!(
            " The capture holds RTP of other calls but none to or from {}: it may not be on this call's media path (media sent straight between the ends), so this is no proof that audio failed.",
            unseen.join(" or ")
        ));
    }
    d.media.push(Finding::new(
        if hold || !on_path {
            Severity::Info
        } else {
            Severity::Warning
        },
        "no_rtp",
        text,
        ev,
    ));
}

/// Whether another stream of the call comes back to the sender of `s`: to its very address
/// and port, to another port the sender's side announced (asymmetric RTP), or to its address
/// when the two ends are on different addresses (NAT may map ports).
fn comes_back(media: &MediaView<'_>, ends: &[SdpEnd], s: &StreamReport) -> bool {
    let src = s.src_endpoint;
    let dst_msg = ends.iter().find(|e| e.ep == s.dst_endpoint).map(|e| e.msg);
    media.streams.iter().any(|r| {
        if std::ptr::eq(*r, s) || r.dst_endpoint == s.dst_endpoint {
            return false;
        }
        r.dst_endpoint == src
            || ends
                .iter()
                .any(|e| e.ep == r.dst_endpoint && e.ep.ip == src.ip && Some(e.msg) != dst_msg)
            || (src.ip != s.dst_endpoint.ip && r.dst_endpoint.ip == src.ip)
    })
}

fn one_way(
    media: &MediaView<'_>,
    d: &mut Diagnosis,
    ends: &[SdpEnd],
    s: &StreamReport,
    answered_at: Option<i64>,
    hold: bool,
    ev: &[MsgIdx],
) {
    // Early media (ringback before the answer) is one-way by nature.
    let Some(answer) = answered_at else { return };
    if s.last.ts_ns < answer || comes_back(media, ends, s) {
        return;
    }
    let (sev, tail) = if hold {
        (
            Severity::Info,
            " An SDP of the call puts the media on hold (sendonly/recvonly/inactive), which explains it.",
        )
    } else {
        (
            Severity::Warning,
            " The far end sent nothing back, or its packets went where the capture could not see them (another path, blocked by a firewall or NAT): the caller hears nothing on one side.",
        )
    };
    d.media.push(Finding::new(
        sev,
        "one_way_audio",
        format!(
            "One-way audio: {} packets from {} to {} (frames {}-{}), and no RTP back to {}.{tail}",
            s.packets, s.src, s.dst, s.first.number, s.last.number, s.src
        ),
        ev.to_vec(),
    ));
}

fn addresses(
    media: &MediaView<'_>,
    d: &mut Diagnosis,
    ends: &[SdpEnd],
    s: &StreamReport,
    ev: &[MsgIdx],
) {
    if ends.is_empty() {
        return;
    }
    let src_end = ends.iter().find(|e| e.ep == s.src_endpoint);
    if !ends.iter().any(|e| e.ep == s.dst_endpoint) {
        // What the SDP said instead: the announcements not made by the sender's side.
        let said: Vec<String> = ends
            .iter()
            .filter(|e| e.ep != s.src_endpoint && src_end.is_none_or(|x| x.msg != e.msg))
            .map(|e| e.ep.to_string())
            .fold(Vec::new(), |mut v, e| {
                if !v.contains(&e) {
                    v.push(e);
                }
                v
            });
        let mut text = format!(
            "RTP from {} goes to {}, which no SDP of this call announced",
            s.src, s.dst
        );
        if !said.is_empty() {
            text.push_str(&format!(" (the SDP said {})", said.join(", ")));
        }
        let private = ends
            .iter()
            .any(|e| super::sdp::private_kind(e.ep.ip).is_some() && e.ep.ip != s.dst_endpoint.ip);
        if private {
            text.push_str(": the SDP carries a private address and the media went to the address the packets really came from (NAT, with the media latched or rewritten on the way).");
        } else {
            text.push_str(": something between the ends (NAT, an SBC or media relay) changed where the media go.");
        }
        let mut ev = ev.to_vec();
        ev.extend(ends.iter().filter(|e| !e.request).map(|e| e.msg).take(1));
        ev.sort_unstable();
        ev.dedup();
        d.media.push(Finding::new(
            Severity::Warning,
            "rtp_to_unexpected_address",
            text,
            ev,
        ));
    } else if !ends.iter().any(|e| e.ep.ip == s.src_endpoint.ip)
        // The stream answering it goes to that address and tells the NAT story already.
        && !media.streams.iter().any(|r| r.dst_endpoint == s.src_endpoint)
    {
        d.media.push(Finding::new(
            Severity::Info,
            "rtp_from_unexpected_address",
            format!(
                "RTP to {} comes from {}, an address no SDP of this call announced: a NAT or media relay stands in front of the sender.",
                s.dst, s.src
            ),
            ev.to_vec(),
        ));
    }
}

fn after_bye(
    d: &mut Diagnosis,
    s: &StreamReport,
    bye: Option<(MsgIdx, i64)>,
    t0: i64,
    ev: &[MsgIdx],
) {
    let Some((bm, bt)) = bye else { return };
    let late = s.last.ts_ns.saturating_sub(bt);
    if late <= AFTER_BYE_GRACE_NS {
        return;
    }
    let mut ev = ev.to_vec();
    ev.push(bm);
    ev.sort_unstable();
    ev.dedup();
    d.media.push(Finding::new(
        Severity::Warning,
        "media_after_bye",
        format!(
            "RTP from {} to {} went on for {} after the BYE (last packet frame {}, {} into the call): the sender did not stop its media when the call ended (a ghost stream, or a BYE it never received).",
            s.src,
            s.dst,
            secs(late),
            s.last.number,
            offset(t0, s.last.ts_ns)
        ),
        ev,
    ));
}

/// The media kind of a stream: what the SDP of either end says, else a guess from its clock.
fn kind_of<'e>(ends: &[SdpEnd<'e>], s: &StreamReport) -> &'e str {
    let by_sdp = [s.dst_endpoint, s.src_endpoint]
        .into_iter()
        .find_map(|ep| announcing(ends, ep, s.first.ts_ns))
        .map(|e| e.kind);
    match by_sdp {
        Some(k) => k,
        None if video_clock(s) => "video",
        None => "audio",
    }
}

fn gaps(d: &mut Diagnosis, s: &StreamReport, audio: bool, t0: i64, ev: &[MsgIdx]) {
    if s.gap_count == 0 {
        return;
    }
    let Some(longest) = s.gaps.iter().max_by(|a, b| a.gap_ms.total_cmp(&b.gap_ms)) else {
        return;
    };
    let unmarked = s.gaps.iter().any(|g| !g.marker);
    let (sev, why) = if unmarked {
        (
            Severity::Warning,
            if audio {
                "the packets after it did not carry the marker bit, so this was not silence suppression: audio dropped out"
            } else {
                "the packets after it did not carry the marker bit: the media stopped for that long"
            },
        )
    } else {
        (
            Severity::Info,
            "every gap ends with the marker bit: the sender suppresses silence (VAD/DTX), which is expected",
        )
    };
    d.media.push(Finding::new(
        sev,
        "silence_gap",
        format!(
            "RTP from {} to {} paused {} time(s) for more than a second; the longest, {:.1} s, from frame {} to frame {}, {} into the call; {why}.",
            s.src,
            s.dst,
            s.gap_count,
            longest.gap_ms / 1000.0,
            longest.before.number,
            longest.after.number,
            offset(t0, longest.before.ts_ns)
        ),
        ev.to_vec(),
    ));
}

fn loss(d: &mut Diagnosis, s: &StreamReport, ev: &[MsgIdx]) {
    if s.packets < MIN_PACKETS_FOR_QUALITY {
        return;
    }
    if s.lost > 0 && s.lost_percent > LOSS_WARN_PERCENT {
        let sev = if s.lost_percent > LOSS_ERROR_PERCENT {
            Severity::Error
        } else {
            Severity::Warning
        };
        d.media.push(Finding::new(
            sev,
            "packet_loss",
            format!(
                "RTP from {} to {}: {} of {} packets lost ({:.1}%) before the capture point (sequence numbers never seen); above {LOSS_WARN_PERCENT}% the loss is audible.",
                s.src, s.dst, s.lost, s.expected, s.lost_percent
            ),
            ev.to_vec(),
        ));
    }
}

fn quality(d: &mut Diagnosis, s: &StreamReport, ev: &[MsgIdx]) {
    loss(d, s, ev);
    if s.packets < MIN_PACKETS_FOR_QUALITY {
        return;
    }
    if s.mean_jitter_ms > JITTER_MEAN_MS || s.max_jitter_ms > JITTER_MAX_MS {
        d.media.push(Finding::new(
            Severity::Warning,
            "high_jitter",
            format!(
                "RTP from {} to {}: jitter mean {:.1} ms, max {:.1} ms (limits {JITTER_MEAN_MS} and {JITTER_MAX_MS} ms): a jitter buffer must grow or drop late packets, which sounds choppy.",
                s.src, s.dst, s.mean_jitter_ms, s.max_jitter_ms
            ),
            ev.to_vec(),
        ));
    }
    if s.mos > 0.0 && s.mos < MOS_WARN {
        let sev = if s.mos < MOS_ERROR {
            Severity::Error
        } else {
            Severity::Warning
        };
        d.media.push(Finding::new(
            sev,
            "low_mos",
            format!(
                "RTP from {} to {}: estimated MOS {:.2} (R {:.0}), under {MOS_WARN}: listeners notice the degradation. Estimated from loss and jitter seen at the capture point ({}).",
                s.src, s.dst, s.mos, s.r_factor, s.mos_method
            ),
            ev.to_vec(),
        ));
    }
}

fn codec(d: &mut Diagnosis, ends: &[SdpEnd], s: &StreamReport, ev: &[MsgIdx]) {
    // What the receiver said it takes; when its address is not one the SDP announced, every
    // answer of the call (the negotiated set).
    let allowed: Vec<&str> = match announcing(ends, s.dst_endpoint, s.first.ts_ns) {
        Some(e) => e.codecs.iter().map(|c| name_of(c)).collect(),
        None => ends
            .iter()
            .filter(|e| !e.request)
            .flat_map(|e| e.codecs.iter().map(|c| name_of(c)))
            .collect(),
    };
    if allowed.is_empty() {
        return;
    }
    let odd: Vec<String> = s
        .payload_types
        .iter()
        .filter(|p| {
            let name = p.sdp_name.as_deref().unwrap_or(&p.name);
            !allowed.iter().any(|a| a.eq_ignore_ascii_case(name))
                && !allowed.iter().any(|a| *a == p.payload_type.to_string())
        })
        .map(|p| {
            let name = p.sdp_name.as_deref().unwrap_or(&p.name);
            format!(
                "{name} (payload type {}, {} packets)",
                p.payload_type, p.packets
            )
        })
        .collect();
    if odd.is_empty() {
        return;
    }
    let mut listed: Vec<&str> = Vec::new();
    for a in allowed {
        if !listed.contains(&a) {
            listed.push(a);
        }
    }
    d.media.push(Finding::new(
        Severity::Warning,
        "codec_mismatch",
        format!(
            "RTP from {} to {} carries {}, which the receiver's SDP did not list (it takes {}): the receiver may drop or garble those packets.",
            s.src,
            s.dst,
            odd.join(", "),
            listed.join(", ")
        ),
        ev.to_vec(),
    ));
}

fn ssrc(call: &Call, d: &mut Diagnosis, s: &StreamReport, t0: i64, ev: &[MsgIdx]) {
    let Some(prev) = &s.previous_ssrc else { return };
    // A re-INVITE or UPDATE just before explains a new source (transfer, media switch).
    let renegotiated = call.messages.iter().any(|m| {
        let t = m.frame.ts_ns;
        let in_dialog_offer = match &m.start {
            Start::Request { method, .. } => {
                (method == "INVITE" && m.to.tag.is_some()) || method == "UPDATE"
            }
            _ => false,
        };
        in_dialog_offer
            && t <= s.first.ts_ns
            && s.first.ts_ns.saturating_sub(t) <= SSRC_AFTER_REINVITE_NS
    });
    let (sev, tail) = if renegotiated {
        (
            Severity::Info,
            "right after a re-INVITE/UPDATE, so a new source is expected",
        )
    } else {
        (
            Severity::Warning,
            "with no renegotiation: the sender restarted its stream or something in the path switched sources; receivers that lock onto one SSRC go silent",
        )
    };
    d.media.push(Finding::new(
        sev,
        "ssrc_change",
        format!(
            "RTP from {} to {} changed SSRC from {prev} to {} at frame {} ({} into the call), {tail}.",
            s.src,
            s.dst,
            s.ssrc,
            s.first.number,
            offset(t0, s.first.ts_ns)
        ),
        ev.to_vec(),
    ));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialog::testkit::{invite, reply, request};
    use crate::dialog::{analyze_call, MediaSummary, SdpSummary};

    /// The media lines as `sdp_ends` used to read them: owned, lowercased copies.
    type Owned = (Endpoint, MsgIdx, i64, Vec<String>, String, String, bool);

    fn reference(call: &Call) -> Vec<Owned> {
        let mut out = Vec::new();
        for (i, m) in call.messages.iter().enumerate() {
            let Some(sdp) = &m.extra.sdp else { continue };
            if !matches!(m.method(), Some("INVITE" | "ACK" | "PRACK" | "UPDATE")) {
                continue;
            }
            for md in &sdp.media {
                let addr = md.address.as_deref().or(sdp.address.as_deref());
                let Some(ip) = addr.and_then(|a| a.trim().parse::<IpAddr>().ok()) else {
                    continue;
                };
                if md.port == 0 || ip.is_unspecified() {
                    continue;
                }
                out.push((
                    Endpoint { ip, port: md.port },
                    i,
                    m.frame.ts_ns,
                    md.codecs.iter().map(|c| c.to_string()).collect(),
                    md.direction.to_ascii_lowercase().to_string(),
                    md.kind.to_ascii_lowercase().to_string(),
                    m.is_request(),
                ));
            }
        }
        out
    }

    fn media(kind: &str, port: u16, direction: &str, address: Option<&str>) -> MediaSummary {
        MediaSummary {
            kind: kind.into(),
            port,
            proto: "RTP/AVP".into(),
            codecs: vec!["PCMU/8000".into(), "telephone-event/8000".into()],
            direction: direction.into(),
            address: address.map(Into::into),
        }
    }

    fn with(mut m: Msg, address: Option<&str>, media: Vec<MediaSummary>) -> Msg {
        m.has_sdp = true;
        m.extra.make_mut().sdp = Some(SdpSummary {
            address: address.map(Into::into),
            media,
        });
        m
    }

    use crate::dialog::Msg;

    /// Borrowed media lines are the owned ones, words compared ignoring case; hold and the
    /// media kind are decided as on the lowercased copies. Odd case, padded and IPv6
    /// addresses, port 0, an unspecified address, a bad one, SDP in an OPTIONS answer.
    #[test]
    fn sdp_ends_borrow_what_the_owned_copies_said() {
        let inv = invite("s", 1, 2, 0, "z9hG4bK-s", 1);
        let ok = reply(&inv, 200, 100, Some("b"));
        let o = request("OPTIONS", "s", 1, 2, 200, "z9hG4bK-o", 2, "a", None);
        let o_ok = reply(&o, 200, 210, Some("x"));
        let msgs = vec![
            with(
                inv,
                Some(" 10.0.0.1 "),
                vec![
                    media("Audio", 4000, "SendOnly", None),
                    media("VIDEO", 4002, "sendrecv", Some("2001:db8::1")),
                    media("audio", 0, "inactive", None),
                    media("audio", 4004, "INACTIVE", Some("0.0.0.0")),
                    media("audio", 4006, "recvonly", Some("not an address")),
                ],
            ),
            with(ok, Some("192.0.2.7"), vec![media("audio", 5000, "", None)]),
            with(
                o,
                Some("10.0.0.9"),
                vec![media("audio", 6000, "inactive", None)],
            ),
            with(
                o_ok,
                Some("10.0.0.9"),
                vec![media("audio", 6002, "sendrecv", None)],
            ),
        ];
        let call = analyze_call(msgs, &[]);
        let want = reference(&call);
        let got: Vec<Owned> = sdp_ends(&call)
            .iter()
            .map(|e| {
                (
                    e.ep,
                    e.msg,
                    e.time_ns,
                    e.codecs.iter().map(|c| c.to_string()).collect(),
                    e.direction.to_ascii_lowercase(),
                    e.kind.to_ascii_lowercase(),
                    e.request,
                )
            })
            .collect();
        assert_eq!(got, want);
        assert_eq!(want.len(), 3, "{want:?}");
        for (e, w) in sdp_ends(&call).iter().zip(&want) {
            assert_eq!(
                is_hold(e.direction),
                matches!(w.4.as_str(), "sendonly" | "recvonly" | "inactive")
            );
            assert_eq!(e.kind.eq_ignore_ascii_case("audio"), w.5 == "audio");
            assert_eq!(
                e.direction.eq_ignore_ascii_case("inactive"),
                w.4 == "inactive"
            );
        }
        assert!(is_hold("SENDONLY") && is_hold("Inactive") && !is_hold("sendrecv") && !is_hold(""));
    }
}
