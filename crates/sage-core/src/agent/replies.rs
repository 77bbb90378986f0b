//! Applying the reasoner's answers, with the rules the machine enforces
//! whatever the reasoner says.
//!
//! - Drafted experiments must name a hypothesis that can still be tested, have
//!   non-empty text, predict substrings that occur in that text, and fit the
//!   per-round and per-hypothesis test budgets; others are dropped and logged.
//! - A confirmation needs at least two cited, finished tests of that
//!   hypothesis that behaved as predicted (which covers "a positive test and a
//!   negative control both as predicted") and no cited test that did not.
//! - A refutation needs at least two cited tests that did not behave as
//!   predicted, or a cited positive test that failed next to a cited negative
//!   control that behaved.
//! - A verdict that falls short leaves the hypothesis as it was (still
//!   testing or uncertain) and the log says why.
//! - A refinement creates a new version with `parent` set; the old one
//!   becomes Refined.

use crate::prelude::*;

use super::conclusion::{Conclusion, StopReason, clamp_label, label_words};
use super::event::Effect;
use super::machine::Agent;
use super::reasoning::{
    ConclusionDraft, Decision, ExperimentDraft, HypothesisDraft, ReasonerReply, ReviewOutcome,
    Verdict,
};
use super::state::{Phase, StepKind};
use super::{Actor, Hypothesis, HypothesisId, HypothesisStatus};
use super::{Experiment, ExperimentKind, ExperimentStatus, Prediction};

/// Why a drafted text cannot be run as an experiment, if it cannot.
pub fn draft_problem(text: &str, prediction: &Prediction) -> Option<String> {
    if text.trim().is_empty() {
        return Some("the text is empty".to_string());
    }
    prediction
        .firing
        .iter()
        .find(|s| s.is_empty() || !text.contains(s.as_str()))
        .map(|s| format!("the predicted substring {s:?} does not occur in the text"))
}

impl Agent {
    /// Applies a reply to the step that asked for it. An `Err` means the
    /// reply was unusable and counts as a reasoner failure.
    pub(super) fn apply_reply(
        &mut self,
        step: StepKind,
        reply: ReasonerReply,
        out: &mut Vec<Effect>,
    ) -> Result<(), String> {
        match (step, reply) {
            (StepKind::Hypothesise, ReasonerReply::HypothesisDrafts(drafts)) => {
                self.add_drafted_hypotheses(drafts)
            }
            (StepKind::Design, ReasonerReply::ExperimentDrafts(drafts)) => {
                let per_round = self.state().config.tests_per_round;
                self.add_drafted_experiments(drafts, Some(per_round), false);
                self.state_mut().phase = Phase::Running;
                Ok(())
            }
            (StepKind::Update, ReasonerReply::Verdicts(verdicts)) => {
                for v in verdicts {
                    self.apply_verdict(v);
                }
                self.state_mut().fresh.clear();
                let next = self.after_update();
                self.state_mut().phase = next;
                Ok(())
            }
            (StepKind::Review, ReasonerReply::ReviewOutcome(outcome)) => {
                self.apply_review(outcome);
                Ok(())
            }
            (StepKind::Conclude, ReasonerReply::ConclusionDraft(draft)) => {
                self.apply_conclusion(draft, out);
                Ok(())
            }
            (step, reply) => Err(format!(
                "a {} reply does not answer a {step:?} request",
                reply_name(&reply)
            )),
        }
    }

    fn add_drafted_hypotheses(&mut self, drafts: Vec<HypothesisDraft>) -> Result<(), String> {
        let usable: Vec<HypothesisDraft> = drafts
            .into_iter()
            .filter(|d| !d.description.trim().is_empty())
            .collect();
        if usable.is_empty() {
            return Err("no hypothesis with a description".to_string());
        }
        let gated = self.state().config.gate.gates_hypotheses();
        for d in usable {
            let id = self.next_hypothesis_id();
            self.note(Actor::Agent, format!("proposed {id}: {}", d.description));
            self.state_mut().hypotheses.push(Hypothesis {
                id,
                version: 1,
                parent: None,
                description: d.description,
                evidence: d.evidence,
                prediction: d.prediction,
                status: if gated {
                    HypothesisStatus::Proposed
                } else {
                    HypothesisStatus::Testing
                },
                confidence: 0.5,
                decided_by: Vec::new(),
                origin: Actor::Agent,
                rule: d.rule,
            });
        }
        self.state_mut().phase = Phase::Designing;
        Ok(())
    }

