//! Sessions: every agent run is an append-only event log that can be
//! resumed after a crash and replayed offline step by step (reports built
//! from a log are rendered in [`crate::report`]).

pub mod driver;
pub mod fold;
mod interrupted;
pub mod log;
pub mod replay;
pub mod run;
pub mod store;

pub use driver::{DriveError, DriveOutcome, Driver, Instruments, now_ms};
pub use fold::{Fold, Machine};
pub use interrupted::{ResumeQuery, interrupted_session};
pub use log::{
    Durability, FORMAT_NAME, FORMAT_VERSION, LoadedLog, LogEntry, LogError, LogHeader, LogWriter,
    SourceRecord, TornTail, parse_log, read_header, read_log,
};
pub use replay::replay;
pub use run::{Controls, NewSession, SessionError, SessionRun};
pub use store::{SessionLog, SessionStore, StoreError};
