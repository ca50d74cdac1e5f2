//! What happened to each call, where it broke and why, with the messages that prove it.
//!
//! Pure functions over an analysed [`Call`]: no I/O, no serde, no terminal. Uses
//! `crate::dialog` (the call model and [`annotate`](crate::dialog::annotate), which owns the
//! meaning of every response and who generated or proxied it) and `crate::knowledge` (Q.850
//! causes, reason-phrase hints). Presentation lives in `crate::output::diagnose`.
//!
//! A [`Diagnosis`] has:
//! - an [`Outcome`], one word from a fixed vocabulary (documented in `docs/outcomes.md`),
//!   and the final code that decided it;
//! - [`Where`]: the path the deciding request took, the host that generated the deciding
//!   response and the hosts that only passed it on, and the leg that broke;
//! - `why`: the code's meaning for the host that received it, Reason / Warning /
//!   Retry-After headers, reason-phrase hints, authentication history;
//! - `sdp`: offer/answer checks (codec intersection, private media addresses, hold, port 0);
//! - [`Timings`] and timing findings (retransmissions and the RFC 3261 timers they imply);
//! - `media`: what the call's RTP streams say (no RTP, one-way audio, NAT, loss, jitter, codec,
//!   SSRC change, MOS), when the caller hands them in ([`diagnose_with_media`], [`MediaView`]).
//!
//! [`Summary`] folds diagnoses into file-level counts without keeping the calls.

mod media;
mod outcome;
mod sdp;
mod summary;
mod timing;
mod why;

#[cfg(test)]
mod tests;

use crate::dialog::{Call, HostIdx, MsgIdx, StepIdx, Text, TxIdx};

pub use media::{
    diagnose_with_media, diagnose_with_media_for_text, stream_dialog, stream_line, CaptureStreams,
    MediaView, StreamBrief, JITTER_MAX_MS, JITTER_MEAN_MS, LOSS_ERROR_PERCENT, LOSS_WARN_PERCENT,
    MIN_PACKETS_FOR_QUALITY, MOS_ERROR, MOS_WARN,
};
pub use summary::{CauseCount, Entry as SummaryEntry, Summary};

/// How a call (or a standalone transaction) ended, in one word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    /// INVITE answered with a 2xx and ended by a BYE.
    Completed,
    /// INVITE answered with a 2xx; the capture shows no end.
    Answered,
    /// INVITE refused with a final 4xx/5xx/6xx (other than the cases below).
    Rejected,
    /// The caller gave up: CANCEL, or 487 Request Terminated.
    Cancelled,
    /// INVITE answered with a 3xx.
    Redirected,
    /// No final response to the INVITE (or a 408 saying so).
    Timeout,
    /// The INVITE failed on authentication: a challenge never answered, answered again and
    /// again (challenge loop), or credentials refused with 403.
    AuthFailed,
    /// The INVITE got a 2xx whose ACK never reached its sender.
    AckMissing,
    /// Answered, then ended abnormally (BYE answered 481, or a Reason header giving an error).
    Aborted,
    /// Non-INVITE transaction answered with a 2xx.
    Success,
    /// Non-INVITE transaction answered with a final response of 300 or more.
    Failure,
    /// Non-INVITE transaction without a final response.
    Unanswered,
}

impl Outcome {
    /// Every outcome, in documentation order.
    pub const ALL: [Outcome; 12] = [
        Outcome::Completed,
        Outcome::Answered,
        Outcome::Rejected,
        Outcome::Cancelled,
        Outcome::Redirected,
        Outcome::Timeout,
        Outcome::AuthFailed,
        Outcome::AckMissing,
        Outcome::Aborted,
        Outcome::Success,
        Outcome::Failure,
        Outcome::Unanswered,
    ];

