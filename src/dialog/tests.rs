//! Scenarios written as ladders of hand-made messages.

use super::testkit::*;
use super::*;

fn host(call: &Call, n: u8) -> HostIdx {
    call.hosts
        .iter()
        .position(|h| h.addr == ip(n))
        .expect("host present")
}

fn step_of<'a>(call: &'a Call, msg: &Msg) -> &'a Step {
    let i = call
        .messages
        .iter()
        .position(|m| m.frame == msg.frame)
        .expect("message present");
    let s = call.info[i].step.expect("has a step");
    &call.steps[s]
}

fn info_of(call: &Call, msg: &Msg) -> MsgInfo {
    let i = call
        .messages
        .iter()
        .position(|m| m.frame == msg.frame)
        .expect("message present");
    call.info[i]
}

/// INVITE 1->2->3, 100 from 2, 180/200 from 3 through 2, ACK and BYE through 2.
fn proxied_call() -> (Vec<Msg>, Vec<Msg>) {
    let inv1 = invite("c1", 1, 2, 0, "z9hG4bK-1", 1);
    let t100 = reply(&inv1, 100, 5, None);
    let inv2 = fwd(&inv1, 2, "z9hG4bK-2", 3, 10);
    let r180_3 = reply(&inv2, 180, 50, Some("b"));
    let r180_2 = reply(&inv1, 180, 55, Some("b"));
    let r200_3 = reply(&inv2, 200, 2000, Some("b"));
    let r200_2 = reply(&inv1, 200, 2005, Some("b"));
    let ack1 = request("ACK", "c1", 1, 2, 2010, "z9hG4bK-a1", 1, "a", Some("b"));
    let ack2 = fwd(&ack1, 2, "z9hG4bK-a2", 3, 2015);
    let bye1 = request("BYE", "c1", 1, 2, 9000, "z9hG4bK-y1", 2, "a", Some("b"));
    let bye2 = fwd(&bye1, 2, "z9hG4bK-y2", 3, 9005);
    let ok3 = reply(&bye2, 200, 9010, None);
    let ok2 = reply(&bye1, 200, 9015, None);
    let all = vec![
        inv1.clone(),
        t100.clone(),
        inv2,
        r180_3.clone(),
        r180_2,
        r200_3.clone(),
        r200_2,
        ack1,
        ack2,
        bye1,
        bye2,
        ok3.clone(),
        ok2,
    ];
    (all, vec![inv1, t100, r180_3, r200_3, ok3])
}

