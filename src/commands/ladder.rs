//! `sipscope ladder`: draws the chosen calls as ladder diagrams (text, Mermaid or SVG), one
//! after the other, to standard output or a file, with a band per RTP stream of each call.

use std::io::{IsTerminal, Write};

use crate::analysis;
use crate::cli::{ColorChoice, LadderConfig, LadderFormat, Selection};
use crate::error::Error;
use crate::output::ladder::{self, text::TextOptions, Layout, LayoutOptions};

/// Width when neither `--width` nor a terminal says.
const DEFAULT_WIDTH: usize = 100;

pub fn run(
    sel: &Selection,
    cfg: &LadderConfig,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), Error> {
    let loaded = analysis::load(sel, false, err)?;
    // Numbered as `sipscope calls` numbers them with the same filters (the full list when
    // there are none).
    let picked: Vec<_> = loaded.selected(sel).map(|(_, c)| c).collect();
    let opts = LayoutOptions {
        annotate: cfg.annotate,
    };
    // Each call's RTP streams become bands.
    let streams = loaded.media.streams();
    let capture = crate::diagnose::CaptureStreams::new(&streams);
    let build = |call: &crate::dialog::Call| {
        let mine = capture.of_call(call);
        Layout::build_with_media(call, &opts, &mine)
    };
    let layouts: Vec<Layout> = match cfg.index {
        Some(n) => {
            let call = n
                .checked_sub(1)
                .and_then(|i| picked.get(i))
                .ok_or_else(|| {
                    Error::Usage(format!(
                        "--index {n}: there {} {} call{} to choose from",
                        if picked.len() == 1 { "is" } else { "are" },
                        picked.len(),
                        if picked.len() == 1 { "" } else { "s" }
                    ))
                })?;
            let mut l = build(call);
            l.index = Some(n);
            vec![l]
        }
        None => picked
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let mut l = build(c);
                l.index = Some(i + 1);
                l
            })
            .collect(),
    };
    if layouts.is_empty() {
        let why = if loaded.calls.is_empty() {
            "the input holds no SIP message"
        } else {
            "no call matches the filters"
        };
        let _ = writeln!(err, "sipscope: no call to draw ({why})");
        return Ok(());
    }
    let to_terminal = cfg.output.is_none() && std::io::stdout().is_terminal();
    let width = match cfg.width {
        Some(w) => usize::from(w),
        None if to_terminal => terminal_size::terminal_size()
            .map(|(w, _)| usize::from(w.0))
            .unwrap_or(DEFAULT_WIDTH),
        None => DEFAULT_WIDTH,
    };
    let color = use_color(
        cfg.color,
        to_terminal,
        std::env::var_os("NO_COLOR").as_deref(),
    );
    let mut file;
    let sink: &mut dyn Write = match &cfg.output {
        Some(path) => {
            let f = std::fs::File::create(path)
                .map_err(|e| Error::Usage(format!("cannot create {}: {e}", path.display())))?;
            file = std::io::BufWriter::new(f);
            &mut file
        }
        None => out,
    };
    match cfg.format {
        LadderFormat::Text => ladder::text::write(sink, &layouts, TextOptions { width, color })?,
        LadderFormat::Mermaid => ladder::mermaid::write(sink, &layouts)?,
        LadderFormat::Svg => {
            // A picture has no terminal: only an explicit --width narrows it.
            let w = cfg.width.map_or(usize::MAX / 4, usize::from);
            ladder::svg::write(sink, &layouts, w)?
        }
    }
    sink.flush()?;
    Ok(())
}

/// Colour or not: as asked, or for `auto` only when writing to a terminal and `NO_COLOR` is
/// unset or empty (no-color.org).
fn use_color(choice: ColorChoice, to_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => to_terminal && no_color.is_none_or(|v| v.is_empty()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn colour_choice_respects_the_terminal_and_no_color() {
        let set = Some(OsStr::new("1"));
        let empty = Some(OsStr::new(""));
        assert!(use_color(ColorChoice::Auto, true, None));
        assert!(use_color(ColorChoice::Auto, true, empty));
        assert!(!use_color(ColorChoice::Auto, true, set));
        assert!(!use_color(ColorChoice::Auto, false, None));
        assert!(use_color(ColorChoice::Always, false, set));
        assert!(!use_color(ColorChoice::Never, true, None));
    }
}
