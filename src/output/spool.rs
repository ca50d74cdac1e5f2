//! Spill files for outputs that must hold more than memory should: a temporary file that is
//! gone from the directory as soon as it is open, so nothing is left behind whatever happens.

use std::fs::File;
use std::io;

/// A new read-write temporary file, already unlinked. `what` names the output in the
/// (briefly visible) file name.
pub fn unlinked_temp_file(what: &str) -> io::Result<File> {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!("sipscope-{what}-{}-{n}.tmp", std::process::id()));
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)?;
    let _ = std::fs::remove_file(&path);
    Ok(f)
}
