//! Drawing the screens from [`App`] state. Reads the model and the layout computed when a call
//! was opened; never touches the capture. Writes back only what depends on the screen size
//! (page heights, scroll offsets kept in range).
//!
//! ```text
//! Call list                                   Call view (narrow: < 150 columns)
//! +------------------------------------+      +------------------------------------+
//! | sipscope  file.pcap   [progress]   |      | Call 3  Call-ID ..  alice -> bob .. |  title
//! | #  Start  From  To  Method ... ^   |      | hosts (pinned)                      |
//! | 1  19:53  alice bob INVITE ...     |      | time |  ladder, selected reversed   |  ladder
//! | 2  ...    (failed: class colour)   |      |      |  (scrolls both ways)         |
//! |                                    |      |      |  ==== RTP bands ====>        |
//! |                                    |      |-- Diagnosis / Media ----------------|  findings
//! |                                    |      | ~ a:port -> b:port  RTP PCMU ...    |  streams
//! |                                    |      |-- Message --------------------------|
//! |                                    |      | frame, hop, annotation, SDP, raw    |  detail
//! | 3 calls | 1 failed | sort | filter |      | msg 3/13 | time | focus            |  status
//! | keys  /  or the prompt being typed |      | keys  /  or the search prompt       |  hints
//! +------------------------------------+      +------------------------------------+
//!
//! Call view, wide (>= 150 columns): the ladder on the left; the diagnosis and the message
//! pane stacked on the right. Enter zooms the message pane to the whole body. The help
//! overlay is drawn over either screen.
//! ```
//!
//! Every capture string is escaped ([`escape_str`]) before it becomes a span: ratatui prints
//! control characters as they are.

use ratatui::layout::{Constraint, Direction, Layout as Split, Position, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Gauge, Paragraph, Wrap};
use ratatui::Frame;

use crate::diagnose::Severity;
use crate::dialog::{Acting, Call, HopOrigin, Repeat, Start};
use crate::knowledge::Class;
use crate::output::escape::{escape, escape_str};
use crate::output::ladder::fit;
use crate::output::time::{clock_millis, date_clock_millis, duration, rfc3339_micros};

use super::app::{App, CallView, Column, Entry, Focus, LoadState, PromptKind};
use super::keys::help_lines;
use super::ladder_widget;

/// Below this width the call view stacks the ladder over the message pane.
const WIDE: u16 = 150;

/// Draws the whole screen.
pub fn draw(frame: &mut Frame<'_>, app: &mut App) {
    let area = frame.area();
    if area.width < 20 || area.height < 6 {
        frame.render_widget(Paragraph::new("window too small"), area);
        return;
    }
    let rows = Split::default()
        .direction(Direction::Vertical)
        .constraints([
            Constraint::Length(1),
            Constraint::Min(1),
            Constraint::Length(1),
            Constraint::Length(1),
        ])
        .split(area);
    let (top, body, status, hints) = (rows[0], rows[1], rows[2], rows[3]);
    if app.call.is_some() {
        draw_call(frame, app, top, body, status);
    } else {
        draw_list(frame, app, top, body, status);
    }
    draw_hints(frame, app, hints);
    if let Some(scroll) = app.help {
        app.help = Some(draw_help(frame, area, scroll));
    }
}

fn bar_style() -> Style {
    Style::default().add_modifier(Modifier::REVERSED)
}

/// The colour of a response class (failures by class, as in the ladder).
fn class_color(code: Option<u16>) -> Color {
    match code.map(Class::of) {
        Some(Class::Provisional) => Color::Blue,
        Some(Class::Success) => Color::Green,
        Some(Class::Redirection) => Color::Cyan,
        Some(Class::ClientFailure) => Color::Yellow,
        Some(Class::ServerFailure) => Color::Red,
        Some(Class::GlobalFailure) => Color::Magenta,
        Some(Class::Unknown(_)) => Color::Magenta,
        None => Color::Red,
    }
}

