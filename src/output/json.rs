//! A compact JSON serializer with a fast path for plain strings, writing exactly the bytes of
//! `serde_json` with the [`TerminalSafe`] formatter.
//!
//! Why: serde_json walks every string byte by byte through its escape table and hands each
//! clean run to the formatter, which checks it again for characters a terminal could act on.
//! Almost every string of a SIP export is printable ASCII without quotes or backslashes; this
//! serializer checks a whole string at once for any byte that could need escaping and copies
//! it in one go when there is none. Anything else (a string needing escapes, numbers, keys
//! that are not strings) is handed to serde_json's own serializer with the same formatter,
//! so the output cannot drift from what serde_json would write: the tests compare both.
//!
//! The export's objects, written millions of times, skip serde altogether: [`AppendJson`]
//! writes them by hand into a buffer ([`json_object!`] for their fields, literal keys), with
//! the same string check and the same slow path, so the same bytes (tested against serde_json
//! too). A writer shared with a caller that writes into a `Vec<u8>` (the diagnosis object,
//! which `diagnose --json` writes too) is generic over [`JsonOut`], which both buffers are.

use std::io::Write;

use serde::ser::{self, Impossible, Serialize};

use super::escape::TerminalSafe;

type Error = serde_json::Error;
type Result<T> = std::result::Result<T, Error>;

/// Writes `value` as compact, terminal-safe JSON (no trailing newline).
pub fn write_value<W: Write + ?Sized, T: Serialize + ?Sized>(out: &mut W, value: &T) -> Result<()> {
    value.serialize(&mut Fast { out: &mut Io(out) })
}

/// [`write_value`] through a buffer reused by the thread, handed to `out` in pieces of
/// [`CHUNK`] bytes: the serializer's many small writes become inlined copies instead of calls
/// through `dyn Write`, and memory stays bounded whatever the size of the value. Errors are
/// reported as `write_value` reports them (the writer's error inside a serde_json error).
pub fn write_chunked<T: Serialize + ?Sized>(out: &mut dyn Write, value: &T) -> Result<()> {
    thread_local! {
        static BUF: std::cell::RefCell<JsonBuf> = const { std::cell::RefCell::new(JsonBuf::new()) };
    }
    BUF.with(|cell| {
        let mut buf = cell.take();
        buf.clear();
        let mut chunked = Chunked { buf: &mut buf, out };
        let done = value
            .serialize(&mut Fast { out: &mut chunked })
            .and_then(|()| {
                chunked
                    .out
                    .write_all(chunked.buf.as_bytes())
                    .map_err(Error::io)
            });
        cell.replace(buf);
        done
    })
}

/// Size of the pieces [`write_chunked`] hands on.
const CHUNK: usize = 64 * 1024;

/// A buffer in front of a writer, emptied into it whenever it holds [`CHUNK`] bytes.
struct Chunked<'a> {
    buf: &'a mut JsonBuf,
    out: &'a mut dyn Write,
}

impl Chunked<'_> {
    fn spill(&mut self) -> std::io::Result<()> {
        if self.buf.len() >= CHUNK {
            self.out.write_all(self.buf.as_bytes())?;
            self.buf.clear();
        }
        Ok(())
    }
}

impl Write for Chunked<'_> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.write_all(data)?;
        Ok(data.len())
    }
    fn write_all(&mut self, data: &[u8]) -> std::io::Result<()> {
        self.buf.extend_from_slice(data);
        self.spill()
    }
    fn flush(&mut self) -> std::io::Result<()> {
        // What is buffered goes out at the end of the value.
        Ok(())
    }
}

impl Out for Chunked<'_> {
    fn quoted(&mut self, text: &[u8]) -> std::io::Result<()> {
        self.buf.quote(text);
        self.spill()
    }
    fn plain(&mut self, text: &[u8]) -> std::io::Result<bool> {
        if self.buf.put_plain(text) {
            self.spill()?;
            return Ok(true);
        }
        Ok(false)
    }
}

/// [`write_value`] appending to a buffer: the many small writes become inlined copies.
pub fn append_value<T: Serialize + ?Sized>(buf: &mut Vec<u8>, value: &T) -> Result<()> {
    value.serialize(&mut Fast { out: buf })
}

