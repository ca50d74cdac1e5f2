//! The interactive view, driven through its real main loop: the bundled samples are loaded by
//! the view's own loader, keys are injected, and the screens drawn on ratatui's `TestBackend`
//! are checked and snapshot-tested (insta; `tests/snapshots/`). Times in the samples are
//! shown in UTC and the screen sizes are fixed here, so the screens do not depend on the
//! machine. One end-to-end test runs the real binary inside tmux.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::style::Modifier;
use ratatui::Terminal;

use sipscope::capture::linktype;
use sipscope::capture::writer::pcap_bytes;
use sipscope::cli::Selection;
use sipscope::tui::{self, App, Key, Script};

use common::*;

const ANSWERED: &str = "samples/answered-call-proxy.pcap";
const BUSY: &str = "samples/busy-486.pcap";

fn selection(files: &[&str]) -> Selection {
    Selection {
        files: files.iter().map(|f| f.to_string()).collect(),
        ..Selection::default()
    }
}

fn samples() -> App {
    tui::load_app(&selection(&[ANSWERED, BUSY])).expect("the samples load")
}

/// The screen as text, one line per row, trailing blanks cut.
fn text(buf: &Buffer) -> String {
    let mut out = String::new();
    for y in 0..buf.area.height {
        out.push_str(line(buf, y).trim_end());
        out.push('\n');
    }
    out
}

/// One row as the terminal shows it: the cell hidden under a double-width character is
/// skipped.
fn line(buf: &Buffer, y: u16) -> String {
    let mut out = String::new();
    let mut hidden = 0;
    for x in 0..buf.area.width {
        if hidden > 0 {
            hidden -= 1;
            continue;
        }
        let sym = buf[(x, y)].symbol();
        hidden = unicode_width::UnicodeWidthStr::width(sym).saturating_sub(1);
        out.push_str(sym);
    }
    out
}

/// Runs the main loop on a `w` x `h` test terminal with `keys`, returns the terminal.
fn drive(app: &mut App, w: u16, h: u16, keys: &[Key]) -> Terminal<TestBackend> {
    let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
    tui::run_loop(&mut term, app, &mut Script::new(keys.iter().copied()), None).unwrap();
    term
}

fn screen(app: &mut App, w: u16, h: u16, keys: &[Key]) -> String {
    text(drive(app, w, h, keys).backend().buffer())
}

fn chars(s: &str) -> Vec<Key> {
    s.chars().map(Key::Char).collect()
}

#[test]
fn call_list_80x24() {
    let mut app = samples();
    let s = screen(&mut app, 80, 24, &[]);
    let rows: Vec<&str> = s.lines().collect();
    assert!(
        rows[1].starts_with('#') && rows[1].contains("Start^"),
        "{s}"
    );
    assert!(
        rows[2].starts_with("1 ") && rows[2].contains("200 OK"),
        "{s}"
    );
    assert!(
        rows[4].starts_with("3 ") && rows[4].contains("486 Busy Here"),
        "{s}"
    );
    assert!(
        rows[22].contains("3 calls") && rows[22].contains("1 failed"),
        "{s}"
    );
    assert!(rows[23].contains("Enter open"), "{s}");
    insta::assert_snapshot!("list_80x24", s);
}

#[test]
fn call_list_wide_shows_every_column_and_colours_failures() {
    let mut app = samples();
    let term = drive(&mut app, 160, 30, &[]);
    let buf = term.backend().buffer();
    let s = text(buf);
    for col in ["Call-ID", "Msgs", "Duration", "Hosts"] {
        assert!(s.lines().nth(1).unwrap().contains(col), "{col}: {s}");
    }
    assert!(s.contains("127.0.0.22(proxy)"), "{s}");
    // The failed call's row is coloured (yellow: 4xx), the answered ones are not.
    let failed_row = 4;
    let x = line(buf, failed_row).find("alice").unwrap() as u16;
    assert_ne!(buf[(x, failed_row)].fg, ratatui::style::Color::Reset);
    assert_eq!(buf[(x, 3)].fg, ratatui::style::Color::Reset);
    // The selected call is drawn reversed.
    assert!(buf[(x, 2)].modifier.contains(Modifier::REVERSED));
    assert!(!buf[(x, 3)].modifier.contains(Modifier::REVERSED));
    insta::assert_snapshot!("list_160x30", s);
}

