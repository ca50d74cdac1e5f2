//! `sipscope ladder`: draws the chosen calls as ladder diagrams (text, Mermaid or SVG), one
//! after the other, to standard output or a file.

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
            let mut l = Layout::build(call, &opts);
            l.index = Some(n);
            vec![l]
        }
        None => picked
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let mut l = Layout::build(c, &opts);
                l.index = Some(i + 1);
                l
            })
            .collect(),
    };
    if layouts.is_empty() {
        let _ = writeln!(
            err,
            "sipscope: no call to draw (no call matches the filters)"
        );
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
    let color = match cfg.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            to_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        }
    };
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
