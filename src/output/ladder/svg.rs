//! The ladder as a standalone SVG picture: the same columns, arrows, labels, times and
//! annotations as the text, painted from the same [`Layout`] and placed on the same cell
//! [`Geometry`](super::Geometry) (one cell = one monospace character), so labels are cut at
//! the same places. Several calls are stacked in one picture.
//!
//! Every message is one element of class `arrow` (a `line`, or a `path` for a message a host
//! sends itself), with its tone (`request`, `provisional`, `success`, `redirection`,
//! `failure`, `other`) and `retransmission` / `duplicate` as further classes; every capture
//! string is escaped for XML.

use std::fmt::Write as _;
use std::io::{self, Write};

use super::{wrap, Direction, Layout, Mark, Row, Tone};

/// Pixels per character cell (monospace at 12 px) and per text line.
const CELL: f64 = 7.2;
const LINE: f64 = 16.0;
const FONT: &str = "DejaVu Sans Mono, Menlo, Consolas, monospace";
const MARGIN: f64 = 12.0;

fn color(tone: Tone) -> &'static str {
    match tone {
        Tone::Request => "#1f2937",
        Tone::Provisional => "#0e7490",
        Tone::Success => "#15803d",
        Tone::Redirection => "#b45309",
        Tone::Failure => "#b91c1c",
        Tone::Other => "#7e22ce",
    }
}

const TONES: [Tone; 6] = [
    Tone::Request,
    Tone::Provisional,
    Tone::Success,
    Tone::Redirection,
    Tone::Failure,
    Tone::Other,
];

/// Escapes text for XML content and attribute values, and writes characters XML 1.0 cannot
/// hold at all as visible `\u{..}` sequences.
pub fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(' '),
            c if xml_char(c) => out.push(c),
            c => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
        }
    }
    out
}

