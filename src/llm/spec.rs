//! Spec strings (`openai:MODEL`, `anthropic:MODEL`, `http://HOST:PORT/v1#MODEL`,
//! `heuristic`) and where their API keys come from.

use std::collections::BTreeMap;
use std::fmt;

use super::LlmError;

/// Base URL of OpenAI's hosted API, used by `openai:MODEL` unless overridden.
pub const OPENAI_DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";
/// Base URL of Anthropic's hosted API, used by `anthropic:MODEL` unless overridden.
pub const ANTHROPIC_DEFAULT_BASE_URL: &str = "https://api.anthropic.com/v1";
/// Key variable for `openai:MODEL`.
pub const OPENAI_KEY_VAR: &str = "OPENAI_API_KEY";
/// Key variable for `anthropic:MODEL`.
pub const ANTHROPIC_KEY_VAR: &str = "ANTHROPIC_API_KEY";
/// Optional key variable for explicit `http(s)://…#MODEL` endpoints. The
/// OpenAI key is deliberately never sent to an arbitrary URL.
pub const URL_ENDPOINT_KEY_VAR: &str = "SAGE_LLM_API_KEY";

const ACCEPTED_FORMS: &str = "accepted forms: `openai:MODEL`, `anthropic:MODEL`, \
     `http://HOST:PORT/v1#MODEL` (or https), `heuristic`";

/// Which wire protocol an endpoint speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    /// OpenAI-compatible chat completions (OpenAI, vLLM, SGLang, Ollama, llama.cpp).
    OpenAi,
    /// Anthropic's messages API.
    Anthropic,
}

/// Where a language model lives and which key (if any) it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointSpec {
    /// The spec string as written by the user (holds no key).
    pub spec: String,
    /// Wire protocol.
    pub provider: Provider,
    /// Base URL without a trailing slash, e.g. `https://api.openai.com/v1`.
    pub base_url: String,
    /// Model name sent to the server.
    pub model: String,
    /// The key variable to look up.
    pub key_var: &'static str,
    /// Whether a missing key is an error (hosted APIs) or fine (local servers).
    pub key_required: bool,
}

/// Base URL overrides that `openai:` and `anthropic:` specs resolve against;
/// [`BaseUrls::from_env`] reads `OPENAI_BASE_URL` and `ANTHROPIC_BASE_URL`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BaseUrls {
    /// Replaces [`OPENAI_DEFAULT_BASE_URL`].
    pub openai: Option<String>,
    /// Replaces [`ANTHROPIC_DEFAULT_BASE_URL`].
    pub anthropic: Option<String>,
}

impl BaseUrls {
    /// Reads the overrides from the environment.
    pub fn from_env() -> BaseUrls {
        let read = |var| std::env::var(var).ok().filter(|v| !v.trim().is_empty());
        BaseUrls {
            openai: read("OPENAI_BASE_URL"),
            anthropic: read("ANTHROPIC_BASE_URL"),
        }
    }
}

impl EndpointSpec {
    /// Parses an endpoint spec string; `base_urls` supplies the `openai:` /
    /// `anthropic:` endpoints. `heuristic` names no endpoint (it is a
    /// reasoner, see `crate::reasoner::ReasonerSpec`) and is an error here.
    pub fn parse(spec: &str, base_urls: &BaseUrls) -> Result<EndpointSpec, LlmError> {
        let trimmed = spec.trim();
        let invalid = |what: &str| LlmError::InvalidSpec {
            spec: spec.to_string(),
            reason: format!("{what}; {ACCEPTED_FORMS}"),
        };
        if trimmed == "heuristic" {
            return Err(LlmError::InvalidSpec {
                spec: spec.to_string(),
                reason: "the heuristic reasoner runs inside the agent, not through an LLM \
                         client; pick an `openai:`, `anthropic:` or URL spec"
                    .into(),
            });
        }
        let endpoint = if let Some(model) = trimmed.strip_prefix("openai:") {
            let base_url = base_urls
                .openai
                .as_deref()
                .unwrap_or(OPENAI_DEFAULT_BASE_URL);
            EndpointSpec {
                provider: Provider::OpenAi,
                key_var: OPENAI_KEY_VAR,
                key_required: !is_local_url(base_url),
                base_url: normalise_base_url(base_url),
                model: model.to_string(),
                spec: trimmed.to_string(),
            }
        } else if let Some(model) = trimmed.strip_prefix("anthropic:") {
            let base_url = base_urls
                .anthropic
                .as_deref()
                .unwrap_or(ANTHROPIC_DEFAULT_BASE_URL);
            EndpointSpec {
                provider: Provider::Anthropic,
                key_var: ANTHROPIC_KEY_VAR,
                key_required: !is_local_url(base_url),
                base_url: normalise_base_url(base_url),
                model: model.to_string(),
                spec: trimmed.to_string(),
            }
        } else if trimmed.starts_with("http://") || trimmed.starts_with("https://") {
            let (url, model) = trimmed
                .split_once('#')
                .ok_or_else(|| invalid("a URL spec needs `#MODEL` after the base URL"))?;
            let host = url.split_once("://").map(|(_, rest)| rest).unwrap_or("");
            if host.is_empty() || host.starts_with('/') {
                return Err(invalid("the URL has no host"));
            }
            EndpointSpec {
                provider: Provider::OpenAi,
                key_var: URL_ENDPOINT_KEY_VAR,
                key_required: false,
                base_url: normalise_base_url(url),
                model: model.to_string(),
                spec: trimmed.to_string(),
            }
        } else {
            return Err(invalid("unknown form"));
        };
        if endpoint.model.trim().is_empty() {
            return Err(invalid("the model name is empty"));
        }
        Ok(endpoint)
    }
}

