//! The view's state and what keys do to it: no terminal, no files, no clock.
//!
//! [`App`] holds every call (analysed once, with message text kept), the capture's RTP streams
//! (once reading is over), the call list's order, filter and selection, the open call (its
//! ladder layout with a band per stream, and its diagnosis with what the media say, computed
//! once when it is opened), the help overlay and the text prompt. [`App::handle_key`] turns
//! one [`Key`] into a state change and an [`Action`]; the loader feeds calls in through
//! [`App::add_calls`], the streams through [`App::set_media`], and ends with
//! [`App::finish_loading`]. Drawing (`render.rs`) reads this state and only writes back the
//! sizes it found (page heights, scroll offsets clamped to the screen).

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::Arc;

use crate::analysis::CallKey;
use crate::capture::Input;
use crate::diagnose::{self, Diagnosis, MediaView};
use crate::dialog::{Call, CallState, HostIdx, Role, RoleOverride, RoleSource, Summary};
use crate::media::StreamReport;
use crate::output::escape_str;
use crate::output::ladder::{Layout, LayoutOptions, Row};

use super::keys::{self, Command, Context, Key};
use super::refetch::{self, CallFrames, FrameIndex};

/// What the main loop should do after a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Nothing changed.
    Nothing,
    Redraw,
    Quit,
}

/// Where loading the capture stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadState {
    /// Frames and bytes read so far; `total` bytes when known (0 for standard input).
    Loading { frames: u64, bytes: u64, total: u64 },
    /// Every frame read.
    Done { frames: u64, sip_frames: u64 },
    /// The capture could not be read at all.
    Failed(String),
}

/// Columns of the call list, in display order. Every one can be sorted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    Index,
    Start,
    CallId,
    From,
    To,
    Method,
    State,
    Final,
    Msgs,
    Duration,
    Hosts,
}

impl Column {
    pub const ALL: [Column; 11] = [
        Column::Index,
        Column::Start,
        Column::CallId,
        Column::From,
        Column::To,
        Column::Method,
        Column::State,
        Column::Final,
        Column::Msgs,
        Column::Duration,
        Column::Hosts,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Column::Index => "#",
            Column::Start => "Start",
            Column::CallId => "Call-ID",
            Column::From => "From",
            Column::To => "To",
            Column::Method => "Method",
            Column::State => "State",
            Column::Final => "Final",
            Column::Msgs => "Msgs",
            Column::Duration => "Duration",
            Column::Hosts => "Hosts",
        }
    }

    /// The next sort column. The index is the rank by start time, so it is not a sort of
    /// its own.
    fn step(self, forward: bool) -> Column {
        let all: Vec<Column> = Column::ALL
            .into_iter()
            .filter(|c| *c != Column::Index)
            .collect();
        let i = all.iter().position(|c| *c == self).unwrap_or(0);
        let n = all.len();
        let j = if forward {
            (i + 1) % n
        } else {
            (i + n - 1) % n
        };
        all.get(j).copied().unwrap_or(Column::Start)
    }
}

/// One call as the list holds it: what the columns, sorting and filtering need, and where
/// its messages are in the capture (no message text). Opening it rebuilds the call.
///
/// A list holds one per call of the capture (270,000 for a 1 GB one; a million in a scanner
/// flood), so it is kept small: its texts share one allocation, of the call's summary only
/// what the list reads, and what few calls have sits behind one pointer. Boxed in the list,
/// it takes [`ENTRY_BYTES`] (the allocator's size class: 144 bytes took 160).
#[derive(Debug)]
pub struct Entry {
    /// Position of its first message in the whole-file order: with the start time, its
    /// place in the list ([`Entry::key`]).
    first: u64,
    /// What the columns show of the call's summary.
    pub summary: ListSummary,
    /// Call-ID, From user, To user, method, final response, hosts and products, one after
    /// the other (see [`Entry::field`]).
    text: Box<str>,
    /// Where each of those but the last ends in `text`.
    ends: [u32; FIELDS - 1],
    /// The frames that carried its messages.
    pub frames: CallFrames,
    /// What few entries have: B2BUA hosts, the whole call.
    rare: Option<Box<Rare>>,
}

/// Size of an [`Entry`], at most (`tests::an_entry_is_small`).
pub const ENTRY_BYTES: usize = 112;

/// The parts of an [`Entry`] that most calls do without.
#[derive(Debug, Default)]
struct Rare {
    /// Hosts found to be B2BUAs across calls (promoted when the call is rebuilt).
    b2bua: Box<[HostIdx]>,
    /// The whole call, for calls handed in whole ([`App::add_calls`]: tests, small inputs).
    kept: Option<Arc<Call>>,
}

/// The texts of an [`Entry`], in the order they are stored (the hosts last: a late B2BUA
/// promotion rewrites only the tail).
const FIELDS: usize = 7;
const CALL_ID: usize = 0;
const FROM_USER: usize = 1;
const TO_USER: usize = 2;
const FIRST_METHOD: usize = 3;
const FINAL_TEXT: usize = 4;
const PRODUCTS: usize = 5;
const HOSTS: usize = 6;

/// What the list reads of a call's [`Summary`] besides its texts (same meaning as there).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListSummary {
    pub start_ns: i64,
    pub end_ns: i64,
    pub duration_ns: i64,
    pub message_count: usize,
    pub final_code: Option<u16>,
    pub state: CallState,
    pub failed: bool,
    /// A 2xx answered the call.
    pub answered: bool,
}

impl ListSummary {
    fn of(s: &Summary) -> ListSummary {
        ListSummary {
            start_ns: s.start_ns,
            end_ns: s.end_ns,
            duration_ns: s.duration_ns,
            message_count: s.message_count,
            final_code: s.final_code,
            state: s.state,
            failed: s.failed,
            answered: s.answered_ns.is_some(),
        }
    }
}

/// An entry waiting for its B2BUA answer. Its texts are written already, the hosts with the
/// roles of the call's own analysis; what a late promotion needs to write them again is kept
/// beside them.
#[derive(Debug)]
pub struct Draft {
    key: CallKey,
    summary: ListSummary,
    /// The entry's texts, exactly as long as they are.
    text: Box<str>,
    ends: [u32; FIELDS - 1],
    /// Per host: length of its label in the hosts text, role, and whether the user set it.
    hosts: smallvec::SmallVec<[(u16, Role, RoleSource); 8]>,
    frames: CallFrames,
}

std::thread_local! {
    /// Where entry texts are put together before they get an allocation of their own size.
    static SCRATCH: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// Runs `f` on an empty scratch string (a new one if the thread's is in use).
fn with_scratch<R>(f: impl FnOnce(&mut String) -> R) -> R {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => {
            buf.clear();
            f(&mut buf)
        }
        Err(_) => f(&mut String::new()),
    })
}

/// Writes `label(role)`, or the bare label for a plain user agent.
fn push_role(out: &mut String, role: Role) {
    if role != Role::UserAgent {
        out.push('(');
        out.push_str(role.as_str());
        out.push(')');
    }
}

