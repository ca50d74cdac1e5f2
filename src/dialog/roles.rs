//! Hosts of a call and what they are: identity (address, or address:port when one address
//! holds several endpoints), behaviour seen on the wire, hints from User-Agent and Server, and
//! the user's `--role ADDR=ROLE` overrides.
//!
//! Inference, per call: a host that forwards anything is a proxy; one that received an initial
//! INVITE it did not forward and then originated another initial INVITE is a B2BUA (only
//! visible when the B2BUA keeps the Call-ID; across Call-IDs, [`correlate_b2bua`] pairs calls by
//! time and called number in whole-file analysis); one that generated a 2xx or 401 to REGISTER without forwarding is
//! a registrar; one that only generated 3xx is a redirect server; everything else is a user
//! agent, refined to phone, gateway or B2BUA when its own User-Agent/Server header says so. An
//! override always wins, because a PSTN gateway looks like any user agent on the wire.

use std::cell::RefCell;
use std::collections::HashMap;

/// Keys here are built from capture text per message: a fast hasher (no denial-of-service
/// concern for an offline analyzer reading one capture).
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;
use std::net::{IpAddr, SocketAddr};

use super::analyze::{Senders, SmallMap};
use super::model::*;
use super::msg::{Msg, Text};
use crate::net::Flow;

const MAX_PORTS: usize = 16;
const MAX_AGENTS: usize = 4;

/// The user's word on what a host is (`--role ADDR=ROLE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoleOverride {
    pub addr: IpAddr,
    /// When given, only this port of the address.
    pub port: Option<u16>,
    pub role: Role,
}

/// Why a `--role` value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoleOverrideError {
    #[error("expected ADDR=ROLE, got {0:?}")]
    NoEquals(String),
    #[error("not an address (IP, IP:port or [IPv6]:port): {0:?}")]
    BadAddress(String),
    #[error("unknown role {0:?} (phone, gateway, proxy, b2bua, registrar)")]
    BadRole(String),
}

impl std::str::FromStr for RoleOverride {
    type Err = RoleOverrideError;

    /// `10.0.0.1=gateway`, `10.0.0.1:5060=proxy`, `[2001:db8::1]:5060=phone`, `::1=b2bua`.
    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        let (addr, role) = spec
            .rsplit_once('=')
            .ok_or_else(|| RoleOverrideError::NoEquals(spec.to_string()))?;
        let role = Role::parse(role).ok_or_else(|| RoleOverrideError::BadRole(role.to_string()))?;
        let addr = addr.trim();
        if let Ok(sa) = addr.parse::<SocketAddr>() {
            return Ok(RoleOverride {
                addr: sa.ip(),
                port: Some(sa.port()),
                role,
            });
        }
        let ip = addr
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .map_err(|_| RoleOverrideError::BadAddress(addr.to_string()))?;
        Ok(RoleOverride {
            addr: ip,
            port: None,
            role,
        })
    }
}

/// The temporary lists of [`identify_hosts`] and [`assign`], kept from one call to the next
/// (see the analysis's scratch tables): stored empty.
#[derive(Default)]
pub(super) struct HostScratch {
    /// Per message of the call being analysed: its (sender, receiver) host.
    pub(super) ends: Vec<(HostIdx, HostIdx)>,
    split: Vec<IpAddr>,
    map: Vec<((IpAddr, Option<u16>), HostIdx)>,
    flows: Vec<(Flow, (HostIdx, HostIdx))>,
    got_invite: Vec<Option<i64>>,
    sent_invite: Vec<(HostIdx, i64)>,
}

/// Past this many entries a list is not kept for the next call.
const KEEP_ROOM: usize = 1024;

impl HostScratch {
    /// Empties every list, giving up those grown past [`KEEP_ROOM`].
    pub(super) fn clear(&mut self) {
        fn empty<T>(v: &mut Vec<T>) {
            if v.capacity() > KEEP_ROOM {
                *v = Vec::new();
            }
            v.clear();
        }
        empty(&mut self.ends);
        empty(&mut self.split);
        empty(&mut self.map);
        empty(&mut self.flows);
        empty(&mut self.got_invite);
        empty(&mut self.sent_invite);
    }
}

