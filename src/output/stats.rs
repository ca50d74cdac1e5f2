//! `sipscope stats`: what a capture holds, counted in one streaming pass.
//!
//! Figures: frames and where they went (the ingest books), SIP messages by transport, requests
//! by method, responses by code and class, distinct Call-IDs, retransmissions (a UDP message
//! repeated byte for byte on the same flow within 64 s, the longest a SIP transaction retries),
//! messages with parser anomalies, and capture defects. Memory stays bounded by the Call-ID
//! count (a 64-bit hash each) and the retransmission window.

use std::cell::Cell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{BuildHasher, Hash};
use std::io::{self, Write};

use compact_str::CompactString;
use serde::Serialize;

use super::escape;
use crate::ingest::Books;
use crate::net::Transport;
use crate::sip::{self, Located, MessageFlags, Method, StartLine};

/// Window in which an identical datagram counts as a retransmission (64 * T1).
const RETRANSMIT_WINDOW_NS: i64 = 64 * 500_000_000;

/// Slots of the Call-ID cache (a power of two; 128 KiB, within a core's L2 cache).
const RECENT_IDS: usize = 1 << 14;

/// Hashing of Call-IDs and whole messages: foldhash with a fixed seed reads 16 bytes per step
/// (a byte-at-a-time FNV took a third of the `stats` run time) and gives the same figures on
/// every run.
type FastBuild = foldhash::fast::FixedState;

fn hash_of(parts: impl Hash) -> u64 {
    FastBuild::with_seed(0x5195_c0be).hash_one(parts)
}

/// Transports as named in the figures, in the order of [`Facts::transport`].
const TRANSPORTS: [&str; 4] = ["udp", "tcp", "sctp", "websocket"];

/// The methods sipscope knows by name, in the order of [`Start::Known`].
const METHODS: [Method<'static>; 14] = [
    Method::Invite,
    Method::Ack,
    Method::Bye,
    Method::Cancel,
    Method::Register,
    Method::Options,
    Method::Prack,
    Method::Subscribe,
    Method::Notify,
    Method::Publish,
    Method::Info,
    Method::Refer,
    Method::Message,
    Method::Update,
];

/// Status codes below this are counted in an array, the others in [`Stats::responses`] itself.
const CODES: usize = 700;

/// Running totals over SIP messages. The maps are complete once [`Stats::finish`] has run:
/// the commonest figures are counted in small arrays meanwhile (a map look-up per message,
/// comparing strings, cost more than the rest of the counting).
#[derive(Default)]
pub struct Stats {
    pub messages: u64,
    pub by_transport: BTreeMap<&'static str, u64>,
    pub requests: BTreeMap<String, u64>,
    pub responses: BTreeMap<u16, u64>,
    pub invalid_start: u64,
    pub with_anomalies: u64,
    pub retransmissions: u64,
    pub flags: BTreeMap<&'static str, u64>,
    call_ids: HashSet<u64, FastBuild>,
    /// Call-ID hashes known to be in `call_ids`, direct-mapped by their low bits. Messages of
    /// one call come close together, so most look-ups end here, in a table that stays in the
    /// CPU cache, instead of in the set, which grows with the capture (hundreds of thousands of
    /// entries) and costs a cache miss per probe: on a 1 GB capture those misses made later
    /// messages slower than early ones. Empty until the first Call-ID.
    recent_ids: Vec<u64>,
    recent: HashMap<u64, i64, FastBuild>,
    last_prune_ns: i64,
    /// Messages by [`TRANSPORTS`] index, requests by [`METHODS`] index and responses by code
    /// (below [`CODES`]; empty until the first response), until [`Stats::finish`].
    transport_counts: [u64; 4],
    method_counts: [u64; 14],
    code_counts: Vec<u64>,
}

/// What `stats` counts of one message, read from it by [`Facts::of`]. That reading (the
/// start line, defects, hashes) is most of the work, and it needs nothing but the message:
/// it may run on the decoding thread when that one has time (see
/// [`crate::ingest::run_parallel`]), and the consumer only counts.
#[derive(Debug, Clone)]
pub struct Facts {
    /// Index into [`TRANSPORTS`].
    transport: u8,
    flags: MessageFlags,
    start: Start,
    anomalous: bool,
    /// Hash of the Call-ID, if there is one.
    call_id: Option<u64>,
    /// Off TCP: hash of the flow and the bytes, and the time (for retransmissions).
    datagram: Option<(u64, i64)>,
}

/// A start line as counted.
#[derive(Debug, Clone)]
enum Start {
    /// A request with a method of [`METHODS`] (its index).
    Known(u8),
    /// A request with another method.
    Other(CompactString),
    Response(u16),
    Invalid,
}

