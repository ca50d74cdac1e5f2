//! The response-code table: every status code the seed documents name, with its class, default
//! reason phrase, defining RFC, a plain-words meaning, and per-role behaviour (phone, gateway,
//! proxy) where the Cisco tables state it.
//!
//! Per-role facts come only from the seeds: the Cisco SIP chapter (phone, gateway, proxy
//! columns) and the Cisco SPS table (proxy: supported?, generates / forwards, redirect mode).
//! Cells that the SPS table merges across rows apply to each of those rows. Where neither says
//! anything the value is [`Tri::NotSaid`] / `None`: this table never guesses.
//!
//! Lookups are a binary search over a sorted static slice; nothing allocates.

use super::Role;

/// Response class, from the first digit of the code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    /// 1xx
    Provisional,
    /// 2xx
    Success,
    /// 3xx
    Redirection,
    /// 4xx
    ClientFailure,
    /// 5xx
    ServerFailure,
    /// 6xx
    GlobalFailure,
    /// Any other first digit (7xx stack codes, junk). `Unknown(0)` means the number is not a
    /// three-digit code at all.
    Unknown(u8),
}

impl Class {
    /// Class of a status code. Numbers outside 100..=999 give `Unknown(0)`.
    pub const fn of(code: u16) -> Class {
        if code < 100 || code > 999 {
            return Class::Unknown(0);
        }
        match code / 100 {
            1 => Class::Provisional,
            2 => Class::Success,
            3 => Class::Redirection,
            4 => Class::ClientFailure,
            5 => Class::ServerFailure,
            6 => Class::GlobalFailure,
            // 7..=9: fits in a u8 by the range check above.
            d => Class::Unknown(d as u8),
        }
    }

    /// First digit of the class (0 for `Unknown(0)`).
    pub const fn digit(self) -> u8 {
        match self {
            Class::Provisional => 1,
            Class::Success => 2,
            Class::Redirection => 3,
            Class::ClientFailure => 4,
            Class::ServerFailure => 5,
            Class::GlobalFailure => 6,
            Class::Unknown(d) => d,
        }
    }

    /// Short label such as "4xx client failure".
    pub const fn label(self) -> &'static str {
        match self {
            Class::Provisional => "1xx provisional",
            Class::Success => "2xx success",
            Class::Redirection => "3xx redirection",
            Class::ClientFailure => "4xx client failure",
            Class::ServerFailure => "5xx server failure",
            Class::GlobalFailure => "6xx global failure",
            Class::Unknown(7) => "7xx non-standard",
            Class::Unknown(8) => "8xx non-standard",
            Class::Unknown(9) => "9xx non-standard",
            Class::Unknown(_) => "not a SIP status code",
        }
    }

    /// Only 1xx responses are provisional; every other response ends its transaction.
    pub const fn is_final(self) -> bool {
        !matches!(self, Class::Provisional)
    }

    /// The code an unrecognised member of this class must be handled as (RFC 3261 8.1.3.2):
    /// an unknown provisional response other than 100 counts as 183, an unknown final response
    /// as the x00 of its class. `None` outside the six SIP classes.
    pub const fn fallback_code(self) -> Option<u16> {
        match self {
            Class::Provisional => Some(183),
            Class::Success => Some(200),
            Class::Redirection => Some(300),
            Class::ClientFailure => Some(400),
            Class::ServerFailure => Some(500),
            Class::GlobalFailure => Some(600),
            Class::Unknown(_) => None,
        }
    }

    /// Lowest and highest code of the class (inclusive); `None` for `Unknown(0)`.
    const fn range(self) -> Option<(u16, u16)> {
        let d = self.digit() as u16;
        if d == 0 || d > 9 {
            None
        } else {
            Some((d * 100, d * 100 + 99))
        }
    }
}

/// A three-way answer: the seeds say yes, say no, or say nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tri {
    Yes,
    No,
    NotSaid,
}

/// Where the code stands today.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Standing {
    /// In the IANA SIP response-code registry.
    Registered,
    /// Registered, but the defining mechanism has been retired.
    Deprecated,
    /// Only in RFC 2543; dropped by RFC 3261 and never registered.
    Historic,
    /// Private to one SIP stack; no RFC.
    StackSpecific,
}

/// What one kind of box does with a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoleFacts {
    /// Does this box send the code itself?
    pub generates: Tri,
    /// Does it pass the code on when it comes from elsewhere? (Proxies only, in the seeds.)
    pub forwards: Tri,
    /// What it does when the code arrives.
    pub on_receipt: Option<&'static str>,
    /// Conditions and modes (for example only in redirect mode).
    pub note: Option<&'static str>,
}

