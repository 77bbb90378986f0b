//! OpenAI-compatible chat completions (OpenAI, vLLM, SGLang, Ollama,
//! llama.cpp and llama-cpp-python servers): structured replies negotiated
//! per endpoint (`json_schema`, then `json_object` with the schema, then the
//! schema in the prompt), token log-probabilities, cached-token usage.
//! Messages keep their order (system first), so a stable system prefix is
//! what OpenAI's automatic prompt caching reuses.

use reqwest::header::{AUTHORIZATION, HeaderMap};
use serde_json::{Value, json};

use super::http::{Endpoint, secret_header};
use super::schema::{is_strict_compatible, without_patterns};
use super::spec::{EndpointSpec, OPENAI_DEFAULT_BASE_URL};
use super::wire::{
    Negotiation, RawReply, ReplyMode, StructuredMode, Wire, body_names_any, schema_instructions,
    system_text,
};
use super::{LlmError, LlmRequest, Message, Role, TokenLogprob, Usage};
use sage_core::usage::bounded_count;

/// The chat-completions wire protocol.
pub(crate) struct OpenAiWire {
    endpoint: Endpoint,
    model: String,
    headers: HeaderMap,
    /// Which reply mode structured requests use, shared per endpoint.
    negotiation: Negotiation,
    /// OpenAI's own API wants `max_completion_tokens`; other servers know `max_tokens`.
    hosted_openai: bool,
}

impl OpenAiWire {
    pub(crate) fn new(
        endpoint: Endpoint,
        spec: &EndpointSpec,
        mode: StructuredMode,
    ) -> Result<OpenAiWire, LlmError> {
        let mut headers = HeaderMap::new();
        if let Some(key) = endpoint.key() {
            let value = secret_header(&format!("Bearer {}", key.expose()), spec.key_var)?;
            headers.insert(AUTHORIZATION, value);
        }
        Ok(OpenAiWire {
            endpoint,
            model: spec.model.clone(),
            headers,
            negotiation: Negotiation::shared(
                format!("openai {} {} {mode:?}", spec.base_url, spec.model),
                match mode {
                    StructuredMode::Auto => &[
                        ReplyMode::JsonSchema,
                        ReplyMode::JsonObject,
                        ReplyMode::Prompt,
                    ],
                    StructuredMode::Native => &[ReplyMode::JsonSchema],
                    StructuredMode::Instructions => &[ReplyMode::Prompt],
                },
            ),
            hosted_openai: spec.base_url == OPENAI_DEFAULT_BASE_URL,
        })
    }

    /// The request body, with the schema (if any) asked for in `mode`.
    fn body(&self, messages: &[Message], request: &LlmRequest, mode: ReplyMode) -> Value {
        let instructions = match (&request.schema, mode) {
            (Some(_), ReplyMode::JsonSchema) | (None, _) => None,
            (Some(schema), _) => Some(schema_instructions(schema)),
        };
        let mut wire_messages: Vec<Value> = system_text(messages, instructions)
            .map(|text| json!({"role": "system", "content": text}))
            .into_iter()
            .collect();
        wire_messages.extend(
            messages
                .iter()
                .filter(|m| m.role != Role::System)
                .map(|m| json!({"role": m.role, "content": m.content})),
        );
        let mut body = json!({"model": self.model, "messages": wire_messages});
        if let Some(max) = request.max_tokens {
            let field = if self.hosted_openai {
                "max_completion_tokens"
            } else {
                "max_tokens"
            };
            body[field] = json!(max);
        }
        if let Some(t) = request.temperature {
            body["temperature"] = json!(t);
        }
        if let Some(n) = request.top_logprobs {
            body["logprobs"] = json!(true);
            body["top_logprobs"] = json!(n);
        }
        match (&request.schema, mode) {
            (Some(schema), ReplyMode::JsonSchema) => {
                body["response_format"] = json!({
                    "type": "json_schema",
                    "json_schema": {
                        "name": "reply",
                        "schema": schema,
                        "strict": is_strict_compatible(schema),
                    }
                });
            }
            (Some(schema), ReplyMode::JsonObject) => {
                body["response_format"] =
                    json!({"type": "json_object", "schema": without_patterns(schema)});
            }
            _ => {}
        }
        body
    }

    /// Reads a 200 reply. A reply that bills tokens but lacks what was asked
    /// for is an error that still carries those tokens.
    fn parse(&self, reply: &Value, request: &LlmRequest) -> Result<RawReply, LlmError> {
        let usage = parse_usage(reply);
        self.parse_content(reply, request, usage)
            .map_err(|error| error.with_usage(usage))
    }

