//! The tolerant SIP parser: start line, headers, body. It never fails.
//!
//! Owns: [`parse`] and the [`Message`] it returns, the start line ([`StartLine`]), header
//! access by canonical name, and the list of defects found on the way ([`Anomaly`]).
//!
//! One pass over the header section records byte spans into the input (no copy, no `String`,
//! one `Vec` of header entries that can be recycled with [`parse_with`]). Everything typed is
//! computed on demand by the accessors, from those spans, with the zero-copy parsers in
//! [`super::headers`]. Broken input still gives a `Message`: the start line may be
//! [`StartLine::Invalid`], headers may be missing, and each defect is an [`Anomaly`] value.
//!
//! Values are returned as bytes, exactly as on the wire (a folded header keeps its line break);
//! the `_str` helpers unfold and decode lossily for display.
//!
//! ```
//! use sipscope::sip::{parse, HeaderName, Method, StartLine};
//!
//! let raw = b"INVITE sip:bob@example.com SIP/2.0\r\n\
//!             v: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK74b\r\n\
//!             From: \"Alice\" <sip:alice@example.com>;tag=9fx\r\n\
//!             To: <sip:bob@example.com>\r\n\
//!             Call-ID: a84b4c76e66710\r\n\
//!             CSeq: 314159 INVITE\r\n\
//!             Content-Length: 0\r\n\r\n";
//! let msg = parse(raw);
//! assert!(matches!(msg.start, StartLine::Request { method: Method::Invite, .. }));
//! assert_eq!(msg.call_id(), Some(&b"a84b4c76e66710"[..]));
//! assert_eq!(msg.cseq(), Some((314159, Method::Invite)));
//! assert_eq!(msg.from().and_then(|f| f.tag()), Some(&b"9fx"[..]));
//! let via = msg.top_via().unwrap();
//! assert_eq!((via.host, via.port), (&b"10.0.0.1"[..], Some(5060)));
//! assert_eq!(msg.header(HeaderName::Via), Some(&b"SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK74b"[..]));
//! assert!(msg.body().is_empty());
//! assert!(msg.anomalies().is_empty());
//! ```
//!
//! May use: [`super::headers`], [`super::sdp`], memchr.

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

use super::headers::{
    leading_u32, lossy, parse_u64, trim_lws, unfold, value_without_params, CommaSplit, HeaderName,
    Method, NameAddr, Params, Uri, Via,
};
use super::sdp::{find_sdp, parse_sdp, Sdp};

/// At most this many headers are stored per message; more are skipped with
/// [`Anomaly::TooManyHeaders`] (real messages have 10 to 40; thousands means an attack or junk).
pub const MAX_HEADERS: usize = 1024;

/// At most this many anomalies are kept per message; the last one is then
/// [`Anomaly::AnomaliesCapped`], so junk cannot make the list grow without bound.
pub const MAX_ANOMALIES: usize = 64;

/// A defect of a message. Offsets are byte positions in [`Message::raw`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Anomaly {
    /// No bytes at all (after blank lines).
    Empty,
    /// Blank lines before the start line (keep-alives glued to a message, or framing slack).
    LeadingBlankLines,
    /// The first line is neither a request line nor a status line.
    InvalidStartLine,
    /// The request method is none of the known ones (it is kept as [`Method::Other`]).
    UnknownMethod,
    /// A request line without a SIP version.
    MissingVersion,
    /// A SIP version other than `SIP/2.0`.
    BadVersion,
    /// A status code that is not three digits in 100..=699.
    BadStatusCode,
    /// Every line ends with LF alone instead of CRLF.
    LfLineEndings,
    /// Some lines end with CRLF, others with LF alone.
    MixedLineEndings,
    /// A header continues on the next line (obsolete folding); `offset` is the continuation line.
    FoldedHeader { offset: usize },
    /// A header line without a colon (skipped).
    JunkHeaderLine { offset: usize },
    /// A header line starting with a colon (kept, with an empty name).
    EmptyHeaderName { offset: usize },
    /// Bytes that are not UTF-8 in the start line or headers; `offset` is the first one.
    NonUtf8 { offset: usize },
    /// More than [`MAX_HEADERS`] headers; `dropped` were not stored.
    TooManyHeaders { dropped: usize },
    /// One of the headers every request and response must carry (Via, From, To, Call-ID, CSeq).
    MissingHeader(HeaderName),
    /// A CSeq that is not `number method`.
    BadCSeq,
    /// The CSeq method differs from the request method.
    CSeqMethodMismatch,
    /// A Content-Length that is not a number (ignored: the body is the rest of the bytes).
    BadContentLength,
    /// Two Content-Length headers disagree; the first one is used.
    ConflictingContentLength { first: u64, other: u64 },
    /// Content-Length promises more bytes than there are; the body is what exists.
    BodyShorterThanContentLength { declared: u64, actual: u64 },
    /// Bytes follow the body that Content-Length announced; they are not part of the body.
    BodyLongerThanContentLength { declared: u64, actual: u64 },
    /// No empty line ends the headers: the message is truncated (the body is empty).
    NoHeaderEnd,
    /// [`MAX_ANOMALIES`] reached; later ones were not recorded.
    AnomaliesCapped,
}

impl Anomaly {
    /// Stable short identifier, for JSON export and filtering.
    pub fn code(&self) -> &'static str {
        match self {
            Anomaly::Empty => "empty",
            Anomaly::LeadingBlankLines => "leading-blank-lines",
            Anomaly::InvalidStartLine => "invalid-start-line",
            Anomaly::UnknownMethod => "unknown-method",
            Anomaly::MissingVersion => "missing-version",
            Anomaly::BadVersion => "bad-version",
            Anomaly::BadStatusCode => "bad-status-code",
            Anomaly::LfLineEndings => "lf-line-endings",
            Anomaly::MixedLineEndings => "mixed-line-endings",
            Anomaly::FoldedHeader { .. } => "folded-header",
            Anomaly::JunkHeaderLine { .. } => "junk-header-line",
            Anomaly::EmptyHeaderName { .. } => "empty-header-name",
            Anomaly::NonUtf8 { .. } => "non-utf8",
            Anomaly::TooManyHeaders { .. } => "too-many-headers",
            Anomaly::MissingHeader(_) => "missing-header",
            Anomaly::BadCSeq => "bad-cseq",
            Anomaly::CSeqMethodMismatch => "cseq-method-mismatch",
            Anomaly::BadContentLength => "bad-content-length",
            Anomaly::ConflictingContentLength { .. } => "conflicting-content-length",
            Anomaly::BodyShorterThanContentLength { .. } => "body-shorter-than-content-length",
            Anomaly::BodyLongerThanContentLength { .. } => "body-longer-than-content-length",
            Anomaly::NoHeaderEnd => "no-header-end",
            Anomaly::AnomaliesCapped => "anomalies-capped",
        }
    }
}

impl fmt::Display for Anomaly {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Anomaly::Empty => f.write_str("empty message"),
            Anomaly::LeadingBlankLines => f.write_str("blank lines before the start line"),
            Anomaly::InvalidStartLine => f.write_str("start line is neither request nor status"),
            Anomaly::UnknownMethod => f.write_str("unknown request method"),
            Anomaly::MissingVersion => f.write_str("request line without SIP version"),
            Anomaly::BadVersion => f.write_str("SIP version is not SIP/2.0"),
            Anomaly::BadStatusCode => f.write_str("status code is not 3 digits in 100-699"),
            Anomaly::LfLineEndings => f.write_str("lines end with LF instead of CRLF"),
            Anomaly::MixedLineEndings => f.write_str("mixed CRLF and LF line endings"),
            Anomaly::FoldedHeader { offset } => write!(f, "folded header line at byte {offset}"),
            Anomaly::JunkHeaderLine { offset } => {
                write!(f, "header line without colon at byte {offset}")
            }
            Anomaly::EmptyHeaderName { offset } => {
                write!(f, "header with empty name at byte {offset}")
            }
            Anomaly::NonUtf8 { offset } => write!(f, "non-UTF-8 byte at {offset}"),
            Anomaly::TooManyHeaders { dropped } => {
                write!(f, "more than {MAX_HEADERS} headers, {dropped} not stored")
            }
            Anomaly::MissingHeader(h) => write!(f, "mandatory header {} missing", h.as_str()),
            Anomaly::BadCSeq => f.write_str("CSeq is not 'number method'"),
            Anomaly::CSeqMethodMismatch => f.write_str("CSeq method differs from request method"),
            Anomaly::BadContentLength => f.write_str("Content-Length is not a number"),
            Anomaly::ConflictingContentLength { first, other } => {
                write!(f, "Content-Length given twice: {first} and {other}")
            }
            Anomaly::BodyShorterThanContentLength { declared, actual } => {
                write!(f, "Content-Length {declared} but only {actual} body bytes")
            }
            Anomaly::BodyLongerThanContentLength { declared, actual } => {
                write!(
                    f,
                    "Content-Length {declared} but {actual} bytes follow the headers"
                )
            }
            Anomaly::NoHeaderEnd => f.write_str("no empty line after the headers (truncated)"),
            Anomaly::AnomaliesCapped => write!(f, "more than {MAX_ANOMALIES} anomalies"),
        }
    }
}

/// The first line of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartLine<'a> {
    /// `METHOD request-uri SIP/2.0`. `version` is empty when missing.
    Request {
        method: Method<'a>,
        uri: &'a [u8],
        version: &'a [u8],
    },
    /// `SIP/2.0 code reason`. `reason` may be empty.
    Response {
        version: &'a [u8],
        code: u16,
        reason: &'a [u8],
    },
    /// Anything else; `line` is the first line as found (without its line ending).
    Invalid { line: &'a [u8] },
}

impl<'a> StartLine<'a> {
    /// The request method, if this is a request.
    pub fn method(&self) -> Option<Method<'a>> {
        match self {
            StartLine::Request { method, .. } => Some(*method),
            _ => None,
        }
    }

    /// The status code, if this is a response.
    pub fn code(&self) -> Option<u16> {
        match self {
            StartLine::Response { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// A header entry as stored: spans into the input. `u32` offsets keep it at 20 bytes; the header
/// section is never scanned past 4 GiB.
#[derive(Debug, Clone, Copy)]
struct Entry {
    name: (u32, u32),
    value: (u32, u32),
    id: HeaderName,
    folded: bool,
}

/// One header of a [`Message`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header<'a> {
    /// Name as written (`v`, `VIA`, `Via`), without surrounding whitespace.
    pub name: &'a [u8],
    /// Value as written, trimmed; a folded value keeps its inner line breaks.
    pub value: &'a [u8],
    /// Canonical identity (compact forms resolved).
    pub id: HeaderName,
    /// Whether the value spans several lines.
    pub folded: bool,
}

impl<'a> Header<'a> {
    /// The name as text, lossy.
    pub fn name_str(&self) -> Cow<'a, str> {
        lossy(self.name)
    }

    /// The value with folds joined by a space (borrowed unless folded).
    pub fn value_unfolded(&self) -> Cow<'a, [u8]> {
        unfold(self.value)
    }

    /// The value as text, unfolded, lossy.
    pub fn value_str(&self) -> Cow<'a, str> {
        match unfold(self.value) {
            Cow::Borrowed(b) => lossy(b),
            Cow::Owned(v) => Cow::Owned(String::from_utf8_lossy(&v).into_owned()),
        }
    }

    /// Comma-separated elements of the value (for list headers such as Via or Contact).
    pub fn values(&self) -> CommaSplit<'a> {
        CommaSplit::new(self.value)
    }

    /// Header parameters of the value (see [`super::headers::header_params`]).
    pub fn params(&self) -> Params<'a> {
        super::headers::header_params(self.value)
    }

    /// Header parameter `name` (case-insensitive); `Some(b"")` for a flag such as `;lr`.
    pub fn param(&self, name: &str) -> Option<&'a [u8]> {
        self.params().get(name)
    }
}

/// Buffers a [`Message`] owns, handed back by [`Message::into_scratch`] so a loop over many
/// messages can reuse them with [`parse_with`] instead of allocating per message.
#[derive(Debug, Default)]
pub struct Scratch {
    entries: Vec<Entry>,
    anomalies: Vec<Anomaly>,
}

