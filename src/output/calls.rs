//! The call list: one line per call for people (like sngrep's list), `{"calls": [...]}` for
//! programs. The JSON shapes are defined here, apart from the model, so the model can change
//! without breaking the schema.
//!
//! Every string from the capture is escaped before it reaches a terminal: the text view through
//! `escape_str`; the JSON view keeps the data exact but writes DEL, C1 controls and bidi /
//! zero-width characters as `\uXXXX` escapes (valid JSON, harmless when printed raw).

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

/// Characters in `b`, the UTF-8 of a `str` (what the table pads by) (one for each byte that does not continue a
/// character); plain ASCII without counting.
fn utf8_width(b: &[u8]) -> usize {
    if b.is_ascii() {
        b.len()
    } else {
        b.iter().filter(|&&c| c & 0xc0 != 0x80).count()
    }
}

/// Cuts the UTF-8 text `out` holds from byte `at` on to `w` characters, as [`fit_end`] does:
/// when longer, its first `w - 2` characters, then `..`. Returns its width once cut.
fn cut_end_in_place(out: &mut Vec<u8>, at: usize, w: usize) -> usize {
    let cell = out.get(at..).unwrap_or_default();
    let n = utf8_width(cell);
    if n <= w {
        return n;
    }
    let keep = w.saturating_sub(2);
    let end = cell
        .iter()
        .enumerate()
        .filter(|&(_, &c)| c & 0xc0 != 0x80)
        .nth(keep)
        .map_or(cell.len(), |(i, _)| i);
    out.truncate(at + end);
    out.extend_from_slice(b"..");
    keep + 2
}

/// `n` in decimal, as `Display` writes it, on the stack.
struct Decimal {
    digits: [u8; 20],
    first: usize,
}

impl Decimal {
    fn new(mut n: u64) -> Decimal {
        let mut digits = [0u8; 20];
        let mut first = digits.len();
        for d in digits.iter_mut().rev() {
            // A digit, 0 to 9: the cast keeps it whole.
            *d = b'0' + (n % 10) as u8;
            first -= 1;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        Decimal { digits, first }
    }

    fn as_bytes(&self) -> &[u8] {
        self.digits.get(self.first..).unwrap_or_default()
    }
}

/// Appends `n` in decimal, as `Display` writes it.
fn push_decimal(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(Decimal::new(n).as_bytes());
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
    /// Characters in the cut text.
    width: usize,
}

impl Fit<'_> {
    /// Appends the cut text's UTF-8 to `out`; returns its width.
    fn push_to(self, out: &mut Vec<u8>) -> usize {
        out.extend_from_slice(self.head.as_bytes());
        if let Some(tail) = self.tail {
            out.extend_from_slice(b"..");
            out.extend_from_slice(tail.as_bytes());
        }
        self.width
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
            width: n,
        };
    }
    let keep = w.saturating_sub(2);
    Fit {
        head: s.get(..char_offset(s, ascii, keep)).unwrap_or(""),
        tail: Some(""),
        width: keep + 2,
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
            width: n,
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
        width: keep + 2,
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
    /// it, escaped and cut to [`CALL_ID_WIDTH`], which usually fits inline (`call_id_shown`).
    call_id: Text,
    /// `call_id` is already the text list's cell: the table copies it as it is.
    call_id_shown: bool,
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
            call_id_shown: !details,
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

    /// The hosts cell, appended to `out`: labels, with the role when not a user agent.
    /// `scratch` holds an IPv6 label while it is written (IPv4 ones are built on the stack).
    fn hosts_text(&self, out: &mut Vec<u8>, scratch: &mut String) {
        for (i, h) in self.hosts.iter().enumerate() {
            if i > 0 {
                out.push(b' ');
            }
            match h.addr {
                IpAddr::V4(a) => {
                    out.extend_from_slice(crate::dialog::Ipv4Label::new(a, h.port).as_bytes())
                }
                IpAddr::V6(_) => {
                    scratch.clear();
                    h.write_label(scratch);
                    out.extend_from_slice(scratch.as_bytes());
                }
            }
            if h.role != Role::UserAgent {
                out.push(b'(');
                out.extend_from_slice(h.role.as_str().as_bytes());
                out.push(b')');
            }
        }
    }

    /// The final response cell, appended to `out`; returns its width.
    fn final_text(&self, out: &mut Vec<u8>) -> usize {
        match self.final_code {
            Some(c) => {
                let at = out.len();
                push_decimal(out, u64::from(c));
                out.push(b' ');
                let reason = self.final_reason.as_deref().unwrap_or("");
                out.extend_from_slice(escape_str(reason).as_bytes());
                // A cut keeps a prefix of the cell: shorten it where it stands.
                cut_end_in_place(out, at, FINAL_WIDTH)
            }
            None => {
                out.push(b'-');
                1
            }
        }
    }
}