impl Start {
    fn of(start: &StartLine<'_>) -> Start {
        match start {
            StartLine::Request { method, .. } => match METHODS.iter().position(|m| m == method) {
                Some(i) => Start::Known(i as u8),
                // Method names are short: kept inline, no allocation.
                None => Start::Other(CompactString::new(method.as_str())),
            },
            StartLine::Response { code, .. } => Start::Response(*code),
            StartLine::Invalid { .. } => Start::Invalid,
        }
    }
}

thread_local! {
    /// The parser's buffers, reused from one message to the next on this thread.
    static SCRATCH: Cell<sip::Scratch> = Cell::new(sip::Scratch::default());
}

impl Facts {
    /// Reads a message. Most messages have no defect: those are read in one walk that stores
    /// nothing ([`sip::scan::clean`]); the others are parsed in full.
    pub fn of(m: &Located<'_>) -> Facts {
        let transport = if m.flags.websocket {
            3
        } else {
            match m.flow.transport {
                Transport::Udp => 0,
                Transport::Tcp => 1,
                Transport::Sctp => 2,
            }
        };
        let (start, anomalous, call_id) = match sip::scan::clean(m.data) {
            Some(c) => (Start::of(&c.start), false, c.call_id.map(hash_of)),
            None => {
                let p = sip::parse_with(m.data, SCRATCH.with(Cell::take));
                let facts = (
                    Start::of(&p.start),
                    !p.anomalies().is_empty(),
                    p.call_id().map(hash_of),
                );
                SCRATCH.with(|s| s.set(p.into_scratch()));
                facts
            }
        };
        let datagram = (m.flow.transport != Transport::Tcp)
            .then(|| (hash_of((&m.flow, m.data)), m.frame.ts_ns));
        Facts {
            transport,
            flags: m.flags,
            start,
            anomalous,
            call_id,
            datagram,
        }
    }
}

impl Stats {
    /// Reads and counts one message (see [`Stats::finish`]).
    pub fn add(&mut self, m: &Located<'_>) {
        self.count(Facts::of(m));
    }

    /// Counts one message read by [`Facts::of`].
    pub fn count(&mut self, f: Facts) {
        self.messages += 1;
        if let Some(n) = self.transport_counts.get_mut(usize::from(f.transport)) {
            *n += 1;
        }
        match f.start {
            Start::Known(i) => {
                if let Some(n) = self.method_counts.get_mut(usize::from(i)) {
                    *n += 1;
                }
            }
            Start::Other(name) => {
                // Look up before inserting: a new String per request cost an allocation each.
                match self.requests.get_mut(name.as_str()) {
                    Some(n) => *n += 1,
                    None => {
                        self.requests.insert(name.into_string(), 1);
                    }
                }
            }
            Start::Response(code) => {
                if self.code_counts.is_empty() {
                    self.code_counts = vec![0; CODES];
                }
                match self.code_counts.get_mut(usize::from(code)) {
                    Some(n) => *n += 1,
                    None => *self.responses.entry(code).or_default() += 1,
                }
            }
            Start::Invalid => self.invalid_start += 1,
        }
        if f.anomalous {
            self.with_anomalies += 1;
        }
        if let Some(h) = f.call_id {
            self.note_call_id(h);
        }
        let fl = &f.flags;
        let any = fl.cut
            | fl.bounced
            | fl.reassembled
            | fl.overlap_conflict
            | fl.no_content_length
            | fl.short_body
            | fl.after_gap;
        for (on, name) in [
            (f.flags.cut, "cut by snaplen"),
            (f.flags.bounced, "bounced (in ICMP error)"),
            (f.flags.reassembled, "reassembled from IP fragments"),
            (f.flags.overlap_conflict, "overlapping data disagreed"),
            (f.flags.no_content_length, "no Content-Length on a stream"),
            (f.flags.short_body, "body shorter than Content-Length"),
            (f.flags.after_gap, "after lost TCP bytes"),
        ] {
            if any && on {
                *self.flags.entry(name).or_default() += 1;
            }
        }
        if let Some((key, now)) = f.datagram {
            match self.recent.insert(key, now) {
                Some(t) if now.saturating_sub(t) <= RETRANSMIT_WINDOW_NS => {
                    self.retransmissions += 1
                }
                _ => {}
            }
            if now.saturating_sub(self.last_prune_ns) > RETRANSMIT_WINDOW_NS {
                self.recent
                    .retain(|_, t| now.saturating_sub(*t) <= RETRANSMIT_WINDOW_NS);
                self.last_prune_ns = now;
            }
        }
    }

