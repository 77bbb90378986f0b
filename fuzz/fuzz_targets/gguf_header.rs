//! Fuzz target `gguf_header`: `sage::fuzz_checks::gguf_header` on arbitrary bytes.
//! See `scripts/fuzz.sh`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| sage::fuzz_checks::gguf_header(data));
