//! Fuzz target `retry_after`: `sage::fuzz_checks::retry_after` on arbitrary bytes.
//! See `scripts/fuzz.sh`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| sage::fuzz_checks::retry_after(data));
