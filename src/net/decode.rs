//! The walk from a frame to its deliveries: link layer, IP (with fragments), tunnels (recursing
//! with a depth limit), and the transports. Each step returns the frame's [`FrameFate`]; the
//! innermost step that decided it wins.
//!
//! The plain path (one frame, one UDP datagram) allocates nothing: the frame list handed out is
//! a one-element array on the stack. Only reassembly (IP fragments, SCTP messages) owns bytes.

use std::net::IpAddr;

use super::ip::{self, FragKey, FragOutcome, IpPacket};
use super::link::{self, Network};
use super::sctp::{self, Chunks, Outcome};
use super::transport;
use super::tunnel;
use super::{
    tcp, Decoder, Delivery, DeliveryFlags, DeliveryKind, Endpoint, Flow, FrameFate, FrameRef,
    Transport, Undecodable,
};
use crate::capture::Frame;

/// Tunnels nested deeper than this are refused, so hostile nesting cannot recurse forever.
pub(super) const MAX_DEPTH: u8 = 8;

/// IP protocol numbers the walk follows.
mod proto {
    pub const ICMP: u8 = 1;
    pub const IPIP: u8 = 4;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    pub const IPV6: u8 = 41;
    pub const GRE: u8 = 47;
    pub const ICMPV6: u8 = 58;
    pub const SCTP: u8 = 132;
}

type Sink<'s> = dyn FnMut(Delivery<'_>) + 's;

/// What the walk carries down from outer layers.
struct Ctx<'f> {
    /// Frames whose bytes are being decoded (the current frame, or the fragments of a
    /// reassembled datagram).
    frames: &'f [FrameRef],
    /// The frame being decoded now.
    now: FrameRef,
    flags: DeliveryFlags,
    /// Set once `frames` were handed to somebody who accounts for them (a delivery, or a
    /// reassembly buffer that will deliver or report them).
    used: bool,
}

impl Ctx<'_> {
    fn deliver(
        &mut self,
        sink: &mut Sink<'_>,
        flow: Flow,
        data: &[u8],
        flags: DeliveryFlags,
    ) -> FrameFate {
        self.used = true;
        sink(Delivery {
            kind: DeliveryKind::Datagram,
            flow,
            data,
            frames: self.frames,
            completed_by: self.now,
            flags,
        });
        FrameFate::Delivered
    }
}

fn flow(transport: Transport, src: IpAddr, sport: u16, dst: IpAddr, dport: u16) -> Flow {
    Flow {
        transport,
        src: Endpoint {
            ip: src,
            port: sport,
        },
        dst: Endpoint {
            ip: dst,
            port: dport,
        },
    }
}

impl Decoder {
    pub(super) fn decode_frame(&mut self, frame: &Frame<'_>, sink: &mut Sink<'_>) -> FrameFate {
        if !self.defrag.is_empty() {
            self.defrag.expire(frame.ts_ns);
        }
        self.tcp.expire(frame.ts_ns, sink);
        let me = FrameRef::of(frame);
        let frames = [me];
        let mut ctx = Ctx {
            frames: &frames,
            now: me,
            flags: DeliveryFlags::default(),
            used: false,
        };
        match link::decode(frame.linktype, frame.data) {
            Ok(net) => self.network(net, 0, &mut ctx, sink),
            Err(u) => FrameFate::Undecodable(u),
        }
    }

    fn network(
        &mut self,
        net: Network<'_>,
        depth: u8,
        ctx: &mut Ctx<'_>,
        sink: &mut Sink<'_>,
    ) -> FrameFate {
        if depth > MAX_DEPTH {
            return FrameFate::Undecodable(Undecodable::MalformedHeader);
        }
        match net {
            Network::Ipv4(d) => self.ip(ip::parse_ipv4(d), false, depth, ctx, sink),
            Network::Ipv6(d) => self.ip(ip::parse_ipv6(d), true, depth, ctx, sink),
            Network::IpAny(d) => match d.first().map(|b| b >> 4) {
                Some(4) => self.ip(ip::parse_ipv4(d), false, depth, ctx, sink),
                Some(6) => self.ip(ip::parse_ipv6(d), true, depth, ctx, sink),
                None => FrameFate::Undecodable(Undecodable::TruncatedHeader),
                _ => FrameFate::Undecodable(Undecodable::MalformedHeader),
            },
            Network::Other(name) => FrameFate::NotSip(name),
        }
    }

