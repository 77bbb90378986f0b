//! The agent: events in, effects out, with all the method's rules.
//!
//! Every handler first records what the event says (results are recorded
//! even while paused or after concluding), then [`Agent::advance`] decides
//! the next work from the state alone. Work is issued only when nothing is
//! in flight, nothing waits for approval and the agent is not paused, so
//! each step is asked exactly once and a replay issues the same effects.

use crate::prelude::*;

use super::conclusion::{Conclusion, StopReason, clamp_label};
use super::event::{Effect, Event, RequestId, Target};
use super::holdout;
use super::log::LogEntry;
use super::reasoning::{Context, ReasonRequest};
use super::score;
use super::state::{AgentState, InFlight, Pending, Phase, StepKind};
use super::{Actor, Hypothesis, HypothesisStatus};
use super::{ExperimentKind, ExperimentStatus};
use crate::activation::{ActivationRecord, FeatureExemplars};
use crate::usage::Usage;

/// How many times one reasoning step is tried before the agent gives up.
pub const REASONER_ATTEMPTS: u32 = 2;

/// The SAGE agent as a sans-IO state machine.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Agent {
    state: AgentState,
}

impl Agent {
    /// A fresh agent waiting for a Start event.
    pub fn new() -> Agent {
        Agent::default()
    }

    /// Everything the agent knows.
    pub fn state(&self) -> &AgentState {
        &self.state
    }

    /// The driver time at which the wall-time budget runs out, while the
    /// session runs and has one: the driver sends a `Tick` then, so the
    /// budget fires even when a reasoner call hangs.
    pub fn wake_at_ms(&self) -> Option<u64> {
        if matches!(self.state.phase, Phase::NotStarted | Phase::Done) {
            return None;
        }
        let budget = self.state.config.budgets.max_wall_ms?;
        Some(self.state.started_at_ms.saturating_add(budget))
    }

    /// Feeds one event; returns the work it calls for, in order.
    #[must_use]
    pub fn handle(&mut self, event: Event) -> Vec<Effect> {
        let mut out = Vec::new();
        let at_ms = event.at_ms();
        if self.state.phase == Phase::NotStarted && !matches!(event, Event::Start { .. }) {
            return out;
        }
        self.state.now_ms = self.state.now_ms.max(at_ms);
        match event {
            Event::Start {
                feature,
                config,
                seed,
                at_ms,
            } => self.on_start(feature, config, seed, at_ms),
            Event::ExemplarsArrived { exemplars, .. } => self.on_exemplars(exemplars, &mut out),
            Event::ExemplarsFailed { error, .. } => {
                if self.take_inflight(|p| matches!(p, Pending::Exemplars)) {
                    self.note(Actor::Agent, format!("could not fetch exemplars: {error}"));
                    self.conclude_from_state(StopReason::ExemplarsFailed, &mut out);
                }
            }
            Event::ReasonerReplied {
                request,
                reply,
                usage,
                ..
            } => self.on_reasoner_reply(request, reply, usage, &mut out),
            Event::ReasonerFailed {
                request,
                error,
                usage,
                ..
            } => {
                self.state.reasoner_calls += 1;
                add_usage(&mut self.state.usage, &usage);
                match self.remove_inflight(request) {
                    Some(Pending::Reason { step }) => self.reasoner_failed(step, &error, &mut out),
                    _ => self.note(
                        Actor::Agent,
                        format!("ignored a stale failure of {request}"),
                    ),
                }
            }
            Event::ActivationsArrived {
                request, records, ..
            } => self.on_activations(request, records),
            Event::ActivationsFailed { request, error, .. } => {
                self.on_activations_failed(request, &error)
            }
            Event::User { action, .. } => self.on_user(action, &mut out),
            Event::Tick { .. } => {}
            Event::Evaluated { evaluation, .. } => {
                self.note(Actor::Agent, evaluation.summary());
                self.state.evaluations.push(evaluation);
            }
        }
        self.check_budgets(&mut out);
        self.advance(&mut out);
        out
    }