/// Where `out` ends, as a field end (texts come from one capture's messages, each capped in
/// size: the sum stays far below 4 GB; were it not, the fields would only show cut).
fn end_of(out: &str) -> u32 {
    u32::try_from(out.len()).unwrap_or(u32::MAX)
}

impl Draft {
    /// The draft of `call`'s entry. `key` is its [`CallKey`], whose time is the call's start
    /// (as every grouping gives it): the entry keeps only the position and reads the time
    /// back from the summary.
    pub fn new(call: &Call, key: CallKey) -> Draft {
        let s = &call.summary;
        let mut ends = [0u32; FIELDS - 1];
        let mut hosts = smallvec::SmallVec::new();
        let text = with_scratch(|out| {
            for (n, f) in [
                call.call_id.as_str(),
                &s.from_user,
                &s.to_user,
                &s.first_method,
            ]
            .into_iter()
            .enumerate()
            {
                out.push_str(f);
                if let Some(e) = ends.get_mut(n) {
                    *e = end_of(out);
                }
            }
            // `486 Busy Here` with trailing blanks dropped (the code alone when the phrase
            // is blank), `-` without a final response.
            match s.final_code {
                Some(c) => {
                    // Writing into a String cannot fail.
                    _ = write!(out, "{c}");
                    let reason = escape_str(s.final_reason.as_deref().unwrap_or(""));
                    let reason = reason.trim_end();
                    if !reason.is_empty() {
                        out.push(' ');
                        out.push_str(reason);
                    }
                }
                None => out.push('-'),
            }
            if let Some(e) = ends.get_mut(FINAL_TEXT) {
                *e = end_of(out);
            }
            // User-Agent and Server values, one a line, lower-case.
            let from = out.len();
            let products = call
                .hosts
                .iter()
                .flat_map(|h| h.user_agents.iter().chain(&h.servers));
            for (n, p) in products.enumerate() {
                if n > 0 {
                    out.push('\n');
                }
                out.push_str(p);
            }
            if let Some(tail) = out.get_mut(from..) {
                if tail.is_ascii() {
                    tail.make_ascii_lowercase();
                } else {
                    let low = tail.to_lowercase();
                    out.truncate(from);
                    out.push_str(&low);
                }
            }
            if let Some(e) = ends.get_mut(PRODUCTS) {
                *e = end_of(out);
            }
            for (n, h) in call.hosts.iter().enumerate() {
                if n > 0 {
                    out.push(' ');
                }
                let at = out.len();
                crate::dialog::write_label(out, h.addr, h.port);
                let len = u16::try_from(out.len() - at).unwrap_or(u16::MAX);
                push_role(out, h.role);
                hosts.push((len, h.role, h.role_source));
            }
            Box::<str>::from(out.as_str())
        });
        Draft {
            key,
            summary: ListSummary::of(s),
            text,
            ends,
            hosts,
            frames: CallFrames::of(call),
        }
    }

    /// The entry, with the hosts found to be B2BUAs across calls promoted as whole-file
    /// correlation does (unless the user gave their role).
    pub fn finish(self, b2bua: Vec<HostIdx>) -> Entry {
        let promoted = |h: usize| {
            b2bua.contains(&h)
                && self
                    .hosts
                    .get(h)
                    .is_some_and(|&(_, _, source)| source != RoleSource::Override)
        };
        let changes = b2bua.iter().any(|&h| {
            promoted(h)
                && self
                    .hosts
                    .get(h)
                    .is_some_and(|&(_, role, _)| role != Role::B2bua)
        });
        let text = if changes {
            self.promote(&promoted)
        } else {
            self.text
        };
        Entry {
            first: self.key.1,
            summary: self.summary,
            text,
            ends: self.ends,
            frames: self.frames,
            rare: (!b2bua.is_empty()).then(|| {
                Box::new(Rare {
                    b2bua: b2bua.into_boxed_slice(),
                    kept: None,
                })
            }),
        }
    }

    /// The texts with the hosts written again, those `promoted` as B2BUAs.
    fn promote(&self, promoted: &dyn Fn(usize) -> bool) -> Box<str> {
        let start = self.ends.get(HOSTS - 1).map_or(0, |&e| e as usize);
        with_scratch(|out| {
            out.push_str(self.text.get(..start).unwrap_or(""));
            let mut at = start;
            for (n, &(len, role, _)) in self.hosts.iter().enumerate() {
                if n > 0 {
                    out.push(' ');
                    at += 1;
                }
                let end = at + usize::from(len);
                out.push_str(self.text.get(at..end).unwrap_or(""));
                at = end;
                if role != Role::UserAgent {
                    at += role.as_str().len() + 2;
                }
                push_role(out, if promoted(n) { Role::B2bua } else { role });
            }
            Box::<str>::from(out.as_str())
        })
    }
}

impl Entry {
    /// Heap bytes it holds.
    pub fn heap_bytes(&self) -> usize {
        self.text.len()
            + self.rare.as_ref().map_or(0, |r| {
                std::mem::size_of::<Rare>() + r.b2bua.len() * std::mem::size_of::<HostIdx>()
            })
            + self.frames.heap_bytes()
    }

    /// Its place in the whole-file list: start time, then first message.
    pub fn key(&self) -> CallKey {
        (self.summary.start_ns, self.first)
    }

    /// Hosts found to be B2BUAs across calls (promoted when the call is rebuilt).
    pub fn b2bua(&self) -> &[HostIdx] {
        self.rare.as_ref().map_or(&[], |r| &r.b2bua)
    }

    /// The whole call, when the entry keeps it.
    fn kept(&self) -> Option<&Arc<Call>> {
        self.rare.as_ref().and_then(|r| r.kept.as_ref())
    }

    /// Text number `n` (one of the field constants above).
    fn field(&self, n: usize) -> &str {
        let start = n
            .checked_sub(1)
            .and_then(|p| self.ends.get(p))
            .map_or(0, |&e| e as usize);
        let end = self.ends.get(n).map_or(self.text.len(), |&e| e as usize);
        self.text.get(start..end).unwrap_or("")
    }

    pub fn call_id(&self) -> &str {
        self.field(CALL_ID)
    }

    /// From user of the first request.
    pub fn from_user(&self) -> &str {
        self.field(FROM_USER)
    }

    /// To user of the first request.
    pub fn to_user(&self) -> &str {
        self.field(TO_USER)
    }

    /// Method of the first request.
    pub fn first_method(&self) -> &str {
        self.field(FIRST_METHOD)
    }

    /// `486 Busy Here` (escaped), `-` without a final response.
    pub fn final_text(&self) -> &str {
        self.field(FINAL_TEXT)
    }

    /// `127.0.0.1 127.0.0.2(proxy)`: every host, with its role when it is not a plain UA.
    pub fn hosts(&self) -> &str {
        self.field(HOSTS)
    }

