//! Troubleshooting hints from reason phrases. Carriers and softswitches often keep the status
//! code generic and put the real cause in the reason phrase ("403 Wrong Guess" is a wrong
//! password, "488 Private IP Address" means the SDP offered an RFC 1918 media address).
//!
//! The table holds the rows of the operator lists in the seed compendium: every row whose
//! phrase differs from the code's default, and every failure (4xx-6xx) row even with the
//! default phrase, since the operator's reading of a plain "403 Forbidden" is itself a hint.
//! Causes are written in our own words.
//!
//! Matching ignores ASCII case, surrounding whitespace and runs of inner whitespace.

/// One reason phrase seen in the field and what usually lies behind it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hint {
    pub code: u16,
    /// The phrase as operators send it.
    pub phrase: &'static str,
    /// The likely cause, for a support engineer.
    pub cause: &'static str,
}

impl Hint {
    /// The phrase is just the default reason phrase of the code (the hint then adds an
    /// operator's reading of a standard answer rather than a vendor-specific cause).
    pub fn is_default_phrase(&self) -> bool {
        super::codes::lookup(self.code).is_some_and(|c| same_phrase(c.reason, self.phrase))
    }
}

/// The hint for this code and phrase, if operators use that combination.
pub fn hint(code: u16, reason_phrase: &str) -> Option<&'static Hint> {
    hints_for(code)
        .iter()
        .find(|h| same_phrase(h.phrase, reason_phrase))
}

/// Every hint listed for one code (possibly none).
pub fn hints_for(code: u16) -> &'static [Hint] {
    let start = HINTS.partition_point(|h| h.code < code);
    let end = HINTS.partition_point(|h| h.code <= code);
    HINTS.get(start..end).unwrap_or(&[])
}

/// A hint that applies to a whole class whatever the phrase: the operator list notes that
/// 5xx answers from a carrier usually mean trouble inside its own softswitch.
pub fn class_hint(code: u16) -> Option<&'static str> {
    if (500..600).contains(&code) {
        Some("Coming from a carrier, a 5xx usually points at a fault inside its softswitch rather than at the call itself.")
    } else {
        None
    }
}

/// Word-by-word comparison, ASCII case-insensitive; whitespace only separates words.
/// ASCII text (every table phrase, nearly every phrase on the wire) is compared in one pass
/// over the bytes without splitting; anything else goes word by word.
fn same_phrase(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        same_phrase_ascii(a.as_bytes(), b.as_bytes())
    } else {
        same_phrase_words(a, b)
    }
}

/// The rule itself, for any text: words split at Unicode whitespace.
fn same_phrase_words(a: &str, b: &str) -> bool {
    let mut x = a.split_whitespace();
    let mut y = b.split_whitespace();
    loop {
        match (x.next(), y.next()) {
            (None, None) => return true,
            (Some(p), Some(q)) if p.eq_ignore_ascii_case(q) => {}
            _ => return false,
        }
    }
}

/// The ASCII characters `char::is_whitespace` accepts (tab, LF, VT, FF, CR and space; VT is
/// one that `u8::is_ascii_whitespace` leaves out).
fn is_space(b: u8) -> bool {
    b == b' ' || (b'\t'..=b'\r').contains(&b)
}

/// [`same_phrase_words`] for ASCII text: both sides walked together, a run of whitespace on
/// one side matching a run on the other.
fn same_phrase_ascii(a: &[u8], b: &[u8]) -> bool {
    let (mut i, mut j) = (0, 0);
    loop {
        while a.get(i).is_some_and(|&c| is_space(c)) {
            i += 1;
        }
        while b.get(j).is_some_and(|&c| is_space(c)) {
            j += 1;
        }
        if i == a.len() && j == b.len() {
            return true;
        }
        // One word from each side; they must end together.
        loop {
            let x = a.get(i).copied().filter(|&c| !is_space(c));
            let y = b.get(j).copied().filter(|&c| !is_space(c));
            match (x, y) {
                (None, None) => break,
                (Some(p), Some(q)) if p.eq_ignore_ascii_case(&q) => {
                    i += 1;
                    j += 1;
                }
                _ => return false,
            }
        }
    }
}

