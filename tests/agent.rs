//! The SAGE agent driven end to end with scripted reasoners and a synthetic
//! feature: every path of the state machine, the LLM reasoner over a fake
//! client, a property test over random researcher actions, and a check that
//! the agent stays free of I/O.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use proptest::prelude::*;
use sage::activation::{ActivationRecord, Exemplar, FeatureExemplars, QuantileBand};
use sage::agent::{
    Agent, AgentConfig, Conclusion, ConclusionDraft, Decision, Effect, Event, ExperimentDraft,
    ExperimentId, ExperimentKind, ExperimentStatus, GateMode, HypothesisDraft, HypothesisId,
    HypothesisStatus, Phase, Prediction, ReasonRequest, ReasonerReply, ReviewOutcome, StopReason,
    Target, UserAction, Verdict,
};
use sage::llm::{LlmClient, LlmError, LlmReply, LlmRequest, Usage};
use sage::reasoner::{LlmReasoner, Reasoner, ReasonerError};
use serde_json::{Value, json};

// ---------------------------------------------------------------------------
// A synthetic feature: fires 8.0 on month names, 1.0 (below threshold) on seasons.

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// Splits text into word tokens carrying their leading space, and single
/// punctuation tokens, the way a BPE tokenizer roughly would.
fn tokenize(text: &str) -> Vec<String> {
    let mut tokens: Vec<String> = Vec::new();
    let mut current = String::new();
    for c in text.chars() {
        let word_char = c.is_alphanumeric();
        let continues = word_char && current.chars().last().is_some_and(|l| l.is_alphanumeric());
        let after_space = word_char && current == " ";
        if continues || after_space {
            current.push(c);
            continue;
        }
        if !current.is_empty() {
            tokens.push(std::mem::take(&mut current));
        }
        current.push(c);
    }
    if !current.is_empty() {
        tokens.push(current);
    }
    tokens
}

fn activation(token: &str) -> f32 {
    let word = token.trim();
    if MONTHS.contains(&word) {
        8.0
    } else if ["spring", "summer", "autumn", "winter"].contains(&word) {
        1.0
    } else {
        0.0
    }
}

fn record(text: &str) -> ActivationRecord {
    let tokens = tokenize(text);
    let values: Vec<f32> = tokens.iter().map(|t| activation(t)).collect();
    let info = sage::activation::SourceInfo {
        model: "synthetic".into(),
        sae: "months".into(),
        hook: "blocks.0.hook_resid_pre".into(),
        n_features: 1,
    };
    let ids = (0..tokens.len() as u32).collect();
    ActivationRecord::new(&info, 7, tokens, ids, values)
}

fn exemplar(text: &str) -> Exemplar {
    Exemplar {
        record: record(text),
        origin: Some("synthetic".into()),
        offset: None,
    }
}

fn exemplars() -> FeatureExemplars {
    let top = (0..20)
        .map(|i| {
            exemplar(&format!(
                "Report {i} was filed in {} last year.",
                MONTHS[i % 12]
            ))
        })
        .collect();
    let quantiles = vec![QuantileBand {
        min_value: 0.0,
        max_value: 8.0,
        examples: (0..12)
            .map(|i| {
                exemplar(&format!(
                    "Note {i}: {} came early in spring.",
                    MONTHS[(i + 3) % 12]
                ))
            })
            .collect(),
    }];
    FeatureExemplars {
        feature: 7,
        top,
        quantiles,
        non_activating: vec![exemplar("The cat sat on the mat.")],
        density: Some(0.01),
        max_activation: 8.0,
    }
}

// ---------------------------------------------------------------------------
// Scripted reasoners.

type Script = Box<dyn FnMut(&ReasonRequest) -> Result<(ReasonerReply, Usage), String> + Send>;

/// What every scripted (non-LLM) reasoner call costs: 150 tokens, $0.001.
const CALL_USAGE: Usage = Usage {
    prompt_tokens: 100,
    cached_tokens: 0,
    completion_tokens: 50,
    cost_usd: Some(0.001),
};

/// A script from a reply function, each call costing [`CALL_USAGE`].
fn scripted(
    mut reply: impl FnMut(&ReasonRequest) -> Result<ReasonerReply, String> + Send + 'static,
) -> Script {
    Box::new(move |req| reply(req).map(|r| (r, CALL_USAGE)))
}

fn draft(h: HypothesisId, text: &str, firing: &[&str], kind: ExperimentKind) -> ExperimentDraft {
    ExperimentDraft {
        hypothesis: h,
        text: text.into(),
        prediction: predict(firing),
        kind,
        rationale: "scripted".into(),
    }
}

/// A competent scripted reasoner: two rival hypotheses, a positive test and a
/// control for each, verdicts read off the scores.
fn month_reply(req: &ReasonRequest) -> ReasonerReply {
    match req {
        ReasonRequest::Hypothesise { .. } => ReasonerReply::HypothesisDrafts(vec![
            HypothesisDraft {
                description: "month names".into(),
                evidence: "every top example has a month".into(),
                prediction: "fires on month names only".into(),
                rule: Some(serde_json::json!({"tokens": MONTHS})),
            },
            HypothesisDraft {
                description: "capitalised words".into(),
                evidence: "months are capitalised".into(),
                prediction: "fires on any capitalised word".into(),
                rule: None,
            },
        ]),
        ReasonRequest::Design {
            context, targets, ..
        } => ReasonerReply::ExperimentDrafts(
            targets
                .iter()
                .flat_map(|&h| {
                    let months = context
                        .hypothesis(h)
                        .is_some_and(|x| x.description.contains("month"));
                    if months {
                        vec![
                            draft(h, "We met in April.", &["April"], ExperimentKind::Positive),
                            draft(h, "We met in Paris.", &[], ExperimentKind::Control),
                        ]
                    } else {
                        vec![
                            draft(h, "We met in Paris.", &["Paris"], ExperimentKind::Positive),
                            draft(
                                h,
                                "Alice saw Bob.",
                                &["Alice", "Bob"],
                                ExperimentKind::Positive,
                            ),
                        ]
                    }
                })
                .collect(),
        ),
        ReasonRequest::Update { context, targets } => ReasonerReply::Verdicts(
            targets
                .iter()
                .map(|&h| {
                    let tests: Vec<_> = context
                        .experiments_of(h)
                        .filter(|e| e.score.is_some())
                        .collect();
                    let all_pass = tests
                        .iter()
                        .all(|e| e.score.as_ref().is_some_and(|s| s.passed));
                    Verdict {
                        hypothesis: h,
                        decision: if all_pass {
                            Decision::Confirm
                        } else {
                            Decision::Refute
                        },
                        cites: tests.iter().map(|e| e.id).collect(),
                        confidence: if all_pass { 0.9 } else { 0.8 },
                        rationale: "read off the scores".into(),
                    }
                })
                .collect(),
        ),
        ReasonRequest::Review { .. } => ReasonerReply::ReviewOutcome(ReviewOutcome {
            more_tests: Vec::new(),
            rationale: "enough".into(),
        }),
        ReasonRequest::Conclude { context, .. } => {
            let best = context
                .hypotheses
                .iter()
                .find(|h| h.status == HypothesisStatus::Confirmed)
                .or(context.hypotheses.first());
            ReasonerReply::ConclusionDraft(ConclusionDraft {
                label: best.map_or("unknown".into(), |h| h.description.clone()),
                description: "Fires on the names of months.".into(),
                does_not_fire_on: vec!["city names".into()],
                evidence: best.map_or(Vec::new(), |h| h.decided_by.clone()),
                hypothesis: best.map(|h| h.id),
                confidence: 0.9,
                rule: best.and_then(|h| h.rule.clone()),
            })
        }
    }
}

fn predict(firing: &[&str]) -> Prediction {
    Prediction {
        firing: firing.iter().map(|s| s.to_string()).collect(),
        strength: None,
    }
}

fn good_script() -> Script {
    scripted(|req| Ok(month_reply(req)))
}

