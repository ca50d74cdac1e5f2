//! Regression tests for hostile input: absurd Content-Length values on UDP and TCP, a long TCP
//! stream of garbage, and every crash the fuzz targets found (input bytes under
//! tests/regressions/, one test each, asserting no panic and a sensible result).
//!
//! Memory is measured, not guessed: this test binary installs a counting global allocator that
//! keeps the live and peak heap bytes of each thread, so a test can bound what the code under
//! test allocated while it ran.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use common::*;
use sipscope::capture::{linktype, writer::pcap_bytes, Input};
use sipscope::net::tcp::{Reassembler, Segment};
use sipscope::net::{Endpoint, Flow, FrameRef, Transport};
use sipscope::sip::framing::Framer;
use sipscope::sip::{parse, Anomaly, SipMessage};

// ---------------------------------------------------------------------------------------------
// A per-thread counting allocator.

struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn account(delta: isize) {
    // `try_with`: the allocator is also called while a thread's locals are being torn down.
    let _ = LIVE.try_with(|l| {
        let now = l.get().saturating_add(delta);
        l.set(now);
        let _ = PEAK.try_with(|p| {
            if now > p.get() {
                p.set(now)
            }
        });
    });
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() {
            account(layout.size() as isize);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc_zeroed(layout);
        if !p.is_null() {
            account(layout.size() as isize);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        account(-(layout.size() as isize));
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = System.realloc(ptr, layout, new_size);
        if !p.is_null() {
            account(new_size as isize - layout.size() as isize);
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Runs `f` and returns its result with the most heap bytes this thread held at once during
/// the call, above what it held before.
fn peak_heap<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let base = LIVE.with(|l| l.get());
    PEAK.with(|p| p.set(base));
    let r = f();
    let peak = PEAK.with(|p| p.get());
    (r, usize::try_from(peak - base).unwrap_or(0))
}

// ---------------------------------------------------------------------------------------------
// Helpers.

fn a() -> IpAddr {
    v4(192, 0, 2, 1)
}
fn b() -> IpAddr {
    v4(192, 0, 2, 2)
}

fn run_capture(bytes: Vec<u8>) -> (Vec<SipMessage>, sipscope::ingest::Books) {
    let input = Input::from_bytes("regression", 0, bytes).expect("capture opens");
    let mut out = Vec::new();
    let books = sipscope::ingest::run(std::slice::from_ref(&input), &mut |m| out.push(m));
    assert_eq!(books.accounted(), books.frames, "books do not balance");
    (out, books)
}

/// A request whose Content-Length header says `cl` whatever the body is.
fn with_content_length(cl: &str, body: &str) -> Vec<u8> {
    format!(
        "INVITE sip:bob@192.0.2.2 SIP/2.0\r\n\
         Via: SIP/2.0/TCP 192.0.2.1:5060;branch=z9hG4bKhuge\r\n\
         From: <sip:alice@192.0.2.1>;tag=a1\r\n\
         To: <sip:bob@192.0.2.2>\r\n\
         Call-ID: huge-{cl}\r\n\
         CSeq: 1 INVITE\r\n\
         Content-Length: {cl}\r\n\r\n{body}"
    )
    .into_bytes()
}

const FOUR_GB: [&str; 4] = [
    "4294967295",
    "4294967296",
    "18446744073709551615",
    "99999999999999999999999",
];

// ---------------------------------------------------------------------------------------------
// Content-Length of 4 GB and beyond.

#[test]
fn content_length_4gb_on_udp_is_read_without_a_huge_allocation() {
    for cl in FOUR_GB {
        let msg = with_content_length(cl, "v=0\r\n");
        let cap = pcap_bytes(
            linktype::ETHERNET,
            &[(0, eth_udp4(a(), 5060, b(), 5060, &msg))],
        );
        let ((msgs, books), peak) = peak_heap(|| run_capture(cap));
        assert!(
            peak < 4 << 20,
            "Content-Length {cl}: peak heap {peak} bytes"
        );
        assert_eq!(books.sip_frames, 1);
        assert_eq!(msgs.len(), 1, "Content-Length {cl}");
        assert_eq!(
            msgs[0].data, msg,
            "the datagram is the message, whatever it claims"
        );
        let p = parse(&msgs[0].data);
        assert_eq!(p.body(), b"v=0\r\n");
        assert_eq!(p.call_id(), Some(format!("huge-{cl}").as_bytes()));
        let flagged = p.anomalies().iter().any(|a| {
            matches!(
                a,
                Anomaly::BodyShorterThanContentLength { .. } | Anomaly::BadContentLength
            )
        });
        assert!(flagged, "Content-Length {cl}: {:?}", p.anomalies());
    }
}

#[test]
fn content_length_4gb_on_tcp_is_cut_and_the_next_message_still_found() {
    for cl in FOUR_GB {
        let huge = with_content_length(cl, "some body bytes\r\n");
        let next = request("BYE", "after-huge", 2, "");
        let mut stream = huge.clone();
        stream.extend_from_slice(&next);
        let mut frames = vec![(0, eth_tcp4(a(), 40000, b(), 5060, 100, SYN, b""))];
        let mut seq = 101u32;
        for (i, chunk) in stream.chunks(100).enumerate() {
            frames.push((
                (i as i64 + 1) * 1000,
                eth_tcp4(a(), 40000, b(), 5060, seq, ACK | PSH, chunk),
            ));
            seq += chunk.len() as u32;
        }
        let cap = pcap_bytes(linktype::ETHERNET, &frames);
        let ((msgs, _), peak) = peak_heap(|| run_capture(cap));
        assert!(
            peak < 8 << 20,
            "Content-Length {cl}: peak heap {peak} bytes"
        );
        let cids: Vec<Vec<u8>> = msgs
            .iter()
            .map(|m| parse(&m.data).call_id().unwrap_or_default().to_vec())
            .collect();
        assert_eq!(
            cids,
            vec![format!("huge-{cl}").into_bytes(), b"after-huge".to_vec()],
            "Content-Length {cl}"
        );
        // The huge one ends at the next start line and says its body came up short.
        assert_eq!(msgs[0].data, huge);
        assert!(msgs[0].flags.short_body, "Content-Length {cl}");
        assert_eq!(msgs[1].data, next);
    }
}

// ---------------------------------------------------------------------------------------------
// 200 MB of garbage on one TCP stream.

fn tcp_flow() -> Flow {
    Flow {
        transport: Transport::Tcp,
        src: Endpoint {
            ip: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
            port: 40000,
        },
        dst: Endpoint {
            ip: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)),
            port: 5060,
        },
    }
}

/// Bytes that never form a start line: mostly long runs without a line break (the framer must
/// give up waiting for the end of a line), some short lines, some binary.
fn garbage_block(seed: u32) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(64 * 1024);
    while out.len() < 64 * 1024 {
        // xorshift32
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let b = (x & 0xff) as u8;
        out.push(match x % 97 {
            0 => b'\n',
            1 => b'\r',
            2..=40 => b'a' + (b % 26),
            _ => b,
        });
    }
    out
}

