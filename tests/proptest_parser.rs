//! Properties of the tolerant SIP parser: it never panics, on arbitrary bytes or on mutated
//! valid messages, and every slice, range and offset it hands back lies inside its input. The
//! span checks are shared with the `sip_parse` fuzz target (fuzz/fuzz_targets/spans.rs).
//! A positive property pins down that well-formed messages are read back exactly.

#[path = "../fuzz/fuzz_targets/spans.rs"]
mod spans;

use proptest::prelude::*;
use sipscope::sip::{parse, parse_with, Anomaly, Method, StartLine};

/// Three typical messages to mutate: an INVITE with SDP, a 200 OK, a REGISTER.
fn valid_messages() -> Vec<Vec<u8>> {
    let sdp = "v=0\r\no=alice 2890844526 2890844526 IN IP4 192.0.2.1\r\ns=-\r\n\
               c=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 49170 RTP/AVP 0 8 101\r\n\
               a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=sendrecv\r\n";
    vec![
        format!(
            "INVITE sip:bob@example.com;transport=tcp SIP/2.0\r\n\
             Via: SIP/2.0/TCP 192.0.2.1:5060;branch=z9hG4bK776;rport, SIP/2.0/UDP p.example\r\n\
             Max-Forwards: 70\r\n\
             f: \"Alice, A.\" <sip:alice@example.com>;tag=1928\r\n\
             To: Bob <sip:bob@example.com>\r\n\
             i: a84b4c76e66710@192.0.2.1\r\n\
             CSeq: 314159 INVITE\r\n\
             Contact: <sip:alice@192.0.2.1:5060;ob>;expires=60\r\n\
             Route: <sip:p1.example;lr>, <sip:p2.example;lr>\r\n\
             Content-Type: application/sdp\r\n\
             Content-Length: {}\r\n\r\n{sdp}",
            sdp.len()
        )
        .into_bytes(),
        b"SIP/2.0 200 OK\r\n\
          Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776;received=198.51.100.7\r\n\
          From: <sip:alice@example.com>;tag=1928\r\n\
          To: <sip:bob@example.com>;tag=a6c85cf\r\n\
          Call-ID: a84b4c76e66710\r\n\
          CSeq: 314159 INVITE\r\n\
          Record-Route: <sip:p1.example;lr>\r\n\
          Server: test\r\n\
          Content-Length: 0\r\n\r\n"
            .to_vec(),
        b"REGISTER sip:registrar.example.com SIP/2.0\n\
          Via: SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bKnashds7\n\
          From: Bob <sip:bob@example.com>;tag=456248\n\
          To: Bob <sip:bob@example.com>\n\
          Call-ID: 843817637684230@998sdasdh09\n\
          CSeq: 1826 REGISTER\n\
          Contact: <sip:bob@192.0.2.4>;expires=7200, *\n\
          Expires: 7200\n\
          Content-Length: 0\n\n"
            .to_vec(),
    ]
}

/// One edit of a message; positions are taken modulo the current length.
#[derive(Debug, Clone)]
enum Edit {
    Flip(usize, u8),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
    Truncate(usize),
}

/// Bytes that matter to a SIP parser, so that insertions hit its decisions.
fn token() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b"\r\n".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\r\n ".to_vec()),
        Just(b"\r\n\r\n".to_vec()),
        Just(b":".to_vec()),
        Just(b";".to_vec()),
        Just(b",".to_vec()),
        Just(b"<".to_vec()),
        Just(b">".to_vec()),
        Just(b"\"".to_vec()),
        Just(b"@".to_vec()),
        Just(b"\t".to_vec()),
        Just(b"Content-Length: 99999999999999999999\r\n".to_vec()),
        Just(b"l: 4294967296\r\n".to_vec()),
        Just(b"\xff\xfe".to_vec()),
        proptest::collection::vec(any::<u8>(), 1..8),
    ]
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(p, b)| Edit::Flip(p, b)),
        (any::<usize>(), token()).prop_map(|(p, t)| Edit::Insert(p, t)),
        (any::<usize>(), 1usize..40).prop_map(|(p, n)| Edit::Delete(p, n)),
        any::<usize>().prop_map(Edit::Truncate),
    ]
}