// ---------------------------------------------------------------------------
// The harness: steps the agent to idle, answering effects from the scripts.

struct Harness {
    agent: Agent,
    now: u64,
    script: Script,
    queue: VecDeque<Effect>,
    events: Vec<Event>,
    requests: Vec<ReasonRequest>,
    runs: Vec<Vec<String>>,
    approvals: Vec<Target>,
    concluded: Vec<Conclusion>,
}

impl Harness {
    fn new(config: AgentConfig, script: Script) -> Harness {
        let mut h = Harness {
            agent: Agent::new(),
            now: 1_000,
            script,
            queue: VecDeque::new(),
            events: Vec::new(),
            requests: Vec::new(),
            runs: Vec::new(),
            approvals: Vec::new(),
            concluded: Vec::new(),
        };
        h.feed(Event::Start {
            feature: 7,
            config,
            seed: 42,
            at_ms: 1_000,
        });
        h
    }

    fn feed(&mut self, event: Event) {
        self.now += 10;
        self.events.push(event.clone());
        let effects = self.agent.handle(event);
        self.queue.extend(effects);
    }

    fn approve(&mut self, target: Target) {
        self.user(UserAction::Approve { target });
    }

    /// Approves the first two hypotheses and lets the agent run on.
    fn approve_both_hypotheses(&mut self) {
        for id in [1, 2] {
            self.approve(Target::Hypothesis(HypothesisId(id)));
        }
        self.run_to_idle();
    }

    fn user(&mut self, action: UserAction) {
        let at_ms = self.now + 10;
        self.feed(Event::User { action, at_ms });
    }

    /// Answers the oldest queued effect; returns false when the queue is empty.
    fn step(&mut self) -> bool {
        self.deliver(0, false)
    }

    /// Answers queued effect `index` (modulo the queue length), with a
    /// failure instead of a result when `fail` is set.
    fn deliver(&mut self, index: usize, fail: bool) -> bool {
        if self.queue.is_empty() {
            return false;
        }
        let Some(effect) = self.queue.remove(index % self.queue.len()) else {
            return false;
        };
        let at_ms = self.now + 10;
        let error = "scripted failure".to_string();
        match effect {
            Effect::FetchExemplars { .. } if fail => {
                self.feed(Event::ExemplarsFailed { error, at_ms })
            }
            Effect::FetchExemplars { .. } => self.feed(Event::ExemplarsArrived {
                exemplars: exemplars(),
                at_ms,
            }),
            Effect::Reason { request, step } => {
                self.requests.push((*step).clone());
                let answer = if fail {
                    Err(error)
                } else {
                    (self.script)(&step)
                };
                let event = match answer {
                    Ok((reply, usage)) => Event::ReasonerReplied {
                        request,
                        reply,
                        usage,
                        at_ms,
                    },
                    Err(error) => Event::ReasonerFailed {
                        request,
                        error,
                        usage: Usage::default(),
                        at_ms,
                    },
                };
                self.feed(event);
            }
            Effect::RunTexts { request, .. } if fail => self.feed(Event::ActivationsFailed {
                request,
                error,
                at_ms,
            }),
            Effect::RunTexts { request, texts, .. } => {
                let records = texts.iter().map(|t| record(t)).collect();
                self.runs.push(texts);
                self.feed(Event::ActivationsArrived {
                    request,
                    records,
                    at_ms,
                });
            }
            Effect::AwaitApproval { target } => self.approvals.push(target),
            Effect::Concluded { conclusion } => self.concluded.push(conclusion),
        }
        true
    }

    fn run_to_idle(&mut self) {
        for _ in 0..10_000 {
            if !self.step() {
                return;
            }
        }
        panic!("the agent never went idle");
    }

    fn state(&self) -> &sage::agent::AgentState {
        self.agent.state()
    }

    fn status(&self, id: u32) -> HypothesisStatus {
        self.state()
            .hypothesis(HypothesisId(id))
            .unwrap()
            .status
            .clone()
    }

    fn conclusion(&self) -> &Conclusion {
        assert_eq!(self.concluded.len(), 1, "exactly one Concluded effect");
        &self.concluded[0]
    }

    /// A fresh agent fed every event after a trip through JSON, as a
    /// session log would store them.
    fn replayed(&self) -> Agent {
        let mut fresh = Agent::new();
        for e in &self.events {
            let line = serde_json::to_string(e).unwrap();
            let _ = fresh.handle(serde_json::from_str(&line).unwrap());
        }
        fresh
    }
}

fn config() -> AgentConfig {
    AgentConfig::default()
}

fn run(config: AgentConfig, script: Script) -> Harness {
    let mut h = Harness::new(config, script);
    h.run_to_idle();
    h
}

// ---------------------------------------------------------------------------
// The main path.

#[test]
fn good_reasoner_confirms_the_true_rule_and_refutes_the_rival() {
    let h = run(config(), good_script());
    assert_eq!(h.status(1), HypothesisStatus::Confirmed);
    assert_eq!(h.status(2), HypothesisStatus::Refuted);
    let h1 = h.state().hypothesis(HypothesisId(1)).unwrap();
    assert_eq!(h1.decided_by, vec![ExperimentId(1), ExperimentId(2)]);
    let c = h.conclusion();
    assert_eq!(c.label, "month names");
    assert_eq!(c.stop_reason, StopReason::Converged);
    assert_eq!(c.hypothesis, Some(HypothesisId(1)));
    assert!(c.rule.is_some());
    assert_eq!(h.state().phase, Phase::Done);
    assert_eq!(h.state().round, 1);
    let steps: Vec<&str> = h.requests.iter().map(|r| r.name()).collect();
    assert_eq!(
        steps,
        ["hypothesise", "design", "update", "review", "conclude"]
    );
    assert_eq!(h.state().total_tokens(), 5 * 150);
}

#[test]
fn experiments_are_scored_before_the_update_step_reads_them() {
    let h = run(config(), good_script());
    let update = h.requests.iter().find(|r| r.name() == "update").unwrap();
    let ctx = update.context();
    assert_eq!(ctx.experiments.len(), 4);
    for e in &ctx.experiments {
        let score = e.score.as_ref().expect("scored before update");
        assert_eq!(e.status, ExperimentStatus::Done);
        let expect_pass = e.hypothesis == HypothesisId(1);
        assert_eq!(score.passed, expect_pass, "{}: {:?}", e.text, score);
    }
    // E1 "We met in April." predicted April: tokens We, met, in, April, .
    let e1 = &ctx.experiments[0];
    assert_eq!(e1.score.as_ref().unwrap().predicted, vec![3]);
    assert_eq!(e1.score.as_ref().unwrap().observed, vec![3]);
}

#[test]
fn replaying_the_events_rebuilds_an_identical_state_that_survives_json() {
    let h = run(config(), good_script());
    assert_eq!(&h.replayed(), &h.agent);
    let json = serde_json::to_string(h.state()).unwrap();
    let back: sage::agent::AgentState = serde_json::from_str(&json).unwrap();
    assert_eq!(&back, h.state());
    for e in &h.events {
        let line = serde_json::to_string(e).unwrap();
        assert_eq!(&serde_json::from_str::<Event>(&line).unwrap(), e);
    }
}

#[test]
fn held_out_exemplars_never_reach_the_reasoner() {
    let h = run(config(), good_script());
    let held = &h.state().holdout.as_ref().unwrap().examples;
    assert_eq!(held.len(), 10);
    let held_texts: Vec<String> = held.iter().map(|e| e.record.tokens.concat()).collect();
    assert!(!h.requests.is_empty());
    for req in &h.requests {
        let ex = &req.context().exemplars;
        let seen: Vec<String> = ex
            .top
            .iter()
            .chain(ex.quantiles.iter().flat_map(|q| &q.examples))
            .chain(&ex.non_activating)
            .map(|e| e.record.tokens.concat())
            .collect();
        assert_eq!(seen.len(), 20 + 12 + 1 - 10);
        for t in &held_texts {
            assert!(
                !seen.contains(t),
                "{t} leaked into the {} context",
                req.name()
            );
        }
    }
}

