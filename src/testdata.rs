//! Where the unit tests find the shared corpus of real captures (test builds only).
//!
//! The corpus sits in `../shared/corpus` beside the checkout, as CI lays it out;
//! `SIPSCOPE_CORPUS` names another place. Tests that need it and do not find it say so
//! loudly and test what they can without it.

use std::path::{Path, PathBuf};

/// The corpus folder: `SIPSCOPE_CORPUS`, else `../shared/corpus` beside the checkout, else
/// where this project's machines keep it; `None` when none of them is a folder.
pub fn corpus_dir() -> Option<PathBuf> {
    let beside = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    std::env::var_os("SIPSCOPE_CORPUS")
        .map(PathBuf::from)
        .into_iter()
        .chain([beside, PathBuf::from("/work/shared/corpus")])
        .find(|d| d.is_dir())
}

/// The corpus folder as text, for tests that build paths with `format!`; when there is no
/// corpus, a path that does not exist (its files then fail to open, and the tests skip them
/// loudly).
pub fn corpus() -> String {
    corpus_dir().map_or_else(
        || "../shared/corpus".to_string(),
        |d| d.to_string_lossy().into_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_corpus_is_found_beside_the_checkout_or_said_absent() {
        match corpus_dir() {
            Some(d) => assert!(d.join("expected").is_dir(), "{d:?} holds no expected/"),
            None => eprintln!("!!!!!! the shared corpus is absent here !!!!!!"),
        }
        assert!(!corpus().is_empty());
    }
}
