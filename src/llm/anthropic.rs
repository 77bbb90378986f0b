//! Anthropic's messages API. Structured replies come from a forced call of
//! one tool whose `input_schema` is the reply schema, falling back to the
//! schema in the system prompt (parsed from the text) where the endpoint
//! rejects tools. The system prompt is sent as blocks with `cache_control`
//! on the last one the caller gave, so the stable instructions and context
//! prefix are cached between calls; cache reads and writes are counted.
//! Token log-probabilities do not exist on this API.

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Value, json};

use super::http::{Endpoint, secret_header};
use super::spec::EndpointSpec;
use super::wire::{
    Negotiation, RawReply, ReplyMode, StructuredMode, Wire, body_names_any, schema_instructions,
};
use super::{LlmError, LlmRequest, Message, Role, Usage};
use sage_core::usage::bounded_count;

/// API version header value sent with every request.
const ANTHROPIC_VERSION: &str = "2023-06-01";
/// The API requires `max_tokens`; used when the request leaves it open.
const DEFAULT_MAX_TOKENS: u32 = 4096;
/// The one tool a structured request forces the model to call.
const REPLY_TOOL: &str = "reply";

/// The messages wire protocol.
pub(crate) struct AnthropicWire {
    endpoint: Endpoint,
    model: String,
    headers: HeaderMap,
    /// Forced tool call or prompt-only, shared per endpoint.
    negotiation: Negotiation,
}

impl AnthropicWire {
    pub(crate) fn new(
        endpoint: Endpoint,
        spec: &EndpointSpec,
        mode: StructuredMode,
    ) -> Result<AnthropicWire, LlmError> {
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
            negotiation: Negotiation::shared(
                format!("anthropic {} {} {mode:?}", spec.base_url, spec.model),
                match mode {
                    StructuredMode::Auto => &[ReplyMode::ToolCall, ReplyMode::Prompt],
                    StructuredMode::Native => &[ReplyMode::ToolCall],
                    StructuredMode::Instructions => &[ReplyMode::Prompt],
                },
            ),
        })
    }

    fn body(&self, messages: &[Message], request: &LlmRequest, mode: ReplyMode) -> Value {
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
        let mut system: Vec<Value> = messages
            .iter()
            .filter(|m| m.role == Role::System)
            .map(|m| json!({"type": "text", "text": m.content}))
            .collect();
        if let Some(last) = system.last_mut() {
            last["cache_control"] = json!({"type": "ephemeral"});
        }
        match (&request.schema, mode) {
            (Some(schema), ReplyMode::ToolCall) => {
                body["tools"] = json!([{
                    "name": REPLY_TOOL,
                    "description": "Give your answer by calling this tool; its input is the whole answer.",
                    "input_schema": schema,
                }]);
                body["tool_choice"] = json!({"type": "tool", "name": REPLY_TOOL});
            }
            (Some(schema), _) => {
                system.push(json!({"type": "text", "text": schema_instructions(schema)}));
            }
            (None, _) => {}
        }
        if !system.is_empty() {
            body["system"] = Value::Array(system);
        }
        if let Some(t) = request.temperature {
            body["temperature"] = json!(t);
        }
        body
    }
}

/// Reads a 200 reply: the forced tool call's input as JSON text when there
/// is one, else the text blocks. One without content still carries its
/// billed tokens.
fn parse(reply: &Value) -> Result<(String, Usage, bool), LlmError> {
    let usage = parse_usage(reply);
    let blocks = reply["content"].as_array().ok_or_else(|| {
        LlmError::UnexpectedReply("no `content` array in the reply".into()).with_usage(usage)
    })?;
    let tool_input = blocks
        .iter()
        .find(|b| b["type"] == "tool_use" && b["name"] == REPLY_TOOL)
        .map(|b| b["input"].to_string());
    let text = tool_input.unwrap_or_else(|| {
        blocks
            .iter()
            .filter(|b| b["type"] == "text")
            .filter_map(|b| b["text"].as_str())
            .collect()
    });
    Ok((text, usage, reply["stop_reason"] == "max_tokens"))
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

/// Whether an error body says the endpoint refuses tools (older or
/// Anthropic-compatible servers): the sign to ask in the prompt instead.
fn rejects_tools(body: &str) -> bool {
    body_names_any(body, &["tool_choice", "tools", "input_schema", "tool_use"])
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
        // A tool's input must be an object; other schemas go in the prompt.
        let object_schema = request
            .schema
            .as_ref()
            .is_some_and(|s| s["type"] == "object");
        let mut mode = match self.negotiation.current() {
            ReplyMode::ToolCall if !object_schema => ReplyMode::Prompt,
            mode => mode,
        };
        loop {
            let body = self.body(messages, request, mode);
            let result = self
                .endpoint
                .post_json("/messages", self.headers.clone(), &body, rejects_tools)
                .await;
            let reply = match result {
                Ok(reply) => reply,
                Err(LlmError::Http { status, body })
                    if mode == ReplyMode::ToolCall && rejects_tools(&body) =>
                {
                    match self.negotiation.step_down(mode) {
                        Some(next) => {
                            mode = next;
                            continue;
                        }
                        None => return Err(LlmError::Http { status, body }),
                    }
                }
                Err(other) => return Err(other),
            };
            let (text, usage, truncated) = parse(&reply)?;
            return Ok(RawReply {
                text: self.endpoint.scrub(&text),
                usage,
                logprobs: None,
                truncated,
            });
        }
    }

    fn reply_mode(&self) -> ReplyMode {
        self.negotiation.current()
    }
}
