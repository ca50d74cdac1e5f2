//! The quick head reader (`sip::quick::read`) must report exactly what the full parser
//! returns (start line, head, body, CSeq, and every header's identity and value in order)
//! whenever it does not decline: on arbitrary bytes, on header soup rich in line-ending and
//! folding quirks, and on every SIP message of the samples and of the corpus
//! (`SIPSCOPE_CORPUS`, else `../shared/corpus`; said loudly when absent, an error under CI).
//! It must also take the usual message: most messages of real captures.

mod common;

// Only the quick reader's check is used here.
#[allow(dead_code)]
#[path = "../fuzz/fuzz_targets/spans.rs"]
mod spans;

use std::path::{Path, PathBuf};

use common::{captures_in, corpus_or_say};
use proptest::prelude::*;
use sipscope::{capture, ingest, sip};

/// Whether the quick reader took `raw`; when it did, what it reported must equal the parse.
fn agree(raw: &[u8]) -> Result<bool, TestCaseError> {
    spans::quick_agrees(&sip::parse(raw)).map_err(TestCaseError::fail)
}

/// Pieces that steer the header walk: names (long and compact, near misses), colons,
/// every line ending and its quirks, folds, whitespace, Content-Length and CSeq values.
fn piece() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b"Call-ID".to_vec()),
        Just(b"i".to_vec()),
        Just(b"Via".to_vec()),
        Just(b"v ".to_vec()),
        Just(b"From".to_vec()),
        Just(b"To\t".to_vec()),
        Just(b"CSeq".to_vec()),
        Just(b"Content-Length".to_vec()),
        Just(b"l".to_vec()),
        Just(b"Content-Type".to_vec()),
        Just(b"Record-Route".to_vec()),
        Just(b":".to_vec()),
        Just(b": ".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\r".to_vec()),
        Just(b"\r\n ".to_vec()),
        Just(b"\r\n\t".to_vec()),
        Just(b"\r\n\r\n".to_vec()),
        Just(b" ".to_vec()),
        Just(b"\t".to_vec()),
        Just(b"12 INVITE".to_vec()),
        Just(b"4294967296".to_vec()),
        "[0-9]{1,3}".prop_map(String::into_bytes),
        "[a-z0-9@.;=<>]{1,12}".prop_map(String::into_bytes),
        proptest::collection::vec(any::<u8>(), 1..6),
    ]
}

/// A start line: both usual forms, and near misses.
fn start() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        Just(""),
        Just("\r\n"),
        Just("INVITE sip:x SIP/2.0\r\n"),
        Just("INVITE sip:x SIP/2.0\n"),
        Just("FOO sip:x SIP/2.0\r\n"),
        Just("SIP/2.0 200 OK\r\n"),
        Just("SIP/2.0 180\r\n"),
        Just("SIP/2.0 099 Odd\r\n"),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn quick_reader_agrees_with_the_parser_on_arbitrary_bytes(
        data in proptest::collection::vec(any::<u8>(), 0..600)
    ) {
        agree(&data)?;
    }

    #[test]
    fn quick_reader_agrees_with_the_parser_on_header_soup(
        start in start(),
        pieces in proptest::collection::vec(piece(), 0..40),
    ) {
        let mut data = start.as_bytes().to_vec();
        for p in pieces {
            data.extend_from_slice(&p);
        }
        agree(&data)?;
    }

    /// Well-formed heads with values and bodies drawn at random: most are taken, and all
    /// agree.
    #[test]
    fn quick_reader_agrees_with_the_parser_on_plain_messages(
        start in start(),
        headers in proptest::collection::vec(
            (piece(), "[ \t]{0,2}", "[ -~]{0,20}", "[ \t]{0,2}"), 0..12),
        body in proptest::collection::vec(any::<u8>(), 0..40),
    ) {
        let mut data = start.as_bytes().to_vec();
        for (name, lead, value, trail) in headers {
            data.extend_from_slice(&name);
            data.push(b':');
            data.extend_from_slice(lead.as_bytes());
            data.extend_from_slice(value.as_bytes());
            data.extend_from_slice(trail.as_bytes());
            data.extend_from_slice(b"\r\n");
        }
        data.extend_from_slice(b"\r\n");
        data.extend_from_slice(&body);
        agree(&data)?;
    }
}

/// Every message of `files` (as framing hands them out): how many were compared and how
/// many the quick reader took.
fn check_files(files: &[PathBuf]) -> (usize, usize) {
    let (mut n, mut taken) = (0, 0);
    for path in files {
        let Ok(input) = capture::open(path.to_str().expect("utf-8 path"), 0) else {
            continue;
        };
        ingest::run_located(std::slice::from_ref(&input), &mut |m| {
            match agree(m.data) {
                Ok(took) => taken += usize::from(took),
                Err(e) => panic!("{} frame {}: {e}", path.display(), m.frame.number),
            }
            n += 1;
        });
    }
    (n, taken)
}

#[test]
fn quick_reader_agrees_with_the_parser_on_every_sample_message() {
    let files = captures_in(&Path::new(env!("CARGO_MANIFEST_DIR")).join("samples"));
    assert!(!files.is_empty());
    let (n, taken) = check_files(&files);
    assert!(n > 100, "{n}");
    // The samples come from real SIP stacks: the quick reader must take nearly all.
    assert!(taken * 10 >= n * 9, "took {taken} of {n}");
}

#[test]
fn quick_reader_agrees_with_the_parser_on_every_corpus_message() {
    let Some(dir) = corpus_or_say("quick head reader") else {
        return;
    };
    let files = captures_in(&dir);
    assert!(!files.is_empty());
    let (n, taken) = check_files(&files);
    assert!(n > 100, "{n}");
    println!("quick head reader took {taken} of {n} corpus messages");
    assert!(taken * 2 >= n, "took {taken} of {n}");
}
