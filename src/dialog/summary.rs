//! The one-line view of a call: who called whom, what it was, how it ended and how long it took.
//!
//! The outcome is read from one "main" transaction, chosen so that the usual retries do not
//! hide the result: an INVITE challenged with 401/407 and sent again with credentials (new
//! CSeq, same Call-ID) ends with the answer to the retry, and so does a REGISTER.

use super::model::*;
use super::msg::Start;
use super::msg::Text;

pub(crate) fn empty() -> Summary {
    Summary {
        start_ns: 0,
        end_ns: 0,
        from_user: Text::default(),
        to_user: Text::default(),
        first_method: Text::default(),
        state: CallState::Unanswered,
        main_transaction: None,
        final_step: None,
        final_code: None,
        final_reason: None,
        answered_ns: None,
        ended_ns: None,
        duration_ns: 0,
        message_count: 0,
        failed: false,
    }
}

fn code_of(call: &Call, s: Option<StepIdx>) -> Option<u16> {
    s.and_then(|s| call.steps.get(s)).and_then(Step::code)
}

/// Chooses the transaction whose outcome is the call's outcome.
fn main_transaction(call: &Call, first_method: &str) -> Option<TxIdx> {
    let final_code = |t: TxIdx| {
        call.transactions
            .get(t)
            .and_then(|t| code_of(call, t.final_response))
    };
    pick(&call.transactions, first_method, final_code)
}

/// [`main_transaction`] among `txs`, given each one's final code.
fn pick(
    txs: &[Transaction],
    first_method: &str,
    final_code: impl Fn(TxIdx) -> Option<u16>,
) -> Option<TxIdx> {
    let of_method = |t: &Transaction| t.method == first_method;
    // The transactions of the first method outside a dialog, or all of them when none is:
    // walked in place, no list of them built.
    let outside = txs.iter().any(|t| of_method(t) && !t.in_dialog);
    let candidates = || {
        txs.iter()
            .enumerate()
            .filter(move |(_, t)| of_method(t) && !(outside && t.in_dialog))
            .map(|(i, _)| i)
    };
    if first_method == "INVITE" {
        if let Some(t) =
            candidates().find(|&t| final_code(t).is_some_and(|c| (200..300).contains(&c)))
        {
            return Some(t);
        }
    }
    candidates()
        .rev()
        .find(|&t| final_code(t).is_some())
        .or_else(|| candidates().next_back())
        .or_else(|| (!txs.is_empty()).then_some(0))
}

