//! The heuristic reasoner's thinking steps as pure functions of the
//! agent's [`Context`]: hypothesise, design, update, review, conclude.
//!
//! All data the agent has seen (visible exemplars plus every experiment's
//! activations) forms one [`Dataset`]; rules are judged on it and on their
//! own experiments' scores.

use std::collections::BTreeMap;

use super::classes::normalize;
use super::design::Designer;
use super::learner::{Candidate, Dataset, assess, candidates};
use super::rule::{Rule, RuleKind, TokenTest};
use crate::agent::{
    ConclusionDraft, Context, Decision, ExperimentDraft, ExperimentId, Hypothesis, HypothesisDraft,
    HypothesisId, HypothesisStatus, ReviewOutcome, StopReason, Verdict,
};

/// Minimum score gain for replacing a rule with a neighbouring one.
const REFINE_GAIN: f32 = 0.02;
/// A rule this good on all data needs no more tests at review.
const SETTLED_F1: f32 = 0.95;
/// Tests the reviewer asks for per open hypothesis.
const REVIEW_TESTS: usize = 2;
/// Near misses listed in a conclusion.
const NEAR_MISSES: usize = 4;

/// Every token the agent has observed: visible exemplars and experiments.
pub fn dataset(ctx: &Context) -> Dataset {
    let ex = &ctx.exemplars;
    let mut data = Dataset::new(ctx.firing_threshold, ex.max_activation);
    data.extend(ex.top.iter().map(|e| &e.record));
    data.extend(
        ex.quantiles
            .iter()
            .flat_map(|b| &b.examples)
            .map(|e| &e.record),
    );
    data.extend(ex.non_activating.iter().map(|e| &e.record));
    data.extend(ctx.experiments.iter().filter_map(|e| e.result.as_ref()));
    data
}

/// The rule a hypothesis carries, or one read from its wording (for a
/// researcher's hypothesis, which has none).
fn rule_of(h: &Hypothesis) -> Option<Rule> {
    match &h.rule {
        Some(v) => Rule::from_json(v).ok(),
        None => rule_from_words(&h.description),
    }
}

/// Reads a rule from a researcher's wording: quoted tokens are the firing
/// set, and quoted tokens after the word "after" the required context, as
/// in `fires on "York" after "New"`. `None` when nothing is quoted.
pub fn rule_from_words(text: &str) -> Option<Rule> {
    let quoted = |part: &str| -> Vec<String> {
        part.split('"')
            .skip(1)
            .step_by(2)
            .filter(|q| !q.is_empty())
            .map(str::to_string)
            .collect()
    };
    let (head, tail) = text.split_once(" after ").unwrap_or((text, ""));
    let targets = quoted(head);
    if targets.is_empty() {
        return None;
    }
    let context = quoted(tail);
    let mut rule = Rule::on(TokenTest::one_of(targets.iter().map(String::as_str)));
    if !context.is_empty() {
        rule.preceded_by = vec![TokenTest::one_of(context.iter().map(String::as_str))];
    }
    Some(rule)
}