// ---------------------------------------------------------------------------
// Reasoner failures and malformed replies.

#[test]
fn a_wrong_reply_kind_is_retried_once_then_the_run_continues() {
    let mut first = true;
    let script: Script = scripted(move |req| {
        if req.name() == "design" && first {
            first = false;
            return Ok(ReasonerReply::Verdicts(Vec::new()));
        }
        Ok(month_reply(req))
    });
    let h = run(config(), script);
    assert_eq!(h.state().reasoner_failures, 1);
    let designs = h.requests.iter().filter(|r| r.name() == "design").count();
    assert_eq!(designs, 2);
    assert_eq!(h.conclusion().stop_reason, StopReason::Converged);
    assert!(h.state().log.iter().any(|l| l.text.contains("retrying")));
}

#[test]
fn a_reasoner_failing_twice_ends_the_run_without_inventing_verdicts() {
    let script: Script = scripted(|req| {
        if req.name() == "update" {
            Err("HTTP 500: upstream down".into())
        } else {
            Ok(month_reply(req))
        }
    });
    let h = run(config(), script);
    let c = h.conclusion();
    assert_eq!(c.stop_reason, StopReason::ReasonerFailed);
    // Nothing was confirmed or refuted: the machine only reports what it has.
    assert_eq!(h.status(1), HypothesisStatus::Testing);
    assert_eq!(h.status(2), HypothesisStatus::Testing);
    // The best-scoring open hypothesis is reported, with halved mean F1 as confidence.
    assert_eq!(c.hypothesis, Some(HypothesisId(1)));
    assert_eq!(c.confidence, 0.5);
    assert_eq!(c.does_not_fire_on, vec!["We met in Paris.".to_string()]);
    assert_eq!(
        h.requests.iter().filter(|r| r.name() == "update").count(),
        2
    );
    assert!(h.requests.iter().all(|r| r.name() != "conclude"));
}

#[test]
fn a_failure_before_any_test_concludes_with_no_explanation() {
    let h = run(config(), scripted(|_| Err("no key".into())));
    let c = h.conclusion();
    assert_eq!(c.stop_reason, StopReason::ReasonerFailed);
    assert_eq!(c.label, "no tested explanation");
    assert_eq!(c.confidence, 0.0);
    assert!(h.state().hypotheses.is_empty());
}

#[test]
fn unusable_drafts_are_dropped_and_logged() {
    let script: Script = scripted(|req| match req {
        ReasonRequest::Design { .. } => Ok(ReasonerReply::ExperimentDrafts(vec![
            draft(
                HypothesisId(9),
                "We met in May.",
                &["May"],
                ExperimentKind::Positive,
            ),
            draft(
                HypothesisId(1),
                "We met in May.",
                &["June"],
                ExperimentKind::Positive,
            ),
            draft(HypothesisId(1), "  ", &[], ExperimentKind::Control),
            draft(
                HypothesisId(1),
                "We met in May.",
                &["May"],
                ExperimentKind::Positive,
            ),
        ])),
        _ => Ok(month_reply(req)),
    });
    let mut cfg = config();
    cfg.max_rounds = 1;
    let h = run(cfg, script);
    assert_eq!(h.runs[0], vec!["We met in May.".to_string()]);
    let dropped: Vec<_> = h
        .state()
        .log
        .iter()
        .filter(|l| l.text.starts_with("dropped"))
        .collect();
    assert_eq!(dropped.len(), 3);
    assert!(dropped[0].text.contains("H9 does not exist"));
    assert!(dropped[1].text.contains("\"June\" does not occur"));
}

#[test]
fn a_confirmation_resting_on_one_test_is_not_accepted() {
    let script: Script = scripted(|req| match req {
        ReasonRequest::Update { targets, .. } => Ok(ReasonerReply::Verdicts(
            targets
                .iter()
                .map(|&h| Verdict {
                    hypothesis: h,
                    decision: Decision::Confirm,
                    cites: vec![ExperimentId(1)],
                    confidence: 1.0,
                    rationale: "one test is plenty".into(),
                })
                .collect(),
        )),
        _ => Ok(month_reply(req)),
    });
    let mut cfg = config();
    cfg.max_rounds = 1;
    let h = run(cfg, script);
    assert_eq!(h.status(1), HypothesisStatus::Testing);
    assert_eq!(h.status(2), HypothesisStatus::Testing);
    assert!(
        h.state()
            .log
            .iter()
            .any(|l| l.text.contains("did not accept the verdict Confirm on H1"))
    );
    assert_eq!(h.conclusion().stop_reason, StopReason::MaxRounds);
}

#[test]
fn a_failed_positive_next_to_a_passing_control_is_enough_to_refute() {
    let script: Script = scripted(|req| match req {
        ReasonRequest::Design { targets, .. } => Ok(ReasonerReply::ExperimentDrafts(
            targets
                .iter()
                .flat_map(|&h| {
                    vec![
                        draft(h, "Paris is big.", &["Paris"], ExperimentKind::Positive),
                        draft(h, "it is big.", &[], ExperimentKind::Control),
                    ]
                })
                .collect(),
        )),
        ReasonRequest::Update { targets, context } => Ok(ReasonerReply::Verdicts(
            targets
                .iter()
                .map(|&h| Verdict {
                    hypothesis: h,
                    decision: Decision::Refute,
                    cites: context.experiments_of(h).map(|e| e.id).collect(),
                    confidence: 0.7,
                    rationale: "Paris is silent".into(),
                })
                .collect(),
        )),
        _ => Ok(month_reply(req)),
    });
    let h = run(config(), script);
    assert_eq!(h.status(2), HypothesisStatus::Refuted);
    assert_eq!(
        h.state()
            .hypothesis(HypothesisId(2))
            .unwrap()
            .decided_by
            .len(),
        2
    );
}

#[test]
fn a_refinement_creates_a_new_version_with_lineage() {
    let mut refined = false;
    let script: Script = scripted(move |req| match req {
        ReasonRequest::Update { targets, context } if !refined => {
            refined = true;
            Ok(ReasonerReply::Verdicts(
                targets
                    .iter()
                    .map(|&h| Verdict {
                        hypothesis: h,
                        decision: if h == HypothesisId(2) {
                            Decision::Refine {
                                description: "month names, capitalised".into(),
                                prediction: "fires on capitalised month names".into(),
                                rule: None,
                            }
                        } else {
                            Decision::Uncertain
                        },
                        cites: context.experiments_of(h).map(|e| e.id).collect(),
                        confidence: 0.6,
                        rationale: "Paris did not fire".into(),
                    })
                    .collect(),
            ))
        }
        _ => Ok(month_reply(req)),
    });
    let h = run(config(), script);
    assert_eq!(h.status(2), HypothesisStatus::Refined);
    let h3 = h.state().hypothesis(HypothesisId(3)).unwrap();
    assert_eq!(h3.parent, Some(HypothesisId(2)));
    assert_eq!(h3.version, 2);
    assert_eq!(h3.description, "month names, capitalised");
    // The new version was designed for and tested in round 2.
    let round2 = h
        .requests
        .iter()
        .filter(|r| r.name() == "design")
        .nth(1)
        .unwrap();
    match round2 {
        ReasonRequest::Design { targets, .. } => {
            assert_eq!(targets, &vec![HypothesisId(1), HypothesisId(3)])
        }
        _ => unreachable!(),
    }
    assert_eq!(h.status(3), HypothesisStatus::Confirmed);
}

// ---------------------------------------------------------------------------
// The researcher: gates, approvals, rejections, edits, additions, pause.

fn gated(mode: GateMode) -> AgentConfig {
    AgentConfig {
        gate: mode,
        ..config()
    }
}

#[test]
fn auto_gate_never_waits() {
    let h = run(config(), good_script());
    assert!(h.approvals.is_empty());
}

