//! The examples Delphi-style scorers (detection, fuzzing) show a judge:
//! activating windows the explainer never saw, drawn evenly across
//! activation quantiles, and non-activating windows drawn at random.
//!
//! The defaults are EleutherAI Delphi's (read from `delphi/config.py` and
//! `delphi/scorers/classifier/` of the `eai-delphi` 0.1.3 package:
//! `SamplerConfig`, `ConstructorConfig`, `RunConfig`, `FuzzingScorer`),
//! written down in `docs/EVAL.md` with where sage departs from them.
//! Every number is a field of [`ClassifierConfig`], recorded with the
//! results and settable from the command line.

use serde::{Deserialize, Serialize};

use super::feature::FeatureInput;
use crate::activation::{ActivationSource, Exemplar, ExemplarQuery, SourceError};
use crate::rng::SplitMix64;

/// Delphi's `SamplerConfig.n_examples_test`: activating test examples per feature.
pub const DELPHI_ACTIVATING: usize = 50;
/// Delphi's `SamplerConfig.n_quantiles`: activation bands the test examples span.
pub const DELPHI_QUANTILES: usize = 10;
/// Delphi's `ConstructorConfig.n_non_activating`: non-activating examples per feature.
pub const DELPHI_NON_ACTIVATING: usize = 50;
/// Delphi's examples per scorer prompt (`num_examples_per_scorer_prompt`).
pub const DELPHI_PER_PROMPT: usize = 5;
/// The fuzzing scorer's highlight threshold (Delphi's `FuzzingScorer`
/// `threshold`): a token is highlighted as firing at this fraction of its
/// example's max activation or more.
pub const DELPHI_HIGHLIGHT_FRACTION: f32 = 0.3;

/// How many examples detection and fuzzing show, and how they are drawn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClassifierConfig {
    /// Activating held-out examples per feature and seed.
    pub activating: usize,
    /// Bands of equal size (by max activation) the activating examples are
    /// drawn from evenly.
    pub quantiles: usize,
    /// Non-activating examples per feature and seed (drawn at random, as
    /// Delphi's default `non_activating_source = "random"`).
    pub non_activating: usize,
    /// Examples the judge sees in one prompt.
    pub per_prompt: usize,
    /// Fuzzing: the fraction of an example's max a token must reach to be
    /// highlighted as firing.
    pub highlight_fraction: f32,
}

impl Default for ClassifierConfig {
    fn default() -> Self {
        ClassifierConfig {
            activating: DELPHI_ACTIVATING,
            quantiles: DELPHI_QUANTILES,
            non_activating: DELPHI_NON_ACTIVATING,
            per_prompt: DELPHI_PER_PROMPT,
            highlight_fraction: DELPHI_HIGHLIGHT_FRACTION,
        }
    }
}

/// Every window a sample may be drawn from: nothing the explainer saw.
#[derive(Debug, Clone, PartialEq)]
pub struct TestPool {
    /// Activating windows, strongest first.
    pub activating: Vec<Exemplar>,
    /// Windows where the feature stays at zero.
    pub non_activating: Vec<Exemplar>,
}

/// One seed's draw from a [`TestPool`].
#[derive(Debug, Clone, PartialEq)]
pub struct TestSample {
    /// The seed it was drawn with.
    pub seed: u64,
    /// Activating examples with their quantile (0 = strongest, as Delphi
    /// numbers them), in quantile order.
    pub activating: Vec<(usize, Exemplar)>,
    /// Non-activating examples.
    pub non_activating: Vec<Exemplar>,
}

/// The pool for one feature: the source's exemplars (asked for generously)
/// and the session's held-out split, less every window the explainer saw.
pub async fn test_pool(
    input: &FeatureInput,
    source: &dyn ActivationSource,
    config: &ClassifierConfig,
) -> Result<TestPool, SourceError> {
    let seen = &input.visible;
    let query = ExemplarQuery {
        top_k: seen.top.len() + input.holdout.examples.len() + config.activating,
        per_quantile: config.activating,
        non_activating: seen.non_activating.len() + config.non_activating * 2,
    };
    let fetched = source.exemplars(input.feature, &query).await?;
    let was_seen = |e: &Exemplar| {
        seen.top
            .iter()
            .chain(seen.quantiles.iter().flat_map(|q| &q.examples))
            .chain(&seen.non_activating)
            .any(|s| s.record.tokens == e.record.tokens)
    };
    let mut activating: Vec<Exemplar> = Vec::new();
    let candidates = input
        .holdout
        .examples
        .iter()
        .chain(&fetched.top)
        .chain(fetched.quantiles.iter().flat_map(|q| &q.examples));
    for e in candidates {
        let duplicate = activating
            .iter()
            .any(|a| a.record.tokens == e.record.tokens);
        if e.record.max_value > 0.0 && !duplicate && !was_seen(e) {
            activating.push(e.clone());
        }
    }
    activating.sort_by(|a, b| b.record.max_value.total_cmp(&a.record.max_value));
    let non_activating = fetched
        .non_activating
        .into_iter()
        .filter(|e| e.record.max_value <= 0.0 && !was_seen(e))
        .collect();
    Ok(TestPool {
        activating,
        non_activating,
    })
}

