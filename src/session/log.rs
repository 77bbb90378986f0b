//! The append-only JSONL session log: one header line, then one line per
//! event, written whole and (by default) fsynced before the event is applied.
//!
//! Layout:
//! ```text
//! {"format":"sage-session","format_version":1,"session_id":"…","model":"…",…}
//! {"seq":1,"at_ms":1764000000000,"event":{…}}
//! {"seq":2,"at_ms":1764000000042,"event":{…}}
//! ```
//!
//! Reading never changes the file. A torn last line (the process died while
//! writing it, so it has no line end) is reported as a [`TornTail`] and left
//! out; [`LogWriter::resume`] cuts it off before appending. Any other bad
//! line, including a complete last one, is a [`LogError`] naming the line:
//! nothing is silently dropped.
//!
//! One writer per log: a [`LogWriter`] holds an exclusive advisory lock
//! (`flock`) on the file for its whole life and appends with `O_APPEND`, so a
//! second `sage resume`, the TUI beside `sage explain`, or `sage eval`
//! recording scores is refused with [`LogError::Locked`] instead of
//! interleaving lines. On Linux the refusal names the holder's pid, read
//! from `/proc/locks`; nothing is written beside the log, so a killed
//! writer leaves nothing stale behind (the kernel drops its lock).
//!
//! Every line is decoded again before it is written: a value JSON cannot
//! spell (NaN or infinity, which serde_json writes as `null`) is refused with
//! [`LogError::Unreadable`] and never reaches the file.
//!
//! The `load_log` fuzz target reaches this decoder through
//! `sage::fuzz_checks::session_log`.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Value of the header's `format` field: marks a file as a sage session log.
pub const FORMAT_NAME: &str = "sage-session";
/// The log format this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// The first line of every log: what the session explains and with what.
///
/// It deliberately has no field for credentials: the reasoner is recorded by
/// its spec string (`LlmClient::spec`, which never contains a key), and the
/// agent configuration `C` holds budgets and thresholds only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogHeader<C> {
    /// Always [`FORMAT_NAME`].
    pub format: String,
    /// Always [`FORMAT_VERSION`] for logs this build writes.
    pub format_version: u32,
    /// The session's id (also the file stem).
    pub session_id: String,
    /// Model identifier as the user named it.
    pub model: String,
    /// SAE identifier as the user named it.
    pub sae: String,
    /// TransformerLens hook name the SAE reads.
    pub hook: String,
    /// How to reopen the activation source; absent in logs written before
    /// sources were recorded (readers then guess from `model`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<SourceRecord>,
    /// The feature being explained.
    pub feature: u32,
    /// Reasoner spec (`heuristic`, `openai:MODEL`, …); never a key.
    pub reasoner: String,
    /// Seed the agent derives its held-out split and sampling from.
    pub seed: u64,
    /// Creation time, milliseconds since the Unix epoch.
    pub created_at_ms: u64,
    /// The agent configuration the session started with.
    pub config: C,
}

/// Which activation source a session ran against, in enough detail to
/// reopen it on resume. Holds names and URLs only, never a key: the
/// Neuronpedia base URL is stored without user info, query or fragment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SourceRecord {
    /// sage's built-in synthetic features.
    Synthetic,
    /// A model and SAE run on this machine.
    Local {
        /// Model path or repo id, as the user named it.
        model: String,
        /// SAE path or `release/sae_id`.
        sae: String,
        /// The text corpus exemplars were mined from, when one was given.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        corpus: Option<String>,
    },
    /// A Neuronpedia(-compatible) server.
    Neuronpedia {
        /// Neuronpedia model id.
        model_id: String,
        /// Neuronpedia SAE id.
        sae_id: String,
        /// The server's base URL; `None` means the public site.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        base_url: Option<String>,
    },
}

impl SourceRecord {
    /// A Neuronpedia record whose base URL is stripped of anything that
    /// could hold a credential (`user:secret@`, `?key=…`, `#…`).
    pub fn neuronpedia(model_id: &str, sae_id: &str, base_url: Option<&str>) -> SourceRecord {
        SourceRecord::Neuronpedia {
            model_id: model_id.to_string(),
            sae_id: sae_id.to_string(),
            base_url: base_url.map(without_credentials).filter(|u| !u.is_empty()),
        }
    }
}

