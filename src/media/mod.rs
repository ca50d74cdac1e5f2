//! RTP and RTCP analysis: which UDP datagrams are media, and per stream what happened to them.
//!
//! Owns: [`MediaTracker`], fed every UDP datagram the SIP layer did not take ([`MediaTracker::push`])
//! and told by the SIP side which address:port pairs SDP announced ([`MediaTracker::expect`]).
//! A datagram to or from an announced endpoint is decoded as RTP or RTCP straight away. Any
//! other is RTP only when its content says so over several packets: version 2, a plausible
//! payload type, ports above 1023, and the same SSRC with small forward steps of sequence
//! number and timestamp over [`CANDIDATE_PACKETS`] distinct sequence numbers in a row on one
//! source -> destination pair (duplicates in between allowed); until then the packets are held
//! (headers only, a few per pair, capped)
//! and replayed into the stream once it is accepted, so that no packet goes uncounted. Such
//! streams are reported as not announced. RTCP is recognised by content anywhere (version 2,
//! types 200-207, every length consistent, lengths adding up to the datagram), and must start
//! with an SR or RR unless the endpoint was announced.
//!
//! Streams are keyed by (source, destination, SSRC). Per packet the work is one hash lookup
//! and a constant amount of arithmetic; payload bytes are never kept. Memory grows with the
//! number of streams and announcements, not with packets.
//!
//! Submodules: [`rtp`] (header, payload tables), [`rtcp`] (compound packets), [`stream`]
//! (per-stream counters, jitter as tshark computes it), [`dtmf`] (RFC 4733), [`mos`]
//! (E-model), [`report`] (plain output structs), [`endpoints`] (the endpoints a first pass
//! saw carry possible media: announcements of others need not be kept), `hash` (fast hasher).
//!
//! May use: `crate::net` (Flow, Endpoint, FrameRef). Knows nothing of SIP: the SIP side turns
//! SDP into [`ExpectedMedia`].

pub mod dtmf;
pub mod endpoints;
mod hash;
pub mod mos;
pub mod report;
pub mod rtcp;
pub mod rtp;
pub mod stream;

#[cfg(test)]
mod corpus_tests;

use std::collections::HashSet;
use std::sync::Arc;

use crate::net::{Endpoint, Flow, FrameRef, Transport};
use hash::{FastMap, FastState};
pub use report::{RtcpFlowReport, StreamReport};
use rtp::{RtpPacket, StaticPayload};
use stream::{PayloadSlot, RtcpBlockRecord, Stream};

/// Consecutive consistent packets (distinct sequence numbers) needed before a pair nobody
/// announced counts as RTP.
pub const CANDIDATE_PACKETS: usize = 3;
/// Packets held per candidate pair: duplicates may come between the distinct ones.
const CANDIDATE_HELD: usize = 8;
/// Most source -> destination pairs held as RTP candidates at once; beyond, the oldest
/// guesses are dropped (a flood of random UDP cannot grow memory).
pub const MAX_CANDIDATES: usize = 8192;
/// Largest sequence step between candidate packets (lost packets allowed, not chaos).
const CANDIDATE_MAX_SEQ_STEP: u16 = 50;
/// Largest timestamp step between candidate packets (5 s at 90 kHz).
const CANDIDATE_MAX_TS_STEP: u32 = 450_000;

/// What a datagram was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaKind {
    /// RTP, counted in a stream.
    Rtp { announced: bool },
    /// RTCP, its reports attached to the streams they describe.
    Rtcp,
    /// Looks like RTP, held until more packets of the pair confirm it (then counted in its
    /// stream) or contradict it (then forgotten).
    RtpCandidate,
}

/// What SDP said about one media endpoint: it receives RTP on `endpoint` and RTCP on
/// `rtcp_port` (port + 1 when the SDP has no `a=rtcp`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedMedia {
    pub call_id: String,
    /// (payload type, encoding name, clock rate; 0 when the rtpmap gave none).
    pub codecs: Vec<(u8, String, u32)>,
    pub rtcp_port: Option<u16>,
    /// `audio`, `video`, ...
    pub media: String,
    /// The frame that carried the SDP.
    pub announced_by: Option<FrameRef>,
}

