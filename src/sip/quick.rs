//! The quick head reader: one pass over a plain, well-formed message that reports its start
//! line, every header (identity and value), its body and its anomalies exactly as
//! [`super::parse`] would, without building the parser's header list.
//!
//! Owns: [`read`] and what it returns ([`QuickHead`]). It serves readers that walk the
//! headers of every message of a large capture once (the dialog model): they take the
//! headers as they come instead of walking the stored list afterwards.
//!
//! "Plain" is narrow on purpose. Anything the parser would report as a defect, or treat in
//! a way that needs more than one look at a line, makes [`read`] decline with `None`, and
//! the caller parses the message in full instead: blank lines before the start line, a start
//! line outside the two usual forms, a line ending without CR, a folded or junk line, a
//! missing end of the header section, more than [`MAX_HEADERS`] headers, a head that is not
//! UTF-8. A plain message can still have the defects the parser finds once the headers are
//! read (a mandatory header missing, a bad CSeq or Content-Length, a body of another length
//! than declared): those are reported as the parser reports them. On what it accepts, what
//! it reports equals what the parser's accessors return (checked by `fuzz/fuzz_targets/
//! spans.rs` from property tests and a fuzz target).
//!
//! May use: the parser's own pieces ([`super::parse`], [`super::headers`]), memchr.

use std::ops::Range;

use super::headers::{HeaderName, Method};
use super::parse::{
    body_span, content_length_value, cseq_value, is_wsp, note, usual_start_line, MANDATORY,
    MAX_HEADERS,
};
use super::{Anomaly, StartLine};

/// What [`read`] found besides the headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuickHead<'a> {
    /// The start line, as [`super::Message::start`].
    pub start: StartLine<'a>,
    /// The header section, as [`super::Message::head`].
    pub head: &'a [u8],
    /// The same, as text (a head that is not UTF-8 is declined).
    pub head_text: &'a str,
    /// The body, as [`super::Message::body`].
    pub body: &'a [u8],
    /// The first CSeq header, read, as [`super::Message::cseq`].
    pub cseq: Option<(u32, Method<'a>)>,
    /// What the parser would report, as [`super::Message::anomalies`] (empty, and then not
    /// allocated, for nearly every message).
    pub anomalies: Vec<Anomaly>,
}

/// Reads `raw` when it is a plain message (see the module header), handing every header to
/// `each` in message order, with its identity and its value trimmed as the parser trims it.
/// `None` when it is not plain: `each` may then have seen some headers, which the caller
/// drops before parsing the message in full.
pub fn read<'a>(
    raw: &'a [u8],
    mut each: impl FnMut(HeaderName, &'a [u8]),
) -> Option<QuickHead<'a>> {
    // Offsets stay below 4 GiB, as the parser's spans do.
    if raw.len() > u32::MAX as usize || matches!(raw.first(), None | Some(b'\r' | b'\n')) {
        return None;
    }
    let first_end = super::find_byte(b'\n', raw)?;
    let start = usual_start_line(crlf_line(raw, first_end)?)?;
    let mut pos = first_end + 1;
    let mut count = 0usize;
    let mut declared: Option<u64> = None;
    let mut cseq_header: Option<&'a [u8]> = None;
    let mut anomalies = Vec::new();
    // Bit `i`: a header `MANDATORY[i]` was seen.
    let mut mandatory = 0u8;
    let head_end = loop {
        let rest = raw.get(pos..)?;
        match rest {
            [b'\r', b'\n', ..] => break pos,
            // A bare LF, a lone CR, a continuation or the end of the input: not plain.
            [] | [b'\r' | b'\n' | b' ' | b'\t', ..] => return None,
            _ => {}
        }
        let nl = super::find_line_end(rest)?;
        let line = crlf_line(rest, nl)?;
        pos += nl + 1;
        count += 1;
        if count > MAX_HEADERS {
            return None;
        }
        let colon = super::find_byte(b':', line)?;
        let name = trim_end_wsp(line.get(..colon)?);
        if name.is_empty() {
            return None;
        }
        let id = HeaderName::from_bytes(name);
        let value = trim_wsp(line.get(colon + 1..)?);
        match id {
            // The bits of `MANDATORY`'s order.
            HeaderName::Via => mandatory |= 1,
            HeaderName::From => mandatory |= 2,
            HeaderName::To => mandatory |= 4,
            HeaderName::CallId => mandatory |= 8,
            HeaderName::CSeq => {
                mandatory |= 16;
                if cseq_header.is_none() {
                    cseq_header = Some(value);
                }
            }
            HeaderName::ContentLength => {
                if let Some(a) = content_length_value(&mut declared, value) {
                    note(&mut anomalies, a);
                }
            }
            _ => {}
        }
        each(id, value);
    };
    let head = raw.get(..head_end)?;
    let head_text = simdutf8::basic::from_utf8(head).ok()?;
    for (bit, m) in MANDATORY.iter().enumerate() {
        if mandatory & (1 << bit) == 0 {
            note(&mut anomalies, Anomaly::MissingHeader(*m));
        }
    }
    let cseq = cseq_header.and_then(|v| {
        let (parsed, wrong) = cseq_value(v, &start);
        if let Some(a) = wrong {
            note(&mut anomalies, a);
        }
        parsed
    });
    let (Range { start: b0, end: b1 }, wrong) = body_span(raw.len(), head_end + 2, declared);
    if let Some(a) = wrong {
        note(&mut anomalies, a);
    }
    Some(QuickHead {
        start,
        head,
        head_text,
        body: raw.get(b0..b1)?,
        cseq,
        anomalies,
    })
}

