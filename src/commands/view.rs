//! `sipscope FILE...` without a subcommand: the interactive view when a person is at a
//! terminal (standard output and standard input both terminals), otherwise the call list, so
//! the command still does something useful in a pipe or a script.
//!
//! With `SIPSCOPE_VIEW_LOAD` set in the environment, the view's list is loaded headless (the
//! same loader, in this thread) and figures are printed instead: for measuring the view's time
//! to a full list and its memory without a terminal.

use std::io::{IsTerminal, Write};

use crate::cli::Selection;
use crate::error::Error;

pub fn run(sel: &Selection, out: &mut dyn Write, err: &mut dyn Write) -> Result<(), Error> {
    if std::env::var_os("SIPSCOPE_VIEW_LOAD").is_some() {
        return measure(sel, out);
    }
    if std::io::stdout().is_terminal() && std::io::stdin().is_terminal() {
        crate::tui::run(sel, err)
    } else {
        super::calls::run(sel, false, out, err)
    }
}

/// Loads the view's list and prints how long it took, how many calls it holds, and the peak
/// resident memory the kernel saw (Linux).
fn measure(sel: &Selection, out: &mut dyn Write) -> Result<(), Error> {
    let t = std::time::Instant::now();
    let mut app = crate::tui::load_app(sel)?;
    let secs = t.elapsed().as_secs_f64();
    // Opening calls: the middle one and the last one, rebuilt from the capture.
    let n = app.entries.len();
    let mut opened = Vec::new();
    for id in [n / 2, n.saturating_sub(1)] {
        let t = std::time::Instant::now();
        let msgs = app.whole_call(id).map_or(0, |c| c.messages.len());
        opened.push(format!(
            "{msgs} msgs in {:.1} ms",
            t.elapsed().as_secs_f64() * 1e3
        ));
    }
    let hwm = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l.trim_start_matches("VmHWM:").trim().to_string())
        })
        .unwrap_or_else(|| "?".into());
    let now = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .filter(|l| l.starts_with("Rss"))
                .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
                .reduce(|a, b| a + ", " + &b)
        })
        .unwrap_or_else(|| "?".into());
    writeln!(
        out,
        "view list: {} calls in {secs:.2} s, peak RSS {hwm}, now {now}, entry {} bytes + {} heap each on average; opened {}",
        app.entries.len(),
        std::mem::size_of::<crate::tui::Entry>(),
        app.entries.iter().map(|e| e.heap_bytes()).sum::<usize>() / app.entries.len().max(1),
        opened.join(", "),
    )?;
    std::mem::forget(app);
    Ok(())
}
