//! Finding one header without parsing the whole message. A first pass over a capture only
//! needs each message's Call-ID: [`call_id`] walks the header lines up to the first Call-ID
//! header (and its folded continuation lines) and stops, where [`super::parse`] reads every
//! line, resolves every name and builds the header table, the start line and the body.
//!
//! The walk reads lines exactly as the parser does (same line ends, same folding rule, same
//! cap on stored headers), so it returns the very bytes `parse(raw).call_id()` returns, for
//! any input: a unit test and a property test compare the two.
//!
//! Counting (`sipscope stats`) needs of each message its start line, its Call-ID and whether
//! the parser would find any defect. [`clean`] answers for a message without defects in one
//! walk that stores nothing, and gives up (`None`) on anything it is not sure of, so a caller
//! falls back to [`super::parse`]; a property test checks that whatever it answers is what the
//! parser says.

use super::headers::{parse_u64, trim_lws, HeaderName, Method};
use super::parse::{parse_cseq, start_line, StartLine, MAX_HEADERS};
use super::{find_byte2, find_line_end};

#[inline]
fn is_wsp(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// The line starting at `pos` in `head`: `(start, end, next)`, `end` before the line ending
/// (LF or CRLF; a CR left dangling at the very end is not content either), `next` where the
/// following line starts. Same cut as the parser's.
#[inline]
fn line(head: &[u8], pos: usize) -> (usize, usize, usize) {
    let hay = head.get(pos..).unwrap_or(&[]);
    // Searched near first: `hay` runs to the end of the message, the line is short.
    match find_line_end(hay) {
        Some(i) => {
            let nl = pos + i;
            let cr = i > 0 && hay.get(i - 1) == Some(&b'\r');
            (pos, if cr { nl - 1 } else { nl }, nl + 1)
        }
        None => {
            let end = if hay.last() == Some(&b'\r') {
                head.len().saturating_sub(1)
            } else {
                head.len()
            };
            (pos, end, head.len())
        }
    }
}

/// Whether a header name (as written, trailing whitespace removed) is Call-ID's: `Call-ID` in
/// any case, or its compact form `i`.
#[inline]
fn is_call_id_name(name: &[u8]) -> bool {
    name.eq_ignore_ascii_case(b"call-id") || name.eq_ignore_ascii_case(b"i")
}

/// Value of the first Call-ID header (compact form `i` included), trimmed, a folded value with
/// its inner line breaks: the same bytes as `parse(raw).call_id()`, found without parsing
/// the rest of the message.
pub fn call_id(raw: &[u8]) -> Option<&[u8]> {
    match walk(raw, true) {
        Walk::Done(v) => v,
        Walk::Recount => match walk(raw, false) {
            Walk::Done(v) => v,
            Walk::Recount => None, // not returned by a counting walk
        },
    }
}

/// What [`walk`] found: the answer of [`call_id`], or (skimming only) that the message has
/// so many lines that the parser's cap on stored headers may matter, so the walk must be
/// made again counting them.
enum Walk<'a> {
    Done(Option<&'a [u8]>),
    Recount,
}

/// The walk of [`call_id`]. Counting (`skim` false), every header line's colon is looked for,
/// to count the headers the parser stores. Skimming, a line that cannot be Call-ID's (its
/// first byte is none of `c`, `C`, `i`, `I`) is passed over with one search for its end:
/// lines are counted instead of headers, and while they stay under [`MAX_HEADERS`] so do
/// the stored headers, so the cap cannot matter; past that, [`Walk::Recount`].
fn walk(raw: &[u8], skim: bool) -> Walk<'_> {
    // Like the parser: nothing past 4 GiB is looked at (its spans are u32).
    let Some(head) = raw.get(..raw.len().min(u32::MAX as usize)) else {
        return Walk::Done(None);
    };
    let limit = head.len();
    let mut pos = head
        .iter()
        .take_while(|&&b| b == b'\r' || b == b'\n')
        .count();
    if pos >= limit {
        return Walk::Done(None);
    }
    // The first line is the start line, whatever it holds.
    pos = line(head, pos).2;
    // Headers the parser would have stored so far (it drops those past MAX_HEADERS); when
    // skimming, header and junk lines so far (at least as many).
    let mut stored = 0usize;
    // Value span of the Call-ID header once met; continuation lines may still extend it.
    let mut found: Option<(usize, usize)> = None;
    while let Some(rest) = head.get(pos..).filter(|r| !r.is_empty()) {
        match rest {
            // A blank line (a CR alone at the very end is one too): end of the header section.
            [b'\n', ..] | [b'\r', b'\n', ..] | [b'\r'] => break,
            [b' ' | b'\t', ..] => {
                let (start, end, next) = line(head, pos);
                pos = next;
                let text = head.get(start..end).unwrap_or(&[]);
                let Some(lead) = text.iter().position(|&b| !is_wsp(b)) else {
                    continue; // whitespace-only line: adds nothing
                };
                // A fold of the Call-ID header (the last one stored) extends its value; folds
                // of other headers do not matter here.
                if let Some((vs, ve)) = &mut found {
                    let tail = text.iter().rposition(|&b| !is_wsp(b)).map_or(0, |p| p + 1);
                    if vs == ve {
                        *vs = start + lead;
                    }
                    *ve = start + tail;
                }
                continue;
            }
            _ => {}
        }
        if found.is_some() {
            break; // the next header: the Call-ID value is complete
        }
        if skim {
            if stored >= MAX_HEADERS {
                return Walk::Recount;
            }
            stored += 1;
            if !matches!(rest.first(), Some(b'c' | b'C' | b'i' | b'I')) {
                // Not Call-ID's name, whether a header or a junk line: on to the next line.
                pos = match find_line_end(rest) {
                    Some(nl) => pos + nl + 1,
                    None => limit,
                };
                continue;
            }
        }
        // The name ends at the first colon; a line end before any colon makes a junk line,
        // which the parser does not store.
        let Some(colon) = find_byte2(b':', b'\n', rest).filter(|&c| rest.get(c) == Some(&b':'))
        else {
            pos = line(head, pos).2;
            continue;
        };
        if !skim {
            if stored >= MAX_HEADERS {
                // This header and every later one are dropped by the parser.
                return Walk::Done(None);
            }
            stored += 1;
        }
        let name_part = rest.get(..colon).unwrap_or(&[]);
        let name_end = name_part
            .iter()
            .rposition(|&b| !is_wsp(b))
            .map_or(0, |p| p + 1);
        // The rest of the line from the colon on: `(end, next)` as [`line`] cuts it.
        let after_colon = rest.get(colon + 1..).unwrap_or(&[]);
        let (end, next) = match find_line_end(after_colon) {
            Some(i) => {
                let nl = colon + 1 + i;
                (nl - usize::from(rest.get(nl - 1) == Some(&b'\r')), nl + 1)
            }
            None => (
                rest.len() - usize::from(rest.last() == Some(&b'\r')),
                rest.len(),
            ),
        };
        let start = pos;
        pos += next;
        if !is_call_id_name(name_part.get(..name_end).unwrap_or(&[])) {
            continue;
        }
        let after = rest.get(colon + 1..end).unwrap_or(&[]);
        found = Some(match after.iter().position(|&b| !is_wsp(b)) {
            Some(l) => {
                let tail = after.iter().rposition(|&b| !is_wsp(b)).map_or(l, |p| p + 1);
                (start + colon + 1 + l, start + colon + 1 + tail)
            }
            None => (start + end, start + end),
        });
    }
    Walk::Done(found.map(|(vs, ve)| head.get(vs..ve).unwrap_or(&[])))
}