/// Hosts in order of first appearance; the (sender, receiver) host of every message goes to
/// `scratch.ends`.
///
/// An address is split into address:port hosts only when the call has messages from that
/// address to itself (a lab on 127.0.0.1, or several stacks on one box): otherwise one box
/// using several ports (a proxy listening on 5060 and 5080, a TCP client's ephemeral port) stays
/// one host.
pub(crate) fn identify_hosts(msgs: &[Msg], scratch: &mut HostScratch) -> Vec<Host> {
    let split = &mut scratch.split;
    split.clear();
    split.extend(
        msgs.iter()
            .filter(|m| m.flow.src.ip == m.flow.dst.ip)
            .map(|m| m.flow.src.ip),
    );
    split.sort_unstable();
    split.dedup();
    let split = &*split;
    let mut hosts: Vec<Host> = Vec::new();
    let mut map: SmallMap<(IpAddr, Option<u16>), HostIdx> =
        SmallMap::reusing(std::mem::take(&mut scratch.map));
    let ends = &mut scratch.ends;
    ends.clear();
    ends.reserve(msgs.len());
    // Hosts of each flow already seen: most messages of a call repeat a flow, whose hosts
    // exist and hold its ports already.
    let mut flows: SmallMap<Flow, (HostIdx, HostIdx)> =
        SmallMap::reusing(std::mem::take(&mut scratch.flows));
    let mut host_of = |ip: IpAddr, port: u16, hosts: &mut Vec<Host>| -> HostIdx {
        let key_port = split.binary_search(&ip).is_ok().then_some(port);
        let h = map.get_or_insert_with((ip, key_port), || {
            hosts.push(Host::seen(ip, key_port));
            hosts.len() - 1
        });
        if let Some(host) = hosts.get_mut(h) {
            if let Err(pos) = host.ports.binary_search(&port) {
                if host.ports.len() < MAX_PORTS {
                    host.ports.insert(pos, port);
                }
            }
        }
        h
    };
    for m in msgs {
        let f = m.flow;
        let (s, d) = match flows.get(&f) {
            Some(ends) => ends,
            None => {
                // A flow answering a known one (a response's, usually) joins the same hosts,
                // whose ports are there already; otherwise sender first, then receiver.
                let back = Flow {
                    transport: f.transport,
                    src: f.dst,
                    dst: f.src,
                };
                let ends = match flows.get(&back) {
                    Some((to, from)) => (from, to),
                    None => {
                        let s = host_of(f.src.ip, f.src.port, &mut hosts);
                        let d = host_of(f.dst.ip, f.dst.port, &mut hosts);
                        (s, d)
                    }
                };
                flows.insert_new(f, ends);
                ends
            }
        };
        if let Some(h) = hosts.get_mut(s) {
            h.sent = h.sent.saturating_add(1);
        }
        if let Some(h) = hosts.get_mut(d) {
            h.received = h.received.saturating_add(1);
        }
        ends.push((s, d));
    }
    scratch.map = map.into_room();
    scratch.flows = flows.into_room();
    hosts
}

fn remember(list: &mut smallvec::SmallVec<[String; 1]>, value: Option<&super::Shared>) {
    if let Some(v) = value {
        if list.len() < MAX_AGENTS && !list.iter().any(|x| x.as_str() == v.as_str()) {
            // Copied as a str: `to_string` on a `Text` goes through `Display`.
            list.push(String::from(v.as_str()));
        }
    }
}

/// Product keywords and the role each suggests. Only phone, gateway and B2BUA hints refine a
/// user agent: a proxy product answering OPTIONS itself is acting as a user agent in that call.
/// Lower case ASCII, at least two bytes long, at most 64 of them (see [`KEYWORD_BYTES`]).
const PRODUCT_KEYWORDS: &[(&str, Role)] = &[
    ("asterisk", Role::B2bua),
    ("freeswitch", Role::B2bua),
    ("3cx", Role::B2bua),
    ("b2bua", Role::B2bua),
    ("sbc", Role::B2bua),
    ("session border", Role::B2bua),
    ("yate", Role::B2bua),
    ("fusionpbx", Role::B2bua),
    ("issabel", Role::B2bua),
    ("freepbx", Role::B2bua),
    ("gateway", Role::Gateway),
    ("mediant", Role::Gateway),
    ("audiocodes", Role::Gateway),
    ("patton", Role::Gateway),
    ("sipgw", Role::Gateway),
    ("-gw", Role::Gateway),
    ("media gateway", Role::Gateway),
    ("kamailio", Role::Proxy),
    ("opensips", Role::Proxy),
    ("openser", Role::Proxy),
    ("sip-router", Role::Proxy),
    ("repro", Role::Proxy),
    ("yealink", Role::Phone),
    ("polycom", Role::Phone),
    ("snom", Role::Phone),
    ("grandstream", Role::Phone),
    ("linphone", Role::Phone),
    ("zoiper", Role::Phone),
    ("microsip", Role::Phone),
    ("baresip", Role::Phone),
    ("cisco-cp", Role::Phone),
    ("fanvil", Role::Phone),
    ("gigaset", Role::Phone),
    ("obihai", Role::Phone),
    ("x-lite", Role::Phone),
    ("bria", Role::Phone),
    ("jitsi", Role::Phone),
    ("pjsua", Role::Phone),
    ("sipphone", Role::Phone),
    ("softphone", Role::Phone),
];

/// When a product matches keywords of several roles, the first of these wins.
const HINT_PRIORITY: [Role; 4] = [Role::Gateway, Role::B2bua, Role::Proxy, Role::Phone];

