//! Recording an evaluation in the session it scored: an additive
//! `Evaluated` event appended to the session's log, so `sage replay` and
//! the TUI show the scores beside the conclusion.

use crate::agent::{EvalMetric, EvalScore, Evaluation, Event};
use crate::session::{Durability, SessionStore, StoreError};

use super::feature::FeatureEvaluation;
use super::report::CONTROL;
use super::stats::Interval;

/// The scores of one feature as the session records them: each
/// explainer's two metrics and the control floor.
pub fn evaluation_of(feature: &FeatureEvaluation, judge: &str) -> Evaluation {
    let score = |explainer: &str, metric, interval: Option<Interval>| EvalScore {
        explainer: explainer.to_string(),
        metric,
        value: interval.map(|i| i.estimate),
        low: interval.map(|i| i.low),
        high: interval.map(|i| i.high),
    };
    let mut scores = Vec::new();
    for s in &feature.scored {
        scores.push(score(
            &s.explainer,
            EvalMetric::Generative,
            s.generative.as_ref().map(|g| g.score),
        ));
        scores.push(score(
            &s.explainer,
            EvalMetric::Predictive,
            s.predictive.as_ref().and_then(|p| p.pearson),
        ));
    }
    if let Some(control) = &feature.control {
        let name = CONTROL.split(' ').next().unwrap_or(CONTROL);
        scores.push(score(name, EvalMetric::Generative, Some(control.score)));
    }
    Evaluation {
        judge: judge.to_string(),
        seed: feature.options.seed,
        scores,
    }
}

/// Appends `evaluation` to session `id`'s log as an `Evaluated` event.
pub fn append_to_session(
    store: &SessionStore,
    id: &str,
    evaluation: Evaluation,
    at_ms: u64,
) -> Result<u64, StoreError> {
    let (_, mut writer) = store.reopen(id, Durability::EveryEvent)?;
    let seq = writer.append(at_ms, &Event::Evaluated { evaluation, at_ms })?;
    writer.close()?;
    Ok(seq)
}
