//! From payloads to SIP messages: one per datagram; on TCP, cut by Content-Length with resync at
//! start lines; WebSocket (RFC 7118) unmasked and reassembled; TLS recognised and counted.
//!
//! Owns: [`Framer`] (per-flow stream state), [`PayloadClass`] (what a delivery's bytes were) and
//! [`is_start_line`]. WebSocket frame reading lives in [`super::websocket`].
//!
//! Decisions worth knowing:
//! - A stream is classified by its first bytes: a SIP start line, a TLS record header, an HTTP
//!   request or `101` response that upgrades to WebSocket, a WebSocket frame whose payload starts
//!   with a SIP start line (capture began after the handshake), or anything else. "Anything
//!   else" is watched for a start line at a line start, so a capture that begins in the middle
//!   of a SIP stream locks onto the first whole message (flagged `junk_before`).
//! - Whole messages inside a delivery are cut straight out of the delivered bytes; only an
//!   incomplete tail is copied into the flow's buffer. When the buffer holds the beginning of a
//!   message whose length is known, only the bytes it still needs are appended.
//! - A message's `frames` are the frames that carried its bytes (tracked as a short list of
//!   stream offsets); its `frame` is the `completed_by` of the delivery that brought its last
//!   byte (for in-order TCP that is the carrier itself; after an out-of-order hole it is the
//!   frame that filled the hole, as Wireshark reports it). That frame is appended to `frames`
//!   if it carried none of the bytes.
//! - After a TCP gap, a message whose headers were complete is emitted with `short_body` (it
//!   still says who called whom); a message whose headers were cut is dropped and counted in
//!   [`Framer::skipped_bytes`]. Framing then resyncs at the next start line (`after_gap`).
//! - Without Content-Length on a stream (`no_content_length`), or with one above `max_message`
//!   (`short_body`), a message ends at the next start line at a line start, at the stream end,
//!   or at `max_message` bytes; bytes after the cap are skipped to the next start line.
//! - Memory: per flow at most about `max_message` bytes plus one delivery; at most `max_flows`
//!   flows (the least recently used eighth is ended and forgotten when the cap is reached).

use std::collections::{HashMap, VecDeque};

use super::websocket::{self, HeaderParse, MessageAssembler};
use super::{find_byte, find_line_end, Located, MessageFlags, SipMessage};
use crate::net::{Delivery, DeliveryFlags, DeliveryKind, Flow, FrameRef, Transport};

/// A sensible message cap for callers without an opinion.
pub const DEFAULT_MAX_MESSAGE: usize = 1 << 20;
/// How many stream flows are tracked before the least recently used are evicted.
pub const DEFAULT_MAX_FLOWS: usize = 100_000;
/// Longest line waited for when looking for a start line.
const LINE_LIMIT: usize = 8 * 1024;
/// Longest HTTP upgrade header section waited for.
const HTTP_HEADER_LIMIT: usize = 16 * 1024;
/// Unmasked WebSocket payload bytes looked at when guessing that a stream is SIP over WS.
const WS_SNIFF: usize = 512;
/// Most frame sources remembered per flow (an endless fragmented WebSocket message would
/// otherwise pin them all); beyond it the oldest are forgotten and `frames` lists get shorter.
const MAX_SRCS: usize = 4096;

/// What the bytes of one delivery were.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadClass {
    Sip,
    WebSocketSip,
    /// A TLS stream: encrypted, not decoded.
    Tls,
    NotSip(&'static str),
}

/// Says whether `line` (with or without its CR/LF) is a SIP request line
/// (`METHOD uri SIP/2.0`, any token method, any URI scheme) or status line (`SIP/2.0 NNN reason`).
pub fn is_start_line(line: &[u8]) -> bool {
    let line = trim_end(line);
    if let Some(answer) = usual_start_line(line) {
        return answer;
    }
    // Cheap rejection first: this runs on every line start while resynchronising.
    match line.first() {
        Some(b) if is_token_char(*b) => {}
        _ => return false,
    }
    if line.len() < 11 {
        return false;
    }
    // Parts are separated by runs of spaces and tabs. Walked by hand: a split-and-filter
    // iterator made this a tenth of the decoding thread's work (it runs on every datagram).
    let (first, rest) = next_part(line);
    let (second, rest) = next_part(rest);
    if second.is_empty() {
        return false;
    }
    if first.eq_ignore_ascii_case(b"SIP/2.0") {
        // Status line: three digits, then an optional reason phrase.
        return second.len() == 3
            && second.iter().all(u8::is_ascii_digit)
            && matches!(second.first(), Some(b'1'..=b'6'));
    }
    let (third, rest) = next_part(rest);
    // `line` ends in neither space nor tab, so anything left is a fourth part.
    !third.is_empty()
        && rest.is_empty()
        && first.iter().all(|b| is_token_char(*b))
        && is_uri(second)
        && third.eq_ignore_ascii_case(b"SIP/2.0")
}

/// [`is_start_line`]'s answer for the two usual forms, found with fewer steps (this runs on
/// every datagram): `SIP/2.0 NNN...` with NNN in 100..=699, and `METHOD uri SIP/2.0` with an
/// upper-case method and single spaces (then the answer is whether `uri` is one). `None` for
/// any other line (`line` is trimmed at its end), which the general walk answers.
fn usual_start_line(line: &[u8]) -> Option<bool> {
    if let Some(rest) = line.strip_prefix(b"SIP/2.0 ") {
        return match rest {
            [b'1'..=b'6', b'0'..=b'9', b'0'..=b'9', after @ ..]
                if matches!(after.first(), None | Some(b' ' | b'\t')) =>
            {
                Some(true)
            }
            _ => None,
        };
    }
    let sp = find_byte(b' ', line)?;
    let method = upto(line, sp);
    if method.is_empty() || !method.iter().all(u8::is_ascii_uppercase) {
        return None;
    }
    let uri = from(line, sp + 1).strip_suffix(b" SIP/2.0")?;
    if uri.is_empty() || memchr::memchr2(b' ', b'\t', uri).is_some() {
        return None;
    }
    Some(is_uri(uri))
}

/// The first part of `s` (after leading spaces and tabs) and what follows it. The end of a
/// part is found with memchr2: request URIs are long enough for that to beat a byte loop.
fn next_part(s: &[u8]) -> (&[u8], &[u8]) {
    let start = s
        .iter()
        .position(|b| *b != b' ' && *b != b'\t')
        .unwrap_or(s.len());
    let s = from(s, start);
    let end = memchr::memchr2(b' ', b'\t', s).unwrap_or(s.len());
    (upto(s, end), from(s, end))
}

/// RFC 3261 `token` characters.
fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
        )
}

/// `scheme ":" something`, with an RFC 3986 scheme.
fn is_uri(u: &[u8]) -> bool {
    let Some(colon) = find_byte(b':', u) else {
        return false;
    };
    let scheme = u.get(..colon).unwrap_or(&[]);
    matches!(scheme.first(), Some(b) if b.is_ascii_alphabetic())
        && scheme
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        && colon + 1 < u.len()
}

fn trim_end(mut s: &[u8]) -> &[u8] {
    while let Some((last, rest)) = s.split_last() {
        if matches!(last, b'\r' | b'\n' | b' ' | b'\t') {
            s = rest;
        } else {
            break;
        }
    }
    s
}

fn trim(s: &[u8]) -> &[u8] {
    let s = trim_end(s);
    let n = s.iter().take_while(|b| matches!(b, b' ' | b'\t')).count();
    s.get(n..).unwrap_or(&[])
}

fn leading_crlf(s: &[u8]) -> usize {
    s.iter().take_while(|b| matches!(b, b'\r' | b'\n')).count()
}

fn from(s: &[u8], a: usize) -> &[u8] {
    s.get(a..).unwrap_or(&[])
}

fn upto(s: &[u8], b: usize) -> &[u8] {
    s.get(..b.min(s.len())).unwrap_or(&[])
}

/// The first line of `s` without its LF, if the LF is there. Searched near first: a start
/// line is short, the datagram or stream bytes after it long.
fn first_line(s: &[u8]) -> Option<&[u8]> {
    find_line_end(s).map(|nl| upto(s, nl))
}

/// Where the header section of `s` ends (just after the empty line), looking for the empty
/// line from `from_pos` on. `Err(resume)` says where to look again once more bytes came.
/// Tolerates bare LF line ends.
fn header_end(s: &[u8], from_pos: usize) -> Result<usize, usize> {
    let mut at = from_pos;
    while let Some(i) = find_byte(b'\n', from(s, at)).map(|i| i + at) {
        match s.get(i + 1) {
            Some(b'\n') => return Ok(i + 2),
            Some(b'\r') => match s.get(i + 2) {
                Some(b'\n') => return Ok(i + 3),
                Some(_) => {}
                None => return Err(i),
            },
            Some(_) => {}
            None => return Err(i),
        }
        at = i + 1;
    }
    Err(s.len().max(from_pos))
}

/// [`header_end`] from the start line's LF (`from_pos`), reading on the way what
/// [`content_length`] says of the header section found: one walk over the lines instead of
/// two. `Ok((end, length))` as `(header_end(s, from_pos)?, content_length(upto(s, end)))`.
fn header_end_and_length(s: &[u8], from_pos: usize) -> Result<(usize, Option<u64>), usize> {
    // The answer of the first Content-Length line met, once met.
    let mut length: Option<Option<u64>> = None;
    let mut at = from_pos;
    // Start of the line whose LF is looked for next (the start line is not a header).
    let mut line_start: Option<usize> = None;
    // Header lines are short: the search near the line first (see `find_line_end`).
    while let Some(i) = find_line_end(from(s, at)).map(|i| i + at) {
        if let (None, Some(ls)) = (length, line_start) {
            if matches!(s.get(ls), Some(b'c' | b'C' | b'l' | b'L')) {
                length = content_length_line(s.get(ls..i).unwrap_or(&[]), false);
            }
        }
        match s.get(i + 1) {
            Some(b'\n') => return Ok((i + 2, length.flatten())),
            Some(b'\r') => match s.get(i + 2) {
                Some(b'\n') => return Ok((i + 3, length.flatten())),
                Some(_) => {}
                None => return Err(i),
            },
            Some(_) => {}
            None => return Err(i),
        }
        at = i + 1;
        line_start = Some(at);
    }
    Err(s.len().max(from_pos))
}

