//! Everything the agent knows, as one serialisable value.

use crate::prelude::*;

use serde::{Deserialize, Serialize};

use super::conclusion::{Conclusion, StopReason};
use super::config::AgentConfig;
use super::evaluation::Evaluation;
use super::event::{RequestId, Target};
use super::holdout::Holdout;
use super::log::LogEntry;
use super::reasoning::Feedback;
use super::{Experiment, ExperimentId, ExperimentStatus};
use super::{Hypothesis, HypothesisId, HypothesisStatus};
use crate::activation::FeatureExemplars;
use crate::usage::Usage;

/// Which part of the method the agent is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// No Start event yet.
    #[default]
    NotStarted,
    /// Fetching exemplars.
    Observing,
    /// Asking for hypotheses.
    Hypothesising,
    /// Asking for experiments.
    Designing,
    /// Running approved experiments.
    Running,
    /// Asking for verdicts on fresh results.
    Updating,
    /// Asking the reviewer whether more tests are needed.
    Reviewing,
    /// Asking for (or waiting for approval of) the conclusion.
    Concluding,
    /// Concluded; nothing more will be issued.
    Done,
}

/// A reasoning step kind, remembered while its request is in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    /// `ReasonRequest::Hypothesise`.
    Hypothesise,
    /// `ReasonRequest::Design`.
    Design,
    /// `ReasonRequest::Update`.
    Update,
    /// `ReasonRequest::Review`.
    Review,
    /// `ReasonRequest::Conclude`.
    Conclude,
}

/// What an outstanding request was for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Pending {
    /// `FetchExemplars`.
    Exemplars,
    /// `Reason`.
    Reason {
        /// The step asked.
        step: StepKind,
    },
    /// `RunTexts`, one experiment per text in order.
    Run {
        /// The experiments whose texts were sent.
        experiments: Vec<ExperimentId>,
    },
}

/// One outstanding request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InFlight {
    /// Its id.
    pub request: RequestId,
    /// What it was for.
    pub pending: Pending,
}

/// The agent's whole state. Folding the same events into a fresh agent
/// always yields an equal value, which is what makes replay exact.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AgentState {
    /// Feature under study.
    pub feature: u32,
    /// Run configuration (the gate can change during the run).
    pub config: AgentConfig,
    /// Session seed.
    pub seed: u64,
    /// Driver time of the Start event.
    pub started_at_ms: u64,
    /// Latest driver time seen.
    pub now_ms: u64,
    /// Where in the method the agent is.
    pub phase: Phase,
    /// Whether the researcher paused it.
    pub paused: bool,
    /// Design rounds issued so far.
    pub round: u32,
    /// Review rounds issued so far.
    pub review_round: u32,
    /// Hypothesise steps issued so far.
    pub hypothesise_calls: u32,
    /// Whether the design loop has ended and the review has begun.
    pub in_review: bool,
    /// Failed attempts at the current reasoning step.
    pub attempt: u32,
    /// The feature's maximum activation, from its top exemplars.
    pub feature_max: f32,
    /// The exemplars the reasoner may see.
    pub exemplars: Option<FeatureExemplars>,
    /// The held-out exemplars it may not.
    pub holdout: Option<Holdout>,
    /// Every hypothesis version ever created, in id order.
    pub hypotheses: Vec<Hypothesis>,
    /// Every experiment ever created, in id order.
    pub experiments: Vec<Experiment>,
    /// Researcher rejections, for the reasoner.
    pub feedback: Vec<Feedback>,
    /// The refinement log.
    pub log: Vec<LogEntry>,
    /// Summed LLM usage.
    pub usage: Usage,
    /// Reasoner calls answered (successfully or not).
    pub reasoner_calls: u32,
    /// Reasoner calls that failed or were unusable.
    pub reasoner_failures: u32,
    /// Outstanding requests.
    pub inflight: Vec<InFlight>,
    /// Next request id to hand out.
    pub next_request: u64,
    /// Experiments finished since the last Update step.
    pub fresh: Vec<ExperimentId>,
    /// Approval requests already announced with `AwaitApproval`.
    pub announced: Vec<Target>,
    /// Why exploration stopped, once it has.
    pub stop_reason: Option<StopReason>,
    /// A conclusion waiting for the researcher's approval.
    pub pending_conclusion: Option<Conclusion>,
    /// The final conclusion.
    pub conclusion: Option<Conclusion>,
    /// Evaluations of the conclusion recorded by `sage eval`, oldest first.
    #[serde(default)]
    pub evaluations: Vec<Evaluation>,
}

impl AgentState {
    /// The hypothesis with this id.
    pub fn hypothesis(&self, id: HypothesisId) -> Option<&Hypothesis> {
        self.hypotheses.iter().find(|h| h.id == id)
    }

    /// The experiment with this id.
    pub fn experiment(&self, id: ExperimentId) -> Option<&Experiment> {
        self.experiments.iter().find(|e| e.id == id)
    }

    /// The experiments testing one hypothesis version.
    pub fn experiments_of(&self, id: HypothesisId) -> impl Iterator<Item = &Experiment> {
        self.experiments.iter().filter(move |e| e.hypothesis == id)
    }

    /// Hypotheses that still want experiments (testing or uncertain).
    pub fn open_hypotheses(&self) -> impl Iterator<Item = &Hypothesis> {
        self.hypotheses.iter().filter(|h| h.status.is_open())
    }

    /// Experiments counted against a hypothesis' test budget (all but rejected).
    pub fn tests_used(&self, id: HypothesisId) -> usize {
        self.experiments_of(id)
            .filter(|e| !matches!(e.status, ExperimentStatus::Rejected { .. }))
            .count()
    }

    /// Total LLM tokens spent.
    pub fn total_tokens(&self) -> u64 {
        self.usage.total_tokens()
    }

    /// Milliseconds since the Start event.
    pub fn elapsed_ms(&self) -> u64 {
        self.now_ms.saturating_sub(self.started_at_ms)
    }

    /// Activation at or above which a token counts as firing.
    pub fn firing_threshold(&self) -> f32 {
        self.config.firing_fraction * self.feature_max
    }

    /// Whether the agent has concluded.
    pub fn is_done(&self) -> bool {
        self.phase == Phase::Done
    }

    /// Everything waiting for the researcher right now, in id order.
    pub fn pending_approvals(&self) -> Vec<Target> {
        let mut out: Vec<Target> = self
            .hypotheses
            .iter()
            .filter(|h| h.status == HypothesisStatus::Proposed)
            .map(|h| Target::Hypothesis(h.id))
            .collect();
        out.extend(
            self.experiments
                .iter()
                .filter(|e| e.status == ExperimentStatus::AwaitingApproval)
                .map(|e| Target::Experiment(e.id)),
        );
        if self.pending_conclusion.is_some() {
            out.push(Target::Conclusion);
        }
        out
    }
}
