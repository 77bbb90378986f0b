//! Fuzz target `usage`: `sage::fuzz_checks::usage` on arbitrary bytes.
//! See `scripts/fuzz.sh`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| sage::fuzz_checks::usage(data));
