//! Llama Scope: `hyperparams.json` + `checkpoints/final.safetensors`.
//!
//! The weights are `encoder.weight [d_sae, d_in]`, `encoder.bias`,
//! `decoder.weight [d_in, d_sae]`, `decoder.bias`; the SAE is JumpReLU with
//! one scalar `jump_relu_threshold`, no `b_dec` subtraction, and reads
//! `hook_point_in`. With `norm_activation: "dataset-wise"` the input is
//! scaled by `s = sqrt(d_in) / dataset_average_activation_norm.in`. SAELens
//! (whose numbers Neuronpedia shows) folds `s` into `W_enc` and also
//! multiplies the threshold by `s`; sage does the same, so the effective
//! rule is `pre = (s x) @ W_enc + b_enc`, active where `pre > s * threshold`.

use std::path::Path;

use candle_core::{Device, Tensor};
use serde::Deserialize;

use super::{LoadOptions, SaeFormat, settle_hook};
use crate::sae::weights_file::{TensorFile, read_json};
use crate::sae::{Activation, InputNorm, Sae, SaeError, SaeInfo, SaeWeights};

/// The fields of `hyperparams.json` sage uses.
#[derive(Debug, Deserialize)]
struct Hyperparams {
    d_model: usize,
    hook_point_in: String,
    jump_relu_threshold: f64,
    #[serde(default)]
    norm_activation: Option<String>,
    #[serde(default)]
    dataset_average_activation_norm: Option<AverageNorm>,
}

/// `dataset_average_activation_norm`: mean input / output norms.
#[derive(Debug, Deserialize)]
struct AverageNorm {
    #[serde(rename = "in")]
    input: f64,
}

/// Loads a Llama Scope SAE directory.
pub fn load(dir: &Path, options: &LoadOptions, device: &Device) -> Result<Sae, SaeError> {
    let hp_path = dir.join("hyperparams.json");
    let hp: Hyperparams = read_json(&hp_path)?;
    let scale = match hp.norm_activation.as_deref() {
        Some("dataset-wise") => {
            let avg = hp
                .dataset_average_activation_norm
                .as_ref()
                .map(|n| n.input)
                .filter(|v| *v > 0.0)
                .ok_or_else(|| SaeError::Config {
                    path: hp_path.clone(),
                    message: "norm_activation is dataset-wise but dataset_average_activation_norm.in is missing or not positive".into(),
                })?;
            (hp.d_model as f64).sqrt() / avg
        }
        None | Some("token-wise") | Some("none") => 1.0,
        Some(other) => {
            return Err(SaeError::UnknownNormalization {
                name: other.to_string(),
            });
        }
    };

    let mut weights =
        TensorFile::safetensors(&dir.join("checkpoints").join("final.safetensors"), device)?;
    let w_enc = weights.take("encoder.weight")?.t()?.contiguous()?;
    let w_dec = weights.take("decoder.weight")?.t()?.contiguous()?;
    let b_enc = weights.take("encoder.bias")?;
    let b_dec = weights.take("decoder.bias")?;
    let d_sae = b_enc.dims().first().copied().unwrap_or(0);
    let threshold = Tensor::full((hp.jump_relu_threshold * scale) as f32, d_sae, device)?;

    let mut notes = Vec::new();
    let hook = settle_hook(dir, Some(&hp.hook_point_in), options.hook, None, &mut notes)?;
    let info = SaeInfo {
        prepend_bos: Some(true),
        ..SaeInfo::new(SaeFormat::LlamaScope, hook, notes)
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
        if scale == 1.0 {
            InputNorm::None
        } else {
            InputNorm::Scale(scale)
        },
        info,
    )
}