#[test]
fn review_gate_holds_hypotheses_and_the_conclusion_but_not_experiments() {
    let mut h = run(gated(GateMode::Review), good_script());
    assert_eq!(
        h.approvals,
        vec![
            Target::Hypothesis(HypothesisId(1)),
            Target::Hypothesis(HypothesisId(2))
        ]
    );
    assert!(
        h.state().experiments.is_empty(),
        "nothing designed before approval"
    );
    h.approve(Target::Hypothesis(HypothesisId(1)));
    h.run_to_idle();
    assert!(h.state().experiments.is_empty(), "still waiting for H2");
    h.approve(Target::Hypothesis(HypothesisId(2)));
    h.run_to_idle();
    assert_eq!(h.approvals.last(), Some(&Target::Conclusion));
    assert!(h.concluded.is_empty());
    assert!(h.state().pending_conclusion.is_some());
    assert_eq!(h.state().experiments.len(), 4);
    h.approve(Target::Conclusion);
    h.run_to_idle();
    assert_eq!(h.conclusion().label, "month names");
}

#[test]
fn step_gate_holds_every_experiment_and_switching_to_auto_releases_all() {
    let mut h = run(gated(GateMode::Step), good_script());
    h.approve_both_hypotheses();
    let waiting: Vec<Target> = (1..=4)
        .map(|i| Target::Experiment(ExperimentId(i)))
        .collect();
    assert_eq!(h.approvals[2..], waiting[..]);
    assert!(h.runs.is_empty());
    h.approve(Target::Experiment(ExperimentId(1)));
    h.run_to_idle();
    assert!(h.runs.is_empty(), "one approval of four runs nothing yet");
    h.user(UserAction::SetGate {
        mode: GateMode::Auto,
    });
    h.run_to_idle();
    assert_eq!(h.runs.len(), 1);
    assert_eq!(h.runs[0].len(), 4);
    assert_eq!(h.conclusion().stop_reason, StopReason::Converged);
}

#[test]
fn a_rejected_hypothesis_reason_reaches_the_next_context() {
    let mut h = run(gated(GateMode::Review), good_script());
    h.user(UserAction::Reject {
        target: Target::Hypothesis(HypothesisId(2)),
        reason: "too broad: every sentence has capitals".into(),
    });
    h.approve(Target::Hypothesis(HypothesisId(1)));
    h.run_to_idle();
    assert_eq!(
        h.status(2),
        HypothesisStatus::Rejected {
            reason: "too broad: every sentence has capitals".into()
        }
    );
    let design = h.requests.iter().find(|r| r.name() == "design").unwrap();
    let ReasonRequest::Design {
        context, targets, ..
    } = design
    else {
        unreachable!()
    };
    assert_eq!(targets, &vec![HypothesisId(1)]);
    assert_eq!(context.feedback.len(), 1);
    assert_eq!(
        context.feedback[0].reason,
        "too broad: every sentence has capitals"
    );
    assert!(context.feedback[0].about.contains("capitalised words"));
}

#[test]
fn rejecting_every_hypothesis_asks_for_new_ones_with_the_reasons() {
    let mut h = run(gated(GateMode::Review), good_script());
    for id in [1, 2] {
        h.user(UserAction::Reject {
            target: Target::Hypothesis(HypothesisId(id)),
            reason: format!("no {id}"),
        });
    }
    h.run_to_idle();
    let second = h
        .requests
        .iter()
        .filter(|r| r.name() == "hypothesise")
        .nth(1)
        .unwrap();
    assert_eq!(second.context().feedback.len(), 2);
    assert_eq!(h.state().hypotheses.len(), 4);
    assert_eq!(h.status(3), HypothesisStatus::Proposed);
}

#[test]
fn an_edited_experiment_runs_the_edited_text() {
    let mut h = run(gated(GateMode::Step), good_script());
    h.approve_both_hypotheses();
    h.user(UserAction::EditExperiment {
        id: ExperimentId(1),
        text: "Due on 3 June.".into(),
        prediction: predict(&["June"]),
    });
    for i in 1..=4 {
        h.approve(Target::Experiment(ExperimentId(i)));
    }
    h.run_to_idle();
    assert_eq!(h.runs[0][0], "Due on 3 June.");
    assert!(!h.runs.concat().contains(&"We met in April.".to_string()));
    let e1 = h.state().experiment(ExperimentId(1)).unwrap();
    assert_eq!(
        e1.result.as_ref().unwrap().tokens,
        vec!["Due", " on", " 3", " June", "."]
    );
    assert_eq!(e1.score.as_ref().unwrap().f1, 1.0);
    assert!(h.state().log.iter().any(|l| l.text.contains("edited E1")));
}

#[test]
fn an_edit_that_predicts_text_not_in_the_experiment_is_refused() {
    let mut h = run(gated(GateMode::Step), good_script());
    h.approve_both_hypotheses();
    h.user(UserAction::EditExperiment {
        id: ExperimentId(1),
        text: "Due soon.".into(),
        prediction: predict(&["June"]),
    });
    assert_eq!(
        h.state().experiment(ExperimentId(1)).unwrap().text,
        "We met in April."
    );
}

#[test]
fn researcher_hypotheses_and_experiments_are_tested() {
    let mut h = Harness::new(config(), good_script());
    h.user(UserAction::Pause);
    h.step();
    h.user(UserAction::Resume);
    h.user(UserAction::Pause);
    h.step();
    assert!(h.queue.is_empty());
    // Paused after the hypotheses arrived: add our own and an experiment for it.
    assert_eq!(h.state().hypotheses.len(), 2);
    h.user(UserAction::AddHypothesis {
        description: "month names in dates".into(),
        prediction: "fires on months next to digits".into(),
    });
    h.user(UserAction::AddExperiment {
        hypothesis: HypothesisId(3),
        text: "Due 3 May 2027.".into(),
        prediction: predict(&["May"]),
        kind: ExperimentKind::Positive,
    });
    h.user(UserAction::Resume);
    h.run_to_idle();
    let h3 = h.state().hypothesis(HypothesisId(3)).unwrap();
    assert_eq!(h3.origin, sage::agent::Actor::Researcher);
    let e1 = h.state().experiment(ExperimentId(1)).unwrap();
    assert_eq!(e1.origin, sage::agent::Actor::Researcher);
    assert_eq!(e1.status, ExperimentStatus::Done);
    assert_eq!(h.runs[0], vec!["Due 3 May 2027.".to_string()]);
    let design = h.requests.iter().find(|r| r.name() == "design").unwrap();
    let ReasonRequest::Design { targets, .. } = design else {
        unreachable!()
    };
    assert_eq!(targets.len(), 3);
    assert_eq!(h.status(3), HypothesisStatus::Confirmed);
}

#[test]
fn pause_records_results_but_issues_nothing_until_resume() {
    let mut h = Harness::new(config(), good_script());
    assert!(matches!(h.queue[0], Effect::FetchExemplars { .. }));
    h.user(UserAction::Pause);
    h.step();
    assert!(h.queue.is_empty(), "no new work while paused");
    assert!(
        h.state().exemplars.is_some(),
        "the result was still recorded"
    );
    h.user(UserAction::Resume);
    assert!(matches!(&h.queue[0], Effect::Reason { step, .. } if step.name() == "hypothesise"));
    h.run_to_idle();
    assert_eq!(h.conclusion().stop_reason, StopReason::Converged);
}

#[test]
fn conclude_now_stops_the_loop_and_says_who_stopped_it() {
    let mut h = Harness::new(config(), good_script());
    while h.state().hypotheses.is_empty() {
        h.step();
    }
    h.user(UserAction::ConcludeNow);
    h.run_to_idle();
    let c = h.conclusion();
    assert_eq!(c.stop_reason, StopReason::ResearcherConcluded);
    assert!(h.runs.is_empty());
    let last = h.requests.last().unwrap();
    assert!(matches!(
        last,
        ReasonRequest::Conclude {
            stop_reason: StopReason::ResearcherConcluded,
            ..
        }
    ));
    assert!(h.state().log.iter().any(|l| l.text.contains("stale reply")));
}