/// A value written into a buffer as JSON by hand: exactly the bytes of its `Serialize` through
/// [`append_value`] (so of serde_json with [`TerminalSafe`]), without serde's machinery. For
/// the objects written millions of times (exported messages), where the serializer's calls per
/// field and per key were most of the time. Objects are written with [`json_object!`]; a type
/// without a hand-written form goes through serde with [`append_value`].
pub trait AppendJson {
    fn append_json(&self, buf: &mut JsonBuf) -> Result<()>;
}

/// A buffer JSON is written into by hand: the export's [`JsonBuf`], or a `Vec<u8>` (the calls
/// of `diagnose --json`). A writer generic over it (the diagnosis object of
/// `crate::output::diagnose`) is one piece of code for both, giving the same bytes in both.
pub trait JsonOut {
    fn push(&mut self, b: u8);
    fn extend_from_slice(&mut self, piece: &[u8]);
    /// Appends `s` as a JSON string, as serde_json with [`TerminalSafe`] writes it: one copy
    /// when plain, serde_json's escaping otherwise.
    fn put_str(&mut self, s: &str) -> Result<()>;
}

impl JsonOut for JsonBuf {
    #[inline(always)]
    fn push(&mut self, b: u8) {
        JsonBuf::push(self, b);
    }
    #[inline(always)]
    fn extend_from_slice(&mut self, piece: &[u8]) {
        JsonBuf::extend_from_slice(self, piece);
    }
    #[inline]
    fn put_str(&mut self, s: &str) -> Result<()> {
        write_str(self, s)
    }
}

impl JsonOut for Vec<u8> {
    #[inline(always)]
    fn push(&mut self, b: u8) {
        Vec::push(self, b);
    }
    #[inline(always)]
    fn extend_from_slice(&mut self, piece: &[u8]) {
        Vec::extend_from_slice(self, piece);
    }
    #[inline]
    fn put_str(&mut self, s: &str) -> Result<()> {
        write_str(self, s)
    }
}

/// Writes the fields of an object by hand in the given order, each under its own name, and
/// leaves the object open: `json_object!(buf, self; a, b, c)` writes `{"a":..,"b":..,"c":..`
/// from `self.a` etc. (each an [`AppendJson`]); the caller may add fields, then closes it with
/// `}`. Keys and separators are literals, put together at compile time.
#[macro_export]
macro_rules! json_object {
    ($buf:expr, $obj:expr; $first:ident $(, $name:ident)* $(,)?) => {{
        let buf: &mut $crate::output::json::JsonBuf = $buf;
        buf.extend_from_slice(concat!("{\"", stringify!($first), "\":").as_bytes());
        $crate::output::json::AppendJson::append_json(&$obj.$first, buf)?;
        $(
            buf.extend_from_slice(concat!(",\"", stringify!($name), "\":").as_bytes());
            $crate::output::json::AppendJson::append_json(&$obj.$name, buf)?;
        )*
    }};
}

/// Implements [`AppendJson`] through serde ([`append_value`]) for types without a
/// hand-written form.
#[macro_export]
macro_rules! append_json_by_serde {
    ($($t:ty),* $(,)?) => {
        $(impl $crate::output::json::AppendJson for $t {
            fn append_json(&self, buf: &mut $crate::output::json::JsonBuf) -> serde_json::Result<()> {
                $crate::output::json::append_value_to(buf, self)
            }
        })*
    };
}

impl AppendJson for str {
    #[inline]
    fn append_json(&self, buf: &mut JsonBuf) -> Result<()> {
        write_str(buf, self)
    }
}

impl AppendJson for String {
    #[inline]
    fn append_json(&self, buf: &mut JsonBuf) -> Result<()> {
        write_str(buf, self)
    }
}

impl AppendJson for crate::dialog::Shared {
    #[inline]
    fn append_json(&self, buf: &mut JsonBuf) -> Result<()> {
        write_str(buf, self)
    }
}

impl AppendJson for compact_str::CompactString {
    #[inline]
    fn append_json(&self, buf: &mut JsonBuf) -> Result<()> {
        write_str(buf, self)
    }
}

impl<T: AppendJson + ?Sized> AppendJson for &T {
    #[inline]
    fn append_json(&self, buf: &mut JsonBuf) -> Result<()> {
        (**self).append_json(buf)
    }
}

impl<T: AppendJson + ?Sized> AppendJson for std::rc::Rc<T> {
    #[inline]
    fn append_json(&self, buf: &mut JsonBuf) -> Result<()> {
        (**self).append_json(buf)
    }
}

