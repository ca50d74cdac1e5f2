//! What a response means in this call: its class and meaning from the knowledge base, which host
//! generated it and which only forwarded it, and what the host that finally receives it is
//! expected to do next. Computed in one place so the ladder, the export and the terminal view
//! say the same thing.

use crate::knowledge::{self, Class, Hint};

use super::model::{Call, HopOrigin, HostIdx, Role, StepIdx};

/// The explanation of one response step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Annotation {
    pub code: u16,
    pub class: Class,
    /// The code is in the knowledge base (otherwise the meaning is its class's, RFC 3261 8.1.3.2).
    pub known: bool,
    /// Default reason phrase of the code (or of the code it is treated as).
    pub default_reason: &'static str,
    pub meaning: &'static str,
    /// The host that generated the response (the server end of its transaction), if captured.
    pub generated_by: Option<HostIdx>,
    /// Hosts that passed the response on without generating it, in the order they did.
    pub proxied_by: Vec<HostIdx>,
    /// The host the response was finally delivered to (the client of the transaction).
    pub received_by: Option<HostIdx>,
    /// The knowledge-base role the receiver is taken as, and what that role does on receipt.
    pub receiver_role: Option<knowledge::Role>,
    pub on_receipt: Option<&'static str>,
    /// A hint from an operator reason phrase that tells more than the code.
    pub hint: Option<&'static Hint>,
}

/// Maps what a host does in a call to the kinds of box the knowledge base describes.
/// A user agent of unknown kind is read as a phone (the tables' user agent); a B2BUA ends calls
/// like a gateway does; registrars and redirect servers are proxy-server roles.
pub fn knowledge_role(role: Role) -> knowledge::Role {
    match role {
        Role::UserAgent | Role::Phone => knowledge::Role::Phone,
        Role::Gateway | Role::B2bua => knowledge::Role::Gateway,
        Role::Proxy | Role::Registrar | Role::Redirect => knowledge::Role::Proxy,
    }
}

/// What a success means for the request it answers, where the code's generic meaning (written
/// with INVITE in mind) would mislead: a 200 to a CANCEL answers nothing and owes no ACK.
fn success_meaning(method: &str) -> &'static str {
    match method {
        "CANCEL" => "The CANCEL was accepted: the server stops the pending INVITE, which should now end with 487.",
        "BYE" => "The BYE was accepted: the call is over for both sides.",
        "REGISTER" => "The registration was accepted; Contact and Expires in the response list the bindings now in force.",
        "OPTIONS" => "The target is alive and answered the capability query.",
        "SUBSCRIBE" => "The subscription was accepted; NOTIFY requests carry the state from now on.",
        "NOTIFY" => "The event notification was received.",
        "PRACK" => "The acknowledgement of the reliable provisional response was received.",
        "UPDATE" => "The session update was accepted (with an SDP answer if the UPDATE carried an offer).",
        "REFER" => "The transfer request was accepted; NOTIFY requests report how it goes.",
        "MESSAGE" => "The instant message was delivered to the receiving side.",
        "INFO" => "The mid-call information (often DTMF) was received.",
        "PUBLISH" => "The published event state was accepted.",
        _ => "The request succeeded.",
    }
}

