//! The researcher's actions: pause, approve, reject, edit, add, gate, conclude.
//!
//! Nothing here ever deletes a hypothesis or an experiment: rejection and
//! editing change statuses or create new versions, so every id ever created
//! stays in the state.

use crate::prelude::*;

use super::conclusion::StopReason;
use super::config::GateMode;
use super::event::{Effect, Target, UserAction};
use super::machine::Agent;
use super::reasoning::Feedback;
use super::replies::draft_problem;
use super::{Actor, Hypothesis, HypothesisStatus};
use super::{Experiment, ExperimentStatus};

impl Agent {
    pub(super) fn on_user(&mut self, action: UserAction, out: &mut Vec<Effect>) {
        match action {
            UserAction::Pause => {
                self.state_mut().paused = true;
                self.note(Actor::Researcher, "paused");
            }
            UserAction::Resume => {
                self.state_mut().paused = false;
                self.note(Actor::Researcher, "resumed");
            }
            UserAction::Approve { target } => self.approve(target, out),
            UserAction::Reject { target, reason } => self.reject(target, reason),
            UserAction::EditHypothesis {
                id,
                description,
                prediction,
            } => self.edit_hypothesis(id, description, prediction),
            UserAction::EditExperiment {
                id,
                text,
                prediction,
            } => self.edit_experiment(id, text, prediction),
            UserAction::AddHypothesis {
                description,
                prediction,
            } => {
                if description.trim().is_empty() {
                    self.note(
                        Actor::Researcher,
                        "ignored a hypothesis with no description",
                    );
                    return;
                }
                let id = self.next_hypothesis_id();
                self.note(Actor::Researcher, format!("added {id}: {description}"));
                self.state_mut().hypotheses.push(Hypothesis {
                    id,
                    version: 1,
                    parent: None,
                    description,
                    evidence: "proposed by the researcher".to_string(),
                    prediction,
                    status: HypothesisStatus::Testing,
                    confidence: 0.5,
                    decided_by: Vec::new(),
                    origin: Actor::Researcher,
                    rule: None,
                });
            }
            UserAction::AddExperiment {
                hypothesis,
                text,
                prediction,
                kind,
            } => {
                let problem = match self.state().hypothesis(hypothesis) {
                    None => Some(format!("{hypothesis} does not exist")),
                    Some(_) => draft_problem(&text, &prediction),
                };
                if let Some(problem) = problem {
                    self.note(
                        Actor::Researcher,
                        format!("could not add the experiment {text:?}: {problem}"),
                    );
                    return;
                }
                let id = self.next_experiment_id();
                let round = self.state().round;
                self.note(
                    Actor::Researcher,
                    format!("added {id} for {hypothesis}: {text:?}"),
                );
                self.state_mut().experiments.push(Experiment {
                    id,
                    hypothesis,
                    text,
                    prediction,
                    kind,
                    status: ExperimentStatus::Approved,
                    origin: Actor::Researcher,
                    round,
                    rationale: String::new(),
                    result: None,
                    score: None,
                });
            }
            UserAction::SetGate { mode } => self.set_gate(mode, out),
            UserAction::ConcludeNow => {
                if self.state().is_done() {
                    return;
                }
                self.note(Actor::Researcher, "asked to conclude now");
                self.abandon_reasoning();
                self.state_mut().pending_conclusion = None;
                self.enter_concluding(Some(StopReason::ResearcherConcluded));
            }
        }
    }

    fn approve(&mut self, target: Target, out: &mut Vec<Effect>) {
        let state = self.state_mut();
        let approved = match target {
            Target::Hypothesis(id) => state
                .hypotheses
                .iter_mut()
                .find(|h| h.id == id && h.status == HypothesisStatus::Proposed)
                .map(|h| h.status = HypothesisStatus::Testing)
                .is_some(),
            Target::Experiment(id) => state
                .experiments
                .iter_mut()
                .find(|e| e.id == id && e.status == ExperimentStatus::AwaitingApproval)
                .map(|e| e.status = ExperimentStatus::Approved)
                .is_some(),
            Target::Conclusion => match state.pending_conclusion.take() {
                Some(conclusion) => {
                    self.note(Actor::Researcher, "approved the conclusion");
                    self.finish(conclusion, out);
                    return;
                }
                None => false,
            },
        };
        let text = if approved {
            format!("approved {}", target_name(target))
        } else {
            format!("nothing to approve at {}", target_name(target))
        };
        self.note(Actor::Researcher, text);
    }

