//! The outcome word, the deciding transaction and response, who ended the call, and where the
//! deciding exchange travelled and broke.
//!
//! The deciding transaction starts from the call summary's main transaction (which already
//! looks past an authentication retry); when a later out-of-dialog INVITE got no final
//! response at all, that later attempt is what happened last and decides instead.

use crate::dialog::{
    annotate, Annotation, Call, HostIdx, MsgIdx, Part, Step, StepIdx, Transaction, TxIdx,
};

use super::{Diagnosis, Finding, LegRef, Outcome, Severity, Timings, Where};

/// First sighting of every hop of a step (one message per leg), in hop order.
pub(crate) fn hop_msgs(call: &Call, step: StepIdx) -> Vec<MsgIdx> {
    hop_msgs_iter(call, step).collect()
}

/// [`hop_msgs`] without collecting them.
fn hop_msgs_iter(call: &Call, step: StepIdx) -> impl Iterator<Item = MsgIdx> + '_ {
    call.steps
        .get(step)
        .into_iter()
        .flat_map(|s| s.hops.iter().map(|h| h.msg))
}

/// How many times a step was resent, over all its legs.
pub(crate) fn retransmissions(s: &Step) -> usize {
    s.hops.iter().map(|h| h.retransmissions.len()).sum()
}

pub(crate) fn step_ns(call: &Call, step: StepIdx) -> Option<i64> {
    call.steps.get(step).and_then(|s| s.first_ns(call))
}

pub(crate) fn code_of(call: &Call, step: Option<StepIdx>) -> Option<u16> {
    step.and_then(|s| call.steps.get(s)).and_then(Step::code)
}

/// The sender that made a request: its originator, or the first sender seen.
pub(crate) fn origin_of(s: &Step) -> Option<HostIdx> {
    s.generated_by.or_else(|| s.hops.first().map(|h| h.src))
}

/// The transaction whose outcome is the call's outcome.
pub(crate) fn deciding_tx(call: &Call) -> Option<TxIdx> {
    let main = call.summary.main_transaction?;
    let tx = call.transactions.get(main)?;
    if tx.method != "INVITE" || code_of(call, tx.final_response).is_some_and(|c| c < 300) {
        return Some(main);
    }
    // A later attempt with no final response at all (a retry that timed out).
    let later = call
        .transactions
        .iter()
        .enumerate()
        .skip(main.saturating_add(1))
        .filter(|(_, t)| t.method == "INVITE" && !t.in_dialog && t.final_response.is_none())
        .map(|(i, _)| i)
        .next_back();
    Some(later.unwrap_or(main))
}

/// Hosts the request of a transaction crossed, originator first.
fn path_of(call: &Call, tx: &Transaction) -> Vec<HostIdx> {
    let mut path: Vec<HostIdx> = Vec::new();
    let Some(req) = tx.request.and_then(|r| call.steps.get(r)) else {
        return path;
    };
    for h in &req.hops {
        for x in [h.src, h.dst] {
            if !path.contains(&x) {
                path.push(x);
            }
        }
    }
    path
}

/// For a request that got no final response: the first leg (in path order) whose receiver
/// never answered anything, else the deepest leg.
fn silent_leg(call: &Call, tx: &Transaction) -> Option<LegRef> {
    let req = tx.request.and_then(|r| call.steps.get(r))?;
    let answered_by: Vec<HostIdx> = tx
        .responses
        .iter()
        .filter_map(|&r| call.steps.get(r))
        .flat_map(|s| s.hops.iter().map(|h| h.src))
        .collect();
    let leg = |h: &crate::dialog::Hop| LegRef {
        from: h.src,
        to: h.dst,
    };
    req.hops
        .iter()
        .find(|h| !answered_by.contains(&h.dst))
        .or_else(|| req.hops.iter().max_by_key(|h| h.via_depth))
        .map(leg)
}

/// The leg on which a response was generated: (the host it was sent to, its generator).
fn generating_leg(call: &Call, step: StepIdx) -> Option<LegRef> {
    let h = call.steps.get(step)?.hops.first()?;
    Some(LegRef {
        from: h.dst,
        to: h.src,
    })
}

