//! The call list: one line per call for people (like sngrep's list), `{"calls": [...]}` for
//! programs. The JSON shapes are defined here, apart from the model, so the model can change
//! without breaking the schema.
//!
//! Every string from the capture is escaped before it reaches a terminal: the text view through
//! `escape_str`; the JSON view keeps the data exact but writes DEL, C1 controls and bidi /
//! zero-width characters as `\uXXXX` escapes (valid JSON, harmless when printed raw).

use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, Write};
use std::net::IpAddr;

use serde::Serialize;

use super::escape::{escape_str, write_json as write_json_value};
use super::time::{
    clock_millis_bytes, date_clock_millis, date_clock_millis_bytes, push_duration, rfc3339_millis,
    rfc3339_millis_bytes,
};
use crate::dialog::{Call, CallState, Role, RoleSource, Text};

use smallvec::SmallVec;

const CALL_ID_WIDTH: usize = 24;
const USER_WIDTH: usize = 20;
const METHOD_WIDTH: usize = 10;
const FINAL_WIDTH: usize = 28;

/// Characters in `s` (what the table pads by); plain ASCII, the usual case, without decoding.
fn width(s: &str) -> usize {
    if s.is_ascii() {
        s.len()
    } else {
        s.chars().count()
    }
}

/// Byte offset of character `n` of `s` (its length when shorter); `ascii`: `s` is ASCII, one
/// character a byte.
fn char_offset(s: &str, ascii: bool, n: usize) -> usize {
    if ascii {
        n.min(s.len())
    } else {
        s.char_indices().nth(n).map_or(s.len(), |(i, _)| i)
    }
}

/// A cell cut to a width: `head`, then, when it was cut, `..` and `tail`. Both are slices of
/// the text cut, so cutting builds nothing.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Fit<'a> {
    head: &'a str,
    /// `None` when the text fits whole.
    tail: Option<&'a str>,
}

impl Fit<'_> {
    /// Appends the cut text to `out`.
    fn push_to(self, out: &mut String) {
        out.push_str(self.head);
        if let Some(tail) = self.tail {
            out.push_str("..");
            out.push_str(tail);
        }
    }

    /// The cut text in a [`Text`]: inline, without a heap allocation, up to 24 bytes.
    fn to_text(self) -> Text {
        let tail = self.tail.map_or(0, |t| t.len() + 2);
        let mut t = Text::with_capacity(self.head.len() + tail);
        t.push_str(self.head);
        if let Some(tail) = self.tail {
            t.push_str("..");
            t.push_str(tail);
        }
        t
    }
}

/// Cuts `s` to `w` characters, ending with `..` when cut.
fn fit_end(s: &str, w: usize) -> Fit<'_> {
    let ascii = s.is_ascii();
    let n = if ascii { s.len() } else { s.chars().count() };
    if n <= w {
        return Fit {
            head: s,
            tail: None,
        };
    }
    let keep = w.saturating_sub(2);
    Fit {
        head: s.get(..char_offset(s, ascii, keep)).unwrap_or(""),
        tail: Some(""),
    }
}

/// Cuts `s` to `w` characters keeping both ends (a Call-ID's tail is often its host).
fn fit_middle(s: &str, w: usize) -> Fit<'_> {
    let ascii = s.is_ascii();
    let n = if ascii { s.len() } else { s.chars().count() };
    if n <= w {
        return Fit {
            head: s,
            tail: None,
        };
    }
    let keep = w.saturating_sub(2);
    let head = keep / 2;
    let tail = keep - head;
    Fit {
        head: s.get(..char_offset(s, ascii, head)).unwrap_or(""),
        tail: Some(
            s.get(char_offset(s, ascii, n.saturating_sub(tail))..)
                .unwrap_or(""),
        ),
    }
}

fn day_of(ns: i64) -> i64 {
    ns.div_euclid(86_400_000_000_000)
}

/// What the list shows of one call, without its messages: what a streaming run keeps while a
/// call waits for older ones. Only the JSON list needs `outcome`, products and notes
/// (`details`). Its text is held as [`Text`], inline up to 24 bytes: most cells need no heap
/// allocation.
#[derive(Debug, Clone, PartialEq)]
pub struct CallRow {
    /// The Call-ID; without `details` (a row for the text list) already as that list shows
    /// it, escaped and cut to [`CALL_ID_WIDTH`], which usually fits inline. The table escapes
    /// and cuts it again, which leaves such a cell as it is.
    call_id: Text,
    start_ns: i64,
    end_ns: i64,
    from_user: Text,
    to_user: Text,
    first_method: Text,
    state: CallState,
    outcome: &'static str,
    final_code: Option<u16>,
    final_reason: Option<Text>,
    failed: bool,
    messages: usize,
    duration_ns: i64,
    dialogs: usize,
    transactions: usize,
    hosts: SmallVec<[HostRow; 4]>,
    /// With `details`: the products each host showed, parallel to `hosts`.
    products: Vec<Products>,
    notes: Vec<String>,
}

