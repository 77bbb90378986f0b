//! The rule learner: proposes candidate [`Rule`]s from observed activations
//! and ranks them by how well they explain every token seen so far.
//!
//! Candidates combine a target (the exact set of firing tokens, a class
//! most of them share, or any token), an optional context (what the token
//! before, or the two tokens before, must be) and an optional position
//! limit. Each is scored by token-level precision, recall and F1 against
//! the observed firing tokens (exemplars plus experiment results).

use std::collections::BTreeMap;

use super::classes::{ALL_CLASSES, TokenClass, normalize};
use super::rule::{Rule, TokenTest};
use crate::activation::ActivationRecord;

/// Largest token set a candidate may list; bigger sets mean the target is
/// not a set at all.
const MAX_SET: usize = 40;
/// Largest context set worth a candidate.
const MAX_CONTEXT_SET: usize = 6;
/// A class becomes a target candidate when it covers this share of firing tokens.
const TARGET_COVERAGE: f32 = 0.5;
/// A class becomes a context candidate when it covers this share of contexts.
const CONTEXT_COVERAGE: f32 = 0.7;
/// Latest firing position for which a position limit is proposed.
const MAX_POSITION: usize = 8;
/// Score penalty per unit of rule complexity (breaks ties toward simple rules).
const COMPLEXITY_PENALTY: f32 = 0.004;

/// Token sequences with their observed activations.
#[derive(Debug, Clone, Default)]
pub struct Dataset {
    windows: Vec<(Vec<String>, Vec<f32>)>,
    threshold: f32,
    max_activation: f32,
}

impl Dataset {
    /// An empty dataset; a token fires at `threshold` or above (and above 0),
    /// strengths are scaled so `max_activation` is 10.
    pub fn new(threshold: f32, max_activation: f32) -> Dataset {
        Dataset {
            windows: Vec::new(),
            threshold,
            max_activation,
        }
    }

    /// Adds observed records.
    pub fn extend<'a>(&mut self, records: impl IntoIterator<Item = &'a ActivationRecord>) {
        for r in records {
            self.windows.push((r.tokens.clone(), r.values.clone()));
        }
    }

    /// Whether a value counts as firing.
    pub fn fires(&self, value: f32) -> bool {
        value > 0.0 && value >= self.threshold
    }

    /// Every firing position as (window, token index).
    fn positives(&self) -> Vec<(usize, usize)> {
        self.windows
            .iter()
            .enumerate()
            .flat_map(|(w, (_, values))| {
                values
                    .iter()
                    .enumerate()
                    .filter(|(_, v)| self.fires(**v))
                    .map(move |(i, _)| (w, i))
            })
            .collect()
    }

    /// Calls `f(tokens, i)` for every observed token that did not fire.
    pub fn for_each_silent(&self, mut f: impl FnMut(&[String], usize)) {
        for (tokens, values) in &self.windows {
            for (i, v) in values.iter().enumerate() {
                if !self.fires(*v) {
                    f(tokens, i);
                }
            }
        }
    }

    fn token(&self, (w, i): (usize, usize)) -> &str {
        &self.windows[w].0[i]
    }

    /// Firing tokens (normalised) with how often each fired, most frequent first.
    pub fn firing_counts(&self) -> Vec<(String, usize)> {
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for p in self.positives() {
            *counts
                .entry(normalize(self.token(p)).to_string())
                .or_default() += 1;
        }
        let mut counts: Vec<_> = counts.into_iter().collect();
        counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        counts
    }
}

/// Token-level agreement between a rule and the data.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Fit {
    /// Tokens predicted and observed firing.
    pub hits: usize,
    /// Tokens predicted firing.
    pub predicted: usize,
    /// Tokens observed firing.
    pub observed: usize,
}

impl Fit {
    /// Share of predicted tokens that fired (1 when nothing was predicted).
    pub fn precision(&self) -> f32 {
        ratio(self.hits, self.predicted)
    }

    /// Share of firing tokens predicted (1 when nothing fired).
    pub fn recall(&self) -> f32 {
        ratio(self.hits, self.observed)
    }

    /// Harmonic mean of precision and recall.
    pub fn f1(&self) -> f32 {
        let (p, r) = (self.precision(), self.recall());
        if p + r > 0.0 {
            2.0 * p * r / (p + r)
        } else {
            0.0
        }
    }
}

fn ratio(num: usize, den: usize) -> f32 {
    if den == 0 {
        1.0
    } else {
        num as f32 / den as f32
    }
}

