//! sipscope: a SIP trace analyzer.
//!
//! The pipeline, left to right; dependencies point one way only:
//!
//! ```text
//! file(s) -> capture -> net ---------> sip ---------> dialog -> output
//!            frames     datagrams,     messages       calls,     stats, json,
//!            (pcap,     TCP streams    (tolerant,     dialogs,   ladder
//!            pcapng,    (defrag,       anomalies)     transactions
//!            gz, stdin) reassembly)          ^            ^
//!                                            +-- knowledge+  (leaf: codes, classes, meanings)
//! ```
//!
//! [`ingest`] glues capture, net and sip together and keeps the books: every frame ends up
//! carried SIP, not SIP (by protocol), or undecodable (by reason).

pub mod capture;
pub mod cli;
pub mod dialog;
pub mod error;
pub mod ingest;
pub mod knowledge;
pub mod net;
pub mod output;
pub mod sip;