/// What is kept of an announcement: only what streams read later (their Call-ID, the payload
/// names). A capture announces media in nearly every call, and the announcements stay for
/// the whole run: kept whole (endpoint, media kind, every codec name as its own string) they
/// were the largest part of a streaming run's memory on a capture of 270,000 calls.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Expectation {
    /// Shared by the announcements of one SDP body (one per media line).
    call_id: Arc<str>,
    /// Shared by every announcement with the same list (SDP bodies come from few templates).
    codecs: CodecList,
}

/// An announcement's codecs: (payload type, encoding name, clock rate; 0 when none given).
type CodecList = Arc<[(u8, String, u32)]>;

/// Recent Call-IDs remembered for sharing; past this they are forgotten (and shared again from
/// the next announcement on).
const RECENT_CALL_IDS: usize = 4096;

/// Distinct codec lists shared at most; past this (hostile input) each list is kept alone.
const MAX_CODEC_LISTS: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct StreamKey {
    src: Endpoint,
    dst: Endpoint,
    ssrc: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct PairKey {
    src: Endpoint,
    dst: Endpoint,
}

#[derive(Debug, Clone, Copy)]
struct Candidate {
    held: [(RtpPacket, FrameRef); CANDIDATE_HELD],
    count: usize,
    /// Packets that moved the sequence number forward (the first one included).
    distinct: usize,
}

/// Totals over everything pushed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MediaCounters {
    pub rtp_packets: u64,
    pub rtp_announced_packets: u64,
    pub rtcp_packets: u64,
    /// Candidate packets never confirmed as RTP.
    pub candidates_dropped: u64,
    /// RTCP report blocks about an SSRC no stream has.
    pub rtcp_blocks_unmatched: u64,
}

/// The RTP/RTCP analysis state of one run.
#[derive(Debug, Default)]
pub struct MediaTracker {
    streams: Vec<Stream>,
    index: FastMap<StreamKey, usize>,
    /// Last stream index per pair (pairs known to carry RTP; SSRC changes are found here).
    pairs: FastMap<PairKey, usize>,
    by_ssrc: FastMap<u32, Vec<usize>>,
    candidates: FastMap<PairKey, Candidate>,
    expectations: Vec<Expectation>,
    /// Codec lists shared between expectations (at most [`MAX_CODEC_LISTS`]).
    codec_lists: HashSet<CodecList, FastState>,
    /// Call-IDs of recent announcements, shared by the announcements of one call (an offer
    /// and its answer are two SDP bodies); cleared at [`RECENT_CALL_IDS`].
    call_ids: HashSet<Arc<str>, FastState>,
    /// Announcement (index in `expectations`) per endpoint; `u32` keeps these maps, the
    /// largest part of what announcements cost, a quarter smaller.
    rtp_at: FastMap<Endpoint, u32>,
    rtcp_at: FastMap<Endpoint, u32>,
    /// Bumped by every [`MediaTracker::expect`], so unannounced streams look again.
    generation: u64,
    rtcp_flows: FastMap<PairKey, RtcpFlowReport>,
    rtcp_flow_order: Vec<PairKey>,
    counters: MediaCounters,
    /// Made by [`MediaTracker::watcher`]: only notes whether anything looks like RTP.
    watch_only: bool,
    /// A watcher saw a datagram that parses as RTP.
    saw_rtp: bool,
    /// When set, announcements of endpoints outside it are not kept (no datagram can ever
    /// look them up: see [`endpoints`]).
    media_endpoints: Option<Arc<endpoints::MediaEndpoints>>,
}

impl MediaTracker {
    pub fn new() -> MediaTracker {
        MediaTracker::default()
    }

    /// A tracker that keeps no stream and needs no announcement: it only tells
    /// ([`MediaTracker::saw_rtp`]) whether any datagram it was shown parses as an RTP
    /// packet. Every stream a full tracker finds starts with such a datagram, so a watcher
    /// that saw none proves a full tracker would have found no stream, at the cost of a
    /// header check per datagram (no SDP parsed, nothing kept). It may say yes where a full
    /// tracker finds nothing (a few stray packets, other protocols that happen to fit).
    pub fn watcher() -> MediaTracker {
        MediaTracker {
            watch_only: true,
            ..MediaTracker::default()
        }
    }

