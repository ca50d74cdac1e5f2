//! Paints a call's ladder ([`crate::output::ladder::Layout`]) into a ratatui buffer: host
//! headings pinned at the top, lifelines, one arrow per message with its label above it, the
//! annotation line under each response, a band per RTP stream after the row at or before its
//! first packet ([`Layout::bands_after`], as the text ladder places them), the time column
//! pinned on the left. The selected
//! message is drawn reversed and kept on screen; a drawing wider than the pane scrolls
//! sideways by `hscroll` cells (the time column stays).
//!
//! Column positions come from [`Layout::geometry`], the same placement the text painter uses,
//! so the terminal shows what `sipscope ladder` prints. Every string in a layout is already
//! escaped for a terminal.
//!
//! ```text
//!  time column   | diagram, shifted left by hscroll, clipped to the pane
//!                      127.0.0.11          127.0.0.12
//!                      user agent            proxy
//!                          │   INVITE bob [SDP]  │       <- label line
//!  19:53:46.383            │────────────────────>│       <- arrow line (time here)
//!                          │     100 Trying      │
//!  +0.580ms                │<────────────────────│
//!                          │ * 1xx provisional: ...      <- note line
//!                          │ RTP PCMU 150 pkts, lost 0 ...  <- band figures
//!  19:53:47.001            │════════════════════>│       <- band (first packet's time)
//! ```
//!
//! Bands are not rows of the layout: the selection moves over messages only.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

use crate::output::ladder::{Arrow, Direction, Geometry, Layout, Mark, MediaBand, Row, Tone};
use crate::output::time::{clock_millis, duration};

use super::app::{CallView, TimeMode};

/// The colour of a message class.
pub fn tone_style(tone: Tone) -> Style {
    let fg = match tone {
        Tone::Request => Color::Reset,
        Tone::Provisional => Color::Blue,
        Tone::Success => Color::Green,
        Tone::Redirection => Color::Cyan,
        Tone::Failure => Color::Red,
        Tone::Other => Color::Magenta,
    };
    Style::default().fg(fg)
}

/// Cells a string takes on a terminal (the layout counts characters; a double-width
/// character takes two cells).
fn cells(s: &str) -> usize {
    s.width()
}

/// Cuts `s` to at most `n` cells, ending with `…` when cut.
fn fit_cells(s: &str, n: usize) -> String {
    if cells(s) <= n {
        return s.to_string();
    }
    let mut out = String::new();
    let mut used = 0;
    for ch in s.chars() {
        let w = ch.width().unwrap_or(0);
        if used + w + 1 > n {
            break;
        }
        used += w;
        out.push(ch);
    }
    if n > 0 {
        out.push('…');
    }
    out
}

/// One line of the drawing: the label or the arrow of an arrow row, a note row, or the
/// figures or the band of an RTP stream (indices into `Layout::media`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Line {
    Label(usize),
    Shaft(usize),
    Note(usize),
    BandLabel(usize),
    BandShaft(usize),
}

fn lines(layout: &Layout, notes: bool) -> Vec<Line> {
    let mut out = Vec::with_capacity(layout.rows.len() * 2 + layout.media.len() * 2);
    // Bands by the row they follow, in the layout's order (first packet first).
    let mut before: Vec<usize> = Vec::new();
    let mut after: Vec<Vec<usize>> = vec![Vec::new(); layout.rows.len()];
    for (b, band) in layout.media.iter().enumerate() {
        match band.after_row {
            None => before.push(b),
            Some(r) => match after.get_mut(r) {
                Some(v) => v.push(b),
                // A band after a row that does not exist goes last rather than nowhere.
                None => after.last_mut().unwrap_or(&mut before).push(b),
            },
        }
    }
    let band = |out: &mut Vec<Line>, b: usize| {
        out.push(Line::BandLabel(b));
        out.push(Line::BandShaft(b));
    };
    for &b in &before {
        band(&mut out, b);
    }
    for (i, r) in layout.rows.iter().enumerate() {
        match r {
            Row::Arrow(_) => {
                out.push(Line::Label(i));
                out.push(Line::Shaft(i));
            }
            Row::Note(_) if notes => out.push(Line::Note(i)),
            Row::Note(_) => {}
        }
        // After a hidden note too: the band's place is the time of its first packet.
        for &b in after.get(i).into_iter().flatten() {
            band(&mut out, b);
        }
    }
    out
}

