//! Fuzz target: the pcap/pcapng reader over arbitrary bytes, through `Input::from_bytes` (gzip
//! and magic checks included) and straight through `FrameIter` (no magic check), plus the
//! merge of two walks. Every frame must borrow from the input, numbers must rise, and the walk
//! must end.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sipscope::capture::{FrameIter, Input, Merged};

fn walk(bytes: &[u8], iter: FrameIter<'_>) -> (u64, u64) {
    let base = bytes.as_ptr() as usize;
    let end = base + bytes.len();
    let mut frames = 0u64;
    let mut issues = 0u64;
    let mut last = 0u64;
    for item in iter {
        match item {
            Ok(f) => {
                let p = f.data.as_ptr() as usize;
                if !f.data.is_empty() {
                    assert!(
                        p >= base && p + f.data.len() <= end,
                        "frame outside the input"
                    );
                }
                assert!(f.number > last, "frame numbers must rise");
                last = f.number;
                assert!(
                    (f.offset as usize) < bytes.len().max(1),
                    "offset past the input"
                );
                let _ = f.is_cut();
                frames += 1;
            }
            Err(issue) => {
                let _ = issue.to_string();
                issues += 1;
            }
        }
        // Every record or block takes at least 8 bytes: more items than that is a loop.
        assert!(
            frames + issues <= bytes.len() as u64 / 8 + 2,
            "walk does not end"
        );
    }
    (frames, issues)
}

fuzz_target!(|data: &[u8]| {
    // Straight walk: the reader must cope with any first bytes itself.
    let direct = walk(data, FrameIter::new(data, 0));

    if let Ok(input) = Input::from_bytes("fuzz", 3, data.to_vec()) {
        let bytes = input.bytes();
        let (frames, _) = walk(bytes, input.frames());
        if !input.gzipped {
            assert_eq!(frames, direct.0, "same bytes, different frame count");
        }
        // Two walks merged by time give every frame of both.
        let merged = Merged::new(vec![input.frames(), input.frames()]);
        let n = merged.filter(|i| i.is_ok()).count() as u64;
        assert_eq!(n, 2 * frames, "merge lost or invented frames");
    }
});