#[test]
fn enter_opens_the_ladder_and_j_k_step_through_messages() {
    let mut app = samples();
    let s = screen(&mut app, 80, 24, &[Key::Enter]);
    assert!(s.contains("Call 1  Call-ID 1-32546@127.0.0.11"), "{s}");
    assert!(s.contains("127.0.0.11") && s.contains("127.0.0.13"), "{s}");
    assert!(s.contains("INVITE bob"), "{s}");
    assert!(s.contains("─>│"), "an arrow: {s}");
    assert!(s.contains("message 1/13"), "{s}");
    assert!(
        s.contains("INVITE sip:bob@127.0.0.12:5060 SIP/2.0"),
        "raw text: {s}"
    );
    insta::assert_snapshot!("call_80x24", s);

    let s = screen(&mut app, 80, 24, &chars("jjjk"));
    assert!(s.contains("message 3/13"), "{s}");
    // The third message is the INVITE the proxy forwarded.
    assert!(s.contains("Forwarded by 127.0.0.12 (proxy)"), "{s}");
    insta::assert_snapshot!("call_80x24_third_message", s);

    // Back to the list, the same call still selected.
    let s = screen(&mut app, 80, 24, &[Key::Esc]);
    assert!(s.contains("3 calls"), "{s}");
    assert!(app.call.is_none());
}

#[test]
fn failed_call_shows_diagnosis_and_f_jumps_to_the_failure() {
    let mut app = samples();
    let keys = [Key::Char('G'), Key::Enter, Key::Char('f')];
    let term = drive(&mut app, 160, 40, &keys);
    let buf = term.backend().buffer();
    let s = text(buf);
    assert!(s.contains("Diagnosis"), "{s}");
    assert!(s.contains("rejected: 486 Busy Here"), "{s}");
    assert!(s.contains("broken leg 127.0.0.22 -> 127.0.0.23"), "{s}");
    // The failure is selected: its annotation and what the caller's phone does are shown.
    assert!(s.contains("message 4/7"), "{s}");
    assert!(s.contains("4xx client failure"), "{s}");
    assert!(s.contains("On receipt:"), "{s}");
    // The selected arrow is reversed.
    // The ladder is the left three fifths of a wide screen.
    let ladder = |y: u16| -> String { line(buf, y).chars().take(96).collect() };
    let y = (0..buf.area.height)
        .find(|&y| ladder(y).contains("486 Busy Here"))
        .unwrap();
    let x = ladder(y).find("486").unwrap();
    let x = ladder(y)[..x].chars().count() as u16;
    assert!(buf[(x, y)].modifier.contains(Modifier::REVERSED), "{s}");
    insta::assert_snapshot!("failed_call_160x40", s);
}

#[test]
fn help_overlay_lists_the_keys() {
    let mut app = samples();
    let s = screen(&mut app, 80, 24, &[Key::Char('?')]);
    assert!(s.contains("Keys (any other key closes)"), "{s}");
    assert!(s.contains("F1 ?") && s.contains("this help"), "{s}");
    assert!(s.contains("filter as you type"), "{s}");
    insta::assert_snapshot!("help_80x24", s);
    // Any other key closes it.
    let s = screen(&mut app, 80, 24, &[Key::Char('x')]);
    assert!(!s.contains("this help"), "{s}");
    // F1 opens it in the call view too, with the call view's keys further down.
    let s = screen(&mut app, 80, 60, &[Key::Enter, Key::F(1)]);
    assert!(s.contains("next failure"), "{s}");
}

#[test]
fn filter_as_you_type_then_esc_clears() {
    let mut app = samples();
    let mut keys = vec![Key::Char('/')];
    keys.extend(chars("busy"));
    let s = screen(&mut app, 80, 24, &keys);
    let rows: Vec<&str> = s.lines().collect();
    assert!(rows[2].starts_with("3 ") && rows[2].contains("486"), "{s}");
    assert!(!rows[3].starts_with('1'), "{s}");
    assert!(s.contains("1 shown") && s.contains("filter: busy"), "{s}");
    assert!(rows[23].starts_with("Filter: busy"), "{s}");
    insta::assert_snapshot!("filter_busy_80x24", s);
    // Enter keeps the filter; Esc clears it (the first Esc does not quit).
    let s = screen(&mut app, 80, 24, &[Key::Enter]);
    assert!(s.contains("1 shown"), "{s}");
    let s = screen(&mut app, 80, 24, &[Key::Esc]);
    assert!(!s.contains("shown") && s.contains("filter cleared"), "{s}");
    // Words must all match.
    let mut keys = vec![Key::Char('/')];
    keys.extend(chars("alice 200"));
    let s = screen(&mut app, 80, 24, &keys);
    assert!(s.contains("2 shown"), "{s}");
}

