//! The model's own copy of one SIP message: the fields grouping, matching and explaining need,
//! owned and decoded once (lossy UTF-8; escaping happens at output). Built from a located
//! [`SipMessage`](crate::sip::SipMessage) by [`Msg::from_located`].

use crate::net::{Flow, FrameRef};

use crate::sip::MessageFlags;
/// Text the model keeps from a capture: most values (tags, methods, branches, transports,
/// hosts) are short, and a string of up to 24 bytes is stored inline without a heap
/// allocation (a message used to cost about twenty of them). Reads as `&str`.
pub use compact_str::CompactString as Text;

/// The frames that carried one message: a single frame for nearly every message (a datagram,
/// or a TCP message inside one segment) is kept inline, without a heap allocation.
pub type Frames = smallvec::SmallVec<[FrameRef; 1]>;

/// A message's Via values, top first: one (a message between two user agents, or on the
/// side of a proxy facing the caller) is kept inline, without a heap allocation.
pub type Vias = smallvec::SmallVec<[ViaInfo; 1]>;

/// Request or response, as the start line says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    Request {
        method: Text,
        uri: Text,
    },
    Response {
        code: u16,
        reason: Text,
    },
    /// The start line could not be read; the message is kept and shown anyway.
    Invalid,
}

/// From or To: what grouping and the call list read. Its display name and whole URI are
/// kept out of line ([`PartyName`] in [`ExtraFields`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Party {
    /// User part of the URI (number or name), empty when absent.
    pub user: Text,
    pub tag: Option<Text>,
}

/// The display name and whole URI of From or To.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartyName {
    pub display: Text,
    /// The whole URI (`sip:alice@example.com`).
    pub uri: Text,
}

/// One Via value: what matching and roles read (the `received` and `rport` parameters are
/// read by the parser but not kept: nothing shows them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ViaInfo {
    /// `host[:port]` as written.
    pub sent_by: Text,
    /// `UDP`, `TCP`, `TLS`, `WS`, ...
    pub transport: Text,
    pub branch: Option<Text>,
}

/// One media line of an SDP body, reduced to what troubleshooting needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MediaSummary {
    /// `audio`, `video`, `image`, ...
    pub kind: Text,
    pub port: u16,
    pub proto: Text,
    /// Codec names (`PCMU/8000`, `telephone-event/8000`, or the payload number when unknown).
    pub codecs: Vec<Text>,
    /// `sendrecv` (default), `sendonly`, `recvonly`, `inactive`.
    pub direction: Text,
    /// Connection address in force for this media (media-level c= over session-level).
    pub address: Option<Text>,
}

/// What an SDP body offers or answers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SdpSummary {
    pub address: Option<Text>,
    pub media: Vec<MediaSummary>,
}

/// How much of each message the model reads: call lists skip what only the detailed outputs
/// show, which a large capture would pay for on every message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// What the call list, the view's list and frame selection read: grouping, matching,
    /// roles and the outcome. Left empty: a request's URI (its method is read) and every
    /// field of [`ExtraFields`] (the From and To display names and URIs, the SDP body's
    /// contents, Contact, Route, Max-Forwards, Reason, Warning, Retry-After, Expires,
    /// Content-Type, the anomalies), which only the explanations, the exports and a
    /// message's detail show; so a summary's message has no [`Extra`] box. The user and tag
    /// of From and To are read, and an SDP body's presence ([`Msg::has_sdp`]). A filter on
    /// From or To reads the URIs: see [`Detail::list`].
    Summary,
    /// Every field.
    Full,
    /// Every field and a copy of the message text (`--raw` exports, the terminal view).
    Raw,
}

impl Detail {
    /// What a list of calls filtered by `filter` reads: [`Detail::Summary`], or
    /// [`Detail::Full`] when the filter looks at the From or To URI.
    pub fn list(filter: &super::Filter) -> Detail {
        if filter.reads_party_uris() {
            Detail::Full
        } else {
            Detail::Summary
        }
    }

    /// [`Detail::Raw`] when `keep_raw`, otherwise [`Detail::Full`].
    pub fn full(keep_raw: bool) -> Detail {
        if keep_raw {
            Detail::Raw
        } else {
            Detail::Full
        }
    }
}

/// One SIP message as the model keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Msg {
    /// The frame that completed the message, and every frame that carried part of it.
    pub frame: FrameRef,
    pub frames: Frames,
    pub flow: Flow,
    pub flags: MessageFlags,
    pub start: Start,
    /// Empty when the message has no Call-ID header.
    pub call_id: super::CallId,
    pub from: Party,
    pub to: Party,
    /// CSeq number and method.
    pub cseq: Option<(u32, Text)>,
    /// Via values, top first.
    pub vias: Vias,
    pub record_route: Vec<Text>,
    /// User-Agent and Server, shared with other messages naming the same product.
    pub user_agent: Option<super::Shared>,
    pub server: Option<super::Shared>,
    /// Carries Authorization or Proxy-Authorization.
    pub has_credentials: bool,
    /// Carries WWW-Authenticate or Proxy-Authenticate.
    pub has_challenge: bool,
    /// Carries an SDP body (whether or not its summary was read).
    pub has_sdp: bool,
    /// Size of the message in bytes.
    pub size: usize,
    /// What only the explanations, the exports and a message's detail read (empty in a
    /// [`Detail::Summary`] read), kept out of line: see [`Extra`].
    pub extra: Extra,
}

