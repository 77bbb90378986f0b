//! SAELens directories: `cfg.json` + `sae_weights.safetensors`.
//!
//! Two config layouts exist. SAELens 6.x writes `architecture` (`standard`,
//! `jumprelu`, `topk`, `gated`, `transcoder`, `jumprelu_transcoder`,
//! `skip_transcoder`), `k` for TopK, and the model/hook facts under
//! `metadata` (`hook_name`, `model_name`, `model_from_pretrained_kwargs`,
//! `prepend_bos`). Older versions (no `sae_lens_version` >= 6, or none at
//! all) keep those facts at the top level, call the activation
//! `activation_fn_str` (or `activation_fn`) with `activation_fn_kwargs.k`
//! for TopK, may spell the hook `hook_point`, and may store
//! `normalize_activations` as a bool (true meaning
//! `expected_average_only_in`). SAELens upgrades old configs the same way.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use serde_json::{Value, json};

use super::{LoadOptions, SaeFormat, settle_hook};
use crate::sae::weights_file::{TensorFile, read_json};
use crate::sae::{Activation, InputNorm, Sae, SaeError, SaeInfo, SaeWeights, decoder_row_norms};

/// The SAELens config file name.
const CONFIG_FILE: &str = "cfg.json";
/// The SAELens weights file name.
const WEIGHTS_FILE: &str = "sae_weights.safetensors";

/// The SAELens version whose layout [`write_topk`] follows. SAELens reads
/// the `metadata` block only when this says 6.x; without it the hook and
/// model name would be looked for at the top level (the pre-6 layout).
const FORMAT_VERSION: &str = "6.0.0";

/// What a SAELens config records about a TopK SAE besides its weights.
#[derive(Debug, Clone)]
pub struct TopKConfig<'a> {
    /// Latents kept per token.
    pub k: usize,
    /// The hook it reads, as a TransformerLens name.
    pub hook: String,
    /// The model it was trained on.
    pub model_name: &'a str,
    /// Tokens per training window.
    pub context_size: usize,
    /// The training corpus, for the record.
    pub dataset_path: String,
    /// What trained it.
    pub trained_with: &'a str,
    /// The dtype the weights are saved in (F32 or F16).
    pub dtype: DType,
}

/// Writes a TopK SAE as a SAELens 6.x directory that [`load`] and SAELens
/// both read: `cfg.json` (architecture, `k`, shapes, dtype, hook and model
/// under `metadata`) and `sae_weights.safetensors` (`W_enc [d_in, d_sae]`,
/// `b_enc`, `W_dec [d_sae, d_in]`, `b_dec`). Kept beside the reader so the
/// config keys are spelled in one file.
pub fn write_topk(dir: &Path, weights: &SaeWeights, config: &TopKConfig) -> Result<(), SaeError> {
    let write_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| SaeError::Write { path, source }
    };
    let tensor_err = |e: candle_core::Error| SaeError::Write {
        path: dir.join(WEIGHTS_FILE),
        source: std::io::Error::other(e.to_string()),
    };
    std::fs::create_dir_all(dir).map_err(write_err(dir))?;
    let (d_in, d_sae) = weights.w_enc.dims2().map_err(tensor_err)?;
    let dtype_name = if config.dtype == DType::F16 {
        "float16"
    } else {
        "float32"
    };
    let cfg = json!({
        "architecture": "topk",
        "d_in": d_in,
        "d_sae": d_sae,
        "k": config.k,
        "rescale_acts_by_decoder_norm": false,
        "dtype": dtype_name,
        "device": "cpu",
        "apply_b_dec_to_input": true,
        "normalize_activations": "none",
        "reshape_activations": "none",
        "metadata": {
            "sae_lens_version": FORMAT_VERSION,
            "sae_lens_training_version": null,
            "hook_name": config.hook,
            "model_name": config.model_name,
            "prepend_bos": true,
            "context_size": config.context_size,
            "dataset_path": config.dataset_path,
            "trained_with": config.trained_with,
        },
    });
    let cfg_path = dir.join(CONFIG_FILE);
    let text = serde_json::to_string_pretty(&cfg).map_err(std::io::Error::other);
    std::fs::write(&cfg_path, text.map_err(write_err(&cfg_path))?).map_err(write_err(&cfg_path))?;

    let tensors: HashMap<String, Tensor> = [
        ("W_enc", &weights.w_enc),
        ("b_enc", &weights.b_enc),
        ("W_dec", &weights.w_dec),
        ("b_dec", &weights.b_dec),
    ]
    .into_iter()
    .map(|(name, t)| Ok((name.to_string(), t.to_dtype(config.dtype)?)))
    .collect::<candle_core::Result<_>>()
    .map_err(tensor_err)?;
    candle_core::safetensors::save(&tensors, dir.join(WEIGHTS_FILE)).map_err(tensor_err)
}