#[test]
fn tcp_stream_of_200mb_garbage_keeps_buffers_capped() {
    const TOTAL: usize = 200 << 20;
    const MAX_MESSAGE: usize = 1 << 20;
    const SEG: usize = 64 * 1024;
    let blocks: Vec<Vec<u8>> = (0..4).map(|i| garbage_block(0x9e37_79b9 ^ i)).collect();
    let flow = tcp_flow();
    let started = Instant::now();
    let ((emitted, skipped, worst_reasm, worst_framer), peak) = peak_heap(|| {
        let mut reasm = Reassembler::new(4 << 20);
        let mut framer = Framer::new(MAX_MESSAGE);
        let mut emitted = 0usize;
        let (mut worst_reasm, mut worst_framer) = (0usize, 0usize);
        let mut seq = 1u32;
        for i in 0..TOTAL / SEG {
            let seg = Segment {
                flow,
                seq,
                syn: false,
                fin: false,
                rst: false,
                payload: &blocks[i % blocks.len()],
                frame: FrameRef {
                    file: 0,
                    number: i as u64 + 1,
                    ts_ns: i as i64,
                },
                cut: false,
            };
            seq = seq.wrapping_add(SEG as u32);
            reasm.push(&seg, &mut |d| {
                framer.push(&d, &mut |_| emitted += 1);
            });
            worst_reasm = worst_reasm.max(reasm.buffered_bytes());
            worst_framer = worst_framer.max(framer.buffered_bytes());
        }
        reasm.finish(&mut |d| {
            framer.push(&d, &mut |_| emitted += 1);
        });
        framer.finish(&mut |_| emitted += 1);
        (emitted, framer.skipped_bytes(), worst_reasm, worst_framer)
    });
    let took = started.elapsed();
    eprintln!(
        "200 MB garbage: {took:?}, peak heap {peak} B, worst framer buffer {worst_framer} B, skipped {skipped}"
    );
    assert_eq!(emitted, 0, "garbage produced SIP messages");
    assert_eq!(
        worst_reasm, 0,
        "in-order bytes were buffered by the reassembler"
    );
    assert!(
        worst_framer <= MAX_MESSAGE + SEG,
        "framer buffered {worst_framer} bytes"
    );
    // Nearly everything was skipped as junk (a tail may still wait for its line end at finish).
    assert!(
        skipped as usize >= TOTAL - 2 * SEG,
        "skipped only {skipped}"
    );
    assert!(
        peak < 16 << 20,
        "peak heap {peak} bytes for a 200 MB stream"
    );
    assert!(took < Duration::from_secs(120), "took {took:?}");
}

