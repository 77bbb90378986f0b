//! Gemma Scope: JumpReLU SAEs stored without a config.
//!
//! Gemma Scope (Gemma 2) ships `params.npz` with `W_enc [d_in, d_sae]`,
//! `W_dec`, `b_enc`, `b_dec`, `threshold`; Gemma Scope 2 ships
//! `params.safetensors` with the same tensors in lowercase (`w_enc`,
//! `w_dec`). Neither subtracts `b_dec` from the input. The files do not name
//! their hook, so it comes from `--hook` or from the path, as SAELens infers
//! it: a `layer_L` directory gives the layer; the repo or folder name gives
//! the kind (`…-res` / `resid_post` → `hook_resid_post`, `…-mlp` /
//! `mlp_out` → `hook_mlp_out`, `transcoder` → the MLP's normalised input).
//! Attention SAEs read `attn.hook_z`, which sage does not compute.

use std::path::{Component, Path};

use candle_core::Device;

use super::{LoadOptions, SaeFormat, number_after, settle_hook};
use crate::model::{HookKind, HookPoint};
use crate::sae::weights_file::TensorFile;
use crate::sae::{Activation, InputNorm, Sae, SaeError, SaeInfo, SaeWeights};

/// Loads a Gemma Scope SAE directory (npz or safetensors layout).
pub fn load(dir: &Path, options: &LoadOptions, device: &Device) -> Result<Sae, SaeError> {
    let npz = dir.join("params.npz");
    let (mut weights, names) = if npz.is_file() {
        (TensorFile::npz(&npz, device)?, ["W_enc", "W_dec"])
    } else {
        (
            TensorFile::safetensors(&dir.join("params.safetensors"), device)?,
            ["w_enc", "w_dec"],
        )
    };
    let w_enc = weights.take(names[0])?;
    let w_dec = weights.take(names[1])?;
    let b_enc = weights.take("b_enc")?;
    let b_dec = weights.take("b_dec")?;
    let threshold = weights.take("threshold")?;

    let mut notes = Vec::new();
    let inferred = infer_hook(dir)?;
    let hook = settle_hook(dir, None, options.hook, inferred, &mut notes)?;
    let info = SaeInfo {
        transcoder: hook.kind == HookKind::MlpInNormalized,
        prepend_bos: Some(true),
        ..SaeInfo::new(SaeFormat::GemmaScope, hook, notes)
    };
    Sae::new(
        SaeWeights {
            w_enc,
            b_enc,
            w_dec,
            b_dec,
        },
        Activation::JumpRelu { threshold },
        false,
        InputNorm::None,
        info,
    )
}

/// The hook named by Gemma Scope directory names, if they name one.
fn infer_hook(dir: &Path) -> Result<Option<HookPoint>, SaeError> {
    let absolute = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    let parts: Vec<String> = absolute
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().to_lowercase()),
            _ => None,
        })
        .collect();
    let Some(layer) = parts.iter().rev().find_map(|p| number_after(p, "layer_")) else {
        return Ok(None);
    };
    // The innermost component naming a kind wins (a folder inside the repo
    // is more specific than the repo name).
    for part in parts.iter().rev() {
        let kind =
            if part.contains("resid_post") || part.ends_with("-res") || part.contains("-res-") {
                Some(HookKind::ResidPost)
            } else if part.contains("mlp_out") || part.ends_with("-mlp") || part.contains("-mlp-") {
                Some(HookKind::MlpOut)
            } else if part.contains("transcoder") {
                Some(HookKind::MlpInNormalized)
            } else if part.contains("attn_out") || part.ends_with("-att") || part.contains("-att-")
            {
                return Err(SaeError::HookUnsupported {
                    name: format!("blocks.{layer}.attn.hook_z"),
                });
            } else {
                None
            };
        if let Some(kind) = kind {
            return Ok(Some(HookPoint::new(layer, kind)));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(path: &str) -> Option<HookPoint> {
        infer_hook(Path::new(path)).unwrap()
    }

    #[test]
    fn hooks_follow_the_gemma_scope_directory_names() {
        assert_eq!(
            hook(
                "/hf/models--google--gemma-scope-2b-pt-res/snapshots/abc/layer_12/width_16k/average_l0_82"
            ),
            Some("blocks.12.hook_resid_post".parse().unwrap())
        );
        assert_eq!(
            hook("/x/gemma-scope-2b-pt-mlp-canonical/layer_3/width_16k/canonical"),
            Some("blocks.3.hook_mlp_out".parse().unwrap())
        );
        assert_eq!(
            hook("/x/gemma-scope-2-1b-pt/mlp_out/layer_7_width_16k_l0_small"),
            Some("blocks.7.hook_mlp_out".parse().unwrap())
        );
        assert_eq!(hook("/x/some/layer_7/sae"), None);
        assert_eq!(hook("/x/gemma-scope-2b-pt-res/no_layer"), None);
    }

    #[test]
    fn attention_saes_are_refused_because_they_read_hook_z() {
        let err = infer_hook(Path::new("/x/gemma-scope-2b-pt-att/layer_4/width_16k/a"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("blocks.4.attn.hook_z"), "{err}");
    }
}
