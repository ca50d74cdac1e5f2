//! Frames in, application payloads out.
//!
//! Owns: link layers (Ethernet, VLAN/QinQ, SLL, SLL2, raw IP, BSD NULL/LOOP), IPv4/IPv6 with
//! fragment reassembly, tunnels (IP-in-IP, GRE, GTP-U, VXLAN), UDP, SCTP DATA chunks, ICMP errors
//! that quote a datagram, and per-direction TCP stream reassembly. It hands out [`Delivery`]
//! values (a datagram, or the next in-order bytes of a TCP direction) and says for every frame
//! what became of it ([`FrameFate`]), so that nothing is silently lost.
//!
//! May use: etherparse, `crate::capture` (for [`Frame`]). Knows nothing of SIP.

pub mod ip;
pub mod link;
pub mod tcp;

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
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            max_fragment_bytes: 64 << 20,
            fragment_timeout_ns: 30_000_000_000,
            max_tcp_buffer: 4 << 20,
        }
    }
}

/// The stateful decoder: one per run, fed frames in capture order.
pub struct Decoder {
    #[allow(dead_code)]
    cfg: NetConfig,
}

impl Decoder {
    pub fn new(cfg: NetConfig) -> Self {
        Decoder { cfg }
    }

    /// Decodes one frame, handing every completed payload to `sink`, and says what became of the
    /// frame.
    pub fn push(&mut self, _frame: &Frame<'_>, _sink: &mut dyn FnMut(Delivery<'_>)) -> FrameFate {
        FrameFate::NotSip("unimplemented")
    }

    /// End of input: hands out what can still be handed out (open TCP directions end) and
    /// returns the frames that were held and never delivered, with the reason.
    pub fn finish(&mut self, _sink: &mut dyn FnMut(Delivery<'_>)) -> Vec<(FrameRef, Undecodable)> {
        Vec::new()
    }
}