/// A parsed SIP message: borrowed bytes plus the spans found in them.
#[derive(Debug, Clone)]
pub struct Message<'a> {
    /// The whole input, as given to [`parse`].
    pub raw: &'a [u8],
    pub start: StartLine<'a>,
    entries: Vec<Entry>,
    anomalies: Vec<Anomaly>,
    /// End of the header section (start of the blank line, or of the missing one).
    head_end: usize,
    body: Range<usize>,
    content_length: Option<u64>,
    /// The first CSeq header, read: the parser reads it anyway to check it against the
    /// method, and every consumer asks for it.
    cseq: Option<(u32, Method<'a>)>,
    /// [`Message::head`] as text when it is valid UTF-8 (the parser checks it anyway).
    head_text: Option<&'a str>,
}

/// Parses one SIP message. Never fails and never panics; see [`Message::anomalies`] for what
/// was wrong with it.
pub fn parse(raw: &[u8]) -> Message<'_> {
    parse_with(raw, Scratch::default())
}

/// [`parse`], reusing the buffers of a previous message (see [`Message::into_scratch`]).
pub fn parse_with(raw: &[u8], scratch: Scratch) -> Message<'_> {
    let Scratch {
        mut entries,
        mut anomalies,
    } = scratch;
    entries.clear();
    anomalies.clear();
    // One allocation that fits a typical message (10 to 30 headers), instead of growing.
    entries.reserve(32);
    let p = Parser {
        raw,
        entries,
        anomalies,
        saw_crlf: false,
        saw_lf: false,
    };
    p.run()
}

struct Parser<'a> {
    raw: &'a [u8],
    entries: Vec<Entry>,
    anomalies: Vec<Anomaly>,
    saw_crlf: bool,
    saw_lf: bool,
}

/// One line: `[start, end)` excludes the line ending; `next` is where the following line starts.
struct Line {
    start: usize,
    end: usize,
    next: usize,
}

/// The headers every request and response must carry, in the order they are reported missing.
pub(super) const MANDATORY: [HeaderName; 5] = [
    HeaderName::Via,
    HeaderName::From,
    HeaderName::To,
    HeaderName::CallId,
    HeaderName::CSeq,
];

/// What the header walk notes of the stored headers for the checks after it, so they need
/// not walk the headers again.
#[derive(Default)]
struct Seen {
    /// Bit `i` set: a header `MANDATORY[i]` is stored.
    mandatory: u8,
    /// Index of the first CSeq entry.
    cseq: Option<usize>,
    /// Index of the first Content-Length entry, and how many there are.
    first_content_length: usize,
    content_lengths: usize,
}

impl Seen {
    /// Notes the entry `index`, of identity `id`.
    #[inline]
    fn add(&mut self, id: HeaderName, index: usize) {
        match id {
            HeaderName::Via => self.mandatory |= 1,
            HeaderName::From => self.mandatory |= 2,
            HeaderName::To => self.mandatory |= 4,
            HeaderName::CallId => self.mandatory |= 8,
            HeaderName::CSeq => {
                self.mandatory |= 16;
                if self.cseq.is_none() {
                    self.cseq = Some(index);
                }
            }
            HeaderName::ContentLength => {
                if self.content_lengths == 0 {
                    self.first_content_length = index;
                }
                self.content_lengths += 1;
            }
            _ => {}
        }
    }
}

#[inline]
pub(super) fn is_wsp(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// First whitespace-delimited token of `s` and what follows it (leading whitespace removed).
fn split_token(s: &[u8]) -> (&[u8], &[u8]) {
    let start = s.iter().position(|&b| !is_wsp(b)).unwrap_or(s.len());
    let s = s.get(start..).unwrap_or(&[]);
    let end = s.iter().position(|&b| is_wsp(b)).unwrap_or(s.len());
    let rest = s.get(end..).unwrap_or(&[]);
    let rest_start = rest.iter().position(|&b| !is_wsp(b)).unwrap_or(rest.len());
    (
        s.get(..end).unwrap_or(&[]),
        rest.get(rest_start..).unwrap_or(&[]),
    )
}

/// RFC 3261 `token` characters (what a method name is made of).
fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
        )
}

/// `head` as text when it is valid UTF-8, else where the first invalid byte is. The check is
/// simdutf8's (several times faster than std's on the mostly-ASCII text of SIP heads); only a
/// head that fails it is checked again by std, for the offset.
fn head_str(head: &[u8]) -> Result<&str, usize> {
    match simdutf8::basic::from_utf8(head) {
        Ok(s) => Ok(s),
        Err(_) => match std::str::from_utf8(head) {
            Ok(s) => Ok(s),
            Err(e) => Err(e.valid_up_to()),
        },
    }
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Adds `a` to `anomalies`, up to [`MAX_ANOMALIES`] (the last one then says the list was
/// capped). Shared with [`super::quick`].
pub(super) fn note(anomalies: &mut Vec<Anomaly>, a: Anomaly) {
    let n = anomalies.len();
    if n + 1 < MAX_ANOMALIES {
        anomalies.push(a);
    } else if n + 1 == MAX_ANOMALIES {
        anomalies.push(Anomaly::AnomaliesCapped);
    }
}

impl<'a> Parser<'a> {
    fn note(&mut self, a: Anomaly) {
        note(&mut self.anomalies, a);
    }

    /// Reads the line starting at `pos` within `head` (bytes up to `limit`).
    fn line(&mut self, pos: usize, limit: usize) -> Line {
        let hay = self.raw.get(pos..limit).unwrap_or(&[]);
        match super::find_byte(b'\n', hay) {
            Some(i) => {
                let nl = pos + i;
                let cr = i > 0 && hay.get(i - 1) == Some(&b'\r');
                if cr {
                    self.saw_crlf = true;
                } else {
                    self.saw_lf = true;
                }
                Line {
                    start: pos,
                    end: if cr { nl - 1 } else { nl },
                    next: nl + 1,
                }
            }
            None => {
                // Last line, cut without any ending; a dangling CR is not content.
                let end = if hay.last() == Some(&b'\r') {
                    limit - 1
                } else {
                    limit
                };
                Line {
                    start: pos,
                    end,
                    next: limit,
                }
            }
        }
    }

    fn bytes(&self, start: usize, end: usize) -> &'a [u8] {
        self.raw.get(start..end).unwrap_or(&[])
    }

    fn run(mut self) -> Message<'a> {
        let raw = self.raw;
        // Spans are u32: never look for headers past 4 GiB (no real message gets near it).
        let limit = raw.len().min(u32::MAX as usize);
        let mut pos = raw
            .iter()
            .take(limit)
            .take_while(|&&b| b == b'\r' || b == b'\n')
            .count();
        if pos > 0 {
            self.note(Anomaly::LeadingBlankLines);
        }
        if pos >= limit {
            self.note(Anomaly::Empty);
            return Message {
                raw,
                start: StartLine::Invalid { line: &[] },
                entries: self.entries,
                anomalies: self.anomalies,
                head_end: raw.len(),
                body: raw.len()..raw.len(),
                content_length: None,
                cseq: None,
                // Only CR and LF: ASCII.
                head_text: std::str::from_utf8(raw).ok(),
            };
        }
        let first = self.line(pos, limit);
        let start = self.start_line(self.bytes(first.start, first.end));
        pos = first.next;

        let mut head_end = limit;
        let mut body_start = None;
        let mut dropped = 0usize;
        // Whether a continuation line may extend the last stored entry (false after junk).
        let mut can_continue = false;
        let mut seen = Seen::default();
        let head = raw.get(..limit).unwrap_or(raw);
        while let Some(rest) = head.get(pos..).filter(|r| !r.is_empty()) {
            // The blank line ends the headers (a CR alone at the very end is one too).
            match rest {
                [b'\n', ..] => {
                    self.saw_lf = true;
                    head_end = pos;
                    body_start = Some(pos + 1);
                    break;
                }
                [b'\r', b'\n', ..] => {
                    self.saw_crlf = true;
                    head_end = pos;
                    body_start = Some(pos + 2);
                    break;
                }
                [b'\r'] => {
                    head_end = pos;
                    body_start = Some(limit);
                    break;
                }
                [b' ' | b'\t', ..] => {
                    let line = self.line(pos, limit);
                    pos = line.next;
                    self.continuation(&line, can_continue, dropped);
                    continue;
                }
                _ => {}
            }
            // The name ends at the first colon; a line end before any colon makes a junk line.
            let colon =
                super::find_byte2(b':', b'\n', rest).filter(|&c| rest.get(c) == Some(&b':'));
            let Some(colon) = colon else {
                let line = self.line(pos, limit);
                self.note(Anomaly::JunkHeaderLine { offset: pos });
                pos = line.next;
                can_continue = false;
                continue;
            };
            // The line end, searched from the colon on. `nl > colon`, and the byte before a
            // line end that is CR is not the colon: `colon < end` always.
            let after_colon = rest.get(colon + 1..).unwrap_or(&[]);
            let (end, next) = match super::find_line_end(after_colon) {
                Some(i) => {
                    let nl = colon + 1 + i;
                    let cr = rest.get(nl - 1) == Some(&b'\r');
                    if cr {
                        self.saw_crlf = true;
                    } else {
                        self.saw_lf = true;
                    }
                    (nl - usize::from(cr), nl + 1)
                }
                // Last line, cut without any ending; a dangling CR is not content.
                None => (
                    rest.len() - usize::from(rest.last() == Some(&b'\r')),
                    rest.len(),
                ),
            };
            let line_start = pos;
            pos += next;
            let text = rest.get(..end).unwrap_or(&[]);
            let name_end = text
                .get(..colon)
                .and_then(|n| n.iter().rposition(|&b| !is_wsp(b)))
                .map_or(0, |p| p + 1);
            if name_end == 0 {
                self.note(Anomaly::EmptyHeaderName { offset: line_start });
            }
            let after = text.get(colon + 1..).unwrap_or(&[]);
            let (v_start, v_end) = match after.iter().position(|&b| !is_wsp(b)) {
                Some(l) => {
                    let tail = after.iter().rposition(|&b| !is_wsp(b)).map_or(l, |p| p + 1);
                    (line_start + colon + 1 + l, line_start + colon + 1 + tail)
                }
                None => (line_start + end, line_start + end),
            };
            if self.entries.len() >= MAX_HEADERS {
                dropped += 1;
                can_continue = false;
                continue;
            }
            let id = HeaderName::from_bytes(text.get(..name_end).unwrap_or(&[]));
            seen.add(id, self.entries.len());
            // Every offset here is at most `limit`, which fits a u32: the casts are exact
            // (`to_u32`'s clamp would never act, yet costs a compare each).
            self.entries.push(Entry {
                name: (line_start as u32, (line_start + name_end) as u32),
                value: (v_start as u32, v_end as u32),
                id,
                folded: false,
            });
            can_continue = true;
        }

        if body_start.is_none() {
            self.note(Anomaly::NoHeaderEnd);
        }
        match (self.saw_crlf, self.saw_lf) {
            (false, true) => self.note(Anomaly::LfLineEndings),
            (true, true) => self.note(Anomaly::MixedLineEndings),
            _ => {}
        }
        if dropped > 0 {
            self.note(Anomaly::TooManyHeaders { dropped });
        }
        // Checked from the very start: what precedes `head_start` is CR and LF, so offsets
        // and validity are those of the header section, and the checked text serves
        // [`Message::head_str`] (the dialog model would otherwise check it again).
        let head_text = match head_str(self.bytes(0, head_end)) {
            Ok(s) => Some(s),
            Err(offset) => {
                self.note(Anomaly::NonUtf8 { offset });
                None
            }
        };

        let (content_length, cseq) = self.check_headers(&start, &seen);
        let body = self.body_range(body_start, content_length);
        Message {
            raw,
            start,
            entries: self.entries,
            anomalies: self.anomalies,
            head_end,
            body,
            content_length,
            cseq,
            head_text,
        }
    }

    fn start_line(&mut self, line: &'a [u8]) -> StartLine<'a> {
        start_line(line, &mut |a| self.note(a))
    }

    /// A line that starts with whitespace: it continues the last stored header, or is junk.
    fn continuation(&mut self, line: &Line, can_continue: bool, dropped: usize) {
        let text = self.bytes(line.start, line.end);
        let Some(lead) = text.iter().position(|&b| !is_wsp(b)) else {
            return; // whitespace-only line: nothing to add
        };
        let content_end = line.start + text.iter().rposition(|&b| !is_wsp(b)).map_or(0, |p| p + 1);
        let content_start = line.start + lead;
        match self.entries.last_mut() {
            Some(e) if can_continue => {
                if e.value.0 == e.value.1 {
                    e.value.0 = to_u32(content_start);
                }
                e.value.1 = to_u32(content_end);
                e.folded = true;
                self.note(Anomaly::FoldedHeader { offset: line.start });
            }
            // Continuation of a header that was not stored (over the cap): drop it too.
            _ if dropped > 0 => {}
            _ => self.note(Anomaly::JunkHeaderLine { offset: line.start }),
        }
    }

    /// What the header walk noted for the checks: mandatory headers, Content-Length, CSeq.
    /// Returns the Content-Length in force and the first CSeq header, read.
    fn check_headers(
        &mut self,
        start: &StartLine<'a>,
        seen: &Seen,
    ) -> (Option<u64>, Option<(u32, Method<'a>)>) {
        // Values are read here, after the walk: a continuation line may have extended them.
        let mut content_length: Option<u64> = None;
        let mut left = seen.content_lengths;
        let mut at = seen.first_content_length;
        while left > 0 {
            let Some(e) = self.entries.get(at).copied() else {
                break;
            };
            at += 1;
            if e.id != HeaderName::ContentLength {
                continue;
            }
            left -= 1;
            let value = self.bytes(e.value.0 as usize, e.value.1 as usize);
            if let Some(a) = content_length_value(&mut content_length, value) {
                self.note(a);
            }
        }
        for (bit, m) in MANDATORY.iter().enumerate() {
            if seen.mandatory & (1 << bit) == 0 {
                self.note(Anomaly::MissingHeader(*m));
            }
        }
        let cseq = seen
            .cseq
            .and_then(|i| self.entries.get(i))
            .map(|e| self.bytes(e.value.0 as usize, e.value.1 as usize));
        let cseq = cseq.and_then(|value| {
            let (parsed, wrong) = cseq_value(value, start);
            if let Some(a) = wrong {
                self.note(a);
            }
            parsed
        });
        (content_length, cseq)
    }

    fn body_range(&mut self, body_start: Option<usize>, declared: Option<u64>) -> Range<usize> {
        let len = self.raw.len();
        let Some(start) = body_start else {
            return len..len;
        };
        let (range, wrong) = body_span(len, start, declared);
        if let Some(a) = wrong {
            self.note(a);
        }
        range
    }
}

/// One Content-Length value, in message order: the first that reads as a number is in force
/// (`declared`); what is wrong with this one, if anything. Shared with [`super::quick`].
pub(super) fn content_length_value(declared: &mut Option<u64>, value: &[u8]) -> Option<Anomaly> {
    match (parse_u64(trim_lws(value)), *declared) {
        (Some(n), None) => {
            *declared = Some(n);
            None
        }
        (Some(other), Some(first)) if other != first => {
            Some(Anomaly::ConflictingContentLength { first, other })
        }
        (Some(_), Some(_)) => None,
        (None, _) => Some(Anomaly::BadContentLength),
    }
}

/// The first CSeq header's value read, and what is wrong with it for a message that starts
/// with `start`, if anything. Shared with [`super::quick`].
pub(super) fn cseq_value<'a>(
    value: &'a [u8],
    start: &StartLine<'_>,
) -> (Option<(u32, Method<'a>)>, Option<Anomaly>) {
    let parsed = parse_cseq(value);
    let wrong = match (parsed, start) {
        (None, _) => Some(Anomaly::BadCSeq),
        (Some((_, m)), StartLine::Request { method, .. }) if m != *method => {
            Some(Anomaly::CSeqMethodMismatch)
        }
        _ => None,
    };
    (parsed, wrong)
}

/// The body of a message of `len` bytes whose header section ends before `start`, with the
/// Content-Length in force: what follows the blank line, cut to the declared length when
/// more came (a shorter body is kept whole); and the anomaly when the two lengths differ.
/// Shared with [`super::quick`].
pub(super) fn body_span(
    len: usize,
    start: usize,
    declared: Option<u64>,
) -> (Range<usize>, Option<Anomaly>) {
    let start = start.min(len);
    let actual = len - start;
    let actual64 = actual as u64;
    match declared {
        // declared < actual <= usize::MAX, so the conversion holds.
        Some(declared) if declared < actual64 => (
            start..start.saturating_add(usize::try_from(declared).unwrap_or(actual)),
            Some(Anomaly::BodyLongerThanContentLength {
                declared,
                actual: actual64,
            }),
        ),
        Some(declared) if declared > actual64 => (
            start..len,
            Some(Anomaly::BodyShorterThanContentLength {
                declared,
                actual: actual64,
            }),
        ),
        _ => (start..len, None),
    }
}

/// Reads a start line (without its line ending), reporting each defect to `note`. Shared
/// with [`super::scan::clean`], which must read start lines exactly as the parser does.
pub(super) fn start_line<'a>(line: &'a [u8], note: &mut impl FnMut(Anomaly)) -> StartLine<'a> {
    usual_start_line(line).unwrap_or_else(|| any_start_line(line, note))
}

