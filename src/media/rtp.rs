//! RTP fixed header (RFC 3550 section 5.1) and the payload type tables.
//!
//! Owns: [`RtpPacket`] (the few header fields the analysis keeps, `Copy`, no payload bytes),
//! [`parse_rtp`], the content test [`plausible_payload_type`], and [`static_payload`] which
//! gives for a static payload type both the name tshark prints in its `rtp,streams` table
//! (`g711U`) and the IANA/SDP encoding name (`PCMU`) with its clock rate, and
//! [`dynamic_clock_rate`] (clock rates known for common dynamic encoding names).

/// What the stream analysis needs from one RTP packet. Payload bytes are not kept, except the
/// first four, which hold an RFC 4733 event when the packet carries one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpPacket {
    pub marker: bool,
    pub payload_type: u8,
    pub seq: u16,
    pub timestamp: u32,
    pub ssrc: u32,
    /// Payload length after the header, CSRCs, extension and padding.
    pub payload_len: u16,
    /// The first four payload bytes (zero-filled when shorter).
    pub head: [u8; 4],
}

/// Why a datagram is not a well-formed RTP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RtpError {
    TooShort,
    BadVersion,
    /// CSRC list or header extension runs past the end.
    Truncated,
    /// The padding count is larger than what follows the header.
    BadPadding,
}

/// Reads the RTP header of a UDP payload. Never panics.
pub fn parse_rtp(data: &[u8]) -> Result<RtpPacket, RtpError> {
    let fixed = data.get(..12).ok_or(RtpError::TooShort)?;
    let b0 = fixed[0];
    if b0 >> 6 != 2 {
        return Err(RtpError::BadVersion);
    }
    let padding = b0 & 0x20 != 0;
    let extension = b0 & 0x10 != 0;
    let csrc_count = usize::from(b0 & 0x0f);
    let b1 = fixed[1];
    let seq = u16::from_be_bytes([fixed[2], fixed[3]]);
    let timestamp = u32::from_be_bytes([fixed[4], fixed[5], fixed[6], fixed[7]]);
    let ssrc = u32::from_be_bytes([fixed[8], fixed[9], fixed[10], fixed[11]]);
    let mut offset = 12 + 4 * csrc_count;
    if data.len() < offset {
        return Err(RtpError::Truncated);
    }
    if extension {
        // 16 bits profile-defined, 16 bits length in 32-bit words, then the words.
        let ext = data.get(offset..offset + 4).ok_or(RtpError::Truncated)?;
        let words = usize::from(u16::from_be_bytes([ext[2], ext[3]]));
        offset += 4 + 4 * words;
        if data.len() < offset {
            return Err(RtpError::Truncated);
        }
    }
    let mut end = data.len();
    if padding {
        // The last byte counts the padding bytes, itself included.
        let count = usize::from(*data.last().ok_or(RtpError::BadPadding)?);
        if count == 0 || end - offset < count {
            return Err(RtpError::BadPadding);
        }
        end -= count;
    }
    let payload = data.get(offset..end).unwrap_or(&[]);
    let mut head = [0u8; 4];
    for (d, s) in head.iter_mut().zip(payload) {
        *d = *s;
    }
    Ok(RtpPacket {
        marker: b1 & 0x80 != 0,
        payload_type: b1 & 0x7f,
        seq,
        timestamp,
        ssrc,
        payload_len: u16::try_from(payload.len()).unwrap_or(u16::MAX),
        head,
    })
}

/// Whether a payload type is one an RTP sender plausibly uses: an assigned static type or a
/// dynamic one. Types 72-76 are excluded because with the marker bit set their second byte
/// reads as RTCP 200-204 (RFC 5761 section 4); the unassigned ranges are excluded so that
/// random UDP is less likely to pass.
pub fn plausible_payload_type(pt: u8) -> bool {
    static_payload(pt).is_some() || (96..=127).contains(&pt)
}

/// A static payload type: tshark's short name, the IANA encoding name, the clock rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StaticPayload {
    /// As tshark prints it in `rtp,streams` (`g711U`, `g711A`, `g729`, `CN`, ...).
    pub tshark_name: &'static str,
    /// The encoding name used in SDP rtpmap lines (`PCMU`, `PCMA`, `G729`, ...).
    pub sdp_name: &'static str,
    /// RTP timestamp clock rate in Hz (RFC 3551 table 4/5; G.722 counts 8000 by RFC 3551's
    /// historical error, which every implementation keeps).
    pub clock_rate: u32,
}

/// The RFC 3551 static payload types.
pub fn static_payload(pt: u8) -> Option<StaticPayload> {
    let (tshark_name, sdp_name, clock_rate) = match pt {
        0 => ("g711U", "PCMU", 8000),
        1 => ("fs-1016", "1016", 8000),
        2 => ("g721", "G721", 8000),
        3 => ("GSM", "GSM", 8000),
        4 => ("g723", "G723", 8000),
        5 => ("DVI4 8k", "DVI4", 8000),
        6 => ("DVI4 16k", "DVI4", 16000),
        7 => ("Exp. from Xerox PARC", "LPC", 8000),
        8 => ("g711A", "PCMA", 8000),
        9 => ("g722", "G722", 8000),
        10 => ("16-bit audio, stereo", "L16", 44100),
        11 => ("16-bit audio, monaural", "L16", 44100),
        12 => ("Qualcomm", "QCELP", 8000),
        13 => ("CN", "CN", 8000),
        14 => ("MPEG-I/II Audio", "MPA", 90000),
        15 => ("g728", "G728", 8000),
        16 => ("DVI4 11k", "DVI4", 11025),
        17 => ("DVI4 22k", "DVI4", 22050),
        18 => ("g729", "G729", 8000),
        19 => ("CN(old)", "CN", 8000),
        25 => ("CellB", "CelB", 90000),
        26 => ("JPEG", "JPEG", 90000),
        28 => ("NV", "nv", 90000),
        31 => ("h261", "H261", 90000),
        32 => ("MPEG-I/II Video", "MPV", 90000),
        33 => ("MPEG-II streams", "MP2T", 90000),
        34 => ("h263", "H263", 90000),
        _ => return None,
    };
    Some(StaticPayload {
        tshark_name,
        sdp_name,
        clock_rate,
    })
}

