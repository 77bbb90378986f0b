//! [`HeuristicReasoner`]: the offline, deterministic [`Reasoner`].

use super::steps;
use crate::agent::{ReasonRequest, Reasoner, ReasonerError, ReasonerReply};
use crate::llm::Usage;

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
