//! Making capture text safe for a terminal.
//!
//! Every byte string that came from a capture goes through [`escape`] (or [`escape_str`])
//! before it is printed: control characters (C0, DEL, C1), invalid UTF-8 and the escape
//! character itself become visible `\xNN` / `\u{NN}` sequences, so a header carrying terminal
//! escape sequences cannot move the cursor, change colours or set the window title.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Escapes bytes from a capture for display. Valid printable UTF-8 is kept as it is.
pub fn escape(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(s) => escape_str(s),
        Err(_) => {
            let mut out = String::with_capacity(bytes.len() + 8);
            for chunk in bytes.utf8_chunks() {
                push_escaped(&mut out, chunk.valid());
                for b in chunk.invalid() {
                    // Writing into a String cannot fail.
                    _ = write!(out, "\\x{b:02x}");
                }
            }
            Cow::Owned(out)
        }
    }
}

/// Escapes a string for display (control characters made visible).
pub fn escape_str(s: &str) -> Cow<'_, str> {
    // Printable ASCII (the common case) needs nothing: found eight bytes at a time, without
    // decoding characters; only what follows the first other byte is looked at by character.
    let plain = printable_ascii_prefix(s.as_bytes());
    // Every byte before `plain` is ASCII, so it is a character boundary.
    let (head, rest) = s.split_at_checked(plain).unwrap_or(("", s));
    let Some(first) = rest
        .char_indices()
        .find(|&(_, c)| needs_escape(c))
        .map(|(i, _)| i)
    else {
        return Cow::Borrowed(s);
    };
    let (clean, dirty) = rest.split_at_checked(first).unwrap_or(("", rest));
    let mut out = String::with_capacity(s.len() + 8);
    out.push_str(head);
    out.push_str(clean);
    push_escaped(&mut out, dirty);
    Cow::Owned(out)
}

/// Length of the run of printable ASCII (0x20 to 0x7e) that `b` starts with.
fn printable_ascii_prefix(b: &[u8]) -> usize {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    let mut i = 0;
    for chunk in b.chunks_exact(8) {
        let Ok(bytes) = <[u8; 8]>::try_from(chunk) else {
            break;
        };
        let x = u64::from_ne_bytes(bytes);
        // A byte below 0x20 sets its top bit in `x - 0x20` (without having it in `x`); a byte
        // of 0x7f or more has it in `x + 1` or in `x`. Borrows and carries between bytes only
        // start at bytes that are themselves caught, so "any byte" is exact; which one is
        // left to the byte loop below.
        let below = x.wrapping_sub(ONES * 0x20) & !x;
        let above = x.wrapping_add(ONES) | x;
        if (below | above) & HIGH != 0 {
            break;
        }
        i += 8;
    }
    while b.get(i).is_some_and(|c| (0x20..0x7f).contains(c)) {
        i += 1;
    }
    i
}

fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Rewrites, inside JSON strings, the characters a terminal could act on (DEL, C1 controls,
/// bidi and zero-width marks) as `\uXXXX`; serde_json already escapes C0 controls. The data
/// stays exact, so JSON printed raw to a terminal is harmless. Every JSON output is written
/// as serde_json with this formatter writes it: [`super::json`] copies plain strings itself
/// and hands everything else to serde_json with this formatter.
pub struct TerminalSafe;

impl serde_json::ser::Formatter for TerminalSafe {
    fn write_string_fragment<W>(&mut self, writer: &mut W, fragment: &str) -> std::io::Result<()>
    where
        W: ?Sized + std::io::Write,
    {
        // serde_json escapes C0 controls, quotes and backslashes around the fragments it hands
        // here, so a fragment of ASCII below DEL needs nothing: copy it whole (the common case).
        if fragment.bytes().all(|b| b < 0x7f) {
            return writer.write_all(fragment.as_bytes());
        }
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            if needs_escape(c) {
                writer.write_all(fragment.get(start..i).unwrap_or("").as_bytes())?;
                // Every such character is in the Basic Multilingual Plane: one \u escape.
                write!(writer, "\\u{:04x}", c as u32)?;
                start = i + c.len_utf8();
            }
        }
        writer.write_all(fragment.get(start..).unwrap_or("").as_bytes())
    }
}

/// Writes `value` as compact, terminal-safe JSON followed by a newline (one NDJSON line).
pub fn write_json<T: serde::Serialize + ?Sized>(
    out: &mut dyn std::io::Write,
    value: &T,
) -> std::io::Result<()> {
    // The same bytes as serde_json with `TerminalSafe`, with plain strings copied whole.
    super::json::write_chunked(&mut *out, value).map_err(std::io::Error::other)?;
    out.write_all(b"\n")
}