#[test]
fn sort_keys_reorder_the_list() {
    let mut app = samples();
    // s: by Call-ID, which puts call 3 (1-303@...) first.
    let s = screen(&mut app, 80, 24, &[Key::Char('s')]);
    assert!(s.contains("sort: Call-ID asc"), "{s}");
    let first = s.lines().nth(2).unwrap();
    assert!(first.starts_with("3 "), "{s}");
    insta::assert_snapshot!("sorted_by_call_id_80x24", s);
    // r reverses it.
    let s = screen(&mut app, 80, 24, &[Key::Char('r')]);
    assert!(s.lines().nth(2).unwrap().starts_with("2 "), "{s}");
    assert!(s.contains("sort: Call-ID desc"), "{s}");
    // f: failed calls only.
    let s = screen(&mut app, 80, 24, &[Key::Char('f')]);
    assert!(s.contains("1 shown") && s.contains("failed only"), "{s}");
}

#[test]
fn time_column_modes() {
    let mut app = samples();
    let s = screen(&mut app, 120, 40, &[Key::Enter, Key::Char('j')]);
    assert!(s.contains("time: delta") && s.contains("+0.671ms"), "{s}");
    let s = screen(&mut app, 120, 40, &[Key::Char('t')]);
    assert!(
        s.contains("time: relative") && s.contains("+0.000ms"),
        "{s}"
    );
    let s = screen(&mut app, 120, 40, &[Key::Char('t')]);
    assert!(
        s.contains("time: absolute") && s.contains("19:53:46.384"),
        "{s}"
    );
    assert!(!s.contains("+0.671ms"), "{s}");
}

#[test]
fn wide_ladders_scroll_sideways() {
    let mut app = samples();
    // 44 columns cannot hold three lifelines twelve cells apart after the time column.
    let s = screen(&mut app, 44, 24, &[Key::Enter]);
    assert!(!s.contains("127.0.0.13"), "{s}");
    let s = screen(&mut app, 44, 24, &chars("llll"));
    assert!(app.call.as_ref().unwrap().hscroll > 0);
    assert!(s.contains("127.0.0.13"), "{s}");
    // The time column stays.
    assert!(s.contains("19:53:46.383"), "{s}");
    // No scrolling past the drawing: one step left is back at the start.
    let s = screen(&mut app, 44, 24, &chars("h"));
    assert_eq!(app.call.as_ref().unwrap().hscroll, 0);
    assert!(!s.contains("127.0.0.13"), "{s}");
}

#[test]
fn search_jumps_to_matching_messages() {
    let mut app = samples();
    let mut keys = vec![Key::Enter, Key::Char('/')];
    // Every message's Allow header names BYE; only BYE requests start with it.
    keys.extend(chars("bye sip:"));
    keys.push(Key::Enter);
    let s = screen(&mut app, 120, 40, &keys);
    assert!(s.contains("search: bye sip:"), "{s}");
    let cv = app.call.as_ref().unwrap();
    let call = &cv.call;
    let first_bye = call
        .messages
        .iter()
        .position(|m| m.method() == Some("BYE"))
        .unwrap();
    assert_eq!(cv.selected_msg(), Some(first_bye));
    // n finds the next message mentioning BYE: the BYE forwarded by the proxy.
    screen(&mut app, 120, 40, &[Key::Char('n')]);
    let cv = app.call.as_ref().unwrap();
    assert!(cv.selected_msg().unwrap() > first_bye);
    // A search with no match leaves the selection and says so.
    let before = app.call.as_ref().unwrap().selected;
    let mut keys = vec![Key::Char('/')];
    keys.extend(chars("no-such-text"));
    let s = screen(&mut app, 120, 40, &keys);
    assert!(s.contains("no message contains"), "{s}");
    screen(&mut app, 120, 40, &[Key::Esc]);
    assert_eq!(app.call.as_ref().unwrap().selected, before);
}

#[test]
fn loading_screen_shows_progress_before_any_call() {
    let mut app = App::new(&["big.pcap".to_string()]);
    app.progress(123_456, 250, 1000);
    let s = screen(&mut app, 80, 24, &[]);
    assert!(s.contains("loading 123,456 frames, 0 calls"), "{s}");
    assert!(s.contains("reading the capture"), "{s}");
    insta::assert_snapshot!("loading_80x24", s);
}

#[test]
fn resizing_redraws_at_the_new_size() {
    let mut app = samples();
    let mut term = drive(&mut app, 80, 24, &[Key::Enter]);
    term.backend_mut().resize(140, 45);
    tui::run_loop(
        &mut term,
        &mut app,
        &mut Script::new([Key::Char('j')]),
        None,
    )
    .unwrap();
    let buf = term.backend().buffer();
    assert_eq!((buf.area.width, buf.area.height), (140, 45));
    let s = text(buf);
    assert!(s.lines().nth(44).unwrap().contains("Up/Dn message"), "{s}");
    assert!(s.contains("message 2/13"), "{s}");
}

