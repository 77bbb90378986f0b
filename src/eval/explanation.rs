//! What gets scored: an explanation in words, and the heuristic rule behind
//! it when there is one (the offline judge predicts from the rule).

use serde::{Deserialize, Serialize};

use crate::agent::Conclusion;

/// An explanation of a feature, from SAGE or from a baseline explainer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Explanation {
    /// Short label.
    pub label: String,
    /// Fuller description.
    pub description: String,
    /// The heuristic reasoner's machine-readable rule, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<serde_json::Value>,
}

impl Explanation {
    /// The explanation a session concluded with.
    pub fn from_conclusion(conclusion: &Conclusion) -> Explanation {
        Explanation {
            label: conclusion.label.clone(),
            description: conclusion.description.clone(),
            rule: conclusion.rule.clone(),
        }
    }

    /// The words an LLM judge reads: label, then description.
    pub fn text(&self) -> String {
        if self.description.trim().is_empty() || self.description == self.label {
            self.label.clone()
        } else {
            format!("{}: {}", self.label, self.description)
        }
    }
}