/// How well `rule` explains the data.
pub fn evaluate(rule: &Rule, data: &Dataset) -> Fit {
    let mut fit = Fit::default();
    for (tokens, values) in &data.windows {
        for (predicted, value) in rule.firing(tokens).into_iter().zip(values) {
            let observed = data.fires(*value);
            fit.hits += usize::from(predicted && observed);
            fit.predicted += usize::from(predicted);
            fit.observed += usize::from(observed);
        }
    }
    fit
}

/// A rule with its fit and ranking score.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// The rule, with strengths fitted to the data.
    pub rule: Rule,
    /// Its agreement with the data.
    pub fit: Fit,
    /// F1 minus a small complexity penalty; higher is better.
    pub score: f32,
}

/// Scores a rule and fits its strengths.
pub fn assess(rule: Rule, data: &Dataset) -> Candidate {
    let rule = with_strengths(rule, data);
    let fit = evaluate(&rule, data);
    let score = fit.f1() - COMPLEXITY_PENALTY * rule.complexity() as f32;
    Candidate { rule, fit, score }
}

/// Sets a rule's strengths from the mean observed activation (0..=10) of
/// each token where it fires on firing tokens.
fn with_strengths(mut rule: Rule, data: &Dataset) -> Rule {
    let scale = if data.max_activation > 0.0 {
        10.0 / data.max_activation
    } else {
        0.0
    };
    let mut sums: BTreeMap<String, (f32, usize)> = BTreeMap::new();
    for (tokens, values) in &data.windows {
        for (i, fires) in rule.firing(tokens).into_iter().enumerate() {
            if fires && data.fires(values[i]) {
                let entry = sums.entry(normalize(&tokens[i]).to_string()).or_default();
                entry.0 += values[i] * scale;
                entry.1 += 1;
            }
        }
    }
    let (total, count) = sums
        .values()
        .fold((0.0, 0), |acc, v| (acc.0 + v.0, acc.1 + v.1));
    if count > 0 {
        rule.strength = (total / count as f32).clamp(0.0, 10.0);
    }
    rule.strengths = sums
        .into_iter()
        .map(|(t, (sum, n))| (t, (sum / n as f32).clamp(0.0, 10.0)))
        .collect();
    rule
}

/// Classes covering at least `coverage` of `tokens`.
fn covering_classes(tokens: &[&str], coverage: f32) -> Vec<TokenClass> {
    if tokens.is_empty() {
        return Vec::new();
    }
    ALL_CLASSES
        .iter()
        .copied()
        .filter(|c| {
            let n = tokens.iter().filter(|t| c.matches(t)).count();
            n as f32 / tokens.len() as f32 >= coverage
        })
        .collect()
}

/// Candidate tests for the token `back` places before each firing token.
fn context_tests(data: &Dataset, positives: &[(usize, usize)], back: usize) -> Vec<TokenTest> {
    let before: Vec<&str> = positives
        .iter()
        .filter(|(_, i)| *i >= back)
        .map(|&(w, i)| data.token((w, i - back)))
        .collect();
    if before.len() * 2 < positives.len() {
        return Vec::new();
    }
    let mut tests: Vec<TokenTest> = covering_classes(&before, CONTEXT_COVERAGE)
        .into_iter()
        .map(|class| TokenTest::Class { class })
        .collect();
    let set = TokenTest::one_of(before.iter().copied());
    if matches!(&set, TokenTest::OneOf { tokens } if tokens.len() <= MAX_CONTEXT_SET) {
        tests.push(set);
    }
    tests
}

/// Every candidate rule for the data, best first. Empty when nothing fires.
pub fn candidates(data: &Dataset) -> Vec<Candidate> {
    let positives = data.positives();
    if positives.is_empty() {
        return Vec::new();
    }
    let firing: Vec<&str> = positives.iter().map(|&p| data.token(p)).collect();
    let mut targets: Vec<TokenTest> = covering_classes(&firing, TARGET_COVERAGE)
        .into_iter()
        .map(|class| TokenTest::Class { class })
        .collect();
    let set = TokenTest::one_of(firing.iter().copied());
    if matches!(&set, TokenTest::OneOf { tokens } if tokens.len() <= MAX_SET) {
        targets.push(set);
    }
    targets.push(TokenTest::Any);

    let mut contexts: Vec<Vec<TokenTest>> = vec![Vec::new()];
    let near = context_tests(data, &positives, 1);
    for test in &near {
        contexts.push(vec![test.clone()]);
    }
    for far in context_tests(data, &positives, 2) {
        for test in near.iter().filter(|t| matches!(t, TokenTest::OneOf { .. })) {
            contexts.push(vec![far.clone(), test.clone()]);
        }
    }

    let last = positives.iter().map(|(_, i)| *i).max().unwrap_or(0);
    let mut positions = vec![None];
    if last < MAX_POSITION {
        positions.push(Some(last + 1));
    }

    let mut out = Vec::new();
    for target in &targets {
        for context in &contexts {
            for position in &positions {
                let rule = Rule {
                    preceded_by: context.clone(),
                    within_first: *position,
                    ..Rule::on(target.clone())
                };
                out.push(assess(rule, data));
            }
        }
    }
    rank(&mut out);
    out
}

