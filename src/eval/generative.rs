//! Generative accuracy, as SAGE defines it: from the explanation alone a
//! generator writes sentences meant to make the feature fire; a sentence
//! succeeds when its max activation reaches half the mean max activation of
//! the feature's top 10 exemplars; the score is successes over sentences
//! asked for (a sentence the generator did not deliver counts as a miss).

use serde::{Deserialize, Serialize};

use super::stats::{BOOTSTRAP_RESAMPLES, Interval, bootstrap, mean};
use crate::activation::{ActivationRecord, Exemplar};

/// Sentences asked of the generator (SAGE's 10).
pub const SENTENCES: usize = 10;
/// Top exemplars whose mean max activation sets the success bar.
pub const TOP_FOR_THRESHOLD: usize = 10;
/// Fraction of that mean a sentence must reach.
pub const SUCCESS_FRACTION: f32 = 0.5;

/// The activation a generated sentence must reach: [`SUCCESS_FRACTION`] of
/// the mean max activation of the first [`TOP_FOR_THRESHOLD`] top
/// exemplars; `None` when there are none (or none fire).
pub fn success_threshold(top: &[Exemplar]) -> Option<f32> {
    let maxima: Vec<f64> = top
        .iter()
        .take(TOP_FOR_THRESHOLD)
        .map(|e| f64::from(e.record.max_value))
        .collect();
    let m = mean(&maxima)?;
    (m > 0.0).then_some(SUCCESS_FRACTION * m as f32)
}

/// One generated sentence and how the feature answered it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SentenceOutcome {
    /// The sentence.
    pub text: String,
    /// The feature's max activation on it.
    pub max_activation: f32,
    /// Whether it reached the threshold.
    pub success: bool,
}

/// The generative score of one explanation on one feature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerativeScore {
    /// Sentences asked for.
    pub requested: usize,
    /// The activation a sentence had to reach.
    pub threshold: f32,
    /// Every delivered sentence (at most `requested`).
    pub sentences: Vec<SentenceOutcome>,
    /// Successes / `requested`, with a bootstrap interval over the
    /// `requested` outcomes.
    pub score: Interval,
    /// Seed the interval was drawn with.
    pub seed: u64,
}

impl GenerativeScore {
    /// Scores delivered sentences from their activation records (aligned
    /// with `texts`).
    pub fn from_records(
        requested: usize,
        threshold: f32,
        texts: &[String],
        records: &[ActivationRecord],
        seed: u64,
    ) -> GenerativeScore {
        let sentences: Vec<SentenceOutcome> = texts
            .iter()
            .zip(records)
            .take(requested)
            .map(|(text, r)| SentenceOutcome {
                text: text.clone(),
                max_activation: r.max_value,
                success: r.max_value >= threshold,
            })
            .collect();
        let mut outcomes: Vec<f64> = sentences
            .iter()
            .map(|s| if s.success { 1.0 } else { 0.0 })
            .collect();
        outcomes.resize(requested.max(outcomes.len()), 0.0);
        let score = bootstrap(
            &outcomes,
            |s| mean(&s.iter().map(|v| **v).collect::<Vec<_>>()),
            BOOTSTRAP_RESAMPLES,
            seed,
        )
        .unwrap_or(Interval {
            estimate: 0.0,
            low: 0.0,
            high: 0.0,
        });
        GenerativeScore {
            requested,
            threshold,
            sentences,
            score,
            seed,
        }
    }

    /// Number of sentences that reached the threshold.
    pub fn successes(&self) -> usize {
        self.sentences.iter().filter(|s| s.success).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::eval::fixtures::{exemplar, record};

    fn texts(records: &[ActivationRecord]) -> Vec<String> {
        records.iter().map(|r| r.tokens.concat()).collect()
    }

    #[test]
    fn threshold_is_half_the_mean_of_the_first_ten_top_maxima() {
        // Ten exemplars 10, 9, ... 1 (mean 5.5) and one more that is ignored.
        let top: Vec<Exemplar> = (0..11)
            .map(|i| exemplar(&["x"], &[10.0 - i as f32]))
            .collect();
        assert_eq!(success_threshold(&top), Some(2.75));
        assert_eq!(success_threshold(&[]), None);
        assert_eq!(success_threshold(&[exemplar(&["x"], &[0.0])]), None);
    }

    #[test]
    fn undelivered_sentences_count_as_misses() {
        let records = [
            record(&["a"], &[3.0]),
            record(&["b"], &[2.0]),
            record(&["c"], &[5.0]),
        ];
        let score = GenerativeScore::from_records(10, 2.75, &texts(&records), &records, 9);
        assert_eq!(score.successes(), 2);
        assert_eq!(score.sentences.len(), 3);
        assert!((score.score.estimate - 0.2).abs() < 1e-12);
        assert!(score.score.low <= 0.2 && score.score.high >= 0.2);
        assert!(score.sentences[0].success && !score.sentences[1].success);
    }

    #[test]
    fn all_successes_score_one_with_a_point_interval() {
        let records: Vec<ActivationRecord> = (0..10).map(|_| record(&["a"], &[4.0])).collect();
        let score = GenerativeScore::from_records(10, 1.0, &texts(&records), &records, 0);
        assert_eq!(score.score.estimate, 1.0);
        assert_eq!((score.score.low, score.score.high), (1.0, 1.0));
    }
}
