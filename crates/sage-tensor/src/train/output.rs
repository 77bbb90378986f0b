//! Writing a trained SAE: the SAELens directory (through the SAELens
//! writer beside its reader, [`crate::sae::format::saelens`]) and sage's
//! own `metrics.json`.

use std::path::Path;

use super::TrainError;
use super::run::{TrainConfig, TrainOutcome};
use crate::sae::format::saelens::{TopKConfig, write_topk};

/// Writes `outcome` into `dir` (created if missing) in SAELens format, with
/// the run's numbers in `metrics.json`.
pub fn write_sae_dir(
    dir: &Path,
    outcome: &TrainOutcome,
    config: &TrainConfig,
    model_name: &str,
) -> Result<(), TrainError> {
    let saved = TopKConfig {
        k: outcome.sae.k,
        hook: config.hook.to_string(),
        model_name,
        context_size: config.context,
        dataset_path: config.corpus.display().to_string(),
        trained_with: "sage train-sae",
        dtype: config.dtype.candle(),
    };
    write_topk(dir, &outcome.sae.weights, &saved).map_err(|e| TrainError::Save(Box::new(e)))?;
    let metrics_path = dir.join("metrics.json");
    let write_err = |source| TrainError::Write {
        path: metrics_path.clone(),
        source,
    };
    let text = serde_json::to_string_pretty(&outcome.metrics).map_err(std::io::Error::other);
    std::fs::write(&metrics_path, text.map_err(write_err)?).map_err(write_err)?;
    Ok(())
}
