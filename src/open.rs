//! Opening what the user named: a model (a local directory, a `.gguf`
//! file, or a hub repo id) or an SAE (a local directory in any supported
//! format, or a registry `release/sae_id`). Names are resolved to local
//! files through [`crate::hub`] first, then loaded by the tensor crate.

use std::path::Path;

use crate::hub::registry::Registry;
use crate::hub::sae::fetch;
use crate::hub::{HubError, HubSettings, looks_like_repo_id, resolve_model_blocking};
use crate::model::{LoadOptions as ModelLoadOptions, LoadedModel, ModelError, load_local};
use crate::sae::{LoadOptions, Sae, SaeError, load_sae};

/// Why a model could not be opened: its name did not resolve, or its files
/// did not load.
#[derive(Debug, thiserror::Error)]
pub enum OpenModelError {
    /// A hub repo id could not be resolved to local files.
    #[error(transparent)]
    Hub(#[from] HubError),
    /// The files were found but could not be loaded.
    #[error(transparent)]
    Model(#[from] ModelError),
}

/// Loads `spec`: a local Hugging Face directory, a `.gguf` file, or a hub
/// repo id resolved through the shared Hugging Face cache (environment as
/// `huggingface_hub` reads it). Anything else is answered with an error
/// saying what to give.
pub fn load_model(spec: &str, opts: &ModelLoadOptions) -> Result<LoadedModel, OpenModelError> {
    let path = Path::new(spec);
    if !path.exists() && looks_like_repo_id(spec) {
        return load_hub_model(spec, &HubSettings::from_env(), opts);
    }
    Ok(load_local(path, opts)?)
}

/// Loads a hub repo id as a runnable model: resolved (downloaded if needed)
/// into the cache, then read like a local Hugging Face directory.
pub fn load_hub_model(
    repo: &str,
    settings: &HubSettings,
    opts: &ModelLoadOptions,
) -> Result<LoadedModel, OpenModelError> {
    let files = resolve_model_blocking(repo, settings)?;
    let mut loaded = load_local(files.dir(), opts)?;
    loaded.name = repo.to_string();
    Ok(loaded)
}

/// Loads `spec`: a path if one exists there, else a `release/sae_id` from
/// `registry`. For registry SAEs the registry's format, hook and
/// `center_writing_weights` apply unless `options` say otherwise.
pub async fn open_sae(
    spec: &str,
    registry: &Registry,
    hub: &HubSettings,
    options: &LoadOptions,
) -> Result<Sae, SaeError> {
    let path = Path::new(spec);
    if path.exists() {
        return load_sae(path, options);
    }
    let (release, sae) = registry.lookup(spec)?;
    let files = release.files(&sae.path);
    let local = fetch(hub, &release.repo, &files).await?;
    let dir = local
        .first()
        .and_then(|p| p.parent())
        .ok_or_else(|| SaeError::Registry {
            message: format!("registry entry {spec} lists no files"),
        })?;
    let options = LoadOptions {
        format: options.format.or(Some(release.format)),
        hook: options.hook.or(Some(sae.hook)),
        center_writing_weights: options
            .center_writing_weights
            .or(release.center_writing_weights),
        device: options.device.clone(),
    };
    load_sae(dir, &options)
}
