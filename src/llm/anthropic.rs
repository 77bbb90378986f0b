//! Anthropic's messages API. Structured replies are requested by
//! instructions in the system prompt and parsed from the text (the same
//! path local servers use), which keeps the reply text exactly what the
//! model wrote; token log-probabilities do not exist on this API.

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Value, json};

use super::http::{Endpoint, secret_header};
use super::spec::EndpointSpec;
use super::wire::{RawReply, Wire, schema_instructions, system_text};
use super::{LlmError, LlmRequest, Message, Role, Usage};
use sage_core::usage::bounded_count;

/// API version header value sent with every request.
const ANTHROPIC_VERSION: &str = "2023-06-01";
/// The API requires `max_tokens`; used when the request leaves it open.
const DEFAULT_MAX_TOKENS: u32 = 4096;

/// The messages wire protocol.
pub(crate) struct AnthropicWire {
    endpoint: Endpoint,
    model: String,
    headers: HeaderMap,
}

impl AnthropicWire {
    pub(crate) fn new(endpoint: Endpoint, spec: &EndpointSpec) -> Result<AnthropicWire, LlmError> {
        let mut headers = HeaderMap::new();
        headers.insert(
            HeaderName::from_static("anthropic-version"),
            HeaderValue::from_static(ANTHROPIC_VERSION),
        );
        if let Some(key) = endpoint.key() {
            headers.insert(
                HeaderName::from_static("x-api-key"),
                secret_header(key.expose(), spec.key_var)?,
            );
        }
        Ok(AnthropicWire {
            endpoint,
            model: spec.model.clone(),
            headers,
        })
    }

    fn body(&self, messages: &[Message], request: &LlmRequest) -> Value {
        let instructions = request.schema.as_ref().map(schema_instructions);
        let turns: Vec<Value> = messages
            .iter()
            .filter(|m| m.role != Role::System)
            .map(|m| json!({"role": m.role, "content": m.content}))
            .collect();
        let mut body = json!({
            "model": self.model,
            "max_tokens": request.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS),
            "messages": turns,
        });
        if let Some(system) = system_text(messages, instructions) {
            body["system"] = json!(system);
        }
        if let Some(t) = request.temperature {
            body["temperature"] = json!(t);
        }
        body
    }
}

/// Reads a 200 reply; one without content still carries its billed tokens.
fn parse(reply: &Value) -> Result<(String, Usage), LlmError> {
    let usage = parse_usage(reply);
    let blocks = reply["content"].as_array().ok_or_else(|| {
        LlmError::UnexpectedReply("no `content` array in the reply".into()).with_usage(usage)
    })?;
    let text: String = blocks
        .iter()
        .filter(|b| b["type"] == "text")
        .filter_map(|b| b["text"].as_str())
        .collect();
    Ok((text, usage))
}

pub(crate) fn parse_usage(reply: &Value) -> Usage {
    let count = |field: &str| bounded_count(reply["usage"][field].as_u64().unwrap_or(0));
    Usage {
        // Cache writes are billed near the input rate; they count as prompt tokens.
        prompt_tokens: count("input_tokens").saturating_add(count("cache_creation_input_tokens")),
        cached_tokens: count("cache_read_input_tokens"),
        completion_tokens: count("output_tokens"),
        cost_usd: None,
    }
}

#[async_trait::async_trait]
impl Wire for AnthropicWire {
    async fn send(&self, messages: &[Message], request: &LlmRequest) -> Result<RawReply, LlmError> {
        if request.top_logprobs.is_some() {
            return Err(LlmError::LogprobsUnsupported(
                "the Anthropic messages API does not return token log-probabilities; \
                 use an OpenAI-compatible endpoint for logprob-based scoring"
                    .into(),
            ));
        }
        let body = self.body(messages, request);
        let reply = self
            .endpoint
            .post_json("/messages", self.headers.clone(), &body)
            .await?;
        let (text, usage) = parse(&reply)?;
        Ok(RawReply {
            text: self.endpoint.scrub(&text),
            usage,
            logprobs: None,
        })
    }
}