#[test]
fn rejecting_the_conclusion_asks_again_with_the_reason() {
    let mut h = run(gated(GateMode::Review), good_script());
    h.approve_both_hypotheses();
    h.user(UserAction::Reject {
        target: Target::Conclusion,
        reason: "say which months".into(),
    });
    h.run_to_idle();
    let concludes: Vec<_> = h
        .requests
        .iter()
        .filter(|r| r.name() == "conclude")
        .collect();
    assert_eq!(concludes.len(), 2);
    assert_eq!(
        concludes[1].context().feedback[0].reason,
        "say which months"
    );
    h.approve(Target::Conclusion);
    assert_eq!(h.agent.state().phase, Phase::Done);
}

#[test]
fn editing_a_tested_hypothesis_makes_a_new_version() {
    let mut h = Harness::new(config(), good_script());
    while h.state().experiments.iter().all(|e| e.result.is_none()) {
        h.step();
    }
    h.user(UserAction::EditHypothesis {
        id: HypothesisId(1),
        description: Some("month names and their abbreviations".into()),
        prediction: None,
    });
    assert_eq!(h.status(1), HypothesisStatus::Refined);
    let h3 = h.state().hypothesis(HypothesisId(3)).unwrap();
    assert_eq!((h3.parent, h3.version), (Some(HypothesisId(1)), 2));
    assert_eq!(h3.origin, sage::agent::Actor::Researcher);
}

// ---------------------------------------------------------------------------
// Budgets that actually stop it.

/// A reasoner that never makes up its mind, so only budgets can stop the loop.
fn undecided_script() -> Script {
    scripted(|req| match req {
        ReasonRequest::Update { targets, .. } => Ok(ReasonerReply::Verdicts(
            targets
                .iter()
                .map(|&h| Verdict {
                    hypothesis: h,
                    decision: Decision::Uncertain,
                    cites: Vec::new(),
                    confidence: 0.5,
                    rationale: "cannot tell".into(),
                })
                .collect(),
        )),
        _ => Ok(month_reply(req)),
    })
}

#[test]
fn max_rounds_stops_the_loop() {
    let mut cfg = config();
    cfg.max_rounds = 3;
    let h = run(cfg, undecided_script());
    assert_eq!(h.state().round, 3);
    assert_eq!(
        h.requests.iter().filter(|r| r.name() == "design").count(),
        3
    );
    assert_eq!(h.conclusion().stop_reason, StopReason::MaxRounds);
}

#[test]
fn tests_per_hypothesis_budget_stops_the_loop() {
    let mut cfg = config();
    cfg.max_tests_per_hypothesis = 4;
    let h = run(cfg, undecided_script());
    assert_eq!(h.state().round, 2);
    for id in [1, 2] {
        assert_eq!(h.state().tests_used(HypothesisId(id)), 4);
    }
    assert_eq!(h.conclusion().stop_reason, StopReason::TestBudget);
}

#[test]
fn review_rounds_are_bounded() {
    let script: Script = scripted(|req| match req {
        ReasonRequest::Review { context, .. } => Ok(ReasonerReply::ReviewOutcome(ReviewOutcome {
            more_tests: vec![draft(
                context.hypotheses[0].id,
                "Born in October.",
                &["October"],
                ExperimentKind::Positive,
            )],
            rationale: "one more, always".into(),
        })),
        _ => Ok(month_reply(req)),
    });
    let mut cfg = config();
    cfg.max_review_rounds = 2;
    let h = run(cfg, script);
    assert_eq!(
        h.requests.iter().filter(|r| r.name() == "review").count(),
        2
    );
    assert_eq!(h.state().review_round, 2);
    assert_eq!(h.runs.len(), 3);
    assert_eq!(h.conclusion().stop_reason, StopReason::Converged);
}

#[test]
fn token_budget_stops_without_another_reasoner_call() {
    let mut cfg = config();
    cfg.budgets.max_tokens = Some(400);
    let h = run(cfg, undecided_script());
    // 150 tokens per call: the third call crosses 400.
    assert_eq!(h.requests.len(), 3);
    let c = h.conclusion();
    assert_eq!(c.stop_reason, StopReason::TokenBudget);
    assert_eq!(h.state().total_tokens(), 450);
}

#[test]
fn cost_budget_stops_the_run() {
    let mut cfg = config();
    cfg.budgets.max_cost_usd = Some(0.0025);
    let h = run(cfg, undecided_script());
    assert_eq!(h.requests.len(), 3);
    assert_eq!(h.conclusion().stop_reason, StopReason::CostBudget);
}

#[test]
fn wall_time_budget_fires_on_a_tick_while_waiting() {
    let mut cfg = gated(GateMode::Review);
    cfg.budgets.max_wall_ms = Some(60_000);
    let mut h = run(cfg, good_script());
    assert!(h.concluded.is_empty(), "waiting for approval");
    h.feed(Event::Tick { at_ms: 30_000 });
    assert!(h.queue.is_empty());
    h.feed(Event::Tick { at_ms: 61_001 });
    h.run_to_idle();
    assert_eq!(h.conclusion().stop_reason, StopReason::WallTime);
}

#[test]
fn failed_exemplar_fetch_concludes_at_once() {
    let mut agent = Agent::new();
    let effects = agent.handle(Event::Start {
        feature: 3,
        config: config(),
        seed: 1,
        at_ms: 5,
    });
    assert_eq!(effects.len(), 1);
    let effects = agent.handle(Event::ExemplarsFailed {
        error: "HTTP 404".into(),
        at_ms: 6,
    });
    match &effects[..] {
        [Effect::Concluded { conclusion }] => {
            assert_eq!(conclusion.stop_reason, StopReason::ExemplarsFailed)
        }
        other => panic!("unexpected effects {other:?}"),
    }
    assert!(agent.handle(Event::Tick { at_ms: 7 }).is_empty());
}

#[test]
fn events_before_start_are_ignored() {
    let mut agent = Agent::new();
    let effects = agent.handle(Event::User {
        action: UserAction::ConcludeNow,
        at_ms: 1,
    });
    assert!(effects.is_empty());
    assert_eq!(agent.state().phase, Phase::NotStarted);
}

// ---------------------------------------------------------------------------
// The LLM reasoner over a scripted client.

type Answer = Box<dyn Fn(&str, usize) -> Result<Value, LlmError> + Send + Sync>;

/// An `LlmClient` answering from a script keyed by the schema title and how
/// many times that step was asked; it records every request.
struct ScriptedLlm {
    answer: Answer,
    seen: Mutex<Vec<LlmRequest>>,
}

#[async_trait::async_trait]
impl LlmClient for ScriptedLlm {
    fn spec(&self) -> &str {
        "scripted:test"
    }

    async fn complete(&self, request: &LlmRequest) -> Result<LlmReply, LlmError> {
        let title = request
            .schema
            .as_ref()
            .and_then(|s| s["title"].as_str())
            .unwrap_or("");
        let nth = {
            let mut seen = self.seen.lock().unwrap();
            let nth = seen
                .iter()
                .filter(|r| r.schema.as_ref().and_then(|s| s["title"].as_str()) == Some(title))
                .count();
            seen.push(request.clone());
            nth
        };
        let value = (self.answer)(title, nth)?;
        Ok(LlmReply {
            text: value.to_string(),
            json: Some(value),
            usage: Usage {
                prompt_tokens: 900,
                cached_tokens: 0,
                completion_tokens: 100,
                cost_usd: Some(0.01),
            },
            logprobs: None,
        })
    }
}