/// `s` without the spaces and tabs that end it.
#[inline]
fn trim_end_wsp(s: &[u8]) -> &[u8] {
    let mut end = s.len();
    while let Some(&b) = end.checked_sub(1).and_then(|i| s.get(i)) {
        if !is_wsp(b) {
            break;
        }
        end -= 1;
    }
    s.get(..end).unwrap_or(&[])
}

/// `s` without the spaces and tabs around it, as the parser trims a header value.
#[inline]
fn trim_wsp(s: &[u8]) -> &[u8] {
    let mut start = 0;
    while s.get(start).is_some_and(|&b| is_wsp(b)) {
        start += 1;
    }
    trim_end_wsp(s.get(start..).unwrap_or(&[]))
}

/// The line of `s` that ends with the LF at `nl`, without its CR LF; `None` when no CR
/// comes before the LF.
#[inline]
fn crlf_line(s: &[u8], nl: usize) -> Option<&[u8]> {
    let cr = nl.checked_sub(1)?;
    (s.get(cr) == Some(&b'\r')).then(|| s.get(..cr))?
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::parse;

    type Headers<'a> = Vec<(HeaderName, &'a [u8])>;

    fn quick(raw: &[u8]) -> Option<(QuickHead<'_>, Headers<'_>)> {
        let mut headers = Vec::new();
        read(raw, |id, v| headers.push((id, v))).map(|q| (q, headers))
    }

    const PLAIN: &[u8] = b"SIP/2.0 180 Ringing\r\n\
Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKx\r\n\
v:SIP/2.0/UDP 10.0.0.2\r\n\
From : <sip:a@h>;tag=1 \r\n\
To:\t<sip:b@h>\r\n\
Call-ID: c1\r\n\
CSeq: 3 INVITE\r\n\
Empty:\r\n\
Content-Length:  4\r\n\
Content-Length: 9\r\n\
\r\n\
abcdEXTRA";

    #[test]
    fn a_plain_message_reads_as_the_parser_reads_it() {
        let (q, headers) = quick(PLAIN).expect("plain");
        let p = parse(PLAIN);
        assert_eq!(q.start, p.start);
        assert_eq!(q.head, p.head());
        assert_eq!(Some(q.head_text), p.head_str());
        assert_eq!(q.body, b"abcd");
        assert_eq!(q.body, p.body());
        assert_eq!(q.cseq, p.cseq());
        // Two Content-Lengths that disagree, a body longer than the first says.
        assert_eq!(q.anomalies, p.anomalies());
        assert_eq!(q.anomalies.len(), 2);
        let parsed: Vec<_> = p.all_headers().map(|h| (h.id, h.value)).collect();
        assert_eq!(headers, parsed);
        assert_eq!(
            headers.get(2),
            Some(&(HeaderName::From, &b"<sip:a@h>;tag=1"[..]))
        );
        assert_eq!(headers.get(6), Some(&(HeaderName::Other, &b""[..])));
    }

    #[test]
    fn anything_not_plain_is_declined() {
        let cases: [&[u8]; 10] = [
            b"",
            b"\r\nSIP/2.0 200 OK\r\nCall-ID: a\r\n\r\n",
            b"SIP/2.0 200 OK\nCall-ID: a\r\n\r\n",
            b"SIP/2.0 200 OK\r\nCall-ID: a\n\r\n",
            b"SIP/2.0 200 OK\r\nCall-ID: a\r\n b\r\n\r\n",
            b"SIP/2.0 200 OK\r\nno colon here\r\n\r\n",
            b"SIP/2.0 200 OK\r\n: empty name\r\n\r\n",
            b"SIP/2.0 200 OK\r\nCall-ID: a\r\n",
            b"SIP/2.0 200 OK\r\nCall-ID: \xff\r\n\r\n",
            b"FOO  sip:x SIP/2.0\r\nCall-ID: a\r\n\r\n",
        ];
        for raw in cases {
            assert!(quick(raw).is_none(), "{:?}", String::from_utf8_lossy(raw));
        }
    }

    #[test]
    fn more_headers_than_the_parser_stores_are_declined() {
        let mut raw = b"SIP/2.0 200 OK\r\n".to_vec();
        for _ in 0..MAX_HEADERS {
            raw.extend_from_slice(b"X: y\r\n");
        }
        assert!(quick(&[raw.as_slice(), b"\r\n"].concat()).is_some());
        raw.extend_from_slice(b"X: y\r\n\r\n");
        assert!(quick(&raw).is_none());
    }
}
