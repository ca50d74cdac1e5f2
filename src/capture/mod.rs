//! Capture files in, frames out.
//!
//! Owns: opening inputs (regular files through a memory map, gzip detected by magic bytes,
//! standard input for `-`), walking pcap and pcapng records, per-interface link types and
//! timestamp resolutions, merging several inputs in timestamp order, and writing small pcap
//! files (used by tests and by `export --format pcap`).
//!
//! Defects of a capture are values ([`CaptureIssue`]), never panics; only a file that cannot be
//! read at all is a [`CaptureError`]. May use: pcap-parser, flate2, memmap2. Knows nothing of IP
//! or SIP.

pub mod merge;
pub mod reader;
pub mod source;
pub mod writer;

pub use merge::Merged;
pub use reader::FrameIter;
pub use source::{open, Input};

/// Link-layer type numbers (LINKTYPE_*, as in pcap and pcapng headers) that the rest of the
/// pipeline decodes.
pub mod linktype {
    pub const NULL: u32 = 0;
    pub const ETHERNET: u32 = 1;
    pub const RAW_12: u32 = 12;
    pub const RAW: u32 = 101;
    pub const LOOP: u32 = 108;
    pub const LINUX_SLL: u32 = 113;
    pub const IPV4: u32 = 228;
    pub const IPV6: u32 = 229;
    pub const LINUX_SLL2: u32 = 276;
}

/// One captured packet, borrowed from its input's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    /// Index of the input file in the command line (0-based).
    pub file: u16,
    /// Frame number within its file, 1-based, counting packet records only (as Wireshark does).
    pub number: u64,
    /// Capture time in nanoseconds since the Unix epoch (interface offset applied).
    pub ts_ns: i64,
    /// Link type of the interface that captured it (see [`linktype`]).
    pub linktype: u32,
    /// Captured bytes (possibly cut by the snap length).
    pub data: &'a [u8],
    /// Length of the packet on the wire; larger than `data.len()` when snaplen cut it.
    pub orig_len: u32,
    /// Byte offset of the record in the (decompressed) input, for fetching it again later.
    pub offset: u64,
}

impl Frame<'_> {
    /// True when the capture kept fewer bytes than the packet had on the wire.
    pub fn is_cut(&self) -> bool {
        (self.orig_len as usize) > self.data.len()
    }
}

/// A defect found while walking a capture. The walk goes on where it can.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureIssue {
    pub file: u16,
    /// Frame number of the record concerned, or of the last good frame plus one.
    pub frame: u64,
    /// Byte offset in the (decompressed) input where the problem was seen.
    pub offset: u64,
    pub kind: IssueKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IssueKind {
    /// The file ends inside a record: the frames before it were read.
    Truncated,
    /// A record or block whose header makes no sense; reading stopped or skipped it.
    BadRecord(String),
    /// A packet block names an interface that no Interface Description Block declared.
    UnknownInterface(u32),
}

impl std::fmt::Display for CaptureIssue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.kind {
            IssueKind::Truncated => write!(
                f,
                "file is truncated at byte offset {} (after frame {}); frames before it were read",
                self.offset,
                self.frame.saturating_sub(1)
            ),
            IssueKind::BadRecord(why) => write!(
                f,
                "bad record at byte offset {} (frame {}): {}",
                self.offset, self.frame, why
            ),
            IssueKind::UnknownInterface(id) => write!(
                f,
                "frame {} at byte offset {} names undeclared interface {}",
                self.frame, self.offset, id
            ),
        }
    }
}

/// A capture that cannot be read at all.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("{path}: cannot read: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a pcap or pcapng capture (magic bytes {magic})")]
    NotACapture { path: String, magic: String },
    #[error("{path}: gzip stream is corrupt at byte offset {offset}: {why}")]
    BadGzip {
        path: String,
        offset: u64,
        why: String,
    },
    #[error("{path}: empty file")]
    Empty { path: String },
}