impl RoleFacts {
    /// Nothing stated.
    pub const NOT_SAID: RoleFacts = RoleFacts {
        generates: Tri::NotSaid,
        forwards: Tri::NotSaid,
        on_receipt: None,
        note: None,
    };

    const fn gen(generates: Tri) -> RoleFacts {
        RoleFacts {
            generates,
            ..RoleFacts::NOT_SAID
        }
    }

    const fn gen_fwd(generates: Tri, forwards: Tri) -> RoleFacts {
        RoleFacts {
            generates,
            forwards,
            on_receipt: None,
            note: None,
        }
    }

    const fn recv(self, what: &'static str) -> RoleFacts {
        RoleFacts {
            on_receipt: Some(what),
            ..self
        }
    }

    const fn note(self, what: &'static str) -> RoleFacts {
        RoleFacts {
            note: Some(what),
            ..self
        }
    }
}

/// One response code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeInfo {
    pub code: u16,
    /// Default reason phrase.
    pub reason: &'static str,
    pub class: Class,
    /// Defining document ("RFC 3261"; "none" for stack-private codes).
    pub rfc: &'static str,
    pub standing: Standing,
    /// What it means, for a support engineer.
    pub meaning: &'static str,
    pub phone: RoleFacts,
    pub gateway: RoleFacts,
    pub proxy: RoleFacts,
    /// Whether the Cisco SIP Proxy Server table marks the code as supported.
    pub proxy_supported: Tri,
}

impl CodeInfo {
    const fn new(
        code: u16,
        reason: &'static str,
        rfc: &'static str,
        meaning: &'static str,
    ) -> Self {
        CodeInfo {
            code,
            reason,
            class: Class::of(code),
            rfc,
            standing: Standing::Registered,
            meaning,
            phone: RoleFacts::NOT_SAID,
            gateway: RoleFacts::NOT_SAID,
            proxy: RoleFacts::NOT_SAID,
            proxy_supported: Tri::NotSaid,
        }
    }

    const fn standing(self, standing: Standing) -> Self {
        CodeInfo { standing, ..self }
    }

    const fn phone(self, phone: RoleFacts) -> Self {
        CodeInfo { phone, ..self }
    }

    const fn gw(self, gateway: RoleFacts) -> Self {
        CodeInfo { gateway, ..self }
    }

    const fn proxy(self, proxy: RoleFacts, supported: Tri) -> Self {
        CodeInfo {
            proxy,
            proxy_supported: supported,
            ..self
        }
    }

    /// Provisional (1xx) or final.
    pub const fn is_final(&self) -> bool {
        self.class.is_final()
    }

    /// The facts for one role.
    pub const fn role(&self, role: Role) -> &RoleFacts {
        match role {
            Role::Phone => &self.phone,
            Role::Gateway => &self.gateway,
            Role::Proxy => &self.proxy,
        }
    }
}

/// What [`describe`] says about any number that shows up as a status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Described {
    pub code: u16,
    pub class: Class,
    /// The code itself is in the table.
    pub known: bool,
    /// The entry to go by: the code's own, or the one it must be treated as when unknown
    /// (see [`Class::fallback_code`]). `None` when even the class is not SIP.
    pub info: Option<&'static CodeInfo>,
}

impl Described {
    /// The code whose meaning applies (the code itself when known).
    pub fn treated_as(&self) -> Option<u16> {
        self.info.map(|i| i.code)
    }

    /// Default reason phrase of the entry gone by, or the class label.
    pub fn reason(&self) -> &'static str {
        match self.info {
            Some(i) => i.reason,
            None => self.class.label(),
        }
    }

    /// Meaning of the entry gone by, or a note that the code is outside SIP.
    pub fn meaning(&self) -> &'static str {
        match self.info {
            Some(i) => i.meaning,
            None => {
                "Not a status code defined by SIP; only the sender's software knows what it means."
            }
        }
    }

    pub fn is_final(&self) -> bool {
        self.class.is_final()
    }
}

/// The table entry for exactly this code.
pub fn lookup(code: u16) -> Option<&'static CodeInfo> {
    CODES
        .binary_search_by_key(&code, |c| c.code)
        .ok()
        .and_then(|i| CODES.get(i))
}

/// Describe any code: known ones from the table, unknown ones by the class fallback
/// (an unknown 4xx is handled as 400, an unknown 1xx as 183), marked `known: false`.
pub fn describe(code: u16) -> Described {
    let class = Class::of(code);
    if let Some(info) = lookup(code) {
        return Described {
            code,
            class,
            known: true,
            info: Some(info),
        };
    }
    Described {
        code,
        class,
        known: false,
        info: class.fallback_code().and_then(lookup),
    }
}

/// The whole table, sorted by code.
pub fn all() -> &'static [CodeInfo] {
    CODES
}