/// The fields of a [`Msg`] that grouping, matching, roles and the call list never read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtraFields {
    /// From's display name and URI.
    pub from_name: PartyName,
    /// To's display name and URI.
    pub to_name: PartyName,
    /// First Contact URI.
    pub contact: Option<Text>,
    pub route: Vec<Text>,
    pub max_forwards: Option<u32>,
    /// Reason header (e.g. `Q.850;cause=16;text="Normal call clearing"`).
    pub reason_header: Option<Text>,
    pub warning: Option<Text>,
    pub retry_after: Option<Text>,
    pub expires: Option<Text>,
    pub content_type: Option<Text>,
    /// The SDP body's offer or answer; `None` without one, and in a [`Detail::Summary`] read.
    pub sdp: Option<SdpSummary>,
    /// Parser anomalies, as short descriptions.
    pub anomalies: Vec<Text>,
    /// The message text, kept when the caller asks for it (export --raw, the terminal view).
    pub raw: Option<Vec<u8>>,
}

/// Every field empty: what an [`Extra`] without its box reads as.
static NO_EXTRA: ExtraFields = ExtraFields {
    from_name: PartyName {
        display: Text::const_new(""),
        uri: Text::const_new(""),
    },
    to_name: PartyName {
        display: Text::const_new(""),
        uri: Text::const_new(""),
    },
    contact: None,
    route: Vec::new(),
    max_forwards: None,
    reason_header: None,
    warning: None,
    retry_after: None,
    expires: None,
    content_type: None,
    sdp: None,
    anomalies: Vec::new(),
    raw: None,
};

/// A message's [`ExtraFields`], on the heap only when one of them is set. A message moves
/// from the reading thread into its call's list and is read again when the call ends, long
/// after it was written: those fields kept inline made every message about a third larger
/// (more cache lines copied and read back), while the call list, the view's list and frame
/// selection leave them all empty. Reads as [`ExtraFields`] (all empty without a box);
/// [`Extra::make_mut`] gives the box for writing. Without a box and with an empty box it
/// compares equal.
#[derive(Debug, Clone, Default)]
pub struct Extra(Option<Box<ExtraFields>>);

impl Extra {
    /// `fields` out of line, or nothing at all when every one is empty.
    pub fn new(fields: ExtraFields) -> Extra {
        if fields == NO_EXTRA {
            Extra(None)
        } else {
            Extra(Some(Box::new(fields)))
        }
    }

    /// The fields for writing, boxed now if they were not.
    pub fn make_mut(&mut self) -> &mut ExtraFields {
        self.0.get_or_insert_with(Box::default)
    }

    /// Whether the fields are on the heap.
    #[cfg(test)]
    pub(crate) fn is_boxed(&self) -> bool {
        self.0.is_some()
    }
}

impl std::ops::Deref for Extra {
    type Target = ExtraFields;
    fn deref(&self) -> &ExtraFields {
        self.0.as_deref().unwrap_or(&NO_EXTRA)
    }
}

impl PartialEq for Extra {
    fn eq(&self, other: &Extra) -> bool {
        **self == **other
    }
}

impl Eq for Extra {}

impl Msg {
    pub fn is_request(&self) -> bool {
        matches!(self.start, Start::Request { .. })
    }

    /// Method of a request, or the CSeq method of a response.
    pub fn method(&self) -> Option<&str> {
        match &self.start {
            Start::Request { method, .. } => Some(method),
            _ => self.cseq.as_ref().map(|(_, m)| m.as_str()),
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self.start {
            Start::Response { code, .. } => Some(code),
            _ => None,
        }
    }

    /// Branch of the top Via (the transaction key of RFC 3261 section 17).
    pub fn top_branch(&self) -> Option<&str> {
        self.vias.first().and_then(|v| v.branch.as_deref())
    }

    /// A message with every field empty, for tests and for building by hand.
    pub fn blank(flow: Flow, frame: FrameRef, start: Start) -> Msg {
        Msg {
            frame,
            frames: smallvec::smallvec![frame],
            flow,
            flags: MessageFlags::default(),
            start,
            call_id: super::CallId::default(),
            from: Party::default(),
            to: Party::default(),
            cseq: None,
            vias: Vias::new(),
            record_route: Vec::new(),
            user_agent: None,
            server: None,
            has_credentials: false,
            has_challenge: false,
            has_sdp: false,
            size: 0,
            extra: Extra::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_fields_are_boxed_only_when_one_is_set() {
        let none = Extra::new(ExtraFields::default());
        assert!(!none.is_boxed());
        assert!(none.contact.is_none() && none.anomalies.is_empty() && none.raw.is_none());
        let some = Extra::new(ExtraFields {
            warning: Some(Text::from("399 gw \"busy\"")),
            ..ExtraFields::default()
        });
        assert!(some.is_boxed());
        assert_eq!(some.warning.as_deref(), Some("399 gw \"busy\""));
        assert_ne!(some, none);
        // An emptied box reads and compares as no box.
        let mut emptied = some.clone();
        emptied.make_mut().warning = None;
        assert!(emptied.is_boxed());
        assert_eq!(emptied, none);
        let mut set = Extra::default();
        set.make_mut().max_forwards = Some(70);
        assert_eq!(set.max_forwards, Some(70));
        assert_ne!(set, none);
    }
}
