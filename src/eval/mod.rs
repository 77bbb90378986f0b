//! Evaluation of explanations, as SAGE (arXiv 2511.20820) scores them, with
//! the floors and intervals its own evaluation lacks.
//!
//! - [`generative`]: from the explanation alone a generator writes 10
//!   sentences; the score is the fraction whose max activation reaches half
//!   the mean max of the feature's top 10 exemplars. Sentences written for a
//!   *different* feature give the floor.
//! - [`predictive`]: on the session's held-out texts (never shown to the
//!   explainer) a predictor estimates each token's activation on 0-10 from
//!   the explanation alone; the score is Pearson's r over all tokens.
//!   Explanation-free baselines sit beside it.
//! - [`classify`]: Delphi's detection and fuzzing (balanced accuracy, F1,
//!   AUROC) on examples [`sampling`] draws across activation quantiles,
//!   with the spread over reseeds.
//! - [`stats`]: Pearson, means and seeded percentile bootstrap intervals.
//!
//! Missing answers (a failed LLM call, an unparseable prediction) are
//! counted and reported, never scored.

pub mod classify;
pub mod explanation;
pub mod feature;
#[cfg(test)]
mod fixtures;
pub mod from_session;
pub mod generative;
pub mod interop;
pub mod judge;
pub mod llm_judge;
pub mod one_shot;
pub mod plot;
pub mod predictive;
pub mod record;
pub mod report;
pub mod sampling;
pub mod stats;

pub use classify::{ClassifierResult, ClassifierScore, Confusion, Spread, Task, Verdict};
pub use explanation::Explanation;
pub use feature::{
    BaselineScore, Candidate, EvalError, EvalOptions, FeatureEvaluation, FeatureInput, Scored,
    Scorer, evaluate_feature,
};
pub use generative::{GenerativeScore, SentenceOutcome, success_threshold};
pub use judge::{Judge, JudgeError, RuleJudge, Spend};
pub use llm_judge::{LlmJudge, PredictMode};
pub use predictive::{Baseline, HeldOutText, PredictiveScore, held_out_set};
pub use record::{append_to_session, evaluation_of};
pub use report::{
    Average, CONTROL, ClassAverage, DELPHI, EvalReport, FailedFeature, ONE_SHOT, SAGE,
};
pub use sampling::ClassifierConfig;
pub use stats::{Interval, bootstrap, mean, mean_interval, pearson};
