//! Knobs of one agent run: sizes, thresholds, gates and budgets.

use serde::{Deserialize, Serialize};

use crate::activation::ExemplarQuery;

/// How much the researcher must approve before things take effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GateMode {
    /// Nothing waits.
    #[default]
    Auto,
    /// New hypotheses (including refinements) and the conclusion wait.
    Review,
    /// Hypotheses, every experiment before it runs, and the conclusion wait.
    Step,
}

impl GateMode {
    /// Whether new hypotheses wait for approval.
    pub fn gates_hypotheses(self) -> bool {
        self != GateMode::Auto
    }

    /// Whether agent-designed experiments wait for approval.
    pub fn gates_experiments(self) -> bool {
        self == GateMode::Step
    }

    /// Whether the conclusion waits for approval.
    pub fn gates_conclusion(self) -> bool {
        self != GateMode::Auto
    }
}

/// Limits that stop the agent; `None` means unlimited.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Budgets {
    /// Total LLM tokens (prompt + cached + completion).
    pub max_tokens: Option<u64>,
    /// Total LLM cost in US dollars.
    pub max_cost_usd: Option<f64>,
    /// Wall time since the Start event, in milliseconds.
    pub max_wall_ms: Option<u64>,
}

/// How the held-out evaluation set is drawn from the exemplars.
///
/// Candidates are every top example below rank `keep_top` plus every quantile
/// sample; sorted by max activation and cut into high / middle / low thirds,
/// `count` of them are drawn (40% / 30% / 30%, SAGE's 4 / 3 / 3 for 10) with
/// the session's seed. The reasoner never sees them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HoldoutConfig {
    /// How many examples to hold out.
    pub count: usize,
    /// Top ranks that always stay visible.
    pub keep_top: usize,
}

impl Default for HoldoutConfig {
    fn default() -> Self {
        HoldoutConfig {
            count: 10,
            keep_top: 10,
        }
    }
}

/// Everything that shapes one agent run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AgentConfig {
    /// Hypotheses asked for in the first step.
    pub n_hypotheses: usize,
    /// Experiments designed per open hypothesis per round.
    pub tests_per_round: usize,
    /// Design/run/update rounds before the review.
    pub max_rounds: u32,
    /// Experiments one hypothesis may have in total.
    pub max_tests_per_hypothesis: usize,
    /// Times the reviewer may ask for more tests.
    pub max_review_rounds: u32,
    /// A token fires when its value is at least this fraction of the feature's
    /// maximum activation.
    pub firing_fraction: f32,
    /// An experiment "behaved as predicted" when its F1 is at least this.
    pub pass_f1: f32,
    /// The held-out split.
    pub holdout: HoldoutConfig,
    /// What to fetch as exemplars.
    pub exemplars: ExemplarQuery,
    /// Approval gate.
    pub gate: GateMode,
    /// Stopping budgets.
    pub budgets: Budgets,
}

impl Default for AgentConfig {
    fn default() -> Self {
        AgentConfig {
            n_hypotheses: 4,
            tests_per_round: 3,
            max_rounds: 5,
            max_tests_per_hypothesis: 12,
            max_review_rounds: 1,
            firing_fraction: 0.2,
            pass_f1: 0.5,
            holdout: HoldoutConfig::default(),
            exemplars: ExemplarQuery::default(),
            gate: GateMode::Auto,
            budgets: Budgets::default(),
        }
    }
}

/// A setting outside the range the agent can work with.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    /// A count that must be at least one is zero.
    #[error("agent setting `{name}` is 0; set it to at least 1")]
    Zero {
        /// The setting's name.
        name: &'static str,
    },
    /// A fraction outside its range.
    #[error("agent setting `{name}` is {value}; it must be {range}")]
    OutOfRange {
        /// The setting's name.
        name: &'static str,
        /// The value given.
        value: f64,
        /// The accepted range, in words.
        range: &'static str,
    },
}

impl AgentConfig {
    /// Checks the settings before a run, so a bad config file is reported as
    /// such instead of producing a run that cannot do anything useful.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let counts = [
            ("n_hypotheses", self.n_hypotheses),
            ("tests_per_round", self.tests_per_round),
            ("max_rounds", self.max_rounds as usize),
            ("max_tests_per_hypothesis", self.max_tests_per_hypothesis),
        ];
        if let Some((name, _)) = counts.iter().find(|(_, v)| *v == 0) {
            return Err(ConfigError::Zero { name });
        }
        let fractions = [
            (
                "firing_fraction",
                self.firing_fraction,
                "above 0 and at most 1",
            ),
            ("pass_f1", self.pass_f1, "above 0 and at most 1"),
        ];
        for (name, value, range) in fractions {
            if !(value > 0.0 && value <= 1.0) {
                return Err(ConfigError::OutOfRange {
                    name,
                    value: f64::from(value),
                    range,
                });
            }
        }
        if let Some(cost) = self.budgets.max_cost_usd
            && !(cost >= 0.0 && cost.is_finite())
        {
            return Err(ConfigError::OutOfRange {
                name: "budgets.max_cost_usd",
                value: cost,
                range: "a finite number of dollars, 0 or more",
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prelude::*;

    #[test]
    fn defaults_are_valid_and_bad_values_are_named() {
        assert_eq!(AgentConfig::default().validate(), Ok(()));
        let zero = AgentConfig {
            tests_per_round: 0,
            ..AgentConfig::default()
        };
        assert_eq!(
            zero.validate().unwrap_err().to_string(),
            "agent setting `tests_per_round` is 0; set it to at least 1"
        );
        let fraction = AgentConfig {
            firing_fraction: 1.5,
            ..AgentConfig::default()
        };
        assert!(
            fraction
                .validate()
                .unwrap_err()
                .to_string()
                .contains("`firing_fraction` is 1.5")
        );
        let nan = AgentConfig {
            pass_f1: f32::NAN,
            ..AgentConfig::default()
        };
        assert!(nan.validate().is_err());
        let mut cost = AgentConfig::default();
        cost.budgets.max_cost_usd = Some(-1.0);
        assert!(cost.validate().is_err());
    }
}
