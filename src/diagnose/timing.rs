//! Timings (post-dial delay, setup, 2xx to ACK, duration, per-transaction response times)
//! and what the retransmissions say: the T1 they imply (RFC 3261 17.1: the interval starts at
//! T1 and doubles), and whether the schedule ran out (Timer B for INVITE, Timer F for other
//! requests, 64 x T1; the UAS's 2xx and non-2xx retransmissions give up after 64 x T1 too).

use crate::dialog::{Call, Hop, Part, Step, StepIdx};

use super::outcome::{code_of, retransmissions, step_ns};
use super::{Diagnosis, Finding, Severity, TxTiming};

const MS: i64 = 1_000_000;
/// The default T1 (round-trip estimate) of RFC 3261.
const T1: i64 = 500 * MS;

fn since(later: Option<i64>, earlier: Option<i64>) -> Option<i64> {
    Some(later?.saturating_sub(earlier?).max(0))
}

fn secs(ns: i64) -> String {
    format!("{:.3} s", ns as f64 / 1e9)
}

/// The call's timings and timing findings; the per-transaction table only when
/// `per_transaction`.
pub(crate) fn measure(call: &Call, d: &mut Diagnosis, per_transaction: bool) {
    if per_transaction {
        self::per_transaction(call, d);
    }
    let Some(tx) = d.transaction.and_then(|t| call.transactions.get(t)) else {
        return;
    };
    let req_ns = tx.request.and_then(|r| step_ns(call, r));
    let first_of = |lo: u16, hi: u16| -> Option<i64> {
        tx.responses
            .iter()
            .filter(|&&r| code_of(call, Some(r)).is_some_and(|c| (lo..=hi).contains(&c)))
            .filter_map(|&r| step_ns(call, r))
            .min()
    };
    let final_ns = d.final_step.and_then(|f| step_ns(call, f));
    d.timings.final_response_ns = since(final_ns, req_ns);
    if tx.method == "INVITE" {
        d.timings.post_dial_delay_ns = since(first_of(180, 199), req_ns);
        let ok_ns = d
            .final_code
            .filter(|c| (200..300).contains(c))
            .and(final_ns);
        d.timings.setup_ns = since(ok_ns, req_ns);
        let ack_ns = call
            .steps
            .iter()
            .filter(|s| s.is_request() && s.method() == "ACK" && s.part == Part::Request)
            .filter(|s| s.cseq == tx.cseq)
            .filter_map(|s| s.first_ns(call))
            .min();
        d.timings.answer_to_ack_ns = since(ack_ns, ok_ns);
        let bye_ns = call
            .steps
            .iter()
            .filter(|s| s.is_request() && s.method() == "BYE")
            .filter(|s| tx.dialogs.is_empty() || s.dialog.is_some_and(|x| tx.dialogs.contains(&x)))
            .filter_map(|s| s.first_ns(call))
            .min();
        d.timings.duration_ns = since(bye_ns, ok_ns);
    }
    for s in &call.steps {
        for h in &s.hops {
            if !h.retransmissions.is_empty() {
                retransmission_finding(call, s, h, d);
            }
        }
    }
    slow_responses(call, d);
}

fn per_transaction(call: &Call, d: &mut Diagnosis) {
    d.timings
        .transactions
        .reserve_exact(call.transactions.len());
    for (i, t) in call.transactions.iter().enumerate() {
        let req_ns = t.request.and_then(|r| step_ns(call, r));
        let first = t.responses.iter().filter_map(|&r| step_ns(call, r)).min();
        let fin = t.final_response.and_then(|f| step_ns(call, f));
        let steps = |v: &[StepIdx]| -> usize {
            v.iter()
                .filter_map(|&s| call.steps.get(s))
                .map(retransmissions)
                .sum()
        };
        d.timings.transactions.push(TxTiming {
            tx: i,
            method: t.method.clone(),
            cseq: t.cseq,
            first_response_ns: since(first, req_ns),
            final_response_ns: since(fin, req_ns),
            final_code: code_of(call, t.final_response),
            request_retransmissions: t.request.map_or(0, |r| steps(&[r])),
            response_retransmissions: steps(&t.responses),
        });
    }
}