fn xml_char(c: char) -> bool {
    matches!(c, '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

fn px(cells: usize) -> f64 {
    cells as f64 * CELL
}

/// The drawing of one call, placed at `top` (pixels), and its height.
fn call_svg(layout: &Layout, max_width: usize, top: f64, body: &mut String) -> (f64, f64) {
    let g = layout.geometry(max_width);
    // Notes may use the whole width asked (at most 100 cells), or the drawing's when wider.
    let total_cells = g.width.max(max_width.min(100));
    // Host boxes are as wide as their text (at most the spacing): the first one may reach
    // left of its lifeline's cell position, so everything shifts right by what it overhangs.
    let title_cells = g.spacing.saturating_sub(2);
    let box_w: Vec<f64> = layout
        .columns
        .iter()
        .map(|c| {
            let text = c
                .title_lines()
                .iter()
                .map(|l| super::width(l).min(title_cells))
                .max()
                .unwrap_or(0);
            (px(text) + 16.0).min(px(g.spacing.saturating_sub(1)))
        })
        .collect();
    let first_x = px(g.x.first().copied().unwrap_or(g.left));
    let shift = (box_w.first().copied().unwrap_or(0.0) / 2.0 - first_x).max(0.0);
    let x = |col: usize| MARGIN + shift + px(g.x.get(col).copied().unwrap_or(g.left));
    let mut right: f64 = 0.0;
    let mut y = top;
    let title = match layout.index {
        Some(i) => format!("Call {i}  {}", layout.title),
        None => layout.title.clone(),
    };
    y += LINE;
    let title = super::fit(&title, total_cells);
    right = right.max(MARGIN + px(super::width(&title)));
    let _ = writeln!(
        body,
        r#"<text class="title" x="{MARGIN}" y="{y:.1}" font-weight="bold">{}</text>"#,
        xml(&title)
    );
    // Host boxes.
    let depth = layout
        .columns
        .iter()
        .map(|c| c.title_lines().len())
        .max()
        .unwrap_or(1);
    let box_top = y + 8.0;
    let box_h = depth as f64 * 14.0 + 8.0;
    for (i, c) in layout.columns.iter().enumerate() {
        let cx = x(i);
        let bw = box_w.get(i).copied().unwrap_or(0.0);
        right = right.max(cx + bw / 2.0);
        let _ = writeln!(
            body,
            r##"<rect class="host" x="{:.1}" y="{box_top:.1}" width="{bw:.1}" height="{box_h:.1}" rx="4" fill="#f3f4f6" stroke="#9ca3af"/>"##,
            cx - bw / 2.0
        );
        for (k, line) in c.title_lines().iter().enumerate() {
            let ty = box_top + 15.0 + k as f64 * 14.0;
            let weight = if k == 0 { r#" font-weight="bold""# } else { "" };
            let _ = writeln!(
                body,
                r#"<text x="{cx:.1}" y="{ty:.1}" text-anchor="middle"{weight}>{}</text>"#,
                xml(&super::fit(line, title_cells))
            );
        }
    }
    y = box_top + box_h + 8.0;
    let life_top = box_top + box_h;
    let mut rows = String::new();
    for row in &layout.rows {
        match row {
            Row::Arrow(a) => {
                let c = color(a.tone);
                let (xf, xt) = (x(a.from), x(a.to));
                let mut classes = format!("arrow {}", a.tone.as_str());
                let dash = match a.mark {
                    Mark::First => "",
                    Mark::Retransmission { .. } => {
                        classes.push_str(" retransmission");
                        r#" stroke-dasharray="6 3""#
                    }
                    Mark::Duplicate => {
                        classes.push_str(" duplicate");
                        r#" stroke-dasharray="2 3""#
                    }
                };
                let label_y = y + 12.0;
                let line_y = y + 18.0;
                let _ = writeln!(
                    rows,
                    r##"<text class="time" x="{MARGIN}" y="{:.1}" fill="#4b5563">{}</text>"##,
                    line_y + 4.0,
                    xml(&a.time_text())
                );
                let _ = writeln!(rows, r#"<g data-msg="{}">"#, a.msg);
                match a.direction() {
                    Direction::SelfLoop => {
                        let room = g.spacing.saturating_sub(6);
                        let _ = writeln!(
                            rows,
                            r#"<path class="{classes}" d="M {xf:.1} {:.1} h 24 v 12 h -22" fill="none" stroke="{c}" stroke-width="1.5"{dash} marker-end="url(#head-{})"/>"#,
                            line_y - 6.0,
                            a.tone.as_str()
                        );
                        let label = a.text_within(room);
                        right = right.max(xf + 30.0 + px(super::width(&label)));
                        let _ = writeln!(
                            rows,
                            r#"<text x="{:.1}" y="{label_y:.1}" fill="{c}">{}</text>"#,
                            xf + 30.0,
                            xml(&label)
                        );
                        y += 6.0;
                    }
                    dir => {
                        let room = a.span().saturating_mul(g.spacing).saturating_sub(3);
                        // Stop short of the lifeline so the head touches it.
                        let end = if dir == Direction::Right {
                            xt - 2.0
                        } else {
                            xt + 2.0
                        };
                        let _ = writeln!(
                            rows,
                            r#"<line class="{classes}" x1="{xf:.1}" y1="{line_y:.1}" x2="{end:.1}" y2="{line_y:.1}" stroke="{c}" stroke-width="1.5"{dash} marker-end="url(#head-{})"/>"#,
                            a.tone.as_str()
                        );
                        let _ = writeln!(
                            rows,
                            r#"<text x="{:.1}" y="{label_y:.1}" text-anchor="middle" fill="{c}">{}</text>"#,
                            (xf + xt) / 2.0,
                            xml(&a.text_within(room))
                        );
                    }
                }
                let _ = writeln!(rows, "</g>");
                y += 26.0;
            }
            Row::Note(n) => {
                let (lo, _) = row.span();
                let mut nx = x(lo) + 8.0;
                let mut room = total_cells
                    .saturating_sub(g.x.get(lo).copied().unwrap_or(0))
                    .saturating_sub(2);
                if room < 40 {
                    nx = MARGIN + px(g.left);
                    room = total_cells.saturating_sub(g.left);
                }
                let lines = wrap(&n.text, room.max(20));
                let h = lines.len() as f64 * 14.0 + 4.0;
                let w = lines
                    .iter()
                    .map(|l| px(super::width(l)))
                    .fold(0.0, f64::max)
                    + 10.0;
                right = right.max(nx - 5.0 + w);
                let _ = writeln!(
                    rows,
                    r##"<rect class="note" x="{:.1}" y="{:.1}" width="{w:.1}" height="{h:.1}" fill="#ffffff" fill-opacity="0.9" stroke="{}" stroke-opacity="0.4"/>"##,
                    nx - 5.0,
                    y - 2.0,
                    color(n.tone)
                );
                for line in &lines {
                    y += 14.0;
                    let _ = writeln!(
                        rows,
                        r##"<text class="annotation" x="{nx:.1}" y="{:.1}" fill="#6b7280" font-style="italic">{}</text>"##,
                        y - 3.0,
                        xml(line)
                    );
                }
                y += 8.0;
            }
        }
    }
    y += 6.0;
    // Lifelines first, so arrows and notes are drawn over them.
    for i in 0..layout.columns.len() {
        let lx = x(i);
        let _ = writeln!(
            body,
            r##"<line class="lifeline" x1="{lx:.1}" y1="{life_top:.1}" x2="{lx:.1}" y2="{y:.1}" stroke="#9ca3af" stroke-width="1"/>"##
        );
    }
    for i in 0..layout.columns.len() {
        right = right.max(x(i));
    }
    body.push_str(&rows);
    (right + MARGIN, y - top)
}

/// Writes one SVG picture holding every call, one below the other. `max_width` is in
/// characters, as for the text (labels are shortened to it).
pub fn write(out: &mut dyn Write, layouts: &[Layout], max_width: usize) -> io::Result<()> {
    let mut body = String::new();
    let mut top = MARGIN;
    let mut width: f64 = 200.0;
    for (i, layout) in layouts.iter().enumerate() {
        if i > 0 {
            top += 24.0;
        }
        let (w, h) = call_svg(layout, max_width, top, &mut body);
        width = width.max(w);
        top += h;
    }
    let height = top + MARGIN;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" version="1.1" xml:space="preserve" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="{FONT}" font-size="12">"#
    );
    s.push_str("<title>SIP ladder diagram (sipscope)</title>\n<defs>\n");
    for t in TONES {
        let _ = writeln!(
            s,
            r#"<marker id="head-{}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="{}"/></marker>"#,
            t.as_str(),
            color(t)
        );
    }
    s.push_str("</defs>\n");
    let _ = writeln!(s, r##"<rect width="100%" height="100%" fill="#ffffff"/>"##);
    s.push_str(&body);
    s.push_str("</svg>\n");
    out.write_all(s.as_bytes())
}
