//! Rendering results for people and programs. Only this module (and the terminal view) knows
//! serde and terminal escaping; the model modules stay free of presentation.

pub mod calls;
pub mod codes;
pub mod diagnose;
pub mod escape;
pub mod export;
pub mod json;
pub mod ladder;
pub mod media;
pub mod spool;
pub mod stats;
pub mod time;

pub use escape::{escape, escape_str};
