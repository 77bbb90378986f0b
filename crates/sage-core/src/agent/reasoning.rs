//! The thinking steps the agent delegates: what it asks a reasoner and what
//! a reasoner may answer. The reasoners themselves (LLM, heuristic) live in
//! the app crate; the machine only sees this plain data.
//!
//! Every request carries a [`Context`] built from the agent's current state
//! (visible exemplars, hypotheses, experiments with scores, researcher
//! feedback), never a growing transcript, so the cost of a step stays flat
//! as a session grows.

use crate::prelude::*;

use serde::{Deserialize, Serialize};

use super::conclusion::StopReason;
use super::{Experiment, ExperimentId, ExperimentKind, Prediction};
use super::{Hypothesis, HypothesisId};
use crate::activation::FeatureExemplars;

/// What the researcher vetoed and why; shown to the reasoner so it does not
/// repeat the mistake.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Feedback {
    /// What was rejected, in words (`hypothesis H2: "..."`).
    pub about: String,
    /// The researcher's reason.
    pub reason: String,
}

/// The state the reasoner sees. Held-out exemplars are never in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Context {
    /// Feature index.
    pub feature: u32,
    /// Current design round (1-based once designing has started).
    pub round: u32,
    /// Round limit.
    pub max_rounds: u32,
    /// Activation at or above which a token counts as firing.
    pub firing_threshold: f32,
    /// The visible exemplars (the held-out subset removed).
    pub exemplars: FeatureExemplars,
    /// Every hypothesis so far, all versions.
    pub hypotheses: Vec<Hypothesis>,
    /// Every experiment so far with results and scores.
    pub experiments: Vec<Experiment>,
    /// Researcher rejections, oldest first.
    pub feedback: Vec<Feedback>,
}

impl Context {
    /// The hypothesis with this id, if it exists.
    pub fn hypothesis(&self, id: HypothesisId) -> Option<&Hypothesis> {
        self.hypotheses.iter().find(|h| h.id == id)
    }

    /// The experiment with this id, if it exists.
    pub fn experiment(&self, id: ExperimentId) -> Option<&Experiment> {
        self.experiments.iter().find(|e| e.id == id)
    }

    /// The experiments testing one hypothesis.
    pub fn experiments_of(&self, id: HypothesisId) -> impl Iterator<Item = &Experiment> {
        self.experiments.iter().filter(move |e| e.hypothesis == id)
    }
}

/// One thinking step, with everything needed to take it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum ReasonRequest {
    /// Propose `count` deliberately different hypotheses from the exemplars.
    Hypothesise {
        /// The current state.
        context: Context,
        /// How many hypotheses are wanted.
        count: usize,
    },
    /// Design up to `per_hypothesis` texts for each target hypothesis.
    Design {
        /// The current state.
        context: Context,
        /// The open hypotheses to design for.
        targets: Vec<HypothesisId>,
        /// Experiments wanted per target.
        per_hypothesis: usize,
    },
    /// Judge each target hypothesis from its scored experiments.
    Update {
        /// The current state.
        context: Context,
        /// Hypotheses with fresh results.
        targets: Vec<HypothesisId>,
    },
    /// Look at all hypotheses together; ask for more tests or finish.
    Review {
        /// The current state.
        context: Context,
        /// Experiments the reviewer may ask for in total.
        max_tests: usize,
    },
    /// Write the final explanation.
    Conclude {
        /// The current state.
        context: Context,
        /// Why exploration stopped.
        stop_reason: StopReason,
    },
}

impl ReasonRequest {
    /// The context every step carries.
    pub fn context(&self) -> &Context {
        match self {
            ReasonRequest::Hypothesise { context, .. }
            | ReasonRequest::Design { context, .. }
            | ReasonRequest::Update { context, .. }
            | ReasonRequest::Review { context, .. }
            | ReasonRequest::Conclude { context, .. } => context,
        }
    }

