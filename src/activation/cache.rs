//! A content-addressed on-disk cache of byte blobs.
//!
//! Remote activation sources are slow, rate-limited and sometimes paid for:
//! a response fetched once should never be fetched again. Mined exemplars
//! are expensive too. Both are stored here under a key derived from what
//! was asked, written atomically (temp file + rename) so a crash or Ctrl-C
//! can never leave a half-written entry that a later run would trust.

use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// A directory of cached blobs, one file per key.
#[derive(Debug, Clone)]
pub struct DiskCache {
    dir: PathBuf,
    extension: &'static str,
}

impl DiskCache {
    /// A cache rooted at `dir` whose entries end in `.{extension}`; the
    /// directory is created on the first write.
    pub fn new(dir: impl Into<PathBuf>, extension: &'static str) -> DiskCache {
        DiskCache {
            dir: dir.into(),
            extension,
        }
    }

    /// The directory entries live in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the entry for `key` lives (it may not exist). Entries are
    /// spread over 256 subdirectories so no directory grows huge.
    pub fn path_for(&self, key: &CacheKey) -> PathBuf {
        self.dir
            .join(&key.0[..2])
            .join(format!("{}.{}", key.0, self.extension))
    }

    /// The cached bytes for `key`, or `None` when absent or unreadable (an
    /// unreadable entry is treated as a miss: it will be rewritten).
    pub fn get(&self, key: &CacheKey) -> Option<Vec<u8>> {
        std::fs::read(self.path_for(key)).ok()
    }

    /// Stores `bytes` under `key`, atomically.
    pub fn put(&self, key: &CacheKey, bytes: &[u8]) -> std::io::Result<()> {
        write_atomic(&self.path_for(key), bytes)
    }

    /// Stores `value` as JSON under `key`, atomically, streamed to disk.
    pub fn put_json<T: serde::Serialize>(&self, key: &CacheKey, value: &T) -> std::io::Result<()> {
        write_json_atomic(&self.path_for(key), value)
    }

    /// Deletes the entry for `key` if present.
    pub fn remove(&self, key: &CacheKey) -> std::io::Result<()> {
        match std::fs::remove_file(self.path_for(key)) {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => Err(err),
            _ => Ok(()),
        }
    }
}

/// A cache key: the lowercase hex SHA-256 of everything that identifies
/// the cached value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheKey(String);

impl CacheKey {
    /// Hashes the parts in order. Each part is length-prefixed, so
    /// `["ab", "c"]` and `["a", "bc"]` give different keys.
    pub fn from_parts<I, P>(parts: I) -> CacheKey
    where
        I: IntoIterator<Item = P>,
        P: AsRef<[u8]>,
    {
        let mut hasher = Sha256::new();
        for part in parts {
            let part = part.as_ref();
            hasher.update((part.len() as u64).to_le_bytes());
            hasher.update(part);
        }
        let digest = hasher.finalize();
        CacheKey(digest.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// The hex digest.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Writes `bytes` to `path` so that readers see either the old file or the
/// complete new one: write a sibling temp file, flush it, then rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomic_with(path, |out| out.write_all(bytes))
}

/// Writes `value` as JSON to `path`, atomically, streaming it to the file
/// rather than building the whole text in memory first (mining results
/// over thousands of features run to gigabytes).
pub fn write_json_atomic<T: serde::Serialize>(path: &Path, value: &T) -> std::io::Result<()> {
    write_atomic_with(path, |out| {
        serde_json::to_writer(&mut *out, value).map_err(std::io::Error::other)
    })
}

/// The atomic write itself: `write` fills a buffered sibling temp file,
/// which is flushed, synced and renamed over `path`.
fn write_atomic_with(
    path: &Path,
    write: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    std::fs::create_dir_all(dir)?;
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{file_name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut out = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
        write(&mut out)?;
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_is_sha256_of_length_prefixed_parts() {
        // sha256 of (u64 LE 3) ++ "abc", computed with Python's hashlib:
        // hashlib.sha256((3).to_bytes(8, "little") + b"abc").hexdigest()
        let key = CacheKey::from_parts(["abc"]);
        assert_eq!(
            key.as_str(),
            "ce91dc5eec0139adf091900d225971d6ad246a845bad791b5693a9d0d55dd391"
        );
    }

    #[test]
    fn part_boundaries_change_the_key() {
        assert_ne!(
            CacheKey::from_parts(["ab", "c"]),
            CacheKey::from_parts(["a", "bc"])
        );
    }

    #[test]
    fn put_then_get_round_trips_and_leaves_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DiskCache::new(dir.path().join("c"), "json");
        let key = CacheKey::from_parts(["k"]);
        assert_eq!(cache.get(&key), None);
        cache.put(&key, b"{\"a\":1}").unwrap();
        cache.put(&key, b"{\"a\":2}").unwrap();
        assert_eq!(cache.get(&key).as_deref(), Some(&b"{\"a\":2}"[..]));
        let shard = cache.path_for(&key).parent().unwrap().to_path_buf();
        let names: Vec<_> = std::fs::read_dir(shard)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec![format!("{}.json", key.as_str())]);
        cache.remove(&key).unwrap();
        assert_eq!(cache.get(&key), None);
        cache.remove(&key).unwrap();
    }
}