    /// The User-Agent and Server values of its hosts, lower-case, one a line (the filter
    /// searches them besides the columns).
    fn products(&self) -> &str {
        self.field(PRODUCTS)
    }

    /// Whether `word` (lower-case) appears, ignoring case, in what the filter searches:
    /// Call-ID, users, method, state, final response, hosts, products.
    fn mentions(&self, word: &str) -> bool {
        [
            self.call_id(),
            self.from_user(),
            self.to_user(),
            self.first_method(),
            self.summary.state.as_str(),
            self.final_text(),
            self.hosts(),
        ]
        .iter()
        .any(|f| contains_lower(f, word))
            || self.products().contains(word)
    }

    /// An entry that keeps its whole call (nothing to fetch again).
    pub fn whole(call: Call, key: CallKey) -> Entry {
        let mut e = Draft::new(&call, key).finish(Vec::new());
        e.rare.get_or_insert_default().kept = Some(Arc::new(call));
        e
    }
}

/// What opening a call needs besides its entry: the inputs, where their frames are, and the
/// role overrides of the command line.
pub struct Refetch {
    pub inputs: Arc<Vec<Input>>,
    pub index: FrameIndex,
    pub roles: Vec<RoleOverride>,
}

impl std::fmt::Debug for Refetch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Refetch({} inputs, {} frames)",
            self.inputs.len(),
            self.index.len()
        )
    }
}

/// How many opened calls stay built (going back and forth between a few calls is instant).
const RECENT: usize = 4;

/// The call list: which calls show, in which order, which one is selected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListState {
    /// Entry ids (positions in [`App::entries`]) of the calls shown, in display order.
    pub rows: Vec<usize>,
    /// Position in `rows` of the selected call.
    pub selected: usize,
    /// First row drawn (kept by the renderer so the selection stays on screen).
    pub offset: usize,
    pub sort: Column,
    pub descending: bool,
    /// What the user typed; every word must appear (case-insensitive).
    pub filter: String,
    pub failed_only: bool,
    /// Rows the last drawing had room for.
    pub page: usize,
    /// Natural width of every column (in [`Column::ALL`] order), measured when ordered.
    pub widths: Vec<usize>,
    /// The calls span several days (UTC): start times show the date.
    pub multi_day: bool,
}

/// How the ladder's time column reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeMode {
    /// Since the previous message (the first one shows the clock).
    Delta,
    /// Since the call's first message.
    Relative,
    /// Wall clock, UTC.
    Absolute,
}

impl TimeMode {
    pub fn label(self) -> &'static str {
        match self {
            TimeMode::Delta => "delta",
            TimeMode::Relative => "relative",
            TimeMode::Absolute => "absolute (UTC)",
        }
    }

    fn next(self) -> TimeMode {
        match self {
            TimeMode::Delta => TimeMode::Relative,
            TimeMode::Relative => TimeMode::Absolute,
            TimeMode::Absolute => TimeMode::Delta,
        }
    }
}

/// Which pane the movement keys act on in the call view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    Ladder,
    Detail,
}

/// What the capture's media analysis found, known once reading is over.
#[derive(Debug, Clone, Default)]
pub struct CaptureMedia {
    /// Every RTP stream of the capture, of any call.
    pub streams: Vec<StreamReport>,
    /// Time of the capture's last frame (how long a call still up at the end was seen).
    pub capture_end_ns: Option<i64>,
}

/// An open call.
pub struct CallView {
    /// Entry id of the call.
    pub entry: usize,
    /// The call, rebuilt from the capture when it was opened.
    pub call: Arc<Call>,
    /// The ladder, laid out once (with a band per RTP stream of the call when the media are
    /// known).
    pub layout: Layout,
    /// The diagnosis, made once (with the media findings when the media are known).
    pub diagnosis: Diagnosis,
    /// Index into `layout.rows` of the selected message (always an arrow row when there is
    /// one).
    pub selected: usize,
    /// First ladder line drawn and first cell column of the diagram drawn (the renderer keeps
    /// them in range and the selection on screen).
    pub vscroll: usize,
    pub hscroll: usize,
    pub time: TimeMode,
    /// Draw annotation rows under responses.
    pub notes: bool,
    pub focus: Focus,
    /// The message pane fills the screen.
    pub zoom: bool,
    /// First line of the message pane drawn.
    pub detail_scroll: usize,
    /// The last search, for `n` and `N`.
    pub search: String,
    /// Arrows the last drawing had room for.
    pub page: usize,
}

impl CallView {
    /// Lays out and diagnoses `call`, with its streams picked among the capture's when
    /// `media` is known (as `sipscope ladder` and `sipscope diagnose` do).
    fn new(entry: usize, call: Arc<Call>, media: Option<&CaptureMedia>) -> CallView {
        let opts = LayoutOptions::default();
        let c = &*call;
        let (layout, diagnosis) = match media {
            Some(m) => {
                let capture = diagnose::CaptureStreams::new(&m.streams);
                let mine = capture.of_call(c);
                let view = MediaView {
                    streams: &mine,
                    capture: &capture,
                    capture_end_ns: m.capture_end_ns,
                };
                (
                    Layout::build_with_media(c, &opts, &mine),
                    diagnose::diagnose_with_media(c, &view),
                )
            }
            None => (Layout::build(c, &opts), diagnose::diagnose(c)),
        };
        let selected = first_arrow(&layout).unwrap_or(0);
        CallView {
            entry,
            call,
            diagnosis,
            layout,
            selected,
            vscroll: 0,
            hscroll: 0,
            time: TimeMode::Delta,
            notes: true,
            focus: Focus::Ladder,
            zoom: false,
            detail_scroll: 0,
            search: String::new(),
            page: 1,
        }
    }

    /// The selected message (index into `Call::messages`).
    pub fn selected_msg(&self) -> Option<usize> {
        self.layout.rows.get(self.selected).map(Row::msg)
    }

    fn arrows(&self) -> impl DoubleEndedIterator<Item = usize> + '_ {
        self.layout
            .rows
            .iter()
            .enumerate()
            .filter(|(_, r)| matches!(r, Row::Arrow(_)))
            .map(|(i, _)| i)
    }

    fn select(&mut self, row: usize) {
        if row != self.selected {
            self.selected = row;
            self.detail_scroll = 0;
        }
    }

    /// Moves the selection `n` arrows down (or up).
    fn step(&mut self, n: usize, down: bool) {
        let arrows: Vec<usize> = self.arrows().collect();
        let Some(pos) = arrows.iter().position(|&r| r == self.selected) else {
            if let Some(&f) = arrows.first() {
                self.select(f);
            }
            return;
        };
        let target = if down {
            pos.saturating_add(n).min(arrows.len().saturating_sub(1))
        } else {
            pos.saturating_sub(n)
        };
        if let Some(&r) = arrows.get(target) {
            self.select(r);
        }
    }

    /// The next (or previous) arrow after the selection whose message satisfies `pred`,
    /// wrapping around; `include_current` starts at the selection itself.
    fn find(
        &self,
        down: bool,
        include_current: bool,
        pred: &dyn Fn(usize) -> bool,
    ) -> Option<usize> {
        let arrows: Vec<usize> = self.arrows().collect();
        let n = arrows.len();
        let pos = arrows.iter().position(|&r| r == self.selected).unwrap_or(0);
        let start = usize::from(!include_current);
        (start..n.saturating_add(start)).find_map(|k| {
            let i = if down {
                (pos + k) % n
            } else {
                (pos + n - k % n) % n
            };
            let row = *arrows.get(i)?;
            let msg = self.layout.rows.get(row)?.msg();
            pred(msg).then_some(row)
        })
    }
}