impl<T: AppendJson> AppendJson for Option<T> {
    #[inline]
    fn append_json(&self, buf: &mut JsonBuf) -> Result<()> {
        match self {
            Some(v) => v.append_json(buf),
            None => {
                buf.extend_from_slice(b"null");
                Ok(())
            }
        }
    }
}

impl<T: AppendJson> AppendJson for [T] {
    #[inline]
    fn append_json(&self, buf: &mut JsonBuf) -> Result<()> {
        buf.push(b'[');
        for (i, v) in self.iter().enumerate() {
            if i > 0 {
                buf.push(b',');
            }
            v.append_json(buf)?;
        }
        buf.push(b']');
        Ok(())
    }
}

impl<T: AppendJson> AppendJson for Vec<T> {
    #[inline]
    fn append_json(&self, buf: &mut JsonBuf) -> Result<()> {
        self.as_slice().append_json(buf)
    }
}

impl AppendJson for bool {
    #[inline]
    fn append_json(&self, buf: &mut JsonBuf) -> Result<()> {
        buf.extend_from_slice(if *self { b"true" } else { b"false" });
        Ok(())
    }
}

macro_rules! append_unsigned {
    ($($t:ty),*) => {
        $(impl AppendJson for $t {
            #[inline]
    fn append_json(&self, buf: &mut JsonBuf) -> Result<()> {
                put_u64(buf, u64::from(*self));
                Ok(())
            }
        })*
    };
}

append_unsigned!(u8, u16, u32, u64);

impl AppendJson for usize {
    #[inline]
    fn append_json(&self, buf: &mut JsonBuf) -> Result<()> {
        // usize is at most 64 bits wide on every target Rust supports.
        put_u64(buf, *self as u64);
        Ok(())
    }
}

impl AppendJson for i64 {
    #[inline]
    fn append_json(&self, buf: &mut JsonBuf) -> Result<()> {
        if *self < 0 {
            buf.push(b'-');
        }
        put_u64(buf, self.unsigned_abs());
        Ok(())
    }
}

/// Two-digit decimal pairs `00` to `99`, for [`put_u64`].
const PAIRS: &[u8; 200] = b"\
0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// Writes `n` in decimal, as serde_json (itoa) writes integers.
pub fn put_u64(buf: &mut JsonBuf, n: u64) {
    if n < 10 {
        // n is 0..=9: the cast cannot truncate.
        buf.push(b'0' + n as u8);
        return;
    }
    let mut digits = [0u8; 20];
    buf.extend_from_slice(decimal(n, &mut digits));
}

/// `n` in decimal (as `Display` and itoa write it), composed at the end of `digits`: two
/// digits at a time from the right.
pub(crate) fn decimal(mut n: u64, digits: &mut [u8; 20]) -> &[u8] {
    let mut at = digits.len();
    while n >= 100 {
        // The remainder is 0..=99: the cast cannot truncate.
        let pair = (n % 100) as usize * 2;
        n /= 100;
        at -= 2;
        if let (Some(slot), Some(two)) = (digits.get_mut(at..at + 2), PAIRS.get(pair..pair + 2)) {
            slot.copy_from_slice(two);
        }
    }
    if n >= 10 {
        // n is 10..=99.
        let pair = n as usize * 2;
        at -= 2;
        if let (Some(slot), Some(two)) = (digits.get_mut(at..at + 2), PAIRS.get(pair..pair + 2)) {
            slot.copy_from_slice(two);
        }
    } else {
        at -= 1;
        if let Some(d) = digits.get_mut(at) {
            // n is 0..=9.
            *d = b'0' + n as u8;
        }
    }
    digits.get(at..).unwrap_or_default()
}

/// Writes `"text"` for text known to need no escape (ASCII digits, dots, colons, `-`, `T`
/// and `Z` of addresses and times the program wrote itself); anything else must go through
/// [`AppendJson`] for `str`.
pub fn put_quoted_plain(buf: &mut JsonBuf, text: &[u8]) {
    debug_assert!(is_plain(text));
    buf.quote(text);
}

/// [`append_value`] into a [`JsonBuf`].
pub fn append_value_to<T: Serialize + ?Sized>(buf: &mut JsonBuf, value: &T) -> Result<()> {
    value.serialize(&mut Fast { out: buf })
}

/// Where the hand-written JSON goes: the bytes written so far, at the front of storage kept
/// initialised (zeroed when it grows) past them. A piece of known length (a key, `null`) is
/// then copied after one bounds check as a few stores, where `Vec::extend_from_slice` became
/// a call and a `memcpy` per key.
#[derive(Debug, Default)]
pub struct JsonBuf {
    /// Initialised storage; the JSON is its first `len` bytes.
    bytes: Vec<u8>,
    len: usize,
}

