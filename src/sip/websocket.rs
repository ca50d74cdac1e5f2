//! WebSocket framing (RFC 6455) as used to carry SIP (RFC 7118).
//!
//! Owns: reading a frame header (FIN, RSV, opcode, 7/16/64-bit payload length, mask key),
//! unmasking, and joining the data frames of a fragmented message ([`MessageAssembler`]).
//! It works on bytes already in order; finding streams, buffering split frames and turning
//! messages into `SipMessage` values is `framing`'s job.

pub const OP_CONTINUATION: u8 = 0x0;
pub const OP_TEXT: u8 = 0x1;
pub const OP_BINARY: u8 = 0x2;
pub const OP_CLOSE: u8 = 0x8;
pub const OP_PING: u8 = 0x9;
pub const OP_PONG: u8 = 0xA;

/// The fixed part of a frame, before its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    pub fin: bool,
    /// The three RSV bits (non-zero when an extension such as permessage-deflate is in use).
    pub rsv: u8,
    pub opcode: u8,
    /// Present on client-to-server frames.
    pub mask: Option<[u8; 4]>,
    pub payload_len: u64,
    /// Bytes from the frame start to the first payload byte (2 to 14).
    pub header_len: usize,
}

impl FrameHeader {
    /// Header plus payload, if it fits in memory sizes.
    pub fn frame_len(&self) -> Option<usize> {
        usize::try_from(self.payload_len)
            .ok()?
            .checked_add(self.header_len)
    }

    pub fn is_control(&self) -> bool {
        self.opcode >= OP_CLOSE
    }
}

/// Result of reading a frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderParse {
    /// More bytes are needed to read the header.
    Incomplete,
    /// These bytes cannot be a frame header (reserved opcode, oversized control frame,
    /// 64-bit length with its top bit set).
    Invalid,
    Complete(FrameHeader),
}

/// Reads the frame header at the start of `b`.
pub fn parse_header(b: &[u8]) -> HeaderParse {
    let (Some(&b0), Some(&b1)) = (b.first(), b.get(1)) else {
        return HeaderParse::Incomplete;
    };
    let fin = b0 & 0x80 != 0;
    let rsv = (b0 >> 4) & 0x7;
    let opcode = b0 & 0x0F;
    if !matches!(
        opcode,
        OP_CONTINUATION | OP_TEXT | OP_BINARY | OP_CLOSE | OP_PING | OP_PONG
    ) {
        return HeaderParse::Invalid;
    }
    let masked = b1 & 0x80 != 0;
    let len7 = b1 & 0x7F;
    let (payload_len, mut at) = match len7 {
        126 => {
            let Some(x) = b.get(2..4).and_then(|x| <[u8; 2]>::try_from(x).ok()) else {
                return HeaderParse::Incomplete;
            };
            (u64::from(u16::from_be_bytes(x)), 4usize)
        }
        127 => {
            let Some(x) = b.get(2..10).and_then(|x| <[u8; 8]>::try_from(x).ok()) else {
                return HeaderParse::Incomplete;
            };
            let n = u64::from_be_bytes(x);
            if n >> 63 != 0 {
                return HeaderParse::Invalid;
            }
            (n, 10usize)
        }
        n => (u64::from(n), 2usize),
    };
    // Control frames are never fragmented and carry at most 125 bytes.
    if opcode >= OP_CLOSE && (!fin || payload_len > 125) {
        return HeaderParse::Invalid;
    }
    let mask = if masked {
        let Some(k) = b.get(at..at + 4).and_then(|k| <[u8; 4]>::try_from(k).ok()) else {
            return HeaderParse::Incomplete;
        };
        at += 4;
        Some(k)
    } else {
        None
    };
    HeaderParse::Complete(FrameHeader {
        fin,
        rsv,
        opcode,
        mask,
        payload_len,
        header_len: at,
    })
}

/// Appends `payload` to `out`, unmasked with `mask` (the key restarts at each frame).
pub fn unmask_into(out: &mut Vec<u8>, payload: &[u8], mask: Option<[u8; 4]>) {
    match mask {
        None => out.extend_from_slice(payload),
        Some(k) => out.extend(
            payload
                .iter()
                .zip(k.iter().cycle())
                .map(|(byte, key)| byte ^ key),
        ),
    }
}

/// A complete data message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsMessage {
    /// [`OP_TEXT`] or [`OP_BINARY`].
    pub opcode: u8,
    pub payload: Vec<u8>,
    /// The message was longer than the cap: `payload` holds only its beginning.
    pub truncated: bool,
    /// A fragmented message was in progress when a new one began (protocol error): it was
    /// dropped.
    pub dropped_partial: bool,
}

/// Joins data frames into messages across continuation frames.
#[derive(Debug)]
pub struct MessageAssembler {
    partial: Vec<u8>,
    opcode: Option<u8>,
    truncated: bool,
    dropped_partial: bool,
    max: usize,
}

impl MessageAssembler {
    /// `max`: the most payload bytes kept per message.
    pub fn new(max: usize) -> Self {
        MessageAssembler {
            partial: Vec::new(),
            opcode: None,
            truncated: false,
            dropped_partial: false,
            max,
        }
    }

    /// Payload bytes held for a fragmented message in progress.
    pub fn buffered_bytes(&self) -> usize {
        self.partial.len()
    }

    /// True while a fragmented message waits for its last frame.
    pub fn in_progress(&self) -> bool {
        self.opcode.is_some()
    }