/// Per byte value: the set (bit `k` for `PRODUCT_KEYWORDS[k]`) of keywords whose first byte
/// (`[0]`) or second byte (`[1]`) it is. A product is read once: at each position only the
/// keywords both bytes there allow are compared (usually none), instead of one substring search
/// per keyword.
static KEYWORD_BYTES: [[u64; 256]; 2] = keyword_bytes();

const fn keyword_bytes() -> [[u64; 256]; 2] {
    assert!(PRODUCT_KEYWORDS.len() <= 64);
    let mut table = [[0u64; 256]; 2];
    let mut k = 0;
    while k < PRODUCT_KEYWORDS.len() {
        let word = PRODUCT_KEYWORDS[k].0.as_bytes();
        assert!(word.len() >= 2);
        table[0][word[0] as usize] |= 1 << k;
        table[1][word[1] as usize] |= 1 << k;
        k += 1;
    }
    table
}

/// What a product name (User-Agent or Server value) suggests, by keywords found in it in any
/// case; see [`PRODUCT_KEYWORDS`] and [`HINT_PRIORITY`].
pub fn hint_from_product(product: &str) -> Option<Role> {
    let p = product.as_bytes();
    let mut found = [false; HINT_PRIORITY.len()];
    let [first, second] = &KEYWORD_BYTES;
    for (i, pair) in p.windows(2).enumerate() {
        let &[a, b] = pair else { continue };
        let [a, b] = [a, b].map(|x| usize::from(x.to_ascii_lowercase()));
        let mut set = first.get(a).copied().unwrap_or(0) & second.get(b).copied().unwrap_or(0);
        while set != 0 {
            let k = set.trailing_zeros() as usize;
            set &= set - 1;
            let Some(&(word, role)) = PRODUCT_KEYWORDS.get(k) else {
                continue;
            };
            let here = p
                .get(i..i.saturating_add(word.len()))
                .is_some_and(|w| w.eq_ignore_ascii_case(word.as_bytes()));
            if here {
                if let Some(slot) = HINT_PRIORITY.iter().position(|&r| r == role) {
                    if let Some(f) = found.get_mut(slot) {
                        *f = true;
                    }
                }
            }
        }
    }
    HINT_PRIORITY
        .iter()
        .zip(found)
        .find(|&(_, f)| f)
        .map(|(&r, _)| r)
}

/// How many recent products [`hint_cached`] remembers, and the longest it keeps.
const HINT_CACHE: usize = 32;
const HINT_CACHE_LEN: usize = 128;

/// Recent products and their hints, replaced in turn.
#[derive(Default)]
struct HintCache {
    entries: Vec<(String, Option<Role>)>,
    next: usize,
}

thread_local! {
    /// The same few products (the phones and servers of a network) come back call after call.
    static HINTS: RefCell<HintCache> = RefCell::new(HintCache::default());
}

/// [`hint_from_product`], remembering the answers for the last few products on this thread:
/// a repeat costs a comparison instead of a scan.
fn hint_cached(product: &str) -> Option<Role> {
    HINTS.with(|cell| {
        let Ok(mut cache) = cell.try_borrow_mut() else {
            return hint_from_product(product);
        };
        if let Some(&(_, hint)) = cache.entries.iter().find(|(p, _)| p == product) {
            return hint;
        }
        let hint = hint_from_product(product);
        if product.len() <= HINT_CACHE_LEN {
            if cache.entries.len() < HINT_CACHE {
                cache.entries.push((product.to_string(), hint));
            } else {
                let at = cache.next % HINT_CACHE;
                cache.next = at + 1;
                if let Some(e) = cache.entries.get_mut(at) {
                    e.0.clear();
                    e.0.push_str(product);
                    e.1 = hint;
                }
            }
        }
        hint
    })
}

fn override_for(host: &Host, overrides: &[RoleOverride]) -> Option<Role> {
    // An override naming the port wins over one naming only the address.
    let by_port = overrides.iter().rev().find(|o| {
        o.addr == host.addr
            && o.port.is_some()
            && (o.port == host.port
                || (host.port.is_none()
                    && host.ports.len() == 1
                    && host.ports.first() == o.port.as_ref()))
    });
    by_port
        .or_else(|| {
            overrides
                .iter()
                .rev()
                .find(|o| o.addr == host.addr && o.port.is_none())
        })
        .map(|o| o.role)
}

