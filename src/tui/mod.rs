//! The interactive terminal view (`sipscope FILE...` on a terminal): a call list like
//! sngrep's, and per call its ladder, the selected message explained and shown raw, and a
//! diagnosis of failed calls.
//!
//! Owns everything that knows ratatui and crossterm; nothing else in the crate does. Parts:
//! - [`app`]: state and `handle_key -> Action`, no I/O;
//! - [`render`]: the screens (layout diagram in its header);
//! - [`ladder_widget`]: paints [`crate::output::ladder::Layout`] into a buffer;
//! - [`keys`]: bindings and help text;
//! - [`term`]: raw mode and alternate screen, restored on exit, error and panic.
//!
//! The capture is read once, in a background thread ([`load`]): progress and finished calls
//! come over a channel, so the first screen shows at once and the list fills while reading.
//! RTP and RTCP are analysed on the way; the capture's streams arrive when reading ends (a
//! stream is only complete then), and from then on an opened call draws its streams as bands
//! in its ladder and lists them with what they say in the diagnosis pane.
//! Messages keep their text (for the raw pane); nothing is parsed again to draw. The main loop
//! ([`run_loop`]) is generic over the ratatui backend and takes its keys from an
//! [`EventSource`], so tests drive it with `TestBackend` and scripted keys.

pub mod app;
pub mod keys;
pub mod ladder_widget;
pub mod render;
pub mod term;

use std::io::{self, Write};
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::time::{Duration, Instant};

use ratatui::backend::Backend;
use ratatui::Terminal;

use crate::capture::{Input, Merged};
use crate::cli::Selection;
use crate::dialog::{Call, CallTracker, Msg, TrackerConfig};
use crate::error::Error;
use crate::ingest::Ingest;
use crate::media::StreamReport;

pub use app::{Action, App};
pub use keys::Key;

/// What the loader thread reports.
#[derive(Debug)]
pub enum LoadEvent {
    /// Frames read, bytes of the inputs walked, and their total size.
    Progress { frames: u64, bytes: u64, total: u64 },
    /// Calls that are over (or, at the end, every call still open). Already filtered.
    Calls(Vec<Call>),
    /// Every RTP stream of the capture (sent once, when reading ends), and the time of its
    /// last frame.
    Media {
        streams: Vec<StreamReport>,
        capture_end_ns: Option<i64>,
    },
    /// A line about a damaged capture or undecodable frames.
    Warning(String),
    /// Every frame read.
    Done { frames: u64, sip_frames: u64 },
    /// Nothing could be read.
    Failed(String),
}

/// How often the loader reports (and hands over the calls it finished).
const REPORT_EVERY: Duration = Duration::from_millis(100);