/// Loads a SAELens SAE or transcoder directory.
pub fn load(dir: &Path, options: &LoadOptions, device: &Device) -> Result<Sae, SaeError> {
    let cfg_path = dir.join(CONFIG_FILE);
    let cfg: Value = read_json(&cfg_path)?;
    let bad = |message: String| SaeError::Config {
        path: cfg_path.clone(),
        message,
    };
    // A fact may live under `metadata` (6.x) or at the top level (older).
    let fact = |key: &str| {
        cfg.get("metadata")
            .and_then(|m| m.get(key))
            .filter(|v| !v.is_null())
            .or_else(|| cfg.get(key).filter(|v| !v.is_null()))
    };

    let activation_fn = fact("activation_fn_str")
        .or_else(|| fact("activation_fn"))
        .and_then(Value::as_str)
        .unwrap_or("relu");
    let topk_k = cfg.get("k").and_then(Value::as_u64).or_else(|| {
        fact("activation_fn_kwargs")
            .and_then(|kw| kw.get("k"))
            .and_then(Value::as_u64)
    });
    let architecture = match cfg.get("architecture").and_then(Value::as_str) {
        Some(arch) => arch.to_string(),
        None if activation_fn == "topk" => "topk".to_string(),
        None => "standard".to_string(),
    };
    let transcoder = architecture.contains("transcoder");

    let mut weights = TensorFile::safetensors(&dir.join(WEIGHTS_FILE), device)?;
    let w_enc = weights.take("W_enc")?;
    let w_dec = weights.take("W_dec")?;
    let b_dec = weights.take("b_dec")?;
    let activation = match architecture.as_str() {
        "standard" | "transcoder" | "skip_transcoder" if activation_fn == "topk" => {
            topk(topk_k, &w_dec, &cfg, &bad)?
        }
        "standard" | "transcoder" | "skip_transcoder" => Activation::Relu,
        "jumprelu" | "jumprelu_transcoder" | "jumprelu_skip_transcoder" => {
            let threshold = match weights.take_optional("log_threshold") {
                Some(log) => log.exp()?,
                None => weights.take("threshold")?,
            };
            Activation::JumpRelu { threshold }
        }
        "topk" => topk(topk_k, &w_dec, &cfg, &bad)?,
        "gated" => Activation::Gated {
            r_mag_exp: weights.take("r_mag")?.exp()?,
            b_mag: weights.take("b_mag")?,
        },
        other => {
            return Err(SaeError::UnknownArchitecture {
                name: other.to_string(),
            });
        }
    };
    let b_enc = match activation {
        Activation::Gated { .. } => weights.take("b_gate")?,
        _ => weights.take("b_enc")?,
    };

    let norm = match cfg.get("normalize_activations") {
        None | Some(Value::Null) | Some(Value::Bool(false)) => InputNorm::None,
        // SAELens treats a known scaling factor as folded into the weights;
        // a config alone carries none, so at inference this is the identity.
        Some(Value::Bool(true)) => InputNorm::None,
        Some(Value::String(mode)) => match mode.as_str() {
            "none" | "expected_average_only_in" => InputNorm::None,
            "constant_norm_rescale" => InputNorm::ConstantNormRescale,
            "layer_norm" => InputNorm::LayerNorm,
            other => {
                return Err(SaeError::UnknownNormalization {
                    name: other.to_string(),
                });
            }
        },
        Some(other) => {
            return Err(SaeError::UnknownNormalization {
                name: other.to_string(),
            });
        }
    };
    let apply_b_dec_to_input = !transcoder
        && cfg
            .get("apply_b_dec_to_input")
            .and_then(Value::as_bool)
            .unwrap_or(true);

    let hook_name = fact("hook_name")
        .or_else(|| fact("hook_point"))
        .and_then(Value::as_str);
    let mut notes = Vec::new();
    let hook = settle_hook(dir, hook_name, options.hook, None, &mut notes)?;
    let info = SaeInfo {
        format: SaeFormat::Saelens,
        hook,
        model_name: fact("model_name")
            .and_then(Value::as_str)
            .map(str::to_string),
        transcoder,
        center_writing_weights: fact("model_from_pretrained_kwargs")
            .and_then(|kw| kw.get("center_writing_weights"))
            .and_then(Value::as_bool),
        prepend_bos: fact("prepend_bos").and_then(Value::as_bool),
        notes,
    };
    Sae::new(
        SaeWeights {
            w_enc,
            b_enc,
            w_dec,
            b_dec,
        },
        activation,
        apply_b_dec_to_input,
        norm,
        info,
    )
}

/// A TopK activation from the config's `k` and decoder-norm option.
fn topk(
    k: Option<u64>,
    w_dec: &candle_core::Tensor,
    cfg: &Value,
    bad: &dyn Fn(String) -> SaeError,
) -> Result<Activation, SaeError> {
    let k = k.ok_or_else(|| bad("a TopK SAE needs `k` (or activation_fn_kwargs.k)".into()))?;
    let rescale = cfg
        .get("rescale_acts_by_decoder_norm")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    Ok(Activation::TopK {
        k: k as usize,
        decoder_norms: rescale.then(|| decoder_row_norms(w_dec)).transpose()?,
    })
}
