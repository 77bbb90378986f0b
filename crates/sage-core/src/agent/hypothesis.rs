//! Hypotheses: the competing explanations the agent tests, with lineage.

use crate::prelude::*;

use serde::{Deserialize, Serialize};

use super::ids::{Actor, ExperimentId, HypothesisId};

/// Where a hypothesis stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum HypothesisStatus {
    /// Drafted; waiting for the researcher's approval (review and step gates).
    Proposed,
    /// Accepted and being tested.
    Testing,
    /// Supported by enough consistent tests.
    Confirmed,
    /// Superseded by a newer version (its child carries `parent` = this id).
    Refined,
    /// Contradicted by enough tests.
    Refuted,
    /// The evidence so far is mixed or too thin to decide; still open.
    Uncertain,
    /// Vetoed by the researcher; the reason is passed to the reasoner.
    Rejected {
        /// The researcher's reason.
        reason: String,
    },
}

impl HypothesisStatus {
    /// Whether the hypothesis still wants experiments.
    pub fn is_open(&self) -> bool {
        matches!(
            self,
            HypothesisStatus::Testing | HypothesisStatus::Uncertain
        )
    }

    /// Short lowercase name for logs and tables.
    pub fn name(&self) -> &'static str {
        match self {
            HypothesisStatus::Proposed => "proposed",
            HypothesisStatus::Testing => "testing",
            HypothesisStatus::Confirmed => "confirmed",
            HypothesisStatus::Refined => "refined",
            HypothesisStatus::Refuted => "refuted",
            HypothesisStatus::Uncertain => "uncertain",
            HypothesisStatus::Rejected { .. } => "rejected",
        }
    }
}

/// One version of one explanation of the feature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hypothesis {
    /// This version's id.
    pub id: HypothesisId,
    /// 1 for an original hypothesis, parent's version + 1 for a refinement.
    pub version: u32,
    /// The version this one refines, if any.
    pub parent: Option<HypothesisId>,
    /// What the feature responds to, in words.
    pub description: String,
    /// What in the exemplars supports it.
    pub evidence: String,
    /// A testable statement of where it should and should not fire.
    pub prediction: String,
    /// Where it stands.
    pub status: HypothesisStatus,
    /// The reasoner's confidence in it, 0..=1.
    pub confidence: f32,
    /// The experiments cited by the verdict that decided its status.
    pub decided_by: Vec<ExperimentId>,
    /// Who proposed it.
    pub origin: Actor,
    /// A machine-readable form of the claim, when the reasoner has one (the
    /// heuristic reasoner's rule); carried into the conclusion for evaluation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<serde_json::Value>,
}
