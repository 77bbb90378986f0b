//! What goes into the agent ([`Event`]) and what comes out ([`Effect`]).
//!
//! Events carry the driver's clock (`at_ms`) so the agent never reads one;
//! effects are plain data the driver executes.

use crate::prelude::*;

use core::fmt;

use serde::{Deserialize, Serialize};

use super::HypothesisId;
use super::conclusion::Conclusion;
use super::config::{AgentConfig, GateMode};
use super::evaluation::Evaluation;
use super::reasoning::{ReasonRequest, ReasonerReply};
use super::{ExperimentId, ExperimentKind, Prediction};
use crate::activation::{ActivationRecord, ExemplarQuery, FeatureExemplars};
use crate::usage::Usage;

/// Matches a reasoner or activation reply to the effect that asked for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RequestId(pub u64);

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "R{}", self.0)
    }
}

/// Something that can wait for the researcher's approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "target", content = "id", rename_all = "snake_case")]
pub enum Target {
    /// A proposed hypothesis.
    Hypothesis(HypothesisId),
    /// A designed experiment.
    Experiment(ExperimentId),
    /// The proposed conclusion.
    Conclusion,
}

/// A researcher's action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum UserAction {
    /// Stop issuing new work; results in flight are still recorded.
    Pause,
    /// Continue after a pause.
    Resume,
    /// Let a waiting item take effect.
    Approve {
        /// What to approve.
        target: Target,
    },
    /// Veto an item; the reason reaches the reasoner's next context.
    Reject {
        /// What to reject.
        target: Target,
        /// Why.
        reason: String,
    },
    /// Change a hypothesis' wording. A hypothesis that already has results
    /// gets a new version (lineage kept) instead of being rewritten.
    EditHypothesis {
        /// Which hypothesis.
        id: HypothesisId,
        /// New description, if changed.
        description: Option<String>,
        /// New prediction, if changed.
        prediction: Option<String>,
    },
    /// Change a not-yet-run experiment's text and prediction.
    EditExperiment {
        /// Which experiment.
        id: ExperimentId,
        /// New text.
        text: String,
        /// New prediction.
        prediction: Prediction,
    },
    /// Add the researcher's own hypothesis (no approval needed). It gets
    /// designed experiments in the next design round; once the design loop
    /// has ended, add experiments for it with `AddExperiment`.
    AddHypothesis {
        /// What the feature responds to.
        description: String,
        /// Testable prediction.
        prediction: String,
    },
    /// Add the researcher's own experiment (runs with the next batch).
    AddExperiment {
        /// The hypothesis it tests.
        hypothesis: HypothesisId,
        /// Text to run.
        text: String,
        /// What should happen.
        prediction: Prediction,
        /// Its role.
        kind: ExperimentKind,
    },
    /// Change the approval gate; switching to auto approves what waits.
    SetGate {
        /// New gate.
        mode: GateMode,
    },
    /// Stop exploring and conclude with what there is.
    ConcludeNow,
}

/// An input to the agent. Every variant carries the driver's time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// Begin a session on one feature.
    Start {
        /// Feature index.
        feature: u32,
        /// Run configuration.
        config: AgentConfig,
        /// Seed for every choice the agent makes (the held-out split).
        seed: u64,
        /// Driver time, ms since the Unix epoch.
        at_ms: u64,
    },
    /// The source answered `FetchExemplars`.
    ExemplarsArrived {
        /// The feature's exemplars.
        exemplars: FeatureExemplars,
        /// Driver time.
        at_ms: u64,
    },
    /// The source could not answer `FetchExemplars`.
    ExemplarsFailed {
        /// The source's error message.
        error: String,
        /// Driver time.
        at_ms: u64,
    },
    /// The reasoner answered a `Reason` effect.
    ReasonerReplied {
        /// The request answered.
        request: RequestId,
        /// The answer.
        reply: ReasonerReply,
        /// What it cost.
        usage: Usage,
        /// Driver time.
        at_ms: u64,
    },
    /// The reasoner failed on a `Reason` effect.
    ReasonerFailed {
        /// The request that failed.
        request: RequestId,
        /// The error message.
        error: String,
        /// What the failed call was still billed (absent in older logs).
        #[serde(default)]
        usage: Usage,
        /// Driver time.
        at_ms: u64,
    },
    /// The source answered `RunTexts`, one record per text in order.
    ActivationsArrived {
        /// The request answered.
        request: RequestId,
        /// One record per text.
        records: Vec<ActivationRecord>,
        /// Driver time.
        at_ms: u64,
    },
    /// The source failed on `RunTexts`.
    ActivationsFailed {
        /// The request that failed.
        request: RequestId,
        /// The error message.
        error: String,
        /// Driver time.
        at_ms: u64,
    },
    /// The researcher acted.
    User {
        /// The action.
        action: UserAction,
        /// Driver time.
        at_ms: u64,
    },
    /// Time passed; lets the wall-time budget fire while nothing else happens.
    Tick {
        /// Driver time.
        at_ms: u64,
    },
    /// `sage eval` scored the session's explanation (appended after the
    /// conclusion; changes nothing but the recorded evaluations).
    Evaluated {
        /// The scores.
        evaluation: Evaluation,
        /// Driver time.
        at_ms: u64,
    },
}

impl Event {
    /// The driver time the event carries.
    pub fn at_ms(&self) -> u64 {
        match self {
            Event::Start { at_ms, .. }
            | Event::ExemplarsArrived { at_ms, .. }
            | Event::ExemplarsFailed { at_ms, .. }
            | Event::ReasonerReplied { at_ms, .. }
            | Event::ReasonerFailed { at_ms, .. }
            | Event::ActivationsArrived { at_ms, .. }
            | Event::ActivationsFailed { at_ms, .. }
            | Event::User { at_ms, .. }
            | Event::Tick { at_ms }
            | Event::Evaluated { at_ms, .. } => *at_ms,
        }
    }
}

/// Work the agent asks the driver to do. Plain data; the driver owns all I/O.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "effect", rename_all = "snake_case")]
pub enum Effect {
    /// Fetch the feature's exemplars; answer with `ExemplarsArrived` or
    /// `ExemplarsFailed`.
    FetchExemplars {
        /// Feature index.
        feature: u32,
        /// What to fetch.
        query: ExemplarQuery,
    },
    /// Take a reasoning step; answer with `ReasonerReplied` or `ReasonerFailed`.
    Reason {
        /// Id to answer with.
        request: RequestId,
        /// The step.
        step: Box<ReasonRequest>,
    },
    /// Run texts through the source; answer with `ActivationsArrived` or
    /// `ActivationsFailed`.
    RunTexts {
        /// Id to answer with.
        request: RequestId,
        /// Feature index.
        feature: u32,
        /// The texts, in order.
        texts: Vec<String>,
    },
    /// Tell the researcher something waits for approval.
    AwaitApproval {
        /// What waits.
        target: Target,
    },
    /// The session is over.
    Concluded {
        /// The final explanation.
        conclusion: Conclusion,
    },
}