/// What [`clean`] reads of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clean<'a> {
    /// The start line, as `parse(raw).start`.
    pub start: StartLine<'a>,
    /// The first Call-ID value, as `parse(raw).call_id()`.
    pub call_id: Option<&'a [u8]>,
}

/// Whether every byte of `s` is ASCII. One OR over all bytes, which the compiler turns into
/// wide vector steps: about three times fewer instructions than `<[u8]>::is_ascii` on a
/// message head (a few hundred bytes, nearly always ASCII, so stopping early gains nothing).
#[inline]
fn all_ascii(s: &[u8]) -> bool {
    s.iter().fold(0u8, |acc, &b| acc | b) < 0x80
}

/// `s` cut at its first line end, which must be CRLF: the line without it, and what follows.
#[inline]
fn crlf_line(s: &[u8]) -> Option<(&[u8], &[u8])> {
    let lf = find_line_end(s)?;
    let end = lf.checked_sub(1)?;
    if s.get(end) != Some(&b'\r') {
        return None;
    }
    Some((s.get(..end)?, s.get(lf + 1..)?))
}

/// Whether [`parse_cseq`] reads `value` and, for a request, finds its method. The usual form
/// (`digits SP method`, nothing else) is checked directly; any other goes to `parse_cseq`.
fn cseq_agrees(value: &[u8], request: Option<&Method<'_>>) -> bool {
    if let Some(sp) = value.iter().position(|&b| b == b' ') {
        let (num, method) = (
            value.get(..sp).unwrap_or(&[]),
            value.get(sp + 1..).unwrap_or(&[]),
        );
        // At most 9 digits fit a u32; a method token here is printable ASCII (no space,
        // tab, CR or LF), so `parse_cseq` would read exactly these two parts.
        if (1..=9).contains(&num.len())
            && num.iter().all(u8::is_ascii_digit)
            && !method.is_empty()
            && method.iter().all(|&b| b > b' ' && b < 0x7f)
        {
            return request.is_none_or(|m| m.as_str().as_bytes() == method);
        }
    }
    match parse_cseq(value) {
        None => false,
        Some((_, m)) => request.is_none_or(|r| *r == m),
    }
}