    /// Records one Call-ID hash, through the small cache in front of the set.
    fn note_call_id(&mut self, h: u64) {
        if self.recent_ids.is_empty() {
            self.recent_ids = vec![0; RECENT_IDS];
        }
        // A zero slot is empty, so the hash zero always goes to the set (still exact).
        let slot = (h as usize) & (RECENT_IDS - 1);
        if h != 0 && self.recent_ids.get(slot) == Some(&h) {
            return;
        }
        self.call_ids.insert(h);
        if let Some(s) = self.recent_ids.get_mut(slot) {
            *s = h;
        }
    }

    /// Moves the array counts into the maps (idempotent). Call it once every message is counted.
    pub fn finish(&mut self) {
        for (name, n) in TRANSPORTS.iter().zip(&mut self.transport_counts) {
            if *n > 0 {
                *self.by_transport.entry(name).or_default() += std::mem::take(n);
            }
        }
        for (m, n) in METHODS.iter().zip(&mut self.method_counts) {
            if *n > 0 {
                *self.requests.entry(m.as_str().to_string()).or_default() += std::mem::take(n);
            }
        }
        for (code, n) in (0u16..).zip(&mut self.code_counts) {
            if *n > 0 {
                *self.responses.entry(code).or_default() += std::mem::take(n);
            }
        }
    }

    /// Whether every array count is in the maps (see [`Stats::finish`]).
    fn finished(&self) -> bool {
        self.transport_counts.iter().all(|&n| n == 0)
            && self.method_counts.iter().all(|&n| n == 0)
            && self.code_counts.iter().all(|&n| n == 0)
    }

    pub fn call_id_count(&self) -> usize {
        self.call_ids.len()
    }

    /// Responses by class digit (1..=6, other digits as they come).
    pub fn by_class(&self) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        for (code, n) in &self.responses {
            *out.entry(format!("{}xx", code / 100)).or_default() += n;
        }
        out
    }
}

#[derive(Serialize)]
struct JsonInput<'a> {
    name: &'a str,
    frames: u64,
    first_ts_ns: Option<i64>,
    last_ts_ns: Option<i64>,
}

#[derive(Serialize)]
struct JsonStats<'a> {
    inputs: Vec<JsonInput<'a>>,
    frames: u64,
    sip_frames: u64,
    sip_messages: u64,
    transports: &'a BTreeMap<&'static str, u64>,
    requests: &'a BTreeMap<String, u64>,
    responses: BTreeMap<String, u64>,
    classes: BTreeMap<String, u64>,
    invalid_start_lines: u64,
    call_ids: usize,
    retransmissions: u64,
    messages_with_anomalies: u64,
    message_flags: &'a BTreeMap<&'static str, u64>,
    not_sip: &'a BTreeMap<&'static str, u64>,
    undecoded: &'a BTreeMap<String, u64>,
    capture_issues: Vec<String>,
}

/// Writes the figures as one JSON object (after [`Stats::finish`]).
pub fn write_json(out: &mut dyn Write, books: &Books, s: &Stats) -> io::Result<()> {
    debug_assert!(s.finished(), "Stats::finish not called");
    let j = JsonStats {
        inputs: books
            .inputs
            .iter()
            .map(|i| JsonInput {
                name: &i.name,
                frames: i.frames,
                first_ts_ns: i.first_ts_ns,
                last_ts_ns: i.last_ts_ns,
            })
            .collect(),
        frames: books.frames,
        sip_frames: books.sip_frames,
        sip_messages: s.messages,
        transports: &s.by_transport,
        requests: &s.requests,
        responses: s
            .responses
            .iter()
            .map(|(c, n)| (c.to_string(), *n))
            .collect(),
        classes: s.by_class(),
        invalid_start_lines: s.invalid_start,
        call_ids: s.call_id_count(),
        retransmissions: s.retransmissions,
        messages_with_anomalies: s.with_anomalies,
        message_flags: &s.flags,
        not_sip: &books.not_sip,
        undecoded: &books.undecoded,
        capture_issues: books
            .issues
            .iter()
            .map(|i| {
                let name = books.inputs.get(i.file as usize).map_or("?", |b| &b.name);
                format!("{name}: {i}")
            })
            .collect(),
    };
    escape::write_json(out, &j)
}