/// A host of a [`CallRow`].
#[derive(Debug, Clone, Copy, PartialEq)]
struct HostRow {
    addr: IpAddr,
    port: Option<u16>,
    role: Role,
    role_source: RoleSource,
}

/// What a host of a [`CallRow`] named itself (JSON list only).
#[derive(Debug, Clone, PartialEq)]
struct Products {
    user_agents: Vec<String>,
    servers: Vec<String>,
}

impl HostRow {
    /// Writes its label (`10.0.0.1`, `127.0.0.1:5060`, `[::1]:5060`) into `out`.
    fn write_label(&self, out: &mut String) {
        crate::dialog::write_label(out, self.addr, self.port);
    }
}

impl CallRow {
    /// The row of `call`; with `details` also what only the JSON list shows.
    pub fn new(call: &Call, details: bool) -> CallRow {
        let s = &call.summary;
        CallRow {
            call_id: if details {
                Text::from(call.call_id.as_str())
            } else {
                fit_middle(&escape_str(&call.call_id), CALL_ID_WIDTH).to_text()
            },
            start_ns: s.start_ns,
            end_ns: s.end_ns,
            from_user: s.from_user.clone(),
            to_user: s.to_user.clone(),
            first_method: s.first_method.clone(),
            state: s.state,
            outcome: if details {
                crate::diagnose::outcome_of(call).as_str()
            } else {
                ""
            },
            final_code: s.final_code,
            final_reason: s.final_reason.clone(),
            failed: s.failed,
            messages: s.message_count,
            duration_ns: s.duration_ns,
            dialogs: call.dialogs.len(),
            transactions: call.transactions.len(),
            hosts: call
                .hosts
                .iter()
                .map(|h| HostRow {
                    addr: h.addr,
                    port: h.port,
                    role: h.role,
                    role_source: h.role_source,
                })
                .collect(),
            products: if details {
                call.hosts
                    .iter()
                    .map(|h| Products {
                        user_agents: h.user_agents.to_vec(),
                        servers: h.servers.to_vec(),
                    })
                    .collect()
            } else {
                Vec::new()
            },
            notes: if details {
                call.notes.clone()
            } else {
                Vec::new()
            },
        }
    }

    /// Host `host` turned out to be a B2BUA (found across calls): its role changes as
    /// whole-file correlation changes it (unless the user gave one).
    pub fn promote(&mut self, host: usize) {
        if let Some(h) = self.hosts.get_mut(host) {
            if h.role_source != RoleSource::Override {
                h.role = Role::B2bua;
                h.role_source = RoleSource::Wire;
            }
        }
    }

    /// The hosts cell, written into `out`: labels, with the role when not a user agent.
    fn hosts_text(&self, out: &mut String) {
        for (i, h) in self.hosts.iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            h.write_label(out);
            if h.role != Role::UserAgent {
                out.push('(');
                out.push_str(h.role.as_str());
                out.push(')');
            }
        }
    }

    /// The final response cell, written into `out`.
    fn final_text(&self, out: &mut String) {
        match self.final_code {
            Some(c) => {
                let reason = self.final_reason.as_deref().unwrap_or("");
                let _ = write!(out, "{c} {}", escape_str(reason));
                // A cut keeps a prefix of the cell: shorten it where it stands.
                let cut = fit_end(out, FINAL_WIDTH);
                if cut.tail.is_some() {
                    let keep = cut.head.len();
                    out.truncate(keep);
                    out.push_str("..");
                }
            }
            None => out.push('-'),
        }
    }
}

/// The text columns after `#` and `Start`, in order, with their titles.
const CELL_TITLES: [&str; 8] = [
    "Call-ID", "From", "To", "Method", "State", "Final", "Msgs", "Duration",
];

/// Where rows wait until the table's widths are known: in memory while small, then in an
/// unlinked temporary file, so a list of millions of calls costs no memory. In memory, rows
/// are kept in chunks of [`SPOOL_CHUNK`] bytes, so growing never copies what is written.
enum Spool {
    Memory { chunks: Vec<Vec<u8>>, len: usize },
    File(BufWriter<File>),
}

