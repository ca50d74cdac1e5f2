//! Opening one input: a regular file (memory-mapped), `-` for standard input, gzip detected by
//! its magic bytes and inflated in memory. Checks the capture magic so that a wrong file fails
//! with a clear message before any frame is read.

use std::fs::File;
use std::io::Read;

use super::{CaptureError, FrameIter};

/// First bytes of a gzip member.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// File magics we accept: pcap (micro- and nanosecond, both byte orders) and pcapng.
const CAPTURE_MAGICS: [[u8; 4]; 5] = [
    [0xd4, 0xc3, 0xb2, 0xa1],
    [0xa1, 0xb2, 0xc3, 0xd4],
    [0x4d, 0x3c, 0xb2, 0xa1],
    [0xa1, 0xb2, 0x3c, 0x4d],
    [0x0a, 0x0d, 0x0d, 0x0a],
];

/// One opened capture, its bytes held for the frames that borrow them.
pub struct Input {
    /// Name to show in messages (the path as given, or `<stdin>`).
    pub name: String,
    /// Position of this input on the command line.
    pub file_index: u16,
    /// True when the input was gzip-compressed (the bytes held are the inflated ones).
    pub gzipped: bool,
    /// Set when the gzip stream broke part-way: what was inflated before the break is kept and
    /// read, and this says where and why it broke.
    pub gzip_issue: Option<String>,
    bytes: Bytes,
}

enum Bytes {
    Owned(Vec<u8>),
    Mapped(memmap2::Mmap),
}

impl Bytes {
    fn as_slice(&self) -> &[u8] {
        match self {
            Bytes::Owned(v) => v,
            Bytes::Mapped(m) => m,
        }
    }
}

impl Input {
    /// Tells the OS that the bytes in `from..to` will not be read again, so their pages may
    /// leave this process's resident memory (they stay in the page cache). Only mapped files
    /// are concerned; it is a hint: reading those bytes again still works, the pages come
    /// back from the file. Lets a streaming pass over a file of gigabytes stay small in RSS.
    pub fn release_range(&self, from: usize, to: usize) {
        #[cfg(unix)]
        if let Bytes::Mapped(m) = &self.bytes {
            let to = to.min(m.len());
            if from < to {
                // SAFETY: the map is a read-only private map of a file that this process never
                // writes to, so discarding its pages loses nothing: the next read of these
                // bytes faults the same content back in from the file.
                let _ = unsafe {
                    m.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, from, to - from)
                };
            }
        }
        #[cfg(not(unix))]
        let _ = (from, to);
    }

    /// Whether the input is a file mapped into memory (its pages come and go with
    /// [`Input::populate_range`] and [`Input::release_range`]).
    pub fn is_mapped(&self) -> bool {
        matches!(self.bytes, Bytes::Mapped(_))
    }

    /// Asks the OS to map the pages of `from..to` now (only a mapped file has any), so that
    /// reading them takes no page fault: one call maps the whole range, where faults map it a
    /// few pages at a time. A hint: an error (an older kernel) changes nothing.
    pub fn populate_range(&self, from: usize, to: usize) {
        #[cfg(target_os = "linux")]
        if let Bytes::Mapped(m) = &self.bytes {
            let to = to.min(m.len());
            if from < to {
                let _ = m.advise_range(memmap2::Advice::PopulateRead, from, to - from);
            }
        }
        #[cfg(not(target_os = "linux"))]
        let _ = (from, to);
    }

    /// Builds an input over bytes already in memory (tests, stdin). Gzip is detected and
    /// inflated, and the capture magic checked, exactly as for a file.
    pub fn from_bytes(name: &str, file_index: u16, data: Vec<u8>) -> Result<Input, CaptureError> {
        Input::prepare(name, file_index, Bytes::Owned(data))
    }

    fn prepare(name: &str, file_index: u16, bytes: Bytes) -> Result<Input, CaptureError> {
        let raw = bytes.as_slice();
        if raw.is_empty() {
            return Err(CaptureError::Empty {
                path: name.to_string(),
            });
        }
        let (bytes, gzipped, gzip_issue) = if raw.starts_with(&GZIP_MAGIC) {
            let (inflated, issue) = inflate(name, raw)?;
            (Bytes::Owned(inflated), true, issue)
        } else {
            (bytes, false, None)
        };
        check_magic(name, bytes.as_slice())?;
        Ok(Input {
            name: name.to_string(),
            file_index,
            gzipped,
            gzip_issue,
            bytes,
        })
    }

    /// The whole (decompressed) capture.
    pub fn bytes(&self) -> &[u8] {
        self.bytes.as_slice()
    }

    /// Walks the frames of this capture.
    pub fn frames(&self) -> FrameIter<'_> {
        FrameIter::new(self.bytes(), self.file_index)
    }
}

