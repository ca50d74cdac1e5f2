//! The binary's global allocator: mimalloc, called through its plain entry points whenever
//! the alignment asked for is one that every mimalloc block of that size already has.
//!
//! Analysing a capture allocates and frees millions of small values, and mimalloc is much
//! faster at that than the system allocator. The `mimalloc` crate's wrapper passes every
//! request to mimalloc's aligned entry points, which re-check the alignment on each call and
//! take a slow, over-allocating path for blocks over 1 KiB (a call's message list, a batch of
//! messages): a tenth of a `calls` run went to allocation, a third of it on that path. Like
//! the standard library's system allocator, this one asks for plain blocks when the
//! alignment is at most 16 bytes and not larger than the size (mimalloc aligns every block of
//! 16 bytes or more to 16, smaller ones to 8), and for aligned ones otherwise.
//!
//! mimalloc's version 2 line is built (the `v2` feature of `libmimalloc-sys`): it runs the
//! same instructions as version 3 on our workload and holds 8 to 28 MB less at its peak on
//! the big benchmark captures (a scanner flood's `diagnose`: 79 MB instead of 107 MB).

use std::alloc::{GlobalAlloc, Layout};
use std::ffi::c_void;

use libmimalloc_sys as mi;

/// The alignment mimalloc gives every block of at least this many bytes.
const PLAIN_ALIGN: usize = 16;

/// mimalloc as the global allocator (see the module header).
pub struct Allocator;

/// Whether a plain block of `size` bytes is aligned enough for `align`.
fn plain(size: usize, align: usize) -> bool {
    align <= PLAIN_ALIGN && align <= size
}

// SAFETY: every method hands the request to mimalloc, which returns null on failure and
// otherwise a block of at least the size asked for; plain blocks are used only where
// mimalloc's own guarantee covers the alignment (see `plain`), aligned entry points
// otherwise. Blocks from either kind of entry point are freed and resized by mimalloc alike.
unsafe impl GlobalAlloc for Allocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: plain FFI calls; mimalloc accepts any size, and the alignment of a
        // `Layout` is a power of two as `mi_malloc_aligned` requires.
        unsafe {
            if plain(layout.size(), layout.align()) {
                mi::mi_malloc(layout.size()).cast()
            } else {
                mi::mi_malloc_aligned(layout.size(), layout.align()).cast()
            }
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as in `alloc`.
        unsafe {
            if plain(layout.size(), layout.align()) {
                mi::mi_zalloc(layout.size()).cast()
            } else {
                mi::mi_zalloc_aligned(layout.size(), layout.align()).cast()
            }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: `ptr` came from this allocator, that is from mimalloc.
        unsafe { mi::mi_free(ptr.cast::<c_void>()) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` came from mimalloc; the block keeps `layout`'s alignment, which a
        // plain block of `new_size` bytes has whenever `plain` says so (mimalloc keeps the
        // block in place when it still fits, and it was aligned already).
        unsafe {
            if plain(new_size, layout.align()) {
                mi::mi_realloc(ptr.cast::<c_void>(), new_size).cast()
            } else {
                mi::mi_realloc_aligned(ptr.cast::<c_void>(), new_size, layout.align()).cast()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every size up to a few pages and every alignment up to 4 KiB: the block is aligned,
    /// writable over its whole size, and keeps its bytes through growing and shrinking.
    #[test]
    fn blocks_are_aligned_and_keep_their_bytes_through_realloc() {
        let a = Allocator;
        let sizes = (1..=64).chain([100, 1000, 1024, 1025, 4096, 5000, 70_000, 1 << 20]);
        for size in sizes {
            for shift in 0..=12 {
                let align = 1usize << shift;
                let Ok(layout) = Layout::from_size_align(size, align) else {
                    continue;
                };
                // SAFETY: non-zero sizes; every block is freed once, with its own layout.
                unsafe {
                    let p = a.alloc(layout);
                    assert!(!p.is_null(), "size {size} align {align}");
                    assert_eq!(p as usize % align, 0, "size {size} align {align}");
                    for i in 0..size {
                        p.add(i).write(i as u8);
                    }
                    // Growing keeps every byte; shrinking keeps those that still fit.
                    let big = size * 3 + 5;
                    let q = a.realloc(p, layout, big);
                    assert!(!q.is_null());
                    assert_eq!(q as usize % align, 0, "grow {size}->{big} align {align}");
                    assert!((0..size).all(|i| q.add(i).read() == i as u8), "grow {size}");
                    let small = size / 2 + 1;
                    let r = a.realloc(q, Layout::from_size_align_unchecked(big, align), small);
                    assert!(!r.is_null());
                    assert_eq!(r as usize % align, 0, "shrink {big}->{small} align {align}");
                    assert!(
                        (0..small).all(|i| r.add(i).read() == i as u8),
                        "shrink {size}"
                    );
                    a.dealloc(r, Layout::from_size_align_unchecked(small, align));
                    let z = a.alloc_zeroed(layout);
                    assert!(!z.is_null());
                    assert_eq!(z as usize % align, 0);
                    assert!((0..size).all(|i| z.add(i).read() == 0));
                    a.dealloc(z, layout);
                }
            }
        }
    }
}