#[test]
fn call_through_a_proxy() {
    let (msgs, keys) = proxied_call();
    let call = analyze_call(msgs, &[]);
    let (h1, h2, h3) = (host(&call, 1), host(&call, 2), host(&call, 3));
    assert_eq!(call.steps.len(), 7, "INVITE, 100, 180, 200, ACK, BYE, 200");
    assert_eq!(call.transactions.len(), 3, "INVITE, ACK of 2xx, BYE");

    let invite = step_of(&call, &keys[0]);
    assert_eq!(invite.hops.len(), 2);
    assert_eq!(invite.generated_by, Some(h1));
    assert_eq!((invite.hops[0].src, invite.hops[0].dst), (h1, h2));
    assert_eq!(invite.hops[0].receiver_acts, Acting::Forwarder);
    assert_eq!(invite.hops[1].origin, HopOrigin::Forwarded);
    assert_eq!(invite.hops[1].receiver_acts, Acting::Server);

    let trying = step_of(&call, &keys[1]);
    assert_eq!(trying.hops.len(), 1);
    assert_eq!(trying.generated_by, Some(h2));
    assert_eq!(trying.hops[0].origin, HopOrigin::Generated);

    for key in &keys[2..] {
        let st = step_of(&call, key);
        assert_eq!(st.hops.len(), 2, "{:?}", st.kind);
        assert_eq!(st.generated_by, Some(h3), "{:?}", st.kind);
        assert_eq!(st.hops[0].src, h3);
        assert_eq!(st.hops[0].origin, HopOrigin::Generated);
        assert_eq!(st.hops[0].sender_acts, Acting::Server);
        assert_eq!(st.hops[0].receiver_acts, Acting::Forwarder);
        assert_eq!(st.hops[1].src, h2);
        assert_eq!(st.hops[1].origin, HopOrigin::Forwarded);
        assert_eq!(st.hops[1].receiver_acts, Acting::Client);
    }
    assert_eq!(call.hosts[h1].role, Role::UserAgent);
    assert_eq!(call.hosts[h2].role, Role::Proxy);
    assert_eq!(call.hosts[h3].role, Role::UserAgent);
    assert!(call.hosts[h1].behaviour.originated && !call.hosts[h1].behaviour.forwarded);
    assert!(call.hosts[h3].behaviour.answered);

    // Each leg of the INVITE is its own RFC 3261 transaction; responses sit on the right leg.
    let tx = &call.transactions[invite.transaction];
    assert_eq!(tx.legs.len(), 2);
    let r200 = step_of(&call, &keys[3]);
    assert_eq!(r200.hops[0].leg, invite.hops[1].leg);
    assert_eq!(r200.hops[1].leg, invite.hops[0].leg);

    assert_eq!(call.dialogs.len(), 1);
    assert_eq!(call.dialogs[0].state, DialogState::Terminated);
    let s = &call.summary;
    assert_eq!(s.state, CallState::Completed);
    assert_eq!(s.final_code, Some(200));
    assert_eq!(s.final_reason.as_deref(), Some("OK"));
    assert_eq!(
        s.duration_ns, 7_000_000_000,
        "from the 200 (t=2 s) to the BYE (t=9 s)"
    );
    assert_eq!(s.message_count, 13);
    assert!(!s.failed);
    assert!(call.info.iter().all(|i| i.repeat == Repeat::First));
}

#[test]
fn forked_invite_makes_two_early_dialogs_and_one_is_confirmed() {
    let inv1 = invite("fork", 1, 2, 0, "z9hG4bK-1", 1);
    let to3 = fwd(&inv1, 2, "z9hG4bK-2", 3, 1);
    let to4 = fwd(&inv1, 2, "z9hG4bK-3", 4, 2);
    let r180_3 = reply(&to3, 180, 10, Some("t3"));
    let r180_4 = reply(&to4, 180, 11, Some("t4"));
    let up180_3 = reply(&inv1, 180, 12, Some("t3"));
    let up180_4 = reply(&inv1, 180, 13, Some("t4"));
    let ok3 = reply(&to3, 200, 100, Some("t3"));
    let up_ok = reply(&inv1, 200, 101, Some("t3"));
    let cancel4 = hop_request(&to4, "CANCEL", 102, None);
    let cancel_ok = reply(&cancel4, 200, 103, None);
    let r487 = reply(&to4, 487, 104, Some("t4"));
    let ack4 = hop_request(&to4, "ACK", 105, Some("t4"));
    let msgs = vec![
        inv1.clone(),
        to3,
        to4,
        r180_3,
        r180_4,
        up180_3,
        up180_4,
        ok3,
        up_ok.clone(),
        cancel4.clone(),
        cancel_ok.clone(),
        r487,
        ack4.clone(),
    ];
    let call = analyze_call(msgs, &[]);
    let tx_i = step_of(&call, &inv1).transaction;
    assert_eq!(
        step_of(&call, &inv1).hops.len(),
        3,
        "one INVITE, three legs"
    );
    let forks: Vec<_> = call.forks_of(tx_i).collect();
    assert_eq!(forks.len(), 2);
    let confirmed: Vec<_> = forks
        .iter()
        .filter(|&&d| call.dialogs[d].confirmed_by.is_some())
        .collect();
    assert_eq!(confirmed.len(), 1);
    assert_eq!(call.dialogs[*confirmed[0]].remote_tag, "t3");
    let other = forks.iter().find(|&&d| d != *confirmed[0]).unwrap();
    assert_eq!(call.dialogs[*other].state, DialogState::Terminated);
    assert_eq!(call.transactions[tx_i].dialog, Some(*confirmed[0]));

    // The proxy's own CANCEL and ACK towards host 4 belong to the INVITE.
    assert_eq!(step_of(&call, &cancel4).part, Part::Cancel);
    assert_eq!(step_of(&call, &cancel4).transaction, tx_i);
    assert_eq!(step_of(&call, &cancel_ok).part, Part::CancelResponse);
    assert_eq!(step_of(&call, &ack4).part, Part::Ack);
    assert_eq!(step_of(&call, &ack4).transaction, tx_i);
    let fin = call.transactions[tx_i].final_response.unwrap();
    assert_eq!(call.steps[fin].code(), Some(200));
    assert_eq!(call.summary.state, CallState::InCall);
    assert_eq!(step_of(&call, &up_ok).generated_by, Some(host(&call, 3)));
}

