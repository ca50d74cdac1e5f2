//! B2BUA correlation across Call-IDs for outputs that see calls one at a time.
//!
//! Whole-file analysis pairs calls with [`crate::dialog::correlate_b2bua`] once every call is
//! built. Streaming outputs never hold every call, so [`B2buaLinker`] keeps only the few facts
//! that rule reads (per initial INVITE sighting: address, called number, time, host) and finds
//! the same pairs, in the same way: a host that received an initial INVITE as its final
//! destination in one call and originated an initial INVITE to the same called number (last
//! 8 digits) in another call at most 5 s later, looking at no more than 64 candidates. Its
//! answer for a call is the list of its hosts that become B2BUAs ([`B2buaLinker::take`]).
//!
//! A call's answer is final once no call that can still come can pair with it: every
//! partner's INVITE lies within 5 s of one of the call's own initial INVITEs, so once calls
//! handed over later all start after the call's latest initial INVITE plus 5 s
//! ([`B2buaLinker::add`] returns that time), nothing can change it.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use smallvec::SmallVec;

use super::{CallKey, Number, Place};
#[cfg(test)]
use crate::dialog::number_tail;
use crate::dialog::{b2bua_partner, each_invite_sighting, B2BUA_WINDOW_NS as WINDOW_NS};
use crate::dialog::{Call, Host, HostIdx, Role, RoleSource};

type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;
/// An originated initial INVITE: time, call, sending host.
type Sent = (i64, CallKey, HostIdx);

/// An initial INVITE received by a host as its final destination, waiting for every INVITE
/// that could answer it.
struct Inbound {
    key: CallKey,
    addr: IpAddr,
    number: Number,
    host: HostIdx,
}

/// Finds B2BUAs across calls handed over one by one (see the module header).
#[derive(Default)]
pub struct B2buaLinker {
    /// (address, called number) -> originated initial INVITEs: (time, call, host), kept
    /// sorted. Most places see one INVITE before they are forgotten: it is kept in place.
    outbound: FastMap<Place, SmallVec<[Sent; 1]>>,
    /// The keys of `outbound` by the time of each INVITE filed there (then arrival), to
    /// forget old INVITEs without looking at the others.
    outbound_times: BTreeMap<(i64, u64), Place>,
    /// Received initial INVITEs by time (then arrival, for uniqueness).
    inbound: BTreeMap<(i64, u64), Inbound>,
    arrivals: u64,
    /// Hosts found to be B2BUAs, per call not yet taken.
    found: FastMap<CallKey, Vec<HostIdx>>,
}

impl B2buaLinker {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records what `call` (with its place `key` in the whole-file list) can pair on, and
    /// returns the time after which its answer is final: once every call still to come
    /// starts after it.
    pub fn add(&mut self, key: CallKey, call: &Call) -> i64 {
        let mut last = i64::MIN;
        for sight in each_invite_sighting(call) {
            let ts = sight.ts_ns;
            last = last.max(ts);
            // Inline, so copied without an allocation.
            let number = sight.number.clone();
            if let Some((addr, host)) = sight.originated_by {
                let list = self.outbound.entry((addr, number.clone())).or_default();
                let item = (ts, key, host);
                let at = list.partition_point(|x| *x <= item);
                list.insert(at, item);
                self.arrivals = self.arrivals.wrapping_add(1);
                self.outbound_times
                    .insert((ts, self.arrivals), (addr, number.clone()));
            }
            if let Some((addr, host)) = sight.received_by {
                self.arrivals = self.arrivals.wrapping_add(1);
                self.inbound.insert(
                    (ts, self.arrivals),
                    Inbound {
                        key,
                        addr,
                        number,
                        host,
                    },
                );
            }
        }
        if last == i64::MIN {
            i64::MIN
        } else {
            last.saturating_add(WINDOW_NS)
        }
    }

    /// Every call still to come starts at or after `horizon`: pairs every received INVITE
    /// that no later call can answer any more, and forgets INVITEs no later one can pair with.
    pub fn advance(&mut self, horizon: i64) {
        while let Some(entry) = self.inbound.first_entry() {
            let t = entry.key().0;
            if t.saturating_add(WINDOW_NS) >= horizon {
                break;
            }
            let inb = entry.remove();
            self.pair(t, inb);
        }
        // Received INVITEs still waiting are at most 5 s older than the horizon, and later
        // calls' are not older than it: sent INVITEs before that can answer none of them.
        let cut = horizon.saturating_sub(WINDOW_NS);
        while let Some(entry) = self.outbound_times.first_entry() {
            if entry.key().0 >= cut {
                break;
            }
            let place = entry.remove();
            if let Some(list) = self.outbound.get_mut(&place) {
                let gone = list.partition_point(|x| x.0 < cut);
                list.drain(..gone);
                if list.is_empty() {
                    self.outbound.remove(&place);
                }
            }
        }
    }

