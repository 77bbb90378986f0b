//! A synthetic activation source: features with known rules, evaluated on
//! a small built-in corpus, so explainers can be tested against ground
//! truth without a model, a GPU or the network.
//!
//! Everything here is deterministic: the same feature and query always
//! give the same exemplars in the same order.

mod features;
mod rules;

pub use crate::words::{token_id, tokenize};
pub use features::{FEATURES, SyntheticFeature};
pub use rules::{Matcher, SyntheticRule};

use super::{
    ActivationRecord, ActivationSource, Exemplar, ExemplarQuery, FeatureExemplars, QuantileBand,
    SourceError, SourceInfo,
};

/// The built-in corpus: texts separated by blank lines (prose, dialogue,
/// dates, prices, lists and code), written for this project.
const CORPUS: &str = include_str!("synthetic/corpus.txt");

/// Number of quantile bands the activating texts below the top are split into.
const QUANTILE_BANDS: usize = 3;

/// Splits a blank-line-separated text file into its texts.
pub fn split_texts(source: &str) -> Vec<String> {
    source
        .split("\n\n")
        .map(|t| t.trim_matches('\n').to_string())
        .filter(|t| !t.trim().is_empty())
        .collect()
}

/// The texts of the built-in corpus.
pub fn corpus() -> Vec<String> {
    split_texts(CORPUS)
}

/// Serves the built-in [`FEATURES`] over the built-in corpus.
#[derive(Debug, Clone)]
pub struct SyntheticSource {
    features: Vec<SyntheticFeature>,
    corpus: Vec<String>,
}

impl Default for SyntheticSource {
    fn default() -> Self {
        SyntheticSource::new()
    }
}

impl SyntheticSource {
    /// The built-in features over the built-in corpus.
    pub fn new() -> SyntheticSource {
        SyntheticSource {
            features: FEATURES.to_vec(),
            corpus: corpus(),
        }
    }

    /// The features this source serves, indexed by feature id.
    pub fn features(&self) -> &[SyntheticFeature] {
        &self.features
    }

    /// [`ActivationSource::activations`] without the async wrapper.
    pub fn records(
        &self,
        feature: u32,
        texts: &[String],
    ) -> Result<Vec<ActivationRecord>, SourceError> {
        let rule = self.feature(feature)?.rule;
        Ok(texts
            .iter()
            .map(|t| self.record(feature, &rule, t))
            .collect())
    }

    /// [`ActivationSource::exemplars`] without the async wrapper.
    pub fn feature_exemplars(
        &self,
        feature: u32,
        query: &ExemplarQuery,
    ) -> Result<FeatureExemplars, SourceError> {
        let rule = self.feature(feature)?.rule;
        let records: Vec<(usize, ActivationRecord)> = self
            .corpus
            .iter()
            .enumerate()
            .map(|(i, t)| (i, self.record(feature, &rule, t)))
            .collect();
        let total_tokens: usize = records.iter().map(|(_, r)| r.values.len()).sum();
        let firing_tokens = records
            .iter()
            .flat_map(|(_, r)| &r.values)
            .filter(|v| **v > 0.0)
            .count();
        let max_activation = records
            .iter()
            .map(|(_, r)| r.max_value)
            .fold(0.0_f32, f32::max);

        let (mut active, silent): (Vec<_>, Vec<_>) =
            records.into_iter().partition(|(_, r)| r.max_value > 0.0);
        if active.is_empty() {
            return Err(SourceError::NoExemplars(format!(
                "synthetic feature {feature} never fires on the built-in corpus; pick another feature"
            )));
        }
        // Strongest first; ties keep corpus order so results are stable.
        active.sort_by(|a, b| b.1.max_value.total_cmp(&a.1.max_value).then(a.0.cmp(&b.0)));
        let split = query.top_k.min(active.len());
        let rest = active.split_off(split);
        let top = active.into_iter().map(|(i, r)| exemplar(r, i)).collect();

        let quantiles = (0..QUANTILE_BANDS)
            .filter_map(|b| {
                let band =
                    &rest[b * rest.len() / QUANTILE_BANDS..(b + 1) * rest.len() / QUANTILE_BANDS];
                let (first, last) = (band.first()?, band.last()?);
                Some(QuantileBand {
                    min_value: last.1.max_value,
                    max_value: first.1.max_value,
                    examples: spread(band, query.per_quantile)
                        .into_iter()
                        .map(|(i, r)| exemplar(r, i))
                        .collect(),
                })
            })
            .collect();
        let non_activating = spread(&silent, query.non_activating)
            .into_iter()
            .map(|(i, r)| exemplar(r, i))
            .collect();

        Ok(FeatureExemplars {
            feature,
            top,
            quantiles,
            non_activating,
            density: Some(firing_tokens as f64 / total_tokens.max(1) as f64),
            max_activation,
        })
    }

