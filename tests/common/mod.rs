//! Packet builders for integration tests: the captures no SIP stack makes on demand (fragments in
//! any order, TCP segments split, retransmitted and reordered, odd link layers) are built here
//! byte by byte and written with sipscope's own pcap writer.
#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const ETH_IPV4: u16 = 0x0800;
pub const ETH_IPV6: u16 = 0x86dd;

pub fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

pub fn v6(s: &str) -> IpAddr {
    IpAddr::V6(s.parse::<Ipv6Addr>().unwrap())
}

fn sum16(data: &[u8], mut acc: u32) -> u32 {
    for ch in data.chunks(2) {
        let w = if ch.len() == 2 {
            u16::from_be_bytes([ch[0], ch[1]])
        } else {
            u16::from(ch[0]) << 8
        };
        acc += u32::from(w);
    }
    acc
}

fn fold(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

/// Ethernet II header around `payload`.
pub fn eth(ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1];
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// Ethernet with stacked VLAN tags (outer first): QinQ when two are given.
pub fn eth_vlan(tags: &[(u16, u16)], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1];
    for (tpid, vid) in tags {
        f.extend_from_slice(&tpid.to_be_bytes());
        f.extend_from_slice(&vid.to_be_bytes());
    }
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// One IPv4 packet (or fragment: `frag_off` in bytes, multiple of 8).
pub fn ipv4(
    src: IpAddr,
    dst: IpAddr,
    proto: u8,
    id: u16,
    frag_off: usize,
    more: bool,
    payload: &[u8],
) -> Vec<u8> {
    let (IpAddr::V4(s), IpAddr::V4(d)) = (src, dst) else {
        panic!("ipv4 needs v4 addresses")
    };
    let total = 20 + payload.len();
    let mut h = vec![0x45, 0];
    h.extend_from_slice(&(total as u16).to_be_bytes());
    h.extend_from_slice(&id.to_be_bytes());
    let ff = ((frag_off / 8) as u16) | if more { 0x2000 } else { 0 };
    h.extend_from_slice(&ff.to_be_bytes());
    h.extend_from_slice(&[64, proto, 0, 0]);
    h.extend_from_slice(&s.octets());
    h.extend_from_slice(&d.octets());
    let c = fold(sum16(&h, 0));
    h[10..12].copy_from_slice(&c.to_be_bytes());
    h.extend_from_slice(payload);
    h
}

/// One IPv6 packet; with `frag` = Some((id, offset, more)) a Fragment extension header is added.
pub fn ipv6(
    src: IpAddr,
    dst: IpAddr,
    proto: u8,
    frag: Option<(u32, usize, bool)>,
    payload: &[u8],
) -> Vec<u8> {
    let (IpAddr::V6(s), IpAddr::V6(d)) = (src, dst) else {
        panic!("ipv6 needs v6 addresses")
    };
    let mut body = Vec::new();
    let next = if let Some((id, off, more)) = frag {
        body.extend_from_slice(&[proto, 0]);
        let v = ((off / 8) as u16) << 3 | u16::from(more);
        body.extend_from_slice(&v.to_be_bytes());
        body.extend_from_slice(&id.to_be_bytes());
        44
    } else {
        proto
    };
    body.extend_from_slice(payload);
    let mut h = vec![0x60, 0, 0, 0];
    h.extend_from_slice(&(body.len() as u16).to_be_bytes());
    h.extend_from_slice(&[next, 64]);
    h.extend_from_slice(&s.octets());
    h.extend_from_slice(&d.octets());
    h.extend_from_slice(&body);
    h
}

/// UDP header + payload (checksum left zero, which IPv4 allows).
pub fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = Vec::new();
    u.extend_from_slice(&sport.to_be_bytes());
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    u
}

pub const SYN: u8 = 0x02;
pub const ACK: u8 = 0x10;
pub const PSH: u8 = 0x08;
pub const FIN: u8 = 0x01;

/// TCP header (20 bytes) + payload.
pub fn tcp(sport: u16, dport: u16, seq: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut t = Vec::new();
    t.extend_from_slice(&sport.to_be_bytes());
    t.extend_from_slice(&dport.to_be_bytes());
    t.extend_from_slice(&seq.to_be_bytes());
    t.extend_from_slice(&1u32.to_be_bytes());
    t.extend_from_slice(&[0x50, flags]);
    t.extend_from_slice(&65535u16.to_be_bytes());
    t.extend_from_slice(&[0, 0, 0, 0]);
    t.extend_from_slice(payload);
    t
}