fn apply(mut m: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for e in edits {
        let len = m.len().max(1);
        match e {
            Edit::Flip(p, b) => {
                if let Some(x) = m.get_mut(p % len) {
                    *x = *b;
                }
            }
            Edit::Insert(p, t) => {
                let at = p % (m.len() + 1);
                m.splice(at..at, t.iter().copied());
            }
            Edit::Delete(p, n) => {
                let at = p % len;
                let end = (at + n).min(m.len());
                if at < end {
                    m.drain(at..end);
                }
            }
            Edit::Truncate(p) => m.truncate(p % len),
        }
    }
    m
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic_and_spans_stay_inside(
        data in proptest::collection::vec(any::<u8>(), 0..1500)
    ) {
        let msg = parse(&data);
        spans::check_message(&msg);
        spans::check_sdp_alone(&data);
    }

    #[test]
    fn mutated_messages_never_panic_and_spans_stay_inside(
        which in 0usize..3,
        edits in proptest::collection::vec(edit(), 1..8),
    ) {
        let base = valid_messages().swap_remove(which);
        let data = apply(base, &edits);
        let msg = parse(&data);
        spans::check_message(&msg);
        // The buffer-reusing entry point reads the same thing.
        let again = parse_with(&data, msg.clone().into_scratch());
        prop_assert_eq!(again.header_count(), msg.header_count());
        prop_assert_eq!(again.body_range(), msg.body_range());
        prop_assert_eq!(again.anomalies(), msg.anomalies());
        // Where the quick head reader takes the edited message, it reads what the parser does.
        spans::quick_agrees(&msg).map_err(TestCaseError::fail)?;
    }

    /// Header-ish text with line structure (more likely to reach deep parser states than
    /// uniform bytes).
    #[test]
    fn line_soup_never_panics(
        lines in proptest::collection::vec("[ -~\t]{0,60}", 0..20),
        crlf in any::<bool>(),
        body in "[ -~\r\n]{0,200}",
    ) {
        let eol = if crlf { "\r\n" } else { "\n" };
        let text = format!("{}{eol}{eol}{body}", lines.join(eol));
        let msg = parse(text.as_bytes());
        spans::check_message(&msg);
    }

    /// Well-formed messages come back exactly: start line, Call-ID, CSeq, body, and no
    /// anomaly at all.
    #[test]
    fn well_formed_messages_read_back(
        call_id in "[A-Za-z0-9.!%*_+`'~-]{1,30}(@[a-z0-9.]{1,20})?",
        cseq in 1u32..=u32::MAX,
        tag in "[a-z0-9]{1,12}",
        body in proptest::collection::vec(any::<u8>(), 0..300),
        code in 100u16..700,
        response in any::<bool>(),
    ) {
        let start = if response {
            format!("SIP/2.0 {code} Whatever Reason")
        } else {
            "OPTIONS sip:x@192.0.2.2:5070;transport=udp SIP/2.0".to_string()
        };
        let mut raw = format!(
            "{start}\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK{tag}\r\n\
             From: <sip:a@192.0.2.1>;tag={tag}\r\nTo: <sip:x@192.0.2.2>\r\n\
             Call-ID: {call_id}\r\nCSeq: {cseq} OPTIONS\r\n\
             Content-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        raw.extend_from_slice(&body);
        let msg = parse(&raw);
        spans::check_message(&msg);
        prop_assert_eq!(msg.anomalies(), &[] as &[Anomaly]);
        prop_assert_eq!(msg.call_id(), Some(call_id.as_bytes()));
        prop_assert_eq!(msg.cseq(), Some((cseq, Method::Options)));
        prop_assert_eq!(msg.body(), &body[..]);
        prop_assert_eq!(msg.content_length(), Some(body.len() as u64));
        prop_assert_eq!(msg.from().and_then(|f| f.tag()), Some(tag.as_bytes()));
        prop_assert_eq!(msg.top_via().and_then(|v| v.branch()).map(|b| b.len()), Some(7 + tag.len()));
        match msg.start {
            StartLine::Response { code: c, .. } => prop_assert!(response && c == code),
            StartLine::Request { method, .. } => {
                prop_assert!(!response);
                prop_assert_eq!(method, Method::Options);
                prop_assert_eq!(msg.request_uri().map(|u| u.port), Some(Some(5070)));
            }
            StartLine::Invalid { .. } => prop_assert!(false, "start line not recognised"),
        }
    }
}
