//! Micro-benchmarks of the hot paths: the SIP parser (INVITE with SDP, 200 OK, REGISTER), TCP
//! reassembly (in-order and out-of-order streams, with and without framing), IPv4
//! defragmentation, and the pcap reader (and the whole ingest) over an in-memory capture.
//! Each reports throughput in bytes per second. Figures are recorded in benches/README.md.
//!
//! Run: `cargo bench --bench hot_paths` (add a filter such as `-- sip_parse` for one group).

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use common::{eth_udp4, request, response, v4};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use sipscope::capture::{linktype, writer::pcap_bytes, Input};
use sipscope::net::ip::{Defrag, FragInfo, FragKey, FragOutcome};
use sipscope::net::tcp::{Reassembler, Segment};
use sipscope::net::{Endpoint, Flow, FrameRef, Transport};
use sipscope::sip::framing::Framer;
use sipscope::sip::{parse, parse_with, Scratch};

const SDP: &str = "v=0\r\no=alice 2890844526 2890844526 IN IP4 192.0.2.1\r\ns=-\r\n\
                   c=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 49170 RTP/AVP 0 8 18 101\r\n\
                   a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:18 G729/8000\r\n\
                   a=fmtp:18 annexb=no\r\na=rtpmap:101 telephone-event/8000\r\n\
                   a=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n";

