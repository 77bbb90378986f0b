//! The statistics behind every number `sage eval` prints: Pearson
//! correlation, means, and percentile bootstrap confidence intervals drawn
//! with a recorded seed so a rerun gives the same interval.

use serde::{Deserialize, Serialize};

use crate::rng::SplitMix64;

/// Resamples drawn for each bootstrap interval.
pub const BOOTSTRAP_RESAMPLES: usize = 1000;

/// A point estimate with its 95% bootstrap interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// The statistic on the full sample.
    pub estimate: f64,
    /// 2.5th percentile of the bootstrap distribution.
    pub low: f64,
    /// 97.5th percentile of the bootstrap distribution.
    pub high: f64,
}

impl Interval {
    /// `0.62 [0.41, 0.80]`.
    pub fn show(&self) -> String {
        format!("{:.2} [{:.2}, {:.2}]", self.estimate, self.low, self.high)
    }
}

/// Pearson's r of two equally long series; `None` when either has no
/// variance (or fewer than two points), where r is undefined.
pub fn pearson(xs: &[f64], ys: &[f64]) -> Option<f64> {
    if xs.len() != ys.len() || xs.len() < 2 {
        return None;
    }
    let n = xs.len() as f64;
    let (mx, my) = (xs.iter().sum::<f64>() / n, ys.iter().sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (x, y) in xs.iter().zip(ys) {
        let (dx, dy) = (x - mx, y - my);
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    if sxx <= f64::EPSILON || syy <= f64::EPSILON {
        return None;
    }
    Some((sxy / (sxx * syy).sqrt()).clamp(-1.0, 1.0))
}

/// The arithmetic mean; `None` for an empty slice.
pub fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// A 95% percentile bootstrap interval of `statistic` over `units`:
/// `resamples` times, draw `units.len()` units with replacement (from a
/// [`SplitMix64`] seeded with `seed`) and recompute the statistic.
/// Resamples where the statistic is undefined are skipped; `None` when the
/// statistic is undefined on the full sample or on most resamples.
pub fn bootstrap<T>(
    units: &[T],
    statistic: impl Fn(&[&T]) -> Option<f64>,
    resamples: usize,
    seed: u64,
) -> Option<Interval> {
    let all: Vec<&T> = units.iter().collect();
    let estimate = statistic(&all)?;
    let mut rng = SplitMix64::new(seed);
    let mut draws: Vec<f64> = Vec::with_capacity(resamples);
    let mut sample: Vec<&T> = Vec::with_capacity(units.len());
    for _ in 0..resamples {
        sample.clear();
        sample.extend((0..units.len()).map(|_| &units[rng.below(units.len())]));
        if let Some(value) = statistic(&sample) {
            draws.push(value);
        }
    }
    if draws.len() * 2 < resamples.max(1) {
        return None;
    }
    draws.sort_by(f64::total_cmp);
    Some(Interval {
        estimate,
        low: percentile(&draws, 0.025),
        high: percentile(&draws, 0.975),
    })
}

/// The `q` quantile of sorted values, interpolating between neighbours.
fn percentile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let (below, above) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[below] + (sorted[above] - sorted[below]) * (pos - below as f64)
}

/// The mean of plain numbers with its bootstrap interval.
pub fn mean_interval(values: &[f64], seed: u64) -> Option<Interval> {
    bootstrap(
        values,
        |s| mean(&s.iter().map(|v| **v).collect::<Vec<_>>()),
        BOOTSTRAP_RESAMPLES,
        seed,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pearson_matches_hand_computed_values() {
        // x = 1..5, y = 2,4,5,4,5: mean x 3, mean y 4; sxy = 6, sxx = 10,
        // syy = 6; r = 6 / sqrt(60) = 0.774596669...
        let r = pearson(&[1.0, 2.0, 3.0, 4.0, 5.0], &[2.0, 4.0, 5.0, 4.0, 5.0]);
        assert!(
            (r.unwrap() - 0.774_596_669_241_483_4).abs() < 1e-12,
            "{r:?}"
        );
        // Perfect negative line.
        let r = pearson(&[0.0, 1.0, 2.0], &[10.0, 5.0, 0.0]);
        assert!((r.unwrap() + 1.0).abs() < 1e-12);
        // x = 0,0,10,0 ; y = 1,0,8,2: mean y 2.75; sxy = 7.5*5.25 - 2.5*(-1.75
        // -2.75 -0.75) = 39.375 + 13.125 = 52.5; sxx = 75; syy = 3.0625 +
        // 7.5625 + 27.5625 + 0.5625 = 38.75; r = 52.5 / sqrt(2906.25) = 0.973851681...
        let r = pearson(&[0.0, 0.0, 10.0, 0.0], &[1.0, 0.0, 8.0, 2.0]);
        assert!(
            (r.unwrap() - 0.973_851_681_096_353_3).abs() < 1e-12,
            "{r:?}"
        );
    }

    #[test]
    fn pearson_is_undefined_without_variance_or_points() {
        assert_eq!(pearson(&[1.0, 1.0, 1.0], &[0.0, 1.0, 2.0]), None);
        assert_eq!(pearson(&[1.0], &[2.0]), None);
        assert_eq!(pearson(&[1.0, 2.0], &[2.0]), None);
    }

    #[test]
    fn bootstrap_interval_contains_the_estimate_and_repeats_for_a_seed() {
        let values: Vec<f64> = (0..40).map(|i| f64::from((i * 7) % 11)).collect();
        let a = mean_interval(&values, 42).unwrap();
        let b = mean_interval(&values, 42).unwrap();
        let c = mean_interval(&values, 43).unwrap();
        assert_eq!(a, b);
        assert_ne!((a.low, a.high), (c.low, c.high));
        assert!((a.estimate - mean(&values).unwrap()).abs() < 1e-12);
        assert!(a.low < a.estimate && a.estimate < a.high, "{a:?}");
        // A 95% interval of a mean of 40 values with sd ~3.2 is about ±1.
        assert!(a.high - a.low > 0.5 && a.high - a.low < 3.0, "{a:?}");
    }

    #[test]
    fn bootstrap_of_a_constant_sample_is_a_point() {
        let a = mean_interval(&[0.75; 10], 1).unwrap();
        assert_eq!((a.low, a.estimate, a.high), (0.75, 0.75, 0.75));
        assert_eq!(mean_interval(&[], 1), None);
    }
}