/// Start line and Call-ID of a message the parser finds no defect in, read in one walk that
/// stores nothing. `Some` only when `parse(raw).anomalies()` is empty (and then with the
/// parser's own start line and Call-ID); `None` for any message it does not read as plainly
/// well-formed (defects, but also legal oddities such as folded headers, whitespace-only
/// lines, a bare CR starting a line, non-ASCII bytes in the headers), which the caller then
/// parses in full.
///
/// A clean message: no blank line before the start line; a start line without defect (read
/// by the parser's own function); header lines ending in CRLF, each `name: value` with a
/// name and not starting with whitespace, at most [`MAX_HEADERS`] of them; a CRLF blank line
/// ending the headers; ASCII up to it; Via, From, To, Call-ID and CSeq present; the first
/// CSeq well-formed and (in a request) of the request's method; every Content-Length a
/// number, all the same, and the body exactly that long.
pub fn clean(raw: &[u8]) -> Option<Clean<'_>> {
    // The parser looks at no more than 4 GiB; such a message is not read here.
    if raw.len() > u32::MAX as usize || matches!(raw.first(), None | Some(b'\r' | b'\n')) {
        return None;
    }
    // Every head line, the start line first, must end with CRLF (else LF-only or mixed).
    let (first, mut rest) = crlf_line(raw)?;
    let mut defect = false;
    let start = start_line(first, &mut |_| defect = true);
    if defect {
        return None;
    }
    // Mandatory headers seen: Via, From, To, Call-ID, CSeq (one bit each).
    let mut mandatory = 0u8;
    let mut call_id: Option<&[u8]> = None;
    let mut cseq: Option<&[u8]> = None;
    let mut content_length: Option<u64> = None;
    let mut stored = 0usize;
    let body = loop {
        match rest {
            [b'\r', b'\n', body @ ..] => break body,
            // No blank line (truncated), an LF-only line, a fold or a whitespace-only line,
            // a line that starts with a bare CR: left to the parser.
            [] | [b'\r' | b'\n' | b' ' | b'\t', ..] => return None,
            _ => {}
        }
        // A line end before any colon is a junk line; a colon first, an empty name.
        let colon = find_byte2(b':', b'\n', rest)?;
        let (name_part, tail) = rest.split_at_checked(colon)?;
        let [b':', after_colon @ ..] = tail else {
            return None;
        };
        if name_part.is_empty() {
            return None;
        }
        // The rest of the line, and the lines after it. A line that ends right after the
        // colon with LF alone is caught too: the byte before that LF is the colon, not CR.
        let (after, next) = crlf_line(after_colon)?;
        rest = next;
        stored += 1;
        if stored > MAX_HEADERS {
            return None;
        }
        let name_end = name_part
            .iter()
            .rposition(|&b| !is_wsp(b))
            .map_or(0, |p| p + 1);
        let id = HeaderName::from_bytes(name_part.get(..name_end)?);
        let bit = match id {
            HeaderName::Via => 1,
            HeaderName::From => 2,
            HeaderName::To => 4,
            HeaderName::CallId => 8,
            HeaderName::CSeq => 16,
            HeaderName::ContentLength => 0,
            _ => continue,
        };
        mandatory |= bit;
        // The value as the parser stores it: the rest of the line without surrounding
        // spaces and tabs (empty when there is nothing else). Only these three are read.
        let value = || match after.iter().position(|&b| !is_wsp(b)) {
            Some(l) => {
                let tail = after.iter().rposition(|&b| !is_wsp(b)).map_or(l, |p| p + 1);
                after.get(l..tail)
            }
            None => Some(&[][..]),
        };
        match id {
            HeaderName::CallId if call_id.is_none() => call_id = Some(value()?),
            HeaderName::CSeq if cseq.is_none() => cseq = Some(value()?),
            HeaderName::ContentLength => {
                let n = parse_u64(trim_lws(value()?))?;
                if content_length.is_some_and(|first| first != n) {
                    return None;
                }
                content_length = Some(n);
            }
            _ => {}
        }
    };
    // The head is what precedes the blank line (two bytes before the body).
    let head = raw.get(..raw.len() - body.len() - 2)?;
    if mandatory != 31 || !all_ascii(head) || !cseq_agrees(cseq?, start.method().as_ref()) {
        return None;
    }
    if content_length.is_some_and(|n| n != body.len() as u64) {
        return None;
    }
    Some(Clean { start, call_id })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::parse;

    fn same(raw: &[u8]) {
        assert_eq!(
            call_id(raw),
            parse(raw).call_id(),
            "{:?}",
            String::from_utf8_lossy(raw)
        );
    }

    #[test]
    fn finds_what_the_parser_finds() {
        let cases: &[&[u8]] = &[
            b"INVITE sip:b@x SIP/2.0\r\nVia: v\r\nCall-ID: abc@h\r\nCSeq: 1 INVITE\r\n\r\nbody",
            b"INVITE sip:b@x SIP/2.0\r\ni:  compact \r\n\r\n",
            b"INVITE sip:b@x SIP/2.0\r\nI:\tUPPER\r\n\r\n",
            b"SIP/2.0 200 OK\r\ncall-id : lower\r\nCALL-ID: second\r\n\r\n",
            b"SIP/2.0 200 OK\r\nCall-ID:\r\n  folded\r\n \t\r\n\tmore \r\nTo: x\r\n\r\n",
            b"SIP/2.0 200 OK\r\nCall-ID: a\r\n b\r\n",
            b"SIP/2.0 200 OK\nCall-ID: lf-only\n\nCall-ID: in-body",
            b"SIP/2.0 200 OK\r\n\r\nCall-ID: only-in-body\r\n",
            b"\r\n\r\nSIP/2.0 200 OK\r\nCall-ID: after-blank-lines\r",
            b"Call-ID: start-line-is-not-a-header\r\n\r\n",
            b"SIP/2.0 200 OK\r\njunk line\r\n folded junk\r\nCall-ID: x\rinner-cr\r\n",
            b"SIP/2.0 200 OK\r\nCall-ID-Extra: no\r\nCallID: no\r\nii: no\r\n\r\n",
            b"SIP/2.0 200 OK\r\nCall-ID: \r\n\r\n",
            b"SIP/2.0 200 OK\r\nCall-ID: x\r",
            b"\r\n\n",
            b"",
        ];
        for c in cases {
            same(c);
        }
        assert_eq!(call_id(cases[0]), Some(&b"abc@h"[..]));
        assert_eq!(call_id(cases[3]), Some(&b"lower"[..]));
        assert_eq!(call_id(cases[4]), Some(&b"folded\r\n \t\r\n\tmore"[..]));
        assert_eq!(call_id(cases[7]), None);
    }

    fn done(w: Walk<'_>) -> Option<Option<&[u8]>> {
        match w {
            Walk::Done(v) => Some(v),
            Walk::Recount => None,
        }
    }

    /// Skimming answers as counting does, or asks for the count; it asks only past
    /// `MAX_HEADERS` lines. Junk lines (no colon) are not stored by the parser, so a Call-ID
    /// after more junk lines than the cap is still found, after a recount.
    #[test]
    fn skimming_answers_as_counting() {
        let mut cases: Vec<Vec<u8>> = vec![
            b"INVITE sip:b@x SIP/2.0\r\nVia: v\r\nFrom: <sip:a>\r\nCall-ID: abc\r\n\r\n".to_vec(),
            b"SIP/2.0 200 OK\r\ncontact: x\r\nIn-Reply-To: y\r\ni: z\r\n\r\n".to_vec(),
            b"SIP/2.0 200 OK\r\nCSeq: 1 X\r\n cont\r\nCall-ID:\r\n\tfold\r\nTo: t\r\n".to_vec(),
            b"SIP/2.0 200 OK\nX: a\r\n\r\nCall-ID: body".to_vec(),
            b"SIP/2.0 200 OK\r\nX: no line end".to_vec(),
            b"SIP/2.0 200 OK\r\nX: a\r\nCall-ID: \xff\xfe\r".to_vec(),
            b"SIP/2.0 200 OK\r\nC: a\r\nI\t: b\r\n".to_vec(),
        ];
        let mut many_junk = b"OPTIONS sip:x SIP/2.0\r\n".to_vec();
        for _ in 0..MAX_HEADERS + 5 {
            many_junk.extend_from_slice(b"junk\r\n");
        }
        many_junk.extend_from_slice(b"Call-ID: after-junk\r\n\r\n");
        cases.push(many_junk.clone());
        for c in &cases {
            let counted = done(walk(c, false)).expect("counting always answers");
            if let Some(skimmed) = done(walk(c, true)) {
                assert_eq!(skimmed, counted, "{:?}", String::from_utf8_lossy(c));
            }
            same(c);
        }
        assert!(done(walk(&many_junk, true)).is_none());
        assert_eq!(call_id(&many_junk), Some(&b"after-junk"[..]));
        assert!(done(walk(&cases[0], true)).is_some());
    }

    /// Past the parser's cap on stored headers a Call-ID is not seen, by either.
    #[test]
    fn header_cap_is_the_parsers() {
        for filler in [MAX_HEADERS - 1, MAX_HEADERS] {
            let mut m = b"OPTIONS sip:x SIP/2.0\r\njunk without colon\r\n".to_vec();
            for n in 0..filler {
                m.extend_from_slice(format!("X-H{n}: v\r\n").as_bytes());
            }
            m.extend_from_slice(b"Call-ID: late\r\n\r\n");
            same(&m);
            assert_eq!(call_id(&m).is_some(), filler < MAX_HEADERS);
        }
    }
}