/// Annotates a response step; `None` for requests.
pub fn annotate(call: &Call, step: StepIdx) -> Option<Annotation> {
    let s = call.steps.get(step)?;
    let code = s.code()?;
    let d = knowledge::describe(code);
    let mut proxied_by = Vec::new();
    for hop in &s.hops {
        if hop.origin == HopOrigin::Forwarded && !proxied_by.contains(&hop.src) {
            proxied_by.push(hop.src);
        }
    }
    // The hop that reached the client is the one with the shallowest Via stack (the last hop).
    let received_by = s.hops.iter().min_by_key(|h| h.via_depth).map(|h| h.dst);
    let receiver_role = received_by
        .and_then(|h| call.hosts.get(h))
        .map(|h| knowledge_role(h.role));
    let on_receipt = match (d.info, receiver_role) {
        (Some(info), Some(r)) => info.role(r).on_receipt,
        _ => None,
    };
    let reason = s
        .hops
        .first()
        .and_then(|h| call.messages.get(h.msg))
        .and_then(|m| match &m.start {
            super::Start::Response { reason, .. } => Some(reason.as_str()),
            _ => None,
        })
        .unwrap_or("");
    Some(Annotation {
        code,
        class: d.class,
        known: d.known,
        default_reason: d.reason(),
        meaning: if d.class == Class::Success && s.cseq_method != "INVITE" {
            success_meaning(&s.cseq_method)
        } else {
            d.meaning()
        },
        generated_by: s.generated_by,
        proxied_by,
        received_by,
        receiver_role,
        on_receipt,
        hint: knowledge::hint(code, reason).filter(|h| !h.is_default_phrase()),
    })
}

impl Annotation {
    /// One line for people: `4xx client failure: <meaning> Generated by X, proxied by Y.`
    pub fn summary_line(&self, call: &Call) -> String {
        // Room for the usual line (one or two host labels) so it is written without regrowing.
        let mut line = String::with_capacity(
            self.class.label().len() + self.meaning.len() + 48 + 24 * self.proxied_by.len(),
        );
        self.write_summary_line(call, &mut line);
        line
    }

    /// [`Annotation::summary_line`] appended to `out`: pieces and host labels written in place,
    /// with no intermediate strings (the export writes one line per response).
    pub fn write_summary_line(&self, call: &Call, out: &mut String) {
        out.push_str(self.class.label());
        out.push_str(": ");
        out.push_str(self.meaning);
        let proxies = |out: &mut String| {
            for (i, h) in self.proxied_by.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                call.write_host_label(out, *h);
            }
        };
        if let Some(g) = self.generated_by {
            out.push_str(" Generated by ");
            call.write_host_label(out, g);
            if !self.proxied_by.is_empty() {
                out.push_str(", proxied by ");
                proxies(out);
            }
            out.push('.');
        } else if !self.proxied_by.is_empty() {
            out.push_str(" Proxied by ");
            proxies(out);
            out.push_str(" (generator not captured).");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialog::analyze_call;
    use crate::dialog::testkit::*;

    /// Caller 1 -> proxy 2 -> callee 3; the callee answers 486, the proxy passes it back.
    pub(super) fn busy_through_proxy(reason: &str) -> Call {
        let inv1 = invite("busy", 1, 2, 0, "z9hG4bK-a", 1);
        let inv2 = fwd(&inv1, 2, "z9hG4bK-b", 3, 5);
        let mut r2 = reply(&inv2, 486, 20, Some("callee"));
        let mut r1 = reply(&inv1, 486, 22, Some("callee"));
        for r in [&mut r1, &mut r2] {
            r.start = crate::dialog::Start::Response {
                code: 486,
                reason: reason.into(),
            };
        }
        analyze_call(vec![inv1, inv2, r2, r1], &[])
    }

    #[test]
    fn busy_is_generated_by_the_callee_and_proxied_by_the_proxy() {
        let call = busy_through_proxy("Busy Here");
        let step = call
            .steps
            .iter()
            .position(|s| s.code() == Some(486))
            .expect("a 486 step");
        let a = annotate(&call, step).expect("responses are annotated");
        assert_eq!(a.class, Class::ClientFailure);
        assert!(a.known);
        let label = |h: Option<HostIdx>| h.map(|h| call.host_label(h)).unwrap_or_default();
        assert_eq!(label(a.generated_by), ip(3).to_string());
        assert_eq!(
            a.proxied_by
                .iter()
                .map(|h| call.host_label(*h))
                .collect::<Vec<_>>(),
            vec![ip(2).to_string()]
        );
        assert_eq!(label(a.received_by), ip(1).to_string());
        // The caller is a user agent, read as a phone: the table says what a phone does.
        assert_eq!(a.receiver_role, Some(knowledge::Role::Phone));
        assert_eq!(
            a.on_receipt,
            knowledge::lookup(486).and_then(|i| i.phone.on_receipt)
        );
        assert!(a.on_receipt.is_some());
        assert!(a.hint.is_none(), "the default phrase is no hint");
        let line = a.summary_line(&call);
        assert!(
            line.contains("Generated by") && line.contains("proxied by"),
            "{line}"
        );
    }

    #[test]
    fn requests_have_no_annotation_and_vendor_phrases_give_hints() {
        let call = busy_through_proxy("busy here");
        let req = call.steps.iter().position(|s| s.is_request()).unwrap();
        assert!(annotate(&call, req).is_none());
        let hinted = knowledge::hints_for(486)
            .iter()
            .find(|h| !h.is_default_phrase());
        if let Some(h) = hinted {
            let call = busy_through_proxy(&h.phrase.to_uppercase());
            let step = call
                .steps
                .iter()
                .position(|s| s.code() == Some(486))
                .unwrap();
            assert_eq!(annotate(&call, step).unwrap().hint, Some(h));
        }
    }
}

#[cfg(test)]
mod summary_line_tests {
    use super::*;