/// What Content-Length (or compact `l`) says, in a header section. `None`: absent or not a
/// number. Values too large for u64 saturate (they are over any cap anyway).
fn content_length(headers: &[u8]) -> Option<u64> {
    // Lines are found with memchr: a byte-at-a-time `split` was about 3 % of a `stats` run,
    // since Content-Length usually comes last and every stream message is scanned.
    let mut rest = headers;
    let mut start_line = true;
    loop {
        let (line, next) = match find_byte(b'\n', rest) {
            Some(nl) => (upto(rest, nl), Some(from(rest, nl + 1))),
            None => (rest, None),
        };
        if let Some(v) = content_length_line(line, std::mem::take(&mut start_line)) {
            return v;
        }
        match next {
            Some(n) => rest = n,
            None => return None,
        }
    }
}

/// One line of a header section for [`content_length`]: `Some(answer)` when this line
/// decides it, `None` to go on with the next line.
fn content_length_line(line: &[u8], start_line: bool) -> Option<Option<u64>> {
    if start_line || matches!(line.first(), Some(b' ' | b'\t')) {
        return None; // the start line, or a folded continuation of the previous header
    }
    // The name begins at the line's first byte (the line does not start with a space or a
    // tab): other headers are passed over without looking for their colon.
    match line.first() {
        Some(b'l' | b'L') => {}
        // `Content-Length` has its `L` at index 8: Call-ID, CSeq, Contact, Content-Type...
        // (most headers in c) are passed over without looking for their colon either.
        Some(b'c' | b'C') if matches!(line.get(8), Some(b'l' | b'L')) => {}
        _ => return None,
    }
    let colon = find_byte(b':', line)?;
    let name = trim(upto(line, colon));
    if !(name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"l")) {
        return None;
    }
    let value = trim(from(line, colon + 1));
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return Some(None);
    }
    Some(Some(value.iter().fold(0u64, |n, d| {
        n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    })))
}

/// A header named `name` whose value contains `needle` (both ASCII case-insensitive).
fn header_has(headers: &[u8], name: &[u8], needle: &[u8]) -> bool {
    headers.split(|b| *b == b'\n').skip(1).any(|line| {
        let Some(colon) = find_byte(b':', line) else {
            return false;
        };
        trim(upto(line, colon)).eq_ignore_ascii_case(name)
            && from(line, colon + 1)
                .windows(needle.len())
                .any(|w| w.eq_ignore_ascii_case(needle))
    })
}

/// A frame that delivered bytes starting at stream offset `off`.
#[derive(Debug, Clone, Copy)]
struct Src {
    off: u64,
    carrier: FrameRef,
    completed_by: FrameRef,
    flags: DeliveryFlags,
}

/// Frames (into `frames`, emptied first), completing frame and delivery flags of the stream
/// bytes `[a, b)`. The list is written into a buffer the caller reuses: one allocation per
/// message was a visible share of the decoding thread.
fn attribution(
    srcs: &VecDeque<Src>,
    a: u64,
    b: u64,
    fallback: FrameRef,
    frames: &mut Vec<FrameRef>,
) -> (FrameRef, DeliveryFlags) {
    frames.clear();
    let mut flags = DeliveryFlags::default();
    let mut last = None;
    let mut i = 0;
    // Sources come in groups sharing an offset (a delivery from several frames); a group's
    // bytes run up to the next group's offset.
    while let Some(first) = srcs.get(i) {
        if first.off >= b {
            break;
        }
        let mut j = i;
        while srcs.get(j).is_some_and(|s| s.off == first.off) {
            j += 1;
        }
        let end = srcs.get(j).map_or(u64::MAX, |s| s.off);
        if end > a {
            for s in srcs.range(i..j) {
                if !frames.contains(&s.carrier) {
                    frames.push(s.carrier);
                }
                flags.cut |= s.flags.cut;
                flags.bounced |= s.flags.bounced;
                flags.reassembled |= s.flags.reassembled;
                flags.overlap_conflict |= s.flags.overlap_conflict;
                last = Some(s.completed_by);
            }
        }
        i = j;
    }
    let frame = last.unwrap_or(fallback);
    if !frames.contains(&frame) {
        frames.push(frame);
    }
    (frame, flags)
}

/// Forgets the sources whose bytes all lie before stream offset `keep_from`.
fn prune(srcs: &mut VecDeque<Src>, keep_from: u64) {
    loop {
        let Some(first) = srcs.front().map(|s| s.off) else {
            return;
        };
        let next = srcs.iter().map(|s| s.off).find(|&o| o > first);
        match next {
            Some(n) if n <= keep_from => {
                while srcs.front().is_some_and(|s| s.off == first) {
                    srcs.pop_front();
                }
            }
            _ => return,
        }
    }
}

fn message_flags(d: DeliveryFlags) -> MessageFlags {
    MessageFlags {
        cut: d.cut,
        bounced: d.bounced,
        reassembled: d.reassembled,
        overlap_conflict: d.overlap_conflict,
        ..MessageFlags::default()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Nothing decisive seen yet.
    Detect,
    /// SIP messages (or, while `resync` is set, looking for a start line).
    Sip,
    Tls,
    /// An HTTP request or response that may upgrade to WebSocket.
    Http,
    Ws,
}

/// How the end of a stream message is found once its headers are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyRule {
    /// Headers plus this many body bytes.
    Length(usize),
    /// Up to the next start line (no usable Content-Length, or one above the cap).
    UntilStartLine { no_cl: bool },
}

/// A stream message begun at the start of the flow's buffer (or of the bytes being scanned).
#[derive(Debug, Clone, Copy)]
struct InProgress {
    /// Where to resume looking for the end of the headers.
    scan: usize,
    /// `scan` moved on from the start line's end (the headers came in several pieces).
    resumed: bool,
    /// End of the header section, once found.
    hdr_end: Option<usize>,
    rule: BodyRule,
    /// Where to resume looking for the next start line (a line start).
    body_scan: usize,
}

enum Step {
    Advance(usize),
    Wait,
}

/// What a scan step needs besides the flow's state.
struct Ctx<'e> {
    flow: Flow,
    max: usize,
    /// The other direction of this connection has upgraded to WebSocket.
    peer_ws: bool,
    fallback: FrameRef,
    emit: &'e mut dyn FnMut(Located<'_>),
    /// Reused for each message's frame list.
    frames: Vec<FrameRef>,
}

/// State of one stream flow.
struct FlowState {
    mode: Mode,
    /// Bytes not yet consumed; they start at stream offset `buf_off`.
    buf: Vec<u8>,
    buf_off: u64,
    /// Stream offset just after the last delivered byte.
    end_off: u64,
    srcs: VecDeque<Src>,
    msg: Option<InProgress>,
    resync: bool,
    /// While resynchronising: the next byte begins a line.
    line_start: bool,
    seen_sip: bool,
    after_gap: bool,
    junk: bool,
    skipped: u64,
    ws: MessageAssembler,
    /// Stream offset of the first frame of the WebSocket message in progress.
    ws_start: Option<u64>,
    /// Frames of the HTTP upgrade that opened this WebSocket direction, handed to its first
    /// message's frame list: whoever re-reads those frames (an exported pcap in Wireshark)
    /// needs the upgrade to recognise the stream as WebSocket.
    handshake: Vec<FrameRef>,
    /// Stream bytes still to throw away (the rest of an oversized WebSocket frame).
    discard: u64,
    tick: u64,
}

impl FlowState {
    fn new(max: usize, tick: u64) -> FlowState {
        FlowState {
            mode: Mode::Detect,
            buf: Vec::new(),
            buf_off: 0,
            end_off: 0,
            srcs: VecDeque::new(),
            msg: None,
            resync: false,
            line_start: true,
            seen_sip: false,
            after_gap: false,
            junk: false,
            skipped: 0,
            ws: MessageAssembler::new(max),
            ws_start: None,
            handshake: Vec::new(),
            discard: 0,
            tick,
        }
    }

    fn class(&self) -> PayloadClass {
        match self.mode {
            Mode::Tls => PayloadClass::Tls,
            Mode::Ws => PayloadClass::WebSocketSip,
            Mode::Http => PayloadClass::NotSip("websocket handshake"),
            Mode::Sip if self.seen_sip => PayloadClass::Sip,
            Mode::Sip => PayloadClass::NotSip("tcp other"),
            Mode::Detect if self.buf.first().is_some_and(|b| is_token_char(*b)) => {
                PayloadClass::Sip
            }
            Mode::Detect => PayloadClass::NotSip("tcp other"),
        }
    }

    fn other(&mut self, line_start: bool) -> Step {
        self.mode = Mode::Sip;
        self.resync = true;
        self.line_start = line_start;
        Step::Advance(0)
    }

    /// Emits the stream bytes `[a, b)` as a message whose bytes are `data`.
    fn emit_range(&mut self, ctx: &mut Ctx<'_>, a: u64, b: u64, data: &[u8], extra: MessageFlags) {
        let mut frames = std::mem::take(&mut ctx.frames);
        let (frame, dflags) = attribution(&self.srcs, a, b, ctx.fallback, &mut frames);
        if extra.websocket && !self.handshake.is_empty() {
            let mut all = std::mem::take(&mut self.handshake);
            all.retain(|f| !frames.contains(f));
            all.append(&mut frames);
            frames = all;
        }
        let mut flags = message_flags(dflags);
        flags.websocket = extra.websocket;
        flags.no_content_length = extra.no_content_length;
        flags.short_body = extra.short_body;
        flags.after_gap = std::mem::take(&mut self.after_gap);
        flags.junk_before = std::mem::take(&mut self.junk);
        (ctx.emit)(Located {
            flow: ctx.flow,
            frame,
            frames: &frames,
            data,
            flags,
        });
        ctx.frames = frames;
    }

    /// Bytes the buffered message still needs, when its length is known.
    fn bytes_needed(&self) -> Option<usize> {
        if self.mode != Mode::Sip || self.resync || self.discard > 0 {
            return None;
        }
        let m = self.msg?;
        let total = match (m.hdr_end, m.rule) {
            (Some(h), BodyRule::Length(cl)) => h.checked_add(cl)?,
            _ => return None,
        };
        total.checked_sub(self.buf.len()).filter(|n| *n > 0)
    }

