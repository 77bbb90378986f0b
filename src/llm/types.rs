//! Requests, replies and usage accounting shared by every LLM backend.

use serde::{Deserialize, Serialize};

pub use sage_core::usage::Usage;

/// Two calls' usage added up; the cost is known when each part's is (a
/// part with no tokens has nothing to price).
pub(crate) fn sum_usage(a: Usage, b: Usage) -> Usage {
    let cost = |u: &Usage| if u.is_empty() { Some(0.0) } else { u.cost_usd };
    let mut sum = a;
    sum.add_tokens(&b);
    sum.cost_usd = cost(&a).zip(cost(&b)).map(|(x, y)| x + y);
    sum
}

/// Who said a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions that frame the conversation.
    System,
    /// The caller's turn.
    User,
    /// The model's earlier turn.
    Assistant,
}

/// One chat message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Speaker.
    pub role: Role,
    /// Text content.
    pub content: String,
}

impl Message {
    /// A system message.
    pub fn system(content: impl Into<String>) -> Message {
        Message {
            role: Role::System,
            content: content.into(),
        }
    }

    /// A user message.
    pub fn user(content: impl Into<String>) -> Message {
        Message {
            role: Role::User,
            content: content.into(),
        }
    }

    /// An assistant message.
    pub fn assistant(content: impl Into<String>) -> Message {
        Message {
            role: Role::Assistant,
            content: content.into(),
        }
    }
}

/// One request to a language model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct LlmRequest {
    /// The conversation so far.
    pub messages: Vec<Message>,
    /// A JSON schema the reply must satisfy; `None` for free text.
    pub schema: Option<serde_json::Value>,
    /// Upper bound on reply tokens.
    pub max_tokens: Option<u32>,
    /// Sampling temperature; `None` leaves the server's default.
    pub temperature: Option<f32>,
    /// Ask for the top-N log-probabilities of each generated token.
    pub top_logprobs: Option<u8>,
}

/// One generated token with its most likely alternatives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenLogprob {
    /// The generated token.
    pub token: String,
    /// Its log-probability.
    pub logprob: f64,
    /// The most likely tokens at this position with their log-probabilities.
    pub top: Vec<(String, f64)>,
}

/// A model's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LlmReply {
    /// The reply text, exactly as received (only an echoed API key is masked).
    pub text: String,
    /// The parsed, schema-checked value when the request carried a schema.
    pub json: Option<serde_json::Value>,
    /// What the call cost.
    pub usage: Usage,
    /// Per-token log-probabilities when requested and supported.
    pub logprobs: Option<Vec<TokenLogprob>>,
}

/// Why a call produced no usable answer.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    /// The spec string could not be understood.
    #[error("invalid LLM spec `{spec}`: {reason}")]
    InvalidSpec {
        /// The spec as given.
        spec: String,
        /// What was wrong and the accepted forms.
        reason: String,
    },
    /// A required API key is not set.
    #[error("missing API key: set {var} in the environment or the config file")]
    MissingKey {
        /// The environment variable to set.
        var: &'static str,
    },
    /// The endpoint cannot provide log-probabilities.
    #[error("token log-probabilities are not supported by this endpoint ({0})")]
    LogprobsUnsupported(String),
    /// The server kept failing until retries ran out.
    #[error("request failed after {attempts} attempts: {last}")]
    RetriesExhausted {
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        last: String,
        /// Tokens billed earlier in the same call (replies that were
        /// re-asked before the server started failing), priced.
        usage: Usage,
    },
    /// The reply could not be parsed or validated even after re-asking.
    #[error("reply did not match the requested schema after {attempts} attempts: {reason}")]
    InvalidReply {
        /// Attempts made.
        attempts: u32,
        /// The last parse or validation error.
        reason: String,
        /// Tokens billed by every attempt, priced: they were spent even
        /// though no answer came of them.
        usage: Usage,
    },
    /// Any other failure that came after the server had billed tokens (a
    /// re-ask answered with an HTTP error, a 200 reply without the promised
    /// content). Errors that cost nothing are never wrapped.
    #[error("{error}")]
    AfterUsage {
        /// Tokens billed before the failure, priced.
        usage: Usage,
        /// What went wrong.
        error: Box<LlmError>,
    },
    /// A non-retryable HTTP error (for example 401 or 400).
    #[error("HTTP {status}: {body}")]
    Http {
        /// Status code.
        status: u16,
        /// Response body, for diagnosis.
        body: String,
    },
    /// The key found for an endpoint cannot be sent in an HTTP header.
    #[error(
        "the API key in {var} contains characters not allowed in an HTTP header; check it for stray quotes or line breaks"
    )]
    InvalidKey {
        /// The variable (or config `[keys]` entry) holding the key.
        var: &'static str,
    },
    /// The server answered 200 but not in the shape its API promises.
    #[error(
        "unexpected reply shape from the LLM server: {0}; is the base URL pointing at the right API?"
    )]
    UnexpectedReply(String),
    /// The server sent the call somewhere sage will not follow (a redirect
    /// to another scheme, host or port, or too many redirects).
    #[error("{0}")]
    Refused(String),
    /// The call took longer than its deadline, retries included.
    #[error(
        "the call to {url} did not finish within its {secs} s deadline; the server is too slow or stalled"
    )]
    DeadlineExceeded {
        /// The URL called (without credentials).
        url: String,
        /// The deadline, in seconds.
        secs: u64,
    },
    /// The server's reply was larger than sage reads.
    #[error("{0}")]
    BodyTooLarge(String),
    /// The HTTP client could not be set up.
    #[error("could not set up the HTTP client: {0}")]
    Setup(String),
}

impl LlmError {
    /// The tokens (and cost) the failed call was billed for; zero when the
    /// server billed nothing. Callers add it to their totals: a failure
    /// still costs money.
    pub fn usage(&self) -> Usage {
        match self {
            LlmError::RetriesExhausted { usage, .. }
            | LlmError::InvalidReply { usage, .. }
            | LlmError::AfterUsage { usage, .. } => *usage,
            _ => Usage::default(),
        }
    }

    /// The error itself, or the one an [`LlmError::AfterUsage`] wraps: what
    /// to match on when asking *why* a call failed.
    pub fn underlying(&self) -> &LlmError {
        match self {
            LlmError::AfterUsage { error, .. } => error.underlying(),
            other => other,
        }
    }

    /// The same error carrying `usage` as everything the call was billed
    /// for (replacing what it carried). Errors without a usage field are
    /// wrapped in [`LlmError::AfterUsage`], unless `usage` is empty.
    pub fn with_usage(self, usage: Usage) -> LlmError {
        match self {
            LlmError::RetriesExhausted { attempts, last, .. } => LlmError::RetriesExhausted {
                attempts,
                last,
                usage,
            },
            LlmError::InvalidReply {
                attempts, reason, ..
            } => LlmError::InvalidReply {
                attempts,
                reason,
                usage,
            },
            LlmError::AfterUsage { error, .. } => error.with_usage(usage),
            other if usage.is_empty() => other,
            other => LlmError::AfterUsage {
                usage,
                error: Box::new(other),
            },
        }
    }
}