impl JsonBuf {
    /// An empty buffer holding no storage yet.
    pub const fn new() -> JsonBuf {
        JsonBuf {
            bytes: Vec::new(),
            len: 0,
        }
    }

    pub fn with_capacity(capacity: usize) -> JsonBuf {
        JsonBuf {
            bytes: vec![0; capacity],
            len: 0,
        }
    }

    /// What was written.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or_default()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes of storage held.
    pub fn capacity(&self) -> usize {
        self.bytes.len()
    }

    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Forgets what was written after the first `len` bytes.
    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }

    #[inline(always)]
    pub fn push(&mut self, b: u8) {
        match self.bytes.get_mut(self.len) {
            Some(slot) => {
                *slot = b;
                self.len += 1;
            }
            None => self.grow_then_put(&[b]),
        }
    }

    #[inline(always)]
    pub fn extend_from_slice(&mut self, piece: &[u8]) {
        let end = self.len + piece.len();
        match self.bytes.get_mut(self.len..end) {
            Some(slot) => {
                slot.copy_from_slice(piece);
                self.len = end;
            }
            None => self.grow_then_put(piece),
        }
    }

    /// Writes `"text"`.
    #[inline]
    pub fn quote(&mut self, text: &[u8]) {
        self.push(b'"');
        self.extend_from_slice(text);
        self.push(b'"');
    }

    /// Writes `"text"` when every byte of `text` is plain ([`is_plain`]), checking each
    /// piece as it is copied: one pass over the text and no call to `memcpy`. Returns false,
    /// having written nothing, otherwise (bytes past the end may have been overwritten).
    #[inline(always)]
    pub fn put_plain(&mut self, text: &[u8]) -> bool {
        let n = text.len();
        let at = self.len;
        let end = at + n + 2;
        if self.bytes.len() < end {
            self.grow_to(end);
        }
        let Some(out) = self.bytes.get_mut(at..end) else {
            return false;
        };
        if !copy_plain(text, out) {
            return false;
        }
        self.len = end;
        true
    }

    #[cold]
    #[inline(never)]
    fn grow_to(&mut self, end: usize) {
        let size = end.max(self.bytes.len() * 2).max(4096);
        self.bytes.resize(size, 0);
    }

    #[cold]
    #[inline(never)]
    fn grow_then_put(&mut self, piece: &[u8]) {
        let end = self.len + piece.len();
        let size = end.max(self.bytes.len() * 2).max(4096);
        self.bytes.resize(size, 0);
        if let Some(slot) = self.bytes.get_mut(self.len..end) {
            slot.copy_from_slice(piece);
            self.len = end;
        }
    }
}

impl Write for JsonBuf {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.extend_from_slice(data);
        Ok(data.len())
    }
    fn write_all(&mut self, data: &[u8]) -> std::io::Result<()> {
        self.extend_from_slice(data);
        Ok(())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Out for JsonBuf {
    fn quoted(&mut self, text: &[u8]) -> std::io::Result<()> {
        self.quote(text);
        Ok(())
    }
    #[inline(always)]
    fn plain(&mut self, text: &[u8]) -> std::io::Result<bool> {
        Ok(self.put_plain(text))
    }
}

#[inline]
fn quote_into(buf: &mut Vec<u8>, text: &[u8]) {
    buf.reserve(text.len() + 2);
    buf.push(b'"');
    buf.extend_from_slice(text);
    buf.push(b'"');
}

/// Where the JSON goes: any writer, with a faster path for a buffer in memory.
trait Out: Write {
    /// Writes `"text"`.
    fn quoted(&mut self, text: &[u8]) -> std::io::Result<()> {
        self.write_all(b"\"")?;
        self.write_all(text)?;
        self.write_all(b"\"")
    }

    /// Writes `"text"` if `text` needs no escape ([`is_plain`]) and says whether it did.
    #[inline]
    fn plain(&mut self, text: &[u8]) -> std::io::Result<bool> {
        if is_plain(text) {
            self.quoted(text)?;
            return Ok(true);
        }
        Ok(false)
    }
}

impl Out for Vec<u8> {
    fn quoted(&mut self, text: &[u8]) -> std::io::Result<()> {
        quote_into(self, text);
        Ok(())
    }
}

/// Any writer, as an [`Out`].
struct Io<'w, W: Write + ?Sized>(&'w mut W);