/// Pads or cuts `s` to exactly `w` cells.
fn cell(s: &str, w: usize) -> String {
    let s = fit(s, w);
    let n = s.chars().count();
    let mut out = s;
    out.extend(std::iter::repeat_n(' ', w.saturating_sub(n)));
    out
}

fn right(s: &str, w: usize) -> String {
    let s = fit(s, w);
    let n = s.chars().count();
    let mut out: String = std::iter::repeat_n(' ', w.saturating_sub(n)).collect();
    out.push_str(&s);
    out
}

/// Cuts keeping both ends (a Call-ID's tail is often its host).
fn middle(s: &str, w: usize) -> String {
    let n = s.chars().count();
    if n <= w || w < 5 {
        return fit(s, w);
    }
    let keep = w - 2;
    let head = keep.div_ceil(2);
    let mut out: String = s.chars().take(head).collect();
    out.push_str("..");
    out.extend(s.chars().skip(n - (keep - head)));
    out
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The text of one list cell.
fn cell_text(app: &App, id: usize, e: &Entry, col: Column) -> String {
    let s = &e.summary;
    match col {
        Column::Index => app.index_of.get(id).copied().unwrap_or(0).to_string(),
        Column::Start if app.list.multi_day => date_clock_millis(s.start_ns),
        Column::Start => clock_millis(s.start_ns),
        Column::CallId => escape_str(e.call_id()).into_owned(),
        Column::From => escape_str(e.from_user()).into_owned(),
        Column::To => escape_str(e.to_user()).into_owned(),
        Column::Method => escape_str(e.first_method()).into_owned(),
        Column::State => s.state.as_str().to_string(),
        Column::Final => e.final_text().to_string(),
        Column::Msgs => s.message_count.to_string(),
        Column::Duration => duration(s.duration_ns),
        Column::Hosts => e.hosts().to_string(),
    }
}

/// Widths of the columns shown at `width`: natural widths (measured over the whole list when
/// it was ordered), columns dropped from the least telling when the screen is narrow, the
/// host list taking what is left.
fn list_columns(app: &App, width: usize) -> Vec<(Column, usize)> {
    let nat = |c: Column| {
        let i = Column::ALL.iter().position(|x| *x == c).unwrap_or(0);
        let measured = app.list.widths.get(i).copied().unwrap_or(0);
        let cap = match c {
            Column::CallId => 24,
            Column::From | Column::To => 20,
            Column::Method => 10,
            Column::Final => 24,
            _ => usize::MAX,
        };
        let measured = if c == Column::Start && app.list.multi_day {
            23
        } else {
            measured
        };
        let title = c.title().chars().count() + usize::from(c == app.list.sort);
        measured.min(cap).max(title)
    };
    let mut cols: Vec<(Column, usize)> = Column::ALL
        .iter()
        .filter(|c| **c != Column::Hosts)
        .map(|&c| (c, nat(c)))
        .collect();
    let used = |cols: &[(Column, usize)]| cols.iter().map(|(_, w)| w + 1).sum::<usize>();
    for drop in [Column::CallId, Column::Duration, Column::Msgs] {
        // Keep room for at least a short host list before giving up more columns.
        if used(&cols) + 12 <= width {
            break;
        }
        // The column the list is sorted by always stays.
        if drop != app.list.sort {
            cols.retain(|(c, _)| *c != drop);
        }
    }
    // Still too wide: shrink the user columns, then the final response.
    for c in [Column::From, Column::To, Column::Final] {
        let over = used(&cols).saturating_sub(width);
        if over == 0 {
            break;
        }
        if let Some((_, w)) = cols.iter_mut().find(|(x, _)| *x == c) {
            *w = w.saturating_sub(over).max(5);
        }
    }
    let rest = width.saturating_sub(used(&cols));
    if rest >= 10 {
        cols.push((Column::Hosts, rest));
    }
    cols
}

fn draw_list(frame: &mut Frame<'_>, app: &mut App, top: Rect, body: Rect, status: Rect) {
    // Title bar, with the progress gauge while loading.
    let title = format!(" sipscope  {}", app.source);
    frame.render_widget(Paragraph::new(title).style(bar_style()), top);
    if let LoadState::Loading {
        frames,
        bytes,
        total,
    } = app.load
    {
        let gw = top.width.min(44);
        let g = Rect {
            x: top.x + top.width - gw,
            width: gw,
            ..top
        };
        let label = format!(
            "loading {} frames, {} calls",
            thousands(frames),
            thousands(app.entries.len() as u64)
        );
        let ratio = if total > 0 {
            (bytes as f64 / total as f64).clamp(0.0, 1.0)
        } else {
            0.0
        };
        frame.render_widget(
            Gauge::default()
                .ratio(ratio)
                .label(label)
                .gauge_style(Style::default().fg(Color::Blue).bg(Color::Black)),
            g,
        );
    }

    let width = usize::from(body.width);
    let cols = list_columns(app, width);
    // Column titles, the sort column marked.
    let mut head = Vec::new();
    for (c, w) in &cols {
        let mut t = c.title().to_string();
        if *c == app.list.sort {
            t.push(if app.list.descending { 'v' } else { '^' });
        }
        let t = if matches!(c, Column::Index | Column::Msgs | Column::Duration) {
            right(&t, *w)
        } else {
            cell(&t, *w)
        };
        head.push(Span::raw(t + " "));
    }
    let header_area = Rect { height: 1, ..body };
    frame.render_widget(
        Paragraph::new(Line::from(head)).style(Style::default().add_modifier(Modifier::BOLD)),
        header_area,
    );
    let table = Rect {
        y: body.y + 1,
        height: body.height.saturating_sub(1),
        ..body
    };
    let page = usize::from(table.height).max(1);
    app.list.page = page;
    let n = app.list.rows.len();
    app.list.selected = app.list.selected.min(n.saturating_sub(1));
    let sel = app.list.selected;
    if sel < app.list.offset {
        app.list.offset = sel;
    } else if sel >= app.list.offset + page {
        app.list.offset = sel + 1 - page;
    }
    app.list.offset = app.list.offset.min(n.saturating_sub(page));

    if n == 0 {
        let msg = match &app.load {
            LoadState::Loading { .. } => "reading the capture...".to_string(),
            LoadState::Failed(why) => format!("cannot read: {why}"),
            LoadState::Done { .. } if !app.entries.is_empty() => {
                "no call matches the filter (Esc clears it)".to_string()
            }
            LoadState::Done { .. } => "no SIP message in this capture".to_string(),
        };
        let style = if matches!(app.load, LoadState::Failed(_)) {
            Style::default().fg(Color::Red)
        } else {
            Style::default()
        };
        frame.render_widget(Paragraph::new(msg).style(style), table);
    }
    let mut lines = Vec::new();
    for (pos, &id) in app
        .list
        .rows
        .iter()
        .enumerate()
        .skip(app.list.offset)
        .take(page)
    {
        let Some(e) = app.entries.get(id) else {
            continue;
        };
        let s = &e.summary;
        let row_style = if s.failed {
            Style::default().fg(class_color(s.final_code))
        } else {
            Style::default()
        };
        let mut spans = Vec::new();
        for (c, w) in &cols {
            let text = cell_text(app, id, e, *c);
            let text = match c {
                Column::Index | Column::Msgs | Column::Duration => right(&text, *w),
                Column::CallId => cell(&middle(&text, *w), *w),
                _ => cell(&text, *w),
            };
            let style = if *c == Column::Final && s.final_code.is_some() {
                Style::default().fg(class_color(s.final_code))
            } else {
                row_style
            };
            spans.push(Span::styled(text + " ", style));
        }
        let mut line = Line::from(spans);
        if pos == sel {
            line = line.style(Style::default().add_modifier(Modifier::REVERSED));
        }
        lines.push(line);
    }
    if n > 0 {
        frame.render_widget(Paragraph::new(lines), table);
    }

    // Status bar: totals, order, filter, load state.
    let t = app.totals();
    let mut parts = vec![format!(" {} calls", t.calls)];
    if !app.list.filter.is_empty() || app.list.failed_only {
        parts.push(format!("{} shown", t.shown));
    }
    parts.push(format!("{} answered", t.answered));
    parts.push(format!("{} failed", t.failed));
    parts.push(format!(
        "sort: {} {}",
        app.list.sort.title(),
        if app.list.descending { "desc" } else { "asc" }
    ));
    if app.list.failed_only {
        parts.push("failed only".into());
    }
    if !app.list.filter.is_empty() {
        parts.push(format!("filter: {}", escape_str(&app.list.filter)));
    }
    match &app.load {
        LoadState::Loading { .. } => parts.push("loading...".into()),
        LoadState::Done { frames, sip_frames } => parts.push(format!(
            "{} frames, {} SIP",
            thousands(*frames),
            thousands(*sip_frames)
        )),
        LoadState::Failed(_) => parts.push("load failed".into()),
    }
    if !app.warnings.is_empty() {
        parts.push(format!(
            "{} warning(s), printed on exit",
            app.warnings.len()
        ));
    }
    status_line(frame, app, status, parts.join(" | "));
}

fn status_line(frame: &mut Frame<'_>, app: &App, area: Rect, text: String) {
    let text = match &app.status {
        Some(s) => format!(" {s}"),
        None => text,
    };
    frame.render_widget(Paragraph::new(text).style(bar_style()), area);
}

fn draw_hints(frame: &mut Frame<'_>, app: &App, area: Rect) {
    if let Some(p) = &app.prompt {
        let label = match p.kind {
            PromptKind::Filter => "Filter: ",
            PromptKind::Search => "Search: ",
        };
        let text = escape_str(&p.text).into_owned();
        let x = (label.chars().count() + text.chars().count()).min(usize::from(area.width) - 1);
        frame.render_widget(
            Paragraph::new(Line::from(vec![
                Span::styled(label, Style::default().add_modifier(Modifier::BOLD)),
                Span::raw(text),
            ])),
            area,
        );
        frame.set_cursor_position(Position::new(area.x + x as u16, area.y));
        return;
    }
    let keys: &[(&str, &str)] = if app.call.is_some() {
        &[
            ("Up/Dn", "message"),
            ("<- ->", "scroll"),
            ("f", "failure"),
            ("/", "search"),
            ("t", "time"),
            ("Tab", "pane"),
            ("Enter", "zoom"),
            ("q", "back"),
            ("?", "help"),
        ]
    } else {
        &[
            ("Enter", "open"),
            ("/", "filter"),
            ("f", "failed"),
            ("s", "sort"),
            ("r", "reverse"),
            ("?", "help"),
            ("q", "quit"),
        ]
    };
    let mut spans = Vec::new();
    for (k, what) in keys {
        spans.push(Span::styled(
            format!(" {k}"),
            Style::default().add_modifier(Modifier::BOLD),
        ));
        spans.push(Span::raw(format!(" {what} ")));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn draw_call(frame: &mut Frame<'_>, app: &mut App, top: Rect, body: Rect, status: Rect) {
    let inputs = app.inputs.clone();
    let Some(cv) = app.call.as_mut() else { return };
    let call = cv.call.clone();
    let call = &*call;
    let index = cv.layout.index.unwrap_or(cv.entry + 1);
    // The layout's title is already escaped.
    let title = format!(" Call {index}  {}", cv.layout.title);
    frame.render_widget(Paragraph::new(title).style(bar_style()), top);

    let diag = diagnosis_lines(call, cv);
    let detail = detail_lines(call, cv, &inputs);
    if cv.zoom {
        draw_detail(frame, cv, body, detail);
    } else if body.width >= WIDE {
        let ladder_w = body.width.saturating_mul(3) / 5;
        let cols = Split::default()
            .direction(Direction::Horizontal)
            .constraints([
                Constraint::Length(ladder_w),
                Constraint::Length(1),
                Constraint::Min(20),
            ])
            .split(body);
        ladder_widget::render(cv, cols[0], frame.buffer_mut());
        let side = cols[2];
        let dh = diag_height(&diag.lines, side.width, side.height / 2);
        let parts = Split::default()
            .direction(Direction::Vertical)
            .constraints([Constraint::Length(dh), Constraint::Min(1)])
            .split(side);
        draw_diagnosis(frame, parts[0], diag);
        draw_detail(frame, cv, parts[1], detail);
    } else {
        let ladder_h = (body.height.saturating_mul(11) / 20)
            .max(3)
            .min(ladder_widget::wanted_height(cv, body.height));
        let rest = body.height.saturating_sub(ladder_h);
        let dh = diag_height(&diag.lines, body.width, rest / 2);
        let parts = Split::default()
            .direction(Direction::Vertical)
            .constraints([
                Constraint::Length(ladder_h),
                Constraint::Length(dh),
                Constraint::Min(1),
            ])
            .split(body);
        ladder_widget::render(cv, parts[0], frame.buffer_mut());
        draw_diagnosis(frame, parts[1], diag);
        draw_detail(frame, cv, parts[2], detail);
    }

    let arrows: Vec<usize> = cv
        .layout
        .rows
        .iter()
        .enumerate()
        .filter(|(_, r)| matches!(r, crate::output::ladder::Row::Arrow(_)))
        .map(|(i, _)| i)
        .collect();
    let pos = arrows
        .iter()
        .position(|&r| r == cv.selected)
        .map_or(0, |p| p + 1);
    let mut parts = vec![
        format!(" message {pos}/{}", arrows.len()),
        format!("time: {}", cv.time.label()),
    ];
    if cv.hscroll > 0 {
        parts.push(format!("scrolled {} right", cv.hscroll));
    }
    if !cv.search.is_empty() {
        parts.push(format!("search: {}", escape_str(&cv.search)));
    }
    parts.push(format!(
        "keys: {}",
        match (cv.zoom, cv.focus) {
            (true, _) | (_, Focus::Detail) => "message pane",
            _ => "ladder",
        }
    ));
    let text = parts.join(" | ");
    status_line(frame, app, status, text);
}

/// Rows the diagnosis pane wants at `width` (its lines wrapped, plus the title rule), at
/// most `max`.
fn diag_height(lines: &[Line<'_>], width: u16, max: u16) -> u16 {
    if lines.is_empty() {
        return 0;
    }
    let w = usize::from(width.max(1));
    let rows: usize = lines.iter().map(|l| l.width().max(1).div_ceil(w)).sum();
    let n = u16::try_from(rows).unwrap_or(u16::MAX);
    n.min(max.max(2).saturating_sub(1)).saturating_add(1)
}

fn severity_style(s: Severity) -> (Style, &'static str) {
    match s {
        Severity::Error => (Style::default().fg(Color::Red), "X"),
        Severity::Warning => (Style::default().fg(Color::Yellow), "!"),
        Severity::Info => (Style::default().fg(Color::DarkGray), "-"),
    }
}

/// What the diagnosis pane shows, and how its rule is titled.
struct DiagnosisPane {
    lines: Vec<Line<'static>>,
    /// The call failed or its media have a warning: the rule is red and says "Diagnosis".
    alarm: bool,
}

/// The diagnosis pane: for a failed call its outcome and cause, where it broke, then the
/// findings, most severe first; for a call that did not fail, what its media say (when they
/// say anything); then one line per RTP stream of the call (its band's figures: codec,
/// packets, loss, jitter, MOS, one-way or unannounced). Empty for a call that did not fail
/// and has no stream.
fn diagnosis_lines(call: &Call, cv: &CallView) -> DiagnosisPane {
    let d = &cv.diagnosis;
    let failed = d.outcome.is_failure() || call.summary.failed;
    let mut out = if failed {
        failure_lines(call, cv)
    } else {
        let mut findings: Vec<_> = d.media.iter().collect();
        findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
        findings.into_iter().map(finding_line).collect()
    };
    let alarm = failed || d.media.iter().any(|f| f.severity >= Severity::Warning);
    for b in &cv.layout.media {
        // Band texts and ends are already escaped.
        out.push(Line::from(vec![
            Span::styled("~ ", Style::default().fg(Color::DarkGray)),
            Span::raw(format!("{}  ", b.ends)),
            Span::styled(b.text.clone(), ladder_widget::tone_style(b.tone)),
        ]));
    }
    DiagnosisPane { lines: out, alarm }
}

fn finding_line(f: &crate::diagnose::Finding) -> Line<'static> {
    let (style, mark) = severity_style(f.severity);
    Line::from(vec![
        Span::styled(format!("{mark} "), style),
        Span::styled(escape_str(&f.text).into_owned(), style),
    ])
}

/// Outcome and cause of a failed call, where it broke, then every finding, most severe first.
fn failure_lines(call: &Call, cv: &CallView) -> Vec<Line<'static>> {
    let d = &cv.diagnosis;
    let mut out = Vec::new();
    let cause = d
        .cause
        .as_deref()
        .map(|c| format!(": {}", escape_str(c)))
        .unwrap_or_default();
    out.push(Line::from(vec![Span::styled(
        format!("{}{cause}", d.outcome.words()),
        Style::default()
            .fg(class_color(d.final_code))
            .add_modifier(Modifier::BOLD),
    )]));
    let w = &d.where_;
    let host = |h: usize| {
        let role = call.hosts.get(h).map(|x| x.role.as_str()).unwrap_or("");
        format!("{} ({role})", call.host_label(h))
    };
    let mut place = Vec::new();
    if let Some(g) = w.generated_by {
        place.push(format!("generated by {}", host(g)));
    }
    if !w.proxied_by.is_empty() {
        let p: Vec<String> = w.proxied_by.iter().map(|h| call.host_label(*h)).collect();
        place.push(format!("proxied by {}", p.join(", ")));
    }
    if let Some(l) = w.broken_leg {
        place.push(format!(
            "broken leg {} -> {}",
            call.host_label(l.from),
            call.host_label(l.to)
        ));
    }
    if !place.is_empty() {
        out.push(Line::from(place.join("; ")));
    }
    let mut findings: Vec<_> = d.all_findings().collect();
    findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
    out.extend(findings.into_iter().map(finding_line));
    out
}

fn draw_diagnosis(frame: &mut Frame<'_>, area: Rect, pane: DiagnosisPane) {
    if area.height == 0 || pane.lines.is_empty() {
        return;
    }
    let (title, color) = if pane.alarm {
        (" Diagnosis ", Color::Red)
    } else {
        (" Media ", Color::DarkGray)
    };
    let block = Block::default()
        .borders(Borders::TOP)
        .title(title)
        .border_style(Style::default().fg(color));
    frame.render_widget(
        Paragraph::new(pane.lines)
            .block(block)
            .wrap(Wrap { trim: false }),
        area,
    );
}

fn draw_detail(frame: &mut Frame<'_>, cv: &mut CallView, area: Rect, lines: Vec<Line<'static>>) {
    if area.height == 0 {
        return;
    }
    cv.detail_scroll = cv.detail_scroll.min(lines.len().saturating_sub(1));
    let focused = cv.zoom || cv.focus == Focus::Detail;
    let block = Block::default()
        .borders(Borders::TOP)
        .title(" Message ")
        .border_style(if focused {
            Style::default().fg(Color::Yellow)
        } else {
            Style::default().fg(Color::DarkGray)
        });
    if cv.zoom || cv.focus == Focus::Detail {
        cv.page = usize::from(area.height.saturating_sub(1)).max(1);
    }
    let scroll = u16::try_from(cv.detail_scroll).unwrap_or(u16::MAX);
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false })
            .scroll((scroll, 0)),
        area,
    );
}