/// Rows above this many bytes go to a temporary file.
const SPOOL_IN_MEMORY: usize = 4 << 20;

/// Size of the memory spool's chunks.
const SPOOL_CHUNK: usize = 64 << 10;

impl Spool {
    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        if let Spool::Memory { chunks, len } = self {
            if len.saturating_add(bytes.len()) <= SPOOL_IN_MEMORY {
                *len += bytes.len();
                append_chunked(chunks, bytes);
                return Ok(());
            }
            let mut file =
                BufWriter::with_capacity(1 << 16, super::spool::unlinked_temp_file("calls")?);
            for chunk in chunks.iter() {
                file.write_all(chunk)?;
            }
            *self = Spool::File(file);
        }
        match self {
            Spool::Memory { chunks, len } => {
                *len += bytes.len();
                append_chunked(chunks, bytes);
            }
            Spool::File(f) => f.write_all(bytes)?,
        }
        Ok(())
    }

    /// Everything written, to read back from the start.
    fn reader(self) -> io::Result<Box<dyn Read>> {
        Ok(match self {
            Spool::Memory { chunks, .. } => Box::new(ChunkReader {
                chunks: chunks.into_iter(),
                current: io::Cursor::new(Vec::new()),
            }),
            Spool::File(f) => {
                let mut f = f.into_inner().map_err(|e| e.into_error())?;
                f.rewind()?;
                Box::new(BufReader::with_capacity(1 << 16, f))
            }
        })
    }
}

/// Appends `bytes` to the last chunk while it has room, then to new chunks of
/// [`SPOOL_CHUNK`] bytes.
fn append_chunked(chunks: &mut Vec<Vec<u8>>, mut bytes: &[u8]) {
    while !bytes.is_empty() {
        let room = chunks.last().map_or(0, |c| c.capacity() - c.len());
        if room == 0 {
            chunks.push(Vec::with_capacity(SPOOL_CHUNK));
            continue;
        }
        let (now, later) = bytes.split_at(room.min(bytes.len()));
        if let Some(last) = chunks.last_mut() {
            last.extend_from_slice(now);
        }
        bytes = later;
    }
}

/// Reads the memory spool's chunks back one after the other.
struct ChunkReader {
    chunks: std::vec::IntoIter<Vec<u8>>,
    current: io::Cursor<Vec<u8>>,
}

impl Read for ChunkReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        loop {
            let n = self.current.read(out)?;
            if n > 0 || out.is_empty() {
                return Ok(n);
            }
            match self.chunks.next() {
                Some(next) => self.current = io::Cursor::new(next),
                None => return Ok(0),
            }
        }
    }
}

/// Appends a cell to a spooled row: its length, its width in characters ([`width`], worked
/// out once when the row is pushed), then its bytes.
fn put_cell(buf: &mut Vec<u8>, s: &str, width: usize) {
    buf.extend_from_slice(&(s.len() as u64).to_le_bytes());
    buf.extend_from_slice(&(width as u64).to_le_bytes());
    buf.extend_from_slice(s.as_bytes());
}

/// Cuts the next 8-byte number off the front of a spooled row.
fn take_u64(rec: &mut &[u8]) -> io::Result<u64> {
    let (head, rest) = rec
        .split_first_chunk::<8>()
        .ok_or_else(|| io::Error::other("spooled row cut short"))?;
    *rec = rest;
    Ok(u64::from_le_bytes(*head))
}

/// Cuts the next cell off the front of a spooled row: its bytes (the UTF-8 of a `&str`
/// [`put_cell`] wrote, copied to the output as they are) and its width.
fn take_cell<'a>(rec: &mut &'a [u8]) -> io::Result<(&'a [u8], usize)> {
    let n = usize::try_from(take_u64(rec)?).map_err(io::Error::other)?;
    let w = usize::try_from(take_u64(rec)?).map_err(io::Error::other)?;
    if n > rec.len() {
        return Err(io::Error::other("spooled row cut short"));
    }
    let (cell, rest) = rec.split_at(n);
    *rec = rest;
    Ok((cell, w))
}

/// Appends `s` to `line`, padded with spaces to `w` characters on the right (`left`: text
/// flush left) or on the left (flush right), as `{:<w$}` / `{:>w$}` would.
fn pad(line: &mut Vec<u8>, s: &str, w: usize, left: bool) {
    pad_bytes(line, s.as_bytes(), width(s), w, left);
}

/// [`pad`] for text given as bytes with its width in characters.
fn pad_bytes(line: &mut Vec<u8>, s: &[u8], width: usize, w: usize, left: bool) {
    let fill = w.saturating_sub(width);
    if !left {
        line.resize(line.len() + fill, b' ');
    }
    line.extend_from_slice(s);
    if left {
        line.resize(line.len() + fill, b' ');
    }
}

