//! Building the model's [`Msg`] from a located, parsed SIP message: the one place where the
//! dialog model reads parser types. Text is decoded lossily here; escaping for terminals happens
//! at output.

use std::borrow::Cow;
use std::cell::Cell;

use crate::sip::headers::{leading_u32, lossy, UriList, ViaHopParams, ViaHops};
use crate::sip::sdp::{find_sdp, read_media, Codec};
use crate::sip::{self, HeaderName, Located, Method, NameAddr, SipMessage, StartLine, Via};

use compact_str::ToCompactString;
use smallvec::SmallVec;

use super::msg::{
    Detail, Extra, ExtraFields, Frames, MediaSummary, Msg, Party, PartyName, SdpSummary, Start,
    Text, ViaInfo, Vias,
};

/// One region of a message (its head, or its SDP body) checked for UTF-8 once. Every value
/// the model keeps is cut out of such a region at ASCII delimiters, so a value of a valid
/// region needs only a boundary check instead of its own UTF-8 validation (that was one call
/// per value, about fifteen per message).
struct Region<'a> {
    bytes: &'a [u8],
    valid: Option<&'a str>,
}

impl<'a> Region<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Region {
            bytes,
            valid: std::str::from_utf8(bytes).ok(),
        }
    }

    /// The head of a parsed message: the parser has already checked it for UTF-8.
    fn head(p: &sip::Message<'a>) -> Self {
        Region {
            bytes: p.head(),
            valid: p.head_str(),
        }
    }

    /// `b` as text: borrowed from the checked region when it lies inside it on character
    /// boundaries, otherwise decoded on its own (lossily; U+FFFD for broken bytes).
    fn str(&self, b: &'a [u8]) -> Cow<'a, str> {
        match self.borrowed(b) {
            Some(s) => Cow::Borrowed(s),
            None => lossy(b),
        }
    }

    /// `a` with the separator and number that follow it in the region, when they are written
    /// there exactly as `n` prints (`host:5060`, `PCMU/8000`): that span reads as the text
    /// built from its parts would, without building it. `None` otherwise (the caller builds).
    fn with_number(&self, a: &'a [u8], sep: u8, n: u32) -> Option<&'a [u8]> {
        if a.is_empty() {
            return None;
        }
        let off = (a.as_ptr() as usize).checked_sub(self.bytes.as_ptr() as usize)?;
        let end = off.checked_add(a.len())?;
        let digits = match self.bytes.get(end..)? {
            [s, rest @ ..] if *s == sep => rest,
            _ => return None,
        };
        let len = digits.iter().take_while(|b| b.is_ascii_digit()).count();
        let d = digits.get(..len)?;
        // No leading zero and the same value: the digits are what `n` prints.
        if len == 0 || len > 10 || (len > 1 && d.first() == Some(&b'0')) {
            return None;
        }
        let value = d
            .iter()
            .fold(0u64, |acc, &b| acc * 10 + u64::from(b - b'0'));
        if value != u64::from(n) {
            return None;
        }
        self.bytes.get(off..end + 1 + len)
    }

    fn text(&self, b: &'a [u8]) -> Text {
        match self.borrowed(b) {
            Some(s) => Text::from(s),
            None => lossy_text(b),
        }
    }

    /// `b` borrowed from the checked region, when it lies inside it on character boundaries.
    #[inline(always)]
    fn borrowed(&self, b: &'a [u8]) -> Option<&'a str> {
        let valid = self.valid?;
        let off = (b.as_ptr() as usize).wrapping_sub(self.bytes.as_ptr() as usize);
        let end = off.checked_add(b.len())?;
        if off > self.bytes.len() || end > self.bytes.len() {
            return None;
        }
        valid.get(off..end)
    }

    /// From or To: the user and the tag, and with `full` (see [`Detail::Summary`]) the display
    /// name and the whole URI.
    fn party(&self, value: Option<&'a [u8]>, full: bool) -> (Party, PartyName) {
        let Some(value) = value else {
            return Default::default();
        };
        // Only the whole URI, its user and the tag are kept: one pass reads them.
        let p = NameAddr::party(value);
        let name = if full {
            PartyName {
                display: p.display_name.map(|d| self.text(d)).unwrap_or_default(),
                uri: self.text(p.uri),
            }
        } else {
            PartyName::default()
        };
        let party = Party {
            user: p.user.map(|u| self.text(u)).unwrap_or_default(),
            tag: p.tag.map(|t| self.text(t)),
        };
        (party, name)
    }

    fn via(&self, (v, hop): (Via<'a>, ViaHopParams<'a>)) -> ViaInfo {
        ViaInfo {
            sent_by: match v.port {
                Some(port) if !v.host.contains(&b':') => {
                    match self.with_number(v.host, b':', u32::from(port)) {
                        Some(span) => self.text(span),
                        None => self.host_port(v.host, port),
                    }
                }
                Some(port) => self.host_port(v.host, port),
                None => self.text(v.host),
            },
            transport: transport_text(v.transport).unwrap_or_else(|| self.text(v.transport)),
            branch: hop.branch.map(|b| self.text(b)),
        }
    }

    /// A codec as the summary names it: `name/rate`, the name, or the payload type.
    fn codec(&self, c: Codec<'a>) -> Text {
        match (c.name, c.clock_rate, c.payload_type) {
            (Some(n), Some(r), _) => {
                // An rtpmap written `name/rate` is that text already.
                if let Some(span) = self.with_number(n, b'/', r) {
                    return self.text(span);
                }
                let name = self.str(n);
                let mut t = Text::with_capacity(name.len() + 11);
                t.push_str(&name);
                t.push('/');
                t.push_str(&r.to_compact_string());
                t
            }
            (Some(n), None, _) => self.text(n),
            (None, _, Some(pt)) => pt.to_compact_string(),
            (None, _, None) => Text::const_new("?"),
        }
    }

    /// `host:port`, an IPv6 host in brackets.
    fn host_port(&self, host: &'a [u8], port: u16) -> Text {
        let bracket = host.contains(&b':');
        let host = self.str(host);
        let mut s = Text::with_capacity(host.len() + 8);
        if bracket {
            s.push('[');
        }
        s.push_str(&host);
        if bracket {
            s.push(']');
        }
        s.push(':');
        s.push_str(&port.to_compact_string());
        s
    }
}

/// [`Region::text`] for bytes outside a checked region: decoded on their own, lossily. Kept
/// out of line, so the usual path carries none of it.
#[cold]
#[inline(never)]
fn lossy_text(b: &[u8]) -> Text {
    match lossy(b) {
        Cow::Borrowed(s) => Text::from(s),
        Cow::Owned(s) => Text::from(s),
    }
}

/// The usual transports as constants: no copy of their letters (one a hop).
fn transport_text(t: &[u8]) -> Option<Text> {
    Some(match t {
        b"UDP" => Text::const_new("UDP"),
        b"TCP" => Text::const_new("TCP"),
        b"TLS" => Text::const_new("TLS"),
        b"WS" => Text::const_new("WS"),
        b"WSS" => Text::const_new("WSS"),
        b"SCTP" => Text::const_new("SCTP"),
        _ => return None,
    })
}

thread_local! {
    /// The parser's buffers, reused from one message to the next on this thread (an
    /// allocation and a free per message otherwise).
    static SCRATCH: Cell<sip::Scratch> = Cell::new(sip::Scratch::default());
}

/// A message parsed with this thread's buffers, which it hands back when dropped: after the
/// caller's result is built, so that result is built in place instead of being copied.
struct Parsed<'a>(sip::Message<'a>);

impl<'a> Parsed<'a> {
    fn new(data: &'a [u8]) -> Self {
        Parsed(sip::parse_with(data, SCRATCH.with(Cell::take)))
    }
}

impl Drop for Parsed<'_> {
    fn drop(&mut self) {
        let scratch = self.0.take_scratch();
        SCRATCH.with(|s| s.set(scratch));
    }
}

