//! Key bindings and the help text, from one table so the help overlay cannot lie about what a
//! key does. Keys follow sngrep where it has a habit (arrows and j/k, Enter, Esc/q back, `/`,
//! F1), vi where it does not.
//!
//! [`Key`] is the view's own key type: crossterm events are translated once, in
//! [`Key::from_event`], so the state machine in `app.rs` and its tests never see a terminal type.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

/// A key press, as the view cares about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Char(char),
    /// A letter with Control held (`Ctrl('c')`).
    Ctrl(char),
    Up,
    Down,
    Left,
    Right,
    PageUp,
    PageDown,
    Home,
    End,
    Enter,
    Esc,
    Tab,
    BackTab,
    Backspace,
    F(u8),
}

impl Key {
    /// Translates a terminal key event; releases (reported by some terminals) are dropped.
    pub fn from_event(ev: &KeyEvent) -> Option<Key> {
        if ev.kind == KeyEventKind::Release {
            return None;
        }
        let ctrl = ev.modifiers.contains(KeyModifiers::CONTROL);
        Some(match ev.code {
            KeyCode::Char(c) if ctrl => Key::Ctrl(c.to_ascii_lowercase()),
            KeyCode::Char(c) => Key::Char(c),
            KeyCode::Up => Key::Up,
            KeyCode::Down => Key::Down,
            KeyCode::Left => Key::Left,
            KeyCode::Right => Key::Right,
            KeyCode::PageUp => Key::PageUp,
            KeyCode::PageDown => Key::PageDown,
            KeyCode::Home => Key::Home,
            KeyCode::End => Key::End,
            KeyCode::Enter => Key::Enter,
            KeyCode::Esc => Key::Esc,
            KeyCode::Tab => Key::Tab,
            KeyCode::BackTab => Key::BackTab,
            KeyCode::Backspace => Key::Backspace,
            KeyCode::F(n) => Key::F(n),
            _ => return None,
        })
    }

    /// How the key is written in the help overlay.
    pub fn label(self) -> String {
        match self {
            Key::Char(' ') => "Space".into(),
            Key::Char(c) => c.to_string(),
            Key::Ctrl(c) => format!("Ctrl-{}", c.to_ascii_uppercase()),
            Key::Up => "Up".into(),
            Key::Down => "Down".into(),
            Key::Left => "Left".into(),
            Key::Right => "Right".into(),
            Key::PageUp => "PgUp".into(),
            Key::PageDown => "PgDn".into(),
            Key::Home => "Home".into(),
            Key::End => "End".into(),
            Key::Enter => "Enter".into(),
            Key::Esc => "Esc".into(),
            Key::Tab => "Tab".into(),
            Key::BackTab => "Shift-Tab".into(),
            Key::Backspace => "Backspace".into(),
            Key::F(n) => format!("F{n}"),
        }
    }
}

/// Which screen a binding belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    /// Anywhere (unless a text prompt is open).
    Global,
    List,
    Call,
}

impl Context {
    pub fn title(self) -> &'static str {
        match self {
            Context::Global => "Everywhere",
            Context::List => "Call list",
            Context::Call => "Call view",
        }
    }
}

/// What a key asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Help,
    Quit,
    /// Leave the current screen (the list: quit).
    Back,
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    /// List: open the selected call.
    Open,
    /// List: type a filter. Call view: search the messages.
    Find,
    SortNext,
    SortPrev,
    SortReverse,
    /// List: show only failed calls (toggle).
    FailedOnly,
    ScrollLeft,
    ScrollRight,
    NextFailure,
    PrevFailure,
    NextMatch,
    PrevMatch,
    /// Absolute, relative to the call's start, delta from the previous message.
    TimeMode,
    /// Show or hide the annotation lines under responses.
    Notes,
    /// Move the keys' focus between the ladder and the message pane.
    Focus,
    /// Show the selected message full screen (or go back).
    Zoom,
}

/// One binding: where, which keys, what, and the words of the help overlay.
pub struct Binding {
    pub context: Context,
    pub keys: &'static [Key],
    pub command: Command,
    pub help: &'static str,
}

const fn bind(
    context: Context,
    keys: &'static [Key],
    command: Command,
    help: &'static str,
) -> Binding {
    Binding {
        context,
        keys,
        command,
        help,
    }
}

use Command as C;
use Context::{Call, Global, List};
use Key as K;

