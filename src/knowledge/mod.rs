//! What SIP response codes, reason phrases, methods and Q.850 causes mean. Pure data and
//! lookups; depends on nothing else in the crate and allocates nothing.
//!
//! Owns:
//! - [`codes`]: every response code named in the seed documents (IANA list, the two RFC 2543
//!   leftovers, one stack-private 7xx), with class, default reason, defining RFC, a plain-words
//!   meaning and what a SIP phone, gateway and proxy do with it (only where the Cisco seed
//!   tables say so; everything else stays [`Tri::NotSaid`]).
//! - [`hints`]: operator and vendor reason phrases that say more than the code ("403 Wrong
//!   Guess" is a wrong password) and the cause behind each.
//! - [`methods`]: the fourteen request methods.
//! - [`q850`]: ISDN cause values as carried in `Reason: Q.850;cause=N`.
//!
//! The tables are checked against the seed texts by the tests in `seed_tests.rs`.

pub mod codes;
pub mod hints;
pub mod methods;
pub mod q850;

#[cfg(test)]
mod seed_tests;

pub use codes::{
    all, describe, in_class, lookup, Class, CodeInfo, Described, RoleFacts, Standing, Tri,
};
pub use hints::{class_hint, hint, hints_for, Hint};
pub use methods::{method_info, method_info_ignore_case, methods, MethodInfo};
pub use q850::{q850_cause, q850_class};

/// The kind of box whose behaviour the Cisco tables describe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// A SIP IP phone (a user agent with a person behind it).
    Phone,
    /// A SIP gateway towards the PSTN or a PBX.
    Gateway,
    /// A SIP proxy server (which can also run as a redirect server or registrar).
    Proxy,
}

impl Role {
    /// All roles, in table order.
    pub const ALL: [Role; 3] = [Role::Phone, Role::Gateway, Role::Proxy];

    /// Short human name.
    pub const fn label(self) -> &'static str {
        match self {
            Role::Phone => "SIP phone",
            Role::Gateway => "SIP gateway",
            Role::Proxy => "SIP proxy",
        }
    }
}
