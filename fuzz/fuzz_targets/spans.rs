//! Shared by the `sip_parse` fuzz target, `tests/proptest_parser.rs` and `tests/quick_head.rs`
//! (included there with `#[path]`): calls every accessor of a parsed message and checks that
//! every slice it hands back lies inside the input, as `Message::span_of` sees it; and checks
//! the quick head reader against the parser ([`quick_agrees`]).
//!
//! Empty slices are exempt: accessors return a static `&[]` for "nothing", which points
//! nowhere in particular.

use sipscope::sip::headers::{NameAddr, Uri, Via};
use sipscope::sip::sdp::{parse_sdp, Sdp};
use sipscope::sip::{HeaderName, Message, Method, StartLine};

/// Asserts that `part` is a sub-slice of `msg.raw` (same address, same bytes).
fn inside(msg: &Message<'_>, part: &[u8], what: &str) {
    if part.is_empty() {
        return;
    }
    let Some(r) = msg.span_of(part) else {
        panic!("{what}: slice not inside the input");
    };
    assert!(
        r.start <= r.end && r.end <= msg.raw.len(),
        "{what}: bad range"
    );
    assert_eq!(
        msg.raw.get(r.clone()).map(|s| s.as_ptr()),
        Some(part.as_ptr()),
        "{what}: span_of gave a range that is not the slice"
    );
}

fn opt(msg: &Message<'_>, part: Option<&[u8]>, what: &str) {
    if let Some(p) = part {
        inside(msg, p, what);
    }
}

fn uri(msg: &Message<'_>, u: &Uri<'_>) {
    inside(msg, u.raw, "uri.raw");
    inside(msg, u.scheme, "uri.scheme");
    opt(msg, u.user, "uri.user");
    opt(msg, u.password, "uri.password");
    inside(msg, u.host, "uri.host");
    inside(msg, u.params, "uri.params");
    inside(msg, u.headers, "uri.headers");
    for (n, v) in u.params() {
        inside(msg, n, "uri param name");
        opt(msg, v, "uri param value");
    }
    opt(msg, u.transport(), "uri transport");
    opt(msg, u.user_param(), "uri user=");
    let _ = (u.lr(), u.is_sip(), u.is_tel(), u.port);
}

fn name_addr(msg: &Message<'_>, na: &NameAddr<'_>) {
    inside(msg, na.raw, "name-addr raw");
    opt(msg, na.display_name, "display name");
    inside(msg, na.params, "name-addr params");
    uri(msg, &na.uri);
    opt(msg, na.tag(), "tag");
    for (n, v) in na.params() {
        inside(msg, n, "name-addr param name");
        opt(msg, v, "name-addr param value");
    }
    let _ = (na.expires(), na.display_name_str());
}

fn via(msg: &Message<'_>, v: &Via<'_>) {
    for (p, what) in [
        (v.raw, "via raw"),
        (v.protocol, "via protocol"),
        (v.version, "via version"),
        (v.transport, "via transport"),
        (v.host, "via host"),
        (v.params, "via params"),
    ] {
        inside(msg, p, what);
    }
    opt(msg, v.branch(), "via branch");
    opt(msg, v.received(), "via received");
    for (n, val) in v.params() {
        inside(msg, n, "via param name");
        opt(msg, val, "via param value");
    }
    let _ = (v.rport(), v.port);
}