    /// Keeps only the announcements whose RTP or RTCP endpoint is in `found` (endpoints of
    /// every datagram that could be media, from an earlier pass over the same capture). What
    /// the tracker finds is the same; the announcements nobody can match are not held.
    pub fn announcements_for(mut self, found: Arc<endpoints::MediaEndpoints>) -> MediaTracker {
        self.media_endpoints = Some(found);
        self
    }

    /// Whether SDP announcements are of use ([`MediaTracker::expect`]): a watcher ignores
    /// them, and so does a tracker told that no datagram of the capture could be media (a
    /// capture of SIP only need not parse each SDP body again).
    pub fn wants_announcements(&self) -> bool {
        !self.watch_only && self.media_endpoints.as_ref().is_none_or(|f| !f.is_empty())
    }

    /// Whether a datagram parsing as RTP was shown to this tracker (a watcher), or a stream
    /// was found (a full tracker).
    pub fn saw_rtp(&self) -> bool {
        self.saw_rtp || !self.streams.is_empty()
    }

    /// Announces that `endpoint` receives RTP (from SDP). A later announcement of the same
    /// endpoint replaces the earlier one for streams not yet matched.
    pub fn expect(&mut self, endpoint: Endpoint, hint: ExpectedMedia) {
        if self.watch_only {
            return;
        }
        // 2^32 announcements would take a capture of terabytes: past that, none is kept.
        let Ok(idx) = u32::try_from(self.expectations.len()) else {
            return;
        };
        let rtcp_port = hint.rtcp_port.or_else(|| endpoint.port.checked_add(1));
        if let Some(found) = &self.media_endpoints {
            let rtcp = rtcp_port.map(|port| Endpoint {
                ip: endpoint.ip,
                port,
            });
            // Nothing can look this one up. `generation` is not bumped either: it only makes
            // streams without an announcement look again, and they would find nothing new.
            if !found.contains(&endpoint) && rtcp.is_none_or(|e| !found.contains(&e)) {
                return;
            }
        }
        let call_id = match self.call_ids.get(hint.call_id.as_str()) {
            Some(known) => Arc::clone(known),
            None => {
                if self.call_ids.len() >= RECENT_CALL_IDS {
                    self.call_ids.clear();
                }
                let id: Arc<str> = Arc::from(hint.call_id.as_str());
                self.call_ids.insert(Arc::clone(&id));
                id
            }
        };
        let codecs = match self.codec_lists.get(hint.codecs.as_slice()) {
            Some(list) => Arc::clone(list),
            None => {
                let list: CodecList = Arc::from(hint.codecs);
                if self.codec_lists.len() < MAX_CODEC_LISTS {
                    self.codec_lists.insert(Arc::clone(&list));
                }
                list
            }
        };
        self.expectations.push(Expectation { call_id, codecs });
        self.rtp_at.insert(endpoint, idx);
        if let Some(port) = rtcp_port {
            self.rtcp_at.insert(
                Endpoint {
                    ip: endpoint.ip,
                    port,
                },
                idx,
            );
        }
        self.generation += 1;
    }

    /// Looks at one UDP datagram; says whether it was RTP or RTCP. `ts_ns` is its capture time
    /// (it replaces `frame.ts_ns`).
    pub fn push(
        &mut self,
        flow: &Flow,
        ts_ns: i64,
        frame: FrameRef,
        payload: &[u8],
    ) -> Option<MediaKind> {
        if flow.transport != Transport::Udp {
            return None;
        }
        let at = FrameRef { ts_ns, ..frame };
        let b0 = *payload.first()?;
        if b0 >> 6 != 2 {
            return None;
        }
        let b1 = *payload.get(1)?;
        if (200..=207).contains(&b1) {
            return self.push_rtcp(flow, at, payload);
        }
        let p = rtp::parse_rtp(payload).ok()?;
        if self.watch_only {
            self.saw_rtp = true;
            return Some(MediaKind::RtpCandidate);
        }
        let key = StreamKey {
            src: flow.src,
            dst: flow.dst,
            ssrc: p.ssrc,
        };
        if let Some(&i) = self.index.get(&key) {
            return Some(self.push_into(i, &p, at));
        }
        let pair = PairKey {
            src: flow.src,
            dst: flow.dst,
        };
        let announced = self.announcement(flow.src, flow.dst);
        if announced.is_some() || self.pairs.contains_key(&pair) {
            let i = self.new_stream(key, at);
            return Some(self.push_into(i, &p, at));
        }
        self.push_candidate(pair, key, p, at)
    }

