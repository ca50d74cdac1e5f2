//! The ladder in character cells: plain text for tickets and mail, with ANSI colours for a
//! terminal. Painting produces [`Line`]s of inked [`Span`]s; [`write`] turns inks into SGR
//! codes (or nothing), and the terminal view can map the same inks to its own styles.
//!
//! ```text
//! Call 1  Call-ID a84b4c76e66710  alice -> bob  INVITE  rejected, 486 Busy Here
//!                   10.0.0.1            10.0.0.2            10.0.0.3
//!                  user agent            proxy             user agent
//!                      |                   |                   |
//!                      |  INVITE bob [SDP PCMU]                |
//! 19:36:51.139         |------------------>|                   |
//!                      |                   | INVITE bob [SDP]  |
//! +0.001s              |                   |------------------>|
//!                      |                   |   486 Busy Here   |
//! +0.020s              |                   |<------------------|
//!                      |                   | * 4xx client failure: The callee's device ...
//! ```
//!
//! Retransmissions are drawn `~~~~>`, duplicate captures `....>`. Labels are shortened to the
//! room between lifelines; annotations wrap under their arrow. The drawing never breaks: when
//! the hosts do not fit in the width asked, it is drawn wider.

use std::io::{self, Write};

use super::{fit, width, wrap, Direction, Geometry, Layout, Mark, Row, Tone};

/// What a cell is painted as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ink {
    Plain,
    /// The call's heading line and the host addresses.
    Title,
    /// An arrow and its label, by the message's tone.
    Tone(Tone),
    /// Annotation text.
    Muted,
}

/// A run of cells with one ink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    pub ink: Ink,
    pub text: String,
}

/// One line of output.
pub type Line = Vec<Span>;

/// Settings of the text painter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextOptions {
    /// Width to fit in (labels are shortened to it; the drawing grows only when the hosts
    /// alone do not fit).
    pub width: usize,
    /// Emit ANSI SGR colour codes.
    pub color: bool,
}

/// A grid of cells, grown on demand, turned into lines of spans.
struct Canvas {
    cells: Vec<(char, Ink)>,
}

impl Canvas {
    fn new(width: usize) -> Canvas {
        Canvas {
            cells: vec![(' ', Ink::Plain); width],
        }
    }

    fn put(&mut self, x: usize, c: char, ink: Ink) {
        if x >= self.cells.len() {
            self.cells.resize(x.saturating_add(1), (' ', Ink::Plain));
        }
        if let Some(cell) = self.cells.get_mut(x) {
            *cell = (c, ink);
        }
    }

    fn text(&mut self, x: usize, s: &str, ink: Ink) {
        for (i, c) in s.chars().enumerate() {
            self.put(x.saturating_add(i), c, ink);
        }
    }

    fn lifelines(&mut self, g: &Geometry) {
        for &x in &g.x {
            self.put(x, '|', Ink::Plain);
        }
    }

    fn into_line(self) -> Line {
        let mut line: Line = Vec::new();
        let end = self
            .cells
            .iter()
            .rposition(|(c, _)| *c != ' ')
            .map_or(0, |i| i + 1);
        for &(c, ink) in self.cells.iter().take(end) {
            // Blank cells join whatever run they are in, so colours are not split by spaces.
            let ink = if c == ' ' {
                line.last().map_or(Ink::Plain, |s| s.ink)
            } else {
                ink
            };
            match line.last_mut() {
                Some(s) if s.ink == ink => s.text.push(c),
                _ => line.push(Span {
                    ink,
                    text: c.to_string(),
                }),
            }
        }
        line
    }
}

/// The heading of a call: its title line, the column titles, and a line of bare lifelines.
pub fn header_lines(layout: &Layout, g: &Geometry, max_width: usize) -> Vec<Line> {
    let mut lines = Vec::new();
    let title = match layout.index {
        Some(i) => format!("Call {i}  {}", layout.title),
        None => layout.title.clone(),
    };
    lines.push(vec![Span {
        ink: Ink::Title,
        text: fit(&title, max_width.max(g.width)),
    }]);
    let depth = layout
        .columns
        .iter()
        .map(|c| c.title_lines().len())
        .max()
        .unwrap_or(0);
    for k in 0..depth {
        let mut canvas = Canvas::new(g.width);
        for ((c, &x), &room) in layout.columns.iter().zip(&g.x).zip(&g.title_room) {
            let Some(t) = c.title_lines().get(k).copied() else {
                continue;
            };
            let t = fit(t, room);
            let start = x.saturating_sub(width(&t) / 2);
            let ink = if k == 0 { Ink::Title } else { Ink::Plain };
            canvas.text(start, &t, ink);
        }
        lines.push(canvas.into_line());
    }
    let mut canvas = Canvas::new(g.width);
    canvas.lifelines(g);
    lines.push(canvas.into_line());
    lines
}

