//! Frames in, application payloads out.
//!
//! Owns: link layers (Ethernet, VLAN/QinQ, SLL, SLL2, raw IP, BSD NULL/LOOP), IPv4/IPv6 with
//! fragment reassembly, tunnels (IP-in-IP, GRE, GTP-U, VXLAN), UDP, SCTP DATA chunks, ICMP errors
//! that quote a datagram, and per-direction TCP stream reassembly. It hands out [`Delivery`]
//! values (a datagram, or the next in-order bytes of a TCP direction) and says for every frame
//! what became of it ([`FrameFate`]), so that nothing is silently lost.
//!
//! Files: `link` (link layers), `ip` (IPv4/IPv6 headers, fragment pool), `tunnel` (GRE, GTP-U,
//! VXLAN), `transport` (UDP, TCP, ICMP error headers), `sctp` (chunks, message reassembly),
//! `tcp` (stream reassembly), `decode` (the walk that ties them together behind [`Decoder`]).
//! Headers are parsed by hand: they are a few fixed fields, and the plain UDP path then costs
//! no allocation at all.
//!
//! May use: etherparse, `crate::capture` (for [`Frame`]). Knows nothing of SIP.

mod decode;
pub mod ip;
pub mod link;
pub mod sctp;
pub mod tcp;
pub mod transport;
pub mod tunnel;

#[cfg(test)]
mod tests;

use std::net::IpAddr;

use crate::capture::Frame;

/// Transport that carried a payload (the innermost one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Transport {
    Udp,
    Tcp,
    Sctp,
}

impl Transport {
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
            Transport::Sctp => "sctp",
        }
    }
}

/// An address and port (of the innermost IP and transport headers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Endpoint {
    pub ip: IpAddr,
    pub port: u16,
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.ip {
            IpAddr::V4(a) => write!(f, "{}:{}", a, self.port),
            IpAddr::V6(a) => write!(f, "[{}]:{}", a, self.port),
        }
    }
}

/// One direction of a transport conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Flow {
    pub transport: Transport,
    pub src: Endpoint,
    pub dst: Endpoint,
}

/// A frame that contributed bytes to a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FrameRef {
    pub file: u16,
    pub number: u64,
    pub ts_ns: i64,
}

impl FrameRef {
    pub fn of(frame: &Frame<'_>) -> FrameRef {
        FrameRef {
            file: frame.file,
            number: frame.number,
            ts_ns: frame.ts_ns,
        }
    }
}

/// Conditions of a delivery worth telling the user.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryFlags {
    /// Some bytes are missing because the snap length cut a frame.
    pub cut: bool,
    /// The datagram was quoted inside an ICMP/ICMPv6 error: it never reached its destination.
    pub bounced: bool,
    /// Reassembled from IP fragments.
    pub reassembled: bool,
    /// Overlapping IP fragments or TCP segments carried different bytes for the same offsets.
    pub overlap_conflict: bool,
}

/// What a delivery carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryKind {
    /// A whole datagram (UDP payload, SCTP DATA chunk user data, or UDP quoted in ICMP).
    Datagram,
    /// The next in-order bytes of one TCP direction.
    Stream,
    /// Bytes of one TCP direction were never seen: `missing` bytes are skipped before the next
    /// stream delivery of this flow.
    StreamGap { missing: u64 },
    /// The TCP direction ended (FIN or RST), or the capture ended with it open.
    StreamEnd,
}

/// Application bytes handed to the SIP layer.
#[derive(Debug, Clone, Copy)]
pub struct Delivery<'a> {
    pub kind: DeliveryKind,
    pub flow: Flow,
    pub data: &'a [u8],
    /// Every frame whose bytes are in `data`, in stream/fragment order; the frame that completed
    /// the delivery is the one with the latest position (for IP fragments, the one that closed
    /// the last hole; for TCP, the frame being decoded now).
    pub frames: &'a [FrameRef],
    /// The frame being decoded when this was delivered (it completed the delivery).
    pub completed_by: FrameRef,
    pub flags: DeliveryFlags,
}

/// Why a frame could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Undecodable {
    /// Link type this build does not decode (the number is in the issue).
    UnknownLinkType(u32),
    /// A header ran past the end of the captured bytes.
    TruncatedHeader,
    /// A header with impossible values (bad IP version, bad lengths).
    MalformedHeader,
    /// Fragment pool or stream buffer cap hit; the bytes were dropped.
    OverCapacity,
    /// IP fragments never completed (timeout or end of capture).
    IncompleteFragments,
    /// TCP segments buffered out of order whose gap was never filled.
    UnfilledTcpGap,
    /// SCTP DATA chunks of a fragmented user message that never completed (a fragment lost or
    /// out of order).
    IncompleteSctpMessage,
    /// An IP fragment whose reassembled datagram carried nothing for SIP (the name says what it
    /// was, as in [`FrameFate::NotSip`]).
    FragmentOfNonSip(&'static str),
    /// An IP fragment of a TCP segment: the segment's bytes went to its stream, accounted to the
    /// frame that completed the datagram.
    FragmentOfTcpSegment,
}

