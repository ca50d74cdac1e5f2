//! The clean-message scan (`sip::scan::clean`, what `stats` reads most messages with) may
//! decline any message, but what it answers must be what the full parser says: when it returns
//! `Some`, `sip::parse` finds no anomaly and the same start line and Call-ID. Checked on
//! arbitrary bytes, on well-formed messages put together from pieces (with the quirks the
//! parser tolerates silently or reports) and edited at random, and on every SIP message of the
//! samples and of the corpus (`SIPSCOPE_CORPUS`, else `../shared/corpus`; said loudly when
//! absent, an error under CI). The samples also show that it does not decline plain messages.

mod common;

use std::path::{Path, PathBuf};

use common::{captures_in, corpus_or_say};
use proptest::prelude::*;
use sipscope::{capture, ingest, sip};

/// Whether `clean` declined (`false`) or answered (`true`); fails if it answered wrongly.
fn agree(raw: &[u8]) -> Result<bool, TestCaseError> {
    let Some(c) = sip::scan::clean(raw) else {
        return Ok(false);
    };
    let p = sip::parse(raw);
    prop_assert!(
        p.anomalies().is_empty(),
        "{:?}: {:?}",
        String::from_utf8_lossy(raw),
        p.anomalies()
    );
    prop_assert_eq!(c.start, p.start);
    prop_assert_eq!(c.call_id, p.call_id());
    Ok(true)
}

fn start_line() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b"INVITE sip:bob@example.com SIP/2.0".to_vec()),
        Just(b"ACK sip:bob@example.com SIP/2.0".to_vec()),
        Just(b"FOO sip:x SIP/2.0".to_vec()),
        Just(b"invite sip:x SIP/2.0".to_vec()),
        Just(b"INVITE  sip:x\tSIP/2.0 ".to_vec()),
        Just(b"INVITE sip:x sip/2.0".to_vec()),
        Just(b"INVITE sip:x".to_vec()),
        Just(b"INVITE sip:x SIP/3.0".to_vec()),
        Just(b"SIP/2.0 200 OK".to_vec()),
        Just(b"SIP/2.0 180".to_vec()),
        Just(b"sip/2.0 486 Busy Here".to_vec()),
        Just(b"SIP/2.0 99 Low".to_vec()),
        Just(b"SIP/2.0 2000 Long".to_vec()),
        Just(b"SIP/2.0 abc".to_vec()),
        Just(b"HELLO".to_vec()),
    ]
}

/// Header lines (without line end), right or subtly wrong.
fn header() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1".to_vec()),
        Just(b"v: SIP/2.0/UDP h".to_vec()),
        Just(b"VIA : x".to_vec()),
        Just(b"From: <sip:a@x>;tag=1".to_vec()),
        Just(b"f:a".to_vec()),
        Just(b"To: <sip:b@x>".to_vec()),
        Just(b"t:\tb".to_vec()),
        Just(b"Call-ID: abc@h".to_vec()),
        Just(b"i: compact".to_vec()),
        Just(b"CALL-ID:\t spaced \t".to_vec()),
        Just(b"Call-ID:".to_vec()),
        Just(b"Call-ID: in\rner".to_vec()),
        Just(b"CSeq: 1 INVITE".to_vec()),
        Just(b"CSeq: 2 ACK".to_vec()),
        Just(b"CSeq: 3 FOO".to_vec()),
        Just(b"CSeq: 1  INVITE".to_vec()),
        Just(b"CSeq:\t7\tINVITE extra".to_vec()),
        Just(b"CSeq: 4294967295 INVITE".to_vec()),
        Just(b"CSeq: 4294967296 INVITE".to_vec()),
        Just(b"CSeq: 123456789 INVITE".to_vec()),
        Just(b"CSeq: 1234567890 INVITE".to_vec()),
        Just(b"CSeq: x INVITE".to_vec()),
        Just(b"CSeq: 1".to_vec()),
        Just(b"CSeq: 1 INVITE\r".to_vec()),
        Just(b"CSeq: 1 INV\xc3\xa9".to_vec()),
        Just(b"Content-Length: 0".to_vec()),
        Just(b"l: 4".to_vec()),
        Just(b"Content-Length: 04".to_vec()),
        Just(b"Content-Length:  4 ".to_vec()),
        Just(b"Content-Length: 4\r".to_vec()),
        Just(b"Content-Length: x".to_vec()),
        Just(b"Content-Length: 99999999999999999999".to_vec()),
        Just(b"Max-Forwards: 70".to_vec()),
        Just(b"X-Long-Header-Name-Past-Eight-Bytes: y".to_vec()),
        Just(b"X: caf\xc3\xa9".to_vec()),
        Just(b"X: \xff".to_vec()),
        Just(b": empty name".to_vec()),
        Just(b"no colon".to_vec()),
        Just(b" folded".to_vec()),
        Just(b"\tfolded".to_vec()),
        Just(b"   ".to_vec()),
        Just(b"\rX: bare cr first".to_vec()),
        Just(b"Y\r: cr in name".to_vec()),
    ]
}