/// Fills `w` from the annotation of the deciding response, and returns that annotation (its
/// `proxied_by` moved into `w`) for [`super::why::explain`], which reads its meaning.
fn fill_where_from_response(call: &Call, step: StepIdx, w: &mut Where) -> Option<Annotation> {
    let mut a = annotate(call, step)?;
    w.generated_by = a.generated_by;
    w.proxied_by = std::mem::take(&mut a.proxied_by);
    w.received_by = a.received_by;
    Some(a)
}

/// Requests of one method inside the dialogs of a transaction (or in the whole call when the
/// transaction created no dialog), in order of first sighting.
fn dialog_requests<'a>(
    call: &'a Call,
    tx: &'a Transaction,
    method: &'a str,
) -> impl Iterator<Item = StepIdx> + 'a {
    call.steps
        .iter()
        .enumerate()
        .filter(move |(_, s)| s.is_request() && s.method() == method && s.part == Part::Request)
        .filter(move |(_, s)| {
            tx.dialogs.is_empty() || s.dialog.is_some_and(|d| tx.dialogs.contains(&d))
        })
        .map(|(i, _)| i)
}

/// The final response of the transaction of a request step.
fn final_of_request(call: &Call, step: StepIdx) -> Option<StepIdx> {
    let s = call.steps.get(step)?;
    call.transactions.get(s.transaction)?.final_response
}

/// A Reason header value that reports an error rather than a normal end.
pub(crate) fn abnormal_reason(value: &str) -> bool {
    value.split(',').any(|v| {
        let proto = v.split(';').next().unwrap_or("").trim();
        let cause = super::why::param(v, "cause").and_then(|c| c.parse::<u16>().ok());
        match (proto.to_ascii_uppercase().as_str(), cause) {
            // 16 normal clearing, 31 normal unspecified: a plain hang-up.
            ("Q.850", Some(c)) => !matches!(c, 16 | 31),
            ("SIP", Some(c)) => !(200..300).contains(&c),
            _ => false,
        }
    })
}

/// The outcome, deciding transaction and response, and where; with the annotation of the
/// deciding response (`None` without one), computed once for the `why` findings too.
pub(crate) fn decide(call: &Call) -> (Diagnosis, Option<Annotation>) {
    let mut d = Diagnosis {
        outcome: Outcome::Unanswered,
        final_code: None,
        final_step: None,
        transaction: None,
        ended_by: None,
        cause: None,
        where_: Where::default(),
        why: Vec::new(),
        sdp: Vec::new(),
        timings: Timings::default(),
        findings: Vec::new(),
        media: Vec::new(),
        streams: Vec::new(),
    };
    let Some(t) = deciding_tx(call) else {
        d.findings.push(Finding::new(
            Severity::Warning,
            "no_transaction",
            "No request or response with a readable start line: nothing to diagnose.",
            Vec::new(),
        ));
        return (d, None);
    };
    let Some(tx) = call.transactions.get(t) else {
        return (d, None);
    };
    d.transaction = Some(t);
    d.final_step = tx.final_response;
    d.final_code = code_of(call, tx.final_response);
    d.where_.path = path_of(call, tx);
    let annotation = tx
        .final_response
        .and_then(|f| fill_where_from_response(call, f, &mut d.where_));
    if tx.method == "INVITE" {
        decide_invite(call, tx, &mut d);
    } else {
        d.outcome = match d.final_code {
            Some(c) if (200..300).contains(&c) => Outcome::Success,
            Some(_) => Outcome::Failure,
            None => Outcome::Unanswered,
        };
        match (d.outcome, d.final_step) {
            (Outcome::Failure, Some(f)) => d.where_.broken_leg = generating_leg(call, f),
            (Outcome::Unanswered, _) => d.where_.broken_leg = silent_leg(call, tx),
            _ => {}
        }
    }
    (d, annotation)
}