impl Undecodable {
    pub fn as_str(self) -> &'static str {
        match self {
            Undecodable::UnknownLinkType(_) => "unknown link type",
            Undecodable::TruncatedHeader => "truncated header",
            Undecodable::MalformedHeader => "malformed header",
            Undecodable::OverCapacity => "dropped: memory cap",
            Undecodable::IncompleteFragments => "incomplete IP fragments",
            Undecodable::UnfilledTcpGap => "TCP segment after a gap never filled",
            Undecodable::IncompleteSctpMessage => "incomplete SCTP message",
            Undecodable::FragmentOfNonSip(_) => "IP fragment of a datagram without SIP",
            Undecodable::FragmentOfTcpSegment => "IP fragment of a TCP segment",
        }
    }
}

/// What became of one frame, decided when it was decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameFate {
    /// Its payload was handed out (it may also have completed earlier held frames).
    Delivered,
    /// Held for reassembly (IP fragment, out-of-order TCP segment); it will be handed out later
    /// as part of a delivery's `frames`, or reported by [`Decoder::finish`].
    Held,
    /// Decoded, but carries nothing for SIP: the name says what it was ("arp", "tcp control",
    /// "icmp", "ipv6 other", ...).
    NotSip(&'static str),
    Undecodable(Undecodable),
}

/// Limits that keep a hostile capture from exhausting memory.
#[derive(Debug, Clone, Copy)]
pub struct NetConfig {
    /// Total bytes held by the IP fragment pool.
    pub max_fragment_bytes: usize,
    /// Fragments of a datagram older than this (capture time) are dropped.
    pub fragment_timeout_ns: i64,
    /// Bytes buffered out of order per TCP direction.
    pub max_tcp_buffer: usize,
    /// A TCP direction that carried no segment for this long (capture time) is ended as at the
    /// end of the capture (see [`tcp::Reassembler::expire`]).
    pub tcp_idle_timeout_ns: i64,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            max_fragment_bytes: 64 << 20,
            fragment_timeout_ns: 30_000_000_000,
            max_tcp_buffer: 4 << 20,
            tcp_idle_timeout_ns: tcp::DEFAULT_IDLE_TIMEOUT_NS,
        }
    }
}

/// The stateful decoder: one per run, fed frames in capture order.
pub struct Decoder {
    defrag: ip::Defrag,
    sctp: sctp::Reassembler,
    tcp: tcp::Reassembler,
    /// Held fragment frames whose datagram completed without handing them out (it carried no
    /// SIP, or was a TCP segment): reported by [`Decoder::finish`] so every frame is accounted.
    resolved: Vec<(FrameRef, Undecodable)>,
}

impl Decoder {
    pub fn new(cfg: NetConfig) -> Self {
        Decoder {
            defrag: ip::Defrag::new(cfg.max_fragment_bytes, cfg.fragment_timeout_ns),
            // One SCTP message may be as large as a TCP direction's buffer; all messages being
            // built share the fragment pool's budget.
            sctp: sctp::Reassembler::new(cfg.max_tcp_buffer, cfg.max_fragment_bytes),
            tcp: tcp::Reassembler::new(cfg.max_tcp_buffer)
                .with_idle_timeout(cfg.tcp_idle_timeout_ns),
            resolved: Vec::new(),
        }
    }

    /// Decodes one frame, handing every completed payload to `sink`, and says what became of the
    /// frame.
    pub fn push(&mut self, frame: &Frame<'_>, sink: &mut dyn FnMut(Delivery<'_>)) -> FrameFate {
        self.decode_frame(frame, sink)
    }

    /// End of input: hands out what can still be handed out (open TCP directions end) and
    /// returns the frames that were held and never delivered, with the reason (fragments never
    /// completed, evicted at the memory cap or timed out; TCP segments after unfilled gaps;
    /// SCTP messages never completed; fragments of datagrams that carried no SIP), sorted by
    /// frame, each frame once.
    pub fn finish(&mut self, sink: &mut dyn FnMut(Delivery<'_>)) -> Vec<(FrameRef, Undecodable)> {
        let mut out = self.tcp.finish(sink);
        out.extend(self.defrag.finish());
        out.extend(self.sctp.finish());
        out.append(&mut self.resolved);
        // Stable sort keeps the first reason given for a frame.
        out.sort_by_key(|(f, _)| *f);
        out.dedup_by_key(|(f, _)| *f);
        out
    }
}
