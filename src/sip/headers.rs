//! Header vocabulary and typed views of header values.
//!
//! Owns: canonical header names ([`HeaderName`], with RFC 3261 compact forms), request methods
//! ([`Method`]), and the small zero-copy value parsers the rest of sipscope reads headers with:
//! URIs ([`Uri`]), name-addr values ([`NameAddr`], for From/To/Contact/Route), Via values
//! ([`Via`]), `;name=value` parameters ([`Params`]) and comma-separated lists ([`CommaSplit`]).
//!
//! Everything here borrows from the message bytes and never fails: a value that does not parse
//! yields `None` or empty parts, never a panic. Values may still contain folded line breaks
//! (CRLF or LF followed by SP/HTAB); every parser here treats CR and LF as whitespace so folded
//! values read the same as unfolded ones.
//!
//! May use: std only.

use std::borrow::Cow;

/// Canonical identity of a header, independent of case and of compact forms.
///
/// `HeaderName::from_bytes(b"v")`, `(b"VIA")` and `(b"via")` all give [`HeaderName::Via`].
/// Headers sipscope has no use for are [`HeaderName::Other`]; their spelling stays available
/// on the header itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HeaderName {
    Via,
    From,
    To,
    CallId,
    CSeq,
    Contact,
    ContentLength,
    ContentType,
    MaxForwards,
    RecordRoute,
    Route,
    UserAgent,
    Server,
    Reason,
    Warning,
    RetryAfter,
    Authorization,
    WwwAuthenticate,
    ProxyAuthenticate,
    ProxyAuthorization,
    Event,
    Allow,
    Supported,
    Require,
    RSeq,
    RAck,
    Expires,
    ReferTo,
    PAssertedIdentity,
    Subject,
    ContentEncoding,
    AllowEvents,
    SessionExpires,
    Identity,
    ReferredBy,
    AcceptContact,
    Date,
    MinSe,
    MinExpires,
    Accept,
    ProxyRequire,
    Unsupported,
    Privacy,
    PPreferredIdentity,
    Replaces,
    ContentDisposition,
    SubscriptionState,
    Diversion,
    /// Any header not listed above.
    Other,
}

/// Every known spelling. `from_bytes` dispatches by hand for speed; the tests check it agrees
/// with this table, which `as_str` reads.
const NAMES: &[(&str, HeaderName)] = &[
    ("Accept", HeaderName::Accept),
    ("Accept-Contact", HeaderName::AcceptContact),
    ("Allow", HeaderName::Allow),
    ("Allow-Events", HeaderName::AllowEvents),
    ("Authorization", HeaderName::Authorization),
    ("Call-ID", HeaderName::CallId),
    ("Contact", HeaderName::Contact),
    ("Content-Disposition", HeaderName::ContentDisposition),
    ("Content-Encoding", HeaderName::ContentEncoding),
    ("Content-Length", HeaderName::ContentLength),
    ("Content-Type", HeaderName::ContentType),
    ("CSeq", HeaderName::CSeq),
    ("Date", HeaderName::Date),
    ("Diversion", HeaderName::Diversion),
    ("Event", HeaderName::Event),
    ("Expires", HeaderName::Expires),
    ("From", HeaderName::From),
    ("Identity", HeaderName::Identity),
    ("Max-Forwards", HeaderName::MaxForwards),
    ("Min-Expires", HeaderName::MinExpires),
    ("Min-SE", HeaderName::MinSe),
    ("P-Asserted-Identity", HeaderName::PAssertedIdentity),
    ("P-Preferred-Identity", HeaderName::PPreferredIdentity),
    ("Privacy", HeaderName::Privacy),
    ("Proxy-Authenticate", HeaderName::ProxyAuthenticate),
    ("Proxy-Authorization", HeaderName::ProxyAuthorization),
    ("Proxy-Require", HeaderName::ProxyRequire),
    ("RAck", HeaderName::RAck),
    ("Reason", HeaderName::Reason),
    ("Record-Route", HeaderName::RecordRoute),
    ("Refer-To", HeaderName::ReferTo),
    ("Referred-By", HeaderName::ReferredBy),
    ("Replaces", HeaderName::Replaces),
    ("Require", HeaderName::Require),
    ("Retry-After", HeaderName::RetryAfter),
    ("Route", HeaderName::Route),
    ("RSeq", HeaderName::RSeq),
    ("Server", HeaderName::Server),
    ("Session-Expires", HeaderName::SessionExpires),
    ("Subject", HeaderName::Subject),
    ("Subscription-State", HeaderName::SubscriptionState),
    ("Supported", HeaderName::Supported),
    ("To", HeaderName::To),
    ("Unsupported", HeaderName::Unsupported),
    ("User-Agent", HeaderName::UserAgent),
    ("Via", HeaderName::Via),
    ("Warning", HeaderName::Warning),
    ("WWW-Authenticate", HeaderName::WwwAuthenticate),
];

impl HeaderName {
    /// Canonical identity of a header name as written on the wire (case-insensitive; a single
    /// letter is read as an RFC 3261 / IANA compact form).
    pub fn from_bytes(name: &[u8]) -> HeaderName {
        // The name is read as at most three words and compared with each known name of its
        // length, most frequent first: a few integer compares a candidate, in any case (see
        // [`NameKey`]), where a byte-by-byte comparison costs two instructions a byte.
        // The words are read in each arm, where the length is known: the loads are fixed.
        macro_rules! pick {
            ($($spelling:literal => $id:ident),+) => {{
                let Some(w) = name_words(name) else {
                    return HeaderName::Other;
                };
                $(if const { name_key($spelling) }.matches(&w) {
                    return HeaderName::$id;
                })+
                HeaderName::Other
            }};
        }
        // The arms mirror `NAMES` (a test checks it).
        match name.len() {
            1 => Self::from_compact(name.first().copied().unwrap_or(0)),
            2 => pick!("To" => To),
            3 => pick!("Via" => Via),
            4 => {
                pick!("CSeq" => CSeq, "From" => From, "Date" => Date, "RAck" => RAck, "RSeq" => RSeq)
            }
            5 => pick!("Route" => Route, "Allow" => Allow, "Event" => Event),
            6 => {
                pick!("Server" => Server, "Reason" => Reason, "Accept" => Accept, "Min-SE" => MinSe)
            }
            7 => pick!(
                "Call-ID" => CallId,
                "Contact" => Contact,
                "Expires" => Expires,
                "Require" => Require,
                "Privacy" => Privacy,
                "Subject" => Subject,
                "Warning" => Warning
            ),
            8 => pick!("Identity" => Identity, "Refer-To" => ReferTo, "Replaces" => Replaces),
            9 => pick!("Supported" => Supported, "Diversion" => Diversion),
            10 => pick!("User-Agent" => UserAgent),
            11 => pick!(
                "Retry-After" => RetryAfter,
                "Min-Expires" => MinExpires,
                "Referred-By" => ReferredBy,
                "Unsupported" => Unsupported
            ),
            12 => pick!(
                "Max-Forwards" => MaxForwards,
                "Content-Type" => ContentType,
                "Record-Route" => RecordRoute,
                "Allow-Events" => AllowEvents
            ),
            13 => pick!("Authorization" => Authorization, "Proxy-Require" => ProxyRequire),
            14 => pick!("Content-Length" => ContentLength, "Accept-Contact" => AcceptContact),
            15 => pick!("Session-Expires" => SessionExpires),
            16 => {
                pick!("WWW-Authenticate" => WwwAuthenticate, "Content-Encoding" => ContentEncoding)
            }
            18 => pick!(
                "Proxy-Authenticate" => ProxyAuthenticate,
                "Subscription-State" => SubscriptionState
            ),
            19 => pick!(
                "P-Asserted-Identity" => PAssertedIdentity,
                "Content-Disposition" => ContentDisposition,
                "Proxy-Authorization" => ProxyAuthorization
            ),
            20 => pick!("P-Preferred-Identity" => PPreferredIdentity),
            _ => HeaderName::Other,
        }
    }

    /// The header a compact form (single letter, any case) stands for.
    pub fn from_compact(letter: u8) -> HeaderName {
        match letter.to_ascii_lowercase() {
            b'i' => HeaderName::CallId,
            b'f' => HeaderName::From,
            b't' => HeaderName::To,
            b'v' => HeaderName::Via,
            b'm' => HeaderName::Contact,
            b'l' => HeaderName::ContentLength,
            b'c' => HeaderName::ContentType,
            b'k' => HeaderName::Supported,
            b's' => HeaderName::Subject,
            b'e' => HeaderName::ContentEncoding,
            b'o' => HeaderName::Event,
            b'r' => HeaderName::ReferTo,
            b'u' => HeaderName::AllowEvents,
            b'x' => HeaderName::SessionExpires,
            b'y' => HeaderName::Identity,
            b'b' => HeaderName::ReferredBy,
            b'a' => HeaderName::AcceptContact,
            _ => HeaderName::Other,
        }
    }

    /// The usual full spelling (`"Call-ID"`, `"CSeq"`, `"WWW-Authenticate"`), or `"Other"`.
    pub fn as_str(self) -> &'static str {
        NAMES
            .iter()
            .find(|(_, id)| *id == self)
            .map_or("Other", |(n, _)| n)
    }
}

/// Where a name of `len` bytes is read as words by [`name_words`]: `(width, [start; 3])`, the
/// third word unused (width 0) below 17 bytes. Lengths 2 to 16: its first and its last
/// `width` bytes, the widest of 2, 4 or 8 that fits (the two overlap unless the length is
/// twice the width); 17 to 24: bytes 0..8, 8..16 and its last 8. `None` for other lengths.
const fn word_layout(len: usize) -> Option<(usize, [usize; 3], bool)> {
    match len {
        2..=3 => Some((2, [0, len - 2, 0], false)),
        4..=7 => Some((4, [0, len - 4, 0], false)),
        8..=16 => Some((8, [0, len - 8, 0], false)),
        17..=24 => Some((8, [0, 8, len - 8], true)),
        _ => None,
    }
}

/// A name's bytes as the words [`word_layout`] says (little-endian), each read in one load.
#[inline(always)]
fn name_words(name: &[u8]) -> Option<[u64; 3]> {
    fn w2(b: Option<&[u8; 2]>) -> u64 {
        b.map_or(0, |b| u64::from(u16::from_le_bytes(*b)))
    }
    fn w4(b: Option<&[u8; 4]>) -> u64 {
        b.map_or(0, |b| u64::from(u32::from_le_bytes(*b)))
    }
    fn w8(b: Option<&[u8; 8]>) -> u64 {
        b.map_or(0, |b| u64::from_le_bytes(*b))
    }
    Some(match name.len() {
        2..=3 => [w2(name.first_chunk()), w2(name.last_chunk()), 0],
        4..=7 => [w4(name.first_chunk()), w4(name.last_chunk()), 0],
        8..=16 => [w8(name.first_chunk()), w8(name.last_chunk()), 0],
        17..=24 => [
            w8(name.first_chunk()),
            w8(name.get(8..).and_then(<[u8]>::first_chunk)),
            w8(name.last_chunk()),
        ],
        _ => return None,
    })
}

/// A known header name as [`HeaderName::from_bytes`] compares it: its words (as
/// [`name_words`] reads them) in lower case, and in `fold` the bit 0x20 of each letter's
/// byte. A byte `b` at a letter's place matches when `b | 0x20` is the lower-case letter,
/// which holds for that letter in either case and for no other byte; any other byte (`-`)
/// must be equal. So `(word | fold) == lower` is `eq_ignore_ascii_case`.
#[derive(Clone, Copy)]
struct NameKey {
    lower: [u64; 3],
    fold: [u64; 3],
}

impl NameKey {
    #[inline(always)]
    fn matches(&self, w: &[u64; 3]) -> bool {
        (w[0] | self.fold[0]) == self.lower[0]
            && (w[1] | self.fold[1]) == self.lower[1]
            && (w[2] | self.fold[2]) == self.lower[2]
    }
}