/// The text list, built row by row in list order: every column is as wide as its widest
/// cell and start times show the date when the calls span several days, so rows are spooled
/// as cells and laid out once the last one is in ([`TextTable::finish`]).
pub struct TextTable {
    spool: Spool,
    rows: usize,
    first_day: Option<i64>,
    last_day: Option<i64>,
    /// Widest cell of each of [`CELL_TITLES`] (the hosts column is last and not padded).
    widths: [usize; 8],
    /// A row being encoded (reused).
    buf: Vec<u8>,
    /// A cell being built (reused).
    cell: String,
}

impl Default for TextTable {
    fn default() -> Self {
        Self::new()
    }
}

impl TextTable {
    pub fn new() -> TextTable {
        TextTable {
            spool: Spool::Memory {
                chunks: Vec::new(),
                len: 0,
            },
            rows: 0,
            first_day: None,
            last_day: None,
            widths: CELL_TITLES.map(|t| t.chars().count()),
            buf: Vec::new(),
            cell: String::new(),
        }
    }

    /// Adds the next row.
    pub fn push(&mut self, row: &CallRow) -> io::Result<()> {
        self.rows += 1;
        let day = day_of(row.start_ns);
        self.first_day = Some(self.first_day.map_or(day, |d| d.min(day)));
        let day = day_of(row.end_ns);
        self.last_day = Some(self.last_day.map_or(day, |d| d.max(day)));
        // A row is spooled as one record: its length, the start time, then each cell.
        let TextTable {
            widths, buf, cell, ..
        } = self;
        buf.clear();
        buf.extend_from_slice(&0u64.to_le_bytes());
        buf.extend_from_slice(&row.start_ns.to_le_bytes());
        let mut put = |i: usize, cell: &str| {
            let n = width(cell);
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(n);
            }
            put_cell(buf, cell, n);
        };
        // Cells are built in one reused buffer: a cut cell is written from slices of its text.
        let mut fitted = |i: usize, fit: Fit<'_>| {
            cell.clear();
            fit.push_to(cell);
            put(i, cell);
        };
        fitted(0, fit_middle(&escape_str(&row.call_id), CALL_ID_WIDTH));
        fitted(1, fit_end(&escape_str(&row.from_user), USER_WIDTH));
        fitted(2, fit_end(&escape_str(&row.to_user), USER_WIDTH));
        fitted(3, fit_end(&escape_str(&row.first_method), METHOD_WIDTH));
        put(4, row.state.as_str());
        cell.clear();
        row.final_text(cell);
        put(5, cell);
        cell.clear();
        let _ = write!(cell, "{}", row.messages);
        put(6, cell);
        cell.clear();
        push_duration(cell, row.duration_ns);
        put(7, cell);
        cell.clear();
        row.hosts_text(cell);
        put(8, cell);
        let len = (buf.len() - 8) as u64;
        if let Some(head) = buf.get_mut(..8) {
            head.copy_from_slice(&len.to_le_bytes());
        }
        self.spool.write(buf)
    }

    /// Writes the table: header, then every row.
    pub fn finish(self, out: &mut dyn Write) -> io::Result<()> {
        let with_date = self.first_day != self.last_day;
        // The start cell, written into `out` (without allocating but for times no 4-digit
        // year holds, which an `i64` of nanoseconds cannot reach).
        let start = |out: &mut Vec<u8>, ns: i64| {
            if !with_date {
                out.extend_from_slice(&clock_millis_bytes(ns));
            } else if let Some(b) = date_clock_millis_bytes(ns) {
                out.extend_from_slice(&b);
            } else {
                out.extend_from_slice(date_clock_millis(ns).as_bytes());
            }
        };
        let w_idx = self.rows.to_string().len().max(1);
        // Both clock forms have one width for every representable time.
        let w_start = if self.rows == 0 {
            "Start".len()
        } else {
            let mut zero = Vec::new();
            start(&mut zero, 0);
            zero.len().max("Start".len())
        };
        let [w_id, w_from, w_to, w_method, w_state, w_fin, w_msgs, w_dur] = self.widths;
        writeln!(
            out,
            "{:>w_idx$}  {:<w_start$}  {:<w_id$}  {:<w_from$}  {:<w_to$}  {:<w_method$}  {:<w_state$}  {:<w_fin$}  {:>w_msgs$}  {:>w_dur$}  Hosts",
            "#", "Start", "Call-ID", "From", "To", "Method", "State", "Final", "Msgs", "Duration"
        )?;
        let mut r = self.spool.reader()?;
        let (mut rec, mut line, mut index) = (Vec::new(), Vec::new(), String::new());
        // (width, flush left) of each spooled cell; the hosts cell is last and not padded.
        let layout = [
            (w_id, true),
            (w_from, true),
            (w_to, true),
            (w_method, true),
            (w_state, true),
            (w_fin, true),
            (w_msgs, false),
            (w_dur, false),
            (0, true),
        ];
        for i in 0..self.rows {
            let mut len = [0u8; 8];
            r.read_exact(&mut len)?;
            let len = usize::try_from(u64::from_le_bytes(len)).map_err(io::Error::other)?;
            rec.resize(len, 0);
            r.read_exact(&mut rec)?;
            let mut cells: &[u8] = &rec;
            let start_ns = take_u64(&mut cells)? as i64;
            line.clear();
            index.clear();
            let _ = write!(index, "{}", i + 1);
            pad(&mut line, &index, w_idx, false);
            line.extend_from_slice(b"  ");
            // Every start cell is ASCII and as wide as the column: nothing to pad.
            let at = line.len();
            start(&mut line, start_ns);
            let cell = line.len() - at;
            line.resize(at + cell.max(w_start), b' ');
            for &(w, left) in &layout {
                line.extend_from_slice(b"  ");
                let (cell, n) = take_cell(&mut cells)?;
                pad_bytes(&mut line, cell, n, w, left);
            }
            line.push(b'\n');
            out.write_all(&line)?;
        }
        Ok(())
    }
}