/// `url` without user info, query and fragment.
fn without_credentials(url: &str) -> String {
    let url = url.trim();
    let url = url.split(['?', '#']).next().unwrap_or_default();
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, url),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    match scheme {
        Some(scheme) => format!("{scheme}://{host}{path}"),
        None => format!("{host}{path}"),
    }
}

/// One event line: sequence number (1-based, no gaps), driver time, payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogEntry<E> {
    /// Position of the event in the session, starting at 1.
    pub seq: u64,
    /// When the driver received it, milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// The event itself.
    pub event: E,
}

/// A torn final line that was left out: the caller can show it as a warning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    /// 1-based line number of the torn line.
    pub line: usize,
    /// Bytes it occupied (they are cut off when the log is resumed).
    pub bytes: usize,
    /// Why it was judged torn.
    pub reason: String,
}

impl std::fmt::Display for TornTail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the last line ({}, {} bytes) was torn by an interrupted write and was left out: {}",
            self.line, self.bytes, self.reason
        )
    }
}

/// A log as read from disk.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedLog<C, E> {
    /// The header line.
    pub header: LogHeader<C>,
    /// Every intact event, in order; `entries[i].seq == i + 1`.
    pub entries: Vec<LogEntry<E>>,
    /// Set when the last line was torn and left out.
    pub torn_tail: Option<TornTail>,
    /// Length in bytes of the intact prefix (header and entries).
    pub intact_len: u64,
}

/// Why a log could not be written or read. Messages name the line and say
/// what to do.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The file could not be opened, written, synced or read.
    #[error("session log {path}: {source}")]
    Io {
        /// The log file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A new log was requested where a file already exists.
    #[error("session log {0} already exists: choose another session id or resume it")]
    AlreadyExists(PathBuf),
    /// The file is empty: the session was created but nothing was written.
    #[error("the session log is empty (no header line): it was never started; delete it")]
    Empty,
    /// The header line is missing, torn or not a header.
    #[error("line 1 is not a valid session header: {0}")]
    BadHeader(String),
    /// The header names a format version this build does not read.
    #[error(
        "this session log has format version {found}, but this sage reads version {supported}: \
         open it with a sage release that writes version {found}"
    )]
    UnsupportedVersion {
        /// Version found in the file.
        found: u64,
        /// Version this build reads.
        supported: u32,
    },
    /// A complete (newline-terminated) line is not a valid event.
    #[error(
        "line {line} is corrupt ({reason}); it is a complete line with {after} line(s) after \
         it, so it is not a torn write: repair or truncate the file by hand"
    )]
    Corrupt {
        /// 1-based line number.
        line: usize,
        /// What was wrong with it.
        reason: String,
        /// How many lines come after it.
        after: usize,
    },
    /// An event's sequence number skips ahead: events are missing.
    #[error("line {line}: sequence number {found} skips ahead of {expected}: events are missing")]
    SeqGap {
        /// 1-based line number.
        line: usize,
        /// The sequence number that should be there.
        expected: u64,
        /// The one that is.
        found: u64,
    },
    /// An event's sequence number repeats or goes backwards.
    #[error(
        "line {line}: sequence number {found} repeats or goes back (expected {expected}): \
         events were duplicated or reordered"
    )]
    SeqDuplicate {
        /// 1-based line number.
        line: usize,
        /// The sequence number that should be there.
        expected: u64,
        /// The one that is.
        found: u64,
    },
    /// An event or header could not be encoded (a bug in its Serialize impl).
    #[error("could not encode a log line: {0}")]
    Encode(String),
    /// A line would not read back as what was written (a NaN or infinite
    /// number, which JSON writes as `null`); it was not written.
    #[error(
        "event {seq} was not written because it would not read back ({reason}): a number in it \
         is probably NaN or infinite; the log is unchanged"
    )]
    Unreadable {
        /// The sequence number the event would have had.
        seq: u64,
        /// What decoding the encoded line said.
        reason: String,
    },
    /// Another process holds this log open for writing.
    #[error(
        "session {id} is open in another sage process{}: wait for it to finish or stop it, \
         then retry",
        pid.map(|p| format!(", pid {p}")).unwrap_or_default()
    )]
    Locked {
        /// The session id (the file stem).
        id: String,
        /// The other writer's process id, when it recorded one.
        pid: Option<u32>,
    },
}