#[test]
fn cancel_and_487_with_ack_belong_to_the_invite() {
    let inv = invite("cx", 1, 3, 0, "z9hG4bK-i", 7);
    let msgs = vec![
        inv.clone(),
        reply(&inv, 100, 1, None),
        reply(&inv, 180, 5, Some("t")),
        hop_request(&inv, "CANCEL", 3000, None),
        reply(&hop_request(&inv, "CANCEL", 0, None), 200, 3001, Some("t")),
        reply(&inv, 487, 3002, Some("t")),
        hop_request(&inv, "ACK", 3003, Some("t")),
    ];
    let call = analyze_call(msgs, &[]);
    assert_eq!(call.transactions.len(), 1);
    let tx = &call.transactions[0];
    assert_eq!(tx.cancels.len(), 2);
    assert_eq!(tx.acks.len(), 1);
    assert_eq!(tx.responses.len(), 3, "100, 180, 487");
    assert_eq!(call.summary.state, CallState::Cancelled);
    assert_eq!(call.summary.final_code, Some(487));
    assert!(call.summary.failed);
    assert_eq!(call.dialogs.len(), 1);
    assert_eq!(call.dialogs[0].state, DialogState::Terminated);
}

#[test]
fn auth_retry_ends_with_the_answer_to_the_retry() {
    let inv1 = invite("auth", 1, 2, 0, "z9hG4bK-1", 1);
    let r401 = reply(&inv1, 401, 10, Some("p"));
    let ack1 = hop_request(&inv1, "ACK", 11, Some("p"));
    let mut inv2 = invite("auth", 1, 2, 20, "z9hG4bK-2", 2);
    inv2.has_credentials = true;
    let ok = reply(&inv2, 200, 500, Some("q"));
    let ack2 = request("ACK", "auth", 1, 2, 510, "z9hG4bK-3", 2, "a", Some("q"));
    let call = analyze_call(
        vec![
            inv1.clone(),
            r401,
            ack1.clone(),
            inv2.clone(),
            ok,
            ack2.clone(),
        ],
        &[],
    );
    assert_eq!(
        call.transactions.len(),
        3,
        "INVITE 1, INVITE 2, ACK of the 200"
    );
    assert_eq!(step_of(&call, &ack1).part, Part::Ack);
    assert_eq!(
        step_of(&call, &ack1).transaction,
        step_of(&call, &inv1).transaction
    );
    assert_eq!(step_of(&call, &ack2).part, Part::Request);
    assert_eq!(
        call.summary.main_transaction,
        Some(step_of(&call, &inv2).transaction)
    );
    assert_eq!(call.summary.final_code, Some(200));
    assert_eq!(call.summary.state, CallState::InCall);
    assert!(!call.summary.failed);
}