    fn on_start(&mut self, feature: u32, config: super::AgentConfig, seed: u64, at_ms: u64) {
        if self.state.phase != Phase::NotStarted {
            self.note(Actor::Agent, "ignored a second Start event");
            return;
        }
        self.state = AgentState {
            feature,
            config,
            seed,
            started_at_ms: at_ms,
            now_ms: at_ms,
            phase: Phase::Observing,
            next_request: 1,
            ..AgentState::default()
        };
        self.note(
            Actor::Agent,
            format!("started on feature {feature} (seed {seed})"),
        );
        if let Err(problem) = self.state.config.validate() {
            self.note(Actor::Agent, format!("warning: {problem}"));
        }
    }

    fn on_exemplars(&mut self, exemplars: FeatureExemplars, out: &mut Vec<Effect>) {
        if !self.take_inflight(|p| matches!(p, Pending::Exemplars)) {
            self.note(Actor::Agent, "ignored exemplars nobody asked for");
            return;
        }
        let top_max = exemplars
            .top
            .iter()
            .map(|e| e.record.max_value)
            .fold(0.0f32, f32::max);
        self.state.feature_max = exemplars.max_activation.max(top_max);
        let (visible, held) =
            holdout::split(&exemplars, &self.state.config.holdout, self.state.seed);
        self.note(
            Actor::Agent,
            format!(
                "observed {} top examples, {} quantile samples, {} non-activating; held out {}",
                visible.top.len(),
                visible
                    .quantiles
                    .iter()
                    .map(|q| q.examples.len())
                    .sum::<usize>(),
                visible.non_activating.len(),
                held.examples.len()
            ),
        );
        let empty = visible.top.is_empty() || self.state.feature_max <= 0.0;
        self.state.exemplars = Some(visible);
        self.state.holdout = Some(held);
        if self.state.is_done() {
            return;
        }
        if empty {
            self.conclude_from_state(StopReason::NoExemplars, out);
        } else {
            self.state.phase = Phase::Hypothesising;
        }
    }

    fn on_reasoner_reply(
        &mut self,
        request: RequestId,
        reply: super::ReasonerReply,
        usage: Usage,
        out: &mut Vec<Effect>,
    ) {
        self.state.reasoner_calls += 1;
        add_usage(&mut self.state.usage, &usage);
        let step = match self.remove_inflight(request) {
            Some(Pending::Reason { step }) => step,
            _ => {
                self.note(Actor::Agent, format!("ignored a stale reply to {request}"));
                return;
            }
        };
        if self.state.is_done() {
            return;
        }
        match self.apply_reply(step, reply, out) {
            Ok(()) => self.state.attempt = 0,
            Err(problem) => self.reasoner_failed(step, &problem, out),
        }
    }

    /// Records a failed or unusable reasoning step: retried once, then the
    /// agent concludes from its state with `ReasonerFailed`.
    fn reasoner_failed(&mut self, step: StepKind, error: &str, out: &mut Vec<Effect>) {
        self.state.reasoner_failures += 1;
        self.state.attempt += 1;
        let name = step_name(step);
        if self.state.attempt < REASONER_ATTEMPTS {
            self.note(
                Actor::Agent,
                format!("the {name} step failed ({error}); retrying"),
            );
        } else {
            self.note(
                Actor::Agent,
                format!("the {name} step failed again ({error}); concluding with what there is"),
            );
            self.conclude_from_state(StopReason::ReasonerFailed, out);
        }
    }

    fn on_activations(&mut self, request: RequestId, records: Vec<ActivationRecord>) {
        let ids = match self.remove_inflight(request) {
            Some(Pending::Run { experiments }) => experiments,
            _ => {
                self.note(
                    Actor::Agent,
                    format!("ignored stale activations for {request}"),
                );
                return;
            }
        };
        if records.len() != ids.len() {
            let error = format!(
                "the source returned {} records for {} texts",
                records.len(),
                ids.len()
            );
            self.fail_experiments(&ids, &error);
            return;
        }
        let threshold = self.state.firing_threshold();
        let pass = self.state.config.pass_f1;
        let mut lines = Vec::new();
        for (id, record) in ids.into_iter().zip(records) {
            let Some(e) = self.state.experiments.iter_mut().find(|e| e.id == id) else {
                continue;
            };
            let s = score::score(&e.prediction, &record, threshold, pass);
            lines.push(format!("{id} F1 {:.2}", s.f1));
            e.score = Some(s);
            e.result = Some(record);
            e.status = ExperimentStatus::Done;
            self.state.fresh.push(id);
        }
        self.note(Actor::Agent, format!("scored {}", lines.join(", ")));
    }