/// When appended events reach the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// fsync after every event: a crash loses at most the event being written.
    #[default]
    EveryEvent,
    /// fsync only when the writer is closed: faster, for throwaway runs.
    OnClose,
}

/// Parses a whole log from bytes. Pure: the fuzz target and [`read_log`]
/// share it.
pub fn parse_log<C, E>(bytes: &[u8]) -> Result<LoadedLog<C, E>, LogError>
where
    C: DeserializeOwned,
    E: DeserializeOwned,
{
    if bytes.is_empty() {
        return Err(LogError::Empty);
    }
    let lines = split_lines(bytes);
    let header_line = lines[0];
    if !header_line.terminated {
        return Err(LogError::BadHeader(
            "it has no line end: the session was interrupted while being created".into(),
        ));
    }
    let header = parse_header(header_line.text)?;
    let mut entries: Vec<LogEntry<E>> = Vec::with_capacity(lines.len() - 1);
    let mut torn_tail = None;
    let mut intact_len = header_line.len_with_end() as u64;
    let last = lines.len() - 1;
    for (index, line) in lines.iter().enumerate().skip(1) {
        let number = index + 1;
        let parsed = if line.terminated {
            serde_json::from_slice::<LogEntry<E>>(line.text).map_err(|e| e.to_string())
        } else {
            Err("it has no line end".to_string())
        };
        let entry = match parsed {
            Ok(entry) => entry,
            Err(reason) if index == last && line.is_torn_write() => {
                torn_tail = Some(TornTail {
                    line: number,
                    bytes: line.len_with_end(),
                    reason,
                });
                break;
            }
            Err(reason) => {
                return Err(LogError::Corrupt {
                    line: number,
                    reason,
                    after: last - index,
                });
            }
        };
        let expected = entries.len() as u64 + 1;
        if entry.seq > expected {
            return Err(LogError::SeqGap {
                line: number,
                expected,
                found: entry.seq,
            });
        }
        if entry.seq < expected {
            return Err(LogError::SeqDuplicate {
                line: number,
                expected,
                found: entry.seq,
            });
        }
        intact_len += line.len_with_end() as u64;
        entries.push(entry);
    }
    Ok(LoadedLog {
        header,
        entries,
        torn_tail,
        intact_len,
    })
}

/// Reads a log file without changing it.
pub fn read_log<C, E>(path: &Path) -> Result<LoadedLog<C, E>, LogError>
where
    C: DeserializeOwned,
    E: DeserializeOwned,
{
    let bytes = std::fs::read(path).map_err(|source| io_error(path, source))?;
    parse_log(&bytes)
}

/// Reads only the header of a log (for listing sessions cheaply).
pub fn read_header<C: DeserializeOwned>(path: &Path) -> Result<LogHeader<C>, LogError> {
    use std::io::BufRead;
    let file = File::open(path).map_err(|source| io_error(path, source))?;
    let mut first = Vec::new();
    std::io::BufReader::new(file)
        .read_until(b'\n', &mut first)
        .map_err(|source| io_error(path, source))?;
    if first.is_empty() {
        return Err(LogError::Empty);
    }
    if first.pop() != Some(b'\n') {
        return Err(LogError::BadHeader(
            "it has no line end: the session was interrupted while being created".into(),
        ));
    }
    parse_header(&first)
}

/// Appends events to one session's log; the only way sage writes one.
/// Holds the log's exclusive lock until dropped or closed.
#[derive(Debug)]
pub struct LogWriter {
    file: File,
    path: PathBuf,
    next_seq: u64,
    durability: Durability,
}