/// Every binding, in help order.
pub static BINDINGS: &[Binding] = &[
    bind(Global, &[K::F(1), K::Char('?')], C::Help, "this help"),
    bind(Global, &[K::Ctrl('c')], C::Quit, "quit at once"),
    bind(List, &[K::Up, K::Char('k')], C::Up, "previous call"),
    bind(List, &[K::Down, K::Char('j')], C::Down, "next call"),
    bind(
        List,
        &[K::PageUp, K::PageDown],
        C::PageDown,
        "page up / down",
    ),
    bind(List, &[K::Home, K::Char('g')], C::Top, "first call"),
    bind(List, &[K::End, K::Char('G')], C::Bottom, "last call"),
    bind(List, &[K::Enter], C::Open, "open the call (ladder)"),
    bind(
        List,
        &[K::Char('/'), K::F(3)],
        C::Find,
        "filter as you type (words: all must match; Esc clears)",
    ),
    bind(
        List,
        &[K::Char('f')],
        C::FailedOnly,
        "only failed calls (toggle)",
    ),
    bind(
        List,
        &[K::Char('s'), K::Char('>')],
        C::SortNext,
        "sort by the next column",
    ),
    bind(
        List,
        &[K::Char('<')],
        C::SortPrev,
        "sort by the previous column",
    ),
    bind(
        List,
        &[K::Char('r'), K::Char('z')],
        C::SortReverse,
        "reverse the sort order",
    ),
    bind(
        List,
        &[K::Char('q'), K::Esc],
        C::Back,
        "quit (Esc: clear the filter first)",
    ),
    bind(Call, &[K::Up, K::Char('k')], C::Up, "previous message"),
    bind(Call, &[K::Down, K::Char('j')], C::Down, "next message"),
    bind(
        Call,
        &[K::PageUp, K::PageDown],
        C::PageDown,
        "page up / down",
    ),
    bind(Call, &[K::Home, K::Char('g')], C::Top, "first message"),
    bind(Call, &[K::End, K::Char('G')], C::Bottom, "last message"),
    bind(
        Call,
        &[K::Left, K::Char('h')],
        C::ScrollLeft,
        "scroll the ladder left",
    ),
    bind(
        Call,
        &[K::Right, K::Char('l')],
        C::ScrollRight,
        "scroll the ladder right",
    ),
    bind(
        Call,
        &[K::Char('f')],
        C::NextFailure,
        "next failure (3xx-6xx response, bounce)",
    ),
    bind(Call, &[K::Char('F')], C::PrevFailure, "previous failure"),
    bind(
        Call,
        &[K::Char('/'), K::F(3)],
        C::Find,
        "search the messages' text",
    ),
    bind(Call, &[K::Char('n')], C::NextMatch, "next match"),
    bind(Call, &[K::Char('N')], C::PrevMatch, "previous match"),
    bind(
        Call,
        &[K::Char('t')],
        C::TimeMode,
        "time: delta / relative / absolute",
    ),
    bind(
        Call,
        &[K::Char('a')],
        C::Notes,
        "annotations under responses (toggle)",
    ),
    bind(
        Call,
        &[K::Tab],
        C::Focus,
        "keys scroll the ladder or the message pane",
    ),
    bind(
        Call,
        &[K::Enter, K::Char(' ')],
        C::Zoom,
        "message full screen (toggle)",
    ),
    bind(
        Call,
        &[K::Esc, K::Char('q')],
        C::Back,
        "back to the call list",
    ),
];

/// The command a key means on a screen: its own bindings first, then the global ones. PgUp
/// shares its table line with PgDn, so it is told apart here.
pub fn command(context: Context, key: Key) -> Option<Command> {
    if key == Key::PageUp {
        return Some(Command::PageUp);
    }
    BINDINGS
        .iter()
        .filter(|b| b.context == context || b.context == Context::Global)
        .find(|b| b.keys.contains(&key))
        .map(|b| b.command)
}

/// The help overlay's lines: a heading per context, then `keys  what they do`.
pub fn help_lines() -> Vec<(Option<&'static str>, String, &'static str)> {
    let mut out = Vec::new();
    let mut last = None;
    for b in BINDINGS {
        if last != Some(b.context) {
            out.push((Some(b.context.title()), String::new(), ""));
            last = Some(b.context);
        }
        let keys: Vec<String> = b.keys.iter().map(|k| k.label()).collect();
        out.push((None, keys.join(" "), b.help));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_key_means_two_things_on_one_screen() {
        for ctx in [Context::List, Context::Call] {
            let mut seen: Vec<(Key, Command)> = Vec::new();
            for b in BINDINGS
                .iter()
                .filter(|b| b.context == ctx || b.context == Context::Global)
            {
                for k in b.keys {
                    if let Some((_, other)) = seen.iter().find(|(s, _)| s == k) {
                        panic!("{k:?} bound to {other:?} and {:?} in {ctx:?}", b.command);
                    }
                    seen.push((*k, b.command));
                }
            }
        }
    }

    #[test]
    fn sngrep_habits_hold() {
        assert_eq!(command(Context::List, Key::Enter), Some(Command::Open));
        assert_eq!(command(Context::List, Key::Char('j')), Some(Command::Down));
        assert_eq!(command(Context::Call, Key::Esc), Some(Command::Back));
        assert_eq!(command(Context::Call, Key::F(1)), Some(Command::Help));
        assert_eq!(command(Context::Call, Key::PageUp), Some(Command::PageUp));
        assert_eq!(command(Context::List, Key::Char('/')), Some(Command::Find));
        assert_eq!(command(Context::List, Key::Char('x')), None);
    }

    #[test]
    fn every_binding_is_in_the_help() {
        let lines = help_lines();
        for b in BINDINGS {
            assert!(lines.iter().any(|(_, _, h)| *h == b.help));
        }
        assert!(lines.iter().any(|(_, k, _)| k == "F1 ?"));
    }
}