    /// The vocabulary word (stable; used in JSON).
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Completed => "completed",
            Outcome::Answered => "answered",
            Outcome::Rejected => "rejected",
            Outcome::Cancelled => "cancelled",
            Outcome::Redirected => "redirected",
            Outcome::Timeout => "timeout",
            Outcome::AuthFailed => "auth_failed",
            Outcome::AckMissing => "ack_missing",
            Outcome::Aborted => "aborted",
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Unanswered => "unanswered",
        }
    }

    /// Parses a vocabulary word.
    pub fn parse(s: &str) -> Option<Outcome> {
        Outcome::ALL.into_iter().find(|o| o.as_str() == s)
    }

    /// The outcome in a few words, for people.
    pub fn words(self) -> &'static str {
        match self {
            Outcome::Completed => "answered and ended",
            Outcome::Answered => "answered, not ended in the capture",
            Outcome::Rejected => "rejected",
            Outcome::Cancelled => "cancelled by the caller",
            Outcome::Redirected => "redirected",
            Outcome::Timeout => "timed out: no final answer in time",
            Outcome::AuthFailed => "authentication failed",
            Outcome::AckMissing => "answered, but the ACK for the 2xx is missing",
            Outcome::Aborted => "answered, then ended abnormally",
            Outcome::Success => "succeeded",
            Outcome::Failure => "failed",
            Outcome::Unanswered => "unanswered",
        }
    }

    /// Whether support should look at it. A cancelled call is the caller's choice; a
    /// `answered` call may simply be cut by the end of the capture.
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            Outcome::Rejected
                | Outcome::Timeout
                | Outcome::AuthFailed
                | Outcome::AckMissing
                | Outcome::Aborted
                | Outcome::Failure
                | Outcome::Unanswered
        )
    }

    /// INVITE outcomes (the others are for standalone transactions).
    pub fn is_invite(self) -> bool {
        !matches!(
            self,
            Outcome::Success | Outcome::Failure | Outcome::Unanswered
        )
    }

    /// The call was answered (a seizure that counts in the answer/seizure ratio).
    pub fn is_answered(self) -> bool {
        matches!(
            self,
            Outcome::Completed | Outcome::Answered | Outcome::AckMissing | Outcome::Aborted
        )
    }
}

/// How much a finding matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    /// Context (timings, negotiated codecs, a challenge that was answered).
    Info,
    /// Something that often causes trouble (NAT, retransmissions, late ACK).
    Warning,
    /// The reason the call failed, or a protocol fault.
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// One observation, with the messages that prove it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub severity: Severity,
    /// Stable snake_case identifier (`no_common_codec`, `reason_q850`, ...).
    pub code: &'static str,
    /// Plain words. May quote capture text: escape it before printing.
    pub text: String,
    /// Indices into [`Call::messages`].
    pub evidence: Vec<MsgIdx>,
}

impl Finding {
    pub(crate) fn new(
        severity: Severity,
        code: &'static str,
        text: impl Into<String>,
        evidence: Vec<MsgIdx>,
    ) -> Finding {
        Finding {
            severity,
            code,
            text: text.into(),
            evidence,
        }
    }
}

/// A hop between two hosts, client side first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LegRef {
    pub from: HostIdx,
    pub to: HostIdx,
}

/// Where the deciding exchange travelled and where it broke.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Where {
    /// Hosts the deciding request crossed, originator first.
    pub path: Vec<HostIdx>,
    /// The host that generated the deciding response.
    pub generated_by: Option<HostIdx>,
    /// Hosts that passed that response on without generating it, in order.
    pub proxied_by: Vec<HostIdx>,
    /// The host the response was finally delivered to.
    pub received_by: Option<HostIdx>,
    /// The leg that failed (rejected there, unanswered there, ACK lost there); `None` when
    /// nothing broke.
    pub broken_leg: Option<LegRef>,
}

/// Timing of one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxTiming {
    pub tx: TxIdx,
    /// The transaction's method (inline: methods are short).
    pub method: Text,
    pub cseq: u32,
    /// Request to its first response (any), and to its final response.
    pub first_response_ns: Option<i64>,
    pub final_response_ns: Option<i64>,
    pub final_code: Option<u16>,
    /// Resendings of the request and of its responses, over all legs.
    pub request_retransmissions: usize,
    pub response_retransmissions: usize,
}

