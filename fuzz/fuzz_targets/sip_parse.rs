//! Fuzz target: the tolerant SIP parser, every accessor, and SDP, on arbitrary bytes. Besides
//! "no panic", every slice an accessor returns must lie inside the input, and the quick head
//! reader, where it does not decline, must report what the parser found.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "spans.rs"]
mod spans;

fuzz_target!(|data: &[u8]| {
    let msg = sipscope::sip::parse(data);
    spans::check_message(&msg);
    // The scratch-reusing entry point must agree with the plain one.
    let again = sipscope::sip::parse_with(data, msg.clone().into_scratch());
    assert_eq!(again.header_count(), msg.header_count());
    assert_eq!(again.body_range(), msg.body_range());
    assert_eq!(again.anomalies(), msg.anomalies());
    // The quick head reader: when it takes the bytes, what the parser found.
    if let Err(e) = spans::quick_agrees(&msg) {
        panic!("{e}");
    }
    // The same bytes read as an SDP body on their own.
    spans::check_sdp_alone(data);
});
