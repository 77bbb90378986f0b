//! Predictive accuracy, as SAGE defines it: on held-out texts the explainer
//! never saw, true per-token activations are rescaled to 0-10 by the
//! feature's max; a predictor estimates every token from the explanation
//! alone; the score is Pearson's r over all tokens of all texts. A text
//! whose prediction failed or could not be parsed is reported as missing
//! and left out, never scored as zeros. Explanation-free baselines read the
//! visible top exemplars only, and give the numbers a floor.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::stats::{BOOTSTRAP_RESAMPLES, Interval, bootstrap, pearson};
use crate::activation::{Exemplar, FeatureExemplars};
use crate::agent::Holdout;
use crate::reasoner::heuristic::normalize;
use crate::rng::SplitMix64;

/// Top of the 0-10 scale true activations are rescaled to.
pub const SCALE: f32 = 10.0;

/// One held-out text with its true activations on the 0-10 scale.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeldOutText {
    /// Tokens as the source split them.
    pub tokens: Vec<String>,
    /// True activation per token, 0..=10 relative to the feature's max.
    pub truth: Vec<f32>,
    /// Whether it was added as a non-activating text (SAGE's set has none).
    pub non_activating: bool,
}

/// The held-out set: the session's stored split, plus optional
/// non-activating windows, rescaled by `feature_max`.
pub fn held_out_set(
    holdout: &Holdout,
    non_activating: &[Exemplar],
    feature_max: f32,
) -> Vec<HeldOutText> {
    let rescale = |v: f32| {
        if feature_max > 0.0 {
            (v.max(0.0) / feature_max * SCALE).min(SCALE)
        } else {
            0.0
        }
    };
    let text = |e: &Exemplar, non_activating: bool| HeldOutText {
        tokens: e.record.tokens.clone(),
        truth: e.record.values.iter().map(|&v| rescale(v)).collect(),
        non_activating,
    };
    holdout
        .examples
        .iter()
        .map(|e| text(e, false))
        .chain(non_activating.iter().map(|e| text(e, true)))
        .collect()
}

/// A predictor's score on the held-out set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PredictiveScore {
    /// Texts in the set.
    pub texts: usize,
    /// Texts with no usable prediction (failed call, unparseable reply,
    /// wrong length), left out of the score.
    pub missing: usize,
    /// Tokens scored.
    pub tokens: usize,
    /// Pearson's r over every scored token, with a bootstrap interval over
    /// texts; `None` when undefined (no scored text, or a side without
    /// variance).
    pub pearson: Option<Interval>,
    /// Seed the interval was drawn with.
    pub seed: u64,
}

/// Scores predictions (aligned with `set`; `None` = missing).
pub fn score(set: &[HeldOutText], predictions: &[Option<Vec<f32>>], seed: u64) -> PredictiveScore {
    let scored: Vec<(&HeldOutText, &Vec<f32>)> = set
        .iter()
        .zip(predictions)
        .filter_map(|(text, p)| {
            p.as_ref()
                .filter(|p| p.len() == text.truth.len() && p.iter().all(|v| v.is_finite()))
                .map(|p| (text, p))
        })
        .collect();
    let statistic = |sample: &[&(&HeldOutText, &Vec<f32>)]| {
        let (mut truth, mut guess) = (Vec::new(), Vec::new());
        for (text, p) in sample {
            truth.extend(text.truth.iter().map(|&v| f64::from(v)));
            guess.extend(p.iter().map(|&v| f64::from(v)));
        }
        correlation(&guess, &truth)
    };
    PredictiveScore {
        texts: set.len(),
        missing: set.len() - scored.len(),
        tokens: scored.iter().map(|(t, _)| t.truth.len()).sum(),
        pearson: bootstrap(&scored, statistic, BOOTSTRAP_RESAMPLES, seed),
        seed,
    }
}

/// Pearson's r of predictions against the truth, where a prediction with
/// no variance (the same value everywhere) scores 0 when the truth varies:
/// it says nothing about where the feature fires, and leaving it out would
/// flatter the average. `None` only when the truth itself is flat.
pub fn correlation(guess: &[f64], truth: &[f64]) -> Option<f64> {
    let varies = |v: &[f64]| v.iter().any(|x| (x - v[0]).abs() > f64::EPSILON);
    if truth.len() < 2 || !varies(truth) {
        return None;
    }
    if guess.len() == truth.len() && !varies(guess) {
        return Some(0.0);
    }
    pearson(guess, truth)
}

/// An explanation-free predictor built from the visible exemplars.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Baseline {
    /// Uniform random 0-10 per token (seeded): the floor.
    Random,
    /// 10 on the token that fired most often in the top examples, 0 elsewhere.
    TopToken,
    /// Each token's mean activation in the top examples (0 if unseen).
    TokenTable,
}

impl Baseline {
    /// Every baseline, in table order.
    pub const ALL: [Baseline; 3] = [Baseline::Random, Baseline::TopToken, Baseline::TokenTable];