    fn parse_content(
        &self,
        reply: &Value,
        request: &LlmRequest,
        usage: Usage,
    ) -> Result<RawReply, LlmError> {
        let choice = reply
            .pointer("/choices/0")
            .ok_or_else(|| LlmError::UnexpectedReply("no `choices[0]` in the reply".into()))?;
        let message = &choice["message"];
        let text = message["content"]
            .as_str()
            .or_else(|| message["refusal"].as_str())
            .ok_or_else(|| {
                LlmError::UnexpectedReply("`choices[0].message` has no text content".into())
            })?;
        let logprobs = match request.top_logprobs {
            None => None,
            Some(_) => Some(
                parse_logprobs(&choice["logprobs"]["content"]).ok_or_else(|| {
                    LlmError::LogprobsUnsupported(format!(
                        "{} answered without `logprobs.content`",
                        self.model
                    ))
                })?,
            ),
        };
        Ok(RawReply {
            text: self.endpoint.scrub(text),
            usage,
            logprobs,
            truncated: choice["finish_reason"] == "length",
        })
    }
}

/// The token counts of a chat-completions reply (zero where absent).
pub(crate) fn parse_usage(reply: &Value) -> Usage {
    let count =
        |path: &str| bounded_count(reply.pointer(path).and_then(Value::as_u64).unwrap_or(0));
    let cached = count("/usage/prompt_tokens_details/cached_tokens");
    Usage {
        prompt_tokens: count("/usage/prompt_tokens").saturating_sub(cached),
        cached_tokens: cached,
        completion_tokens: count("/usage/completion_tokens"),
        cost_usd: None,
    }
}

fn parse_logprobs(content: &Value) -> Option<Vec<TokenLogprob>> {
    let pair = |v: &Value| Some((v["token"].as_str()?.to_string(), v["logprob"].as_f64()?));
    content
        .as_array()?
        .iter()
        .map(|entry| {
            let (token, logprob) = pair(entry)?;
            let top = entry["top_logprobs"]
                .as_array()
                .map(|alts| alts.iter().filter_map(pair).collect())
                .unwrap_or_default();
            Some(TokenLogprob {
                token,
                logprob,
                top,
            })
        })
        .collect()
}

/// Whether an error body (any 4xx or 5xx) says the server refuses the
/// `response_format` sage sent or the type named in it.
fn rejects_response_format(body: &str) -> bool {
    body_names_any(body, &["response_format", "json_schema", "json_object"])
}

#[async_trait::async_trait]
impl Wire for OpenAiWire {
    async fn send(&self, messages: &[Message], request: &LlmRequest) -> Result<RawReply, LlmError> {
        let mut mode = self.negotiation.current();
        loop {
            let body = self.body(messages, request, mode);
            let result = self
                .endpoint
                .post_json(
                    "/chat/completions",
                    self.headers.clone(),
                    &body,
                    rejects_response_format,
                )
                .await;
            match result {
                Ok(reply) => return self.parse(&reply, request),
                Err(LlmError::Http { body, status })
                    if request.schema.is_some()
                        && mode != ReplyMode::Prompt
                        && rejects_response_format(&body) =>
                {
                    match self.negotiation.step_down(mode) {
                        Some(next) => mode = next,
                        None => return Err(LlmError::Http { status, body }),
                    }
                }
                Err(LlmError::Http { body, .. })
                    if request.top_logprobs.is_some()
                        && body.to_ascii_lowercase().contains("logprobs") =>
                {
                    return Err(LlmError::LogprobsUnsupported(body));
                }
                Err(other) => return Err(other),
            }
        }
    }

    fn reply_mode(&self) -> ReplyMode {
        self.negotiation.current()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logprobs_parse_with_alternatives() {
        let content = json!([
            {"token": "7", "logprob": -0.1, "top_logprobs": [{"token": "7", "logprob": -0.1}, {"token": "8", "logprob": -2.5}]},
            {"token": ".", "logprob": -0.01}
        ]);
        let parsed = parse_logprobs(&content).expect("well-formed");
        assert_eq!(parsed.len(), 2);
        assert_eq!(
            parsed[0].top,
            vec![("7".to_string(), -0.1), ("8".to_string(), -2.5)]
        );
        assert!(parsed[1].top.is_empty());
        assert!(parse_logprobs(&Value::Null).is_none());
        assert!(parse_logprobs(&json!([{"token": "x"}])).is_none());
    }

    #[test]
    fn recognises_servers_that_lack_response_format() {
        assert!(rejects_response_format(
            "{\"error\": \"Unrecognized request argument: response_format\"}"
        ));
        assert!(rejects_response_format("json_schema is not supported"));
        assert!(!rejects_response_format("model not found"));
    }
}