impl<W: Write + ?Sized> Write for Io<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf)
    }
    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.0.write_all(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

impl<W: Write + ?Sized> Out for Io<'_, W> {}

/// True when no byte of `s` needs an escape: printable ASCII other than `"` and `\`.
/// (Non-ASCII text may need `\u` escapes for C1, bidi or zero-width characters; it takes the
/// slow path.) Long strings are checked 16 bytes at a time (a fixed-size block the compiler
/// turns into a few vector instructions), the last block overlapping the one before; shorter
/// ones 8 bytes at a time in a `u64`.
pub(crate) fn is_plain(s: &[u8]) -> bool {
    if s.len() >= 16 {
        // The early exit keeps the compiler from vectorising across blocks (gathering a byte
        // from each) instead of within one.
        for block in s.chunks_exact(16) {
            match <&[u8; 16]>::try_from(block) {
                Ok(b) if block_plain(b) => {}
                _ => return false,
            }
        }
        matches!(
            s.get(s.len() - 16..).map(<&[u8; 16]>::try_from),
            Some(Ok(tail)) if block_plain(tail)
        )
    } else if s.len() >= 8 {
        let first = s.get(..8).and_then(|w| w.try_into().ok());
        let last = s.get(s.len() - 8..).and_then(|w| w.try_into().ok());
        match (first, last) {
            (Some(a), Some(b)) => {
                word_plain(u64::from_le_bytes(a)) && word_plain(u64::from_le_bytes(b))
            }
            _ => false,
        }
    } else if s.len() >= 4 {
        // Two overlapping 4-byte halves make one word.
        let first = s.get(..4).and_then(|w| w.try_into().ok());
        let last = s.get(s.len() - 4..).and_then(|w| w.try_into().ok());
        match (first, last) {
            (Some(a), Some(b)) => word_plain(
                u64::from(u32::from_le_bytes(a)) | u64::from(u32::from_le_bytes(b)) << 32,
            ),
            _ => false,
        }
    } else {
        // 0 to 3 bytes: the first, middle and last byte cover them all; the rest of the word
        // is filled with a plain byte.
        match (s.first(), s.get(s.len() / 2), s.last()) {
            (Some(&a), Some(&b), Some(&c)) => {
                word_plain(u64::from_le_bytes([a, b, c, b'a', b'a', b'a', b'a', b'a']))
            }
            _ => true,
        }
    }
}

/// Copies `text` between quotes into `out` (exactly two bytes longer) if every byte of it is
/// plain, as [`is_plain`] tells, checked on the same loads as the copy: 16-byte blocks for
/// long text (the last one overlapping the one before), two overlapping words for shorter.
/// False when some byte is not plain (what was copied so far stays, to be overwritten).
#[inline(always)]
fn copy_plain(text: &[u8], out: &mut [u8]) -> bool {
    let n = text.len();
    if out.len() != n + 2 {
        return false;
    }
    let Some((open, rest)) = out.split_first_mut() else {
        return false;
    };
    let Some((close, body)) = rest.split_last_mut() else {
        return false;
    };
    *open = b'"';
    *close = b'"';
    if n >= 16 {
        for (src, dst) in text.chunks_exact(16).zip(body.chunks_exact_mut(16)) {
            // The early exit keeps the check within one block (as in `is_plain`).
            match <&[u8; 16]>::try_from(src) {
                Ok(block) if block_plain(block) => dst.copy_from_slice(block),
                _ => return false,
            }
        }
        match (text.last_chunk::<16>(), body.last_chunk_mut::<16>()) {
            (Some(block), Some(dst)) if block_plain(block) => {
                *dst = *block;
                true
            }
            _ => false,
        }
    } else if n >= 8 {
        match (text.first_chunk::<8>(), text.last_chunk::<8>()) {
            (Some(a), Some(b)) => {
                let plain =
                    word_plain(u64::from_le_bytes(*a)) && word_plain(u64::from_le_bytes(*b));
                if let Some(dst) = body.first_chunk_mut::<8>() {
                    *dst = *a;
                }
                if let Some(dst) = body.last_chunk_mut::<8>() {
                    *dst = *b;
                }
                plain
            }
            _ => false,
        }
    } else if n >= 4 {
        match (text.first_chunk::<4>(), text.last_chunk::<4>()) {
            (Some(a), Some(b)) => {
                let word =
                    u64::from(u32::from_le_bytes(*a)) | u64::from(u32::from_le_bytes(*b)) << 32;
                if let Some(dst) = body.first_chunk_mut::<4>() {
                    *dst = *a;
                }
                if let Some(dst) = body.last_chunk_mut::<4>() {
                    *dst = *b;
                }
                word_plain(word)
            }
            _ => false,
        }
    } else {
        // 0 to 3 bytes: the first, middle and last byte are all of them.
        match (text.first(), text.get(n / 2), text.last()) {
            (Some(&a), Some(&b), Some(&c)) => {
                if let Some(d) = body.first_mut() {
                    *d = a;
                }
                if let Some(d) = body.get_mut(n / 2) {
                    *d = b;
                }
                if let Some(d) = body.last_mut() {
                    *d = c;
                }
                word_plain(u64::from_le_bytes([a, b, c, b'a', b'a', b'a', b'a', b'a']))
            }
            _ => true,
        }
    }
}

/// Every byte of the block is plain (not below space, DEL or above, `"` or `\`). Branch-free,
/// so it vectorises.
#[inline(always)]
fn block_plain(block: &[u8; 16]) -> bool {
    let mut bad = 0u8;
    for &b in block {
        bad |= u8::from(b.wrapping_sub(0x20) >= 0x5f) | u8::from(b == b'"') | u8::from(b == b'\\');
    }
    bad == 0
}

/// Every byte of the word is plain, tested on all eight bytes at once: for each byte, its
/// high bit in `mask` is set if it is >= 0x80, < 0x20, DEL, `"` or `\`. (The classic
/// "has a zero byte" and "has a byte below n" tests: exact as a yes/no answer.)
fn word_plain(w: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let has_zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    let below_space = w.wrapping_sub(ONES * 0x20) & !w & HIGH;
    let bad = (w & HIGH)
        | below_space
        | has_zero(w ^ (ONES * 0x7f))
        | has_zero(w ^ (ONES * u64::from(b'"')))
        | has_zero(w ^ (ONES * u64::from(b'\\')));
    bad == 0
}

/// Writes `s` as a JSON string: one copy when plain, serde_json's escaping otherwise.
fn write_str<W: Out + ?Sized>(out: &mut W, s: &str) -> Result<()> {
    match out.plain(s.as_bytes()) {
        Ok(true) => Ok(()),
        Ok(false) => ser::Serializer::serialize_str(&mut slow(out), s),
        Err(e) => Err(Error::io(e)),
    }
}

/// serde_json's serializer on the same writer, for everything without a fast path.
fn slow<W: Out + ?Sized>(out: &mut W) -> serde_json::Serializer<&mut W, TerminalSafe> {
    serde_json::Serializer::with_formatter(out, TerminalSafe)
}

fn put<W: Out + ?Sized>(out: &mut W, bytes: &[u8]) -> Result<()> {
    out.write_all(bytes).map_err(Error::io)
}

struct Fast<'w, W: Out + ?Sized> {
    out: &'w mut W,
}