    fn ip(
        &mut self,
        pkt: Result<IpPacket<'_>, Undecodable>,
        v6: bool,
        depth: u8,
        ctx: &mut Ctx<'_>,
        sink: &mut Sink<'_>,
    ) -> FrameFate {
        let pkt = match pkt {
            Ok(p) => p,
            Err(u) => return FrameFate::Undecodable(u),
        };
        ctx.flags.cut |= pkt.cut;
        match pkt.frag {
            Some(frag) => self.fragment(&pkt, frag, v6, depth, ctx, sink),
            None => self.transport(
                pkt.proto,
                pkt.src,
                pkt.dst,
                pkt.payload,
                v6,
                depth,
                ctx,
                sink,
            ),
        }
    }

    fn fragment(
        &mut self,
        pkt: &IpPacket<'_>,
        frag: ip::FragInfo,
        v6: bool,
        depth: u8,
        ctx: &mut Ctx<'_>,
        sink: &mut Sink<'_>,
    ) -> FrameFate {
        let key = FragKey {
            src: pkt.src,
            dst: pkt.dst,
            proto: pkt.proto,
            id: frag.id,
        };
        let r = match self.defrag.push(
            key,
            frag,
            pkt.payload,
            ctx.flags.cut,
            ctx.frames,
            ctx.now.ts_ns,
        ) {
            FragOutcome::Held => {
                ctx.used = true;
                return FrameFate::Held;
            }
            FragOutcome::Rejected(u) => return FrameFate::Undecodable(u),
            FragOutcome::Complete(r) => r,
        };
        // The pool kept the frames of every fragment; they are accounted from here on.
        ctx.used = true;
        let mut inner = Ctx {
            frames: &r.frames,
            now: ctx.now,
            flags: DeliveryFlags {
                cut: r.cut,
                bounced: ctx.flags.bounced,
                reassembled: true,
                overlap_conflict: ctx.flags.overlap_conflict || r.conflict,
            },
            used: false,
        };
        let fate = if v6 {
            // Extension headers may follow the fragment header inside the fragmentable part.
            match ip::walk_ext(r.key.proto, &r.payload) {
                Ok((p, payload, None)) => self.transport(
                    p, r.key.src, r.key.dst, payload, v6, depth, &mut inner, sink,
                ),
                Ok((_, _, Some(_))) => FrameFate::Undecodable(Undecodable::MalformedHeader),
                Err(u) => FrameFate::Undecodable(u),
            }
        } else {
            self.transport(
                r.key.proto,
                r.key.src,
                r.key.dst,
                &r.payload,
                v6,
                depth,
                &mut inner,
                sink,
            )
        };
        if !inner.used {
            // Nobody took the fragment frames: tell the books what became of the held ones.
            let why = match fate {
                FrameFate::Delivered | FrameFate::Held => Undecodable::FragmentOfTcpSegment,
                FrameFate::NotSip(name) => Undecodable::FragmentOfNonSip(name),
                FrameFate::Undecodable(u) => u,
            };
            for f in r.frames.iter().filter(|f| !ctx.frames.contains(f)) {
                self.resolved.push((*f, why));
            }
        }
        fate
    }

