//! Fuzz target `neuronpedia`: `sage::fuzz_checks::neuronpedia` on arbitrary bytes.
//! See `scripts/fuzz.sh`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| sage::fuzz_checks::neuronpedia(data));
