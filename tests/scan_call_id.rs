//! The Call-ID scan (`sip::scan::call_id`) must return exactly what the full parser returns
//! (`sip::parse(..).call_id()`): on arbitrary bytes, on header soup rich in Call-ID spellings,
//! folds and line-ending quirks, and on every SIP message of the samples and of the corpus
//! (`SIPSCOPE_CORPUS`, else `../shared/corpus`; said loudly when absent, an error under CI).

mod common;

use std::path::{Path, PathBuf};

use common::{captures_in, corpus_or_say};
use proptest::prelude::*;
use sipscope::{capture, ingest, sip};

fn agree(raw: &[u8]) -> Result<(), TestCaseError> {
    prop_assert_eq!(sip::scan::call_id(raw), sip::parse(raw).call_id());
    Ok(())
}

/// Pieces that steer the header walk: names of Call-ID in every spelling (and near misses),
/// other headers, folds, blank and whitespace-only lines, bare CRs and LFs.
fn piece() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b"Call-ID".to_vec()),
        Just(b"call-id".to_vec()),
        Just(b"CALL-ID ".to_vec()),
        Just(b"i".to_vec()),
        Just(b"I\t".to_vec()),
        Just(b"Call-IDs".to_vec()),
        Just(b"Via".to_vec()),
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
        "[a-z0-9@.]{1,12}".prop_map(String::into_bytes),
        proptest::collection::vec(any::<u8>(), 1..6),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn scan_agrees_with_the_parser_on_arbitrary_bytes(
        data in proptest::collection::vec(any::<u8>(), 0..600)
    ) {
        agree(&data)?;
    }

    #[test]
    fn scan_agrees_with_the_parser_on_header_soup(
        start in prop_oneof![Just(""), Just("\r\n"), Just("INVITE sip:x SIP/2.0\r\n"), Just("SIP/2.0 200 OK\n")],
        pieces in proptest::collection::vec(piece(), 0..40),
    ) {
        let mut data = start.as_bytes().to_vec();
        for p in pieces {
            data.extend_from_slice(&p);
        }
        agree(&data)?;
    }
}

/// Every message of `files` (as framing hands them out); returns how many were compared.
fn check_files(files: &[PathBuf]) -> usize {
    let mut n = 0;
    for path in files {
        let Ok(input) = capture::open(path.to_str().expect("utf-8 path"), 0) else {
            continue;
        };
        ingest::run_located(std::slice::from_ref(&input), &mut |m| {
            assert_eq!(
                sip::scan::call_id(m.data),
                sip::parse(m.data).call_id(),
                "{} frame {}",
                path.display(),
                m.frame.number
            );
            n += 1;
        });
    }
    n
}

#[test]
fn scan_agrees_with_the_parser_on_every_sample_message() {
    let files = captures_in(&Path::new(env!("CARGO_MANIFEST_DIR")).join("samples"));
    assert!(!files.is_empty());
    assert!(check_files(&files) > 100);
}

#[test]
fn scan_agrees_with_the_parser_on_every_corpus_message() {
    let Some(dir) = corpus_or_say("Call-ID scan") else {
        return;
    };
    let files = captures_in(&dir);
    assert!(!files.is_empty());
    assert!(check_files(&files) > 100);
}
