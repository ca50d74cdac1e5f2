//! Merging the frames of several captures into one sequence ordered by timestamp.
//!
//! Owns: the k-way merge. Inputs are few (a handful of files on a command line), so the next
//! frame is found by a linear scan over one buffered head per input rather than with a heap.

use super::{CaptureIssue, Frame, FrameIter};

/// One input of the merge and the frame it holds back until it is the oldest.
struct Source<'a> {
    iter: FrameIter<'a>,
    head: Option<Frame<'a>>,
    exhausted: bool,
}

/// K-way merge of several frame iterators by `ts_ns` (ties: lower file index first). Issues are
/// passed through as they are met. Each input keeps its own order even when its timestamps go
/// backwards; the merge only decides which input speaks next.
pub struct Merged<'a> {
    sources: Vec<Source<'a>>,
}

impl<'a> Merged<'a> {
    pub fn new(iters: Vec<FrameIter<'a>>) -> Self {
        Merged {
            sources: iters
                .into_iter()
                .map(|iter| Source {
                    iter,
                    head: None,
                    exhausted: false,
                })
                .collect(),
        }
    }
}

impl<'a> Iterator for Merged<'a> {
    type Item = Result<Frame<'a>, CaptureIssue>;

    fn next(&mut self) -> Option<Self::Item> {
        // Refill empty heads; an issue goes out at once, the refill resumes on the next call.
        for src in self.sources.iter_mut() {
            if src.head.is_none() && !src.exhausted {
                match src.iter.next() {
                    Some(Ok(frame)) => src.head = Some(frame),
                    Some(Err(issue)) => return Some(Err(issue)),
                    None => src.exhausted = true,
                }
            }
        }
        // Oldest head wins; ties go to the lower file index, then to the earlier input.
        let mut best: Option<(usize, i64, u16)> = None;
        for (i, src) in self.sources.iter().enumerate() {
            if let Some(f) = &src.head {
                let better = match best {
                    None => true,
                    Some((_, ts, file)) => (f.ts_ns, f.file) < (ts, file),
                };
                if better {
                    best = Some((i, f.ts_ns, f.file));
                }
            }
        }
        let (i, _, _) = best?;
        self.sources.get_mut(i).and_then(|s| s.head.take()).map(Ok)
    }
}

#[cfg(test)]
mod tests {
    use super::super::writer::{pcap_bytes, PcapNgWriter};
    use super::super::{linktype, IssueKind};
    use super::*;

    fn labelled(ts: &[i64], tag: u8) -> Vec<u8> {
        let pkts: Vec<(i64, Vec<u8>)> = ts
            .iter()
            .enumerate()
            .map(|(i, &t)| (t, vec![tag, i as u8]))
            .collect();
        pcap_bytes(linktype::RAW, &pkts)
    }

    #[test]
    fn merges_by_time_with_ties_to_the_lower_file() {
        let a = labelled(&[10, 30, 30, 50], b'a');
        let b = labelled(&[5, 30, 40, 60, 70], b'b');
        // Given in reverse order, to show the tie goes by file index, not by position.
        let merged: Vec<(i64, u16, u64)> =
            Merged::new(vec![FrameIter::new(&b, 1), FrameIter::new(&a, 0)])
                .map(|r| {
                    let f = r.unwrap();
                    (f.ts_ns, f.file, f.number)
                })
                .collect();
        assert_eq!(
            merged,
            vec![
                (5, 1, 1),
                (10, 0, 1),
                (30, 0, 2),
                (30, 0, 3),
                (30, 1, 2),
                (40, 1, 3),
                (50, 0, 4),
                (60, 1, 4),
                (70, 1, 5),
            ]
        );
    }

    #[test]
    fn issues_pass_through_and_the_merge_goes_on() {
        let a = labelled(&[1, 4], b'a');
        let mut w = PcapNgWriter::new(Vec::new()).unwrap();
        w.add_interface(linktype::RAW, Some(9), None).unwrap();
        w.write_epb(0, 2, b"b1", 2).unwrap();
        w.write_epb(9, 3, b"b2", 2).unwrap();
        w.write_epb(0, 5, b"b3", 2).unwrap();
        let b = w.into_inner();
        let items: Vec<_> =
            Merged::new(vec![FrameIter::new(&a, 0), FrameIter::new(&b, 1)]).collect();
        let frames: Vec<i64> = items
            .iter()
            .filter_map(|r| r.as_ref().ok().map(|f| f.ts_ns))
            .collect();
        assert_eq!(frames, vec![1, 2, 4, 5]);
        let issues: Vec<&CaptureIssue> = items.iter().filter_map(|r| r.as_ref().err()).collect();
        assert_eq!(issues.len(), 1);
        assert_eq!(issues[0].kind, IssueKind::UnknownInterface(9));
        assert_eq!((issues[0].file, issues[0].frame), (1, 2));
    }

    #[test]
    fn empty_merge_is_empty() {
        assert_eq!(Merged::new(Vec::new()).count(), 0);
        let a = labelled(&[], b'a');
        assert_eq!(Merged::new(vec![FrameIter::new(&a, 0)]).count(), 0);
    }
}