    /// The line as it was first written (with `format!` and joined label lists): the
    /// reference the in-place writer must match.
    fn reference(a: &Annotation, call: &Call) -> String {
        let mut line = format!("{}: {}", a.class.label(), a.meaning);
        let joined = |hs: &[HostIdx]| {
            hs.iter()
                .map(|h| call.host_label(*h))
                .collect::<Vec<_>>()
                .join(", ")
        };
        if let Some(g) = a.generated_by {
            line.push_str(&format!(" Generated by {}", call.host_label(g)));
            if !a.proxied_by.is_empty() {
                line.push_str(&format!(", proxied by {}", joined(&a.proxied_by)));
            }
            line.push('.');
        } else if !a.proxied_by.is_empty() {
            line.push_str(&format!(
                " Proxied by {} (generator not captured).",
                joined(&a.proxied_by)
            ));
        }
        line
    }

    #[test]
    fn in_place_writer_matches_the_formatted_line() {
        let call = super::tests::busy_through_proxy("Busy Here");
        let step = call
            .steps
            .iter()
            .position(|s| s.code() == Some(486))
            .expect("a 486 step");
        let base = annotate(&call, step).expect("annotation");
        let hosts: Vec<HostIdx> = (0..call.hosts.len()).collect();
        // Every shape: generator or not, no, one or several proxies, an index with no host
        // (written as an empty label), and a label already in the buffer being kept.
        for generated_by in [None, Some(0), Some(2), Some(99)] {
            for proxied_by in [vec![], vec![1], hosts.clone(), vec![99, 0]] {
                let a = Annotation {
                    generated_by,
                    proxied_by: proxied_by.clone(),
                    ..base.clone()
                };
                let want = reference(&a, &call);
                assert_eq!(a.summary_line(&call), want);
                let mut out = String::from("prefix|");
                a.write_summary_line(&call, &mut out);
                assert_eq!(out, format!("prefix|{want}"));
            }
        }
    }
}

#[cfg(test)]
mod context_tests {
    use super::*;
    use crate::dialog::analyze_call;
    use crate::dialog::testkit::*;

    #[test]
    fn a_200_to_cancel_is_not_described_as_an_answered_call() {
        let inv = invite("ctx", 1, 2, 0, "z9hG4bK-c", 1);
        let cancel = hop_request(&inv, "CANCEL", 100, None);
        let ok = reply(&cancel, 200, 110, Some("t"));
        let call = analyze_call(vec![inv, cancel, ok], &[]);
        let step = call
            .steps
            .iter()
            .position(|s| s.code() == Some(200))
            .expect("200 step");
        let a = annotate(&call, step).expect("annotation");
        assert!(a.meaning.contains("CANCEL"), "{}", a.meaning);
        assert!(!a.meaning.contains("owes an ACK"));
    }
}