    /// The announcement covering a pair: the receiver's first, else the sender's.
    fn announcement(&self, src: Endpoint, dst: Endpoint) -> Option<usize> {
        self.rtp_at
            .get(&dst)
            .or_else(|| self.rtp_at.get(&src))
            .map(|&i| i as usize)
    }

    fn new_stream(&mut self, key: StreamKey, at: FrameRef) -> usize {
        let i = self.streams.len();
        let mut s = Stream::new(key.src, key.dst, key.ssrc, at);
        s.expectation = self.announcement(key.src, key.dst);
        s.checked_generation = self.generation;
        let pair = PairKey {
            src: key.src,
            dst: key.dst,
        };
        if let Some(prev) = self.pairs.insert(pair, i) {
            s.previous_ssrc = self.streams.get(prev).map(|p| p.ssrc);
        }
        self.streams.push(s);
        self.index.insert(key, i);
        self.by_ssrc.entry(key.ssrc).or_default().push(i);
        i
    }

    fn push_into(&mut self, i: usize, p: &RtpPacket, at: FrameRef) -> MediaKind {
        let generation = self.generation;
        let Some(s) = self.streams.get_mut(i) else {
            return MediaKind::Rtp { announced: false };
        };
        if s.expectation.is_none() && s.checked_generation != generation {
            // SDP seen after the stream started: adopt it, and its payload names.
            s.checked_generation = generation;
            let found = self
                .rtp_at
                .get(&s.dst)
                .or_else(|| self.rtp_at.get(&s.src))
                .map(|&i| i as usize);
            if let Some(e) = found {
                s.expectation = Some(e);
                let codecs = self.expectations.get(e).map(|x| &*x.codecs);
                s.rename_payloads(&|pt| resolve_payload(pt, codecs));
            }
        }
        let codecs = s
            .expectation
            .and_then(|e| self.expectations.get(e))
            .map(|x| &*x.codecs);
        s.push(p, at, &|pt| resolve_payload(pt, codecs));
        let announced = s.expectation.is_some();
        self.counters.rtp_packets += 1;
        if announced {
            self.counters.rtp_announced_packets += 1;
        }
        MediaKind::Rtp { announced }
    }

    fn push_candidate(
        &mut self,
        pair: PairKey,
        key: StreamKey,
        p: RtpPacket,
        at: FrameRef,
    ) -> Option<MediaKind> {
        if !rtp::plausible_payload_type(p.payload_type)
            || key.src.port < 1024
            || key.dst.port < 1024
            || p.payload_len == 0
        {
            return None;
        }
        let fresh = Candidate {
            held: [(p, at); CANDIDATE_HELD],
            count: 1,
            distinct: 1,
        };
        let Some(c) = self.candidates.get_mut(&pair) else {
            if self.candidates.len() >= MAX_CANDIDATES {
                let dropped: usize = self.candidates.values().map(|c| c.count).sum();
                self.counters.candidates_dropped += dropped as u64;
                self.candidates.clear();
            }
            self.candidates.insert(pair, fresh);
            return Some(MediaKind::RtpCandidate);
        };
        let step = c
            .count
            .checked_sub(1)
            .and_then(|last| c.held.get(last))
            .and_then(|(prev, _)| follows(prev, &p));
        let Some(step) = step.filter(|_| c.count < CANDIDATE_HELD) else {
            self.counters.candidates_dropped += c.count as u64;
            *c = fresh;
            return Some(MediaKind::RtpCandidate);
        };
        if let Some(slot) = c.held.get_mut(c.count) {
            *slot = (p, at);
        }
        c.count += 1;
        if step > 0 {
            c.distinct += 1;
        }
        if c.distinct < CANDIDATE_PACKETS {
            return Some(MediaKind::RtpCandidate);
        }
        let (held, count) = (c.held, c.count);
        self.candidates.remove(&pair);
        let i = self.new_stream(key, held[0].1);
        let mut kind = MediaKind::Rtp { announced: false };
        for (hp, hat) in held.into_iter().take(count) {
            kind = self.push_into(i, &hp, hat);
        }
        Some(kind)
    }

