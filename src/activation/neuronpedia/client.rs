//! The HTTP side of the Neuronpedia source: two read-only endpoints, a
//! minimum interval between requests, bounded retries, and an on-disk
//! cache of successful answers.

use std::path::PathBuf;
use std::time::Duration;

use reqwest::{Method, StatusCode, Url};

use super::pacing::{MinInterval, RetryPolicy};
use super::wire::{self, WireActivation, WireFeature};
use crate::activation::SourceError;
use crate::activation::cache::{CacheKey, DiskCache};
use crate::net::read_limited;

/// The public Neuronpedia site.
pub const DEFAULT_URL: &str = "https://www.neuronpedia.org";
/// Environment variable naming another Neuronpedia-compatible server.
pub const URL_ENV: &str = "NEURONPEDIA_URL";
/// Environment variable holding the API key sent as `x-api-key`.
pub const API_KEY_ENV: &str = "NEURONPEDIA_API_KEY";

/// An API key. Its `Debug` output is redacted so it cannot leak through
/// logs or error chains.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wraps a key; an empty or all-blank string is no key.
    pub fn new(key: impl Into<String>) -> Option<ApiKey> {
        let key = key.into().trim().to_string();
        (!key.is_empty()).then_some(ApiKey(key))
    }

    /// Replaces every occurrence of the key in `text` (servers sometimes
    /// echo request headers back in error bodies).
    fn redact(&self, text: &str) -> String {
        text.replace(&self.0, "[redacted]")
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey([redacted])")
    }
}

/// How to reach a Neuronpedia server and how politely.
#[derive(Debug, Clone)]
pub struct NeuronpediaConfig {
    /// Base URL, for example `https://www.neuronpedia.org` or a
    /// self-hosted instance (a path prefix is allowed).
    pub base_url: String,
    /// Sent as `x-api-key` when present.
    pub api_key: Option<ApiKey>,
    /// Minimum time between the starts of two requests.
    pub min_interval: Duration,
    /// Retries on 429, 5xx and connection failures.
    pub retry: RetryPolicy,
    /// Per-request timeout: connecting, waiting and reading the whole body.
    pub timeout: Duration,
    /// Largest answer body read, in bytes; a longer one is an error.
    pub max_body_bytes: usize,
    /// Where successful answers are cached (`None`: no cache).
    pub cache_dir: Option<PathBuf>,
}

impl NeuronpediaConfig {
    /// Settings for `base_url` with the default pacing and no key or cache.
    pub fn new(base_url: impl Into<String>) -> NeuronpediaConfig {
        NeuronpediaConfig {
            base_url: base_url.into(),
            api_key: None,
            min_interval: Duration::from_millis(200),
            retry: RetryPolicy::default(),
            timeout: Duration::from_secs(60),
            max_body_bytes: 64 << 20,
            cache_dir: None,
        }
    }

    /// Settings from the command line and environment: `url` (from
    /// `--neuronpedia-url`) wins over `NEURONPEDIA_URL`, then the public
    /// site; the key comes from `NEURONPEDIA_API_KEY`; answers are cached
    /// under `cache_root/neuronpedia`.
    pub fn from_env(url: Option<String>, cache_root: PathBuf) -> NeuronpediaConfig {
        let base_url = url
            .or_else(|| std::env::var(URL_ENV).ok().filter(|u| !u.trim().is_empty()))
            .unwrap_or_else(|| DEFAULT_URL.to_string());
        let mut config = NeuronpediaConfig::new(base_url);
        config.api_key = std::env::var(API_KEY_ENV).ok().and_then(ApiKey::new);
        config.cache_dir = Some(cache_root.join("neuronpedia"));
        config
    }
}

/// A read-only client for the two Neuronpedia endpoints sage uses.
#[derive(Debug)]
pub struct NeuronpediaClient {
    http: reqwest::Client,
    base: Url,
    config: NeuronpediaConfig,
    cache: Option<DiskCache>,
    limiter: MinInterval,
}

/// One request sage may send. Only these two exist: sage never creates,
/// changes or deletes anything on the server.
enum Endpoint<'a> {
    /// `GET /api/feature/{model}/{source}/{index}`.
    Feature {
        model: &'a str,
        source: &'a str,
        index: u32,
    },
    /// `POST /api/activation/new` for one custom text.
    Activation {
        model: &'a str,
        source: &'a str,
        index: u32,
        text: &'a str,
    },
}