fn push_escaped(out: &mut String, s: &str) {
    for c in s.chars() {
        // Writing into a String cannot fail.
        if !needs_escape(c) {
            out.push(c);
        } else if (c as u32) < 0x100 {
            _ = write!(out, "\\x{:02x}", c as u32);
        } else {
            _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The printable-ASCII shortcut borrows exactly the strings the character rule borrows.
    #[test]
    fn ascii_shortcut_agrees_with_the_character_rule() {
        for b in 0u8..=0x7f {
            let s = format!("ab{}cd", char::from(b));
            let borrowed = matches!(escape_str(&s), Cow::Borrowed(_));
            assert_eq!(borrowed, !needs_escape(char::from(b)), "{b:#x}");
        }
        for s in ["", "plain", "caf\u{e9}", "\u{202e}x", "a\u{85}b", "\u{7f}"] {
            let by_chars = s.chars().all(|c| !needs_escape(c));
            assert_eq!(matches!(escape_str(s), Cow::Borrowed(_)), by_chars, "{s:?}");
        }
    }

    /// The character rule as first written: every character looked at, each one that needs it
    /// escaped with `format!`.
    fn reference(s: &str) -> Cow<'_, str> {
        if s.chars().all(|c| !needs_escape(c)) {
            return Cow::Borrowed(s);
        }
        let mut out = String::new();
        for c in s.chars() {
            if !needs_escape(c) {
                out.push(c);
            } else if (c as u32) < 0x100 {
                out.push_str(&format!("\\x{:02x}", c as u32));
            } else {
                out.push_str(&format!("\\u{{{:x}}}", c as u32));
            }
        }
        Cow::Owned(out)
    }

    /// The chunked scan and the split copy give what the character rule gives, with the odd
    /// byte at every position of an eight-byte chunk and of the tail.
    #[test]
    fn chunked_scan_agrees_with_the_character_rule() {
        let odd = [
            "\u{0}",
            "\t",
            "\u{1f}",
            "\u{7f}",
            "\u{80}",
            "\u{85}",
            "\u{9b}",
            "\u{a0}",
            "\u{e9}",
            "\u{200b}",
            "\u{202e}",
            "\u{2069}",
            "\u{fffd}",
            "\u{1f600}",
            " ",
            "~",
            "\u{1b}[2J",
        ];
        for len in 0..20 {
            let base = "abcdefghijklmnopqrstuvwxyz".get(..len).unwrap_or("");
            assert_eq!(escape_str(base), reference(base));
            assert!(matches!(escape_str(base), Cow::Borrowed(_)));
            assert_eq!(printable_ascii_prefix(base.as_bytes()), len);
            for pos in 0..=len {
                for o in odd {
                    let s = format!("{}{o}{}", &base[..pos], &base[pos..]);
                    let got = escape_str(&s);
                    let want = reference(&s);
                    assert_eq!(got, want, "{s:?}");
                    assert_eq!(
                        matches!(got, Cow::Borrowed(_)),
                        matches!(want, Cow::Borrowed(_)),
                        "{s:?}"
                    );
                    let first_odd = s.bytes().position(|b| !(0x20..0x7f).contains(&b));
                    assert_eq!(
                        printable_ascii_prefix(s.as_bytes()),
                        first_odd.unwrap_or(s.len()),
                        "{s:?}"
                    );
                }
            }
        }
        for s in [
            "",
            "\u{0}",
            "caf\u{e9} \u{202e}x\u{1b}",
            "\u{1b}\u{1b}\u{1b}\u{1b}\u{1b}\u{1b}\u{1b}\u{1b}\u{1b}",
        ] {
            assert_eq!(escape_str(s), reference(s), "{s:?}");
        }
        // Every byte value, in every lane of a chunk.
        for b in 0u8..=0xff {
            for lane in 0..8 {
                let mut v = vec![b'a'; 16];
                if let Some(x) = v.get_mut(lane) {
                    *x = b;
                }
                let plain = (0x20..0x7f).contains(&b);
                assert_eq!(
                    printable_ascii_prefix(&v),
                    if plain { 16 } else { lane },
                    "{b:#x} at {lane}"
                );
            }
        }
    }

    #[test]
    fn plain_text_is_borrowed() {
        assert!(matches!(escape(b"INVITE sip:bob@x"), Cow::Borrowed(_)));
    }

    #[test]
    fn control_and_escape_sequences_are_made_visible() {
        let e = escape(b"Bob\x1b]0;pwned\x07\x1b[2J\r\n\x7f\xc2\x9b");
        assert_eq!(e, "Bob\\x1b]0;pwned\\x07\\x1b[2J\\x0d\\x0a\\x7f\\x9b");
        assert!(!e.chars().any(|c| c.is_control()));
    }

    #[test]
    fn invalid_utf8_is_shown_as_hex() {
        assert_eq!(escape(b"a\xffb\xc3"), "a\\xffb\\xc3");
        assert_eq!(escape("caf\u{e9}".as_bytes()), "caf\u{e9}");
    }

    #[test]
    fn bidi_overrides_are_escaped() {
        assert_eq!(escape_str("a\u{202e}b"), "a\\u{202e}b");
    }
}