/// Reads `inputs` to the end, sending progress and calls to `tx` as it goes. Calls are
/// streamed out of a [`CallTracker`] as they end (memory holds only the calls in progress
/// plus what was sent), filtered by the selection, each message with its text kept. RTP is
/// analysed on the way (as `sipscope media` does) and every stream is sent at the end, before
/// the last calls. Stops early when the receiver is gone (the user quit).
pub fn load(inputs: &[Input], sel: &Selection, tx: &Sender<LoadEvent>) {
    let total: u64 = inputs.iter().map(|i| i.bytes().len() as u64).sum();
    let mut ing = Ingest::new().with_media();
    ing.add_inputs(inputs);
    // The same grouping as the streaming commands: a Call-ID stays one call unless it is idle
    // for an hour, so the list numbers calls as `sipscope calls` does.
    let cfg = TrackerConfig {
        idle_timeout_ns: crate::analysis::ORDERED_IDLE_TIMEOUT_NS,
        ..TrackerConfig::default()
    };
    let mut tracker = CallTracker::new(cfg, sel.roles.clone());
    let mut batch: Vec<Call> = Vec::new();
    let mut walked = vec![0u64; inputs.len()];
    let mut last = Instant::now();
    let mut n: u64 = 0;
    let filter = &sel.filter;
    let iters = inputs.iter().map(|i| i.frames()).collect();
    for item in Merged::new(iters) {
        match item {
            Ok(frame) => {
                if let Some(w) = walked.get_mut(usize::from(frame.file)) {
                    *w = frame.offset.saturating_add(frame.data.len() as u64);
                }
                ing.push_frame(&frame, &mut |m| {
                    let done = tracker.push(Msg::from_located(&m, true));
                    batch.extend(done.into_iter().filter(|c| filter.matches(c)));
                });
            }
            Err(issue) => ing.issue(issue),
        }
        n = n.wrapping_add(1);
        if n % 512 == 0 && last.elapsed() >= REPORT_EVERY {
            last = Instant::now();
            let progress = LoadEvent::Progress {
                frames: ing.books.frames,
                bytes: walked.iter().sum(),
                total,
            };
            if tx.send(progress).is_err() {
                return;
            }
            if !batch.is_empty()
                && tx
                    .send(LoadEvent::Calls(std::mem::take(&mut batch)))
                    .is_err()
            {
                return;
            }
        }
    }
    let (books, media) = ing.finish_all(&mut |m| {
        let done = tracker.push(Msg::from_located(&m, true));
        batch.extend(done.into_iter().filter(|c| filter.matches(c)));
    });
    batch.extend(tracker.finish().into_iter().filter(|c| filter.matches(c)));
    // Streams before the last calls, so that no call is opened with its media missing once
    // the list is complete.
    let _ = tx.send(LoadEvent::Media {
        streams: media.map(|m| m.streams()).unwrap_or_default(),
        capture_end_ns: books.inputs.iter().filter_map(|i| i.last_ts_ns).max(),
    });
    let _ = tx.send(LoadEvent::Calls(batch));
    let mut report = Vec::new();
    crate::report_books(&books, &mut report);
    for line in String::from_utf8_lossy(&report).lines() {
        let _ = tx.send(LoadEvent::Warning(line.to_string()));
    }
    let _ = tx.send(if books.frames == 0 && !books.issues.is_empty() {
        LoadEvent::Failed(Error::NothingRead.to_string())
    } else {
        LoadEvent::Done {
            frames: books.frames,
            sip_frames: books.sip_frames,
        }
    });
}

/// Applies one loader report to the view.
pub fn apply(app: &mut App, ev: LoadEvent) {
    match ev {
        LoadEvent::Progress {
            frames,
            bytes,
            total,
        } => app.progress(frames, bytes, total),
        LoadEvent::Calls(calls) => app.add_calls(calls),
        LoadEvent::Media {
            streams,
            capture_end_ns,
        } => app.set_media(streams, capture_end_ns),
        LoadEvent::Warning(w) => app.warnings.push(w),
        LoadEvent::Done { frames, sip_frames } => app.finish_loading(frames, sip_frames),
        LoadEvent::Failed(why) => app.fail_loading(why),
    }
}

/// Opens the inputs (failing before any screen is drawn when none can be read) and names
/// them as the view shows them.
fn open(sel: &Selection) -> Result<(Vec<Input>, Vec<String>), Error> {
    let mut warn = Vec::new();
    let inputs = crate::open_inputs(&sel.files, &mut warn);
    let warnings: Vec<String> = String::from_utf8_lossy(&warn)
        .lines()
        .map(str::to_string)
        .collect();
    match inputs {
        Ok(i) => Ok((i, warnings)),
        Err(e) => Err(e),
    }
}

/// Loads the whole selection in this thread, through the same code as the view's loader:
/// for tests and for callers that want the finished state.
pub fn load_app(sel: &Selection) -> Result<App, Error> {
    let (inputs, warnings) = open(sel)?;
    let names: Vec<String> = inputs.iter().map(|i| i.name.clone()).collect();
    let mut app = App::new(&names);
    app.warnings = warnings;
    let (tx, rx) = mpsc::channel();
    load(&inputs, sel, &tx);
    drop(tx);
    for ev in rx {
        apply(&mut app, ev);
    }
    Ok(app)
}

/// An input to the main loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UiEvent {
    Key(Key),
    /// The terminal changed size.
    Resize,
    /// No more input (scripted sources): leave the loop.
    End,
}

/// Where keys come from: the terminal, or a script in tests.
pub trait EventSource {
    /// Waits up to `timeout` for the next input; `None` when nothing came.
    fn next(&mut self, timeout: Duration) -> io::Result<Option<UiEvent>>;
}

/// Keys and resizes from the real terminal.
pub struct TerminalEvents;

