//! Rendering results for people and programs: stats text and JSON.

pub mod calls;
