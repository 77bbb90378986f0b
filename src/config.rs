//! Where sage keeps its files: the config file and the data directory
//! (sessions, caches, the demo pack), following the platform conventions of
//! the `directories` crate, with environment overrides for tests and CI.

use std::path::{Path, PathBuf};

/// Environment variable that overrides the data directory (sessions, caches, demo pack).
pub const DATA_DIR_ENV: &str = "SAGE_DATA_DIR";
/// File name of the demo model (SmolLM2-135M-Instruct, Q4_1 GGUF) that
/// `scripts/install-demo-pack.sh` places in the data directory's `demo/`.
pub const DEMO_MODEL_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";
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

    /// Directory holding the installed demo pack.
    pub fn demo_dir(&self) -> PathBuf {
        self.data_dir.join("demo")
    }

    /// Where the demo model lives once `scripts/install-demo-pack.sh` has run.
    pub fn demo_model(&self) -> PathBuf {
        self.demo_dir().join(DEMO_MODEL_FILE)
    }

    /// Directory for caches (API responses, mined top examples).
    pub fn cache_dir(&self) -> PathBuf {
        self.data_dir.join("cache")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_model_path_is_where_the_install_script_puts_it() {
        let paths = Paths::rooted_at(Path::new("/data/sage"));
        assert_eq!(
            paths.demo_model(),
            Path::new("/data/sage/demo/SmolLM2-135M-Instruct.Q4_1.gguf")
        );
        let script = include_str!("../scripts/install-demo-pack.sh");
        assert!(script.contains(&format!("MODEL_FILE=\"{DEMO_MODEL_FILE}\"")));
        assert!(script.contains("demo_dir=\"$data_dir/demo\""));
        assert!(script.contains("${SAGE_DATA_DIR:-"));
    }
}
