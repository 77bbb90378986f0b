//! Language-model clients: the explainer's voice.
//!
//! One [`LlmClient`] trait over OpenAI-compatible chat completions, the
//! Anthropic messages API and the offline heuristic reasoner, selected by a
//! single spec string (`openai:MODEL`, `anthropic:MODEL`,
//! `http://HOST:PORT/v1#MODEL`, `heuristic`).

mod types;

pub use types::{LlmError, LlmReply, LlmRequest, Message, Role, TokenLogprob, Usage};

/// A chat-style language model.
///
/// Dropping the returned future cancels the request: implementations must
/// not spawn detached work.
#[async_trait::async_trait]
pub trait LlmClient: Send + Sync {
    /// The spec string this client was built from (never contains a key).
    fn spec(&self) -> &str;

    /// Sends one request. When `request.schema` is set the reply's `json`
    /// field holds a value that validates against it, or this returns an
    /// error: a failure is never disguised as an answer.
    async fn complete(&self, request: &LlmRequest) -> Result<LlmReply, LlmError>;
}
