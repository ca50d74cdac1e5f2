//! Hand-made messages for tests: a SIP exchange is written as a few calls, each a copy of the
//! message it answers or forwards, so a test reads like the ladder it describes.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicU64, Ordering};

use super::msg::{Msg, Party, PartyName, Start, ViaInfo};
use crate::net::{Endpoint, Flow, FrameRef, Transport};

static FRAME: AtomicU64 = AtomicU64::new(1);

/// Host `n` is 10.0.0.n, port 5060.
pub(crate) fn ep(n: u8) -> Endpoint {
    Endpoint {
        ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, n)),
        port: 5060,
    }
}

pub(crate) fn ip(n: u8) -> IpAddr {
    ep(n).ip
}

fn frame(t_ms: i64) -> FrameRef {
    FrameRef {
        file: 0,
        number: FRAME.fetch_add(1, Ordering::Relaxed),
        ts_ns: t_ms.saturating_mul(1_000_000),
    }
}

pub(crate) fn via(host: u8, branch: &str) -> ViaInfo {
    ViaInfo {
        sent_by: compact_str::format_compact!("10.0.0.{host}:5060"),
        transport: "UDP".into(),
        branch: (!branch.is_empty()).then(|| branch.into()),
    }
}

fn party(user: &str, tag: Option<&str>) -> Party {
    Party {
        user: user.into(),
        tag: tag.map(Into::into),
    }
}

/// The display name and URI of the party `user`.
fn party_name(user: &str) -> PartyName {
    PartyName {
        display: Default::default(),
        uri: compact_str::format_compact!("sip:{user}@example.com"),
    }
}

/// A request from host `src` to host `dst` at `t_ms`, with one Via (the sender's) carrying
/// `branch`, From alice (tag `from_tag`), To bob (tag `to_tag`).
#[allow(clippy::too_many_arguments)]
pub(crate) fn request(
    method: &str,
    call_id: &str,
    src: u8,
    dst: u8,
    t_ms: i64,
    branch: &str,
    cseq: u32,
    from_tag: &str,
    to_tag: Option<&str>,
) -> Msg {
    let flow = Flow {
        transport: Transport::Udp,
        src: ep(src),
        dst: ep(dst),
    };
    let mut m = Msg::blank(
        flow,
        frame(t_ms),
        Start::Request {
            method: method.into(),
            uri: "sip:bob@example.com".into(),
        },
    );
    m.call_id = call_id.into();
    m.from = party("alice", Some(from_tag));
    m.to = party("bob", to_tag);
    m.extra.make_mut().from_name = party_name("alice");
    m.extra.make_mut().to_name = party_name("bob");
    m.cseq = Some((cseq, method.into()));
    m.vias = smallvec::smallvec![via(src, branch)];
    m.size = 400 + method.len();
    m
}

/// An initial INVITE (no To tag), From tag `a`.
pub(crate) fn invite(call_id: &str, src: u8, dst: u8, t_ms: i64, branch: &str, cseq: u32) -> Msg {
    request("INVITE", call_id, src, dst, t_ms, branch, cseq, "a", None)
}

/// `m` forwarded by host `by` (which pushes its Via with `branch`) to host `dst` at `t_ms`.
pub(crate) fn fwd(m: &Msg, by: u8, branch: &str, dst: u8, t_ms: i64) -> Msg {
    let mut f = m.clone();
    f.frame = frame(t_ms);
    f.frames = smallvec::smallvec![f.frame];
    f.flow.src = ep(by);
    f.flow.dst = ep(dst);
    f.vias.insert(0, via(by, branch));
    f.size = m.size + 60;
    f
}

/// A response to the request copy `req` (on the leg it travelled), sent back over that leg at
/// `t_ms`; `to_tag` is added to To when given.
pub(crate) fn reply(req: &Msg, code: u16, t_ms: i64, to_tag: Option<&str>) -> Msg {
    let mut r = req.clone();
    r.frame = frame(t_ms);
    r.frames = smallvec::smallvec![r.frame];
    r.flow.src = req.flow.dst;
    r.flow.dst = req.flow.src;
    r.start = Start::Response {
        code,
        reason: reason(code).into(),
    };
    if let Some(t) = to_tag {
        r.to.tag = Some(t.into());
    }
    r.size = 300 + usize::from(code);
    r.has_credentials = false;
    r
}

fn reason(code: u16) -> &'static str {
    match code {
        100 => "Trying",
        180 => "Ringing",
        200 => "OK",
        401 => "Unauthorized",
        486 => "Busy Here",
        487 => "Request Terminated",
        _ => "Whatever",
    }
}

/// The ACK of a non-2xx final, or the CANCEL, built on the leg of `req`: same top Via only,
/// same CSeq number.
pub(crate) fn hop_request(req: &Msg, method: &str, t_ms: i64, to_tag: Option<&str>) -> Msg {
    let mut a = req.clone();
    a.frame = frame(t_ms);
    a.frames = smallvec::smallvec![a.frame];
    a.start = Start::Request {
        method: method.into(),
        uri: "sip:bob@example.com".into(),
    };
    a.vias.truncate(1);
    a.cseq = req.cseq.as_ref().map(|(n, _)| (*n, method.into()));
    if let Some(t) = to_tag {
        a.to.tag = Some(t.into());
    }
    a.size = 250 + method.len();
    a
}

/// The same message again at `t_ms` (a new frame).
pub(crate) fn again(m: &Msg, t_ms: i64) -> Msg {
    let mut c = m.clone();
    c.frame = frame(t_ms);
    c.frames = smallvec::smallvec![c.frame];
    c
}