/// A message: start line, headers, blank line, body; `lf` lines end with LF alone. Most
/// carry the mandatory headers (and a right Content-Length) somewhere among the others, so
/// that some come out clean.
fn message() -> impl Strategy<Value = Vec<u8>> {
    (
        start_line(),
        proptest::collection::vec((header(), prop::bool::weighted(0.03)), 0..8),
        (prop::bool::weighted(0.7), any::<usize>()),
        prop_oneof![Just(&b""[..]), Just(&b"abcd"[..]), Just(&b"v=0\r\n"[..])],
        prop::bool::weighted(0.1),
        prop::bool::weighted(0.1),
    )
        .prop_map(
            |(start, headers, (with_mandatory, at), body, leading, no_end)| {
                let mut m = Vec::new();
                if leading {
                    m.extend_from_slice(b"\r\n");
                }
                m.extend_from_slice(&start);
                m.extend_from_slice(b"\r\n");
                let at = at % (headers.len() + 1);
                for (i, (h, lf)) in headers.iter().enumerate() {
                    if with_mandatory && i == at {
                        m.extend_from_slice(&mandatory(body.len()));
                    }
                    m.extend_from_slice(h);
                    m.extend_from_slice(if *lf { b"\n" } else { b"\r\n" });
                }
                if with_mandatory && at == headers.len() {
                    m.extend_from_slice(&mandatory(body.len()));
                }
                if !no_end {
                    m.extend_from_slice(b"\r\n");
                    m.extend_from_slice(body);
                }
                m
            },
        )
}

/// The five mandatory headers and a length, so that many generated messages are clean.
fn mandatory(body: usize) -> Vec<u8> {
    format!(
        "Via: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@x>\r\n\
         Call-ID: c1@h\r\nCSeq: 1 INVITE\r\nContent-Length: {body}\r\n"
    )
    .into_bytes()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn clean_agrees_with_the_parser_on_arbitrary_bytes(
        data in proptest::collection::vec(any::<u8>(), 0..600)
    ) {
        agree(&data)?;
    }

    #[test]
    fn clean_agrees_with_the_parser_on_pieced_messages(m in message()) {
        agree(&m)?;
    }

    /// Mostly clean INVITEs with extra headers and edits anywhere.
    #[test]
    fn clean_agrees_with_the_parser_on_edited_messages(
        extra in proptest::collection::vec(header(), 0..4),
        before in prop::bool::ANY,
        edit in (any::<usize>(), proptest::collection::vec(any::<u8>(), 0..3), 0usize..3),
    ) {
        let mut m = b"INVITE sip:bob@example.com SIP/2.0\r\n".to_vec();
        let mut head = Vec::new();
        for h in &extra {
            head.extend_from_slice(h);
            head.extend_from_slice(b"\r\n");
        }
        if before {
            m.extend_from_slice(&head);
            m.extend_from_slice(&mandatory(4));
        } else {
            m.extend_from_slice(&mandatory(4));
            m.extend_from_slice(&head);
        }
        m.extend_from_slice(b"\r\nbody");
        agree(&m)?;
        // One edit: replace `del` bytes at a position by the inserted ones.
        let (at, ins, del) = edit;
        let at = at % (m.len() + 1);
        let del = del.min(m.len() - at);
        m.splice(at..at + del, ins);
        agree(&m)?;
    }
}

