//! Objective scoring of one experiment's prediction against its activations.
//!
//! The rule:
//! - **Character spans.** The record's token strings are concatenated (with
//!   byte-level markers `Ġ`/`▁` read as a space and `Ċ` as a newline) and
//!   each token gets the character span it covers in that string. Special
//!   tokens such as a BOS simply cover text no prediction mentions.
//! - **Predicted tokens.** Every occurrence (case-sensitive, overlapping
//!   allowed) of every predicted substring marks the tokens whose spans
//!   overlap it. A prediction that occurs nowhere marks nothing.
//! - **Observed tokens.** A token fires when its value is positive and at
//!   least `threshold` (the config's firing fraction × the feature's max).
//! - **Precision** = |predicted ∩ observed| / |predicted|, **recall** =
//!   |predicted ∩ observed| / |observed|, **F1** their harmonic mean. An empty
//!   side counts as perfect only when the other side is empty too: a negative
//!   control scores 1 when nothing fires and 0 when anything does; a positive
//!   prediction on which nothing fires scores 0.
//! - **Passed** = F1 ≥ the pass mark.
//! - A prediction's `strength` is shown to the reasoner but not scored: the
//!   score is about *where* the feature fires, which is what evaluation checks.

use crate::prelude::*;

use super::{Prediction, Score};
use crate::activation::ActivationRecord;

/// Reads a token string as the text it stands for.
fn surface(token: &str) -> String {
    token
        .chars()
        .map(|c| match c {
            'Ġ' | '▁' => ' ',
            'Ċ' => '\n',
            other => other,
        })
        .collect()
}

/// The concatenated surface text and each token's character span in it.
pub fn token_spans(tokens: &[String]) -> (Vec<char>, Vec<(usize, usize)>) {
    let mut text = Vec::new();
    let mut spans = Vec::with_capacity(tokens.len());
    for token in tokens {
        let start = text.len();
        text.extend(surface(token).chars());
        spans.push((start, text.len()));
    }
    (text, spans)
}

/// Indices of the tokens covered by any occurrence of any predicted substring.
pub fn predicted_tokens(tokens: &[String], firing: &[String]) -> Vec<usize> {
    let (text, spans) = token_spans(tokens);
    let mut marked = vec![false; tokens.len()];
    for needle in firing {
        let needle: Vec<char> = needle.chars().collect();
        if needle.is_empty() || needle.len() > text.len() {
            continue;
        }
        for start in 0..=text.len() - needle.len() {
            if text[start..start + needle.len()] != needle[..] {
                continue;
            }
            let end = start + needle.len();
            for (i, &(s, e)) in spans.iter().enumerate() {
                if s < end && start < e {
                    marked[i] = true;
                }
            }
        }
    }
    indices(&marked)
}

/// Indices of the tokens that fire at `threshold`.
pub fn observed_tokens(values: &[f32], threshold: f32) -> Vec<usize> {
    let marked: Vec<bool> = values.iter().map(|&v| v > 0.0 && v >= threshold).collect();
    indices(&marked)
}

fn indices(marked: &[bool]) -> Vec<usize> {
    marked
        .iter()
        .enumerate()
        .filter_map(|(i, &m)| m.then_some(i))
        .collect()
}

