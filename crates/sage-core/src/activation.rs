//! Plain data exchanged with activation sources (the sources themselves live
//! in the app crate). Shapes follow Neuronpedia's
//! activation record so JSON written by sage reads like what users know.

use crate::prelude::*;

use serde::{Deserialize, Serialize};

/// The activations of one feature on one text, token by token.
///
/// Serialises to the Neuronpedia-shaped JSON that `sage activations --json`
/// prints: `model`, `sae`, `hook`, `feature`, `tokens`, `token_ids`,
/// `values`, `max_value`, `max_value_token_index`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActivationRecord {
    /// Model identifier as the user named it.
    pub model: String,
    /// SAE identifier as the user named it.
    pub sae: String,
    /// TransformerLens hook name the SAE reads.
    pub hook: String,
    /// Feature (latent) index.
    pub feature: u32,
    /// Token strings, as the tokenizer splits the text (including any BOS).
    pub tokens: Vec<String>,
    /// Token ids, aligned with `tokens`.
    pub token_ids: Vec<u32>,
    /// Feature activation at each token, aligned with `tokens`.
    pub values: Vec<f32>,
    /// Largest value in `values` (0 for an empty record).
    pub max_value: f32,
    /// Index of the first occurrence of `max_value`.
    pub max_value_token_index: usize,
}

impl ActivationRecord {
    /// Builds a record and derives `max_value` / `max_value_token_index`
    /// from the values, so the two can never disagree.
    pub fn new(
        info: &SourceInfo,
        feature: u32,
        tokens: Vec<String>,
        token_ids: Vec<u32>,
        values: Vec<f32>,
    ) -> ActivationRecord {
        let (max_value_token_index, max_value) =
            values
                .iter()
                .copied()
                .enumerate()
                .fold((0, f32::NEG_INFINITY), |best, (i, v)| {
                    if v > best.1 { (i, v) } else { best }
                });
        ActivationRecord {
            model: info.model.clone(),
            sae: info.sae.clone(),
            hook: info.hook.clone(),
            feature,
            tokens,
            token_ids,
            values,
            max_value: if max_value.is_finite() {
                max_value
            } else {
                0.0
            },
            max_value_token_index,
        }
    }
}

/// A value a source handed over that is NaN or infinite. JSON has no
/// spelling for those, so a session log holding one could not be read back:
/// sources and the driver refuse such data instead of recording it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NonFinite {
    /// Which value, e.g. `top[2].values[7]` or `max_activation`.
    pub field: String,
}

impl core::fmt::Display for NonFinite {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} is not a finite number (NaN or infinity)", self.field)
    }
}

fn check_finite(value: f64, field: impl FnOnce() -> String) -> Result<(), NonFinite> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(NonFinite { field: field() })
    }
}

impl ActivationRecord {
    /// The first non-finite value in the record, named by `prefix` and its
    /// place (`values[i]` or `max_value`).
    pub fn check_finite(&self, prefix: &str) -> Result<(), NonFinite> {
        for (i, v) in self.values.iter().enumerate() {
            check_finite(f64::from(*v), || format!("{prefix}values[{i}]"))?;
        }
        check_finite(f64::from(self.max_value), || format!("{prefix}max_value"))
    }
}

/// What a source measures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceInfo {
    /// Model identifier.
    pub model: String,
    /// SAE identifier.
    pub sae: String,
    /// Hook the SAE reads.
    pub hook: String,
    /// Number of features (latents) in the SAE, for range checks.
    pub n_features: u32,
}

/// How many exemplars of each kind to fetch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExemplarQuery {
    /// Top activating windows wanted.
    pub top_k: usize,
    /// Samples wanted from each activation quantile band below the top.
    pub per_quantile: usize,
    /// Windows on which the feature does not fire at all.
    pub non_activating: usize,
}

impl Default for ExemplarQuery {
    fn default() -> Self {
        ExemplarQuery {
            top_k: 20,
            per_quantile: 5,
            non_activating: 5,
        }
    }
}

/// One example window with its per-token activations and where it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Exemplar {
    /// The activations over the window.
    pub record: ActivationRecord,
    /// Where the window came from (a corpus file, a Neuronpedia dataset row).
    pub origin: Option<String>,
    /// Byte or token offset of the window within its origin, where known.
    pub offset: Option<u64>,
}

/// Samples from one band of activation strength, for seeing the feature's
/// behaviour below its peak.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuantileBand {
    /// Lower bound of the band's max activation.
    pub min_value: f32,
    /// Upper bound of the band's max activation.
    pub max_value: f32,
    /// Exemplars in the band.
    pub examples: Vec<Exemplar>,
}

/// Everything a source knows about a feature before any experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureExemplars {
    /// Feature index.
    pub feature: u32,
    /// Top activating windows, strongest first.
    pub top: Vec<Exemplar>,
    /// Samples from lower activation bands, strongest band first.
    pub quantiles: Vec<QuantileBand>,
    /// Windows on which the feature stays at zero.
    pub non_activating: Vec<Exemplar>,
    /// Fraction of tokens on which the feature fires, where known.
    pub density: Option<f64>,
    /// The feature's largest observed activation.
    pub max_activation: f32,
}

impl FeatureExemplars {
    /// The first non-finite value anywhere in the exemplars: every record,
    /// every band bound, the density and the maximum.
    pub fn check_finite(&self) -> Result<(), NonFinite> {
        let records = |name: &'static str, list: &[Exemplar]| -> Result<(), NonFinite> {
            for (i, e) in list.iter().enumerate() {
                e.record.check_finite(&format!("{name}[{i}]."))?;
            }
            Ok(())
        };
        records("top", &self.top)?;
        records("non_activating", &self.non_activating)?;
        for (b, band) in self.quantiles.iter().enumerate() {
            check_finite(f64::from(band.min_value), || {
                format!("quantiles[{b}].min_value")
            })?;
            check_finite(f64::from(band.max_value), || {
                format!("quantiles[{b}].max_value")
            })?;
            for (i, e) in band.examples.iter().enumerate() {
                e.record
                    .check_finite(&format!("quantiles[{b}].examples[{i}]."))?;
            }
        }
        if let Some(density) = self.density {
            check_finite(density, || "density".into())?;
        }
        check_finite(f64::from(self.max_activation), || "max_activation".into())
    }
}
