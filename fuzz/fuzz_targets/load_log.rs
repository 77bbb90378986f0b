//! Fuzzes the session-log loader: any bytes must load or fail with a typed
//! error, never panic. The loader file is compiled here directly (it needs
//! only serde and thiserror) so fuzzing does not instrument the model stack.
//!
//! Run with cargo-fuzz: `cargo +nightly fuzz run load_log`. Without it, the
//! same build by hand (what produced the committed corpus picks), from
//! `fuzz/`:
//! ```text
//! RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
//!   -Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
//!   -Cllvm-args=-sanitizer-coverage-pc-table \
//!   -Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing \
//!   -Zsanitizer=address -Cdebug-assertions" \
//!   cargo +nightly build --release --target x86_64-unknown-linux-gnu --bin load_log
//! ./target/x86_64-unknown-linux-gnu/release/load_log corpus/load_log \
//!   -artifact_prefix=artifacts/load_log/ -max_total_time=300 -max_len=4096
//! ```
//! Copy every crashing input to `tests/fixtures/fuzz_regressions/crash-*`.

#![no_main]

#[path = "../../src/session/log.rs"]
#[allow(dead_code)]
mod log;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(loaded) = log::parse_log::<serde_json::Value, serde_json::Value>(data) {
        // Whatever loads must be self-consistent.
        assert!(loaded.intact_len as usize <= data.len());
        for (i, entry) in loaded.entries.iter().enumerate() {
            assert_eq!(entry.seq, i as u64 + 1);
        }
    }
});
