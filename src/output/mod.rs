//! Rendering results for people and programs. Only this module (and the terminal view) knows
//! serde and terminal escaping; the model modules stay free of presentation.

pub mod codes;
pub mod escape;
pub mod time;
pub mod stats;

pub use escape::{escape, escape_str};
