//! [`HeuristicReasoner`]: the offline, deterministic [`Reasoner`].

use super::steps;
use crate::agent::{ReasonRequest, ReasonerReply};
use crate::llm::Usage;
use crate::reasoner::{Reasoner, ReasonerError};

/// A reasoner that needs no LLM: it learns rules from the exemplars, tests
/// them with minimal pairs and controls, and keeps the rule that explains
/// the observations best. Deterministic: the same request always gets the
/// same reply. Honest about what it is: it knows token identities, shapes,
/// contexts, phrases, positions and a small lexicon, nothing semantic beyond.
#[derive(Debug, Clone, Copy, Default)]
pub struct HeuristicReasoner;

impl HeuristicReasoner {
    /// Answers one request synchronously (the trait method wraps this).
    pub fn reply(&self, req: &ReasonRequest) -> Result<ReasonerReply, ReasonerError> {
        Ok(match req {
            ReasonRequest::Hypothesise { context, count } => {
                let drafts = steps::hypothesise(context, *count);
                if drafts.is_empty() && context.hypotheses.is_empty() {
                    return Err(ReasonerError::Unable {
                        step: req.name(),
                        reason: "no token in the visible exemplars reaches the firing threshold; \
                                 fetch more exemplars or lower the firing fraction"
                            .to_string(),
                    });
                }
                ReasonerReply::HypothesisDrafts(drafts)
            }
            ReasonRequest::Design {
                context,
                targets,
                per_hypothesis,
            } => ReasonerReply::ExperimentDrafts(steps::design(context, targets, *per_hypothesis)),
            ReasonRequest::Update { context, targets } => {
                ReasonerReply::Verdicts(steps::update(context, targets))
            }
            ReasonRequest::Review { context, max_tests } => {
                ReasonerReply::ReviewOutcome(steps::review(context, *max_tests))
            }
            ReasonRequest::Conclude {
                context,
                stop_reason,
            } => ReasonerReply::ConclusionDraft(steps::conclude(context, *stop_reason)),
        })
    }
}

#[async_trait::async_trait]
impl Reasoner for HeuristicReasoner {
    fn spec(&self) -> String {
        "heuristic (offline rule learner)".to_string()
    }

    async fn reason(&self, req: &ReasonRequest) -> Result<(ReasonerReply, Usage), ReasonerError> {
        Ok((self.reply(req)?, Usage::default()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activation::FeatureExemplars;
    use crate::agent::{Context, StopReason};

    fn silent_context() -> Context {
        Context {
            feature: 0,
            round: 0,
            max_rounds: 5,
            firing_threshold: 1.0,
            exemplars: FeatureExemplars {
                feature: 0,
                top: Vec::new(),
                quantiles: Vec::new(),
                non_activating: Vec::new(),
                density: None,
                max_activation: 0.0,
            },
            hypotheses: Vec::new(),
            experiments: Vec::new(),
            feedback: Vec::new(),
        }
    }

    #[test]
    fn nothing_to_learn_from_is_a_typed_error_not_an_empty_reply() {
        let req = ReasonRequest::Hypothesise {
            context: silent_context(),
            count: 4,
        };
        let err = HeuristicReasoner.reply(&req).err();
        assert!(
            matches!(
                err,
                Some(ReasonerError::Unable {
                    step: "hypothesise",
                    ..
                })
            ),
            "{err:?}"
        );
    }

    #[test]
    fn every_step_gets_the_reply_kind_that_answers_it() {
        let context = silent_context();
        let requests = [
            ReasonRequest::Design {
                context: context.clone(),
                targets: Vec::new(),
                per_hypothesis: 3,
            },
            ReasonRequest::Update {
                context: context.clone(),
                targets: Vec::new(),
            },
            ReasonRequest::Review {
                context: context.clone(),
                max_tests: 4,
            },
            ReasonRequest::Conclude {
                context,
                stop_reason: StopReason::MaxRounds,
            },
        ];
        for req in &requests {
            let reply = HeuristicReasoner
                .reply(req)
                .unwrap_or_else(|e| panic!("{e}"));
            assert!(reply.answers(req), "{} got {reply:?}", req.name());
        }
    }
}