/// The start line as [`any_start_line`] reads it, for the two usual forms without any defect
/// (`SIP/2.0 NNN reason` with NNN in 100..=699, and `METHOD uri SIP/2.0` with a known method
/// and single spaces); `None` for anything else, left to `any_start_line`, which walks the
/// request URI byte by byte where an SSE2 search checks it here.
#[inline]
pub(super) fn usual_start_line(line: &[u8]) -> Option<StartLine<'_>> {
    if let Some(rest) = line.strip_prefix(b"SIP/2.0 ") {
        let (code, after) = match rest {
            [a @ b'1'..=b'6', b @ b'0'..=b'9', c @ b'0'..=b'9', after @ ..]
                if matches!(after.first(), None | Some(b' ')) =>
            {
                let d = |x: &u8| u16::from(x - b'0');
                (d(a) * 100 + d(b) * 10 + d(c), after)
            }
            _ => return None,
        };
        // `after` is empty or starts with the space after the code: trimmed without it,
        // the same bytes, but `trim_lws` takes its fast path when nothing else is to trim.
        return Some(StartLine::Response {
            version: line.get(..7)?,
            code,
            reason: trim_lws(after.get(1..).unwrap_or(after)),
        });
    }
    let sp = super::find_byte(b' ', line)?;
    let method = Method::from_bytes(line.get(..sp)?).filter(Method::is_known)?;
    let rest = line.get(sp + 1..)?;
    let uri = rest.strip_suffix(b" SIP/2.0")?;
    if uri.is_empty() || super::find_byte2(b' ', b'\t', uri).is_some() {
        return None;
    }
    Some(StartLine::Request {
        method,
        uri,
        version: rest.get(rest.len() - 7..)?,
    })
}

/// [`start_line`] for any line.
fn any_start_line<'a>(line: &'a [u8], note: &mut impl FnMut(Anomaly)) -> StartLine<'a> {
    let is_response = line
        .get(..4)
        .is_some_and(|p| p.eq_ignore_ascii_case(b"SIP/"));
    if is_response {
        let (version, rest) = split_token(line);
        let (code, reason) = split_token(rest);
        if !version.eq_ignore_ascii_case(b"SIP/2.0") {
            note(Anomaly::BadVersion);
        }
        let digits = code.iter().take_while(|b| b.is_ascii_digit()).count();
        let value = code
            .get(..digits)
            .and_then(parse_u64)
            .and_then(|n| u16::try_from(n).ok());
        let Some(value) = value else {
            note(Anomaly::BadStatusCode);
            note(Anomaly::InvalidStartLine);
            return StartLine::Invalid { line };
        };
        if digits != 3 || code.len() != 3 || !(100..=699).contains(&value) {
            note(Anomaly::BadStatusCode);
        }
        return StartLine::Response {
            version,
            code: value,
            reason: trim_lws(reason),
        };
    }
    let (method, rest) = split_token(line);
    let (uri, version) = split_token(rest);
    let version = trim_lws(version);
    let method = if method.is_empty() || uri.is_empty() || !method.iter().all(|&b| is_token_char(b))
    {
        None
    } else {
        Method::from_bytes(method)
    };
    let Some(method) = method else {
        note(Anomaly::InvalidStartLine);
        return StartLine::Invalid { line };
    };
    if !method.is_known() {
        note(Anomaly::UnknownMethod);
    }
    if version.is_empty() {
        note(Anomaly::MissingVersion);
    } else if !version.eq_ignore_ascii_case(b"SIP/2.0") {
        note(Anomaly::BadVersion);
    }
    StartLine::Request {
        method,
        uri,
        version,
    }
}

/// `number method` of a CSeq value.
pub(super) fn parse_cseq(value: &[u8]) -> Option<(u32, Method<'_>)> {
    usual_cseq(value).or_else(|| any_cseq(value))
}

/// [`any_cseq`] for the usual form, `digits SP method` and nothing else (at most 9 digits,
/// which fit a `u32`; a method of printable ASCII), read in one pass; `None` for any other
/// form, left to `any_cseq`.
#[inline]
fn usual_cseq(value: &[u8]) -> Option<(u32, Method<'_>)> {
    let mut n = 0u32;
    let mut digits = 0;
    while let Some(d) = value.get(digits).filter(|b| b.is_ascii_digit()) {
        if digits == 9 {
            return None;
        }
        n = n * 10 + u32::from(d - b'0');
        digits += 1;
    }
    let method = match value.get(digits..)? {
        [b' ', method @ ..] if digits > 0 => method,
        _ => return None,
    };
    // A known method is printable ASCII: only another token is checked byte by byte.
    let m = Method::from_bytes(method)?;
    if !m.is_known() && (method.is_empty() || !method.iter().all(|&b| b > b' ' && b < 0x7f)) {
        return None;
    }
    Some((n, m))
}

/// [`parse_cseq`] for any value.
fn any_cseq(value: &[u8]) -> Option<(u32, Method<'_>)> {
    let (num, rest) = split_token(trim_lws(value));
    let num = u32::try_from(parse_u64(num)?).ok()?;
    let (method, _) = split_token(trim_lws(rest));
    if method.is_empty() {
        return None;
    }
    Some((num, Method::from_bytes(method)?))
}

