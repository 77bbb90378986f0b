//! One HTTP endpoint of a language-model API: a JSON POST with timeouts,
//! retries, a concurrency limit shared by every client of the same base
//! URL, and key scrubbing of everything that ends up in an error.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;

use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};
use serde_json::Value;
use tokio::sync::Semaphore;

use super::retry::{RetryPolicy, parse_retry_after};
use super::spec::ApiKey;
use super::{LlmError, Usage};
use crate::net::{BodyError, error_chain, read_limited, strip_userinfo};

/// Longest server body kept in an error message.
const BODY_EXCERPT_CHARS: usize = 2_000;

/// A base URL plus everything needed to call it politely.
pub(crate) struct Endpoint {
    http: reqwest::Client,
    base_url: String,
    key: Option<ApiKey>,
    policy: RetryPolicy,
    permits: Arc<Semaphore>,
}

/// How one attempt failed.
enum AttemptError {
    /// Worth trying again (429, 5xx, timeouts, broken connections, garbled bodies).
    Transient {
        reason: String,
        retry_after: Option<std::time::Duration>,
    },
    /// Trying again would fail the same way.
    Fatal(LlmError),
}

impl Endpoint {
    /// An endpoint at `base_url`; at most `concurrency` requests to that base
    /// URL run at once across the whole process (the first client created
    /// for a base URL sets the limit).
    pub(crate) fn new(
        base_url: &str,
        key: Option<ApiKey>,
        policy: RetryPolicy,
        concurrency: usize,
    ) -> Result<Endpoint, LlmError> {
        let http = reqwest::Client::builder()
            .connect_timeout(policy.connect_timeout)
            .read_timeout(policy.read_timeout)
            .redirect(crate::net::same_origin_redirects())
            .build()
            .map_err(|e| LlmError::Setup(error_chain(&e)))?;
        Ok(Endpoint {
            http,
            base_url: base_url.to_string(),
            key,
            policy,
            permits: shared_permits(base_url, concurrency),
        })
    }

    /// The API key, if one is configured.
    pub(crate) fn key(&self) -> Option<&ApiKey> {
        self.key.as_ref()
    }

    /// `text` with the key replaced, safe to show or store.
    pub(crate) fn scrub(&self, text: &str) -> String {
        match &self.key {
            Some(key) => key.scrub(text),
            None => text.to_string(),
        }
    }

    /// POSTs `body` to `base_url + path` and returns the parsed JSON reply,
    /// retrying transient failures per the policy. A 5xx is transient
    /// unless its body is a request-validation error or `rejects_request`
    /// says it refuses something the request asked for: sending the same
    /// body again would fail the same way, so it comes back at once as
    /// [`LlmError::Http`].
    pub(crate) async fn post_json(
        &self,
        path: &str,
        headers: HeaderMap,
        body: &Value,
        rejects_request: fn(&str) -> bool,
    ) -> Result<Value, LlmError> {
        let url = format!("{}{}", self.base_url, path);
        let deadline = self.policy.call_deadline;
        tokio::time::timeout(
            deadline,
            self.post_with_retries(&url, headers, body, rejects_request),
        )
        .await
        .unwrap_or_else(|_| {
            Err(LlmError::DeadlineExceeded {
                url: strip_userinfo(&url),
                secs: deadline.as_secs(),
            })
        })
    }

    async fn post_with_retries(
        &self,
        url: &str,
        headers: HeaderMap,
        body: &Value,
        rejects_request: fn(&str) -> bool,
    ) -> Result<Value, LlmError> {
        let max_attempts = self.policy.max_attempts.max(1);
        let mut failed = 0;
        loop {
            let outcome = {
                // The semaphore lives in a process-wide map and is never closed.
                let _permit = self.permits.acquire().await.map_err(|_| {
                    LlmError::Setup("the endpoint's request limiter was closed".into())
                })?;
                self.attempt(url, headers.clone(), body, rejects_request)
                    .await
            };
            match outcome {
                Ok(value) => return Ok(value),
                Err(AttemptError::Fatal(e)) => return Err(e),
                Err(AttemptError::Transient {
                    reason,
                    retry_after,
                }) => {
                    failed += 1;
                    if failed >= max_attempts {
                        return Err(LlmError::RetriesExhausted {
                            attempts: failed,
                            last: self.scrub(&reason),
                            usage: Usage::default(),
                        });
                    }
                    tokio::time::sleep(self.policy.delay(failed, retry_after)).await;
                }
            }
        }
    }