/// One line per call: index, start time (UTC; with the date when the calls span several
/// days), Call-ID (shortened), From user, To user, first method, state, final response,
/// message count, duration, hosts (with their role when not a plain user agent).
pub fn write_text(out: &mut dyn Write, calls: &[Call]) -> io::Result<()> {
    let mut table = TextTable::new();
    for c in calls {
        table.push(&CallRow::new(c, false))?;
    }
    table.finish(out)
}

/// One call in the JSON list.
#[derive(Serialize)]
struct CallJson<'a> {
    /// 1-based, as in the text list.
    index: usize,
    call_id: &'a str,
    start: &'a str,
    start_ns: i64,
    end_ns: i64,
    from_user: &'a str,
    to_user: &'a str,
    first_method: &'a str,
    state: &'static str,
    /// The diagnosis outcome word (docs/outcomes.md).
    outcome: &'static str,
    final_code: Option<u16>,
    final_reason: Option<&'a str>,
    failed: bool,
    messages: usize,
    duration_ns: i64,
    dialogs: usize,
    transactions: usize,
    hosts: HostsJson<'a>,
    notes: &'a [String],
}

/// The hosts of a row, written as a list of [`HostJson`] without collecting one.
struct HostsJson<'a>(&'a CallRow);

impl Serialize for HostsJson<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let row = self.0;
        s.collect_seq(row.hosts.iter().enumerate().map(|(i, h)| {
            let products = row.products.get(i);
            HostJson {
                address: h.addr,
                port: h.port,
                role: h.role.as_str(),
                role_source: role_source(h.role_source),
                user_agents: products.map_or(&[], |p| &p.user_agents),
                servers: products.map_or(&[], |p| &p.servers),
            }
        }))
    }
}

#[derive(Serialize)]
struct HostJson<'a> {
    /// Serialized as its text (`Display`), as serde writes addresses for JSON.
    address: IpAddr,
    port: Option<u16>,
    role: &'static str,
    role_source: &'static str,
    user_agents: &'a [String],
    servers: &'a [String],
}

fn role_source(s: RoleSource) -> &'static str {
    match s {
        RoleSource::Wire => "wire",
        RoleSource::Hint => "hint",
        RoleSource::Override => "override",
    }
}

/// The JSON list, `{"calls": [...]}` followed by a newline, written row by row in list
/// order as rows come. Nothing is written before the first row or [`JsonList::finish`], so
/// a run that fails before any call leaves the output empty.
#[derive(Default)]
pub struct JsonList {
    written: usize,
    buf: Vec<u8>,
}

impl JsonList {
    pub fn new() -> JsonList {
        JsonList::default()
    }