fn first_arrow(layout: &Layout) -> Option<usize> {
    layout.rows.iter().position(|r| matches!(r, Row::Arrow(_)))
}

/// What a text prompt is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptKind {
    /// The call list filter (applied as it is typed).
    Filter,
    /// Search in the open call (jumps as it is typed).
    Search,
}

/// A line being typed at the bottom of the screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    pub kind: PromptKind,
    pub text: String,
    /// Selected row when the search started (Esc goes back to it).
    origin: usize,
}

/// The whole state of the view.
pub struct App {
    /// What is being looked at (input names, escaped, joined).
    pub source: String,
    /// Input names, escaped, in command-line order (frames name their file by position).
    pub inputs: Vec<String>,
    /// Calls in order of arrival; ids are positions here.
    /// Boxed: growing the list moves pointers, and never holds two copies of every entry.
    pub entries: Vec<Box<Entry>>,
    /// Per entry, its 1-based index in the full list ordered by start time (the numbering of
    /// `sipscope calls`).
    pub index_of: Vec<usize>,
    pub load: LoadState,
    /// The capture's RTP streams; `None` until reading is over.
    pub media: Option<CaptureMedia>,
    /// Warnings about the capture (also printed when the view closes).
    pub warnings: Vec<String>,
    pub list: ListState,
    pub call: Option<CallView>,
    /// Help overlay open, and its scroll.
    pub help: Option<usize>,
    pub prompt: Option<Prompt>,
    /// A one-shot message for the status line (cleared by the next key).
    pub status: Option<String>,
    /// Where calls are rebuilt from (set by the loader once the frames are indexed).
    pub refetch: Option<Arc<Refetch>>,
    /// Calls opened lately, newest last.
    recent: VecDeque<(CallKey, Arc<Call>)>,
    /// Calls handed in whole so far (their keys' tie-breaker).
    whole: u64,
    /// Calls arrived (or the filter changed) since the list was last ordered.
    dirty: bool,
}

impl App {
    /// An empty view of the inputs, loading.
    pub fn new(inputs: &[String]) -> App {
        let inputs: Vec<String> = inputs.iter().map(|f| escape_str(f).into_owned()).collect();
        App {
            source: inputs.join(" "),
            inputs,
            entries: Vec::new(),
            index_of: Vec::new(),
            load: LoadState::Loading {
                frames: 0,
                bytes: 0,
                total: 0,
            },
            media: None,
            warnings: Vec::new(),
            list: ListState {
                rows: Vec::new(),
                selected: 0,
                offset: 0,
                sort: Column::Start,
                descending: false,
                filter: String::new(),
                failed_only: false,
                page: 1,
                widths: Vec::new(),
                multi_day: false,
            },
            call: None,
            help: None,
            prompt: None,
            status: None,
            refetch: None,
            recent: VecDeque::new(),
            whole: 0,
            dirty: false,
        }
    }

    /// Progress of the loader.
    pub fn progress(&mut self, frames: u64, bytes: u64, total: u64) {
        if matches!(self.load, LoadState::Loading { .. }) {
            self.load = LoadState::Loading {
                frames,
                bytes,
                total,
            };
        }
    }

    /// The capture's streams, once reading is over. A call opened from now on shows its
    /// streams; the one open now gets them when loading finishes (it is laid out again then).
    pub fn set_media(&mut self, streams: Vec<StreamReport>, capture_end_ns: Option<i64>) {
        self.media = Some(CaptureMedia {
            streams,
            capture_end_ns,
        });
    }

    /// Whole calls (tests, callers with calls in memory): each is kept with its entry. The
    /// list is reordered at the next [`App::refresh`].
    pub fn add_calls(&mut self, calls: Vec<Call>) {
        let entries = calls
            .into_iter()
            .map(|c| {
                self.whole = self.whole.wrapping_add(1);
                let key = (c.summary.start_ns, self.whole);
                Entry::whole(c, key)
            })
            .collect();
        self.add_entries(entries);
    }

    /// Entries the loader finished; the list is reordered at the next [`App::refresh`].
    pub fn add_entries(&mut self, entries: Vec<Entry>) {
        if entries.is_empty() {
            return;
        }
        self.entries.extend(entries.into_iter().map(Box::new));
        self.dirty = true;
    }

    /// Every call is in: order them for good (ids become list indices) and show the final
    /// list. The open call is laid out again with its media, keeping where the user was.
    pub fn finish_loading(&mut self, frames: u64, sip_frames: u64) {
        // The open and the selected call are found again by key after the sort (keys are
        // unique): no table from old ids to new ones, which a million calls make 16 MB.
        let key_of = |entries: &[Box<Entry>], id: usize| entries.get(id).map(|e| e.key());
        let open = self
            .call
            .as_ref()
            .and_then(|c| key_of(&self.entries, c.entry));
        let selected = self
            .list
            .rows
            .get(self.list.selected)
            .and_then(|&id| key_of(&self.entries, id));
        self.entries.sort_unstable_by_key(|e| e.key());
        let entries = &self.entries;
        let new_id = |key: Option<CallKey>| {
            key.and_then(|k| entries.binary_search_by_key(&k, |e| e.key()).ok())
        };
        let (open, selected) = (new_id(open), new_id(selected));
        if let Some(old) = self.call.take() {
            // The media are known now: lay the open call out again, keeping where the user
            // was (the rows are the same messages in the same order; bands are not rows).
            let entry = open.unwrap_or(0);
            let mut cv = CallView::new(entry, old.call, self.media.as_ref());
            cv.layout.index = Some(entry + 1);
            cv.selected = old.selected;
            cv.vscroll = old.vscroll;
            cv.hscroll = old.hscroll;
            cv.time = old.time;
            cv.notes = old.notes;
            cv.focus = old.focus;
            cv.zoom = old.zoom;
            cv.detail_scroll = old.detail_scroll;
            cv.search = old.search;
            self.call = Some(cv);
        }
        self.load = LoadState::Done { frames, sip_frames };
        self.rebuild(selected);
    }

