//! Building a client from a spec, and the part every backend shares:
//! pricing each call and re-asking until a structured reply parses and
//! validates.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::anthropic::AnthropicWire;
use super::cost::{Price, PriceTable};
use super::http::Endpoint;
use super::openai::OpenAiWire;
use super::retry::RetryPolicy;
use super::schema::{extract_json, validate};
use super::spec::{EndpointSpec, KeySource, Provider};
use super::types::sum_usage;
use super::wire::{ReplyMode, StructuredMode, Wire};
use super::{LlmClient, LlmError, LlmReply, LlmRequest, Message, Usage};

/// Everything a client needs besides its spec. Built by the caller from the
/// config file and environment; tests shrink the timeouts.
#[derive(Debug, Clone)]
pub struct LlmConfig {
    /// Where API keys come from.
    pub keys: KeySource,
    /// Prices for cost accounting.
    pub prices: PriceTable,
    /// Timeouts and transport retries.
    pub retry: RetryPolicy,
    /// Extra attempts after a reply that does not parse or validate.
    pub max_reasks: u32,
    /// Concurrent requests allowed per base URL, across all clients.
    pub concurrency_per_endpoint: usize,
    /// How structured replies are requested.
    pub structured: StructuredMode,
}

impl Default for LlmConfig {
    fn default() -> LlmConfig {
        LlmConfig {
            keys: KeySource::env_then(Default::default()),
            prices: PriceTable::embedded(),
            retry: RetryPolicy::default(),
            max_reasks: 2,
            concurrency_per_endpoint: 8,
            structured: StructuredMode::Auto,
        }
    }
}

impl LlmConfig {
    /// The defaults plus the config file's tables: `keys` (variable name →
    /// key, consulted after the environment) and `prices` (model → price,
    /// replacing or extending `assets/prices.toml`).
    pub fn with_file_tables(
        keys: BTreeMap<String, String>,
        prices: BTreeMap<String, Price>,
    ) -> LlmConfig {
        LlmConfig {
            keys: KeySource::env_then(keys),
            prices: PriceTable::embedded().with_overrides(prices),
            ..LlmConfig::default()
        }
    }
}

/// Builds the client for an endpoint.
pub fn build_client(
    endpoint_spec: &EndpointSpec,
    config: &LlmConfig,
) -> Result<Arc<dyn LlmClient>, LlmError> {
    let key = config.keys.lookup(endpoint_spec.key_var);
    if key.is_none() && endpoint_spec.key_required {
        return Err(LlmError::MissingKey {
            var: endpoint_spec.key_var,
        });
    }
    let endpoint = Endpoint::new(
        &endpoint_spec.base_url,
        key,
        config.retry.clone(),
        config.concurrency_per_endpoint,
    )?;
    Ok(match endpoint_spec.provider {
        Provider::OpenAi => Arc::new(ChatClient::new(
            endpoint_spec,
            config,
            OpenAiWire::new(endpoint, endpoint_spec, config.structured)?,
        )),
        Provider::Anthropic => Arc::new(ChatClient::new(
            endpoint_spec,
            config,
            AnthropicWire::new(endpoint, endpoint_spec, config.structured)?,
        )),
    })
}

/// An [`LlmClient`] over any [`Wire`].
struct ChatClient<W> {
    spec: String,
    model: String,
    prices: PriceTable,
    max_reasks: u32,
    wire: W,
}

impl<W: Wire> ChatClient<W> {
    fn new(spec: &EndpointSpec, config: &LlmConfig, wire: W) -> ChatClient<W> {
        ChatClient {
            spec: spec.spec.clone(),
            model: spec.model.clone(),
            prices: config.prices.clone(),
            max_reasks: config.max_reasks,
            wire,
        }
    }
}

#[async_trait::async_trait]
impl<W: Wire> LlmClient for ChatClient<W> {
    fn spec(&self) -> &str {
        &self.spec
    }

