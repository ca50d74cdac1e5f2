//! `sipscope diagnose`: for every selected call, what happened, where and why (with what its
//! RTP says), then the file summary; as text or `{"calls": [...], "summary": {...}}`.

use std::io::Write;

use crate::analysis;
use crate::cli::Selection;
use crate::diagnose::{self, MediaView, Summary};
use crate::error::Error;
use crate::output::diagnose as render;

pub fn run(
    sel: &Selection,
    json: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), Error> {
    let loaded = analysis::load(sel, false, err)?;
    let streams = loaded.media.streams();
    let capture_end_ns = loaded
        .books
        .inputs
        .iter()
        .filter_map(|i| i.last_ts_ns)
        .max();
    let mut summary = Summary::new();
    let diagnosed: Vec<_> = loaded
        .selected(sel)
        .map(|(i, c)| {
            let mine = diagnose::streams_of_call(c, &streams);
            let view = MediaView {
                streams: &mine,
                capture: &streams,
                capture_end_ns,
            };
            let d = diagnose::diagnose_with_media(c, &view);
            summary.add(c, &d);
            (i, c, d)
        })
        .collect();
    let rows: Vec<_> = diagnosed.iter().map(|(i, c, d)| (*i, *c, d)).collect();
    if json {
        render::write_json_doc(out, &rows, &summary)?;
    } else {
        render::write_text(out, &rows, &summary)?;
    }
    Ok(())
}