    fn on_activations_failed(&mut self, request: RequestId, error: &str) {
        match self.remove_inflight(request) {
            Some(Pending::Run { experiments }) => self.fail_experiments(&experiments, error),
            _ => self.note(
                Actor::Agent,
                format!("ignored a stale failure of {request}"),
            ),
        }
    }

    fn fail_experiments(&mut self, ids: &[super::ExperimentId], error: &str) {
        for e in self.state.experiments.iter_mut() {
            if ids.contains(&e.id) {
                e.status = ExperimentStatus::Failed {
                    error: error.to_string(),
                };
            }
        }
        let list: Vec<String> = ids.iter().map(|i| i.to_string()).collect();
        self.note(
            Actor::Agent,
            format!("running {} failed: {error}", list.join(", ")),
        );
    }

    fn check_budgets(&mut self, out: &mut Vec<Effect>) {
        if matches!(self.state.phase, Phase::NotStarted | Phase::Done) {
            return;
        }
        let b = &self.state.config.budgets;
        let reason = if b.max_tokens.is_some_and(|m| self.state.total_tokens() >= m) {
            Some(StopReason::TokenBudget)
        } else if b
            .max_cost_usd
            .is_some_and(|m| self.state.usage.cost_usd.unwrap_or(0.0) >= m)
        {
            Some(StopReason::CostBudget)
        } else if b.max_wall_ms.is_some_and(|m| self.state.elapsed_ms() >= m) {
            Some(StopReason::WallTime)
        } else {
            None
        };
        if let Some(reason) = reason {
            self.note(Actor::Agent, format!("budget reached: {reason:?}"));
            self.conclude_from_state(reason, out);
        }
    }

    /// Issues the next piece of work the state calls for, if any.
    fn advance(&mut self, out: &mut Vec<Effect>) {
        loop {
            if matches!(self.state.phase, Phase::NotStarted | Phase::Done)
                || self.state.paused
                || !self.state.inflight.is_empty()
            {
                return;
            }
            let waiting = self.blocking_approvals();
            if !waiting.is_empty() {
                for target in waiting {
                    if !self.state.announced.contains(&target) {
                        self.state.announced.push(target);
                        out.push(Effect::AwaitApproval { target });
                    }
                }
                return;
            }
            if self.researcher_tests_jump_queue() {
                self.state.phase = Phase::Running;
                continue;
            }
            match self.state.phase {
                Phase::NotStarted | Phase::Done => return,
                Phase::Observing => {
                    self.push_inflight(Pending::Exemplars);
                    out.push(Effect::FetchExemplars {
                        feature: self.state.feature,
                        query: self.state.config.exemplars.clone(),
                    });
                    return;
                }
                Phase::Hypothesising => {
                    if self.state.attempt == 0 {
                        self.state.hypothesise_calls += 1;
                    }
                    let count = self.state.config.n_hypotheses;
                    let context = self.context();
                    self.ask(ReasonRequest::Hypothesise { context, count }, out);
                    return;
                }
                Phase::Designing => {
                    if self.design_or_move_on(out) {
                        return;
                    }
                }
                Phase::Running => {
                    if self.run_approved(out) {
                        return;
                    }
                    self.state.phase = Phase::Updating;
                }
                Phase::Updating => {
                    let targets = self.update_targets();
                    if targets.is_empty() {
                        self.state.fresh.clear();
                        self.state.phase = self.after_update();
                        continue;
                    }
                    let context = self.context();
                    self.ask(ReasonRequest::Update { context, targets }, out);
                    return;
                }
                Phase::Reviewing => {
                    if self.state.review_round >= self.state.config.max_review_rounds {
                        self.enter_concluding(None);
                        continue;
                    }
                    if self.state.attempt == 0 {
                        self.state.review_round += 1;
                    }
                    let open = self.state.open_hypotheses().count();
                    let max_tests = self.state.config.tests_per_round * open.max(1);
                    let context = self.context();
                    self.ask(ReasonRequest::Review { context, max_tests }, out);
                    return;
                }
                Phase::Concluding => {
                    let stop_reason = self.state.stop_reason.unwrap_or(StopReason::Converged);
                    let context = self.context();
                    self.ask(
                        ReasonRequest::Conclude {
                            context,
                            stop_reason,
                        },
                        out,
                    );
                    return;
                }
            }
        }
    }