/// Writes the figures for people (after [`Stats::finish`]).
pub fn write_text(out: &mut dyn Write, books: &Books, s: &Stats) -> io::Result<()> {
    debug_assert!(s.finished(), "Stats::finish not called");
    for i in &books.inputs {
        writeln!(
            out,
            "input      {}  ({} frames)",
            escape::escape_str(&i.name),
            i.frames
        )?;
    }
    writeln!(out, "frames     {}", books.frames)?;
    writeln!(out, "  carrying SIP      {}", books.sip_frames)?;
    let not_sip: u64 = books.not_sip.values().sum();
    writeln!(out, "  not SIP           {not_sip}")?;
    for (k, v) in &books.not_sip {
        writeln!(out, "    {k:<28} {v}")?;
    }
    let undecoded: u64 = books.undecoded.values().sum();
    writeln!(out, "  not decoded       {undecoded}")?;
    for (k, v) in &books.undecoded {
        writeln!(out, "    {:<28} {v}", escape::escape_str(k))?;
    }
    writeln!(out, "SIP messages {}", s.messages)?;
    for (k, v) in &s.by_transport {
        writeln!(out, "  {k:<10} {v}")?;
    }
    writeln!(out, "requests   {}", s.requests.values().sum::<u64>())?;
    for (k, v) in &s.requests {
        writeln!(out, "  {:<10} {v}", escape::escape_str(k))?;
    }
    writeln!(out, "responses  {}", s.responses.values().sum::<u64>())?;
    for (class, n) in s.by_class() {
        writeln!(out, "  {class:<10} {n}")?;
        for (code, v) in &s.responses {
            if format!("{}xx", code / 100) == class {
                writeln!(out, "    {code:<8} {v}")?;
            }
        }
    }
    if s.invalid_start > 0 {
        writeln!(out, "unreadable start lines {}", s.invalid_start)?;
    }
    writeln!(out, "Call-IDs   {}", s.call_id_count())?;
    writeln!(
        out,
        "retransmissions (UDP, identical within 64 s) {}",
        s.retransmissions
    )?;
    writeln!(out, "messages with anomalies {}", s.with_anomalies)?;
    for (k, v) in &s.flags {
        writeln!(out, "  {k:<32} {v}")?;
    }
    if !books.issues.is_empty() {
        writeln!(out, "capture defects {}", books.issues.len())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::{Endpoint, Flow, FrameRef};
    use crate::sip::{MessageFlags, SipMessage};
    use std::net::{IpAddr, Ipv4Addr};

    fn message(n: u64, call_id: &str, transport: Transport) -> SipMessage {
        let ep = |last, port| Endpoint {
            ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, last)),
            port,
        };
        let frame = FrameRef {
            file: 0,
            number: n,
            ts_ns: i64::try_from(n).unwrap_or(0) * 1_000_000,
        };
        let data = format!(
            "OPTIONS sip:b@x SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK{n}\r\n\
             From: <sip:a@x>;tag=1\r\nTo: <sip:b@x>\r\nCall-ID: {call_id}\r\n\
             CSeq: {n} OPTIONS\r\nContent-Length: 0\r\n\r\n"
        );
        SipMessage {
            flow: Flow {
                transport,
                src: ep(1, 5060),
                dst: ep(2, 5060),
            },
            frame,
            frames: vec![frame],
            data: data.into_bytes(),
            flags: MessageFlags::default(),
        }
    }

    /// The Call-ID count is exact however the cache in front of the set hits or misses:
    /// more distinct Call-IDs than cache slots, each seen several times, near together and
    /// far apart.
    #[test]
    fn call_ids_are_counted_exactly_past_the_cache() {
        let distinct = RECENT_IDS * 2 + 17;
        let mut s = Stats::default();
        let mut n = 0u64;
        for round in 0..3 {
            for i in 0..distinct {
                n += 1;
                // Round 1 sees each Call-ID twice in a row; the others once.
                let times = if round == 1 { 2 } else { 1 };
                for _ in 0..times {
                    s.add(&message(n, &format!("call-{i}@host"), Transport::Tcp).located());
                }
            }
        }
        assert_eq!(s.call_id_count(), distinct);
        assert_eq!(s.messages, 4 * distinct as u64);
        // Counted in an array until `finish`.
        assert!(s.requests.is_empty());
        s.finish();
        s.finish();
        assert_eq!(s.requests.get("OPTIONS"), Some(&(4 * distinct as u64)));
    }

    /// A UDP message repeated byte for byte on its flow within the window is a
    /// retransmission; the same bytes after the window are not.
    #[test]
    fn retransmissions_within_the_window_only() {
        let mut s = Stats::default();
        let first = message(1, "r@host", Transport::Udp);
        s.add(&first.located());
        let mut again = first.clone();
        again.frame.ts_ns += RETRANSMIT_WINDOW_NS / 2;
        s.add(&again.located());
        assert_eq!(s.retransmissions, 1);
        let mut late = first.clone();
        late.frame.ts_ns = again.frame.ts_ns + RETRANSMIT_WINDOW_NS + 1;
        s.add(&late.located());
        assert_eq!(s.retransmissions, 1);
        assert_eq!(s.call_id_count(), 1);
    }
}
