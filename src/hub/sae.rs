//! Fetching SAE files through the Hugging Face hub cache, via the shared hub
//! client of [`crate::hub`] (same `HF_HOME` / `HF_HUB_CACHE`,
//! `HF_ENDPOINT`, `HF_HUB_OFFLINE` and token handling as model downloads).

use std::path::PathBuf;

use hf_hub::{Cache, Repo};

use super::{HubError, HubSettings, hub_api};
use crate::sae::SaeError;

/// Local paths of `files` from hub `repo` (main revision), downloading the
/// ones not cached yet unless offline, in order.
pub async fn fetch(
    settings: &HubSettings,
    repo: &str,
    files: &[String],
) -> Result<Vec<PathBuf>, SaeError> {
    let hub_err = |file: &str, message: String| SaeError::Hub {
        repo: repo.to_string(),
        file: file.to_string(),
        message,
    };
    let cached = Cache::new(settings.cache_dir.clone()).repo(Repo::model(repo.to_string()));
    let remote = if settings.offline {
        None
    } else {
        Some(
            hub_api(settings)
                .map_err(|e| hub_err("", e.to_string()))?
                .model(repo.to_string()),
        )
    };
    let mut paths = Vec::with_capacity(files.len());
    for file in files {
        let path = match (cached.get(file), &remote) {
            (Some(path), _) => path,
            (None, Some(remote)) => remote
                .download(file)
                .await
                .map_err(|e| hub_err(file, e.to_string()))?,
            (None, None) => {
                let missing = HubError::NotCached {
                    repo: repo.to_string(),
                    file: file.clone(),
                    cache_dir: settings.cache_dir.clone(),
                };
                return Err(hub_err(file, missing.to_string()));
            }
        };
        paths.push(path);
    }
    Ok(paths)
}