/// What a competent model would answer at each step of the month feature.
fn good_llm_answer(title: &str) -> Value {
    match title {
        "hypotheses" => json!({"hypotheses": [
            {"description": "month names", "evidence": "all top examples", "prediction": "months fire"},
            {"description": "capitalised words", "evidence": "months are capitalised", "prediction": "capitals fire"}
        ]}),
        "experiments" => json!({"experiments": [
            {"hypothesis": "H1", "text": "We met in April.", "firing": ["April"], "strength": "strong", "kind": "positive", "rationale": "a month"},
            {"hypothesis": "H1", "text": "We met in Paris.", "firing": [], "strength": null, "kind": "control", "rationale": "a city"},
            {"hypothesis": "H2", "text": "We met in Paris.", "firing": ["Paris"], "strength": null, "kind": "minimal_pair", "rationale": "capitalised city"},
            {"hypothesis": "H2", "text": "Alice saw Bob.", "firing": ["Alice", "Bob"], "strength": null, "kind": "positive", "rationale": "names"}
        ]}),
        "verdicts" => json!({"verdicts": [
            {"hypothesis": "H1", "decision": "confirm", "new_description": null, "new_prediction": null, "cites": ["E1", "E2"], "confidence": 0.9, "rationale": "both as predicted"},
            {"hypothesis": "H2", "decision": "refute", "new_description": null, "new_prediction": null, "cites": ["E3", "E4"], "confidence": 0.85, "rationale": "no capitals fired"}
        ]}),
        "review" => json!({"done": true, "more_tests": [], "rationale": "consistent"}),
        "conclusion" => {
            json!({"label": "Month names", "description": "Fires on month names.", "does_not_fire_on": ["city names"], "evidence": ["E1", "E2"], "hypothesis": "H1", "confidence": 0.9})
        }
        other => panic!("unexpected step {other}"),
    }
}

fn llm_harness(config: AgentConfig, answer: Answer) -> (Harness, Arc<ScriptedLlm>) {
    let llm = Arc::new(ScriptedLlm {
        answer,
        seen: Mutex::new(Vec::new()),
    });
    let reasoner = LlmReasoner::new(llm.clone());
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let script: Script =
        Box::new(move |req| rt.block_on(reasoner.reason(req)).map_err(|e| e.to_string()));
    (Harness::new(config, script), llm)
}

/// Runs an LLM-backed session to idle.
fn llm_run(config: AgentConfig, answer: Answer) -> (Harness, Arc<ScriptedLlm>) {
    let (mut h, llm) = llm_harness(config, answer);
    h.run_to_idle();
    (h, llm)
}

#[test]
fn llm_reasoner_runs_a_whole_session_from_json_replies() {
    let (h, llm) = llm_run(config(), Box::new(|title, _| Ok(good_llm_answer(title))));
    assert_eq!(h.status(1), HypothesisStatus::Confirmed);
    assert_eq!(h.status(2), HypothesisStatus::Refuted);
    let c = h.conclusion();
    assert_eq!(c.label, "Month names");
    assert_eq!(c.evidence, vec![ExperimentId(1), ExperimentId(2)]);
    assert_eq!(
        h.state().experiment(ExperimentId(3)).unwrap().kind,
        ExperimentKind::MinimalPair
    );
    let seen = llm.seen.lock().unwrap();
    assert_eq!(seen.len(), 5);
    let held: Vec<String> = h
        .state()
        .holdout
        .as_ref()
        .unwrap()
        .examples
        .iter()
        .map(|e| e.record.tokens.concat())
        .collect();
    for req in seen.iter() {
        // Three messages every time: cost per step does not grow with the
        // session, and the two system messages are one unchanging prefix.
        assert_eq!(req.messages.len(), 3);
        assert_eq!(req.messages[0].content, sage::reasoner::prompt::SYSTEM);
        assert_eq!(req.messages[1].content, seen[0].messages[1].content);
        for t in &held {
            for message in &req.messages {
                assert!(
                    !message.content.contains(t.as_str()),
                    "held-out {t} in a prompt"
                );
            }
        }
    }
    assert!(seen[0].messages[1].content.contains("« May»(8.0)"));
    let update = &seen[2].messages[2].content;
    assert!(update.contains("E1 tests H1"));
    assert!(update.contains("F1 1.00 (as predicted)"));
    assert!(update.contains("F1 0.00 (not as predicted)"));
}

#[test]
fn llm_reasoner_malformed_reply_is_retried_by_the_agent() {
    let answer: Answer = Box::new(|title, nth| {
        if title == "verdicts" && nth == 0 {
            Ok(
                json!({"verdicts": [{"hypothesis": "H1", "decision": "confirm", "new_description": null,
                "new_prediction": null, "cites": ["E99"], "confidence": 0.9, "rationale": "?"}]}),
            )
        } else {
            Ok(good_llm_answer(title))
        }
    });
    let (h, llm) = llm_run(config(), answer);
    assert_eq!(h.state().reasoner_failures, 1);
    assert!(
        h.state()
            .log
            .iter()
            .any(|l| l.text.contains("E99, which does not exist"))
    );
    assert_eq!(h.status(1), HypothesisStatus::Confirmed);
    assert_eq!(llm.seen.lock().unwrap().len(), 6);
}

/// The requests of a scripted session, to feed the LLM reasoner directly.
fn sample_requests() -> Vec<ReasonRequest> {
    run(config(), good_script()).requests
}

fn ask(req: &ReasonRequest, answer: Value) -> Result<ReasonerReply, ReasonerError> {
    let llm = Arc::new(ScriptedLlm {
        answer: Box::new(move |_, _| Ok(answer.clone())),
        seen: Mutex::new(Vec::new()),
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(LlmReasoner::new(llm).reason(req))
        .map(|(r, _)| r)
}

fn find<'a>(reqs: &'a [ReasonRequest], name: &str) -> &'a ReasonRequest {
    reqs.iter().find(|r| r.name() == name).unwrap()
}

#[test]
fn llm_reasoner_rejects_unknown_ids_and_long_labels() {
    let reqs = sample_requests();
    let design = find(&reqs, "design");
    let err = ask(
        design,
        json!({"experiments": [{"hypothesis": "H7", "text": "x", "firing": [],
        "strength": null, "kind": "control", "rationale": ""}]}),
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("H7, which does not exist"),
        "{err}"
    );

    let conclude = find(&reqs, "conclude");
    let long = "one two three four five six seven eight nine";
    let err = ask(
        conclude,
        json!({"label": long, "description": "d", "does_not_fire_on": [],
        "evidence": [], "hypothesis": null, "confidence": 0.5}),
    )
    .unwrap_err();
    assert!(err.to_string().contains("9 words"), "{err}");

    let update = find(&reqs, "update");
    let err = ask(update, json!({"verdicts": [{"hypothesis": "H1", "decision": "refine",
        "new_description": null, "new_prediction": null, "cites": [], "confidence": 0.5, "rationale": ""}]}))
    .unwrap_err();
    assert!(
        err.to_string().contains("without a new description"),
        "{err}"
    );

    let err = ask(find(&reqs, "hypothesise"), json!({"hypotheses": []})).unwrap_err();
    assert!(matches!(
        err,
        ReasonerError::Malformed {
            step: "hypothesise",
            ..
        }
    ));
    let err = ask(find(&reqs, "review"), json!({"verdicts": []})).unwrap_err();
    assert!(matches!(
        err,
        ReasonerError::Malformed { step: "review", .. }
    ));
}

