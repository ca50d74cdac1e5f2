//! The ladder as a Mermaid `sequenceDiagram`, which GitHub and GitLab render in issues and
//! Markdown files. Painted from the same [`Layout`] as the text.
//!
//! ```text
//! sequenceDiagram
//!     title Call-ID a84b4c76e66710  alice -> bob  INVITE  rejected, 486 Busy Here
//!     participant A as 10.0.0.1<br/>user agent
//!     participant B as 10.0.0.2<br/>proxy
//!     A->>B: INVITE bob [SDP PCMU] (19:36:51.139)
//!     rect rgb(255, 228, 228)
//!     B-->>A: 486 Busy Here (+0.020s)
//!     Note over A,B: 4xx client failure: ...
//!     end
//! ```
//!
//! Requests are solid arrows (`->>`), responses dashed (`-->>`), repeats open-headed (`-)`,
//! `--)`); failure responses sit on a light red band. Participants get short aliases (`A`,
//! `B`, ..., `AA`) so no address reaches the syntax; every text goes through [`text`], which
//! writes the characters Mermaid would read as syntax (`;`, `#`, `<`, `>`, `&`, `"`, `%`, `:`,
//! `{`, `}`) as Mermaid entity codes (`#59;`). Several calls make a Markdown document with one
//! fenced diagram per call, ready to paste into an issue.

use std::io::{self, Write};

use super::{wrap, Direction, Layout, Mark, Row, Tone};

/// Notes are broken into lines of about this many characters (Mermaid does not wrap them).
const NOTE_WIDTH: usize = 72;

/// The alias of column `i`: `A`..`Z`, then `AA`, `AB`, ...
pub fn alias(i: usize) -> String {
    let mut n = i;
    let mut s = Vec::new();
    loop {
        s.push(char::from(b'A' + (n % 26) as u8));
        if n < 26 {
            break;
        }
        n = n / 26 - 1;
    }
    s.iter().rev().collect()
}

/// Makes (already terminal-escaped) text safe inside a Mermaid label: characters the
/// sequence-diagram grammar or its HTML rendering would act on become entity codes.
pub fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            ';' => out.push_str("#59;"),
            '#' => out.push_str("#35;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '&' => out.push_str("#amp;"),
            '"' => out.push_str("#quot;"),
            '%' => out.push_str("#37;"),
            ':' => out.push_str("#58;"),
            '{' => out.push_str("#123;"),
            '}' => out.push_str("#125;"),
            '\r' | '\n' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Lines joined by `<br/>`, each made safe.
fn lines_text<'a>(lines: impl IntoIterator<Item = &'a str>) -> String {
    lines
        .into_iter()
        .map(text)
        .collect::<Vec<_>>()
        .join("<br/>")
}

/// One call's `sequenceDiagram`.
pub fn diagram(layout: &Layout) -> String {
    let mut d = String::from("sequenceDiagram\n");
    let title = match layout.index {
        Some(i) => format!("Call {i}  {}", layout.title),
        None => layout.title.clone(),
    };
    d.push_str(&format!("    title {}\n", text(&title)));
    for (i, c) in layout.columns.iter().enumerate() {
        d.push_str(&format!(
            "    participant {} as {}\n",
            alias(i),
            lines_text(c.title_lines())
        ));
    }
    let mut band_open = false;
    for row in &layout.rows {
        match row {
            Row::Arrow(a) => {
                if band_open {
                    d.push_str("    end\n");
                    band_open = false;
                }
                if a.tone == Tone::Failure {
                    d.push_str("    rect rgb(255, 228, 228)\n");
                    band_open = true;
                }
                let arrow = match (a.tone == Tone::Request, a.mark == Mark::First) {
                    (true, true) => "->>",
                    (true, false) => "-)",
                    (false, true) => "-->>",
                    (false, false) => "--)",
                };
                d.push_str(&format!(
                    "    {}{arrow}{}: {} ({})\n",
                    alias(a.from),
                    alias(a.to),
                    text(&a.text()),
                    text(&a.time_text())
                ));
            }
            Row::Note(n) => {
                let body = lines_text(wrap(&n.text, NOTE_WIDTH).iter().map(String::as_str));
                let (lo, hi) = row.span();
                if lo == hi || matches!(direction(n.from, n.to), Direction::SelfLoop) {
                    d.push_str(&format!("    Note right of {}: {body}\n", alias(lo)));
                } else {
                    d.push_str(&format!(
                        "    Note over {},{}: {body}\n",
                        alias(lo),
                        alias(hi)
                    ));
                }
            }
        }
    }
    if band_open {
        d.push_str("    end\n");
    }
    d
}

fn direction(from: usize, to: usize) -> Direction {
    match from.cmp(&to) {
        std::cmp::Ordering::Less => Direction::Right,
        std::cmp::Ordering::Greater => Direction::Left,
        std::cmp::Ordering::Equal => Direction::SelfLoop,
    }
}

/// Writes one bare diagram for one call; for several, a Markdown document with a heading line
/// and a fenced `mermaid` block per call.
pub fn write(out: &mut dyn Write, layouts: &[Layout]) -> io::Result<()> {
    if let [one] = layouts {
        return out.write_all(diagram(one).as_bytes());
    }
    for (i, layout) in layouts.iter().enumerate() {
        if i > 0 {
            out.write_all(b"\n")?;
        }
        let heading = match layout.index {
            Some(n) => format!("Call {n}"),
            None => format!("Call {}", i + 1),
        };
        // The heading is Markdown: backslash-escape what Markdown would format.
        let mut title = String::new();
        for c in layout.title.chars() {
            if "\\`*_[]<>#|~".contains(c) {
                title.push('\\');
            }
            title.push(c);
        }
        writeln!(out, "**{heading}**: {title}\n")?;
        writeln!(out, "```mermaid")?;
        out.write_all(diagram(layout).as_bytes())?;
        writeln!(out, "```")?;
    }
    Ok(())
}
