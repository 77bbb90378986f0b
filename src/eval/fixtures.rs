//! Small records and exemplars, and synthetic sessions' inputs, for the
//! evaluation unit tests.

use super::explanation::Explanation;
use super::feature::{Candidate, FeatureInput};
use super::judge::Spend;
use crate::activation::synthetic::{FEATURES, SyntheticSource};
use crate::activation::{ActivationRecord, Exemplar, SourceInfo};
use crate::agent::{Agent, AgentConfig, Event};
use crate::reasoner::heuristic::{Rule, TokenTest};

/// A record over `tokens` with `values`.
pub fn record(tokens: &[&str], values: &[f32]) -> ActivationRecord {
    let info = SourceInfo {
        model: "m".into(),
        sae: "s".into(),
        hook: "h".into(),
        n_features: 1,
    };
    ActivationRecord::new(
        &info,
        0,
        tokens.iter().map(|t| t.to_string()).collect(),
        vec![0; tokens.len()],
        values.to_vec(),
    )
}

/// An exemplar over `tokens` with `values`.
pub fn exemplar(tokens: &[&str], values: &[f32]) -> Exemplar {
    Exemplar {
        record: record(tokens, values),
        origin: None,
        offset: None,
    }
}

/// The input a session of `name` would give: the agent's own split.
pub fn input(source: &SyntheticSource, name: &str, candidates: Vec<Candidate>) -> FeatureInput {
    let feature = FEATURES.iter().position(|f| f.name == name).unwrap() as u32;
    let mut agent = Agent::new();
    let config = AgentConfig::default();
    let _ = agent.handle(Event::Start {
        feature,
        config: config.clone(),
        seed: 11,
        at_ms: 0,
    });
    let exemplars = source
        .feature_exemplars(feature, &config.exemplars)
        .unwrap();
    let _ = agent.handle(Event::ExemplarsArrived {
        exemplars,
        at_ms: 1,
    });
    let state = agent.state();
    FeatureInput {
        feature,
        session_id: None,
        visible: state.exemplars.clone().unwrap(),
        holdout: state.holdout.clone().unwrap(),
        feature_max: state.feature_max,
        candidates,
        control: Some(explained(Rule::on(TokenTest::one_of([
            "red", "blue", "green",
        ])))),
    }
}

/// An explanation carrying `rule`, worded by the rule.
pub fn explained(rule: Rule) -> Explanation {
    Explanation {
        label: rule.label(),
        description: rule.describe(),
        rule: Some(rule.to_json()),
    }
}

/// A candidate that explained at no cost.
pub fn candidate(name: &str, explanation: Explanation) -> Candidate {
    Candidate {
        explainer: name.to_string(),
        explanation: Ok(explanation),
        spend: Spend::default(),
    }
}

/// Runs a future to completion on a fresh current-thread runtime.
pub fn run<T>(fut: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(fut)
}