    /// Adds the usable drafts; returns how many were added.
    fn add_drafted_experiments(
        &mut self,
        drafts: Vec<ExperimentDraft>,
        per_round: Option<usize>,
        review: bool,
    ) -> usize {
        let cap = self.state().config.max_tests_per_hypothesis;
        let gated = self.state().config.gate.gates_experiments();
        let mut added_now: Vec<HypothesisId> = Vec::new();
        let mut added = 0;
        for d in drafts {
            let problem = match self.state().hypothesis(d.hypothesis) {
                None => Some(format!("{} does not exist", d.hypothesis)),
                Some(h) if !testable(&h.status, review) => {
                    Some(format!("{} is {}", h.id, h.status.name()))
                }
                Some(h) if self.state().tests_used(h.id) >= cap => {
                    Some(format!("{} has used its {cap} tests", h.id))
                }
                Some(h)
                    if per_round
                        .is_some_and(|n| added_now.iter().filter(|x| **x == h.id).count() >= n) =>
                {
                    Some(format!("{} already has its tests for this round", h.id))
                }
                Some(_) => draft_problem(&d.text, &d.prediction),
            };
            if let Some(problem) = problem {
                self.note(
                    Actor::Agent,
                    format!("dropped a drafted experiment ({problem}): {:?}", d.text),
                );
                continue;
            }
            let id = self.next_experiment_id();
            let round = self.state().round;
            added_now.push(d.hypothesis);
            added += 1;
            self.note_with(
                Actor::Agent,
                format!("designed {id} for {}: {:?}", d.hypothesis, d.text),
                Some(d.rationale.clone()),
            );
            self.state_mut().experiments.push(Experiment {
                id,
                hypothesis: d.hypothesis,
                text: d.text,
                prediction: d.prediction,
                kind: d.kind,
                status: if gated {
                    ExperimentStatus::AwaitingApproval
                } else {
                    ExperimentStatus::Approved
                },
                origin: Actor::Agent,
                round,
                rationale: d.rationale,
                result: None,
                score: None,
            });
        }
        added
    }

    fn apply_verdict(&mut self, v: Verdict) {
        let Some(h) = self.state().hypothesis(v.hypothesis).cloned() else {
            self.note(
                Actor::Agent,
                format!("ignored a verdict on unknown {}", v.hypothesis),
            );
            return;
        };
        if matches!(
            h.status,
            HypothesisStatus::Rejected { .. }
                | HypothesisStatus::Refined
                | HypothesisStatus::Proposed
        ) {
            self.note(
                Actor::Agent,
                format!("ignored a verdict on {} ({})", h.id, h.status.name()),
            );
            return;
        }
        let cited: Vec<&Experiment> = v
            .cites
            .iter()
            .filter_map(|id| self.state().experiment(*id))
            .filter(|e| e.hypothesis == h.id && e.score.is_some())
            .collect();
        let passed = |e: &Experiment| e.score.as_ref().is_some_and(|s| s.passed);
        let n_pass = cited.iter().filter(|e| passed(e)).count();
        let n_fail = cited.len() - n_pass;
        let failed_positive = cited
            .iter()
            .any(|e| e.kind != ExperimentKind::Control && !passed(e));
        let passed_control = cited
            .iter()
            .any(|e| e.kind == ExperimentKind::Control && passed(e));
        let cites: Vec<_> = cited.iter().map(|e| e.id).collect();
        let confidence = v.confidence.clamp(0.0, 1.0);
        let rationale = Some(v.rationale.clone());
        match v.decision {
            Decision::Confirm if n_pass >= 2 && n_fail == 0 => {
                self.set_verdict(h.id, HypothesisStatus::Confirmed, cites, confidence);
                self.note_with(Actor::Agent, format!("{} confirmed", h.id), rationale);
            }
            Decision::Refute if n_fail >= 2 || (failed_positive && passed_control) => {
                self.set_verdict(h.id, HypothesisStatus::Refuted, cites, confidence);
                self.note_with(Actor::Agent, format!("{} refuted", h.id), rationale);
            }
            Decision::Confirm | Decision::Refute => {
                self.note_with(
                    Actor::Agent,
                    format!(
                        "did not accept the verdict {:?} on {}: it cites {n_pass} test(s) that \
                         behaved as predicted and {n_fail} that did not, which is not enough",
                        v.decision, h.id
                    ),
                    rationale,
                );
            }
            Decision::Uncertain => {
                self.set_verdict(h.id, HypothesisStatus::Uncertain, cites, confidence);
                self.note_with(Actor::Agent, format!("{} uncertain", h.id), rationale);
            }
            Decision::Refine {
                description,
                prediction,
                rule,
            } => {
                let gated = self.state().config.gate.gates_hypotheses();
                let child = self.refine(&h, description, prediction, rule, Actor::Agent, gated);
                if let Some(child) = self
                    .state_mut()
                    .hypotheses
                    .iter_mut()
                    .find(|x| x.id == child)
                {
                    child.confidence = confidence;
                }
                if let Some(old) = self
                    .state_mut()
                    .hypotheses
                    .iter_mut()
                    .find(|x| x.id == h.id)
                {
                    old.decided_by = cites;
                }
                self.note_with(
                    Actor::Agent,
                    format!("{} refined into {child}", h.id),
                    rationale,
                );
            }
        }
    }