    /// The whole call of an entry: kept, recently opened, or rebuilt from the capture.
    /// `None` while the frames are still being indexed.
    pub fn whole_call(&mut self, id: usize) -> Option<Arc<Call>> {
        let e = self.entries.get(id)?;
        if let Some(c) = e.kept() {
            return Some(c.clone());
        }
        if let Some(pos) = self.recent.iter().position(|(k, _)| *k == e.key()) {
            let hit = self.recent.remove(pos)?;
            let call = hit.1.clone();
            self.recent.push_back(hit);
            return Some(call);
        }
        let src = self.refetch.as_ref()?;
        let call = Arc::new(refetch::rebuild(
            &src.inputs,
            &src.index,
            e.call_id(),
            &e.frames,
            &src.roles,
            e.b2bua(),
        ));
        if self.recent.len() >= RECENT {
            self.recent.pop_front();
        }
        self.recent.push_back((e.key(), call.clone()));
        Some(call)
    }

    /// The capture could not be read.
    pub fn fail_loading(&mut self, why: String) {
        self.load = LoadState::Failed(why);
    }

    pub fn is_loading(&self) -> bool {
        matches!(self.load, LoadState::Loading { .. })
    }

    /// Whether the list needs reordering (new calls, new filter).
    pub fn is_dirty(&self) -> bool {
        self.dirty
    }

    /// Reorders and refilters the list if anything changed, keeping the selected call.
    pub fn refresh(&mut self) {
        if self.dirty {
            let selected = self.list.rows.get(self.list.selected).copied();
            self.rebuild(selected);
        }
    }