    /// Writes the next row.
    pub fn push(&mut self, out: &mut dyn Write, row: &CallRow) -> io::Result<()> {
        self.written += 1;
        let start_bytes = rfc3339_millis_bytes(row.start_ns);
        let start_slow;
        let start = match start_bytes.as_ref().map(|b| std::str::from_utf8(b)) {
            Some(Ok(s)) => s,
            _ => {
                start_slow = rfc3339_millis(row.start_ns);
                start_slow.as_str()
            }
        };
        let doc = CallJson {
            index: self.written,
            call_id: &row.call_id,
            start,
            start_ns: row.start_ns,
            end_ns: row.end_ns,
            from_user: &row.from_user,
            to_user: &row.to_user,
            first_method: &row.first_method,
            state: row.state.as_str(),
            outcome: row.outcome,
            final_code: row.final_code,
            final_reason: row.final_reason.as_deref(),
            failed: row.failed,
            messages: row.messages,
            duration_ns: row.duration_ns,
            dialogs: row.dialogs,
            transactions: row.transactions,
            hosts: HostsJson(row),
            notes: &row.notes,
        };
        self.buf.clear();
        self.buf.extend_from_slice(if self.written == 1 {
            b"{\"calls\":["
        } else {
            b","
        });
        write_json_value(&mut self.buf, &doc)?;
        // write_json ends the value with a newline; the list goes on.
        self.buf.pop();
        out.write_all(&self.buf)
    }

    /// Closes the list.
    pub fn finish(self, out: &mut dyn Write) -> io::Result<()> {
        if self.written == 0 {
            out.write_all(b"{\"calls\":[")?;
        }
        out.write_all(b"]}\n")
    }
}