/// The time column of an arrow in the chosen mode.
pub fn time_text(a: &Arrow, mode: TimeMode, call_start_ns: i64) -> String {
    match mode {
        TimeMode::Delta => a.time_text(),
        TimeMode::Absolute => clock_millis(a.time_ns),
        TimeMode::Relative => {
            let d = a.time_ns.saturating_sub(call_start_ns).max(0);
            if d < 1_000_000_000 {
                let us = d / 1_000;
                format!("+{}.{:03}ms", us / 1_000, us % 1_000)
            } else {
                format!("+{}", duration(d))
            }
        }
    }
}

/// The time column of a band: when its first packet was seen (the clock in the delta mode, as
/// the text ladder shows it: a delta from a message would read as a message's).
fn band_time_text(b: &MediaBand, mode: TimeMode, call_start_ns: i64) -> String {
    match mode {
        TimeMode::Delta | TimeMode::Absolute => b.time_text(),
        TimeMode::Relative => {
            let d = b.time_ns.saturating_sub(call_start_ns).max(0);
            if d < 1_000_000_000 {
                let us = d / 1_000;
                format!("+{}.{:03}ms", us / 1_000, us % 1_000)
            } else {
                format!("+{}", duration(d))
            }
        }
    }
}

/// Writes into the pane: `x` counts cells from the pane's left edge; nothing is written
/// outside `[min_x, pane right)` or below the pane.
struct Painter<'b> {
    buf: &'b mut Buffer,
    area: Rect,
    /// Leftmost pane cell the current text may use.
    min_x: usize,
}

impl Painter<'_> {
    /// Writes `text` from cell `x`. A double-width character (CJK in a display name) takes
    /// two cells, as the terminal will show it, or none when only half of it would fit;
    /// zero-width characters are dropped.
    fn put(&mut self, x: isize, y: usize, text: &str, style: Style) {
        let Ok(y) = u16::try_from(y) else { return };
        if y >= self.area.height {
            return;
        }
        let mut cx = x;
        for ch in text.chars() {
            let w = ch.width().unwrap_or(0);
            if w == 0 {
                continue;
            }
            let start = cx;
            cx = cx.saturating_add(w as isize);
            let Ok(first) = usize::try_from(start) else {
                continue;
            };
            if first < self.min_x || first.saturating_add(w) > usize::from(self.area.width) {
                continue;
            }
            for k in 0..w {
                let Ok(col) = u16::try_from(first + k) else {
                    continue;
                };
                let pos = (
                    self.area.x.saturating_add(col),
                    self.area.y.saturating_add(y),
                );
                if let Some(cell) = self.buf.cell_mut(pos) {
                    if k == 0 {
                        cell.set_char(ch).set_style(style);
                    } else {
                        // Hidden under the wide character.
                        cell.reset();
                    }
                }
            }
        }
    }

    fn style_span(&mut self, x0: isize, x1: isize, y: usize, style: Style) {
        let Ok(y) = u16::try_from(y) else { return };
        if y >= self.area.height {
            return;
        }
        for x in x0..x1 {
            let Ok(cx) = usize::try_from(x) else { continue };
            if cx < self.min_x || cx >= usize::from(self.area.width) {
                continue;
            }
            let Ok(cx) = u16::try_from(cx) else { continue };
            let pos = (
                self.area.x.saturating_add(cx),
                self.area.y.saturating_add(y),
            );
            if let Some(cell) = self.buf.cell_mut(pos) {
                cell.set_style(style);
            }
        }
    }
}

