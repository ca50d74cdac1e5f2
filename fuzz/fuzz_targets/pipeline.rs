//! Fuzz target: the whole ingest pipeline (capture reader, link/IP/transport decoding,
//! defragmentation, TCP reassembly, SIP framing) on arbitrary bytes, twice: as the body of a pcap
//! file whose valid global header is prepended (link type picked by the first byte), and as the
//! raw file. The books must balance: every frame read is accounted exactly once.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "pcap_body.rs"]
mod pcap_body;
use sipscope::capture::{linktype, Input};

const LINKTYPES: [u32; 9] = [
    linktype::ETHERNET,
    linktype::RAW,
    linktype::IPV4,
    linktype::IPV6,
    linktype::LINUX_SLL,
    linktype::LINUX_SLL2,
    linktype::NULL,
    linktype::LOOP,
    linktype::RAW_12,
];

fn run(bytes: Vec<u8>) {
    let Ok(input) = Input::from_bytes("fuzz", 0, bytes) else {
        return;
    };
    let mut n = 0usize;
    let books = sipscope::ingest::run(std::slice::from_ref(&input), &mut |m| {
        assert!(!m.frames.is_empty(), "message without frames");
        assert!(
            m.frames.contains(&m.frame),
            "completing frame not among the frames"
        );
        assert!(
            m.data.len() <= 2 * sipscope::ingest::MAX_MESSAGE,
            "message over the cap"
        );
        let p = sipscope::sip::parse(&m.data);
        let _ = (p.call_id(), p.cseq(), p.sdp());
        n += 1;
    });
    assert_eq!(
        books.accounted(),
        books.frames,
        "books do not balance: {books:?}"
    );
    let _ = n;
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let lt = LINKTYPES[usize::from(pick) % LINKTYPES.len()];
    let file = pcap_body::with_pcap_header(lt, body);
    run(file);
    run(data.to_vec());
});