/// Fills behaviour, hints and roles of `hosts` from the analysed steps.
/// `scratch` lends its lists.
pub(crate) fn assign(
    hosts: &mut [Host],
    steps: &[Step],
    msgs: &[Msg],
    overrides: &[RoleOverride],
    scratch: &mut HostScratch,
) {
    // Per host: earliest time it received an initial INVITE it did not forward.
    let got_invite = &mut scratch.got_invite;
    got_invite.clear();
    got_invite.resize(hosts.len(), None);
    let sent_invite = &mut scratch.sent_invite;
    sent_invite.clear();
    for st in steps {
        let initial_invite = st.method() == "INVITE" && st.is_request() && st.to_tag.is_none();
        let senders = if initial_invite {
            Senders::of(&st.hops)
        } else {
            Senders::of(&[])
        };
        for (j, hop) in st.hops.iter().enumerate() {
            let Some(m) = msgs.get(hop.msg) else { continue };
            let generated = hop.origin == HopOrigin::Generated;
            let Some(host) = hosts.get_mut(hop.src) else {
                continue;
            };
            match (st.is_request(), generated) {
                (true, true) => {
                    host.behaviour.originated = true;
                    remember(&mut host.user_agents, m.user_agent.as_ref());
                }
                (false, true) => {
                    let code = st.code().unwrap_or(0);
                    if code != 100 {
                        host.behaviour.answered = true;
                    }
                    if st.cseq_method == "REGISTER" && ((200..300).contains(&code) || code == 401) {
                        host.behaviour.registrar = true;
                    }
                    if (300..400).contains(&code) {
                        host.behaviour.redirected = true;
                    }
                    remember(&mut host.servers, m.server.as_ref());
                    remember(&mut host.user_agents, m.user_agent.as_ref());
                }
                (_, false) => {
                    host.behaviour.forwarded = true;
                    if st.is_request() {
                        // Compare with the copy that came into this host (a few hops back).
                        let came_in = st
                            .hops
                            .get(..j)
                            .unwrap_or(&[])
                            .iter()
                            .rev()
                            .take(8)
                            .find(|p| p.dst == hop.src)
                            .and_then(|p| msgs.get(p.msg));
                        if came_in.is_some_and(|p| m.record_route.len() > p.record_route.len()) {
                            host.behaviour.record_routed = true;
                        }
                    }
                }
            }
            if initial_invite {
                let ts = m.frame.ts_ns;
                if generated {
                    sent_invite.push((hop.src, ts));
                }
                let forwarded_on = senders.has(&st.hops, hop.dst);
                if !forwarded_on {
                    if let Some(e) = got_invite.get_mut(hop.dst) {
                        *e = Some(e.map_or(ts, |t| t.min(ts)));
                    }
                }
            }
        }
    }
    for &(h, ts) in sent_invite.iter() {
        if got_invite
            .get(h)
            .copied()
            .flatten()
            .is_some_and(|t| t <= ts)
        {
            if let Some(host) = hosts.get_mut(h) {
                host.behaviour.b2bua = true;
            }
        }
    }
    for host in hosts.iter_mut() {
        host.hint = host
            .servers
            .iter()
            .chain(host.user_agents.iter())
            .find_map(|p| hint_cached(p));
        let b = host.behaviour;
        let (role, source) = if let Some(r) = override_for(host, overrides) {
            (r, RoleSource::Override)
        } else if b.b2bua {
            (Role::B2bua, RoleSource::Wire)
        } else if b.forwarded {
            (Role::Proxy, RoleSource::Wire)
        } else if b.registrar {
            (Role::Registrar, RoleSource::Wire)
        } else if b.redirected && !b.originated {
            (Role::Redirect, RoleSource::Wire)
        } else {
            match host.hint {
                Some(r @ (Role::Phone | Role::Gateway | Role::B2bua)) => (r, RoleSource::Hint),
                _ => (Role::UserAgent, RoleSource::Wire),
            }
        };
        host.role = role;
        host.role_source = source;
    }
}

/// Digits of a called user, keeping the last 8: enough to pair `+4930123456` with
/// `030123456` across a B2BUA that rewrites the prefix.
pub fn number_tail(user: &str) -> Option<Text> {
    // ASCII digits are single bytes (never part of a longer UTF-8 sequence): read from the
    // end, stop at the eighth, fill the tail from its end.
    let mut tail = [0u8; TAIL_DIGITS];
    let mut n = 0;
    for b in user.bytes().rev().filter(u8::is_ascii_digit) {
        n += 1;
        if let Some(slot) = tail.get_mut(TAIL_DIGITS - n) {
            *slot = b;
        }
        if n == TAIL_DIGITS {
            break;
        }
    }
    if n < 3 {
        return None;
    }
    let digits = tail.get(TAIL_DIGITS - n..)?;
    std::str::from_utf8(digits).ok().map(Text::from)
}

/// How many trailing digits of a called number [`number_tail`] keeps.
const TAIL_DIGITS: usize = 8;

/// How long after receiving an INVITE a B2BUA may take to send its own.
pub const B2BUA_WINDOW_NS: i64 = 5_000_000_000;
/// Candidates looked at per incoming INVITE (a busy PBX sends many INVITEs per second).
pub const B2BUA_SCAN: usize = 64;

