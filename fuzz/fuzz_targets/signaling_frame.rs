#![no_main]
//! See `checks_signaling::signaling_frame`.

#[path = "../checks_signaling.rs"]
mod checks_signaling;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks_signaling::signaling_frame(data));