    fn feature(&self, feature: u32) -> Result<&SyntheticFeature, SourceError> {
        self.features
            .get(feature as usize)
            .ok_or(SourceError::FeatureOutOfRange {
                feature,
                max: self.features.len().saturating_sub(1) as u32,
            })
    }

    /// The activation record of `feature` on one text (no range check).
    fn record(&self, feature: u32, rule: &SyntheticRule, text: &str) -> ActivationRecord {
        let tokens = tokenize(text);
        let ids = tokens.iter().map(|t| token_id(t)).collect();
        let values = rule.activations(&tokens);
        ActivationRecord::new(&self.info(), feature, tokens, ids, values)
    }
}

/// Wraps a corpus text's record as an exemplar that says where it came from.
fn exemplar(record: ActivationRecord, index: usize) -> Exemplar {
    Exemplar {
        record,
        origin: Some("synthetic corpus".to_string()),
        offset: Some(index as u64),
    }
}

/// `count` items spread evenly over `items` (all of them if there are fewer).
fn spread<T: Clone>(items: &[T], count: usize) -> Vec<T> {
    if count == 0 || items.is_empty() {
        return Vec::new();
    }
    if items.len() <= count {
        return items.to_vec();
    }
    (0..count)
        .map(|k| items[k * items.len() / count].clone())
        .collect()
}

#[async_trait::async_trait]
impl ActivationSource for SyntheticSource {
    fn info(&self) -> SourceInfo {
        SourceInfo {
            model: "synthetic".to_string(),
            sae: "synthetic-rules".to_string(),
            hook: "blocks.0.hook_resid_pre".to_string(),
            n_features: self.features.len() as u32,
        }
    }

    async fn activations(
        &self,
        feature: u32,
        texts: &[String],
    ) -> Result<Vec<ActivationRecord>, SourceError> {
        self.records(feature, texts)
    }

    async fn exemplars(
        &self,
        feature: u32,
        query: &ExemplarQuery,
    ) -> Result<FeatureExemplars, SourceError> {
        self.feature_exemplars(feature, query)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_least_twenty_features_all_fire_on_the_corpus() {
        let source = SyntheticSource::new();
        assert!(source.features().len() >= 20);
        for id in 0..source.features().len() as u32 {
            let ex = source.feature_exemplars(id, &ExemplarQuery::default());
            let ex = ex.unwrap_or_else(|e| panic!("feature {id}: {e}"));
            assert!(
                ex.top.len() >= 6,
                "feature {id} has only {} top exemplars",
                ex.top.len()
            );
            // Position features fire on every text, so only they lack silent ones.
            let positional = matches!(
                source.features()[id as usize].rule,
                SyntheticRule::Position { .. }
            );
            assert_eq!(ex.non_activating.is_empty(), positional, "feature {id}");
        }
    }

    #[test]
    fn exemplars_are_sorted_banded_and_deterministic() {
        let source = SyntheticSource::new();
        let query = ExemplarQuery {
            top_k: 5,
            per_quantile: 2,
            non_activating: 3,
        };
        let a = source
            .feature_exemplars(0, &query)
            .unwrap_or_else(|e| panic!("{e}"));
        let b = source
            .feature_exemplars(0, &query)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(a, b);
        assert_eq!(a.top.len(), 5);
        assert!(
            a.top
                .windows(2)
                .all(|w| w[0].record.max_value >= w[1].record.max_value)
        );
        assert_eq!(a.top[0].record.max_value, 10.0);
        assert_eq!(a.max_activation, 10.0);
        let floor = a.top[4].record.max_value;
        for band in &a.quantiles {
            assert!(band.examples.len() <= 2);
            assert!(band.examples.iter().all(|e| e.record.max_value <= floor));
        }
        assert_eq!(a.non_activating.len(), 3);
        assert!(a.non_activating.iter().all(|e| e.record.max_value == 0.0));
        let density = a.density.unwrap_or(0.0);
        assert!(density > 0.0 && density < 0.05, "{density}");
    }

    #[test]
    fn activations_follow_the_rule() {
        let source = SyntheticSource::new();
        let texts = vec!["We met in New York in May.".to_string()];
        let months = source.records(0, &texts).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(months[0].tokens[6], " May");
        assert_eq!(months[0].max_value_token_index, 6);
        assert!((months[0].max_value - 7.0).abs() < 1e-6);
        let york = source.records(16, &texts).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(york[0].max_value_token_index, 4);
    }

    #[test]
    fn unknown_feature_is_a_typed_error() {
        let source = SyntheticSource::new();
        let err = source.records(999, &[]).err();
        assert!(matches!(
            err,
            Some(SourceError::FeatureOutOfRange { feature: 999, .. })
        ));
    }
}