#[test]
fn reinvite_and_callee_bye_stay_in_one_dialog() {
    let inv = invite("re", 1, 3, 0, "z9hG4bK-1", 1);
    let ok = reply(&inv, 200, 10, Some("b"));
    let ack = request("ACK", "re", 1, 3, 20, "z9hG4bK-2", 1, "a", Some("b"));
    let re = request("INVITE", "re", 1, 3, 5000, "z9hG4bK-3", 2, "a", Some("b"));
    let re_ok = reply(&re, 200, 5010, None);
    let re_ack = request("ACK", "re", 1, 3, 5020, "z9hG4bK-4", 2, "a", Some("b"));
    // The callee hangs up: its From tag is the dialog's remote tag.
    let mut bye = request("BYE", "re", 3, 1, 8000, "z9hG4bK-5", 1, "b", Some("a"));
    bye.from.user = "bob".into();
    let bye_ok = reply(&bye, 200, 8010, None);
    let call = analyze_call(
        vec![
            inv.clone(),
            ok,
            ack,
            re.clone(),
            re_ok,
            re_ack,
            bye.clone(),
            bye_ok,
        ],
        &[],
    );
    assert_eq!(call.dialogs.len(), 1);
    let d = &call.dialogs[0];
    assert_eq!((d.local_tag.as_str(), d.remote_tag.as_str()), ("a", "b"));
    let re_tx = &call.transactions[step_of(&call, &re).transaction];
    assert!(re_tx.in_dialog);
    assert_eq!(re_tx.dialog, Some(0));
    assert_eq!(step_of(&call, &bye).dialog, Some(0));
    assert_eq!(
        d.transactions.len(),
        5,
        "INVITE, ACK, re-INVITE, ACK, BYE: {d:?}"
    );
    assert_eq!(d.state, DialogState::Terminated);
    assert_eq!(
        call.summary.main_transaction,
        Some(step_of(&call, &inv).transaction),
        "the re-INVITE does not decide the outcome"
    );
    assert_eq!(call.summary.state, CallState::Completed);
    assert_eq!(call.transaction_only().count(), 0);
}

#[test]
fn register_challenged_then_accepted_ends_200() {
    let r1 = request("REGISTER", "reg", 1, 2, 0, "z9hG4bK-1", 1, "a", None);
    let c = reply(&r1, 401, 5, Some("r"));
    let mut r2 = request("REGISTER", "reg", 1, 2, 10, "z9hG4bK-2", 2, "a", None);
    r2.has_credentials = true;
    let ok = reply(&r2, 200, 15, Some("r"));
    let call = analyze_call(vec![r1, c, r2, ok], &[]);
    assert_eq!(call.summary.first_method, "REGISTER");
    assert_eq!(call.summary.final_code, Some(200));
    assert_eq!(call.summary.state, CallState::Done);
    assert!(call.dialogs.is_empty(), "REGISTER never makes a dialog");
    assert_eq!(call.transaction_only().count(), 2);
    assert_eq!(call.hosts[host(&call, 2)].role, Role::Registrar);
}

#[test]
fn options_is_transaction_only() {
    let o = request("OPTIONS", "opt", 1, 2, 0, "z9hG4bK-1", 1, "a", None);
    let ok = reply(&o, 200, 3, Some("x"));
    let call = analyze_call(vec![o, ok], &[]);
    assert!(call.dialogs.is_empty());
    assert_eq!(call.transaction_only().collect::<Vec<_>>(), vec![0]);
    assert_eq!(call.transactions[0].responses.len(), 1);
    assert_eq!(call.summary.state, CallState::Done);
    assert_eq!(call.summary.duration_ns, 3_000_000);
}