/// Sorts candidates best first, deterministically.
pub fn rank(candidates: &mut [Candidate]) {
    candidates.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(a.rule.complexity().cmp(&b.rule.complexity()))
            .then_with(|| format!("{:?}", a.rule).cmp(&format!("{:?}", b.rule)))
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activation::SourceInfo;
    use crate::reasoner::heuristic::rule::RuleKind;

    fn record(text: &[&str], firing: &[&str]) -> ActivationRecord {
        let tokens: Vec<String> = text.iter().map(|t| t.to_string()).collect();
        let values = text
            .iter()
            .map(|t| if firing.contains(t) { 8.0 } else { 0.0 })
            .collect();
        let info = SourceInfo {
            model: "m".into(),
            sae: "s".into(),
            hook: "h".into(),
            n_features: 1,
        };
        ActivationRecord::new(&info, 0, tokens, vec![0; text.len()], values)
    }

    fn data(records: &[ActivationRecord]) -> Dataset {
        let mut d = Dataset::new(2.0, 8.0);
        d.extend(records);
        d
    }

    #[test]
    fn month_exemplars_yield_the_month_class_first() {
        let d = data(&[
            record(&["We", " met", " in", " May", "."], &[" May"]),
            record(
                &["Born", " in", " June", " or", " July"],
                &[" June", " July"],
            ),
            record(&["March", " came", " early"], &["March"]),
            record(&["The", " cat", " sat", " in", " the", " sun"], &[]),
        ]);
        let best = &candidates(&d)[0];
        assert_eq!(
            best.rule.target,
            TokenTest::Class {
                class: TokenClass::Month
            }
        );
        assert_eq!(best.fit.f1(), 1.0);
        assert_eq!(best.rule.strength, 10.0);
    }

    #[test]
    fn context_rule_wins_when_the_token_also_appears_silently() {
        let d = data(&[
            record(&["It", " cost", " $", "25", " for", " 3"], &["25"]),
            record(&["Pay", " $", "80", " now"], &["80"]),
            record(&["Take", " 12", " apples", " or", " 25", " pears"], &[]),
            record(&["I", " owe", " $", "7"], &["7"]),
        ]);
        let best = &candidates(&d)[0];
        assert_eq!(best.rule.kind(), RuleKind::Context, "{:?}", best.rule);
        assert_eq!(best.rule.preceded_by, vec![TokenTest::one_of(["$"])]);
        assert_eq!(best.fit.f1(), 1.0);
    }

    #[test]
    fn phrase_and_position_rules_are_found() {
        let d = data(&[
            record(&["I", " love", " New", " York", "."], &[" York"]),
            record(&["New", " York", " is", " big"], &[" York"]),
            record(&["The", " Duke", " of", " York"], &[]),
            record(&["A", " new", " York", " hat"], &[]),
        ]);
        let best = &candidates(&d)[0];
        assert_eq!(best.fit.f1(), 1.0, "{:?}", best.rule);
        assert_eq!(
            best.rule.preceded_by.last(),
            Some(&TokenTest::one_of(["New"]))
        );

        let d = data(&[
            record(&["Hello", " there", " friend"], &["Hello"]),
            record(&["So", " it", " goes"], &["So"]),
            record(&["Yes", " Hello", " no"], &["Yes"]),
        ]);
        let best = &candidates(&d)[0];
        assert_eq!(best.rule.within_first, Some(1), "{:?}", best.rule);
        assert_eq!(best.fit.f1(), 1.0);
    }

    #[test]
    fn nothing_firing_gives_no_candidates() {
        assert!(candidates(&data(&[record(&["a", " b"], &[])])).is_empty());
    }
}
