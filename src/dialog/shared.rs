//! Texts the model keeps once and shares: a call's Call-ID (carried by every message of the
//! call, and by the call) and a product name (User-Agent and Server: the same few phones and
//! servers, call after call). Both are usually too long to be held inline, so a copy per
//! message cost an allocation per message. Building a message asks [`Shared::call_id`] or
//! [`Shared::product`], which hand back the copy a recent message with the same text got on
//! the same thread (a small table of recent texts per thread and kind), and make a new one
//! otherwise. Reads as `&str`.

use std::cell::RefCell;
use std::fmt;
use std::hash::BuildHasher;
use std::sync::Arc;

/// A text shared between the messages (and the call) that carry it.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Shared(Arc<str>);

/// A call's Call-ID.
pub type CallId = Shared;

/// Slots of the per-thread table of recent Call-IDs (a power of two). Messages of one call
/// come close together, so a thousand slots keep nearly every call's copy until its next
/// message.
const CALL_ID_SLOTS: usize = 1024;
/// Slots of the per-thread table of product names: a network has a handful.
const PRODUCT_SLOTS: usize = 64;

/// A table of recent texts, each in the slot its hash picks (a newer one replaces it).
type Recent = RefCell<Vec<Option<Shared>>>;

thread_local! {
    static CALL_IDS: Recent = const { RefCell::new(Vec::new()) };
    static PRODUCTS: Recent = const { RefCell::new(Vec::new()) };
}

/// Picks the slot of `s` among `slots` (a power of two); any fixed hash will do.
fn slot_of(s: &str, slots: usize) -> usize {
    let h = foldhash::fast::FixedState::with_seed(0x5eed).hash_one(s.as_bytes());
    // The top bits: the low ones of a multiplicative hash mix less.
    (h >> (64 - slots.trailing_zeros())) as usize
}

/// `s` from `table` when the slot it picks holds the same text; otherwise a new copy, kept
/// in that slot. Empty text needs no copy.
fn shared_in(table: &'static std::thread::LocalKey<Recent>, slots: usize, s: &str) -> Shared {
    if s.is_empty() {
        return Shared::default();
    }
    let at = slot_of(s, slots);
    table.with(|recent| {
        let Ok(mut recent) = recent.try_borrow_mut() else {
            return Shared::from(s);
        };
        if recent.len() != slots {
            recent.resize(slots, None);
        }
        match recent.get_mut(at) {
            Some(Some(known)) if known.as_str() == s => known.clone(),
            Some(slot) => slot.insert(Shared::from(s)).clone(),
            None => Shared::from(s),
        }
    })
}

impl Shared {
    /// `s` as a Call-ID, sharing the copy of a recent message on this thread with the same
    /// Call-ID when its slot still holds it.
    pub fn call_id(s: &str) -> Shared {
        shared_in(&CALL_IDS, CALL_ID_SLOTS, s)
    }

    /// `s` as a product name (User-Agent, Server), shared as [`Shared::call_id`] is.
    pub fn product(s: &str) -> Shared {
        shared_in(&PRODUCTS, PRODUCT_SLOTS, s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `a` and `b` share one copy (tests).
    #[cfg(test)]
    fn same_copy(a: &Shared, b: &Shared) -> bool {
        Arc::ptr_eq(&a.0, &b.0)
    }
}

impl From<&str> for Shared {
    fn from(s: &str) -> Shared {
        Shared(Arc::from(s))
    }
}

impl From<String> for Shared {
    fn from(s: String) -> Shared {
        Shared(Arc::from(s))
    }
}

impl std::ops::Deref for Shared {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Shared {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for Shared {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&*self.0, f)
    }
}

impl PartialEq<str> for Shared {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for Shared {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

impl PartialEq<Shared> for str {
    fn eq(&self, other: &Shared) -> bool {
        self == &*other.0
    }
}

impl PartialEq<Shared> for &str {
    fn eq(&self, other: &Shared) -> bool {
        *self == &*other.0
    }
}

impl PartialEq<String> for Shared {
    fn eq(&self, other: &String) -> bool {
        *self.0 == **other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_text_shares_one_copy_and_reads_the_same() {
        let a = Shared::call_id("a84b4c76e66710@pc33.example.com");
        let b = Shared::call_id("a84b4c76e66710@pc33.example.com");
        assert!(Shared::same_copy(&a, &b));
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
        let at = slot_of(&first, CALL_ID_SLOTS);
        let second = (1..100_000)
            .map(|n| format!("x{n}@h"))
            .find(|s| slot_of(s, CALL_ID_SLOTS) == at)
            .unwrap();
        let a = Shared::call_id(&first);
        let b = Shared::call_id(&second);
        assert_eq!(a, first.as_str());
        assert_eq!(b, second.as_str());
        assert!(!Shared::same_copy(&a, &b));
        // The slot now holds the second: the first gets a fresh copy, equal in text.
        let again = Shared::call_id(&first);
        assert_eq!(again, a);
        assert!(!Shared::same_copy(&a, &again));
        assert!(Shared::same_copy(&again, &Shared::call_id(&first)));
    }

    #[test]
    fn products_share_a_table_of_their_own() {
        let a = Shared::product("PolycomVVX-VVX_450-UA/6.4.3.5018");
        let b = Shared::product("PolycomVVX-VVX_450-UA/6.4.3.5018");
        assert!(Shared::same_copy(&a, &b));
        // The same text as a Call-ID is kept in the other table.
        let c = Shared::call_id("PolycomVVX-VVX_450-UA/6.4.3.5018");
        assert!(!Shared::same_copy(&a, &c));
        assert_eq!(a, c);
        assert_eq!(Shared::product(""), Shared::default());
    }

    #[test]
    fn empty_is_the_default() {
        assert_eq!(Shared::call_id(""), Shared::default());
        assert!(Shared::call_id("").is_empty());
    }
}