    fn rebuild(&mut self, keep: Option<usize>) {
        self.dirty = false;
        let entries = &self.entries;
        let mut by_start: Vec<usize> = (0..entries.len()).collect();
        by_start.sort_by_key(|&i| entries.get(i).map(|e| e.key()));
        self.index_of = vec![0; entries.len()];
        for (rank, &i) in by_start.iter().enumerate() {
            if let Some(slot) = self.index_of.get_mut(i) {
                *slot = rank + 1;
            }
        }
        let words: Vec<String> = self
            .list
            .filter
            .to_lowercase()
            .split_whitespace()
            .map(str::to_string)
            .collect();
        let failed_only = self.list.failed_only;
        let mut rows: Vec<usize> = by_start
            .into_iter()
            .filter(|&i| {
                entries.get(i).is_some_and(|e| {
                    (!failed_only || e.summary.failed) && words.iter().all(|w| e.mentions(w))
                })
            })
            .collect();
        let sort = self.list.sort;
        // Stable sort over rows already in start order: ties stay in start order.
        match sort {
            Column::Index | Column::Start => {}
            _ => rows.sort_by(|&a, &b| {
                let (Some(x), Some(y)) = (entries.get(a), entries.get(b)) else {
                    return std::cmp::Ordering::Equal;
                };
                compare(sort, x, y)
            }),
        }
        if self.list.descending {
            rows.reverse();
        }
        self.list.selected = keep
            .and_then(|k| rows.iter().position(|&r| r == k))
            .unwrap_or(0);
        let day = |ns: i64| ns.div_euclid(86_400_000_000_000);
        let first = entries.iter().map(|e| day(e.summary.start_ns)).min();
        let last = entries.iter().map(|e| day(e.summary.end_ns)).max();
        self.list.multi_day = first != last;
        // Measured over the first rows only: enough to size the columns of any screen.
        self.list.widths = Column::ALL
            .iter()
            .map(|&c| {
                rows.iter()
                    .take(10_000)
                    .filter_map(|&i| entries.get(i).map(|e| (i, e)))
                    .map(|(i, e)| natural_width(c, e, self.index_of.get(i).copied()))
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        self.list.rows = rows;
    }

    /// The entry with this id.
    pub fn entry(&self, id: usize) -> Option<&Entry> {
        self.entries.get(id).map(|e| &**e)
    }

    /// The call shown in the call view.
    pub fn open_call(&self) -> Option<(&CallView, &Entry)> {
        let cv = self.call.as_ref()?;
        Some((cv, self.entries.get(cv.entry)?))
    }

    /// Totals for the status bar: calls, shown, failed, answered.
    pub fn totals(&self) -> Totals {
        let mut t = Totals {
            calls: self.entries.len(),
            shown: self.list.rows.len(),
            ..Totals::default()
        };
        for e in &self.entries {
            let s = &e.summary;
            if s.failed {
                t.failed += 1;
            }
            if s.answered {
                t.answered += 1;
            }
        }
        t
    }

    /// Applies one key.
    pub fn handle_key(&mut self, key: Key) -> Action {
        self.status = None;
        if self.help.is_some() {
            return self.help_key(key);
        }
        if self.prompt.is_some() {
            return self.prompt_key(key);
        }
        let ctx = if self.call.is_some() {
            Context::Call
        } else {
            Context::List
        };
        let Some(cmd) = keys::command(ctx, key) else {
            return Action::Nothing;
        };
        match cmd {
            Command::Help => {
                self.help = Some(0);
                Action::Redraw
            }
            Command::Quit => Action::Quit,
            _ if ctx == Context::List => self.list_command(cmd),
            _ => self.call_command(cmd),
        }
    }

    fn help_key(&mut self, key: Key) -> Action {
        let scroll = self.help.unwrap_or(0);
        self.help = match key {
            Key::Down | Key::Char('j') => Some(scroll.saturating_add(1)),
            Key::Up | Key::Char('k') => Some(scroll.saturating_sub(1)),
            Key::PageDown => Some(scroll.saturating_add(10)),
            Key::PageUp => Some(scroll.saturating_sub(10)),
            Key::Ctrl('c') => return Action::Quit,
            _ => None,
        };
        Action::Redraw
    }

    fn prompt_key(&mut self, key: Key) -> Action {
        let Some(p) = &mut self.prompt else {
            return Action::Nothing;
        };
        let kind = p.kind;
        match key {
            Key::Enter => {
                // What was typed stays: the filter in force, the search for n and N.
                self.prompt = None;
                return Action::Redraw;
            }
            Key::Esc => {
                let origin = p.origin;
                self.prompt = None;
                match kind {
                    PromptKind::Filter => self.set_filter(String::new()),
                    PromptKind::Search => {
                        if let Some(cv) = &mut self.call {
                            cv.select(origin);
                            cv.search.clear();
                        }
                    }
                }
                return Action::Redraw;
            }
            Key::Ctrl('c') => return Action::Quit,
            Key::Backspace => {
                p.text.pop();
            }
            Key::Ctrl('u') => p.text.clear(),
            Key::Char(c) if !c.is_control() => p.text.push(c),
            _ => return Action::Nothing,
        }
        let text = p.text.clone();
        let origin = p.origin;
        match kind {
            PromptKind::Filter => self.set_filter(text),
            PromptKind::Search => self.search(&text, origin),
        }
        Action::Redraw
    }

    fn set_filter(&mut self, text: String) {
        self.list.filter = text;
        let selected = self.list.rows.get(self.list.selected).copied();
        self.rebuild(selected);
    }

    /// Incremental search: the first arrow from `origin` (inclusive) whose message contains
    /// `text`.
    fn search(&mut self, text: &str, origin: usize) {
        let Some(cv) = &mut self.call else { return };
        cv.search = text.to_string();
        let call = cv.call.clone();
        if text.is_empty() {
            cv.select(origin);
            return;
        }
        cv.select(origin);
        match cv.find(true, true, &|m| message_matches(&call, &cv.layout, m, text)) {
            Some(row) => cv.select(row),
            None => {
                self.status = Some(format!("no message contains \"{}\"", escape_str(text)));
            }
        }
    }

    fn list_command(&mut self, cmd: Command) -> Action {
        let n = self.list.rows.len();
        let last = n.saturating_sub(1);
        let page = self.list.page.max(1);
        let sel = &mut self.list.selected;
        match cmd {
            Command::Up => *sel = sel.saturating_sub(1),
            Command::Down => *sel = sel.saturating_add(1).min(last),
            Command::PageUp => *sel = sel.saturating_sub(page),
            Command::PageDown => *sel = sel.saturating_add(page).min(last),
            Command::Top => *sel = 0,
            Command::Bottom => *sel = last,
            Command::Open => {
                let Some(id) = self.list.rows.get(self.list.selected).copied() else {
                    return Action::Nothing;
                };
                let Some(call) = self.whole_call(id) else {
                    self.status = Some("still indexing the capture: try again in a moment".into());
                    return Action::Redraw;
                };
                self.call = Some(CallView::new(id, call, self.media.as_ref()));
                if let Some(cv) = &mut self.call {
                    cv.layout.index = self.index_of.get(id).copied();
                }
            }
            Command::Find => {
                self.prompt = Some(Prompt {
                    kind: PromptKind::Filter,
                    text: self.list.filter.clone(),
                    origin: 0,
                });
            }
            Command::FailedOnly => {
                self.list.failed_only = !self.list.failed_only;
                let selected = self.list.rows.get(self.list.selected).copied();
                self.rebuild(selected);
            }
            Command::SortNext | Command::SortPrev => {
                self.list.sort = self.list.sort.step(cmd == Command::SortNext);
                self.list.descending = false;
                let selected = self.list.rows.get(self.list.selected).copied();
                self.rebuild(selected);
            }
            Command::SortReverse => {
                self.list.descending = !self.list.descending;
                let selected = self.list.rows.get(self.list.selected).copied();
                self.rebuild(selected);
            }
            Command::Back => {
                if self.list.filter.is_empty() && !self.list.failed_only {
                    return Action::Quit;
                }
                // Esc and q first clear what hides calls; pressed again they quit.
                self.list.filter.clear();
                self.list.failed_only = false;
                let selected = self.list.rows.get(self.list.selected).copied();
                self.rebuild(selected);
                self.status = Some("filter cleared; q again to quit".into());
            }
            _ => return Action::Nothing,
        }
        Action::Redraw
    }

    fn call_command(&mut self, cmd: Command) -> Action {
        let Some(cv) = &mut self.call else {
            return Action::Nothing;
        };
        let call = cv.call.clone();
        let call = &*call;
        let page = cv.page.max(1);
        if cv.focus == Focus::Detail || cv.zoom {
            let d = &mut cv.detail_scroll;
            match cmd {
                Command::Up => *d = d.saturating_sub(1),
                Command::Down => *d = d.saturating_add(1),
                Command::PageUp => *d = d.saturating_sub(page),
                Command::PageDown => *d = d.saturating_add(page),
                Command::Top => *d = 0,
                Command::Bottom => *d = usize::MAX / 2,
                _ => {}
            }
        } else {
            match cmd {
                Command::Up => cv.step(1, false),
                Command::Down => cv.step(1, true),
                Command::PageUp => cv.step(page, false),
                Command::PageDown => cv.step(page, true),
                Command::Top => cv.step(usize::MAX, false),
                Command::Bottom => cv.step(usize::MAX, true),
                _ => {}
            }
        }
        match cmd {
            Command::ScrollLeft => cv.hscroll = cv.hscroll.saturating_sub(8),
            Command::ScrollRight => cv.hscroll = cv.hscroll.saturating_add(8),
            Command::NextFailure | Command::PrevFailure => {
                let down = cmd == Command::NextFailure;
                match cv.find(down, false, &|m| is_failure(call, m)) {
                    Some(r) => cv.select(r),
                    None => self.status = Some("no failure in this call".into()),
                }
            }
            Command::NextMatch | Command::PrevMatch => {
                if cv.search.is_empty() {
                    self.status = Some("nothing searched yet: / to search".into());
                } else {
                    let down = cmd == Command::NextMatch;
                    let text = cv.search.clone();
                    match cv.find(down, false, &|m| {
                        message_matches(call, &cv.layout, m, &text)
                    }) {
                        Some(r) => cv.select(r),
                        None => {
                            self.status =
                                Some(format!("no message contains \"{}\"", escape_str(&text)))
                        }
                    }
                }
            }
            Command::Find => {
                self.prompt = Some(Prompt {
                    kind: PromptKind::Search,
                    text: String::new(),
                    origin: cv.selected,
                });
            }
            Command::TimeMode => cv.time = cv.time.next(),
            Command::Notes => cv.notes = !cv.notes,
            Command::Focus => {
                cv.focus = match cv.focus {
                    Focus::Ladder => Focus::Detail,
                    Focus::Detail => Focus::Ladder,
                }
            }
            Command::Zoom => cv.zoom = !cv.zoom,
            Command::Back => {
                if cv.zoom {
                    cv.zoom = false;
                } else {
                    self.call = None;
                }
            }
            _ => {}
        }
        Action::Redraw
    }
}

/// Counts for the status bar.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub calls: usize,
    pub shown: usize,
    pub failed: usize,
    pub answered: usize,
}

/// A message worth jumping to when looking for what went wrong: a final response of 300 or
/// more, or a message bounced by ICMP.
pub fn is_failure(call: &Call, msg: usize) -> bool {
    call.messages
        .get(msg)
        .is_some_and(|m| m.status().is_some_and(|c| c >= 300) || m.flags.bounced)
}

/// Whether a message's text (or its ladder label) contains `text`, ignoring case.
fn message_matches(call: &Call, layout: &Layout, msg: usize, text: &str) -> bool {
    let needle = text.to_lowercase();
    let label = layout.rows.iter().any(|r| match r {
        Row::Arrow(a) => a.msg == msg && a.text().to_lowercase().contains(&needle),
        Row::Note(_) => false,
    });
    label
        || call
            .messages
            .get(msg)
            .and_then(|m| m.extra.raw.as_deref())
            .is_some_and(|raw| {
                String::from_utf8_lossy(raw)
                    .to_lowercase()
                    .contains(&needle)
            })
}

/// Whether `text` contains `word` (already lower-case), ignoring case; without allocating
/// for ASCII text.
fn contains_lower(text: &str, word: &str) -> bool {
    if !text.is_ascii() {
        return text.to_lowercase().contains(word);
    }
    let (t, w) = (text.as_bytes(), word.as_bytes());
    w.is_empty() || t.windows(w.len()).any(|win| win.eq_ignore_ascii_case(w))
}

/// Cells a column needs for a call (the list draws the same strings).
fn natural_width(col: Column, e: &Entry, index: Option<usize>) -> usize {
    let s = &e.summary;
    let w = |t: &str| escape_str(t).chars().count();
    match col {
        Column::Index => index.unwrap_or(0).to_string().len(),
        Column::Start => 12,
        Column::CallId => w(e.call_id()),
        Column::From => w(e.from_user()),
        Column::To => w(e.to_user()),
        Column::Method => w(e.first_method()),
        Column::State => s.state.as_str().len(),
        Column::Final => e.final_text().chars().count(),
        Column::Msgs => s.message_count.to_string().len(),
        Column::Duration => crate::output::time::duration(s.duration_ns).len(),
        Column::Hosts => e.hosts().chars().count(),
    }
}

/// Orders two calls by a list column (ties are left to the caller's stable sort).
fn compare(col: Column, a: &Entry, b: &Entry) -> std::cmp::Ordering {
    let (x, y) = (&a.summary, &b.summary);
    match col {
        Column::Index | Column::Start => x.start_ns.cmp(&y.start_ns),
        Column::CallId => a.call_id().cmp(b.call_id()),
        Column::From => a.from_user().cmp(b.from_user()),
        Column::To => a.to_user().cmp(b.to_user()),
        Column::Method => a.first_method().cmp(b.first_method()),
        Column::State => x.state.as_str().cmp(y.state.as_str()),
        // Calls without a final response sort after every code.
        Column::Final => x
            .final_code
            .unwrap_or(u16::MAX)
            .cmp(&y.final_code.unwrap_or(u16::MAX)),
        Column::Msgs => x.message_count.cmp(&y.message_count),
        Column::Duration => x.duration_ns.cmp(&y.duration_ns),
        Column::Hosts => a.hosts().cmp(b.hosts()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialog::analyze_call;
    use crate::dialog::testkit::*;

    /// A call from host 1 to host 2 at `t_ms`, answered with `code`.
    fn call(id: &str, t_ms: i64, code: u16) -> Call {
        let inv = invite(id, 1, 2, t_ms, &format!("z9hG4bK-{id}"), 1);
        let r = reply(&inv, code, t_ms + 10, Some("t"));
        analyze_call(vec![inv, r], &[])
    }

    /// The entry's texts as first written: each field formatted on its own, the hosts
    /// promoted in a list of their own (call id, from, to, method, final, hosts, products).
    fn reference_fields(call: &Call, b2bua: &[HostIdx]) -> [String; 7] {
        let s = &call.summary;
        let final_text = match s.final_code {
            Some(c) => format!(
                "{c} {}",
                escape_str(s.final_reason.as_deref().unwrap_or(""))
            )
            .trim_end()
            .to_string(),
            None => "-".to_string(),
        };
        let mut hosts: Vec<(String, Role, RoleSource)> = call
            .hosts
            .iter()
            .map(|h| (h.label(), h.role, h.role_source))
            .collect();
        for &h in b2bua {
            if let Some((_, role, source)) = hosts.get_mut(h) {
                if *source != RoleSource::Override {
                    *role = Role::B2bua;
                }
            }
        }
        let hosts = hosts
            .iter()
            .map(|(label, role, _)| match role {
                Role::UserAgent => label.clone(),
                r => format!("{label}({})", r.as_str()),
            })
            .collect::<Vec<_>>()
            .join(" ");
        let products: Vec<String> = call
            .hosts
            .iter()
            .flat_map(|h| h.user_agents.iter().chain(&h.servers).cloned())
            .collect();
        [
            call.call_id.to_string(),
            s.from_user.to_string(),
            s.to_user.to_string(),
            s.first_method.to_string(),
            final_text,
            hosts,
            products.join("\n").to_lowercase(),
        ]
    }

    /// A list holds an entry per call (a million in a scanner flood), each in a box of its
    /// own: it stays within the allocator's 112-byte size class. What it keeps elsewhere reads
    /// back as given.
    #[test]
    fn an_entry_is_small() {
        assert!(std::mem::size_of::<Entry>() <= ENTRY_BYTES);
        let c = call("small-1", 40, 200);
        let key = (c.summary.start_ns, 7);
        let e = Draft::new(&c, key).finish(vec![1]);
        assert_eq!(e.key(), key);
        assert_eq!(e.b2bua(), [1]);
        assert!(e.kept().is_none());
        let e = Draft::new(&c, key).finish(Vec::new());
        assert!(e.rare.is_none() && e.b2bua().is_empty());
        let start = c.summary.start_ns;
        let e = Entry::whole(c, (start, 9));
        assert_eq!(e.key(), (start, 9));
        assert!(e.kept().is_some() && e.b2bua().is_empty());
    }

    #[test]
    fn entry_texts_match_the_field_by_field_reference() {
        use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
        let base = call("ref-1", 0, 486);
        let reasons: [Option<&str>; 7] = [
            None,
            Some(""),
            Some("Busy Here"),
            Some("Busy \t \r\n "),
            Some("   "),
            Some("Ocupado\u{a0}\u{3000}"),
            Some("caf\u{e9}\u{1b}[31m"),
        ];
        let products: [(&[&str], &[&str]); 4] = [
            (&[], &[]),
            (&["Asterisk PBX 18"], &["FreeSWITCH"]),
            (&["\u{3a3}\u{3a3}OFT \u{130}STANBUL"], &["ODY\u{3a3}", "x"]),
            (&[""], &["", "MiXeD"]),
        ];
        let addrs: [(IpAddr, Option<u16>); 4] = [
            (IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), Some(5060)),
            (IpAddr::V4(Ipv4Addr::new(255, 255, 255, 255)), None),
            (IpAddr::V6(Ipv6Addr::LOCALHOST), Some(65535)),
            (
                IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0xffff, 0x0a00, 1)),
                None,
            ),
        ];
        let roles = [
            (Role::UserAgent, RoleSource::Wire),
            (Role::Redirect, RoleSource::Wire),
            (Role::B2bua, RoleSource::Wire),
            (Role::Proxy, RoleSource::Override),
            (Role::Phone, RoleSource::Hint),
            (Role::UserAgent, RoleSource::Override),
        ];
        let promotions: [&[HostIdx]; 5] = [&[], &[0], &[1, 2, 3], &[5, 4, 0, 9], &[2]];
        for (n, reason) in reasons.iter().enumerate() {
            let mut c = base.clone();
            c.summary.final_code = if reason.is_none() && n == 0 {
                None
            } else {
                Some(486)
            };
            c.summary.final_reason = reason.map(Into::into);
            let host = c.hosts[0].clone();
            c.hosts = (0..6)
                .map(|i| {
                    let mut h = host.clone();
                    (h.addr, h.port) = addrs[(i + n) % addrs.len()];
                    (h.role, h.role_source) = roles[i];
                    let (ua, sv) = products[(i + n) % products.len()];
                    h.user_agents = ua.iter().map(|s| s.to_string()).collect();
                    h.servers = sv.iter().map(|s| s.to_string()).collect();
                    h
                })
                .collect();
            for b2bua in promotions {
                let e = Draft::new(&c, (0, 1)).finish(b2bua.to_vec());
                let got = [
                    e.call_id(),
                    e.from_user(),
                    e.to_user(),
                    e.first_method(),
                    e.final_text(),
                    e.hosts(),
                    e.products(),
                ];
                assert_eq!(
                    got,
                    reference_fields(&c, b2bua).each_ref().map(String::as_str)
                );
                assert_eq!(e.b2bua(), b2bua);
            }
        }
    }