    #[allow(clippy::too_many_arguments)]
    fn transport(
        &mut self,
        protocol: u8,
        src: IpAddr,
        dst: IpAddr,
        payload: &[u8],
        v6: bool,
        depth: u8,
        ctx: &mut Ctx<'_>,
        sink: &mut Sink<'_>,
    ) -> FrameFate {
        match protocol {
            proto::UDP => self.udp(src, dst, payload, depth, ctx, sink),
            proto::TCP => self.tcp(src, dst, payload, ctx, sink),
            proto::SCTP => self.sctp(src, dst, payload, ctx, sink),
            proto::ICMP if !v6 => icmp(transport::icmp4_quote(payload), false, ctx, sink),
            proto::ICMPV6 if v6 => icmp(transport::icmp6_quote(payload), true, ctx, sink),
            proto::IPIP => self.network(Network::Ipv4(payload), depth + 1, ctx, sink),
            proto::IPV6 => self.network(Network::Ipv6(payload), depth + 1, ctx, sink),
            proto::GRE => match tunnel::gre(payload) {
                Ok(net) => self.network(net, depth + 1, ctx, sink),
                Err(u) => FrameFate::Undecodable(u),
            },
            2 => FrameFate::NotSip("igmp"),
            50 => FrameFate::NotSip("esp"),
            51 => FrameFate::NotSip("ah"),
            59 => FrameFate::NotSip("ipv6 no next header"),
            89 => FrameFate::NotSip("ospf"),
            103 => FrameFate::NotSip("pim"),
            112 => FrameFate::NotSip("vrrp"),
            _ if v6 => FrameFate::NotSip("ipv6 other"),
            _ => FrameFate::NotSip("ip other"),
        }
    }

    fn udp(
        &mut self,
        src: IpAddr,
        dst: IpAddr,
        payload: &[u8],
        depth: u8,
        ctx: &mut Ctx<'_>,
        sink: &mut Sink<'_>,
    ) -> FrameFate {
        let u = match transport::parse_udp(payload) {
            Ok(u) => u,
            Err(e) => return FrameFate::Undecodable(e),
        };
        ctx.flags.cut |= u.cut;
        let port = |p: u16| u.src_port == p || u.dst_port == p;
        // Tunnels on their well-known ports; bytes that do not look like the tunnel header are
        // taken as an ordinary datagram.
        let inner = if port(tunnel::GTPU_PORT) {
            tunnel::gtpu(u.payload)
        } else if port(tunnel::VXLAN_PORT) {
            tunnel::vxlan(u.payload)
        } else {
            None
        };
        match inner {
            Some(Ok(net)) => return self.network(net, depth + 1, ctx, sink),
            Some(Err(e)) => return FrameFate::Undecodable(e),
            None => {}
        }
        if u.payload.is_empty() {
            return FrameFate::NotSip("udp empty");
        }
        let f = flow(Transport::Udp, src, u.src_port, dst, u.dst_port);
        let flags = ctx.flags;
        ctx.deliver(sink, f, u.payload, flags)
    }

    fn tcp(
        &mut self,
        src: IpAddr,
        dst: IpAddr,
        payload: &[u8],
        ctx: &mut Ctx<'_>,
        sink: &mut Sink<'_>,
    ) -> FrameFate {
        let t = match transport::parse_tcp(payload) {
            Ok(t) => t,
            Err(e) => return FrameFate::Undecodable(e),
        };
        let seg = tcp::Segment {
            flow: flow(Transport::Tcp, src, t.src_port, dst, t.dst_port),
            seq: t.seq,
            syn: t.syn,
            fin: t.fin,
            rst: t.rst,
            payload: t.payload,
            frame: ctx.now,
            cut: ctx.flags.cut,
        };
        self.tcp.push(&seg, sink)
    }

