//! From the messages of one Call-ID to steps, hops, transactions and dialogs.
//!
//! One pass over the messages in time order, with hash maps for every lookup, so the work per
//! message does not grow with the size of the call (a keepalive series of thousands of OPTIONS
//! under one Call-ID stays linear). Then a few passes over the steps fix what only the whole
//! picture tells: hop order, who generated what, dialogs, roles and the summary.
//!
//! How a message finds its step: a proxy forwarding a request pushes its own Via on top, so the
//! bottom Via (the originator's, with its branch) is the same on every leg, and responses carry
//! the same bottom Via back. A step is therefore keyed by the bottom Via plus CSeq, method or
//! status code and To tag. 100 Trying is hop by hop (each proxy sends its own), so its key adds
//! the top Via. A CANCEL or the ACK of a failure that a proxy builds itself has only that
//! proxy's Via, so it is its own step per leg, tied to the INVITE through the per-leg
//! transaction its top Via names (RFC 3261 section 17). When the originator's branch lacks the
//! `z9hG4bK` cookie (RFC 2543 stacks), the bottom Via sent-by, branch text and From tag stand in
//! for the branch.
//!
//! The same step again on the same flow at the same Via depth is a repeat: a duplicate capture
//! when it comes within a few milliseconds with identical content (same packet seen on two
//! interfaces or in two merged files), otherwise a retransmission linked to the first sighting.
//! Different content under the same key (a second 180 with a body) is a new step.

use std::collections::HashMap;

/// Keys here are built from capture text per message: a fast hasher (no denial-of-service
/// concern for an offline analyzer reading one capture).
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

use super::model::*;
use compact_str::format_compact;

use super::msg::{Msg, Start, Text};
use super::roles::{self, RoleOverride};
use super::summary;
use crate::net::Flow;

/// The magic cookie that marks an RFC 3261 branch.
const COOKIE: &str = "z9hG4bK";
/// Two sightings closer than this with identical content, in the same file, are one packet
/// captured twice (retransmission timers start at 500 ms, far above).
const DUP_WINDOW_NS: i64 = 5_000_000;
/// The same, for sightings from two different files (their clocks may differ a little).
const DUP_WINDOW_OTHER_FILE_NS: i64 = 200_000_000;

/// Who sent a request first: the bottom Via.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Origin {
    /// RFC 3261: branch (with cookie) and sent-by.
    Branch { branch: Text, sent_by: Text },
    /// RFC 2543: no cookie, so sent-by, whatever branch text there is, and the From tag.
    Legacy {
        sent_by: Text,
        branch: Text,
        from_tag: Text,
    },
}

/// `t` in lower case; a copy (free for short text) when it has no upper-case letter, as
/// addresses almost never do: the case-changing path walks and rebuilds the string.
fn lower(t: &Text) -> Text {
    if t.bytes().any(|b| b.is_ascii_uppercase()) {
        t.to_ascii_lowercase()
    } else {
        t.clone()
    }
}

/// `t` in upper case, copied as is when it has no lower-case letter (methods rarely do).
fn upper(t: &Text) -> Text {
    if t.bytes().any(|b| b.is_ascii_lowercase()) {
        t.to_ascii_uppercase()
    } else {
        t.clone()
    }
}

/// The Via sent-by as a matching key: lower case, with the transport's default port made
/// explicit (RFC 3261 18.2.1: 5060, or 5061 for TLS), so `192.0.2.1` and `192.0.2.1:5060` are
/// the same sender.
fn sent_by_key(v: &super::ViaInfo) -> Text {
    let s = lower(&v.sent_by);
    let has_port = match s.rfind(']') {
        Some(close) => s[close..].contains(':'),
        // No brackets: a port is there when exactly one colon (IPv4 or a name) is.
        None => s.matches(':').count() == 1,
    };
    if has_port || s.is_empty() {
        return s;
    }
    let default = if v.transport.eq_ignore_ascii_case("TLS") {
        5061
    } else {
        5060
    };
    if s.matches(':').count() > 1 && !s.starts_with('[') {
        format_compact!("[{s}]:{default}")
    } else {
        format_compact!("{s}:{default}")
    }
}