/// One sighting of an initial INVITE (no To tag) to a called number, as the B2BUA rule reads
/// it: the host that originated it (if this hop is where it was generated by a client) and
/// the host that received it as its final destination (if the receiver acts as server).
pub struct InviteSighting {
    pub number: Text,
    pub ts_ns: i64,
    pub originated_by: Option<(IpAddr, HostIdx)>,
    pub received_by: Option<(IpAddr, HostIdx)>,
}

/// Every sighting of an initial INVITE with a called number in `call`, in step and hop order:
/// the facts both the whole-file rule ([`correlate_b2bua`]) and the streaming one read.
pub fn invite_sightings(call: &Call) -> Vec<InviteSighting> {
    each_invite_sighting(call).collect()
}

/// [`invite_sightings`] one at a time, for a reader that files them as they come (no list).
pub fn each_invite_sighting(call: &Call) -> impl Iterator<Item = InviteSighting> + '_ {
    call.steps
        .iter()
        .filter(|st| st.is_request() && st.method() == "INVITE" && st.to_tag.is_none())
        .flat_map(|st| st.hops.iter())
        .filter_map(move |hop| {
            let m = call.messages.get(hop.msg)?;
            let number = number_tail(&m.to.user)?;
            let host = |i: HostIdx| call.hosts.get(i).map(|h| (h.addr, i));
            Some(InviteSighting {
                number,
                ts_ns: m.frame.ts_ns,
                originated_by: if hop.origin == HopOrigin::Generated
                    && hop.sender_acts == Acting::Client
                {
                    host(hop.src)
                } else {
                    None
                },
                received_by: if hop.receiver_acts == Acting::Server {
                    host(hop.dst)
                } else {
                    None
                },
            })
        })
}

/// The pairing rule for an initial INVITE received (as final destination) at `t` in call
/// `call`: among the initial INVITEs its receiver's address originated to the same number,
/// sorted by time (then call, host), the first from another call at `t` or at most 5 s later,
/// looking at no more than [`B2BUA_SCAN`] of them. Shared by the whole-file rule and the
/// streaming ones, which name calls differently (`K`).
pub fn b2bua_partner<K: Copy + PartialEq>(
    sent: &[(i64, K, HostIdx)],
    t: i64,
    call: K,
) -> Option<(i64, K, HostIdx)> {
    let from = sent.partition_point(|x| x.0 < t);
    let end = t.saturating_add(B2BUA_WINDOW_NS);
    sent.get(from..)
        .unwrap_or(&[])
        .iter()
        .take(B2BUA_SCAN)
        .take_while(|x| x.0 <= end)
        .find(|x| x.1 != call)
        .copied()
}

/// Finds B2BUAs across Call-IDs: a host that received an initial INVITE as its final
/// destination in one call and originated an initial INVITE to the same called number (last 8
/// digits) in another call within 5 s. Both calls then list each other in
/// [`Call::related`], and the host becomes a B2BUA in both (unless overridden). Used by
/// whole-file analysis; streaming cannot look back at calls already handed out.
pub fn correlate_b2bua(calls: &mut [Call]) {
    // (address, called number) -> originated initial INVITEs (time, call, host).
    type Sent = Vec<(i64, usize, HostIdx)>;
    let mut outbound: FastMap<(IpAddr, Text), Sent> = FastMap::default();
    let mut inbound: Vec<(IpAddr, Text, i64, usize, HostIdx)> = Vec::new();
    for (ci, call) in calls.iter().enumerate() {
        for sight in invite_sightings(call) {
            if let Some((addr, host)) = sight.originated_by {
                outbound
                    .entry((addr, sight.number.clone()))
                    .or_default()
                    .push((sight.ts_ns, ci, host));
            }
            if let Some((addr, host)) = sight.received_by {
                inbound.push((addr, sight.number, sight.ts_ns, ci, host));
            }
        }
    }
    for list in outbound.values_mut() {
        list.sort_unstable();
    }
    let mut pairs: Vec<(usize, HostIdx, usize, HostIdx)> = Vec::new();
    for (addr, num, t, ci, h_in) in inbound {
        let Some(list) = outbound.get(&(addr, num)) else {
            continue;
        };
        if let Some((_, cj, h_out)) = b2bua_partner(list, t, ci) {
            pairs.push((ci, h_in, cj, h_out));
        }
    }
    for (ci, h_in, cj, h_out) in pairs {
        let other_ids = (
            calls.get(cj).map(|c| c.call_id.to_string()),
            calls.get(ci).map(|c| c.call_id.to_string()),
        );
        for (c, h, other) in [(ci, h_in, other_ids.0), (cj, h_out, other_ids.1)] {
            let Some(call) = calls.get_mut(c) else {
                continue;
            };
            if let Some(id) = other {
                if !call.related.contains(&id) {
                    call.related.push(id);
                }
            }
            if let Some(host) = call.hosts.get_mut(h) {
                host.behaviour.b2bua = true;
                if host.role_source != RoleSource::Override {
                    host.role = Role::B2bua;
                    host.role_source = RoleSource::Wire;
                }
            }
        }
    }
}