    /// The step's name (`hypothesise`, `design`, ...), for logs and errors.
    pub fn name(&self) -> &'static str {
        match self {
            ReasonRequest::Hypothesise { .. } => "hypothesise",
            ReasonRequest::Design { .. } => "design",
            ReasonRequest::Update { .. } => "update",
            ReasonRequest::Review { .. } => "review",
            ReasonRequest::Conclude { .. } => "conclude",
        }
    }
}

/// A proposed hypothesis, before the agent assigns it an id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HypothesisDraft {
    /// What the feature responds to.
    pub description: String,
    /// What in the exemplars supports it.
    pub evidence: String,
    /// A testable prediction.
    pub prediction: String,
    /// Optional machine-readable form of the claim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<serde_json::Value>,
}

/// A proposed experiment, before the agent assigns it an id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExperimentDraft {
    /// The hypothesis it tests.
    pub hypothesis: HypothesisId,
    /// The text to run.
    pub text: String,
    /// What should happen.
    pub prediction: Prediction,
    /// Its role.
    pub kind: ExperimentKind,
    /// Why it is informative.
    #[serde(default)]
    pub rationale: String,
}

/// What to do with one hypothesis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    /// The tests support it.
    Confirm,
    /// Replace it with a sharper version.
    Refine {
        /// The new description.
        description: String,
        /// The new prediction.
        prediction: String,
        /// Optional machine-readable rule of the new version.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rule: Option<serde_json::Value>,
    },
    /// The tests contradict it.
    Refute,
    /// Not enough evidence either way.
    Uncertain,
}

/// The reasoner's judgement on one hypothesis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// The hypothesis judged.
    pub hypothesis: HypothesisId,
    /// The judgement.
    pub decision: Decision,
    /// The experiments that support the judgement.
    pub cites: Vec<ExperimentId>,
    /// Confidence in the (possibly refined) hypothesis, 0..=1.
    pub confidence: f32,
    /// Why.
    pub rationale: String,
}

/// The reviewer's answer: more tests, or done (empty `more_tests`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReviewOutcome {
    /// Extra experiments wanted; empty when the review is satisfied.
    pub more_tests: Vec<ExperimentDraft>,
    /// Why.
    pub rationale: String,
}

/// The reasoner's proposed conclusion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConclusionDraft {
    /// Short label (the agent cuts it to 8 words).
    pub label: String,
    /// Fuller description.
    pub description: String,
    /// Near misses it does not fire on.
    pub does_not_fire_on: Vec<String>,
    /// Supporting experiments.
    pub evidence: Vec<ExperimentId>,
    /// The hypothesis it rests on.
    pub hypothesis: Option<HypothesisId>,
    /// Confidence, 0..=1.
    pub confidence: f32,
    /// Optional machine-readable rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<serde_json::Value>,
}

/// A reasoner's answer, mirroring [`ReasonRequest`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "body", rename_all = "snake_case")]
pub enum ReasonerReply {
    /// Answer to `Hypothesise`.
    HypothesisDrafts(Vec<HypothesisDraft>),
    /// Answer to `Design`.
    ExperimentDrafts(Vec<ExperimentDraft>),
    /// Answer to `Update`.
    Verdicts(Vec<Verdict>),
    /// Answer to `Review`.
    ReviewOutcome(ReviewOutcome),
    /// Answer to `Conclude`.
    ConclusionDraft(ConclusionDraft),
}

impl ReasonerReply {
    /// Whether this reply answers that request.
    pub fn answers(&self, request: &ReasonRequest) -> bool {
        matches!(
            (self, request),
            (
                ReasonerReply::HypothesisDrafts(_),
                ReasonRequest::Hypothesise { .. }
            ) | (
                ReasonerReply::ExperimentDrafts(_),
                ReasonRequest::Design { .. }
            ) | (ReasonerReply::Verdicts(_), ReasonRequest::Update { .. })
                | (
                    ReasonerReply::ReviewOutcome(_),
                    ReasonRequest::Review { .. }
                )
                | (
                    ReasonerReply::ConclusionDraft(_),
                    ReasonRequest::Conclude { .. }
                )
        )
    }
}
