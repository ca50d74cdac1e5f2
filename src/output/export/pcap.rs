//! `export --format pcap`: copies the frames that carried the chosen calls into a new capture,
//! the small attachment for a ticket.
//!
//! Every frame listed in a message's `frames` (each IP fragment and TCP segment that carried
//! a part of it, and the one that completed it) is kept, in the inputs' own order (merged by
//! time across several inputs, as the analysis read them), with its original timestamp,
//! captured bytes and wire length. One link type among the kept frames gives a classic pcap
//! (nanosecond timestamps); several give a pcapng with one interface per link type, since a
//! classic pcap has a single link type for the whole file.

use std::collections::{HashMap, HashSet};
use std::io::{self, Write};

use crate::capture::writer::{PcapNgWriter, PcapWriter};
use crate::capture::{Input, Merged};
use crate::dialog::Call;

/// Largest snap length declared in a classic pcap header (what tcpdump uses by default).
const DEFAULT_SNAPLEN: u32 = 262_144;

/// The frames to keep, by (input index, frame number).
#[derive(Debug, Default, Clone)]
pub struct FrameSet {
    wanted: HashSet<(u16, u64)>,
}

impl FrameSet {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds every frame that carried a part of any message of `call`.
    pub fn add_call(&mut self, call: &Call) {
        for m in &call.messages {
            self.wanted.insert((m.frame.file, m.frame.number));
            for f in &m.frames {
                self.wanted.insert((f.file, f.number));
            }
        }
    }

    pub fn contains(&self, file: u16, number: u64) -> bool {
        self.wanted.contains(&(file, number))
    }

    pub fn len(&self) -> usize {
        self.wanted.len()
    }

    pub fn is_empty(&self) -> bool {
        self.wanted.is_empty()
    }
}

/// What was written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PcapReport {
    pub written: u64,
    /// Frames that could not be written (a timestamp the format cannot hold), as
    /// (input index, frame number, why).
    pub skipped: Vec<(u16, u64, String)>,
    /// Link types of the kept frames, in order of first appearance.
    pub linktypes: Vec<u32>,
    /// True when the output is pcapng (several link types).
    pub pcapng: bool,
}

enum Sink<'w> {
    Pcap(PcapWriter<&'w mut dyn Write>),
    Ng {
        w: PcapNgWriter<&'w mut dyn Write>,
        iface: HashMap<u32, u32>,
    },
}

/// Writes the wanted frames of `inputs` to `out`. Capture defects were reported during the
/// analysis; here they only end the walk of that input, as they did then.
pub fn write_frames(
    inputs: &[Input],
    wanted: &FrameSet,
    out: &mut dyn Write,
) -> io::Result<PcapReport> {
    let walk = || Merged::new(inputs.iter().map(|i| i.frames()).collect());
    // First pass: which link types, and the largest frame, decide the file format and header.
    let mut report = PcapReport::default();
    let mut snaplen = DEFAULT_SNAPLEN;
    for f in walk().flatten() {
        if wanted.contains(f.file, f.number) {
            if !report.linktypes.contains(&f.linktype) {
                report.linktypes.push(f.linktype);
            }
            snaplen = snaplen.max(u32::try_from(f.data.len()).unwrap_or(u32::MAX));
        }
    }
    report.pcapng = report.linktypes.len() > 1;
    let mut sink = if report.pcapng {
        let mut w = PcapNgWriter::new(out)?;
        let mut iface = HashMap::new();
        for lt in &report.linktypes {
            // Nanosecond resolution keeps every timestamp exactly as read.
            let id = w.add_interface_with_snaplen(*lt, Some(9), None, 0)?;
            iface.insert(*lt, id);
        }
        Sink::Ng { w, iface }
    } else {
        // No frame at all still gives a valid (empty) Ethernet capture.
        let lt = report.linktypes.first().copied().unwrap_or(1);
        Sink::Pcap(PcapWriter::new(out, lt, true, false, snaplen)?)
    };
    for f in walk().flatten() {
        if !wanted.contains(f.file, f.number) {
            continue;
        }
        let result = match &mut sink {
            Sink::Pcap(w) => w.write_packet(f.ts_ns, f.data, f.orig_len),
            Sink::Ng { w, iface } => {
                let id = iface.get(&f.linktype).copied().unwrap_or(0);
                w.write_epb(id, f.ts_ns, f.data, f.orig_len)
            }
        };
        match result {
            Ok(()) => report.written += 1,
            // The writers refuse a timestamp before 1970 or beyond what the format holds
            // before writing a byte, so the file stays well formed without that frame.
            Err(e) if e.kind() == io::ErrorKind::InvalidInput => {
                report.skipped.push((f.file, f.number, e.to_string()))
            }
            Err(e) => return Err(e),
        }
    }
    match sink {
        Sink::Pcap(w) => w.into_inner().flush()?,
        Sink::Ng { w, .. } => w.into_inner().flush()?,
    }
    Ok(report)
}