#[cfg(test)]
mod hint_tests {
    use super::*;

    /// Products are kept exactly as `Text::to_string` gave them (controls, non-ASCII, long
    /// values on the heap), once each and at most [`MAX_AGENTS`] of them.
    #[test]
    fn remember_copies_products_exactly_once_each() {
        let values = [
            "",
            "Asterisk PBX 18.9.0",
            "caf\u{e9} \u{1b}[2J\u{202e}\u{0}",
            "a product name long enough to be kept on the heap by compact_str",
            "Asterisk PBX 18.9.0",
            "x",
            "y",
        ];
        let mut list = smallvec::SmallVec::new();
        let mut want: Vec<String> = Vec::new();
        remember(&mut list, None);
        for v in values {
            let t = super::super::Shared::from(v);
            remember(&mut list, Some(&t));
            if want.len() < MAX_AGENTS && !want.contains(&t.to_string()) {
                want.push(t.to_string());
            }
        }
        assert_eq!(list.as_slice(), want.as_slice());
        assert_eq!(list.len(), MAX_AGENTS);
    }

    /// Sightings one at a time are the ones a plain loop over steps and hops lists: calls
    /// through a proxy and a B2BUA, re-INVITEs (a To tag), numbers too short to keep, and a
    /// hop whose message index is out of range.
    #[test]
    fn sightings_one_by_one_match_a_plain_loop() {
        use crate::dialog::analyze_call;
        use crate::dialog::testkit::*;
        type Plain = (
            String,
            i64,
            Option<(IpAddr, HostIdx)>,
            Option<(IpAddr, HostIdx)>,
        );
        fn plain(call: &Call) -> Vec<Plain> {
            let mut out = Vec::new();
            for st in &call.steps {
                if !(st.is_request() && st.method() == "INVITE" && st.to_tag.is_none()) {
                    continue;
                }
                for hop in &st.hops {
                    let Some(m) = call.messages.get(hop.msg) else {
                        continue;
                    };
                    let Some(number) = number_tail(&m.to.user) else {
                        continue;
                    };
                    let host = |i: HostIdx| call.hosts.get(i).map(|h| (h.addr, i));
                    let orig =
                        hop.origin == HopOrigin::Generated && hop.sender_acts == Acting::Client;
                    out.push((
                        number.to_string(),
                        m.frame.ts_ns,
                        if orig { host(hop.src) } else { None },
                        if hop.receiver_acts == Acting::Server {
                            host(hop.dst)
                        } else {
                            None
                        },
                    ));
                }
            }
            out
        }
        let mut calls = Vec::new();
        for (k, user) in ["+4930123456", "12", "0301234567", ""]
            .into_iter()
            .enumerate()
        {
            let id = format!("c{k}");
            let mut a = invite(&id, 1, 2, 0, "z9hG4bK-a", 1);
            a.to.user = user.into();
            let b = fwd(&a, 2, "z9hG4bK-b", 3, 5);
            let mut out = invite(&id, 2, 4, 7, "z9hG4bK-o", 1);
            out.to.user = user.into();
            let mut re = request("INVITE", &id, 1, 2, 90, "z9hG4bK-r", 2, "a", Some("t"));
            re.to.user = user.into();
            calls.push(analyze_call(vec![a.clone(), b, out, re], &[]));
        }
        let mut broken = calls[0].clone();
        if let Some(h) = broken.steps.get_mut(0).and_then(|s| s.hops.get_mut(0)) {
            h.msg = 1000;
        }
        calls.push(broken);
        let as_plain = |s: InviteSighting| {
            (
                s.number.to_string(),
                s.ts_ns,
                s.originated_by,
                s.received_by,
            )
        };
        let mut seen = 0;
        for call in &calls {
            let got: Vec<Plain> = each_invite_sighting(call).map(as_plain).collect();
            let listed: Vec<Plain> = invite_sightings(call).into_iter().map(as_plain).collect();
            assert_eq!(got, plain(call), "{}", call.call_id);
            assert_eq!(listed, got);
            seen += got.len();
        }
        assert!(seen > 4, "{seen}");
    }

    #[test]
    fn number_tail_keeps_the_last_eight_digits() {
        assert_eq!(number_tail("+4930123456").as_deref(), Some("30123456"));
        assert_eq!(number_tail("030123456").as_deref(), Some("30123456"));
        assert_eq!(number_tail("12").as_deref(), None);
        assert_eq!(number_tail("a1b2c3").as_deref(), Some("123"));
        assert_eq!(number_tail("alice").as_deref(), None);
        assert_eq!(number_tail("٣٤٥١٢").as_deref(), None);
        assert_eq!(number_tail("ü123456789ü0").as_deref(), Some("34567890"));
    }

