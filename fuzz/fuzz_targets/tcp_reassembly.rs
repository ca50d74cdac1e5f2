//! Fuzz target: a byte-driven sequence of TCP segments through `net::tcp::Reassembler` and
//! `sip::framing::Framer`.
//!
//! Input layout: `[mode, isn(4), n_ops, ops(6 each)..., stream bytes...]`. Each op cuts a
//! segment out of the stream bytes (`offset`, `len`) and sends it on one of three flows with
//! some of SYN/FIN/RST/cut set. Sequence numbers are `isn + 1 + offset`, so every segment
//! agrees with the same stream and retransmissions and overlaps are consistent.
//!
//! When `mode` is even ("clean"), control flags and the sequence perturbation are stripped; then
//! every `Stream` delivery must be exactly the stream bytes at its position (counting
//! `StreamGap`s), which is the reassembler's whole contract. In every mode: no panic, the
//! reassembler's held bytes stay under its cap, and the framer's buffers stay bounded.
#![no_main]

use std::net::{IpAddr, Ipv4Addr};

use libfuzzer_sys::fuzz_target;
use sipscope::net::tcp::{Reassembler, Segment};
use sipscope::net::{Delivery, DeliveryKind, Endpoint, Flow, FrameRef, Transport};
use sipscope::sip::framing::Framer;

const MAX_BUFFER: usize = 2048;
const MAX_MESSAGE: usize = 1024;

fn flow(i: u8) -> Flow {
    let ep = |last: u8, port: u16| Endpoint {
        ip: IpAddr::V4(Ipv4Addr::new(192, 0, 2, last)),
        port,
    };
    match i % 3 {
        0 => Flow {
            transport: Transport::Tcp,
            src: ep(1, 40000),
            dst: ep(2, 5060),
        },
        1 => Flow {
            transport: Transport::Tcp,
            src: ep(2, 5060),
            dst: ep(1, 40000),
        },
        _ => Flow {
            transport: Transport::Tcp,
            src: ep(3, 40001),
            dst: ep(2, 5060),
        },
    }
}

/// What one flow's deliveries looked like, for the clean-mode oracle.
#[derive(Default, Clone)]
struct Seen {
    /// Stream offset (in the fuzz stream) of the direction's first byte.
    base: Option<usize>,
    /// Bytes handed out or declared missing so far.
    pos: usize,
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let clean = mode % 2 == 0;
    let Some((isn, rest)) = rest.split_at_checked(4) else {
        return;
    };
    let isn = u32::from_be_bytes([isn[0], isn[1], isn[2], isn[3]]);
    let Some((&n_ops, rest)) = rest.split_first() else {
        return;
    };
    let n_ops = usize::from(n_ops);
    let Some((ops, stream)) = rest.split_at_checked((n_ops * 6).min(rest.len())) else {
        return;
    };

    let mut reasm = Reassembler::with_limits(MAX_BUFFER, 2 + usize::from(mode >> 6));
    let mut framer = Framer::with_limits(MAX_MESSAGE, 1 + usize::from((mode >> 4) & 3));
    let mut seen = [Seen::default(), Seen::default(), Seen::default()];
    let mut messages = 0usize;
    let mut longest_delivery = 0usize;

    let check = |d: &Delivery<'_>, seen: &mut [Seen; 3], first_offset: Option<usize>| {
        let i = (0..3u8).find(|i| flow(*i) == d.flow).map(usize::from);
        let Some(i) = i else {
            panic!("delivery for a flow never fed");
        };
        let s = &mut seen[i];
        match d.kind {
            DeliveryKind::Stream => {
                assert!(!d.data.is_empty(), "empty stream delivery");
                if clean {
                    let base = match s.base {
                        Some(b) => b,
                        None => {
                            let b = first_offset.unwrap_or(0);
                            s.base = Some(b);
                            b
                        }
                    };
                    let at = base + s.pos;
                    assert_eq!(
                        stream.get(at..at + d.data.len()),
                        Some(d.data),
                        "stream bytes at {at} differ from what was sent"
                    );
                }
                s.pos += d.data.len();
            }
            DeliveryKind::StreamGap { missing } => {
                assert!(missing > 0, "gap of zero bytes");
                s.pos += usize::try_from(missing).unwrap_or(usize::MAX / 4);
            }
            DeliveryKind::StreamEnd => {
                // The direction is forgotten: a later segment (a new SYN, data past the end, or
                // a flow evicted at the cap and seen again) starts it afresh.
                *s = Seen::default();
            }
            DeliveryKind::Datagram => panic!("datagram from the TCP reassembler"),
        }
    };

    for (n, op) in ops.chunks_exact(6).enumerate() {
        let flags = op[0];
        let offset = usize::from(u16::from_be_bytes([op[1], op[2]]));
        let len = usize::from(u16::from_be_bytes([op[3], op[4]]) & 0x0fff);
        let which = op[5];
        let start = if stream.is_empty() {
            0
        } else {
            offset % (stream.len() + 1)
        };
        let payload = stream
            .get(start..start.saturating_add(len).min(stream.len()))
            .unwrap_or(&[]);
        let (mut syn, mut fin, mut rst, mut cut) = (
            flags & 1 != 0,
            flags & 2 != 0,
            flags & 0x0c == 0x0c,
            flags & 0x10 != 0,
        );
        let mut seq = isn.wrapping_add(1).wrapping_add(start as u32);
        if clean {
            syn = false;
            fin = false;
            rst = false;
            cut = false;
        } else if flags & 0x20 != 0 {
            // Bytes that disagree with what was already sent for these sequence numbers.
            seq = seq.wrapping_add(u32::from(which));
        }
        if syn {
            seq = seq.wrapping_sub(1);
        }
        let f = flow(which);
        let fr = FrameRef {
            file: 0,
            number: n as u64 + 1,
            ts_ns: n as i64,
        };
        let seg = Segment {
            flow: f,
            seq,
            syn,
            fin,
            rst,
            payload,
            frame: fr,
            cut,
        };
        longest_delivery = longest_delivery.max(payload.len());
        reasm.push(&seg, &mut |d| {
            check(&d, &mut seen, Some(start));
            framer.push(&d, &mut |_| messages += 1);
        });
        assert!(
            reasm.buffered_bytes() <= 16 * MAX_BUFFER,
            "reassembler holds {} bytes",
            reasm.buffered_bytes()
        );
        // Per flow: about one message plus one delivery, plus a line or HTTP header waited for.
        let bound = framer.flows() * (MAX_MESSAGE + longest_delivery + 16 * 1024 + 64);
        assert!(
            framer.buffered_bytes() <= bound,
            "framer holds {} bytes (bound {bound})",
            framer.buffered_bytes()
        );
    }
    let held = reasm.finish(&mut |d| {
        check(&d, &mut seen, None);
        framer.push(&d, &mut |_| messages += 1);
    });
    assert!(held.is_empty(), "reassembler kept frames at finish");
    assert_eq!(reasm.buffered_bytes(), 0);
    framer.finish(&mut |_| messages += 1);
    assert_eq!(framer.buffered_bytes(), 0);
    let _ = (messages, framer.skipped_bytes());
});