/// The text columns after `#` and `Start`, in order, with their titles.
const CELL_TITLES: [&str; 8] = [
    "Call-ID", "From", "To", "Method", "State", "Final", "Msgs", "Duration",
];

/// Where rows wait until the table's widths are known: in memory while small, then in an
/// unlinked temporary file, so a list of millions of calls costs no memory. In memory, each
/// row lies whole in one chunk of at least [`SPOOL_CHUNK`] bytes, so growing never copies
/// what is written and rows are read back where they lie.
enum Spool {
    Memory { chunks: Vec<Vec<u8>>, len: usize },
    File(BufWriter<File>),
}

/// Rows above this many bytes go to a temporary file.
const SPOOL_IN_MEMORY: usize = 4 << 20;

/// Size of the memory spool's chunks (a longer row gets a chunk of its own size).
const SPOOL_CHUNK: usize = 64 << 10;

impl Spool {
    /// Adds one record: a row, its length first.
    fn write(&mut self, record: &[u8]) -> io::Result<()> {
        if let Spool::Memory { chunks, len } = self {
            if len.saturating_add(record.len()) <= SPOOL_IN_MEMORY {
                *len += record.len();
                append_whole(chunks, record);
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
                *len += record.len();
                append_whole(chunks, record);
            }
            Spool::File(f) => f.write_all(record)?,
        }
        Ok(())
    }

    /// Everything written, to read back record by record from the start.
    fn records(self) -> io::Result<Records> {
        Ok(match self {
            Spool::Memory { chunks, .. } => Records::Memory {
                chunks: chunks.into_iter(),
                current: Vec::new(),
                at: 0,
            },
            Spool::File(f) => {
                let mut f = f.into_inner().map_err(|e| e.into_error())?;
                f.rewind()?;
                Records::File {
                    file: BufReader::with_capacity(1 << 16, f),
                    rec: Vec::new(),
                }
            }
        })
    }
}

/// Appends `record` to the last chunk when all of it fits there, else to a new chunk.
fn append_whole(chunks: &mut Vec<Vec<u8>>, record: &[u8]) {
    let room = chunks.last().map_or(0, |c| c.capacity() - c.len());
    if room < record.len() {
        chunks.push(Vec::with_capacity(SPOOL_CHUNK.max(record.len())));
    }
    if let Some(last) = chunks.last_mut() {
        last.extend_from_slice(record);
    }
}

fn cut_short() -> io::Error {
    io::Error::other("spooled row cut short")
}

/// The spool's records, read back in the order written.
enum Records {
    /// Every record lies whole in one chunk: it is read where it lies.
    Memory {
        chunks: std::vec::IntoIter<Vec<u8>>,
        current: Vec<u8>,
        /// Where the next record starts in `current`.
        at: usize,
    },
    /// Each record is copied into `rec`.
    File { file: BufReader<File>, rec: Vec<u8> },
}

impl Records {
    /// The next record, without its length.
    fn next(&mut self) -> io::Result<&[u8]> {
        match self {
            Records::Memory {
                chunks,
                current,
                at,
            } => {
                while *at >= current.len() {
                    *current = chunks.next().ok_or_else(cut_short)?;
                    *at = 0;
                }
                let mut rest = current.get(*at..).unwrap_or_default();
                let n = usize::try_from(take_u64(&mut rest)?).map_err(io::Error::other)?;
                let record = rest.get(..n).ok_or_else(cut_short)?;
                *at += 8 + n;
                Ok(record)
            }
            Records::File { file, rec } => {
                let mut len = [0u8; 8];
                file.read_exact(&mut len)?;
                let n = usize::try_from(u64::from_le_bytes(len)).map_err(io::Error::other)?;
                rec.resize(n, 0);
                file.read_exact(rec)?;
                Ok(rec)
            }
        }
    }
}

/// Opens a cell at the end of a spooled row: room for its length and width, which
/// [`close_cell`] fills in once its bytes are written after them.
fn open_cell(buf: &mut Vec<u8>) -> usize {
    let at = buf.len();
    buf.extend_from_slice(&[0; 16]);
    at
}

