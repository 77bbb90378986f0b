//! The SAGE research agent as a pure state machine.
//!
//! The method, after SAGE (arXiv 2511.20820):
//! 1. **Observe** the feature's exemplars; hold out a seeded subset the
//!    reasoner never sees, for evaluation.
//! 2. **Hypothesise** several deliberately different explanations.
//! 3. **Design** texts per open hypothesis, each with an explicit prediction
//!    of which substrings fire (or that nothing fires: a negative control).
//! 4. **Run** them through the activation source.
//! 5. **Analyse**: score every prediction objectively (precision / recall /
//!    F1 of predicted against observed firing tokens) before the reasoner
//!    reads the results.
//! 6. **Update** each hypothesis: confirmed, refined (a new version with its
//!    lineage), refuted or uncertain, citing the experiments; the machine
//!    refuses confirmations and refutations the evidence does not carry.
//! 7. **Loop** 3-6 within budgets, **review** all hypotheses together (the
//!    reviewer may ask for a bounded number of extra tests), and
//!    **conclude** with a short label, a description, what it does not fire
//!    on, the evidence and a confidence.
//!
//! Human control arrives as [`UserAction`] events. Gates: `auto` (nothing
//! waits), `review` (new hypotheses, refinements included, and the
//! conclusion wait for approval), `step` (every agent-designed experiment
//! waits too). Pause stops new work; results already in flight are still
//! recorded. A rejection's reason reaches the reasoner in the next context.
//! Scoring is documented in [`score`]; the verdict rules the machine enforces
//! are listed on [`draft_problem`]'s module (`replies`) and summarised here:
//! confirming needs two cited tests that behaved as predicted and none that
//! did not; refuting needs two that did not, or a failed positive next to a
//! control that behaved. Budgets (rounds, tests per hypothesis, review
//! rounds, tokens, cost, wall time) stop the run with a conclusion built
//! from the state and the reason.
//!
//! [`Agent`] consumes [`Event`]s and returns [`Effect`]s. It does no I/O,
//! reads no clock and draws no OS randomness: times and seeds arrive in
//! events, so folding a session log into a fresh agent replays it exactly.

mod conclusion;
mod config;
mod evaluation;
mod event;
mod experiment;
mod holdout;
mod hypothesis;
mod ids;
mod log;
mod machine;
mod reasoning;
mod replies;
pub mod score;
mod state;
mod user;

pub use crate::rng::SplitMix64;
pub use crate::usage::Usage;
pub use conclusion::{Conclusion, MAX_LABEL_WORDS, StopReason, clamp_label, label_words};
pub use config::{AgentConfig, Budgets, ConfigError, GateMode, HoldoutConfig};
pub use evaluation::{EvalMetric, EvalScore, Evaluation};
pub use event::{Effect, Event, RequestId, Target, UserAction};
pub use experiment::{Experiment, ExperimentKind, ExperimentStatus, Prediction, Score, Strength};
pub use holdout::{Holdout, Slot};
pub use hypothesis::{Hypothesis, HypothesisStatus};
pub use ids::{Actor, ExperimentId, HypothesisId};
pub use log::LogEntry;
pub use machine::{Agent, REASONER_ATTEMPTS, add_usage};
pub use reasoning::{
    ConclusionDraft, Context, Decision, ExperimentDraft, Feedback, HypothesisDraft, ReasonRequest,
    ReasonerReply, ReviewOutcome, Verdict,
};
pub use replies::draft_problem;
pub use state::{AgentState, InFlight, Pending, Phase, StepKind};