    fn set_verdict(
        &mut self,
        id: HypothesisId,
        status: HypothesisStatus,
        cites: Vec<super::ExperimentId>,
        confidence: f32,
    ) {
        if let Some(h) = self.state_mut().hypotheses.iter_mut().find(|h| h.id == id) {
            h.status = status;
            h.decided_by = cites;
            h.confidence = confidence;
        }
    }

    /// Creates a new version of `old`; the old one becomes Refined.
    pub(super) fn refine(
        &mut self,
        old: &Hypothesis,
        description: String,
        prediction: String,
        rule: Option<serde_json::Value>,
        origin: Actor,
        gated: bool,
    ) -> HypothesisId {
        let id = self.next_hypothesis_id();
        let child = Hypothesis {
            id,
            version: old.version + 1,
            parent: Some(old.id),
            description,
            evidence: old.evidence.clone(),
            prediction,
            status: if gated {
                HypothesisStatus::Proposed
            } else {
                HypothesisStatus::Testing
            },
            confidence: old.confidence,
            decided_by: Vec::new(),
            origin,
            rule,
        };
        let state = self.state_mut();
        if let Some(h) = state.hypotheses.iter_mut().find(|h| h.id == old.id) {
            h.status = HypothesisStatus::Refined;
        }
        state.hypotheses.push(child);
        id
    }

    fn apply_review(&mut self, outcome: ReviewOutcome) {
        let added = if outcome.more_tests.is_empty() {
            0
        } else {
            self.add_drafted_experiments(outcome.more_tests, None, true)
        };
        if added > 0 {
            self.note_with(
                Actor::Agent,
                format!("review asked for {added} more test(s)"),
                Some(outcome.rationale),
            );
            self.state_mut().phase = Phase::Running;
        } else {
            self.note_with(Actor::Agent, "review satisfied", Some(outcome.rationale));
            self.enter_concluding(None);
        }
    }

    fn apply_conclusion(&mut self, draft: ConclusionDraft, out: &mut Vec<Effect>) {
        let stop_reason = self.state().stop_reason.unwrap_or(StopReason::Converged);
        if label_words(&draft.label) > super::MAX_LABEL_WORDS {
            self.note(
                Actor::Agent,
                format!("cut the label {:?} to 8 words", draft.label),
            );
        }
        let evidence: Vec<_> = draft
            .evidence
            .iter()
            .copied()
            .filter(|id| self.state().experiment(*id).is_some())
            .collect();
        let hypothesis = draft
            .hypothesis
            .filter(|id| self.state().hypothesis(*id).is_some());
        let conclusion = Conclusion {
            label: clamp_label(&draft.label),
            description: draft.description,
            does_not_fire_on: draft.does_not_fire_on,
            evidence,
            hypothesis,
            confidence: draft.confidence.clamp(0.0, 1.0),
            stop_reason,
            rule: draft.rule,
        };
        if self.state().config.gate.gates_conclusion() {
            self.note(
                Actor::Agent,
                format!("proposed the conclusion: {}", conclusion.label),
            );
            self.state_mut().pending_conclusion = Some(conclusion);
        } else {
            self.finish(conclusion, out);
        }
    }

    pub(super) fn next_hypothesis_id(&self) -> HypothesisId {
        HypothesisId(self.state().hypotheses.len() as u32 + 1)
    }

    pub(super) fn next_experiment_id(&self) -> super::ExperimentId {
        super::ExperimentId(self.state().experiments.len() as u32 + 1)
    }
}

/// Whether a hypothesis in this status may get new experiments. The review
/// may also re-test decided hypotheses.
fn testable(status: &HypothesisStatus, review: bool) -> bool {
    status.is_open()
        || (review
            && matches!(
                status,
                HypothesisStatus::Confirmed | HypothesisStatus::Refuted
            ))
}

fn reply_name(reply: &ReasonerReply) -> &'static str {
    match reply {
        ReasonerReply::HypothesisDrafts(_) => "hypotheses",
        ReasonerReply::ExperimentDrafts(_) => "experiments",
        ReasonerReply::Verdicts(_) => "verdicts",
        ReasonerReply::ReviewOutcome(_) => "review",
        ReasonerReply::ConclusionDraft(_) => "conclusion",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draft_problem_accepts_controls_and_present_substrings_only() {
        let p = |f: &[&str]| Prediction {
            firing: f.iter().map(|s| s.to_string()).collect(),
            strength: None,
        };
        assert_eq!(draft_problem("We met in May.", &p(&["May"])), None);
        assert_eq!(draft_problem("We met in Paris.", &p(&[])), None);
        assert!(draft_problem(" ", &p(&[])).unwrap().contains("empty"));
        assert!(
            draft_problem("We met in May.", &p(&["June"]))
                .unwrap()
                .contains("\"June\" does not occur")
        );
        assert!(draft_problem("We met.", &p(&[""])).is_some());
    }
}
