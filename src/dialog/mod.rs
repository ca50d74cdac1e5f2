//! Calls, dialogs, transactions, retransmissions, hops and roles, built from messages.
//!
//! Pure functions over owned data ([`Msg`]): no I/O, no terminal, no serde. May use
//! `crate::net` types, `crate::sip` (only to build a [`Msg`]) and `crate::knowledge`.

pub mod from_sip;
pub mod msg;

pub use msg::{MediaSummary, Msg, Party, SdpSummary, Start, ViaInfo};
