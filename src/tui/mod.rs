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
pub mod refetch;
pub mod render;
pub mod term;

use std::io::{self, Write};
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::sync::Arc;
use std::thread::ScopedJoinHandle;
use std::time::{Duration, Instant};

use ratatui::backend::Backend;
use ratatui::Terminal;

use crate::analysis::{self, B2buaLinker, Waiting, REORDER_SLACK_NS};
use crate::capture::Input;
use crate::cli::Selection;
use crate::error::Error;
use crate::media::StreamReport;

pub use app::{Action, App, Draft, Entry, Refetch};
pub use keys::Key;
pub use refetch::FrameIndex;

/// What the loader thread reports.
#[derive(Debug)]
pub enum LoadEvent {
    /// Frames read, bytes of the inputs walked, and their total size (reading is two
    /// passes, so `total` counts the inputs twice).
    Progress { frames: u64, bytes: u64, total: u64 },
    /// Calls that are over, in list order (mostly). Already filtered.
    Calls(Vec<Entry>),
    /// Where calls are rebuilt from, once the frames are indexed.
    Source(Arc<Refetch>),
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

/// Moves, in list order, every waiting call that started before `horizon` and whose B2BUA
/// answer is final (`all`: every call) to `out`.
fn release(
    pending: &mut Waiting<Draft>,
    linker: &mut B2buaLinker,
    out: &mut Vec<Entry>,
    horizon: i64,
    all: bool,
) {
    let done: Result<(), std::convert::Infallible> = pending.release(horizon, all, |key, draft| {
        let b2bua = linker.take(key);
        if let Some(d) = draft {
            out.push(d.finish(b2bua));
        }
        Ok(())
    });
    // Nothing above fails.
    let Ok(()) = done;
}

/// Reads `inputs` to the end, sending progress and list entries to `tx` as it goes. Calls
/// are grouped exactly as `sipscope calls` groups them ([`analysis::stream_exact_inputs`]:
/// same calls, same numbering, B2BUAs paired across calls the same way); each is reduced to
/// its [`Entry`] as soon as it ends, so memory holds the calls in progress and the entries.
/// Meanwhile a helper thread indexes every frame ([`FrameIndex`]), sent as soon as it is
/// done so calls can be opened. RTP is analysed on the way (as `sipscope media` does) and
/// every stream is sent at the end, before the last calls. Stops handing over when the
/// receiver is gone (the user quit).
pub fn load(inputs: &Arc<Vec<Input>>, sel: &Selection, tx: &Sender<LoadEvent>) {
    let size: u64 = inputs.iter().map(|i| i.bytes().len() as u64).sum();
    let total = size.saturating_mul(2);
    std::thread::scope(|scope| {
        let index_tx = tx.clone();
        let indexer = scope.spawn(move || {
            let mut last = Instant::now();
            FrameIndex::build_with(inputs, &mut |frames, bytes| {
                if last.elapsed() >= REPORT_EVERY {
                    last = Instant::now();
                    let _ = index_tx.send(LoadEvent::Progress {
                        frames,
                        bytes,
                        total,
                    });
                }
            })
        });
        let mut indexer = Some(indexer);
        let mut source: Option<Arc<Refetch>> = None;
        let take_index = |indexer: &mut Option<ScopedJoinHandle<'_, FrameIndex>>,
                          source: &mut Option<Arc<Refetch>>,
                          wait: bool|
         -> bool {
            if source.is_some() || !indexer.as_ref().is_some_and(|h| wait || h.is_finished()) {
                return true;
            }
            let Some(h) = indexer.take() else { return true };
            // A panic in the indexer leaves calls unopenable, not the list unusable.
            let index = h.join().unwrap_or_default();
            let src = Arc::new(Refetch {
                inputs: inputs.clone(),
                index,
                roles: sel.roles.clone(),
            });
            *source = Some(src.clone());
            tx.send(LoadEvent::Source(src)).is_ok()
        };
        let mut linker = B2buaLinker::new();
        let mut pending: Waiting<Draft> = Waiting::new();
        let mut batch: Vec<Entry> = Vec::new();
        let mut last = Instant::now();
        // Per input, the last frame of a handed-over call (for progress).
        let mut reached = vec![0u64; inputs.len()];
        let mut report = Vec::new();
        let result = analysis::stream_exact_inputs(
            inputs,
            sel,
            crate::dialog::Detail::list(&sel.filter),
            std::env::var_os("SIPSCOPE_VIEW_NOMEDIA").is_none(),
            &mut report,
            &mut |call, key, horizon| {
                for m in &call.messages {
                    if let Some(r) = reached.get_mut(usize::from(m.frame.file)) {
                        *r = (*r).max(m.frame.number);
                    }
                }
                let ready_at = linker.add(key, call);
                let draft = sel.filter.matches(call).then(|| Draft::new(call, key));
                pending.add(key, ready_at, draft);
                let horizon = horizon.saturating_sub(REORDER_SLACK_NS);
                linker.advance(horizon);
                release(&mut pending, &mut linker, &mut batch, horizon, false);
                if last.elapsed() < REPORT_EVERY {
                    return Ok(());
                }
                last = Instant::now();
                let gone = io::Error::other("the view is closed");
                if !take_index(&mut indexer, &mut source, false) {
                    return Err(gone);
                }
                let (frames, bytes) = match &source {
                    Some(src) => reached
                        .iter()
                        .enumerate()
                        .map(|(f, &n)| {
                            let f = u16::try_from(f).unwrap_or(u16::MAX);
                            (n, src.index.bytes_upto(f, n))
                        })
                        .fold((0, 0), |(a, b), (n, x)| (a + n, b + x)),
                    None => (0, 0),
                };
                let progress = LoadEvent::Progress {
                    frames,
                    bytes: size.saturating_add(bytes),
                    total,
                };
                if tx.send(progress).is_err() {
                    return Err(gone);
                }
                if !batch.is_empty()
                    && tx
                        .send(LoadEvent::Calls(std::mem::take(&mut batch)))
                        .is_err()
                {
                    return Err(gone);
                }
                Ok(())
            },
        );
        linker.finish();
        release(&mut pending, &mut linker, &mut batch, i64::MAX, true);
        take_index(&mut indexer, &mut source, true);
        let warnings: Vec<String> = String::from_utf8_lossy(&report)
            .lines()
            .map(str::to_string)
            .collect();
        match result {
            Ok((books, media)) => {
                // Streams before the last calls, so that no call is opened with its media
                // missing once the list is complete.
                let _ = tx.send(LoadEvent::Media {
                    streams: media.map(|m| m.streams()).unwrap_or_default(),
                    capture_end_ns: books.inputs.iter().filter_map(|i| i.last_ts_ns).max(),
                });
                let _ = tx.send(LoadEvent::Calls(batch));
                for w in warnings {
                    let _ = tx.send(LoadEvent::Warning(w));
                }
                let _ = tx.send(LoadEvent::Done {
                    frames: books.frames,
                    sip_frames: books.sip_frames,
                });
            }
            Err(Error::Output(_)) => {}
            Err(e) => {
                for w in warnings {
                    let _ = tx.send(LoadEvent::Warning(w));
                }
                let _ = tx.send(LoadEvent::Failed(e.to_string()));
            }
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
        LoadEvent::Calls(entries) => app.add_entries(entries),
        LoadEvent::Source(src) => app.refetch = Some(src),
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
fn open(sel: &Selection) -> Result<(Arc<Vec<Input>>, Vec<String>), Error> {
    let mut warn = Vec::new();
    let inputs = crate::open_inputs(&sel.files, &mut warn);
    let warnings: Vec<String> = String::from_utf8_lossy(&warn)
        .lines()
        .map(str::to_string)
        .collect();
    match inputs {
        Ok(i) => Ok((Arc::new(i), warnings)),
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
    // Taken in while reading, as the view does, so that finished calls do not pile up in
    // the channel.
    std::thread::scope(|scope| {
        let inputs = &inputs;
        let loader = scope.spawn(move || load(inputs, sel, &tx));
        for ev in rx {
            apply(&mut app, ev);
        }
        // Joined by hand, as `ingest::pager` does: the thread is wholly gone on return.
        if let Err(panic) = loader.join() {
            std::panic::resume_unwind(panic);
        }
    });
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

/// Shortest gap between two reorders of the list while loading.
const REORDER_EVERY: Duration = Duration::from_millis(250);

/// While loading, whether the list is due to be reordered again, `since` the last reorder that
/// took `cost`. Reordering sorts every call, so on a capture of hundreds of thousands of calls
/// it takes tens of milliseconds a time, on the thread that also draws, while the reader wants
/// both cores: the gap is at least nine times the last reorder's cost, which keeps reordering
/// to a tenth of a core at most, whatever the size of the list.
fn reorder_due(since: Duration, cost: Duration) -> bool {
    since >= REORDER_EVERY.max(cost.saturating_mul(9))
}

fn backend_error(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

/// The main loop: take in the loader's reports, draw when something changed, apply keys,
/// until a key quits (or a scripted source ends). During loading the list is reordered at
/// most four times a second, and less often when reordering gets slow ([`reorder_due`]), so
/// a capture with millions of calls stays responsive and the reader keeps the cores.
pub fn run_loop<B: Backend>(
    terminal: &mut Terminal<B>,
    app: &mut App,
    events: &mut dyn EventSource,
    mut loader: Option<&Receiver<LoadEvent>>,
) -> io::Result<()> {
    let mut redraw = true;
    let mut last_refresh: Option<Instant> = None;
    // How long the last reorder took.
    let mut refresh_cost = Duration::ZERO;
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
        let due = last_refresh.is_none_or(|t| reorder_due(t.elapsed(), refresh_cost));
        if app.is_dirty() && (!app.is_loading() || due) {
            let began = Instant::now();
            app.refresh();
            refresh_cost = began.elapsed();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cheap_reorder_comes_every_quarter_second() {
        let cheap = Duration::from_millis(2);
        assert!(!reorder_due(Duration::from_millis(249), cheap));
        assert!(reorder_due(REORDER_EVERY, cheap));
        assert!(!reorder_due(Duration::ZERO, Duration::ZERO));
    }

    #[test]
    fn a_slow_reorder_waits_nine_times_its_cost() {
        let slow = Duration::from_millis(100);
        assert!(!reorder_due(Duration::from_millis(250), slow));
        assert!(!reorder_due(Duration::from_millis(899), slow));
        assert!(reorder_due(Duration::from_millis(900), slow));
        // The gap saturates instead of overflowing (the end of loading reorders anyway).
        assert!(!reorder_due(Duration::from_secs(3600), Duration::MAX));
        assert!(reorder_due(Duration::MAX, Duration::MAX));
    }
}
