#![no_main]
//! See `checks::reassembler`.

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::reassembler(data));