/// `{"calls": [...]}`, one object per call, followed by a newline.
pub fn write_json(out: &mut dyn Write, calls: &[Call]) -> io::Result<()> {
    let mut list = JsonList::new();
    for c in calls {
        list.push(out, &CallRow::new(c, true))?;
    }
    list.finish(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialog::analyze_call;
    use crate::dialog::testkit::*;

    fn sample() -> Vec<Call> {
        let inv = invite(
            "abc\u{1b}[2J-very-long-call-id@host.example.com",
            1,
            3,
            0,
            "z9hG4bK-1",
            1,
        );
        let mut busy = reply(&inv, 486, 1500, Some("t"));
        busy.start = crate::dialog::Start::Response {
            code: 486,
            reason: "Busy\u{9b}Here\u{202e}".into(),
        };
        let o = request("OPTIONS", "k", 4, 5, 90_000_000, "z9hG4bK-2", 1, "a", None);
        vec![
            analyze_call(vec![inv, busy], &[]),
            analyze_call(vec![o], &[]),
        ]
    }

    #[test]
    fn cells_are_padded_and_cut_by_characters_as_format_would() {
        for text in [
            "",
            "abc",
            "Jos\u{e9}",
            "\u{65e5}\u{672c}\u{8a9e}",
            "a\u{301}bc",
        ] {
            for w in 0..8 {
                let mut line = Vec::new();
                pad(&mut line, text, w, true);
                assert_eq!(line, format!("{text:<w$}").into_bytes(), "{text:?} {w}");
                line.clear();
                pad(&mut line, text, w, false);
                assert_eq!(line, format!("{text:>w$}").into_bytes(), "{text:?} {w}");
            }
            for w in 2..6 {
                let cut: String = if text.chars().count() <= w {
                    text.to_string()
                } else {
                    text.chars().take(w - 2).chain("..".chars()).collect()
                };
                assert_eq!(shown(fit_end(text, w)), cut, "{text:?} {w}");
                assert!(
                    width(&shown(fit_middle(text, w))) <= w.max(2),
                    "{text:?} {w}"
                );
            }
        }
    }

    /// The cuts by characters as first written, which the ASCII slicing must match.
    fn fit_end_by_chars(s: &str, w: usize) -> String {
        if s.chars().count() <= w {
            return s.to_string();
        }
        let mut out: String = s.chars().take(w.saturating_sub(2)).collect();
        out.push_str("..");
        out
    }

    fn fit_middle_by_chars(s: &str, w: usize) -> String {
        let n = s.chars().count();
        if n <= w {
            return s.to_string();
        }
        let keep = w.saturating_sub(2);
        let head = keep / 2;
        let tail = keep - head;
        let mut out: String = s.chars().take(head).collect();
        out.push_str("..");
        out.extend(s.chars().skip(n.saturating_sub(tail)));
        out
    }

    #[test]
    fn cuts_agree_with_cutting_by_characters() {
        for text in [
            "",
            "a",
            "ab",
            "abc",
            "a84b4c76e66710@pc33.atlanta.example.com",
            "\u{1b}[2J\x7f-call-id-with-controls-0123456789",
            "Jos\u{e9} Garc\u{ed}a L\u{f3}pez de la Fuente",
            "\u{65e5}\u{672c}\u{8a9e}\u{65e5}\u{672c}\u{8a9e}\u{65e5}\u{672c}\u{8a9e}",
            "a\u{301}bcdefghijklmnopqrstuvwxyz",
            "abcdefghijklmnopqrstuvwxyz\u{e9}",
        ] {
            for w in 0..40 {
                assert_eq!(
                    shown(fit_end(text, w)),
                    fit_end_by_chars(text, w),
                    "{text:?} {w}"
                );
                assert_eq!(
                    shown(fit_middle(text, w)),
                    fit_middle_by_chars(text, w),
                    "{text:?} {w}"
                );
                // The inline form reads the same, and cutting a cut cell again (what the
                // table does with a text row's Call-ID) leaves it as it is.
                let cut = shown(fit_middle(text, w));
                assert_eq!(fit_middle(text, w).to_text(), cut.as_str());
                if w >= 2 {
                    assert_eq!(shown(fit_middle(&cut, w)), cut, "{text:?} {w}");
                    let end = shown(fit_end(text, w));
                    assert_eq!(shown(fit_end(&end, w)), end, "{text:?} {w}");
                }
            }
        }
    }

    #[test]
    fn a_spooled_row_cut_short_is_an_error_not_a_panic() {
        let mut rec: &[u8] = &[1, 2, 3];
        assert!(take_u64(&mut rec).is_err());
        let mut buf = Vec::new();
        put_cell(&mut buf, "hello", 5);
        let mut rec: &[u8] = &buf;
        assert_eq!(take_cell(&mut rec).ok(), Some((&b"hello"[..], 5)));
        for cut in 0..buf.len() {
            let mut rec: &[u8] = buf.get(..cut).unwrap_or(&[]);
            assert!(take_cell(&mut rec).is_err(), "{cut}");
        }
    }

    #[test]
    fn text_lists_every_call_escaped() {
        let mut buf = Vec::new();
        write_text(&mut buf, &sample()).unwrap();
        let text = String::from_utf8(buf).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(
            !text.chars().any(|c| c.is_control() && c != '\n'),
            "{text:?}"
        );
        assert!(!text.contains('\u{202e}'));
        assert!(lines[1].contains("abc\\x1b"), "{}", lines[1]);
        assert!(
            lines[1].contains(".."),
            "long Call-ID shortened: {}",
            lines[1]
        );
        assert!(lines[1].contains("486 Busy\\x9bHere"), "{}", lines[1]);
        assert!(lines[1].contains("rejected"));
        assert!(lines[1].contains("1.500s"));
        assert!(lines[2].contains("unanswered"));
        // 90 000 s later is another day: dates are shown.
        assert!(lines[2].contains("1970-01-02 01:00:00.000"), "{}", lines[2]);
    }

    #[test]
    fn json_has_the_calls_and_is_terminal_safe() {
        let mut buf = Vec::new();
        write_json(&mut buf, &sample()).unwrap();
        let text = String::from_utf8(buf).unwrap();
        assert!(
            !text.chars().any(|c| c.is_control() && c != '\n'),
            "{text:?}"
        );
        assert!(text.contains("\\u009b") && text.contains("\\u202e"));
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let calls = v["calls"].as_array().unwrap();
        assert_eq!(calls.len(), 2);
        assert_eq!(
            calls[0]["call_id"],
            "abc\u{1b}[2J-very-long-call-id@host.example.com"
        );
        assert_eq!(calls[0]["final_code"], 486);
        assert_eq!(calls[0]["final_reason"], "Busy\u{9b}Here\u{202e}");
        assert_eq!(calls[0]["state"], "rejected");
        assert_eq!(calls[0]["outcome"], "rejected");
        assert_eq!(calls[1]["outcome"], "unanswered");
        assert_eq!(calls[0]["failed"], true);
        assert_eq!(calls[1]["start"], "1970-01-02T01:00:00.000Z");
        assert_eq!(calls[0]["hosts"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn fit_helpers() {
        assert_eq!(shown(fit_middle("abcdefghij", 6)), "ab..ij");
        assert_eq!(shown(fit_end("abcdefghij", 6)), "abcd..");
        assert_eq!(fit_end("abcdefghij", 10).tail, None);
    }

    /// A cut cell as the table writes it.
    fn shown(fit: Fit<'_>) -> String {
        let mut out = String::new();
        fit.push_to(&mut out);
        out
    }

    /// The final response cell as first written: the whole text, then cut by characters.
    #[test]
    fn final_cell_is_cut_as_the_whole_text_would_be() {
        for reason in [
            "",
            "OK",
            "Busy Here",
            "Service Unavailable Because Of Load",
            "Temporarily Unavailable!",
            "Temporarily Unavailable!!",
            "Temporarily Unavailable!!!",
            "Ca\u{f1}a\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}",
            "\u{65e5}\u{672c}\u{8a9e}\u{65e5}\u{672c}\u{8a9e}\u{65e5}\u{672c}\u{8a9e}\u{65e5}\u{672c}\u{8a9e}\u{65e5}\u{672c}\u{8a9e}\u{65e5}\u{672c}\u{8a9e}\u{65e5}\u{672c}\u{8a9e}\u{65e5}\u{672c}\u{8a9e}\u{65e5}\u{672c}\u{8a9e}",
            "Bad\u{1b}[2J\u{202e}Request Request Request",
        ] {
            for code in [100u16, 486, 603] {
                let mut row = CallRow::new(&sample()[0], false);
                row.final_code = Some(code);
                row.final_reason = Some(Text::from(reason));
                let mut cell = String::new();
                row.final_text(&mut cell);
                let whole = format!("{code} {}", escape_str(reason));
                assert_eq!(cell, fit_end_by_chars(&whole, FINAL_WIDTH), "{reason:?}");
            }
        }
    }

    /// A text row keeps its Call-ID already cut; the table shows it as it shows the whole one.
    #[test]
    fn text_rows_show_what_detailed_rows_show() {
        for call in sample() {
            let mut plain = TextTable::new();
            plain.push(&CallRow::new(&call, false)).unwrap();
            let mut full = TextTable::new();
            full.push(&CallRow::new(&call, true)).unwrap();
            let (mut a, mut b) = (Vec::new(), Vec::new());
            plain.finish(&mut a).unwrap();
            full.finish(&mut b).unwrap();
            assert_eq!(a, b);
        }
        let row = CallRow::new(&sample()[0], false);
        assert!(row.call_id.len() <= CALL_ID_WIDTH && !row.call_id.is_heap_allocated());
    }

    /// Rows spooled in memory read back whole, across chunk boundaries, as one buffer would.
    #[test]
    fn the_memory_spool_reads_back_what_was_written() {
        let mut spool = Spool::Memory {
            chunks: Vec::new(),
            len: 0,
        };
        let mut all = Vec::new();
        let mut x: u32 = 7;
        for i in 0..100usize {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let n = (x >> 16) as usize % (SPOOL_CHUNK / 3) + usize::from(i % 50 == 0);
            let bytes: Vec<u8> = (0..n).map(|j| (i + j) as u8).collect();
            spool.write(&bytes).unwrap();
            all.extend_from_slice(&bytes);
        }
        assert!(matches!(&spool, Spool::Memory { chunks, .. } if chunks.len() > 2));
        let mut back = Vec::new();
        spool.reader().unwrap().read_to_end(&mut back).unwrap();
        assert_eq!(back, all);
        // Past its limit the spool moves to a file, what was in memory first.
        let mut spool = Spool::Memory {
            chunks: Vec::new(),
            len: 0,
        };
        let mut written = Vec::new();
        while written.len() <= SPOOL_IN_MEMORY {
            spool.write(&all).unwrap();
            written.extend_from_slice(&all);
        }
        assert!(matches!(&spool, Spool::File(_)));
        let mut back = Vec::new();
        spool.reader().unwrap().read_to_end(&mut back).unwrap();
        assert!(back == written);
        // Read in odd pieces, as the table reads rows.
        let mut spool = Spool::Memory {
            chunks: Vec::new(),
            len: 0,
        };
        spool.write(&all).unwrap();
        let mut r = spool.reader().unwrap();
        let mut piece = vec![0u8; 1000];
        for want in all.chunks(1000) {
            let got = piece.get_mut(..want.len()).unwrap();
            r.read_exact(got).unwrap();
            assert_eq!(got, want);
        }
        assert_eq!(r.read(&mut piece).unwrap(), 0);
    }

    /// Addresses serialize as the text they used to be copied to.
    #[test]
    fn host_addresses_read_as_their_text() {
        for a in [
            "192.0.2.1",
            "::1",
            "2001:db8::5060",
            "::ffff:192.0.2.1",
            "fe80::1:2:3:4:5",
        ] {
            let addr: IpAddr = a.parse().unwrap();
            let mut buf = Vec::new();
            write_json_value(&mut buf, &addr).unwrap();
            let mut want = Vec::new();
            write_json_value(&mut want, &addr.to_string()).unwrap();
            assert_eq!(buf, want, "{a}");
        }
    }
}