/// Inflates every gzip member. A stream that breaks part-way keeps what came out before the
/// break (a capture cut during download is still worth reading); one that yields nothing at
/// all is an error.
fn inflate(name: &str, raw: &[u8]) -> Result<(Vec<u8>, Option<String>), CaptureError> {
    inflate_capped(name, raw, MAX_INFLATED)
}

/// Most bytes a gzip input may inflate to. A compressed capture is inflated in memory; this cap
/// keeps a hostile "gzip bomb" (kilobytes that inflate to terabytes) from exhausting memory.
pub const MAX_INFLATED: u64 = 8 << 30;

fn inflate_capped(
    name: &str,
    raw: &[u8],
    cap: u64,
) -> Result<(Vec<u8>, Option<String>), CaptureError> {
    // The bufread decoder reads straight from the slice, so what is left of the slice after an
    // error tells exactly how far into the compressed bytes it got.
    let dec = flate2::bufread::MultiGzDecoder::new(raw);
    let mut limited = dec.take(cap);
    let mut out = Vec::with_capacity(raw.len().saturating_mul(4).min(1 << 30));
    match limited.read_to_end(&mut out) {
        Ok(_) if out.len() as u64 >= cap => {
            // The cap was reached: say so, and read what fits.
            let mut probe = [0u8; 1];
            let more = limited
                .into_inner()
                .read(&mut probe)
                .map(|n| n > 0)
                .unwrap_or(false);
            let why = more.then(|| {
                format!(
                    "gzip data inflates to more than {} bytes; only the first {} bytes are read",
                    cap, cap
                )
            });
            Ok((out, why))
        }
        Ok(_) => Ok((out, None)),
        Err(e) => {
            let offset = raw.len().saturating_sub(limited.get_ref().get_ref().len()) as u64;
            if out.is_empty() {
                Err(CaptureError::BadGzip {
                    path: name.to_string(),
                    offset,
                    why: e.to_string(),
                })
            } else {
                let why = format!(
                    "gzip stream is corrupt at compressed byte offset {offset} ({e}); \
                     the {} bytes inflated before it are read",
                    out.len()
                );
                Ok((out, Some(why)))
            }
        }
    }
}

fn check_magic(name: &str, bytes: &[u8]) -> Result<(), CaptureError> {
    if bytes.is_empty() {
        return Err(CaptureError::Empty {
            path: name.to_string(),
        });
    }
    let head = bytes.get(..4).unwrap_or(bytes);
    if CAPTURE_MAGICS.iter().any(|m| m.as_slice() == head) {
        return Ok(());
    }
    Err(CaptureError::NotACapture {
        path: name.to_string(),
        magic: head
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(" "),
    })
}