    /// Scans `s` (stream offset `off`) in the current mode; returns how many bytes were used.
    fn run(&mut self, ctx: &mut Ctx<'_>, s: &[u8], off: u64) -> usize {
        let mut p = 0usize;
        let mut idle = 0u32;
        while p < s.len() {
            let rest = from(s, p);
            let at = off.saturating_add(p as u64);
            let step = if self.discard > 0 {
                let n = usize::try_from(self.discard)
                    .unwrap_or(usize::MAX)
                    .min(rest.len());
                self.discard -= n as u64;
                Step::Advance(n)
            } else {
                match self.mode {
                    Mode::Detect => self.step_detect(rest),
                    Mode::Sip if self.resync => self.step_resync(rest),
                    Mode::Sip => self.step_sip(ctx, rest, at),
                    Mode::Tls => Step::Advance(rest.len()),
                    Mode::Http => self.step_http(ctx, rest, at),
                    Mode::Ws => self.step_ws(ctx, rest, at),
                }
            };
            match step {
                Step::Wait => break,
                Step::Advance(0) => {
                    // A mode change; several in a row would mean a bug: force progress.
                    idle += 1;
                    if idle > 8 {
                        p += 1;
                        self.skipped += 1;
                        idle = 0;
                    }
                }
                Step::Advance(n) => {
                    idle = 0;
                    p = p.saturating_add(n).min(s.len());
                }
            }
        }
        p
    }

    fn step_detect(&mut self, s: &[u8]) -> Step {
        let crlf = leading_crlf(s);
        if crlf > 0 {
            return Step::Advance(crlf);
        }
        let Some(&b0) = s.first() else {
            return Step::Wait;
        };
        if (0x14..=0x17).contains(&b0) {
            return match (s.get(1), s.get(2)) {
                (Some(3), Some(minor)) if *minor <= 4 => {
                    self.mode = Mode::Tls;
                    Step::Advance(0)
                }
                (None, _) | (Some(3), None) => Step::Wait,
                _ => self.other(false),
            };
        }
        if matches!(b0 & 0x7F, 0x01 | 0x02) {
            return match ws_carries_sip(s) {
                Some(true) => {
                    self.mode = Mode::Ws;
                    Step::Advance(0)
                }
                Some(false) => self.other(false),
                None => Step::Wait,
            };
        }
        let Some(line) = first_line(s) else {
            let binary = s.iter().any(|b| *b < 0x20 && !matches!(b, b'\t' | b'\r'));
            return if binary || s.len() > LINE_LIMIT {
                self.other(false)
            } else {
                Step::Wait
            };
        };
        let line = trim_end(line);
        if is_start_line(line) {
            self.mode = Mode::Sip;
            self.resync = false;
            return Step::Advance(0);
        }
        let http_request = line.starts_with(b"GET ")
            && (line.ends_with(b"HTTP/1.1") || line.ends_with(b"HTTP/1.0"));
        let http_101 = line.starts_with(b"HTTP/1.") && line.get(9..12) == Some(b"101");
        if http_request || http_101 {
            self.mode = Mode::Http;
            return Step::Advance(0);
        }
        self.other(true)
    }

    fn step_http(&mut self, ctx: &mut Ctx<'_>, s: &[u8], at: u64) -> Step {
        let end = match header_end(s, 0) {
            Ok(e) => e,
            Err(_) if s.len() > HTTP_HEADER_LIMIT => return self.other(false),
            Err(_) => return Step::Wait,
        };
        let headers = upto(s, end);
        let upgrade = header_has(headers, b"upgrade", b"websocket");
        let is_101 = headers.starts_with(b"HTTP/1.");
        if upgrade || (is_101 && ctx.peer_ws) {
            let mut frames = Vec::new();
            attribution(
                &self.srcs,
                at,
                at.saturating_add(end as u64),
                ctx.fallback,
                &mut frames,
            );
            // A few frames at most; a handshake spread over more is not worth carrying.
            self.handshake = frames.into_iter().take(8).collect();
            self.mode = Mode::Ws;
            self.ws.reset();
            self.ws_start = None;
            Step::Advance(end)
        } else {
            self.mode = Mode::Sip;
            self.resync = true;
            self.line_start = true;
            Step::Advance(end)
        }
    }

    fn step_ws(&mut self, ctx: &mut Ctx<'_>, s: &[u8], at: u64) -> Step {
        let h = match websocket::parse_header(s) {
            HeaderParse::Incomplete => return Step::Wait,
            HeaderParse::Invalid => {
                // Lost the frame boundaries: nothing more can be read from this direction
                // unless a start line turns up.
                self.ws.reset();
                self.ws_start = None;
                return self.other(false);
            }
            HeaderParse::Complete(h) => h,
        };
        let flen = h.frame_len().filter(|n| *n <= s.len());
        let Some(flen) = flen else {
            if h.payload_len > ctx.max as u64 {
                // Too big to hold: skip it without buffering.
                let total = (h.header_len as u64).saturating_add(h.payload_len);
                self.discard = total.saturating_sub(s.len() as u64);
                self.skipped = self.skipped.saturating_add(total);
                self.ws.reset();
                self.ws_start = None;
                return Step::Advance(s.len());
            }
            return Step::Wait;
        };
        let payload = s.get(h.header_len..flen).unwrap_or(&[]);
        if h.rsv != 0 {
            // Compressed (permessage-deflate): not readable here.
            self.skipped = self.skipped.saturating_add(flen as u64);
            self.ws.reset();
            self.ws_start = None;
            return Step::Advance(flen);
        }
        if matches!(h.opcode, websocket::OP_TEXT | websocket::OP_BINARY) {
            self.ws_start = Some(at);
        }
        if let Some(m) = self.ws.push_frame(&h, payload) {
            let start = self.ws_start.take().unwrap_or(at);
            let skip = leading_crlf(&m.payload);
            let is_sip = first_line(from(&m.payload, skip))
                .or(Some(from(&m.payload, skip)))
                .is_some_and(is_start_line);
            if is_sip {
                let data = from(&m.payload, skip);
                let extra = MessageFlags {
                    websocket: true,
                    short_body: m.truncated,
                    ..MessageFlags::default()
                };
                self.seen_sip = true;
                self.emit_range(ctx, start, at.saturating_add(flen as u64), data, extra);
            } else {
                self.skipped = self.skipped.saturating_add(m.payload.len() as u64);
            }
        } else if !self.ws.in_progress() {
            self.ws_start = None;
        }
        Step::Advance(flen)
    }

    fn step_resync(&mut self, s: &[u8]) -> Step {
        let mut i = 0usize;
        loop {
            let rest = from(s, i);
            if rest.is_empty() {
                break;
            }
            if self.line_start {
                match find_byte(b'\n', rest) {
                    None => {
                        if rest.len() > LINE_LIMIT {
                            self.line_start = false;
                            i = s.len();
                        }
                        break;
                    }
                    Some(nl) => {
                        if is_start_line(upto(rest, nl)) {
                            self.resync = false;
                            break;
                        }
                        i += nl + 1;
                    }
                }
            } else {
                match find_byte(b'\n', rest) {
                    None => {
                        i = s.len();
                        break;
                    }
                    Some(nl) => {
                        i += nl + 1;
                        self.line_start = true;
                    }
                }
            }
        }
        if i > 0 {
            let skipped = upto(s, i);
            self.skipped = self.skipped.saturating_add(i as u64);
            // Blank lines are keep-alives, not junk.
            self.junk |= skipped.iter().any(|b| !matches!(b, b'\r' | b'\n'));
            Step::Advance(i)
        } else if !self.resync {
            Step::Advance(0)
        } else {
            Step::Wait
        }
    }

    fn step_sip(&mut self, ctx: &mut Ctx<'_>, s: &[u8], at: u64) -> Step {
        let mut m = match self.msg {
            Some(m) => m,
            None => {
                let crlf = leading_crlf(s);
                if crlf > 0 {
                    return Step::Advance(crlf); // keep-alives between messages
                }
                let Some(line) = first_line(s) else {
                    return if s.len() > LINE_LIMIT {
                        self.other(false)
                    } else {
                        Step::Wait
                    };
                };
                if !is_start_line(line) {
                    return self.other(true);
                }
                self.seen_sip = true;
                InProgress {
                    scan: line.len(),
                    resumed: false,
                    hdr_end: None,
                    rule: BodyRule::UntilStartLine { no_cl: true },
                    body_scan: 0,
                }
            }
        };
        let hdr_end = match m.hdr_end {
            Some(h) => h,
            None => match header_end_and_length(s, m.scan) {
                Ok((h, walked)) => {
                    m.hdr_end = Some(h);
                    m.body_scan = h;
                    // A walk resumed after a wait began past the first header lines.
                    let length = if m.resumed {
                        content_length(upto(s, h))
                    } else {
                        walked
                    };
                    m.rule = match length {
                        Some(cl) if cl <= ctx.max as u64 => {
                            BodyRule::Length(usize::try_from(cl).unwrap_or(usize::MAX))
                        }
                        Some(_) => BodyRule::UntilStartLine { no_cl: false },
                        None => BodyRule::UntilStartLine { no_cl: true },
                    };
                    h
                }
                Err(resume) => {
                    m.scan = resume;
                    m.resumed = true;
                    if s.len() >= ctx.max {
                        // Endless headers: cut at the cap and look for the next message.
                        let n = ctx.max.max(1);
                        self.finish_message(ctx, s, at, n, true, false);
                        self.other(false);
                        return Step::Advance(n);
                    }
                    self.msg = Some(m);
                    return Step::Wait;
                }
            },
        };
        match m.rule {
            BodyRule::Length(cl) => {
                let total = hdr_end.saturating_add(cl);
                if s.len() >= total {
                    self.finish_message(ctx, s, at, total, false, false);
                    Step::Advance(total)
                } else {
                    self.msg = Some(m);
                    Step::Wait
                }
            }
            BodyRule::UntilStartLine { no_cl } => {
                let mut ls = m.body_scan;
                let mut found = None;
                while let Some(nl) = find_byte(b'\n', from(s, ls)) {
                    if is_start_line(upto(from(s, ls), nl)) {
                        found = Some(ls);
                        break;
                    }
                    ls += nl + 1;
                }
                if let Some(q) = found {
                    self.finish_message(ctx, s, at, q, !no_cl, no_cl);
                    return Step::Advance(q);
                }
                m.body_scan = ls;
                let cap = ctx.max.max(hdr_end);
                if s.len() >= cap {
                    self.finish_message(ctx, s, at, cap, !no_cl, no_cl);
                    let line_start = cap > 0 && s.get(cap - 1) == Some(&b'\n');
                    self.other(line_start);
                    return Step::Advance(cap);
                }
                self.msg = Some(m);
                Step::Wait
            }
        }
    }

