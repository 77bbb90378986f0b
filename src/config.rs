//! Where sage keeps its files: the config file and the data directory
//! (sessions, caches, the demo pack), following the platform conventions of
//! the `directories` crate, with environment overrides for tests and CI.

use std::path::{Path, PathBuf};

/// Environment variable that overrides the data directory (sessions, caches, demo pack).
pub const DATA_DIR_ENV: &str = "SAGE_DATA_DIR";
/// Environment variable that overrides the config file path.
pub const CONFIG_FILE_ENV: &str = "SAGE_CONFIG";

/// The resolved locations of sage's files on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    /// The TOML config file (it may not exist).
    pub config_file: PathBuf,
    /// Root of everything sage writes: sessions, caches, the demo pack.
    pub data_dir: PathBuf,
}

impl Paths {
    /// Resolves paths from the environment overrides, falling back to the
    /// platform's standard config and data directories.
    pub fn resolve() -> Paths {
        let dirs = directories::ProjectDirs::from("", "", "sage");
        let data_dir = std::env::var_os(DATA_DIR_ENV)
            .map(PathBuf::from)
            .or_else(|| dirs.as_ref().map(|d| d.data_dir().to_path_buf()))
            .unwrap_or_else(|| PathBuf::from(".sage"));
        let config_file = std::env::var_os(CONFIG_FILE_ENV)
            .map(PathBuf::from)
            .or_else(|| dirs.as_ref().map(|d| d.config_dir().join("config.toml")))
            .unwrap_or_else(|| data_dir.join("config.toml"));
        Paths {
            config_file,
            data_dir,
        }
    }

    /// Paths rooted at one directory; used by tests and by `--data-dir`.
    pub fn rooted_at(dir: &Path) -> Paths {
        Paths {
            config_file: dir.join("config.toml"),
            data_dir: dir.to_path_buf(),
        }
    }

    /// Directory holding one JSONL event log per session.
    pub fn sessions_dir(&self) -> PathBuf {
        self.data_dir.join("sessions")
    }

    /// Directory for caches (API responses, mined top examples).
    pub fn cache_dir(&self) -> PathBuf {
        self.data_dir.join("cache")
    }
}