/// Checks an SDP parsed from a slice of `msg.raw`.
pub fn sdp(msg: &Message<'_>, s: &Sdp<'_>) {
    inside(msg, s.raw, "sdp raw");
    opt(msg, s.version, "sdp v=");
    opt(msg, s.session_name, "sdp s=");
    if let Some(o) = &s.origin {
        for p in [
            o.username,
            o.session_id,
            o.session_version,
            o.net_type,
            o.addr_type,
            o.address,
        ] {
            inside(msg, p, "sdp o=");
        }
    }
    if let Some(c) = &s.connection {
        for p in [c.net_type, c.addr_type, c.address] {
            inside(msg, p, "sdp c=");
        }
        let _ = c.is_unspecified();
    }
    for a in &s.attributes {
        inside(msg, a.name, "sdp a= name");
        opt(msg, a.value, "sdp a= value");
    }
    for m in &s.media {
        for p in [m.kind, m.proto, m.formats] {
            inside(msg, p, "sdp m=");
        }
        for f in m.formats() {
            inside(msg, f, "sdp format");
        }
        for c in [m.connection, m.effective_connection].into_iter().flatten() {
            for p in [c.net_type, c.addr_type, c.address] {
                inside(msg, p, "sdp media c=");
            }
        }
        for a in &m.attributes {
            inside(msg, a.name, "sdp media a= name");
            opt(msg, a.value, "sdp media a= value");
        }
        for c in m.codecs() {
            if !c.from_static_table {
                opt(msg, c.name, "codec name");
            }
            opt(msg, c.fmtp, "codec fmtp");
            if let Some(pt) = c.payload_type {
                if let Some(map) = m.rtpmap(pt) {
                    inside(msg, map.name, "rtpmap name");
                }
            }
        }
        opt(msg, m.rtcp(), "rtcp");
        let _ = (m.ptime(), m.is_disabled(), m.effective_direction.as_str());
    }
    // Anomaly offsets are positions in the SDP body.
    for a in &s.anomalies {
        use sipscope::sip::sdp::SdpAnomaly as A;
        let off = match a {
            A::MalformedLine { offset }
            | A::BadOrigin { offset }
            | A::BadConnection { offset }
            | A::BadMedia { offset }
            | A::BadRtpmap { offset } => Some(*offset),
            _ => None,
        };
        if let Some(o) = off {
            assert!(o <= s.raw.len(), "sdp anomaly offset {o} past the body");
        }
    }
}