/// The [`NameKey`] of a spelling (evaluated at compile time).
const fn name_key(spelling: &str) -> NameKey {
    let b = spelling.as_bytes();
    let Some((width, starts, third)) = word_layout(b.len()) else {
        panic!("a known name has 2 to 24 bytes");
    };
    let mut key = NameKey {
        lower: [0; 3],
        fold: [0; 3],
    };
    let mut k = 0;
    while k < if third { 3 } else { 2 } {
        let mut i = 0;
        while i < width {
            let c = b[starts[k] + i];
            let shift = 8 * i;
            key.lower[k] |= (c.to_ascii_lowercase() as u64) << shift;
            if c.is_ascii_alphabetic() {
                key.fold[k] |= 0x20 << shift;
            }
            i += 1;
        }
        k += 1;
    }
    key
}

/// A SIP request method. Methods are case-sensitive (RFC 3261 section 7.1), so `invite` or
/// `INVITE1` are kept as [`Method::Other`] with their exact spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method<'a> {
    Invite,
    Ack,
    Bye,
    Cancel,
    Register,
    Options,
    Prack,
    Subscribe,
    Notify,
    Publish,
    Info,
    Refer,
    Message,
    Update,
    /// Any other token, as written.
    Other(&'a str),
}

impl<'a> Method<'a> {
    /// Reads a method token. Returns `None` only when the bytes are not UTF-8 (a method must be
    /// a token, which is ASCII).
    pub fn from_bytes(token: &'a [u8]) -> Option<Method<'a>> {
        Some(match token {
            b"INVITE" => Method::Invite,
            b"ACK" => Method::Ack,
            b"BYE" => Method::Bye,
            b"CANCEL" => Method::Cancel,
            b"REGISTER" => Method::Register,
            b"OPTIONS" => Method::Options,
            b"PRACK" => Method::Prack,
            b"SUBSCRIBE" => Method::Subscribe,
            b"NOTIFY" => Method::Notify,
            b"PUBLISH" => Method::Publish,
            b"INFO" => Method::Info,
            b"REFER" => Method::Refer,
            b"MESSAGE" => Method::Message,
            b"UPDATE" => Method::Update,
            other => Method::Other(std::str::from_utf8(other).ok()?),
        })
    }

    /// The method as written on the wire.
    pub fn as_str(&self) -> &'a str {
        match self {
            Method::Invite => "INVITE",
            Method::Ack => "ACK",
            Method::Bye => "BYE",
            Method::Cancel => "CANCEL",
            Method::Register => "REGISTER",
            Method::Options => "OPTIONS",
            Method::Prack => "PRACK",
            Method::Subscribe => "SUBSCRIBE",
            Method::Notify => "NOTIFY",
            Method::Publish => "PUBLISH",
            Method::Info => "INFO",
            Method::Refer => "REFER",
            Method::Message => "MESSAGE",
            Method::Update => "UPDATE",
            Method::Other(s) => s,
        }
    }

    /// Whether this is one of the methods sipscope knows by name.
    pub fn is_known(&self) -> bool {
        !matches!(self, Method::Other(_))
    }
}

impl std::fmt::Display for Method<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

// ---------------------------------------------------------------------------------------------
// Byte helpers shared by the value parsers.

/// Linear whitespace as it can appear inside a (possibly folded) header value.
#[inline]
pub(crate) fn is_lws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// `s` without leading and trailing linear whitespace (folds included).
#[inline]
pub fn trim_lws(s: &[u8]) -> &[u8] {
    // Nearly every value has nothing to trim: two byte checks tell.
    if let (Some(&first), Some(&last)) = (s.first(), s.last()) {
        if !is_lws(first) && !is_lws(last) {
            return s;
        }
    }
    let start = s.iter().position(|&b| !is_lws(b)).unwrap_or(s.len());
    let end = s.iter().rposition(|&b| !is_lws(b)).map_or(start, |p| p + 1);
    s.get(start..end).unwrap_or(&[])
}

/// `s` without one pair of surrounding double quotes, if it has them.
fn unquote(s: &[u8]) -> &[u8] {
    if s.len() >= 2 && s.first() == Some(&b'"') && s.last() == Some(&b'"') {
        s.get(1..s.len() - 1).unwrap_or(s)
    } else {
        s
    }
}

/// Bytes as text for display: borrowed when valid UTF-8, otherwise with U+FFFD replacements.
pub fn lossy(s: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(s)
}

/// A header value with folds (line break + SP/HTAB) replaced by a single space, as RFC 3261
/// section 7.3.1 says a receiver should read it. Borrowed when there is no line break.
pub fn unfold(value: &[u8]) -> Cow<'_, [u8]> {
    if memchr::memchr2(b'\r', b'\n', value).is_none() {
        return Cow::Borrowed(value);
    }
    let mut out = Vec::with_capacity(value.len());
    let mut i = 0;
    while let Some(&b) = value.get(i) {
        if b == b'\r' || b == b'\n' {
            // Swallow the whole fold: line break(s) and the whitespace that follows.
            while value.get(i).is_some_and(|&c| is_lws(c)) {
                i += 1;
            }
            // Whitespace before the break was already copied; avoid doubling it.
            if out.last().is_some_and(|&c| c != b' ' && c != b'\t') {
                out.push(b' ');
            }
        } else {
            out.push(b);
            i += 1;
        }
    }
    Cow::Owned(out)
}

/// Scans `s` and returns the index of the first `target` byte that is outside double quotes
/// and outside `<...>`. Backslash escapes inside quotes are honoured. `target` is a separator
/// (`,` or `;`), never a quote or an angle bracket.
///
/// Every list element and every parameter is cut with this, several times per header: it
/// jumps from one byte that matters to the next with memchr instead of stepping through
/// every byte.
fn find_top_level(s: &[u8], target: u8) -> Option<usize> {
    let mut i = 0;
    let mut angle = false;
    loop {
        let rest = s.get(i..)?;
        let at = if angle {
            // Inside <...> only a quote or the closing bracket changes anything.
            memchr::memchr2(b'"', b'>', rest)?
        } else {
            memchr::memchr3(b'"', b'<', target, rest)?
        };
        let pos = i + at;
        match rest.get(at) {
            Some(b'"') => {
                // Skip the quoted string: up to the closing quote not escaped by a backslash.
                let mut j = pos + 1;
                loop {
                    let q = memchr::memchr2(b'"', b'\\', s.get(j..)?)?;
                    if s.get(j + q) == Some(&b'\\') {
                        j += q + 2;
                    } else {
                        j += q + 1;
                        break;
                    }
                }
                i = j;
            }
            Some(b'<') => {
                angle = true;
                i = pos + 1;
            }
            Some(b'>') => {
                angle = false;
                i = pos + 1;
            }
            _ => return Some(pos),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Short scans.
//
// Most searches here run over a few to a few dozen bytes (a host, a user, a parameter). memchr
// spends some forty instructions reaching its vector loop and steps byte by byte below sixteen
// bytes; a plain byte loop costs several instructions a byte. These read eight bytes a step in
// a `u64` instead and hand long inputs to memchr.

const LOW_BITS: u64 = 0x0101_0101_0101_0101;
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// Past this length memchr's vector loop wins.
const SHORT: usize = 48;

/// `b` in every byte of a word.
const fn splat(b: u8) -> u64 {
    LOW_BITS * b as u64
}

/// The high bit set in each byte of `w` that equals the byte `pat` repeats. A borrow can mark a
/// byte above a real match, never below one: the lowest mark is always a real match.
#[inline(always)]
fn marks(w: u64, pat: u64) -> u64 {
    let x = w ^ pat;
    x.wrapping_sub(LOW_BITS) & !x & HIGH_BITS
}

/// Index of the lowest byte `hits` marks in the word read at `base`.
#[inline(always)]
fn lowest(base: usize, hits: u64) -> usize {
    base + (hits.trailing_zeros() / 8) as usize
}

/// First index of a byte that `hit` marks (see [`marks`]), eight bytes a step.
#[inline(always)]
fn find_word(s: &[u8], hit: impl Fn(u64) -> u64) -> Option<usize> {
    let mut chunks = s.chunks_exact(8);
    let mut base = 0;
    for c in &mut chunks {
        let h = hit(u64::from_le_bytes(c.try_into().unwrap_or([0; 8])));
        if h != 0 {
            return Some(lowest(base, h));
        }
        base += 8;
    }
    let tail = chunks.remainder();
    if tail.is_empty() {
        return None;
    }
    if let Some(last) = s.len().checked_sub(8) {
        // The last eight bytes, overlapping ones already read: those hold no match (and, with
        // no match below them, no false mark either).
        let w = s
            .get(last..)
            .and_then(|l| l.try_into().ok())
            .map(u64::from_le_bytes)?;
        let h = hit(w);
        return (h != 0).then(|| lowest(last, h));
    }
    // Shorter than a word: zero padding above, and marks there are dropped.
    let w = tail
        .iter()
        .rev()
        .fold(0u64, |w, &b| (w << 8) | u64::from(b));
    let h = hit(w);
    let i = lowest(0, h);
    (h != 0 && i < tail.len()).then_some(i)
}

/// `memchr::memchr` for the short values of this module (`sip::find_byte` is memchr itself,
/// for the parser's and framing's longer searches).
#[inline]
fn find_short_byte(needle: u8, s: &[u8]) -> Option<usize> {
    if s.len() > SHORT {
        return memchr::memchr(needle, s);
    }
    let p = splat(needle);
    find_word(s, |w| marks(w, p))
}

// ---------------------------------------------------------------------------------------------
// Comma-separated lists.

/// Iterator over the elements of a comma-separated header value (Via, Contact, Route, ...).
/// Commas inside double quotes or inside `<...>` do not separate. Elements are trimmed; empty
/// elements (`a,,b`) are skipped.
#[derive(Debug, Clone)]
pub struct CommaSplit<'a> {
    rest: &'a [u8],
}

impl<'a> CommaSplit<'a> {
    pub fn new(value: &'a [u8]) -> Self {
        CommaSplit { rest: value }
    }
}

impl<'a> Iterator for CommaSplit<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        while !self.rest.is_empty() {
            let (item, rest) = match find_top_level(self.rest, b',') {
                Some(i) => (
                    self.rest.get(..i).unwrap_or(&[]),
                    self.rest.get(i + 1..).unwrap_or(&[]),
                ),
                None => (self.rest, &[][..]),
            };
            self.rest = rest;
            let item = trim_lws(item);
            if !item.is_empty() {
                return Some(item);
            }
        }
        None
    }
}

/// The URI of each element of a Contact, Route or Record-Route value: what [`CommaSplit`]
/// followed by [`NameAddr::uri_raw`] gives. An element written `<uri>` with no quote inside
/// the brackets, and no quote or `<` between them and the next comma, is read with two short
/// searches; any other goes through the general split.
#[derive(Debug, Clone)]
pub struct UriList<'a> {
    rest: &'a [u8],
}

impl<'a> UriList<'a> {
    pub fn new(value: &'a [u8]) -> Self {
        UriList { rest: value }
    }

    /// The first URI only: [`UriList::next`] without looking for where its element ends.
    pub fn first(value: &'a [u8]) -> Option<&'a [u8]> {
        match angle_uri(value) {
            Some((uri, _)) => Some(uri),
            None => CommaSplit::new(value).next().map(NameAddr::uri_raw),
        }
    }
}

/// For a value that starts (after whitespace) with `<` and has a `>` before any quote: the
/// URI between them, trimmed, and what follows the `>`. The first element of such a value
/// holds the whole bracket (a comma inside it does not separate), and its URI is this one.
fn angle_uri(value: &[u8]) -> Option<(&[u8], &[u8])> {
    let lead = value.iter().position(|&b| !is_lws(b))?;
    let t = value.get(lead..)?;
    let inner = t.strip_prefix(b"<")?;
    let gt = memchr::memchr2(b'"', b'>', inner)?;
    if inner.get(gt) != Some(&b'>') {
        return None;
    }
    Some((trim_lws(inner.get(..gt)?), inner.get(gt + 1..)?))
}

impl<'a> Iterator for UriList<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        if let Some((uri, after)) = angle_uri(self.rest) {
            // The element ends at the first comma after the bracket, when no quote or
            // bracket comes before it (the general split decides otherwise).
            match memchr::memchr3(b',', b'"', b'<', after) {
                None => {
                    self.rest = &[];
                    return Some(uri);
                }
                Some(c) if after.get(c) == Some(&b',') => {
                    self.rest = after.get(c + 1..).unwrap_or(&[]);
                    return Some(uri);
                }
                Some(_) => {}
            }
        }
        let mut split = CommaSplit::new(self.rest);
        let item = split.next();
        self.rest = split.rest;
        item.map(NameAddr::uri_raw)
    }
}

