//! SIP messages: finding them in payloads and reading them.
//!
//! Owns: framing (a UDP/SCTP datagram is one message; a TCP stream is cut into messages by
//! Content-Length; WebSocket frames carrying SIP are unmasked and joined), the tolerant zero-copy
//! parser (it never fails: it returns what it understood plus [`Anomaly`] values), header access
//! with compact forms, and SDP.
//!
//! May use: `crate::net` types, memchr. Knows nothing of calls or dialogs.

pub mod framing;
pub mod headers;
pub mod parse;
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