/// One message of each usual kind, named for the benchmarks that run over all of them.
fn kinds() -> [(&'static str, Vec<u8>); 3] {
    [
        ("invite_sdp", invite()),
        ("200_ok", ok200()),
        ("register", register()),
    ]
}

fn invite() -> Vec<u8> {
    format!(
        "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n\
         Via: SIP/2.0/UDP pc33.atlanta.example.com:5060;branch=z9hG4bK776asdhds;rport\r\n\
         Max-Forwards: 70\r\n\
         To: Bob <sip:bob@biloxi.example.com>\r\n\
         From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
         Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n\
         CSeq: 314159 INVITE\r\n\
         Contact: <sip:alice@pc33.atlanta.example.com>\r\n\
         Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, NOTIFY, MESSAGE, SUBSCRIBE, INFO\r\n\
         Supported: replaces, timer, 100rel\r\n\
         User-Agent: bench/1.0\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{SDP}",
        SDP.len()
    )
    .into_bytes()
}

fn ok200() -> Vec<u8> {
    b"SIP/2.0 200 OK\r\n\
      Via: SIP/2.0/UDP server10.biloxi.example.com;branch=z9hG4bK4b43c2ff8.1;received=192.0.2.3\r\n\
      Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds;received=192.0.2.1\r\n\
      To: Bob <sip:bob@biloxi.example.com>;tag=a6c85cf\r\n\
      From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
      Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n\
      CSeq: 314159 INVITE\r\n\
      Contact: <sip:bob@192.0.2.4>\r\n\
      Record-Route: <sip:server10.biloxi.example.com;lr>\r\n\
      Content-Length: 0\r\n\r\n"
        .to_vec()
}

fn register() -> Vec<u8> {
    b"REGISTER sip:registrar.biloxi.example.com SIP/2.0\r\n\
      Via: SIP/2.0/UDP bobspc.biloxi.example.com:5060;branch=z9hG4bKnashds7\r\n\
      Max-Forwards: 70\r\n\
      To: Bob <sip:bob@biloxi.example.com>\r\n\
      From: Bob <sip:bob@biloxi.example.com>;tag=456248\r\n\
      Call-ID: 843817637684230@998sdasdh09\r\n\
      CSeq: 1826 REGISTER\r\n\
      Contact: <sip:bob@192.0.2.4>\r\n\
      Expires: 7200\r\n\
      Content-Length: 0\r\n\r\n"
        .to_vec()
}

fn bench_parser(c: &mut Criterion) {
    let mut g = c.benchmark_group("sip_parse");
    for (name, msg) in kinds() {
        g.throughput(Throughput::Bytes(msg.len() as u64));
        // Parse plus what every message costs downstream: Call-ID, CSeq, From tag, top Via.
        g.bench_function(name, |b| {
            let mut scratch = Scratch::default();
            b.iter(|| {
                let m = parse_with(black_box(&msg), std::mem::take(&mut scratch));
                black_box((
                    m.call_id(),
                    m.cseq(),
                    m.from().and_then(|f| f.tag()),
                    m.top_via(),
                ));
                scratch = m.into_scratch();
            })
        });
    }
    let msg = invite();
    g.throughput(Throughput::Bytes(msg.len() as u64));
    g.bench_function("invite_sdp_fresh_and_sdp", |b| {
        b.iter(|| {
            let m = parse(black_box(&msg));
            black_box(m.sdp().map(|s| s.media.len()))
        })
    });
    g.finish();
    // A summary read walks every header once: the parser (its header list, then a walk over
    // it) against the quick head reader (each header handed over as it is found).
    let mut g = c.benchmark_group("head_walk");
    for (name, msg) in kinds() {
        g.throughput(Throughput::Bytes(msg.len() as u64));
        g.bench_function(format!("{name}_parse"), |b| {
            let mut scratch = Scratch::default();
            b.iter(|| {
                let m = parse_with(black_box(&msg), std::mem::take(&mut scratch));
                let mut seen = 0usize;
                for h in m.all_headers() {
                    seen = seen.wrapping_add(h.value.len()) ^ h.id as usize;
                }
                black_box((seen, m.cseq(), m.body().len()));
                scratch = m.into_scratch();
            })
        });
        g.bench_function(format!("{name}_quick"), |b| {
            b.iter(|| {
                let mut seen = 0usize;
                let q = sipscope::sip::quick::read(black_box(&msg), |id, v| {
                    seen = seen.wrapping_add(v.len()) ^ id as usize;
                });
                black_box((seen, q.map(|q| (q.cseq, q.body.len()))))
            })
        });
    }
    g.finish();
    // The first pass of the exact grouping only needs each message's Call-ID: the header
    // scan against a full parse for it.
    let mut g = c.benchmark_group("call_id");
    for (name, msg) in kinds() {
        g.throughput(Throughput::Bytes(msg.len() as u64));
        g.bench_function(format!("{name}_parse"), |b| {
            b.iter(|| parse(black_box(&msg)).call_id().map(|c| c.len()))
        });
        g.bench_function(format!("{name}_scan"), |b| {
            b.iter(|| sipscope::sip::scan::call_id(black_box(&msg)).map(|c| c.len()))
        });
    }
    g.finish();
}

fn flow() -> Flow {
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

fn fr(n: u64) -> FrameRef {
    FrameRef {
        file: 0,
        number: n,
        ts_ns: n as i64,
    }
}

/// A TCP stream of `n` SIP messages and its 1400-byte segments (start, end).
fn stream(n: usize) -> (Vec<u8>, Vec<(usize, usize)>) {
    let mut s = Vec::new();
    for i in 0..n {
        let cid = format!("call-{i}");
        s.extend(request("INVITE", &cid, 1, SDP));
        s.extend(response(200, "OK", &cid, 1, "INVITE"));
    }
    let segs = (0..s.len())
        .step_by(1400)
        .map(|a| (a, (a + 1400).min(s.len())))
        .collect();
    (s, segs)
}

fn run_tcp(
    data: &[u8],
    segs: &[(usize, usize)],
    order: &[usize],
    framer: Option<&mut Framer>,
) -> usize {
    let mut reasm = Reassembler::new(4 << 20);
    let mut got = 0usize;
    let f = flow();
    let mut framer = framer;
    // A SYN first, so that segments arriving ahead of the first one are buffered rather than
    // taken for the start of the stream.
    let syn = Segment {
        flow: f,
        seq: 999,
        syn: true,
        fin: false,
        rst: false,
        payload: &[],
        frame: fr(0),
        cut: false,
    };
    reasm.push(&syn, &mut |_| {});
    for (n, &i) in order.iter().enumerate() {
        let (a, e) = segs[i];
        let seg = Segment {
            flow: f,
            seq: 1000u32.wrapping_add(a as u32),
            syn: false,
            fin: false,
            rst: false,
            payload: &data[a..e],
            frame: fr(n as u64 + 1),
            cut: false,
        };
        reasm.push(&seg, &mut |d| {
            got += d.data.len();
            if let Some(fr) = framer.as_deref_mut() {
                fr.push(&d, &mut |m| {
                    black_box(m);
                });
            }
        });
    }
    reasm.finish(&mut |d| got += d.data.len());
    // Every byte must have come out, or the figure would measure something else.
    assert_eq!(got, data.len());
    got
}

fn bench_tcp(c: &mut Criterion) {
    let mut g = c.benchmark_group("tcp_reassembly");
    let (data, segs) = stream(100);
    let in_order: Vec<usize> = (0..segs.len()).collect();
    // Out of order: every pair of segments swapped, so every other segment is buffered until
    // the one before it arrives.
    let mut ooo: Vec<usize> = in_order.clone();
    for pair in ooo.chunks_mut(2) {
        pair.reverse();
    }
    // Worst case: the whole stream buffered until its first segment arrives last.
    let reversed: Vec<usize> = in_order.iter().rev().copied().collect();
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.bench_function("in_order", |b| {
        b.iter(|| black_box(run_tcp(&data, &segs, &in_order, None)))
    });
    g.bench_function("out_of_order", |b| {
        b.iter(|| black_box(run_tcp(&data, &segs, &ooo, None)))
    });
    g.bench_function("reversed", |b| {
        b.iter(|| black_box(run_tcp(&data, &segs, &reversed, None)))
    });
    g.bench_function("in_order_with_framing", |b| {
        b.iter_batched(
            || Framer::new(1 << 20),
            |mut fr| black_box(run_tcp(&data, &segs, &in_order, Some(&mut fr))),
            BatchSize::SmallInput,
        )
    });
    g.bench_function("out_of_order_with_framing", |b| {
        b.iter_batched(
            || Framer::new(1 << 20),
            |mut fr| black_box(run_tcp(&data, &segs, &ooo, Some(&mut fr))),
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

fn bench_defrag(c: &mut Criterion) {
    let mut g = c.benchmark_group("ipv4_defrag");
    // A 4 KB datagram (an INVITE with a large body) in three fragments, 100 datagrams per
    // iteration with distinct IP ids.
    let body = "x".repeat(3600);
    let datagram = common::udp(5060, 5060, &request("INVITE", "frag", 1, &body));
    let cuts = [0, 1480, 2960, datagram.len()];
    let key = |id: u32| FragKey {
        src: v4(192, 0, 2, 1),
        dst: v4(192, 0, 2, 2),
        proto: 17,
        id,
    };
    let frames = [fr(1)];
    g.throughput(Throughput::Bytes(100 * datagram.len() as u64));
    for (name, order) in [("in_order", [0usize, 1, 2]), ("reversed", [2, 1, 0])] {
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut pool = Defrag::new(64 << 20, 30_000_000_000);
                let mut done = 0;
                for id in 0..100u32 {
                    for &i in &order {
                        let frag = FragInfo {
                            offset: cuts[i] as u32,
                            more: i < 2,
                            id,
                        };
                        let bytes = &datagram[cuts[i]..cuts[i + 1]];
                        if let FragOutcome::Complete(r) =
                            pool.push(key(id), frag, bytes, false, &frames, 0)
                        {
                            done += r.payload.len();
                        }
                    }
                }
                black_box(done)
            })
        });
    }
    g.finish();
}

fn bench_capture(c: &mut Criterion) {
    let mut g = c.benchmark_group("pcap_reader");
    let (a, b) = (v4(192, 0, 2, 1), v4(192, 0, 2, 2));
    let packets: Vec<(i64, Vec<u8>)> = (0..2000)
        .map(|i| {
            let cid = format!("call-{}", i / 2);
            let msg = if i % 2 == 0 {
                request("INVITE", &cid, 1, SDP)
            } else {
                response(200, "OK", &cid, 1, "INVITE")
            };
            (
                1_700_000_000_000_000_000 + i * 1_000_000,
                eth_udp4(a, 5060, b, 5060, &msg),
            )
        })
        .collect();
    let file = pcap_bytes(linktype::ETHERNET, &packets);
    let input = Input::from_bytes("bench", 0, file.clone()).expect("valid capture");
    g.throughput(Throughput::Bytes(file.len() as u64));
    g.bench_function("walk_2000_frames", |bch| {
        bch.iter(|| {
            let mut bytes = 0usize;
            for f in input.frames().flatten() {
                bytes += f.data.len();
            }
            black_box(bytes)
        })
    });
    g.bench_function("ingest_2000_udp_messages", |bch| {
        bch.iter(|| {
            let mut n = 0usize;
            let books = sipscope::ingest::run(std::slice::from_ref(&input), &mut |m| {
                n += m.data.len();
            });
            black_box((n, books.frames))
        })
    });
    g.finish();
}

fn config() -> Criterion {
    // Short runs: this is a 2-core machine shared with other work; the figures are indicative.
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30)
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench_parser, bench_tcp, bench_defrag, bench_capture
}
criterion_main!(benches);