/// Takes the log's exclusive lock without waiting; refuses with
/// [`LogError::Locked`] when another writer holds it.
fn lock_exclusive(file: &File, path: &Path) -> Result<(), LogError> {
    match file.try_lock() {
        Ok(()) => Ok(()),
        Err(std::fs::TryLockError::WouldBlock) => Err(LogError::Locked {
            id: session_id_of(path),
            pid: lock_holder(file),
        }),
        Err(std::fs::TryLockError::Error(source)) => Err(io_error(path, source)),
    }
}

/// The pid holding a `flock` on `file`, from `/proc/locks` (Linux only; a
/// best effort that only improves the refusal message).
#[cfg(target_os = "linux")]
fn lock_holder(file: &File) -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    let inode = file.metadata().ok()?.ino();
    let table = std::fs::read_to_string("/proc/locks").ok()?;
    table.lines().find_map(|line| {
        // `1: FLOCK  ADVISORY  WRITE 4242 fd:01:1234567 0 EOF`; waiters
        // have a `->` field and are skipped.
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.get(1) != Some(&"FLOCK") {
            return None;
        }
        let holder_inode = fields.get(5)?.rsplit(':').next()?.parse::<u64>().ok()?;
        (holder_inode == inode).then(|| fields.get(4)?.parse().ok())?
    })
}

#[cfg(not(target_os = "linux"))]
fn lock_holder(_file: &File) -> Option<u32> {
    None
}

fn session_id_of(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

impl LogWriter {
    /// Creates a new log with its header line; fails if the file exists.
    pub fn create<C: Serialize>(
        path: &Path,
        header: &LogHeader<C>,
        durability: Durability,
    ) -> Result<LogWriter, LogError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| io_error(dir, source))?;
        }
        let file = OpenOptions::new()
            .append(true)
            .create_new(true)
            .open(path)
            .map_err(|source| match source.kind() {
                std::io::ErrorKind::AlreadyExists => LogError::AlreadyExists(path.to_path_buf()),
                _ => io_error(path, source),
            })?;
        lock_exclusive(&file, path)?;
        let mut writer = LogWriter {
            file,
            path: path.to_path_buf(),
            next_seq: 1,
            durability,
        };
        let line = encode_line(header)?;
        writer.write_line(&line)?;
        // The header must survive even under OnClose: without it nothing reads.
        writer.sync()?;
        sync_parent_dir(path);
        Ok(writer)
    }

    /// Opens an existing log to continue it: takes its lock, reads it, cuts
    /// off a torn last line, and appends after the last intact event.
    pub fn resume<C, E>(
        path: &Path,
        durability: Durability,
    ) -> Result<(LoadedLog<C, E>, LogWriter), LogError>
    where
        C: DeserializeOwned,
        E: DeserializeOwned,
    {
        use std::io::Read;
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .open(path)
            .map_err(|source| io_error(path, source))?;
        lock_exclusive(&file, path)?;
        // Read through the locked handle, so no other writer can have
        // appended between reading and writing.
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)
            .map_err(|source| io_error(path, source))?;
        let log = parse_log::<C, E>(&bytes)?;
        if log.torn_tail.is_some() {
            file.set_len(log.intact_len)
                .and_then(|()| file.sync_all())
                .map_err(|source| io_error(path, source))?;
        }
        let writer = LogWriter {
            file,
            path: path.to_path_buf(),
            next_seq: log.entries.len() as u64 + 1,
            durability,
        };
        Ok((log, writer))
    }

    /// Appends one event as a single line written with one write call, and
    /// syncs it when the durability asks for that. Returns its sequence
    /// number. A line that would not decode back is refused unwritten.
    pub fn append<E>(&mut self, at_ms: u64, event: &E) -> Result<u64, LogError>
    where
        E: Serialize + DeserializeOwned,
    {
        let seq = self.next_seq;
        let line = encode_line(&LogEntry { seq, at_ms, event })?;
        if let Err(e) = serde_json::from_slice::<LogEntry<E>>(&line) {
            return Err(LogError::Unreadable {
                seq,
                reason: e.to_string(),
            });
        }
        self.write_line(&line)?;
        if self.durability == Durability::EveryEvent {
            self.sync()?;
        }
        self.next_seq += 1;
        Ok(seq)
    }

    /// Number of events in the log so far.
    pub fn len(&self) -> u64 {
        self.next_seq - 1
    }

    /// Whether no event has been appended yet.
    pub fn is_empty(&self) -> bool {
        self.next_seq == 1
    }

    /// The file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The session id: the log's file stem.
    pub fn session_id(&self) -> String {
        session_id_of(&self.path)
    }

    /// Syncs everything written so far and closes the file.
    pub fn close(self) -> Result<(), LogError> {
        self.sync()
    }

    fn write_line(&mut self, line: &[u8]) -> Result<(), LogError> {
        // `write_all` issues one write(2) for a regular file unless the
        // kernel returns short, which it does only on a full disk or signal;
        // O_APPEND puts it at the end whatever the file offset.
        self.file
            .write_all(line)
            .map_err(|source| io_error(&self.path, source))
    }

    fn sync(&self) -> Result<(), LogError> {
        self.file
            .sync_data()
            .map_err(|source| io_error(&self.path, source))
    }
}