/// Paints the open call's ladder into `area`, and writes back the scroll offsets it settled on
/// (selection on screen, no scrolling past the drawing) and the page size.
pub fn render(cv: &mut CallView, area: Rect, buf: &mut Buffer) {
    if area.width == 0 || area.height == 0 {
        return;
    }
    let layout = &cv.layout;
    let g = layout.geometry(usize::from(area.width));
    let pane_w = usize::from(area.width);
    let view_w = pane_w.saturating_sub(g.left);
    let max_h = g.width.saturating_sub(g.left).saturating_sub(view_w);
    cv.hscroll = cv.hscroll.min(max_h);
    let header_h = header_height(layout, area.height);
    let body_h = usize::from(area.height).saturating_sub(header_h);
    let all = lines(layout, cv.notes);
    // Keep the selected arrow (both its lines, and its notes when there is room) on screen.
    let first = all.iter().position(|l| *l == Line::Label(cv.selected));
    if let Some(first) = first {
        let mut last = first + 1;
        while let Some(Line::Note(r)) = all.get(last + 1) {
            if layout.rows.get(*r).map(Row::msg) != layout.rows.get(cv.selected).map(Row::msg)
                || last + 1 - first >= body_h
            {
                break;
            }
            last += 1;
        }
        if first < cv.vscroll {
            cv.vscroll = first;
        } else if last >= cv.vscroll + body_h {
            cv.vscroll = (last + 1).saturating_sub(body_h);
        }
    }
    cv.vscroll = cv.vscroll.min(all.len().saturating_sub(body_h));
    cv.page = (body_h / 2).max(1);

    let shift = |x: usize| -> isize { x as isize - cv.hscroll as isize };
    let mut p = Painter {
        buf,
        area,
        min_x: g.left,
    };
    // Headings sit above the time column, so the first one may spread over it (as in the
    // text ladder) unless the diagram is scrolled, when the time column stays clear.
    if cv.hscroll == 0 {
        p.min_x = 0;
    }
    paint_header(&mut p, layout, &g, header_h, &shift);
    p.min_x = g.left;
    let start_ns = layout.arrows().next().map_or(0, |a| a.time_ns);
    let selected_msg = layout.rows.get(cv.selected).map(Row::msg);
    for (i, line) in all.iter().skip(cv.vscroll).take(body_h).enumerate() {
        let y = header_h + i;
        p.min_x = g.left;
        for &x in &g.x {
            p.put(shift(x), y, "│", Style::default().fg(Color::DarkGray));
        }
        match *line {
            Line::Label(r) | Line::Shaft(r) => {
                let Some(Row::Arrow(a)) = layout.rows.get(r) else {
                    continue;
                };
                let selected = r == cv.selected;
                let mut style = tone_style(a.tone);
                if selected {
                    style = style.add_modifier(Modifier::REVERSED | Modifier::BOLD);
                }
                if matches!(line, Line::Label(_)) {
                    paint_label(&mut p, a, &g, y, style, &shift);
                } else {
                    paint_shaft(&mut p, a, &g, y, style, &shift);
                    let t = fit_cells(&time_text(a, cv.time, start_ns), g.time_width);
                    p.min_x = 0;
                    let tstyle = if selected {
                        Style::default().add_modifier(Modifier::REVERSED)
                    } else {
                        Style::default()
                    };
                    p.put(0, y, &t, tstyle);
                }
            }
            Line::Note(r) => {
                let Some(Row::Note(n)) = layout.rows.get(r) else {
                    continue;
                };
                let x0 = g.x.get(n.from.min(n.to)).copied().unwrap_or(g.left) + 2;
                let room = (pane_w + cv.hscroll).saturating_sub(x0);
                let text = fit_cells(&format!("* {}", n.text), room);
                let mut style = if n.brief {
                    Style::default().fg(Color::DarkGray)
                } else {
                    tone_style(n.tone).add_modifier(Modifier::ITALIC)
                };
                if Some(n.msg) == selected_msg {
                    style = style.add_modifier(Modifier::BOLD);
                }
                p.put(shift(x0), y, &text, style);
            }
            Line::BandLabel(b) => {
                let Some(band) = layout.media.get(b) else {
                    continue;
                };
                // The figures start right of the leftmost end, like a note.
                let x0 = g.x.get(band.from.min(band.to)).copied().unwrap_or(g.left) + 2;
                let room = (pane_w + cv.hscroll).saturating_sub(x0);
                let text = fit_cells(&band.text, room);
                p.put(shift(x0), y, &text, tone_style(band.tone));
            }
            Line::BandShaft(b) => {
                let Some(band) = layout.media.get(b) else {
                    continue;
                };
                paint_band(&mut p, band, &g, y, tone_style(band.tone), &shift);
                let t = fit_cells(&band_time_text(band, cv.time, start_ns), g.time_width);
                p.min_x = 0;
                p.put(0, y, &t, Style::default().fg(Color::DarkGray));
            }
        }
    }
}