fn origin_of(m: &Msg) -> (Origin, bool) {
    let from_tag = m.from.tag.clone().unwrap_or_default();
    match m.vias.last() {
        Some(v) => {
            let sent_by = sent_by_key(v);
            match v.branch.as_deref() {
                Some(b) if b.starts_with(COOKIE) => (
                    Origin::Branch {
                        branch: Text::from(b),
                        sent_by,
                    },
                    false,
                ),
                b => (
                    Origin::Legacy {
                        sent_by,
                        branch: Text::from(b.unwrap_or("")),
                        from_tag,
                    },
                    true,
                ),
            }
        }
        None => (
            Origin::Legacy {
                sent_by: Text::default(),
                branch: Text::default(),
                from_tag,
            },
            true,
        ),
    }
}

/// A per-leg transaction: top Via, CSeq number and the transaction's method.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct LegKey {
    branch: Text,
    sent_by: Text,
    from_tag: Text,
    cseq: u32,
    class: Text,
}

fn leg_key(m: &Msg, cseq: u32, class: &str) -> LegKey {
    let (branch, sent_by) = match m.vias.first() {
        Some(v) => (v.branch.clone().unwrap_or_default(), sent_by_key(v)),
        None => (Text::default(), Text::default()),
    };
    LegKey {
        branch,
        sent_by,
        from_tag: m.from.tag.clone().unwrap_or_default(),
        cseq,
        class: Text::from(class),
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct StepKey {
    origin: Origin,
    cseq: u32,
    cseq_method: Text,
    kind: StepKind,
    to_tag: Option<Text>,
    /// Top Via (branch, sent-by) for hop-by-hop responses (100 Trying).
    hop_local: Option<(Text, Text)>,
}

/// Identical content, as far as the model can tell: the bytes when both were kept, otherwise
/// size and presence of a body description.
fn same_content(a: &Msg, b: &Msg) -> bool {
    match (&a.raw, &b.raw) {
        (Some(x), Some(y)) => x == y,
        _ => a.size == b.size && a.sdp.is_some() == b.sdp.is_some() && a.start == b.start,
    }
}

struct Builder {
    steps: Vec<Step>,
    txs: Vec<Transaction>,
    /// Per transaction: got a 2xx, got a final of 300 or more.
    tx_outcome: Vec<(bool, bool)>,
    tx_origin_legacy: Vec<bool>,
    step_map: FastMap<StepKey, StepIdx>,
    hop_map: FastMap<(StepIdx, Flow, usize), usize>,
    tx_map: FastMap<(Origin, u32, Text), TxIdx>,
    leg_map: FastMap<LegKey, (TxIdx, usize)>,
    info: Vec<MsgInfo>,
    missing_cseq: usize,
    invalid: usize,
}

/// Groups, matches and annotates the messages of one call. `msgs` need not be sorted; they are
/// put in time order (stable). Overrides name hosts whose role the user knows.
pub fn analyze_call(mut msgs: Vec<Msg>, overrides: &[RoleOverride]) -> Call {
    msgs.sort_by_key(|m| (m.frame.ts_ns, m.frame.file, m.frame.number));
    let call_id = msgs.first().map(|m| m.call_id.clone()).unwrap_or_default();
    let mut notes = Vec::new();
    if msgs.iter().any(|m| m.call_id != call_id) {
        notes.push("messages with different Call-IDs were analysed as one call".to_string());
    }
    if call_id.is_empty() && !msgs.is_empty() {
        notes.push("message without a Call-ID: kept as a call of its own".to_string());
    }

    let (mut hosts, ends) = roles::identify_hosts(&msgs);
    let mut b = Builder {
        steps: Vec::new(),
        txs: Vec::new(),
        tx_outcome: Vec::new(),
        tx_origin_legacy: Vec::new(),
        step_map: FastMap::default(),
        hop_map: FastMap::default(),
        tx_map: FastMap::default(),
        leg_map: FastMap::default(),
        info: Vec::with_capacity(msgs.len()),
        missing_cseq: 0,
        invalid: 0,
    };
    for (i, m) in msgs.iter().enumerate() {
        let (src, dst) = ends.get(i).copied().unwrap_or((0, 0));
        b.place(&msgs, i, m, src, dst);
    }
    if b.invalid > 0 {
        notes.push(format!(
            "{} message(s) with an unreadable start line are listed but not matched",
            b.invalid
        ));
    }
    if b.missing_cseq > 0 {
        notes.push(format!(
            "{} message(s) without a CSeq were matched with CSeq 0",
            b.missing_cseq
        ));
    }

    order_hops(&mut b.steps, &mut b.info);
    for (t, tx) in b.txs.iter_mut().enumerate() {
        tx.final_response = decide_final(tx, &b.steps);
        tx.rfc2543 = b.tx_origin_legacy.get(t).copied().unwrap_or(false);
    }
    let mut dialogs = build_dialogs(&mut b.steps, &mut b.txs);
    for d in &mut dialogs {
        d.transactions.dedup();
    }
    roles::assign(&mut hosts, &b.steps, &msgs, overrides);
    set_acting(&mut b.steps);

    let mut call = Call {
        call_id,
        messages: msgs,
        info: b.info,
        steps: b.steps,
        transactions: b.txs,
        dialogs,
        hosts,
        summary: summary::empty(),
        related: Vec::new(),
        notes,
    };
    call.summary = summary::summarize(&call);
    call
}

impl Builder {
    fn place(&mut self, msgs: &[Msg], i: MsgIdx, m: &Msg, src: HostIdx, dst: HostIdx) {
        let mut info = MsgInfo {
            step: None,
            hop: None,
            repeat: Repeat::First,
            src,
            dst,
        };
        let kind = match &m.start {
            Start::Request { method, .. } => StepKind::Request {
                method: upper(method),
            },
            Start::Response { code, .. } => StepKind::Response { code: *code },
            Start::Invalid => {
                self.invalid += 1;
                self.info.push(info);
                return;
            }
        };
        let (cseq, cseq_method) = match &m.cseq {
            Some((n, meth)) => (*n, upper(meth)),
            None => {
                self.missing_cseq += 1;
                let meth = match &kind {
                    StepKind::Request { method } => method.clone(),
                    StepKind::Response { .. } => Text::default(),
                };
                (0, meth)
            }
        };
        let (origin, legacy) = origin_of(m);
        let hop_local = match kind {
            StepKind::Response { code: 100 } => m
                .vias
                .first()
                .map(|v| (v.branch.clone().unwrap_or_default(), sent_by_key(v))),
            _ => None,
        };
        let key = StepKey {
            origin: origin.clone(),
            cseq,
            cseq_method: cseq_method.clone(),
            kind: kind.clone(),
            to_tag: m.to.tag.clone(),
            hop_local,
        };
        let depth = m.vias.len();

        // A known step: a repeat on a known hop, a new hop, or different content (a new step).
        if let Some(&s) = self.step_map.get(&key) {
            match self.hop_map.get(&(s, m.flow, depth)).copied() {
                Some(h) => {
                    if let Some(repeat) = self.repeat_of(msgs, s, h, m) {
                        info.step = Some(s);
                        info.hop = Some(h);
                        info.repeat = repeat;
                        if let Some(hop) = self.steps.get_mut(s).and_then(|st| st.hops.get_mut(h)) {
                            match repeat {
                                Repeat::Duplicate { .. } => hop.duplicates.push(i),
                                _ => hop.retransmissions.push(i),
                            }
                        }
                        self.info.push(info);
                        return;
                    }
                }
                None => {
                    let h = self.add_hop(s, i, m, src, dst, cseq);
                    info.step = Some(s);
                    info.hop = Some(h);
                    self.info.push(info);
                    return;
                }
            }
        }

        // A new step.
        let (tx, part) = self.classify(m, &kind, &origin, legacy, cseq, &cseq_method);
        let s = self.steps.len();
        self.steps.push(Step {
            kind: kind.clone(),
            cseq,
            cseq_method: cseq_method.clone(),
            from_tag: m.from.tag.clone(),
            to_tag: m.to.tag.clone(),
            transaction: tx,
            part,
            hops: Vec::new(),
            generated_by: None,
            dialog: None,
        });
        self.step_map.insert(key, s);
        if let Some(t) = self.txs.get_mut(tx) {
            match part {
                Part::Request => {
                    if t.request.is_none() {
                        t.request = Some(s);
                        t.in_dialog = m.to.tag.is_some();
                    }
                }
                Part::Response => t.responses.push(s),
                Part::Cancel | Part::CancelResponse => t.cancels.push(s),
                Part::Ack => t.acks.push(s),
            }
        }
        if part == Part::Response {
            if let (StepKind::Response { code }, Some(o)) = (&kind, self.tx_outcome.get_mut(tx)) {
                match code {
                    200..=299 => o.0 = true,
                    300..=u16::MAX => o.1 = true,
                    _ => {}
                }
            }
        }
        let h = self.add_hop(s, i, m, src, dst, cseq);
        info.step = Some(s);
        info.hop = Some(h);
        self.info.push(info);
    }

    /// `Some` when `m` repeats what hop `h` of step `s` already carried.
    fn repeat_of(&self, msgs: &[Msg], s: StepIdx, h: usize, m: &Msg) -> Option<Repeat> {
        let hop = self.steps.get(s)?.hops.get(h)?;
        let latest = hop
            .msg
            .max(hop.retransmissions.last().copied().unwrap_or(0))
            .max(hop.duplicates.last().copied().unwrap_or(0));
        let prev = msgs.get(latest)?;
        let window = if prev.frame.file == m.frame.file {
            DUP_WINDOW_NS
        } else {
            DUP_WINDOW_OTHER_FILE_NS
        };
        let dt = m.frame.ts_ns.saturating_sub(prev.frame.ts_ns);
        if dt <= window && same_content(prev, m) {
            return Some(Repeat::Duplicate { of: latest });
        }
        let first = msgs.get(hop.msg)?;
        if same_content(first, m) {
            return Some(Repeat::Retransmission { of: hop.msg });
        }
        None
    }

    fn new_tx(&mut self, method: &str, cseq: u32, legacy: bool) -> TxIdx {
        self.txs.push(Transaction {
            method: Text::from(method),
            cseq,
            request: None,
            responses: Vec::new(),
            final_response: None,
            cancels: Vec::new(),
            acks: Vec::new(),
            legs: Vec::new(),
            in_dialog: false,
            rfc2543: legacy,
            dialog: None,
            dialogs: Vec::new(),
        });
        self.tx_outcome.push((false, false));
        self.tx_origin_legacy.push(legacy);
        self.txs.len() - 1
    }

    fn tx_for(&mut self, origin: &Origin, legacy: bool, cseq: u32, method: &str) -> TxIdx {
        let k = (origin.clone(), cseq, Text::from(method));
        if let Some(&t) = self.tx_map.get(&k) {
            return t;
        }
        let t = self.new_tx(method, cseq, legacy);
        self.tx_map.insert(k, t);
        t
    }

    /// Which transaction a new step belongs to, and what it does there.
    fn classify(
        &mut self,
        m: &Msg,
        kind: &StepKind,
        origin: &Origin,
        legacy: bool,
        cseq: u32,
        cseq_method: &str,
    ) -> (TxIdx, Part) {
        match kind {
            StepKind::Request { method } if method == "ACK" => {
                if let Some(&(t, _)) = self.leg_map.get(&leg_key(m, cseq, "INVITE")) {
                    // The ACK of a failure reuses the INVITE's branch; an ACK of a 2xx is a new
                    // transaction (some stacks reuse the branch anyway: tell them apart by what
                    // the INVITE got).
                    let (got_2xx, got_fail) = self.tx_outcome.get(t).copied().unwrap_or_default();
                    if got_fail || !got_2xx {
                        return (t, Part::Ack);
                    }
                }
                (self.tx_for(origin, legacy, cseq, "ACK"), Part::Request)
            }
            StepKind::Request { method } if method == "CANCEL" => {
                if let Some(&(t, _)) = self.leg_map.get(&leg_key(m, cseq, "INVITE")) {
                    return (t, Part::Cancel);
                }
                let k = (origin.clone(), cseq, Text::const_new("INVITE"));
                if let Some(&t) = self.tx_map.get(&k) {
                    return (t, Part::Cancel);
                }
                (self.tx_for(origin, legacy, cseq, "CANCEL"), Part::Request)
            }
            StepKind::Request { method } => {
                (self.tx_for(origin, legacy, cseq, method), Part::Request)
            }
            StepKind::Response { .. } if cseq_method == "CANCEL" => {
                if let Some(&(t, _)) = self.leg_map.get(&leg_key(m, cseq, "INVITE")) {
                    return (t, Part::CancelResponse);
                }
                let k = (origin.clone(), cseq, Text::const_new("CANCEL"));
                if let Some(&t) = self.tx_map.get(&k) {
                    return (t, Part::Response);
                }
                let k = (origin.clone(), cseq, Text::const_new("INVITE"));
                if let Some(&t) = self.tx_map.get(&k) {
                    return (t, Part::CancelResponse);
                }
                (self.tx_for(origin, legacy, cseq, "CANCEL"), Part::Response)
            }
            StepKind::Response { .. } => (
                self.tx_for(origin, legacy, cseq, cseq_method),
                Part::Response,
            ),
        }
    }

    /// Adds a hop to step `s` and ties it to its per-leg transaction.
    fn add_hop(
        &mut self,
        s: StepIdx,
        i: MsgIdx,
        m: &Msg,
        src: HostIdx,
        dst: HostIdx,
        cseq: u32,
    ) -> usize {
        let depth = m.vias.len();
        let (tx, part) = match self.steps.get(s) {
            Some(st) => (st.transaction, st.part),
            None => return 0,
        };
        let class = match part {
            Part::Cancel | Part::CancelResponse | Part::Ack => Text::const_new("INVITE"),
            _ => self
                .txs
                .get(tx)
                .map(|t| t.method.clone())
                .unwrap_or_default(),
        };
        let lk = leg_key(m, cseq, &class);
        let leg = match self.leg_map.get(&lk) {
            Some(&(t, l)) if t == tx => Some(l),
            Some(_) => None,
            None if part == Part::Request => self.txs.get_mut(tx).map(|t| {
                t.legs.push(Leg {
                    branch: m.vias.first().and_then(|v| v.branch.clone()),
                    sent_by: m
                        .vias
                        .first()
                        .map(|v| v.sent_by.clone())
                        .unwrap_or_default(),
                    via_depth: depth,
                    request: i,
                    client: src,
                    server: dst,
                });
                let l = t.legs.len() - 1;
                self.leg_map.insert(lk, (tx, l));
                l
            }),
            None => None,
        };
        let Some(st) = self.steps.get_mut(s) else {
            return 0;
        };
        st.hops.push(Hop {
            msg: i,
            src,
            dst,
            via_depth: depth,
            origin: HopOrigin::Generated,
            sender_acts: Acting::Client,
            receiver_acts: Acting::Server,
            leg,
            retransmissions: Vec::new(),
            duplicates: Vec::new(),
        });
        let h = st.hops.len() - 1;
        self.hop_map.insert((s, m.flow, depth), h);
        h
    }
}

/// Puts each step's hops in path order and says which sender generated it.
///
/// Requests go from few Vias to many, responses from many to few; within a depth, time
/// decides. Ordering by depth first keeps the path right even when merged files have skewed
/// clocks. A request with more than one Via was forwarded even if its originator's leg is not in
/// the capture (a user agent sends exactly one Via).
fn order_hops(steps: &mut [Step], info: &mut [MsgInfo]) {
    for (s, st) in steps.iter_mut().enumerate() {
        let req = st.is_request();
        if req {
            st.hops.sort_by_key(|h| (h.via_depth, h.msg));
        } else {
            st.hops
                .sort_by_key(|h| (std::cmp::Reverse(h.via_depth), h.msg));
        }
        let Some(first) = st.hops.first() else {
            continue;
        };
        let gen_src = first.src;
        let forwarded_origin = req && first.via_depth > 1;
        st.generated_by = if forwarded_origin {
            None
        } else {
            Some(gen_src)
        };
        for (h, hop) in st.hops.iter_mut().enumerate() {
            hop.origin = if !forwarded_origin && hop.src == gen_src {
                HopOrigin::Generated
            } else {
                HopOrigin::Forwarded
            };
            for m in std::iter::once(hop.msg)
                .chain(hop.retransmissions.iter().copied())
                .chain(hop.duplicates.iter().copied())
            {
                if let Some(inf) = info.get_mut(m) {
                    inf.step = Some(s);
                    inf.hop = Some(h);
                }
            }
        }
    }
}

/// The first 2xx; else the first final that reached the originator's leg; else the first final.
fn decide_final(tx: &Transaction, steps: &[Step]) -> Option<StepIdx> {
    let code = |s: StepIdx| steps.get(s).and_then(Step::code).unwrap_or(0);
    if let Some(&s) = tx
        .responses
        .iter()
        .find(|&&s| (200..300).contains(&code(s)))
    {
        return Some(s);
    }
    let origin_depth = tx
        .request
        .and_then(|r| steps.get(r))
        .and_then(|r| r.hops.first())
        .map(|h| h.via_depth)
        .unwrap_or(1);
    let finals = || tx.responses.iter().copied().filter(|&s| code(s) >= 200);
    finals()
        .find(|&s| {
            steps
                .get(s)
                .is_some_and(|st| st.hops.iter().any(|h| h.via_depth <= origin_depth))
        })
        .or_else(|| finals().next())
}

fn tag_pair(a: &str, b: &str) -> (Text, Text) {
    if a <= b {
        (Text::from(a), Text::from(b))
    } else {
        (Text::from(b), Text::from(a))
    }
}

/// Dialogs from tags: INVITE responses with a To tag create them (several when forked), a 2xx
/// confirms one, in-dialog requests join them (or reveal one whose start was not captured), a
/// BYE ends one, and a failed INVITE ends its early dialogs.
fn build_dialogs(steps: &mut [Step], txs: &mut [Transaction]) -> Vec<Dialog> {
    let mut dialogs: Vec<Dialog> = Vec::new();
    let mut dmap: FastMap<(Text, Text), DialogIdx> = FastMap::default();
    for s in 0..steps.len() {
        let Some(st) = steps.get(s) else { continue };
        let t = st.transaction;
        let Some(tx) = txs.get(t) else { continue };
        let tags = match (&st.from_tag, &st.to_tag) {
            (Some(f), Some(to)) => Some((f.clone(), to.clone())),
            _ => None,
        };
        let mut dialog = None;
        match (st.part, st.code()) {
            (Part::Request, _) => {
                if let Some((f, to)) = tags.filter(|_| st.method() != "REGISTER") {
                    let d = *dmap.entry(tag_pair(&f, &to)).or_insert_with(|| {
                        dialogs.push(Dialog {
                            local_tag: f.clone(),
                            remote_tag: to.clone(),
                            state: DialogState::Confirmed,
                            created_by: s,
                            created_by_tx: None,
                            confirmed_by: None,
                            ended_by: None,
                            transactions: Vec::new(),
                            seen_mid_way: true,
                        });
                        dialogs.len() - 1
                    });
                    if let Some(dl) = dialogs.get_mut(d) {
                        dl.transactions.push(t);
                        if st.method() == "BYE" {
                            dl.state = DialogState::Terminated;
                            dl.ended_by.get_or_insert(s);
                        }
                    }
                    dialog = Some(d);
                    if let Some(tx) = txs.get_mut(t) {
                        tx.dialog.get_or_insert(d);
                    }
                }
            }
            (Part::Response, Some(code)) => {
                if tx.in_dialog {
                    dialog = tx.dialog;
                } else if tx.method == "INVITE" && (101..300).contains(&code) {
                    if let Some((f, to)) = tags {
                        let d = *dmap.entry(tag_pair(&f, &to)).or_insert_with(|| {
                            dialogs.push(Dialog {
                                local_tag: f.clone(),
                                remote_tag: to.clone(),
                                state: DialogState::Early,
                                created_by: s,
                                created_by_tx: Some(t),
                                confirmed_by: None,
                                ended_by: None,
                                transactions: Vec::new(),
                                seen_mid_way: false,
                            });
                            dialogs.len() - 1
                        });
                        let confirmed = code >= 200;
                        if let Some(dl) = dialogs.get_mut(d) {
                            dl.transactions.push(t);
                            if confirmed {
                                if dl.state == DialogState::Early {
                                    dl.state = DialogState::Confirmed;
                                }
                                dl.confirmed_by.get_or_insert(s);
                            }
                        }
                        if let Some(tx) = txs.get_mut(t) {
                            if !tx.dialogs.contains(&d) {
                                tx.dialogs.push(d);
                            }
                            if confirmed {
                                let already = tx
                                    .dialog
                                    .and_then(|x| dialogs.get(x))
                                    .is_some_and(|x| x.confirmed_by.is_some());
                                if !already {
                                    tx.dialog = Some(d);
                                }
                            } else {
                                tx.dialog.get_or_insert(d);
                            }
                        }
                        dialog = Some(d);
                    }
                } else if tx.method == "INVITE" && code >= 300 {
                    // A fork that failed (487 after another fork answered, 486, ...) ends the
                    // early dialog its provisional responses made.
                    if let Some((f, to)) = tags {
                        if let Some(&d) = dmap.get(&tag_pair(&f, &to)) {
                            if let Some(dl) = dialogs.get_mut(d) {
                                if dl.confirmed_by.is_none() {
                                    dl.state = DialogState::Terminated;
                                    dl.transactions.push(t);
                                }
                            }
                        }
                    }
                } else if tx.request.is_none() {
                    // A response whose request was not captured: join a known dialog by tags.
                    if let Some((f, to)) = tags {
                        dialog = dmap.get(&tag_pair(&f, &to)).copied();
                    }
                }
            }
            _ => dialog = tx.dialog,
        }
        if let Some(st) = steps.get_mut(s) {
            st.dialog = dialog;
        }
    }
    // A failed INVITE ends the early dialogs it created.
    for tx in txs.iter() {
        let failed = tx
            .final_response
            .and_then(|f| steps.get(f))
            .and_then(Step::code)
            .is_some_and(|c| c >= 300);
        if tx.method == "INVITE" && failed {
            for &d in &tx.dialogs {
                if let Some(dl) = dialogs.get_mut(d) {
                    if dl.confirmed_by.is_none() {
                        dl.state = DialogState::Terminated;
                    }
                }
            }
        }
    }
    // Steps of a transaction that joined its dialog later (CANCEL, ACK of a failure).
    for st in steps.iter_mut() {
        if st.dialog.is_none() && matches!(st.part, Part::Cancel | Part::CancelResponse | Part::Ack)
        {
            st.dialog = txs.get(st.transaction).and_then(|t| t.dialog);
        }
    }
    dialogs
}

/// Who does what on each hop: the sender originates/generates or forwards; the receiver
/// forwards it if it is the sender of another hop of the same step, else it is the end.
fn set_acting(steps: &mut [Step]) {
    for st in steps.iter_mut() {
        let mut senders: Vec<HostIdx> = st.hops.iter().map(|h| h.src).collect();
        senders.sort_unstable();
        senders.dedup();
        let req = st.is_request();
        for hop in st.hops.iter_mut() {
            let forwards = hop.dst != hop.src && senders.binary_search(&hop.dst).is_ok();
            let generated = hop.origin == HopOrigin::Generated;
            hop.sender_acts = match (generated, req) {
                (false, _) => Acting::Forwarder,
                (true, true) => Acting::Client,
                (true, false) => Acting::Server,
            };
            hop.receiver_acts = match (forwards, req) {
                (true, _) => Acting::Forwarder,
                (false, true) => Acting::Server,
                (false, false) => Acting::Client,
            };
        }
    }
}

#[cfg(test)]
mod sent_by_tests {
    use super::sent_by_key;
    use crate::dialog::ViaInfo;

    fn via(sent_by: &str, transport: &str) -> ViaInfo {
        ViaInfo {
            sent_by: sent_by.into(),
            transport: transport.into(),
            ..Default::default()
        }
    }

    #[test]
    fn default_port_is_implied() {
        assert_eq!(
            sent_by_key(&via("192.168.1.2", "UDP")),
            sent_by_key(&via("192.168.1.2:5060", "UDP"))
        );
        assert_eq!(
            sent_by_key(&via("PBX.example.com", "TLS")),
            "pbx.example.com:5061"
        );
        assert_eq!(
            sent_by_key(&via("[2001:db8::1]:5070", "UDP")),
            "[2001:db8::1]:5070"
        );
        assert_eq!(
            sent_by_key(&via("2001:db8::1", "UDP")),
            "[2001:db8::1]:5060"
        );
        assert_ne!(
            sent_by_key(&via("10.0.0.1:5062", "UDP")),
            sent_by_key(&via("10.0.0.1", "UDP"))
        );
    }
}
