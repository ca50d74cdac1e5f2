//! Putting the terminal into the view's mode and giving it back, whatever happens.
//!
//! [`TerminalGuard`] enters raw mode and the alternate screen and undoes both when dropped (a
//! normal return, an error unwinding through `?`). A panic would print its message into the
//! alternate screen, where it vanishes, and leave the shell in raw mode; [`install_panic_hook`]
//! restores the terminal first and then lets the usual hook print the panic.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, Once};

use crossterm::cursor::{Hide, Show};
use crossterm::execute;
use crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;

/// The real terminal the view draws on (standard output).
pub type Term = Terminal<CrosstermBackend<io::Stdout>>;

/// Whether this process has the terminal in the view's mode. Restoring twice would leave the
/// alternate screen twice, and some terminals then jump back to the saved cursor position and
/// write over a panic message that was just printed.
static ACTIVE: AtomicBool = AtomicBool::new(false);

/// Holds the terminal in raw mode on the alternate screen until dropped.
pub struct TerminalGuard {
    restored: bool,
}

impl TerminalGuard {
    /// Enters raw mode and the alternate screen and opens a ratatui terminal on stdout. When
    /// a step fails, what was already done is undone before the error is returned.
    pub fn enter() -> io::Result<(TerminalGuard, Term)> {
        install_panic_hook();
        enable_raw_mode()?;
        ACTIVE.store(true, Ordering::SeqCst);
        let guard = TerminalGuard { restored: false };
        execute!(io::stdout(), EnterAlternateScreen, Hide)?;
        let term = Terminal::new(CrosstermBackend::new(io::stdout()))?;
        Ok((guard, term))
    }

    /// Gives the terminal back now (also done on drop).
    pub fn restore(&mut self) {
        if !self.restored {
            restore_terminal();
            self.restored = true;
        }
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        self.restore();
    }
}

/// Leaves the alternate screen, shows the cursor and leaves raw mode, once (later calls do
/// nothing). Errors are ignored: this runs on the way out, when there is nobody left to tell.
pub fn restore_terminal() {
    if !ACTIVE.swap(false, Ordering::SeqCst) {
        return;
    }
    let mut out = io::stdout();
    let _ = execute!(out, LeaveAlternateScreen, Show);
    let _ = disable_raw_mode();
    let _ = out.flush();
}

/// Name of the thread that reads the capture while the view runs.
pub const LOADER_THREAD: &str = "sipscope-load";

/// The panic message of the loader thread, kept for the view to show and for printing after
/// the terminal is restored.
static LOADER_PANIC: Mutex<Option<String>> = Mutex::new(None);

/// What the loader thread panicked with, if it did.
pub fn loader_panic() -> Option<String> {
    LOADER_PANIC.lock().ok().and_then(|p| p.clone())
}

/// Chains a hook in front of the current panic hook that restores the terminal, so the panic
/// message lands on the normal screen of a usable shell. A panic in the loader thread leaves
/// the view running (it reports that reading failed): its message is kept, not printed over
/// the screen. Installed once per process.
pub fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if std::thread::current().name() == Some(LOADER_THREAD) && ACTIVE.load(Ordering::SeqCst)
            {
                if let Ok(mut p) = LOADER_PANIC.lock() {
                    *p = Some(info.to_string());
                }
                return;
            }
            restore_terminal();
            previous(info);
        }));
    });
}
