//! Paging a pass's mapped inputs on a thread of its own: [`Pager`].
//!
//! A pass reads a mapped capture front to back. Left to itself, the reading thread takes a
//! page fault every few pages as it goes, and hands the pages behind it back to the OS
//! ([`Input::release_range`], so resident memory does not grow with the file) with a system
//! call that unmaps them. Both fell on the thread that decodes, the busier one of the first
//! pass: about an eighth of its time on a 1 GB capture. A pager thread maps the few megabytes
//! ahead of the reader before it gets there ([`Input::populate_range`]: one call maps two
//! megabytes) and hands back the steps behind it, while the reader goes on.
//!
//! Everything it does is a hint to the OS: a page read before it is mapped, or after it is
//! handed back, comes in from the file as it would without a pager. When no input is a mapped
//! file, or no thread can be started, nothing is mapped ahead and the pages behind are handed
//! back on the reading thread; so too while the thread has fallen behind ([`BACKLOG`]), so
//! that resident memory never waits on it.

use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::Arc;

use crate::capture::Input;

/// Pages are handed back in steps of this size (a power of two).
pub(super) const STEP: usize = 8 << 20;

/// Pages are mapped ahead in steps of this size (a power of two): smaller than [`STEP`], so
/// that what is mapped before it is read adds little to resident memory.
const MAP_STEP: usize = 2 << 20;

/// Map steps mapped ahead of the reader, its own included.
const AHEAD: usize = 2;

/// Jobs the pager thread may have waiting before the reader stops relying on it: past this,
/// the thread is not getting a core (the machine is busy), so the reader hands the pages
/// behind it back itself and asks for none to be mapped ahead, and resident memory does not
/// grow while the thread waits. Seen without it: `diagnose` on 1 GB with RTP once peaked at
/// 229 MB instead of 112-139 MB.
const BACKLOG: usize = 4;

/// What the reader and the pager thread share.
struct Shared {
    /// Jobs sent and not yet done.
    backlog: AtomicUsize,
    /// Per input: bytes before here are handed back or about to be; the thread maps none of
    /// them (a map job that waited could otherwise bring back pages handed back meanwhile).
    released: Vec<AtomicUsize>,
}

/// What the pager thread is asked to do, for input `.0`.
enum Job {
    Map(usize, Range<usize>),
    Release(usize, Range<usize>),
}

/// Keeps the pages just ahead of a reader mapped and hands those behind it back; see the
/// module header. Made by [`Pager::run`].
pub(super) struct Pager<'a> {
    inputs: &'a [Input],
    /// The pager thread's queue and what it shares with the reader; `None` when nothing is
    /// done on another thread.
    jobs: Option<(Sender<Job>, Arc<Shared>)>,
    /// Per input: bytes up to here are mapped or asked to be.
    mapped: Vec<usize>,
    /// Per input: bytes up to here were handed back or asked to be.
    released: Vec<usize>,
}