fn cancel_step(call: &Call, tx: &Transaction) -> Option<StepIdx> {
    tx.cancels
        .iter()
        .copied()
        .find(|&c| call.steps.get(c).is_some_and(|s| s.part == Part::Cancel))
        .or_else(|| stray_cancel(call, tx))
}

/// A CANCEL the dialog layer left in a transaction of its own (its Via sent-by spelled
/// differently, `host` against `host:5060`) but carrying the INVITE's branch and CSeq number.
fn stray_cancel(call: &Call, tx: &Transaction) -> Option<StepIdx> {
    let branch = |step: StepIdx| call.first_msg(step).and_then(|m| m.top_branch());
    let invite_branch = tx.request.and_then(branch)?;
    call.steps
        .iter()
        .enumerate()
        .filter(|(_, s)| s.is_request() && s.method() == "CANCEL" && s.cseq == tx.cseq)
        .map(|(i, _)| i)
        .find(|&i| branch(i) == Some(invite_branch))
}

/// The INVITE request was sent with credentials (on any leg).
pub(crate) fn carried_credentials(call: &Call, tx: &Transaction) -> bool {
    tx.request.and_then(|r| call.steps.get(r)).is_some_and(|s| {
        s.hops
            .iter()
            .any(|h| call.messages.get(h.msg).is_some_and(|m| m.has_credentials))
    })
}

fn decide_invite(call: &Call, tx: &Transaction, d: &mut Diagnosis) {
    let cancel = cancel_step(call, tx);
    match d.final_code {
        Some(c) if (200..300).contains(&c) => decide_answered(call, tx, d),
        Some(c) => {
            let f = d.final_step.unwrap_or_default();
            d.where_.broken_leg = generating_leg(call, f);
            d.outcome = if c == 487 || cancel.is_some() {
                d.where_.broken_leg = None;
                Outcome::Cancelled
            } else if (300..400).contains(&c) {
                Outcome::Redirected
            } else if c == 401 || c == 407 || (c == 403 && carried_credentials(call, tx)) {
                Outcome::AuthFailed
            } else if c == 408 {
                // A 408 reports a silence further on: point at the leg that stayed silent.
                if let Some(l) =
                    silent_leg(call, tx).filter(|l| Some(l.to) != d.where_.generated_by)
                {
                    d.where_.broken_leg = Some(l);
                }
                Outcome::Timeout
            } else {
                Outcome::Rejected
            };
        }
        None if cancel.is_some() => d.outcome = Outcome::Cancelled,
        None => {
            d.outcome = Outcome::Timeout;
            d.where_.broken_leg = silent_leg(call, tx);
        }
    }
    if d.outcome == Outcome::Cancelled {
        d.ended_by = cancel
            .and_then(|c| call.steps.get(c))
            .and_then(origin_of)
            .or_else(|| d.where_.path.first().copied());
    }
}