/// Scores a prediction against a record (see the module docs for the rule).
pub fn score(
    prediction: &Prediction,
    record: &ActivationRecord,
    threshold: f32,
    pass_f1: f32,
) -> Score {
    let predicted = predicted_tokens(&record.tokens, &prediction.firing);
    let observed = observed_tokens(&record.values, threshold);
    let hits = predicted.iter().filter(|i| observed.contains(i)).count() as f32;
    let ratio = |num: f32, den: usize, other_empty: bool| {
        if den == 0 {
            if other_empty { 1.0 } else { 0.0 }
        } else {
            num / den as f32
        }
    };
    let precision = ratio(hits, predicted.len(), observed.is_empty());
    let recall = ratio(hits, observed.len(), predicted.is_empty());
    let f1 = if precision + recall > 0.0 {
        2.0 * precision * recall / (precision + recall)
    } else {
        0.0
    };
    Score {
        precision,
        recall,
        f1,
        predicted,
        observed,
        threshold,
        passed: f1 >= pass_f1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(tokens: &[&str], values: &[f32]) -> ActivationRecord {
        ActivationRecord {
            model: "m".into(),
            sae: "s".into(),
            hook: "h".into(),
            feature: 0,
            tokens: tokens.iter().map(|t| t.to_string()).collect(),
            token_ids: (0..tokens.len() as u32).collect(),
            values: values.to_vec(),
            max_value: 0.0,
            max_value_token_index: 0,
        }
    }

    fn predict(firing: &[&str]) -> Prediction {
        Prediction {
            firing: firing.iter().map(|s| s.to_string()).collect(),
            strength: None,
        }
    }

    #[test]
    fn perfect_prediction_scores_one() {
        let r = record(
            &["We", " met", " in", " May", "."],
            &[0.0, 0.0, 0.0, 8.0, 0.0],
        );
        let s = score(&predict(&["May"]), &r, 2.0, 0.5);
        assert_eq!(s.predicted, vec![3]);
        assert_eq!(s.observed, vec![3]);
        assert_eq!((s.precision, s.recall, s.f1), (1.0, 1.0, 1.0));
        assert!(s.passed);
    }

    #[test]
    fn substring_spanning_tokens_marks_each_and_counts_every_occurrence() {
        let r = record(
            &["New", " York", " and", " New", " York"],
            &[5.0, 5.0, 0.0, 0.0, 0.0],
        );
        let s = score(&predict(&["New York"]), &r, 1.0, 0.5);
        assert_eq!(s.predicted, vec![0, 1, 3, 4]);
        assert_eq!(s.precision, 0.5);
        assert_eq!(s.recall, 1.0);
        assert!((s.f1 - 2.0 / 3.0).abs() < 1e-6);
    }

    #[test]
    fn byte_level_markers_read_as_spaces() {
        let r = record(
            &["<|endoftext|>", "the", "Ġmay", "or"],
            &[0.0, 0.0, 0.0, 3.0],
        );
        assert_eq!(
            predicted_tokens(&r.tokens, &predict(&[" mayor"]).firing),
            vec![2, 3]
        );
    }

    #[test]
    fn negative_control_scores_one_when_silent_and_zero_when_firing() {
        let silent = record(&["You", " may", " go"], &[0.0, 0.1, 0.0]);
        let s = score(&predict(&[]), &silent, 1.0, 0.5);
        assert_eq!((s.precision, s.recall, s.f1), (1.0, 1.0, 1.0));
        let firing = record(&["You", " may", " go"], &[0.0, 4.0, 0.0]);
        let s = score(&predict(&[]), &firing, 1.0, 0.5);
        assert_eq!(s.f1, 0.0);
        assert!(!s.passed);
    }

    #[test]
    fn positive_prediction_with_nothing_firing_scores_zero() {
        let r = record(&["in", " May"], &[0.0, 0.0]);
        let s = score(&predict(&["May"]), &r, 1.0, 0.5);
        assert_eq!((s.precision, s.recall, s.f1), (0.0, 0.0, 0.0));
    }

    #[test]
    fn zero_values_never_fire_even_at_zero_threshold() {
        assert_eq!(observed_tokens(&[0.0, 0.5, -1.0], 0.0), vec![1]);
    }

    #[test]
    fn predicted_substring_missing_from_text_marks_nothing() {
        let r = record(&["in", " May"], &[0.0, 3.0]);
        let s = score(&predict(&["June"]), &r, 1.0, 0.5);
        assert!(s.predicted.is_empty());
        assert_eq!(s.f1, 0.0);
    }
}
