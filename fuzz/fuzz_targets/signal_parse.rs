#![no_main]
//! See `checks::signal_parse`.

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::signal_parse(data));