impl<'a> Message<'a> {
    fn entry_header(&self, e: &Entry) -> Header<'a> {
        let raw = self.raw;
        Header {
            name: raw.get(e.name.0 as usize..e.name.1 as usize).unwrap_or(&[]),
            value: raw
                .get(e.value.0 as usize..e.value.1 as usize)
                .unwrap_or(&[]),
            id: e.id,
            folded: e.folded,
        }
    }

    /// Whether the start line is a request line.
    pub fn is_request(&self) -> bool {
        matches!(self.start, StartLine::Request { .. })
    }

    /// Whether the start line is a status line.
    pub fn is_response(&self) -> bool {
        matches!(self.start, StartLine::Response { .. })
    }

    /// The request method (requests only).
    pub fn method(&self) -> Option<Method<'a>> {
        self.start.method()
    }

    /// The status code (responses only).
    pub fn status(&self) -> Option<u16> {
        self.start.code()
    }

    /// The Request-URI, split (requests only).
    pub fn request_uri(&self) -> Option<Uri<'a>> {
        match self.start {
            StartLine::Request { uri, .. } => Some(Uri::parse(uri)),
            _ => None,
        }
    }

    /// Every stored header, in message order.
    pub fn all_headers(&self) -> impl ExactSizeIterator<Item = Header<'a>> + '_ {
        self.entries.iter().map(|e| self.entry_header(e))
    }

    /// Number of stored headers (at most [`MAX_HEADERS`]).
    pub fn header_count(&self) -> usize {
        self.entries.len()
    }

    /// Value of the first header with this identity (compact forms included), as on the wire.
    pub fn header(&self, name: HeaderName) -> Option<&'a [u8]> {
        self.headers(name).next()
    }

    /// Values of every header with this identity, in order.
    pub fn headers(&self, name: HeaderName) -> impl Iterator<Item = &'a [u8]> + '_ {
        self.entries
            .iter()
            .filter(move |e| e.id == name)
            .map(|e| self.entry_header(e).value)
    }

    /// First header with this identity, with its name and fold flag.
    pub fn header_entry(&self, name: HeaderName) -> Option<Header<'a>> {
        self.entries
            .iter()
            .find(|e| e.id == name)
            .map(|e| self.entry_header(e))
    }

    /// First value as text: folds joined, invalid UTF-8 replaced.
    pub fn header_str(&self, name: HeaderName) -> Option<Cow<'a, str>> {
        self.header_entry(name).map(|h| h.value_str())
    }

    /// Value of the first header spelled `name` (case-insensitive). Names sipscope knows are
    /// matched by identity, so `"f"` finds `From:`; others are compared as written.
    pub fn header_by_name(&self, name: &str) -> Option<&'a [u8]> {
        self.headers_by_name(name).next()
    }

    /// Values of every header spelled `name` (see [`Message::header_by_name`]).
    pub fn headers_by_name<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'a [u8]> + 's {
        let id = HeaderName::from_bytes(name.as_bytes());
        self.all_headers()
            .filter(move |h| {
                if id == HeaderName::Other {
                    h.id == HeaderName::Other && h.name.eq_ignore_ascii_case(name.as_bytes())
                } else {
                    h.id == id
                }
            })
            .map(|h| h.value)
    }

    /// Comma-separated elements of every header with this identity, in order. Only meaningful
    /// for list headers (Via, Contact, Route, Allow, Supported, ...): a Date has commas too.
    pub fn values(&self, name: HeaderName) -> impl Iterator<Item = &'a [u8]> + '_ {
        self.headers(name).flat_map(CommaSplit::new)
    }

    /// Every Via value, top first, across all Via headers.
    pub fn vias(&self) -> impl Iterator<Item = Via<'a>> + '_ {
        self.values(HeaderName::Via).map(Via::parse)
    }

    /// The topmost Via value (the last hop that sent the message, or the one it answers).
    pub fn top_via(&self) -> Option<Via<'a>> {
        self.vias().next()
    }

    /// Every Contact value, in order (`*` comes back with an empty scheme).
    pub fn contacts(&self) -> impl Iterator<Item = NameAddr<'a>> + '_ {
        self.values(HeaderName::Contact).map(NameAddr::parse)
    }

    /// Every Route value, in order.
    pub fn routes(&self) -> impl Iterator<Item = NameAddr<'a>> + '_ {
        self.values(HeaderName::Route).map(NameAddr::parse)
    }

    /// Every Record-Route value, in order.
    pub fn record_routes(&self) -> impl Iterator<Item = NameAddr<'a>> + '_ {
        self.values(HeaderName::RecordRoute).map(NameAddr::parse)
    }

    /// The Call-ID, trimmed.
    pub fn call_id(&self) -> Option<&'a [u8]> {
        self.header(HeaderName::CallId)
    }

    /// CSeq number and method; `None` if absent or malformed.
    pub fn cseq(&self) -> Option<(u32, Method<'a>)> {
        self.cseq
    }

    /// The From value, split.
    pub fn from(&self) -> Option<NameAddr<'a>> {
        self.header(HeaderName::From).map(NameAddr::parse)
    }

    /// The To value, split.
    pub fn to(&self) -> Option<NameAddr<'a>> {
        self.header(HeaderName::To).map(NameAddr::parse)
    }

    /// The Content-Length in force: the first numeric one. `u64` so absurd values from
    /// hostile input are kept, not wrapped.
    pub fn content_length(&self) -> Option<u64> {
        self.content_length
    }

    /// The Content-Type value, with its parameters.
    pub fn content_type(&self) -> Option<&'a [u8]> {
        self.header(HeaderName::ContentType)
    }

    /// The media type of Content-Type without parameters (`application/sdp`); compare it
    /// case-insensitively.
    pub fn mime_type(&self) -> Option<&'a [u8]> {
        self.content_type().map(value_without_params)
    }

    /// Max-Forwards as a number.
    pub fn max_forwards(&self) -> Option<u32> {
        self.header(HeaderName::MaxForwards).and_then(leading_u32)
    }

    /// Expires header as seconds.
    pub fn expires(&self) -> Option<u32> {
        self.header(HeaderName::Expires).and_then(leading_u32)
    }

    /// Retry-After as seconds (comment and parameters ignored).
    pub fn retry_after(&self) -> Option<u32> {
        self.header(HeaderName::RetryAfter).and_then(leading_u32)
    }

    /// The User-Agent value.
    pub fn user_agent(&self) -> Option<&'a [u8]> {
        self.header(HeaderName::UserAgent)
    }

    /// The Server value.
    pub fn server(&self) -> Option<&'a [u8]> {
        self.header(HeaderName::Server)
    }

    /// The first Reason value (`Q.850;cause=16;text="..."`); use [`Message::headers`] for all.
    pub fn reason(&self) -> Option<&'a [u8]> {
        self.header(HeaderName::Reason)
    }

    /// The first Warning value (`399 host "text"`).
    pub fn warning(&self) -> Option<&'a [u8]> {
        self.header(HeaderName::Warning)
    }

    /// The body: Content-Length bytes after the blank line when that many exist, otherwise
    /// what exists; without Content-Length, the rest of the input. Empty when truncated
    /// before the end of the headers.
    pub fn body(&self) -> &'a [u8] {
        self.raw.get(self.body.clone()).unwrap_or(&[])
    }

    /// The SDP part of the body (see [`super::sdp::find_sdp`]): the body when Content-Type is
    /// `application/sdp` or absent with a body starting `v=0`, or the SDP part of a multipart
    /// body.
    pub fn sdp_body(&self) -> Option<&'a [u8]> {
        find_sdp(self.content_type(), self.body())
    }

    /// The SDP of this message, parsed; `None` when the body carries none.
    pub fn sdp(&self) -> Option<Sdp<'a>> {
        self.sdp_body().map(parse_sdp)
    }

    /// Where the body lies in [`Message::raw`].
    pub fn body_range(&self) -> Range<usize> {
        self.body.clone()
    }

    /// Start line and headers, without the blank line.
    pub fn head(&self) -> &'a [u8] {
        self.raw.get(..self.head_end).unwrap_or(self.raw)
    }

    /// [`Message::head`] as text, `None` when it is not valid UTF-8 (then the anomalies say
    /// [`Anomaly::NonUtf8`], unless they were capped).
    pub fn head_str(&self) -> Option<&'a str> {
        self.head_text
    }

    /// Defects found, in the order they were noticed.
    pub fn anomalies(&self) -> &[Anomaly] {
        &self.anomalies
    }

    /// Where a slice returned by this message (a header value, a URI part, ...) lies in
    /// [`Message::raw`]; `None` for bytes that do not come from it (such as unfolded copies).
    pub fn span_of(&self, part: &[u8]) -> Option<Range<usize>> {
        let base = self.raw.as_ptr() as usize;
        let p = part.as_ptr() as usize;
        let start = p.checked_sub(base)?;
        let end = start.checked_add(part.len())?;
        (end <= self.raw.len()).then_some(start..end)
    }

    /// [`Message::into_scratch`] through a mutable reference (for a drop guard): the
    /// message keeps its spans but no longer has headers or anomalies.
    pub fn take_scratch(&mut self) -> Scratch {
        Scratch {
            entries: std::mem::take(&mut self.entries),
            anomalies: std::mem::take(&mut self.anomalies),
        }
    }

    /// Gives the buffers back for [`parse_with`].
    pub fn into_scratch(self) -> Scratch {
        Scratch {
            entries: self.entries,
            anomalies: self.anomalies,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_str_agrees_with_std() {
        let mut cases: Vec<Vec<u8>> = vec![
            Vec::new(),
            INVITE.to_vec(),
            "From: \"Jos\u{e9} \u{65e5}\u{672c}\" <sip:a@b>\r\n"
                .as_bytes()
                .to_vec(),
        ];
        // A bad byte, a cut multi-byte character and an overlong form at every position of a
        // head long enough for the wide steps.
        for bad in [
            &b"\xff"[..],
            b"\xc3",
            b"\xe6\x97",
            b"\xc0\xaf",
            b"\xed\xa0\x80",
        ] {
            for at in [0, 1, 15, 16, 31, 32, 63, 64, 100, INVITE.len()] {
                let mut v = INVITE.to_vec();
                let at = at.min(v.len());
                v.splice(at..at, bad.iter().copied());
                cases.push(v);
            }
        }
        for case in &cases {
            let expected = std::str::from_utf8(case).map_err(|e| e.valid_up_to());
            assert_eq!(
                head_str(case),
                expected,
                "{}",
                String::from_utf8_lossy(case)
            );
        }
    }

    /// An INVITE as an Asterisk B2BUA sent it (from the goffinet b2bua corpus capture).
    const INVITE: &[u8] = b"INVITE sip:telephone2@172.16.98.145:40216 SIP/2.0\r\n\
Via: SIP/2.0/UDP 172.16.98.101:5060;branch=z9hG4bK038e67ca\r\n\
Max-Forwards: 70\r\n\
From: <sip:telephone1@172.16.98.101>;tag=as6acf0418\r\n\
To: <sip:telephone2@172.16.98.145:40216;rinstance=98920ece8998d44b;transport=UDP>\r\n\
Contact: <sip:telephone1@172.16.98.101:5060>\r\n\
Call-ID: 37686afc57ce24ac655742b3644a7bb8@172.16.98.101:5060\r\n\
CSeq: 103 INVITE\r\n\
User-Agent: Asterisk PBX 11.7.0~dfsg-1ubuntu1\r\n\
Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, SUBSCRIBE, NOTIFY, INFO, PUBLISH\r\n\
Supported: replaces, timer\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 244\r\n\
\r\n\
v=0\r\n\
o=root 555055307 555055308 IN IP4 172.16.98.1\r\n\
s=Asterisk PBX 11.7.0~dfsg-1ubuntu1\r\n\
c=IN IP4 172.16.98.1\r\n\
t=0 0\r\n\
m=audio 8000 RTP/AVP 0 101\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-16\r\n\
a=ptime:20\r\n\
a=sendrecv\r\n";

    const RESPONSE: &[u8] = b"SIP/2.0 401 Unauthorized\r\n\
Via: SIP/2.0/UDP 172.16.98.1:44285;branch=z9hG4bK-d8754z-147d;received=172.16.98.1\r\n\
From: <sip:telephone1@172.16.98.101;transport=UDP>;tag=45ae5106\r\n\
To: <sip:telephone1@172.16.98.101;transport=UDP>;tag=as22c48d4f\r\n\
Call-ID: NWVjMzY1YTgzYWY1MGQ3MTRiYjQ5ODFlNjMzY2NmNGE.\r\n\
CSeq: 1 REGISTER\r\n\
Server: Asterisk PBX 11.7.0~dfsg-1ubuntu1\r\n\
WWW-Authenticate: Digest algorithm=MD5, realm=\"asterisk\", nonce=\"173a1499\"\r\n\
Content-Length: 0\r\n\r\n";

    /// A minimal valid request with the given extra header lines and body.
    fn request(extra: &str, body: &str) -> Vec<u8> {
        format!(
            "OPTIONS sip:b@example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1\r\n\
From: <sip:a@example.com>;tag=1\r\n\
To: <sip:b@example.com>\r\n\
Call-ID: c1\r\n\
CSeq: 1 OPTIONS\r\n\
{extra}\r\n{body}"
        )
        .into_bytes()
    }

    fn has(msg: &Message<'_>, pred: impl Fn(&Anomaly) -> bool) -> bool {
        msg.anomalies().iter().any(pred)
    }

    #[test]
    fn real_invite_with_sdp() {
        let m = parse(INVITE);
        assert_eq!(m.anomalies(), &[] as &[Anomaly]);
        assert_eq!(m.method(), Some(Method::Invite));
        let ruri = m.request_uri().unwrap();
        assert_eq!(ruri.user, Some(&b"telephone2"[..]));
        assert_eq!(ruri.port, Some(40216));
        assert_eq!(m.header_count(), 12);
        assert_eq!(m.cseq(), Some((103, Method::Invite)));
        assert_eq!(m.max_forwards(), Some(70));
        assert_eq!(m.content_length(), Some(244));
        assert_eq!(m.body().len(), 244);
        assert!(m.body().starts_with(b"v=0\r\n"));
        assert!(m.body().ends_with(b"a=sendrecv\r\n"));
        assert_eq!(m.mime_type(), Some(&b"application/sdp"[..]));
        assert_eq!(m.from().unwrap().tag(), Some(&b"as6acf0418"[..]));
        let to = m.to().unwrap();
        assert_eq!(to.tag(), None);
        assert_eq!(to.uri.transport(), Some(&b"UDP"[..]));
        assert_eq!(m.contacts().next().unwrap().uri.port, Some(5060));
        assert_eq!(m.values(HeaderName::Allow).count(), 10);
        assert_eq!(
            m.user_agent(),
            Some(&b"Asterisk PBX 11.7.0~dfsg-1ubuntu1"[..])
        );
        assert!(m.head().ends_with(b"Content-Length: 244\r\n"));
        assert_eq!(
            m.head().len() + 2 + 244,
            INVITE.len(),
            "head + blank line + body = all"
        );
    }

    #[test]
    fn sdp_of_a_message() {
        let m = parse(INVITE);
        let sdp = m.sdp().unwrap();
        assert_eq!(sdp.media[0].port, Some(8000));
        assert_eq!(m.span_of(sdp.raw), Some(m.body_range()));
        assert!(parse(RESPONSE).sdp().is_none());
        let no_ct = request("", "v=0\r\nm=audio 1 RTP/AVP 0\r\n");
        assert_eq!(parse(&no_ct).sdp().unwrap().media.len(), 1);
    }

    #[test]
    fn response_parts() {
        let m = parse(RESPONSE);
        assert!(m.anomalies().is_empty(), "{:?}", m.anomalies());
        assert!(m.is_response());
        assert_eq!(m.status(), Some(401));
        assert!(matches!(
            m.start,
            StartLine::Response {
                reason: b"Unauthorized",
                version: b"SIP/2.0",
                ..
            }
        ));
        let via = m.top_via().unwrap();
        assert_eq!(via.received(), Some(&b"172.16.98.1"[..]));
        assert_eq!(via.port, Some(44285));
        assert_eq!(m.to().unwrap().tag(), Some(&b"as22c48d4f"[..]));
        assert_eq!(m.cseq(), Some((1, Method::Register)));
        assert_eq!(m.server(), Some(&b"Asterisk PBX 11.7.0~dfsg-1ubuntu1"[..]));
        let auth = m.header_entry(HeaderName::WwwAuthenticate).unwrap();
        assert_eq!(auth.name, b"WWW-Authenticate");
        assert_eq!(m.body(), b"");
    }

    #[test]
    fn response_reason_with_spaces_and_empty_reason() {
        let m = parse(b"SIP/2.0 488 Not Acceptable Here\r\n\r\n");
        assert!(matches!(
            m.start,
            StartLine::Response {
                code: 488,
                reason: b"Not Acceptable Here",
                ..
            }
        ));
        let m = parse(b"SIP/2.0 200\r\n\r\n");
        assert!(matches!(
            m.start,
            StartLine::Response {
                code: 200,
                reason: b"",
                ..
            }
        ));
        assert!(!has(&m, |a| *a == Anomaly::BadStatusCode));
    }

    #[test]
    fn compact_forms_read_like_full_names() {
        let raw = b"INVITE sip:b@h SIP/2.0\r\n\
v: SIP/2.0/TCP h1;branch=z9hG4bKa\r\n\
f: <sip:a@h>;tag=x\r\n\
t: <sip:b@h>\r\n\
i: cid\r\n\
CSeq: 1 INVITE\r\n\
m: <sip:a@10.0.0.1>\r\n\
c: application/sdp\r\n\
k: timer\r\n\
s: hello\r\n\
e: gzip\r\n\
o: refer\r\n\
r: <sip:c@h>\r\n\
u: presence\r\n\
x: 1800\r\n\
y: abc\r\n\
b: <sip:d@h>\r\n\
a: *;audio\r\n\
l: 0\r\n\r\n";
        let m = parse(raw);
        assert!(m.anomalies().is_empty(), "{:?}", m.anomalies());
        let expect = [
            (HeaderName::Via, &b"SIP/2.0/TCP h1;branch=z9hG4bKa"[..]),
            (HeaderName::From, b"<sip:a@h>;tag=x"),
            (HeaderName::To, b"<sip:b@h>"),
            (HeaderName::CallId, b"cid"),
            (HeaderName::Contact, b"<sip:a@10.0.0.1>"),
            (HeaderName::ContentType, b"application/sdp"),
            (HeaderName::Supported, b"timer"),
            (HeaderName::Subject, b"hello"),
            (HeaderName::ContentEncoding, b"gzip"),
            (HeaderName::Event, b"refer"),
            (HeaderName::ReferTo, b"<sip:c@h>"),
            (HeaderName::AllowEvents, b"presence"),
            (HeaderName::SessionExpires, b"1800"),
            (HeaderName::Identity, b"abc"),
            (HeaderName::ReferredBy, b"<sip:d@h>"),
            (HeaderName::AcceptContact, b"*;audio"),
            (HeaderName::ContentLength, b"0"),
        ];
        for (id, value) in expect {
            assert_eq!(m.header(id), Some(value), "{id:?}");
        }
        assert_eq!(m.header_by_name("call-id"), Some(&b"cid"[..]));
        assert_eq!(m.header_by_name("F"), Some(&b"<sip:a@h>;tag=x"[..]));
        assert_eq!(m.content_length(), Some(0));
        assert_eq!(m.top_via().unwrap().transport, b"TCP");
    }

    #[test]
    fn whitespace_around_colon_is_not_part_of_name_or_value() {
        let raw = request("Max-Forwards \t:   69  \r\nSubject:\r\n", "");
        let m = parse(&raw);
        assert!(m.anomalies().is_empty(), "{:?}", m.anomalies());
        let mf = m.header_entry(HeaderName::MaxForwards).unwrap();
        assert_eq!((mf.name, mf.value), (&b"Max-Forwards"[..], &b"69"[..]));
        assert_eq!(m.max_forwards(), Some(69));
        assert_eq!(m.header(HeaderName::Subject), Some(&b""[..]));
    }

    #[test]
    fn unknown_headers_by_name() {
        let raw = request(
            "X-Custom: one\r\nx-custom: two\r\nContent-Length: 0\r\n",
            "",
        );
        let m = parse(&raw);
        let values: Vec<_> = m.headers_by_name("X-CUSTOM").collect();
        assert_eq!(values, vec![&b"one"[..], b"two"]);
        assert_eq!(m.header_by_name("X-Missing"), None);
    }

    #[test]
    fn lf_only_and_mixed_line_endings() {
        let crlf = request("Content-Length: 4\r\n", "abcd");
        let lf: Vec<u8> = String::from_utf8(crlf.clone())
            .unwrap()
            .replace("\r\n", "\n")
            .into_bytes();
        let m = parse(&lf);
        assert_eq!(m.anomalies(), &[Anomaly::LfLineEndings]);
        assert_eq!(m.call_id(), Some(&b"c1"[..]));
        assert_eq!(m.body(), b"abcd");

        let mut mixed = crlf.clone();
        let pos = mixed.windows(2).position(|w| w == b"\r\n").unwrap();
        mixed.remove(pos); // first line ends with LF only
        let m = parse(&mixed);
        assert_eq!(m.anomalies(), &[Anomaly::MixedLineEndings]);
        assert_eq!(m.body(), b"abcd");
        assert!(parse(&crlf).anomalies().is_empty());
    }

    #[test]
    fn folded_via_is_one_header_with_two_values() {
        let raw = b"SIP/2.0 200 OK\r\n\
Via: SIP/2.0/UDP p1.example.com;branch=z9hG4bKp1,\r\n\
\x20SIP/2.0/UDP 10.0.0.1:5062;branch=z9hG4bKua\r\n\
From: <sip:a@h>;tag=1\r\n\
To:\r\n\t<sip:b@h>;tag=2\r\n\
Call-ID: c\r\nCSeq: 5 BYE\r\n\r\n";
        let m = parse(raw);
        let folds = m
            .anomalies()
            .iter()
            .filter(|a| matches!(a, Anomaly::FoldedHeader { .. }))
            .count();
        assert_eq!(folds, 2);
        assert_eq!(m.headers(HeaderName::Via).count(), 1);
        let vias: Vec<_> = m.vias().collect();
        assert_eq!(vias.len(), 2);
        assert_eq!(vias[1].host, b"10.0.0.1");
        assert_eq!(vias[1].port, Some(5062));
        assert_eq!(vias[1].branch(), Some(&b"z9hG4bKua"[..]));
        let via = m.header_entry(HeaderName::Via).unwrap();
        assert!(via.folded);
        assert_eq!(
            via.value_str(),
            "SIP/2.0/UDP p1.example.com;branch=z9hG4bKp1, SIP/2.0/UDP 10.0.0.1:5062;branch=z9hG4bKua"
        );
        // A value that starts on the continuation line does not begin with the line break.
        assert_eq!(m.header(HeaderName::To), Some(&b"<sip:b@h>;tag=2"[..]));
        assert_eq!(m.to().unwrap().tag(), Some(&b"2"[..]));
    }

    #[test]
    fn several_via_headers_with_several_values() {
        let raw = request(
            "Via: SIP/2.0/TCP a.example;branch=z9hG4bK2, SIP/2.0/UDP [2001:db8::1]:5060;rport=5070;branch=z9hG4bK3\r\nv: SIP/2.0/UDP c.example\r\n",
            "",
        );
        let m = parse(&raw);
        let hosts: Vec<&[u8]> = m.vias().map(|v| v.host).collect();
        assert_eq!(
            hosts,
            vec![&b"10.0.0.1"[..], b"a.example", b"2001:db8::1", b"c.example"]
        );
        let v6 = m.vias().nth(2).unwrap();
        assert_eq!(v6.port, Some(5060));
        assert_eq!(v6.rport(), Some(Some(5070)));
        assert_eq!(m.top_via().unwrap().branch(), Some(&b"z9hG4bK1"[..]));
    }

    #[test]
    fn quoted_display_names_with_commas_and_routes() {
        let raw = request(
            "Contact: \"Smith, Bob\" <sip:bob@[2001:db8::2]:5080;transport=tcp>;expires=60, <sip:bob@10.0.0.9>;q=0.5\r\n\
Record-Route: <sip:p2.example.com;lr>, <sip:p1.example.com;lr;transport=tcp>\r\n\
Route: <sip:p1.example.com;lr>\r\n",
            "",
        );
        let m = parse(&raw);
        let contacts: Vec<_> = m.contacts().collect();
        assert_eq!(contacts.len(), 2);
        assert_eq!(contacts[0].display_name, Some(&b"Smith, Bob"[..]));
        assert_eq!(contacts[0].uri.host, b"2001:db8::2");
        assert_eq!(contacts[0].uri.port, Some(5080));
        assert_eq!(contacts[0].expires(), Some(60));
        assert_eq!(contacts[1].param("q"), Some(&b"0.5"[..]));
        let rr: Vec<_> = m.record_routes().collect();
        assert_eq!(rr.len(), 2);
        assert!(rr.iter().all(|r| r.uri.lr()));
        assert_eq!(rr[1].uri.transport(), Some(&b"tcp"[..]));
        assert_eq!(m.routes().count(), 1);
    }

    #[test]
    fn generic_params_on_headers() {
        let raw = request(
            "Session-Expires: 1800;refresher=uac\r\nRetry-After: 120 (busy);duration=60\r\nExpires: 3600\r\n",
            "",
        );
        let m = parse(&raw);
        let se = m.header_entry(HeaderName::SessionExpires).unwrap();
        assert_eq!(se.param("REFRESHER"), Some(&b"uac"[..]));
        assert_eq!(m.retry_after(), Some(120));
        assert_eq!(m.expires(), Some(3600));
        let from = m.header_entry(HeaderName::From).unwrap();
        assert_eq!(from.param("tag"), Some(&b"1"[..]));
        assert_eq!(
            m.header_entry(HeaderName::Via).unwrap().param("branch"),
            Some(&b"z9hG4bK1"[..])
        );
    }

    #[test]
    fn tel_uri_in_request_line_and_bare_addr_spec() {
        let raw = b"INVITE tel:+15551234567;phone-context=example.com SIP/2.0\r\n\
From: sip:a@h;tag=t1\r\nTo: tel:+15551234567\r\nVia: SIP/2.0/UDP h\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n\r\n";
        let m = parse(raw);
        assert!(m.anomalies().is_empty(), "{:?}", m.anomalies());
        let ruri = m.request_uri().unwrap();
        assert!(ruri.is_tel());
        assert_eq!(ruri.user, Some(&b"+15551234567"[..]));
        let from = m.from().unwrap();
        assert_eq!(
            from.tag(),
            Some(&b"t1"[..]),
            "params of a bare URI belong to the header"
        );
        assert_eq!(from.uri.params, b"");
        assert!(m.to().unwrap().uri.is_tel());
    }

    #[test]
    fn junk_lines_and_empty_names() {
        let raw = request("this line has no colon\r\n: empty name\r\n", "");
        let m = parse(&raw);
        let junk = raw.windows(4).position(|w| w == b"this").unwrap();
        assert!(has(&m, |a| *a == Anomaly::JunkHeaderLine { offset: junk }));
        assert!(has(&m, |a| matches!(a, Anomaly::EmptyHeaderName { .. })));
        let empty = m.all_headers().find(|h| h.name.is_empty()).unwrap();
        assert_eq!(empty.value, b"empty name");
        assert_eq!(m.call_id(), Some(&b"c1"[..]));
    }

    #[test]
    fn continuation_after_junk_is_junk() {
        let raw = b"OPTIONS sip:a@b SIP/2.0\r\n  leading space\r\n\r\n";
        let m = parse(raw);
        assert!(has(&m, |a| matches!(
            a,
            Anomaly::JunkHeaderLine { offset: 25 }
        )));
        assert_eq!(m.header_count(), 0);
    }

    #[test]
    fn non_utf8_is_reported_and_kept_as_bytes() {
        let mut raw = request("User-Agent: caf", "");
        let at = raw.windows(3).position(|w| w == b"caf").unwrap() + 3;
        // The helper left the line open: close it with the blank line after the bad byte.
        raw.splice(at..at, [0xe9u8, b'\r', b'\n']);
        let m = parse(&raw);
        assert!(has(&m, |a| *a == Anomaly::NonUtf8 { offset: at }));
        assert_eq!(m.user_agent(), Some(&b"caf\xe9"[..]));
        assert_eq!(
            m.header_str(HeaderName::UserAgent).as_deref(),
            Some("caf\u{fffd}")
        );
        assert_eq!(m.head_str(), None);
        // Blank lines before the start line do not shift the reported offset.
        let mut led = b"\r\n\n".to_vec();
        led.extend_from_slice(&raw);
        let m = parse(&led);
        assert!(has(&m, |a| *a == Anomaly::NonUtf8 { offset: at + 3 }));
        let clean = request("", "");
        assert_eq!(
            parse(&clean).head_str().map(str::as_bytes),
            Some(parse(&clean).head())
        );
    }

    #[test]
    fn unknown_method_survives() {
        let raw = b"INVITE1 sip:a@b SIP/2.0\r\nCSeq: 1 INVITE1\r\n\r\n";
        let m = parse(raw);
        assert_eq!(m.method(), Some(Method::Other("INVITE1")));
        assert_eq!(m.method().unwrap().as_str(), "INVITE1");
        assert!(has(&m, |a| *a == Anomaly::UnknownMethod));
        assert!(!has(&m, |a| *a == Anomaly::CSeqMethodMismatch));
        assert_eq!(m.cseq(), Some((1, Method::Other("INVITE1"))));
    }

    #[test]
    fn bad_and_missing_versions() {
        let m = parse(b"INVITE sip:a@b\r\n\r\n");
        assert!(has(&m, |a| *a == Anomaly::MissingVersion));
        assert!(m.is_request());
        let m = parse(b"INVITE sip:a@b SIP/3.0\r\n\r\n");
        assert!(has(&m, |a| *a == Anomaly::BadVersion));
        let m = parse(b"SIP/1.0 200 OK\r\n\r\n");
        assert!(has(&m, |a| *a == Anomaly::BadVersion));
        assert_eq!(m.status(), Some(200));
        let m = parse(b"INVITE sip:a@b sip/2.0\r\n\r\n");
        assert!(!has(&m, |a| *a == Anomaly::BadVersion));
    }

    #[test]
    fn status_codes_that_are_not_three_digits() {
        let m = parse(b"SIP/2.0 2000 OK\r\n\r\n");
        assert!(has(&m, |a| *a == Anomaly::BadStatusCode));
        assert_eq!(m.status(), Some(2000));
        let m = parse(b"SIP/2.0 99 Low\r\n\r\n");
        assert!(has(&m, |a| *a == Anomaly::BadStatusCode));
        assert_eq!(m.status(), Some(99));
        let m = parse(b"SIP/2.0 abc Nope\r\n\r\n");
        assert!(has(&m, |a| *a == Anomaly::BadStatusCode));
        assert!(matches!(
            m.start,
            StartLine::Invalid {
                line: b"SIP/2.0 abc Nope"
            }
        ));
        let m = parse(b"SIP/2.0 99999999 Big\r\n\r\n");
        assert!(matches!(m.start, StartLine::Invalid { .. }));
    }

    #[test]
    fn invalid_start_line_is_still_a_message() {
        let m = parse(b"hello\r\nCall-ID: x\r\n\r\nbody");
        assert!(matches!(m.start, StartLine::Invalid { line: b"hello" }));
        assert!(has(&m, |a| *a == Anomaly::InvalidStartLine));
        assert_eq!(m.call_id(), Some(&b"x"[..]));
        assert_eq!(m.body(), b"body");
    }

    #[test]
    fn missing_mandatory_headers_each_reported() {
        let m = parse(b"BYE sip:a@b SIP/2.0\r\nCall-ID: x\r\n\r\n");
        let missing: Vec<HeaderName> = m
            .anomalies()
            .iter()
            .filter_map(|a| match a {
                Anomaly::MissingHeader(h) => Some(*h),
                _ => None,
            })
            .collect();
        assert_eq!(
            missing,
            vec![
                HeaderName::Via,
                HeaderName::From,
                HeaderName::To,
                HeaderName::CSeq
            ]
        );
    }

    #[test]
    fn conflicting_content_length_uses_first() {
        let raw = request(
            "Content-Length: 3\r\nl: 5\r\nContent-Length: 3\r\n",
            "abcde",
        );
        let m = parse(&raw);
        let conflicts: Vec<_> = m
            .anomalies()
            .iter()
            .filter(|a| matches!(a, Anomaly::ConflictingContentLength { .. }))
            .collect();
        assert_eq!(
            conflicts,
            vec![&Anomaly::ConflictingContentLength { first: 3, other: 5 }]
        );
        assert_eq!(m.content_length(), Some(3));
        assert_eq!(m.body(), b"abc");
    }

    #[test]
    fn body_shorter_than_content_length_is_clipped() {
        let raw = request("Content-Length: 10\r\n", "abc");
        let m = parse(&raw);
        assert!(has(&m, |a| *a
            == Anomaly::BodyShorterThanContentLength {
                declared: 10,
                actual: 3
            }));
        assert_eq!(m.body(), b"abc");
    }

    #[test]
    fn body_longer_than_content_length_is_cut() {
        let raw = request("Content-Length: 2\r\n", "abcdef");
        let m = parse(&raw);
        assert!(has(&m, |a| *a
            == Anomaly::BodyLongerThanContentLength {
                declared: 2,
                actual: 6
            }));
        assert_eq!(m.body(), b"ab");
    }

    #[test]
    fn missing_or_bad_content_length_takes_the_rest() {
        let raw = request("", "xyz");
        let m = parse(&raw);
        assert_eq!(m.content_length(), None);
        assert_eq!(m.body(), b"xyz");
        assert!(m.anomalies().is_empty());
        let raw = request("Content-Length: ten\r\n", "xyz");
        let m = parse(&raw);
        assert!(has(&m, |a| *a == Anomaly::BadContentLength));
        assert_eq!(m.body(), b"xyz");
    }

    #[test]
    fn four_gigabyte_content_length_does_not_overflow() {
        let raw = request("Content-Length: 4294967296\r\n", "abc");
        let m = parse(&raw);
        assert_eq!(m.content_length(), Some(4_294_967_296));
        assert_eq!(m.body(), b"abc");
        assert!(has(&m, |a| *a
            == Anomaly::BodyShorterThanContentLength {
                declared: 4_294_967_296,
                actual: 3
            }));
        let huge = request("Content-Length: 18446744073709551616\r\n", "abc");
        let m = parse(&huge);
        assert!(has(&m, |a| *a == Anomaly::BadContentLength));
    }

    #[test]
    fn truncated_message_without_header_end() {
        let full = request("Content-Length: 0\r\n", "");
        let cut = &full[..full.len() - 2];
        let m = parse(cut);
        assert!(has(&m, |a| *a == Anomaly::NoHeaderEnd));
        assert_eq!(m.body(), b"");
        assert_eq!(m.content_length(), Some(0));
        // Cut in the middle of a header line: the partial header is still read.
        let at = full.windows(7).position(|w| w == b"Call-ID").unwrap() + 11;
        let m = parse(&full[..at]);
        assert_eq!(m.call_id(), Some(&b"c1"[..]));
        assert!(has(&m, |a| *a == Anomaly::MissingHeader(HeaderName::CSeq)));
    }

    #[test]
    fn cseq_method_mismatch_and_bad_cseq() {
        let m = parse(b"BYE sip:a@b SIP/2.0\r\nCSeq: 2 INVITE\r\n\r\n");
        assert!(has(&m, |a| *a == Anomaly::CSeqMethodMismatch));
        let m = parse(b"BYE sip:a@b SIP/2.0\r\nCSeq: two BYE\r\n\r\n");
        assert!(has(&m, |a| *a == Anomaly::BadCSeq));
        assert_eq!(m.cseq(), None);
        // Responses carry the method of the request they answer: no comparison.
        let m = parse(b"SIP/2.0 200 OK\r\nCSeq: 2 INVITE\r\n\r\n");
        assert!(!has(&m, |a| *a == Anomaly::CSeqMethodMismatch));
    }

    #[test]
    fn huge_header_count_is_capped() {
        let extra = "X-A: 1\r\n".repeat(MAX_HEADERS + 10);
        let raw = request(&extra, "tail");
        let m = parse(&raw);
        assert_eq!(m.header_count(), MAX_HEADERS);
        // 5 headers from the template + MAX_HEADERS + 10 extra, MAX_HEADERS stored.
        assert!(has(&m, |a| *a == Anomaly::TooManyHeaders { dropped: 15 }));
        assert_eq!(m.body(), b"tail");
    }

    #[test]
    fn anomalies_are_capped() {
        let junk = "junk\r\n".repeat(500);
        let raw = request(&junk, "");
        let m = parse(&raw);
        assert_eq!(m.anomalies().len(), MAX_ANOMALIES);
        assert_eq!(m.anomalies().last(), Some(&Anomaly::AnomaliesCapped));
    }

    #[test]
    fn leading_blank_lines_and_empty_input() {
        let mut raw = b"\r\n\r\n".to_vec();
        raw.extend_from_slice(RESPONSE);
        let m = parse(&raw);
        assert_eq!(m.anomalies(), &[Anomaly::LeadingBlankLines]);
        assert_eq!(m.status(), Some(401));
        let m = parse(b"");
        assert_eq!(m.anomalies(), &[Anomaly::Empty]);
        assert!(matches!(m.start, StartLine::Invalid { line: b"" }));
        let m = parse(b"\r\n\r\n");
        assert!(has(&m, |a| *a == Anomaly::Empty));
    }

    #[test]
    fn scratch_is_reused() {
        let m = parse(INVITE);
        let scratch = m.into_scratch();
        let m = parse_with(RESPONSE, scratch);
        assert_eq!(m.status(), Some(401));
        assert_eq!(m.header_count(), 8);
        assert!(m.anomalies().is_empty());
    }

    #[test]
    fn anomaly_codes_are_distinct() {
        let all = [
            Anomaly::Empty,
            Anomaly::LeadingBlankLines,
            Anomaly::InvalidStartLine,
            Anomaly::UnknownMethod,
            Anomaly::MissingVersion,
            Anomaly::BadVersion,
            Anomaly::BadStatusCode,
            Anomaly::LfLineEndings,
            Anomaly::MixedLineEndings,
            Anomaly::FoldedHeader { offset: 0 },
            Anomaly::JunkHeaderLine { offset: 0 },
            Anomaly::EmptyHeaderName { offset: 0 },
            Anomaly::NonUtf8 { offset: 0 },
            Anomaly::TooManyHeaders { dropped: 0 },
            Anomaly::MissingHeader(HeaderName::Via),
            Anomaly::BadCSeq,
            Anomaly::CSeqMethodMismatch,
            Anomaly::BadContentLength,
            Anomaly::ConflictingContentLength { first: 0, other: 1 },
            Anomaly::BodyShorterThanContentLength {
                declared: 0,
                actual: 0,
            },
            Anomaly::BodyLongerThanContentLength {
                declared: 0,
                actual: 0,
            },
            Anomaly::NoHeaderEnd,
            Anomaly::AnomaliesCapped,
        ];
        let mut codes: Vec<_> = all.iter().map(Anomaly::code).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), all.len());
        assert!(all.iter().all(|a| !a.to_string().is_empty()));
    }

    /// The parser as it was before the header walk searched colons and line ends with SSE2
    /// and noted the checked headers on the way: one line search per line, a byte loop for
    /// the colon, a second walk over the entries for the checks. Kept to compare against.
    mod reference {
        use super::super::*;

        struct Parser<'a> {
            raw: &'a [u8],
            entries: Vec<Entry>,
            anomalies: Vec<Anomaly>,
            saw_crlf: bool,
            saw_lf: bool,
        }

        pub(super) fn parse(raw: &[u8]) -> Message<'_> {
            Parser {
                raw,
                entries: Vec::new(),
                anomalies: Vec::new(),
                saw_crlf: false,
                saw_lf: false,
            }
            .run()
        }

        impl<'a> Parser<'a> {
            fn note(&mut self, a: Anomaly) {
                let n = self.anomalies.len();
                if n + 1 < MAX_ANOMALIES {
                    self.anomalies.push(a);
                } else if n + 1 == MAX_ANOMALIES {
                    self.anomalies.push(Anomaly::AnomaliesCapped);
                }
            }

            fn line(&mut self, pos: usize, limit: usize) -> Line {
                let hay = self.raw.get(pos..limit).unwrap_or(&[]);
                match hay.iter().position(|&b| b == b'\n') {
                    Some(i) => {
                        let nl = pos + i;
                        let cr = i > 0 && hay.get(i - 1) == Some(&b'\r');
                        if cr {
                            self.saw_crlf = true;
                        } else {
                            self.saw_lf = true;
                        }
                        Line {
                            start: pos,
                            end: if cr { nl - 1 } else { nl },
                            next: nl + 1,
                        }
                    }
                    None => {
                        let end = if hay.last() == Some(&b'\r') {
                            limit - 1
                        } else {
                            limit
                        };
                        Line {
                            start: pos,
                            end,
                            next: limit,
                        }
                    }
                }
            }

            fn bytes(&self, start: usize, end: usize) -> &'a [u8] {
                self.raw.get(start..end).unwrap_or(&[])
            }

            fn run(mut self) -> Message<'a> {
                let raw = self.raw;
                let limit = raw.len().min(u32::MAX as usize);
                let mut pos = raw
                    .iter()
                    .take(limit)
                    .take_while(|&&b| b == b'\r' || b == b'\n')
                    .count();
                if pos > 0 {
                    self.note(Anomaly::LeadingBlankLines);
                }
                if pos >= limit {
                    self.note(Anomaly::Empty);
                    return Message {
                        raw,
                        start: StartLine::Invalid { line: &[] },
                        entries: self.entries,
                        anomalies: self.anomalies,
                        head_end: raw.len(),
                        body: raw.len()..raw.len(),
                        content_length: None,
                        cseq: None,
                        head_text: std::str::from_utf8(raw).ok(),
                    };
                }
                let first = self.line(pos, limit);
                let start =
                    any_start_line(self.bytes(first.start, first.end), &mut |a| self.note(a));
                pos = first.next;

                let mut head_end = limit;
                let mut body_start = None;
                let mut dropped = 0usize;
                let mut can_continue = false;
                while pos < limit {
                    let line = self.line(pos, limit);
                    pos = line.next;
                    let text = self.bytes(line.start, line.end);
                    let Some(&first_byte) = text.first() else {
                        head_end = line.start;
                        body_start = Some(line.next);
                        break;
                    };
                    if is_wsp(first_byte) {
                        let Some(lead) = text.iter().position(|&b| !is_wsp(b)) else {
                            continue;
                        };
                        let content_end = line.start
                            + text.iter().rposition(|&b| !is_wsp(b)).map_or(0, |p| p + 1);
                        let content_start = line.start + lead;
                        match self.entries.last_mut() {
                            Some(e) if can_continue => {
                                if e.value.0 == e.value.1 {
                                    e.value.0 = to_u32(content_start);
                                }
                                e.value.1 = to_u32(content_end);
                                e.folded = true;
                                self.note(Anomaly::FoldedHeader { offset: line.start });
                            }
                            _ if dropped > 0 => {}
                            _ => self.note(Anomaly::JunkHeaderLine { offset: line.start }),
                        }
                        continue;
                    }
                    let Some(colon) = text.iter().position(|&b| b == b':') else {
                        self.note(Anomaly::JunkHeaderLine { offset: line.start });
                        can_continue = false;
                        continue;
                    };
                    let name_end = text
                        .get(..colon)
                        .and_then(|n| n.iter().rposition(|&b| !is_wsp(b)))
                        .map_or(0, |p| p + 1);
                    if name_end == 0 {
                        self.note(Anomaly::EmptyHeaderName { offset: line.start });
                    }
                    let after = text.get(colon + 1..).unwrap_or(&[]);
                    let (v_start, v_end) = match after.iter().position(|&b| !is_wsp(b)) {
                        Some(l) => {
                            let tail = after.iter().rposition(|&b| !is_wsp(b)).map_or(l, |p| p + 1);
                            (line.start + colon + 1 + l, line.start + colon + 1 + tail)
                        }
                        None => (line.end, line.end),
                    };
                    if self.entries.len() >= MAX_HEADERS {
                        dropped += 1;
                        can_continue = false;
                        continue;
                    }
                    let name = text.get(..name_end).unwrap_or(&[]);
                    self.entries.push(Entry {
                        name: (to_u32(line.start), to_u32(line.start + name_end)),
                        value: (to_u32(v_start), to_u32(v_end)),
                        id: HeaderName::from_bytes(name),
                        folded: false,
                    });
                    can_continue = true;
                }

                if body_start.is_none() {
                    self.note(Anomaly::NoHeaderEnd);
                }
                match (self.saw_crlf, self.saw_lf) {
                    (false, true) => self.note(Anomaly::LfLineEndings),
                    (true, true) => self.note(Anomaly::MixedLineEndings),
                    _ => {}
                }
                if dropped > 0 {
                    self.note(Anomaly::TooManyHeaders { dropped });
                }
                let head_text = match std::str::from_utf8(self.bytes(0, head_end)) {
                    Ok(s) => Some(s),
                    Err(e) => {
                        self.note(Anomaly::NonUtf8 {
                            offset: e.valid_up_to(),
                        });
                        None
                    }
                };
                let (content_length, cseq) = self.check_headers(&start);
                let body = self.body_range(body_start, content_length);
                Message {
                    raw,
                    start,
                    entries: self.entries,
                    anomalies: self.anomalies,
                    head_end,
                    body,
                    content_length,
                    cseq,
                    head_text,
                }
            }

            fn check_headers(
                &mut self,
                start: &StartLine<'a>,
            ) -> (Option<u64>, Option<(u32, Method<'a>)>) {
                let mut seen = [false; 5];
                let mut content_length: Option<u64> = None;
                let mut cseq: Option<&'a [u8]> = None;
                for i in 0..self.entries.len() {
                    let Some(e) = self.entries.get(i).copied() else {
                        break;
                    };
                    if let Some(slot) = MANDATORY.iter().position(|&m| m == e.id) {
                        if let Some(s) = seen.get_mut(slot) {
                            *s = true;
                        }
                    }
                    let value = self.bytes(e.value.0 as usize, e.value.1 as usize);
                    match e.id {
                        HeaderName::ContentLength => match parse_u64(trim_lws(value)) {
                            Some(n) => match content_length {
                                None => content_length = Some(n),
                                Some(first) if first != n => {
                                    self.note(Anomaly::ConflictingContentLength { first, other: n })
                                }
                                Some(_) => {}
                            },
                            None => self.note(Anomaly::BadContentLength),
                        },
                        HeaderName::CSeq if cseq.is_none() => cseq = Some(value),
                        _ => {}
                    }
                }
                for (m, s) in MANDATORY.iter().zip(seen) {
                    if !s {
                        self.note(Anomaly::MissingHeader(*m));
                    }
                }
                let cseq = cseq.and_then(|value| {
                    let parsed = any_cseq(value);
                    match parsed {
                        None => self.note(Anomaly::BadCSeq),
                        Some((_, m)) => {
                            if let StartLine::Request { method, .. } = start {
                                if m != *method {
                                    self.note(Anomaly::CSeqMethodMismatch);
                                }
                            }
                        }
                    }
                    parsed
                });
                (content_length, cseq)
            }

            fn body_range(
                &mut self,
                body_start: Option<usize>,
                declared: Option<u64>,
            ) -> Range<usize> {
                let len = self.raw.len();
                let Some(start) = body_start else {
                    return len..len;
                };
                let start = start.min(len);
                let actual = len - start;
                let Some(declared) = declared else {
                    return start..len;
                };
                let actual64 = actual as u64;
                if declared > actual64 {
                    self.note(Anomaly::BodyShorterThanContentLength {
                        declared,
                        actual: actual64,
                    });
                    start..len
                } else if declared < actual64 {
                    self.note(Anomaly::BodyLongerThanContentLength {
                        declared,
                        actual: actual64,
                    });
                    start..start.saturating_add(usize::try_from(declared).unwrap_or(actual))
                } else {
                    start..len
                }
            }
        }
    }

    /// Everything two parses of the same bytes hold is the same.
    fn assert_same_parse(raw: &[u8]) {
        let new = parse(raw);
        let old = reference::parse(raw);
        let what = String::from_utf8_lossy(raw);
        assert_eq!(new.start, old.start, "{what:?}");
        assert_eq!(new.anomalies, old.anomalies, "{what:?}");
        assert_eq!(new.entries.len(), old.entries.len(), "{what:?}");
        for (a, b) in new.entries.iter().zip(&old.entries) {
            assert_eq!(
                (a.name, a.value, a.id, a.folded),
                (b.name, b.value, b.id, b.folded),
                "{what:?}"
            );
        }
        assert_eq!(new.head_end, old.head_end, "{what:?}");
        assert_eq!(new.body, old.body, "{what:?}");
        assert_eq!(new.content_length, old.content_length, "{what:?}");
        assert_eq!(new.cseq, old.cseq, "{what:?}");
        assert_eq!(new.head_text, old.head_text, "{what:?}");
        // The scanner's walks answer as the reference parser does.
        assert_eq!(super::super::scan::call_id(raw), old.call_id(), "{what:?}");
        if let Some(c) = super::super::scan::clean(raw) {
            assert!(old.anomalies.is_empty(), "{what:?}");
            assert_eq!((c.start, c.call_id), (old.start, old.call_id()), "{what:?}");
        }
    }

    /// The header walk reads every line as the reference does: line ends (CRLF, LF, a CR
    /// alone, none at the end), folds, junk, empty names, whitespace around names and
    /// values, colons in values, long lines, header counts at the cap, Content-Length and
    /// CSeq cases.
    #[test]
    fn header_walk_matches_the_reference() {
        let long = "x".repeat(200);
        let many = "X-A: 1\r\n".repeat(MAX_HEADERS + 3);
        let cases: Vec<Vec<u8>> =
            vec![
            INVITE.to_vec(),
            RESPONSE.to_vec(),
            request("", ""),
            request("Subject:\r\n", ""),
            request("Subject:   \r\n", ""),
            request("Subject :\t value \t\r\n", ""),
            request(" \t\r\n", ""),
            request("Subject:\r\n folded\r\n\tmore\r\n", ""),
            request("Subject: a\r\n  \r\n b\r\n", ""),
            request("junk\r\n folded junk\r\n", ""),
            request(": empty\r\n :x\r\n", ""),
            request("\tstarts with tab\r\n", ""),
            request("X-Colons: sip:a@[2001:db8::1]:5060\r\n", ""),
            request(&format!("X-Long: {long}\r\n"), ""),
            request(&format!("X-Long{long}: v\r\n"), ""),
            request(&format!("X-Long: {long}\r\n folded {long}\r\n"), ""),
            request("Content-Length: 3\r\nl: 5\r\nContent-Length: 3\r\n", "abcde"),
            request("Content-Length: 3\r\n  \r\n", "abc"),
            request("Content-Length:\r\n 3\r\n", "abc"),
            request("l: x\r\nContent-Length: 2\r\n", "abc"),
            request("CSeq: 2 OPTIONS\r\n", ""),
            request("\rX: cr first\r\n", ""),
            request("X: cr inside\r\r\n", ""),
            request("X: caf\u{e9}\r\n", ""),
            request(&many, "tail"),
            b"OPTIONS sip:a SIP/2.0\nVia: v\nFrom: f\nTo: t\nCall-ID: c\nCSeq: 1 OPTIONS\n\nbody"
                .to_vec(),
            b"OPTIONS sip:a SIP/2.0\r\nVia: v\nFrom: f\r\n\nbody".to_vec(),
            b"SIP/2.0 200 OK\r\nCall-ID: x\r\nCSeq: 1 INVITE\r".to_vec(),
            b"SIP/2.0 200 OK\r\nCall-ID: x\r\nCSeq:".to_vec(),
            b"SIP/2.0 200 OK\r\nCall-ID: x\r\nCSeq".to_vec(),
            b"SIP/2.0 200 OK\r\nCall-ID: x\r\n ".to_vec(),
            b"SIP/2.0 200 OK\r\nCall-ID: x\r\n\r".to_vec(),
            b"SIP/2.0 200 OK\r\nCall-ID: x\n\r\nbody".to_vec(),
            b"SIP/2.0 200 OK\r\n\r\n".to_vec(),
            b"SIP/2.0 200 OK".to_vec(),
            b"SIP/2.0 200 OK\r".to_vec(),
            b"\r\n\r\nSIP/2.0 200 OK\r\nTo: t\r\n\r\n".to_vec(),
            b"\r\n".to_vec(),
            Vec::new(),
            b":\r\n:\r\n\r\n".to_vec(),
            b"x\n:\n \n".to_vec(),
        ];
        for raw in &cases {
            assert_same_parse(raw);
            // Every cut of it too: lines end anywhere.
            for cut in 0..raw.len().min(400) {
                assert_same_parse(&raw[..cut]);
            }
        }
    }

    /// Random edits of real messages and random bytes, over an alphabet rich in what the
    /// walk looks at, parse as the reference parses them.
    #[test]
    fn mutations_match_the_reference() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let alphabet = b"\r\n\r\n :\t;,<>\"[]@=/\xff\xe90123456789SIPsipCcLl-";
        for base in [INVITE, RESPONSE] {
            for _ in 0..3000 {
                let mut m = base.to_vec();
                let edits = (next(&mut state) % 12) as usize + 1;
                for _ in 0..edits {
                    let at = (next(&mut state) as usize) % m.len();
                    let pick = (next(&mut state) as usize) % alphabet.len();
                    match next(&mut state) % 3 {
                        0 => m[at] = alphabet[pick],
                        1 => m.insert(at, alphabet[pick]),
                        _ => {
                            m.remove(at);
                        }
                    }
                }
                assert_same_parse(&m);
            }
        }
        for len in [1usize, 3, 17, 80, 700] {
            for _ in 0..300 {
                let bytes: Vec<u8> = (0..len)
                    .map(|_| alphabet[(next(&mut state) as usize) % alphabet.len()])
                    .collect();
                assert_same_parse(&bytes);
            }
        }
    }

    /// The usual start lines are read as [`any_start_line`] reads them, without defects;
    /// others are left to it.
    #[test]
    fn usual_start_lines_are_the_parsers() {
        let read: &[&[u8]] = &[
            b"SIP/2.0 200 OK",
            b"SIP/2.0 180",
            b"SIP/2.0 486 Busy Here ",
            b"SIP/2.0 100  Trying\t",
            b"SIP/2.0 699 x",
            b"INVITE sip:bob@example.com;transport=tcp SIP/2.0",
            b"ACK tel:+123 SIP/2.0",
            b"UPDATE x SIP/2.0",
            b"SIP/2.0 200  ",
            b"SIP/2.0 200 \t OK \t",
            b"SIP/2.0 200 \rOK\r",
            b"SIP/2.0 200 ",
        ];
        let left: &[&[u8]] = &[
            b"SIP/2.0 099 Low",
            b"SIP/2.0 700 High",
            b"SIP/2.0 2000 Long",
            b"SIP/2.0 20",
            b"SIP/2.0 200\tOK",
            b"SIP/2.0  200 OK",
            b"sip/2.0 200 OK",
            b"SIP/2.1 200 OK",
            b"FOO sip:x SIP/2.0",
            b"invite sip:x SIP/2.0",
            b"INVITE  sip:x SIP/2.0",
            b"INVITE sip:x  SIP/2.0",
            b"INVITE sip:a\tb SIP/2.0",
            b"INVITE sip:x SIP/2.0 ",
            b"INVITE sip:x sip/2.0",
            b"INVITE sip:x",
            b"INVITE  SIP/2.0",
            b"INVITE SIP/2.0",
            b"",
        ];
        for line in read {
            let mut defects = Vec::new();
            let full = any_start_line(line, &mut |a| defects.push(a));
            assert_eq!(usual_start_line(line), Some(full), "{line:?}");
            assert!(defects.is_empty(), "{line:?}");
            // The same bytes, and the same place in the line (spans are taken from it).
            if let (
                Some(StartLine::Response { reason: usual, .. }),
                StartLine::Response { reason: any, .. },
            ) = (usual_start_line(line), full)
            {
                assert_eq!(usual.as_ptr_range(), any.as_ptr_range(), "{line:?}");
            }
        }
        for line in left {
            assert_eq!(usual_start_line(line), None, "{line:?}");
        }
    }

    /// The one-pass CSeq reading gives what [`any_cseq`] gives, or leaves the value to it.
    #[test]
    fn usual_cseq_is_any_cseq() {
        let cases: &[&[u8]] = &[
            b"1 INVITE",
            b"314159 INVITE",
            b"0 ACK",
            b"007 BYE",
            b"999999999 X-CUSTOM",
            b"4294967295 INVITE",
            b"4294967296 INVITE",
            b"1234567890 INVITE",
            b"1  INVITE",
            b"1\tINVITE",
            b"1 INVITE extra",
            b"1 INVITE ",
            b" 1 INVITE",
            b"1 INV\xffITE",
            b"1 INVITE\r\n\tx",
            b"1\r\n INVITE",
            b"1 ",
            b"1",
            b" INVITE",
            b"INVITE",
            b"-1 INVITE",
            b"1 INVITE\x01",
            b"1 INV\x7fITE",
            b"1 \x7f",
            b"1 ACK\x00",
            b"1 \xc3\xa9",
            b"1 X\tY",
            b"1 X-\x1f",
            b"",
        ];
        for v in cases {
            let usual = usual_cseq(v);
            if usual.is_some() {
                assert_eq!(usual, any_cseq(v), "{v:?}");
            }
            assert_eq!(parse_cseq(v), any_cseq(v), "{v:?}");
        }
        assert_eq!(usual_cseq(b"314159 INVITE"), Some((314159, Method::Invite)));
        assert_eq!(usual_cseq(b"1234567890 INVITE"), None);
        let mut state = 0x853c_49e6_748f_ea9bu64;
        let alphabet = b" \t\r\n0123456789INVTEACKxyz\xff\x7f\x01";
        for _ in 0..20_000 {
            let len = (next(&mut state) % 14) as usize;
            let v: Vec<u8> = (0..len)
                .map(|_| alphabet[(next(&mut state) as usize) % alphabet.len()])
                .collect();
            if let Some(u) = usual_cseq(&v) {
                assert_eq!(Some(u), any_cseq(&v), "{v:?}");
            }
            assert_eq!(parse_cseq(&v), any_cseq(&v), "{v:?}");
        }
    }

    /// Checks every slice a message hands out lies inside the input.
    fn assert_spans_inside(m: &Message<'_>) {
        let inside = |s: &[u8]| s.is_empty() || m.span_of(s).is_some();
        assert!(inside(m.body()));
        assert!(inside(m.head()));
        match m.start {
            StartLine::Request { uri, version, .. } => assert!(inside(uri) && inside(version)),
            StartLine::Response {
                version, reason, ..
            } => {
                assert!(inside(version) && inside(reason))
            }
            StartLine::Invalid { line } => assert!(inside(line)),
        }
        for h in m.all_headers() {
            assert!(inside(h.name) && inside(h.value));
            let _ = h.value_str();
        }
        for v in m.vias() {
            assert!(inside(v.host) && inside(v.params) && inside(v.transport));
        }
        for c in m.contacts() {
            assert!(inside(c.uri.raw) && inside(c.uri.host) && inside(c.params));
        }
        let _ = (m.cseq(), m.from(), m.to(), m.request_uri(), m.retry_after());
        // The text the parser keeps is the head, exactly when the head is UTF-8.
        assert_eq!(m.head_str(), std::str::from_utf8(m.head()).ok());
        let r = m.body_range();
        assert!(r.start <= r.end && r.end <= m.raw.len());
    }

    /// xorshift: deterministic pseudo-random bytes without a dependency.
    fn next(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    #[test]
    fn truncations_and_mutations_never_panic() {
        for base in [INVITE, RESPONSE] {
            for cut in 0..=base.len() {
                assert_spans_inside(&parse(&base[..cut]));
            }
        }
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let alphabet = b"\r\n :;,<>\"\\[]@=/\t\xff0123456789SIPsip";
        for _ in 0..3000 {
            let mut m = INVITE.to_vec();
            let edits = (next(&mut state) % 8) as usize + 1;
            for _ in 0..edits {
                let at = (next(&mut state) as usize) % m.len();
                let pick = (next(&mut state) as usize) % alphabet.len();
                match next(&mut state) % 3 {
                    0 => m[at] = alphabet[pick],
                    1 => m.insert(at, alphabet[pick]),
                    _ => {
                        m.remove(at);
                    }
                }
            }
            assert_spans_inside(&parse(&m));
        }
        for len in [1usize, 2, 7, 64, 600] {
            for _ in 0..200 {
                let bytes: Vec<u8> = (0..len).map(|_| next(&mut state) as u8).collect();
                assert_spans_inside(&parse(&bytes));
            }
        }
    }
}
