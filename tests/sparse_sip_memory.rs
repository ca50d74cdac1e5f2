//! A capture where SIP is sparse (mostly RTP) must not stay resident while a pass reads it.
//! Messages handed between the threads point into the mapped capture, and the pages behind
//! the reader go back to the OS only once the consumer is done with every message before
//! them; a batch of messages spread over many megabytes kept all of them mapped. One test in
//! this file, so that no other test's mapped files count in its process.

mod common;

use common::*;
use sipscope::capture::{linktype, writer::pcap_bytes};
use sipscope::ingest::{self, Ingest};

/// Resident pages of mapped files in this process, in bytes.
fn rss_file() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status")
        .expect("this test reads its resident memory in /proc/self/status (Linux)");
    status
        .lines()
        .find_map(|l| l.strip_prefix("RssFile:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .expect("RssFile in /proc/self/status")
}

#[test]
fn sparse_sip_keeps_little_of_the_capture_resident() {
    // 80 MB: a SIP request, then a megabyte of RTP-sized datagrams, eighty times.
    let media = vec![0x80u8; 1400];
    let mut frames = Vec::new();
    let mut ts = 1_700_000_000_000_000_000i64;
    for n in 0..80 {
        let sip = request("OPTIONS", &format!("sparse-{n}@test"), 1, "");
        frames.push((
            ts,
            eth_udp4(v4(10, 0, 0, 1), 5060, v4(10, 0, 0, 2), 5060, &sip),
        ));
        for _ in 0..700 {
            ts += 20_000_000;
            let frame = eth_udp4(v4(10, 0, 0, 1), 40000, v4(10, 0, 0, 2), 40002, &media);
            frames.push((ts, frame));
        }
    }
    let bytes = pcap_bytes(linktype::ETHERNET, &frames);
    drop(frames);
    let path = std::env::temp_dir().join(format!("sipscope-sparse-{}.pcap", std::process::id()));
    std::fs::write(&path, &bytes).expect("write the capture");
    let size = bytes.len() as u64;
    drop(bytes);
    let input = sipscope::capture::open(path.to_str().expect("utf-8 path"), 0).expect("open");
    let _ = std::fs::remove_file(&path);
    assert!(input.is_mapped(), "the capture file is mapped");
    let inputs = vec![input];

    let before = rss_file();
    let (mut most, mut messages) = (0u64, 0usize);
    let never = |_: Option<&sipscope::media::MediaTracker>| false;
    let finished = ingest::run_parallel_on_until_returning(
        Ingest::new(),
        &inputs,
        &never,
        &|m| m.frame.number,
        &mut |_, _: &mut Vec<()>| {
            messages += 1;
            most = most.max(rss_file().saturating_sub(before));
        },
    );
    assert!(finished.is_some());
    assert_eq!(messages, 80);
    assert!(
        most < size / 2,
        "{} MB of an {} MB capture resident while its messages were read",
        most >> 20,
        size >> 20
    );
}