impl NeuronpediaClient {
    /// Builds a client; fails if the base URL is not an http(s) URL.
    pub fn new(config: NeuronpediaConfig) -> Result<NeuronpediaClient, SourceError> {
        let base = Url::parse(config.base_url.trim())
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
            .ok_or_else(|| {
                SourceError::Remote(format!(
                    "`{}` is not a usable Neuronpedia URL; pass an http(s) base URL such as {DEFAULT_URL} with --neuronpedia-url or {URL_ENV}",
                    crate::net::strip_userinfo(&config.base_url)
                ))
            })?;
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .user_agent(concat!("sage/", env!("CARGO_PKG_VERSION")))
            .redirect(crate::net::same_origin_redirects())
            .build()
            .map_err(|e| SourceError::Remote(format!("could not start the HTTP client: {e}")))?;
        Ok(NeuronpediaClient {
            http,
            base,
            cache: config
                .cache_dir
                .as_ref()
                .map(|dir| DiskCache::new(dir.clone(), "json")),
            limiter: MinInterval::new(config.min_interval),
            config,
        })
    }

    /// The feature's dashboard data, or `None` if the server has no such
    /// feature.
    pub async fn feature(
        &self,
        model: &str,
        source: &str,
        index: u32,
    ) -> Result<Option<WireFeature>, SourceError> {
        self.fetch(
            Endpoint::Feature {
                model,
                source,
                index,
            },
            wire::parse_feature,
        )
        .await
    }

    /// The feature's activations on `text`, or `None` if the server has no
    /// such feature.
    pub async fn activation(
        &self,
        model: &str,
        source: &str,
        index: u32,
        text: &str,
    ) -> Result<Option<WireActivation>, SourceError> {
        self.fetch(
            Endpoint::Activation {
                model,
                source,
                index,
                text,
            },
            wire::parse_activation,
        )
        .await
    }

    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    fn request_parts(&self, endpoint: &Endpoint<'_>) -> (Method, Url, Option<String>) {
        match *endpoint {
            Endpoint::Feature {
                model,
                source,
                index,
            } => (
                Method::GET,
                self.url(&["api", "feature", model, source, &index.to_string()]),
                None,
            ),
            Endpoint::Activation {
                model,
                source,
                index,
                text,
            } => {
                let body = serde_json::json!({
                    "feature": {"modelId": model, "source": source, "index": index.to_string()},
                    "customText": text,
                });
                (
                    Method::POST,
                    self.url(&["api", "activation", "new"]),
                    Some(body.to_string()),
                )
            }
        }
    }

    /// Answers from the cache, or sends the request (with pacing and
    /// retries), parses the answer and caches it if it parsed.
    async fn fetch<T>(
        &self,
        endpoint: Endpoint<'_>,
        parse: fn(&[u8]) -> Result<Option<T>, String>,
    ) -> Result<Option<T>, SourceError> {
        let (method, url, body) = self.request_parts(&endpoint);
        let key =
            CacheKey::from_parts([method.as_str(), url.as_str(), body.as_deref().unwrap_or("")]);
        if let Some(cache) = &self.cache
            && let Some(bytes) = cache.get(&key)
            && let Ok(Some(hit)) = parse(&bytes)
        {
            return Ok(Some(hit));
        }
        let bytes = match self.send(&method, &url, body.as_deref()).await? {
            Some(bytes) => bytes,
            None => return Ok(None),
        };
        let parsed = parse(&bytes).map_err(|why| {
            SourceError::Remote(self.redact(&format!(
                "{method} {url} returned a body sage cannot read: {why}; check that --neuronpedia-url points at a Neuronpedia server"
            )))
        })?;
        if parsed.is_some()
            && let Some(cache) = &self.cache
        {
            // A failed cache write costs a refetch later, never an answer now.
            let _ = cache.put(&key, &bytes);
        }
        Ok(parsed)
    }

