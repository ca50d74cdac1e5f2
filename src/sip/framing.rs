//! From payloads to SIP messages (placeholder until the framing branch lands).
use super::SipMessage;
use crate::net::Delivery;
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadClass {
    Sip,
    WebSocketSip,
    Tls,
    NotSip(&'static str),
}
pub struct Framer;
impl Framer {
    pub fn new(_max: usize) -> Self {
        Framer
    }
    pub fn push(&mut self, _d: &Delivery<'_>, _emit: &mut dyn FnMut(SipMessage)) -> PayloadClass {
        PayloadClass::NotSip("x")
    }
    pub fn finish(&mut self, _emit: &mut dyn FnMut(SipMessage)) {}
}
