//! Calls, dialogs, transactions, retransmissions, hops and roles, built from messages.
//!
//! Pure functions over owned data ([`Msg`]): no I/O, no terminal, no serde. May use
//! `crate::net` types, `crate::sip` (only to build a [`Msg`]) and `crate::knowledge`.
//!
//! The layers, as a VoIP engineer reads a trace (sngrep and Wireshark stop at the first):
//!
//! - [`Call`]: every message with one Call-ID, the unit users list and pick.
//! - [`Dialog`]: Call-ID + From tag + To tag. A forked INVITE creates several early dialogs
//!   under one call; [`Dialog::confirmed_by`] tells which one a 2xx confirmed. Requests outside
//!   any dialog (REGISTER, OPTIONS, ...) are transaction-only ([`Call::transaction_only`]).
//! - [`Transaction`]: a request and its responses across all legs (RFC 3261 section 17 per
//!   leg, see [`Leg`]; the RFC 2543 fallback without the `z9hG4bK` cookie). CANCEL and the ACK
//!   of a failure belong to their INVITE; the ACK of a 2xx is a transaction of its own.
//! - [`Step`]: one request or response, seen on one or several legs ([`Hop`]s: through a
//!   proxy, on two interfaces, in two merged files). Repeats are [`Repeat::Retransmission`]
//!   or [`Repeat::Duplicate`], linked to the first sighting, never new steps.
//! - [`Host`]: an address (address:port when a call has several endpoints on one address) with
//!   the [`Role`] it plays in this call, inferred from behaviour, hinted by User-Agent/Server,
//!   overridden by [`RoleOverride`]. Every hop says whether its sender generated or forwarded
//!   the message ([`HopOrigin`]) and what sender and receiver act as ([`Acting`]).
//!
//! Entry points: [`analyze_call`] (one Call-ID's messages), [`analyze_all`] (a whole file;
//! streaming commands group with `crate::analysis::ExactGrouper`), [`Filter`] (choosing
//! calls).
//! All references between parts are indices into the owning [`Call`]'s vectors.

mod analyze;
mod annotate;
mod filter;
pub mod from_sip;
mod model;
pub mod msg;
mod roles;
mod shared;
mod summary;
mod tracker;

#[cfg(test)]
pub(crate) mod testkit;
#[cfg(test)]
mod tests;

pub use analyze::analyze_call;
pub use annotate::{annotate, knowledge_role, Annotation};
pub use filter::{Filter, StatusFilter, StatusFilterError};
pub use model::*;
pub use msg::{
    Detail, Extra, ExtraFields, Frames, MediaSummary, Msg, Party, PartyName, SdpSummary, Start,
    Text, ViaInfo, Vias,
};
pub use roles::{
    b2bua_partner, correlate_b2bua, each_invite_sighting, hint_from_product, invite_sightings,
    number_tail, InviteSighting, RoleOverride, RoleOverrideError, B2BUA_SCAN, B2BUA_WINDOW_NS,
};
pub use shared::{CallId, Shared};
pub use tracker::{analyze_all, Grouper};