/// The summary of an SDP body, read in one walk ([`read_media`]): each media section becomes
/// its [`MediaSummary`] as it ends, without the parser's lists of media and rtpmaps between.
fn sdp_summary(raw: &[u8]) -> SdpSummary {
    let region = Region::new(raw);
    // Nearly every body has one or two sections: gathered here, then moved into a list of
    // exactly their number, as collecting a parsed body's media gave.
    let mut media = SmallVec::<[MediaSummary; 2]>::new();
    let session = read_media(raw, |m| {
        media.push(MediaSummary {
            kind: region.text(m.kind),
            port: m.port.unwrap_or(0),
            proto: region.text(m.proto),
            codecs: m.codec_names().map(|c| region.codec(c)).collect(),
            direction: Text::const_new(m.effective_direction.as_str()),
            address: m.effective_connection.map(|c| region.text(c.address)),
        })
    });
    let mut list = Vec::with_capacity(media.len());
    list.extend(media);
    SdpSummary {
        address: session.map(|c| region.text(c.address)),
        media: list,
    }
}

/// A method as text: a known one is a constant (no copy of its letters), another is copied.
fn method_text(m: Method<'_>) -> Text {
    match m {
        Method::Invite => Text::const_new("INVITE"),
        Method::Ack => Text::const_new("ACK"),
        Method::Bye => Text::const_new("BYE"),
        Method::Cancel => Text::const_new("CANCEL"),
        Method::Register => Text::const_new("REGISTER"),
        Method::Options => Text::const_new("OPTIONS"),
        Method::Prack => Text::const_new("PRACK"),
        Method::Subscribe => Text::const_new("SUBSCRIBE"),
        Method::Notify => Text::const_new("NOTIFY"),
        Method::Publish => Text::const_new("PUBLISH"),
        Method::Info => Text::const_new("INFO"),
        Method::Refer => Text::const_new("REFER"),
        Method::Message => Text::const_new("MESSAGE"),
        Method::Update => Text::const_new("UPDATE"),
        Method::Other(s) => Text::from(s),
    }
}

