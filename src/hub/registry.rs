//! The table of known SAE releases (`assets/sae_registry.toml`), so users
//! can name an SAE the way SAELens does: `release/sae_id`, e.g.
//! `gpt2-small-res-jb/blocks.8.hook_resid_pre`.

use serde::Deserialize;

use crate::model::HookPoint;
use crate::sae::{SaeError, SaeFormat};

/// The registry compiled into sage.
const BUILTIN: &str = include_str!("../../assets/sae_registry.toml");

/// Every known release.
#[derive(Debug, Clone, Deserialize)]
pub struct Registry {
    #[serde(rename = "release")]
    releases: Vec<Release>,
}

/// One release: a hub repo holding SAEs for one model in one format.
#[derive(Debug, Clone, Deserialize)]
pub struct Release {
    /// SAELens release name.
    pub name: String,
    /// Hugging Face repo holding the SAE files.
    pub repo: String,
    /// On-disk format of every SAE in the repo.
    pub format: SaeFormat,
    /// The model as SAELens names it.
    pub model: String,
    /// The Hugging Face repo of that model.
    pub hf_model: String,
    /// `model_from_pretrained_kwargs.center_writing_weights` SAELens applies
    /// to this release (absent: the SAE's own config decides).
    #[serde(default)]
    pub center_writing_weights: Option<bool>,
    /// The SAEs in the release.
    #[serde(rename = "sae")]
    pub saes: Vec<RegistrySae>,
}

/// One SAE of a release.
#[derive(Debug, Clone, Deserialize)]
pub struct RegistrySae {
    /// SAELens `sae_id`.
    pub id: String,
    /// Folder inside the repo.
    pub path: String,
    /// Hook it reads.
    pub hook: HookPoint,
    /// Neuronpedia `model/source` id, where Neuronpedia hosts it.
    #[serde(default)]
    pub neuronpedia: Option<String>,
}

impl Release {
    /// The files to fetch for the SAE in `folder`, per the release's format.
    pub fn files(&self, folder: &str) -> Vec<String> {
        let names: &[&str] = match self.format {
            SaeFormat::Saelens => &["cfg.json", "sae_weights.safetensors"],
            SaeFormat::GemmaScope => &["params.npz"],
            SaeFormat::LlamaScope => &["hyperparams.json", "checkpoints/final.safetensors"],
            SaeFormat::Sparsify => &["cfg.json", "sae.safetensors"],
        };
        names.iter().map(|n| format!("{folder}/{n}")).collect()
    }
}

impl Registry {
    /// The registry shipped in `assets/`.
    pub fn builtin() -> Result<Registry, SaeError> {
        Registry::parse(BUILTIN)
    }

    /// Parses a registry in the `assets/sae_registry.toml` layout.
    pub fn parse(text: &str) -> Result<Registry, SaeError> {
        toml::from_str(text).map_err(|e| SaeError::Registry {
            message: format!("bad SAE registry: {e}"),
        })
    }

    /// The releases, in file order.
    pub fn releases(&self) -> &[Release] {
        &self.releases
    }

    /// Finds `release/sae_id` (the release name is everything before the
    /// first `/`); the error lists what exists.
    pub fn lookup(&self, name: &str) -> Result<(&Release, &RegistrySae), SaeError> {
        let (release_name, sae_id) = name.split_once('/').unwrap_or((name, ""));
        let release = self
            .releases
            .iter()
            .find(|r| r.name == release_name)
            .ok_or_else(|| SaeError::Registry {
                message: format!(
                    "`{name}` is neither an SAE directory nor a known release/sae_id; known releases: {}",
                    self.releases.iter().map(|r| r.name.as_str()).collect::<Vec<_>>().join(", ")
                ),
            })?;
        let sae = release.saes.iter().find(|s| s.id == sae_id).ok_or_else(|| {
            let ids: Vec<&str> = release.saes.iter().map(|s| s.id.as_str()).collect();
            SaeError::Registry {
                message: format!(
                    "release {release_name} has no SAE `{sae_id}`; its ids are {} … {} ({} in all), e.g. {release_name}/{}",
                    ids.first().unwrap_or(&""),
                    ids.last().unwrap_or(&""),
                    ids.len(),
                    ids.first().unwrap_or(&"")
                ),
            }
        })?;
        Ok((release, sae))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::HookKind;

    #[test]
    fn the_builtin_registry_covers_the_required_releases() {
        let reg = Registry::builtin().unwrap();
        let (gpt2, sae) = reg
            .lookup("gpt2-small-res-jb/blocks.8.hook_resid_pre")
            .unwrap();
        assert_eq!(gpt2.repo, "jbloom/GPT2-Small-SAEs-Reformatted");
        assert_eq!(gpt2.center_writing_weights, Some(true));
        assert_eq!(sae.hook, HookPoint::new(8, HookKind::ResidPre));
        assert_eq!(gpt2.saes.len(), 13);
        assert!(
            reg.lookup("gpt2-small-res-jb/blocks.11.hook_resid_post")
                .is_ok()
        );

        for (name, kind) in [
            ("gemma-scope-2b-pt-res-canonical", HookKind::ResidPost),
            ("gemma-scope-2b-pt-mlp-canonical", HookKind::MlpOut),
        ] {
            for layer in 0..26 {
                let (rel, sae) = reg
                    .lookup(&format!("{name}/layer_{layer}/width_16k/canonical"))
                    .unwrap();
                assert_eq!(rel.format, SaeFormat::GemmaScope);
                assert_eq!(sae.hook, HookPoint::new(layer, kind));
                assert!(
                    sae.path
                        .starts_with(&format!("layer_{layer}/width_16k/average_l0_"))
                );
            }
        }
        let (llama, sae) = reg.lookup("llama_scope_lxr_8x/l15r_8x").unwrap();
        assert_eq!(llama.format, SaeFormat::LlamaScope);
        assert_eq!(sae.path, "Llama3_1-8B-Base-L15R-8x");
        assert_eq!(
            llama.files(&sae.path),
            vec![
                "Llama3_1-8B-Base-L15R-8x/hyperparams.json",
                "Llama3_1-8B-Base-L15R-8x/checkpoints/final.safetensors"
            ]
        );
    }

    #[test]
    fn unknown_names_list_what_exists() {
        let reg = Registry::builtin().unwrap();
        let err = reg.lookup("nope/x").unwrap_err().to_string();
        assert!(
            err.contains("gpt2-small-res-jb") && err.contains("llama_scope_lxr_8x"),
            "{err}"
        );
        let err = reg
            .lookup("gpt2-small-res-jb/blocks.99.hook_resid_pre")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("blocks.0.hook_resid_pre") && err.contains("13 in all"),
            "{err}"
        );
    }
}
