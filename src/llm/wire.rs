//! The contract between the generic chat client and each provider's wire
//! protocol (OpenAI-compatible, Anthropic): what a backend is asked to do,
//! what it hands back, how an endpoint's structured-reply mode is
//! negotiated and remembered, and the prompt helpers both backends share.
//! It sits apart from the client factory so the backends never import the
//! factory.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use super::{LlmError, LlmRequest, Message, Role, TokenLogprob, Usage};

/// How a backend asks for JSON when a request carries a schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StructuredMode {
    /// Start with the provider's strongest structured-output mode and move
    /// down one [`ReplyMode`] each time the server rejects one, remembering
    /// where it landed for the rest of the run.
    #[default]
    Auto,
    /// Always use the provider's strongest structured-output mode.
    Native,
    /// Always describe the schema in the prompt and parse the reply text.
    Instructions,
}

/// The way a structured reply is actually requested from an endpoint: what
/// negotiation settles on, and what `sage llm check` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyMode {
    /// `response_format: {"type": "json_schema"}`, strict where the schema allows.
    JsonSchema,
    /// `response_format: {"type": "json_object", "schema": …}`, the form
    /// llama.cpp-style servers turn into a grammar; the schema is also in
    /// the prompt for servers that ignore the `schema` field.
    JsonObject,
    /// Anthropic: a forced call of one tool whose `input_schema` is the schema.
    ToolCall,
    /// The schema in the system prompt; the JSON is extracted from the text.
    Prompt,
}

impl ReplyMode {
    /// The name shown to users.
    pub fn name(self) -> &'static str {
        match self {
            ReplyMode::JsonSchema => "json_schema",
            ReplyMode::JsonObject => "json_object+schema",
            ReplyMode::ToolCall => "tool_call",
            ReplyMode::Prompt => "prompt-only",
        }
    }
}

impl std::fmt::Display for ReplyMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Where an endpoint stands on its ladder of reply modes. Every client of
/// the same endpoint and model in this process shares one, so a rejection
/// seen by one call is never repeated by another.
pub(crate) struct Negotiation {
    ladder: &'static [ReplyMode],
    step: Arc<AtomicUsize>,
}

impl Negotiation {
    /// The shared position for `key` (base URL, model and configured mode)
    /// on `ladder`, which must not be empty.
    pub(crate) fn shared(key: String, ladder: &'static [ReplyMode]) -> Negotiation {
        static STEPS: OnceLock<Mutex<HashMap<String, Arc<AtomicUsize>>>> = OnceLock::new();
        let mut steps = STEPS
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let step = steps.entry(key).or_default().clone();
        Negotiation { ladder, step }
    }

    /// The mode requests use now.
    pub(crate) fn current(&self) -> ReplyMode {
        let step = self.step.load(Ordering::Relaxed);
        self.ladder[step.min(self.ladder.len() - 1)]
    }

    /// Records that the server rejected `rejected` and returns the mode to
    /// try next, or `None` when `rejected` is the last rung. A call that
    /// lost a race with another rejection simply uses the lower mode.
    pub(crate) fn step_down(&self, rejected: ReplyMode) -> Option<ReplyMode> {
        let at = self.ladder.iter().position(|&m| m == rejected)?;
        if at + 1 >= self.ladder.len() {
            return None;
        }
        self.step.fetch_max(at + 1, Ordering::Relaxed);
        Some(self.current())
    }
}

/// One exchange with a provider, before parsing or pricing.
pub(crate) struct RawReply {
    /// Reply text with any key scrubbed out.
    pub text: String,
    /// Token counts; `cost_usd` is filled in later.
    pub usage: Usage,
    /// Per-token log-probabilities when asked for.
    pub logprobs: Option<Vec<TokenLogprob>>,
    /// The server stopped at the token limit, so the text is likely cut short.
    pub truncated: bool,
}

/// A provider's wire protocol: turns messages into one HTTP exchange.
#[async_trait::async_trait]
pub(crate) trait Wire: Send + Sync {
    /// Sends `messages` with the options of `request` (its schema, token
    /// limit, temperature, logprobs); transport retries and stepping down
    /// the reply modes happen inside.
    async fn send(&self, messages: &[Message], request: &LlmRequest) -> Result<RawReply, LlmError>;

    /// The reply mode structured requests use now.
    fn reply_mode(&self) -> ReplyMode;
}

/// Whether an error body says the server refused one of `words` (a field
/// or value sage sent): the sign to move one reply mode down.
pub(crate) fn body_names_any(body: &str, words: &[&str]) -> bool {
    let lower = body.to_ascii_lowercase();
    words.iter().any(|w| lower.contains(w))
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
