//! The fourteen SIP request methods: defining RFC and what each is for.
//!
//! Method names are case-sensitive in SIP (RFC 3261 7.1): `invite` is not INVITE but an
//! unknown extension method. [`method_info`] follows the RFC; [`method_info_ignore_case`]
//! exists for user input such as command-line filters.

/// One request method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MethodInfo {
    pub name: &'static str,
    /// Defining document.
    pub rfc: &'static str,
    /// What it is for, for a support engineer.
    pub meaning: &'static str,
}

const fn m(name: &'static str, rfc: &'static str, meaning: &'static str) -> MethodInfo {
    MethodInfo { name, rfc, meaning }
}

static METHODS: &[MethodInfo] = &[
    m("INVITE", "RFC 3261",
        "Sets up a call; sent again inside an existing dialog (re-INVITE) it changes the session. It usually carries the SDP offer."),
    m("ACK", "RFC 3261",
        "Confirms the final answer to an INVITE. After a 2xx it travels end to end as a request of its own; after a failure it closes the INVITE transaction hop by hop."),
    m("BYE", "RFC 3261", "Hangs up an established call; either party may send it."),
    m("CANCEL", "RFC 3261",
        "Asks to abandon a request still pending, normally an INVITE that is ringing; that INVITE then ends with 487."),
    m("REGISTER", "RFC 3261",
        "Tells a registrar at which contact address a user can be reached now, or refreshes or removes that binding."),
    m("OPTIONS", "RFC 3261",
        "Asks a UA or server what it supports (methods, extensions, media); widely used as a keep-alive probe."),
    m("PRACK", "RFC 3262",
        "Acknowledges a reliably sent provisional response (one carrying RSeq under the 100rel extension)."),
    m("SUBSCRIBE", "RFC 6665",
        "Asks to be told about changes in some event state (presence, dialog state, waiting messages...)."),
    m("NOTIFY", "RFC 6665", "Reports the current state of a subscribed event to the subscriber."),
    m("PUBLISH", "RFC 3903",
        "Uploads a user's event state (such as presence) to a server that hands it on to subscribers."),
    m("INFO", "RFC 6086",
        "Carries application data within an existing call without changing the session, DTMF digits for example."),
    m("REFER", "RFC 3515",
        "Asks the receiver to send a request to a third party; call transfer is built on it."),
    m("MESSAGE", "RFC 3428", "Carries a single instant message (page mode) in its body."),
    m("UPDATE", "RFC 3311",
        "Changes session parameters such as the SDP, even before the call is answered, without touching dialog state."),
];

/// The method with exactly this name (case-sensitive, as in SIP).
pub fn method_info(name: &str) -> Option<&'static MethodInfo> {
    METHODS.iter().find(|m| m.name == name)
}

/// The method whose name matches ignoring ASCII case and surrounding whitespace.
pub fn method_info_ignore_case(name: &str) -> Option<&'static MethodInfo> {
    let name = name.trim();
    METHODS.iter().find(|m| m.name.eq_ignore_ascii_case(name))
}

/// All fourteen, the six basic ones first.
pub fn methods() -> &'static [MethodInfo] {
    METHODS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fourteen_distinct_methods() {
        assert_eq!(METHODS.len(), 14);
        for (i, a) in METHODS.iter().enumerate() {
            assert!(
                METHODS.iter().skip(i + 1).all(|b| b.name != a.name),
                "{}",
                a.name
            );
            assert!(a.rfc.starts_with("RFC "), "{}", a.name);
        }
    }

    #[test]
    fn exact_lookup_is_case_sensitive() {
        assert_eq!(method_info("PRACK").map(|m| m.rfc), Some("RFC 3262"));
        assert!(method_info("invite").is_none());
        assert!(method_info("INVITE ").is_none());
        assert!(method_info("FOO").is_none());
    }

    #[test]
    fn loose_lookup_ignores_case() {
        assert_eq!(
            method_info_ignore_case(" invite ").map(|m| m.name),
            Some("INVITE")
        );
        assert_eq!(
            method_info_ignore_case("Update").map(|m| m.rfc),
            Some("RFC 3311")
        );
        assert!(method_info_ignore_case("").is_none());
    }
}
