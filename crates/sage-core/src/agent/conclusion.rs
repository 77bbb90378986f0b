//! The agent's final, tested explanation and why it stopped.

use crate::prelude::*;

use serde::{Deserialize, Serialize};

use super::ExperimentId;
use super::HypothesisId;

/// Longest label, in words, a conclusion may carry.
pub const MAX_LABEL_WORDS: usize = 8;

/// Why the agent stopped exploring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// Every hypothesis was decided and the review asked for nothing more.
    Converged,
    /// The design/run/update loop hit `max_rounds` with hypotheses still open.
    MaxRounds,
    /// Open hypotheses had used up `max_tests_per_hypothesis`.
    TestBudget,
    /// The LLM token budget ran out.
    TokenBudget,
    /// The LLM cost budget ran out.
    CostBudget,
    /// The wall-time budget ran out.
    WallTime,
    /// The researcher pressed "conclude now".
    ResearcherConcluded,
    /// The reasoner failed twice in a row on the same step.
    ReasonerFailed,
    /// The source could not provide exemplars, so nothing could be observed.
    ExemplarsFailed,
    /// The source returned no activating exemplars.
    NoExemplars,
}

/// The explanation the session ends with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conclusion {
    /// A short name for the feature, at most [`MAX_LABEL_WORDS`] words.
    pub label: String,
    /// A fuller description.
    pub description: String,
    /// Near misses the feature does not fire on.
    pub does_not_fire_on: Vec<String>,
    /// The experiments that support it.
    pub evidence: Vec<ExperimentId>,
    /// The hypothesis it rests on, if one.
    pub hypothesis: Option<HypothesisId>,
    /// Confidence, 0..=1.
    pub confidence: f32,
    /// Why exploration stopped.
    pub stop_reason: StopReason,
    /// A machine-readable rule, when the reasoner has one (the heuristic
    /// reasoner's), used by evaluation to predict activations offline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<serde_json::Value>,
}

/// Cuts a label to at most [`MAX_LABEL_WORDS`] whitespace-separated words,
/// normalising runs of whitespace to single spaces.
pub fn clamp_label(label: &str) -> String {
    label
        .split_whitespace()
        .take(MAX_LABEL_WORDS)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Number of whitespace-separated words in a label.
pub fn label_words(label: &str) -> usize {
    label.split_whitespace().count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clamp_label_keeps_short_labels_and_cuts_long_ones() {
        assert_eq!(clamp_label("month  names"), "month names");
        assert_eq!(
            clamp_label("one two three four five six seven eight nine ten"),
            "one two three four five six seven eight"
        );
        assert_eq!(label_words("a b\tc"), 3);
    }
}
