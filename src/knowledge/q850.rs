//! ITU-T Q.850 cause values, as SIP carries them from the PSTN in `Reason: Q.850;cause=N`.
//! Standard facts from Q.850 (not from the seeds); the names are short paraphrases.

/// Short name of a Q.850 cause value, if it is one of the values defined there.
pub fn q850_cause(n: u16) -> Option<&'static str> {
    CAUSES
        .binary_search_by_key(&n, |&(c, _)| c)
        .ok()
        .and_then(|i| CAUSES.get(i))
        .map(|&(_, name)| name)
}

/// The Q.850 class a cause value falls in (values are 7 bits; classes are blocks of 16).
pub fn q850_class(n: u16) -> Option<&'static str> {
    match n {
        0..=31 => Some("normal event"),
        32..=47 => Some("resource unavailable"),
        48..=63 => Some("service or option not available"),
        64..=79 => Some("service or option not implemented"),
        80..=95 => Some("invalid message"),
        96..=111 => Some("protocol error"),
        112..=127 => Some("interworking"),
        _ => None,
    }
}

static CAUSES: &[(u16, &str)] = &[
    (1, "unallocated (unassigned) number"),
    (2, "no route to the given transit network"),
    (3, "no route to destination"),
    (4, "send special information tone"),
    (5, "misdialled trunk prefix"),
    (6, "channel unacceptable"),
    (7, "call awarded on an established channel"),
    (8, "preemption"),
    (9, "preemption, circuit reserved for reuse"),
    (16, "normal call clearing"),
    (17, "user busy"),
    (18, "no user responding"),
    (19, "no answer from user (alerted)"),
    (20, "subscriber absent"),
    (21, "call rejected"),
    (22, "number changed"),
    (23, "redirected to a new destination"),
    (25, "exchange routing error"),
    (26, "non-selected user clearing"),
    (27, "destination out of order"),
    (28, "invalid number format (incomplete address)"),
    (29, "facility rejected"),
    (30, "response to STATUS ENQUIRY"),
    (31, "normal, unspecified"),
    (34, "no circuit or channel available"),
    (38, "network out of order"),
    (39, "permanent frame mode connection out of service"),
    (40, "permanent frame mode connection operational"),
    (41, "temporary failure"),
    (42, "switching equipment congestion"),
    (43, "access information discarded"),
    (44, "requested circuit or channel not available"),
    (46, "precedence call blocked"),
    (47, "resource unavailable, unspecified"),
    (49, "quality of service not available"),
    (50, "requested facility not subscribed"),
    (53, "outgoing calls barred within closed user group"),
    (55, "incoming calls barred within closed user group"),
    (57, "bearer capability not authorised"),
    (58, "bearer capability not available now"),
    (
        62,
        "inconsistency between access information and subscriber class",
    ),
    (63, "service or option not available, unspecified"),
    (65, "bearer capability not implemented"),
    (66, "channel type not implemented"),
    (69, "requested facility not implemented"),
    (70, "only restricted digital bearer capability available"),
    (79, "service or option not implemented, unspecified"),
    (81, "invalid call reference value"),
    (82, "identified channel does not exist"),
    (83, "suspended call exists but this call identity does not"),
    (84, "call identity in use"),
    (85, "no call suspended"),
    (86, "call with the requested identity has been cleared"),
    (87, "user not a member of the closed user group"),
    (88, "incompatible destination"),
    (90, "non-existent closed user group"),
    (91, "invalid transit network selection"),
    (95, "invalid message, unspecified"),
    (96, "mandatory information element missing"),
    (97, "message type unknown or not implemented"),
    (98, "message does not fit the call state, or type unknown"),
    (
        99,
        "information element or parameter unknown or not implemented",
    ),
    (100, "invalid information element contents"),
    (101, "message does not fit the call state"),
    (102, "recovery on timer expiry"),
    (103, "parameter unknown or not implemented, passed on"),
    (110, "message with unrecognised parameter discarded"),
    (111, "protocol error, unspecified"),
    (127, "interworking, unspecified"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_unique_and_in_range() {
        for pair in CAUSES.windows(2) {
            if let [a, b] = pair {
                assert!(a.0 < b.0, "{} before {}", a.0, b.0);
            }
        }
        assert!(CAUSES.iter().all(|&(c, _)| (1..=127).contains(&c)));
    }

    #[test]
    fn common_causes() {
        assert_eq!(q850_cause(16), Some("normal call clearing"));
        assert_eq!(q850_cause(17), Some("user busy"));
        assert!(q850_cause(34).is_some_and(|s| s.contains("circuit")));
        assert!(q850_cause(127).is_some());
        for n in [
            1, 18, 19, 21, 27, 28, 31, 38, 41, 42, 47, 50, 55, 57, 58, 63, 65, 69, 79,
        ] {
            assert!(q850_cause(n).is_some(), "{n}");
        }
        for n in [81, 88, 95, 96, 97, 99, 100, 102, 111] {
            assert!(q850_cause(n).is_some(), "{n}");
        }
        assert_eq!(q850_cause(0), None);
        assert_eq!(q850_cause(10), None);
        assert_eq!(q850_cause(128), None);
        assert_eq!(q850_cause(u16::MAX), None);
    }

    #[test]
    fn classes() {
        assert_eq!(q850_class(16), Some("normal event"));
        assert_eq!(q850_class(34), Some("resource unavailable"));
        assert_eq!(q850_class(127), Some("interworking"));
        assert_eq!(q850_class(128), None);
        // Every listed cause falls in some class.
        assert!(CAUSES.iter().all(|&(c, _)| q850_class(c).is_some()));
    }
}