const fn h(code: u16, phrase: &'static str, cause: &'static str) -> Hint {
    Hint {
        code,
        phrase,
        cause,
    }
}

const DB_TROUBLE: &str = "The switch's central database failed or answered too slowly; nothing is wrong with the call itself.";
const NO_FUNDS: &str = "The account has run out of credit for this call.";
const NO_ROUTE_GW: &str = "Routing found no terminating gateway for this destination.";

// Sorted by code; several phrases per code.
static HINTS: &[Hint] = &[
    h(182, "Call is Queued", "Wording variant of 182 Queued: the callee is busy for the moment and the call waits in a queue."),
    h(400, "Bad Request", "A signalling fault, most often a device configuration problem on the sending side."),
    h(401, "Unauthorized", "Normal challenge from the server; the device should resend with its login and password. Only a repeated 401 is a problem."),
    h(401, "AUTH Error: Stall nonce", "The digest nonce did not match (stale): check the device clock and the digest algorithm, that the client can reach the provider's server unhindered, and the presence state in the hosted PBX."),
    h(401, "Expired Authorization", "The registration has run out; the device has to register again."),
    h(402, "Payment Required", "A code RFC 3261 keeps in reserve; a carrier that sends it usually means the account cannot pay for the call."),
    h(403, "Forbidden", "One operator's reading: the caller is not registered with the switch."),
    h(403, "No Such User", "Unknown user: the number, login or password is wrong."),
    h(403, "No license available", "The switch has used up its SIP licences."),
    h(403, "You", "Truncated form of an unknown-user answer: the number, login or password is wrong."),
    h(403, "User Disabled", "The account exists but has been switched off."),
    h(403, "You do not have the required right", "The login given in the From header is wrong."),
    h(403, "Wrong Guess", "Wrong password."),
    h(403, "Conflict", "That SIP number is already in use elsewhere."),
    h(403, "Empty Route Set", "Routing has no gateway at all for this call."),
    h(403, "Caller Not Registered", "The caller is not a known user."),
    h(403, "Out of Look-Ahead Retries", "Every candidate route was tried and all failed."),
    h(403, "Invalid Phone Number", "No route exists for the dialled destination."),
    h(403, "No Money Left on RFC Account", NO_FUNDS),
    h(404, "Not found", "The called number is not a known SIP number on this switch."),
    h(404, "Undefined Reason", "The destination is not defined in routing."),
    h(404, "Unknown user account", "No account matches the login and password given."),
    h(404, "Out of Order", "The routing entry for this destination has no receiving gateway."),
    h(405, "Method Not Allowed", "The method is refused; seen for instance when a user tries a service (such as leaving voicemail) that the account does not offer."),
    h(406, "No codecs match", "Codec configuration is wrong: the two sides share no codec."),
    h(406, "Not Acceptable", "One operator's reading: the user cannot be reached."),
    h(407, "Proxy Authentication Required", "Authentication at the proxy is needed; when it repeats, look at the registration settings."),
    h(407, "User not found", "The user ID is unknown; check it on the CommuniGate Pro server."),
    h(408, "Request Timeout", "The INVITE got no answer in time; often a firewall is eating the traffic."),
    h(408, "Login timed out", "The server did not answer the authentication attempt in time."),
    h(410, "No Route", "A variant of 403 Empty Route Set: no route to the resource, or it no longer exists."),
    h(413, "Request Entity Too Large", "The request is too big for this server to handle."),
    h(415, "No Media", "The call was offered only with codecs the far end does not support."),
    h(416, "Unsupported Scheme", "The address scheme of the Request-URI is not recognised."),
    h(420, "Bad extension", "The server does not know the SIP extension the request demands."),
    h(421, "Extension Required", "The server needs an extension that the request did not declare support for."),
    h(423, "Interval Too Brief", "The requested expiry time is too short for the server."),
    h(480, "Invalid Phone Number", "The number is malformed: wrong digit count, or a bad country or area code."),
    h(480, "Destination Not Found In Client Plan", "The customer's tariff plan has no entry for this destination."),
    h(480, "Wrong DB Response", DB_TROUBLE),
    h(480, "DB Timeout", DB_TROUBLE),
    h(480, "Database Error", DB_TROUBLE),
    h(480, "Codec Mismatch", "The two sides have no codec in common."),
    h(480, "No Money Left on RFC Account", NO_FUNDS),
    h(480, "Empty Route Set", NO_ROUTE_GW),
    h(480, "No money left", NO_FUNDS),
    h(480, "Temporarily Unavailable", "The destination is not reachable for now (do-not-disturb is a common reason); try later."),
    h(481, "Call Leg/Transaction Does Not Exist", "Nothing matches the request; a normal answer to a duplicated (retransmitted) packet."),
    h(482, "Loop Detected", "The request went round in a routing loop."),
    h(483, "Too Many Hops", "The request passed more proxies than allowed."),
    h(484, "Address Incomplete", "The number arrived incomplete."),
    h(485, "Ambiguous", "The called address matches more than one user."),
    h(486, "Busy Here", "The called party is busy."),
    h(487, "Request Terminated", "The request was cancelled, usually because the caller gave up before an answer."),
    h(488, "Codec Mismatch", "No gateway supports the codec the call asked for."),
    h(488, "Private IP Address", "The SDP gives an RFC 1918 (private) address for RTP: NAT traversal is broken or not configured."),
    h(488, "Not acceptable here", "The codecs offered do not match what the far end accepts."),
    h(491, "Request Pending", "The request came while the server was still busy with another request of the same dialog."),
    h(493, "Undeciperable", "The server found no key to decrypt the S/MIME body."),
    h(499, "Codec Mismatch", "Non-standard code: no usable codec. Handle as a 4xx codec failure."),
    h(500, "Internal Server Error", "The switch hit an internal fault."),
    h(500, "DB Timeout", "The switch's database did not answer."),
    h(500, "Database Error", "The switch's database failed (same fault as DB Timeout, seen at a different step)."),
    h(500, "Wrong DB Response", "The switch's database gave an answer it could not use."),
    h(500, "Undefined Reason", "The switch gives no cause at all."),
    h(500, "account has been moved to a remote system", "The account now lives on another system; this server no longer handles it."),
    h(500, "Call placing quota exceeded", "The call-rate limit (calls per second) was exceeded."),
    h(501, "Method Not Supported Here", "The server does not implement the SIP method used."),
    h(502, "Bad Gateway", "A gateway or proxy got a broken answer from the server it forwarded to."),
    h(503, "Service Unavailable", "The server cannot take the call right now: overload or maintenance."),
    h(504, "Server time-out", "A server further on did not answer in time."),
    h(505, "SIP Version not supported", "The server does not speak the SIP version used."),
    h(513, "Message too big", "The message is too long for the server to process."),
    h(600, "Busy everywhere", "The callee is busy and will not take the call now."),
    h(603, "Decline", "The call was refused (the callee declined, or service was denied) without a stated reason."),
    h(604, "Does Not Exist Anywhere", "The called user does not exist."),
    h(606, "Not Acceptable", "The far end was reached but rejects parts of the session: media type, bandwidth or addressing."),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_by_code_and_no_duplicate_phrases() {
        for pair in HINTS.windows(2) {
            if let [a, b] = pair {
                assert!(a.code <= b.code, "{} before {}", a.code, b.code);
            }
        }
        for (i, a) in HINTS.iter().enumerate() {
            for b in HINTS.iter().skip(i + 1) {
                assert!(
                    !(a.code == b.code && same_phrase(a.phrase, b.phrase)),
                    "duplicate {} {}",
                    a.code,
                    a.phrase
                );
            }
        }
    }

    #[test]
    fn matching_ignores_case_and_whitespace() {
        let wrong = hint(403, "wrong guess").map(|h| h.cause);
        assert_eq!(wrong, Some("Wrong password."));
        assert_eq!(hint(403, "  WRONG   GUESS \t").map(|h| h.cause), wrong);
        assert!(hint(403, "Wrong Guesses").is_none());
        assert!(
            hint(404, "Wrong Guess").is_none(),
            "phrase belongs to 403 only"
        );
        assert!(hint(480, "no MONEY left").is_some());
        assert!(hint(488, "private ip address").is_some_and(|h| h.cause.contains("1918")));
        assert!(hint(500, "db timeout").is_some());
        assert!(hint(480, "db timeout").is_some());
        assert!(hint(480, "").is_none());
    }

    #[test]
    fn hints_for_gives_the_run_of_one_code() {
        let all_480 = hints_for(480);
        assert!(all_480.len() >= 5);
        assert!(all_480.iter().all(|h| h.code == 480));
        assert!(hints_for(100).is_empty());
        assert!(hints_for(u16::MAX).is_empty());
    }

    #[test]
    fn default_phrase_detection() {
        assert!(hint(486, "busy here").is_some_and(|h| h.is_default_phrase()));
        assert!(hint(403, "Wrong Guess").is_some_and(|h| !h.is_default_phrase()));
        // 499 is not a registered code, so nothing about it is "default".
        assert!(hint(499, "Codec Mismatch").is_some_and(|h| !h.is_default_phrase()));
    }

    /// The ASCII walk agrees with the word-by-word rule, and non-ASCII input (Unicode
    /// whitespace, letters `eq_ignore_ascii_case` does not fold) keeps the word-by-word answer.
    #[test]
    fn ascii_walk_agrees_with_the_word_rule() {
        let texts = [
            "",
            " ",
            "\t\r\n",
            "\u{b}",
            "\u{c}Busy\u{b}Here\u{c}",
            "Busy Here",
            "busy here",
            "  BUSY   HERE ",
            "Busy\tHere",
            "Busy  Her",
            "Busy Here x",
            "BusyHere",
            "Busy",
            "Busy\u{0}Here",
            "Busy\u{1f}Here",
            "Busy\u{7f}Here",
            "Busy\u{85}Here",
            "Busy\u{a0}Here",
            "Busy\u{2003}Here",
            "Busy\u{3000}Here ",
            "\u{e9}t\u{e9}",
            "\u{c9}T\u{c9}",
            "Stra\u{df}e",
            "STRASSE",
            "Wrong Guess",
            "wrong\u{b}guess",
        ];
        for a in texts {
            for b in texts {
                assert_eq!(same_phrase(a, b), same_phrase_words(a, b), "{a:?} {b:?}");
                if a.is_ascii() && b.is_ascii() {
                    assert_eq!(
                        same_phrase_ascii(a.as_bytes(), b.as_bytes()),
                        same_phrase_words(a, b),
                        "{a:?} {b:?}"
                    );
                }
            }
        }
        // Unicode whitespace separates words; non-ASCII letters only match themselves.
        assert!(same_phrase("Busy\u{a0}Here", "busy here"));
        assert!(same_phrase("Busy\u{2003}Here", "BUSY\u{3000}HERE"));
        assert!(!same_phrase("\u{e9}t\u{e9}", "\u{c9}T\u{c9}"));
        assert!(same_phrase("\u{b}Busy Here\u{b}", "busy here"));
        assert!(!same_phrase("Busy\u{0}Here", "busy here"));
        for b in 0u8..=0x7f {
            assert_eq!(is_space(b), char::from(b).is_whitespace(), "{b:#x}");
        }
    }

    #[test]
    fn class_hint_only_for_5xx() {
        assert!(class_hint(500).is_some());
        assert!(class_hint(599).is_some());
        assert!(class_hint(499).is_none());
        assert!(class_hint(600).is_none());
    }
}