fn label(style: Style, text: &str) -> Span<'static> {
    Span::styled(text.to_string(), style.add_modifier(Modifier::BOLD))
}

/// Everything about the selected message: where and when it was seen, what it is on this
/// hop, what it means (responses), SDP, parser anomalies, and its text.
fn detail_lines(call: &Call, cv: &CallView, inputs: &[String]) -> Vec<Line<'static>> {
    let mut out: Vec<Line<'static>> = Vec::new();
    let Some(mi) = cv.selected_msg() else {
        out.push(Line::from("no message"));
        return out;
    };
    let (Some(m), Some(info)) = (call.messages.get(mi), call.info.get(mi)) else {
        return out;
    };
    let plain = Style::default();
    let muted = Style::default().fg(Color::DarkGray);
    let file = inputs
        .get(usize::from(m.frame.file))
        .filter(|_| inputs.len() > 1)
        .map(|f| format!(" of {f}"))
        .unwrap_or_default();
    out.push(Line::from(vec![
        label(plain, &format!("#{} ", mi + 1)),
        Span::raw(format!(
            "frame {}{file}  {}  {} {}:{} -> {}:{}  {} bytes",
            m.frame.number,
            rfc3339_micros(m.frame.ts_ns),
            m.flow.transport.as_str(),
            m.flow.src.ip,
            m.flow.src.port,
            m.flow.dst.ip,
            m.flow.dst.port,
            m.size
        )),
    ]));
    let start = match &m.start {
        Start::Request { method, uri } => format!("{} {}", escape_str(method), escape_str(uri)),
        Start::Response { code, reason } => format!("{code} {}", escape_str(reason)),
        Start::Invalid => "(start line unreadable)".into(),
    };
    let tone = cv
        .layout
        .rows
        .get(cv.selected)
        .map(|r| ladder_widget::tone_style(r.tone()))
        .unwrap_or_default();
    out.push(Line::from(Span::styled(
        start,
        tone.add_modifier(Modifier::BOLD),
    )));

    let host = |h: usize| {
        let role = call.hosts.get(h).map(|x| x.role.as_str()).unwrap_or("");
        format!("{} ({role})", call.host_label(h))
    };
    match info.repeat {
        Repeat::First => {}
        Repeat::Retransmission { of } => out.push(Line::styled(
            format!("Sent again: a retransmission of #{}.", of + 1),
            Style::default().fg(Color::Yellow),
        )),
        Repeat::Duplicate { of } => out.push(Line::styled(
            format!(
                "The same packet as #{} captured twice (not sent twice).",
                of + 1
            ),
            muted,
        )),
    }
    let step = info.step.and_then(|s| call.steps.get(s).map(|st| (s, st)));
    let hop = step.and_then(|(_, st)| info.hop.and_then(|h| st.hops.get(h)));
    if let (Some((_, st)), Some(hop)) = (step, hop) {
        let what = if st.is_request() {
            "request"
        } else {
            "response"
        };
        let origin = match hop.origin {
            HopOrigin::Generated if st.is_request() => {
                format!("Originated by {}", host(hop.src))
            }
            HopOrigin::Generated => format!("Generated by {}", host(hop.src)),
            HopOrigin::Forwarded => {
                let first = st
                    .generated_by
                    .map(|g| format!(", which came from {}", host(g)))
                    .unwrap_or_default();
                format!("Forwarded by {}{first}", host(hop.src))
            }
        };
        let receiver = match hop.receiver_acts {
            Acting::Forwarder => "passes it on".to_string(),
            a => format!("is the {} for this {what}", a.as_str()),
        };
        out.push(Line::from(format!(
            "{origin}; {} {receiver}.",
            call.host_label(hop.dst)
        )));
    }
    if let Some((s, _)) = step {
        if let Some(a) = crate::dialog::annotate(call, s) {
            let cls = Style::default().fg(class_color(Some(a.code)));
            out.push(Line::from(vec![
                label(cls, a.class.label()),
                Span::styled(format!(": {}", a.meaning), cls),
            ]));
            if let Some(g) = a.generated_by {
                let mut t = format!("Generated by {}", host(g));
                if !a.proxied_by.is_empty() {
                    let p: Vec<String> = a.proxied_by.iter().map(|h| host(*h)).collect();
                    t.push_str(&format!(", proxied by {}", p.join(", ")));
                }
                out.push(Line::from(t + "."));
            }
            if let (Some(r), Some(role)) = (a.received_by, a.receiver_role) {
                let on = a.on_receipt.unwrap_or("the tables say nothing more");
                out.push(Line::from(vec![
                    label(plain, "On receipt: "),
                    Span::raw(format!(
                        "{} (as a {}): {on}",
                        call.host_label(r),
                        role.label()
                    )),
                ]));
            }
            // What the other kinds of box would do with it: the receiver's role is inferred,
            // and a phone behind a gateway, or the reverse, is a common question.
            if let Some(info) = crate::knowledge::lookup(a.code) {
                let others = [
                    (crate::knowledge::Role::Phone, &info.phone),
                    (crate::knowledge::Role::Gateway, &info.gateway),
                    (crate::knowledge::Role::Proxy, &info.proxy),
                ];
                for (role, facts) in others {
                    if Some(role) == a.receiver_role {
                        continue;
                    }
                    if let Some(on) = facts.on_receipt {
                        out.push(Line::from(vec![
                            Span::styled(format!("  a {} would: ", role.label()), muted),
                            Span::raw(on),
                        ]));
                    }
                }
            }
            if let Some(h) = a.hint {
                out.push(Line::from(vec![
                    label(plain, "Hint: "),
                    Span::raw(format!("\"{}\": {}", escape_str(h.phrase), h.cause)),
                ]));
            }
        }
    }
    let extras: [(&str, Option<&str>); 4] = [
        ("Reason", m.extra.reason_header.as_deref()),
        ("Warning", m.extra.warning.as_deref()),
        ("Retry-After", m.extra.retry_after.as_deref()),
        (
            "User-Agent",
            m.user_agent.as_deref().or(m.server.as_deref()),
        ),
    ];
    for (name, v) in extras {
        if let Some(v) = v {
            out.push(Line::from(vec![
                label(plain, &format!("{name}: ")),
                Span::raw(escape_str(v).into_owned()),
            ]));
        }
    }
    if let Some(sdp) = &m.extra.sdp {
        let mut t = String::new();
        if let Some(a) = &sdp.address {
            t.push_str(&format!("c={} ", escape_str(a)));
        }
        for md in &sdp.media {
            t.push_str(&format!(
                "{} {} {} {} ",
                escape_str(&md.kind),
                md.port,
                escape_str(&md.codecs.join(",")),
                escape_str(&md.direction)
            ));
        }
        out.push(Line::from(vec![
            label(plain, "SDP: "),
            Span::raw(t.trim_end().to_string()),
        ]));
    }
    for a in &m.extra.anomalies {
        out.push(Line::styled(
            format!("Anomaly: {}", escape_str(a)),
            Style::default().fg(Color::Yellow),
        ));
    }
    out.push(Line::styled("--- message text ---", muted));
    match &m.extra.raw {
        Some(raw) => {
            for l in raw.split(|b| *b == b'\n') {
                let l = l.strip_suffix(b"\r").unwrap_or(l);
                out.push(Line::from(escape(l).into_owned()));
            }
        }
        None => out.push(Line::styled("(text not kept)", muted)),
    }
    out
}

/// The help overlay, centred; returns the scroll it settled on.
fn draw_help(frame: &mut Frame<'_>, area: Rect, scroll: usize) -> usize {
    let w = area.width.saturating_sub(4).min(76);
    let h = area.height.saturating_sub(2);
    let r = Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    };
    let mut lines = Vec::new();
    for (heading, keys, what) in help_lines() {
        match heading {
            Some(t) => lines.push(Line::styled(
                t.to_string(),
                Style::default()
                    .fg(Color::Yellow)
                    .add_modifier(Modifier::BOLD),
            )),
            None => lines.push(Line::from(vec![
                Span::styled(
                    format!("  {}", cell(&keys, 16)),
                    Style::default().add_modifier(Modifier::BOLD),
                ),
                Span::raw(what),
            ])),
        }
    }
    let inner = usize::from(h.saturating_sub(2));
    let scroll = scroll.min(lines.len().saturating_sub(inner));
    frame.render_widget(Clear, r);
    frame.render_widget(
        Paragraph::new(lines)
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .title(" Keys (any other key closes) "),
            )
            .scroll((u16::try_from(scroll).unwrap_or(u16::MAX), 0)),
        r,
    );
    scroll
}
