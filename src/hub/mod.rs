//! Hugging Face repo ids (`gpt2`, `HuggingFaceTB/SmolLM2-135M`) resolved to
//! model files through the shared Hugging Face cache, so weights Python
//! tools already downloaded are reused and new ones land where they expect.
//!
//! The environment is read the way `huggingface_hub` reads it: `HF_HUB_CACHE`
//! or `$HF_HOME/hub` for the cache, `HF_ENDPOINT` for the server,
//! `HF_HUB_OFFLINE` for cache-only, `HF_TOKEN` (or the cached login) for
//! gated repos. [`HubSettings`] holds those values explicitly so callers and
//! tests can point at another cache or server without touching the process
//! environment.
//!
//! The hub only resolves names to local files; loading them is the tensor
//! crate's job, and [`crate::open`] does resolve-then-load.

pub mod registry;
pub mod sae;

use std::path::{Path, PathBuf};

use hf_hub::api::tokio::{Api, ApiBuilder, ApiError, ApiRepo};
use hf_hub::{Cache, CacheRepo, Repo};

use crate::model::shards::shard_names;

/// The server used when `HF_ENDPOINT` is not set.
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// Where the hub cache is, which server to ask, and whether asking is allowed.
#[derive(Clone, PartialEq, Eq)]
pub struct HubSettings {
    /// The hub cache directory (`models--org--name/` folders live here).
    pub cache_dir: PathBuf,
    /// Base URL of the hub server.
    pub endpoint: String,
    /// Only read the cache; never touch the network.
    pub offline: bool,
    /// Access token for gated or private repos; never printed.
    pub token: Option<String>,
    /// Draw download progress bars on stderr.
    pub progress: bool,
}

impl std::fmt::Debug for HubSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubSettings")
            .field("cache_dir", &self.cache_dir)
            .field("endpoint", &self.endpoint)
            .field("offline", &self.offline)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("progress", &self.progress)
            .finish()
    }
}

impl HubSettings {
    /// Settings from the process environment, as Python's `huggingface_hub` reads it.
    pub fn from_env() -> HubSettings {
        HubSettings::from_vars(|key| std::env::var(key).ok())
    }

    /// Settings from any variable lookup (the process environment, or a map in tests).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> HubSettings {
        let set = |key: &str| var(key).filter(|v| !v.is_empty());
        let home = set("HF_HOME").map(PathBuf::from).unwrap_or_else(|| {
            let base = set("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .or_else(|| set("HOME").map(|h| Path::new(&h).join(".cache")))
                .unwrap_or_else(|| PathBuf::from(".cache"));
            base.join("huggingface")
        });
        let cache_dir = set("HF_HUB_CACHE")
            .map(PathBuf::from)
            .unwrap_or_else(|| home.join("hub"));
        let offline = set("HF_HUB_OFFLINE").is_some_and(|v| {
            matches!(v.to_ascii_uppercase().as_str(), "1" | "ON" | "YES" | "TRUE")
        });
        // `huggingface-cli login` stores the token at $HF_HOME/token.
        let token = set("HF_TOKEN").or_else(|| {
            std::fs::read_to_string(home.join("token"))
                .ok()
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty())
        });
        HubSettings {
            cache_dir,
            endpoint: set("HF_ENDPOINT")
                .map(|e| e.trim_end_matches('/').to_string())
                .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string()),
            offline,
            token,
            progress: true,
        }
    }
}

/// The hf-hub client for these settings; shared by every part of sage that
/// downloads from the hub (models here, SAEs elsewhere).
pub fn hub_api(settings: &HubSettings) -> Result<Api, HubError> {
    ApiBuilder::from_cache(Cache::new(settings.cache_dir.clone()))
        .with_endpoint(settings.endpoint.clone())
        .with_token(settings.token.clone())
        .with_progress(settings.progress)
        .build()
        .map_err(|e| HubError::Client {
            message: e.to_string(),
        })
}

/// The local paths of one model's files, inside the hub cache's snapshot folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubModelFiles {
    /// `config.json`.
    pub config: PathBuf,
    /// `tokenizer.json`.
    pub tokenizer: PathBuf,
    /// `model.safetensors`, or every shard named by `model.safetensors.index.json`.
    pub weights: Vec<PathBuf>,
}

impl HubModelFiles {
    /// The snapshot folder holding the files: loadable as a local model directory.
    pub fn dir(&self) -> &Path {
        self.config.parent().unwrap_or(Path::new("."))
    }
}

