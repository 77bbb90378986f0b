//! Fuzz target `config_toml`: `sage::fuzz_checks::config_toml` on arbitrary bytes.
//! See `scripts/fuzz.sh`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| sage::fuzz_checks::config_toml(data));
