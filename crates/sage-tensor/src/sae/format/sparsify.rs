//! EleutherAI sparsify: `cfg.json` + `sae.safetensors`, one directory per
//! hookpoint, named after the Hugging Face module it hooks.
//!
//! Weights: `encoder.weight [d_sae, d_in]`, `encoder.bias`,
//! `W_dec [d_sae, d_out]`, `b_dec`. Encoding follows sparsify itself:
//! subtract `b_dec` unless the coder is a transcoder (`transcode: true`),
//! `relu(x @ encoder.weight^T + encoder.bias)`, keep the top `k` per token.
//! Directory names map to hooks: `layers.N` (or GPT-2's `h.N`) is the output
//! of block N, `blocks.N.hook_resid_post`; `layers.N.mlp` is the MLP's
//! output for an SAE and the MLP's (normalised) input for a transcoder.

use std::path::Path;

use candle_core::Device;
use serde::Deserialize;

use super::{LoadOptions, SaeFormat, number_after, settle_hook};
use crate::model::{HookKind, HookPoint};
use crate::sae::weights_file::{TensorFile, read_json};
use crate::sae::{Activation, InputNorm, Sae, SaeError, SaeInfo, SaeWeights};

/// The fields of sparsify's `cfg.json` sage uses.
#[derive(Debug, Deserialize)]
struct SparsifyConfig {
    k: usize,
    #[serde(default)]
    transcode: bool,
    #[serde(default)]
    activation: Option<String>,
}

/// Loads a sparsify hookpoint directory.
pub fn load(dir: &Path, options: &LoadOptions, device: &Device) -> Result<Sae, SaeError> {
    let cfg_path = dir.join("cfg.json");
    let cfg: SparsifyConfig = read_json(&cfg_path)?;
    if let Some(act) = cfg.activation.as_deref().filter(|a| *a != "topk") {
        return Err(SaeError::UnknownArchitecture {
            name: format!("sparsify activation `{act}`"),
        });
    }
    let mut weights = TensorFile::safetensors(&dir.join("sae.safetensors"), device)?;
    let w_enc = weights.take("encoder.weight")?.t()?.contiguous()?;
    let b_enc = weights.take("encoder.bias")?;
    let w_dec = weights.take("W_dec")?;
    let b_dec = weights.take("b_dec")?;

    let mut notes = Vec::new();
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let inferred = hook_from_module_name(&name, cfg.transcode);
    let hook = settle_hook(dir, None, options.hook, inferred, &mut notes)?;
    let info = SaeInfo {
        transcoder: cfg.transcode,
        ..SaeInfo::new(SaeFormat::Sparsify, hook, notes)
    };
    Sae::new(
        SaeWeights {
            w_enc,
            b_enc,
            w_dec,
            b_dec,
        },
        Activation::TopK {
            k: cfg.k,
            decoder_norms: None,
        },
        !cfg.transcode,
        InputNorm::None,
        info,
    )
}

/// The hook for a sparsify hookpoint directory name (`layers.3`,
/// `layers.3.mlp`, `h.3`), if it is one of those.
fn hook_from_module_name(name: &str, transcode: bool) -> Option<HookPoint> {
    let rest = name
        .strip_prefix("layers")
        .or_else(|| name.strip_prefix("h"))?;
    let layer = number_after(rest.strip_prefix(['.', '_'])?, "")?;
    let digits = layer.to_string();
    let suffix = rest[1..].strip_prefix(digits.as_str())?;
    let kind = match (suffix, transcode) {
        ("", _) => HookKind::ResidPost,
        (".mlp", false) => HookKind::MlpOut,
        (".mlp", true) => HookKind::MlpInNormalized,
        _ => return None,
    };
    Some(HookPoint::new(layer, kind))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_names_map_to_transformer_lens_hooks() {
        let h = |s: &str| s.parse::<HookPoint>().unwrap();
        assert_eq!(
            hook_from_module_name("layers.5", false),
            Some(h("blocks.5.hook_resid_post"))
        );
        assert_eq!(
            hook_from_module_name("h.11", false),
            Some(h("blocks.11.hook_resid_post"))
        );
        assert_eq!(
            hook_from_module_name("layers.2.mlp", false),
            Some(h("blocks.2.hook_mlp_out"))
        );
        assert_eq!(
            hook_from_module_name("layers.2.mlp", true),
            Some(h("blocks.2.ln2.hook_normalized"))
        );
        assert_eq!(hook_from_module_name("embed_tokens", false), None);
        assert_eq!(hook_from_module_name("layers.2.self_attn", false), None);
    }
}