    /// Emits `s[..len]` (stream offset `at`) as a message and forgets the one in progress.
    fn finish_message(
        &mut self,
        ctx: &mut Ctx<'_>,
        s: &[u8],
        at: u64,
        len: usize,
        short_body: bool,
        no_cl: bool,
    ) {
        self.msg = None;
        let mut data = upto(s, len);
        if no_cl {
            // A message without Content-Length followed by keep-alives: they are not a body.
            if let Ok(h) = header_end(data, 0) {
                if from(data, h).iter().all(|b| matches!(b, b'\r' | b'\n')) {
                    data = upto(data, h);
                }
            }
        }
        let extra = MessageFlags {
            short_body,
            no_content_length: no_cl,
            ..MessageFlags::default()
        };
        self.emit_range(ctx, at, at.saturating_add(len as u64), data, extra);
    }

    /// Emits what the buffer holds if it is (the beginning of) a SIP message; used when the
    /// stream ends, before a gap, and when the flow is evicted.
    fn flush_partial(&mut self, ctx: &mut Ctx<'_>, require_headers: bool) {
        let buf = std::mem::take(&mut self.buf);
        let msg = self.msg.take();
        let at = self.buf_off;
        self.buf_off = self.buf_off.saturating_add(buf.len() as u64);
        if buf.is_empty() {
            return;
        }
        let sip = (self.mode == Mode::Sip && !self.resync) || self.mode == Mode::Detect;
        let skip = leading_crlf(&buf);
        let rest = from(&buf, skip);
        let line = first_line(rest).unwrap_or(rest);
        let hdr_known = msg.and_then(|m| m.hdr_end).is_some();
        if !sip || !is_start_line(line) || (require_headers && !hdr_known) {
            self.skipped = self.skipped.saturating_add(rest.len() as u64);
            return;
        }
        let (short_body, no_cl) = match msg.map(|m| (m.hdr_end, m.rule)) {
            Some((Some(_), BodyRule::Length(_))) => (true, false),
            Some((Some(_), BodyRule::UntilStartLine { no_cl })) => (!no_cl, no_cl),
            _ => (true, false),
        };
        let at = at.saturating_add(skip as u64);
        self.seen_sip = true;
        self.finish_message(ctx, rest, at, rest.len(), short_body, no_cl);
    }

    /// Bytes were lost before the next delivery.
    fn gap(&mut self, ctx: &mut Ctx<'_>, missing: u64) {
        match self.mode {
            Mode::Sip if !self.resync => self.flush_partial(ctx, true),
            Mode::Ws => {
                // Still in step if the hole lies inside the payload of the frame being read.
                let inside = match websocket::parse_header(&self.buf) {
                    HeaderParse::Complete(h) if self.discard == 0 => {
                        let total = (h.header_len as u64).saturating_add(h.payload_len);
                        total
                            .checked_sub(self.buf.len() as u64)
                            .filter(|remaining| missing <= *remaining)
                            .map(|remaining| remaining - missing)
                    }
                    _ if self.buf.is_empty() && self.discard >= missing => {
                        Some(self.discard - missing)
                    }
                    _ => None,
                };
                self.ws.reset();
                self.ws_start = None;
                match inside {
                    Some(rest) => self.discard = rest,
                    None => {
                        self.discard = 0;
                        self.mode = Mode::Detect;
                    }
                }
            }
            Mode::Detect | Mode::Http => self.mode = Mode::Detect,
            Mode::Sip | Mode::Tls => {}
        }
        self.skipped = self.skipped.saturating_add(self.buf.len() as u64);
        self.buf.clear();
        self.msg = None;
        self.end_off = self.end_off.saturating_add(missing);
        self.buf_off = self.end_off;
        self.srcs.clear();
        if self.mode == Mode::Sip {
            self.resync = true;
            self.line_start = true;
        }
        self.after_gap = true;
    }

    /// Feeds in-order bytes starting at stream offset `off` (== `buf_off + buf.len()`).
    fn feed(&mut self, ctx: &mut Ctx<'_>, data: &[u8], off: u64) {
        if self.buf.is_empty() {
            // Fast path: cut whole messages straight out of `data`; keep only the tail.
            self.buf_off = off;
            let used = self.run(ctx, data, off);
            self.buf.extend_from_slice(from(data, used));
            self.buf_off = off.saturating_add(used as u64);
        } else {
            self.buf.extend_from_slice(data);
            let buf = std::mem::take(&mut self.buf);
            let used = self.run(ctx, &buf, self.buf_off);
            self.buf = buf;
            self.buf.drain(..used.min(self.buf.len()));
            self.buf_off = self.buf_off.saturating_add(used as u64);
        }
    }

    fn keep_sources(&mut self) {
        let from_off = self.ws_start.map_or(self.buf_off, |w| w.min(self.buf_off));
        prune(&mut self.srcs, from_off);
        while self.srcs.len() > MAX_SRCS {
            self.srcs.pop_front();
        }
    }
}

/// Whether `s`, which starts like a WebSocket data frame, carries a SIP start line.
/// `None`: not enough bytes yet to tell.
fn ws_carries_sip(s: &[u8]) -> Option<bool> {
    let h = match websocket::parse_header(s) {
        HeaderParse::Incomplete => return None,
        HeaderParse::Invalid => return Some(false),
        HeaderParse::Complete(h) => h,
    };
    if h.rsv != 0 || !matches!(h.opcode, websocket::OP_TEXT | websocket::OP_BINARY) {
        return Some(false);
    }
    let want = usize::try_from(h.payload_len)
        .unwrap_or(usize::MAX)
        .min(WS_SNIFF);
    let have = from(s, h.header_len);
    let mut head = Vec::with_capacity(want);
    websocket::unmask_into(&mut head, upto(have, want), h.mask);
    let head_crlf = leading_crlf(&head);
    match first_line(from(&head, head_crlf)) {
        Some(line) => Some(is_start_line(line)),
        None if head.len() >= want => Some(false),
        None => None,
    }
}

/// Cuts payloads into SIP messages; holds per-flow stream state.
pub struct Framer {
    /// foldhash rather than SipHash: every stream delivery looks its flow up (twice, with the
    /// reverse direction), and SipHash was a visible share of the decoding thread.
    flows: HashMap<Flow, FlowState, foldhash::fast::RandomState>,
    max_message: usize,
    max_flows: usize,
    tick: u64,
    skipped: u64,
    /// Frame-list buffer lent to each push (see [`attribution`]).
    scratch: Vec<FrameRef>,
}

fn reverse(f: Flow) -> Flow {
    Flow {
        transport: f.transport,
        src: f.dst,
        dst: f.src,
    }
}

impl Framer {
    /// `max_message`: the largest stream message buffered (bytes beyond are cut or skipped).
    pub fn new(max_message: usize) -> Self {
        Self::with_limits(max_message, DEFAULT_MAX_FLOWS)
    }

    /// Like [`Framer::new`], with an explicit cap on the number of stream flows tracked.
    pub fn with_limits(max_message: usize, max_flows: usize) -> Self {
        Framer {
            flows: HashMap::default(),
            max_message: max_message.max(64),
            max_flows: max_flows.max(1),
            tick: 0,
            skipped: 0,
            scratch: Vec::new(),
        }
    }

    /// Stream bytes thrown away so far while looking for a start line (junk, cut-off partial
    /// messages, non-SIP WebSocket messages).
    pub fn skipped_bytes(&self) -> u64 {
        self.skipped
            + self
                .flows
                .values()
                .map(|f| f.skipped)
                .fold(0u64, u64::saturating_add)
    }

    /// Number of stream flows tracked.
    pub fn flows(&self) -> usize {
        self.flows.len()
    }

    /// Bytes currently buffered over all stream flows (incomplete messages, lines waited for,
    /// WebSocket messages being joined). Per flow this stays around `max_message` plus one
    /// delivery; tests and fuzz targets use it to check that hostile streams cannot grow it.
    pub fn buffered_bytes(&self) -> usize {
        self.flows
            .values()
            .map(|f| f.buf.len().saturating_add(f.ws.buffered_bytes()))
            .fold(0usize, usize::saturating_add)
    }