/// Why a repo id could not be resolved; each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// Offline mode and the file is not in the cache.
    #[error(
        "`{file}` of `{repo}` is not in the Hugging Face cache at {cache_dir} and HF_HUB_OFFLINE is set; download it once online (unset HF_HUB_OFFLINE, or run `huggingface-cli download {repo} {file}`)"
    )]
    NotCached {
        /// The repo id.
        repo: String,
        /// The missing file.
        file: String,
        /// The cache searched.
        cache_dir: PathBuf,
    },
    /// The server has no such repo or file.
    #[error(
        "`{file}` of `{repo}` was not found at {endpoint}; check the repo id (gated repos also need HF_TOKEN)"
    )]
    NotFound {
        /// The repo id.
        repo: String,
        /// The missing file.
        file: String,
        /// The server asked.
        endpoint: String,
    },
    /// The repo has no safetensors weights.
    #[error(
        "`{repo}` has neither model.safetensors nor model.safetensors.index.json; sage reads safetensors weights only: pick a repo that has them, or convert the checkpoint"
    )]
    NoSafetensors {
        /// The repo id.
        repo: String,
    },
    /// The download failed for another reason (network, disk).
    #[error(
        "downloading `{file}` of `{repo}` failed: {message}; check the network and HF_ENDPOINT, or set HF_HUB_OFFLINE=1 to use cached files only"
    )]
    Download {
        /// The repo id.
        repo: String,
        /// The file.
        file: String,
        /// What went wrong.
        message: String,
    },
    /// A sharded checkpoint's index could not be read.
    #[error("cannot read the shard index {path}: {message}; delete it from the cache and retry")]
    BadIndex {
        /// The index file.
        path: PathBuf,
        /// What was wrong.
        message: String,
    },
    /// The HTTP client could not be built.
    #[error("cannot set up the Hugging Face client: {message}")]
    Client {
        /// What went wrong.
        message: String,
    },
}

/// Fetches files of one repo from the cache, downloading when allowed.
enum Fetcher {
    Online(ApiRepo),
    Offline(CacheRepo),
}

struct RepoFiles<'a> {
    repo: &'a str,
    settings: &'a HubSettings,
    fetcher: Fetcher,
}

impl RepoFiles<'_> {
    /// The file's cached path, downloading it if needed; `None` if the repo lacks it.
    async fn optional(&self, file: &str) -> Result<Option<PathBuf>, HubError> {
        match &self.fetcher {
            Fetcher::Offline(cache) => Ok(cache.get(file)),
            Fetcher::Online(api) => match api.get(file).await {
                Ok(path) => Ok(Some(path)),
                Err(ApiError::RequestError(e)) if e.status().map(|s| s.as_u16()) == Some(404) => {
                    Ok(None)
                }
                Err(e) => Err(HubError::Download {
                    repo: self.repo.to_string(),
                    file: file.to_string(),
                    message: e.to_string(),
                }),
            },
        }
    }

    fn missing(&self, file: &str) -> HubError {
        if self.settings.offline {
            HubError::NotCached {
                repo: self.repo.to_string(),
                file: file.to_string(),
                cache_dir: self.settings.cache_dir.clone(),
            }
        } else {
            HubError::NotFound {
                repo: self.repo.to_string(),
                file: file.to_string(),
                endpoint: self.settings.endpoint.clone(),
            }
        }
    }

    async fn required(&self, file: &str) -> Result<PathBuf, HubError> {
        self.optional(file).await?.ok_or_else(|| self.missing(file))
    }
}

/// The shard files a cached `model.safetensors.index.json` names.
fn index_shards(index: &Path) -> Result<Vec<String>, HubError> {
    let bad = |message: String| HubError::BadIndex {
        path: index.to_path_buf(),
        message,
    };
    let text = std::fs::read_to_string(index).map_err(|e| bad(e.to_string()))?;
    shard_names(&text).map_err(bad)
}