    fn push_rtcp(&mut self, flow: &Flow, at: FrameRef, payload: &[u8]) -> Option<MediaKind> {
        rtcp::validate_compound(payload)?;
        let announced =
            self.rtcp_at.contains_key(&flow.dst) || self.rtcp_at.contains_key(&flow.src);
        let first_type = payload.get(1).copied().unwrap_or(0);
        if !announced && first_type != rtcp::SR && first_type != rtcp::RR {
            return None;
        }
        self.counters.rtcp_packets += 1;
        let pair = PairKey {
            src: flow.src,
            dst: flow.dst,
        };
        let flows = &mut self.rtcp_flows;
        let order = &mut self.rtcp_flow_order;
        let fl = flows.entry(pair).or_insert_with(|| {
            order.push(pair);
            RtcpFlowReport {
                src: flow.src.to_string(),
                dst: flow.dst.to_string(),
                announced,
                ..RtcpFlowReport::default()
            }
        });
        fl.packets += 1;
        let streams = &mut self.streams;
        let by_ssrc = &self.by_ssrc;
        let counters = &mut self.counters;
        // A stream is chosen by SSRC; when several carry it, the one whose address matches the
        // RTCP sender (source for SR sender info, destination for report blocks).
        let pick = |ssrc: u32, want_dst: bool, streams: &[Stream]| -> Option<usize> {
            let list = by_ssrc.get(&ssrc)?;
            list.iter()
                .copied()
                .find(|&i| {
                    streams.get(i).is_some_and(|s| {
                        (if want_dst { s.dst.ip } else { s.src.ip }) == flow.src.ip
                    })
                })
                .or_else(|| list.last().copied())
        };
        rtcp::for_each_item(payload, &mut |item| match item {
            rtcp::RtcpItem::Sender { ssrc, info } => {
                fl.sender_reports += 1;
                if let Some(s) = pick(ssrc, false, streams).and_then(|i| streams.get_mut(i)) {
                    s.rtcp.sender_reports += 1;
                    s.rtcp.last_sender = Some((at, info));
                }
            }
            rtcp::RtcpItem::Block {
                reporter,
                from_sr,
                block,
            } => {
                if !from_sr {
                    fl.receiver_reports += 1;
                }
                match pick(block.ssrc, true, streams).and_then(|i| streams.get_mut(i)) {
                    Some(s) => s.add_rtcp_block(RtcpBlockRecord {
                        at,
                        from: flow.src,
                        reporter,
                        block,
                    }),
                    None => counters.rtcp_blocks_unmatched += 1,
                }
            }
            rtcp::RtcpItem::Bye { ssrc } => {
                fl.byes += 1;
                if let Some(s) = pick(ssrc, false, streams).and_then(|i| streams.get_mut(i)) {
                    s.rtcp.bye.get_or_insert(at);
                }
            }
            rtcp::RtcpItem::Other { .. } => fl.other += 1,
        });
        // An RR with no blocks still is a receiver report.
        if first_type == rtcp::RR && payload.first().is_some_and(|b| b & 0x1f == 0) {
            fl.receiver_reports += 1;
        }
        Some(MediaKind::Rtcp)
    }

    /// Totals.
    pub fn counters(&self) -> MediaCounters {
        self.counters
    }

    /// The raw per-stream state, in order of first packet.
    pub fn stream_states(&self) -> &[Stream] {
        &self.streams
    }