/// Sendings of one step on one leg: describe the intervals and the timer they imply.
fn retransmission_finding(call: &Call, s: &Step, h: &Hop, d: &mut Diagnosis) {
    let mut times: Vec<i64> = std::iter::once(h.msg)
        .chain(h.retransmissions.iter().copied())
        .filter_map(|m| call.messages.get(m).map(|x| x.frame.ts_ns))
        .collect();
    times.sort_unstable();
    let gaps: Vec<i64> = times
        .windows(2)
        .filter_map(|w| Some(w.get(1)?.saturating_sub(*w.first()?)))
        .collect();
    let span = times
        .last()
        .zip(times.first())
        .map_or(0, |(l, f)| l.saturating_sub(*f));
    let sends = times.len();
    let t1 = gaps.first().copied().unwrap_or(T1).max(1);
    // Doubling from T1 (capped at T2 = 4 s for non-INVITE requests and 2xx), within 25%.
    let doubling = gaps.windows(2).all(|w| match (w.first(), w.get(1)) {
        (Some(&a), Some(&b)) => {
            let want = a.saturating_mul(2);
            let cap = 4_000 * MS;
            let near = |x: i64, y: i64| x.saturating_sub(y).saturating_abs() <= y / 4 + 50 * MS;
            near(b, want) || (near(b, cap) && a >= 2_000 * MS)
        }
        _ => true,
    });
    let gap_list = gaps
        .iter()
        .take(8)
        .map(|g| format!("{:.1}", *g as f64 / 1e9))
        .collect::<Vec<_>>()
        .join(", ");
    let what = match s.code() {
        Some(c) => format!("{c} response to {}", s.cseq_method),
        None => s.method().to_string(),
    };
    let label = |x| call.host_label(x);
    let mut text = format!(
        "{what} sent {sends} times from {} to {} over {} (intervals {gap_list} s)",
        label(h.src),
        label(h.dst),
        secs(span)
    );
    if doubling && gaps.len() >= 2 {
        text.push_str(&format!(
            "; the doubling intervals imply T1 = {} ms",
            t1 / MS
        ));
    }
    text.push('.');
    // The schedule reaches 64 x T1 after 31.5 x T1 of resending (INVITE: 7 sendings).
    let ran_out = span >= t1.saturating_mul(63) / 2 - 50 * MS;
    let is_invite_req = s.is_request() && s.method() == "INVITE";
    let answered = call
        .transactions
        .get(s.transaction)
        .is_some_and(|t| !t.responses.is_empty());
    let mut sev = Severity::Warning;
    let code = if s.is_request() {
        if ran_out && !answered {
            sev = Severity::Error;
            text.push_str(&format!(
                " No response came: Timer {} (64 x T1 = {}) expired and the client gave up.",
                if is_invite_req { "B" } else { "F" },
                secs(t1.saturating_mul(64))
            ));
            if is_invite_req {
                "timer_b_expired"
            } else {
                "timer_f_expired"
            }
        } else {
            "request_retransmitted"
        }
    } else if s.code().is_some_and(|c| (200..300).contains(&c)) && s.cseq_method == "INVITE" {
        if ran_out {
            sev = Severity::Error;
            text.push_str(
                " The server resent its 2xx for 64 x T1 without an ACK: it gives up and should end the call with BYE.",
            );
        }
        "ok_retransmitted"
    } else if s.cseq_method == "INVITE" && s.part == Part::Response {
        if ran_out {
            text.push_str(" Timer H (64 x T1) ran out: the ACK of this failure never arrived.");
        }
        "final_retransmitted"
    } else {
        "response_retransmitted"
    };
    let mut ev = vec![h.msg];
    ev.extend(h.retransmissions.iter().copied());
    d.findings.push(Finding::new(sev, code, text, ev));
}

/// A response later than T1 makes an unreliable-transport client resend; RFC 3261 wants a
/// 100 Trying within 200 ms of an INVITE.
fn slow_responses(call: &Call, d: &mut Diagnosis) {
    for t in &call.transactions {
        let Some(r) = t.request else { continue };
        let Some(req_ns) = step_ns(call, r) else {
            continue;
        };
        let first = t
            .responses
            .iter()
            .filter_map(|&x| step_ns(call, x).map(|n| (n, x)))
            .min();
        if let Some((n, x)) = first {
            let delay = n.saturating_sub(req_ns);
            if delay >= T1 {
                let mut ev = super::outcome::hop_msgs(call, r);
                ev.extend(super::outcome::hop_msgs(call, x));
                ev.sort_unstable();
                d.findings.push(Finding::new(
                    Severity::Warning,
                    "slow_first_response",
                    format!(
                        "The first response to {} (CSeq {}) came {} after the request: longer than T1, so clients over UDP resend.",
                        t.method,
                        t.cseq,
                        secs(delay)
                    ),
                    ev,
                ));
            }
        }
    }
}
