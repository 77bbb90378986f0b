//! The finished product of mining, self-contained and serialisable (it is
//! what the result cache stores and what `sage top --json` prints).

use std::collections::HashSet;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::stats::{FeatureStats, Sample, StoredWindow};
use super::values::WindowValues;
use crate::activation::{
    ActivationRecord, Exemplar, ExemplarQuery, FeatureExemplars, QuantileBand, SourceInfo,
};

/// Mining results for every requested feature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MinedFeatures {
    /// Windows scored.
    pub windows: u64,
    /// Tokens scored.
    pub tokens: u64,
    /// One entry per requested feature, in request order.
    pub features: Vec<MinedFeature>,
}

/// One window with one feature's activations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MinedWindow {
    /// Source file (shared, like the tokens).
    pub file: Arc<str>,
    /// Byte offset of the window in the file (for `.jsonl`, of its line).
    pub offset: u64,
    /// Token strings (shared between the features that kept this window,
    /// so a result over many features holds each window's text once).
    pub tokens: Arc<[String]>,
    /// Token ids (shared likewise).
    pub token_ids: Arc<[u32]>,
    /// Activation per token (stored sparsely, written as a plain list).
    pub values: WindowValues,
    /// Largest activation in the window.
    pub max_value: f32,
}

/// Samples from one band of window maxima.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MinedBand {
    /// Inclusive lower bound.
    pub min_value: f32,
    /// Exclusive upper bound.
    pub max_value: f32,
    /// Firing windows seen in this band.
    pub windows_seen: u64,
    /// The sampled windows, strongest first.
    pub examples: Vec<MinedWindow>,
}

/// What mining found for one feature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MinedFeature {
    /// Feature index.
    pub feature: u32,
    /// Top windows, strongest first.
    pub top: Vec<MinedWindow>,
    /// Band samples (excluding top windows), strongest band first.
    pub quantiles: Vec<MinedBand>,
    /// Windows where the feature never fired.
    pub non_activating: Vec<MinedWindow>,
    /// Tokens on which it fired.
    pub firing_tokens: u64,
    /// `firing_tokens` over all tokens scored.
    pub density: f64,
    /// Largest activation seen.
    pub max_activation: f32,
}

impl MinedWindow {
    fn from_sample(sample: Sample<Arc<StoredWindow>>) -> MinedWindow {
        MinedWindow {
            file: Arc::clone(&sample.window.file),
            offset: sample.window.offset,
            tokens: Arc::clone(&sample.window.tokens),
            token_ids: Arc::clone(&sample.window.ids),
            values: sample.values,
            max_value: sample.max,
        }
    }

    fn to_exemplar(&self, info: &SourceInfo, feature: u32) -> Exemplar {
        Exemplar {
            record: ActivationRecord::new(
                info,
                feature,
                self.tokens.to_vec(),
                self.token_ids.to_vec(),
                self.values.to_vec(),
            ),
            origin: Some(self.file.to_string()),
            offset: Some(self.offset),
        }
    }
}

impl MinedFeature {
    /// Freezes one feature's streaming state into its result, moving the
    /// kept samples rather than copying them.
    pub(super) fn from_stats(
        stats: FeatureStats<Arc<StoredWindow>>,
        total_tokens: u64,
    ) -> MinedFeature {
        let in_top: HashSet<u64> = stats.top.iter().map(|s| s.seq).collect();
        let strongest_first = |samples: &mut Vec<Sample<Arc<StoredWindow>>>| {
            samples.sort_by(|a, b| b.max.total_cmp(&a.max).then(a.seq.cmp(&b.seq)));
        };
        let bounds: Vec<(f32, f32)> = (0..stats.bands.bands.len())
            .map(|i| stats.bands.bounds(i))
            .collect();
        let quantiles = stats
            .bands
            .bands
            .into_iter()
            .zip(bounds)
            .rev()
            .filter_map(|(band, (min_value, max_value))| {
                let mut kept: Vec<_> = band
                    .items
                    .into_iter()
                    .filter(|s| !in_top.contains(&s.seq))
                    .collect();
                if kept.is_empty() {
                    return None;
                }
                strongest_first(&mut kept);
                Some(MinedBand {
                    min_value,
                    max_value,
                    windows_seen: band.seen,
                    examples: kept.into_iter().map(MinedWindow::from_sample).collect(),
                })
            })
            .collect();
        let mut quiet = stats.quiet.items;
        quiet.sort_by_key(|s| s.seq);
        MinedFeature {
            feature: stats.feature,
            top: stats
                .top
                .into_iter()
                .map(MinedWindow::from_sample)
                .collect(),
            quantiles,
            non_activating: quiet.into_iter().map(MinedWindow::from_sample).collect(),
            firing_tokens: stats.firing_tokens,
            density: if total_tokens == 0 {
                0.0
            } else {
                stats.firing_tokens as f64 / total_tokens as f64
            },
            max_activation: stats.max,
        }
    }

    /// The feature's exemplars as an activation source hands them to the
    /// agent, trimmed to what `query` asks for; every exemplar names its
    /// source file and byte offset.
    pub fn to_exemplars(&self, info: &SourceInfo, query: &ExemplarQuery) -> FeatureExemplars {
        let exemplars = |windows: &[MinedWindow], n: usize| -> Vec<Exemplar> {
            windows
                .iter()
                .take(n)
                .map(|w| w.to_exemplar(info, self.feature))
                .collect()
        };
        FeatureExemplars {
            feature: self.feature,
            top: exemplars(&self.top, query.top_k),
            quantiles: self
                .quantiles
                .iter()
                .map(|band| QuantileBand {
                    min_value: band.min_value,
                    max_value: band.max_value,
                    examples: exemplars(&band.examples, query.per_quantile),
                })
                .collect(),
            non_activating: exemplars(&self.non_activating, query.non_activating),
            density: Some(self.density),
            max_activation: self.max_activation,
        }
    }
}