// ---------------------------------------------------------------------------------------------
// Parameters.

/// Iterator over `;name=value` parameters. Yields `(name, value)`; a flag parameter such as
/// `;lr` has `value == None`. Names and values are trimmed; surrounding quotes are removed
/// from values (escapes inside are left as written).
#[derive(Debug, Clone)]
pub struct Params<'a> {
    rest: &'a [u8],
}

impl<'a> Params<'a> {
    /// Parameters from a string holding them, with or without the leading `;`
    /// (`"tag=1;lr"` or `";tag=1;lr"`).
    pub fn new(params: &'a [u8]) -> Self {
        Params { rest: params }
    }

    /// First parameter called `name` (case-insensitive). `Some(b"")` for a flag parameter.
    pub fn get(&self, name: &str) -> Option<&'a [u8]> {
        self.clone()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v.unwrap_or(&[]))
    }

    /// Whether a parameter called `name` is present (with or without a value).
    pub fn has(&self, name: &str) -> bool {
        self.clone()
            .any(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
    }
}

impl<'a> Iterator for Params<'a> {
    type Item = (&'a [u8], Option<&'a [u8]>);
    fn next(&mut self) -> Option<Self::Item> {
        while !self.rest.is_empty() {
            let (item, rest) = match find_top_level(self.rest, b';') {
                Some(i) => (
                    self.rest.get(..i).unwrap_or(&[]),
                    self.rest.get(i + 1..).unwrap_or(&[]),
                ),
                None => (self.rest, &[][..]),
            };
            self.rest = rest;
            let item = trim_lws(item);
            if item.is_empty() {
                continue;
            }
            return Some(match memchr::memchr(b'=', item) {
                Some(eq) => (
                    trim_lws(item.get(..eq).unwrap_or(&[])),
                    Some(unquote(trim_lws(item.get(eq + 1..).unwrap_or(&[])))),
                ),
                None => (item, None),
            });
        }
        None
    }
}

/// The header parameters of one header value: those after the first `;` that is outside
/// quotes and `<...>`, up to the first such `,` (so on a list value, the first element's).
/// For `<sip:a@b;lr>;tag=1` that is `tag=1`; for `1800;refresher=uac` it is `refresher=uac`.
pub fn header_params(value: &[u8]) -> Params<'_> {
    let value = match find_top_level(value, b',') {
        Some(i) => value.get(..i).unwrap_or(&[]),
        None => value,
    };
    match find_top_level(value, b';') {
        Some(i) => Params::new(value.get(i + 1..).unwrap_or(&[])),
        None => Params::new(&[]),
    }
}

/// First header parameter `name` of a header value (see [`header_params`]); case-insensitive.
/// `Some(b"")` for a flag parameter such as `;lr`.
pub fn param<'a>(value: &'a [u8], name: &str) -> Option<&'a [u8]> {
    header_params(value).get(name)
}

/// The part of a value before its parameters, trimmed: `1800` for `1800;refresher=uac`,
/// `application/sdp` for `application/sdp; charset=x`.
pub fn value_without_params(value: &[u8]) -> &[u8] {
    match find_top_level(value, b';') {
        Some(i) => trim_lws(value.get(..i).unwrap_or(&[])),
        None => trim_lws(value),
    }
}

/// Leading decimal digits of `s` (after whitespace) as a number; `None` if there are none or
/// the number does not fit.
pub fn leading_u32(s: &[u8]) -> Option<u32> {
    let s = trim_lws(s);
    let digits = s.iter().take_while(|b| b.is_ascii_digit()).count();
    parse_u64(s.get(..digits)?).and_then(|n| u32::try_from(n).ok())
}

/// All-digit ASCII as a number; `None` on anything else or on overflow.
pub fn parse_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(n)
}

// ---------------------------------------------------------------------------------------------
// Host and port.

/// Splits `host[:port]` or `[v6]:port`. The host comes back without IPv6 brackets. A port that
/// is not a number in 0..=65535 reads as `None` (the host is kept).
fn split_hostport(s: &[u8]) -> (&[u8], Option<u16>) {
    let s = trim_lws(s);
    if s.first() == Some(&b'[') {
        if let Some(close) = memchr::memchr(b']', s) {
            let host = s.get(1..close).unwrap_or(&[]);
            let port = match s.get(close + 1..) {
                Some([b':', rest @ ..]) => parse_port(rest),
                _ => None,
            };
            return (host, port);
        }
        return (s.get(1..).unwrap_or(&[]), None);
    }
    let Some(c) = find_short_byte(b':', s) else {
        return (s, None);
    };
    let after = s.get(c + 1..).unwrap_or(&[]);
    match parse_port(after) {
        // A port read: digits only, so this was the only colon.
        Some(port) => (s.get(..c).unwrap_or(&[]), Some(port)),
        // More than one colon and no brackets: a bare IPv6 address, no port.
        None if find_short_byte(b':', after).is_some() => (s, None),
        None => (s.get(..c).unwrap_or(&[]), None),
    }
}

fn parse_port(s: &[u8]) -> Option<u16> {
    parse_u64(trim_lws(s)).and_then(|p| u16::try_from(p).ok())
}

// ---------------------------------------------------------------------------------------------
// URIs.

/// A SIP, SIPS or tel URI (RFC 3261 section 19.1, RFC 3966), split into borrowed parts.
///
/// Other schemes (and `*` in `Contact: *`) keep only `raw` and `scheme`. For `tel:` the number
/// is in `user` and `host` is empty. IPv6 hosts come without brackets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Uri<'a> {
    /// The whole URI as written (without `<>`).
    pub raw: &'a [u8],
    /// `sip`, `sips`, `tel`, ... as written (compare case-insensitively). Empty if none.
    pub scheme: &'a [u8],
    /// User part (before `@`), or the number of a tel URI.
    pub user: Option<&'a [u8]>,
    /// Password after `user:`, rare and deprecated but seen.
    pub password: Option<&'a [u8]>,
    /// Host name or address, IPv6 without brackets. Empty when unknown.
    pub host: &'a [u8],
    pub port: Option<u16>,
    /// URI parameters without the leading `;` (`transport=tcp;lr`). Read with [`Uri::param`].
    pub params: &'a [u8],
    /// URI headers after `?`, without the `?`.
    pub headers: &'a [u8],
}

impl<'a> Uri<'a> {
    /// Splits a URI. Never fails; unrecognised forms keep `raw` only.
    pub fn parse(raw: &'a [u8]) -> Uri<'a> {
        Uri::split(raw, true)
    }

    /// [`Uri::parse`] up to the user part: the `host`, `port` and `params` of a SIP URI stay
    /// empty. For callers that keep only the whole URI and its user (the From and To of every
    /// message), which saves the host and port scan.
    pub fn parse_user(raw: &'a [u8]) -> Uri<'a> {
        Uri::split(raw, false)
    }

    fn split(raw: &'a [u8], with_host: bool) -> Uri<'a> {
        let raw = trim_lws(raw);
        let mut uri = Uri {
            raw,
            scheme: &[],
            user: None,
            password: None,
            host: &[],
            port: None,
            params: &[],
            headers: &[],
        };
        let colon = match memchr::memchr(b':', raw) {
            Some(c) => c,
            None => return uri,
        };
        let scheme = raw.get(..colon).unwrap_or(&[]);
        if scheme.is_empty()
            || !scheme
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        {
            return uri;
        }
        uri.scheme = scheme;
        let rest = raw.get(colon + 1..).unwrap_or(&[]);
        let (rest, headers) = match memchr::memchr(b'?', rest) {
            Some(q) => (
                rest.get(..q).unwrap_or(&[]),
                rest.get(q + 1..).unwrap_or(&[]),
            ),
            None => (rest, &[][..]),
        };
        uri.headers = headers;
        if scheme.eq_ignore_ascii_case(b"tel") {
            let (number, params) = split_at_byte(rest, b';');
            uri.user = Some(number);
            uri.params = params;
            return uri;
        }
        if !(scheme.eq_ignore_ascii_case(b"sip") || scheme.eq_ignore_ascii_case(b"sips")) {
            return uri;
        }
        // The user part may itself hold ';' (user parameters), so look for '@' first.
        let hostpart = match memchr::memchr(b'@', rest) {
            Some(at) => {
                let userinfo = rest.get(..at).unwrap_or(&[]);
                let (user, password) = match memchr::memchr(b':', userinfo) {
                    Some(c) => (
                        userinfo.get(..c).unwrap_or(&[]),
                        Some(userinfo.get(c + 1..).unwrap_or(&[])),
                    ),
                    None => (userinfo, None),
                };
                uri.user = Some(user);
                uri.password = password;
                rest.get(at + 1..).unwrap_or(&[])
            }
            None => rest,
        };
        if !with_host {
            return uri;
        }
        let (hostport, params) = split_at_byte(hostpart, b';');
        let (host, port) = split_hostport(hostport);
        uri.host = host;
        uri.port = port;
        uri.params = params;
        uri
    }

    /// Whether the scheme is `sip` or `sips` (any case).
    pub fn is_sip(&self) -> bool {
        self.scheme.eq_ignore_ascii_case(b"sip") || self.scheme.eq_ignore_ascii_case(b"sips")
    }

    /// Whether the scheme is `tel` (any case).
    pub fn is_tel(&self) -> bool {
        self.scheme.eq_ignore_ascii_case(b"tel")
    }

    /// The URI parameters.
    pub fn params(&self) -> Params<'a> {
        Params::new(self.params)
    }

    /// URI parameter `name` (case-insensitive); `Some(b"")` for a flag such as `lr`.
    pub fn param(&self, name: &str) -> Option<&'a [u8]> {
        self.params().get(name)
    }

    /// The `transport=` parameter.
    pub fn transport(&self) -> Option<&'a [u8]> {
        self.param("transport")
    }

    /// Whether the `lr` (loose routing) flag is present.
    pub fn lr(&self) -> bool {
        self.params().has("lr")
    }

    /// The `user=` parameter (`phone` marks a telephone number in a SIP URI).
    pub fn user_param(&self) -> Option<&'a [u8]> {
        self.param("user")
    }
}

/// Splits at the first `sep`: (before, after), after empty when absent.
fn split_at_byte(s: &[u8], sep: u8) -> (&[u8], &[u8]) {
    match find_short_byte(sep, s) {
        Some(i) => (s.get(..i).unwrap_or(&[]), s.get(i + 1..).unwrap_or(&[])),
        None => (s, &[]),
    }
}

// ---------------------------------------------------------------------------------------------
// name-addr / addr-spec.

/// A From, To, Contact, Route, Record-Route, Refer-To, P-Asserted-Identity ... value:
/// optional display name, a URI, and header parameters.
///
/// In the `<...>` form, parameters inside the brackets belong to the URI and those after it to
/// the header. In the bare form (`sip:a@b;tag=1`) every `;` parameter belongs to the header
/// (RFC 3261 section 20.10), so the URI never has parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NameAddr<'a> {
    /// The whole value as written.
    pub raw: &'a [u8],
    /// Display name without surrounding quotes (escapes left as written); `None` if absent.
    pub display_name: Option<&'a [u8]>,
    pub uri: Uri<'a>,
    /// Header parameters without the leading `;` (`tag=abc;expires=60`).
    pub params: &'a [u8],
}