/// Fills in the length and width `w` in characters (worked out once when the row is pushed)
/// of the cell opened at `at`: what was written since.
fn close_cell(buf: &mut [u8], at: usize, w: usize) {
    let n = buf.len().saturating_sub(at + 16) as u64;
    if let Some((len, width)) = buf
        .get_mut(at..)
        .and_then(|b| b.first_chunk_mut::<16>())
        .map(|h| h.split_at_mut(8))
    {
        len.copy_from_slice(&n.to_le_bytes());
        width.copy_from_slice(&(w as u64).to_le_bytes());
    }
}

/// A cell of a row being pushed: written by `write`, which returns its width in characters,
/// counted into `widest`.
fn cell(buf: &mut Vec<u8>, widest: &mut usize, write: impl FnOnce(&mut Vec<u8>) -> usize) {
    let at = open_cell(buf);
    let w = write(buf);
    close_cell(buf, at, w);
    *widest = (*widest).max(w);
}

/// Appends the ASCII `s` to `out`; returns its width, its length.
fn push_ascii(out: &mut Vec<u8>, s: &[u8]) -> usize {
    out.extend_from_slice(s);
    s.len()
}

/// Cuts the next 8-byte number off the front of a spooled row.
fn take_u64(rec: &mut &[u8]) -> io::Result<u64> {
    let (head, rest) = rec.split_first_chunk::<8>().ok_or_else(cut_short)?;
    *rec = rest;
    Ok(u64::from_le_bytes(*head))
}

/// Cuts the next cell off the front of a spooled row: its bytes (the UTF-8 of `str`s
/// written by [`cell`], copied to the output as they are) and its width.
fn take_cell<'a>(rec: &mut &'a [u8]) -> io::Result<(&'a [u8], usize)> {
    let n = usize::try_from(take_u64(rec)?).map_err(io::Error::other)?;
    let w = usize::try_from(take_u64(rec)?).map_err(io::Error::other)?;
    let (cell, rest) = rec.split_at_checked(n).ok_or_else(cut_short)?;
    *rec = rest;
    Ok((cell, w))
}