/// An array or object being written: whether the next element is the first.
struct Compound<'a, 'w, W: Out + ?Sized> {
    ser: &'a mut Fast<'w, W>,
    first: bool,
    /// What closes it: `]`, `}`, or `}}` for a variant wrapping an object or array (`]}`).
    close: &'static [u8],
}

impl<'w, W: Out + ?Sized> Fast<'w, W> {
    /// Opens `{"variant":` as serde_json does for non-unit enum variants.
    fn open_variant(&mut self, variant: &'static str) -> Result<()> {
        put(self.out, b"{")?;
        write_str(self.out, variant)?;
        put(self.out, b":")
    }
}

macro_rules! delegate {
    ($($name:ident: $t:ty),* $(,)?) => {
        $(fn $name(self, v: $t) -> Result<()> {
            ser::Serializer::$name(&mut slow(self.out), v)
        })*
    };
}

impl<'a, 'w, W: Out + ?Sized> ser::Serializer for &'a mut Fast<'w, W> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Compound<'a, 'w, W>;
    type SerializeTuple = Compound<'a, 'w, W>;
    type SerializeTupleStruct = Compound<'a, 'w, W>;
    type SerializeTupleVariant = Compound<'a, 'w, W>;
    type SerializeMap = Compound<'a, 'w, W>;
    type SerializeStruct = Compound<'a, 'w, W>;
    type SerializeStructVariant = Compound<'a, 'w, W>;

    delegate!(
        serialize_bool: bool,
        serialize_i8: i8,
        serialize_i16: i16,
        serialize_i32: i32,
        serialize_i64: i64,
        serialize_i128: i128,
        serialize_u8: u8,
        serialize_u16: u16,
        serialize_u32: u32,
        serialize_u64: u64,
        serialize_u128: u128,
        serialize_f32: f32,
        serialize_f64: f64,
        serialize_char: char,
        serialize_bytes: &[u8],
    );

    fn serialize_str(self, v: &str) -> Result<()> {
        write_str(self.out, v)
    }

    fn serialize_none(self) -> Result<()> {
        put(self.out, b"null")
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<()> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<()> {
        put(self.out, b"null")
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<()> {
        put(self.out, b"null")
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<()> {
        write_str(self.out, variant)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<()> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<()> {
        self.open_variant(variant)?;
        value.serialize(&mut *self)?;
        put(self.out, b"}")
    }

    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq> {
        put(self.out, b"[")?;
        Ok(Compound {
            ser: self,
            first: true,
            close: b"]",
        })
    }

    fn serialize_tuple(self, len: usize) -> Result<Self::SerializeTuple> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleStruct> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant> {
        self.open_variant(variant)?;
        put(self.out, b"[")?;
        Ok(Compound {
            ser: self,
            first: true,
            close: b"]}",
        })
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap> {
        put(self.out, b"{")?;
        Ok(Compound {
            ser: self,
            first: true,
            close: b"}",
        })
    }

    fn serialize_struct(self, _name: &'static str, len: usize) -> Result<Self::SerializeStruct> {
        self.serialize_map(Some(len))
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant> {
        self.open_variant(variant)?;
        put(self.out, b"{")?;
        Ok(Compound {
            ser: self,
            first: true,
            close: b"}}",
        })
    }

    fn collect_str<T: std::fmt::Display + ?Sized>(self, value: &T) -> Result<()> {
        ser::Serializer::collect_str(&mut slow(self.out), value)
    }
}

impl<W: Out + ?Sized> Compound<'_, '_, W> {
    /// Writes the separator before an element or entry.
    fn next(&mut self) -> Result<()> {
        if self.first {
            self.first = false;
            Ok(())
        } else {
            put(self.ser.out, b",")
        }
    }

    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.next()?;
        value.serialize(&mut *self.ser)
    }

    fn field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<()> {
        self.next()?;
        write_str(self.ser.out, key)?;
        put(self.ser.out, b":")?;
        value.serialize(&mut *self.ser)
    }

    fn close(self) -> Result<()> {
        put(self.ser.out, self.close)
    }
}

impl<W: Out + ?Sized> ser::SerializeSeq for Compound<'_, '_, W> {
    type Ok = ();
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.element(value)
    }
    fn end(self) -> Result<()> {
        self.close()
    }
}

impl<W: Out + ?Sized> ser::SerializeTuple for Compound<'_, '_, W> {
    type Ok = ();
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.element(value)
    }
    fn end(self) -> Result<()> {
        self.close()
    }
}

impl<W: Out + ?Sized> ser::SerializeTupleStruct for Compound<'_, '_, W> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.element(value)
    }
    fn end(self) -> Result<()> {
        self.close()
    }
}

