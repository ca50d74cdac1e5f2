//! The Call-ID as the model keeps it: one shared copy of the text for all the messages of a
//! call. A Call-ID is usually too long to be held inline, so a copy per message cost an
//! allocation per message, and another when the call took one for itself. Building a message
//! asks [`CallId::shared`], which hands back the copy a recent message with the same Call-ID
//! got on the same thread (a small table of recent Call-IDs per thread), and makes a new one
//! otherwise. Reads as `&str`.

use std::cell::RefCell;
use std::fmt;
use std::hash::BuildHasher;
use std::sync::Arc;

/// A Call-ID's text, shared between the messages (and the call) that carry it.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CallId(Arc<str>);

/// Slots of the per-thread table of recent Call-IDs (a power of two). Messages of one call
/// come close together, so a thousand slots keep nearly every call's copy until its
/// next message.
const SLOTS: usize = 1024;

thread_local! {
    /// Recent Call-IDs, each in the slot its hash picks (a newer one replaces it).
    static RECENT: RefCell<Vec<Option<CallId>>> = const { RefCell::new(Vec::new()) };
}

/// Picks a Call-ID's slot; any fixed hash will do.
fn slot_of(s: &str) -> usize {
    let h = foldhash::fast::FixedState::with_seed(0x5eed).hash_one(s.as_bytes());
    // The top bits: the low ones of a multiplicative hash mix less.
    (h >> (64 - SLOTS.trailing_zeros())) as usize
}

impl CallId {
    /// `s` as a Call-ID, sharing the copy of the last message on this thread whose Call-ID
    /// took the same slot, when it is the same text. Empty text needs no copy.
    pub fn shared(s: &str) -> CallId {
        if s.is_empty() {
            return CallId::default();
        }
        let at = slot_of(s);
        RECENT.with(|recent| {
            let Ok(mut recent) = recent.try_borrow_mut() else {
                return CallId::from(s);
            };
            if recent.len() != SLOTS {
                recent.resize(SLOTS, None);
            }
            match recent.get_mut(at) {
                Some(Some(known)) if known.as_str() == s => known.clone(),
                Some(slot) => slot.insert(CallId::from(s)).clone(),
                None => CallId::from(s),
            }
        })
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `a` and `b` share one copy (tests).
    #[cfg(test)]
    fn same_copy(a: &CallId, b: &CallId) -> bool {
        Arc::ptr_eq(&a.0, &b.0)
    }
}

impl From<&str> for CallId {
    fn from(s: &str) -> CallId {
        CallId(Arc::from(s))
    }
}

impl From<String> for CallId {
    fn from(s: String) -> CallId {
        CallId(Arc::from(s))
    }
}

impl std::ops::Deref for CallId {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for CallId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for CallId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for CallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for CallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&*self.0, f)
    }
}

impl PartialEq<str> for CallId {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for CallId {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

impl PartialEq<CallId> for str {
    fn eq(&self, other: &CallId) -> bool {
        self == &*other.0
    }
}

impl PartialEq<CallId> for &str {
    fn eq(&self, other: &CallId) -> bool {
        *self == &*other.0
    }
}

impl PartialEq<String> for CallId {
    fn eq(&self, other: &String) -> bool {
        *self.0 == **other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_text_shares_one_copy_and_reads_the_same() {
        let a = CallId::shared("a84b4c76e66710@pc33.example.com");
        let b = CallId::shared("a84b4c76e66710@pc33.example.com");
        assert!(CallId::same_copy(&a, &b));
        assert_eq!(a, "a84b4c76e66710@pc33.example.com");
        assert_eq!(
            format!("{a:?}"),
            format!("{:?}", "a84b4c76e66710@pc33.example.com")
        );
        assert_eq!(a.to_string(), "a84b4c76e66710@pc33.example.com");
    }

    #[test]
    fn other_text_in_the_same_slot_gets_its_own_copy() {
        // Find two Call-IDs that pick one slot: the second replaces the first there.
        let first = "x0@h".to_string();
        let at = slot_of(&first);
        let second = (1..100_000)
            .map(|n| format!("x{n}@h"))
            .find(|s| slot_of(s) == at)
            .unwrap();
        let a = CallId::shared(&first);
        let b = CallId::shared(&second);
        assert_eq!(a, first.as_str());
        assert_eq!(b, second.as_str());
        assert!(!CallId::same_copy(&a, &b));
        // The slot now holds the second: the first gets a fresh copy, equal in text.
        let again = CallId::shared(&first);
        assert_eq!(again, a);
        assert!(!CallId::same_copy(&a, &again));
        assert!(CallId::same_copy(&again, &CallId::shared(&first)));
    }

    #[test]
    fn empty_is_the_default() {
        assert_eq!(CallId::shared(""), CallId::default());
        assert!(CallId::shared("").is_empty());
    }
}