    /// Handles one delivery; emits complete messages (owned copies); says what the delivered
    /// bytes were. For `StreamGap` and `StreamEnd` the class is that of the flow.
    pub fn push(&mut self, d: &Delivery<'_>, emit: &mut dyn FnMut(SipMessage)) -> PayloadClass {
        self.push_located(d, &mut |m: Located<'_>| emit(m.to_message()))
    }

    /// Same as [`Framer::push`], handing out borrowed messages: their bytes are the delivery's
    /// or a stream buffer's, valid during the call only.
    pub fn push_located(
        &mut self,
        d: &Delivery<'_>,
        emit: &mut dyn FnMut(Located<'_>),
    ) -> PayloadClass {
        self.tick = self.tick.wrapping_add(1);
        match d.kind {
            DeliveryKind::Datagram => datagram(d, emit),
            DeliveryKind::Stream => self.stream(d, emit),
            DeliveryKind::StreamGap { missing } => {
                let max = self.max_message;
                let peer_ws = self.peer_ws(d.flow);
                let frames = std::mem::take(&mut self.scratch);
                let st = self.state(d.flow, d.completed_by, emit);
                let mut ctx = Ctx {
                    flow: d.flow,
                    max,
                    peer_ws,
                    fallback: d.completed_by,
                    emit,
                    frames,
                };
                st.gap(&mut ctx, missing);
                let class = st.class();
                self.scratch = ctx.frames;
                class
            }
            DeliveryKind::StreamEnd => {
                let Some(mut st) = self.flows.remove(&d.flow) else {
                    return PayloadClass::NotSip("tcp control");
                };
                let class = st.class();
                let mut ctx = Ctx {
                    flow: d.flow,
                    max: self.max_message,
                    peer_ws: false,
                    fallback: d.completed_by,
                    emit,
                    frames: std::mem::take(&mut self.scratch),
                };
                st.flush_partial(&mut ctx, false);
                self.scratch = ctx.frames;
                self.skipped = self.skipped.saturating_add(st.skipped);
                class
            }
        }
    }

    fn peer_ws(&self, flow: Flow) -> bool {
        self.flows
            .get(&reverse(flow))
            .is_some_and(|s| s.mode == Mode::Ws)
    }

    fn stream(&mut self, d: &Delivery<'_>, emit: &mut dyn FnMut(Located<'_>)) -> PayloadClass {
        let max = self.max_message;
        // Only a flow still detecting (or reading an HTTP upgrade) asks about the other
        // direction; skipping that look-up otherwise saves a cache miss per delivery when many
        // flows are open.
        let detecting = self
            .flows
            .get(&d.flow)
            .is_none_or(|s| matches!(s.mode, Mode::Detect | Mode::Http));
        let peer_ws = detecting && self.peer_ws(d.flow);
        let keepalive = d.data.iter().all(|b| matches!(b, b'\r' | b'\n'));
        let frames = std::mem::take(&mut self.scratch);
        let st = self.state(d.flow, d.completed_by, emit);
        if d.data.is_empty() {
            let class = st.class();
            self.scratch = frames;
            return class;
        }
        let off = st.end_off;
        if d.frames.is_empty() {
            st.srcs.push_back(Src {
                off,
                carrier: d.completed_by,
                completed_by: d.completed_by,
                flags: d.flags,
            });
        }
        for f in d.frames {
            st.srcs.push_back(Src {
                off,
                carrier: *f,
                completed_by: d.completed_by,
                flags: d.flags,
            });
        }
        st.end_off = off.saturating_add(d.data.len() as u64);
        let mut ctx = Ctx {
            flow: d.flow,
            max,
            peer_ws,
            fallback: d.completed_by,
            emit,
            frames,
        };
        let mut data = d.data;
        let mut at = off;
        if let Some(need) = st.bytes_needed().filter(|n| *n < data.len()) {
            // Complete the buffered message with just the bytes it lacks, then go on without
            // copying.
            st.feed(&mut ctx, upto(data, need), at);
            data = from(data, need);
            at = at.saturating_add(need as u64);
        }
        st.feed(&mut ctx, data, at);
        st.keep_sources();
        let sip_like = matches!(st.mode, Mode::Sip | Mode::Detect);
        let class = if keepalive && sip_like && st.buf.is_empty() {
            PayloadClass::NotSip("sip keep-alive")
        } else {
            st.class()
        };
        self.scratch = ctx.frames;
        class
    }

    /// The state of `flow`, created (after evicting old flows if at the cap) when new.
    fn state(
        &mut self,
        flow: Flow,
        now: FrameRef,
        emit: &mut dyn FnMut(Located<'_>),
    ) -> &mut FlowState {
        if !self.flows.contains_key(&flow) && self.flows.len() >= self.max_flows {
            self.evict(now, emit);
        }
        let (max, tick) = (self.max_message, self.tick);
        let st = self
            .flows
            .entry(flow)
            .or_insert_with(|| FlowState::new(max, tick));
        st.tick = tick;
        st
    }

    /// Ends and forgets the least recently used eighth of the flows.
    fn evict(&mut self, now: FrameRef, emit: &mut dyn FnMut(Located<'_>)) {
        let mut ages: Vec<(u64, Flow)> = self.flows.iter().map(|(f, s)| (s.tick, *f)).collect();
        let n = (ages.len() / 8).max(1).min(ages.len());
        if n == 0 {
            return;
        }
        ages.select_nth_unstable(n - 1);
        let mut victims = ages.get(..n).unwrap_or(&[]).to_vec();
        victims.sort();
        for (_, flow) in victims {
            if let Some(mut st) = self.flows.remove(&flow) {
                let fallback = st.srcs.back().map_or(now, |s| s.completed_by);
                let mut ctx = Ctx {
                    flow,
                    max: self.max_message,
                    peer_ws: false,
                    fallback,
                    emit: &mut *emit,
                    frames: Vec::new(),
                };
                st.flush_partial(&mut ctx, false);
                self.skipped = self.skipped.saturating_add(st.skipped);
            }
        }
    }

    /// End of input: emits what is left in stream buffers (flagged), returns nothing else.
    pub fn finish(&mut self, emit: &mut dyn FnMut(SipMessage)) {
        self.finish_located(&mut |m: Located<'_>| emit(m.to_message()))
    }

    /// Same as [`Framer::finish`], handing out borrowed messages.
    pub fn finish_located(&mut self, emit: &mut dyn FnMut(Located<'_>)) {
        let mut flows: Vec<Flow> = self.flows.keys().copied().collect();
        flows.sort();
        for flow in flows {
            if let Some(mut st) = self.flows.remove(&flow) {
                let Some(fallback) = st.srcs.back().map(|s| s.completed_by) else {
                    self.skipped = self.skipped.saturating_add(st.skipped);
                    continue;
                };
                let mut ctx = Ctx {
                    flow,
                    max: self.max_message,
                    peer_ws: false,
                    fallback,
                    emit: &mut *emit,
                    frames: Vec::new(),
                };
                st.flush_partial(&mut ctx, false);
                self.skipped = self.skipped.saturating_add(st.skipped);
            }
        }
    }
}

/// A datagram is one message, after optional keep-alive CR/LFs or junk lines.
fn datagram(d: &Delivery<'_>, emit: &mut dyn FnMut(Located<'_>)) -> PayloadClass {
    let other = match d.flow.transport {
        Transport::Udp => "udp other",
        Transport::Sctp => "sctp other",
        Transport::Tcp => "tcp other",
    };
    let data = d.data;
    if data.is_empty() {
        return PayloadClass::NotSip(other);
    }
    let skip = leading_crlf(data);
    if skip == data.len() {
        return PayloadClass::NotSip("sip keep-alive");
    }
    let starts_at = |at: usize| {
        let rest = from(data, at);
        is_start_line(first_line(rest).unwrap_or(rest))
    };
    let start = if starts_at(skip) {
        Some((skip, false))
    } else {
        // Junk before the request: look for a start line at a later line start.
        let mut at = skip;
        let mut found = None;
        while let Some(nl) = find_byte(b'\n', from(data, at)) {
            at += nl + 1;
            let crlf = leading_crlf(from(data, at));
            if at + crlf < data.len() && starts_at(at + crlf) {
                found = Some((at + crlf, true));
                break;
            }
        }
        found
    };
    let Some((at, junk)) = start else {
        return PayloadClass::NotSip(other);
    };
    // The completing frame is nearly always among the carriers already (a plain datagram is
    // one frame): the delivery's list is then handed out as it is, without a copy.
    let mut with_completing = Vec::new();
    let frames = if d.frames.contains(&d.completed_by) {
        d.frames
    } else {
        with_completing.extend_from_slice(d.frames);
        with_completing.push(d.completed_by);
        &with_completing
    };
    let mut flags = message_flags(d.flags);
    flags.junk_before = junk;
    emit(Located {
        flow: d.flow,
        frame: d.completed_by,
        frames,
        data: from(data, at),
        flags,
    });
    PayloadClass::Sip
}

#[cfg(test)]
mod tests {
    /// The short cut for the usual start lines answers as the general walk does, on usual
    /// lines and on every one-byte change of them.
    #[test]
    fn usual_start_lines_answer_as_the_general_walk() {
        fn general(line: &[u8]) -> bool {
            let line = super::trim_end(line);
            match line.first() {
                Some(b) if super::is_token_char(*b) => {}
                _ => return false,
            }
            if line.len() < 11 {
                return false;
            }
            let (first, rest) = super::next_part(line);
            let (second, rest) = super::next_part(rest);
            if second.is_empty() {
                return false;
            }
            if first.eq_ignore_ascii_case(b"SIP/2.0") {
                return second.len() == 3
                    && second.iter().all(u8::is_ascii_digit)
                    && matches!(second.first(), Some(b'1'..=b'6'));
            }
            let (third, rest) = super::next_part(rest);
            !third.is_empty()
                && rest.is_empty()
                && first.iter().all(|b| super::is_token_char(*b))
                && super::is_uri(second)
                && third.eq_ignore_ascii_case(b"SIP/2.0")
        }
        let lines: &[&[u8]] = &[
            b"SIP/2.0 200 OK\r\n",
            b"SIP/2.0 180",
            b"SIP/2.0 100\tTrying",
            b"SIP/2.0 699 x y",
            b"INVITE sip:bob@example.com;transport=tcp SIP/2.0\r\n",
            b"ACK tel:+123 SIP/2.0",
            b"X sip:a SIP/2.0  ",
            b"OPTIONS sip:h:5060 SIP/2.0",
        ];
        let subst = b" \t\r\n:1269aAzZ/.-%";
        let mut checked = 0;
        for line in lines {
            assert!(super::is_start_line(line), "{line:?}");
            let mut variants = vec![line.to_vec()];
            for i in 0..line.len() {
                for &b in subst {
                    let mut v = line.to_vec();
                    v[i] = b;
                    variants.push(v);
                }
                let mut v = line.to_vec();
                v.remove(i);
                variants.push(v);
                let mut v = line.to_vec();
                v.insert(i, b' ');
                variants.push(v);
            }
            for v in &variants {
                assert_eq!(
                    super::is_start_line(v),
                    general(v),
                    "{:?}",
                    String::from_utf8_lossy(v)
                );
                checked += 1;
            }
        }
        assert!(checked > 1000);
    }

    use super::*;
    use crate::net::tcp::{Reassembler, Segment};
    use crate::net::{Endpoint, FrameFate};
    use std::net::{IpAddr, Ipv4Addr};

    fn flow(transport: Transport, sport: u16, dport: u16) -> Flow {
        Flow {
            transport,
            src: Endpoint {
                ip: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
                port: sport,
            },
            dst: Endpoint {
                ip: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)),
                port: dport,
            },
        }
    }

    fn tcp() -> Flow {
        flow(Transport::Tcp, 40000, 5060)
    }

    fn fr(n: u64) -> FrameRef {
        FrameRef {
            file: 0,
            number: n,
            ts_ns: n as i64,
        }
    }

    fn deliver(
        f: &mut Framer,
        kind: DeliveryKind,
        fl: Flow,
        data: &[u8],
        n: u64,
    ) -> (PayloadClass, Vec<SipMessage>) {
        let mut out = Vec::new();
        let frames = [fr(n)];
        let d = Delivery {
            kind,
            flow: fl,
            data,
            frames: if data.is_empty() { &[] } else { &frames },
            completed_by: fr(n),
            flags: DeliveryFlags::default(),
        };
        let class = f.push(&d, &mut |m| out.push(m));
        (class, out)
    }

    fn seg(f: &mut Framer, fl: Flow, data: &[u8], n: u64) -> (PayloadClass, Vec<SipMessage>) {
        deliver(f, DeliveryKind::Stream, fl, data, n)
    }

    fn end(f: &mut Framer, fl: Flow, n: u64) -> Vec<SipMessage> {
        deliver(f, DeliveryKind::StreamEnd, fl, b"", n).1
    }

    fn numbers(m: &SipMessage) -> Vec<u64> {
        m.frames.iter().map(|f| f.number).collect()
    }

    fn req(method: &str, body: &str) -> Vec<u8> {
        format!(
            "{method} sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\n\
             Call-ID: c1\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    }

    /// The early pass over lines in c agrees with reading every name in full.
    #[test]
    fn content_length_line_agrees_with_reading_the_name() {
        fn reference(line: &[u8]) -> Option<Option<u64>> {
            if !matches!(line.first(), Some(b'c' | b'C' | b'l' | b'L')) {
                return None;
            }
            let colon = find_byte(b':', line)?;
            let name = trim(upto(line, colon));
            if !(name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"l")) {
                return None;
            }
            let value = trim(from(line, colon + 1));
            if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
                return Some(None);
            }
            Some(value.iter().try_fold(0u64, |n, d| {
                Some(n.saturating_mul(10).saturating_add(u64::from(d - b'0')))
            }))
        }
        let names: &[&[u8]] = &[
            b"Content-Length",
            b"content-length",
            b"CONTENT-LENGTH",
            b"Content-Length ",
            b"Content-Length\t",
            b"Content-Type",
            b"Content-Lengths",
            b"Content-L",
            b"Contact",
            b"Call-ID",
            b"CSeq",
            b"c",
            b"C",
            b"l",
            b"L ",
            b"Lx",
            b"ContentXLength",
            b"Content-\xffength",
            b"",
        ];
        let tails: &[&[u8]] = &[
            b": 12",
            b":7\r",
            b":",
            b": x",
            b" 5",
            b"",
            b": 99999999999999999999999",
        ];
        for n in names {
            for t in tails {
                let line = [*n, *t].concat();
                assert_eq!(
                    content_length_line(&line, false),
                    reference(&line),
                    "{:?}",
                    String::from_utf8_lossy(&line)
                );
            }
        }
        assert_eq!(
            content_length_line(b"content-length : 7\r", false),
            Some(Some(7))
        );
        assert_eq!(content_length_line(b"Content-Type: 7", false), None);
    }

    /// The one walk says what the two did, on every mix of pieces that steer them: line
    /// ends, folds, blank and CR lines, Content-Length spellings, bad and huge values, cuts.
    #[test]
    fn header_walk_with_length_answers_as_the_two_walks() {
        let pieces: &[&[u8]] = &[
            b"\r\n",
            b"\n",
            b"\r",
            b"Content-Length: 12",
            b"content-length :7 ",
            b"l:\t3",
            b"L: x1",
            b"Content-Length:",
            b"Content-Length: 99999999999999999999999",
            b"Call-ID: c",
            b" folded",
            b"\tContent-Length: 5",
            b"Contact: <sip:a>",
            b"Lx: 4",
        ];
        let mut checked = 0;
        let mut walk = |tail: &[u8]| {
            let mut s = b"INVITE sip:b@x SIP/2.0".to_vec();
            let from_pos = s.len();
            s.extend_from_slice(b"\r\n");
            s.extend_from_slice(tail);
            let two = header_end(&s, from_pos).map(|h| (h, content_length(upto(&s, h))));
            assert_eq!(
                header_end_and_length(&s, from_pos),
                two,
                "{:?}",
                String::from_utf8_lossy(&s)
            );
            checked += 1;
        };
        for a in pieces {
            for b in pieces {
                for c in pieces {
                    for d in pieces {
                        walk(&[*a, *b, *c, *d].concat());
                    }
                }
            }
        }
        assert!(checked > 30_000);
    }

    #[test]
    fn start_lines() {
        for yes in [
            &b"INVITE sip:bob@example.com SIP/2.0"[..],
            b"INVITE sip:bob@example.com SIP/2.0\r\n",
            b"FOO-BAR.x tel:+1234 SIP/2.0",
            b"MESSAGE urn:service:sos sip/2.0",
            b"SIP/2.0 200 OK",
            b"SIP/2.0 486 Busy Here\r",
            b"SIP/2.0 180",
        ] {
            assert!(is_start_line(yes), "{}", String::from_utf8_lossy(yes));
        }
        for no in [
            &b"GET / HTTP/1.1"[..],
            b"HTTP/1.1 200 OK",
            b"SIP/2.0 20 OK",
            b"SIP/2.0 999 Nine",
            b"INVITE bob SIP/2.0",
            b"INVITE sip:bob SIP/2.0 extra",
            b"INV(TE sip:bob SIP/2.0",
            b"Via: SIP/2.0/UDP host",
            b" INVITE sip:bob SIP/2.0",
            b"",
        ] {
            assert!(!is_start_line(no), "{}", String::from_utf8_lossy(no));
        }
    }

    /// The hand-walked start-line check answers as the plain split-and-filter reading of the
    /// rule does, on lines built from the bytes that matter (separators, line ends, pieces of
    /// `SIP/2.0`, URI schemes, digits, non-token bytes) in random runs.
    #[test]
    fn start_line_check_agrees_with_the_split_reading() {
        fn by_split(line: &[u8]) -> bool {
            let line = trim_end(line);
            if !line.first().is_some_and(|b| is_token_char(*b)) || line.len() < 11 {
                return false;
            }
            let mut parts = line
                .split(|b| *b == b' ' || *b == b'\t')
                .filter(|p| !p.is_empty());
            let (Some(first), Some(second)) = (parts.next(), parts.next()) else {
                return false;
            };
            if first.eq_ignore_ascii_case(b"SIP/2.0") {
                return second.len() == 3
                    && second.iter().all(u8::is_ascii_digit)
                    && matches!(second.first(), Some(b'1'..=b'6'));
            }
            let (Some(third), None) = (parts.next(), parts.next()) else {
                return false;
            };
            first.iter().all(|b| is_token_char(*b))
                && is_uri(second)
                && third.eq_ignore_ascii_case(b"SIP/2.0")
        }
        let pieces: [&[u8]; 16] = [
            b" ", b"\t", b"  ", b"\r", b"\n", b"SIP/2.0", b"sip/2.0", b"INVITE", b"sip:", b"x",
            b"200", b"7", b":", b"(", b"tel:+1", b"\xff",
        ];
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut agree_yes = 0;
        for _ in 0..200_000 {
            let mut line = Vec::new();
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let n = (state % 9) as usize;
            let mut r = state;
            for _ in 0..n {
                line.extend_from_slice(pieces[(r % 16) as usize]);
                r /= 16;
            }
            let want = by_split(&line);
            assert_eq!(
                is_start_line(&line),
                want,
                "{:?}",
                String::from_utf8_lossy(&line)
            );
            agree_yes += usize::from(want);
        }
        // The generator does build start lines, not only junk.
        assert!(agree_yes > 50, "{agree_yes}");
    }

    #[test]
    fn two_messages_in_one_segment_without_buffering() {
        let mut f = Framer::new(1 << 16);
        let mut bytes = req("INVITE", "v=0\r\n");
        bytes.extend(req("BYE", ""));
        let (class, msgs) = seg(&mut f, tcp(), &bytes, 7);
        assert_eq!(class, PayloadClass::Sip);
        assert_eq!(msgs.len(), 2);
        assert_eq!(msgs[0].data, req("INVITE", "v=0\r\n"));
        assert_eq!(msgs[1].data, req("BYE", ""));
        for m in &msgs {
            assert_eq!(m.frame, fr(7));
            assert_eq!(numbers(m), vec![7]);
            assert_eq!(m.flags, MessageFlags::default());
        }
        assert!(f.flows[&tcp()].buf.is_empty(), "nothing copied");
    }

    #[test]
    fn one_message_over_three_segments() {
        let mut f = Framer::new(1 << 16);
        let mut bytes = req("INVITE", "v=0\r\no=- 1 1 IN IP4 h\r\n");
        let next = req("ACK", "");
        bytes.extend_from_slice(&next[..10]);
        let (a, rest) = bytes.split_at(20);
        let (b, c) = rest.split_at(60);
        assert!(seg(&mut f, tcp(), a, 1).1.is_empty());
        assert_eq!(f.flows[&tcp()].buf.len(), 20, "the tail is kept");
        assert!(seg(&mut f, tcp(), b, 2).1.is_empty());
        let (_, msgs) = seg(&mut f, tcp(), c, 3);
        assert_eq!(msgs.len(), 1);
        assert_eq!(msgs[0].data, req("INVITE", "v=0\r\no=- 1 1 IN IP4 h\r\n"));
        assert_eq!(msgs[0].frame, fr(3));
        assert_eq!(numbers(&msgs[0]), vec![1, 2, 3]);
        // The start of the ACK waits in the buffer; its rest completes it.
        assert_eq!(f.flows[&tcp()].buf, &next[..10]);
        let (_, msgs) = seg(&mut f, tcp(), &next[10..], 4);
        assert_eq!(msgs[0].data, next);
        assert_eq!(numbers(&msgs[0]), vec![3, 4]);
    }

    #[test]
    fn keep_alives() {
        let mut f = Framer::new(1 << 16);
        let (class, msgs) = seg(&mut f, tcp(), b"\r\n\r\n", 1);
        assert_eq!(class, PayloadClass::NotSip("sip keep-alive"));
        assert!(msgs.is_empty());
        let mut bytes = req("OPTIONS", "");
        bytes.extend_from_slice(b"\r\n\r\n");
        bytes.extend(req("OPTIONS", ""));
        bytes.extend_from_slice(b"\r\n");
        let (_, msgs) = seg(&mut f, tcp(), &bytes, 2);
        assert_eq!(msgs.len(), 2);
        assert!(msgs.iter().all(|m| m.data == req("OPTIONS", "")));
        assert!(msgs.iter().all(|m| !m.flags.junk_before));
        let udp = flow(Transport::Udp, 5060, 5060);
        let (class, _) = deliver(&mut f, DeliveryKind::Datagram, udp, b"\r\n\r\n", 3);
        assert_eq!(class, PayloadClass::NotSip("sip keep-alive"));
    }

    #[test]
    fn no_content_length_ends_at_next_start_line_or_stream_end() {
        let mut f = Framer::new(1 << 16);
        let first = b"ACK sip:a@b SIP/2.0\r\nCall-ID: x\r\n\r\n".to_vec();
        let second = b"BYE sip:a@b SIP/2.0\r\nCall-ID: x\r\n\r\nleft over".to_vec();
        let (_, msgs) = seg(&mut f, tcp(), &first, 1);
        assert!(msgs.is_empty(), "cannot know yet where it ends");
        let (_, msgs) = seg(&mut f, tcp(), &second, 2);
        assert_eq!(msgs.len(), 1);
        assert_eq!(msgs[0].data, first);
        assert!(msgs[0].flags.no_content_length);
        assert_eq!(msgs[0].frame, fr(1));
        let msgs = end(&mut f, tcp(), 3);
        assert_eq!(msgs.len(), 1);
        assert_eq!(msgs[0].data, second);
        assert!(msgs[0].flags.no_content_length);
        assert!(!msgs[0].flags.short_body);
        assert!(f.flows.is_empty());
    }

    #[test]
    fn content_length_read_line_by_line() {
        // The start line never counts, even when it looks like a header.
        assert_eq!(content_length(b"l: 9\r\nVia: x\r\n\r\n"), None);
        // A folded continuation line is not a header of its own.
        assert_eq!(
            content_length(b"INVITE a SIP/2.0\r\nX: y\r\n l: 3\r\n\r\n"),
            None
        );
        // The last line needs no line end; LF-only line ends work too.
        assert_eq!(
            content_length(b"INVITE a SIP/2.0\nVia: x\nContent-Length: 42"),
            Some(42)
        );
        // The first Content-Length decides, a bad value included.
        assert_eq!(content_length(b"R\r\nl: 7x\r\nContent-Length: 5\r\n"), None);
        assert_eq!(
            content_length(b"R\r\nCONTENT-length :  12 \r\nl: 5\r\n"),
            Some(12)
        );
        assert_eq!(content_length(b""), None);
    }

    #[test]
    fn compact_content_length_and_spaces() {
        let mut f = Framer::new(1 << 16);
        let m = b"MESSAGE sip:a@b SIP/2.0\r\ni: 1\r\nl :  5 \r\n\r\nhello".to_vec();
        let mut bytes = m.clone();
        bytes.extend(req("BYE", ""));
        let (_, msgs) = seg(&mut f, tcp(), &bytes, 1);
        assert_eq!(msgs.len(), 2);
        assert_eq!(msgs[0].data, m);
        assert!(!msgs[0].flags.no_content_length);
    }

    #[test]
    fn huge_content_length_is_not_waited_for() {
        let mut f = Framer::new(4096);
        let liar = b"INVITE sip:a@b SIP/2.0\r\nContent-Length: 4294967296\r\n\r\nv=0\r\n".to_vec();
        let (_, msgs) = seg(&mut f, tcp(), &liar, 1);
        assert!(msgs.is_empty());
        let (_, msgs) = seg(&mut f, tcp(), &req("CANCEL", ""), 2);
        assert_eq!(msgs.len(), 2);
        assert_eq!(msgs[0].data, liar);
        assert!(msgs[0].flags.short_body);
        assert_eq!(msgs[1].data, req("CANCEL", ""));
        // Without a next message, the cap ends it: the buffer never holds much.
        let mut f = Framer::new(4096);
        seg(&mut f, tcp(), &liar, 1);
        let mut emitted = Vec::new();
        for n in 0..100 {
            emitted.extend(seg(&mut f, tcp(), &[b'x'; 1000], n + 2).1);
            assert!(f.flows[&tcp()].buf.len() <= 4096 + 1000);
        }
        assert_eq!(emitted.len(), 1);
        assert_eq!(emitted[0].data.len(), 4096);
        assert!(emitted[0].flags.short_body);
    }

    #[test]
    fn lf_only_headers() {
        let mut f = Framer::new(1 << 16);
        let m = b"SIP/2.0 200 OK\nCall-ID: q\nContent-Length: 2\n\nok".to_vec();
        let mut bytes = m.clone();
        bytes.extend_from_slice(b"SIP/2.0 100 Trying\nContent-Length: 0\n\n");
        let (_, msgs) = seg(&mut f, tcp(), &bytes, 1);
        assert_eq!(msgs.len(), 2);
        assert_eq!(msgs[0].data, m);
    }

    #[test]
    fn datagrams() {
        let mut f = Framer::new(1 << 16);
        let udp = flow(Transport::Udp, 31000, 5060);
        let (class, msgs) = deliver(&mut f, DeliveryKind::Datagram, udp, b"\0\0\0\0", 1);
        assert_eq!((class, msgs.len()), (PayloadClass::NotSip("udp other"), 0));
        let mut junk = b"\x80\x00garbage\r\n".to_vec();
        junk.extend(req("REGISTER", ""));
        let (class, msgs) = deliver(&mut f, DeliveryKind::Datagram, udp, &junk, 2);
        assert_eq!(class, PayloadClass::Sip);
        assert_eq!(msgs[0].data, req("REGISTER", ""));
        assert!(msgs[0].flags.junk_before);
        let mut clean = b"\r\n".to_vec();
        clean.extend(req("REGISTER", ""));
        let (_, msgs) = deliver(&mut f, DeliveryKind::Datagram, udp, &clean, 3);
        assert_eq!(msgs[0].data, req("REGISTER", ""));
        assert!(!msgs[0].flags.junk_before);
        assert_eq!(msgs[0].frame, fr(3));
        let sctp = flow(Transport::Sctp, 5060, 5060);
        let (class, _) = deliver(&mut f, DeliveryKind::Datagram, sctp, b"\x80\x08rtp", 4);
        assert_eq!(class, PayloadClass::NotSip("sctp other"));
        assert_eq!(f.flows(), 0, "datagrams keep no state");
    }

    #[test]
    fn tls_and_http_streams() {
        let mut f = Framer::new(1 << 16);
        let tls = flow(Transport::Tcp, 40001, 5061);
        let hello = [0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5];
        assert_eq!(seg(&mut f, tls, &hello, 1).0, PayloadClass::Tls);
        let (class, msgs) = seg(&mut f, tls, &[0x17, 0x03, 0x03, 0, 1, 9], 2);
        assert_eq!((class, msgs.len()), (PayloadClass::Tls, 0));
        assert!(f.flows[&tls].buf.is_empty());

        let http = flow(Transport::Tcp, 40002, 5060);
        let get = b"GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n";
        let (class, msgs) = seg(&mut f, http, get, 3);
        assert_eq!((class, msgs.len()), (PayloadClass::NotSip("tcp other"), 0));
        let binary = [0u8, 1, 2, 3, 0xff, 0xfe, 10, 0, 0];
        let other = flow(Transport::Tcp, 40003, 5060);
        assert_eq!(
            seg(&mut f, other, &binary, 4).0,
            PayloadClass::NotSip("tcp other")
        );
    }

    #[test]
    fn mid_stream_start_locks_on_first_start_line() {
        let mut f = Framer::new(1 << 16);
        let mut bytes = b"a=rtpmap:0 PCMU/8000\r\nm=audio 4000 RTP/AVP 0\r\n".to_vec();
        bytes.extend(req("BYE", ""));
        let (class, msgs) = seg(&mut f, tcp(), &bytes, 1);
        assert_eq!(class, PayloadClass::Sip);
        assert_eq!(msgs.len(), 1);
        assert_eq!(msgs[0].data, req("BYE", ""));
        assert!(msgs[0].flags.junk_before);
        assert!(f.skipped_bytes() > 0);
    }

    #[test]
    fn gap_emits_headers_then_resyncs() {
        let mut f = Framer::new(1 << 16);
        let invite = req("INVITE", "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\n");
        seg(&mut f, tcp(), &invite[..invite.len() - 10], 1);
        let (_, msgs) = deliver(
            &mut f,
            DeliveryKind::StreamGap { missing: 500 },
            tcp(),
            b"",
            2,
        );
        assert_eq!(msgs.len(), 1);
        assert!(msgs[0].flags.short_body);
        assert_eq!(msgs[0].data, &invite[..invite.len() - 10]);
        // After the gap: the tail of some message, then a whole one.
        let mut bytes = b"ody line\r\n".to_vec();
        bytes.extend(req("BYE", ""));
        bytes.extend(req("BYE", ""));
        let (_, msgs) = seg(&mut f, tcp(), &bytes, 3);
        assert_eq!(msgs.len(), 2);
        assert!(msgs[0].flags.after_gap && msgs[0].flags.junk_before);
        assert!(!msgs[1].flags.after_gap && !msgs[1].flags.junk_before);
        // A gap inside the headers: the partial message is dropped.
        seg(&mut f, tcp(), b"OPTIONS sip:x@y SIP/2.0\r\nVia: x", 4);
        let (_, msgs) = deliver(
            &mut f,
            DeliveryKind::StreamGap { missing: 9 },
            tcp(),
            b"",
            5,
        );
        assert!(msgs.is_empty());
    }

    /// One WebSocket frame.
    fn ws_frame(fin: bool, opcode: u8, mask: Option<[u8; 4]>, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![(if fin { 0x80 } else { 0 }) | opcode];
        let m = if mask.is_some() { 0x80 } else { 0 };
        if payload.len() < 126 {
            out.push(m | payload.len() as u8);
        } else {
            out.push(m | 126);
            out.extend_from_slice(&(payload.len() as u16).to_be_bytes());
        }
        match mask {
            Some(k) => {
                out.extend_from_slice(&k);
                out.extend(payload.iter().enumerate().map(|(i, b)| b ^ k[i % 4]));
            }
            None => out.extend_from_slice(payload),
        }
        out
    }

    fn ws_pair(f: &mut Framer) -> (Flow, Flow) {
        let client = flow(Transport::Tcp, 50000, 8080);
        let server = reverse(client);
        let get = b"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                    Sec-WebSocket-Key: abc\r\nSec-WebSocket-Protocol: sip\r\n\r\n";
        let (class, msgs) = seg(f, client, get, 1);
        assert_eq!(class, PayloadClass::WebSocketSip);
        assert!(msgs.is_empty());
        let ok = b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n\
                   Sec-WebSocket-Protocol: sip\r\n\r\n";
        assert_eq!(seg(f, server, ok, 2).0, PayloadClass::WebSocketSip);
        (client, server)
    }

    #[test]
    fn websocket_masked_client_and_plain_server_frames() {
        let mut f = Framer::new(1 << 16);
        let (client, server) = ws_pair(&mut f);
        let register = req("REGISTER", "");
        let masked = ws_frame(true, 1, Some([0xde, 0xad, 0xbe, 0xef]), &register);
        let (class, msgs) = seg(&mut f, client, &masked, 3);
        assert_eq!(class, PayloadClass::WebSocketSip);
        assert_eq!(msgs.len(), 1);
        assert_eq!(msgs[0].data, register);
        assert!(msgs[0].flags.websocket);
        assert_eq!(msgs[0].flow.transport, Transport::Tcp);
        // The first message of a direction carries the upgrade's frame too (a re-read of
        // its frames needs the handshake); later ones only their own.
        assert_eq!(numbers(&msgs[0]), vec![1, 3]);
        let again = ws_frame(true, 1, Some([1, 2, 3, 4]), &register);
        let (_, msgs) = seg(&mut f, client, &again, 5);
        assert_eq!(numbers(&msgs[0]), vec![5]);
        let ok = b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n";
        let mut bytes = ws_frame(true, 9, None, b"ping");
        bytes.extend(ws_frame(true, 1, None, ok));
        let (_, msgs) = seg(&mut f, server, &bytes, 4);
        assert_eq!(msgs.len(), 1);
        assert_eq!(msgs[0].data, ok);
        assert_eq!(numbers(&msgs[0]), vec![2, 4]);
    }

    #[test]
    fn websocket_fragments_and_split_frames() {
        let mut f = Framer::new(1 << 16);
        let (client, _) = ws_pair(&mut f);
        let invite = req("INVITE", &"a=x\r\n".repeat(40));
        let key = Some([1, 2, 3, 4]);
        let (a, rest) = invite.split_at(50);
        let (b, c) = rest.split_at(100);
        let mut bytes = ws_frame(false, 1, key, a);
        bytes.extend(ws_frame(false, 0, key, b));
        bytes.extend(ws_frame(true, 9, key, b"")); // a ping between fragments
        bytes.extend(ws_frame(true, 0, key, c));
        // The frames split at awkward places over three segments.
        let cuts = [1, bytes.len() - 3];
        assert!(seg(&mut f, client, &bytes[..cuts[0]], 3).1.is_empty());
        assert!(seg(&mut f, client, &bytes[cuts[0]..cuts[1]], 4)
            .1
            .is_empty());
        let (_, msgs) = seg(&mut f, client, &bytes[cuts[1]..], 5);
        assert_eq!(msgs.len(), 1);
        assert_eq!(msgs[0].data, invite);
        assert_eq!(msgs[0].frame, fr(5));
        // Frame 1 is the upgrade request that opened this direction.
        assert_eq!(numbers(&msgs[0]), vec![1, 3, 4, 5]);
        // A frame split over two segments.
        let frame = ws_frame(true, 2, key, &req("BYE", ""));
        assert!(seg(&mut f, client, &frame[..9], 6).1.is_empty());
        let (_, msgs) = seg(&mut f, client, &frame[9..], 7);
        assert_eq!(msgs.len(), 1);
        assert_eq!(msgs[0].data, req("BYE", ""));
        assert_eq!(numbers(&msgs[0]), vec![6, 7]);
    }

    #[test]
    fn websocket_found_without_handshake() {
        let mut f = Framer::new(1 << 16);
        let fl = flow(Transport::Tcp, 50001, 8080);
        let frame = ws_frame(true, 1, Some([9, 9, 9, 9]), &req("OPTIONS", ""));
        let (class, msgs) = seg(&mut f, fl, &frame, 1);
        assert_eq!(class, PayloadClass::WebSocketSip);
        assert_eq!(msgs.len(), 1);
    }

    #[test]
    fn flows_are_capped() {
        let mut f = Framer::with_limits(1 << 16, 4);
        let mut msgs = Vec::new();
        for i in 0..20u16 {
            let fl = flow(Transport::Tcp, 30000 + i, 5060);
            msgs.extend(seg(&mut f, fl, b"ACK sip:a@b SIP/2.0\r\n\r\n", u64::from(i)).1);
            assert!(f.flows() <= 4);
        }
        f.finish(&mut |m| msgs.push(m));
        assert_eq!(
            msgs.len(),
            20,
            "evicted flows hand over their pending message"
        );
        assert!(msgs.iter().all(|m| m.flags.no_content_length));
    }

    /// xorshift64*: a tiny deterministic generator for the shuffle test.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    /// Runs `segments` (seq, bytes) through reassembly and framing; returns message bytes.
    fn through_both(segments: &[(u32, Vec<u8>)]) -> Vec<(Vec<u8>, MessageFlags)> {
        let mut r = Reassembler::new(1 << 20);
        let mut f = Framer::new(1 << 16);
        let mut out = Vec::new();
        for (i, (seq, bytes)) in segments.iter().enumerate() {
            let s = Segment {
                flow: tcp(),
                seq: *seq,
                syn: false,
                fin: false,
                rst: false,
                payload: bytes,
                frame: fr(i as u64 + 1),
                cut: false,
            };
            let fate = r.push(&s, &mut |d| {
                f.push(&d, &mut |m| out.push((m.data, m.flags)));
            });
            assert_ne!(fate, FrameFate::NotSip("tcp control"));
        }
        r.finish(&mut |d| {
            f.push(&d, &mut |m| out.push((m.data, m.flags)));
        });
        f.finish(&mut |m| out.push((m.data, m.flags)));
        out
    }

    #[test]
    fn out_of_order_message_reported_on_the_frame_that_completed_it() {
        let mut r = Reassembler::new(1 << 16);
        let mut f = Framer::new(1 << 16);
        let bye = req("BYE", "");
        let (a, b) = bye.split_at(30);
        let mut out = Vec::new();
        for (n, seq, bytes) in [(1u64, 130u32, b), (2, 100, a)] {
            let s = Segment {
                flow: tcp(),
                seq,
                syn: false,
                fin: false,
                rst: false,
                payload: bytes,
                frame: fr(n),
                cut: false,
            };
            // The tail arrives first; the stream starts at the head, so hold the tail by
            // starting the direction with an empty SYN first.
            if n == 1 {
                let syn = Segment {
                    seq: 99,
                    syn: true,
                    payload: b"",
                    frame: fr(0),
                    ..s
                };
                r.push(&syn, &mut |_| {});
            }
            r.push(&s, &mut |d| {
                f.push(&d, &mut |m| out.push(m));
            });
        }
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].data, bye);
        assert_eq!(out[0].frame, fr(2), "the frame that filled the hole");
        assert_eq!(numbers(&out[0]), vec![2, 1], "carriers in stream order");
    }

