//! Language-model clients: the explainer's voice.
//!
//! One [`LlmClient`] trait over OpenAI-compatible chat completions, the
//! Anthropic messages API and the offline heuristic reasoner, selected by a
//! single spec string (`openai:MODEL`, `anthropic:MODEL`,
//! `http://HOST:PORT/v1#MODEL`, `heuristic`).

//!
//! Choices made here: structured replies are negotiated per endpoint and
//! remembered for the run (OpenAI-compatible: `json_schema`, then
//! `json_object` with the schema, then the schema in the prompt; Anthropic:
//! a forced tool call, then the prompt), stepping down at once when any 4xx
//! or 5xx body names what was refused; a deterministic rejection is never
//! retried with the same body; explicit URL endpoints send the key
//! in `SAGE_LLM_API_KEY` if set, never `OPENAI_API_KEY`; session cost totals
//! sum the priced calls and count the unpriced ones.

mod anthropic;
pub mod check;
mod client;
mod cost;
mod http;
mod openai;
mod retry;
mod schema;
mod spec;
mod types;
mod wire;

pub use client::{LlmConfig, build_client};
pub use cost::{Price, PriceTable, PriceTableError, UsageTotals};
pub use retry::{RetryPolicy, parse_retry_after};
pub use schema::{extract_json, validate};
pub use spec::{
    ANTHROPIC_DEFAULT_BASE_URL, ANTHROPIC_KEY_VAR, ApiKey, BaseUrls, EndpointSpec, KeySource,
    OPENAI_DEFAULT_BASE_URL, OPENAI_KEY_VAR, Provider, URL_ENDPOINT_KEY_VAR,
};
pub use types::{LlmError, LlmReply, LlmRequest, Message, Role, TokenLogprob, Usage};
pub use wire::{ReplyMode, StructuredMode};

pub(crate) use anthropic::parse_usage as anthropic_usage;
pub(crate) use openai::parse_usage as openai_usage;

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

    /// How this endpoint is asked for structured replies right now (what
    /// negotiation settled on so far); `None` for clients that do not
    /// negotiate.
    fn reply_mode(&self) -> Option<ReplyMode> {
        None
    }
}