/// Opens `path` (`-` for standard input).
pub fn open(path: &str, file_index: u16) -> Result<Input, CaptureError> {
    let io_err = |source| CaptureError::Io {
        path: path.to_string(),
        source,
    };
    if path == "-" {
        let mut data = Vec::new();
        std::io::stdin()
            .lock()
            .read_to_end(&mut data)
            .map_err(io_err)?;
        return Input::from_bytes("<stdin>", file_index, data);
    }
    let mut file = File::open(path).map_err(io_err)?;
    let meta = file.metadata().map_err(io_err)?;
    // Only a regular file with a size can be mapped; pipes, devices and files whose size the
    // system does not report (as in /proc) are read instead.
    if meta.is_file() && meta.len() > 0 {
        // SAFETY: the map is read-only and private to this process. If another process
        // truncates the file while we read it the OS may stop us with SIGBUS; that is the
        // accepted price of zero-copy reading, as with every memory-mapped reader.
        if let Ok(map) = unsafe { memmap2::Mmap::map(&file) } {
            #[cfg(unix)]
            let _ = map.advise(memmap2::Advice::Sequential);
            return Input::prepare(path, file_index, Bytes::Mapped(map));
        }
    }
    let mut data = Vec::new();
    file.read_to_end(&mut data).map_err(io_err)?;
    Input::from_bytes(path, file_index, data)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::super::writer::pcap_bytes;
    use super::super::{linktype, Frame, IssueKind};
    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    fn sample(n: usize) -> Vec<u8> {
        let pkts: Vec<(i64, Vec<u8>)> = (0..n)
            .map(|i| (1_700_000_000_000_000_000 + i as i64, vec![i as u8; 200]))
            .collect();
        pcap_bytes(linktype::ETHERNET, &pkts)
    }

    /// A file in the temp dir, removed when dropped.
    struct TempFile(std::path::PathBuf);
    impl TempFile {
        fn new(tag: &str, data: &[u8]) -> TempFile {
            let path = std::env::temp_dir().join(format!(
                "sipscope-capture-test-{}-{tag}",
                std::process::id()
            ));
            std::fs::write(&path, data).unwrap();
            TempFile(path)
        }
        fn path(&self) -> &str {
            self.0.to_str().unwrap()
        }
    }
    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    #[test]
    fn from_bytes_checks_magic_and_emptiness() {
        match Input::from_bytes("x", 0, b"GET / HTTP/1.1".to_vec()) {
            Err(CaptureError::NotACapture { magic, path }) => {
                assert_eq!(magic, "47 45 54 20");
                assert_eq!(path, "x");
            }
            other => panic!("unexpected {:?}", other.map(|i| i.name)),
        }
        match Input::from_bytes("short", 0, vec![0xab]) {
            Err(CaptureError::NotACapture { magic, .. }) => assert_eq!(magic, "ab"),
            other => panic!("unexpected {:?}", other.map(|i| i.name)),
        }
        assert!(matches!(
            Input::from_bytes("e", 0, Vec::new()),
            Err(CaptureError::Empty { .. })
        ));
        let input = Input::from_bytes("ok", 4, sample(2)).unwrap();
        assert!(!input.gzipped);
        let frames: Vec<Frame> = input.frames().map(|r| r.unwrap()).collect();
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[1].file, 4);
    }

    #[test]
    fn gzip_is_detected_by_magic_in_memory() {
        let plain = sample(5);
        let input = Input::from_bytes("capture.pcap", 0, gzip(&plain)).unwrap();
        assert!(input.gzipped);
        assert!(input.gzip_issue.is_none());
        assert_eq!(input.bytes(), plain.as_slice());
        assert_eq!(input.frames().count(), 5);
        // Two members one after the other are one stream.
        let (a, b) = plain.split_at(100);
        let mut two = gzip(a);
        two.extend_from_slice(&gzip(b));
        let input = Input::from_bytes("two", 0, two).unwrap();
        assert_eq!(input.bytes(), plain.as_slice());
    }

    #[test]
    fn gzip_inside_is_still_checked_for_a_capture_magic() {
        match Input::from_bytes("notes.txt.gz", 0, gzip(b"just some text")) {
            Err(CaptureError::NotACapture { magic, .. }) => assert_eq!(magic, "6a 75 73 74"),
            other => panic!("unexpected {:?}", other.map(|i| i.name)),
        }
    }

    #[test]
    fn broken_gzip_keeps_what_was_inflated() {
        // Incompressible payloads so that the compressed stream is long enough to cut in half.
        let mut x = 0x1234_5678u32;
        let pkts: Vec<(i64, Vec<u8>)> = (0..50)
            .map(|i| {
                let data = (0..300)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 17;
                        x ^= x << 5;
                        x as u8
                    })
                    .collect();
                (i, data)
            })
            .collect();
        let plain = pcap_bytes(linktype::ETHERNET, &pkts);
        let gz = gzip(&plain);
        let cut = &gz[..gz.len() / 2];
        let input = Input::from_bytes("cut.pcap.gz", 0, cut.to_vec()).unwrap();
        assert!(input.gzip_issue.is_some());
        let inflated = input.bytes();
        assert!(!inflated.is_empty() && inflated.len() < plain.len());
        assert_eq!(inflated, &plain[..inflated.len()]);
        let items: Vec<_> = input.frames().collect();
        let good = items.iter().filter(|r| r.is_ok()).count();
        assert!(good > 0 && good < 50, "{good} frames");
        // Unless the break falls exactly between records, the last item says truncated.
        if (inflated.len() - 24) % (16 + 300) != 0 {
            match items.last() {
                Some(Err(issue)) => assert_eq!(issue.kind, IssueKind::Truncated),
                other => panic!("expected truncation, got {other:?}"),
            }
        }
        // Nothing inflatable at all is an error.
        let garbage = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0xff, 0xff, 0xff, 0xff];
        assert!(matches!(
            Input::from_bytes("bad.gz", 0, garbage),
            Err(CaptureError::BadGzip { .. })
        ));
    }

    #[test]
    fn open_maps_files_and_detects_gzip_regardless_of_name() {
        let plain = sample(3);
        let f = TempFile::new("plain.pcap", &plain);
        let input = open(f.path(), 1).unwrap();
        assert_eq!(input.bytes(), plain.as_slice());
        assert_eq!(input.name, f.path());
        assert_eq!(input.frames().count(), 3);
        let g = TempFile::new("zipped.pcap", &gzip(&plain));
        let input = open(g.path(), 2).unwrap();
        assert!(input.gzipped);
        assert_eq!(input.frames().filter(|r| r.is_ok()).count(), 3);
        let e = TempFile::new("empty.pcap", b"");
        assert!(matches!(open(e.path(), 0), Err(CaptureError::Empty { .. })));
        assert!(matches!(
            open("/nonexistent/sipscope/none.pcap", 0),
            Err(CaptureError::Io { .. })
        ));
    }

    /// Frame counts of real captures, each compared with a count made independently: a
    /// throw-away Python script (struct.unpack over the 16-byte pcap record headers, or over
    /// pcapng block type/length pairs, counting block types 2, 3 and 6) run once by hand.
    #[test]
    fn real_captures_from_the_corpus() {
        let Some(dir) = crate::testdata::corpus_dir() else {
            eprintln!("!!!!!!!! the shared corpus is absent: real-capture test SKIPPED !!!!!!!!");
            return;
        };
        // (file, frames, link type of the first frame, first timestamp in ns) from the script.
        let cases: [(&str, usize, u32, i64); 6] = [
            (
                "heplify-sip-ipv6-udp.pcap",
                6,
                linktype::ETHERNET,
                1_328_589_362_251_758_000,
            ),
            (
                "sv-sip-body-large.pcap",
                16,
                linktype::NULL,
                1_782_243_452_934_517_000,
            ),
            (
                "goffinet-sip-488-not-acceptable-here.pcapng",
                13,
                linktype::ETHERNET,
                1_566_926_798_890_031_000,
            ),
            // if_tsresol 9 (nanoseconds) in its interface description.
            (
                "goffinet-uac-uas-scenario-sipp.pcapng",
                4618,
                linktype::ETHERNET,
                1_479_420_288_266_142_610,
            ),
            // A pcapng file despite its .pcap name; if_tsresol 6 given explicitly.
            (
                "ndpi-http-on-sip-port.pcap",
                4,
                linktype::ETHERNET,
                1_618_744_016_209_720_000,
            ),
            (
                "heplify-sip-ipv4-tcp-retrans.pcap",
                196,
                linktype::LINUX_SLL,
                1_507_433_574_088_315_000,
            ),
        ];
        for (name, count, lt, first_ts) in cases {
            let path = dir.join(name);
            let input = open(path.to_str().unwrap(), 0).unwrap();
            let items: Vec<_> = input.frames().collect();
            let frames: Vec<Frame> = items
                .iter()
                .filter_map(|r| r.as_ref().ok().copied())
                .collect();
            assert_eq!(frames.len(), items.len(), "{name}: issues {items:?}");
            assert_eq!(frames.len(), count, "{name}");
            assert_eq!(frames[0].linktype, lt, "{name}");
            assert_eq!(frames[0].ts_ns, first_ts, "{name}");
            assert_eq!(frames.last().unwrap().number, count as u64, "{name}");
        }
    }
}

#[cfg(test)]
mod bomb_tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn gzip_inflation_is_capped_and_said() {
        // 1 MB of zeros compresses to about a kilobyte: a small bomb against a small cap.
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&vec![0u8; 1 << 20]).unwrap();
        let raw = gz.finish().unwrap();
        let (out, why) = inflate_capped("bomb.gz", &raw, 64 * 1024).unwrap();
        assert_eq!(out.len(), 64 * 1024);
        assert!(why.unwrap().contains("only the first"));
        let (out, why) = inflate_capped("ok.gz", &raw, 2 << 20).unwrap();
        assert_eq!(out.len(), 1 << 20);
        assert!(why.is_none());
    }
}