/// The parts of a name-addr or addr-spec value: the trimmed whole value, the display name, the
/// URI as written (untrimmed) and the header parameters. Shared by [`NameAddr::parse`] and
/// [`NameAddr::uri_raw`].
#[allow(clippy::type_complexity)]
fn split_name_addr(value: &[u8]) -> (&[u8], Option<&[u8]>, &[u8], &[u8]) {
    let raw = trim_lws(value);
    let mut display_name = None;
    let mut after_display = raw;
    if raw.first() == Some(&b'"') {
        // Quoted display name: find the closing quote, honouring backslash escapes.
        let mut escaped = false;
        let mut close = None;
        for (i, &b) in raw.iter().enumerate().skip(1) {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                close = Some(i);
                break;
            }
        }
        match close {
            Some(c) => {
                display_name = Some(raw.get(1..c).unwrap_or(&[]));
                after_display = raw.get(c + 1..).unwrap_or(&[]);
            }
            // Unclosed quote: everything is display name, there is no URI.
            None => return (raw, Some(raw.get(1..).unwrap_or(&[])), &[], &[]),
        }
    }
    match memchr::memchr(b'<', after_display) {
        Some(lt) => {
            if display_name.is_none() {
                let name = trim_lws(after_display.get(..lt).unwrap_or(&[]));
                if !name.is_empty() {
                    display_name = Some(name);
                }
            }
            let inner = after_display.get(lt + 1..).unwrap_or(&[]);
            let (uri, after) = match memchr::memchr(b'>', inner) {
                Some(gt) => (
                    inner.get(..gt).unwrap_or(&[]),
                    inner.get(gt + 1..).unwrap_or(&[]),
                ),
                None => (inner, &[][..]),
            };
            let params = match find_top_level(after, b';') {
                Some(i) => after.get(i + 1..).unwrap_or(&[]),
                None => &[],
            };
            (raw, display_name, uri, params)
        }
        None => {
            let spec = trim_lws(after_display);
            let (uri, params) = match find_top_level(spec, b';') {
                Some(i) => (
                    spec.get(..i).unwrap_or(&[]),
                    spec.get(i + 1..).unwrap_or(&[]),
                ),
                None => (spec, &[][..]),
            };
            (raw, display_name, uri, params)
        }
    }
}

impl<'a> NameAddr<'a> {
    /// Splits one name-addr or addr-spec value (one element of a list). Never fails.
    pub fn parse(value: &'a [u8]) -> NameAddr<'a> {
        let (raw, display_name, uri, params) = split_name_addr(value);
        NameAddr {
            raw,
            display_name,
            uri: Uri::parse(uri),
            params,
        }
    }

    /// [`NameAddr::parse`] with the URI read by [`Uri::parse_user`] (no host, port or URI
    /// parameters of a SIP URI).
    pub fn parse_user(value: &'a [u8]) -> NameAddr<'a> {
        let (raw, display_name, uri, params) = split_name_addr(value);
        NameAddr {
            raw,
            display_name,
            uri: Uri::parse_user(uri),
            params,
        }
    }

    /// The URI of a name-addr or addr-spec value as [`NameAddr::parse`] gives it in
    /// `uri.raw`, without splitting the URI into its parts (for callers that keep only the
    /// whole URI, such as Contact and Route lists).
    pub fn uri_raw(value: &'a [u8]) -> &'a [u8] {
        trim_lws(split_name_addr(value).2)
    }

    /// The header parameters.
    pub fn params(&self) -> Params<'a> {
        Params::new(self.params)
    }

    /// Header parameter `name` (case-insensitive); `Some(b"")` for a flag.
    pub fn param(&self, name: &str) -> Option<&'a [u8]> {
        self.params().get(name)
    }

    /// The `tag` parameter (From/To dialog identity).
    pub fn tag(&self) -> Option<&'a [u8]> {
        self.param("tag")
    }

    /// The `expires` parameter (Contact in REGISTER and its responses).
    pub fn expires(&self) -> Option<u32> {
        self.param("expires").and_then(leading_u32)
    }

    /// The display name as text, lossy.
    pub fn display_name_str(&self) -> Option<Cow<'a, str>> {
        self.display_name.map(lossy)
    }

    /// What the dialog model keeps of a From or To value: the same display name, URI, user
    /// and tag as [`NameAddr::parse_user`] followed by [`NameAddr::tag`] give, read in one
    /// pass for the usual `["name"] <uri>[;params]` shape (every message has two of these).
    /// Other shapes (bare addr-spec, escapes in the display name, quotes or brackets among
    /// the header parameters, a missing `>`) take the general path.
    pub fn party(value: &'a [u8]) -> PartyParts<'a> {
        party_fast(value).unwrap_or_else(|| {
            let na = NameAddr::parse_user(value);
            PartyParts {
                display_name: na.display_name,
                uri: na.uri.raw,
                user: na.uri.user,
                tag: na.tag(),
            }
        })
    }
}

/// The parts of a From or To value returned by [`NameAddr::party`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartyParts<'a> {
    /// As [`NameAddr::display_name`].
    pub display_name: Option<&'a [u8]>,
    /// As `uri.raw` of [`NameAddr::parse`].
    pub uri: &'a [u8],
    /// As `uri.user` of [`NameAddr::parse`].
    pub user: Option<&'a [u8]>,
    /// As [`NameAddr::tag`].
    pub tag: Option<&'a [u8]>,
}

/// [`NameAddr::party`] for the `["name"] <uri>[;params]` shape; `None` for anything else,
/// which the general path reads. Each step mirrors `split_name_addr`, `Uri::split` and
/// `Params` on the inputs it accepts.
fn party_fast(value: &[u8]) -> Option<PartyParts<'_>> {
    let raw = trim_lws(value);
    let (display_name, lt) = if raw.first() == Some(&b'"') {
        // Quoted display name without escapes; what lies between it and `<` is ignored, as
        // the general path does.
        let close = 1 + find_word(raw.get(1..)?, |w| {
            marks(w, splat(b'"')) | marks(w, splat(b'\\'))
        })?;
        if raw.get(close) != Some(&b'"') {
            return None;
        }
        let lt = close + 1 + raw.get(close + 1..)?.iter().position(|&b| b == b'<')?;
        (Some(raw.get(1..close)?), lt)
    } else {
        let lt = raw.iter().position(|&b| b == b'<')?;
        let name = trim_lws(raw.get(..lt)?);
        ((!name.is_empty()).then_some(name), lt)
    };
    let inner = raw.get(lt + 1..)?;
    let (gt, user) = match sip_user(inner) {
        Some(found) => found,
        None => {
            let gt = memchr::memchr(b'>', inner)?;
            (gt, uri_user(trim_lws(inner.get(..gt)?)))
        }
    };
    let uri = trim_lws(inner.get(..gt)?);
    let after = inner.get(gt + 1..)?;
    // Header parameters: only the bytes up to the end of the tag parameter matter (the
    // general path stops at the first `tag`). Without quotes or brackets among them,
    // top-level separators are plain ones and values carry no quotes to strip.
    let semi = after.iter().position(|&b| matches!(b, b';' | b'"' | b'<'));
    let tag = match semi {
        None => None,
        Some(i) if after.get(i) != Some(&b';') => return None,
        Some(i) => tag_param(after.get(i + 1..)?)?,
    };
    Some(PartyParts {
        display_name,
        uri,
        user,
        tag,
    })
}

/// For the inside of `<...>` starting `sip:` with a `@` or `>` before any `:` or `?`: where
/// the `>` is and the user [`uri_user`] finds (none when `>` comes first), from one scan
/// eight bytes a step. `None` for anything else, which [`uri_user`] reads.
#[inline]
fn sip_user(inner: &[u8]) -> Option<(usize, Option<&[u8]>)> {
    let rest = inner.strip_prefix(b"sip:")?;
    let stop = find_word(rest, |w| {
        marks(w, splat(b'@'))
            | marks(w, splat(b'>'))
            | marks(w, splat(b':'))
            | marks(w, splat(b'?'))
    })?;
    match rest.get(stop)? {
        b'>' => Some((4 + stop, None)),
        b'@' => {
            let after = rest.get(stop + 1..)?;
            let gt = find_short_byte(b'>', after)?;
            Some((4 + stop + 1 + gt, Some(rest.get(..stop)?)))
        }
        _ => None,
    }
}

/// The `tag` among header parameters (after the first `;`) as `Params::get` finds it, or
/// `None` (the outer option) when quotes or brackets before its end need the general path.
fn tag_param(params: &[u8]) -> Option<Option<&[u8]>> {
    // The usual case: `tag=value` comes first. One word compare reads the name in any case
    // (only the letters' case bit is folded), one word-at-a-time search finds the value's end.
    const TAG: u32 = u32::from_le_bytes(*b"tag=");
    const FOLD: u32 = u32::from_le_bytes([0x20, 0x20, 0x20, 0]);
    if params
        .get(..4)
        .and_then(|p| p.try_into().ok())
        .is_some_and(|p| u32::from_le_bytes(p) | FOLD == TAG)
    {
        let rest = params.get(4..)?;
        let end = find_word(rest, |w| {
            marks(w, splat(b';')) | marks(w, splat(b'"')) | marks(w, splat(b'<'))
        });
        let value = match end {
            None => rest,
            Some(e) if rest.get(e) == Some(&b';') => rest.get(..e)?,
            Some(_) => return None,
        };
        return Some(Some(trim_lws(value)));
    }
    for item in params.split(|&b| b == b';') {
        if item.iter().any(|&b| b == b'"' || b == b'<') {
            return None;
        }
        let item = trim_lws(item);
        let (name, v) = match item.iter().position(|&b| b == b'=') {
            Some(eq) => (trim_lws(item.get(..eq)?), trim_lws(item.get(eq + 1..)?)),
            None => (item, &[][..]),
        };
        if name.eq_ignore_ascii_case(b"tag") {
            return Some(Some(v));
        }
    }
    Some(None)
}

