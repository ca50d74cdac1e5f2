//! Finding one header without parsing the whole message. A first pass over a capture only
//! needs each message's Call-ID: [`call_id`] walks the header lines up to the first Call-ID
//! header (and its folded continuation lines) and stops, where [`super::parse`] reads every
//! line, resolves every name and builds the header table, the start line and the body.
//!
//! The walk reads lines exactly as the parser does (same line ends, same folding rule, same
//! cap on stored headers), so it returns the very bytes `parse(raw).call_id()` returns, for
//! any input: a unit test and a property test compare the two.

use super::parse::MAX_HEADERS;

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
    match memchr::memchr(b'\n', hay) {
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
    // Like the parser: nothing past 4 GiB is looked at (its spans are u32).
    let head = raw.get(..raw.len().min(u32::MAX as usize))?;
    let limit = head.len();
    let mut pos = head
        .iter()
        .take_while(|&&b| b == b'\r' || b == b'\n')
        .count();
    if pos >= limit {
        return None;
    }
    // The first line is the start line, whatever it holds.
    pos = line(head, pos).2;
    // Headers the parser would have stored so far (it drops those past MAX_HEADERS).
    let mut stored = 0usize;
    // Value span of the Call-ID header once met; continuation lines may still extend it.
    let mut found: Option<(usize, usize)> = None;
    while pos < limit {
        let (start, end, next) = line(head, pos);
        pos = next;
        let text = head.get(start..end).unwrap_or(&[]);
        let Some(&first) = text.first() else {
            break; // blank line: end of the header section
        };
        if is_wsp(first) {
            let Some(lead) = text.iter().position(|&b| !is_wsp(b)) else {
                continue; // whitespace-only line: adds nothing
            };
            // A fold of the Call-ID header (the last one stored) extends its value; folds of
            // other headers do not matter here.
            if let Some((vs, ve)) = &mut found {
                let tail = text.iter().rposition(|&b| !is_wsp(b)).map_or(0, |p| p + 1);
                if vs == ve {
                    *vs = start + lead;
                }
                *ve = start + tail;
            }
            continue;
        }
        if found.is_some() {
            break; // the next header: the Call-ID value is complete
        }
        let Some(colon) = text.iter().position(|&b| b == b':') else {
            continue; // junk line: not stored
        };
        if stored >= MAX_HEADERS {
            return None; // this header and every later one are dropped by the parser
        }
        stored += 1;
        let name_part = text.get(..colon).unwrap_or(&[]);
        let name_end = name_part
            .iter()
            .rposition(|&b| !is_wsp(b))
            .map_or(0, |p| p + 1);
        if !is_call_id_name(name_part.get(..name_end).unwrap_or(&[])) {
            continue;
        }
        let after = text.get(colon + 1..).unwrap_or(&[]);
        found = Some(match after.iter().position(|&b| !is_wsp(b)) {
            Some(l) => {
                let tail = after.iter().rposition(|&b| !is_wsp(b)).map_or(l, |p| p + 1);
                (start + colon + 1 + l, start + colon + 1 + tail)
            }
            None => (end, end),
        });
    }
    let (vs, ve) = found?;
    Some(head.get(vs..ve).unwrap_or(&[]))
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
