//! Text in, one feature's per-token activations out: the model run to the
//! SAE's hook, the residual-stream transform, then the SAE's encoder for
//! that feature only. Compatibility is checked before any compute.

use candle_core::Tensor;

use super::autoencoder::replace_with_tensor;
use super::{Sae, SaeError};
use crate::model::HookedModel;

/// Known spellings of the same model (SAELens / TransformerLens name on the
/// left, the Hugging Face name on the right).
const MODEL_ALIASES: [(&str, &str); 1] = [("gpt2-small", "gpt2")];

/// Checks that `model` produces what `sae` reads: the SAE's hook exists in
/// the model and its input width is the model's `d_model`.
pub fn check_compatible(sae: &Sae, model: &dyn HookedModel) -> Result<(), SaeError> {
    let hook = sae.info().hook;
    if hook.layer >= model.n_layers() {
        return Err(SaeError::ModelMismatch {
            message: format!(
                "the SAE reads {hook} but the model has layers 0..={}; pick the SAE trained on this model",
                model.n_layers().saturating_sub(1)
            ),
        });
    }
    if sae.d_in() != model.d_model() {
        return Err(SaeError::ModelMismatch {
            message: format!(
                "the SAE reads vectors of width {} but the model's d_model is {}; pick the SAE trained on this model",
                sae.d_in(),
                model.d_model()
            ),
        });
    }
    Ok(())
}

/// Checks that the model the SAE names (if it names one) is the model the
/// user gave, comparing the last path segment case-insensitively and
/// treating known aliases (`gpt2-small` = `gpt2`) as equal.
pub fn check_model_name(sae: &Sae, model_name: &str) -> Result<(), SaeError> {
    let Some(trained_on) = &sae.info().model_name else {
        return Ok(());
    };
    let canonical = |name: &str| {
        let last = name
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or(name)
            .to_lowercase();
        MODEL_ALIASES
            .iter()
            .find(|(alias, _)| *alias == last)
            .map_or(last.clone(), |(_, hf)| hf.to_string())
    };
    if canonical(trained_on) == canonical(model_name) {
        Ok(())
    } else {
        Err(SaeError::ModelMismatch {
            message: format!(
                "the SAE was trained on `{trained_on}` but the model is `{model_name}`; \
                 use that model, or pass --ignore-model-name if it is the same model under another name"
            ),
        })
    }
}

/// The activations of `feature` at every token of every sequence, all
/// sequences run through the model as one batch.
pub fn feature_activations(
    model: &dyn HookedModel,
    sae: &Sae,
    sequences: &[Vec<u32>],
    feature: u32,
) -> Result<Vec<Vec<f32>>, SaeError> {
    let mut flat = Vec::new();
    features_activations_into(model, sae, sequences, &[feature], 0, &mut flat)?;
    let mut flat = flat.into_iter();
    Ok(sequences
        .iter()
        .map(|seq| flat.by_ref().take(seq.len()).collect())
        .collect())
}

/// The activations of several features at every token of every sequence
/// but its first `skip` (a BOS the caller prepended), all sequences run as
/// one batch, written into `out` (its allocation reused): row-major
/// `[token][feature]`, sequences one after another. Skipped positions still
/// go through the model (later tokens attend to them) but not through the
/// encoder. Asking for every feature in order uses the full encoder instead
/// of gathering its columns.
pub fn features_activations_into(
    model: &dyn HookedModel,
    sae: &Sae,
    sequences: &[Vec<u32>],
    features: &[u32],
    skip: usize,
    out: &mut Vec<f32>,
) -> Result<(), SaeError> {
    for &feature in features {
        sae.check_feature(feature)?;
    }
    check_compatible(sae, model)?;
    if sequences.is_empty() {
        out.clear();
        return Ok(());
    }
    let hook_acts = model.run_to_hook_batch(sequences, sae.info().hook)?;
    let kept = hook_acts
        .iter()
        .map(|acts| {
            let len = acts.dim(0)?;
            let from = skip.min(len);
            acts.narrow(0, from, len - from)
        })
        .collect::<candle_core::Result<Vec<_>>>()?;
    let rows = Tensor::cat(&kept, 0)?;
    if rows.dim(0)? == 0 {
        out.clear();
        return Ok(());
    }
    let rows = sae.input_transform(model.family()).apply(&rows)?;
    let every_feature =
        features.len() == sae.d_sae() && features.iter().enumerate().all(|(i, &f)| f as usize == i);
    if every_feature {
        sae.encode_into(&rows, out)?;
    } else {
        replace_with_tensor(out, &sae.encode_features(&rows, features)?)?;
    }
    Ok(())
}