impl Msg {
    /// Reads everything the model needs from a located message. `keep_raw` keeps a copy of the
    /// message text (for `--raw` exports and the terminal view).
    pub fn from_located(m: &SipMessage, keep_raw: bool) -> Msg {
        Msg::from_borrowed(&m.located(), Detail::full(keep_raw))
    }

    /// Same as [`Msg::from_located`] from the framer's borrowed view, reading as much as
    /// `detail` asks: the message bytes are only read (copied only for [`Detail::Raw`]), so a
    /// datagram goes from the capture's pages to the model without an intermediate copy.
    pub fn from_borrowed(m: &Located<'_>, detail: Detail) -> Msg {
        match Msg::quick(m, detail) {
            Some(msg) => msg,
            None => Msg::from_borrowed_parsed(m, detail),
        }
    }

    /// [`Msg::from_borrowed`] by the parser alone (the quick head reader's fallback; the
    /// tests compare the two).
    fn from_borrowed_parsed(m: &Located<'_>, detail: Detail) -> Msg {
        let p = Parsed::new(m.data);
        let raw = (detail == Detail::Raw).then(|| m.data.to_vec());
        let full = detail != Detail::Summary;
        Msg::from_parsed_parts(m, &p.0, Frames::from_slice(m.frames), raw, full)
    }

    /// Same as [`Msg::from_located`], taking the message: its frame list (and its text, with
    /// `keep_raw`) move into the [`Msg`] instead of being copied.
    pub fn from_message(mut m: SipMessage, keep_raw: bool) -> Msg {
        let frames = Frames::from_vec(std::mem::take(&mut m.frames));
        let mut msg = {
            let p = Parsed::new(&m.data);
            Msg::from_parsed_parts(&m.located(), &p.0, frames, None, true)
        };
        if keep_raw {
            msg.extra.make_mut().raw = Some(m.data);
        }
        msg
    }

    /// Same as [`Msg::from_located`] when the message is already parsed.
    pub fn from_parsed(m: &SipMessage, p: &sip::Message<'_>, keep_raw: bool) -> Msg {
        let raw = keep_raw.then(|| m.data.clone());
        Msg::from_parsed_parts(&m.located(), p, Frames::from_slice(&m.frames), raw, true)
    }

    /// The model's message from a parsed one. The headers are read in one walk over the
    /// header list (each accessor of [`sip::Message`] walks it again: about fifteen walks per
    /// message), taking the first header of each single-valued kind as the accessors do.
    /// Without `full` (a [`Detail::Summary`] read) the fields only the detailed outputs show
    /// are left empty, as that variant says; an SDP body's presence is noted either way.
    fn from_parsed_parts(
        m: &Located<'_>,
        p: &sip::Message<'_>,
        frames: Frames,
        raw: Option<Vec<u8>>,
        full: bool,
    ) -> Msg {
        let mut values = HeadValues::new(full);
        for h in p.all_headers() {
            values.add(h.id, h.value);
        }
        let head = Head {
            region: Region::head(p),
            start: p.start,
            cseq: p.cseq(),
            body: p.body(),
            anomalies: p.anomalies(),
        };
        Msg::build(m, &head, &values, frames, raw, full)
    }

    /// A read of a plain message by the quick head reader ([`sip::quick::read`]), which
    /// gives what the parser gives without building its header list; `None` for a message it
    /// declines, which the parser then reads.
    fn quick(m: &Located<'_>, detail: Detail) -> Option<Msg> {
        let full = detail != Detail::Summary;
        let mut values = HeadValues::new(full);
        let q = sip::quick::read(m.data, |id, v| values.add(id, v))?;
        let head = Head {
            region: Region {
                bytes: q.head,
                valid: Some(q.head_text),
            },
            start: q.start,
            cseq: q.cseq,
            body: q.body,
            anomalies: &q.anomalies,
        };
        let raw = (detail == Detail::Raw).then(|| m.data.to_vec());
        Some(Msg::build(
            m,
            &head,
            &values,
            Frames::from_slice(m.frames),
            raw,
            full,
        ))
    }

