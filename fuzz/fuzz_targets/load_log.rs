//! Fuzzes the session-log loader: any bytes must load or fail with a typed
//! error, never panic. The loader file is compiled here directly (it needs
//! only serde and thiserror) so fuzzing does not instrument the model stack.
//!
//! Run: `cargo +nightly fuzz run load_log` from the repository root. Copy
//! every crashing input to `tests/fixtures/fuzz_regressions/`.

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
