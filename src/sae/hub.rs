//! Fetching SAE files through the Hugging Face hub cache, the one place the
//! SAE module touches the network (swap this file for a shared hub helper).
//!
//! Honours the usual environment: `HF_HOME` (cache location, shared with
//! Python tools), `HF_ENDPOINT` (mirror or test server) and
//! `HF_HUB_OFFLINE=1` (use only what is cached).

use std::path::PathBuf;

use hf_hub::api::tokio::ApiBuilder;
use hf_hub::{Cache, Repo};

use super::SaeError;

/// Where and how to reach the hub.
#[derive(Debug, Clone, Default)]
pub struct HubConfig {
    /// Base URL (`HF_ENDPOINT`); the public hub when `None`.
    pub endpoint: Option<String>,
    /// Cache directory; hf-hub's default under `HF_HOME` when `None`.
    pub cache_dir: Option<PathBuf>,
    /// Never touch the network (`HF_HUB_OFFLINE=1`).
    pub offline: bool,
}

impl HubConfig {
    /// The configuration the environment asks for.
    pub fn from_env() -> HubConfig {
        HubConfig {
            endpoint: std::env::var("HF_ENDPOINT").ok().filter(|s| !s.is_empty()),
            cache_dir: None,
            offline: std::env::var("HF_HUB_OFFLINE")
                .is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true")),
        }
    }

    fn cache(&self) -> Cache {
        match &self.cache_dir {
            Some(dir) => Cache::new(dir.clone()),
            None => Cache::from_env(),
        }
    }
}

/// Local paths of `files` from hub `repo` (main revision), downloading the
/// ones not cached yet, in order.
pub async fn fetch(
    config: &HubConfig,
    repo: &str,
    files: &[String],
) -> Result<Vec<PathBuf>, SaeError> {
    let cache = config.cache();
    let hub_err = |file: &str, message: String| SaeError::Hub {
        repo: repo.to_string(),
        file: file.to_string(),
        message,
    };
    let mut builder = ApiBuilder::from_cache(cache.clone()).with_progress(false);
    if let Some(endpoint) = &config.endpoint {
        builder = builder.with_endpoint(endpoint.clone());
    }
    let api = builder.build().map_err(|e| hub_err("", e.to_string()))?;
    let remote = api.model(repo.to_string());
    let cached = cache.repo(Repo::model(repo.to_string()));
    let mut paths = Vec::with_capacity(files.len());
    for file in files {
        let path = match cached.get(file) {
            Some(path) => path,
            None if config.offline => {
                return Err(hub_err(
                    file,
                    "not in the local cache and HF_HUB_OFFLINE is set".into(),
                ));
            }
            None => remote
                .download(file)
                .await
                .map_err(|e| hub_err(file, e.to_string()))?,
        };
        paths.push(path);
    }
    Ok(paths)
}