#[test]
fn retransmissions_are_marked_and_linked_not_new_steps() {
    let inv = invite("rtx", 1, 2, 0, "z9hG4bK-1", 1);
    let inv_again = again(&inv, 500);
    let ok = reply(&inv, 200, 800, Some("b"));
    let ok_again = again(&ok, 1300);
    let ok_third = again(&ok, 2300);
    let call = analyze_call(
        vec![
            inv.clone(),
            inv_again.clone(),
            ok.clone(),
            ok_again.clone(),
            ok_third,
        ],
        &[],
    );
    assert_eq!(call.steps.len(), 2);
    assert_eq!(info_of(&call, &inv).repeat, Repeat::First);
    let first_inv = call
        .messages
        .iter()
        .position(|m| m.frame == inv.frame)
        .unwrap();
    assert_eq!(
        info_of(&call, &inv_again).repeat,
        Repeat::Retransmission { of: first_inv }
    );
    let first_ok = call
        .messages
        .iter()
        .position(|m| m.frame == ok.frame)
        .unwrap();
    assert_eq!(
        info_of(&call, &ok_again).repeat,
        Repeat::Retransmission { of: first_ok }
    );
    let st = step_of(&call, &ok);
    assert_eq!(st.hops.len(), 1);
    assert_eq!(st.hops[0].retransmissions.len(), 2);
    assert_eq!(call.summary.message_count, 5);
}

#[test]
fn different_content_under_the_same_key_is_a_new_step() {
    let inv = invite("two180", 1, 2, 0, "z9hG4bK-1", 1);
    let a = reply(&inv, 180, 10, Some("b"));
    let mut b = reply(&inv, 180, 900, Some("b"));
    b.size += 120;
    let call = analyze_call(vec![inv, a, b], &[]);
    assert_eq!(call.steps.len(), 3);
    assert_eq!(call.transactions[0].responses.len(), 2);
}

#[test]
fn rfc2543_branch_without_cookie() {
    let mut inv = invite("old", 1, 2, 0, "", 1);
    inv.vias = smallvec::smallvec![via(1, "")];
    let via_less_proxy = fwd(&inv, 2, "z9hG4bK-p", 3, 5);
    let trying = reply(&inv, 100, 6, None);
    let busy3 = reply(&via_less_proxy, 486, 20, Some("t"));
    let busy2 = reply(&inv, 486, 21, Some("t"));
    let ack = hop_request(&inv, "ACK", 22, Some("t"));
    let call = analyze_call(
        vec![
            inv.clone(),
            via_less_proxy,
            trying,
            busy3,
            busy2.clone(),
            ack.clone(),
        ],
        &[],
    );
    let st = step_of(&call, &inv);
    assert_eq!(
        st.hops.len(),
        2,
        "matched across the proxy by the bottom Via"
    );
    let tx = &call.transactions[st.transaction];
    assert!(tx.rfc2543);
    assert_eq!(tx.responses.len(), 2, "100 and 486");
    assert_eq!(step_of(&call, &ack).part, Part::Ack);
    assert_eq!(step_of(&call, &busy2).generated_by, Some(host(&call, 3)));
    assert_eq!(call.summary.final_code, Some(486));
    assert_eq!(call.summary.state, CallState::Rejected);
}

#[test]
fn the_same_packet_captured_twice_is_a_duplicate() {
    let inv = invite("dup", 1, 2, 0, "z9hG4bK-1", 1);
    let mut copy = again(&inv, 0);
    copy.frame.ts_ns += 300_000; // 0.3 ms later, other interface
    let mut other_file = again(&inv, 0);
    other_file.frame.file = 1;
    other_file.frame.ts_ns += 40_000_000; // 40 ms clock offset between files
    let call = analyze_call(vec![inv.clone(), copy.clone(), other_file.clone()], &[]);
    assert_eq!(call.steps.len(), 1);
    assert!(matches!(
        info_of(&call, &copy).repeat,
        Repeat::Duplicate { .. }
    ));
    assert!(matches!(
        info_of(&call, &other_file).repeat,
        Repeat::Duplicate { .. }
    ));
    assert_eq!(call.steps[0].hops[0].duplicates.len(), 2);
    assert!(call.steps[0].hops[0].retransmissions.is_empty());
}

