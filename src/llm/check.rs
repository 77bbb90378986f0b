//! One small structured call to an endpoint before a session spends real
//! tokens on it: which reply mode it accepted, how long it took, what it
//! cost, and whether it returns token log-probabilities (which
//! `sage eval --predict logprobs` needs). `sage llm check` prints it; the
//! TUI can run the same check before a session starts.

use std::time::{Duration, Instant};

use serde_json::json;

use super::types::sum_usage;
use super::{LlmClient, LlmError, LlmRequest, Message, ReplyMode, Usage};

/// What an endpoint check found.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct EndpointCheck {
    /// The spec checked (never holds a key).
    pub spec: String,
    /// The reply mode the structured call ended in; `None` when the client
    /// does not negotiate.
    pub mode: Option<String>,
    /// Wall time of the structured call.
    pub latency_ms: u64,
    /// Tokens of both calls (structured and log-prob probe), failed ones included.
    pub usage: Usage,
    /// Whether the endpoint returned token log-probabilities; `None` when
    /// the probe failed for another reason (given in `logprobs_note`).
    pub logprobs: Option<bool>,
    /// Why the log-prob probe was inconclusive, when it was.
    pub logprobs_note: Option<String>,
}

/// Why a check failed: the structured call itself did not succeed.
#[derive(Debug, thiserror::Error)]
#[error("the endpoint did not give a usable structured reply: {error}")]
pub struct CheckFailed {
    /// The call's error.
    pub error: LlmError,
    /// The mode it was in when it gave up.
    pub mode: Option<ReplyMode>,
}

fn probe_schema() -> serde_json::Value {
    json!({
        "type": "object",
        "properties": {"ok": {"type": "boolean"}, "word": {"type": "string"}},
        "required": ["ok", "word"],
        "additionalProperties": false
    })
}

/// Runs the check: one structured call (short schema, 64-token cap), then a
/// one-token call asking for log-probabilities.
pub async fn check_endpoint(client: &dyn LlmClient) -> Result<EndpointCheck, CheckFailed> {
    let structured = LlmRequest {
        messages: vec![
            Message::system("You answer in JSON."),
            Message::user("Set ok to true and word to \"ready\"."),
        ],
        schema: Some(probe_schema()),
        max_tokens: Some(64),
        temperature: Some(0.0),
        top_logprobs: None,
    };
    let started = Instant::now();
    let reply = client
        .complete(&structured)
        .await
        .map_err(|error| CheckFailed {
            error,
            mode: client.reply_mode(),
        })?;
    let latency = started.elapsed();
    let probe = LlmRequest {
        messages: vec![Message::user("Say yes.")],
        max_tokens: Some(1),
        temperature: Some(0.0),
        top_logprobs: Some(1),
        ..LlmRequest::default()
    };
    let (logprobs, note, probe_usage) = match client.complete(&probe).await {
        Ok(r) => (
            Some(r.logprobs.is_some_and(|l| !l.is_empty())),
            None,
            r.usage,
        ),
        Err(LlmError::LogprobsUnsupported(_)) => (Some(false), None, Usage::default()),
        Err(e) => {
            let usage = e.usage();
            (None, Some(e.to_string()), usage)
        }
    };
    Ok(EndpointCheck {
        spec: client.spec().to_string(),
        mode: client.reply_mode().map(|m| m.name().to_string()),
        latency_ms: millis(latency),
        usage: sum_usage(reply.usage, probe_usage),
        logprobs,
        logprobs_note: note,
    })
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
