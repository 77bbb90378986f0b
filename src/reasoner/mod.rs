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

/// Longest reason [`one_line_reason`] returns, in characters.
const REASON_CHARS: usize = 160;

/// A failed step's recorded error (the text of a [`ReasonerError`], as the
/// session log keeps it) as one short line that says what went wrong in
/// the user's terms, for batch summaries.
pub fn one_line_reason(error: &str) -> String {
    let lower = error.to_ascii_lowercase();
    let status = error.find("HTTP ").and_then(|i| {
        let digits: String = error[i + 5..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        (digits.len() == 3).then(|| format!(" (HTTP {digits})"))
    });
    let status = status.unwrap_or_default();
    let reason = if ["response_format", "json_schema", "json_object"]
        .iter()
        .any(|w| lower.contains(w))
    {
        format!("the endpoint rejected response_format{status}")
    } else if lower.contains("cut off at the token limit") {
        "the model's replies were cut off at the token limit before the JSON was complete".into()
    } else if let Some(i) = lower.find("did not match the requested schema") {
        format!(
            "the model's replies did not match the schema{}",
            &error[i + 34..]
        )
    } else if lower.contains("could not connect") {
        "could not connect to the endpoint; is the server running at that URL?".into()
    } else if lower.contains("timed out") {
        "the endpoint timed out".into()
    } else if status.contains("401") || status.contains("403") {
        format!("the endpoint refused the API key{status}")
    } else if status.contains("404") {
        format!("the endpoint has no such model or path{status}")
    } else {
        error.trim_start_matches("LLM call failed: ").to_string()
    };
    let line = reason.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() <= REASON_CHARS {
        line
    } else {
        let cut: String = line.chars().take(REASON_CHARS).collect();
        format!("{cut}…")
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_errors_become_one_short_line() {
        let rejected = "LLM call failed: HTTP 500: {\"error\": \"1 validation error\nbody.response_format.type: Input should be 'text' or 'json_object'\"}";
        assert_eq!(
            one_line_reason(rejected),
            "the endpoint rejected response_format (HTTP 500)"
        );
        let invalid = "LLM call failed: reply did not match the requested schema after 3 attempts: $.label: expected string, found number";
        assert_eq!(
            one_line_reason(invalid),
            "the model's replies did not match the schema after 3 attempts: $.label: expected string, found number"
        );
        let refused =
            "LLM call failed: could not connect to http://127.0.0.1:9/v1/chat/completions";
        assert!(one_line_reason(refused).starts_with("could not connect"));
        let long = format!("the design reply was unusable: {}", "x\n".repeat(400));
        let line = one_line_reason(&long);
        assert!(!line.contains('\n') && line.chars().count() <= REASON_CHARS + 1);
    }
}