impl EventSource for TerminalEvents {
    fn next(&mut self, timeout: Duration) -> io::Result<Option<UiEvent>> {
        use crossterm::event::{self, Event};
        if !event::poll(timeout)? {
            return Ok(None);
        }
        Ok(match event::read()? {
            Event::Key(k) => Key::from_event(&k).map(UiEvent::Key),
            Event::Resize(..) => Some(UiEvent::Resize),
            _ => None,
        })
    }
}

/// A fixed list of keys, then [`UiEvent::End`].
pub struct Script(pub std::collections::VecDeque<Key>);

impl Script {
    pub fn new(keys: impl IntoIterator<Item = Key>) -> Script {
        Script(keys.into_iter().collect())
    }
}

impl EventSource for Script {
    fn next(&mut self, _timeout: Duration) -> io::Result<Option<UiEvent>> {
        Ok(Some(self.0.pop_front().map_or(UiEvent::End, UiEvent::Key)))
    }
}

fn backend_error(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

/// The main loop: take in the loader's reports, draw when something changed, apply keys,
/// until a key quits (or a scripted source ends). During loading the list is reordered at
/// most four times a second, so a capture with millions of calls stays responsive.
pub fn run_loop<B: Backend>(
    terminal: &mut Terminal<B>,
    app: &mut App,
    events: &mut dyn EventSource,
    mut loader: Option<&Receiver<LoadEvent>>,
) -> io::Result<()> {
    let mut redraw = true;
    let mut last_refresh: Option<Instant> = None;
    loop {
        if let Some(rx) = loader {
            loop {
                match rx.try_recv() {
                    Ok(ev) => {
                        apply(app, ev);
                        redraw = true;
                    }
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        if app.is_loading() {
                            let why = term::loader_panic().map_or_else(
                                || "the reader stopped unexpectedly".to_string(),
                                |p| format!("internal error while reading: {p}"),
                            );
                            app.fail_loading(why);
                        }
                        loader = None;
                        redraw = true;
                        break;
                    }
                }
            }
        }
        let due = last_refresh.is_none_or(|t| t.elapsed() >= Duration::from_millis(250));
        if app.is_dirty() && (!app.is_loading() || due) {
            app.refresh();
            last_refresh = Some(Instant::now());
            redraw = true;
        }
        if redraw {
            terminal
                .draw(|f| render::draw(f, app))
                .map_err(backend_error)?;
            redraw = false;
        }
        let timeout = if loader.is_some() {
            Duration::from_millis(50)
        } else {
            Duration::from_millis(500)
        };
        match events.next(timeout)? {
            Some(UiEvent::Key(k)) => match app.handle_key(k) {
                Action::Quit => return Ok(()),
                Action::Redraw => redraw = true,
                Action::Nothing => {}
            },
            Some(UiEvent::Resize) => redraw = true,
            Some(UiEvent::End) => return Ok(()),
            None => {}
        }
    }
}

/// Runs the interactive view on the real terminal. Warnings about the capture are printed on
/// `err` once the terminal is back to normal.
pub fn run(sel: &Selection, err: &mut dyn Write) -> Result<(), Error> {
    let (inputs, warnings) = open(sel)?;
    let names: Vec<String> = inputs.iter().map(|i| i.name.clone()).collect();
    let mut app = App::new(&names);
    app.warnings = warnings;
    // The terminal (and the panic hook) first, so nothing the loader does can print under
    // the view's screen.
    let (mut guard, mut terminal) = term::TerminalGuard::enter()?;
    let (tx, rx) = mpsc::channel();
    let loader_sel = sel.clone();
    std::thread::Builder::new()
        .name(term::LOADER_THREAD.into())
        .spawn(move || load(&inputs, &loader_sel, &tx))?;
    let result = run_loop(&mut terminal, &mut app, &mut TerminalEvents, Some(&rx));
    guard.restore();
    drop(terminal);
    for w in &app.warnings {
        let _ = writeln!(err, "{w}");
    }
    let failed = matches!(app.load, app::LoadState::Failed(_));
    // The process is about to exit: the OS takes the model's memory back faster than
    // freeing millions of small allocations would.
    std::mem::forget(app);
    result?;
    if let Some(p) = term::loader_panic() {
        // Error has no variant for a bug; this message names it for what it is.
        return Err(Error::Usage(format!(
            "internal error while reading the capture (please report it): {p}"
        )));
    }
    if failed {
        return Err(Error::NothingRead);
    }
    Ok(())
}
