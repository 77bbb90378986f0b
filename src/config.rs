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

/// The optional TOML config file (`sage paths` shows where it lives):
///
/// ```toml
/// theme = "light"                 # default for --theme
/// [keys]                          # API keys by variable name, used when the environment lacks them
/// OPENAI_API_KEY = "sk-..."
/// [prices."my-local-model"]       # USD per million tokens; extends or replaces assets/prices.toml
/// input = 0.0
/// output = 0.0
/// [keymap]                        # TUI command name -> keys (see `?` in the TUI)
/// approve = ["y"]
/// ```
#[derive(Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Default colour theme for the TUI.
    pub theme: Option<String>,
    /// API keys by environment-variable name; never printed.
    #[serde(default)]
    pub keys: std::collections::BTreeMap<String, String>,
    /// Price overrides by model name.
    #[serde(default)]
    pub prices: std::collections::BTreeMap<String, crate::llm::Price>,
    /// TUI key bindings by command name.
    #[serde(default)]
    pub keymap: std::collections::BTreeMap<String, Vec<String>>,
}

impl std::fmt::Debug for ConfigFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigFile")
            .field("theme", &self.theme)
            .field("keys", &self.keys.keys().collect::<Vec<_>>())
            .field("prices", &self.prices)
            .field("keymap", &self.keymap)
            .finish()
    }
}

/// Why the config file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// It exists but cannot be read.
    #[error("could not read the config file {path}: {reason}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        reason: String,
    },
    /// It is not valid TOML for sage.
    #[error(
        "the config file {path} is invalid: {reason}; fix or remove it (`sage paths` shows where it is)"
    )]
    Invalid {
        /// The file.
        path: String,
        /// Where and what kind of problem: a line, the key on it, what was
        /// expected. Never a value from the file (see [`describe_toml_error`]).
        reason: String,
    },
}

impl ConfigFile {
    /// Reads the config file; a missing file is an empty config.
    pub fn load(path: &Path) -> Result<ConfigFile, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ConfigFile::default()),
            Err(e) => {
                return Err(ConfigError::Read {
                    path: path.display().to_string(),
                    reason: e.to_string(),
                });
            }
        };
        toml::from_str(&text).map_err(|e| ConfigError::Invalid {
            path: path.display().to_string(),
            reason: describe_toml_error(&e, &text),
        })
    }
}

/// A TOML error described without any value from the file. The parser's
/// own message quotes the offending value ("invalid type: string
/// \"sk-…\""), and a key pasted under the wrong table must not be printed,
/// so only the line, the key named on it, the table it is in and what was
/// expected are kept; messages about names (unknown or missing fields,
/// duplicate keys) are kept whole, since they quote keys, not values.
pub fn describe_toml_error(error: &toml::de::Error, text: &str) -> String {
    let message = error.message().trim();
    let about_names = ["unknown field", "missing field", "duplicate key"]
        .iter()
        .any(|p| message.starts_with(p));
    let what = if about_names {
        message.to_string()
    } else {
        match message.split_once(", expected ") {
            Some((_, expected)) => format!("the value has the wrong type (expected {expected})"),
            None => "the value or syntax is not valid here".to_string(),
        }
    };
    let Some(span) = error.span() else {
        return what;
    };
    let before = text.get(..span.start).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let table = before
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(|l| format!(" in {}]", l.split(']').next().unwrap_or(l)))
        .unwrap_or_default();
    let key = text
        .lines()
        .nth(line - 1)
        .and_then(|l| l.split_once('='))
        .map(|(k, _)| k.trim())
        .filter(|k| {
            !k.is_empty()
                && k.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-.\"' ".contains(c))
        })
        .map(|k| format!(", key `{k}`"))
        .unwrap_or_default();
    format!("line {line}{table}{key}: {what}")
}

#[cfg(test)]
mod config_file_tests {
    use super::*;

    #[test]
    fn a_missing_file_is_an_empty_config() {
        let dir = tempfile::tempdir().unwrap();
        let config = ConfigFile::load(&dir.path().join("config.toml")).unwrap();
        assert!(config.theme.is_none() && config.keys.is_empty() && config.keymap.is_empty());
    }

    #[test]
    fn tables_are_read_and_keys_never_printed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(
            &path,
            "theme = \"light\"\n[keys]\nOPENAI_API_KEY = \"sk-canary-123\"\n\
             [prices.\"m\"]\ninput = 1.0\noutput = 2.0\n[keymap]\napprove = [\"y\"]\n",
        )
        .unwrap();
        let config = ConfigFile::load(&path).unwrap();
        assert_eq!(config.theme.as_deref(), Some("light"));
        assert_eq!(config.keys["OPENAI_API_KEY"], "sk-canary-123");
        assert_eq!(config.prices["m"].output, 2.0);
        assert_eq!(config.keymap["approve"], vec!["y"]);
        assert!(!format!("{config:?}").contains("sk-canary-123"));
    }

    #[test]
    fn a_secret_under_the_wrong_table_is_never_echoed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        for text in [
            "[keymap]\nOPENAI_API_KEY = \"sk-canary-789\"\n",
            "[keys]\nOPENAI_API_KEY = [\"sk-canary-789\"]\n",
            "theme = [\"sk-canary-789\"]\n",
            "[prices.\"m\"]\ninput = \"sk-canary-789\"\noutput = 1.0\n",
            "[keys]\nOPENAI_API_KEY = \"sk-canary-789\n",
        ] {
            std::fs::write(&path, text).unwrap();
            let err = ConfigFile::load(&path).unwrap_err().to_string();
            assert!(!err.contains("sk-canary-789"), "{err}");
            assert!(err.contains("line "), "{err}");
        }
        std::fs::write(&path, "[keymap]\nOPENAI_API_KEY = \"sk-canary-789\"\n").unwrap();
        let err = ConfigFile::load(&path).unwrap_err().to_string();
        assert!(
            err.contains("line 2 in [keymap], key `OPENAI_API_KEY`"),
            "{err}"
        );
        assert!(err.contains("expected a sequence"), "{err}");
    }

    #[test]
    fn unknown_tables_are_an_error_naming_the_file_without_leaking_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(
            &path,
            "[keys]\nOPENAI_API_KEY = \"sk-canary-456\"\n[colours]\nx = 1\n",
        )
        .unwrap();
        let err = ConfigFile::load(&path).unwrap_err().to_string();
        assert!(err.contains("config.toml"), "{err}");
        assert!(!err.contains("sk-canary-456"), "{err}");
    }
}
