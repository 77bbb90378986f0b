//! What the fuzz targets under `fuzz/` check, as plain functions: each
//! takes arbitrary bytes and panics only when a property fails. libFuzzer
//! calls them from `fuzz/fuzz_targets/`, and `tests/fuzz_corpus.rs` replays
//! the committed corpus through them, so CI runs the same checks without
//! libFuzzer. The file-format checks live in `sage_tensor::fuzz_checks`
//! and are re-exported here.

use std::time::{Duration, UNIX_EPOCH};

pub use sage_tensor::fuzz_checks::{gguf_header, npy_header, safetensors_header};

use crate::activation::{ExemplarQuery, FeatureExemplars, SourceInfo};
use crate::agent::{Agent, AgentConfig, Context, Event, HypothesisId, ReasonRequest, StopReason};
use crate::llm::{RetryPolicy, extract_json, parse_retry_after, validate};
use crate::reasoner::{llm_schema, parse_llm_reply};
use crate::report::Report;
use crate::session::{parse_log, replay};
use sage_core::usage::MAX_CALL_TOKENS;

/// The session log decoder with the real header and event types: whatever
/// loads is numbered without gaps, replays through the agent, and renders
/// as a report in every format.
pub fn session_log(data: &[u8]) {
    let Ok(loaded) = parse_log::<AgentConfig, Event>(data) else {
        return;
    };
    assert!(loaded.intact_len as usize <= data.len());
    for (i, entry) in loaded.entries.iter().enumerate() {
        assert_eq!(entry.seq, i as u64 + 1);
    }
    let fold = replay(Agent::new(), &loaded.entries, None);
    let report = Report::build(&loaded.header, &fold.state(), fold.applied());
    let _ = report.to_markdown();
    let _ = report.to_html();
    let _ = serde_json::to_string(&report);
}

/// One request of each kind, over an empty context.
fn requests() -> Vec<ReasonRequest> {
    let context = Context {
        feature: 0,
        round: 1,
        max_rounds: 3,
        firing_threshold: 1.0,
        exemplars: FeatureExemplars {
            feature: 0,
            top: Vec::new(),
            quantiles: Vec::new(),
            non_activating: Vec::new(),
            density: None,
            max_activation: 1.0,
        },
        hypotheses: Vec::new(),
        experiments: Vec::new(),
        feedback: Vec::new(),
    };
    let targets = vec![HypothesisId(1)];
    vec![
        ReasonRequest::Hypothesise {
            context: context.clone(),
            count: 3,
        },
        ReasonRequest::Design {
            context: context.clone(),
            targets: targets.clone(),
            per_hypothesis: 2,
        },
        ReasonRequest::Update {
            context: context.clone(),
            targets,
        },
        ReasonRequest::Review {
            context: context.clone(),
            max_tests: 4,
        },
        ReasonRequest::Conclude {
            context,
            stop_reason: StopReason::MaxRounds,
        },
    ]
}

/// An LLM reply: JSON extraction (bounded), schema validation and the
/// reasoner's parse of every step never panic.
pub fn llm_reply(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let Ok(value) = extract_json(&text) else {
        return;
    };
    for request in requests() {
        let _ = validate(&value, &llm_schema(&request));
        let _ = parse_llm_reply(&request, value.clone());
    }
}

/// A reply's `usage` object, as both providers parse it: every count is
/// bounded, so sums of them cannot overflow.
pub fn usage(data: &[u8]) {
    let Ok(reply) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    for usage in [
        crate::llm::openai_usage(&reply),
        crate::llm::anthropic_usage(&reply),
    ] {
        // Anthropic's prompt count adds cache writes to input tokens.
        assert!(usage.prompt_tokens <= 2 * MAX_CALL_TOKENS);
        assert!(usage.cached_tokens <= MAX_CALL_TOKENS);
        assert!(usage.completion_tokens <= MAX_CALL_TOKENS);
        let _ = usage.total_tokens();
    }
}

/// A `Retry-After` value: parsing never panics, and the wait it leads to
/// is capped by the policy.
pub fn retry_after(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let now = UNIX_EPOCH + Duration::from_secs(1_764_000_000);
    let policy = RetryPolicy::default();
    let hint = parse_retry_after(&text, now);
    assert!(policy.delay(1, hint) <= policy.max_retry_after.max(policy.max_delay));
}

/// A Neuronpedia answer, parsed as both endpoints' bodies and turned into
/// sage's records and exemplars.
pub fn neuronpedia(data: &[u8]) {
    let info = SourceInfo {
        model: "m".into(),
        sae: "s".into(),
        hook: "h".into(),
        n_features: 16,
    };
    if let Ok(Some(activation)) = crate::activation::neuronpedia::parse_activation(data) {
        let record = activation.into_record(&info, 1);
        assert_eq!(record.tokens.len(), record.values.len());
    }
    if let Ok(Some(feature)) = crate::activation::neuronpedia::parse_feature(data) {
        let exemplars = feature.into_exemplars(&info, 1, &ExemplarQuery::default());
        assert!(exemplars.top.len() <= ExemplarQuery::default().top_k);
    }
}

/// The config file: loading any text gives a config or an error, and a
/// keymap table it holds is applied or refused without a panic.
pub fn config_toml(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    match toml::from_str::<crate::config::ConfigFile>(&text) {
        Ok(config) => {
            let _ = crate::tui::keymap::Keymap::with_overrides(&config.keymap);
        }
        Err(error) => {
            let _ = crate::config::describe_toml_error(&error, &text);
        }
    }
}

/// One check: arbitrary bytes in, a panic only when a property fails.
pub type Check = fn(&[u8]);

/// Every check by the name of its fuzz target and corpus directory.
pub const CHECKS: [(&str, Check); 9] = [
    ("load_log", session_log),
    ("llm_reply", llm_reply),
    ("usage", usage),
    ("retry_after", retry_after),
    ("neuronpedia", neuronpedia),
    ("gguf_header", gguf_header),
    ("safetensors_header", safetensors_header),
    ("npy_header", npy_header),
    ("config_toml", config_toml),
];
