//! Sessions: every agent run is an append-only event log that can be
//! resumed after a crash, replayed offline step by step, and exported as a
//! report.

pub mod driver;
pub mod fold;
pub mod log;
pub mod replay;
pub mod report;
pub mod run;
pub mod store;

pub use driver::{DriveError, DriveOutcome, Driver, Instruments, now_ms};
pub use fold::{Fold, Machine};
pub use log::{
    Durability, FORMAT_NAME, FORMAT_VERSION, LoadedLog, LogEntry, LogError, LogHeader, LogWriter,
    SourceRecord, TornTail, parse_log, read_header, read_log,
};
pub use replay::replay;
pub use report::{REPORT_SCHEMA_VERSION, Report, SessionStatus};
pub use run::{Controls, NewSession, SessionError, SessionRun};
pub use store::{SessionLog, SessionStore, StoreError};
