//! The offline heuristic reasoner: a deterministic stand-in for an LLM that
//! forms token / class / context / phrase / position hypotheses from the
//! exemplars, designs minimal pairs and controls, and updates from scores.
//! Its conclusions carry a [`Rule`] that [`predict_from_rule`] turns into
//! per-token predictions, so evaluation runs with no key.

mod classes;
mod design;
mod learner;
mod reasoner;
mod rule;
mod steps;

pub use classes::{TokenClass, normalize};
pub use design::sentences_for;
pub use learner::{Candidate, Dataset, Fit, assess, candidates, evaluate};
pub use reasoner::HeuristicReasoner;
pub use rule::{Rule, RuleError, RuleKind, TokenTest, predict_from_rule};
pub use steps::rule_from_words;