    #[test]
    fn random_splits_and_order_give_the_same_messages() {
        let mut stream = Vec::new();
        stream.extend(req("INVITE", "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\n"));
        stream.extend_from_slice(b"\r\n\r\n");
        stream.extend(b"SIP/2.0 100 Trying\r\nl: 0\r\n\r\n");
        stream.extend(req("MESSAGE", &"x".repeat(700)));
        stream.extend(b"SIP/2.0 200 OK\ncontent-length:3\n\nabc");
        stream.extend(req("BYE", ""));
        let isn = u32::MAX - 300; // crosses the wrap too
        let whole = through_both(&[(isn, stream.clone())]);
        assert_eq!(whole.len(), 5);
        assert!(whole.iter().all(|(_, fl)| *fl == MessageFlags::default()));

        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for round in 0..300 {
            let mut cuts: Vec<usize> = (0..rng.below(12))
                .map(|_| rng.below(stream.len()))
                .collect();
            cuts.push(0);
            cuts.push(stream.len());
            cuts.sort();
            cuts.dedup();
            let mut segs: Vec<(u32, Vec<u8>)> = cuts
                .windows(2)
                .map(|w| (isn.wrapping_add(w[0] as u32), stream[w[0]..w[1]].to_vec()))
                .collect();
            // The first segment stays first (the stream starts there); the rest are shuffled
            // and some repeated.
            for i in (2..segs.len()).rev() {
                let j = 1 + rng.below(i);
                segs.swap(i, j);
            }
            if segs.len() > 2 && round % 3 == 0 {
                let dup = segs[1 + rng.below(segs.len() - 1)].clone();
                segs.push(dup);
            }
            assert_eq!(through_both(&segs), whole, "round {round}, cuts {cuts:?}");
        }
    }
    #[test]
    fn hostile_streams_never_panic_and_stay_bounded() {
        let pieces: [&[u8]; 12] = [
            b"INVITE sip:a@b SIP/2.0\r\n",
            b"SIP/2.0 200 OK\n",
            b"Content-Length: 12\r\n",
            b"l: 99999999999999999999999\r\n",
            b"\r\n",
            b"\n",
            b"GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n",
            b"\x81\xfe\x00\x20\x01\x02\x03\x04",
            b"\x82\x7f\x7f\xff\xff\xff\xff\xff\xff\xff",
            b"\x16\x03\x01",
            b"xyzzy ",
            b"\x00\xff",
        ];
        let mut rng = Rng(0xDEAD_BEEF_CAFE_F00D);
        let mut f = Framer::with_limits(256, 8);
        let mut count = 0usize;
        for n in 0..20_000u64 {
            let fl = flow(Transport::Tcp, 7000 + rng.below(12) as u16, 5060);
            let mut data = Vec::new();
            for _ in 0..rng.below(6) {
                data.extend_from_slice(pieces[rng.below(pieces.len())]);
            }
            let kind = match rng.below(40) {
                0 => DeliveryKind::StreamGap {
                    missing: rng.next() % 100,
                },
                1 => DeliveryKind::StreamEnd,
                2 => DeliveryKind::Datagram,
                _ => DeliveryKind::Stream,
            };
            count += deliver(&mut f, kind, fl, &data, n).1.len();
            assert!(f.flows() <= 8);
            for st in f.flows.values() {
                assert!(
                    st.buf.len() <= 256 + HTTP_HEADER_LIMIT + 512,
                    "{}",
                    st.buf.len()
                );
                assert!(st.srcs.len() <= 1 + st.buf.len());
            }
        }
        f.finish(&mut |_| count += 1);
        assert!(count > 100, "the noise did reach the message paths");
    }
}