    /// The model's message from what a reader found in a message's head (`head`) and the
    /// header values gathered from it (`values`); see [`Msg::from_parsed_parts`]. Inlined in
    /// its two callers, so that the values gathered need not be written out for it.
    #[inline(always)]
    fn build(
        m: &Located<'_>,
        h: &Head<'_, '_>,
        values: &HeadValues<'_>,
        frames: Frames,
        raw: Option<Vec<u8>>,
        full: bool,
    ) -> Msg {
        let head = &h.region;
        let start = match h.start {
            StartLine::Request { method, uri, .. } => Start::Request {
                method: method_text(method),
                // Usually longer than a text kept inline: a summary skips its allocation.
                uri: if full {
                    head.text(uri)
                } else {
                    Text::default()
                },
            },
            StartLine::Response { code, reason, .. } => Start::Response {
                code,
                reason: head.text(reason),
            },
            StartLine::Invalid { .. } => Start::Invalid,
        };
        let HeadValues {
            call_id,
            from,
            to,
            max_forwards,
            user_agent,
            server,
            reason,
            warning,
            retry_after,
            expires,
            content_type,
            contact,
            has_credentials,
            has_challenge,
            vias: ref via_values,
            record_route: ref record_route_values,
            route: ref route_values,
            full: _,
        } = *values;
        // The hops go into a vector with room for one hop a value (how they are nearly always
        // written), so it seldom regrows and keeps little unused room with the message.
        let mut vias = Vias::with_capacity(via_values.len());
        for &v in via_values {
            vias.extend(ViaHops::new(v).map(|e| head.via(e)));
        }
        let mut record_route = Vec::new();
        for &v in record_route_values {
            record_route.extend(UriList::new(v).map(|e| head.text(e)));
        }
        let mut route = Vec::new();
        for &v in route_values {
            route.extend(UriList::new(v).map(|e| head.text(e)));
        }
        // Read only in a full read: what a summary leaves out.
        let detail = |v: Option<&[u8]>| v.filter(|_| full).map(|v| head.text(v));
        let body = find_sdp(content_type, h.body);
        let (from, from_name) = head.party(from, full);
        let (to, to_name) = head.party(to, full);
        Msg {
            frame: m.frame,
            frames,
            flow: m.flow,
            flags: m.flags,
            start,
            call_id: call_id
                .map(|v| super::Shared::call_id(&head.str(v)))
                .unwrap_or_default(),
            from,
            to,
            cseq: h.cseq.map(|(n, meth)| (n, method_text(meth))),
            vias,
            record_route,
            user_agent: user_agent.map(|v| super::Shared::product(&head.str(v))),
            server: server.map(|v| super::Shared::product(&head.str(v))),
            has_credentials,
            has_challenge,
            has_sdp: body.is_some(),
            size: m.data.len(),
            // A summary read leaves every one of these empty: no box to make or look at.
            extra: if full || raw.is_some() {
                Extra::new(ExtraFields {
                    from_name,
                    to_name,
                    contact: contact.filter(|_| full).map(|c| head.text(c)),
                    route,
                    max_forwards: max_forwards.filter(|_| full).and_then(leading_u32),
                    reason_header: detail(reason),
                    warning: detail(warning),
                    retry_after: detail(retry_after),
                    expires: detail(expires),
                    content_type: detail(content_type),
                    sdp: body.filter(|_| full).map(sdp_summary),
                    anomalies: if full {
                        h.anomalies.iter().map(|a| a.to_compact_string()).collect()
                    } else {
                        Vec::new()
                    },
                    raw,
                })
            } else {
                Extra::default()
            },
        }
    }
}

