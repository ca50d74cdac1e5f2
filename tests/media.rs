//! Media conformance: for every RTP stream tshark lists in `expected/*.rtpstreams.txt`, sipscope
//! (through its real pipeline: capture, net, SIP/SDP, media) reports a stream with the same
//! source, destination and SSRC, the same packet and lost counts, and a mean jitter within 5%
//! of tshark's.

mod common;

use std::path::Path;

use common::corpus_or_say;
use sipscope::capture;
use sipscope::ingest;

/// Streams where tshark is wrong, as (file, SSRC, why).
const EXCEPTIONS: &[(&str, &str, &str)] = &[(
    "goffinet-voip1b.pcapng",
    "0x3ADF0949",
    // An ICE connectivity check (STUN) on the same address pair right after the first RTP
    // packet makes tshark hand the conversation to its STUN dissector: it shows 1 packet where
    // the stream really has 32.
    "tshark stops decoding RTP after a STUN check on the same ports",
)];

#[derive(Debug)]
struct Expected {
    src: String,
    dst: String,
    ssrc: String,
    packets: u64,
    lost: i64,
    mean_jitter: f64,
}

/// Reads tshark's table; columns after the payload name (which may hold spaces) are read from
/// the right.
fn expected(path: &Path) -> Vec<Expected> {
    let text = std::fs::read_to_string(path).expect("read rtpstreams");
    let mut out = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 16 || !f[6].starts_with("0x") {
            continue;
        }
        // From the right: ... pkts lost (pct) minD meanD maxD minJ meanJ maxJ [problems]
        let n = if f.last().is_some_and(|l| l.parse::<f64>().is_err()) {
            f.len() - 1
        } else {
            f.len()
        };
        let num = |i: usize| f[n - i];
        let ep = |ip: &str, port: &str| {
            if ip.contains(':') {
                format!("[{ip}]:{port}")
            } else {
                format!("{ip}:{port}")
            }
        };
        out.push(Expected {
            src: ep(f[2], f[3]),
            dst: ep(f[4], f[5]),
            ssrc: f[6].to_string(),
            packets: num(9).parse().expect("packets"),
            lost: num(8).parse().expect("lost"),
            mean_jitter: num(2).parse().expect("mean jitter"),
        });
    }
    out
}

#[test]
fn rtp_streams_match_tshark() {
    let Some(dir) = corpus_or_say("media") else {
        return;
    };
    let mut checked = 0;
    let mut failures = Vec::new();
    let mut names: Vec<_> = std::fs::read_dir(dir.join("expected"))
        .expect("expected dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".rtpstreams.txt"))
        .collect();
    names.sort();
    for n in names {
        let file = n.trim_end_matches(".rtpstreams.txt").to_string();
        let want = expected(&dir.join("expected").join(&n));
        let input = capture::open(dir.join(&file).to_str().expect("path"), 0).expect("open");
        let (_, media) = ingest::run_with_media(std::slice::from_ref(&input), &mut |_| {});
        let got = media.streams();
        for w in &want {
            if EXCEPTIONS
                .iter()
                .any(|(f, s, _)| *f == file && *s == w.ssrc)
            {
                continue;
            }
            checked += 1;
            let Some(g) = got
                .iter()
                .find(|g| g.src == w.src && g.dst == w.dst && g.ssrc == w.ssrc)
            else {
                failures.push(format!(
                    "{file}: stream {} {} -> {} not found",
                    w.ssrc, w.src, w.dst
                ));
                continue;
            };
            let jitter_ok =
                (g.mean_jitter_ms - w.mean_jitter).abs() <= 0.05 * w.mean_jitter.max(0.001);
            if g.packets != w.packets || g.lost != w.lost || !jitter_ok {
                failures.push(format!(
                    "{file}: {} packets {}/{} lost {}/{} mean jitter {:.3}/{:.3}",
                    w.ssrc, g.packets, w.packets, g.lost, w.lost, g.mean_jitter_ms, w.mean_jitter
                ));
            }
        }
    }
    println!(
        "media: {checked} tshark streams checked, {} differ",
        failures.len()
    );
    assert!(checked > 0);
    assert!(failures.is_empty(), "{failures:#?}");
}
