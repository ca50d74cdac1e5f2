//! The UDP endpoints that can carry media, found by a pass over the capture before the media
//! tracker runs, so that the tracker need not keep SDP announcements nobody will ever ask for.
//!
//! Owns: [`MediaEndpoints`]. The tracker only ever looks an announcement up by the source or
//! destination of a datagram whose first byte says version 2 (RTP and RTCP alike): every
//! other datagram is turned away before any lookup. So a pass that notes both endpoints of
//! every such datagram knows every endpoint a lookup can name, and an announcement whose RTP
//! and RTCP endpoints are both missing from the set can be dropped without changing any
//! result. On a SIP-only capture the set is empty and no announcement is kept at all (they
//! were most of the memory of a long run: one or two per call, for the whole run).
//!
//! Bounded: past [`MAX_ENDPOINTS`] distinct endpoints (a flood of random UDP) the set gives up
//! and says yes to every endpoint, which is what keeping every announcement did before.

use std::collections::HashSet;

use super::hash::FastState;
use crate::net::{Endpoint, Flow, Transport};

/// Distinct endpoints noted at most; past this every endpoint counts as a media endpoint.
pub const MAX_ENDPOINTS: usize = 1 << 18;

/// Endpoints that sent or received a UDP datagram looking like RTP or RTCP (see the module
/// header).
#[derive(Debug, Default, Clone)]
pub struct MediaEndpoints {
    seen: HashSet<Endpoint, FastState>,
    /// Too many to keep: every endpoint counts.
    overflow: bool,
}

impl MediaEndpoints {
    pub fn new() -> MediaEndpoints {
        MediaEndpoints::default()
    }

    /// Notes a datagram's endpoints when it could be RTP or RTCP: UDP, first byte of version 2
    /// (the first test [`super::MediaTracker::push`] makes).
    pub fn note(&mut self, flow: &Flow, payload: &[u8]) {
        if self.overflow
            || flow.transport != Transport::Udp
            || payload.first().is_none_or(|b| b >> 6 != 2)
        {
            return;
        }
        self.seen.insert(flow.src);
        self.seen.insert(flow.dst);
        if self.seen.len() > MAX_ENDPOINTS {
            self.overflow = true;
            self.seen = HashSet::default();
        }
    }

    /// Whether a datagram to or from `ep` that could be media was seen (always, after an
    /// overflow).
    pub fn contains(&self, ep: &Endpoint) -> bool {
        self.overflow || self.seen.contains(ep)
    }

    /// No datagram that could be media was seen: [`MediaEndpoints::contains`] says no to
    /// every endpoint.
    pub fn is_empty(&self) -> bool {
        !self.overflow && self.seen.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(last: u8, port: u16) -> Endpoint {
        Endpoint {
            ip: std::net::IpAddr::from([10, 0, 0, last]),
            port,
        }
    }

    fn udp(src: Endpoint, dst: Endpoint) -> Flow {
        Flow {
            transport: Transport::Udp,
            src,
            dst,
        }
    }

    #[test]
    fn notes_both_ends_of_version_2_datagrams_only() {
        let mut m = MediaEndpoints::new();
        m.note(&udp(ep(1, 4000), ep(2, 5000)), &[0x80, 0]);
        m.note(&udp(ep(3, 4000), ep(4, 5000)), b"INVITE sip:x SIP/2.0");
        m.note(&udp(ep(5, 4000), ep(6, 5000)), &[]);
        let tcp = Flow {
            transport: Transport::Tcp,
            ..udp(ep(7, 4000), ep(8, 5000))
        };
        assert!(MediaEndpoints::new().is_empty());
        m.note(&tcp, &[0x80, 0]);
        assert!(!m.is_empty());
        assert!(m.contains(&ep(1, 4000)) && m.contains(&ep(2, 5000)));
        for e in [
            ep(3, 4000),
            ep(4, 5000),
            ep(5, 4000),
            ep(7, 4000),
            ep(2, 5001),
        ] {
            assert!(!m.contains(&e), "{e}");
        }
    }

    #[test]
    fn too_many_endpoints_means_every_endpoint() {
        let mut m = MediaEndpoints::new();
        let mut n = 0u32;
        while !m.overflow {
            let ip = std::net::IpAddr::from(n.to_be_bytes());
            let e = Endpoint { ip, port: 1 };
            m.note(&udp(e, e), &[0x80]);
            n += 1;
        }
        assert!(m.seen.is_empty() && !m.is_empty());
        assert!(m.contains(&ep(9, 9)));
        assert_eq!(n as usize, MAX_ENDPOINTS + 1);
    }
}