#[test]
fn loopback_lab_splits_hosts_by_port() {
    use crate::net::Endpoint;
    let lo = |port| Endpoint {
        ip: "127.0.0.1".parse().unwrap(),
        port,
    };
    let mut inv = invite("lo", 1, 2, 0, "z9hG4bK-1", 1);
    inv.flow.src = lo(5061);
    inv.flow.dst = lo(5060);
    let fwd2 = {
        let mut f = fwd(&inv, 2, "z9hG4bK-2", 3, 1);
        f.flow.src = lo(5060);
        f.flow.dst = lo(5062);
        f
    };
    let call = analyze_call(vec![inv, fwd2], &[]);
    assert_eq!(call.hosts.len(), 3);
    assert_eq!(call.host_label(1), "127.0.0.1:5060");
    assert_eq!(call.hosts[1].role, Role::Proxy);
}

#[test]
fn a_hosts_ports_are_ascending_distinct_and_capped() {
    // Host 1 sends the same request from 20 source ports, out of order and repeated: its
    // list keeps each port once, ascending, and stops at 16 (spilling past the inline room).
    let first = invite("ports", 1, 2, 0, "z9hG4bK-1", 1);
    let order: Vec<u16> = (0..20u16).map(|i| 5000 + (i * 7) % 20).collect();
    let mut msgs = Vec::new();
    for (n, &port) in order.iter().chain(order.iter().take(5)).enumerate() {
        let mut m = first.clone();
        m.flow.src.port = port;
        m.frame.number = n as u64 + 1;
        msgs.push(m);
    }
    let call = analyze_call(msgs, &[]);
    let h1 = &call.hosts[host(&call, 1)];
    let mut want: Vec<u16> = Vec::new();
    for &p in &order {
        if !want.contains(&p) && want.len() < 16 {
            want.push(p);
        }
    }
    want.sort_unstable();
    assert_eq!(&h1.ports[..], &want[..]);
    // The destination used one port only.
    assert_eq!(
        &call.hosts[host(&call, 2)].ports[..],
        &[first.flow.dst.port][..]
    );
    // The inline room costs nothing over a plain list's header.
    assert!(std::mem::size_of_val(&h1.ports) <= std::mem::size_of::<Vec<u16>>());
}

#[test]
fn overrides_and_hints_set_roles() {
    let inv = invite("gw", 1, 3, 0, "z9hG4bK-1", 1);
    let mut busy = reply(&inv, 486, 10, Some("t"));
    busy.server = Some("Yealink SIP-T46S".into());
    let ov: RoleOverride = "10.0.0.1=gateway".parse().unwrap();
    let call = analyze_call(vec![inv, busy], &[ov]);
    let (h1, h3) = (host(&call, 1), host(&call, 3));
    assert_eq!(call.hosts[h1].role, Role::Gateway);
    assert_eq!(call.hosts[h1].role_source, RoleSource::Override);
    assert_eq!(call.hosts[h3].role, Role::Phone);
    assert_eq!(call.hosts[h3].role_source, RoleSource::Hint);
    assert_eq!(
        call.hosts[h3].servers.as_slice(),
        ["Yealink SIP-T46S".to_string()]
    );
}

#[test]
fn role_override_parsing() {
    let o: RoleOverride = "[2001:db8::1]:5080=proxy".parse().unwrap();
    assert_eq!(o.port, Some(5080));
    assert_eq!(o.role, Role::Proxy);
    let o: RoleOverride = "::1=B2BUA".parse().unwrap();
    assert_eq!((o.port, o.role), (None, Role::B2bua));
    assert!("10.0.0.1".parse::<RoleOverride>().is_err());
    assert!("10.0.0.1=toaster".parse::<RoleOverride>().is_err());
    assert!("nothost=phone".parse::<RoleOverride>().is_err());
}

#[test]
fn b2bua_keeping_the_call_id_is_recognised() {
    let a = invite("b2b", 1, 2, 0, "z9hG4bK-1", 1);
    let b = invite("b2b", 2, 3, 5, "z9hG4bK-9", 1);
    let call = analyze_call(vec![a, b], &[]);
    assert_eq!(call.hosts[host(&call, 2)].role, Role::B2bua);
    assert_eq!(call.hosts[host(&call, 1)].role, Role::UserAgent);
}