    /// Approvals that hold up the current phase. While concluding only the
    /// conclusion itself can hold things up.
    fn blocking_approvals(&self) -> Vec<Target> {
        let all = self.state.pending_approvals();
        if self.state.phase == Phase::Concluding {
            all.into_iter()
                .filter(|t| *t == Target::Conclusion)
                .collect()
        } else {
            all
        }
    }

    /// Whether approved experiments (the researcher's own, typically) should
    /// run before the next reasoning step.
    fn researcher_tests_jump_queue(&self) -> bool {
        let phase_allows = match self.state.phase {
            Phase::Designing | Phase::Updating | Phase::Reviewing => true,
            Phase::Concluding => {
                self.state.stop_reason != Some(StopReason::ResearcherConcluded)
                    && self.state.pending_conclusion.is_none()
            }
            _ => false,
        };
        phase_allows
            && self
                .state
                .experiments
                .iter()
                .any(|e| e.status == ExperimentStatus::Approved)
    }

    /// Issues a Design step, or moves to the review when the loop is over.
    /// Returns whether a request was issued.
    fn design_or_move_on(&mut self, out: &mut Vec<Effect>) -> bool {
        let cap = self.state.config.max_tests_per_hypothesis;
        let targets: Vec<_> = self
            .state
            .open_hypotheses()
            .filter(|h| self.state.tests_used(h.id) < cap)
            .map(|h| h.id)
            .collect();
        if targets.is_empty() {
            let nothing_alive = self.state.hypotheses.iter().all(|h| {
                matches!(
                    h.status,
                    HypothesisStatus::Rejected { .. } | HypothesisStatus::Refined
                )
            });
            if nothing_alive && self.state.hypothesise_calls < self.state.config.max_rounds {
                self.note(
                    Actor::Agent,
                    "no hypothesis left standing; asking for new ones",
                );
                self.state.phase = Phase::Hypothesising;
            } else {
                self.enter_review();
            }
            return false;
        }
        if self.state.round >= self.state.config.max_rounds && self.state.attempt == 0 {
            self.enter_review();
            return false;
        }
        if self.state.attempt == 0 {
            self.state.round += 1;
        }
        let per_hypothesis = self.state.config.tests_per_round;
        let context = self.context();
        self.ask(
            ReasonRequest::Design {
                context,
                targets,
                per_hypothesis,
            },
            out,
        );
        true
    }

    fn enter_review(&mut self) {
        if !self.state.in_review {
            self.note(Actor::Agent, "the design loop is over; reviewing");
        }
        self.state.in_review = true;
        self.state.phase = Phase::Reviewing;
    }

    /// Moves to the conclusion. `reason` is `Some` only for the researcher's
    /// "conclude now"; otherwise the reason is read off the state.
    pub(super) fn enter_concluding(&mut self, reason: Option<StopReason>) {
        let reason = reason.unwrap_or_else(|| self.natural_stop_reason());
        self.state.stop_reason = Some(reason);
        self.state.in_review = true;
        self.state.phase = Phase::Concluding;
    }

    fn natural_stop_reason(&self) -> StopReason {
        let cap = self.state.config.max_tests_per_hypothesis;
        let open: Vec<&Hypothesis> = self.state.open_hypotheses().collect();
        if open.is_empty() {
            StopReason::Converged
        } else if open.iter().all(|h| self.state.tests_used(h.id) >= cap) {
            StopReason::TestBudget
        } else {
            StopReason::MaxRounds
        }
    }