    /// One report per stream, in order of first packet.
    pub fn streams(&self) -> Vec<StreamReport> {
        self.streams
            .iter()
            .map(|s| {
                let call_id = s
                    .expectation
                    .and_then(|e| self.expectations.get(e))
                    .map(|e| &*e.call_id);
                let reverse = PairKey {
                    src: s.dst,
                    dst: s.src,
                };
                report::stream_report(s, call_id, !self.pairs.contains_key(&reverse))
            })
            .collect()
    }

    /// RTCP seen per source -> destination pair, in order of first packet.
    pub fn rtcp_flows(&self) -> Vec<RtcpFlowReport> {
        self.rtcp_flow_order
            .iter()
            .filter_map(|k| self.rtcp_flows.get(k).cloned())
            .collect()
    }
}

/// Whether `next` plausibly follows `prev` in one RTP stream; the sequence step if so (0 for
/// a duplicate, which must then repeat the timestamp too).
fn follows(prev: &RtpPacket, next: &RtpPacket) -> Option<u16> {
    let seq_step = next.seq.wrapping_sub(prev.seq);
    let ts_step = next.timestamp.wrapping_sub(prev.timestamp);
    let ok = next.ssrc == prev.ssrc
        && seq_step <= CANDIDATE_MAX_SEQ_STEP
        && ts_step <= CANDIDATE_MAX_TS_STEP
        && (seq_step > 0 || ts_step == 0);
    ok.then_some(seq_step)
}

/// Names a payload type and picks the clock rate its jitter is computed with.
///
/// Static types (0-95) use the RFC 3551 table whatever an rtpmap says, as tshark does.
/// Dynamic types use the announced rtpmap (its rate, else the rate known for the name);
/// telephone-event gets no jitter clock (its timestamps stand still during an event). A
/// dynamic type the announcement does not list gets no clock (unknown), like tshark; without
/// any announcement 101 is guessed to be telephone-event and others get 8000 Hz.
fn resolve_payload(pt: u8, codecs: Option<&[(u8, String, u32)]>) -> PayloadSlot {
    let mapped = codecs.and_then(|c| c.iter().find(|(p, _, _)| *p == pt));
    let mut slot = PayloadSlot {
        payload_type: pt,
        tshark_name: String::new(),
        sdp_name: None,
        clock_rate: 0,
        rate: 0,
        event_guessed: false,
        telephone_event: false,
        packets: 0,
    };
    if pt < 96 {
        match rtp::static_payload(pt) {
            Some(StaticPayload {
                tshark_name,
                sdp_name,
                clock_rate,
            }) => {
                slot.tshark_name = tshark_name.to_string();
                slot.sdp_name = Some(
                    mapped
                        .map(|(_, n, _)| n.clone())
                        .unwrap_or_else(|| sdp_name.to_string()),
                );
                slot.clock_rate = clock_rate;
                slot.rate = clock_rate;
            }
            None => {
                slot.tshark_name = format!("Unassigned({pt})");
                slot.sdp_name = mapped.map(|(_, n, _)| n.clone());
            }
        }
        return slot;
    }
    match (mapped, codecs) {
        (Some((_, name, rate)), _) => {
            let rate = if *rate > 0 {
                *rate
            } else {
                rtp::dynamic_clock_rate(name).unwrap_or(0)
            };
            slot.tshark_name = name.clone();
            slot.sdp_name = Some(name.clone());
            slot.rate = rate;
            if rtp::is_telephone_event(name) {
                slot.telephone_event = true;
            } else {
                slot.clock_rate = rate;
            }
        }
        (None, Some(_)) => slot.tshark_name = format!("RTPType-{pt}"),
        (None, None) if pt == 101 => {
            slot.tshark_name = "RTPType-101".to_string();
            slot.sdp_name = Some("telephone-event".to_string());
            slot.rate = 8000;
            slot.telephone_event = true;
            slot.event_guessed = true;
        }
        (None, None) => {
            slot.tshark_name = format!("RTPType-{pt}");
            slot.clock_rate = 8000;
            slot.rate = 8000;
        }
    }
    slot
}

#[cfg(test)]
mod tests;
