#![no_main]
// See fuzz/src/lib.rs: ordergate_fuzz::decode_form is what this target runs, and what
// tests/fuzz_regressions.rs replays on stable.

libfuzzer_sys::fuzz_target!(|data: &[u8]| ordergate_fuzz::decode_form(data));
