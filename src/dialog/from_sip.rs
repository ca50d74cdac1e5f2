//! Building the model's [`Msg`] from a located, parsed SIP message: the one place where the
//! dialog model reads parser types. Text is decoded lossily here; escaping for terminals happens
//! at output.

use crate::sip::headers::lossy;
use crate::sip::{self, HeaderName, Located, SipMessage, StartLine};

use compact_str::{format_compact, ToCompactString};

use super::msg::{MediaSummary, Msg, Party, SdpSummary, Start, Text, ViaInfo};

fn text(b: &[u8]) -> Text {
    // Capture text is almost always valid UTF-8: the strict check is the fast path, the lossy
    // decoder (which walks the bytes in chunks) only runs on the rare broken value.
    match std::str::from_utf8(b) {
        Ok(s) => Text::from(s),
        Err(_) => Text::from(lossy(b)),
    }
}

fn party(na: Option<sip::NameAddr<'_>>) -> Party {
    let Some(na) = na else {
        return Party::default();
    };
    Party {
        display: na.display_name.map(text).unwrap_or_default(),
        uri: text(na.uri.raw),
        user: na.uri.user.map(text).unwrap_or_default(),
        tag: na.tag().map(text),
    }
}

fn sdp_summary(s: &sip::Sdp<'_>) -> SdpSummary {
    SdpSummary {
        address: s.connection.map(|c| text(c.address)),
        media: s
            .media
            .iter()
            .map(|m| MediaSummary {
                kind: text(m.kind),
                port: m.port.unwrap_or(0),
                proto: text(m.proto),
                codecs: m
                    .codecs()
                    .iter()
                    .map(|c| match (c.name, c.clock_rate, c.payload_type) {
                        (Some(n), Some(r), _) => format_compact!("{}/{}", lossy(n), r),
                        (Some(n), None, _) => text(n),
                        (None, _, Some(pt)) => pt.to_compact_string(),
                        (None, _, None) => Text::const_new("?"),
                    })
                    .collect(),
                direction: Text::const_new(m.effective_direction.as_str()),
                address: m.effective_connection.map(|c| text(c.address)),
            })
            .collect(),
    }
}

impl Msg {
    /// Reads everything the model needs from a located message. `keep_raw` keeps a copy of the
    /// message text (for `--raw` exports and the terminal view).
    pub fn from_located(m: &SipMessage, keep_raw: bool) -> Msg {
        Msg::from_borrowed(&m.located(), keep_raw)
    }

    /// Same as [`Msg::from_located`] from the framer's borrowed view: the message bytes are
    /// only read (copied only with `keep_raw`), so a datagram goes from the capture's pages to
    /// the model without an intermediate copy.
    pub fn from_borrowed(m: &Located<'_>, keep_raw: bool) -> Msg {
        let p = sip::parse(m.data);
        let mut msg = Msg::from_parsed_parts(m, &p, keep_raw);
        msg.frames = m.frames.to_vec();
        msg
    }

    /// Same as [`Msg::from_located`], taking the message: its frame list (and its text, with
    /// `keep_raw`) move into the [`Msg`] instead of being copied.
    pub fn from_message(m: SipMessage, keep_raw: bool) -> Msg {
        let mut msg = {
            let p = sip::parse(&m.data);
            Msg::from_parsed_parts(&m.located(), &p, false)
        };
        msg.frames = m.frames;
        if keep_raw {
            msg.raw = Some(m.data);
        }
        msg
    }

    /// Same as [`Msg::from_located`] when the message is already parsed.
    pub fn from_parsed(m: &SipMessage, p: &sip::Message<'_>, keep_raw: bool) -> Msg {
        let mut msg = Msg::from_parsed_parts(&m.located(), p, keep_raw);
        msg.frames = m.frames.clone();
        msg
    }

    /// Everything but the frame list (left as just the completing frame).
    fn from_parsed_parts(m: &Located<'_>, p: &sip::Message<'_>, keep_raw: bool) -> Msg {
        let start = match p.start {
            StartLine::Request { method, uri, .. } => Start::Request {
                method: Text::from(method.as_str()),
                uri: text(uri),
            },
            StartLine::Response { code, reason, .. } => Start::Response {
                code,
                reason: text(reason),
            },
            StartLine::Invalid { .. } => Start::Invalid,
        };
        let mut msg = Msg::blank(m.flow, m.frame, start);
        msg.flags = m.flags;
        msg.call_id = p.call_id().map(text).unwrap_or_default();
        msg.from = party(p.from());
        msg.to = party(p.to());
        msg.cseq = p.cseq().map(|(n, meth)| (n, Text::from(meth.as_str())));
        msg.vias = p
            .vias()
            .map(|v| ViaInfo {
                sent_by: match v.port {
                    Some(port) if v.host.contains(&b':') => {
                        format_compact!("[{}]:{}", lossy(v.host), port)
                    }
                    Some(port) => format_compact!("{}:{}", lossy(v.host), port),
                    None => text(v.host),
                },
                transport: text(v.transport),
                branch: v.branch().map(text),
                received: v.received().map(text),
                rport: v
                    .rport()
                    .map(|p| p.map(|n| n.to_compact_string()).unwrap_or_default()),
            })
            .collect();
        msg.contact = p.contacts().next().map(|c| text(c.uri.raw));
        msg.record_route = p.record_routes().map(|r| text(r.uri.raw)).collect();
        msg.route = p.routes().map(|r| text(r.uri.raw)).collect();
        msg.max_forwards = p.max_forwards();
        msg.user_agent = p.user_agent().map(text);
        msg.server = p.server().map(text);
        msg.reason_header = p.reason().map(text);
        msg.warning = p.warning().map(text);
        msg.retry_after = p.header(HeaderName::RetryAfter).map(text);
        msg.expires = p.header(HeaderName::Expires).map(text);
        msg.has_credentials = p.header(HeaderName::Authorization).is_some()
            || p.header(HeaderName::ProxyAuthorization).is_some();
        msg.has_challenge = p.header(HeaderName::WwwAuthenticate).is_some()
            || p.header(HeaderName::ProxyAuthenticate).is_some();
        msg.content_type = p.content_type().map(text);
        msg.sdp = p.sdp().map(|s| sdp_summary(&s));
        msg.anomalies = p
            .anomalies()
            .iter()
            .map(|a| a.to_compact_string())
            .collect();
        msg.size = m.data.len();
        if keep_raw {
            msg.raw = Some(m.data.to_vec());
        }
        msg
    }
}