impl<W: Out + ?Sized> ser::SerializeTupleVariant for Compound<'_, '_, W> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.element(value)
    }
    fn end(self) -> Result<()> {
        self.close()
    }
}

impl<W: Out + ?Sized> ser::SerializeStruct for Compound<'_, '_, W> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<()> {
        self.field(key, value)
    }
    fn end(self) -> Result<()> {
        self.close()
    }
}

impl<W: Out + ?Sized> ser::SerializeStructVariant for Compound<'_, '_, W> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<()> {
        self.field(key, value)
    }
    fn end(self) -> Result<()> {
        self.close()
    }
}

impl<W: Out + ?Sized> ser::SerializeMap for Compound<'_, '_, W> {
    type Ok = ();
    type Error = Error;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<()> {
        self.next()?;
        match key.serialize(StrKey {
            out: &mut *self.ser.out,
        }) {
            Ok(()) => Ok(()),
            Err(KeyError::Write(e)) => Err(e),
            // Not a string: serde_json decides how the key is written (numbers are quoted,
            // other kinds refused). Its map writes `{` then the key; only the key is wanted,
            // so the key goes to a scratch buffer first.
            Err(KeyError::NotStr) => {
                let mut scratch = Vec::new();
                let mut json = slow(&mut scratch);
                let mut map = ser::Serializer::serialize_map(&mut json, None)?;
                ser::SerializeMap::serialize_key(&mut map, key)?;
                put(self.ser.out, scratch.get(1..).unwrap_or_default())
            }
        }
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        put(self.ser.out, b":")?;
        value.serialize(&mut *self.ser)
    }