#[test]
fn llm_reasoner_parses_ids_in_the_forms_models_write() {
    let reqs = sample_requests();
    let reply = ask(find(&reqs, "update"), json!({"verdicts": [{"hypothesis": "h1", "decision": "uncertain",
        "new_description": null, "new_prediction": null, "cites": ["1", "E2"], "confidence": 1.7, "rationale": "r"}]}))
    .unwrap();
    match reply {
        ReasonerReply::Verdicts(v) => {
            assert_eq!(v[0].hypothesis, HypothesisId(1));
            assert_eq!(v[0].cites, vec![ExperimentId(1), ExperimentId(2)]);
            assert_eq!(v[0].confidence, 1.0);
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn llm_reasoner_reads_plain_text_json_and_passes_llm_errors_through() {
    struct TextOnly(&'static str);
    #[async_trait::async_trait]
    impl LlmClient for TextOnly {
        fn spec(&self) -> &str {
            "text:only"
        }
        async fn complete(&self, _: &LlmRequest) -> Result<LlmReply, LlmError> {
            if self.0.is_empty() {
                return Err(LlmError::Http {
                    status: 401,
                    body: "bad key".into(),
                });
            }
            Ok(LlmReply {
                text: self.0.into(),
                json: None,
                usage: Usage::default(),
                logprobs: None,
            })
        }
    }
    let reqs = sample_requests();
    let review = find(&reqs, "review");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let ok = rt.block_on(
        LlmReasoner::new(Arc::new(TextOnly(
            r#" {"done": true, "more_tests": [], "rationale": "ok"} "#,
        )))
        .reason(review),
    );
    assert!(
        matches!(ok, Ok((ReasonerReply::ReviewOutcome(ReviewOutcome { ref more_tests, .. }), _)) if more_tests.is_empty())
    );
    let bad = rt.block_on(LlmReasoner::new(Arc::new(TextOnly("Sure! Here it is."))).reason(review));
    assert!(matches!(
        bad,
        Err(ReasonerError::Malformed { step: "review", .. })
    ));
    let err = rt.block_on(LlmReasoner::new(Arc::new(TextOnly(""))).reason(review));
    assert!(matches!(
        err,
        Err(ReasonerError::Llm(LlmError::Http { status: 401, .. }))
    ));
}

#[test]
fn every_step_schema_is_strict_and_titled() {
    for req in sample_requests() {
        let schema = sage::reasoner::llm_schema(&req);
        assert!(schema["title"].is_string());
        assert_eq!(schema["additionalProperties"], json!(false));
        let props: Vec<&String> = schema["properties"].as_object().unwrap().keys().collect();
        let required: Vec<&str> = schema["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(props.len(), required.len(), "{}", req.name());
    }
}

// ---------------------------------------------------------------------------
// Random researcher actions interleaved with out-of-order results.

#[derive(Debug, Clone)]
enum Op {
    Deliver(usize),
    Fail(usize),
    User(UserAction),
    Tick(u64),
}

fn texts() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "We met in May.",
        "Paris is big.",
        "",
        "Due 3 June 2027.",
    ])
    .prop_map(String::from)
}

fn prediction() -> impl Strategy<Value = Prediction> {
    prop::collection::vec(
        prop::sample::select(vec!["May", "June", "Paris", "x"]),
        0..3,
    )
    .prop_map(|f| Prediction {
        firing: f.into_iter().map(String::from).collect(),
        strength: None,
    })
}

fn action() -> impl Strategy<Value = UserAction> {
    let hid = (1u32..7).prop_map(HypothesisId);
    let eid = (1u32..12).prop_map(ExperimentId);
    let target = prop_oneof![
        hid.clone().prop_map(Target::Hypothesis),
        eid.clone().prop_map(Target::Experiment),
        Just(Target::Conclusion),
    ];
    let kind = prop::sample::select(vec![
        ExperimentKind::Positive,
        ExperimentKind::Control,
        ExperimentKind::MinimalPair,
    ]);
    let gate = prop::sample::select(vec![GateMode::Auto, GateMode::Review, GateMode::Step]);
    prop_oneof![
        Just(UserAction::Pause),
        Just(UserAction::Resume),
        target
            .clone()
            .prop_map(|target| UserAction::Approve { target }),
        (target, texts()).prop_map(|(target, reason)| UserAction::Reject { target, reason }),
        (
            hid.clone(),
            prop::option::of(texts()),
            prop::option::of(texts())
        )
            .prop_map(|(id, description, prediction)| UserAction::EditHypothesis {
                id,
                description,
                prediction
            }),
        (eid, texts(), prediction()).prop_map(|(id, text, prediction)| {
            UserAction::EditExperiment {
                id,
                text,
                prediction,
            }
        }),
        (texts(), texts()).prop_map(|(description, prediction)| UserAction::AddHypothesis {
            description,
            prediction
        }),
        (hid, texts(), prediction(), kind).prop_map(|(hypothesis, text, prediction, kind)| {
            UserAction::AddExperiment {
                hypothesis,
                text,
                prediction,
                kind,
            }
        }),
        gate.prop_map(|mode| UserAction::SetGate { mode }),
        Just(UserAction::ConcludeNow),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => any::<usize>().prop_map(Op::Deliver),
        1 => any::<usize>().prop_map(Op::Fail),
        4 => action().prop_map(Op::User),
        1 => (0u64..200_000).prop_map(Op::Tick),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn random_actions_never_panic_or_lose_anything(
        ops in prop::collection::vec(op(), 1..80),
        gate in prop::sample::select(vec![GateMode::Auto, GateMode::Review, GateMode::Step]),
        max_rounds in 1u32..4,
        max_wall_ms in prop::option::of(1_000u64..100_000),
    ) {
        let mut cfg = gated(gate);
        cfg.max_rounds = max_rounds;
        cfg.budgets.max_wall_ms = max_wall_ms;
        let mut h = Harness::new(cfg, good_script());
        let mut hypotheses_seen = 0;
        let mut experiments_seen = 0;
        for op in ops {
            match op {
                Op::Deliver(i) => { h.deliver(i, false); }
                Op::Fail(i) => { h.deliver(i, true); }
                Op::User(action) => h.user(action),
                Op::Tick(dt) => {
                    let at_ms = h.now + dt;
                    h.feed(Event::Tick { at_ms });
                }
            }
            let s = h.state();
            prop_assert!(s.hypotheses.len() >= hypotheses_seen);
            prop_assert!(s.experiments.len() >= experiments_seen);
            for (i, x) in s.hypotheses.iter().enumerate() {
                prop_assert_eq!(x.id, HypothesisId(i as u32 + 1));
                if let Some(p) = x.parent {
                    prop_assert!(p < x.id);
                    prop_assert_eq!(&s.hypothesis(p).unwrap().status, &HypothesisStatus::Refined);
                }
            }
            for (i, e) in s.experiments.iter().enumerate() {
                prop_assert_eq!(e.id, ExperimentId(i as u32 + 1));
                prop_assert!(s.hypothesis(e.hypothesis).is_some());
            }
            hypotheses_seen = s.hypotheses.len();
            experiments_seen = s.experiments.len();
            prop_assert!(h.concluded.len() <= 1, "concluded twice");
        }
        prop_assert_eq!(&h.replayed(), &h.agent);
        // Liveness: once the researcher lets it run, it always concludes.
        h.user(UserAction::Resume);
        h.user(UserAction::SetGate { mode: GateMode::Auto });
        h.run_to_idle();
        prop_assert_eq!(h.concluded.len(), 1, "stuck in {:?}", h.state().phase);
        prop_assert!(h.state().is_done());
    }
}

// ---------------------------------------------------------------------------
// The agent core stays pure (the crate graph enforces it too: see
// tests/architecture.rs).

#[test]
fn the_agent_module_imports_no_io_clock_or_randomness() {
    let forbidden = [
        "tokio",
        "reqwest",
        "ratatui",
        "crossterm",
        "candle",
        "std::time",
        "std::fs",
        "std::net",
        "std::thread",
        "std::process",
        "rand",
        "SystemTime",
        "Instant",
    ];
    let mut files = Vec::new();
    let mut dirs = vec![std::path::PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/crates/sage-core/src"
    ))];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    assert!(files.len() >= 10, "found only {files:?}");
    let mut offences = Vec::new();
    for file in &files {
        let source = std::fs::read_to_string(file).unwrap();
        for (n, line) in source.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            let is_use = code.starts_with("use ")
                || code.starts_with("pub use ")
                || code.starts_with("extern crate");
            for word in forbidden {
                let path_like = code.contains(&format!("{word}::"));
                let used = is_use
                    && code
                        .split(|c: char| !c.is_alphanumeric() && c != '_')
                        .any(|t| t == word);
                if path_like
                    || used
                    || (code.contains(word) && word.chars().next().unwrap().is_uppercase())
                {
                    offences.push(format!("{}:{}: {line}", file.display(), n + 1));
                }
            }
        }
    }
    assert!(
        offences.is_empty(),
        "impure imports in crates/sage-core:\n{}",
        offences.join("\n")
    );
}