    fn run_approved(&mut self, out: &mut Vec<Effect>) -> bool {
        let ids: Vec<_> = self
            .state
            .experiments
            .iter()
            .filter(|e| e.status == ExperimentStatus::Approved)
            .map(|e| e.id)
            .collect();
        if ids.is_empty() {
            return false;
        }
        let mut texts = Vec::with_capacity(ids.len());
        for e in self.state.experiments.iter_mut() {
            if ids.contains(&e.id) {
                e.status = ExperimentStatus::Running;
                texts.push(e.text.clone());
            }
        }
        let request = self.push_inflight(Pending::Run {
            experiments: ids.clone(),
        });
        let list: Vec<String> = ids.iter().map(|i| i.to_string()).collect();
        self.note(Actor::Agent, format!("running {}", list.join(", ")));
        out.push(Effect::RunTexts {
            request,
            feature: self.state.feature,
            texts,
        });
        true
    }

    fn update_targets(&self) -> Vec<super::HypothesisId> {
        let mut targets = Vec::new();
        for id in &self.state.fresh {
            let Some(e) = self.state.experiment(*id) else {
                continue;
            };
            let judgeable = self.state.hypothesis(e.hypothesis).is_some_and(|h| {
                !matches!(
                    h.status,
                    HypothesisStatus::Rejected { .. }
                        | HypothesisStatus::Refined
                        | HypothesisStatus::Proposed
                )
            });
            if judgeable && !targets.contains(&e.hypothesis) {
                targets.push(e.hypothesis);
            }
        }
        targets
    }

    pub(super) fn after_update(&self) -> Phase {
        if self.state.in_review {
            Phase::Reviewing
        } else {
            Phase::Designing
        }
    }

    /// The reasoner's view of the current state (held-out exemplars excluded).
    fn context(&self) -> Context {
        Context {
            feature: self.state.feature,
            round: self.state.round,
            max_rounds: self.state.config.max_rounds,
            firing_threshold: self.state.firing_threshold(),
            exemplars: self.state.exemplars.clone().unwrap_or(FeatureExemplars {
                feature: self.state.feature,
                top: Vec::new(),
                quantiles: Vec::new(),
                non_activating: Vec::new(),
                density: None,
                max_activation: 0.0,
            }),
            hypotheses: self.state.hypotheses.clone(),
            experiments: self.state.experiments.clone(),
            feedback: self.state.feedback.clone(),
        }
    }

    fn ask(&mut self, step: ReasonRequest, out: &mut Vec<Effect>) {
        let kind = match step {
            ReasonRequest::Hypothesise { .. } => StepKind::Hypothesise,
            ReasonRequest::Design { .. } => StepKind::Design,
            ReasonRequest::Update { .. } => StepKind::Update,
            ReasonRequest::Review { .. } => StepKind::Review,
            ReasonRequest::Conclude { .. } => StepKind::Conclude,
        };
        let request = self.push_inflight(Pending::Reason { step: kind });
        out.push(Effect::Reason {
            request,
            step: Box::new(step),
        });
    }

    fn push_inflight(&mut self, pending: Pending) -> RequestId {
        let request = RequestId(self.state.next_request);
        self.state.next_request += 1;
        self.state.inflight.push(InFlight { request, pending });
        request
    }

    fn remove_inflight(&mut self, request: RequestId) -> Option<Pending> {
        let i = self
            .state
            .inflight
            .iter()
            .position(|f| f.request == request)?;
        Some(self.state.inflight.remove(i).pending)
    }

    fn take_inflight(&mut self, which: impl Fn(&Pending) -> bool) -> bool {
        match self.state.inflight.iter().position(|f| which(&f.pending)) {
            Some(i) => {
                self.state.inflight.remove(i);
                true
            }
            None => false,
        }
    }

    /// Drops outstanding reasoning requests (their replies will be ignored as
    /// stale); activation runs stay so their results are still recorded.
    pub(super) fn abandon_reasoning(&mut self) {
        self.state
            .inflight
            .retain(|f| !matches!(f.pending, Pending::Reason { .. }));
        self.state.attempt = 0;
    }

    /// Ends the session with a conclusion assembled from the state, for stops
    /// that forbid (or follow a failure of) further reasoning. Nothing is made
    /// up: the best-supported hypothesis is reported as it stands.
    pub(super) fn conclude_from_state(&mut self, reason: StopReason, out: &mut Vec<Effect>) {
        if self.state.is_done() {
            return;
        }
        let conclusion = self.conclusion_from_state(reason);
        self.abandon_reasoning();
        self.state.pending_conclusion = None;
        self.finish(conclusion, out);
    }

