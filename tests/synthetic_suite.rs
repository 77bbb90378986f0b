//! The heuristic reasoner against synthetic features with known rules.
//!
//! For every built-in synthetic feature the full agent runs to a conclusion
//! (auto gate), its effects executed by a small local harness with the
//! synthetic source and the heuristic reasoner. The concluded rule then
//! predicts firing on text the agent never saw: a separate held-out
//! sentence set (tests/fixtures/synthetic_heldout.txt, written before the
//! learner existed) plus the agent's own held-out exemplars. The suite
//! prints a table and requires F1 >= 0.9 on at least 90% of the features.

use std::collections::VecDeque;

use sage::activation::synthetic::{SyntheticSource, split_texts, tokenize};
use sage::activation::{ActivationRecord, ActivationSource};
use sage::agent::{Agent, AgentConfig, Conclusion, Effect, Event};
use sage::reasoner::Reasoner;
use sage::reasoner::heuristic::{HeuristicReasoner, predict_from_rule};

const HELDOUT: &str = include_str!("fixtures/synthetic_heldout.txt");

/// Runs one feature's session to its conclusion; returns the agent too.
async fn explain(source: &SyntheticSource, feature: u32) -> (Agent, Conclusion) {
    let reasoner = HeuristicReasoner;
    let mut agent = Agent::new();
    let mut now = 1_000;
    let mut queue: VecDeque<Effect> = agent
        .handle(Event::Start {
            feature,
            config: AgentConfig::default(),
            seed: u64::from(feature) + 1,
            at_ms: now,
        })
        .into();
    let mut concluded = None;
    for _ in 0..10_000 {
        let Some(effect) = queue.pop_front() else {
            break;
        };
        now += 10;
        let event = match effect {
            Effect::FetchExemplars { feature, query } => {
                match source.exemplars(feature, &query).await {
                    Ok(exemplars) => Event::ExemplarsArrived {
                        exemplars,
                        at_ms: now,
                    },
                    Err(e) => Event::ExemplarsFailed {
                        error: e.to_string(),
                        at_ms: now,
                    },
                }
            }
            Effect::Reason { request, step } => match reasoner.reason(&step).await {
                Ok((reply, usage)) => Event::ReasonerReplied {
                    request,
                    reply,
                    usage,
                    at_ms: now,
                },
                Err(e) => Event::ReasonerFailed {
                    request,
                    usage: e.usage(),
                    error: e.to_string(),
                    at_ms: now,
                },
            },
            Effect::RunTexts {
                request,
                feature,
                texts,
            } => match source.activations(feature, &texts).await {
                Ok(records) => Event::ActivationsArrived {
                    request,
                    records,
                    at_ms: now,
                },
                Err(e) => Event::ActivationsFailed {
                    request,
                    error: e.to_string(),
                    at_ms: now,
                },
            },
            Effect::AwaitApproval { target } => panic!("auto gate waited for {target:?}"),
            Effect::Concluded { conclusion } => {
                concluded = Some(conclusion);
                continue;
            }
        };
        queue.extend(agent.handle(event));
    }
    let conclusion = concluded.unwrap_or_else(|| panic!("feature {feature} never concluded"));
    (agent, conclusion)
}

/// Token counts for F1.
#[derive(Default, Clone, Copy)]
struct Tally {
    hits: usize,
    predicted: usize,
    observed: usize,
}

impl Tally {
    fn add(&mut self, rule: &serde_json::Value, record: &ActivationRecord, threshold: f32) {
        let predicted = predict_from_rule(rule, &record.tokens)
            .unwrap_or_else(|e| panic!("unreadable rule: {e}"));
        for (p, v) in predicted.iter().zip(&record.values) {
            let (p, o) = (*p > 0.0, *v > 0.0 && *v >= threshold);
            self.hits += usize::from(p && o);
            self.predicted += usize::from(p);
            self.observed += usize::from(o);
        }
    }

    fn merged(self, other: Tally) -> Tally {
        Tally {
            hits: self.hits + other.hits,
            predicted: self.predicted + other.predicted,
            observed: self.observed + other.observed,
        }
    }

    fn f1(self) -> f32 {
        if self.predicted + self.observed == 0 {
            return 1.0;
        }
        2.0 * self.hits as f32 / (self.predicted + self.observed) as f32
    }
}

#[tokio::test(flavor = "current_thread")]
async fn heuristic_explanations_predict_held_out_firing() {
    let source = SyntheticSource::new();
    let heldout = split_texts(HELDOUT);
    assert!(
        heldout.len() >= 60,
        "held-out set too small: {}",
        heldout.len()
    );
    let fraction = AgentConfig::default().firing_fraction;

    let mut rows = Vec::new();
    for (id, feature) in source.features().iter().enumerate() {
        let id = id as u32;
        let (agent, conclusion) = explain(&source, id).await;
        let rule = conclusion
            .rule
            .clone()
            .unwrap_or_else(|| panic!("{}: conclusion has no rule", feature.name));
        let max = agent.state().feature_max;
        let threshold = fraction * max;

        let mut sentences = Tally::default();
        for record in source
            .activations(id, &heldout)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
        {
            sentences.add(&rule, &record, threshold);
        }
        let mut exemplars = Tally::default();
        let held = agent
            .state()
            .holdout
            .as_ref()
            .map(|h| h.examples.clone())
            .unwrap_or_default();
        for e in &held {
            exemplars.add(&rule, &e.record, threshold);
        }
        let total = sentences.merged(exemplars);
        rows.push((
            feature.name,
            feature.truth,
            conclusion.label.clone(),
            sentences.f1(),
            held.len(),
            exemplars.f1(),
            total.f1(),
            agent.state().experiments.len(),
        ));
    }

    println!(
        "\n{:<17} {:<58} {:<46} {:>6} {:>8} {:>6} {:>5}",
        "feature", "true rule", "label", "F1 sen", "F1 ex(n)", "F1", "exps"
    );
    for (name, truth, label, f_sen, n_ex, f_ex, f1, exps) in &rows {
        println!(
            "{name:<17} {truth:<58} {label:<46} {f_sen:>6.3} {:>8} {f1:>6.3} {exps:>5}",
            format!("{f_ex:.2}({n_ex})")
        );
    }
    let good = rows.iter().filter(|r| r.6 >= 0.9).count();
    println!("F1 >= 0.9 on {good} of {} features", rows.len());
    assert!(rows.len() >= 20);
    assert!(
        good * 10 >= rows.len() * 9,
        "only {good} of {} features reach held-out F1 0.9",
        rows.len()
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_session_is_deterministic_and_runs_real_experiments() {
    let source = SyntheticSource::new();
    let (a, first) = explain(&source, 11).await;
    let (b, second) = explain(&source, 11).await;
    assert_eq!(first, second);
    assert_eq!(a.state(), b.state());
    let experiments = &a.state().experiments;
    assert!(
        experiments.len() >= 6,
        "only {} experiments",
        experiments.len()
    );
    assert!(experiments.iter().all(|e| e.score.is_some()));
    // The dollar-amount feature must end on a rule that needs the "$".
    let rule = first.rule.unwrap_or_default();
    let fires = |text: &str| {
        predict_from_rule(&rule, &tokenize(text))
            .unwrap_or_default()
            .iter()
            .any(|v| *v > 0.0)
    };
    assert!(fires("It cost $31 in the end."), "{}", first.label);
    assert!(!fires("It cost 31 coins in the end."), "{}", first.label);
}