/// The table entries of one class (a contiguous run, since the table is sorted).
pub fn in_class(class: Class) -> &'static [CodeInfo] {
    let Some((lo, hi)) = class.range() else {
        return &[];
    };
    let start = CODES.partition_point(|c| c.code < lo);
    let end = CODES.partition_point(|c| c.code <= hi);
    CODES.get(start..end).unwrap_or(&[])
}

use Tri::{No, NotSaid, Yes};

// Receipt behaviours that repeat across many rows of the Cisco chapter.
const LIKE_TRYING: &str =
    "Handles it as it would a 100 Trying and keeps waiting for the final answer.";
const FOLLOW_CONTACT: &str = "Retries the call towards the address carried in the Contact header.";
const PHONE_TELLS_USER: &str = "Shows the user that the call failed.";
const PHONE_FAST_BUSY: &str = "Plays fast busy to the user and hangs up.";
const PHONE_FAST_BUSY_RETRY: &str =
    "Plays fast busy and hangs up; if it knows another contact it may send a fresh request there.";
const GW_CLEARS: &str = "Tears the call down in an orderly way and frees it.";

const fn phone_no(recv: &'static str) -> RoleFacts {
    RoleFacts::gen(No).recv(recv)
}
const fn gw_no_clears() -> RoleFacts {
    RoleFacts::gen(No).recv(GW_CLEARS)
}
const fn gw_yes_clears(when: &'static str) -> RoleFacts {
    RoleFacts::gen(Yes).recv(GW_CLEARS).note(when)
}
const FWD: RoleFacts = RoleFacts::gen_fwd(NotSaid, Yes);
const GEN_FWD: RoleFacts = RoleFacts::gen_fwd(Yes, Yes);