    fn ids(app: &App) -> Vec<String> {
        app.list
            .rows
            .iter()
            .map(|&i| app.entries[i].call_id().to_string())
            .collect()
    }

    fn typed(app: &mut App, s: &str) {
        for c in s.chars() {
            app.handle_key(Key::Char(c));
        }
    }

    #[test]
    fn calls_arriving_out_of_order_are_numbered_by_start_and_the_open_call_stays_open() {
        let mut app = App::new(&["x.pcap".to_string()]);
        app.add_calls(vec![call("late", 3000, 200)]);
        app.refresh();
        // Opened while loading, before earlier calls arrive.
        app.handle_key(Key::Enter);
        app.handle_key(Key::Char('j'));
        let selected = app.call.as_ref().unwrap().selected;
        app.add_calls(vec![call("early", 1000, 486), call("middle", 2000, 200)]);
        app.refresh();
        assert_eq!(ids(&app), ["early", "middle", "late"]);
        assert_eq!(app.index_of[0], 3, "the first call in is the last by start");
        app.finish_loading(6, 6);
        assert_eq!(ids(&app), ["early", "middle", "late"]);
        assert_eq!(app.index_of, [1, 2, 3]);
        let (cv, e) = app.open_call().unwrap();
        assert_eq!(e.call_id(), "late");
        assert_eq!(cv.selected, selected);
        assert!(matches!(app.load, LoadState::Done { frames: 6, .. }));
    }