impl TestPool {
    /// Draws one seed's sample as Delphi's `split_quantiles` does: the
    /// activating pool (strongest first) cut into `config.quantiles` bands
    /// of (nearly) equal size, `activating / quantiles` (rounded down)
    /// drawn at random from each, a band smaller than that giving all it
    /// has; and `non_activating` drawn at random. Unlike Delphi, a pool
    /// with fewer windows than bands gives one window per band rather than
    /// none, and the bands cover the whole pool.
    pub fn sample(&self, config: &ClassifierConfig, seed: u64) -> TestSample {
        let mut rng = SplitMix64::new(seed);
        let n = self.activating.len();
        let bands = config.quantiles.clamp(1, n.max(1));
        let want = config.activating / config.quantiles.max(1);
        let mut activating = Vec::new();
        for band in 0..bands {
            let members = &self.activating[band * n / bands..(band + 1) * n / bands];
            for e in draw(members, want, &mut rng) {
                activating.push((band, e));
            }
        }
        let non_activating = draw(&self.non_activating, config.non_activating, &mut rng);
        TestSample {
            seed,
            activating,
            non_activating,
        }
    }
}

/// `count` items drawn without replacement, in pool order.
fn draw(items: &[Exemplar], count: usize, rng: &mut SplitMix64) -> Vec<Exemplar> {
    let mut picked: Vec<usize> = (0..items.len()).collect();
    if count < items.len() {
        for i in 0..count {
            let j = i + rng.below(items.len() - i);
            picked.swap(i, j);
        }
        picked.truncate(count);
        picked.sort_unstable();
    }
    picked.into_iter().map(|i| items[i].clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::fixtures::exemplar;

    fn pool(activating: usize, silent: usize) -> TestPool {
        TestPool {
            activating: (0..activating)
                .map(|i| exemplar(&[&format!("a{i}")], &[(activating - i) as f32]))
                .collect(),
            non_activating: (0..silent)
                .map(|i| exemplar(&[&format!("z{i}")], &[0.0]))
                .collect(),
        }
    }

    #[test]
    fn activating_examples_come_evenly_from_every_band() {
        // 100 windows in 10 bands of 10; 50 wanted: 5 from each band.
        let config = ClassifierConfig::default();
        let s = pool(100, 80).sample(&config, 3);
        assert_eq!(s.activating.len(), 50);
        for band in 0..10 {
            let members: Vec<&Exemplar> = s
                .activating
                .iter()
                .filter(|(b, _)| *b == band)
                .map(|(_, e)| e)
                .collect();
            assert_eq!(members.len(), 5, "band {band}");
            // Band b holds activations 100-10b down to 91-10b.
            let top = 100.0 - 10.0 * band as f32;
            assert!(
                members
                    .iter()
                    .all(|e| e.record.max_value <= top && e.record.max_value > top - 10.0)
            );
        }
        assert_eq!(s.non_activating.len(), 50);
    }

    #[test]
    fn per_band_counts_round_down_and_small_pools_give_all() {
        // 7 over 3 bands: 7 / 3 = 2 from each, as Delphi's integer division.
        let config = ClassifierConfig {
            activating: 7,
            quantiles: 3,
            non_activating: 10,
            ..ClassifierConfig::default()
        };
        let s = pool(30, 4).sample(&config, 1);
        let per_band: Vec<usize> = (0..3)
            .map(|b| s.activating.iter().filter(|(x, _)| *x == b).count())
            .collect();
        assert_eq!(per_band, [2, 2, 2]);
        assert_eq!(s.non_activating.len(), 4);
        // Fewer windows than bands: one band per window, all taken.
        let s = pool(2, 0).sample(&ClassifierConfig::default(), 1);
        assert_eq!(s.activating.len(), 2);
    }

    #[test]
    fn a_seed_fixes_the_draw_and_another_seed_changes_it() {
        let config = ClassifierConfig::default();
        let p = pool(200, 200);
        assert_eq!(p.sample(&config, 9), p.sample(&config, 9));
        assert_ne!(
            p.sample(&config, 9).activating,
            p.sample(&config, 10).activating
        );
    }
}