#[test]
fn q_in_the_call_view_goes_back_and_q_in_the_list_quits() {
    let mut app = samples();
    assert_eq!(app.handle_key(Key::Enter), tui::Action::Redraw);
    assert!(app.call.is_some());
    assert_eq!(app.handle_key(Key::Char('q')), tui::Action::Redraw);
    assert!(app.call.is_none());
    assert_eq!(app.handle_key(Key::Char('q')), tui::Action::Quit);
    assert_eq!(app.handle_key(Key::Ctrl('c')), tui::Action::Quit);
}

/// A call whose Call-ID, reason phrase and User-Agent carry terminal escape sequences.
fn hostile_capture() -> Vec<u8> {
    let evil = "\x1b]0;pwned\x07\x1b[2J";
    let call_id = format!("evil{evil}id");
    let mut inv = String::from_utf8(request("INVITE", &call_id, 1, "")).unwrap();
    inv = inv.replace(
        "Max-Forwards: 70\r\n",
        &format!("Max-Forwards: 70\r\nUser-Agent: phone{evil}\r\n"),
    );
    let busy = response(486, &format!("Busy{evil}"), &call_id, 1, "INVITE");
    let a = v4(192, 0, 2, 1);
    let b = v4(192, 0, 2, 2);
    let t = 1_700_000_000_000_000_000;
    pcap_bytes(
        linktype::ETHERNET,
        &[
            (t, eth_udp4(a, 5060, b, 5060, inv.as_bytes())),
            (t + 20_000_000, eth_udp4(b, 5060, a, 5060, &busy)),
        ],
    )
}

fn assert_no_escape(buf: &Buffer) {
    for c in buf.content() {
        assert!(
            !c.symbol().chars().any(|ch| ch.is_control()),
            "control character in a cell: {:?}",
            c.symbol()
        );
    }
}

#[test]
fn escape_sequences_from_the_capture_never_reach_the_terminal() {
    let file = TempFile::new("hostile-escape.pcap", &hostile_capture());
    let mut app = tui::load_app(&selection(&[file.path()])).unwrap();
    let term = drive(&mut app, 200, 50, &[]);
    let s = text(term.backend().buffer());
    assert_no_escape(term.backend().buffer());
    // The list cuts long cells, but what it shows is escaped.
    assert!(s.contains("evil\\x1b]0;"), "{s}");
    assert!(s.contains("486 Busy\\x1b]0;pwned\\x0"), "{s}");

    let term = drive(&mut app, 200, 50, &[Key::Enter]);
    let buf = term.backend().buffer();
    assert_no_escape(buf);
    let s = text(buf);
    // In the title, the raw text (User-Agent header) and the ladder's response label.
    assert!(
        s.matches("\\x1b]0;pwned").count() >= 3,
        "escaped everywhere: {s}"
    );
    let term = drive(&mut app, 200, 50, &[Key::Char('j')]);
    assert_no_escape(term.backend().buffer());
    assert!(text(term.backend().buffer()).contains("Busy\\x1b]0;pwned"));
}