/// A stream's band: a double line from sender to receiver, the head at the receiver.
fn paint_band(
    p: &mut Painter<'_>,
    b: &MediaBand,
    g: &Geometry,
    y: usize,
    style: Style,
    shift: &dyn Fn(usize) -> isize,
) {
    let (Some(&xf), Some(&xt)) = (g.x.get(b.from), g.x.get(b.to)) else {
        return;
    };
    match b.direction() {
        Direction::SelfLoop => p.put(shift(xf) + 1, y, "══RTP", style),
        Direction::Right => {
            let n = xt.saturating_sub(xf).saturating_sub(1);
            let mut s: String = std::iter::repeat_n('═', n.saturating_sub(1)).collect();
            s.push('>');
            p.put(shift(xf) + 1, y, &s, style);
        }
        Direction::Left => {
            let n = xf.saturating_sub(xt).saturating_sub(1);
            let mut s = String::from("<");
            s.extend(std::iter::repeat_n('═', n.saturating_sub(1)));
            p.put(shift(xt) + 1, y, &s, style);
        }
    }
}

/// Rows the whole ladder of the open call takes in a pane `height` rows tall (headings
/// included), so a short call leaves the rest of the screen to the other panes.
pub fn wanted_height(cv: &CallView, height: u16) -> u16 {
    let body = lines(&cv.layout, cv.notes).len();
    // The product heading line is drawn only in a pane tall enough for it.
    let tall = u16::try_from(body + 3).unwrap_or(u16::MAX).min(height);
    let n = header_height(&cv.layout, tall) + body;
    u16::try_from(n).unwrap_or(u16::MAX)
}

/// Heading lines: address and role always, the product when the pane is tall enough.
fn header_height(layout: &Layout, height: u16) -> usize {
    let product = layout.columns.iter().any(|c| c.product.is_some());
    if product && height >= 16 {
        3
    } else {
        2
    }
}

fn paint_header(
    p: &mut Painter<'_>,
    layout: &Layout,
    g: &Geometry,
    header_h: usize,
    shift: &dyn Fn(usize) -> isize,
) {
    for (i, (c, &x)) in layout.columns.iter().zip(&g.x).enumerate() {
        // The geometry says how wide a title may be around its lifeline (the outer columns
        // have less room on their outer side).
        let room = g
            .title_room
            .get(i)
            .copied()
            .unwrap_or_else(|| g.spacing.saturating_sub(1))
            .max(1);
        for (y, t) in c.title_lines().iter().take(header_h).enumerate() {
            let t = fit_cells(t, room);
            let half = cells(&t) / 2;
            let style = if y == 0 {
                Style::default().add_modifier(Modifier::BOLD)
            } else {
                Style::default().fg(Color::DarkGray)
            };
            p.put(shift(x) - half as isize, y, &t, style);
        }
    }
}