/// The lines of one row: two for an arrow (label above, arrow with its time), one or more for
/// an annotation (wrapped to the width).
pub fn row_lines(row: &Row, g: &Geometry, max_width: usize) -> Vec<Line> {
    let total = max_width.max(g.width);
    let xs = |a: usize, b: usize| {
        let xa = g.x.get(a).copied().unwrap_or(g.left);
        let xb = g.x.get(b).copied().unwrap_or(g.left);
        (xa, xb)
    };
    match row {
        Row::Arrow(a) => {
            let ink = Ink::Tone(a.tone);
            let (xf, xt) = xs(a.from, a.to);
            let (lo, hi) = (xf.min(xt), xf.max(xt));
            let body = match a.mark {
                Mark::First => '-',
                Mark::Retransmission { .. } => '~',
                Mark::Duplicate => '.',
            };
            let mut label = Canvas::new(g.width);
            label.lifelines(g);
            let mut arrow = Canvas::new(g.width);
            arrow.lifelines(g);
            arrow.text(0, &a.time_text(), Ink::Plain);
            match a.direction() {
                Direction::SelfLoop => {
                    // A message to itself: a hook out to the right and back.
                    label.text(lo + 1, &format!("{body}{body}."), ink);
                    arrow.text(lo + 1, &format!("<{body}'"), ink);
                    let room = total.saturating_sub(lo + 5);
                    label.text(lo + 5, &a.text_within(room), ink);
                }
                dir => {
                    let room = hi.saturating_sub(lo).saturating_sub(3);
                    let text = a.text_within(room);
                    let start = lo + 2 + room.saturating_sub(width(&text)) / 2;
                    label.text(start, &text, ink);
                    for x in lo + 1..hi {
                        arrow.put(x, body, ink);
                    }
                    if dir == Direction::Right {
                        arrow.put(hi.saturating_sub(1), '>', ink);
                    } else {
                        arrow.put(lo + 1, '<', ink);
                    }
                }
            }
            vec![label.into_line(), arrow.into_line()]
        }
        Row::Note(n) => {
            let (xf, xt) = xs(n.from, n.to);
            let mut indent = xf.min(xt) + 2;
            // Too little room right of the arrow: start under the first lifeline instead.
            if total.saturating_sub(indent) < 40 {
                indent = g.left;
            }
            let room = total.saturating_sub(indent).saturating_sub(2).max(10);
            wrap(&n.text, room)
                .into_iter()
                .enumerate()
                .map(|(i, part)| {
                    let mut c = Canvas::new(g.width);
                    c.lifelines(g);
                    // The note owns its line right of the indent: lifelines there pause
                    // rather than run through or beside the words.
                    c.cells.truncate(indent);
                    if i == 0 {
                        c.put(indent, '*', Ink::Tone(n.tone));
                    }
                    c.text(indent + 2, &part, Ink::Muted);
                    c.into_line()
                })
                .collect()
        }
    }
}

/// Every line of one call's ladder.
pub fn lines(layout: &Layout, max_width: usize) -> Vec<Line> {
    let g = layout.geometry(max_width);
    let mut out = header_lines(layout, &g, max_width);
    for row in &layout.rows {
        out.extend(row_lines(row, &g, max_width));
    }
    out
}

fn sgr(ink: Ink) -> Option<&'static str> {
    match ink {
        Ink::Plain | Ink::Tone(Tone::Request) => None,
        Ink::Title => Some("1"),
        Ink::Muted => Some("90"),
        Ink::Tone(Tone::Provisional) => Some("36"),
        Ink::Tone(Tone::Success) => Some("32"),
        Ink::Tone(Tone::Redirection) => Some("33"),
        Ink::Tone(Tone::Failure) => Some("31"),
        Ink::Tone(Tone::Other) => Some("35"),
    }
}

/// Writes one line, with SGR codes when `color` is set.
pub fn write_line(out: &mut dyn Write, line: &Line, color: bool) -> io::Result<()> {
    let mut s = String::new();
    for span in line {
        match sgr(span.ink).filter(|_| color) {
            Some(code) => {
                // Trailing blanks of a coloured run stay outside the colour.
                let t = span.text.trim_end_matches(' ');
                s.push_str(&format!("\x1b[{code}m{t}\x1b[0m"));
                s.push_str(span.text.get(t.len()..).unwrap_or_default());
            }
            None => s.push_str(&span.text),
        }
    }
    s.push('\n');
    out.write_all(s.as_bytes())
}

/// Draws the calls one after the other, a blank line between them.
pub fn write(out: &mut dyn Write, layouts: &[Layout], opts: TextOptions) -> io::Result<()> {
    for (i, layout) in layouts.iter().enumerate() {
        if i > 0 {
            out.write_all(b"\n")?;
        }
        for line in lines(layout, opts.width) {
            write_line(out, &line, opts.color)?;
        }
    }
    Ok(())
}
