//! `sipscope media`: RTP streams per call.

use std::collections::{HashMap, HashSet};
use std::io::Write;

use crate::analysis;
use crate::cli::Selection;
use crate::error::Error;
use crate::output::media;

pub fn run(
    sel: &Selection,
    json: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), Error> {
    let loaded = analysis::load(sel, false, err)?;
    let mut streams = loaded.media.streams();
    if !sel.filter.is_empty() {
        // Keep the streams of the calls the filter keeps (and no unannounced ones).
        let ids: HashSet<&str> = loaded
            .selected(sel)
            .map(|(_, c)| c.call_id.as_str())
            .collect();
        streams.retain(|s| s.call_id.as_deref().is_some_and(|c| ids.contains(c)));
    }
    // Group by call (in order of each call's first stream), unannounced streams last. The
    // sort is stable: within a call, streams keep their order.
    let mut rank: HashMap<Option<String>, usize> = HashMap::new();
    for s in &streams {
        let next = rank.len();
        rank.entry(s.call_id.clone()).or_insert(next);
    }
    streams.sort_by_key(|s| {
        let r = rank.get(&s.call_id).copied().unwrap_or(usize::MAX);
        (s.call_id.is_none(), r)
    });
    if json {
        // Each stream's dialog is looked up in the call its Call-ID names.
        let calls: HashMap<&str, &crate::dialog::Call> = loaded
            .calls
            .iter()
            .map(|c| (c.call_id.as_str(), c))
            .collect();
        media::write_json(out, &streams, &|s| {
            s.call_id.as_deref().and_then(|id| calls.get(id).copied())
        })?;
    } else {
        media::write_text(out, &streams)?;
    }
    analysis::release(loaded);
    Ok(())
}