    async fn attempt(
        &self,
        url: &str,
        headers: HeaderMap,
        body: &Value,
        rejects_request: fn(&str) -> bool,
    ) -> Result<Value, AttemptError> {
        // Messages name the URL without its user info (it may hold a secret).
        let shown = strip_userinfo(url);
        let transport = |e: reqwest::Error| {
            if e.is_redirect() {
                return AttemptError::Fatal(LlmError::Refused(error_chain(&e)));
            }
            let what = if e.is_timeout() {
                format!("timed out talking to {shown}")
            } else if e.is_connect() {
                format!("could not connect to {shown}")
            } else {
                format!("request to {shown} failed")
            };
            AttemptError::Transient {
                reason: format!("{what}: {}", error_chain(&e)),
                retry_after: None,
            }
        };
        let response = self
            .http
            .post(url)
            .headers(headers)
            .json(body)
            .send()
            .await
            .map_err(transport)?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        let bytes = match read_limited(response, self.policy.max_body_bytes).await {
            Ok(bytes) => bytes,
            Err(BodyError::Transport(e)) => return Err(transport(e)),
            Err(too_large) => {
                return Err(AttemptError::Fatal(LlmError::BodyTooLarge(format!(
                    "{shown}: {too_large}"
                ))));
            }
        };
        let text = String::from_utf8_lossy(&bytes);
        if status.is_success() {
            return serde_json::from_str(&text).map_err(|e| AttemptError::Transient {
                reason: format!(
                    "HTTP {status} with a body that is not valid JSON ({e}): {}",
                    excerpt(&self.scrub(&text))
                ),
                retry_after: None,
            });
        }
        let body = excerpt(&self.scrub(&text));
        let deterministic =
            status.is_server_error() && (is_validation_error(&text) || rejects_request(&text));
        let transient =
            status.as_u16() == 429 || status.as_u16() == 408 || status.is_server_error();
        if transient && !deterministic {
            Err(AttemptError::Transient {
                reason: format!("HTTP {}: {body}", status.as_u16()),
                retry_after,
            })
        } else {
            Err(AttemptError::Fatal(LlmError::Http {
                status: status.as_u16(),
                body,
            }))
        }
    }
}

/// Whether an error body reports that the request itself failed
/// validation (pydantic's "validation error", FastAPI's 422 detail, OpenAI's
/// `invalid_request_error`): some servers send these with a 5xx status.
pub(crate) fn is_validation_error(body: &str) -> bool {
    let lower = body.to_ascii_lowercase();
    [
        "validation error",
        "validationerror",
        "validation_error",
        "invalid_request_error",
        "unprocessable",
        "input should be",
        "extra inputs are not permitted",
    ]
    .iter()
    .any(|sign| lower.contains(sign))
}

/// A header value holding a secret: marked sensitive so reqwest never prints it.
pub(crate) fn secret_header(value: &str, var: &'static str) -> Result<HeaderValue, LlmError> {
    let mut header = HeaderValue::from_str(value).map_err(|_| LlmError::InvalidKey { var })?;
    header.set_sensitive(true);
    Ok(header)
}

/// The process-wide limiter for `base_url`.
fn shared_permits(base_url: &str, concurrency: usize) -> Arc<Semaphore> {
    static LIMITS: OnceLock<Mutex<HashMap<String, Arc<Semaphore>>>> = OnceLock::new();
    let mut limits = LIMITS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    limits
        .entry(base_url.to_string())
        .or_insert_with(|| Arc::new(Semaphore::new(concurrency.max(1))))
        .clone()
}

fn excerpt(text: &str) -> String {
    if text.chars().count() <= BODY_EXCERPT_CHARS {
        text.to_string()
    } else {
        let cut: String = text.chars().take(BODY_EXCERPT_CHARS).collect();
        format!("{cut}…")
    }
}