    fn sctp(
        &mut self,
        src: IpAddr,
        dst: IpAddr,
        payload: &[u8],
        ctx: &mut Ctx<'_>,
        sink: &mut Sink<'_>,
    ) -> FrameFate {
        let (sport, dport, area) = match sctp::parse_header(payload) {
            Ok(h) => h,
            Err(e) => return FrameFate::Undecodable(e),
        };
        let f = flow(Transport::Sctp, src, sport, dst, dport);
        let mut chunks = Chunks::new(area);
        let (mut delivered, mut held, mut dup, mut data_seen) = (false, false, false, false);
        let mut dropped = None;
        self.sctp.begin_frame();
        for c in &mut chunks {
            if c.kind != sctp::DATA && c.kind != sctp::I_DATA {
                continue;
            }
            data_seen = true;
            let u = match sctp::user_data(&c) {
                Ok(u) => u,
                Err(e) => {
                    dropped = Some(e);
                    continue;
                }
            };
            let cut = ctx.flags.cut || c.cut;
            let flags = DeliveryFlags { cut, ..ctx.flags };
            match self.sctp.push(f, &u, cut, ctx.frames) {
                Outcome::Whole => {
                    if !u.data.is_empty() {
                        ctx.deliver(sink, f, u.data, flags);
                        delivered = true;
                    }
                }
                Outcome::Complete { data, frames, cut } => {
                    ctx.used = true;
                    sink(Delivery {
                        kind: DeliveryKind::Datagram,
                        flow: f,
                        data: &data,
                        frames: &frames,
                        completed_by: ctx.now,
                        flags: DeliveryFlags { cut, ..ctx.flags },
                    });
                    delivered = true;
                }
                Outcome::Held => {
                    ctx.used = true;
                    held = true;
                }
                Outcome::Duplicate => dup = true,
                Outcome::Dropped(e) => dropped = Some(e),
            }
        }
        if delivered {
            FrameFate::Delivered
        } else if held && self.sctp.still_holds(ctx.frames) {
            FrameFate::Held
        } else if held {
            // The message that took these frames was given up by a later chunk of the same
            // packet, which left them out of its report: they are accounted by this fate.
            ctx.used = false;
            FrameFate::Undecodable(Undecodable::IncompleteSctpMessage)
        } else if let Some(e) = dropped {
            FrameFate::Undecodable(e)
        } else if chunks.malformed {
            FrameFate::Undecodable(Undecodable::MalformedHeader)
        } else if dup {
            FrameFate::NotSip("sctp retransmission")
        } else if data_seen {
            FrameFate::NotSip("sctp empty")
        } else {
            FrameFate::NotSip("sctp control")
        }
    }
}

/// An ICMP error that quotes a UDP datagram hands out the quoted payload (what the router or
/// host sent back of it), marked bounced; any other ICMP is not for SIP.
fn icmp(
    quote: Result<Option<&[u8]>, Undecodable>,
    v6: bool,
    ctx: &mut Ctx<'_>,
    sink: &mut Sink<'_>,
) -> FrameFate {
    const NAME: FrameFate = FrameFate::NotSip("icmp");
    let quote = match quote {
        Ok(Some(q)) => q,
        Ok(None) => return NAME,
        Err(u) => return FrameFate::Undecodable(u),
    };
    let parsed = if v6 {
        ip::parse_ipv6(quote)
    } else {
        ip::parse_ipv4(quote)
    };
    let Ok(inner) = parsed else {
        return NAME;
    };
    // A quoted non-first fragment has no UDP header.
    if inner.proto != proto::UDP || inner.frag.is_some_and(|f| f.offset != 0) {
        return NAME;
    }
    let Ok(u) = transport::parse_udp(inner.payload) else {
        return NAME;
    };
    if u.payload.is_empty() {
        return NAME;
    }
    let flags = DeliveryFlags {
        bounced: true,
        // Routers quote only the start of the datagram: say when bytes are missing.
        cut: ctx.flags.cut || inner.cut || u.cut,
        ..ctx.flags
    };
    let f = flow(Transport::Udp, inner.src, u.src_port, inner.dst, u.dst_port);
    ctx.deliver(sink, f, u.payload, flags)
}