    /// Forgets a message in progress (bytes were lost).
    pub fn reset(&mut self) {
        self.partial.clear();
        self.opcode = None;
        self.truncated = false;
        self.dropped_partial = false;
    }

    /// Feeds one whole frame (header already read, `payload` still masked). Returns a message
    /// when this frame completes one; control frames and stray continuations return `None`.
    pub fn push_frame(&mut self, h: &FrameHeader, payload: &[u8]) -> Option<WsMessage> {
        if h.is_control() {
            return None;
        }
        if h.opcode == OP_CONTINUATION {
            let opcode = self.opcode?;
            self.append(payload, h.mask);
            if !h.fin {
                return None;
            }
            let msg = WsMessage {
                opcode,
                payload: std::mem::take(&mut self.partial),
                truncated: self.truncated,
                dropped_partial: self.dropped_partial,
            };
            self.reset();
            return Some(msg);
        }
        // A new text or binary message.
        let dropped = self.in_progress();
        self.reset();
        self.dropped_partial = dropped;
        self.opcode = Some(h.opcode);
        self.append(payload, h.mask);
        if !h.fin {
            return None;
        }
        let msg = WsMessage {
            opcode: h.opcode,
            payload: std::mem::take(&mut self.partial),
            truncated: self.truncated,
            dropped_partial: self.dropped_partial,
        };
        self.reset();
        Some(msg)
    }

    fn append(&mut self, payload: &[u8], mask: Option<[u8; 4]>) {
        let room = self.max.saturating_sub(self.partial.len());
        if payload.len() > room {
            self.truncated = true;
        }
        let keep = payload.get(..room.min(payload.len())).unwrap_or(&[]);
        unmask_into(&mut self.partial, keep, mask);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(fin: bool, opcode: u8, mask: Option<[u8; 4]>, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![(if fin { 0x80 } else { 0 }) | opcode];
        let m = if mask.is_some() { 0x80 } else { 0 };
        let n = payload.len();
        if n < 126 {
            out.push(m | n as u8);
        } else if n <= 0xFFFF {
            out.push(m | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        } else {
            out.push(m | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
        if let Some(k) = mask {
            out.extend_from_slice(&k);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ k[i % 4]));
        } else {
            out.extend_from_slice(payload);
        }
        out
    }

    #[test]
    fn lengths_7_16_64_bits() {
        for n in [5usize, 126, 300, 70_000] {
            let payload = vec![b'x'; n];
            let f = frame(true, OP_BINARY, None, &payload);
            let HeaderParse::Complete(h) = parse_header(&f) else {
                panic!("header of {n} not read");
            };
            assert_eq!(h.payload_len, n as u64);
            assert_eq!(h.frame_len(), Some(f.len()));
        }
    }

    #[test]
    fn incomplete_and_invalid_headers() {
        let f = frame(true, OP_TEXT, Some([1, 2, 3, 4]), &[b'a'; 200]);
        for cut in 0..8 {
            assert_eq!(
                parse_header(&f[..cut]),
                HeaderParse::Incomplete,
                "cut {cut}"
            );
        }
        assert!(matches!(parse_header(&f[..8]), HeaderParse::Complete(_)));
        assert_eq!(parse_header(&[0x83, 0x00]), HeaderParse::Invalid);
        // A ping that claims 126 bytes.
        assert_eq!(parse_header(&[0x89, 126, 0, 126]), HeaderParse::Invalid);
        let mut huge = vec![0x82, 127];
        huge.extend_from_slice(&u64::MAX.to_be_bytes());
        assert_eq!(parse_header(&huge), HeaderParse::Invalid);
    }

    #[test]
    fn masked_frame_unmasks_and_fragments_join() {
        let key = [0x37, 0xfa, 0x21, 0x3d];
        let mut asm = MessageAssembler::new(1000);
        let parts: [&[u8]; 3] = [b"OPTIONS sip:a", b"@b SIP/2.0\r\n", b"\r\n"];
        let mut got = None;
        for (i, p) in parts.iter().enumerate() {
            let op = if i == 0 { OP_TEXT } else { OP_CONTINUATION };
            let f = frame(i == 2, op, Some(key), p);
            let HeaderParse::Complete(h) = parse_header(&f) else {
                panic!("no header");
            };
            let r = asm.push_frame(&h, &f[h.header_len..]);
            if i < 2 {
                assert!(r.is_none());
                assert!(asm.in_progress());
            }
            got = r;
        }
        let msg = got.expect("message after the final fragment");
        assert_eq!(msg.payload, b"OPTIONS sip:a@b SIP/2.0\r\n\r\n");
        assert_eq!(msg.opcode, OP_TEXT);
        assert!(!msg.truncated);
    }

    #[test]
    fn cap_truncates_and_control_frames_pass() {
        let mut asm = MessageAssembler::new(4);
        let ping = frame(true, OP_PING, None, b"hi");
        let HeaderParse::Complete(h) = parse_header(&ping) else {
            panic!("no header");
        };
        assert!(asm.push_frame(&h, &ping[h.header_len..]).is_none());
        let f = frame(true, OP_BINARY, None, b"abcdefgh");
        let HeaderParse::Complete(h) = parse_header(&f) else {
            panic!("no header");
        };
        let msg = asm.push_frame(&h, &f[h.header_len..]).expect("message");
        assert_eq!(msg.payload, b"abcd");
        assert!(msg.truncated);
    }
}
