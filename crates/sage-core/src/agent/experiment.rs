//! Experiments: designed texts with explicit predictions, and their scores.

use crate::prelude::*;

use serde::{Deserialize, Serialize};

use super::ids::{Actor, ExperimentId, HypothesisId};
use crate::activation::ActivationRecord;

/// A rough activation level, relative to the feature's top activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strength {
    /// Well below the top examples (under about a third of the max).
    Weak,
    /// Clearly firing, but below the top examples.
    Medium,
    /// Comparable to the top examples.
    Strong,
}

/// What an experiment expects to see.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Prediction {
    /// Exact substrings of the text on whose tokens the feature should fire.
    /// Empty means a negative control: nothing should fire.
    pub firing: Vec<String>,
    /// How strongly the firing tokens should fire, if the designer said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strength: Option<Strength>,
}

/// What role an experiment plays in testing its hypothesis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExperimentKind {
    /// The hypothesis says the feature fires here.
    Positive,
    /// The hypothesis says the feature stays silent here.
    Control,
    /// A positive text with the suspected trigger changed.
    MinimalPair,
}

/// Where an experiment stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ExperimentStatus {
    /// Drafted, not yet submitted for approval or running.
    Proposed,
    /// Waiting for the researcher (step gate).
    AwaitingApproval,
    /// Cleared to run with the next batch.
    Approved,
    /// Sent to the activation source.
    Running,
    /// Activations recorded and scored.
    Done,
    /// Vetoed by the researcher; the reason is passed to the reasoner.
    Rejected {
        /// The researcher's reason.
        reason: String,
    },
    /// The activation source failed on it.
    Failed {
        /// The source's error message.
        error: String,
    },
}

/// How well an experiment's prediction matched the observed activations.
///
/// See [`crate::agent::score`] for the exact rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Score {
    /// Share of predicted-firing tokens that fired.
    pub precision: f32,
    /// Share of firing tokens that were predicted.
    pub recall: f32,
    /// Harmonic mean of precision and recall.
    pub f1: f32,
    /// Token indices the prediction covers.
    pub predicted: Vec<usize>,
    /// Token indices at or above the firing threshold.
    pub observed: Vec<usize>,
    /// The activation threshold used for "firing".
    pub threshold: f32,
    /// Whether the experiment behaved as predicted (f1 >= the pass mark).
    pub passed: bool,
}

/// One designed text, its prediction and, once run, its result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Experiment {
    /// This experiment's id.
    pub id: ExperimentId,
    /// The hypothesis it tests.
    pub hypothesis: HypothesisId,
    /// The text to run.
    pub text: String,
    /// What should happen.
    pub prediction: Prediction,
    /// Its role.
    pub kind: ExperimentKind,
    /// Where it stands.
    pub status: ExperimentStatus,
    /// Who designed it.
    pub origin: Actor,
    /// The round it was designed in (0 before the first design round).
    pub round: u32,
    /// Why the designer chose it.
    #[serde(default)]
    pub rationale: String,
    /// Per-token activations, once run.
    pub result: Option<ActivationRecord>,
    /// The objective score, once run.
    pub score: Option<Score>,
}