    fn reject(&mut self, target: Target, reason: String) {
        let about = match target {
            Target::Hypothesis(id) => {
                let Some(h) = self.state().hypothesis(id).cloned() else {
                    return self.note(Actor::Researcher, format!("cannot reject unknown {id}"));
                };
                if matches!(
                    h.status,
                    HypothesisStatus::Refined | HypothesisStatus::Rejected { .. }
                ) {
                    return self.note(
                        Actor::Researcher,
                        format!("cannot reject {id}: it is {}", h.status.name()),
                    );
                }
                let state = self.state_mut();
                if let Some(h) = state.hypotheses.iter_mut().find(|h| h.id == id) {
                    h.status = HypothesisStatus::Rejected {
                        reason: reason.clone(),
                    };
                }
                for e in state.experiments.iter_mut().filter(|e| e.hypothesis == id) {
                    if not_started(&e.status) {
                        e.status = ExperimentStatus::Rejected {
                            reason: format!("its hypothesis {id} was rejected"),
                        };
                    }
                }
                format!("hypothesis {id}: {:?}", h.description)
            }
            Target::Experiment(id) => {
                let Some(e) = self.state().experiment(id).cloned() else {
                    return self.note(Actor::Researcher, format!("cannot reject unknown {id}"));
                };
                if !not_started(&e.status) {
                    return self.note(
                        Actor::Researcher,
                        format!("cannot reject {id}: it has already run or been rejected"),
                    );
                }
                if let Some(e) = self.state_mut().experiments.iter_mut().find(|e| e.id == id) {
                    e.status = ExperimentStatus::Rejected {
                        reason: reason.clone(),
                    };
                }
                format!("experiment {id} for {}: {:?}", e.hypothesis, e.text)
            }
            Target::Conclusion => {
                let Some(c) = self.state_mut().pending_conclusion.take() else {
                    return self.note(Actor::Researcher, "no conclusion to reject");
                };
                self.state_mut().attempt = 0;
                format!("conclusion: {:?}", c.label)
            }
        };
        self.note_with(
            Actor::Researcher,
            format!("rejected {about}"),
            Some(reason.clone()),
        );
        self.state_mut().feedback.push(Feedback { about, reason });
    }

    fn edit_hypothesis(
        &mut self,
        id: super::HypothesisId,
        description: Option<String>,
        prediction: Option<String>,
    ) {
        let Some(h) = self.state().hypothesis(id).cloned() else {
            return self.note(Actor::Researcher, format!("cannot edit unknown {id}"));
        };
        if matches!(
            h.status,
            HypothesisStatus::Refined | HypothesisStatus::Rejected { .. }
        ) {
            return self.note(
                Actor::Researcher,
                format!("cannot edit {id}: it is {}", h.status.name()),
            );
        }
        let new_description = description
            .filter(|d| !d.trim().is_empty())
            .unwrap_or_else(|| h.description.clone());
        let new_prediction = prediction.unwrap_or_else(|| h.prediction.clone());
        let has_results = self.state().experiments_of(id).any(|e| e.result.is_some());
        if has_results {
            let child = self.refine(
                &h,
                new_description.clone(),
                new_prediction,
                None,
                Actor::Researcher,
                false,
            );
            self.note(
                Actor::Researcher,
                format!("edited {id} into a new version {child}: {new_description:?}"),
            );
        } else {
            if let Some(x) = self.state_mut().hypotheses.iter_mut().find(|x| x.id == id) {
                x.description = new_description.clone();
                x.prediction = new_prediction;
                x.rule = None;
            }
            self.note(
                Actor::Researcher,
                format!("edited {id}: {:?} → {new_description:?}", h.description),
            );
        }
    }

    fn edit_experiment(
        &mut self,
        id: super::ExperimentId,
        text: String,
        prediction: super::Prediction,
    ) {
        let Some(e) = self.state().experiment(id).cloned() else {
            return self.note(Actor::Researcher, format!("cannot edit unknown {id}"));
        };
        if !not_started(&e.status) {
            return self.note(
                Actor::Researcher,
                format!("cannot edit {id}: it has already run or been rejected"),
            );
        }
        if let Some(problem) = draft_problem(&text, &prediction) {
            return self.note(Actor::Researcher, format!("cannot edit {id}: {problem}"));
        }
        if let Some(x) = self.state_mut().experiments.iter_mut().find(|x| x.id == id) {
            x.text = text.clone();
            x.prediction = prediction;
        }
        self.note(
            Actor::Researcher,
            format!("edited {id}: {:?} → {text:?}", e.text),
        );
    }

    fn set_gate(&mut self, mode: GateMode, out: &mut Vec<Effect>) {
        self.state_mut().config.gate = mode;
        self.note(Actor::Researcher, format!("set the gate to {mode:?}"));
        let state = self.state_mut();
        if !mode.gates_hypotheses() {
            for h in state.hypotheses.iter_mut() {
                if h.status == HypothesisStatus::Proposed {
                    h.status = HypothesisStatus::Testing;
                }
            }
        }
        if !mode.gates_experiments() {
            for e in state.experiments.iter_mut() {
                if e.status == ExperimentStatus::AwaitingApproval {
                    e.status = ExperimentStatus::Approved;
                }
            }
        }
        if !mode.gates_conclusion()
            && let Some(conclusion) = state.pending_conclusion.take()
        {
            self.finish(conclusion, out);
        }
    }
}

/// Whether an experiment has not been sent to the source yet.
fn not_started(status: &ExperimentStatus) -> bool {
    matches!(
        status,
        ExperimentStatus::Proposed
            | ExperimentStatus::AwaitingApproval
            | ExperimentStatus::Approved
    )
}

fn target_name(target: Target) -> String {
    match target {
        Target::Hypothesis(id) => id.to_string(),
        Target::Experiment(id) => id.to_string(),
        Target::Conclusion => "the conclusion".to_string(),
    }
}