impl<'a> Pager<'a> {
    /// Runs `f` with a pager over `inputs`, whose thread (if any) ends with the call.
    pub(super) fn run<R>(inputs: &'a [Input], f: impl FnOnce(&mut Pager<'a>) -> R) -> R {
        let pager = |jobs| Pager {
            inputs,
            jobs,
            mapped: vec![0; inputs.len()],
            released: vec![0; inputs.len()],
        };
        if !inputs.iter().any(Input::is_mapped) {
            return f(&mut pager(None));
        }
        std::thread::scope(|scope| {
            let (tx, rx) = channel::<Job>();
            let shared = Arc::new(Shared {
                backlog: AtomicUsize::new(0),
                released: inputs.iter().map(|_| AtomicUsize::new(0)).collect(),
            });
            let theirs = Arc::clone(&shared);
            let thread = std::thread::Builder::new()
                .name("pager".into())
                .spawn_scoped(scope, move || {
                    for job in rx {
                        match job {
                            Job::Map(i, r) => {
                                let from = theirs
                                    .released
                                    .get(i)
                                    .map_or(r.start, |b| r.start.max(b.load(Ordering::Acquire)));
                                if let (Some(input), true) = (inputs.get(i), from < r.end) {
                                    input.populate_range(from, r.end);
                                }
                            }
                            Job::Release(i, r) => {
                                if let Some(input) = inputs.get(i) {
                                    input.release_range(r.start, r.end);
                                }
                            }
                        }
                        theirs.backlog.fetch_sub(1, Ordering::Release);
                    }
                });
            let mut p = pager(thread.is_ok().then_some((tx, shared)));
            let result = f(&mut p);
            // The queue closes with the pager, which ends the thread. Joining it here, rather
            // than leaving it to the scope, waits until the thread is wholly gone, its
            // thread-local values dropped too: the scope only waits for its closure to
            // return, and a leak check right after the pass (the fuzzers') saw the thread's
            // own handle still held.
            drop(p);
            if let Ok(handle) = thread {
                if let Err(panic) = handle.join() {
                    std::panic::resume_unwind(panic);
                }
            }
            result
        })
    }

    /// The reader is at `at` in input `file`: the [`AHEAD`] map steps from the one it is in
    /// on are mapped, if not asked already.
    #[inline]
    pub(super) fn reading(&mut self, file: usize, at: usize) {
        let (Some((jobs, shared)), Some(mapped)) = (&self.jobs, self.mapped.get_mut(file)) else {
            return;
        };
        if at.saturating_add(MAP_STEP) < *mapped {
            return;
        }
        let to = (at & !(MAP_STEP - 1)).saturating_add(AHEAD * MAP_STEP);
        let from = (*mapped).max(at & !(MAP_STEP - 1));
        // Mapping ahead is only a hint: skipped while the thread is behind.
        if from < to && shared.backlog.load(Ordering::Acquire) < BACKLOG {
            shared.backlog.fetch_add(1, Ordering::Relaxed);
            let _ = jobs.send(Job::Map(file, from..to));
        }
        *mapped = to;
    }

    /// Nothing before `limit` in input `file` will be read again: the whole steps before it
    /// are handed back, if not already.
    #[inline]
    pub(super) fn done_before(&mut self, file: usize, limit: usize) {
        let Some(done) = self.released.get_mut(file) else {
            return;
        };
        let upto = limit & !(STEP - 1);
        if upto < done.saturating_add(STEP) {
            return;
        }
        let range = *done..upto;
        *done = upto;
        if let Some((jobs, shared)) = &self.jobs {
            if let Some(b) = shared.released.get(file) {
                b.store(upto, Ordering::Release);
            }
            if shared.backlog.load(Ordering::Acquire) < BACKLOG {
                shared.backlog.fetch_add(1, Ordering::Relaxed);
                if jobs.send(Job::Release(file, range.clone())).is_ok() {
                    return;
                }
            }
        }
        // No thread, or one that is behind or gone: handed back here.
        if let Some(input) = self.inputs.get(file) {
            input.release_range(range.start, range.end);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A mapped input of `len` bytes (a pcap header, then zeros: only paging is tried here),
    /// in a temporary file removed when the guard goes.
    fn mapped_input(len: usize) -> (Removed, Input) {
        let path = std::env::temp_dir().join(format!(
            "sipscope-pager-test-{}-{len}.pcap",
            std::process::id()
        ));
        let mut bytes = vec![0u8; len];
        bytes[..24].copy_from_slice(&HEADER);
        std::fs::write(&path, &bytes).expect("write");
        let input = crate::capture::open(path.to_str().expect("utf-8"), 0).expect("open");
        (Removed(path), input)
    }

    /// A little-endian pcap file header (Ethernet).
    const HEADER: [u8; 24] = [
        0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 0, 0,
    ];

    struct Removed(std::path::PathBuf);

    impl Drop for Removed {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    #[test]
    fn steps_are_asked_once_ahead_and_behind() {
        let (_f, input) = mapped_input(2 * STEP + 100);
        assert!(input.is_mapped());
        // Zeros read as empty frames: their count before and after shows the bytes unchanged.
        let frames = input.frames().count();
        assert!(frames > 1000, "{frames}");
        let inputs = [input];
        Pager::run(&inputs, |p| {
            assert!(p.jobs.is_some());
            p.reading(0, 0);
            assert_eq!(p.mapped[0], AHEAD * MAP_STEP);
            p.reading(0, 100);
            assert_eq!(p.mapped[0], AHEAD * MAP_STEP);
            p.reading(0, MAP_STEP + 1);
            assert_eq!(p.mapped[0], (1 + AHEAD) * MAP_STEP);
            p.done_before(0, STEP - 1);
            assert_eq!(p.released[0], 0);
            p.done_before(0, 2 * STEP + 5);
            assert_eq!(p.released[0], 2 * STEP);
            // An input that is not there is left alone.
            p.reading(3, 0);
            p.done_before(3, 4 * STEP);
        });
        // Paging is only a hint: the bytes read the same after it.
        assert_eq!(inputs[0].frames().count(), frames);
    }

    /// A thread with too much waiting gets no more jobs: the reader maps nothing ahead and
    /// hands the pages behind it back itself, and says how far it did for the thread.
    #[test]
    fn a_thread_behind_gets_no_more_jobs() {
        let (_f, input) = mapped_input(3 * STEP + 100);
        let frames = input.frames().count();
        let inputs = [input];
        Pager::run(&inputs, |p| {
            // The jobs go to this queue instead of the thread's, so that they can be seen.
            let (tx, rx) = channel::<Job>();
            let shared = Arc::new(Shared {
                backlog: AtomicUsize::new(BACKLOG),
                released: vec![AtomicUsize::new(0)],
            });
            p.jobs = Some((tx, Arc::clone(&shared)));
            p.reading(0, 0);
            assert_eq!(p.mapped[0], AHEAD * MAP_STEP, "the reader moves on");
            p.done_before(0, 2 * STEP + 5);
            assert_eq!(p.released[0], 2 * STEP);
            assert_eq!(shared.released[0].load(Ordering::Acquire), 2 * STEP);
            assert!(rx.try_recv().is_err(), "no job while the thread is behind");
            // Caught up again: jobs are sent.
            shared.backlog.store(0, Ordering::Release);
            p.reading(0, 2 * STEP + 5);
            assert!(matches!(rx.try_recv(), Ok(Job::Map(0, _))));
            p.done_before(0, 3 * STEP + 1);
            match rx.try_recv() {
                Ok(Job::Release(0, r)) => assert_eq!(r, 2 * STEP..3 * STEP),
                _ => panic!("a release job"),
            }
            assert_eq!(shared.backlog.load(Ordering::Acquire), 2);
            assert_eq!(shared.released[0].load(Ordering::Acquire), 3 * STEP);
        });
        assert_eq!(inputs[0].frames().count(), frames);
    }

    #[test]
    fn inputs_in_memory_need_no_thread() {
        let input = Input::from_bytes("mem", 0, HEADER.to_vec()).expect("input");
        let inputs = [input];
        Pager::run(&inputs, |p| {
            assert!(p.jobs.is_none());
            p.reading(0, 0);
            p.done_before(0, 3 * STEP);
            assert_eq!(p.released[0], 3 * STEP);
        });
    }
}
