//! Sessions: every agent run is an append-only event log that can be
//! resumed after a crash and replayed offline, step by step.

pub mod log;

pub use log::{
    Durability, FORMAT_VERSION, LoadedLog, LogEntry, LogError, LogHeader, LogWriter, TornTail,
    parse_log, read_header, read_log,
};
