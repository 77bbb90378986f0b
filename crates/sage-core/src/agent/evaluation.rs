//! Evaluation results recorded in a session: `sage eval` appends them to
//! the log of the session it scored, so replay and the TUI show them next
//! to the conclusion.

use crate::prelude::*;

use serde::{Deserialize, Serialize};

/// Which of SAGE's two metrics a score is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EvalMetric {
    /// Fraction of generated sentences that made the feature fire.
    Generative,
    /// Pearson r of predicted against true activations on held-out texts.
    Predictive,
}

impl EvalMetric {
    /// A short name for charts (`gen`, `pred`).
    pub fn short(self) -> &'static str {
        match self {
            EvalMetric::Generative => "gen",
            EvalMetric::Predictive => "pred",
        }
    }
}

/// One explainer's score on one metric; `value` is `None` when missing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalScore {
    /// Who explained (`sage`, `one-shot`, or a floor).
    pub explainer: String,
    /// Which metric.
    pub metric: EvalMetric,
    /// The score.
    pub value: Option<f64>,
    /// Lower end of its 95% bootstrap interval.
    pub low: Option<f64>,
    /// Upper end of its 95% bootstrap interval.
    pub high: Option<f64>,
}

/// An evaluation of the session's explanation against the baselines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// Who judged (the same judge scored every explainer).
    pub judge: String,
    /// Bootstrap seed.
    pub seed: u64,
    /// Every score.
    pub scores: Vec<EvalScore>,
}

impl Evaluation {
    /// One line for the refinement log: `sage gen 0.90 pred 0.95 · …`.
    pub fn summary(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        for s in &self.scores {
            let value = s.value.map_or("n/a".to_string(), |v| format!("{v:.2}"));
            match parts.last_mut() {
                Some(last) if last.starts_with(&format!("{} ", s.explainer)) => {
                    last.push_str(&format!(" {} {value}", s.metric.short()));
                }
                _ => parts.push(format!("{} {} {value}", s.explainer, s.metric.short())),
            }
        }
        format!("evaluated by {}: {}", self.judge, parts.join(" · "))
    }
}
