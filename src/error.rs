//! Fatal errors: the ones that stop a command. Defects of the input are not errors; they travel
//! with the data (capture issues, anomalies) and are reported.

use crate::capture::CaptureError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Capture(#[from] CaptureError),
    #[error("no frame could be read from any input")]
    NothingRead,
    #[error("{0}")]
    Usage(String),
    #[error("writing output: {0}")]
    Output(#[from] std::io::Error),
}