/// What a reader of a message's head found besides its headers: the parser
/// ([`Msg::from_parsed_parts`]) or the quick head reader ([`Msg::quick`]).
struct Head<'a, 'p> {
    region: Region<'a>,
    start: StartLine<'a>,
    cseq: Option<(u32, Method<'a>)>,
    body: &'a [u8],
    anomalies: &'p [sip::Anomaly],
}

/// The header values the model reads, gathered in one walk over a message's headers (in
/// message order) before any is read further. The first header of a single-valued kind
/// wins, as [`sip::Message::header`] has it. Without `full` the values only a full read
/// shows (Contact, Route) are not gathered.
#[derive(Default)]
struct HeadValues<'a> {
    call_id: Option<&'a [u8]>,
    from: Option<&'a [u8]>,
    to: Option<&'a [u8]>,
    max_forwards: Option<&'a [u8]>,
    user_agent: Option<&'a [u8]>,
    server: Option<&'a [u8]>,
    reason: Option<&'a [u8]>,
    warning: Option<&'a [u8]>,
    retry_after: Option<&'a [u8]>,
    expires: Option<&'a [u8]>,
    content_type: Option<&'a [u8]>,
    /// The first URI of the first Contact header that has one.
    contact: Option<&'a [u8]>,
    has_credentials: bool,
    has_challenge: bool,
    vias: SmallVec<[&'a [u8]; 4]>,
    record_route: SmallVec<[&'a [u8]; 2]>,
    route: SmallVec<[&'a [u8]; 2]>,
    full: bool,
}

impl<'a> HeadValues<'a> {
    fn new(full: bool) -> Self {
        HeadValues {
            full,
            ..Default::default()
        }
    }

    /// Notes one header. `get_or_insert`: the first header of a kind wins.
    #[inline]
    fn add(&mut self, id: HeaderName, v: &'a [u8]) {
        match id {
            HeaderName::Via => self.vias.push(v),
            HeaderName::From => _ = self.from.get_or_insert(v),
            HeaderName::To => _ = self.to.get_or_insert(v),
            HeaderName::CallId => _ = self.call_id.get_or_insert(v),
            HeaderName::Contact if self.full && self.contact.is_none() => {
                self.contact = UriList::first(v);
            }
            HeaderName::RecordRoute => self.record_route.push(v),
            HeaderName::Route if self.full => self.route.push(v),
            HeaderName::MaxForwards => _ = self.max_forwards.get_or_insert(v),
            HeaderName::UserAgent => _ = self.user_agent.get_or_insert(v),
            HeaderName::Server => _ = self.server.get_or_insert(v),
            HeaderName::Reason => _ = self.reason.get_or_insert(v),
            HeaderName::Warning => _ = self.warning.get_or_insert(v),
            HeaderName::RetryAfter => _ = self.retry_after.get_or_insert(v),
            HeaderName::Expires => _ = self.expires.get_or_insert(v),
            HeaderName::ContentType => _ = self.content_type.get_or_insert(v),
            HeaderName::Authorization | HeaderName::ProxyAuthorization => {
                self.has_credentials = true
            }
            HeaderName::WwwAuthenticate | HeaderName::ProxyAuthenticate => {
                self.has_challenge = true
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::{Endpoint, Flow, FrameRef, Transport};
    use std::net::{IpAddr, Ipv4Addr};

    fn located(data: &[u8]) -> SipMessage {
        let end = Endpoint {
            ip: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
            port: 5060,
        };
        let frame = FrameRef {
            file: 0,
            number: 7,
            ts_ns: 1,
        };
        SipMessage {
            flow: Flow {
                transport: Transport::Udp,
                src: end,
                dst: end,
            },
            frame,
            frames: vec![frame],
            data: data.to_vec(),
            flags: Default::default(),
        }
    }

    const INVITE: &[u8] = b"INVITE sip:bob@example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP [2001:db8::1]:5062;branch=z9hG4bKa;rport\r\n\
v: SIP/2.0/TCP 10.0.0.2:5060;received=192.0.2.9;rport=4000;branch=z9hG4bKb, SIP/2.0/UDP h\r\n\
From: \"Alice\" <sip:alice@example.com>;tag=first\r\n\
From: <sip:mallory@example.com>;tag=second\r\n\
To: <tel:+15551234>\r\n\
Call-ID: abc@h\r\n\
CSeq: 7 INVITE\r\n\
Contact: \r\n\
m: <sip:alice@10.0.0.1:5060;transport=udp>;expires=60, <sip:other@h>\r\n\
Record-Route: <sip:p1;lr>, <sip:p2;lr>\r\n\
Route: <sip:r1;lr>\r\n\
Max-Forwards: 69\r\n\
Proxy-Authorization: Digest x\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 90\r\n\
\r\n\
v=0\r\n\
c=IN IP4 10.0.0.1\r\n\
m=audio 4000 RTP/AVP 0 101 96\r\n\
a=rtpmap:101 telephone-event/8000\r\n";

    #[test]
    fn one_walk_reads_what_the_accessors_read() {
        let sip = located(INVITE);
        let msg = Msg::from_located(&sip, false);
        let p = sip::parse(INVITE);
        assert_eq!(msg.call_id, "abc@h");
        // The first From counts, as `Message::from` has it.
        assert_eq!(msg.from.tag.as_deref(), Some("first"));
        assert_eq!(msg.extra.from_name.display, "Alice");
        assert_eq!(msg.from.user, "alice");
        assert_eq!(msg.extra.from_name.uri, "sip:alice@example.com");
        assert_eq!(
            (msg.to.user.as_str(), msg.to.tag.as_ref()),
            ("+15551234", None)
        );
        assert_eq!(msg.cseq, Some((7, Text::from("INVITE"))));
        // The empty Contact header yields no value: the next one does.
        assert_eq!(
            msg.extra.contact.as_deref(),
            p.contacts()
                .next()
                .map(|c| String::from_utf8_lossy(c.uri.raw).into_owned())
                .as_deref()
        );
        assert_eq!(
            msg.extra.contact.as_deref(),
            Some("sip:alice@10.0.0.1:5060;transport=udp")
        );
        assert_eq!(msg.record_route, ["sip:p1;lr", "sip:p2;lr"]);
        assert_eq!(msg.extra.route, ["sip:r1;lr"]);
        assert_eq!(msg.extra.max_forwards, Some(69));
        assert!(msg.has_credentials && !msg.has_challenge);
        let sent_by: Vec<&str> = msg.vias.iter().map(|v| v.sent_by.as_str()).collect();
        assert_eq!(sent_by, ["[2001:db8::1]:5062", "10.0.0.2:5060", "h"]);
        assert_eq!(msg.vias.len(), p.vias().count());
        // Room for a hop a Via header: two headers, three hops (one regrowth).
        assert!(msg.vias.capacity() >= 3);
        // The branch of each hop, whatever parameters come before or after it.
        let branches: Vec<Option<&str>> = msg.vias.iter().map(|v| v.branch.as_deref()).collect();
        assert_eq!(branches, [Some("z9hG4bKa"), Some("z9hG4bKb"), None]);
        assert_eq!(msg.top_branch(), Some("z9hG4bKa"));
        let sdp = msg.extra.sdp.as_ref().expect("an SDP body");
        assert_eq!(sdp.address.as_deref(), Some("10.0.0.1"));
        assert_eq!(
            sdp.media[0].codecs,
            ["PCMU/8000", "telephone-event/8000", "96"]
        );
        assert_eq!(msg.frames[..], sip.frames[..]);
        assert_eq!(msg.size, INVITE.len());
    }

    #[test]
    fn spans_as_written_read_like_the_built_text() {
        let raw = b"INVITE sip:b@h SIP/2.0\r\n\
Via: SIP/2.0/UDP h1:05060;branch=a, SIP/2.0/UDP h2: 5060, SIP/2.0/UDP h3:5060 ;rport\r\n\
Via: SIP/2.0/UDP [::1]:5062, SIP/2.0/UDP [h4]:70, SIP/2.0/TCP :9, SIP/2.0/UDP h5:0\r\n\
Via: SIP/2.0/UDP h6:99999, SIP/2.0/UDP h\xff7:5060\r\n\
From: <sip:a@h>;tag=1\r\nTo: <sip:b@h>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n\
Content-Type: application/sdp\r\n\r\n\
v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 96 97 98 99 0\r\n\
a=rtpmap:96 X/08000\r\na=rtpmap:97 Y / 8000\r\na=rtpmap:98 Z/16000/2\r\n\
a=rtpmap:99 W/8000x\r\n";
        let msg = Msg::from_located(&located(raw), false);
        let sent_by: Vec<&str> = msg.vias.iter().map(|v| v.sent_by.as_str()).collect();
        assert_eq!(
            sent_by,
            [
                "h1:5060",
                "h2:5060",
                "h3:5060",
                "[::1]:5062",
                "h4:70",
                ":9",
                "h5:0",
                "h6",
                "h\u{fffd}7:5060"
            ]
        );
        // Nine hops in three headers: all read, whatever room the first guess gave.
        assert_eq!(msg.vias.len(), 9);
        let one = Msg::from_located(&located(b"OPTIONS sip:b@h SIP/2.0\r\nVia: SIP/2.0/UDP h1\r\nv: SIP/2.0/UDP h2\r\nCall-ID: c\r\n\r\n"), false);
        // One hop a header: no unused room is kept with the message.
        assert_eq!((one.vias.len(), one.vias.capacity()), (2, 2));
        let none = Msg::from_located(
            &located(b"OPTIONS sip:b@h SIP/2.0\r\nCall-ID: c\r\n\r\n"),
            false,
        );
        // No Via: nothing on the heap (the inline room of one is all there is).
        assert_eq!(none.vias.len(), 0);
        assert!(!none.vias.spilled());
        let codecs = &msg.extra.sdp.as_ref().expect("an SDP body").media[0].codecs;
        assert_eq!(
            codecs,
            &["X/8000", "Y/8000", "Z/16000", "W/8000", "PCMU/8000"]
        );
    }

    /// The summary as it was built before the one-walk reading: from the parsed body's lists.
    fn sdp_summary_reference(s: &sip::Sdp<'_>) -> SdpSummary {
        let region = Region::new(s.raw);
        SdpSummary {
            address: s.connection.map(|c| region.text(c.address)),
            media: s
                .media
                .iter()
                .map(|m| MediaSummary {
                    kind: region.text(m.kind),
                    port: m.port.unwrap_or(0),
                    proto: region.text(m.proto),
                    codecs: m
                        .codec_names()
                        .map(|c| match (c.name, c.clock_rate, c.payload_type) {
                            (Some(n), Some(r), _) => {
                                if let Some(span) = region.with_number(n, b'/', r) {
                                    return region.text(span);
                                }
                                let name = region.str(n);
                                let mut t = Text::with_capacity(name.len() + 11);
                                t.push_str(&name);
                                t.push('/');
                                t.push_str(&r.to_compact_string());
                                t
                            }
                            (Some(n), None, _) => region.text(n),
                            (None, _, Some(pt)) => pt.to_compact_string(),
                            (None, _, None) => Text::const_new("?"),
                        })
                        .collect(),
                    direction: Text::const_new(m.effective_direction.as_str()),
                    address: m.effective_connection.map(|c| region.text(c.address)),
                })
                .collect(),
        }
    }

    /// The one-walk summary of `raw` is the reference's, list room included (the model keeps
    /// no more memory than before).
    fn assert_same_summary(raw: &[u8]) {
        let (new, old) = (
            sdp_summary(raw),
            sdp_summary_reference(&sip::sdp::parse_sdp_media(raw)),
        );
        assert_eq!(new, old, "{:?}", String::from_utf8_lossy(raw));
        assert_eq!(new.media.capacity(), old.media.capacity());
        for (n, o) in new.media.iter().zip(&old.media) {
            assert_eq!(n.codecs.capacity(), o.codecs.capacity());
        }
    }

    #[test]
    fn sdp_summary_matches_the_reference_on_tricky_bodies() {
        let bodies: [&[u8]; 14] = [
            // Session c= and direction, two sections, media c= (IPv6), dynamic types with and
            // without rtpmap, duplicate rtpmap, rtpmap before any m=, port count.
            b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\na=rtpmap:0 X/1\r\n\
              a=sendonly\r\nt=0 0\r\nm=audio 49170/2 RTP/AVP 0 8 96 101 97\r\n\
              a=rtpmap:101 telephone-event/8000\r\na=rtpmap:96 opus/48000/2\r\n\
              a=rtpmap:96 dup/8000\r\na=fmtp:101 0-16\r\na=inactive\r\n\
              m=video 0 RTP/AVP 31 98\r\nc=IN IP6 2001:db8::5/64\r\na=recvonly:x\r\n\
              a=rtpmap:98 H264/090000\r\nm=image 6000 udptl t38\r\n",
            // LF only; missing port, proto, formats; a=inactive only at session level.
            b"v=0\nc=IN IP4 0.0.0.0\na=inactive\nm=audio\nm=audio x RTP/AVP\nm=video 70000\n\
              m=audio 5 RTP/AVP 0\na=sendrecv\nm=audio 6 RTP/AVP 8\n",
            // Bare CRs, blanks and tabs, broken c= lines, upper-case keys, rtpmap odd forms.
            b" v=0 \r\r\n\tc=IN\tIP4\t1.2.3.4 extra\r\nC=IN IP4 9.9.9.9\nc=IN\nc=IN IP4 /1\n\
              m= audio \r1 RTP/AVP 8 101 \t 96\r\na= rtpmap:101 te/8000\r\n\
              a=rtpmap: 8 PCMA / 8000 / 1 \r\na=rtpmap:8\r\na=rtpmap\r\na=rtpmap:96 Z/8000x\r\n\
              a=rtpmap:300 x/1\r\na=rtpmap:96 W/99999999999\r\n",
            // Non-UTF-8 in names and addresses, and a cut character.
            b"v=0\nc=IN IP4 \xff\xfe\nm=au\xc3\xa9dio 1 RTP/\xff 96 97 t\xc3\n\
              a=rtpmap:96 \xc3\xa9/8000\na=rtpmap:97 n\xff/8000/2\n",
            // No m= at all; only a session c=; an empty body; blank lines.
            b"v=0\r\nc=IN IP4 10.0.0.1\r\na=sendonly\r\n",
            b"",
            b"\r\n\r\n",
            b"=\na=\nm=\nc=\ns=\nv=\n1=x\n",
            // Many sections, each with a c= and a direction, rtpmaps for earlier formats only.
            b"m=audio 1 RTP/AVP 0\nc=IN IP4 1.1.1.1\na=sendonly\nm=audio 2 RTP/AVP 96\n\
              a=rtpmap:96 A/8000\nm=audio 3 RTP/AVP 96\nc=IN IP6 ::\nm=audio 4 RTP/AVP 97 96\n\
              a=rtpmap:97 B/16000\na=recvonly\nm=audio 5 RTP/AVP 0\nm=video 6 RTP/AVP 31\n",
            // More rtpmaps in one section than the reader holds on the stack.
            b"v=0\nc=IN IP4 1.2.3.4\nm=video 9 RTP/AVP 96 97 98 99 100 101 102 103 104 105 106 107 \
              108 109 110 111 112 113 114 115 116 0\na=rtpmap:96 V0/90000\na=rtpmap:97 V1/90000\n\
              a=rtpmap:98 V2/90000\na=rtpmap:99 V3/90000\na=rtpmap:100 V4/90000\n\
              a=rtpmap:101 V5/90000\na=rtpmap:102 V6/90000\na=rtpmap:103 V7/90000\n\
              a=rtpmap:104 V8/90000\na=rtpmap:105 V9/90000\na=rtpmap:106 V10/90000\n\
              a=rtpmap:107 V11/90000\na=rtpmap:108 V12/90000\na=rtpmap:109 V13/90000\n\
              a=rtpmap:110 V14/90000\na=rtpmap:111 V15/90000\na=rtpmap:112 V16/90000\n\
              a=rtpmap:113 V17/90000\na=rtpmap:114 V18/90000\na=rtpmap:0 V19/90000\n\
              m=audio 8 RTP/AVP 96 0\na=rtpmap:96 after/8000\n",
            // A long name (heap text) and a name/rate not written as it prints.
            b"m=audio 1 RTP/AVP 96 97 98\na=rtpmap:96 a-very-long-codec-name-indeed/8000\n\
              a=rtpmap:97 X/08000\na=rtpmap:98 Y / 8000\n",
            b"m=audio 1 RTP/AVP 0 8 9 18 101\n",
            b"a=sendrecv",
            b"c=IN IP4 0.0.0.0\r\nm=audio 0 RTP/AVP 0\r\nm=image 6000 udptl t38\r\n",
        ];
        for b in bodies {
            for cut in 0..=b.len() {
                assert_same_summary(&b[..cut]);
            }
        }
    }

    /// The same on the SDP bodies of the sample and corpus captures: the bytes from each `v=0`
    /// on, whole and cut at every line end.
    #[test]
    fn sdp_summary_matches_the_reference_on_captures() {
        let bodies = crate::sip::sdp::test_bodies::capture_sdp_windows(|_, _, window| {
            assert_same_summary(window);
            for end in memchr::memchr_iter(b'\n', window) {
                assert_same_summary(&window[..=end]);
            }
        });
        assert!(bodies > 20, "only {bodies} SDP bodies found");
    }

    #[test]
    fn method_texts_read_as_the_methods_print() {
        for token in [
            &b"INVITE"[..],
            b"ACK",
            b"BYE",
            b"CANCEL",
            b"REGISTER",
            b"OPTIONS",
            b"PRACK",
            b"SUBSCRIBE",
            b"NOTIFY",
            b"PUBLISH",
            b"INFO",
            b"REFER",
            b"MESSAGE",
            b"UPDATE",
            b"invite",
            b"FOO",
            b"A-VERY-LONG-METHOD-NAME-OF-MANY-LETTERS",
            b"",
        ] {
            let m = Method::from_bytes(token).expect("ASCII");
            assert_eq!(method_text(m), Text::from(m.as_str()), "{token:?}");
        }
    }

    #[test]
    fn transport_and_region_texts_read_as_the_bytes_decode() {
        for t in [
            &b"UDP"[..],
            b"TCP",
            b"TLS",
            b"WS",
            b"WSS",
            b"SCTP",
            b"udp",
            b"Udp",
            b"UDPX",
            b"",
            b"\xff",
        ] {
            let region = Region::new(t);
            let text = transport_text(t).unwrap_or_else(|| region.text(t));
            assert_eq!(text, String::from_utf8_lossy(t), "{t:?}");
        }
        // Bytes inside a valid region are borrowed; outside it, or in a broken region, or cut
        // inside a character, they are decoded on their own.
        let valid = "a\u{e9}b".as_bytes();
        let region = Region::new(valid);
        assert!(region.borrowed(valid).is_some());
        assert_eq!(region.borrowed(&valid[..2]), None);
        assert_eq!(region.text(&valid[..2]), "a\u{fffd}");
        assert_eq!(region.text(b"elsewhere"), "elsewhere");
        let broken = Region::new(b"a\xffb");
        assert_eq!(broken.borrowed(broken.bytes), None);
        assert_eq!(broken.text(broken.bytes), "a\u{fffd}b");
    }

    #[test]
    fn broken_bytes_in_the_head_are_replaced_value_by_value() {
        let mut raw = INVITE.to_vec();
        let at = raw.windows(5).position(|w| w == b"Alice").unwrap();
        raw[at + 1] = 0xff;
        let msg = Msg::from_located(&located(&raw), true);
        assert_eq!(msg.extra.from_name.display, "A\u{fffd}ice");
        // Values elsewhere in the head read as before.
        assert_eq!(msg.call_id, "abc@h");
        assert_eq!(msg.from.tag.as_deref(), Some("first"));
        assert_eq!(msg.extra.raw.as_deref(), Some(&raw[..]));
        let borrowed = Msg::from_borrowed(&located(&raw).located(), Detail::Raw);
        assert_eq!(borrowed, msg);
        // A summary reads all but what `Detail::Summary` lists, and notes the SDP body.
        let summary = Msg::from_borrowed(&located(&raw).located(), Detail::Summary);
        assert!(summary.extra.sdp.is_none() && summary.has_sdp && msg.has_sdp);
        assert!(summary.extra.contact.is_none() && summary.extra.route.is_empty());
        assert!(summary.extra.max_forwards.is_none() && summary.extra.content_type.is_none());
        assert!(
            summary.extra.from_name.display.is_empty() && summary.extra.from_name.uri.is_empty()
        );
        assert!(summary.extra.to_name.uri.is_empty() && summary.from.user == msg.from.user);
        // Nothing of what a summary leaves out is set: no box for it either.
        assert!(!summary.extra.is_boxed() && msg.extra.is_boxed());
        let uri = |m: &Msg| match &m.start {
            Start::Request { method, uri } => Some((method.clone(), uri.clone())),
            _ => None,
        };
        let (summary_method, summary_uri) = uri(&summary).unwrap();
        let (method, full_uri) = uri(&msg).unwrap();
        assert!(summary_uri.is_empty() && !full_uri.is_empty() && summary_method == method);
        // The full read has what the summary leaves out, so the comparison below can fail.
        assert!(msg.extra.contact.is_some() && !msg.extra.route.is_empty());
        assert!(msg.extra.max_forwards.is_some() && msg.extra.content_type.is_some());
        assert!(!msg.extra.from_name.display.is_empty() && !msg.extra.to_name.uri.is_empty());
        assert_eq!(
            Msg {
                extra: msg.extra.clone(),
                from: msg.from.clone(),
                to: msg.to.clone(),
                start: msg.start.clone(),
                ..summary
            },
            msg
        );
        assert_eq!(Msg::from_message(located(&raw), true), msg);
    }
}