/// Resolves a model repo id to local files: config.json, tokenizer.json and
/// the safetensors weights (single file or shards), from the cache when
/// present, downloaded otherwise (unless offline).
pub async fn resolve_model(repo: &str, settings: &HubSettings) -> Result<HubModelFiles, HubError> {
    let fetcher = if settings.offline {
        Fetcher::Offline(Cache::new(settings.cache_dir.clone()).repo(Repo::model(repo.to_string())))
    } else {
        Fetcher::Online(hub_api(settings)?.model(repo.to_string()))
    };
    let files = RepoFiles {
        repo,
        settings,
        fetcher,
    };
    let config = files.required("config.json").await?;
    let tokenizer = files.required("tokenizer.json").await?;
    let weights = match files.optional("model.safetensors").await? {
        Some(single) => vec![single],
        None => {
            let Some(index) = files.optional("model.safetensors.index.json").await? else {
                return Err(if settings.offline {
                    files.missing("model.safetensors")
                } else {
                    HubError::NoSafetensors {
                        repo: repo.to_string(),
                    }
                });
            };
            let mut shards = Vec::new();
            for name in index_shards(&index)? {
                shards.push(files.required(&name).await?);
            }
            shards
        }
    };
    Ok(HubModelFiles {
        config,
        tokenizer,
        weights,
    })
}

/// [`resolve_model`] for synchronous callers, inside or outside a tokio
/// runtime: the download runs on its own thread with its own runtime.
pub fn resolve_model_blocking(
    repo: &str,
    settings: &HubSettings,
) -> Result<HubModelFiles, HubError> {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| HubError::Client {
                        message: e.to_string(),
                    })?
                    .block_on(resolve_model(repo, settings))
            })
            .join()
            .unwrap_or_else(|_| {
                Err(HubError::Client {
                    message: "the download thread panicked".to_string(),
                })
            })
    })
}

/// Whether `spec` has the shape of a hub repo id (`name` or `owner/name`).
pub fn looks_like_repo_id(spec: &str) -> bool {
    let part_ok = |p: &str| {
        !p.is_empty()
            && !p.starts_with('.')
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    match spec.split_once('/') {
        Some((owner, name)) => part_ok(owner) && part_ok(name),
        None => part_ok(spec),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> HubSettings {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        HubSettings::from_vars(|k| map.get(k).cloned())
    }

    #[test]
    fn environment_is_read_the_way_huggingface_hub_reads_it() {
        let s = settings(&[("HOME", "/home/u")]);
        assert_eq!(s.cache_dir, PathBuf::from("/home/u/.cache/huggingface/hub"));
        assert_eq!(s.endpoint, DEFAULT_ENDPOINT);
        assert!(!s.offline);

        let s = settings(&[
            ("HOME", "/home/u"),
            ("HF_HOME", "/data/hf"),
            ("HF_ENDPOINT", "http://127.0.0.1:9/"),
            ("HF_HUB_OFFLINE", "1"),
        ]);
        assert_eq!(s.cache_dir, PathBuf::from("/data/hf/hub"));
        assert_eq!(s.endpoint, "http://127.0.0.1:9");
        assert!(s.offline);

        let s = settings(&[("HF_HOME", "/data/hf"), ("HF_HUB_CACHE", "/fast/hub")]);
        assert_eq!(s.cache_dir, PathBuf::from("/fast/hub"));
        for (value, offline) in [("true", true), ("YES", true), ("0", false), ("", false)] {
            assert_eq!(
                settings(&[("HF_HUB_OFFLINE", value)]).offline,
                offline,
                "{value}"
            );
        }
    }

    #[test]
    fn repo_ids_are_told_apart_from_paths() {
        for id in [
            "gpt2",
            "HuggingFaceTB/SmolLM2-135M",
            "google/gemma-2-2b",
            "a_b.c",
        ] {
            assert!(looks_like_repo_id(id), "{id}");
        }
        for not in ["", "./model", "/abs/dir", "a/b/c", "../x", "a b", "org/"] {
            assert!(!looks_like_repo_id(not), "{not}");
        }
    }

    #[test]
    fn a_cli_login_token_under_hf_home_is_used_when_hf_token_is_unset() {
        let home = tempfile::tempdir().unwrap();
        std::fs::write(home.path().join("token"), "hf_from_login\n").unwrap();
        let dir = home.path().to_str().unwrap();
        assert_eq!(
            settings(&[("HF_HOME", dir)]).token.as_deref(),
            Some("hf_from_login")
        );
        let explicit = settings(&[("HF_HOME", dir), ("HF_TOKEN", "hf_env")]);
        assert_eq!(explicit.token.as_deref(), Some("hf_env"));
    }

    #[test]
    fn the_token_never_shows_in_debug_output() {
        let s = settings(&[("HF_TOKEN", "hf_secret_value")]);
        assert_eq!(s.token.as_deref(), Some("hf_secret_value"));
        assert!(!format!("{s:?}").contains("hf_secret_value"));
    }
}