    #[test]
    fn filter_words_must_all_match_and_esc_clears_before_quitting() {
        let mut app = App::new(&[]);
        app.add_calls(vec![
            call("alpha", 0, 200),
            call("beta", 10, 486),
            call("gamma", 20, 503),
        ]);
        app.finish_loading(6, 6);
        app.handle_key(Key::Char('/'));
        typed(&mut app, "a 48");
        assert_eq!(ids(&app), ["beta"]);
        assert_eq!(app.handle_key(Key::Enter), Action::Redraw);
        assert!(app.prompt.is_none());
        assert_eq!(app.list.filter, "a 48");
        // q with a filter in force clears it; a second q quits.
        assert_eq!(app.handle_key(Key::Char('q')), Action::Redraw);
        assert_eq!(ids(&app).len(), 3);
        assert_eq!(app.handle_key(Key::Char('q')), Action::Quit);
    }

    #[test]
    fn failed_only_and_sorting_keep_the_selected_call() {
        let mut app = App::new(&[]);
        app.add_calls(vec![
            call("c", 0, 200),
            call("a", 10, 486),
            call("b", 20, 603),
        ]);
        app.finish_loading(6, 6);
        app.handle_key(Key::Char('j'));
        assert_eq!(ids(&app)[app.list.selected], "a");
        app.handle_key(Key::Char('f'));
        assert_eq!(ids(&app), ["a", "b"]);
        assert_eq!(ids(&app)[app.list.selected], "a");
        app.handle_key(Key::Char('f'));
        // s: Call-ID.
        app.handle_key(Key::Char('s'));
        assert_eq!(app.list.sort, Column::CallId);
        assert_eq!(ids(&app), ["a", "b", "c"]);
        assert_eq!(ids(&app)[app.list.selected], "a");
        app.handle_key(Key::Char('r'));
        assert_eq!(ids(&app), ["c", "b", "a"]);
        // < from Call-ID goes back to Start; the index is not a sort of its own.
        app.handle_key(Key::Char('<'));
        assert_eq!(app.list.sort, Column::Start);
        app.handle_key(Key::Char('<'));
        assert_eq!(app.list.sort, Column::Hosts);
    }

    #[test]
    fn next_failure_wraps_and_says_when_there_is_none() {
        let mut app = App::new(&[]);
        app.add_calls(vec![call("ok", 0, 200), call("busy", 10, 486)]);
        app.finish_loading(4, 4);
        app.handle_key(Key::Enter);
        app.handle_key(Key::Char('f'));
        assert_eq!(app.status.as_deref(), Some("no failure in this call"));
        app.handle_key(Key::Esc);
        app.handle_key(Key::Char('j'));
        app.handle_key(Key::Enter);
        app.handle_key(Key::Char('f'));
        let (cv, _) = app.open_call().unwrap();
        let m = cv.selected_msg().unwrap();
        assert_eq!(cv.call.messages[m].status(), Some(486));
        // From the failure itself, f wraps round to it again.
        app.handle_key(Key::Char('f'));
        assert_eq!(app.open_call().unwrap().0.selected_msg(), Some(m));
        assert!(app.status.is_none());
    }

    #[test]
    fn tab_moves_the_keys_to_the_message_pane_and_esc_leaves_zoom_first() {
        let mut app = App::new(&[]);
        app.add_calls(vec![call("c", 0, 486)]);
        app.finish_loading(2, 2);
        app.handle_key(Key::Enter);
        let selected = app.call.as_ref().unwrap().selected;
        app.handle_key(Key::Tab);
        app.handle_key(Key::Char('j'));
        app.handle_key(Key::Char('j'));
        let cv = app.call.as_ref().unwrap();
        assert_eq!((cv.selected, cv.detail_scroll), (selected, 2));
        app.handle_key(Key::Tab);
        app.handle_key(Key::Char('j'));
        let cv = app.call.as_ref().unwrap();
        assert_ne!(cv.selected, selected);
        assert_eq!(cv.detail_scroll, 0, "a new message starts at its top");
        app.handle_key(Key::Enter);
        assert!(app.call.as_ref().unwrap().zoom);
        app.handle_key(Key::Esc);
        assert!(app.call.as_ref().is_some_and(|cv| !cv.zoom));
        app.handle_key(Key::Esc);
        assert!(app.call.is_none());
    }

    #[test]
    fn keys_in_an_empty_list_do_nothing_harmful() {
        let mut app = App::new(&[]);
        for k in [
            Key::Enter,
            Key::Down,
            Key::End,
            Key::PageDown,
            Key::Char('s'),
            Key::Char('f'),
            Key::Char('f'),
        ] {
            app.handle_key(k);
        }
        assert!(app.call.is_none());
        assert_eq!(app.list.selected, 0);
    }
}
