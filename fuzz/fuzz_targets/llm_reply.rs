//! Fuzz target `llm_reply`: `sage::fuzz_checks::llm_reply` on arbitrary bytes.
//! See `scripts/fuzz.sh`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| sage::fuzz_checks::llm_reply(data));