static CODES: &[CodeInfo] = &[
    // ---- 1xx
    CodeInfo::new(100, "Trying", "RFC 3261",
        "The next hop has the request and is working on it; this stops INVITE retransmissions. It is hop-by-hop: a stateful proxy does not relay it upstream.")
        .phone(RoleFacts::gen(Yes).note("Sent for an incoming INVITE.")
            .recv("Keeps waiting for 180 Ringing or 200 OK."))
        .gw(RoleFacts::gen(Yes).note("Sent for an incoming INVITE.")
            .recv("Stops resending the INVITE and waits for 180 Ringing or 200 OK."))
        .proxy(GEN_FWD.note("Generated and also passed on for incoming INVITEs.")
            .recv("Waits for 180 Ringing, 183 Session Progress or 200 OK."), Yes),
    CodeInfo::new(180, "Ringing", "RFC 3261",
        "The called device has the INVITE and is alerting its user; the caller normally plays local ringback.")
        .phone(RoleFacts::gen(Yes).note("Sent while waiting for the user to pick up.")
            .recv("Waits for 200 OK."))
        .gw(RoleFacts::gen(Yes).note("Sent once the called party is found and being alerted.")
            .recv("Waits for 200 OK."))
        .proxy(FWD, Yes),
    CodeInfo::new(181, "Call Is Being Forwarded", "RFC 3261",
        "A server is diverting the call to other destinations (call forwarding, forking, voicemail).")
        .phone(phone_no(LIKE_TRYING))
        .gw(RoleFacts::gen(No).recv(LIKE_TRYING))
        .proxy(FWD, NotSaid),
    CodeInfo::new(182, "Queued", "RFC 3261",
        "The callee cannot take the call yet, so a server parks it in a queue instead of refusing it; more 182s may report the queue state.")
        .phone(phone_no(LIKE_TRYING))
        .gw(RoleFacts::gen(No).recv(LIKE_TRYING))
        .proxy(FWD, NotSaid),
    CodeInfo::new(183, "Session Progress", "RFC 3261",
        "Catch-all progress report during setup; it often carries SDP so the caller hears early media (announcements, remote ringback).")
        .phone(phone_no("Waits for 200 OK."))
        .gw(RoleFacts::gen(Yes).note("Sent when an ISDN SETUP with a Progress indicator comes in from the PSTN."))
        .proxy(RoleFacts::gen_fwd(No, Yes), NotSaid),
    CodeInfo::new(199, "Early Dialog Terminated", "RFC 6228",
        "The UAS tells upstream elements that one early dialog (say, one branch of a fork) has ended before any final answer."),
    // ---- 2xx
    CodeInfo::new(200, "OK", "RFC 3261",
        "The request worked. For an INVITE the call is answered and the caller owes an ACK.")
        .phone(RoleFacts::gen(Yes).note("Sent when the user answers.")
            .recv("Answers with ACK."))
        .gw(RoleFacts::gen(Yes).note("Sent when the PBX reports that the user answered.")
            .recv("Passes the answer on to the other side of the call and sends ACK."))
        .proxy(GEN_FWD.note("Generates it only to REGISTER and CANCEL; for other requests it just passes it on."), Yes),
    CodeInfo::new(202, "Accepted", "RFC 3265",
        "Taken for processing but not finished yet; seen on REFER and old SUBSCRIBE. RFC 6665 retired it.")
        .standing(Standing::Deprecated),
    CodeInfo::new(204, "No Notification", "RFC 5839",
        "Success, but the subscriber will not get the NOTIFY it would otherwise expect (conditional event notification)."),
    // ---- 3xx
    CodeInfo::new(300, "Multiple Choices", "RFC 3261",
        "The target maps to several locations, listed in Contact or in the body; the caller may choose one and try again there.")
        .phone(phone_no(FOLLOW_CONTACT))
        .gw(RoleFacts::gen(No).recv(FOLLOW_CONTACT))
        .proxy(GEN_FWD.note("Redirect mode: this is what it generates. Proxy mode: may generate it or pass it on."), Yes),
    CodeInfo::new(301, "Moved Permanently", "RFC 3261",
        "The target has a new permanent address, given in Contact; retry there and update any stored copy of the old one.")
        .phone(phone_no(FOLLOW_CONTACT))
        .gw(RoleFacts::gen(No).recv(FOLLOW_CONTACT))
        .proxy(FWD, Yes),
    CodeInfo::new(302, "Moved Temporarily", "RFC 3261",
        "Retry for now at the address(es) in Contact; the redirect may be cached only as long as its expiry allows.")
        .phone(RoleFacts::gen(No).note("Not generated by the phone (at the time of the document).").recv(FOLLOW_CONTACT))
        .gw(RoleFacts::gen(No).recv(FOLLOW_CONTACT))
        .proxy(GEN_FWD.note("Redirect mode: generated when a matching registration is found. Proxy mode: may generate it or pass it on."), Yes),
    CodeInfo::new(305, "Use Proxy", "RFC 3261",
        "The request has to go through the proxy named in Contact; only a UAS may answer this way.")
        .phone(phone_no(FOLLOW_CONTACT))
        .gw(RoleFacts::gen(No).recv(FOLLOW_CONTACT))
        .proxy(FWD, Yes),
    CodeInfo::new(380, "Alternative Service", "RFC 3261",
        "The call failed as addressed, but the body describes other services that could take it.")
        .phone(phone_no(FOLLOW_CONTACT))
        .gw(RoleFacts::gen(No).recv(FOLLOW_CONTACT))
        .proxy(RoleFacts::gen_fwd(NotSaid, No), No),
    // ---- 4xx
    CodeInfo::new(400, "Bad Request", "RFC 3261",
        "The request is malformed (bad syntax, a mandatory header missing); the reason phrase often names the fault.")
        .phone(RoleFacts::gen(Yes).note("Sent for a badly formed request.")
            .recv("Disconnects gracefully: the caller hears fast busy, then the call is cleared."))
        .gw(gw_yes_clears("Sent for a badly formed request."))
        .proxy(GEN_FWD, Yes),
    CodeInfo::new(401, "Unauthorized", "RFC 3261",
        "Authentication challenge from a UAS or registrar (WWW-Authenticate). It is the normal first reply to REGISTER; the client repeats the request with credentials.")
        .phone(phone_no("While registering: accepts the challenge and resends the request with the user's credentials."))
        .gw(gw_no_clears())
        .proxy(GEN_FWD.note("Generates it only when acting as registrar with authentication turned on; otherwise passes it on."), Yes),
    CodeInfo::new(402, "Payment Required", "RFC 3261",
        "Reserved by RFC 3261 for later use; in practice some carriers send it when the account has no credit.")
        .phone(phone_no(PHONE_TELLS_USER))
        .gw(gw_no_clears())
        .proxy(GEN_FWD.note("Generated in registrar mode; passed on otherwise."), NotSaid),
    CodeInfo::new(403, "Forbidden", "RFC 3261",
        "The server understood and refuses; other credentials will not change that. Usually policy, account state or routing rejected the call.")
        .phone(phone_no(PHONE_TELLS_USER))
        .gw(gw_no_clears())
        .proxy(GEN_FWD.note("Generated in registrar mode; passed on otherwise."), NotSaid),
    CodeInfo::new(404, "Not Found", "RFC 3261",
        "The user does not exist in the domain of the Request-URI, or that domain is not served here.")
        .phone(RoleFacts::gen(Yes).note("Sent when it cannot find the callee.").recv(PHONE_TELLS_USER))
        .gw(gw_yes_clears("Sent when it cannot find the callee."))
        .proxy(GEN_FWD, Yes),
    CodeInfo::new(405, "Method Not Allowed", "RFC 3261",
        "The method is understood but not allowed for this target; the Allow header lists what is.")
        .phone(RoleFacts::gen(Yes).note("Sent when the request uses a method it does not accept.").recv(PHONE_TELLS_USER))
        .gw(gw_yes_clears("Sent when the request uses a method it does not accept."))
        .proxy(FWD, NotSaid),
    CodeInfo::new(406, "Not Acceptable", "RFC 3261",
        "The target could only answer with content that the request's Accept header rules out.")
        .phone(phone_no(PHONE_TELLS_USER))
        .gw(gw_no_clears())
        .proxy(FWD, NotSaid),
    CodeInfo::new(407, "Proxy Authentication Required", "RFC 3261",
        "Like 401 but the challenge comes from a proxy (Proxy-Authenticate); the client resends with Proxy-Authorization.")
        .phone(phone_no("May send the request again with a Proxy-Authorization header holding its credentials for that proxy."))
        .gw(gw_no_clears())
        .proxy(GEN_FWD.note("Generates it when authentication is turned on; otherwise passes it on."), Yes),
    CodeInfo::new(408, "Request Timeout", "RFC 3261",
        "No final answer could be produced in time (for instance locating the user took too long); the same request may be tried later.")
        .phone(phone_no(PHONE_TELLS_USER))
        .gw(gw_no_clears())
        .proxy(GEN_FWD, NotSaid),
    CodeInfo::new(409, "Conflict", "RFC 2543",
        "Old RFC 2543 code for a registration clash (the user is already registered); RFC 3261 dropped it and IANA never listed it.")
        .standing(Standing::Historic)
        .phone(phone_no(PHONE_TELLS_USER))
        .gw(gw_no_clears())
        .proxy(GEN_FWD, NotSaid),
    CodeInfo::new(410, "Gone", "RFC 3261",
        "The user used to be here, is no more, and there is no forwarding address; meant as permanent.")
        .phone(phone_no(PHONE_TELLS_USER))
        .gw(gw_yes_clears("Sent when the PSTN answers with cause 'unallocated number'."))
        .proxy(FWD, NotSaid),
    CodeInfo::new(411, "Length Required", "RFC 2543",
        "Old RFC 2543 code: the server insists on a valid Content-Length. RFC 3261 dropped it.")
        .standing(Standing::Historic)
        .phone(phone_no("Sends the request again with a correct Content-Length."))
        .gw(gw_no_clears())
        .proxy(FWD, Yes),
    CodeInfo::new(412, "Conditional Request Failed", "RFC 3903",
        "A conditional PUBLISH failed: the entity tag it refers to is unknown or has expired."),
    CodeInfo::new(413, "Request Entity Too Large", "RFC 3261",
        "The body is larger than the server will take; a Retry-After says the limit is temporary and when to try again.")
        .phone(phone_no("Shows the failure; if Retry-After is present the user is told when a new attempt may work."))
        .gw(gw_no_clears())
        .proxy(FWD, NotSaid),
    CodeInfo::new(414, "Request-URI Too Long", "RFC 3261",
        "The Request-URI is too long; this server refuses to parse it.")
        .phone(phone_no(PHONE_TELLS_USER))
        .gw(gw_no_clears())
        .proxy(GEN_FWD, Yes),
    CodeInfo::new(415, "Unsupported Media Type", "RFC 3261",
        "The body type, encoding or language is not supported; Accept headers in the reply say what would be.")
        .phone(phone_no(PHONE_TELLS_USER))
        .gw(gw_no_clears())
        .proxy(FWD, Yes),
    CodeInfo::new(416, "Unsupported URI Scheme", "RFC 3261",
        "The server does not know the scheme of the Request-URI."),
    CodeInfo::new(417, "Unknown Resource-Priority", "RFC 4412",
        "Resource-priority handling was required but no usable Resource-Priority header came with the request."),
    CodeInfo::new(420, "Bad Extension", "RFC 3261",
        "An option tag in Require or Proxy-Require is not supported here; the Unsupported header names it.")
        .phone(phone_no(PHONE_TELLS_USER))
        .gw(gw_yes_clears("Sent when it does not understand what the Require header asks for."))
        .proxy(GEN_FWD, Yes),
    CodeInfo::new(421, "Extension Required", "RFC 3261",
        "The UAS needs an extension (listed in its Require) that the request did not offer in Supported."),
    CodeInfo::new(422, "Session Interval Too Small", "RFC 4028",
        "Session-Expires in the request is below the server's minimum; Min-SE in the reply gives the floor."),
    CodeInfo::new(423, "Interval Too Brief", "RFC 3261",
        "The requested expiry is too short (typically a REGISTER); Min-Expires in the reply gives the lowest allowed value."),
    CodeInfo::new(424, "Bad Location Information", "RFC 6442",
        "The location (geolocation) data sent with the request is broken or not usable."),
    CodeInfo::new(425, "Bad Alert Message", "RFC 8876",
        "A non-interactive emergency alert was refused because its content was too damaged to act on."),
    CodeInfo::new(428, "Use Identity Header", "RFC 4474",
        "Local policy wants an Identity header and the request carried none."),
    CodeInfo::new(429, "Provide Referrer Identity", "RFC 3892",
        "The REFER recipient wanted a valid Referred-By token and did not get one."),
    CodeInfo::new(430, "Flow Failed", "RFC 5626",
        "One outbound flow to a UA broke though others may still work; meant between proxies, and an endpoint that sees it handles it as 400."),
    CodeInfo::new(433, "Anonymity Disallowed", "RFC 5079",
        "Refused because the caller withheld its identity."),
    CodeInfo::new(436, "Bad Identity-Info", "RFC 4474",
        "The URI in the Identity-Info header cannot be fetched (unusable scheme or target)."),
    CodeInfo::new(437, "Unsupported Certificate", "RFC 4474",
        "The verifier could not validate the certificate of the domain that signed the request."),
    CodeInfo::new(438, "Invalid Identity Header", "RFC 4474",
        "The signer's certificate was obtained, but the Identity signature does not check out."),
    CodeInfo::new(439, "First Hop Lacks Outbound Support", "RFC 5626",
        "The registrar does SIP outbound (RFC 5626) but the first proxy on the registration path does not."),
    CodeInfo::new(440, "Max-Breadth Exceeded", "RFC 5393",
        "A proxy could not fork in parallel within the Max-Breadth budget, so some possible targets were never tried."),
    CodeInfo::new(469, "Bad Info Package", "RFC 6086",
        "An INFO came for an Info Package the UA never agreed to take; Recv-Info in the reply lists the ones it does take."),
    CodeInfo::new(470, "Consent Needed", "RFC 5360",
        "The target has not given this source permission to send it such requests."),
    CodeInfo::new(480, "Temporarily Unavailable", "RFC 3261",
        "The callee's system was reached but the user cannot be had right now (not logged in, do-not-disturb, or a server knows the user but has no current contact). Retry-After may say when.")
        .phone(phone_no("Tells the user the callee is unavailable for now and shows any retry time given."))
        .gw(gw_yes_clears("Sent when the callee is unavailable."))
        .proxy(GEN_FWD.note("Generates it when pre-authentication is enabled and fails; otherwise passes it on."), Yes),
    CodeInfo::new(481, "Call/Transaction Does Not Exist", "RFC 3261",
        "The request matches no dialog or transaction the server knows, e.g. a BYE or CANCEL for a call it has already forgotten.")
        .phone(phone_no(PHONE_TELLS_USER))
        .gw(gw_yes_clears("Sent when it cannot identify the call leg a request refers to."))
        .proxy(GEN_FWD, Yes),
    CodeInfo::new(482, "Loop Detected", "RFC 3261",
        "A server received a request that had already passed through it.")
        .phone(phone_no(PHONE_TELLS_USER))
        .gw(gw_no_clears())
        .proxy(GEN_FWD, Yes),
    CodeInfo::new(483, "Too Many Hops", "RFC 3261",
        "Max-Forwards reached zero before the request got to its target.")
        .phone(phone_no(PHONE_TELLS_USER))
        .gw(gw_no_clears())
        .proxy(GEN_FWD, Yes),
    CodeInfo::new(484, "Address Incomplete", "RFC 3261",
        "The dialled number or Request-URI lacks digits; this is what drives overlap dialling.")
        .phone(phone_no(PHONE_TELLS_USER))
        .gw(gw_no_clears())
        .proxy(FWD, NotSaid),
    CodeInfo::new(485, "Ambiguous", "RFC 3261",
        "The Request-URI fits more than one user; Contact may list candidates, but a person has to pick.")
        .phone(phone_no("May place the call again if the reply brought new contact addresses."))
        .gw(gw_no_clears())
        .proxy(FWD, NotSaid),
    CodeInfo::new(486, "Busy Here", "RFC 3261",
        "The callee's device was reached but takes no more calls there; the user may still be reachable elsewhere, such as voicemail.")
        .phone(RoleFacts::gen(Yes).note("Sent when its handset is off hook.")
            .recv("Tells the user and plays a busy tone."))
        .gw(gw_yes_clears("Sent when the called party is busy."))
        .proxy(FWD, NotSaid),
    CodeInfo::new(487, "Request Terminated", "RFC 3261",
        "The request was ended by CANCEL (or BYE) before it completed: the usual answer to the INVITE when the caller gives up while it rings.")
        .proxy(RoleFacts::NOT_SAID, No),
    CodeInfo::new(488, "Not Acceptable Here", "RFC 3261",
        "This target rejects the offered session (codecs, media types, addresses); a different target might accept it.")
        .proxy(FWD, NotSaid),
    CodeInfo::new(489, "Bad Event", "RFC 3265",
        "The event package named in the Event header of a SUBSCRIBE or NOTIFY is not understood."),
    CodeInfo::new(491, "Request Pending", "RFC 3261",
        "Another request in the same dialog is still open (typically two re-INVITEs crossing); retry after a short random wait."),
    CodeInfo::new(493, "Undecipherable", "RFC 3261",
        "The UAS has no key to decrypt the encrypted (S/MIME) body it received."),
    CodeInfo::new(494, "Security Agreement Required", "RFC 3329",
        "The server insists on negotiating a security mechanism first; the reply offers the choices or a digest challenge."),
    // ---- 5xx
    CodeInfo::new(500, "Server Internal Error", "RFC 3261",
        "Something unexpected failed inside the server; the client may try again after a few seconds.")
        .phone(phone_no(PHONE_FAST_BUSY_RETRY))
        .gw(gw_yes_clears("Sent when an unexpected internal error stops it."))
        .proxy(GEN_FWD, Yes),
    CodeInfo::new(501, "Not Implemented", "RFC 3261",
        "The server lacks what the request needs, typically an unknown method (unlike 405, where the method is known but refused).")
        .phone(phone_no(PHONE_FAST_BUSY_RETRY))
        .gw(gw_yes_clears("Sent when it lacks a function the request needs."))
        .proxy(GEN_FWD, Yes),
    CodeInfo::new(502, "Bad Gateway", "RFC 3261",
        "A gateway or proxy got an invalid reply from the next server downstream.")
        .phone(phone_no(PHONE_FAST_BUSY_RETRY))
        .gw(gw_yes_clears("Sent when the downstream server answered with something invalid."))
        .proxy(FWD, NotSaid),
    CodeInfo::new(503, "Service Unavailable", "RFC 3261",
        "The server is overloaded or in maintenance; clients should try another server and respect Retry-After.")
        .phone(phone_no(PHONE_FAST_BUSY_RETRY))
        .gw(gw_yes_clears("Sent when overload or maintenance keeps it from handling the request."))
        .proxy(FWD, NotSaid),
    CodeInfo::new(504, "Server Time-out", "RFC 3261",
        "A server that had to ask another server (downstream, or a lookup service) got no answer in time.")
        .phone(phone_no(PHONE_FAST_BUSY_RETRY))
        .gw(gw_yes_clears("Sent when another server it depends on did not answer in time."))
        .proxy(FWD, NotSaid),
    CodeInfo::new(505, "Version Not Supported", "RFC 3261",
        "The SIP version on the request line is one the server does not handle.")
        .phone(RoleFacts::gen(Yes).note("Sent when the request uses a SIP version it does not support.")
            .recv(PHONE_FAST_BUSY_RETRY))
        .gw(gw_yes_clears("Sent when the request uses a SIP version it does not support."))
        .proxy(FWD, Yes),
    CodeInfo::new(513, "Message Too Large", "RFC 3261",
        "The message is longer than the server can take; over UDP this usually means it should have gone over TCP."),
    CodeInfo::new(555, "Push Notification Service Not Supported", "RFC 8599",
        "The push service named in the pn-provider URI parameter is not supported here."),
    CodeInfo::new(580, "Precondition Failure", "RFC 3312",
        "The server cannot or will not meet the preconditions (such as QoS) demanded in the SDP offer."),
    // ---- 6xx
    CodeInfo::new(600, "Busy Everywhere", "RFC 3261",
        "The callee is busy and the server knows no other destination (voicemail included) would take the call.")
        .phone(phone_no(PHONE_FAST_BUSY))
        .gw(gw_no_clears())
        .proxy(FWD, NotSaid),
    CodeInfo::new(603, "Decline", "RFC 3261",
        "The called side deliberately refuses the call and no other destination will take it.")
        .phone(RoleFacts::gen(Yes).note("Only when the user screens calls.").recv(PHONE_FAST_BUSY))
        .gw(gw_no_clears())
        .proxy(FWD, NotSaid),
    CodeInfo::new(604, "Does Not Exist Anywhere", "RFC 3261",
        "Authoritative answer: the user exists nowhere, not just at this address.")
        .phone(phone_no(PHONE_FAST_BUSY))
        .gw(gw_no_clears())
        .proxy(FWD, NotSaid),
    CodeInfo::new(606, "Not Acceptable", "RFC 3261",
        "The user was reached but cannot support the described session (media, bandwidth, addressing); a Warning header may say why.")
        .phone(phone_no(PHONE_FAST_BUSY_RETRY))
        .gw(gw_yes_clears("Sent when the callee cannot accept some part of the session description."))
        .proxy(FWD, NotSaid),
    CodeInfo::new(607, "Unwanted", "RFC 8197",
        "The called person marked the call as unwanted (spam, nuisance); later calls from the same caller will probably be refused too."),
    CodeInfo::new(608, "Rejected", "RFC 8688",
        "A machine in the path (call blocking or analytics), not the user, refused the call; a jCard in Call-Info may say whom to ask about it."),
    // ---- stack-private
    CodeInfo::new(701, "Party Hangs Up", "none",
        "Not a SIP standard code: one SIP stack's private way of saying the other party hung up.")
        .standing(Standing::StackSpecific),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_unique() {
        for pair in CODES.windows(2) {
            if let [a, b] = pair {
                assert!(a.code < b.code, "{} before {}", a.code, b.code);
            }
        }
    }

    #[test]
    fn lookup_finds_every_entry_and_nothing_else() {
        for c in CODES {
            assert_eq!(lookup(c.code).map(|i| i.code), Some(c.code));
        }
        assert!(lookup(0).is_none());
        assert!(lookup(499).is_none());
        assert!(lookup(u16::MAX).is_none());
    }

    #[test]
    fn class_of_edges() {
        assert_eq!(Class::of(99), Class::Unknown(0));
        assert_eq!(Class::of(100), Class::Provisional);
        assert_eq!(Class::of(199), Class::Provisional);
        assert_eq!(Class::of(699), Class::GlobalFailure);
        assert_eq!(Class::of(701), Class::Unknown(7));
        assert_eq!(Class::of(999), Class::Unknown(9));
        assert_eq!(Class::of(1000), Class::Unknown(0));
        assert_eq!(Class::of(u16::MAX), Class::Unknown(0));
        assert_eq!(Class::ClientFailure.label(), "4xx client failure");
        assert!(!Class::Provisional.is_final());
        assert!(Class::Unknown(7).is_final());
    }

    #[test]
    fn unknown_codes_fall_back_to_class_base() {
        let d = describe(499);
        assert!(!d.known);
        assert_eq!(d.class, Class::ClientFailure);
        assert_eq!(d.treated_as(), Some(400));
        assert_eq!(d.reason(), "Bad Request");

        // RFC 3261 8.1.3.2: unknown provisional responses count as 183.
        assert_eq!(describe(150).treated_as(), Some(183));
        assert!(!describe(150).is_final());
        assert_eq!(describe(299).treated_as(), Some(200));
        assert_eq!(describe(699).treated_as(), Some(600));

        let d = describe(799);
        assert!(!d.known);
        assert_eq!(d.class, Class::Unknown(7));
        assert_eq!(d.treated_as(), None);
        assert_eq!(d.reason(), "7xx non-standard");

        let d = describe(486);
        assert!(d.known);
        assert_eq!(d.treated_as(), Some(486));
        assert_eq!(d.reason(), "Busy Here");

        // The stack-private 701 is in the table, though its class is not SIP.
        let d = describe(701);
        assert!(d.known);
        assert_eq!(d.class, Class::Unknown(7));
    }

    #[test]
    fn in_class_returns_exactly_that_class() {
        let mut total = 0;
        for class in [
            Class::Provisional,
            Class::Success,
            Class::Redirection,
            Class::ClientFailure,
            Class::ServerFailure,
            Class::GlobalFailure,
            Class::Unknown(7),
        ] {
            let part = in_class(class);
            assert!(!part.is_empty(), "{class:?}");
            assert!(part.iter().all(|c| c.class == class));
            total += part.len();
        }
        assert_eq!(total, CODES.len());
        assert!(in_class(Class::Unknown(0)).is_empty());
        assert!(in_class(Class::Unknown(9)).is_empty());
    }

    #[test]
    fn stored_class_matches_code() {
        for c in CODES {
            assert_eq!(c.class, Class::of(c.code));
            assert_eq!(c.is_final(), c.code >= 200, "{}", c.code);
        }
    }

    #[test]
    fn role_accessor_picks_the_right_column() {
        let busy = lookup(486).unwrap();
        assert_eq!(busy.role(Role::Phone).generates, Tri::Yes);
        assert_eq!(busy.role(Role::Proxy).generates, Tri::NotSaid);
        assert_eq!(busy.role(Role::Proxy).forwards, Tri::Yes);
    }

    #[test]
    fn descriptions_are_present_and_short() {
        for c in CODES {
            assert!(!c.reason.is_empty() && !c.meaning.is_empty(), "{}", c.code);
            assert!(c.meaning.len() < 260, "{} meaning too long", c.code);
            assert!(c.rfc == "none" || c.rfc.starts_with("RFC "), "{}", c.code);
        }
    }
}