/// The `user` [`Uri::parse_user`] finds in a trimmed URI.
fn uri_user(uri: &[u8]) -> Option<&[u8]> {
    let (scheme, rest) = match uri.strip_prefix(b"sip:") {
        Some(rest) => (&b"sip"[..], rest),
        None => {
            let mut colon = None;
            for (i, &b) in uri.iter().enumerate() {
                if b == b':' {
                    colon = Some(i);
                    break;
                }
                if !(b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.')) {
                    return None;
                }
            }
            let colon = colon.filter(|&c| c > 0)?;
            (uri.get(..colon)?, uri.get(colon + 1..)?)
        }
    };
    if scheme.eq_ignore_ascii_case(b"tel") {
        let end = rest
            .iter()
            .position(|&b| b == b';' || b == b'?')
            .unwrap_or(rest.len());
        return rest.get(..end);
    }
    if !(scheme.eq_ignore_ascii_case(b"sip") || scheme.eq_ignore_ascii_case(b"sips")) {
        return None;
    }
    // The user part ends at the first `@`, unless URI headers (`?`) start before it; a `:`
    // before the `@` starts a password.
    let stop = memchr::memchr3(b'@', b'?', b':', rest)?;
    match rest.get(stop)? {
        b'@' => rest.get(..stop),
        b':' => {
            let at = stop + 1 + memchr::memchr2(b'@', b'?', rest.get(stop + 1..)?)?;
            (rest.get(at) == Some(&b'@')).then_some(rest.get(..stop)?)
        }
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Via.

/// One Via value: `SIP/2.0/UDP host:port;branch=...;received=...;rport=...`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Via<'a> {
    /// The whole value as written.
    pub raw: &'a [u8],
    /// Protocol name and version, normally `SIP` and `2.0`.
    pub protocol: &'a [u8],
    pub version: &'a [u8],
    /// `UDP`, `TCP`, `TLS`, `SCTP`, `WS`, `WSS` as written.
    pub transport: &'a [u8],
    /// sent-by host, IPv6 without brackets. Empty if missing.
    pub host: &'a [u8],
    pub port: Option<u16>,
    /// Parameters without the leading `;`.
    pub params: &'a [u8],
}

impl<'a> Via<'a> {
    /// Splits one Via value (one element of the comma list). Never fails.
    pub fn parse(value: &'a [u8]) -> Via<'a> {
        let raw = trim_lws(value);
        // sent-protocol: name LWS? "/" LWS? version LWS? "/" LWS? transport. Nearly every
        // Via starts `SIP/2.0/`, which needs no search.
        let (protocol, version, rest) = match raw.strip_prefix(b"SIP/2.0/") {
            // Slices of the value itself, like every other part.
            Some(rest) => (
                raw.get(..3).unwrap_or(&[]),
                raw.get(4..7).unwrap_or(&[]),
                rest,
            ),
            None => {
                let (protocol, rest) = split_at_byte(raw, b'/');
                let (version, rest) = split_at_byte(rest, b'/');
                (protocol, version, rest)
            }
        };
        let rest = trim_lws(rest);
        let t_end = rest.iter().position(|&b| is_lws(b) || b == b';');
        let (transport, rest) = match t_end {
            Some(e) => (rest.get(..e).unwrap_or(&[]), rest.get(e..).unwrap_or(&[])),
            None => (rest, &[][..]),
        };
        let (sent_by, params) = split_at_byte(rest, b';');
        let (host, port) = split_hostport(sent_by);
        Via {
            raw,
            protocol: trim_lws(protocol),
            version: trim_lws(version),
            transport,
            host,
            port,
            params,
        }
    }

    /// The parameters.
    pub fn params(&self) -> Params<'a> {
        Params::new(self.params)
    }

    /// Parameter `name` (case-insensitive); `Some(b"")` for a flag.
    pub fn param(&self, name: &str) -> Option<&'a [u8]> {
        self.params().get(name)
    }

    /// The `branch` parameter (transaction id; RFC 3261 ones start with `z9hG4bK`).
    pub fn branch(&self) -> Option<&'a [u8]> {
        self.param("branch")
    }

    /// The `received` parameter: the source address the next hop saw.
    pub fn received(&self) -> Option<&'a [u8]> {
        self.param("received")
    }

    /// The `rport` parameter (RFC 3581): `None` when absent, `Some(None)` for the bare flag
    /// a client sends, `Some(Some(port))` when a server filled it in.
    pub fn rport(&self) -> Option<Option<u16>> {
        self.param("rport").map(parse_port)
    }

    /// [`Via::branch`], [`Via::received`] and [`Via::rport`] from one walk over the
    /// parameters instead of one walk each (the first parameter of each name counts).
    pub fn hop_params(&self) -> ViaHopParams<'a> {
        let mut out = ViaHopParams::default();
        for (name, value) in self.params() {
            let value = value.unwrap_or(&[]);
            if out.branch.is_none() && name.eq_ignore_ascii_case(b"branch") {
                out.branch = Some(value);
            } else if out.received.is_none() && name.eq_ignore_ascii_case(b"received") {
                out.received = Some(value);
            } else if out.rport.is_none() && name.eq_ignore_ascii_case(b"rport") {
                out.rport = Some(parse_port(value));
            }
        }
        out
    }
}

/// A lower-case name of at most eight bytes as [`head_word`] reads it: the word, the bits that
/// fold the case of its letters (only theirs: `|0x20` would turn other bytes into `=`), and the
/// bytes it covers.
const fn name_word(name: &[u8]) -> (u64, u64, u64) {
    let (mut word, mut fold, mut i) = (0u64, 0u64, 0);
    while i < name.len() && i < 8 {
        word |= (name[i] as u64) << (8 * i);
        if name[i].is_ascii_alphabetic() {
            fold |= 0x20 << (8 * i);
        }
        i += 1;
    }
    let keep = if i == 8 {
        u64::MAX
    } else {
        (1u64 << (8 * i)) - 1
    };
    (word, fold, keep)
}

/// The first eight bytes of `s` as a little-endian word, zero-padded.
#[inline(always)]
fn head_word(s: &[u8]) -> u64 {
    match s.get(..8).and_then(|h| h.try_into().ok()) {
        Some(h) => u64::from_le_bytes(h),
        None => s.iter().rev().fold(0u64, |w, &b| (w << 8) | u64::from(b)),
    }
}

/// Whether a word from [`head_word`] of a value at least as long as `name` starts with it, in
/// any case.
#[inline(always)]
fn starts_with_word(w: u64, (word, fold, keep): (u64, u64, u64)) -> bool {
    (w | fold) & keep == word
}

/// [`Via::hop_params`] for parameters with no quote or `<` in them: then every `;` separates
/// and no value has quotes to strip, so plain splits read what [`Params`] reads.
fn plain_hop_params(mut rest: &[u8]) -> ViaHopParams<'_> {
    let mut out = ViaHopParams::default();
    while !rest.is_empty() {
        let (item, next) = split_at_byte(rest, b';');
        rest = next;
        hop_param(&mut out, trim_lws(item));
        if out.branch.is_some() && out.received.is_some() && out.rport.is_some() {
            break;
        }
    }
    out
}

/// Reads one trimmed Via parameter (no quote or `<` in it) into `out` when it is the first
/// `branch`, `received` or `rport`, as [`Params`] and [`Via::hop_params`] read it. The usual
/// `branch=`, `received=`, `rport=` and `rport` are told apart by a word compare.
#[inline(always)]
fn hop_param<'a>(out: &mut ViaHopParams<'a>, item: &'a [u8]) {
    const BRANCH: (u64, u64, u64) = name_word(b"branch=");
    const RECEIVED: (u64, u64, u64) = name_word(b"received");
    const RPORT: (u64, u64, u64) = name_word(b"rport=");
    const RPORT_FLAG: (u64, u64, u64) = name_word(b"rport");
    let w = head_word(item);
    let value = |from: usize| trim_lws(item.get(from..).unwrap_or(&[]));
    if item.len() >= 7 && starts_with_word(w, BRANCH) {
        out.branch = out.branch.or(Some(value(7)));
    } else if item.len() >= 9 && starts_with_word(w, RECEIVED) && item.get(8) == Some(&b'=') {
        out.received = out.received.or(Some(value(9)));
    } else if item.len() >= 6 && starts_with_word(w, RPORT) {
        out.rport = out.rport.or(Some(parse_port(value(6))));
    } else if item.len() == 5 && starts_with_word(w, RPORT_FLAG) {
        out.rport = out.rport.or(Some(None));
    } else {
        // Any other parameter, or one of these spelled with spaces around its `=`.
        let (name, value) = match find_short_byte(b'=', item) {
            Some(eq) => (
                trim_lws(item.get(..eq).unwrap_or(&[])),
                trim_lws(item.get(eq + 1..).unwrap_or(&[])),
            ),
            None => (item, &[][..]),
        };
        if name.eq_ignore_ascii_case(b"branch") {
            out.branch = out.branch.or(Some(value));
        } else if name.eq_ignore_ascii_case(b"received") {
            out.received = out.received.or(Some(value));
        } else if name.eq_ignore_ascii_case(b"rport") {
            out.rport = out.rport.or_else(|| Some(parse_port(value)));
        }
    }
}

// Byte classes of the one-walk Via read ([`usual_hop`]): the bytes that end a part. Bits, so
// that each step stops at the set it cares about (a `:` ends a host, not a parameter).
const V_LWS: u8 = 1;
const V_COMMA: u8 = 2;
const V_SEMI: u8 = 4;
const V_COLON: u8 = 8;
/// `"` or `<`: the general split decides what such a value holds.
const V_QUOTE: u8 = 16;
/// Not a byte: the end of the value.
const V_END: u8 = 32;

const V_CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    t[b' ' as usize] = V_LWS;
    t[b'\t' as usize] = V_LWS;
    t[b'\r' as usize] = V_LWS;
    t[b'\n' as usize] = V_LWS;
    t[b',' as usize] = V_COMMA;
    t[b';' as usize] = V_SEMI;
    t[b':' as usize] = V_COLON;
    t[b'"' as usize] = V_QUOTE;
    t[b'<' as usize] = V_QUOTE;
    t
};

/// The high bit set in each byte of `w` that may end a part of a Via value: every byte below
/// 0x2d (whitespace, controls, `"`, `,` and a few token bytes such as `+`, which the caller
/// tells apart) and `:`, `;`, `<`. Only the lowest mark needs to be exact (see [`marks`]).
#[inline(always)]
fn via_marks(w: u64) -> u64 {
    let low = w.wrapping_sub(splat(0x2d)) & !w & HIGH_BITS;
    // 0x39 < byte < 0x3d, on the low seven bits (no borrow crosses bytes) of bytes below 0x80.
    let x = w & !HIGH_BITS;
    let mid = splat(0x7f + 0x3d).wrapping_sub(x) & !w & x.wrapping_add(splat(0x7f - 0x39));
    low | (mid & HIGH_BITS)
}

/// The first byte at or after `from` whose class is in `stop`: its index and class, or the
/// length and [`V_END`]. Eight bytes a step.
#[inline(always)]
fn via_stop(s: &[u8], mut from: usize, stop: u8) -> (usize, u8) {
    while let Some(k) = s.get(from..).and_then(|rest| find_word(rest, via_marks)) {
        let at = from + k;
        let c = s.get(at).map_or(0, |&b| V_CLASS[usize::from(b)]) & stop;
        if c != 0 {
            return (at, c);
        }
        from = at + 1;
    }
    (s.len(), V_END)
}

/// The first Via value of `s` in its usual shape, read in one forward walk: `SIP/2.0/`, a
/// transport, whitespace, a host (not bracketed), an optional port of up to five digits, then
/// `;` parameters, the value ending at a comma or at the end, with no other whitespace and no
/// quote or `<` in it. Gives what [`ViaHops`]' general path gives for it, and what follows its
/// comma; `None` for any other shape, which the general path reads.
#[inline]
fn usual_hop(s: &[u8]) -> Option<(Via<'_>, ViaHopParams<'_>, &[u8])> {
    const ANY: u8 = V_LWS | V_COMMA | V_SEMI | V_COLON | V_QUOTE;
    let lead = s.iter().position(|&b| !is_lws(b))?;
    let v = s.get(lead..)?;
    if v.get(..8) != Some(b"SIP/2.0/") {
        return None;
    }
    // The transport, then the whitespace before the host.
    let (t_end, c) = via_stop(v, 8, ANY);
    if c != V_LWS || t_end == 8 {
        return None;
    }
    let h_start = t_end + v.get(t_end..)?.iter().position(|&b| !is_lws(b))?;
    if v.get(h_start) == Some(&b'[') {
        return None;
    }
    let (h_end, mut c) = via_stop(v, h_start, ANY);
    if h_end == h_start && c & (V_COMMA | V_END) != 0 {
        // No host: the value would end in whitespace, which the general path trims.
        return None;
    }
    let mut at = h_end;
    let mut port = None;
    if c == V_COLON {
        let mut n = 0u32;
        at += 1;
        let digits = at;
        while let Some(&b) = v.get(at).filter(|b| b.is_ascii_digit()) {
            if at - digits == 5 {
                return None;
            }
            n = n * 10 + u32::from(b - b'0');
            at += 1;
        }
        if at == digits {
            return None;
        }
        port = Some(u16::try_from(n).ok()?);
        c = match v.get(at) {
            None => V_END,
            Some(&b) => V_CLASS[usize::from(b)],
        };
    }
    let mut hop = ViaHopParams::default();
    let (params, end) = match c {
        V_SEMI => {
            let first = at + 1;
            let mut from = first;
            loop {
                let (to, c) = via_stop(v, from, V_LWS | V_COMMA | V_SEMI | V_QUOTE);
                hop_param(&mut hop, v.get(from..to)?);
                match c {
                    V_SEMI => from = to + 1,
                    V_COMMA | V_END => break (v.get(first..to)?, to),
                    _ => return None,
                }
            }
        }
        V_COMMA | V_END => (&[][..], at),
        _ => return None,
    };
    let raw = v.get(..end)?;
    let via = Via {
        raw,
        protocol: raw.get(..3)?,
        version: raw.get(4..7)?,
        transport: raw.get(8..t_end)?,
        host: raw.get(h_start..h_end)?,
        port,
        params,
    };
    Some((via, hop, v.get(end + 1..).unwrap_or(&[])))
}