    fn conclusion_from_state(&self, reason: StopReason) -> Conclusion {
        let mean_f1 = |h: &Hypothesis| {
            let scores: Vec<f32> = self
                .state
                .experiments_of(h.id)
                .filter_map(|e| e.score.as_ref().map(|s| s.f1))
                .collect();
            if scores.is_empty() {
                None
            } else {
                Some(scores.iter().sum::<f32>() / scores.len() as f32)
            }
        };
        let confirmed = self
            .state
            .hypotheses
            .iter()
            .filter(|h| h.status == HypothesisStatus::Confirmed)
            .max_by(|a, b| a.confidence.total_cmp(&b.confidence));
        let best_open = || {
            self.state
                .hypotheses
                .iter()
                .filter(|h| h.status.is_open())
                .filter_map(|h| mean_f1(h).map(|f| (h, f)))
                .max_by(|a, b| a.1.total_cmp(&b.1))
        };
        let chosen = match confirmed {
            Some(h) => Some((h, h.confidence)),
            None => best_open().map(|(h, f1)| (h, 0.5 * f1)),
        };
        match chosen {
            Some((h, confidence)) => {
                let tests: Vec<_> = self.state.experiments_of(h.id).collect();
                Conclusion {
                    label: clamp_label(&h.description),
                    description: h.description.clone(),
                    does_not_fire_on: tests
                        .iter()
                        .filter(|e| e.kind == ExperimentKind::Control)
                        .filter(|e| e.score.as_ref().is_some_and(|s| s.passed))
                        .map(|e| e.text.clone())
                        .collect(),
                    evidence: tests
                        .iter()
                        .filter(|e| e.score.as_ref().is_some_and(|s| s.passed))
                        .map(|e| e.id)
                        .collect(),
                    hypothesis: Some(h.id),
                    confidence: confidence.clamp(0.0, 1.0),
                    stop_reason: reason,
                    rule: h.rule.clone(),
                }
            }
            None => Conclusion {
                label: "no tested explanation".to_string(),
                description: format!(
                    "The agent stopped ({reason:?}) before any hypothesis had test results."
                ),
                does_not_fire_on: Vec::new(),
                evidence: Vec::new(),
                hypothesis: None,
                confidence: 0.0,
                stop_reason: reason,
                rule: None,
            },
        }
    }

    /// Records the final conclusion and announces it.
    pub(super) fn finish(&mut self, conclusion: Conclusion, out: &mut Vec<Effect>) {
        self.note(
            Actor::Agent,
            format!(
                "concluded ({:?}): {} (confidence {:.2})",
                conclusion.stop_reason, conclusion.label, conclusion.confidence
            ),
        );
        self.state.stop_reason = Some(conclusion.stop_reason);
        self.state.phase = Phase::Done;
        self.state.conclusion = Some(conclusion.clone());
        out.push(Effect::Concluded { conclusion });
    }

    pub(super) fn note(&mut self, actor: Actor, text: impl Into<String>) {
        self.note_with(actor, text, None);
    }

    pub(super) fn note_with(
        &mut self,
        actor: Actor,
        text: impl Into<String>,
        rationale: Option<String>,
    ) {
        self.state.log.push(LogEntry {
            at_ms: self.state.now_ms,
            round: self.state.round,
            actor,
            text: text.into(),
            rationale: rationale.filter(|r| !r.trim().is_empty()),
        });
    }

    pub(super) fn state_mut(&mut self) -> &mut AgentState {
        &mut self.state
    }
}

fn step_name(step: StepKind) -> &'static str {
    match step {
        StepKind::Hypothesise => "hypothesise",
        StepKind::Design => "design",
        StepKind::Update => "update",
        StepKind::Review => "review",
        StepKind::Conclude => "conclude",
    }
}

/// Adds one call's usage to a running total; cost stays `None` only while
/// no call reported one.
pub fn add_usage(total: &mut Usage, call: &Usage) {
    total.add_tokens(call);
    total.cost_usd = match (total.cost_usd, call.cost_usd) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(0.0) + b.unwrap_or(0.0)),
    };
}
