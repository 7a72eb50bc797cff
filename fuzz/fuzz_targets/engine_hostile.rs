#![no_main]
//! See `checks::engine_hostile`.

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::engine_hostile(data));