fn paint_label(
    p: &mut Painter<'_>,
    a: &Arrow,
    g: &Geometry,
    y: usize,
    style: Style,
    shift: &dyn Fn(usize) -> isize,
) {
    let (Some(&xf), Some(&xt)) = (g.x.get(a.from), g.x.get(a.to)) else {
        return;
    };
    match a.direction() {
        Direction::SelfLoop => {
            let room = g.spacing.saturating_sub(4).max(8);
            let t = fit_cells(&a.text_within(room), room);
            p.put(shift(xf) + 2, y, &t, style);
        }
        _ => {
            let (lo, hi) = (xf.min(xt), xf.max(xt));
            // A blank each side of the label, between the two lifelines.
            let room = hi.saturating_sub(lo).saturating_sub(3);
            let t = fit_cells(&a.text_within(room), room);
            let start = lo + 1 + (hi - lo).saturating_sub(1).saturating_sub(cells(&t)) / 2;
            p.put(shift(start), y, &t, style);
        }
    }
}

fn paint_shaft(
    p: &mut Painter<'_>,
    a: &Arrow,
    g: &Geometry,
    y: usize,
    style: Style,
    shift: &dyn Fn(usize) -> isize,
) {
    let (Some(&xf), Some(&xt)) = (g.x.get(a.from), g.x.get(a.to)) else {
        return;
    };
    let body = match a.mark {
        Mark::First => '─',
        Mark::Retransmission { .. } => '~',
        Mark::Duplicate => '┄',
    };
    match a.direction() {
        Direction::SelfLoop => {
            // Out and back to the same lifeline.
            let s: String = ['<', body, body, '┘'].iter().collect();
            p.put(shift(xf) + 1, y, &s, style);
        }
        Direction::Right => {
            let n = xt.saturating_sub(xf).saturating_sub(1);
            let mut s: String = std::iter::repeat_n(body, n.saturating_sub(1)).collect();
            s.push('>');
            p.put(shift(xf) + 1, y, &s, style);
            p.style_span(shift(xf), shift(xt) + 1, y, style);
        }
        Direction::Left => {
            let n = xf.saturating_sub(xt).saturating_sub(1);
            let mut s = String::from("<");
            s.extend(std::iter::repeat_n(body, n.saturating_sub(1)));
            p.put(shift(xt) + 1, y, &s, style);
            p.style_span(shift(xt), shift(xf) + 1, y, style);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_time_reads_from_the_call_start() {
        let a = Arrow {
            msg: 0,
            step: None,
            from: 0,
            to: 1,
            label: "INVITE".into(),
            sdp: None,
            mark: Mark::First,
            tone: Tone::Request,
            time_ns: 1_700_000_001_500_000_000,
            delta_ns: Some(2_000),
        };
        let start = 1_700_000_000_000_000_000;
        assert_eq!(time_text(&a, TimeMode::Relative, start), "+1.500s");
        assert_eq!(time_text(&a, TimeMode::Absolute, start), "22:13:21.500");
        assert_eq!(time_text(&a, TimeMode::Delta, start), "+0.002ms");
        assert_eq!(
            time_text(&a, TimeMode::Relative, a.time_ns - 250_000),
            "+0.250ms"
        );
    }

    #[test]
    fn cutting_counts_terminal_cells() {
        assert_eq!(fit_cells("INVITE bob", 20), "INVITE bob");
        // Four double-width characters are eight cells: cut to six, ellipsis included.
        let cut = fit_cells("\u{7535}\u{8bdd}\u{53f7}\u{7801}", 6);
        assert!(cells(&cut) <= 6, "{cut}");
        assert!(cut.ends_with('…'));
        assert_eq!(fit_cells("abcdef", 4), "abc…");
        assert_eq!(fit_cells("abc", 0), "");
    }
}
