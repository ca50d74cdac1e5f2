//! The tolerant SIP parser: start line, headers, body; never fails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Anomaly {}
pub struct Message<'a> {
    pub raw: &'a [u8],
}
pub enum StartLine {}
pub fn parse(raw: &[u8]) -> Message<'_> {
    Message { raw }
}
