//! Renders a reasoning request as prompt text for an LLM: the fixed
//! instructions (`assets/prompts/*.md`), the feature's exemplars (the same
//! text for every step of a session, so providers can cache it as a
//! prefix) and the current state, with firing tokens marked as
//! `«token»(value)`.

use std::fmt::Write;

use crate::activation::ActivationRecord;
use crate::agent::{Context, HypothesisId, ReasonRequest};

/// The system prompt: who the model is and how it must answer.
pub const SYSTEM: &str = include_str!("../../assets/prompts/system.md");
const HYPOTHESISE: &str = include_str!("../../assets/prompts/hypothesise.md");
const DESIGN: &str = include_str!("../../assets/prompts/design.md");
const UPDATE: &str = include_str!("../../assets/prompts/update.md");
const REVIEW: &str = include_str!("../../assets/prompts/review.md");
const CONCLUDE: &str = include_str!("../../assets/prompts/conclude.md");

/// Most top examples shown; more rarely changes an explanation but costs tokens.
const MAX_TOP: usize = 20;
/// Most samples shown per quantile band.
const MAX_PER_BAND: usize = 5;

/// The user message for one step: where the session stands (round,
/// hypotheses, experiments, feedback), then the task. The exemplars are in
/// [`exemplar_context`], which does not change from step to step.
pub fn render(req: &ReasonRequest) -> String {
    let ctx = req.context();
    let ids = |v: &[HypothesisId]| {
        v.iter()
            .map(|h| h.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let task = match req {
        ReasonRequest::Hypothesise { count, .. } => {
            HYPOTHESISE.replace("{count}", &count.to_string())
        }
        ReasonRequest::Design {
            targets,
            per_hypothesis,
            ..
        } => DESIGN
            .replace("{targets}", &ids(targets))
            .replace("{per_hypothesis}", &per_hypothesis.to_string()),
        ReasonRequest::Update { targets, .. } => UPDATE.replace("{targets}", &ids(targets)),
        ReasonRequest::Review { max_tests, .. } => {
            REVIEW.replace("{max_tests}", &max_tests.to_string())
        }
        ReasonRequest::Conclude { stop_reason, .. } => {
            CONCLUDE.replace("{stop_reason}", &format!("{stop_reason:?}"))
        }
    };
    format!("{}\n{}", render_state(ctx), task)
}

/// The feature and its exemplars as Markdown: everything about a session
/// that stays the same from its first step to its last, sent as the second
/// system message so it forms a cacheable prefix with the instructions.
pub fn exemplar_context(ctx: &Context) -> String {
    let mut s = String::new();
    let t = ctx.firing_threshold;
    let _ = writeln!(
        s,
        "# Feature {}\n\nA token fires when its activation is at least {t:.2}. Firing tokens are \
         marked «like this»(activation).\n",
        ctx.feature
    );
    let ex = &ctx.exemplars;
    let _ = writeln!(
        s,
        "## Top activating examples (max activation {:.2})",
        ex.max_activation
    );
    for (i, e) in ex.top.iter().take(MAX_TOP).enumerate() {
        let _ = writeln!(s, "{}. {}", i + 1, marked(&e.record, t));
    }
    for band in &ex.quantiles {
        if band.examples.is_empty() {
            continue;
        }
        let _ = writeln!(
            s,
            "\n## Examples with max activation {:.2}..{:.2}",
            band.min_value, band.max_value
        );
        for e in band.examples.iter().take(MAX_PER_BAND) {
            let _ = writeln!(s, "- {}", marked(&e.record, t));
        }
    }
    if !ex.non_activating.is_empty() {
        let _ = writeln!(s, "\n## Texts where it does not fire");
        for e in &ex.non_activating {
            let _ = writeln!(s, "- {}", e.record.tokens.concat());
        }
    }
    s
}

/// Where the session stands, as Markdown: the round, the hypotheses, the
/// experiments with their scores, and the researcher's rejections.
pub fn render_state(ctx: &Context) -> String {
    let mut s = String::new();
    let t = ctx.firing_threshold;
    let _ = writeln!(s, "Round {} of {}.", ctx.round, ctx.max_rounds);
    if !ctx.hypotheses.is_empty() {
        let _ = writeln!(s, "\n## Hypotheses");
        for h in &ctx.hypotheses {
            let lineage = h
                .parent
                .map(|p| format!(", refines {p}"))
                .unwrap_or_default();
            let _ = writeln!(
                s,
                "- {} v{} [{}{lineage}] {} — prediction: {} (confidence {:.2}; evidence: {})",
                h.id,
                h.version,
                h.status.name(),
                h.description,
                h.prediction,
                h.confidence,
                h.evidence
            );
        }
    }
    if !ctx.experiments.is_empty() {
        let _ = writeln!(s, "\n## Experiments");
        for e in &ctx.experiments {
            let _ = write!(
                s,
                "- {} tests {} ({:?}): {:?}; predicted firing: {:?}",
                e.id, e.hypothesis, e.kind, e.text, e.prediction.firing
            );
            match (&e.result, &e.score) {
                (Some(r), Some(sc)) => {
                    let _ = writeln!(
                        s,
                        "\n  observed: {}\n  precision {:.2}, recall {:.2}, F1 {:.2} ({})",
                        marked(r, t),
                        sc.precision,
                        sc.recall,
                        sc.f1,
                        if sc.passed {
                            "as predicted"
                        } else {
                            "not as predicted"
                        }
                    );
                }
                _ => {
                    let _ = writeln!(s, " — {:?}", e.status);
                }
            }
        }
    }
    if !ctx.feedback.is_empty() {
        let _ = writeln!(s, "\n## The researcher rejected");
        for f in &ctx.feedback {
            let _ = writeln!(s, "- {} — reason: {}", f.about, f.reason);
        }
    }
    s
}

/// A record's text with firing tokens marked `«token»(value)`.
pub fn marked(record: &ActivationRecord, threshold: f32) -> String {
    let mut s = String::new();
    for (tok, &v) in record.tokens.iter().zip(&record.values) {
        if v > 0.0 && v >= threshold {
            let _ = write!(s, "«{tok}»({v:.1})");
        } else {
            s.push_str(tok);
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activation::{Exemplar, FeatureExemplars, SourceInfo};
    use crate::agent::{Feedback, HypothesisId, StopReason};

    fn record(tokens: &[&str], values: &[f32]) -> ActivationRecord {
        let info = SourceInfo {
            model: "m".into(),
            sae: "s".into(),
            hook: "h".into(),
            n_features: 1,
        };
        let tokens = tokens.iter().map(|t| t.to_string()).collect();
        ActivationRecord::new(&info, 0, tokens, vec![0; values.len()], values.to_vec())
    }

    fn context() -> Context {
        Context {
            feature: 5,
            round: 2,
            max_rounds: 5,
            firing_threshold: 1.6,
            exemplars: FeatureExemplars {
                feature: 5,
                top: vec![Exemplar {
                    record: record(&["in", " May", " rain"], &[0.0, 8.0, 1.0]),
                    origin: None,
                    offset: None,
                }],
                quantiles: Vec::new(),
                non_activating: Vec::new(),
                density: None,
                max_activation: 8.0,
            },
            hypotheses: Vec::new(),
            experiments: Vec::new(),
            feedback: vec![Feedback {
                about: "hypothesis H2: \"capitals\"".into(),
                reason: "too broad".into(),
            }],
        }
    }

    #[test]
    fn marks_only_tokens_at_or_above_the_threshold() {
        let r = record(&["in", " May", " rain"], &[0.0, 8.0, 1.0]);
        assert_eq!(marked(&r, 1.6), "in« May»(8.0) rain");
    }

    #[test]
    fn renders_state_feedback_and_the_filled_in_task() {
        let design = render(&ReasonRequest::Design {
            context: context(),
            targets: vec![HypothesisId(1), HypothesisId(3)],
            per_hypothesis: 3,
        });
        let stable = exemplar_context(&context());
        assert!(stable.contains("# Feature 5"));
        assert!(stable.contains("1. in« May»(8.0) rain"));
        assert!(
            !stable.contains("Round"),
            "the prefix must not change per round"
        );
        assert!(design.contains("Round 2 of 5"));
        assert!(
            !design.contains("in« May»"),
            "exemplars are sent once, in the prefix"
        );
        assert!(design.contains("- hypothesis H2: \"capitals\" — reason: too broad"));
        assert!(design.contains("For each of these hypotheses: H1, H3, design up to 3"));
        assert!(!design.contains('{'), "a placeholder was left unfilled");
        let conclude = render(&ReasonRequest::Conclude {
            context: context(),
            stop_reason: StopReason::MaxRounds,
        });
        assert!(conclude.contains("Exploration has stopped (MaxRounds)"));
    }
}