/// Clock rates of common dynamic encodings, by name (case-insensitive prefix match, longest
/// name first), for an rtpmap that gives no rate.
pub fn dynamic_clock_rate(name: &str) -> Option<u32> {
    const TABLE: &[(&str, u32)] = &[
        ("telephone-event", 8000),
        ("AMR-WB", 16000),
        ("EVRCWB", 16000),
        ("G7221", 16000),
        ("H263-1998", 90000),
        ("H263-2000", 90000),
        ("MP4V-ES", 90000),
        ("GSM-EFR", 8000),
        ("G726", 8000),
        ("iLBC", 8000),
        ("H264", 90000),
        ("H265", 90000),
        ("opus", 48000),
        ("speex", 8000),
        ("EVRC", 8000),
        ("AMR", 8000),
        ("EVS", 16000),
        ("VP8", 90000),
        ("VP9", 90000),
        ("t140", 1000),
        ("red", 1000),
    ];
    TABLE.iter().find_map(|(n, rate)| {
        name.get(..n.len())
            .filter(|p| p.eq_ignore_ascii_case(n))
            .map(|_| *rate)
    })
}

/// Whether an encoding name is the RFC 4733 telephone-event.
pub fn is_telephone_event(name: &str) -> bool {
    name.eq_ignore_ascii_case("telephone-event")
}

/// Whether a payload type is comfort noise (RFC 3389 type 13, or the old type 19).
pub fn is_comfort_noise(pt: u8) -> bool {
    pt == 13 || pt == 19
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(b0: u8, b1: u8, seq: u16, ts: u32, ssrc: u32) -> Vec<u8> {
        let mut v = vec![b0, b1];
        v.extend_from_slice(&seq.to_be_bytes());
        v.extend_from_slice(&ts.to_be_bytes());
        v.extend_from_slice(&ssrc.to_be_bytes());
        v
    }

    #[test]
    fn parses_fixed_header_fields() {
        let mut d = header(0x80, 0x80 | 8, 65535, 0xdead_beef, 0x58f3_3dea);
        d.extend_from_slice(&[1, 2, 3, 4, 5]);
        let p = parse_rtp(&d).unwrap();
        assert!(p.marker);
        assert_eq!(p.payload_type, 8);
        assert_eq!(p.seq, 65535);
        assert_eq!(p.timestamp, 0xdead_beef);
        assert_eq!(p.ssrc, 0x58f3_3dea);
        assert_eq!(p.payload_len, 5);
        assert_eq!(p.head, [1, 2, 3, 4]);
    }

    #[test]
    fn csrc_extension_and_padding_are_skipped() {
        // 1 CSRC, extension of 1 word, padding of 3 bytes.
        let mut d = header(0x80 | 0x20 | 0x10 | 1, 0, 1, 2, 3);
        d.extend_from_slice(&[0, 0, 0, 9]); // CSRC
        d.extend_from_slice(&[0xbe, 0xde, 0, 1, 7, 7, 7, 7]); // extension
        d.extend_from_slice(&[10, 11, 12, 13, 14, 15]); // payload
        d.extend_from_slice(&[0, 0, 3]); // padding
        let p = parse_rtp(&d).unwrap();
        assert_eq!(p.payload_len, 6);
        assert_eq!(p.head, [10, 11, 12, 13]);
    }

    #[test]
    fn rejects_malformed_headers() {
        assert_eq!(parse_rtp(&[0x80; 11]), Err(RtpError::TooShort));
        assert_eq!(
            parse_rtp(&header(0x40, 0, 1, 2, 3)),
            Err(RtpError::BadVersion)
        );
        assert_eq!(
            parse_rtp(&header(0x8f, 0, 1, 2, 3)),
            Err(RtpError::Truncated)
        );
        assert_eq!(
            parse_rtp(&header(0x90, 0, 1, 2, 3)),
            Err(RtpError::Truncated)
        );
        let mut d = header(0xa0, 0, 1, 2, 3);
        d.push(200);
        assert_eq!(parse_rtp(&d), Err(RtpError::BadPadding));
    }

    #[test]
    fn tables_give_tshark_and_sdp_names() {
        let u = static_payload(0).unwrap();
        assert_eq!(
            (u.tshark_name, u.sdp_name, u.clock_rate),
            ("g711U", "PCMU", 8000)
        );
        assert_eq!(static_payload(8).unwrap().tshark_name, "g711A");
        assert_eq!(static_payload(9).unwrap().clock_rate, 8000);
        assert_eq!(static_payload(18).unwrap().sdp_name, "G729");
        assert!(static_payload(20).is_none());
        assert!(plausible_payload_type(101));
        assert!(!plausible_payload_type(72));
        assert_eq!(dynamic_clock_rate("AMR-WB"), Some(16000));
        assert_eq!(dynamic_clock_rate("amr"), Some(8000));
        assert_eq!(dynamic_clock_rate("opus"), Some(48000));
        assert_eq!(dynamic_clock_rate("x"), None);
    }
}
