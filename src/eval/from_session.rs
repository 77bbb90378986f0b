//! Reading what evaluation needs from a finished session: the explanation
//! it concluded with, what it cost, the exemplars the explainer saw and the
//! held-out split stored with it.

use crate::agent::{Agent, AgentState};
use crate::session::{SessionStore, StoreError, replay};

use super::explanation::Explanation;
use super::feature::{Candidate, FeatureInput};
use super::judge::Spend;
use super::report::SAGE;

/// Why a session cannot be evaluated.
#[derive(Debug, thiserror::Error)]
pub enum SessionInputError {
    /// The log could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The session never received exemplars, so it has no held-out split.
    #[error(
        "session {0} has no exemplars or held-out split (it stopped before observing); explain the feature again"
    )]
    NoHoldout(String),
}

/// The state a session's log folds to.
pub fn load_state(store: &SessionStore, id: &str) -> Result<AgentState, SessionInputError> {
    let log = store.load(id)?;
    Ok(replay(Agent::new(), &log.entries, None).state())
}

/// SAGE's candidate: the session's conclusion and its reasoner's spend.
pub fn sage_candidate(state: &AgentState) -> Candidate {
    Candidate {
        explainer: SAGE.to_string(),
        explanation: state
            .conclusion
            .as_ref()
            .map(Explanation::from_conclusion)
            .ok_or_else(|| "the session has no conclusion".to_string()),
        spend: Spend {
            calls: state.reasoner_calls,
            failed: state.reasoner_failures,
            tokens: state.total_tokens(),
            cost_usd: state.usage.cost_usd,
        },
    }
}

/// The evaluation input of a session, with the candidates to score.
pub fn feature_input(
    id: &str,
    state: &AgentState,
    candidates: Vec<Candidate>,
    control: Option<Explanation>,
) -> Result<FeatureInput, SessionInputError> {
    let (Some(visible), Some(holdout)) = (&state.exemplars, &state.holdout) else {
        return Err(SessionInputError::NoHoldout(id.to_string()));
    };
    Ok(FeatureInput {
        feature: state.feature,
        session_id: Some(id.to_string()),
        visible: visible.clone(),
        holdout: holdout.clone(),
        feature_max: state.feature_max,
        candidates,
        control,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activation::synthetic::SyntheticSource;
    use crate::agent::{
        AgentConfig, Effect, EvalMetric, EvalScore, Evaluation, Event, ReasonerReply,
    };
    use crate::reasoner::heuristic::HeuristicReasoner;

    /// Whether folding `event` after the conclusion leaves the session's
    /// conclusion and everything else but the evaluations as they were.
    fn only_evaluations_change(before: &AgentState, after: &AgentState) -> bool {
        let mut stripped = after.clone();
        stripped.evaluations = before.evaluations.clone();
        stripped.log.truncate(before.log.len());
        stripped.now_ms = before.now_ms;
        &stripped == before
    }

    /// Drives a heuristic session on the synthetic source to its conclusion.
    fn concluded(feature: u32) -> Agent {
        let source = SyntheticSource::new();
        let mut agent = Agent::new();
        let mut queue = agent.handle(Event::Start {
            feature,
            config: AgentConfig::default(),
            seed: 3,
            at_ms: 0,
        });
        let mut t = 0;
        while let Some(effect) = queue.pop() {
            t += 1;
            let event = match effect {
                Effect::FetchExemplars { query, .. } => Event::ExemplarsArrived {
                    exemplars: source.feature_exemplars(feature, &query).unwrap(),
                    at_ms: t,
                },
                Effect::Reason { request, step } => Event::ReasonerReplied {
                    request,
                    reply: HeuristicReasoner
                        .reply(&step)
                        .unwrap_or(ReasonerReply::HypothesisDrafts(Vec::new())),
                    usage: Default::default(),
                    at_ms: t,
                },
                Effect::RunTexts { request, texts, .. } => Event::ActivationsArrived {
                    request,
                    records: source.records(feature, &texts).unwrap(),
                    at_ms: t,
                },
                Effect::AwaitApproval { .. } | Effect::Concluded { .. } => continue,
            };
            queue.extend(agent.handle(event));
        }
        agent
    }

    #[test]
    fn an_evaluated_event_after_the_conclusion_only_records_the_scores() {
        let mut agent = concluded(0);
        let before = agent.state().clone();
        assert!(before.conclusion.is_some());
        let candidate = sage_candidate(&before);
        assert!(candidate.explanation.as_ref().unwrap().rule.is_some());
        let evaluation = Evaluation {
            judge: "heuristic rule (offline)".into(),
            seed: 0,
            scores: vec![EvalScore {
                explainer: "sage".into(),
                metric: EvalMetric::Predictive,
                value: Some(0.9),
                low: Some(0.8),
                high: Some(0.95),
            }],
        };
        let effects = agent.handle(Event::Evaluated {
            evaluation: evaluation.clone(),
            at_ms: 10_000,
        });
        assert!(effects.is_empty(), "{effects:?}");
        let after = agent.state();
        assert_eq!(after.evaluations, [evaluation]);
        assert!(only_evaluations_change(&before, after));
        assert!(after.log.last().unwrap().text.contains("sage pred 0.90"));
        let input = feature_input("s", after, vec![candidate], None).unwrap();
        assert_eq!(Some(&input.holdout), before.holdout.as_ref());
    }
}
