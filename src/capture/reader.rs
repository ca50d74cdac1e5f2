//! Walking the records of a pcap or pcapng capture held in memory.

use super::{CaptureIssue, Frame};

/// Iterator over the frames of one capture. An `Err` item is a defect that did not stop the walk
/// (or, for a truncated file, the last item).
pub struct FrameIter<'a> {
    #[allow(dead_code)]
    data: &'a [u8],
    #[allow(dead_code)]
    file: u16,
}

impl<'a> FrameIter<'a> {
    pub fn new(data: &'a [u8], file: u16) -> Self {
        FrameIter { data, file }
    }
}

impl<'a> Iterator for FrameIter<'a> {
    type Item = Result<Frame<'a>, CaptureIssue>;
    fn next(&mut self) -> Option<Self::Item> {
        None
    }
}
