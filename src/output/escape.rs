//! Making capture text safe for a terminal.
//!
//! Every byte string that came from a capture goes through [`escape`] (or [`escape_str`])
//! before it is printed: control characters (C0, DEL, C1), invalid UTF-8 and the escape
//! character itself become visible `\xNN` / `\u{NN}` sequences, so a header carrying terminal
//! escape sequences cannot move the cursor, change colours or set the window title.

use std::borrow::Cow;

/// Escapes bytes from a capture for display. Valid printable UTF-8 is kept as it is.
pub fn escape(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(s) => escape_str(s),
        Err(_) => {
            let mut out = String::with_capacity(bytes.len() + 8);
            for chunk in bytes.utf8_chunks() {
                push_escaped(&mut out, chunk.valid());
                for b in chunk.invalid() {
                    out.push_str(&format!("\\x{b:02x}"));
                }
            }
            Cow::Owned(out)
        }
    }
}

/// Escapes a string for display (control characters made visible).
pub fn escape_str(s: &str) -> Cow<'_, str> {
    if s.chars().all(|c| !needs_escape(c)) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    push_escaped(&mut out, s);
    Cow::Owned(out)
}

fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn push_escaped(out: &mut String, s: &str) {
    for c in s.chars() {
        if !needs_escape(c) {
            out.push(c);
        } else if (c as u32) < 0x100 {
            out.push_str(&format!("\\x{:02x}", c as u32));
        } else {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
