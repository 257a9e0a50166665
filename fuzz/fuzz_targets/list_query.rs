#![no_main]
// See fuzz/src/lib.rs: ordergate_fuzz::list_query is what this target runs, and what
// tests/fuzz_regressions.rs replays on stable.

libfuzzer_sys::fuzz_target!(|data: &[u8]| ordergate_fuzz::list_query(data));