/// Delays of the call, measured at the capture point (nanoseconds).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Timings {
    /// INVITE to the first 18x.
    pub post_dial_delay_ns: Option<i64>,
    /// INVITE to the 2xx.
    pub setup_ns: Option<i64>,
    /// Deciding request to its final response (any code).
    pub final_response_ns: Option<i64>,
    /// 2xx to its ACK.
    pub answer_to_ack_ns: Option<i64>,
    /// 2xx to the BYE.
    pub duration_ns: Option<i64>,
    /// Per transaction, in order.
    pub transactions: Vec<TxTiming>,
}

/// Everything the diagnosis says about one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnosis {
    pub outcome: Outcome,
    /// The code of the deciding final response (`None`: none came).
    pub final_code: Option<u16>,
    /// The deciding final response and its transaction.
    pub final_step: Option<StepIdx>,
    pub transaction: Option<TxIdx>,
    /// Who ended it: the sender of the BYE (completed, aborted) or of the CANCEL (cancelled).
    pub ended_by: Option<HostIdx>,
    /// The one-line cause, for grouping failures (`486 Busy Here`, `no common codec`, ...).
    /// May quote capture text (a reason phrase): escape it before printing.
    pub cause: Option<String>,
    pub where_: Where,
    /// Why: meaning of the code, Reason, Warning, Retry-After, hints, authentication.
    pub why: Vec<Finding>,
    /// Offer/answer and media address checks.
    pub sdp: Vec<Finding>,
    pub timings: Timings,
    /// Everything else: ACK, retransmissions and timers, slow responses, capture notes.
    pub findings: Vec<Finding>,
    /// What the RTP says (no RTP, one-way audio, loss, jitter, ...); empty when diagnosed
    /// without media ([`diagnose`]).
    pub media: Vec<Finding>,
    /// The call's RTP streams, one line each; empty without media.
    pub streams: Vec<StreamBrief>,
}

impl Diagnosis {
    /// Every finding: why, SDP, media, then the rest.
    pub fn all_findings(&self) -> impl Iterator<Item = &Finding> {
        self.why
            .iter()
            .chain(&self.sdp)
            .chain(&self.media)
            .chain(&self.findings)
    }

    /// The most severe level among the findings (`None` without findings).
    pub fn worst(&self) -> Option<Severity> {
        self.all_findings().map(|f| f.severity).max()
    }
}

/// The outcome [`diagnose`] gives `call`, without the rest of the diagnosis: deciding it is
/// the first step, and the later ones only add causes and findings. What the call list
/// shows of a call.
pub fn outcome_of(call: &Call) -> Outcome {
    outcome::decide(call).0.outcome
}

/// Diagnoses one call from its signalling alone (no media findings: see
/// [`diagnose_with_media`]).
pub fn diagnose(call: &Call) -> Diagnosis {
    diagnose_as(call, true)
}

/// [`diagnose`], with the per-transaction timings (`timings.transactions`) only when
/// `per_transaction`: the text output does not print them.
fn diagnose_as(call: &Call, per_transaction: bool) -> Diagnosis {
    let (mut d, annotation) = outcome::decide(call);
    why::explain(call, &mut d, annotation.as_ref());
    sdp::check(call, &mut d);
    timing::measure(call, &mut d, per_transaction);
    if d.cause.is_none() && d.outcome.is_failure() {
        d.cause = Some(match d.final_code {
            Some(c) => {
                let reason = crate::knowledge::describe(c).reason();
                let mut cause = String::with_capacity(6 + reason.len());
                why::push_u16(&mut cause, c);
                cause.push(' ');
                cause.push_str(reason);
                cause
            }
            None => d.outcome.words().to_string(),
        });
    }
    d
}