/// One line of the file with whether it ended in `\n`.
#[derive(Clone, Copy)]
struct RawLine<'a> {
    text: &'a [u8],
    terminated: bool,
}

impl RawLine<'_> {
    fn len_with_end(&self) -> usize {
        self.text.len() + usize::from(self.terminated)
    }

    /// What an interrupted write leaves: a line without its end, or only
    /// NUL bytes (a crash after the size grew but before the data landed;
    /// sage never writes a NUL, JSON escapes it). A complete line of
    /// anything else is data and is never cut off.
    fn is_torn_write(&self) -> bool {
        !self.terminated || self.text.iter().all(|&b| b == 0)
    }
}

/// Splits on `\n`; a trailing newline does not make an empty final line.
fn split_lines(bytes: &[u8]) -> Vec<RawLine<'_>> {
    let mut lines = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        match rest.iter().position(|&b| b == b'\n') {
            Some(end) => {
                lines.push(RawLine {
                    text: &rest[..end],
                    terminated: true,
                });
                rest = &rest[end + 1..];
            }
            None => {
                lines.push(RawLine {
                    text: rest,
                    terminated: false,
                });
                rest = &[];
            }
        }
    }
    lines
}

fn parse_header<C: DeserializeOwned>(text: &[u8]) -> Result<LogHeader<C>, LogError> {
    let value: serde_json::Value =
        serde_json::from_slice(text).map_err(|e| LogError::BadHeader(e.to_string()))?;
    if value.get("format").and_then(|f| f.as_str()) != Some(FORMAT_NAME) {
        return Err(LogError::BadHeader(format!(
            "it does not say `\"format\":\"{FORMAT_NAME}\"`: this is not a sage session log"
        )));
    }
    let found = value
        .get("format_version")
        .and_then(|v| v.as_u64())
        .ok_or_else(|| LogError::BadHeader("it has no numeric `format_version`".into()))?;
    if found != u64::from(FORMAT_VERSION) {
        return Err(LogError::UnsupportedVersion {
            found,
            supported: FORMAT_VERSION,
        });
    }
    serde_json::from_value(value).map_err(|e| LogError::BadHeader(e.to_string()))
}

fn encode_line<T: Serialize>(value: &T) -> Result<Vec<u8>, LogError> {
    let mut line = serde_json::to_vec(value).map_err(|e| LogError::Encode(e.to_string()))?;
    line.push(b'\n');
    Ok(line)
}

fn io_error(path: &Path, source: std::io::Error) -> LogError {
    LogError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Makes a newly created file's directory entry durable. Best effort: some
/// platforms cannot open directories, and the data itself is already synced.
fn sync_parent_dir(path: &Path) {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && let Ok(handle) = File::open(dir)
    {
        let _ = handle.sync_all();
    }
}
