//! The reasoners the session driver calls for the agent's thinking steps:
//! an LLM behind any [`crate::llm::LlmClient`] ([`LlmReasoner`], with its
//! prompts in [`prompt`]) and the offline [`heuristic`] reasoner. The agent
//! itself (sage-core) only sees the plain requests and replies; the async
//! [`Reasoner`] trait and its errors live here, beside the I/O they need.

pub mod heuristic;
mod llm;
pub mod prompt;
mod spec;

pub use llm::{LlmReasoner, parse as parse_llm_reply, schema as llm_schema};
pub use spec::ReasonerSpec;

use crate::agent::{ReasonRequest, ReasonerReply};
use crate::llm::{LlmError, Usage};

/// Why a reasoner produced no usable answer.
#[derive(Debug, thiserror::Error)]
pub enum ReasonerError {
    /// The LLM call itself failed.
    #[error("LLM call failed: {0}")]
    Llm(#[from] LlmError),
    /// The answer parsed but broke a rule (unknown ids, overlong label, ...).
    #[error("the {step} reply was unusable: {reason}")]
    Malformed {
        /// The step that was asked.
        step: &'static str,
        /// What was wrong.
        reason: String,
        /// What the unusable answer was billed.
        usage: Usage,
    },
    /// The reasoner cannot take this step at all.
    #[error("the reasoner cannot {step}: {reason}")]
    Unable {
        /// The step that was asked.
        step: &'static str,
        /// Why.
        reason: String,
    },
}

impl ReasonerError {
    /// The tokens (and cost) the failed step was billed for, so session
    /// totals count failures too.
    pub fn usage(&self) -> Usage {
        match self {
            ReasonerError::Llm(error) => error.usage(),
            ReasonerError::Malformed { usage, .. } => *usage,
            ReasonerError::Unable { .. } => Usage::default(),
        }
    }
}

/// Something that can take the agent's thinking steps: an LLM, or the
/// offline heuristic.
#[async_trait::async_trait]
pub trait Reasoner: Send + Sync {
    /// A description for session headers and logs (never contains a key).
    fn spec(&self) -> String;

    /// Takes one step. The reply must be the variant that answers `req`.
    async fn reason(&self, req: &ReasonRequest) -> Result<(ReasonerReply, Usage), ReasonerError>;
}