pub(crate) fn summarize(call: &Call) -> Summary {
    let mut s = empty();
    s.message_count = call.messages.len();
    s.start_ns = call.messages.first().map(|m| m.frame.ts_ns).unwrap_or(0);
    s.end_ns = call
        .messages
        .iter()
        .map(|m| m.frame.ts_ns)
        .max()
        .unwrap_or(s.start_ns);
    let first_req = call.messages.iter().find(|m| m.is_request());
    if let Some(m) = first_req.or(call.messages.first()) {
        s.from_user = m.from.user.clone();
        s.to_user = m.to.user.clone();
        let method = m.method().unwrap_or("");
        // Methods are almost always upper case already: no copy through a String then.
        s.first_method = if method.bytes().any(|b| b.is_ascii_lowercase()) {
            method.to_ascii_uppercase().into()
        } else {
            method.into()
        };
    }
    let main = main_transaction(call, &s.first_method);
    s.main_transaction = main;
    let tx = main.and_then(|t| call.transactions.get(t));
    s.final_step = tx.and_then(|t| t.final_response);
    s.final_code = code_of(call, s.final_step);
    s.final_reason = s
        .final_step
        .and_then(|f| call.first_msg(f))
        .and_then(|m| match &m.start {
            Start::Response { reason, .. } => Some(reason.clone()),
            _ => None,
        });
    let is_invite = tx.is_some_and(|t| t.method == "INVITE");
    let step_time = |st: StepIdx| call.steps.get(st).and_then(|x| x.first_ns(call));
    s.state = match (is_invite, s.final_code) {
        (true, Some(c)) if (200..300).contains(&c) => {
            s.answered_ns = s.final_step.and_then(step_time);
            let confirmed = tx.and_then(|t| t.dialog);
            let bye = call
                .steps
                .iter()
                .enumerate()
                .filter(|(_, st)| st.is_request() && st.method() == "BYE")
                .filter(|(_, st)| confirmed.is_none() || st.dialog == confirmed)
                .map(|(i, _)| i)
                .next();
            s.ended_ns = bye.and_then(step_time);
            if s.ended_ns.is_some() {
                CallState::Completed
            } else {
                CallState::InCall
            }
        }
        (true, Some(c)) => {
            let cancelled = tx.is_some_and(|t| {
                t.cancels
                    .iter()
                    .any(|&c| call.steps.get(c).is_some_and(|st| st.part == Part::Cancel))
            });
            match c {
                487 => CallState::Cancelled,
                _ if cancelled => CallState::Cancelled,
                300..=399 => CallState::Redirected,
                408 | 480 => CallState::NoAnswer,
                _ => CallState::Rejected,
            }
        }
        (true, None) => {
            let t = tx;
            let cancelled = t.is_some_and(|t| !t.cancels.is_empty());
            let ringing = t.is_some_and(|t| {
                t.responses
                    .iter()
                    .any(|&r| code_of(call, Some(r)).is_some_and(|c| (180..200).contains(&c)))
            });
            let silent = t.is_some_and(|t| t.responses.is_empty());
            let retransmitted = t
                .and_then(|t| t.request)
                .and_then(|r| call.steps.get(r))
                .is_some_and(|r| r.hops.iter().any(|h| !h.retransmissions.is_empty()));
            if cancelled {
                CallState::Cancelled
            } else if ringing {
                CallState::Ringing
            } else if silent && retransmitted {
                CallState::NoAnswer
            } else {
                CallState::Calling
            }
        }
        (false, Some(c)) if (200..300).contains(&c) => CallState::Done,
        (false, Some(_)) => CallState::Failed,
        (false, None) => CallState::Unanswered,
    };
    s.failed = match s.final_code {
        Some(c) => c >= 300,
        None => is_invite,
    };
    s.duration_ns = match s.answered_ns {
        Some(a) => s.ended_ns.unwrap_or(s.end_ns).saturating_sub(a).max(0),
        None => s.end_ns.saturating_sub(s.start_ns).max(0),
    };
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plain way: the list of candidates built, then searched.
    fn pick_by_list(
        txs: &[Transaction],
        first_method: &str,
        final_code: impl Fn(TxIdx) -> Option<u16>,
    ) -> Option<TxIdx> {
        let of_method = |t: &Transaction| t.method == first_method;
        let mut candidates: Vec<TxIdx> = (0..txs.len())
            .filter(|&i| txs.get(i).is_some_and(|t| of_method(t) && !t.in_dialog))
            .collect();
        if candidates.is_empty() {
            candidates = (0..txs.len())
                .filter(|&i| txs.get(i).is_some_and(of_method))
                .collect();
        }
        if first_method == "INVITE" {
            if let Some(&t) = candidates
                .iter()
                .find(|&&t| final_code(t).is_some_and(|c| (200..300).contains(&c)))
            {
                return Some(t);
            }
        }
        candidates
            .iter()
            .rev()
            .find(|&&t| final_code(t).is_some())
            .or(candidates.last())
            .copied()
            .or_else(|| (!txs.is_empty()).then_some(0))
    }

    fn tx(method: &str, in_dialog: bool) -> Transaction {
        Transaction {
            method: Text::from(method),
            cseq: 1,
            request: None,
            responses: Default::default(),
            final_response: None,
            cancels: Default::default(),
            acks: Default::default(),
            legs: Default::default(),
            in_dialog,
            rfc2543: false,
            dialog: None,
            dialogs: Default::default(),
        }
    }

    #[test]
    fn pick_agrees_with_the_list_of_candidates() {
        let methods = ["INVITE", "BYE", "REGISTER", "invite"];
        let codes = [
            None,
            Some(100),
            Some(180),
            Some(200),
            Some(299),
            Some(401),
            Some(487),
        ];
        // Every call of up to four transactions over a few methods, dialog states and codes
        // (a small linear congruential generator picks them).
        let mut seed: u64 = 7;
        let mut roll = |n: usize| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as usize % n
        };
        for _ in 0..4000 {
            let n = roll(5);
            let txs: Vec<Transaction> = (0..n)
                .map(|_| tx(methods[roll(methods.len())], roll(2) == 0))
                .collect();
            let finals: Vec<Option<u16>> = (0..n).map(|_| codes[roll(codes.len())]).collect();
            let code = |t: TxIdx| finals.get(t).copied().flatten();
            for first in ["INVITE", "BYE", "REGISTER", ""] {
                assert_eq!(
                    pick(&txs, first, code),
                    pick_by_list(&txs, first, code),
                    "{first} {finals:?}"
                );
            }
        }
    }
}