fn decide_answered(call: &Call, tx: &Transaction, d: &mut Diagnosis) {
    let Some(ok) = d.final_step else { return };
    let ok_step = call.steps.get(ok);
    let ok_retx = ok_step.map(retransmissions).unwrap_or(0);
    let ok_ns = step_ns(call, ok).unwrap_or(0);
    let generator = ok_step.and_then(|s| s.generated_by);
    // The ACK of a 2xx is a transaction of its own, with the INVITE's CSeq number.
    let ack = call
        .steps
        .iter()
        .enumerate()
        .filter(|(_, s)| s.is_request() && s.method() == "ACK" && s.part == Part::Request)
        .filter(|(_, s)| s.cseq == tx.cseq)
        .map(|(i, _)| i)
        .next();
    let bye = dialog_requests(call, tx, "BYE").next();
    let bye_step = bye.and_then(|b| call.steps.get(b));
    d.ended_by = bye_step.and_then(origin_of);
    let ok_evidence = || {
        let mut ev = hop_msgs(call, ok);
        if let Some(s) = ok_step {
            for h in &s.hops {
                ev.extend(h.retransmissions.iter().copied());
            }
        }
        ev.sort_unstable();
        ev
    };
    // The ACK left the caller but never reached the host that sent the 2xx.
    let ack_reached_generator = ack
        .and_then(|a| call.steps.get(a))
        .map(|a| generator.is_none_or(|g| a.hops.iter().any(|h| h.dst == g)));
    match ack_reached_generator {
        None if ok_retx > 0 || bye.is_some() => {
            d.outcome = Outcome::AckMissing;
            d.where_.broken_leg = generating_leg(call, ok);
            let mut text = format!(
                "No ACK for the 2xx in the capture; the 2xx was sent {} time(s).",
                ok_retx.saturating_add(1)
            );
            if bye.is_some() {
                text.push_str(" A BYE followed: the call was dropped for want of an ACK.");
            }
            d.findings.push(Finding::new(
                Severity::Error,
                "ack_missing",
                text,
                ok_evidence(),
            ));
            d.cause = Some("ACK for the 2xx missing".into());
            return;
        }
        None => {
            let last = call.summary.end_ns;
            d.findings.push(Finding::new(
                Severity::Warning,
                "ack_not_seen",
                format!(
                    "No ACK for the 2xx yet; the capture ends {} ms after it.",
                    last.saturating_sub(ok_ns).max(0) / 1_000_000
                ),
                hop_msgs(call, ok),
            ));
        }
        Some(false) if ok_retx > 0 => {
            d.outcome = Outcome::AckMissing;
            let a = ack.and_then(|a| call.steps.get(a));
            let last_dst = a
                .and_then(|a| a.hops.iter().max_by_key(|h| h.msg))
                .map(|h| h.dst);
            if let (Some(from), Some(to)) = (last_dst, generator) {
                d.where_.broken_leg = Some(LegRef { from, to });
            }
            let mut ev = ok_evidence();
            ev.extend(ack.map(|a| hop_msgs(call, a)).unwrap_or_default());
            ev.sort_unstable();
            d.findings.push(Finding::new(
                Severity::Error,
                "ack_lost",
                format!(
                    "The ACK was sent but never reached {}, which resent the 2xx {} time(s).",
                    generator.map(|g| call.host_label(g)).unwrap_or_default(),
                    ok_retx
                ),
                ev,
            ));
            d.cause = Some("ACK for the 2xx lost on the way".into());
            return;
        }
        Some(_) if ok_retx > 0 => d.findings.push(Finding::new(
            Severity::Warning,
            "late_ack",
            format!(
                "The 2xx was resent {ok_retx} time(s) before its ACK arrived: the ACK was slow or a copy was lost."
            ),
            ok_evidence(),
        )),
        Some(_) => {}
    }
    // Abnormal end: BYE refused with 481, or a Reason saying it was an error.
    if let Some(b) = bye {
        let bye_final = final_of_request(call, b);
        let bye_code = code_of(call, bye_final);
        let reason = hop_msgs_iter(call, b)
            .filter_map(|m| call.messages.get(m).map(|x| (m, x)))
            .find_map(|(i, m)| m.extra.reason_header.as_deref().map(|r| (i, r)));
        if bye_code == Some(481) {
            d.outcome = Outcome::Aborted;
            if let Some(f) = bye_final {
                d.where_.broken_leg = generating_leg(call, f);
            }
            let mut ev = hop_msgs(call, b);
            ev.extend(bye_final.map(|f| hop_msgs(call, f)).unwrap_or_default());
            d.findings.push(Finding::new(
                Severity::Error,
                "bye_481",
                "The BYE was answered 481: the receiver no longer knew the dialog (it had already dropped the call, or a proxy lost its state).",
                ev,
            ));
            d.cause = Some("BYE answered 481 (dialog unknown)".into());
            return;
        }
        if let Some((m, r)) = reason.filter(|(_, r)| abnormal_reason(r)) {
            d.outcome = Outcome::Aborted;
            d.findings.push(Finding::new(
                Severity::Error,
                "abnormal_end",
                format!("The BYE carried a Reason reporting an error: {r}"),
                vec![m],
            ));
            return;
        }
        d.outcome = Outcome::Completed;
    } else {
        d.outcome = Outcome::Answered;
    }
}