#[test]
fn whole_file_calls_equal_distinct_call_ids_and_messages_land_once() {
    let (mut msgs, _) = proxied_call();
    for k in 0..5u32 {
        let id = format!("opt-{k}");
        let o = request(
            "OPTIONS",
            &id,
            4,
            5,
            100 + i64::from(k),
            "z9hG4bK-o",
            1,
            "x",
            None,
        );
        msgs.push(reply(&o, 200, 101 + i64::from(k), Some("y")));
        msgs.push(o);
    }
    let mut orphan = invite("", 7, 8, 50, "z9hG4bK-z", 1);
    orphan.call_id = Default::default();
    msgs.push(orphan.clone());
    msgs.push(again(&orphan, 60));
    let total = msgs.len();
    let mut distinct: Vec<&str> = msgs.iter().map(|m| m.call_id.as_str()).collect();
    distinct.retain(|c| !c.is_empty());
    distinct.sort_unstable();
    distinct.dedup();
    let expected_calls = distinct.len() + 2;
    let mut frames: Vec<_> = msgs.iter().map(|m| m.frame).collect();

    let calls = analyze_all(msgs, &[]);
    assert_eq!(calls.len(), expected_calls);
    let mut seen: Vec<_> = calls
        .iter()
        .flat_map(|c| c.messages.iter().map(|m| m.frame))
        .collect();
    assert_eq!(seen.len(), total);
    seen.sort();
    frames.sort();
    assert_eq!(seen, frames, "every message in exactly one call");
    for c in &calls {
        assert!(c.messages.iter().all(|m| m.call_id == c.call_id));
        assert_eq!(c.info.len(), c.messages.len());
    }
    assert!(calls
        .windows(2)
        .all(|w| w[0].summary.start_ns <= w[1].summary.start_ns));
    assert!(calls
        .iter()
        .filter(|c| c.call_id.is_empty())
        .all(|c| !c.notes.is_empty()));
}

#[test]
fn filters() {
    let (msgs, _) = proxied_call();
    let call = analyze_call(msgs, &[]);
    let mut f = Filter::default();
    assert!(f.is_empty() && f.matches(&call));
    f.to = Some("BO".into());
    assert!(f.matches(&call));
    f.from = Some("carol".into());
    assert!(!f.matches(&call));
    let f = Filter {
        status: Some("2xx".parse().unwrap()),
        method: Some("bye".into()),
        ..Filter::default()
    };
    assert!(f.matches(&call));
    let f = Filter {
        status: Some("486".parse().unwrap()),
        ..Filter::default()
    };
    assert!(!f.matches(&call));
    let f = Filter {
        failed: true,
        ..Filter::default()
    };
    assert!(!f.matches(&call));
    let f = Filter {
        since: Some(10_000_000_000),
        ..Filter::default()
    };
    assert!(!f.matches(&call), "the call ended at 9.015 s");
    let f = Filter {
        until: Some(0),
        ..Filter::default()
    };
    assert!(f.matches(&call));
    assert!("7xx".parse::<StatusFilter>().is_err());
    assert!("48".parse::<StatusFilter>().is_err());
    assert_eq!("4XX".parse::<StatusFilter>(), Ok(StatusFilter::Class(4)));
}

#[test]
fn unanswered_invite_retransmitted_is_no_answer() {
    let inv = invite("void", 1, 9, 0, "z9hG4bK-1", 1);
    let call = analyze_call(vec![inv.clone(), again(&inv, 500), again(&inv, 1500)], &[]);
    assert_eq!(call.summary.state, CallState::NoAnswer);
    assert!(call.summary.failed);
    assert_eq!(call.summary.final_code, None);
}