    /// Its column name.
    pub fn name(self) -> &'static str {
        match self {
            Baseline::Random => "random",
            Baseline::TopToken => "top token",
            Baseline::TokenTable => "token table",
        }
    }

    /// Its predictions for every text of the set.
    pub fn predict(
        self,
        visible: &FeatureExemplars,
        set: &[HeldOutText],
        seed: u64,
    ) -> Vec<Option<Vec<f32>>> {
        let table = token_table(visible);
        let top_token = table
            .iter()
            .filter(|(_, seen)| seen.firing > 0)
            .max_by(|a, b| a.1.firing.cmp(&b.1.firing).then(b.0.cmp(a.0)))
            .map(|(t, _)| *t);
        let mut rng = SplitMix64::new(seed);
        set.iter()
            .map(|text| {
                Some(
                    text.tokens
                        .iter()
                        .map(|t| match self {
                            Baseline::Random => rng.below(11) as f32,
                            Baseline::TopToken => {
                                if Some(normalize(t)) == top_token {
                                    SCALE
                                } else {
                                    0.0
                                }
                            }
                            Baseline::TokenTable => table
                                .get(normalize(t))
                                .map_or(0.0, |seen| seen.sum / seen.occurrences as f32),
                        })
                        .collect(),
                )
            })
            .collect()
    }
}

/// What the top examples showed about one token.
#[derive(Default)]
struct Seen {
    /// Sum of its rescaled activations.
    sum: f32,
    /// Times it occurred.
    occurrences: u32,
    /// Times it fired (activation above zero).
    firing: u32,
}

/// Every token of the visible top examples with its rescaled activations.
fn token_table(visible: &FeatureExemplars) -> BTreeMap<&str, Seen> {
    let max = visible.max_activation;
    let mut table: BTreeMap<&str, Seen> = BTreeMap::new();
    for e in &visible.top {
        for (t, &v) in e.record.tokens.iter().zip(&e.record.values) {
            let seen = table.entry(normalize(t)).or_default();
            if max > 0.0 {
                seen.sum += v.max(0.0) / max * SCALE;
            }
            seen.occurrences += 1;
            seen.firing += u32::from(v > 0.0);
        }
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::fixtures::exemplar;

    fn holdout(examples: Vec<Exemplar>) -> Holdout {
        Holdout {
            seed: 5,
            slots: Vec::new(),
            examples,
        }
    }

    #[test]
    fn true_activations_are_rescaled_by_the_feature_max() {
        let h = holdout(vec![exemplar(&["a", "b", "c"], &[0.0, 2.0, 8.0])]);
        let silent = [exemplar(&["q"], &[0.0])];
        let set = held_out_set(&h, &silent, 4.0);
        assert_eq!(set[0].truth, [0.0, 5.0, 10.0]);
        assert_eq!(set.len(), 2);
        assert!(set[1].non_activating && !set[0].non_activating);
    }

    #[test]
    fn pearson_over_all_tokens_of_all_texts_and_missing_left_out() {
        let h = holdout(vec![
            exemplar(&["a", "b"], &[0.0, 10.0]),
            exemplar(&["c", "d"], &[10.0, 0.0]),
            exemplar(&["e", "f"], &[5.0, 5.0]),
        ]);
        let set = held_out_set(&h, &[], 10.0);
        // Texts 1 and 2 pooled: truth 0,10,10,0 vs guess 1,8,9,0:
        // mean truth 5, mean guess 4.5; sxy = (-5)(-3.5)+5*3.5+5*4.5+(-5)(-4.5)
        // = 80; sxx(truth) = 100; syy = 12.25+12.25+20.25+20.25 = 65;
        // r = 80 / sqrt(6500) = 0.992277876...
        let predictions = vec![Some(vec![1.0, 8.0]), Some(vec![9.0, 0.0]), None];
        let s = score(&set, &predictions, 3);
        assert_eq!((s.texts, s.missing, s.tokens), (3, 1, 4));
        let r = s.pearson.unwrap();
        assert!((r.estimate - 0.992_277_876_713_667_5).abs() < 1e-6, "{r:?}");
        // A prediction of the wrong length is missing too.
        let wrong = vec![Some(vec![1.0]), Some(vec![9.0, 0.0]), Some(vec![1.0, 1.0])];
        assert_eq!(score(&set, &wrong, 3).missing, 1);
        assert!(score(&set, &[None, None, None], 3).pearson.is_none());
        // A flat prediction says nothing: r = 0, not left out.
        let flat = vec![
            Some(vec![0.0, 0.0]),
            Some(vec![0.0, 0.0]),
            Some(vec![0.0, 0.0]),
        ];
        assert_eq!(score(&set, &flat, 3).pearson.map(|r| r.estimate), Some(0.0));
    }

    #[test]
    fn baselines_read_only_the_visible_top_examples() {
        let visible = FeatureExemplars {
            feature: 0,
            top: vec![
                exemplar(&["the", " cat", " sat"], &[0.0, 8.0, 0.0]),
                exemplar(&["a", " cat", " dog"], &[0.0, 6.0, 4.0]),
            ],
            quantiles: Vec::new(),
            non_activating: Vec::new(),
            density: None,
            max_activation: 8.0,
        };
        let h = holdout(vec![exemplar(&["my", " dog", " cat"], &[0.0, 4.0, 8.0])]);
        let set = held_out_set(&h, &[], 8.0);
        let top = Baseline::TopToken.predict(&visible, &set, 0);
        assert_eq!(top, [Some(vec![0.0, 0.0, 10.0])]);
        let table = Baseline::TokenTable.predict(&visible, &set, 0);
        assert_eq!(table, [Some(vec![0.0, 5.0, 8.75])]);
        let a = Baseline::Random.predict(&visible, &set, 7);
        assert_eq!(a, Baseline::Random.predict(&visible, &set, 7));
        assert!(
            a[0].as_ref()
                .unwrap()
                .iter()
                .all(|v| (0.0..=10.0).contains(v))
        );
    }
}