// ---------------------------------------------------------------------------------------------
// Work stays linear when a message trickles in.

/// Feeds `stream` in `seg`-byte segments through a reassembler and a framer; returns the
/// messages and how long it took.
fn trickle(stream: &[u8], seg: usize, max_message: usize) -> (Vec<SipMessage>, Duration) {
    let started = Instant::now();
    let mut reasm = Reassembler::new(4 << 20);
    let mut framer = Framer::new(max_message);
    let mut out = Vec::new();
    let mut seq = 1u32;
    for (i, chunk) in stream.chunks(seg).enumerate() {
        let s = Segment {
            flow: tcp_flow(),
            seq,
            syn: false,
            fin: false,
            rst: false,
            payload: chunk,
            frame: FrameRef {
                file: 0,
                number: i as u64 + 1,
                ts_ns: i as i64,
            },
            cut: false,
        };
        seq = seq.wrapping_add(chunk.len() as u32);
        reasm.push(&s, &mut |d| {
            framer.push(&d, &mut |m| out.push(m));
        });
    }
    reasm.finish(&mut |d| {
        framer.push(&d, &mut |m| out.push(m));
    });
    framer.finish(&mut |m| out.push(m));
    (out, started.elapsed())
}

#[test]
fn message_without_content_length_trickling_in_is_linear() {
    // 512 KB of body lines after headers without Content-Length, 64 bytes per segment, then
    // a normal message: each segment must not rescan what came before.
    let mut stream =
        b"MESSAGE sip:bob@192.0.2.2 SIP/2.0\r\nVia: SIP/2.0/TCP 192.0.2.1;branch=z9hG4bKt\r\n\
                       Call-ID: trickle\r\nCSeq: 1 MESSAGE\r\n\r\n"
            .to_vec();
    while stream.len() < 512 * 1024 {
        stream.extend_from_slice(b"body line that is not a start line at all\r\n");
    }
    let first_len = stream.len();
    stream.extend(request("BYE", "after-trickle", 2, ""));
    let (msgs, took) = trickle(&stream, 64, 1 << 20);
    assert_eq!(msgs.len(), 2);
    assert_eq!(msgs[0].data.len(), first_len);
    assert!(msgs[0].flags.no_content_length);
    assert_eq!(parse(&msgs[1].data).call_id(), Some(&b"after-trickle"[..]));
    assert!(took < Duration::from_secs(20), "took {took:?}");
    eprintln!("no Content-Length, 512 KB in 64-byte segments: {took:?}");
}

#[test]
fn endless_headers_trickling_in_are_cut_at_the_cap() {
    // Headers that never end, 64 bytes per segment: cut at max_message, linear work.
    let mut stream = b"INVITE sip:bob@192.0.2.2 SIP/2.0\r\n".to_vec();
    while stream.len() < 600 * 1024 {
        stream.extend_from_slice(
            b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n",
        );
    }
    let (msgs, took) = trickle(&stream, 64, 256 * 1024);
    assert!(!msgs.is_empty());
    assert!(msgs.iter().all(|m| m.data.len() <= 256 * 1024));
    assert!(took < Duration::from_secs(20), "took {took:?}");
    eprintln!("endless headers, 600 KB in 64-byte segments: {took:?}");
}