impl EndpointSpec {
    /// Whether the server runs on this machine (localhost, 127.x, ::1):
    /// often a CPU server that answers only once the whole reply exists.
    pub fn is_local(&self) -> bool {
        is_local_url(&self.base_url)
    }
}

fn normalise_base_url(url: &str) -> String {
    url.trim().trim_end_matches('/').to_string()
}

/// True when the URL points at this machine, where servers rarely want a key.
fn is_local_url(url: &str) -> bool {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let authority = rest.split('/').next().unwrap_or("");
    let host = if let Some(bracketed) = authority.strip_prefix('[') {
        bracketed.split(']').next().unwrap_or("")
    } else {
        authority.split(':').next().unwrap_or("")
    };
    host == "localhost" || host == "::1" || host.starts_with("127.") || host == "0.0.0.0"
}

/// An API key. Its `Debug` never shows the value; read it with [`ApiKey::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wraps a key value.
    pub fn new(value: impl Into<String>) -> ApiKey {
        ApiKey(value.into())
    }

    /// The secret itself, for the request header only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Replaces every occurrence of the key in `text` so it can be shown.
    pub fn scrub(&self, text: &str) -> String {
        if self.0.is_empty() {
            text.to_string()
        } else {
            text.replace(&self.0, "[redacted]")
        }
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey([redacted])")
    }
}

/// Where keys are looked up: the environment first (unless disabled, as in
/// tests), then the config file's `[keys]` table passed in by the caller.
#[derive(Clone, Default)]
pub struct KeySource {
    use_env: bool,
    table: BTreeMap<String, String>,
}

impl KeySource {
    /// Environment first, then `table` (variable name → key).
    pub fn env_then(table: BTreeMap<String, String>) -> KeySource {
        KeySource {
            use_env: true,
            table,
        }
    }

    /// Only `table`; the environment is ignored (tests, sandboxes).
    pub fn table_only(table: BTreeMap<String, String>) -> KeySource {
        KeySource {
            use_env: false,
            table,
        }
    }

    /// The key stored under `var`, if any non-empty one is set.
    pub fn lookup(&self, var: &str) -> Option<ApiKey> {
        let from_env = if self.use_env {
            std::env::var(var).ok()
        } else {
            None
        };
        from_env
            .or_else(|| self.table.get(var).cloned())
            .filter(|k| !k.trim().is_empty())
            .map(|k| ApiKey::new(k.trim()))
    }
}

impl fmt::Debug for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeySource")
            .field("use_env", &self.use_env)
            .field("table_vars", &self.table.keys().collect::<Vec<_>>())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(spec: &str, urls: &BaseUrls) -> EndpointSpec {
        match EndpointSpec::parse(spec, urls) {
            Ok(e) => e,
            other => panic!("{spec} parsed to {other:?}"),
        }
    }

    #[test]
    fn openai_spec_uses_default_or_overridden_base_url() {
        let e = endpoint("openai:gpt-4o-mini", &BaseUrls::default());
        assert_eq!(e.base_url, "https://api.openai.com/v1");
        assert_eq!(e.model, "gpt-4o-mini");
        assert!(e.key_required);
        let urls = BaseUrls {
            openai: Some("http://127.0.0.1:8000/v1/".into()),
            anthropic: None,
        };
        let e = endpoint("openai:qwen", &urls);
        assert_eq!(e.base_url, "http://127.0.0.1:8000/v1");
        assert!(!e.key_required, "local servers need no key");
    }

    #[test]
    fn anthropic_and_url_specs_parse() {
        let e = endpoint("anthropic:claude-haiku-4-5", &BaseUrls::default());
        assert_eq!(e.provider, Provider::Anthropic);
        assert_eq!(e.base_url, "https://api.anthropic.com/v1");
        assert_eq!(e.key_var, "ANTHROPIC_API_KEY");
        let e = endpoint(
            "http://localhost:11434/v1#llama3.2:3b",
            &BaseUrls::default(),
        );
        assert_eq!(e.provider, Provider::OpenAi);
        assert_eq!(e.base_url, "http://localhost:11434/v1");
        assert_eq!(e.model, "llama3.2:3b");
        assert_eq!(e.key_var, URL_ENDPOINT_KEY_VAR);
        assert!(!e.key_required);
    }

    #[test]
    fn bad_specs_list_the_accepted_forms() {
        for bad in ["gpt-4o", "openai:", "http://host:1/v1", "https://#m", ""] {
            let err = EndpointSpec::parse(bad, &BaseUrls::default()).unwrap_err();
            let text = err.to_string();
            assert!(matches!(err, LlmError::InvalidSpec { .. }), "{bad}");
            assert!(
                text.contains("openai:MODEL") && text.contains("heuristic"),
                "{text}"
            );
        }
    }

    #[test]
    fn local_urls_are_recognised() {
        assert!(is_local_url("http://127.0.0.1:8080/v1"));
        assert!(is_local_url("http://[::1]:8080/v1"));
        assert!(is_local_url("http://localhost/v1"));
        assert!(!is_local_url("https://api.openai.com/v1"));
        assert!(!is_local_url("http://localhost.evil.com/v1"));
    }

    #[test]
    fn keys_come_from_the_table_and_never_show_in_debug() {
        let table = BTreeMap::from([("OPENAI_API_KEY".to_string(), "sk-secret-123".to_string())]);
        let keys = KeySource::table_only(table);
        let key = keys.lookup("OPENAI_API_KEY").expect("key in table");
        assert_eq!(key.expose(), "sk-secret-123");
        assert!(keys.lookup("ANTHROPIC_API_KEY").is_none());
        assert!(!format!("{key:?} {keys:?}").contains("sk-secret-123"));
        assert_eq!(key.scrub("echo sk-secret-123!"), "echo [redacted]!");
    }
}
