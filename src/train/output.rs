//! Writing a trained SAE as a SAELens 6.x directory: `cfg.json` (TopK
//! architecture, `k`, shapes, dtype, hook and model under `metadata`),
//! `sae_weights.safetensors` (`W_enc [d_in, d_sae]`, `b_enc`, `W_dec
//! [d_sae, d_in]`, `b_dec`) and sage's own `metrics.json`.

use std::collections::HashMap;
use std::path::Path;

use candle_core::DType;
use serde::Serialize;
use serde_json::json;

use super::TrainError;
use super::run::{TrainConfig, TrainOutcome};

/// The SAELens version whose layout cfg.json follows. SAELens reads the
/// `metadata` block only when this says 6.x; without it the hook and model
/// name would be looked for at the top level (the pre-6 layout).
const SAELENS_FORMAT_VERSION: &str = "6.0.0";

/// The numbers a run reports, saved as metrics.json.
#[derive(Debug, Clone, Serialize)]
pub struct TrainMetrics {
    /// Explained variance on held-out tokens (saved weights).
    pub explained_variance: f32,
    /// Mean non-zero latents per held-out token.
    pub l0: f32,
    /// Fraction of latents that had not fired for `dead_after` tokens at
    /// the end of training.
    pub dead_fraction: f32,
    /// Latents that fired at least once during training.
    pub latents_fired: usize,
    /// Number of latents.
    pub latents: usize,
    /// Held-out tokens measured.
    pub eval_tokens: usize,
    /// Latents that fired at least once on the held-out tokens.
    pub eval_latents_fired: usize,
    /// Explained variance on the last training batches.
    pub train_explained_variance_last_steps: f32,
    /// Mean loss of the first training steps.
    pub loss_first_steps: f32,
    /// Mean loss of the last training steps.
    pub loss_last_steps: f32,
    /// Training tokens.
    pub tokens: u64,
    /// Optimiser steps.
    pub steps: usize,
    /// Files in the corpus.
    pub corpus_files: usize,
    /// Full passes over the corpus files (each pass takes a slice of every file).
    pub corpus_passes: usize,
    /// Input scale used in training (folded into the saved weights).
    pub input_scale: f64,
    /// Wall-clock seconds of the run.
    pub wall_seconds: f64,
    /// The command line that produced the run.
    pub command: String,
}

/// Writes `outcome` into `dir` (created if missing) in SAELens format.
pub fn write_sae_dir(
    dir: &Path,
    outcome: &TrainOutcome,
    config: &TrainConfig,
    model_name: &str,
) -> Result<(), TrainError> {
    let write_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| TrainError::Write { path, source }
    };
    std::fs::create_dir_all(dir).map_err(write_err(dir))?;
    let w = &outcome.sae.weights;
    let (d_in, d_sae) = w.w_enc.dims2()?;
    let dtype_name = if config.dtype == DType::F16 {
        "float16"
    } else {
        "float32"
    };
    let cfg = json!({
        "architecture": "topk",
        "d_in": d_in,
        "d_sae": d_sae,
        "k": outcome.sae.k,
        "rescale_acts_by_decoder_norm": false,
        "dtype": dtype_name,
        "device": "cpu",
        "apply_b_dec_to_input": true,
        "normalize_activations": "none",
        "reshape_activations": "none",
        "metadata": {
            "sae_lens_version": SAELENS_FORMAT_VERSION,
            "sae_lens_training_version": null,
            "hook_name": config.hook.to_string(),
            "model_name": model_name,
            "prepend_bos": true,
            "context_size": config.context,
            "dataset_path": config.corpus.display().to_string(),
            "trained_with": "sage train-sae",
        },
    });
    let cfg_path = dir.join("cfg.json");
    let text = serde_json::to_string_pretty(&cfg).map_err(std::io::Error::other);
    std::fs::write(&cfg_path, text.map_err(write_err(&cfg_path))?).map_err(write_err(&cfg_path))?;

    let tensors: HashMap<String, candle_core::Tensor> = [
        ("W_enc", &w.w_enc),
        ("b_enc", &w.b_enc),
        ("W_dec", &w.w_dec),
        ("b_dec", &w.b_dec),
    ]
    .into_iter()
    .map(|(name, t)| Ok((name.to_string(), t.to_dtype(config.dtype)?)))
    .collect::<candle_core::Result<_>>()?;
    candle_core::safetensors::save(&tensors, dir.join("sae_weights.safetensors"))?;

    let metrics_path = dir.join("metrics.json");
    let text = serde_json::to_string_pretty(&outcome.metrics).map_err(std::io::Error::other);
    std::fs::write(&metrics_path, text.map_err(write_err(&metrics_path))?)
        .map_err(write_err(&metrics_path))?;
    Ok(())
}