/// Upper-cases the first letter.
fn sentence(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// A hypothesis draft for a candidate, with its evidence in numbers.
fn hypothesis_draft(c: &Candidate, data: &Dataset) -> HypothesisDraft {
    let fired: Vec<String> = data
        .firing_counts()
        .into_iter()
        .filter(|(t, _)| c.rule.target.matches(t))
        .take(6)
        .map(|(t, n)| format!("\"{}\" ×{n}", t.replace('\n', "\\n")))
        .collect();
    HypothesisDraft {
        description: sentence(&c.rule.describe()),
        evidence: format!(
            "Explains {} of {} firing tokens in the exemplars with {} false alarms \
             (precision {:.2}, recall {:.2}); fired on {}.",
            c.fit.hits,
            c.fit.observed,
            c.fit.predicted - c.fit.hits,
            c.fit.precision(),
            c.fit.recall(),
            if fired.is_empty() {
                "nothing it names".to_string()
            } else {
                fired.join(", ")
            }
        ),
        prediction: format!("In new text it {}, and nowhere else.", c.rule.describe()),
        rule: Some(c.rule.to_json()),
    }
}

/// Up to `count` deliberately different hypotheses: the best rule of each
/// kind first (token set, class, context, phrase, position), then the next
/// best distinct rules. Rules already proposed or rejected are skipped.
pub fn hypothesise(ctx: &Context, count: usize) -> Vec<HypothesisDraft> {
    let data = dataset(ctx);
    let known: Vec<Rule> = ctx.hypotheses.iter().filter_map(rule_of).collect();
    let rejected = |c: &Candidate| {
        let description = sentence(&c.rule.describe());
        ctx.feedback.iter().any(|f| f.about.contains(&description))
    };
    let pool: Vec<Candidate> = candidates(&data)
        .into_iter()
        .filter(|c| !known.iter().any(|k| k.same_claim(&c.rule)) && !rejected(c))
        .collect();
    let mut chosen: Vec<&Candidate> = Vec::new();
    for c in &pool {
        if chosen.len() < count && !chosen.iter().any(|d| d.rule.kind() == c.rule.kind()) {
            chosen.push(c);
        }
    }
    for c in &pool {
        if chosen.len() < count && !chosen.iter().any(|d| d.rule.same_claim(&c.rule)) {
            chosen.push(c);
        }
    }
    chosen.sort_by(|a, b| b.score.total_cmp(&a.score));
    chosen.iter().map(|c| hypothesis_draft(c, &data)).collect()
}

/// Experiments for each target hypothesis that carries a rule.
pub fn design(
    ctx: &Context,
    targets: &[HypothesisId],
    per_hypothesis: usize,
) -> Vec<ExperimentDraft> {
    let mut out = Vec::new();
    for &id in targets {
        let Some(rule) = ctx.hypothesis(id).and_then(rule_of) else {
            continue;
        };
        let done: Vec<String> = ctx.experiments_of(id).map(|e| e.text.clone()).collect();
        let variant = ctx.round as usize + done.len();
        let designer = Designer {
            hypothesis: id,
            rule: &rule,
            top: &ctx.exemplars.top,
            done,
        };
        out.extend(designer.design(per_hypothesis, variant));
    }
    out
}

/// Whether two rules differ in exactly one part (target, context, position).
fn one_edit(a: &Rule, b: &Rule) -> bool {
    let diffs = usize::from(a.target != b.target)
        + usize::from(a.preceded_by != b.preceded_by)
        + usize::from(a.within_first != b.within_first);
    diffs == 1
}

/// A verdict per target: confirm when every scored test behaved as
/// predicted (two or more), refine to a neighbouring rule that explains all
/// observations clearly better, refute when most tests failed and no
/// refinement helps, otherwise stay uncertain.
pub fn update(ctx: &Context, targets: &[HypothesisId]) -> Vec<Verdict> {
    let data = dataset(ctx);
    let pool = candidates(&data);
    targets
        .iter()
        .filter_map(|&id| ctx.hypothesis(id))
        .map(|h| verdict(ctx, h, &data, &pool))
        .collect()
}

fn verdict(ctx: &Context, h: &Hypothesis, data: &Dataset, pool: &[Candidate]) -> Verdict {
    let scored: Vec<(ExperimentId, bool, f32)> = ctx
        .experiments_of(h.id)
        .filter_map(|e| e.score.as_ref().map(|s| (e.id, s.passed, s.f1)))
        .collect();
    let ids = |keep: &dyn Fn(bool) -> bool| -> Vec<ExperimentId> {
        scored.iter().filter(|s| keep(s.1)).map(|s| s.0).collect()
    };
    let (passed, failed) = (ids(&|p| p), ids(&|p| !p));
    let all = ids(&|_| true);
    let Some(rule) = rule_of(h) else {
        return Verdict {
            hypothesis: h.id,
            decision: Decision::Uncertain,
            cites: all,
            confidence: h.confidence,
            rationale:
                "this hypothesis has no machine-readable rule the heuristic reasoner can test"
                    .to_string(),
        };
    };
    let current = assess(rule.clone(), data);
    let stated = |r: &Rule| {
        ctx.hypotheses
            .iter()
            .filter(|o| o.id != h.id)
            .filter_map(rule_of)
            .any(|o| o.same_claim(r))
    };
    let better = pool.iter().find(|c| {
        one_edit(&rule, &c.rule) && c.score > current.score + REFINE_GAIN && !stated(&c.rule)
    });
    let tally = format!(
        "{} of {} tests behaved as predicted ({}); the rule explains all observations with F1 {:.2}",
        passed.len(),
        scored.len(),
        list(&all),
        current.fit.f1()
    );
    let (decision, cites, confidence, rationale) = match better {
        Some(b) if !failed.is_empty() || b.score > current.score + 2.0 * REFINE_GAIN => {
            let draft = hypothesis_draft(b, data);
            (
                Decision::Refine {
                    description: draft.description.clone(),
                    prediction: draft.prediction,
                    rule: draft.rule,
                },
                if failed.is_empty() {
                    all.clone()
                } else {
                    failed.clone()
                },
                b.fit.f1(),
                format!(
                    "{tally}; failures {} are explained by a revised rule: {} (F1 {:.2})",
                    list(&failed),
                    draft.description,
                    b.fit.f1()
                ),
            )
        }
        _ if failed.is_empty() && passed.len() >= 2 => (
            Decision::Confirm,
            passed.clone(),
            current.fit.f1(),
            format!("{tally}; confirmed"),
        ),
        _ if passed.len() < failed.len() && scored.len() >= 2 => (
            Decision::Refute,
            failed.clone(),
            current.fit.f1() * 0.5,
            format!("{tally}; most tests contradicted it and no small change fixes it"),
        ),
        _ => (
            Decision::Uncertain,
            all.clone(),
            current.fit.f1() * 0.8,
            format!("{tally}; not decisive yet"),
        ),
    };
    Verdict {
        hypothesis: h.id,
        decision,
        cites,
        confidence: confidence.clamp(0.0, 1.0),
        rationale,
    }
}

/// `E1, E3` or `none`.
fn list(ids: &[ExperimentId]) -> String {
    if ids.is_empty() {
        return "none".to_string();
    }
    ids.iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Hypotheses that are not superseded and carry rules, with their fit on
/// all data, best first.
fn ranked(ctx: &Context, data: &Dataset) -> Vec<(Hypothesis, Candidate)> {
    let mut out: Vec<(Hypothesis, Candidate)> = ctx
        .hypotheses
        .iter()
        .filter(|h| {
            !matches!(
                h.status,
                HypothesisStatus::Refined | HypothesisStatus::Rejected { .. }
            )
        })
        .filter_map(|h| rule_of(h).map(|r| (h.clone(), assess(r, data))))
        .collect();
    let confirmed = |h: &Hypothesis| h.status == HypothesisStatus::Confirmed;
    out.sort_by(|a, b| {
        b.1.score
            .total_cmp(&a.1.score)
            .then(confirmed(&b.0).cmp(&confirmed(&a.0)))
            .then(a.0.id.cmp(&b.0.id))
    });
    out
}

/// More tests for open hypotheses, unless the best one is already settled.
pub fn review(ctx: &Context, max_tests: usize) -> ReviewOutcome {
    let data = dataset(ctx);
    let ranking = ranked(ctx, &data);
    if let Some((best, fit)) = ranking.first()
        && best.status == HypothesisStatus::Confirmed
        && fit.fit.f1() >= SETTLED_F1
    {
        return ReviewOutcome {
            more_tests: Vec::new(),
            rationale: format!(
                "{} is confirmed and explains the observations with F1 {:.2}",
                best.id,
                fit.fit.f1()
            ),
        };
    }
    let open: Vec<HypothesisId> = ranking
        .iter()
        .filter(|(h, _)| h.status.is_open())
        .map(|(h, _)| h.id)
        .collect();
    let mut more_tests: Vec<ExperimentDraft> = design(ctx, &open, REVIEW_TESTS);
    more_tests.truncate(max_tests);
    let rationale = if more_tests.is_empty() {
        "no open hypothesis needs more tests".to_string()
    } else {
        format!("{} still uncertain; asking for more tests", list_h(&open))
    };
    ReviewOutcome {
        more_tests,
        rationale,
    }
}

fn list_h(ids: &[HypothesisId]) -> String {
    ids.iter()
        .map(|h| h.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The best-supported hypothesis as the conclusion, with its rule attached.
pub fn conclude(ctx: &Context, stop_reason: StopReason) -> ConclusionDraft {
    let data = dataset(ctx);
    let ranking = ranked(ctx, &data);
    let (hypothesis, best) = match ranking.into_iter().next() {
        Some((h, c)) => (Some(h), c),
        None => match candidates(&data).into_iter().next() {
            Some(c) => (None, c),
            None => {
                return ConclusionDraft {
                    label: "no firing observed".to_string(),
                    description: "The feature did not fire on anything the agent observed."
                        .to_string(),
                    does_not_fire_on: Vec::new(),
                    evidence: Vec::new(),
                    hypothesis: None,
                    confidence: 0.0,
                    rule: None,
                };
            }
        },
    };
    let confirmed = hypothesis
        .as_ref()
        .is_some_and(|h| h.status == HypothesisStatus::Confirmed);
    let evidence: Vec<ExperimentId> = hypothesis
        .as_ref()
        .map(|h| {
            ctx.experiments_of(h.id)
                .filter(|e| e.score.as_ref().is_some_and(|s| s.passed))
                .map(|e| e.id)
                .collect()
        })
        .unwrap_or_default();
    let status = hypothesis.as_ref().map_or("untested", |h| h.status.name());
    ConclusionDraft {
        label: best.rule.label(),
        description: format!(
            "{}. Across exemplars and experiments it explains {} of {} firing tokens \
             (precision {:.2}, recall {:.2}); hypothesis {} ({status}), stopped: {:?}.",
            sentence(&best.rule.describe()),
            best.fit.hits,
            best.fit.observed,
            best.fit.precision(),
            best.fit.recall(),
            hypothesis
                .as_ref()
                .map_or("none".to_string(), |h| h.id.to_string()),
            stop_reason
        ),
        does_not_fire_on: near_misses(ctx, &best.rule, &data),
        evidence,
        hypothesis: hypothesis.as_ref().map(|h| h.id),
        confidence: (best.fit.f1() * if confirmed { 1.0 } else { 0.8 }).clamp(0.0, 1.0),
        rule: Some(best.rule.to_json()),
    }
}

/// Tokens that stayed silent although they look like members: tokens some
/// experiment predicted to fire, and (for context, phrase and position
/// rules) the target outside its context or position.
fn near_misses(ctx: &Context, rule: &Rule, data: &Dataset) -> Vec<String> {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let mut note = |token: &str, why: &str| {
        let word = normalize(token);
        if !word.trim().is_empty() {
            *counts
                .entry(format!("\"{}\"{why}", word.replace('\n', "\\n")))
                .or_default() += 1;
        }
    };
    for e in &ctx.experiments {
        if let (Some(score), Some(record)) = (&e.score, &e.result) {
            for i in score
                .predicted
                .iter()
                .filter(|i| !score.observed.contains(i))
            {
                if let Some(token) = record.tokens.get(*i)
                    && !rule.fires_at(&record.tokens, *i)
                {
                    note(token, "");
                }
            }
        }
    }
    let why = match rule.kind() {
        RuleKind::Position => " later in a text",
        RuleKind::Context | RuleKind::Phrase => " without the preceding context",
        RuleKind::TokenSet | RuleKind::TokenClass => "",
    };
    if !why.is_empty() {
        data.for_each_silent(|tokens, i| {
            if rule.target.matches(&tokens[i]) && !rule.fires_at(tokens, i) {
                note(&tokens[i], why);
            }
        });
    }
    let mut counts: Vec<_> = counts.into_iter().collect();
    counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    counts
        .into_iter()
        .take(NEAR_MISSES)
        .map(|(t, _)| t)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activation::synthetic::SyntheticSource;
    use crate::activation::{ExemplarQuery, FeatureExemplars};
    use crate::agent::score::score;
    use crate::agent::{Actor, Experiment, ExperimentKind, ExperimentStatus, Prediction};
    use crate::reasoner::heuristic::{TokenClass, TokenTest};

    fn context(feature: u32) -> Context {
        let source = SyntheticSource::new();
        let exemplars: FeatureExemplars = source
            .feature_exemplars(feature, &ExemplarQuery::default())
            .unwrap_or_else(|e| panic!("{e}"));
        Context {
            feature,
            round: 1,
            max_rounds: 5,
            firing_threshold: 0.2 * exemplars.max_activation,
            exemplars,
            hypotheses: Vec::new(),
            experiments: Vec::new(),
            feedback: Vec::new(),
        }
    }

    fn hypothesis(id: u32, rule: &Rule) -> Hypothesis {
        Hypothesis {
            id: HypothesisId(id),
            version: 1,
            parent: None,
            description: rule.describe(),
            evidence: String::new(),
            prediction: String::new(),
            status: HypothesisStatus::Testing,
            confidence: 0.5,
            decided_by: Vec::new(),
            origin: Actor::Agent,
            rule: Some(rule.to_json()),
        }
    }

    /// Runs a text through the synthetic source and scores `firing` on it.
    fn experiment(ctx: &Context, id: u32, h: u32, text: &str, firing: &[&str]) -> Experiment {
        let source = SyntheticSource::new();
        let record = source
            .records(ctx.feature, &[text.to_string()])
            .unwrap_or_else(|e| panic!("{e}"))
            .remove(0);
        let prediction = Prediction {
            firing: firing.iter().map(|s| s.to_string()).collect(),
            strength: None,
        };
        Experiment {
            id: ExperimentId(id),
            hypothesis: HypothesisId(h),
            text: text.to_string(),
            score: Some(score(&prediction, &record, ctx.firing_threshold, 0.5)),
            prediction,
            kind: ExperimentKind::Positive,
            status: ExperimentStatus::Done,
            origin: Actor::Agent,
            round: 1,
            rationale: String::new(),
            result: Some(record),
        }
    }

    #[test]
    fn hypotheses_differ_in_kind_and_carry_rules() {
        let ctx = context(16);
        let drafts = hypothesise(&ctx, 4);
        assert_eq!(drafts.len(), 4);
        let rules: Vec<Rule> = drafts
            .iter()
            .map(|d| Rule::from_json(d.rule.as_ref().unwrap_or(&serde_json::Value::Null)))
            .collect::<Result<_, _>>()
            .unwrap_or_else(|e| panic!("{e}"));
        // On exemplars alone "York" and "New York" explain the same tokens;
        // both must be on the table for the experiments to decide.
        let mut kinds: Vec<RuleKind> = rules.iter().map(Rule::kind).collect();
        assert_eq!(kinds[0], RuleKind::TokenSet, "{:?}", drafts[0]);
        let phrase = kinds.iter().position(|k| *k == RuleKind::Phrase);
        let phrase = phrase.unwrap_or_else(|| panic!("no phrase hypothesis: {drafts:?}"));
        assert!(drafts[phrase].description.contains("\"New York\""));
        kinds.sort();
        kinds.dedup();
        assert_eq!(kinds.len(), 4, "{kinds:?}");
        assert!(
            drafts[0].evidence.contains("precision 1.00"),
            "{}",
            drafts[0].evidence
        );
    }

    #[test]
    fn passing_tests_confirm_and_a_surprise_refines() {
        let mut ctx = context(0);
        let class = Rule::on(TokenTest::Class {
            class: TokenClass::Month,
        });
        let narrow = Rule::on(TokenTest::one_of(["May", "June"]));
        ctx.hypotheses = vec![hypothesis(1, &class), hypothesis(2, &narrow)];
        ctx.experiments = vec![
            experiment(&ctx, 1, 1, "We left in October.", &["October"]),
            experiment(&ctx, 2, 1, "You may leave now.", &[]),
            experiment(&ctx, 3, 2, "We left in October.", &[]),
            experiment(&ctx, 4, 2, "We left in June.", &["June"]),
        ];
        let verdicts = update(&ctx, &[HypothesisId(1), HypothesisId(2)]);
        assert_eq!(verdicts[0].decision, Decision::Confirm);
        assert_eq!(verdicts[0].cites, [ExperimentId(1), ExperimentId(2)]);
        let Decision::Refine {
            rule: Some(json), ..
        } = &verdicts[1].decision
        else {
            panic!("expected a refinement, got {:?}", verdicts[1]);
        };
        let refined = Rule::from_json(json).unwrap_or_else(|e| panic!("{e}"));
        assert!(refined.target.matches(" October"), "{refined:?}");
        assert!(!refined.same_claim(&class), "must not restate H1");
        assert_eq!(verdicts[1].cites, [ExperimentId(3)]);
        assert!(
            verdicts[1].rationale.contains("E3"),
            "{}",
            verdicts[1].rationale
        );
    }

    #[test]
    fn failing_tests_without_a_fix_refute() {
        let mut ctx = context(0);
        let wrong = Rule::on(TokenTest::Class {
            class: TokenClass::Digits,
        });
        ctx.hypotheses = vec![hypothesis(1, &wrong)];
        // Everything a one-part change could reach is already stated by H2.
        let month = Rule::on(TokenTest::Class {
            class: TokenClass::Month,
        });
        ctx.hypotheses.push(hypothesis(2, &month));
        ctx.experiments = vec![
            experiment(&ctx, 1, 1, "It took 42 days.", &["42"]),
            experiment(&ctx, 2, 1, "Room 7 is empty.", &["7"]),
        ];
        let verdicts = update(&ctx, &[HypothesisId(1)]);
        assert!(
            matches!(
                verdicts[0].decision,
                Decision::Refute | Decision::Refine { .. }
            ),
            "{:?}",
            verdicts[0]
        );
        assert!(verdicts[0].cites.contains(&ExperimentId(1)));
    }

    #[test]
    fn conclusion_uses_the_best_rule_and_lists_near_misses() {
        let mut ctx = context(0);
        let class = Rule::on(TokenTest::Class {
            class: TokenClass::Month,
        });
        let caps = Rule::on(TokenTest::Class {
            class: TokenClass::Capitalised,
        });
        ctx.hypotheses = vec![hypothesis(1, &class), hypothesis(2, &caps)];
        ctx.hypotheses[0].status = HypothesisStatus::Confirmed;
        ctx.experiments = vec![experiment(
            &ctx,
            1,
            2,
            "We met Anna in Paris.",
            &["We", "Anna", "Paris"],
        )];
        let draft = conclude(&ctx, StopReason::Converged);
        assert_eq!(draft.hypothesis, Some(HypothesisId(1)));
        assert_eq!(draft.label, "month names");
        assert!(draft.confidence > 0.9);
        assert!(
            draft.does_not_fire_on.iter().any(|t| t.contains("Paris")),
            "{:?}",
            draft.does_not_fire_on
        );
        let rule = Rule::from_json(draft.rule.as_ref().unwrap_or(&serde_json::Value::Null));
        assert!(rule.is_ok_and(|r| r.same_claim(&class)));
    }

    #[test]
    fn a_researchers_quoted_wording_becomes_a_testable_rule() {
        let rule = rule_from_words("Fires on \"York\" after \"New\"");
        let rule = rule.unwrap_or_else(|| panic!("no rule"));
        assert_eq!(rule.kind(), RuleKind::Phrase);
        assert!(rule_from_words("something about cities").is_none());
        let mut ctx = context(16);
        let mut h = hypothesis(1, &rule);
        h.rule = None;
        h.description = "Fires on \"York\" after \"New\"".to_string();
        h.origin = Actor::Researcher;
        ctx.hypotheses = vec![h];
        let drafts = design(&ctx, &[HypothesisId(1)], 3);
        assert_eq!(drafts.len(), 3, "{drafts:?}");
        assert!(drafts[0].text.contains("New York"), "{}", drafts[0].text);
    }

    #[test]
    fn byte_level_bpe_exemplars_work_end_to_end() {
        use crate::activation::{ActivationRecord, Exemplar, SourceInfo};
        let info = SourceInfo {
            model: "bpe".into(),
            sae: "s".into(),
            hook: "h".into(),
            n_features: 1,
        };
        let window = |tokens: &[&str], fire: &[usize]| {
            let values = (0..tokens.len())
                .map(|i| if fire.contains(&i) { 6.0 } else { 0.0 })
                .collect();
            let tokens: Vec<String> = tokens.iter().map(|t| t.to_string()).collect();
            let ids = vec![0; tokens.len()];
            Exemplar {
                record: ActivationRecord::new(&info, 0, tokens, ids, values),
                origin: None,
                offset: None,
            }
        };
        let mut ctx = context(0);
        ctx.firing_threshold = 1.2;
        ctx.exemplars = FeatureExemplars {
            feature: 0,
            top: vec![
                window(
                    &[
                        "<|endoftext|>",
                        "We",
                        "\u{120}met",
                        "\u{120}in",
                        "\u{120}May",
                        ".",
                    ],
                    &[4],
                ),
                window(
                    &[
                        "<|endoftext|>",
                        "Due",
                        "\u{120}in",
                        "\u{120}June",
                        "\u{10a}",
                    ],
                    &[3],
                ),
                window(
                    &["<|endoftext|>", "March", "\u{120}came", "\u{120}early"],
                    &[1],
                ),
            ],
            quantiles: Vec::new(),
            non_activating: vec![window(&["<|endoftext|>", "The", "\u{120}cat"], &[])],
            density: None,
            max_activation: 6.0,
        };
        let drafts = hypothesise(&ctx, 4);
        let best = drafts[0].rule.as_ref().map(Rule::from_json);
        let Some(Ok(best)) = best else {
            panic!("no rule: {drafts:?}")
        };
        assert_eq!(
            best.target,
            TokenTest::Class {
                class: TokenClass::Month
            }
        );
        ctx.hypotheses = vec![hypothesis(1, &best)];
        for d in design(&ctx, &[HypothesisId(1)], 3) {
            assert!(
                !d.text.contains('\u{120}') && !d.text.contains("<|"),
                "{}",
                d.text
            );
        }
        let tokens: Vec<String> = ["In", "\u{120}October"]
            .iter()
            .map(|t| t.to_string())
            .collect();
        assert_eq!(best.firing(&tokens), [false, true]);
    }
}
