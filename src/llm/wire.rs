//! The contract between the generic chat client and each provider's wire
//! protocol (OpenAI-compatible, Anthropic): what a backend is asked to do,
//! what it hands back, and the prompt helpers both backends share. It sits
//! apart from the client factory so the backends never import the factory.

use super::{LlmError, LlmRequest, Message, Role, TokenLogprob, Usage};

/// How a backend asks for JSON when a request carries a schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StructuredMode {
    /// Use the provider's structured-output mode, and switch to
    /// instructions for good if the server answers 400 that it lacks it.
    #[default]
    Auto,
    /// Always use the provider's structured-output mode.
    Native,
    /// Always describe the schema in the prompt and parse the reply text.
    Instructions,
}

/// One exchange with a provider, before parsing or pricing.
pub(crate) struct RawReply {
    /// Reply text with any key scrubbed out.
    pub text: String,
    /// Token counts; `cost_usd` is filled in later.
    pub usage: Usage,
    /// Per-token log-probabilities when asked for.
    pub logprobs: Option<Vec<TokenLogprob>>,
}

/// A provider's wire protocol: turns messages into one HTTP exchange.
#[async_trait::async_trait]
pub(crate) trait Wire: Send + Sync {
    /// Sends `messages` with the options of `request` (its schema, token
    /// limit, temperature, logprobs); transport retries happen inside.
    async fn send(&self, messages: &[Message], request: &LlmRequest) -> Result<RawReply, LlmError>;
}

/// The system text that asks for JSON when the provider cannot be told the
/// schema directly.
pub(crate) fn schema_instructions(schema: &serde_json::Value) -> String {
    format!(
        "Reply with a single JSON value and no other text. It must satisfy this JSON Schema:\n{schema}"
    )
}

/// The system prompt: every system message joined, plus `extra` when given.
pub(crate) fn system_text(messages: &[Message], extra: Option<String>) -> Option<String> {
    let parts: Vec<String> = messages
        .iter()
        .filter(|m| m.role == Role::System)
        .map(|m| m.content.clone())
        .chain(extra)
        .collect();
    (!parts.is_empty()).then(|| parts.join("\n\n"))
}
