//! Where session logs live and what they are called: one
//! `<id>.jsonl` per session in the data dir's `sessions/` folder, with ids
//! that sort by creation time and say which feature they explain.

use std::path::{Path, PathBuf};

use super::log::{Durability, LoadedLog, LogError, LogHeader, LogWriter, read_log};
use crate::agent::{AgentConfig, Event};

/// A session log as sage writes it.
pub type SessionLog = LoadedLog<AgentConfig, Event>;

/// Why a session could not be found or named.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The id has characters that could escape the sessions folder.
    #[error(
        "`{0}` is not a session id: ids use letters, digits, `-`, `_` and `.` only (see `sage sessions`)"
    )]
    BadId(String),
    /// No log has this id.
    #[error("no session `{id}` in {dir}: list them with `sage sessions`")]
    NotFound {
        /// The id asked for.
        id: String,
        /// The folder searched.
        dir: PathBuf,
    },
    /// The sessions folder could not be read.
    #[error("could not read the sessions folder {dir}: {source}")]
    Io {
        /// The folder.
        dir: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The log itself failed.
    #[error(transparent)]
    Log(#[from] LogError),
}

/// Suffixes tried when several sessions of one feature start in one second.
const MAX_ID_ATTEMPTS: u32 = 1000;

/// The folder of session logs.
#[derive(Debug, Clone)]
pub struct SessionStore {
    dir: PathBuf,
}

impl SessionStore {
    /// A store over `dir` (created on first write).
    pub fn new(dir: impl Into<PathBuf>) -> SessionStore {
        SessionStore { dir: dir.into() }
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The log path of an existing session.
    pub fn existing(&self, id: &str) -> Result<PathBuf, StoreError> {
        let path = self.path_of(id)?;
        if path.is_file() {
            Ok(path)
        } else {
            Err(StoreError::NotFound {
                id: id.to_string(),
                dir: self.dir.clone(),
            })
        }
    }

    /// Creates a new session log, choosing a fresh id from the header's
    /// creation time and feature (`20261125-140211-f1337`, then `-2`, … on
    /// collision). The header's `session_id` is set to it.
    pub fn create(
        &self,
        mut header: LogHeader<AgentConfig>,
        durability: Durability,
    ) -> Result<LogWriter, StoreError> {
        let base = format!(
            "{}-f{}",
            timestamp_name(header.created_at_ms),
            header.feature
        );
        for attempt in 1..=MAX_ID_ATTEMPTS {
            let id = if attempt == 1 {
                base.clone()
            } else {
                format!("{base}-{attempt}")
            };
            header.session_id = id.clone();
            match LogWriter::create(&self.path_of(&id)?, &header, durability) {
                Err(LogError::AlreadyExists(_)) => continue,
                other => return Ok(other?),
            }
        }
        Err(LogError::AlreadyExists(self.path_of(&base)?).into())
    }

    /// Opens an existing session's log to append to it: the one writer,
    /// holding the log's lock (see [`LogWriter`]). Returns what the log
    /// holds (a torn tail already cut off) and the writer.
    pub fn reopen(
        &self,
        id: &str,
        durability: Durability,
    ) -> Result<(SessionLog, LogWriter), StoreError> {
        Ok(LogWriter::resume(&self.existing(id)?, durability)?)
    }

    /// Reads an existing session's log (without changing it).
    pub fn load(&self, id: &str) -> Result<SessionLog, StoreError> {
        Ok(read_log(&self.existing(id)?)?)
    }

    /// Every session id in the folder, oldest first.
    pub fn ids(&self) -> Result<Vec<String>, StoreError> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(StoreError::Io {
                    dir: self.dir.clone(),
                    source,
                });
            }
        };
        let mut ids: Vec<String> = entries
            .filter_map(Result::ok)
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                name.strip_suffix(".jsonl").map(str::to_string)
            })
            .collect();
        ids.sort();
        Ok(ids)
    }

    fn path_of(&self, id: &str) -> Result<PathBuf, StoreError> {
        let valid = !id.is_empty()
            && !id.starts_with('.')
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if valid {
            Ok(self.dir.join(format!("{id}.jsonl")))
        } else {
            Err(StoreError::BadId(id.to_string()))
        }
    }
}

/// `YYYYMMDD-HHMMSS` (UTC) of a Unix time in milliseconds.
pub fn timestamp_name(unix_ms: u64) -> String {
    let secs = unix_ms / 1000;
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    format!(
        "{year:04}{month:02}{day:02}-{:02}{:02}{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day), after
/// Howard Hinnant's `civil_from_days`.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_name_known_dates() {
        assert_eq!(timestamp_name(0), "19700101-000000");
        // 2026-11-25T13:34:34Z, as `date -u -d @1795613674` prints it.
        assert_eq!(timestamp_name(1_795_613_674_000), "20261125-133434");
        // A leap day.
        assert_eq!(timestamp_name(951_782_400_000), "20000229-000000");
    }

    #[test]
    fn ids_that_could_escape_the_folder_are_refused() {
        let store = SessionStore::new("/tmp/sessions");
        for bad in ["../x", "a/b", "", ".hidden", "a b"] {
            assert!(
                matches!(store.existing(bad), Err(StoreError::BadId(_))),
                "{bad}"
            );
        }
    }
}