// ---------------------------------------------------------------------------------------------
// Crashes found by the fuzz targets.

/// Runs a capture file through `ingest::run` and checks the books balance.
fn books_balance(bytes: Vec<u8>) -> (Vec<SipMessage>, sipscope::ingest::Books) {
    let input = Input::from_bytes("regression", 0, bytes).expect("capture opens");
    let mut out = Vec::new();
    let books = sipscope::ingest::run(std::slice::from_ref(&input), &mut |m| out.push(m));
    assert_eq!(
        books.accounted(),
        books.frames,
        "every frame must be accounted exactly once: {books:?}"
    );
    (out, books)
}

/// Found by `pipeline`: a TCP segment that arrives ahead of a hole and straddles segments
/// already buffered is kept as several pieces; each piece was handed out as its own delivery
/// naming the same frame, and ingest counted that frame once per piece (the books showed more
/// frames accounted than read).
#[test]
fn held_tcp_segment_split_around_buffered_pieces_is_counted_once() {
    let msg = request(
        "MESSAGE",
        "straddle",
        1,
        "0123456789abcdefghijklmnopqrstuvwxyz",
    );
    let at = |off: usize, len: usize| &msg[off..off + len];
    let seq0 = 1000u32;
    let seg = |n: i64, off: usize, len: usize| {
        (
            n * 1000,
            eth_tcp4(
                a(),
                40000,
                b(),
                5060,
                seq0 + 1 + off as u32,
                ACK | PSH,
                at(off, len),
            ),
        )
    };
    let frames = vec![
        (0, eth_tcp4(a(), 40000, b(), 5060, seq0, SYN, b"")),
        // Two pieces buffered ahead of the hole at 0..40.
        seg(1, 60, 20),
        seg(2, 100, 20),
        // One segment from 40 to 140 straddles both: kept as 40..60, 80..100, 120..140.
        seg(3, 40, 100),
        // The hole fills: everything is handed out, the straddling frame in three deliveries.
        seg(4, 0, 40),
        seg(5, 140, msg.len() - 140),
    ];
    let (msgs, books) = books_balance(pcap_bytes(linktype::ETHERNET, &frames));
    assert_eq!(books.frames, 6);
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].data, msg);
    // The SYN is control; the five data frames carried the message.
    assert_eq!(books.sip_frames, 5);
}

/// The `pipeline` input that found the bug above (a Linux SLL capture with TLS and SIP over
/// TCP, records mutated): the books must balance.
#[test]
fn fuzz_pipeline_held_segment_counted_twice() {
    let bytes = include_bytes!("regressions/pipeline-held-segment-counted-twice.pcap").to_vec();
    let (msgs, books) = books_balance(bytes);
    assert_eq!(books.frames, 85);
    assert_eq!(books.issues.len(), 1, "the file ends inside a record");
    assert!(msgs.iter().all(|m| !m.frames.is_empty()));
}

/// The `commands` input that found a half-written JSON document: a capture whose first record
/// is already cut, so no frame can be read. `diagnose --json` had printed `{"calls":[` before
/// finding that out. Every command must fail with status 2 and an error naming the file, and
/// print on its output either nothing or a whole JSON document.
#[test]
fn fuzz_commands_no_frame_leaves_no_half_open_json() {
    let path = format!(
        "{}/tests/regressions/commands-no-frame-half-open-json.pcap",
        env!("CARGO_MANIFEST_DIR")
    );
    let runs: &[&[&str]] = &[
        &["diagnose", "--json"],
        &["diagnose"],
        &["calls", "--json"],
        &["stats", "--json"],
        &["media", "--json"],
        &["export", "--format", "json"],
        &["export", "--format", "ndjson"],
        &["ladder", "--format", "svg"],
    ];
    for args in runs {
        let mut line = args.to_vec();
        line.push(&path);
        let out = sipscope(&line);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("commands-no-frame-half-open-json.pcap") && err.contains("no frame"),
            "{args:?}: {err}"
        );
        if !out.stdout.is_empty() {
            let parsed = serde_json::from_slice::<serde_json::Value>(&out.stdout);
            assert!(parsed.is_ok(), "{args:?}: half a document on the output");
        }
    }
}