    /// The plain way: count every digit, keep the last eight.
    fn number_tail_by_count(user: &str) -> Option<String> {
        let digits: Vec<char> = user.chars().filter(char::is_ascii_digit).collect();
        if digits.len() < 3 {
            return None;
        }
        Some(digits[digits.len().saturating_sub(8)..].iter().collect())
    }

    #[test]
    fn number_tail_agrees_with_counting_every_digit() {
        let users = [
            "",
            "1",
            "12",
            "123",
            "a1b2c3d",
            "12345678",
            "123456789",
            "+49 (30) 1234-5678 ext 99",
            "sip:+4930123456@example.com",
            "\u{0663}\u{0664}5\u{0665}12",
            "\u{fc}1\u{fc}2\u{fc}",
            "99999999999999999999999",
            "%31%32%33",
            "alice",
            "0\u{0}1\u{7f}2",
        ];
        for u in users {
            assert_eq!(
                number_tail(u).as_deref(),
                number_tail_by_count(u).as_deref(),
                "{u:?}"
            );
        }
        // Every string of up to five symbols from a few digits, letters and a wide char.
        let symbols = ["1", "2", "x", "\u{e9}", "+"];
        let mut words = vec![String::new()];
        for _ in 0..5 {
            let mut next = Vec::new();
            for w in &words {
                for s in symbols {
                    next.push(format!("{w}{s}"));
                }
            }
            for w in &next {
                assert_eq!(
                    number_tail(w).as_deref(),
                    number_tail_by_count(w).as_deref(),
                    "{w:?}"
                );
            }
            words = next;
        }
    }

    #[test]
    fn cached_hints_agree_with_the_scan_through_evictions() {
        let long = format!("{} yealink", "x".repeat(HINT_CACHE_LEN));
        let mut products: Vec<String> = (0..HINT_CACHE * 3)
            .map(|i| format!("Asterisk {i}"))
            .collect();
        products.extend(
            [
                "Yealink SIP-T46S",
                "",
                "kamailio",
                "Mediant 1000",
                "unknown",
                long.as_str(),
            ]
            .map(String::from),
        );
        // Each product several times, in an order that makes every entry leave and come back.
        for round in 0..3 {
            for (i, p) in products.iter().enumerate() {
                let p = if (i + round) % 4 == 0 {
                    p.to_ascii_uppercase()
                } else {
                    p.clone()
                };
                assert_eq!(hint_cached(&p), hint_from_product(&p), "{p:?}");
                assert_eq!(hint_cached(&p), hint_from_product(&p), "{p:?}");
            }
        }
        HINTS.with(|c| {
            let c = c.borrow();
            assert_eq!(c.entries.len(), HINT_CACHE);
            assert!(c.entries.iter().all(|(p, _)| p.len() <= HINT_CACHE_LEN));
        });
    }

    /// The plain way: lower-case the product and look for each keyword, role by role.
    fn by_substring_search(product: &str) -> Option<Role> {
        let p = product.to_ascii_lowercase();
        HINT_PRIORITY.iter().copied().find(|&role| {
            PRODUCT_KEYWORDS
                .iter()
                .any(|&(k, r)| r == role && p.contains(k))
        })
    }

    #[test]
    fn table_search_agrees_with_substring_search() {
        let products = [
            "Yealink SIP-T46S 66.85.0.5",
            "Asterisk PBX 18.9.0",
            "FPBX-16.0.33(18.13.0)",
            "Kamailio (5.6.2 (x86_64/linux))",
            "OpenSIPS (3.2.2 (x86_64/linux))",
            "Mediant 1000 - MSBG/v.7.20A",
            "AudioCodes-Sip-Gateway-Mediant",
            "Patton SN4960",
            "my-GW 1.0",
            "Linphone/5.0 (belle-sip/5.0)",
            "Cisco-CP8845/14.1",
            "snom D785",
            "Grandstream GXP2170",
            "X-Lite release 5.8",
            "session border controller",
            "SBC-1",
            "repro 1.12",
            "Zoiper rv2.10",
            "MicroSIP/3.21.3",
            "baresip v2.0",
            "pjsua 2.13",
            "unknown agent",
            "",
            "g",
            "-g",
            "ÄÖ yealink ü",
            "freeswitch sofia gateway",
            "3CX Phone System",
            "Bria 6 softphone",
            "Gigaset N870",
            "obihai OBi202",
            "Fanvil X6U",
            "Jitsi Meet",
            "sipgw-7",
            "media gateway",
            "SIPPHONE",
        ];
        for p in products {
            assert_eq!(hint_from_product(p), by_substring_search(p), "{p:?}");
        }
        assert_eq!(hint_from_product("Yealink SIP-T46S"), Some(Role::Phone));
        assert_eq!(
            hint_from_product("Asterisk via AudioCodes"),
            Some(Role::Gateway)
        );
        assert_eq!(hint_from_product("kamailio"), Some(Role::Proxy));
        assert_eq!(hint_from_product("nothing here"), None);
    }