/// The Via values of one header value, each with its hop parameters: what
/// [`CommaSplit`] followed by [`Via::parse`] and [`Via::hop_params`] give. A value of the usual
/// shape is read in one walk ([`usual_hop`]); another is cut with one memchr when no quote or
/// `<` comes before its comma, by the general split otherwise.
#[derive(Debug, Clone)]
pub struct ViaHops<'a> {
    rest: &'a [u8],
}

impl<'a> ViaHops<'a> {
    pub fn new(value: &'a [u8]) -> Self {
        ViaHops { rest: value }
    }
}

impl<'a> Iterator for ViaHops<'a> {
    type Item = (Via<'a>, ViaHopParams<'a>);
    fn next(&mut self) -> Option<Self::Item> {
        if let Some((via, hop, rest)) = usual_hop(self.rest) {
            self.rest = rest;
            return Some((via, hop));
        }
        while !self.rest.is_empty() {
            let (item, rest) = match memchr::memchr3(b',', b'"', b'<', self.rest) {
                Some(i) if self.rest.get(i) == Some(&b',') => (
                    self.rest.get(..i).unwrap_or(&[]),
                    self.rest.get(i + 1..).unwrap_or(&[]),
                ),
                None => (self.rest, &[][..]),
                Some(_) => {
                    // A quote or bracket: the general split from here on.
                    let mut split = CommaSplit::new(self.rest);
                    let item = split.next();
                    self.rest = split.rest;
                    return item.map(|item| {
                        let via = Via::parse(item);
                        (via, via.hop_params())
                    });
                }
            };
            self.rest = rest;
            let item = trim_lws(item);
            if !item.is_empty() {
                let via = Via::parse(item);
                return Some((via, plain_hop_params(via.params)));
            }
        }
        None
    }
}