/// Appends `s`, `width` characters wide, to `line`, padded with spaces to `w` characters on
/// the right (`left`: text flush left) or on the left (flush right), as `{:<w$}` / `{:>w$}`
/// would.
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
    /// Text built by helpers that write into a `String` (reused).
    scratch: String,
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
            scratch: String::new(),
        }
    }

    /// Adds the next row.
    pub fn push(&mut self, row: &CallRow) -> io::Result<()> {
        self.rows += 1;
        let day = day_of(row.start_ns);
        self.first_day = Some(self.first_day.map_or(day, |d| d.min(day)));
        let day = day_of(row.end_ns);
        self.last_day = Some(self.last_day.map_or(day, |d| d.max(day)));
        // A row is spooled as one record: its length, the start time, then each cell, every
        // cell written straight into the record.
        let TextTable {
            widths,
            buf,
            scratch,
            ..
        } = self;
        let [w_id, w_from, w_to, w_method, w_state, w_fin, w_msgs, w_dur] = widths;
        buf.clear();
        buf.extend_from_slice(&0u64.to_le_bytes());
        buf.extend_from_slice(&row.start_ns.to_le_bytes());
        cell(buf, w_id, |b| {
            if row.call_id_shown {
                b.extend_from_slice(row.call_id.as_bytes());
                utf8_width(row.call_id.as_bytes())
            } else {
                fit_middle(&escape_str(&row.call_id), CALL_ID_WIDTH).push_to(b)
            }
        });
        cell(buf, w_from, |b| {
            fit_end(&escape_str(&row.from_user), USER_WIDTH).push_to(b)
        });
        cell(buf, w_to, |b| {
            fit_end(&escape_str(&row.to_user), USER_WIDTH).push_to(b)
        });
        cell(buf, w_method, |b| {
            fit_end(&escape_str(&row.first_method), METHOD_WIDTH).push_to(b)
        });
        // States, numbers, durations and host labels are ASCII: as wide as they are long.
        cell(buf, w_state, |b| {
            push_ascii(b, row.state.as_str().as_bytes())
        });
        cell(buf, w_fin, |b| row.final_text(b));
        cell(buf, w_msgs, |b| {
            push_ascii(b, Decimal::new(row.messages as u64).as_bytes())
        });
        cell(buf, w_dur, |b| {
            scratch.clear();
            push_duration(scratch, row.duration_ns);
            push_ascii(b, scratch.as_bytes())
        });
        // The hosts column is not padded: its width is not needed.
        cell(buf, &mut 0, |b| {
            let at = b.len();
            row.hosts_text(b, scratch);
            b.len() - at
        });
        let len = (buf.len() - 8) as u64;
        if let Some(head) = buf.first_chunk_mut::<8>() {
            *head = len.to_le_bytes();
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
        let mut records = self.spool.records()?;
        let mut line = Vec::new();
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
            let mut cells = records.next()?;
            let start_ns = take_u64(&mut cells)? as i64;
            line.clear();
            let index = Decimal::new(i as u64 + 1);
            let index = index.as_bytes();
            pad_bytes(&mut line, index, index.len(), w_idx, false);
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
                let n = utf8_width(text.as_bytes());
                assert_eq!(n, text.chars().count());
                pad_bytes(&mut line, text.as_bytes(), n, w, true);
                assert_eq!(line, format!("{text:<w$}").into_bytes(), "{text:?} {w}");
                line.clear();
                pad_bytes(&mut line, text.as_bytes(), n, w, false);
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
                    shown(fit_middle(text, w)).chars().count() <= w.max(2),
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
                assert_eq!(fit_middle(text, w).width, cut.chars().count());
                assert_eq!(
                    fit_end(text, w).width,
                    fit_end_by_chars(text, w).chars().count()
                );
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
        let mut widest = 3;
        cell(&mut buf, &mut widest, |b| push_ascii(b, b"hello"));
        assert_eq!(widest, 5);
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
        let mut out = Vec::new();
        fit.push_to(&mut out);
        String::from_utf8(out).unwrap()
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
                // After other bytes, as in a spooled row.
                let mut cell = b"\xe6\x97\xa5xyz".to_vec();
                let width = row.final_text(&mut cell);
                let whole = format!("{code} {}", escape_str(reason));
                let want = format!("\u{65e5}xyz{}", fit_end_by_chars(&whole, FINAL_WIDTH));
                assert_eq!(width, want.chars().count() - 4, "{reason:?}");
                assert_eq!(String::from_utf8(cell).unwrap(), want, "{reason:?}");
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

    /// Records spooled in memory read back whole, in order, one chunk or many, as they do from
    /// the file a long list moves to.
    #[test]
    fn the_spool_reads_back_what_was_written() {
        let record = |body: &[u8]| {
            let mut r = (body.len() as u64).to_le_bytes().to_vec();
            r.extend_from_slice(body);
            r
        };
        let mut bodies = Vec::new();
        let mut x: u32 = 7;
        for i in 0..100usize {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            // Some empty, some longer than a chunk.
            let n = match i % 25 {
                0 => 0,
                1 => SPOOL_CHUNK + 5,
                _ => (x >> 16) as usize % (SPOOL_CHUNK / 3),
            };
            bodies.push((0..n).map(|j| (i + j) as u8).collect::<Vec<u8>>());
        }
        let mut spool = Spool::Memory {
            chunks: Vec::new(),
            len: 0,
        };
        for b in &bodies {
            spool.write(&record(b)).unwrap();
        }
        assert!(matches!(&spool, Spool::Memory { chunks, .. } if chunks.len() > 2));
        let mut back = spool.records().unwrap();
        for b in &bodies {
            assert_eq!(back.next().unwrap(), &b[..]);
        }
        assert!(back.next().is_err());
        // Past its limit the spool moves to a file, what was in memory first.
        let mut spool = Spool::Memory {
            chunks: Vec::new(),
            len: 0,
        };
        let (mut written, mut count) = (0, 0);
        while written <= SPOOL_IN_MEMORY {
            let r = record(&bodies[count % bodies.len()]);
            spool.write(&r).unwrap();
            written += r.len();
            count += 1;
        }
        assert!(matches!(&spool, Spool::File(_)));
        let mut back = spool.records().unwrap();
        for i in 0..count {
            assert_eq!(back.next().unwrap(), &bodies[i % bodies.len()][..], "{i}");
        }
        assert!(back.next().is_err());
        // A record whose length runs past its chunk is an error, not a panic.
        let mut cut = Records::Memory {
            chunks: vec![record(b"abc")[..9].to_vec()].into_iter(),
            current: Vec::new(),
            at: 0,
        };
        assert!(cut.next().is_err());
    }

    #[test]
    fn decimals_read_as_display_writes_them() {
        for n in [
            0u64,
            1,
            9,
            10,
            99,
            100,
            65_535,
            1_000_000,
            u64::MAX / 7,
            u64::MAX,
        ] {
            let mut out = b"x".to_vec();
            push_decimal(&mut out, n);
            assert_eq!(out, format!("x{n}").into_bytes());
        }
    }

    /// Cells no capture is kind to: controls, wide and combining characters, the replacement
    /// character, bidi marks, empty text, IPv6 hosts.
    fn hostile_rows() -> Vec<CallRow> {
        let base = CallRow::new(&sample()[0], false);
        let hosts = |list: &[(&str, Option<u16>, Role)]| -> SmallVec<[HostRow; 4]> {
            list.iter()
                .map(|&(a, port, role)| HostRow {
                    addr: a.parse().unwrap(),
                    port,
                    role,
                    role_source: RoleSource::Wire,
                })
                .collect()
        };
        let texts = [
            "",
            "plain",
            "\u{1b}]0;title\u{7}\u{9b}31m",
            "\u{65e5}\u{672c}\u{8a9e}\u{65e5}\u{672c}\u{8a9e}\u{65e5}\u{672c}\u{8a9e}\u{65e5}\u{672c}\u{8a9e}",
            "e\u{301}e\u{301}e\u{301}e\u{301}e\u{301}e\u{301}e\u{301}e\u{301}e\u{301}e\u{301}e\u{301}",
            "bad\u{fffd}\u{fffd}utf8\u{202e}rtl\u{200b}zw\u{7f}del",
            "tab\there\r\nfolded line that goes on and on and on",
            "abcdefghijklmnopqrstuvwxyz0123456789",
        ];
        let mut rows = Vec::new();
        for (i, t) in texts.iter().enumerate() {
            for details in [false, true] {
                let mut call = sample()[i % 2].clone();
                call.call_id = crate::dialog::CallId::from(format!("{t}-{i}@host\u{1b}[2J"));
                let mut r = CallRow::new(&call, details);
                r.from_user = Text::from(*t);
                r.to_user = Text::from(texts[(i + 3) % texts.len()]);
                r.first_method = Text::from(texts[(i + 5) % texts.len()]);
                r.final_code = [None, Some(100), Some(486), Some(699)][i % 4];
                r.final_reason = (i % 3 != 0).then(|| Text::from(texts[(i + 1) % texts.len()]));
                r.messages = [0, 7, 10, 123_456_789][i % 4];
                r.duration_ns = [0, 59_999_000_000, 61_000_000_000, 7_300_000_000_000][i % 4];
                r.start_ns = base.start_ns + i as i64 * 1_000_000_007;
                r.end_ns = r.start_ns + 5;
                r.hosts = match i % 4 {
                    0 => hosts(&[]),
                    1 => hosts(&[
                        ("192.0.2.1", Some(5060), Role::UserAgent),
                        ("2001:db8::1", Some(5061), Role::B2bua),
                    ]),
                    2 => hosts(&[
                        ("::1", None, Role::Proxy),
                        ("255.255.255.255", Some(65_535), Role::Registrar),
                        ("10.0.0.1", None, Role::UserAgent),
                    ]),
                    _ => hosts(&[("::ffff:192.0.2.1", Some(1), Role::Gateway)]),
                };
                rows.push(r);
            }
        }
        rows
    }

    /// The table as first written: cells built as `String`s, padded by `format!`.
    fn table_by_format(rows: &[CallRow]) -> String {
        let cells: Vec<[String; 9]> = rows
            .iter()
            .map(|r| {
                let hosts: Vec<String> = r
                    .hosts
                    .iter()
                    .map(|h| {
                        let mut s = String::new();
                        crate::dialog::write_label(&mut s, h.addr, h.port);
                        if h.role != Role::UserAgent {
                            s += &format!("({})", h.role.as_str());
                        }
                        s
                    })
                    .collect();
                [
                    fit_middle_by_chars(&escape_str(&r.call_id), CALL_ID_WIDTH),
                    fit_end_by_chars(&escape_str(&r.from_user), USER_WIDTH),
                    fit_end_by_chars(&escape_str(&r.to_user), USER_WIDTH),
                    fit_end_by_chars(&escape_str(&r.first_method), METHOD_WIDTH),
                    r.state.as_str().to_string(),
                    match r.final_code {
                        Some(c) => {
                            let reason = r.final_reason.as_deref().unwrap_or("");
                            fit_end_by_chars(&format!("{c} {}", escape_str(reason)), FINAL_WIDTH)
                        }
                        None => "-".to_string(),
                    },
                    r.messages.to_string(),
                    crate::output::time::duration(r.duration_ns),
                    hosts.join(" "),
                ]
            })
            .collect();
        let mut w: Vec<usize> = CELL_TITLES.iter().map(|t| t.chars().count()).collect();
        for c in &cells {
            for (i, w) in w.iter_mut().enumerate() {
                *w = (*w).max(c[i].chars().count());
            }
        }
        let first = rows.iter().map(|r| day_of(r.start_ns)).min();
        let last = rows.iter().map(|r| day_of(r.end_ns)).max();
        let start = |ns| {
            if first != last {
                date_clock_millis(ns)
            } else {
                crate::output::time::clock_millis(ns)
            }
        };
        let ws = if rows.is_empty() {
            5
        } else {
            start(0).len().max(5)
        };
        let wi = rows.len().to_string().len();
        let mut out = format!(
            "{:>wi$}  {:<ws$}  {:<w0$}  {:<w1$}  {:<w2$}  {:<w3$}  {:<w4$}  {:<w5$}  {:>w6$}  {:>w7$}  Hosts\n",
            "#", "Start", "Call-ID", "From", "To", "Method", "State", "Final", "Msgs", "Duration",
            w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3], w4 = w[4], w5 = w[5], w6 = w[6], w7 = w[7]
        );
        for (i, (r, c)) in rows.iter().zip(&cells).enumerate() {
            out += &format!(
                "{:>wi$}  {:<ws$}  {:<w0$}  {:<w1$}  {:<w2$}  {:<w3$}  {:<w4$}  {:<w5$}  {:>w6$}  {:>w7$}  {}\n",
                i + 1, start(r.start_ns), c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8],
                w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3], w4 = w[4], w5 = w[5], w6 = w[6], w7 = w[7]
            );
        }
        out
    }

    fn table(rows: &[CallRow]) -> String {
        let mut t = TextTable::new();
        for r in rows {
            t.push(r).unwrap();
        }
        let mut out = Vec::new();
        t.finish(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    /// Hostile cells are escaped, cut and padded as `format!` on whole strings does, in
    /// memory and (a long list) from the spool's file, on one day and across days.
    #[test]
    fn the_table_reads_as_formatted_strings() {
        let rows = hostile_rows();
        assert!(rows.iter().any(|r| r.call_id_shown) && rows.iter().any(|r| !r.call_id_shown));
        for n in [0, 1, 2, rows.len()] {
            let some = &rows[..n];
            assert_eq!(table(some), table_by_format(some), "{n} rows");
        }
        let mut later = rows.clone();
        if let Some(r) = later.last_mut() {
            r.end_ns += 2 * 86_400_000_000_000;
        }
        let text = table(&later);
        assert!(text.contains("1970-01-0"), "{text}");
        assert_eq!(text, table_by_format(&later));
        let mut many = Vec::new();
        while many.len() * 150 <= SPOOL_IN_MEMORY {
            many.extend(rows.iter().cloned());
        }
        assert_eq!(table(&many), table_by_format(&many));
    }

    /// A final cell cut in place reads as the whole text cut by characters.
    #[test]
    fn cut_in_place_agrees_with_cutting_by_characters() {
        for text in [
            "",
            "ab",
            "abcdefghij",
            "\u{65e5}\u{672c}\u{8a9e}\u{65e5}\u{672c}",
            "a\u{301}b\u{301}c\u{301}d\u{301}",
            "\u{fffd}x\u{fffd}y\u{fffd}z",
        ] {
            for w in 0..12 {
                let mut out = b"pre\xc3\xa9".to_vec();
                let at = out.len();
                out.extend_from_slice(text.as_bytes());
                let width = cut_end_in_place(&mut out, at, w);
                let want = format!("pre\u{e9}{}", fit_end_by_chars(text, w));
                assert_eq!(width, want.chars().count() - 4, "{text:?} {w}");
                assert_eq!(String::from_utf8(out).unwrap(), want, "{text:?} {w}");
            }
        }
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