/// Runs tmux on a private server socket, removed when dropped.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn cmd(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("tmux runs")
    }

    fn capture(&self) -> String {
        String::from_utf8_lossy(&self.cmd(&["capture-pane", "-p", "-t", "view"]).stdout)
            .into_owned()
    }

    fn wait_for(&self, what: &str, pred: &dyn Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        // The last screen that showed anything: the session may end before the deadline.
        let mut last = String::new();
        loop {
            let screen = self.capture();
            if pred(&screen) {
                return screen;
            }
            if !screen.trim().is_empty() {
                last = screen;
            }
            if Instant::now() > deadline {
                panic!("timed out waiting for {what}; last screen:\n{last}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn alive(&self) -> bool {
        self.cmd(&["has-session", "-t", "view"]).status.success()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
    }
}

fn tmux_available() -> bool {
    Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn end_to_end_in_tmux() {
    if !tmux_available() {
        if std::env::var_os("CI").is_some() {
            panic!(
                "tmux is not installed: the end-to-end test of the terminal view cannot run. \
                 CI must install tmux (apt-get install -y tmux)."
            );
        }
        eprintln!(
            "\n!!!!!!!! SKIPPED end_to_end_in_tmux: tmux is not installed \
             (apt-get install -y tmux) !!!!!!!!\n"
        );
        return;
    }
    let bin = env!("CARGO_BIN_EXE_sipscope");
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join(ANSWERED);
    let tmux = Tmux {
        socket: format!("sipscope-e2e-{}", std::process::id()),
    };
    // After the view exits, the shell prints its exit status on the normal screen: seeing it
    // proves the alternate screen was left.
    let shell = format!(
        "'{bin}' '{}'; echo \"sipscope exited with $?\"; sleep 2",
        sample.display()
    );
    let out = tmux.cmd(&[
        "new-session",
        "-d",
        "-s",
        "view",
        "-x",
        "120",
        "-y",
        "40",
        &shell,
    ]);
    assert!(
        out.status.success(),
        "tmux new-session: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list = tmux.wait_for("the call list", &|s| {
        s.contains("2 calls") && s.contains("SIP")
    });
    assert!(
        list.contains("alice") && list.contains("completed"),
        "{list}"
    );

    tmux.cmd(&["send-keys", "-t", "view", "Enter"]);
    let ladder = tmux.wait_for("the ladder", &|s| s.contains("message 1/"));
    assert!(ladder.contains("INVITE bob"), "{ladder}");
    assert!(ladder.contains("─>│"), "an arrow: {ladder}");
    assert!(ladder.contains("127.0.0.11"), "{ladder}");
    assert!(ladder.contains("127.0.0.12"), "{ladder}");

    tmux.cmd(&["send-keys", "-t", "view", "q"]);
    tmux.wait_for("the list again", &|s| s.contains("2 calls"));
    tmux.cmd(&["send-keys", "-t", "view", "q"]);
    let after = tmux.wait_for("the exit status", &|s| s.contains("sipscope exited with"));
    assert!(after.contains("sipscope exited with 0"), "{after}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while tmux.alive() {
        assert!(Instant::now() < deadline, "the tmux session did not end");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A call with a double-width display name and user (CJK), a very long Call-ID and a
/// message sent to itself.
fn odd_capture() -> Vec<u8> {
    let call_id = format!("{}@example.com", "x".repeat(300));
    let mut inv = String::from_utf8(request("INVITE", &call_id, 1, "")).unwrap();
    inv = inv
        .replace("sip:bob@", "sip:\u{7535}\u{8bdd}\u{53f7}\u{7801}@")
        .replace("From: <", "From: \"\u{5f20}\u{4f1f}\" <");
    let ok = response(200, "\u{6210}\u{529f}", &call_id, 1, "INVITE");
    let a = v4(192, 0, 2, 1);
    let b = v4(192, 0, 2, 2);
    let t = 1_700_000_000_000_000_000;
    pcap_bytes(
        linktype::ETHERNET,
        &[
            (t, eth_udp4(a, 5060, b, 5060, inv.as_bytes())),
            (t + 1_000_000, eth_udp4(b, 5060, a, 5060, &ok)),
            (t + 2_000_000, eth_udp4(a, 5060, a, 5062, inv.as_bytes())),
        ],
    )
}

#[test]
fn every_key_on_every_screen_at_any_size_draws_without_panicking() {
    let hostile = TempFile::new("keys-hostile.pcap", &hostile_capture());
    let odd = TempFile::new("keys-odd.pcap", &odd_capture());
    let mut keys = vec![Key::Char('?'), Key::Down, Key::PageDown, Key::Esc];
    for k in [
        Key::Char('s'),
        Key::Char('r'),
        Key::Char('f'),
        Key::Char('f'),
        Key::End,
        Key::Home,
    ] {
        keys.push(k);
    }
    keys.push(Key::Enter);
    keys.extend(chars("jjjjjjjjjjjjjjjjjjjjkFfftttaalllllllllllhhNn"));
    keys.extend([Key::PageDown, Key::PageUp, Key::End, Key::Home, Key::Tab]);
    keys.extend(chars("jjjjjG"));
    keys.extend([
        Key::PageDown,
        Key::Tab,
        Key::Enter,
        Key::Down,
        Key::Char(' '),
    ]);
    keys.push(Key::Char('/'));
    keys.extend(chars("a\u{7535}"));
    keys.extend([Key::Backspace, Key::Ctrl('u'), Key::Enter, Key::Char('n')]);
    keys.extend([Key::F(1), Key::Char('j'), Key::Esc, Key::Esc]);
    keys.push(Key::Char('/'));
    keys.extend(chars("zz"));
    keys.push(Key::Esc);
    for files in [
        vec![ANSWERED, BUSY],
        vec![RTP, "samples/one-way-rtp.pcap"],
        vec![hostile.path()],
        vec![odd.path()],
    ] {
        for (w, h) in [
            (1, 1),
            (19, 5),
            (20, 6),
            (33, 9),
            (80, 24),
            (97, 31),
            (250, 70),
        ] {
            let mut app = tui::load_app(&selection(&files)).unwrap();
            let term = drive(&mut app, w, h, &keys);
            assert_no_escape(term.backend().buffer());
        }
    }
}

#[test]
fn double_width_text_keeps_the_ladder_aligned() {
    let odd = TempFile::new("wide-odd.pcap", &odd_capture());
    let mut app = tui::load_app(&selection(&[odd.path()])).unwrap();
    let term = drive(&mut app, 120, 30, &[Key::Enter]);
    let buf = term.backend().buffer();
    let s = text(buf);
    assert!(s.contains("\u{7535}\u{8bdd}"), "{s}");
    // On the label line of the first INVITE, the lifelines on either side are where they
    // are on the arrow line below it.
    let y = (0..buf.area.height)
        .find(|&y| line(buf, y).contains("INVITE"))
        .unwrap();
    let bars = |y: u16| -> Vec<u16> {
        (0..buf.area.width)
            .filter(|&x| buf[(x, y)].symbol() == "│")
            .collect()
    };
    let above = bars(y);
    let below = bars(y + 1);
    assert!(above.len() >= 2, "{s}");
    assert_eq!(above[..2], below[..2], "{s}");
}

#[test]
fn without_a_terminal_the_view_prints_the_call_list() {
    // Output captured by the test: not a terminal.
    let view = sipscope(&[ANSWERED, BUSY]);
    let calls = sipscope(&["calls", ANSWERED, BUSY]);
    assert!(
        view.status.success(),
        "{}",
        String::from_utf8_lossy(&view.stderr)
    );
    assert_eq!(view.stdout, calls.stdout);
    assert!(String::from_utf8_lossy(&view.stdout).contains("486 Busy Here"));
}

#[test]
fn a_short_ladder_leaves_the_rest_of_the_screen_to_the_message() {
    let file = TempFile::new("short-ladder.pcap", &hostile_capture());
    let mut app = tui::load_app(&selection(&[file.path()])).unwrap();
    let s = screen(&mut app, 80, 24, &[Key::Enter]);
    // Title, two heading rows, two arrows of two rows and one note: the panes start at row 8.
    let rule = s.lines().position(|l| l.contains(" Diagnosis ")).unwrap();
    assert_eq!(rule, 8, "{s}");
}

const RTP: &str = "samples/answered-call-rtp.pcap";

/// The rows of the screen (its first `w` cells) that contain `what`.
fn rows_with(buf: &Buffer, w: usize, what: &str) -> Vec<u16> {
    (0..buf.area.height)
        .filter(|&y| {
            line(buf, y)
                .chars()
                .take(w)
                .collect::<String>()
                .contains(what)
        })
        .collect()
}

/// A call with audio both ways: its ladder draws a band per stream after the message at or
/// before its first packet (as `sipscope ladder` does), in the stream's colour, and the pane
/// beside it lists the streams with their figures. Moving the selection skips the bands.
#[test]
fn rtp_streams_are_bands_in_the_ladder_and_lines_in_the_media_pane() {
    let mut app = tui::load_app(&selection(&[RTP])).expect("the sample loads");
    let media = app
        .media
        .as_ref()
        .expect("the loader hands over the streams");
    assert_eq!(media.streams.len(), 2, "the sample has audio both ways");
    let term = drive(&mut app, 160, 40, &[Key::Enter]);
    let buf = term.backend().buffer();
    let s = text(buf);
    // The ladder is the left three fifths of a wide screen.
    let ladder = 96;
    let right = rows_with(buf, ladder, "════>│");
    let left = rows_with(buf, ladder, "│<════");
    assert_eq!((right.len(), left.len()), (1, 1), "one band each way: {s}");
    let figures = rows_with(buf, ladder, "RTP PCMA 236 pkts");
    assert_eq!(figures.len(), 2, "{s}");
    // Each band's figures sit right above it, both between the ACK and the BYE (their first
    // packets came after the ACK).
    let ack = rows_with(buf, ladder, "ACK bob")[0];
    let bye = rows_with(buf, ladder, "BYE bob")[0];
    for band in [right[0], left[0]] {
        assert!(figures.contains(&(band - 1)), "{s}");
        assert!(ack < band && band < bye, "{s}");
    }
    // Healthy streams are drawn green.
    let x = line(buf, right[0]).find('═').unwrap();
    let x = line(buf, right[0])[..x].chars().count() as u16;
    assert_eq!(buf[(x, right[0])].fg, ratatui::style::Color::Green, "{s}");
    // The pane on the right: a healthy call's streams under a quiet "Media" rule.
    assert!(s.contains(" Media "), "{s}");
    assert!(!s.contains(" Diagnosis "), "{s}");
    assert!(
        s.contains("~ 127.0.0.191:6000 -> 127.0.0.193:6000  RTP PCMA 236 pkts"),
        "{s}"
    );
    assert!(s.contains("~ 127.0.0.193:6000 -> 127.0.0.191:6000"), "{s}");
    insta::assert_snapshot!("rtp_call_160x40", s);

    // From the ACK (message 4), one step down is the BYE: bands are not messages.
    let s = screen(&mut app, 160, 40, &chars("jjjj"));
    assert!(s.contains("message 5/6"), "{s}");
    assert!(s.contains("BYE sip:bob@127.0.0.193:5060"), "{s}");
}

/// A call whose audio went one way: the band is red, and the pane, now a "Diagnosis", says
/// so before listing the stream.
#[test]
fn one_way_audio_shows_in_the_ladder_and_the_diagnosis() {
    let mut app = tui::load_app(&selection(&["samples/one-way-rtp.pcap"])).unwrap();
    let term = drive(&mut app, 80, 30, &[Key::Enter]);
    let buf = term.backend().buffer();
    let s = text(buf);
    let band = rows_with(buf, 80, "════>│");
    assert_eq!(band.len(), 1, "{s}");
    assert!(rows_with(buf, 80, "│<════").is_empty(), "{s}");
    let x = line(buf, band[0]).find('═').unwrap();
    let x = line(buf, band[0])[..x].chars().count() as u16;
    assert_eq!(buf[(x, band[0])].fg, ratatui::style::Color::Red, "{s}");
    assert!(s.contains(" Diagnosis "), "{s}");
    assert!(s.contains("! One-way audio: 236 packets"), "{s}");
    assert!(s.contains("~ 127.0.0.201:6000 -> 127.0.0.203:6000"), "{s}");
    insta::assert_snapshot!("one_way_rtp_80x30", s);
}

/// A call opened while the capture is still being read has no media yet; when reading ends
/// it is laid out again with its bands, the selection kept.
#[test]
fn a_call_opened_during_loading_gets_its_bands_when_loading_ends() {
    let sel = selection(&[RTP]);
    let inputs = std::sync::Arc::new(sipscope::open_inputs(&sel.files, &mut Vec::new()).unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    tui::load(&inputs, &sel, &tx);
    drop(tx);
    let events: Vec<tui::LoadEvent> = rx.into_iter().collect();
    let mut app = App::new(&[RTP.to_string()]);
    // Everything but the media and the end first, as if the loader were still reading.
    let (late, early): (Vec<_>, Vec<_>) = events.into_iter().partition(|e| {
        matches!(
            e,
            tui::LoadEvent::Media { .. } | tui::LoadEvent::Done { .. }
        )
    });
    for e in early {
        tui::apply(&mut app, e);
    }
    app.refresh();
    app.handle_key(Key::Enter);
    app.handle_key(Key::Char('j'));
    let before = app.call.as_ref().unwrap();
    assert!(before.layout.media.is_empty());
    let selected = before.selected;
    for e in late {
        tui::apply(&mut app, e);
    }
    let after = app.call.as_ref().unwrap();
    assert_eq!(after.layout.media.len(), 2);
    assert_eq!(after.diagnosis.streams.len(), 2);
    assert_eq!(after.selected, selected);
}

/// Every sample, and every capture of the shared corpus when it is there (TCP with other
/// calls' segments in between, IPv6, SCTP, WebSocket, IP-in-IP, pcapng...).
fn captures_for_rebuild() -> Vec<String> {
    let mut files = Vec::new();
    let corpus = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/corpus");
    for dir in ["samples", corpus] {
        let Ok(list) = std::fs::read_dir(dir) else {
            continue;
        };
        for e in list.flatten() {
            let p = e.path().to_string_lossy().to_string();
            if p.ends_with(".pcap") || p.ends_with(".pcapng") {
                files.push(p);
            }
        }
    }
    files.sort();
    files
}

/// A call opened in the view is rebuilt from its frames only; it must be the call the
/// whole-file analysis makes: same messages (frames, flags, text), steps, hosts and summary.
#[test]
fn every_call_rebuilt_on_open_equals_the_whole_file_call() {
    let files = captures_for_rebuild();
    assert!(files.len() >= 20, "samples missing: {files:?}");
    let mut checked = 0;
    for f in &files {
        let sel = selection(&[f]);
        let Ok(whole) = sipscope::analysis::load(&sel, true, &mut Vec::new()) else {
            continue;
        };
        let mut app = tui::load_app(&sel).unwrap();
        assert_eq!(app.entries.len(), whole.calls.len(), "{f}");
        for (id, want) in whole.calls.iter().enumerate() {
            assert_eq!(app.entries[id].call_id(), want.call_id, "{f}: call {id}");
            let got = app.whole_call(id).expect("the frames are indexed");
            let what = format!("{f}: call {} ({})", id + 1, want.call_id);
            if got.messages.len() != want.messages.len() {
                for m in &want.messages {
                    eprintln!(
                        "want {:?} {:?} {:?} {:?}",
                        m.frame, m.frames, m.flags, m.flow
                    );
                }
                for m in &got.messages {
                    eprintln!("got  {:?} {:?} {:?}", m.frame, m.frames, m.flags);
                }
            }
            assert_eq!(got.messages.len(), want.messages.len(), "{what}");
            for (g, w) in got.messages.iter().zip(&want.messages) {
                assert_eq!(
                    (g.frame, &g.frames, g.flags),
                    (w.frame, &w.frames, w.flags),
                    "{what}"
                );
                assert_eq!(g, w, "{what}");
            }
            assert_eq!(got.steps, want.steps, "{what}");
            assert_eq!(got.summary, want.summary, "{what}");
            assert_eq!(got.hosts, want.hosts, "{what}");
            checked += 1;
        }
    }
    assert!(checked > 200, "only {checked} calls checked");
}

/// The view's list shows the calls `sipscope calls` lists, in the same order and numbering,
/// with the same columns.
#[test]
fn list_entries_match_the_calls_command() {
    for f in captures_for_rebuild() {
        let sel = selection(&[&f]);
        let out = Command::new(env!("CARGO_BIN_EXE_sipscope"))
            .args(["calls", "--json", &f])
            .output()
            .unwrap();
        if !out.status.success() {
            continue;
        }
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let rows = json["calls"].as_array().unwrap();
        let app = tui::load_app(&sel).unwrap();
        assert_eq!(app.list.rows.len(), rows.len(), "{f}");
        for (pos, row) in rows.iter().enumerate() {
            let id = app.list.rows[pos];
            let e = &app.entries[id];
            let s = &e.summary;
            let what = format!("{f}: row {pos}");
            assert_eq!(
                row["index"].as_u64(),
                Some(app.index_of[id] as u64),
                "{what}"
            );
            assert_eq!(row["call_id"].as_str(), Some(e.call_id()), "{what}");
            assert_eq!(row["start_ns"].as_i64(), Some(s.start_ns), "{what}");
            assert_eq!(row["from_user"].as_str(), Some(e.from_user()), "{what}");
            assert_eq!(row["to_user"].as_str(), Some(e.to_user()), "{what}");
            assert_eq!(
                row["first_method"].as_str(),
                Some(e.first_method()),
                "{what}"
            );
            assert_eq!(
                row["final_code"].as_u64(),
                s.final_code.map(u64::from),
                "{what}"
            );
            assert_eq!(
                row["messages"].as_u64(),
                Some(s.message_count as u64),
                "{what}"
            );
            assert_eq!(row["failed"].as_bool(), Some(s.failed), "{what}");
            let roles: Vec<String> = row["hosts"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|h| h["role"].as_str())
                .filter(|r| *r != "user agent")
                .map(|r| format!("({r})"))
                .collect();
            assert_eq!(
                e.hosts().matches('(').count(),
                roles.len(),
                "{what}: {}",
                e.hosts()
            );
            for r in roles {
                assert!(e.hosts().contains(&r), "{what}: {} lacks {r}", e.hosts());
            }
        }
    }
}

/// The view's media tracker keeps only the SDP announcements a datagram can look up (its
/// first pass notes which endpoints may carry media): it must find exactly the streams of a
/// tracker that keeps every announcement, on every sample and corpus capture (and on the
/// captures named in `SIPSCOPE_TEST_MORE`, separated by `:`, for large ones by hand).
#[test]
fn view_streams_equal_those_of_a_tracker_keeping_every_announcement() {
    let mut files = captures_for_rebuild();
    if let Some(more) = std::env::var_os("SIPSCOPE_TEST_MORE") {
        files.extend(more.to_string_lossy().split(':').map(str::to_string));
    }
    let mut with_streams = 0;
    for f in &files {
        let sel = selection(&[f]);
        let Ok(inputs) = sipscope::open_inputs(&sel.files, &mut Vec::new()) else {
            continue;
        };
        let (_, all) = sipscope::ingest::run_with_media(&inputs, &mut |_| {});
        let app = tui::load_app(&sel).unwrap();
        let got = app
            .media
            .as_ref()
            .expect("the loader hands over the streams");
        assert_eq!(got.streams, all.streams(), "{f}");
        if !got.streams.is_empty() {
            with_streams += 1;
        }
    }
    assert!(with_streams >= 3, "only {with_streams} captures with RTP");
}