#[test]
fn hostile_messages_do_not_panic() {
    use crate::dialog::msg::Start;
    let mut m = invite("bad", 1, 2, 0, "z9hG4bK-1", 1);
    m.cseq = None;
    m.vias.clear();
    let mut r = reply(&m, 200, 1, None);
    r.start = Start::Invalid;
    let mut odd = reply(&m, 999, i64::MAX / 1_000_000, Some("t"));
    odd.frame.ts_ns = i64::MAX;
    let mut neg = again(&m, 0);
    neg.frame.ts_ns = i64::MIN;
    let call = analyze_call(vec![m, r, odd, neg], &[]);
    assert_eq!(call.info.len(), 4);
    assert!(!call.notes.is_empty());
    assert!(call.summary.duration_ns >= 0);
    let empty = analyze_call(Vec::new(), &[]);
    assert!(empty.steps.is_empty());
}

#[test]
fn b2bua_changing_the_call_id_is_found_across_calls() {
    // Phone 1 calls PBX 2 (call "in"); 2 s later the PBX calls gateway 3 (call "out") for the
    // same number with another prefix. An unrelated call to another number stays apart.
    let mut a = invite("in", 1, 2, 0, "z9hG4bK-1", 1);
    a.to.user = "+4930123456".into();
    let mut b = invite("out", 2, 3, 2000, "z9hG4bK-2", 1);
    b.to.user = "030123456".into();
    let mut c = invite("other", 2, 3, 2500, "z9hG4bK-3", 1);
    c.to.user = "5550000".into();
    let calls = analyze_all(vec![a, b, c], &[]);
    let by_id = |id: &str| calls.iter().find(|c| c.call_id == id).unwrap();
    let (cin, cout, other) = (by_id("in"), by_id("out"), by_id("other"));
    assert_eq!(cin.related, vec!["out".to_string()]);
    assert_eq!(cout.related, vec!["in".to_string()]);
    assert!(other.related.is_empty());
    assert_eq!(cin.hosts[host(cin, 2)].role, Role::B2bua);
    assert_eq!(cout.hosts[host(cout, 2)].role, Role::B2bua);
    assert_eq!(other.hosts[host(other, 2)].role, Role::UserAgent);
}

#[test]
fn a_long_keepalive_series_stays_linear() {
    // 20 000 OPTIONS and answers under one Call-ID, each a new CSeq and branch.
    let mut msgs = Vec::new();
    for k in 0..20_000u32 {
        let t = i64::from(k) * 30_000;
        let o = request(
            "OPTIONS",
            "ka",
            1,
            2,
            t,
            &format!("z9hG4bK-{k}"),
            k + 1,
            "a",
            None,
        );
        msgs.push(reply(&o, 200, t + 3, Some("x")));
        msgs.push(o);
    }
    let started = std::time::Instant::now();
    let call = analyze_call(msgs, &[]);
    assert_eq!(call.transactions.len(), 20_000);
    assert_eq!(call.steps.len(), 40_000);
    assert_eq!(call.summary.final_code, Some(200));
    // Generous bound for a debug build on a slow machine; quadratic work would take minutes.
    assert!(started.elapsed().as_secs() < 20, "{:?}", started.elapsed());
}

/// Host labels read as the standard formatting writes the address (and port), for IPv4
/// octets and ports of every length, and for IPv6.
#[test]
fn host_label_matches_display() {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    let mut addrs: Vec<IpAddr> = Vec::new();
    for o in [0u8, 1, 9, 10, 42, 99, 100, 199, 200, 255] {
        addrs.push(IpAddr::V4(Ipv4Addr::new(o, 255 - o, o / 2, 7)));
    }
    addrs.push(IpAddr::V6(Ipv6Addr::LOCALHOST));
    addrs.push(IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)));
    for addr in addrs {
        for port in [
            None,
            Some(0u16),
            Some(5),
            Some(10),
            Some(99),
            Some(100),
            Some(5060),
            Some(10000),
            Some(65535),
        ] {
            let h = Host::seen(addr, port);
            let want = match (addr, port) {
                (a, None) => a.to_string(),
                (IpAddr::V4(a), Some(p)) => format!("{a}:{p}"),
                (IpAddr::V6(a), Some(p)) => format!("[{a}]:{p}"),
            };
            assert_eq!(h.label(), want);
        }
    }
}
