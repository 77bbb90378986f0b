//! Fuzzes the session-log decoder with the real header and event types,
//! and replays what it decodes through the agent into a report
//! (`sage::fuzz_checks::session_log`). See `scripts/fuzz.sh`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| sage::fuzz_checks::session_log(data));