#[test]
fn plain_messages_are_read_and_defects_declined() {
    let mut ok = b"SIP/2.0 180 Ringing\r\n".to_vec();
    ok.extend_from_slice(&mandatory(0));
    ok.extend_from_slice(b"\r\n");
    let c = sip::scan::clean(&ok).expect("clean");
    assert_eq!(c.start, sip::parse(&ok).start);
    assert_eq!(c.call_id, Some(&b"c1@h"[..]));
    for (from, to) in [
        (&b"180"[..], &b"18"[..]),                          // bad status code
        (b"c1@h\r\n", b"c1@h\n"),                           // mixed line endings
        (b"Length: 0\r\n\r\n", b"Length: 1\r\n\r\n"),       // body shorter
        (b"Length: 0\r\n\r\n", b"Length: 0\r\n\r\nx"),      // body longer
        (b"To: <sip:b@x>\r\n", b""),                        // missing To
        (b"To: <sip:b@x>\r\n", b"To: <sip:b@x>\r\n x\r\n"), // folded (no anomaly, declined)
        (b"CSeq: 1 INVITE", b"CSeq: one INVITE"),           // bad CSeq
        (b"\r\n\r\n", b"\r\n"),                             // no header end
    ] {
        let at = ok
            .windows(from.len())
            .position(|w| w == from)
            .expect("piece");
        let mut m = ok[..at].to_vec();
        m.extend_from_slice(to);
        m.extend_from_slice(&ok[at + from.len()..]);
        assert!(
            sip::scan::clean(&m).is_none(),
            "{:?}",
            String::from_utf8_lossy(&m)
        );
    }
    // A request whose CSeq names another method.
    let mut req = b"BYE sip:b@x SIP/2.0\r\n".to_vec();
    req.extend_from_slice(&mandatory(0));
    req.extend_from_slice(b"\r\n");
    assert!(sip::scan::clean(&req).is_none());
    let req = String::from_utf8(req).unwrap().replace("1 INVITE", "1 BYE");
    assert!(sip::scan::clean(req.as_bytes()).is_some());
}

/// Every message of `files` (as framing hands them out): how many there were, how many the
/// parser finds no anomaly in, and how many of those `clean` read.
fn check_files(files: &[PathBuf]) -> (usize, usize, usize) {
    let (mut n, mut plain, mut read) = (0, 0, 0);
    for path in files {
        let Ok(input) = capture::open(path.to_str().expect("utf-8 path"), 0) else {
            continue;
        };
        ingest::run_located(std::slice::from_ref(&input), &mut |m| {
            let answered = agree(m.data)
                .unwrap_or_else(|e| panic!("{} frame {}: {e}", path.display(), m.frame.number));
            n += 1;
            if sip::parse(m.data).anomalies().is_empty() {
                plain += 1;
                read += usize::from(answered);
            }
        });
    }
    (n, plain, read)
}

#[test]
fn clean_agrees_with_the_parser_on_every_sample_message() {
    let files = captures_in(&Path::new(env!("CARGO_MANIFEST_DIR")).join("samples"));
    assert!(!files.is_empty());
    let (n, plain, read) = check_files(&files);
    assert!(n > 100, "{n}");
    // The samples' messages without defects are plain ASCII with CRLF: all read.
    assert!(plain > n / 2, "{plain} of {n}");
    assert_eq!(read, plain);
}

#[test]
fn clean_agrees_with_the_parser_on_every_corpus_message() {
    let Some(dir) = corpus_or_say("clean scan") else {
        return;
    };
    let files = captures_in(&dir);
    assert!(!files.is_empty());
    let (n, plain, read) = check_files(&files);
    assert!(n > 100, "{n}");
    eprintln!("corpus: {n} messages, {plain} without anomaly, {read} of them read by clean");
}
