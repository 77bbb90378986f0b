//! Turning what the user typed after `--sae` into a loaded SAE: a local
//! directory in any supported format, or a registry `release/sae_id` whose
//! files are fetched through the hub cache.

use std::path::Path;

use super::hub::{HubConfig, fetch};
use super::registry::Registry;
use super::{LoadOptions, Sae, SaeError, load_sae};

/// Loads `spec`: a path if one exists there, else a `release/sae_id` from
/// `registry`. For registry SAEs the registry's format, hook and
/// `center_writing_weights` apply unless `options` say otherwise.
pub async fn open_sae(
    spec: &str,
    registry: &Registry,
    hub: &HubConfig,
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