    /// The whole-file rule for one received INVITE at time `t`: the first INVITE to the same
    /// number sent by the same address from another call, at `t` or at most 5 s later.
    fn pair(&mut self, t: i64, inb: Inbound) {
        let Some(list) = self.outbound.get(&(inb.addr, inb.number)) else {
            return;
        };
        if let Some((_, other, h_out)) = b2bua_partner(list, t, inb.key) {
            for (key, host) in [(inb.key, inb.host), (other, h_out)] {
                let hosts = self.found.entry(key).or_default();
                if !hosts.contains(&host) {
                    hosts.push(host);
                }
            }
        }
    }

    /// End of input: pairs everything still waiting.
    pub fn finish(&mut self) {
        self.advance(i64::MAX);
    }

    /// The hosts of call `key` found to be B2BUAs (and forgets them). Final only once the
    /// horizon passed the time [`B2buaLinker::add`] returned for the call, or after
    /// [`B2buaLinker::finish`].
    pub fn take(&mut self, key: CallKey) -> Vec<HostIdx> {
        self.found.remove(&key).unwrap_or_default()
    }

    /// Calls with an answer not yet taken (for tests and memory checks).
    pub fn waiting(&self) -> usize {
        self.found.len()
    }
}

/// Makes `host` a B2BUA as whole-file correlation does: behaviour noted, role changed unless
/// the user gave one.
pub fn promote(host: &mut Host) {
    host.behaviour.b2bua = true;
    if host.role_source != RoleSource::Override {
        host.role = Role::B2bua;
        host.role_source = RoleSource::Wire;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialog::testkit::{invite, reply};
    use crate::dialog::{analyze_all, analyze_call, Msg};

    /// Calls handed to the linker one by one, in list order, find the B2BUAs the whole-file
    /// rule finds: a host (2) that changes Call-IDs, numbers shared by several calls (some
    /// outbound legs later than 5 s, some with another number), and calls through it that
    /// pair with nothing.
    #[test]
    fn linker_finds_the_whole_file_rules_b2buas() {
        let mut msgs: Vec<Msg> = Vec::new();
        for i in 0..80i64 {
            let t = i * 900;
            let number = format!("{}", 30_123_000 + i % 7);
            let mut a = invite(&format!("in{i}"), 10 + (i % 3) as u8, 2, t, "z9hG4bK-i", 1);
            a.to.user = format!("+49{number}").into();
            msgs.push(reply(&a, 486, t + 50, Some("x")));
            msgs.push(a);
            let delay = (i * 1_337) % 6_500;
            let mut b = invite(
                &format!("out{i}"),
                2,
                3 + (i % 2) as u8,
                t + delay,
                "z9hG4bK-o",
                1,
            );
            b.to.user = if i % 11 == 0 {
                "0999".into()
            } else {
                format!("0{number}").into()
            };
            msgs.push(reply(&b, 486, t + delay + 40, Some("y")));
            msgs.push(b);
        }
        msgs.sort_by_key(|m| m.frame.ts_ns);
        let roles = |c: &Call| -> Vec<(IpAddr, Role, bool)> {
            c.hosts
                .iter()
                .map(|h| (h.addr, h.role, h.behaviour.b2bua))
                .collect()
        };
        let whole = analyze_all(msgs.clone(), &[]);
        let mut first: Vec<(String, u64)> = Vec::new();
        for (n, m) in msgs.iter().enumerate() {
            if !first.iter().any(|(id, _)| id == m.call_id.as_str()) {
                first.push((m.call_id.to_string(), n as u64));
            }
        }
        let mut calls: Vec<(CallKey, Call)> = first
            .iter()
            .map(|(id, n)| {
                let own = msgs.iter().filter(|m| m.call_id == id.as_str()).cloned();
                let call = analyze_call(own.collect(), &[]);
                ((call.summary.start_ns, *n), call)
            })
            .collect();
        calls.sort_by_key(|(k, _)| *k);
        let mut linker = B2buaLinker::new();
        for (key, call) in &calls {
            linker.add(*key, call);
            linker.advance(key.0);
        }
        linker.finish();
        let mut promoted = 0;
        for (key, call) in &mut calls {
            for h in linker.take(*key) {
                promote(&mut call.hosts[h]);
                promoted += 1;
            }
            let w = whole.iter().find(|w| w.call_id == call.call_id).unwrap();
            assert_eq!(roles(w), roles(call), "{}", call.call_id);
        }
        assert!(promoted > 40, "{promoted}");
        assert!(promoted < 2 * calls.len(), "{promoted}");
        assert_eq!(linker.waiting(), 0);
    }

    #[test]
    fn number_tail_keeps_the_last_eight_digits() {
        assert_eq!(number_tail("+49301234567").as_deref(), Some("01234567"));
        assert_eq!(number_tail("ab12"), None);
        assert_eq!(number_tail("x123").as_deref(), Some("123"));
    }
}
