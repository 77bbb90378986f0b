//! The held-out split: exemplars the reasoner never sees, kept for evaluation.
//!
//! Candidates are the top examples below rank `keep_top` and every quantile
//! sample. They are ordered by max activation (strongest first, ties by
//! position), cut into high / middle / low thirds, and `count` are drawn
//! 40% / 30% / 30% (4 / 3 / 3 for SAGE's 10) with a splitmix64 generator
//! seeded from the session seed. At most half the candidates are held out so
//! the reasoner keeps a view below the top. Non-activating windows always
//! stay visible.

use crate::prelude::*;

use serde::{Deserialize, Serialize};

use super::config::HoldoutConfig;
use crate::activation::{Exemplar, FeatureExemplars};
use crate::rng::SplitMix64;

/// Where an exemplar sits in [`FeatureExemplars`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "list", rename_all = "snake_case")]
pub enum Slot {
    /// `top[rank]`.
    Top {
        /// Rank in the top list.
        rank: usize,
    },
    /// `quantiles[band].examples[index]`.
    Quantile {
        /// Band index.
        band: usize,
        /// Index within the band.
        index: usize,
    },
}

/// The held-out exemplars and where they came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Holdout {
    /// The seed the split was drawn with.
    pub seed: u64,
    /// Original positions, aligned with `examples`.
    pub slots: Vec<Slot>,
    /// The held-out windows with their true activations.
    pub examples: Vec<Exemplar>,
}

/// Splits exemplars into what the reasoner may see and the held-out set.
pub fn split(
    all: &FeatureExemplars,
    config: &HoldoutConfig,
    seed: u64,
) -> (FeatureExemplars, Holdout) {
    let mut candidates: Vec<(Slot, f32)> = all
        .top
        .iter()
        .enumerate()
        .skip(config.keep_top)
        .map(|(rank, e)| (Slot::Top { rank }, e.record.max_value))
        .collect();
    for (band, q) in all.quantiles.iter().enumerate() {
        for (index, e) in q.examples.iter().enumerate() {
            candidates.push((Slot::Quantile { band, index }, e.record.max_value));
        }
    }
    candidates.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));

    let count = config.count.min(candidates.len() / 2);
    let high = (count * 4).div_ceil(10);
    let middle = (count * 3).div_ceil(10).min(count - high);
    let wanted = [high, middle, count - high - middle];
    let third = candidates.len().div_ceil(3);

    let mut rng = SplitMix64::new(seed);
    let mut chosen: Vec<Slot> = Vec::with_capacity(count);
    for (band, &want) in candidates.chunks(third.max(1)).zip(&wanted) {
        let mut pool: Vec<Slot> = band.iter().map(|c| c.0).collect();
        for _ in 0..want.min(pool.len()) {
            chosen.push(pool.swap_remove(rng.below(pool.len())));
        }
    }
    chosen.sort();

    let mut visible = all.clone();
    let mut examples = Vec::with_capacity(chosen.len());
    for slot in &chosen {
        examples.push(match *slot {
            Slot::Top { rank } => all.top[rank].clone(),
            Slot::Quantile { band, index } => all.quantiles[band].examples[index].clone(),
        });
    }
    visible.top = keep(&all.top, |rank| chosen.contains(&Slot::Top { rank }));
    for (band, q) in visible.quantiles.iter_mut().enumerate() {
        q.examples = keep(&all.quantiles[band].examples, |index| {
            chosen.contains(&Slot::Quantile { band, index })
        });
    }
    let holdout = Holdout {
        seed,
        slots: chosen,
        examples,
    };
    (visible, holdout)
}

fn keep(list: &[Exemplar], held: impl Fn(usize) -> bool) -> Vec<Exemplar> {
    list.iter()
        .enumerate()
        .filter(|(i, _)| !held(*i))
        .map(|(_, e)| e.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activation::{ActivationRecord, QuantileBand};

    fn exemplar(text: &str, max: f32) -> Exemplar {
        Exemplar {
            record: ActivationRecord {
                model: "m".into(),
                sae: "s".into(),
                hook: "h".into(),
                feature: 1,
                tokens: vec![text.to_string()],
                token_ids: vec![0],
                values: vec![max],
                max_value: max,
                max_value_token_index: 0,
            },
            origin: None,
            offset: None,
        }
    }

    fn exemplars(n_top: usize, n_quantile: usize) -> FeatureExemplars {
        FeatureExemplars {
            feature: 1,
            top: (0..n_top)
                .map(|i| exemplar(&format!("top{i}"), 100.0 - i as f32))
                .collect(),
            quantiles: vec![QuantileBand {
                min_value: 0.0,
                max_value: 50.0,
                examples: (0..n_quantile)
                    .map(|i| exemplar(&format!("q{i}"), 50.0 - i as f32))
                    .collect(),
            }],
            non_activating: vec![exemplar("none", 0.0)],
            density: None,
            max_activation: 100.0,
        }
    }

    fn texts(f: &FeatureExemplars) -> Vec<String> {
        f.top
            .iter()
            .chain(f.quantiles.iter().flat_map(|q| &q.examples))
            .map(|e| e.record.tokens[0].clone())
            .collect()
    }

    #[test]
    fn holds_out_the_configured_count_and_keeps_the_top_visible() {
        let all = exemplars(20, 20);
        let (visible, held) = split(&all, &HoldoutConfig::default(), 7);
        assert_eq!(held.examples.len(), 10);
        let seen = texts(&visible);
        assert_eq!(seen.len(), 30);
        for i in 0..10 {
            assert!(seen.contains(&format!("top{i}")));
        }
        for e in &held.examples {
            assert!(!seen.contains(&e.record.tokens[0]));
        }
        assert_eq!(visible.non_activating.len(), 1);
    }

    #[test]
    fn draws_four_high_three_middle_three_low() {
        let all = exemplars(10, 30);
        let (_, held) = split(&all, &HoldoutConfig::default(), 3);
        let values: Vec<f32> = held.examples.iter().map(|e| e.record.max_value).collect();
        let high = values.iter().filter(|&&v| v > 40.0).count();
        let low = values.iter().filter(|&&v| v <= 30.0).count();
        assert_eq!((high, low), (4, 3));
    }

    #[test]
    fn same_seed_same_split_and_different_seed_differs() {
        let all = exemplars(20, 40);
        let a = split(&all, &HoldoutConfig::default(), 11).1;
        let b = split(&all, &HoldoutConfig::default(), 11).1;
        let c = split(&all, &HoldoutConfig::default(), 12).1;
        assert_eq!(a, b);
        assert_ne!(a.slots, c.slots);
    }

    #[test]
    fn holds_out_at_most_half_the_candidates() {
        let all = exemplars(12, 2);
        let (visible, held) = split(&all, &HoldoutConfig::default(), 1);
        assert_eq!(held.examples.len(), 2);
        assert_eq!(texts(&visible).len(), 12);
        let none = split(&exemplars(5, 0), &HoldoutConfig::default(), 1).1;
        assert!(none.examples.is_empty());
    }
}