    fn end(self) -> Result<()> {
        self.close()
    }
}

/// Why a map key was not written by [`StrKey`].
#[derive(Debug)]
enum KeyError {
    /// The key is not a string (nothing was written).
    NotStr,
    /// Writing failed.
    Write(Error),
}

impl std::fmt::Display for KeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyError::NotStr => f.write_str("map key is not a string"),
            KeyError::Write(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for KeyError {}

impl ser::Error for KeyError {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        KeyError::Write(Error::custom(msg))
    }
}

/// Writes a map key that is a string (or a newtype or unit variant of one, as serde_json
/// takes them); refuses anything else before writing a byte.
struct StrKey<'w, W: Out + ?Sized> {
    out: &'w mut W,
}

macro_rules! not_str {
    ($($name:ident: $t:ty),* $(,)?) => {
        $(fn $name(self, _v: $t) -> std::result::Result<(), KeyError> {
            Err(KeyError::NotStr)
        })*
    };
}

impl<W: Out + ?Sized> ser::Serializer for StrKey<'_, W> {
    type Ok = ();
    type Error = KeyError;
    type SerializeSeq = Impossible<(), KeyError>;
    type SerializeTuple = Impossible<(), KeyError>;
    type SerializeTupleStruct = Impossible<(), KeyError>;
    type SerializeTupleVariant = Impossible<(), KeyError>;
    type SerializeMap = Impossible<(), KeyError>;
    type SerializeStruct = Impossible<(), KeyError>;
    type SerializeStructVariant = Impossible<(), KeyError>;

    not_str!(
        serialize_bool: bool,
        serialize_i8: i8,
        serialize_i16: i16,
        serialize_i32: i32,
        serialize_i64: i64,
        serialize_i128: i128,
        serialize_u8: u8,
        serialize_u16: u16,
        serialize_u32: u32,
        serialize_u64: u64,
        serialize_u128: u128,
        serialize_f32: f32,
        serialize_f64: f64,
        serialize_char: char,
        serialize_bytes: &[u8],
    );

    fn serialize_str(self, v: &str) -> std::result::Result<(), KeyError> {
        write_str(self.out, v).map_err(KeyError::Write)
    }

    fn serialize_none(self) -> std::result::Result<(), KeyError> {
        Err(KeyError::NotStr)
    }

    fn serialize_some<T: Serialize + ?Sized>(self, _v: &T) -> std::result::Result<(), KeyError> {
        Err(KeyError::NotStr)
    }

    fn serialize_unit(self) -> std::result::Result<(), KeyError> {
        Err(KeyError::NotStr)
    }

    fn serialize_unit_struct(self, _name: &'static str) -> std::result::Result<(), KeyError> {
        Err(KeyError::NotStr)
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> std::result::Result<(), KeyError> {
        self.serialize_str(variant)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> std::result::Result<(), KeyError> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> std::result::Result<(), KeyError> {
        Err(KeyError::NotStr)
    }

    fn serialize_seq(
        self,
        _len: Option<usize>,
    ) -> std::result::Result<Self::SerializeSeq, KeyError> {
        Err(KeyError::NotStr)
    }

    fn serialize_tuple(self, _len: usize) -> std::result::Result<Self::SerializeTuple, KeyError> {
        Err(KeyError::NotStr)
    }

    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> std::result::Result<Self::SerializeTupleStruct, KeyError> {
        Err(KeyError::NotStr)
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> std::result::Result<Self::SerializeTupleVariant, KeyError> {
        Err(KeyError::NotStr)
    }

    fn serialize_map(
        self,
        _len: Option<usize>,
    ) -> std::result::Result<Self::SerializeMap, KeyError> {
        Err(KeyError::NotStr)
    }

    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> std::result::Result<Self::SerializeStruct, KeyError> {
        Err(KeyError::NotStr)
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> std::result::Result<Self::SerializeStructVariant, KeyError> {
        Err(KeyError::NotStr)
    }

    fn collect_str<T: std::fmt::Display + ?Sized>(
        self,
        _value: &T,
    ) -> std::result::Result<(), KeyError> {
        Err(KeyError::NotStr)
    }
}

#[cfg(test)]
mod tests;
