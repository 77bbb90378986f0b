//! A scripted session for TUI tests: a real [`Agent`] fed a fixed event
//! stream (exemplars, reasoner replies, activations for a "month names"
//! feature), so snapshots show states the agent actually reaches.

use crate::activation::{ActivationRecord, Exemplar, FeatureExemplars, SourceInfo};
use crate::agent::{
    Agent, AgentConfig, ConclusionDraft, Decision, Effect, Event, ExperimentDraft, ExperimentId,
    ExperimentKind, GateMode, HypothesisDraft, HypothesisId, Prediction, ReasonRequest,
    ReasonerReply, ReviewOutcome, Verdict,
};
use crate::llm::Usage;

const MONTHS: [&str; 6] = ["May", "June", "April", "March", "October", "July"];

fn info() -> SourceInfo {
    SourceInfo {
        model: "gpt2".into(),
        sae: "gpt2-small-res-jb/blocks.8.hook_resid_pre".into(),
        hook: "blocks.8.hook_resid_pre".into(),
        n_features: 24576,
    }
}

/// Splits on spaces, keeping each word's leading space as BPE does.
fn tokens(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (i, word) in text.split(' ').enumerate() {
        out.push(if i == 0 {
            word.to_string()
        } else {
            format!(" {word}")
        });
    }
    out
}

/// The toy feature: fires on month names, more strongly after "in".
pub fn record(text: &str) -> ActivationRecord {
    let toks = tokens(text);
    let values = toks
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let word = t.trim().trim_end_matches(['.', ',']);
            match MONTHS.contains(&word) {
                true if i > 0 && toks[i - 1].trim() == "in" => 9.0,
                true => 6.0,
                false => 0.0,
            }
        })
        .collect();
    let ids = (0..toks.len() as u32).collect();
    ActivationRecord::new(&info(), 1337, toks, ids, values)
}

fn exemplars() -> FeatureExemplars {
    let texts = [
        "the meeting moved to May after the vote",
        "born in October , she left in June",
        "due on March 12 , 2027 at noon",
        "we met in April and again in July",
        "payment is late since June",
        "the mayor said nothing",
    ];
    let exemplar = |t: &str| Exemplar {
        record: record(t),
        origin: Some("corpus/news.txt".into()),
        offset: Some(0),
    };
    let mut top: Vec<Exemplar> = texts.iter().map(|t| exemplar(t)).collect();
    top.sort_by(|a, b| b.record.max_value.total_cmp(&a.record.max_value));
    FeatureExemplars {
        feature: 1337,
        top,
        quantiles: Vec::new(),
        non_activating: vec![exemplar("a quiet afternoon by the river")],
        density: Some(0.0012),
        max_activation: 9.0,
    }
}

fn reply(step: &ReasonRequest) -> ReasonerReply {
    match step {
        ReasonRequest::Hypothesise { .. } => ReasonerReply::HypothesisDrafts(vec![
            draft(
                "month names after \"in\" or \"to\"",
                "May, June, October peak",
            ),
            draft("any capitalised word", "all top tokens are capitalised"),
            draft("dates including digits", "March 12 , 2027"),
        ]),
        ReasonRequest::Design { targets, .. } => ReasonerReply::ExperimentDrafts(
            targets
                .iter()
                .flat_map(|&h| {
                    [
                        ExperimentDraft {
                            hypothesis: h,
                            text: "We met in April and May.".into(),
                            prediction: Prediction {
                                firing: vec!["April".into(), "May.".into()],
                                strength: None,
                            },
                            kind: ExperimentKind::Positive,
                            rationale: "two months after a preposition".into(),
                        },
                        ExperimentDraft {
                            hypothesis: h,
                            text: "You may go to Paris now.".into(),
                            prediction: Prediction::default(),
                            kind: ExperimentKind::Control,
                            rationale: "modal may and a capitalised city".into(),
                        },
                    ]
                })
                .collect(),
        ),
        ReasonRequest::Update { targets, context } => ReasonerReply::Verdicts(
            targets
                .iter()
                .map(|&h| Verdict {
                    hypothesis: h,
                    decision: if h.0 == 1 {
                        Decision::Confirm
                    } else {
                        Decision::Refute
                    },
                    cites: context.experiments_of(h).map(|e| e.id).collect(),
                    confidence: if h.0 == 1 { 0.86 } else { 0.2 },
                    rationale: "scores as predicted".into(),
                })
                .collect(),
        ),
        ReasonRequest::Review { .. } => ReasonerReply::ReviewOutcome(ReviewOutcome {
            more_tests: Vec::new(),
            rationale: "H1 is confirmed by a positive test and a control".into(),
        }),
        ReasonRequest::Conclude { .. } => ReasonerReply::ConclusionDraft(ConclusionDraft {
            label: "month names after prepositions".into(),
            description: "Fires on month names, most strongly right after \"in\".".into(),
            does_not_fire_on: vec![
                "the modal verb may".into(),
                "other capitalised words".into(),
            ],
            evidence: vec![ExperimentId(1), ExperimentId(2)],
            hypothesis: Some(HypothesisId(1)),
            confidence: 0.86,
            rule: None,
        }),
    }
}

fn draft(description: &str, evidence: &str) -> HypothesisDraft {
    HypothesisDraft {
        description: description.into(),
        evidence: evidence.into(),
        prediction: format!("fires where: {description}"),
        rule: None,
    }
}

/// Runs the scripted session until `stop` effects have been answered (or
/// the agent goes idle) and returns the agent with every event it saw.
pub fn scripted_session(gate: GateMode, stop: usize) -> (Agent, Vec<Event>) {
    let mut agent = Agent::new();
    let mut events = Vec::new();
    let config = AgentConfig {
        gate,
        max_rounds: 2,
        ..AgentConfig::default()
    };
    let mut queue = vec![Event::Start {
        feature: 1337,
        config,
        seed: 7,
        at_ms: 1_764_000_000_000,
    }];
    let mut answered = 0;
    while let Some(event) = queue.pop() {
        let at_ms = 1_764_000_000_000 + 1000 * events.len() as u64;
        events.push(event.clone());
        for effect in agent.handle(event) {
            if answered >= stop {
                continue;
            }
            answered += 1;
            queue.insert(
                0,
                match effect {
                    Effect::FetchExemplars { .. } => Event::ExemplarsArrived {
                        exemplars: exemplars(),
                        at_ms,
                    },
                    Effect::Reason { request, step } => Event::ReasonerReplied {
                        request,
                        reply: reply(&step),
                        usage: Usage {
                            prompt_tokens: 1200,
                            cached_tokens: 0,
                            completion_tokens: 300,
                            cost_usd: Some(0.004),
                        },
                        at_ms,
                    },
                    Effect::RunTexts { request, texts, .. } => Event::ActivationsArrived {
                        request,
                        records: texts.iter().map(|t| record(t)).collect(),
                        at_ms,
                    },
                    Effect::AwaitApproval { .. } | Effect::Concluded { .. } => {
                        answered -= 1;
                        continue;
                    }
                },
            );
        }
    }
    (agent, events)
}