/// The Via parameters a hop adds or reads, as [`Via::hop_params`] returns them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ViaHopParams<'a> {
    pub branch: Option<&'a [u8]>,
    pub received: Option<&'a [u8]>,
    /// `Some(None)` for the bare flag, as in [`Via::rport`].
    pub rport: Option<Option<u16>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `count` pseudo-random byte strings over `alphabet`, each shorter than `max_len`, from
    /// a fixed seed (xorshift for the length, a linear congruential step per byte; no
    /// dependency). Each comes with the xorshift state it was drawn from, for tests that
    /// shape some values further.
    fn random_values(
        alphabet: &'static [u8],
        seed: u64,
        count: usize,
        max_len: u64,
    ) -> impl Iterator<Item = (u64, Vec<u8>)> {
        let mut state = seed;
        (0..count).map(move |_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let mut byte_seed = state;
            let s = (0..state % max_len)
                .map(|_| {
                    byte_seed = byte_seed.wrapping_mul(6364136223846793005).wrapping_add(1);
                    alphabet[((byte_seed >> 33) % alphabet.len() as u64) as usize]
                })
                .collect();
            (state, s)
        })
    }

    #[test]
    fn names_are_case_insensitive_and_compact_forms_map() {
        assert_eq!(HeaderName::from_bytes(b"call-id"), HeaderName::CallId);
        assert_eq!(HeaderName::from_bytes(b"CALL-ID"), HeaderName::CallId);
        assert_eq!(HeaderName::from_bytes(b"X-Foo"), HeaderName::Other);
        assert_eq!(HeaderName::from_bytes(b""), HeaderName::Other);
        let compact = [
            (b'i', HeaderName::CallId),
            (b'f', HeaderName::From),
            (b't', HeaderName::To),
            (b'v', HeaderName::Via),
            (b'm', HeaderName::Contact),
            (b'l', HeaderName::ContentLength),
            (b'c', HeaderName::ContentType),
            (b'k', HeaderName::Supported),
            (b's', HeaderName::Subject),
            (b'e', HeaderName::ContentEncoding),
            (b'o', HeaderName::Event),
            (b'r', HeaderName::ReferTo),
            (b'u', HeaderName::AllowEvents),
            (b'x', HeaderName::SessionExpires),
            (b'y', HeaderName::Identity),
            (b'b', HeaderName::ReferredBy),
            (b'a', HeaderName::AcceptContact),
        ];
        for (letter, id) in compact {
            assert_eq!(HeaderName::from_bytes(&[letter]), id);
            assert_eq!(HeaderName::from_bytes(&[letter.to_ascii_uppercase()]), id);
        }
        assert_eq!(HeaderName::from_bytes(b"z"), HeaderName::Other);
    }

    #[test]
    fn every_listed_name_round_trips() {
        for (name, id) in NAMES {
            assert_eq!(HeaderName::from_bytes(name.as_bytes()), *id, "{name}");
            assert_eq!(
                HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes()),
                *id
            );
            assert_eq!(id.as_str(), *name);
        }
    }

    /// `from_bytes` against a plain reference (the table, compared byte by byte ignoring
    /// ASCII case) on every known name with each byte replaced by bytes that a careless
    /// case fold would confuse (`@` and `` ` ``, `[` and `{`, `-` and `\r`, non-ASCII), each
    /// name cut and extended, and every length up to 26.
    #[test]
    fn names_match_a_byte_by_byte_reference() {
        let reference = |name: &[u8]| -> HeaderName {
            if let [letter] = name {
                return HeaderName::from_compact(*letter);
            }
            NAMES
                .iter()
                .find(|(n, _)| n.as_bytes().eq_ignore_ascii_case(name))
                .map_or(HeaderName::Other, |(_, id)| *id)
        };
        let swaps = [
            b'@', b'`', b'[', b'{', b'-', b'\r', b'm', b'M', 0x0d, 0xc1, 0xe1, 0x80, 0xff, 0, b'_',
        ];
        let mut tried = 0;
        let mut check = |name: &[u8]| {
            assert_eq!(
                HeaderName::from_bytes(name),
                reference(name),
                "{:?}",
                String::from_utf8_lossy(name)
            );
            tried += 1;
        };
        for (spelling, _) in NAMES {
            let base = spelling.as_bytes();
            for variant in [
                base.to_vec(),
                base.to_ascii_uppercase(),
                base.to_ascii_lowercase(),
            ] {
                check(&variant);
                for at in 0..variant.len() {
                    let mut v = variant.clone();
                    let byte = v[at];
                    for swap in swaps
                        .iter()
                        .copied()
                        .chain([byte ^ 0x20, byte ^ 0x01, byte ^ 0x80])
                    {
                        v[at] = swap;
                        check(&v);
                    }
                    check(&variant[..at]);
                    check(&variant[at..]);
                }
                let mut longer = variant.clone();
                longer.push(b'x');
                check(&longer);
            }
        }
        for len in 0..=26 {
            check(&vec![b'a'; len]);
            check(&b"content-disposition-extra-x"[..len]);
        }
        assert!(tried > 10_000);
    }

    #[test]
    fn methods_are_case_sensitive() {
        assert_eq!(Method::from_bytes(b"INVITE"), Some(Method::Invite));
        assert_eq!(Method::from_bytes(b"invite"), Some(Method::Other("invite")));
        assert_eq!(
            Method::from_bytes(b"INVITE1"),
            Some(Method::Other("INVITE1"))
        );
        assert_eq!(Method::Other("INVITE1").as_str(), "INVITE1");
        assert_eq!(Method::from_bytes(b"\xff"), None);
    }

    #[test]
    fn comma_split_respects_quotes_and_brackets() {
        let v = br#""Doe, John" <sip:j@a.com;x=a,b>;tag=1 , <sip:b@c>,,sip:d@e"#;
        let parts: Vec<&[u8]> = CommaSplit::new(v).collect();
        assert_eq!(
            parts,
            vec![
                &br#""Doe, John" <sip:j@a.com;x=a,b>;tag=1"#[..],
                b"<sip:b@c>",
                b"sip:d@e"
            ]
        );
        let escaped = br#""a\", b" <sip:x@y>, <sip:z@w>"#;
        assert_eq!(CommaSplit::new(escaped).count(), 2);
    }

    /// The byte-by-byte scan `find_top_level` replaced, kept as the reference it must agree with.
    fn find_top_level_reference(s: &[u8], target: u8) -> Option<usize> {
        let (mut in_quotes, mut escaped, mut angle) = (false, false, false);
        for (i, &b) in s.iter().enumerate() {
            if in_quotes {
                if escaped {
                    escaped = false;
                } else if b == b'\\' {
                    escaped = true;
                } else if b == b'"' {
                    in_quotes = false;
                }
                continue;
            }
            match b {
                b'"' => in_quotes = true,
                b'<' => angle = true,
                b'>' => angle = false,
                _ if !angle && b == target => return Some(i),
                _ => {}
            }
        }
        None
    }

    #[test]
    fn find_top_level_agrees_with_a_plain_scan() {
        let fixed: [&[u8]; 8] = [
            br#""a;b" <sip:x;y>;tag=1"#,
            br#""a\";b";c"#,
            b"<sip:a;b>>;c",
            b"\"unclosed;x",
            b"\"ends with escape\\",
            b"<<a;b>;c",
            b"",
            b";",
        ];
        for s in fixed {
            for t in [b';', b','] {
                assert_eq!(
                    find_top_level(s, t),
                    find_top_level_reference(s, t),
                    "{s:?}"
                );
            }
        }
        // Pseudo-random strings over the bytes that matter.
        for (_, s) in random_values(b"\";,<>\\ab", 0x2545_f491_4f6c_dd1d, 20_000, 12) {
            for t in [b';', b','] {
                assert_eq!(
                    find_top_level(&s, t),
                    find_top_level_reference(&s, t),
                    "{s:?}"
                );
            }
        }
    }

    #[test]
    fn find_top_level_agrees_with_a_plain_scan_on_longer_strings() {
        // Long enough for several quoted strings and bracket pairs in one value.
        for (_, s) in random_values(b"\";,<>\\abc ", 0x9e37_79b9_7f4a_7c15, 20_000, 70) {
            for t in [b';', b','] {
                assert_eq!(
                    find_top_level(&s, t),
                    find_top_level_reference(&s, t),
                    "{s:?}"
                );
            }
        }
    }

    /// What [`NameAddr::party`] must equal: the general parse.
    fn party_general(v: &[u8]) -> PartyParts<'_> {
        let na = NameAddr::parse(v);
        PartyParts {
            display_name: na.display_name,
            uri: na.uri.raw,
            user: na.uri.user,
            tag: na.tag(),
        }
    }

    #[test]
    fn party_fast_path_agrees_with_the_general_parse() {
        let tricky: &[&[u8]] = &[
            b"\"Victor B.\" <sip:victor0457@example.net>;tag=622bf1a1",
            b"<sip:peggy0533@example.org>",
            b"  <sip:a@b>  ;  TAG = x1 ; other=2 ",
            b"<sip:a@b>;Tag=x2;tag=x3",
            b"\"a <b>; c, d\" <sip:u@h>;tag=t",
            b"\"a \\\" <q>\" <sip:u@h>;tag=t",
            b"\"\" <sip:u@h>;tag=t",
            b"\"unclosed <sip:u@h>;tag=t",
            b"\"name\" junk <sip:u@h>;tag=t",
            b"Bob Smith <sip:bob@h;tag=inuri>;tag=outside",
            b"<sip:bob@h;tag=inuri>",
            b"<sip:bob@h;tag=inuri>;foo;tag",
            b"<sip:bob@h>;tag=\"quoted\"",
            b"<sip:bob@h>;tag=a\"b\";x",
            b"<sip:bob@h>;tag=a;x=\"unclosed",
            b"<sip:bob@h>;x=\"a;tag=no\";tag=yes",
            b"<sip:bob@h>;x=<y;tag=no>;tag=yes",
            b"<sip:bob@h>\"q\";tag=no",
            b"sip:bare@h;tag=1",
            b"sip:bare@h",
            b"<tel:+15551234;phone-context=x>;tag=9",
            b"<tel:+1555?x=y>",
            b"<TEL:+1555>",
            b"<sip:[2001:db8::1]:5060>;tag=v6",
            b"<sip:user:pw@[2001:db8::1]>;tag=v6",
            b"<sip:user:pw?x@h>",
            b"<sip:h?subject=a@b>;tag=q",
            b"<SIP:U@h>",
            b"<sips:u@h?x>",
            b"<mailto:u@h>;tag=m",
            b"<sip:u@h",
            b"<:u@h>;tag=1",
            b"<s!p:u@h>;tag=1",
            b"<>;tag=",
            b"<sip:u@h>;tag=a\r\n ;tag=b",
            b"<sip:u@h>;tag\r\n =\r\n folded",
            b"\"Al\xffce\" <sip:al\xfe@h>;tag=\xff1",
            b"<sip:u@h>;;;tag=x;",
            b"*",
            b"",
            b"   ",
            b"<",
            b"\"",
            b"\"\\",
            b"<sip:@h>;tag=1",
            b"<sip:u>;tag=1",
            b"<sip:>",
            b"<sip:u@h >;tag=1",
            b"<sip:a@b@c>;tag=1",
            b"<sip:u@h?x=y>",
            b"<sip:u@h:5060;a=b?c>",
            b"<sip:u@h;lr",
            b"<sip:u\r\n @h>;tag=f",
            b"<sip:a?b@c>",
            b"<sip:a:b@c>",
            b"<sip:+15551234567@example.net>;tag=0123456789abcdef",
        ];
        for v in tricky {
            assert_eq!(NameAddr::party(v), party_general(v), "{:?}", lossy(v));
        }
        // Random values over the bytes that matter.
        let alphabet = b"\";,<>\\:@?= \r\nsiptelgaTAG";
        for (state, mut s) in random_values(alphabet, 0x2545_f491_4f6c_dd1d, 50_000, 40) {
            // Most get the usual skeleton around them, so the fast path is taken often.
            match state % 4 {
                0 => {
                    let mut framed = b"<sip:".to_vec();
                    framed.extend_from_slice(&s);
                    framed.extend_from_slice(b">;tag=");
                    framed.extend_from_slice(&s);
                    s = framed;
                }
                1 => {
                    let mut framed = b"\"D\" <".to_vec();
                    framed.extend_from_slice(&s);
                    framed.extend_from_slice(b">;x;tag");
                    s = framed;
                }
                _ => {}
            }
            assert_eq!(NameAddr::party(&s), party_general(&s), "{:?}", lossy(&s));
        }
    }

    #[test]
    fn params_flags_values_and_quotes() {
        let p = Params::new(b";lr ; Transport = TCP;q=\"0.5\";maddr");
        assert_eq!(p.get("lr"), Some(&b""[..]));
        assert_eq!(p.get("transport"), Some(&b"TCP"[..]));
        assert_eq!(p.get("q"), Some(&b"0.5"[..]));
        assert!(p.has("MADDR"));
        assert_eq!(p.get("ttl"), None);
    }

    #[test]
    fn generic_header_params_skip_uri_params() {
        let v = b"<sip:a@b;tag=wrong>;tag=right;expires=60";
        assert_eq!(param(v, "tag"), Some(&b"right"[..]));
        assert_eq!(param(v, "expires"), Some(&b"60"[..]));
        assert_eq!(param(b"1800;refresher=uac", "refresher"), Some(&b"uac"[..]));
        assert_eq!(value_without_params(b" 1800 ;refresher=uac"), b"1800");
        assert_eq!(param(b"no params here", "x"), None);
    }

    #[test]
    fn sip_uri_parts() {
        let u = Uri::parse(b"sip:alice:secret@example.com:5070;transport=tcp;lr?Subject=hi");
        assert!(u.is_sip());
        assert_eq!(u.user, Some(&b"alice"[..]));
        assert_eq!(u.password, Some(&b"secret"[..]));
        assert_eq!(u.host, b"example.com");
        assert_eq!(u.port, Some(5070));
        assert_eq!(u.transport(), Some(&b"tcp"[..]));
        assert!(u.lr());
        assert_eq!(u.headers, b"Subject=hi");
        let p = Uri::parse(b"sip:+15551234@gw.example.com;user=phone");
        assert_eq!(p.user_param(), Some(&b"phone"[..]));
        assert_eq!(p.port, None);
        for raw in [
            &b"sip:alice:secret@example.com:5070;transport=tcp"[..],
            b"tel:+1555;phone-context=x",
            b"sips:host.only",
            b"http://x",
            b"nocolon",
        ] {
            let (full, light) = (Uri::parse(raw), Uri::parse_user(raw));
            assert_eq!(
                (
                    light.raw,
                    light.scheme,
                    light.user,
                    light.password,
                    light.headers
                ),
                (
                    full.raw,
                    full.scheme,
                    full.user,
                    full.password,
                    full.headers
                )
            );
        }
        let h = Uri::parse(b"sips:proxy.example.com");
        assert_eq!(h.user, None);
        assert_eq!(h.host, b"proxy.example.com");
    }

    #[test]
    fn ipv6_uri_and_bad_port() {
        let u = Uri::parse(b"sip:bob@[2001:db8::1]:5060;transport=udp");
        assert_eq!(u.host, b"2001:db8::1");
        assert_eq!(u.port, Some(5060));
        let v = Uri::parse(b"sip:[2001:db8::1]");
        assert_eq!(v.host, b"2001:db8::1");
        assert_eq!(v.port, None);
        let bad = Uri::parse(b"sip:h:99999");
        assert_eq!(bad.host, b"h");
        assert_eq!(bad.port, None);
    }

    #[test]
    fn tel_uri() {
        let u = Uri::parse(b"tel:+1-201-555-0123;phone-context=example.com");
        assert!(u.is_tel());
        assert_eq!(u.user, Some(&b"+1-201-555-0123"[..]));
        assert_eq!(u.host, b"");
        assert_eq!(u.param("phone-context"), Some(&b"example.com"[..]));
    }

    #[test]
    fn name_addr_forms() {
        let n = NameAddr::parse(br#" "Doe, John" <sip:j@a.com;transport=udp>;tag=abc"#);
        assert_eq!(n.display_name, Some(&b"Doe, John"[..]));
        assert_eq!(n.uri.host, b"a.com");
        assert_eq!(n.uri.transport(), Some(&b"udp"[..]));
        assert_eq!(n.tag(), Some(&b"abc"[..]));

        let bare = NameAddr::parse(b"sip:j@a.com;tag=xyz");
        assert_eq!(bare.display_name, None);
        assert_eq!(bare.uri.raw, b"sip:j@a.com");
        assert_eq!(bare.uri.params, b"");
        assert_eq!(bare.tag(), Some(&b"xyz"[..]));

        let token = NameAddr::parse(b"Alice Smith <sip:alice@x>");
        assert_eq!(token.display_name, Some(&b"Alice Smith"[..]));
        assert_eq!(token.tag(), None);

        let star = NameAddr::parse(b"*");
        assert_eq!(star.uri.raw, b"*");
        assert_eq!(star.uri.scheme, b"");

        let unclosed = NameAddr::parse(b"\"oops <sip:a@b>");
        assert_eq!(unclosed.uri.raw, b"");

        for v in [
            &br#" "Doe, John" <sip:j@a.com;transport=udp>;tag=abc"#[..],
            b"sip:j@a.com;tag=xyz",
            b"Alice Smith <sip: alice@x >",
            b"*",
            b"\"oops <sip:a@b>",
            b"<sip:unclosed@x",
        ] {
            assert_eq!(NameAddr::uri_raw(v), NameAddr::parse(v).uri.raw);
            let (full, light) = (NameAddr::parse(v), NameAddr::parse_user(v));
            assert_eq!(
                (light.raw, light.display_name, light.params, light.tag()),
                (full.raw, full.display_name, full.params, full.tag())
            );
            assert_eq!(
                (
                    light.uri.raw,
                    light.uri.scheme,
                    light.uri.user,
                    light.uri.password
                ),
                (
                    full.uri.raw,
                    full.uri.scheme,
                    full.uri.user,
                    full.uri.password
                )
            );
        }
    }

    #[test]
    fn via_parts() {
        let v = Via::parse(
            b"SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK776;received=192.0.2.1;rport=1234",
        );
        assert_eq!(v.protocol, b"SIP");
        assert_eq!(v.version, b"2.0");
        assert_eq!(v.transport, b"UDP");
        assert_eq!(v.host, b"10.0.0.1");
        assert_eq!(v.port, Some(5060));
        assert_eq!(v.branch(), Some(&b"z9hG4bK776"[..]));
        assert_eq!(v.received(), Some(&b"192.0.2.1"[..]));
        assert_eq!(v.rport(), Some(Some(1234)));

        let spaced = Via::parse(b"SIP / 2.0 / TCP  [2001:db8::1]:5060 ;rport;branch=z9hG4bKx");
        assert_eq!(spaced.transport, b"TCP");
        assert_eq!(spaced.host, b"2001:db8::1");
        assert_eq!(spaced.port, Some(5060));
        assert_eq!(spaced.rport(), Some(None));
        assert_eq!(spaced.branch(), Some(&b"z9hG4bKx"[..]));

        let hop = v.hop_params();
        assert_eq!(
            (hop.branch, hop.received, hop.rport),
            (v.branch(), v.received(), v.rport())
        );
        let hop = spaced.hop_params();
        assert_eq!(
            (hop.branch, hop.received, hop.rport),
            (spaced.branch(), None, Some(None))
        );
        // The first parameter of a name counts, as with `param`.
        let twice = Via::parse(b"SIP/2.0/UDP h;BRANCH=one;branch=two;rport=1;rport=2");
        let hop = twice.hop_params();
        assert_eq!((hop.branch, hop.rport), (Some(&b"one"[..]), Some(Some(1))));
        assert_eq!((twice.branch(), twice.rport()), (hop.branch, hop.rport));

        let junk = Via::parse(b"garbage");
        assert_eq!(junk.host, b"");
        assert_eq!(junk.branch(), None);
    }

    #[test]
    fn find_short_byte_agrees_with_memchr() {
        // Every length around the word size and past the memchr hand-over, bytes above 0x7f.
        let alphabet = b":;a \x80\xff=\x00";
        for (_, s) in random_values(alphabet, 0x51_7cc1_b727_220a, 20_000, 70) {
            for needle in [b':', b';', b'='] {
                assert_eq!(
                    find_short_byte(needle, &s),
                    memchr::memchr(needle, &s),
                    "{s:?}"
                );
            }
        }
        for len in 0..=SHORT + 10 {
            let mut s = vec![b'x'; len];
            assert_eq!(find_short_byte(b':', &s), None);
            if let Some(last) = s.last_mut() {
                *last = b':';
                assert_eq!(find_short_byte(b':', &s), Some(len - 1));
            }
        }
    }

    /// The two-memchr `split_hostport` this module had, kept as the reference.
    fn split_hostport_reference(s: &[u8]) -> (&[u8], Option<u16>) {
        let s = trim_lws(s);
        if s.first() == Some(&b'[') {
            if let Some(close) = memchr::memchr(b']', s) {
                let host = s.get(1..close).unwrap_or(&[]);
                let port = match s.get(close + 1..) {
                    Some([b':', rest @ ..]) => parse_port(rest),
                    _ => None,
                };
                return (host, port);
            }
            return (s.get(1..).unwrap_or(&[]), None);
        }
        match memchr::memrchr(b':', s) {
            Some(c) if memchr::memchr(b':', s) != Some(c) => (s, None),
            Some(c) => (
                s.get(..c).unwrap_or(&[]),
                parse_port(s.get(c + 1..).unwrap_or(&[])),
            ),
            None => (s, None),
        }
    }

    #[test]
    fn split_hostport_agrees_with_the_reference() {
        let fixed: &[&[u8]] = &[
            b"192.0.2.11:5060",
            b"h",
            b"h:",
            b"h: 5060 ",
            b"h:5060:1",
            b"h:99999",
            b"h:x",
            b"2001:db8::1",
            b"[2001:db8::1]:5062",
            b"[::1]",
            b"[::1",
            b":9",
            b"::",
            b" \r\n h:1",
            b"",
        ];
        for s in fixed {
            assert_eq!(split_hostport(s), split_hostport_reference(s), "{s:?}");
        }
        for (_, s) in random_values(b":[]0159 h\t", 0x2f6b_90d1_33a5_c4e7, 20_000, 24) {
            assert_eq!(split_hostport(&s), split_hostport_reference(&s), "{s:?}");
        }
    }

    #[test]
    fn uri_list_agrees_with_the_general_split() {
        fn reference(v: &[u8]) -> Vec<&[u8]> {
            CommaSplit::new(v).map(NameAddr::uri_raw).collect()
        }
        let fixed: &[&[u8]] = &[
            b"<sip:alice@10.0.0.1:5060;transport=udp>;expires=60, <sip:other@h>",
            b"<sip:p1;lr>, <sip:p2;lr>",
            b"  < sip:a@b >  ,<sip:c>",
            b"<sip:a,b@h>;x=1,<sip:c>",
            b"<sip:a\"q>\"@h>, <sip:b>",
            b"<sip:a>;x=\"1,2\", <sip:b>",
            b"<sip:a>;x=<y,z>, <sip:b>",
            b"<sip:a>junk\"q\", <sip:b>",
            b"\"Name\" <sip:a>, Other <sip:b>",
            b"sip:bare@h;lr, <sip:c>",
            b"<sip:unclosed, <sip:b>",
            b"<>, ,, <sip:x>,",
            b"*",
            b" , <sip:a>",
            b"<sip:a>\r\n , <sip:b>",
            b"<\r\n sip:a\r\n >",
            b"<sip:\xffa>,<sip:b\xfe>",
            b"",
            b"   ",
        ];
        for v in fixed {
            let all = reference(v);
            assert_eq!(UriList::new(v).collect::<Vec<_>>(), all, "{:?}", lossy(v));
            assert_eq!(UriList::first(v), all.first().copied(), "{:?}", lossy(v));
        }
        let alphabet = b"<>\",; \r\nsip:a@\\";
        for (state, mut s) in random_values(alphabet, 0x51c3_9e2d_7a04_b6f1, 50_000, 40) {
            if state % 2 == 0 {
                let mut framed = b"<sip:a>".to_vec();
                framed.extend_from_slice(&s);
                framed.extend_from_slice(b",<sip:");
                framed.extend_from_slice(&s);
                s = framed;
            }
            let all = reference(&s);
            assert_eq!(UriList::new(&s).collect::<Vec<_>>(), all, "{:?}", lossy(&s));
            assert_eq!(UriList::first(&s), all.first().copied(), "{:?}", lossy(&s));
        }
    }

    /// What [`ViaHops`] must yield: the general split and parse.
    fn via_hops_reference(v: &[u8]) -> Vec<(Via<'_>, ViaHopParams<'_>)> {
        CommaSplit::new(v)
            .map(|e| {
                let via = Via::parse(e);
                (via, via.hop_params())
            })
            .collect()
    }

    #[test]
    fn via_hops_agree_with_the_general_parse() {
        let fixed: &[&[u8]] = &[
            b"SIP/2.0/UDP 192.0.2.11:5060;branch=z9hG4bK-5d7a-12;rport=5060;received=203.0.113.4",
            b"SIP/2.0/UDP h;rport;branch=a, SIP/2.0/TCP [::1]:5062 ;received=x",
            b"SIP/2.0/UDP h;BRANCH=one;branch=two;Rport=1;rport=2;RECEIVED=r",
            b"SIP/2.0/UDP h;branch = a ; rport = 7 ; received\r\n =x",
            b"SIP/2.0/UDP h;branch=\"q,a\";rport, SIP/2.0/UDP g;branch=b",
            b"SIP/2.0/UDP h;branch=a, SIP/2.0/UDP g;x=<y,z>;branch=b, SIP/2.0/UDP k",
            b"SIP/2.0/UDP h;rport=;branch=;received=",
            b"SIP/2.0/UDP h;rportx=1;branchy=2;receivedz=3;rport",
            b"SIP/2.0/UDP h;received=1;received;branch",
            b"SIP/2.0/UDP h;ttl=1;maddr=m;lr;alias;rport=99999",
            b"SIP/2.0/UDP h;branch\x1da;rport\x1d1",
            b" ,, SIP/2.0/UDP h , ,",
            b"SIP / 2.0 / TCP\th:1;branch=z",
            b"garbage",
            b"SIP/2.0/UDP h\xff;branch=\xfe",
            b"",
        ];
        for v in fixed {
            assert_eq!(
                ViaHops::new(v).collect::<Vec<_>>(),
                via_hops_reference(v),
                "{:?}",
                lossy(v)
            );
        }
        // Random parameters behind the usual start, some with the names that count.
        let alphabet = b";,=\" <>:rRbB \r\n";
        let names: [&[u8]; 6] = [b"branch", b"rport", b"received", b"RPort", b"branch ", b"x"];
        for (state, s) in random_values(alphabet, 0x7a3d_14c9_e2b8_5f01, 30_000, 30) {
            let mut v = b"SIP/2.0/UDP h:1;".to_vec();
            let name = names[(state % names.len() as u64) as usize];
            v.extend_from_slice(name);
            v.extend_from_slice(&s);
            v.extend_from_slice(b";rport=5;");
            v.extend_from_slice(name);
            v.extend_from_slice(b"=v");
            assert_eq!(
                ViaHops::new(&v).collect::<Vec<_>>(),
                via_hops_reference(&v),
                "{:?}",
                lossy(&v)
            );
        }
    }

    #[test]
    fn via_stop_agrees_with_a_byte_loop() {
        let reference = |s: &[u8], from: usize, stop: u8| {
            (from..s.len())
                .find(|&i| V_CLASS[usize::from(s[i])] & stop != 0)
                .map_or((s.len(), V_END), |i| (i, V_CLASS[usize::from(s[i])] & stop))
        };
        // The bytes next to those that matter (`9` and `=` around `:;<`, `+` and `-` around
        // `,`), whitespace, controls and bytes above 0x7f, at every length around a word.
        let alphabet = b"9:;<=+,-\"! \t\r\n\x00\x1f\xba\xbb\xff.a";
        let stops = [
            V_LWS | V_COMMA | V_SEMI | V_COLON | V_QUOTE,
            V_LWS | V_COMMA | V_SEMI | V_QUOTE,
            V_COLON,
        ];
        for (state, s) in random_values(alphabet, 0x1b87_3593_cc9e_2d51, 30_000, 40) {
            let from = (state % 5) as usize;
            for stop in stops {
                assert_eq!(
                    via_stop(&s, from, stop),
                    reference(&s, from.min(s.len()), stop),
                    "{s:?} {from} {stop}"
                );
            }
        }
    }

    /// Each part of a Via as `(start, len)` in memory: the one-walk read must cut the same
    /// slices of the value as the general path (the model finds text around them).
    fn via_spans(v: &Via<'_>) -> [(usize, usize); 6] {
        let at = |s: &[u8]| (if s.is_empty() { 0 } else { s.as_ptr() as usize }, s.len());
        [
            at(v.raw),
            at(v.protocol),
            at(v.version),
            at(v.transport),
            at(v.host),
            at(v.params),
        ]
    }

    #[test]
    fn usual_hop_agrees_with_the_general_path() {
        let leads: [&[u8]; 3] = [b"", b" ", b"\r\n "];
        let starts: [&[u8]; 4] = [b"SIP/2.0/", b"SIP/2.0/ ", b"sip/2.0/", b"SIP / 2.0 / "];
        let transports: [&[u8]; 7] = [b"UDP", b"TCP", b"", b"U:P", b"T;S", b"TLS\t", b"W,S"];
        let gaps: [&[u8]; 5] = [b" ", b"  ", b"\t", b"", b"\r\n "];
        let hosts: [&[u8]; 9] = [
            b"h",
            b"192.0.2.10",
            b"[::1]",
            b"::1",
            b"",
            b"h[x]",
            b"h=1",
            b"a\xffb",
            b"h\"q\"",
        ];
        let ports: [&[u8]; 13] = [
            b"", b":5060", b":05060", b":0", b":99999", b":65535", b":65536", b":", b": 5060",
            b":123456", b":5060x", b":5060 ", b":50:60",
        ];
        let params: [&[u8]; 13] = [
            b"",
            b";branch=z9hG4bK-1.0",
            b";rport",
            b";received=2001:db8::1;rport=5;branch=x",
            b";;",
            b";branch=a b",
            b";branch=\"q\"",
            b";x=<y>",
            b";BRANCH=A;branch=b;RPORT;Received=r",
            b" ;rport",
            b";rport=99999;rport=1",
            b";branch = a;rport =7",
            b";branch=",
        ];
        let tails: [&[u8]; 8] = [
            b"",
            b",",
            b", SIP/2.0/TCP g:1;branch=c",
            b" ",
            b",,SIP/2.0/UDP k",
            b"\"",
            b"<",
            b",\r\n SIP/2.0/UDP [::2]:7;rport",
        ];
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut pick = |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        let mut taken = 0;
        for round in 0..40_000 {
            let mut v = Vec::new();
            // Half the values keep the usual start, so the one-walk read is taken often.
            let usual = round % 2 == 0;
            v.extend_from_slice(leads[pick(leads.len())]);
            v.extend_from_slice(if usual {
                starts[0]
            } else {
                starts[pick(starts.len())]
            });
            v.extend_from_slice(
                transports[if usual {
                    pick(2)
                } else {
                    pick(transports.len())
                }],
            );
            v.extend_from_slice(if usual {
                gaps[0]
            } else {
                gaps[pick(gaps.len())]
            });
            // A usual value takes its parts from the head of each list, which the one-walk
            // read accepts.
            let mut part =
                |usual_ones: usize, all: usize| pick(if usual { usual_ones } else { all });
            v.extend_from_slice(hosts[part(2, hosts.len())]);
            v.extend_from_slice(ports[part(4, ports.len())]);
            v.extend_from_slice(params[part(5, params.len())]);
            v.extend_from_slice(tails[part(3, tails.len())]);
            let got: Vec<_> = ViaHops::new(&v).collect();
            let want = via_hops_reference(&v);
            assert_eq!(got, want, "{:?}", lossy(&v));
            let spans = |h: &[(Via<'_>, ViaHopParams<'_>)]| {
                h.iter().map(|(v, _)| via_spans(v)).collect::<Vec<_>>()
            };
            assert_eq!(spans(&got), spans(&want), "{:?}", lossy(&v));
            if let Some((via, hop, rest)) = usual_hop(&v) {
                taken += 1;
                assert_eq!(Some(&(via, hop)), want.first(), "{:?}", lossy(&v));
                // What is left reads as the rest of the general path's hops.
                assert_eq!(via_hops_reference(rest), want.get(1..).unwrap_or(&[]));
            }
        }
        // Every usual value takes the one-walk read (and some others do).
        assert!(taken >= 20_000, "{taken}");
        for v in [
            &b"SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776.0"[..],
            b"SIP/2.0/TCP h;rport;branch=a, SIP/2.0/UDP g",
            b" SIP/2.0/TLS h:5061;received=2001:db8::1;rport=7",
            b"SIP/2.0/UDP h:65535",
        ] {
            assert!(usual_hop(v).is_some(), "{:?}", lossy(v));
        }
    }

    #[test]
    fn unfold_joins_continuation_lines() {
        assert!(matches!(unfold(b"a b"), Cow::Borrowed(_)));
        assert_eq!(&*unfold(b"a,\r\n  b"), b"a, b");
        assert_eq!(&*unfold(b"a\n\tb"), b"a b");
    }

    #[test]
    fn numbers() {
        assert_eq!(leading_u32(b" 120 (in a meeting);duration=60"), Some(120));
        assert_eq!(leading_u32(b"x"), None);
        assert_eq!(parse_u64(b"4294967296"), Some(4_294_967_296));
        assert_eq!(parse_u64(b"99999999999999999999999"), None);
        assert_eq!(parse_u64(b"12a"), None);
    }
}