/// Calls every accessor of `msg` and checks every slice, range and offset it returns.
pub fn check_message(msg: &Message<'_>) {
    let raw = msg.raw;
    match msg.start {
        StartLine::Request {
            method,
            uri: u,
            version,
        } => {
            if let Method::Other(m) = method {
                inside(msg, m.as_bytes(), "method");
            }
            inside(msg, u, "request uri");
            inside(msg, version, "version");
            assert!(msg.is_request() && !msg.is_response());
        }
        StartLine::Response {
            version,
            code,
            reason,
        } => {
            inside(msg, version, "version");
            inside(msg, reason, "reason phrase");
            assert_eq!(msg.status(), Some(code));
        }
        StartLine::Invalid { line } => inside(msg, line, "invalid start line"),
    }
    if let Some(u) = msg.request_uri() {
        uri(msg, &u);
    }
    let _ = msg.method().map(|m| m.is_known());

    assert_eq!(msg.all_headers().len(), msg.header_count());
    assert!(msg.header_count() <= sipscope::sip::parse::MAX_HEADERS);
    for h in msg.all_headers() {
        inside(msg, h.name, "header name");
        inside(msg, h.value, "header value");
        let _ = (h.name_str(), h.value_str(), h.value_unfolded());
        for v in h.values() {
            inside(msg, v, "header list element");
        }
        for (n, v) in h.params() {
            inside(msg, n, "header param name");
            opt(msg, v, "header param value");
        }
        // Looking a header up by its own spelling finds a value (this one or an earlier one).
        if let Ok(name) = std::str::from_utf8(h.name) {
            if !name.is_empty() {
                let found = msg.header_by_name(name);
                assert!(found.is_some(), "header {name:?} not found by its own name");
                opt(msg, found, "header_by_name");
            }
        }
    }
    for id in [
        HeaderName::Via,
        HeaderName::From,
        HeaderName::To,
        HeaderName::CallId,
        HeaderName::CSeq,
        HeaderName::Contact,
        HeaderName::ContentType,
        HeaderName::ContentLength,
        HeaderName::Other,
    ] {
        for v in msg.headers(id) {
            inside(msg, v, "headers()");
        }
        for v in msg.values(id) {
            inside(msg, v, "values()");
        }
        if let Some(h) = msg.header_entry(id) {
            inside(msg, h.value, "header_entry");
        }
        let _ = msg.header_str(id);
    }
    for v in msg.vias() {
        via(msg, &v);
    }
    if let Some(v) = msg.top_via() {
        via(msg, &v);
    }
    for na in msg
        .contacts()
        .chain(msg.routes())
        .chain(msg.record_routes())
        .chain(msg.from())
        .chain(msg.to())
    {
        name_addr(msg, &na);
    }
    for p in [
        msg.call_id(),
        msg.content_type(),
        msg.mime_type(),
        msg.user_agent(),
        msg.server(),
        msg.reason(),
        msg.warning(),
        msg.sdp_body(),
    ] {
        opt(msg, p, "accessor");
    }
    if let Some((_, Method::Other(m))) = msg.cseq() {
        inside(msg, m.as_bytes(), "cseq method");
    }
    let _ = (
        msg.content_length(),
        msg.max_forwards(),
        msg.expires(),
        msg.retry_after(),
    );

    // Body and head: inside, consistent with each other.
    let body = msg.body_range();
    assert!(body.start <= body.end, "body range reversed");
    assert!(body.end <= raw.len(), "body range past the input");
    assert_eq!(
        raw.get(body.clone()),
        Some(msg.body()),
        "body() != raw[body_range]"
    );
    let head = msg.head();
    assert!(raw.starts_with(head), "head is not a prefix");
    assert!(
        head.len() <= body.start || body.is_empty(),
        "head overlaps body"
    );
    if let Some(cl) = msg.content_length() {
        // Bytes beyond the declared length are flagged, never made part of the body.
        assert!(
            msg.body().len() as u64 <= cl,
            "body longer than Content-Length"
        );
    }
    for a in msg.anomalies() {
        let _ = (a.code(), a.to_string());
        use sipscope::sip::Anomaly as A;
        let off = match a {
            A::FoldedHeader { offset }
            | A::JunkHeaderLine { offset }
            | A::EmptyHeaderName { offset }
            | A::NonUtf8 { offset } => Some(*offset),
            _ => None,
        };
        if let Some(o) = off {
            assert!(o < raw.len(), "anomaly offset {o} past the input");
        }
    }
    assert!(msg.anomalies().len() <= sipscope::sip::parse::MAX_ANOMALIES);
    if let Some(s) = msg.sdp() {
        sdp(msg, &s);
    }
}

/// Parses `data` as SDP on its own and checks the spans against a message view of it.
pub fn check_sdp_alone(data: &[u8]) {
    let msg = sipscope::sip::parse(data);
    let s = parse_sdp(data);
    sdp(&msg, &s);
}

/// Whether the quick head reader (`sip::quick::read`) took `msg.raw` (`Ok(false)` when it
/// declined); where it took it, what differs from the parse `msg` is the error.
pub fn quick_agrees(msg: &Message<'_>) -> Result<bool, String> {
    let mut headers = Vec::new();
    let Some(q) = sipscope::sip::quick::read(msg.raw, |id, v| headers.push((id, v))) else {
        return Ok(false);
    };
    let differs = |what: &str, a: &dyn std::fmt::Debug, b: &dyn std::fmt::Debug| {
        Err(format!(
            "quick reader and parser differ on {what}: {a:?} against {b:?}"
        ))
    };
    if q.start != msg.start {
        return differs("the start line", &q.start, &msg.start);
    }
    if q.head != msg.head() || Some(q.head_text) != msg.head_str() {
        return differs("the head", &q.head, &msg.head());
    }
    if q.body != msg.body() {
        return differs("the body", &q.body, &msg.body());
    }
    if q.cseq != msg.cseq() {
        return differs("CSeq", &q.cseq, &msg.cseq());
    }
    if q.anomalies != msg.anomalies() {
        return differs("the anomalies", &q.anomalies, &msg.anomalies());
    }
    let parsed: Vec<_> = msg.all_headers().map(|h| (h.id, h.value)).collect();
    if headers != parsed {
        return differs("the headers", &headers, &parsed);
    }
    Ok(true)
}