/// The good answer with every experiment and verdict about H2 removed.
fn h1_only_answer(title: &str) -> Value {
    let mut v = good_llm_answer(title);
    for key in ["experiments", "verdicts"] {
        if let Some(items) = v.get_mut(key).and_then(Value::as_array_mut) {
            items.retain(|x| x["hypothesis"] == "H1");
        }
    }
    v
}

/// The user message of the `nth` request with this schema title.
fn prompt_of(llm: &ScriptedLlm, title: &str, nth: usize) -> String {
    let seen = llm.seen.lock().unwrap();
    let req = seen
        .iter()
        .filter(|r| r.schema.as_ref().is_some_and(|s| s["title"] == title))
        .nth(nth)
        .unwrap_or_else(|| panic!("no request #{nth} for {title}"));
    req.messages[2].content.clone()
}

#[test]
fn llm_reasoner_is_told_why_a_hypothesis_was_rejected() {
    let (mut h, llm) = llm_run(
        gated(GateMode::Review),
        Box::new(|t, _| Ok(h1_only_answer(t))),
    );
    h.user(UserAction::Reject {
        target: Target::Hypothesis(HypothesisId(2)),
        reason: "too broad: every sentence has capitals".into(),
    });
    h.approve(Target::Hypothesis(HypothesisId(1)));
    h.run_to_idle();
    let design = prompt_of(&llm, "experiments", 0);
    assert!(design.contains("too broad: every sentence has capitals"));
    assert!(design.contains("For each of these hypotheses: H1, design"));
    h.approve(Target::Conclusion);
    h.run_to_idle();
    assert_eq!(h.conclusion().label, "Month names");
    assert_eq!(h.status(1), HypothesisStatus::Confirmed);
}

#[test]
fn llm_reasoner_judges_the_edited_experiment_text() {
    let (mut h, llm) = llm_run(
        gated(GateMode::Step),
        Box::new(|t, _| Ok(good_llm_answer(t))),
    );
    h.approve_both_hypotheses();
    h.user(UserAction::EditExperiment {
        id: ExperimentId(1),
        text: "Due on 3 June.".into(),
        prediction: predict(&["June"]),
    });
    for i in 1..=4 {
        h.approve(Target::Experiment(ExperimentId(i)));
    }
    h.run_to_idle();
    let update = prompt_of(&llm, "verdicts", 0);
    assert!(update.contains("E1 tests H1 (Positive): \"Due on 3 June.\""));
    assert!(update.contains("Due on 3« June»(8.0)."));
    assert!(!update.contains("We met in April."));
    assert_eq!(h.status(1), HypothesisStatus::Confirmed);
}

#[test]
fn llm_usage_runs_the_token_budget_out() {
    let mut cfg = config();
    cfg.budgets.max_tokens = Some(2_500);
    let (h, llm) = llm_run(cfg, Box::new(|t, _| Ok(good_llm_answer(t))));
    // 1000 tokens per call: the third call crosses 2500, and no fourth is made.
    assert_eq!(llm.seen.lock().unwrap().len(), 3);
    assert_eq!(h.state().total_tokens(), 3_000);
    assert_eq!(h.state().usage.cost_usd, Some(0.03));
    // The third reply (the verdicts) was paid for, so it still counts; the
    // conclusion is then assembled from the state without another call.
    assert_eq!(h.status(1), HypothesisStatus::Confirmed);
    let c = h.conclusion();
    assert_eq!(c.stop_reason, StopReason::TokenBudget);
    assert_eq!(c.hypothesis, Some(HypothesisId(1)));
    assert_eq!(c.label, "month names");
    assert_eq!(c.confidence, 0.9);
}

// ---------------------------------------------------------------------------
// Activation failures and mismatched results.

#[test]
fn a_failed_run_marks_its_experiments_and_the_loop_goes_on() {
    let mut h = Harness::new(config(), good_script());
    while !h.queue.iter().any(|e| matches!(e, Effect::RunTexts { .. })) {
        h.step();
    }
    let i = h
        .queue
        .iter()
        .position(|e| matches!(e, Effect::RunTexts { .. }))
        .unwrap();
    h.deliver(i, true);
    for id in 1..=4 {
        assert_eq!(
            h.state().experiment(ExperimentId(id)).unwrap().status,
            ExperimentStatus::Failed {
                error: "scripted failure".into()
            }
        );
    }
    assert!(h.state().fresh.is_empty(), "failed runs are not judged");
    h.run_to_idle();
    // Round 2 designed fresh experiments, which ran and decided both hypotheses.
    assert_eq!(h.state().round, 2);
    assert_eq!(h.status(1), HypothesisStatus::Confirmed);
    assert_eq!(h.conclusion().stop_reason, StopReason::Converged);
}

#[test]
fn a_result_with_the_wrong_number_of_records_is_a_failure_not_a_guess() {
    let mut h = Harness::new(config(), good_script());
    let request = loop {
        match h.queue.front() {
            Some(Effect::RunTexts { request, .. }) => break *request,
            _ => {
                h.step();
            }
        }
    };
    h.queue.pop_front();
    h.feed(Event::ActivationsArrived {
        request,
        records: vec![record("We met in April.")],
        at_ms: 99_000,
    });
    let e1 = h.state().experiment(ExperimentId(1)).unwrap();
    assert!(e1.result.is_none());
    assert_eq!(
        e1.status,
        ExperimentStatus::Failed {
            error: "the source returned 1 records for 4 texts".into()
        }
    );
    // A duplicate delivery of the same request is stale and changes nothing.
    let before = h.state().clone();
    h.feed(Event::ActivationsArrived {
        request,
        records: Vec::new(),
        at_ms: 99_100,
    });
    assert_eq!(h.state().experiments, before.experiments);
    assert!(
        h.state()
            .log
            .last()
            .unwrap()
            .text
            .contains("stale activations")
    );
}

#[test]
fn review_gate_holds_a_refined_version_until_approved() {
    let script = scripted(|req| match req {
        ReasonRequest::Update { targets, context } if context.round == 1 => {
            Ok(ReasonerReply::Verdicts(
                targets
                    .iter()
                    .map(|&h| Verdict {
                        hypothesis: h,
                        decision: Decision::Refine {
                            description: format!(
                                "{} (sharper)",
                                context.hypothesis(h).unwrap().description
                            ),
                            prediction: "same, but sharper".into(),
                            rule: None,
                        },
                        cites: Vec::new(),
                        confidence: 0.6,
                        rationale: "sharpen".into(),
                    })
                    .collect(),
            ))
        }
        _ => Ok(month_reply(req)),
    });
    let mut h = run(gated(GateMode::Review), script);
    h.approve_both_hypotheses();
    assert_eq!(h.status(3), HypothesisStatus::Proposed);
    assert_eq!(h.status(4), HypothesisStatus::Proposed);
    assert_eq!(
        h.approvals[2..],
        [
            Target::Hypothesis(HypothesisId(3)),
            Target::Hypothesis(HypothesisId(4))
        ]
    );
    assert_eq!(
        h.requests.iter().filter(|r| r.name() == "design").count(),
        1
    );
    h.approve(Target::Hypothesis(HypothesisId(3)));
    h.approve(Target::Hypothesis(HypothesisId(4)));
    h.run_to_idle();
    assert_eq!(
        h.requests.iter().filter(|r| r.name() == "design").count(),
        2
    );
    assert_eq!(h.status(3), HypothesisStatus::Confirmed);
    assert_eq!(h.status(4), HypothesisStatus::Refuted);
}