    /// Sends one request with retries. `Ok(None)` is a 404.
    async fn send(
        &self,
        method: &Method,
        url: &Url,
        body: Option<&str>,
    ) -> Result<Option<Vec<u8>>, SourceError> {
        let policy = &self.config.retry;
        let mut retry = 0;
        loop {
            self.limiter.wait_turn().await;
            let mut request = self.http.request(method.clone(), url.clone());
            if let Some(key) = &self.config.api_key {
                request = request.header("x-api-key", key.0.as_str());
            }
            if let Some(body) = body {
                request = request
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body.to_string());
            }
            let failure = match request.send().await {
                Ok(response) => {
                    let status = response.status();
                    let retry_after = response
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string);
                    let bytes = read_limited(response, self.config.max_body_bytes)
                        .await
                        .map_err(|e| {
                            SourceError::Remote(self.redact(&format!("{method} {url}: {e}")))
                        })?;
                    if status.is_success() {
                        return Ok(Some(bytes.to_vec()));
                    }
                    if status == StatusCode::NOT_FOUND {
                        return Ok(None);
                    }
                    let failure = Failure::Status {
                        status,
                        message: server_message(&bytes),
                        retry_after,
                    };
                    if !failure.is_retryable() {
                        return Err(self.give_up(method, url, &failure, retry + 1));
                    }
                    failure
                }
                Err(e) if e.is_redirect() => {
                    return Err(SourceError::Remote(self.redact(&format!(
                        "{method} {url}: {}",
                        crate::net::error_chain(&e)
                    ))));
                }
                Err(e) => Failure::Transport(e.to_string()),
            };
            if retry >= policy.max_retries {
                return Err(self.give_up(method, url, &failure, retry + 1));
            }
            let retry_after = match &failure {
                Failure::Status { retry_after, .. } => retry_after.as_deref(),
                Failure::Transport(_) => None,
            };
            tokio::time::sleep(policy.delay(retry, retry_after)).await;
            retry += 1;
        }
    }

    fn give_up(&self, method: &Method, url: &Url, failure: &Failure, attempts: u32) -> SourceError {
        let what = match failure {
            Failure::Transport(e) => format!(
                "could not reach the server ({e}); check --neuronpedia-url / {URL_ENV} and your network"
            ),
            Failure::Status {
                status, message, ..
            } => {
                let advice = match *status {
                    StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                        format!("check that {API_KEY_ENV} holds a valid key with access to this model and SAE")
                    }
                    StatusCode::TOO_MANY_REQUESTS => {
                        "the server is rate limiting; wait and retry, or raise the interval between requests".to_string()
                    }
                    s if s.is_server_error() => {
                        "the server failed; retry later or try another --neuronpedia-url".to_string()
                    }
                    _ => "check the model id, SAE id and feature index".to_string(),
                };
                format!("the server answered {status}: {message}; {advice}")
            }
        };
        SourceError::Remote(self.redact(&format!(
            "{method} {url} failed after {attempts} attempt(s): {what}"
        )))
    }

    /// `text` safe to show: the key masked and URL user info removed.
    fn redact(&self, text: &str) -> String {
        let text = crate::net::strip_userinfo(text);
        match &self.config.api_key {
            Some(key) => key.redact(&text),
            None => text,
        }
    }
}

/// Why one attempt failed.
enum Failure {
    Transport(String),
    Status {
        status: StatusCode,
        message: String,
        retry_after: Option<String>,
    },
}

impl Failure {
    fn is_retryable(&self) -> bool {
        match self {
            Failure::Transport(_) => true,
            Failure::Status { status, .. } => {
                *status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error()
            }
        }
    }
}

/// A short human-readable message from an error body: its `error` or
/// `message` field, else the first 200 characters of the text.
fn server_message(body: &[u8]) -> String {
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(body)
        && let Some(message) = wire::error_message(&value)
    {
        return message.to_string();
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        "(empty body)".to_string()
    } else {
        text.chars().take(200).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_key_debug_is_redacted_and_blank_keys_are_none() {
        let key = ApiKey::new("sk-secret-123").unwrap();
        assert_eq!(format!("{key:?}"), "ApiKey([redacted])");
        assert_eq!(key.redact("echo sk-secret-123!"), "echo [redacted]!");
        assert!(ApiKey::new("  ").is_none());
    }

    #[test]
    fn urls_keep_a_base_path_prefix_and_escape_segments() {
        let client = NeuronpediaClient::new(NeuronpediaConfig::new("http://h:1/np/")).unwrap();
        let (method, url, body) = client.request_parts(&Endpoint::Feature {
            model: "gpt2-small",
            source: "8-res/jb",
            index: 7,
        });
        assert_eq!(method, Method::GET);
        assert_eq!(
            url.as_str(),
            "http://h:1/np/api/feature/gpt2-small/8-res%2Fjb/7"
        );
        assert_eq!(body, None);
    }

    #[test]
    fn activation_body_sends_the_index_as_a_string() {
        let client = NeuronpediaClient::new(NeuronpediaConfig::new("http://h:1")).unwrap();
        let (method, url, body) = client.request_parts(&Endpoint::Activation {
            model: "gpt2-small",
            source: "8-res-jb",
            index: 7,
            text: "hi",
        });
        assert_eq!(method, Method::POST);
        assert_eq!(url.as_str(), "http://h:1/api/activation/new");
        let body: serde_json::Value = serde_json::from_str(&body.unwrap()).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"feature":{"modelId":"gpt2-small","source":"8-res-jb","index":"7"},"customText":"hi"})
        );
    }

    #[test]
    fn bad_base_urls_are_rejected_with_advice() {
        let err = NeuronpediaClient::new(NeuronpediaConfig::new("neuronpedia.org")).unwrap_err();
        assert!(err.to_string().contains("--neuronpedia-url"), "{err}");
    }
}
