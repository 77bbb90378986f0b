//! The offline heuristic reasoner: a deterministic stand-in for an LLM that
//! forms token / class / context / phrase / position hypotheses from the
//! exemplars, designs minimal pairs and controls, and updates from scores.

mod classes;
mod design;
mod learner;
mod rule;

pub use classes::{TokenClass, normalize};
pub use learner::{Candidate, Dataset, Fit, assess, candidates, evaluate};
pub use rule::{Rule, RuleError, RuleKind, TokenTest, predict_from_rule};
