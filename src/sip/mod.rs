//! SIP messages: finding them in payloads and reading them.
//!
//! Owns: framing (a UDP/SCTP datagram is one message; a TCP stream is cut into messages by
//! Content-Length; WebSocket frames carrying SIP are unmasked and joined), the tolerant zero-copy
//! parser (it never fails: it returns what it understood plus [`Anomaly`] values), the quick head
//! reader for plain messages (what the parser would return, in one pass, or a refusal), header
//! access with compact forms, and SDP.
//!
//! May use: `crate::net` types, memchr. Knows nothing of calls or dialogs.

pub mod framing;
pub mod headers;
pub mod parse;
pub mod quick;
pub mod scan;
pub mod sdp;
pub mod websocket;

use crate::net::{Flow, FrameRef};

pub use headers::{HeaderName, Method, NameAddr, Uri, Via};
pub use parse::{parse, parse_with, Anomaly, Header, Message, Scratch, StartLine};
pub use sdp::{parse_sdp, Sdp};

/// Position of the first `needle` in `s`, for the framer's and the scanner's searches within
/// one line (tens of bytes): on x86_64 the SSE2 searcher is called directly (SSE2 is part of
/// the architecture), which saves the run-time choice `memchr::memchr` makes on every call.
#[inline]
pub(crate) fn find_byte(needle: u8, s: &[u8]) -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    if let Some(one) = memchr::arch::x86_64::sse2::memchr::One::new(needle) {
        return one.find(s);
    }
    memchr::memchr(needle, s)
}

/// Position of the first `a` or `b` in `s`, the same way as [`find_byte`]: the parser's
/// search for where a header name ends (`:`, or LF on a line without one). One SSE2 step
/// finds most names, where a byte loop over the name costs several instructions a byte.
#[inline]
pub(crate) fn find_byte2(a: u8, b: u8, s: &[u8]) -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    if let Some(two) = memchr::arch::x86_64::sse2::memchr::Two::new(a, b) {
        return two.find(s);
    }
    memchr::memchr2(a, b, s)
}

/// Position of the first LF in `s`, for the end of a header line: the first 64 bytes are
/// searched alone first, so that the search takes memchr's 16-byte steps on most lines
/// instead of its 64-byte loop, which costs more when the line end is near. Always inlined:
/// it runs once a header line, and a call costs about a quarter of the search.
#[inline(always)]
pub(crate) fn find_line_end(s: &[u8]) -> Option<usize> {
    const NEAR: usize = 64;
    match s.split_at_checked(NEAR) {
        Some((near, far)) => {
            find_byte(b'\n', near).or_else(|| find_byte(b'\n', far).map(|i| i + NEAR))
        }
        None => find_byte(b'\n', s),
    }
}

/// Conditions of a located message, from the layers below and from framing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MessageFlags {
    /// Bytes are missing because the snap length cut a frame.
    pub cut: bool,
    /// Quoted inside an ICMP error: it never reached a SIP stack.
    pub bounced: bool,
    /// Reassembled from IP fragments.
    pub reassembled: bool,
    /// Overlapping fragments or segments disagreed on some bytes.
    pub overlap_conflict: bool,
    /// Carried in WebSocket frames (RFC 7118).
    pub websocket: bool,
    /// On a stream, without a Content-Length header: ended at the next start line or stream end.
    pub no_content_length: bool,
    /// On a stream, Content-Length promised more bytes than came before the stream ended or the
    /// next start line.
    pub short_body: bool,
    /// Some bytes before it were lost (TCP gap); framing resynchronised on this start line.
    pub after_gap: bool,
    /// Bytes that were not SIP came before its start line (in the datagram, or on the stream
    /// since the previous message) and were skipped.
    pub junk_before: bool,
}

/// One SIP message located in the capture, borrowing its bytes and frame list from where
/// framing found them (the capture's bytes, a delivery, a stream buffer). This is what the
/// framer hands out: a consumer that only reads the message (counting, parsing) needs no copy;
/// [`Located::to_message`] makes the owned [`SipMessage`] for one that keeps it.
#[derive(Debug, Clone, Copy)]
pub struct Located<'a> {
    /// Direction and transport it travelled (innermost headers).
    pub flow: Flow,
    /// The frame that completed it (its number as Wireshark shows it) and its time.
    pub frame: FrameRef,
    /// Every frame that carried a part of it, in order (the completing one included).
    pub frames: &'a [FrameRef],
    /// The message bytes: start line, headers, body.
    pub data: &'a [u8],
    pub flags: MessageFlags,
}

impl Located<'_> {
    /// The owned copy.
    pub fn to_message(&self) -> SipMessage {
        SipMessage {
            flow: self.flow,
            frame: self.frame,
            frames: self.frames.to_vec(),
            data: self.data.to_vec(),
            flags: self.flags,
        }
    }
}

/// One SIP message located in the capture, with its own copy of the bytes.
#[derive(Debug, Clone)]
pub struct SipMessage {
    /// Direction and transport it travelled (innermost headers).
    pub flow: Flow,
    /// The frame that completed it (its number as Wireshark shows it) and its time.
    pub frame: FrameRef,
    /// Every frame that carried a part of it, in order (the completing one included).
    pub frames: Vec<FrameRef>,
    /// The message bytes: start line, headers, body.
    pub data: Vec<u8>,
    pub flags: MessageFlags,
}

impl SipMessage {
    /// The borrowed view of this message.
    pub fn located(&self) -> Located<'_> {
        Located {
            flow: self.flow,
            frame: self.frame,
            frames: &self.frames,
            data: &self.data,
            flags: self.flags,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The searches find what a byte loop finds, for every length and position around the
    /// 16-byte steps and the 64-byte first look of [`find_line_end`].
    #[test]
    fn searches_match_a_byte_loop() {
        for len in 0..200usize {
            for at in (0..len).chain([len]) {
                for second in [None, Some(at + 1), Some(at + 70)] {
                    let mut s = vec![b'x'; len];
                    if let Some(b) = s.get_mut(at) {
                        *b = b'\n';
                    }
                    if let Some(b) = second.and_then(|i| s.get_mut(i)) {
                        *b = b':';
                    }
                    let lf = s.iter().position(|&b| b == b'\n');
                    let either = s.iter().position(|&b| b == b':' || b == b'\n');
                    assert_eq!(find_byte(b'\n', &s), lf, "{len} {at}");
                    assert_eq!(find_line_end(&s), lf, "{len} {at}");
                    assert_eq!(find_byte2(b':', b'\n', &s), either, "{len} {at}");
                    let colon = s.iter().position(|&b| b == b':');
                    assert_eq!(find_byte2(b':', b'y', &s), colon, "{len} {at}");
                }
            }
        }
    }
}