    fn reply_mode(&self) -> Option<ReplyMode> {
        Some(self.wire.reply_mode())
    }

    async fn complete(&self, request: &LlmRequest) -> Result<LlmReply, LlmError> {
        let mut messages = request.messages.clone();
        let mut usage = Usage::default();
        let attempts = 1 + if request.schema.is_some() {
            self.max_reasks
        } else {
            0
        };
        let mut last_problem = String::new();
        for _ in 0..attempts {
            let raw = match self.wire.send(&messages, request).await {
                Ok(raw) => raw,
                Err(error) => {
                    let spent = sum_usage(usage, error.usage());
                    return Err(error.with_usage(self.prices.price_usage(&self.model, spent)));
                }
            };
            usage = sum_usage(usage, raw.usage);
            let priced = self.prices.price_usage(&self.model, usage);
            let Some(schema) = &request.schema else {
                return Ok(LlmReply {
                    text: raw.text,
                    json: None,
                    usage: priced,
                    logprobs: raw.logprobs,
                });
            };
            // A reply stopped by the token limit is judged like any other;
            // when it is unusable, the cut is the reason worth telling.
            let parsed = extract_json(&raw.text)
                .and_then(|v| validate(&v, schema).map(|()| v))
                .map_err(|problem| match (raw.truncated, request.max_tokens) {
                    (false, _) => problem,
                    (true, Some(n)) => format!(
                        "the reply was cut off at the token limit ({n} tokens) before it was complete"
                    ),
                    (true, None) => {
                        "the reply was cut off at the token limit before it was complete".into()
                    }
                });
            match parsed {
                Ok(value) => {
                    return Ok(LlmReply {
                        text: raw.text,
                        json: Some(value),
                        usage: priced,
                        logprobs: raw.logprobs,
                    });
                }
                Err(problem) => {
                    // Each re-ask is the original conversation plus only the
                    // latest bad reply, cut to a bounded echo: a weak model's
                    // 4,000-token babble must not grow every later prompt.
                    messages = request.messages.clone();
                    messages.push(Message::assistant(reask_echo(&raw.text)));
                    let shorter = if raw.truncated {
                        " Keep every string short so the whole answer fits."
                    } else {
                        ""
                    };
                    messages.push(Message::user(format!(
                        "Your previous reply could not be used: {problem}. Answer again with \
                         only a JSON value that satisfies the schema, and nothing else.{shorter}"
                    )));
                    last_problem = problem;
                }
            }
        }
        Err(LlmError::InvalidReply {
            attempts,
            reason: last_problem,
            usage: self.prices.price_usage(&self.model, usage),
        })
    }
}

/// How much of an unusable reply is shown back to the model when re-asking.
const REASK_ECHO_CHARS: usize = 2_000;

/// The start of `text`, at most [`REASK_ECHO_CHARS`] characters, marked
/// when cut.
fn reask_echo(text: &str) -> String {
    match text.char_indices().nth(REASK_ECHO_CHARS) {
        None => text.to_string(),
        Some((end, _)) => format!("{} [... reply cut here ...]", &text[..end]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_tables_add_keys_and_prices_to_the_defaults() {
        let keys = BTreeMap::from([("SAGE_TEST_FILE_ONLY_KEY".to_string(), "k-1".to_string())]);
        let price = Price {
            input: 0.5,
            cached_input: None,
            output: 1.5,
        };
        let prices = BTreeMap::from([("house-model".to_string(), price)]);
        let config = LlmConfig::with_file_tables(keys, prices);
        let key = config.keys.lookup("SAGE_TEST_FILE_ONLY_KEY");
        assert_eq!(key.as_ref().map(|k| k.expose()), Some("k-1"));
        assert_eq!(config.prices.price("house-model"), Some(price));
        assert!(
            config.prices.price("gpt-4o").is_some(),
            "embedded prices kept"
        );
        assert!(!format!("{config:?}").contains("k-1"));
    }
}