/// Ethernet/IPv4/UDP in one go.
pub fn eth_udp4(src: IpAddr, sport: u16, dst: IpAddr, dport: u16, payload: &[u8]) -> Vec<u8> {
    eth(
        ETH_IPV4,
        &ipv4(src, dst, 17, 1, 0, false, &udp(sport, dport, payload)),
    )
}

/// Ethernet/IPv4/TCP in one go.
pub fn eth_tcp4(
    src: IpAddr,
    sport: u16,
    dst: IpAddr,
    dport: u16,
    seq: u32,
    flags: u8,
    payload: &[u8],
) -> Vec<u8> {
    eth(
        ETH_IPV4,
        &ipv4(
            src,
            dst,
            6,
            1,
            0,
            false,
            &tcp(sport, dport, seq, flags, payload),
        ),
    )
}

/// A plausible SIP request with the given method, Call-ID and CSeq number.
pub fn request(method: &str, call_id: &str, cseq: u32, body: &str) -> Vec<u8> {
    format!(
        "{method} sip:bob@192.0.2.2 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK{call_id}{cseq}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:alice@192.0.2.1>;tag=a1\r\n\
         To: <sip:bob@192.0.2.2>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: {cseq} {method}\r\n\
         Contact: <sip:alice@192.0.2.1:5060>\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// A plausible SIP response.
pub fn response(code: u16, reason: &str, call_id: &str, cseq: u32, method: &str) -> Vec<u8> {
    format!(
        "SIP/2.0 {code} {reason}\r\n\
         Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK{call_id}{cseq}\r\n\
         From: <sip:alice@192.0.2.1>;tag=a1\r\n\
         To: <sip:bob@192.0.2.2>;tag=b2\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: {cseq} {method}\r\n\
         Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

/// A temporary file that is removed when dropped.
pub struct TempFile(pub PathBuf);

impl TempFile {
    pub fn new(name: &str, bytes: &[u8]) -> TempFile {
        let dir = std::env::temp_dir().join(format!("sipscope-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        TempFile(p)
    }
    pub fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Runs the real binary.
pub fn sipscope(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sipscope"))
        .args(args)
        .output()
        .unwrap()
}

/// Runs `sipscope stats --json FILE...` and returns the parsed object.
pub fn stats_json(files: &[&str]) -> serde_json::Value {
    let mut args = vec!["stats", "--json"];
    args.extend_from_slice(files);
    let out = sipscope(&args);
    assert!(
        out.status.success(),
        "sipscope failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Every SIP message found in a capture held in memory, as (frame, "METHOD" or "code", Call-ID).
pub fn messages(bytes: Vec<u8>) -> Vec<(u64, String, String)> {
    let input = sipscope::capture::Input::from_bytes("test", 0, bytes).unwrap();
    let mut out = Vec::new();
    sipscope::ingest::run(std::slice::from_ref(&input), &mut |m| {
        let p = sipscope::sip::parse(&m.data);
        let what = match p.start {
            sipscope::sip::StartLine::Request { method, .. } => method.as_str().to_string(),
            sipscope::sip::StartLine::Response { code, .. } => code.to_string(),
            sipscope::sip::StartLine::Invalid { .. } => "invalid".to_string(),
        };
        let cid = p
            .call_id()
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .unwrap_or_default();
        out.push((m.frame.number, what, cid));
    });
    out
}

/// The corpus of real captures: `$SIPSCOPE_CORPUS`, or `../shared/corpus` beside the crate (or
/// beside a worktree's folder). `None` when there is none; each test says so loudly.
pub fn corpus_dir() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("SIPSCOPE_CORPUS") {
        return Some(PathBuf::from(p));
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    [
        root.join("../shared/corpus"),
        root.join("../../shared/corpus"),
    ]
    .into_iter()
    .find(|p| p.is_dir())
}

/// [`corpus_dir`] for a test that checks `what` on the corpus. Without a corpus it says loudly
/// that `what` was not checked, and fails under CI (`CI` set): a corpus test that checked
/// nothing must not look green there.
pub fn corpus_or_say(what: &str) -> Option<PathBuf> {
    let dir = corpus_dir();
    if dir.is_none() {
        eprintln!("\n!!!!!! CORPUS NOT FOUND (../shared/corpus): {what} NOT checked !!!!!!\n");
        assert!(std::env::var_os("CI").is_none(), "corpus missing under CI");
    }
    dir
}

/// The captures (pcap, pcapng, cap) directly in `dir`, sorted by name.
pub fn captures_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read capture folder")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .is_some_and(|e| e == "pcap" || e == "pcapng" || e == "cap")
        })
        .collect();
    files.sort();
    files
}
