//! Glue from inputs to located SIP messages, with the books kept.