    #[test]
    fn every_keyword_is_found_alone_and_in_upper_case() {
        for &(k, role) in PRODUCT_KEYWORDS {
            let found = hint_from_product(k);
            assert_eq!(found, by_substring_search(k), "{k}");
            assert!(found.is_some(), "{k}");
            let upper = format!("x{}x", k.to_ascii_uppercase());
            assert_eq!(hint_from_product(&upper), by_substring_search(&upper));
            // A keyword never hints at a role ranked below its own.
            let rank = |r: Role| HINT_PRIORITY.iter().position(|&x| x == r);
            assert!(found.and_then(rank) <= rank(role), "{k}");
        }
    }
}

#[cfg(test)]
mod host_tests {
    use super::*;
    use crate::dialog::testkit;
    use crate::net::{Endpoint, Transport};

    /// Hosts worked out message by message with plain searches, as first written.
    fn plain_hosts(msgs: &[Msg]) -> (Vec<Host>, Vec<(HostIdx, HostIdx)>) {
        let split: Vec<IpAddr> = msgs
            .iter()
            .filter(|m| m.flow.src.ip == m.flow.dst.ip)
            .map(|m| m.flow.src.ip)
            .collect();
        let mut hosts: Vec<Host> = Vec::new();
        let mut ends = Vec::new();
        let host_of = |e: Endpoint, hosts: &mut Vec<Host>| {
            let key_port = split.contains(&e.ip).then_some(e.port);
            let h = match hosts
                .iter()
                .position(|h| h.addr == e.ip && h.port == key_port)
            {
                Some(h) => h,
                None => {
                    hosts.push(Host::seen(e.ip, key_port));
                    hosts.len() - 1
                }
            };
            let host = &mut hosts[h];
            if !host.ports.contains(&e.port) && host.ports.len() < MAX_PORTS {
                host.ports.push(e.port);
                host.ports.sort_unstable();
            }
            h
        };
        for m in msgs {
            let s = host_of(m.flow.src, &mut hosts);
            let d = host_of(m.flow.dst, &mut hosts);
            hosts[s].sent += 1;
            hosts[d].received += 1;
            ends.push((s, d));
        }
        (hosts, ends)
    }

    fn at(ip: &str, port: u16) -> Endpoint {
        Endpoint {
            ip: ip.parse().unwrap(),
            port,
        }
    }

    /// Flows in both directions, one address talking to itself on several ports, IPv6, two
    /// transports between the same ends, ports past the limit and more flows than a short list
    /// holds: the same hosts, in the same order, with the same ends for every message.
    #[test]
    fn hosts_by_conversation_agree_with_a_plain_search() {
        let a = at("10.0.0.1", 5060);
        let b = at("10.0.0.2", 5060);
        let b2 = at("10.0.0.2", 5080);
        let l1 = at("127.0.0.1", 5060);
        let l2 = at("127.0.0.1", 5070);
        let v6 = at("2001:db8::1", 5060);
        let v6b = at("2001:db8::2", 40000);
        let mut flows: Vec<(Endpoint, Endpoint, Transport)> = vec![
            (b, a, Transport::Udp),
            (a, b, Transport::Udp),
            (a, b, Transport::Tcp),
            (b2, a, Transport::Udp),
            (a, b2, Transport::Udp),
            (l2, l1, Transport::Udp),
            (l1, l2, Transport::Udp),
            (l1, l1, Transport::Udp),
            (v6b, v6, Transport::Udp),
            (v6, v6b, Transport::Udp),
            (a, v6, Transport::Udp),
        ];
        // Many ports of one address, both ways: past the list's switch to hashing and past
        // the ports a host keeps.
        for p in 0..40u16 {
            let c = at("10.0.0.3", 6000 - p);
            flows.push((c, a, Transport::Udp));
            if p % 3 == 0 {
                flows.push((a, c, Transport::Udp));
            }
        }
        for rounds in [1, 2] {
            for start in [0, 3, 7] {
                let msgs: Vec<Msg> = flows
                    .iter()
                    .cycle()
                    .skip(start)
                    .take(flows.len() * rounds)
                    .enumerate()
                    .map(|(i, &(src, dst, transport))| {
                        let mut m = testkit::invite("c", 1, 2, i as i64, "z9hG4bK1", 1);
                        m.flow = Flow {
                            transport,
                            src,
                            dst,
                        };
                        m
                    })
                    .collect();
                let mut scratch = HostScratch::default();
                for _ in 0..2 {
                    let hosts = identify_hosts(&msgs, &mut scratch);
                    let (want_hosts, want_ends) = plain_hosts(&msgs);
                    assert_eq!(hosts, want_hosts);
                    assert_eq!(scratch.ends, want_ends);
                }
            }
        }
    }
}
