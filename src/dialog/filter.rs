//! Choosing calls: the filter shared by the list, export, ladder and diagnosis commands.

use super::model::Call;

/// A status condition: one exact code, or a class (`4xx`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusFilter {
    Code(u16),
    /// The hundreds digit (1 to 6).
    Class(u8),
}

impl StatusFilter {
    pub fn matches(self, code: u16) -> bool {
        match self {
            StatusFilter::Code(c) => c == code,
            StatusFilter::Class(k) => code / 100 == u16::from(k),
        }
    }
}

/// Why a status filter was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected a status code (486) or class (4xx), got {0:?}")]
pub struct StatusFilterError(pub String);

impl std::str::FromStr for StatusFilter {
    type Err = StatusFilterError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim().to_ascii_lowercase();
        let err = || StatusFilterError(s.to_string());
        let b = t.as_bytes();
        match b {
            [d, b'x', b'x'] if (b'1'..=b'6').contains(d) => {
                Ok(StatusFilter::Class(d.saturating_sub(b'0')))
            }
            [_, _, _] => match t.parse::<u16>() {
                Ok(c) if (100..=699).contains(&c) => Ok(StatusFilter::Code(c)),
                _ => Err(err()),
            },
            _ => Err(err()),
        }
    }
}

/// Which calls to keep. Every condition given must hold; an empty filter keeps everything.
/// Text conditions are case-insensitive substrings (so a number's tail finds it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Substring of the Call-ID.
    pub call_id: Option<String>,
    /// Substring of the From user part or URI (of the call's first request).
    pub from: Option<String>,
    /// Substring of the To user part or URI.
    pub to: Option<String>,
    /// Some request in the call has this method.
    pub method: Option<String>,
    /// The call's final code (see [`Summary::final_code`](super::Summary)) matches.
    pub status: Option<StatusFilter>,
    /// Only calls whose outcome is a failure ([`Summary::failed`](super::Summary)).
    pub failed: bool,
    /// The call has messages at or after this time (ns since the epoch).
    pub since: Option<i64>,
    /// The call has messages at or before this time.
    pub until: Option<i64>,
}

fn contains_ci(hay: &str, needle: &str) -> bool {
    needle.is_empty() || hay.to_lowercase().contains(&needle.to_lowercase())
}

impl Filter {
    /// True when no condition is set.
    pub fn is_empty(&self) -> bool {
        *self == Filter::default()
    }

    /// Whether [`Filter::matches`] reads the From or To URI of a message (which a
    /// [`Detail::Summary`](super::Detail::Summary) read leaves empty).
    pub fn reads_party_uris(&self) -> bool {
        self.from.is_some() || self.to.is_some()
    }

    pub fn matches(&self, call: &Call) -> bool {
        let s = &call.summary;
        if let Some(id) = &self.call_id {
            if !contains_ci(&call.call_id, id) {
                return false;
            }
        }
        let first_req = call.messages.iter().find(|m| m.is_request());
        if let Some(f) = &self.from {
            let uri = first_req
                .map(|m| m.extra.from_name.uri.as_str())
                .unwrap_or("");
            if !contains_ci(&s.from_user, f) && !contains_ci(uri, f) {
                return false;
            }
        }
        if let Some(t) = &self.to {
            let uri = first_req
                .map(|m| m.extra.to_name.uri.as_str())
                .unwrap_or("");
            if !contains_ci(&s.to_user, t) && !contains_ci(uri, t) {
                return false;
            }
        }
        if let Some(method) = &self.method {
            let any = call
                .steps
                .iter()
                .any(|st| st.is_request() && st.method().eq_ignore_ascii_case(method));
            if !any {
                return false;
            }
        }
        if let Some(st) = self.status {
            if !s.final_code.is_some_and(|c| st.matches(c)) {
                return false;
            }
        }
        if self.failed && !s.failed {
            return false;
        }
        if self.since.is_some_and(|t| s.end_ns < t) {
            return false;
        }
        if self.until.is_some_and(|t| s.start_ns > t) {
            return false;
        }
        true
    }
}
