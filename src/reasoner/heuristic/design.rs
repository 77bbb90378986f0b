//! Experiment design for one rule: fresh carrier sentences with a member
//! of the rule's target (positive tests), exemplars with the suspected
//! trigger or its context swapped out (minimal pairs), and near misses
//! (negative controls). Every prediction is what the rule itself says about
//! the designed text, so a test can only pass if the rule is right.
//!
//! Texts are built as strings and split with the synthetic source's word
//! tokenizer to decide what the rule predicts; predicted substrings are
//! checked with the agent's own scoring so they mark exactly those tokens.

use super::classes::{ALL_CLASSES, TokenClass, normalize};
use super::rule::{Rule, RuleKind, TokenTest};
use crate::activation::Exemplar;
use crate::agent::score::{predicted_tokens, token_spans};
use crate::agent::{ExperimentDraft, ExperimentKind, HypothesisId, Prediction, Strength};
use crate::words::tokenize;

/// Sentence frames with a slot between `before` and `after`.
const CARRIERS: &[(&str, &str)] = &[
    ("I wrote", "on the card and left it there."),
    ("She kept talking about", "all through dinner."),
    ("Nobody expected", "to come up at the meeting."),
    ("They printed", "in large letters on the sign."),
    ("We heard", "twice before the train left."),
    ("My notes only say", "and nothing else."),
    ("Later that week he mentioned", "again, quietly."),
];

/// Words used when a slot must hold something a test does *not* accept.
const FILLERS: &[&str] = &[
    "garden", "window", "Oslo", "the", "letter", "blue", "42", "river", ",", "Table", "kettle",
    "Lima",
];

/// A prefix that pushes every token of a text further from its start.
const SHIFT: &str = "Well, as I said before,";

/// Everything the designer needs about one hypothesis.
pub struct Designer<'a> {
    /// The hypothesis being tested.
    pub hypothesis: HypothesisId,
    /// Its rule.
    pub rule: &'a Rule,
    /// The visible top exemplars, for minimal pairs and seen members.
    pub top: &'a [Exemplar],
    /// Texts already run for this hypothesis, never repeated.
    pub done: Vec<String>,
}

impl Designer<'_> {
    /// Up to `count` new experiments; `variant` rotates members, frames and
    /// exemplars so later rounds test new material.
    pub fn design(&self, count: usize, variant: usize) -> Vec<ExperimentDraft> {
        let builders: [fn(&Self, usize) -> Option<Built>; 3] =
            [Self::positive, Self::minimal_pair, Self::control];
        let mut out: Vec<ExperimentDraft> = Vec::new();
        for attempt in 0..count * 6 {
            if out.len() >= count {
                break;
            }
            let builder = builders[attempt % builders.len()];
            let Some(built) = builder(self, variant + attempt / builders.len()) else {
                continue;
            };
            if self.done.contains(&built.text) || out.iter().any(|d| d.text == built.text) {
                continue;
            }
            if let Some(draft) = self.draft(built) {
                out.push(draft);
            }
        }
        out
    }

    /// Turns a built text into a draft whose prediction is the rule's.
    fn draft(&self, built: Built) -> Option<ExperimentDraft> {
        let tokens = tokenize(&built.text);
        let firing = self.rule.firing(&tokens);
        let wanted: Vec<usize> = (0..tokens.len()).filter(|&i| firing[i]).collect();
        let mut substrings: Vec<String> = Vec::new();
        for &i in &wanted {
            let s = normalize(&tokens[i]).to_string();
            if !substrings.contains(&s) {
                substrings.push(s);
            }
        }
        if predicted_tokens(&tokens, &substrings) != wanted {
            return None;
        }
        let values = self.rule.predict(&tokens);
        let peak = wanted.iter().map(|&i| values[i]).fold(0.0_f32, f32::max);
        let kind = if wanted.is_empty() {
            ExperimentKind::Control
        } else {
            built.kind
        };
        Some(ExperimentDraft {
            hypothesis: self.hypothesis,
            text: built.text,
            prediction: Prediction {
                strength: (!wanted.is_empty()).then(|| strength(peak)),
                firing: substrings,
            },
            kind,
            rationale: built.rationale,
        })
    }

    /// A fresh carrier sentence holding a member of the target, with the
    /// required context in front of it.
    fn positive(&self, variant: usize) -> Option<Built> {
        let member = self.member(variant)?;
        let context: Vec<String> = self
            .rule
            .preceded_by
            .iter()
            .map(|t| self.accepted(t, variant))
            .collect::<Option<_>>()?;
        let slot = join_words(context.iter().chain(std::iter::once(&member)));
        Some(Built {
            text: carrier(variant, &slot),
            kind: ExperimentKind::Positive,
            rationale: format!(
                "puts {} into a new sentence; the rule says it fires there",
                quoted(&member)
            ),
        })
    }

    /// An exemplar with the trigger (or, for context rules, its context)
    /// replaced by something the rule rejects.
    fn minimal_pair(&self, variant: usize) -> Option<Built> {
        if self.rule.kind() == RuleKind::Position {
            let tokens = self.exemplar_tokens(variant)?;
            return Some(Built {
                text: format!("{SHIFT} {}", tokens.concat().trim_start()),
                kind: ExperimentKind::MinimalPair,
                rationale: "the same exemplar pushed later in the text".to_string(),
            });
        }
        let mut tokens = self.exemplar_tokens(variant)?;
        let at = (0..tokens.len()).find(|&i| self.rule.fires_at(&tokens, i))?;
        let (index, test) = match self.rule.preceded_by.last() {
            Some(context) => (at - 1, context),
            None => (at, &self.rule.target),
        };
        let old = tokens[index].clone();
        let mut new = self.rejected(test, variant, &old)?;
        let alnum = |c: Option<char>| c.is_some_and(char::is_alphanumeric);
        if alnum(new.chars().last()) && alnum(tokens.get(index + 1).and_then(|t| t.chars().next()))
        {
            new.push(' ');
        }
        tokens[index] = new.clone();
        Some(Built {
            text: tokens.concat().trim().to_string(),
            kind: ExperimentKind::MinimalPair,
            rationale: format!(
                "an exemplar with {} swapped for {}",
                quoted(normalize(&old)),
                quoted(normalize(&new))
            ),
        })
    }

    /// A near miss: the target without its context, a sibling the rule
    /// leaves out, or the exemplar's trigger in a position the rule excludes.
    fn control(&self, variant: usize) -> Option<Built> {
        let (slot, why) = match self.rule.kind() {
            RuleKind::Context | RuleKind::Phrase => {
                let member = self.member(variant)?;
                let filler = self.rejected(self.rule.preceded_by.last()?, variant, " the")?;
                (
                    join_words([&filler, &member]),
                    format!("{} without the context the rule requires", quoted(&member)),
                )
            }
            RuleKind::Position => {
                let member = self.member(variant)?;
                return Some(Built {
                    text: format!("{SHIFT} {}", carrier(variant, &member)),
                    kind: ExperimentKind::Control,
                    rationale: "a member placed late in the text".to_string(),
                });
            }
            RuleKind::TokenSet | RuleKind::TokenClass => {
                let near = self.near_miss(variant)?;
                (near.clone(), format!("the near miss {}", quoted(&near)))
            }
        };
        Some(Built {
            text: carrier(variant + 1, &slot),
            kind: ExperimentKind::Control,
            rationale: why,
        })
    }

    /// Tokens of the `variant`-th top exemplar on which the rule fires, as
    /// plain text pieces (byte-level markers read as spaces and newlines,
    /// special tokens such as a BOS dropped) so they can be re-joined.
    fn exemplar_tokens(&self, variant: usize) -> Option<Vec<String>> {
        let usable: Vec<Vec<String>> = self
            .top
            .iter()
            .map(|e| surface_tokens(&e.record.tokens))
            .filter(|t| (0..t.len()).any(|i| self.rule.fires_at(t, i)))
            .collect();
        pick(&usable, variant)
    }

    /// A member of the target, preferring ones the exemplars never showed
    /// (they test whether the rule generalises).
    fn member(&self, variant: usize) -> Option<String> {
        self.accepted(&self.rule.target, variant)
    }

    /// A word `test` accepts.
    fn accepted(&self, test: &TokenTest, variant: usize) -> Option<String> {
        let pool: Vec<String> = match test {
            TokenTest::OneOf { tokens } => tokens.iter().cloned().collect(),
            TokenTest::Class { class } => {
                let seen = self.seen_words();
                let (unseen, known): (Vec<&str>, Vec<&str>) = class
                    .examples()
                    .iter()
                    .partition(|w| !seen.contains(&w.to_string()));
                unseen
                    .into_iter()
                    .chain(known)
                    .map(str::to_string)
                    .collect()
            }
            TokenTest::Any => FILLERS.iter().map(|w| w.to_string()).collect(),
        };
        let pool: Vec<String> = pool.into_iter().filter(|w| test.matches(w)).collect();
        pick(&pool, variant)
    }

    /// A word `test` rejects, shaped like `like` where possible (same case,
    /// same leading space).
    fn rejected(&self, test: &TokenTest, variant: usize, like: &str) -> Option<String> {
        let spaced = like.starts_with(' ');
        let shape = ALL_CLASSES
            .iter()
            .copied()
            .find(|c| c.is_shape() && c.matches(like));
        let fits = |w: &&str| !test.matches(w);
        let same_shape: Vec<&str> = FILLERS
            .iter()
            .copied()
            .filter(fits)
            .filter(|w| shape.is_some_and(|c| c.matches(w)))
            .collect();
        let pool: Vec<&str> = if same_shape.is_empty() {
            FILLERS.iter().copied().filter(fits).collect()
        } else {
            same_shape
        };
        let word = pick(&pool, variant)?;
        Some(if spaced {
            format!(" {word}")
        } else {
            word.to_string()
        })
    }

    /// A word close to the target that the rule leaves out: a lower-case
    /// twin of a member, a class sibling outside the set, or a filler.
    fn near_miss(&self, variant: usize) -> Option<String> {
        let target = &self.rule.target;
        let mut pool: Vec<String> = Vec::new();
        if let TokenTest::OneOf { tokens } = target {
            for t in tokens {
                let lower = t.to_lowercase();
                if !target.matches(&lower) {
                    pool.push(lower);
                }
                for class in ALL_CLASSES.iter().filter(|c| !c.is_shape() && c.matches(t)) {
                    pool.extend(
                        class
                            .examples()
                            .iter()
                            .filter(|w| !target.matches(w))
                            .map(|w| w.to_string()),
                    );
                }
            }
        }
        pool.extend(
            FILLERS
                .iter()
                .filter(|w| !target.matches(w))
                .map(|w| w.to_string()),
        );
        pool.dedup();
        pick(&pool, variant)
    }

    /// Normalised tokens that fired in the top exemplars.
    fn seen_words(&self) -> Vec<String> {
        self.top
            .iter()
            .flat_map(|e| e.record.tokens.iter().zip(&e.record.values))
            .filter(|(_, v)| **v > 0.0)
            .map(|(t, _)| normalize(t).to_string())
            .collect()
    }
}

/// Up to `count` distinct sentences on which `rule` predicts firing: the
/// generator for generative accuracy when no LLM is configured. Members,
/// contexts and carrier frames rotate so the sentences vary.
pub fn sentences_for(rule: &Rule, count: usize) -> Vec<String> {
    let designer = Designer {
        hypothesis: HypothesisId(0),
        rule,
        top: &[],
        done: Vec::new(),
    };
    let mut out: Vec<String> = Vec::new();
    for variant in 0..count * 4 {
        if out.len() >= count {
            break;
        }
        let built = designer
            .positive(variant)
            .filter(|b| !out.contains(&b.text));
        if let Some(draft) = built.and_then(|b| designer.draft(b))
            && !draft.prediction.firing.is_empty()
        {
            out.push(draft.text);
        }
    }
    out
}

/// A designed text before its prediction is attached.
struct Built {
    text: String,
    kind: ExperimentKind,
    rationale: String,
}

/// Each token as the text it stands for, without special tokens.
fn surface_tokens(tokens: &[String]) -> Vec<String> {
    let (text, spans) = token_spans(tokens);
    let is_special = |t: &str| t.len() > 2 && t.starts_with('<') && t.ends_with('>');
    spans
        .iter()
        .zip(tokens)
        .filter(|(_, raw)| !is_special(raw))
        .map(|(&(start, end), _)| text[start..end].iter().collect())
        .collect()
}

/// The `variant`-th item, cycling.
fn pick<T: Clone>(pool: &[T], variant: usize) -> Option<T> {
    (!pool.is_empty()).then(|| pool[variant % pool.len()].clone())
}

/// Joins slot words with spaces, except before sentence punctuation and
/// after a currency sign (`$25`, `said,`).
fn join_words<'a>(words: impl IntoIterator<Item = &'a String>) -> String {
    let mut out = String::new();
    for word in words {
        let word = normalize(word);
        if !out.is_empty() && !out.ends_with('$') && !TokenClass::Punctuation.matches(word) {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// A carrier sentence with `slot` in it.
fn carrier(variant: usize, slot: &str) -> String {
    let (before, after) = CARRIERS[variant % CARRIERS.len()];
    format!("{before} {slot} {after}")
}

/// A token in quotes for rationales, spelling out line breaks.
fn quoted(token: &str) -> String {
    format!("\"{}\"", normalize(token).replace('\n', "\\n"))
}

/// The rough strength of a 0..=10 prediction.
fn strength(value: f32) -> Strength {
    if value >= 6.6 {
        Strength::Strong
    } else if value >= 3.3 {
        Strength::Medium
    } else {
        Strength::Weak
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activation::synthetic::SyntheticSource;
    use crate::activation::{ExemplarQuery, FeatureExemplars};

    fn exemplars(feature: u32) -> FeatureExemplars {
        SyntheticSource::new()
            .feature_exemplars(feature, &ExemplarQuery::default())
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn month_class_designs_positive_pair_and_control_with_rule_predictions() {
        let ex = exemplars(0);
        let rule = Rule::on(TokenTest::Class {
            class: TokenClass::Month,
        });
        let designer = Designer {
            hypothesis: HypothesisId(1),
            rule: &rule,
            top: &ex.top,
            done: vec![],
        };
        let drafts = designer.design(3, 0);
        assert_eq!(drafts.len(), 3);
        let kinds: Vec<_> = drafts.iter().map(|d| d.kind).collect();
        assert_eq!(
            kinds,
            [
                ExperimentKind::Positive,
                ExperimentKind::MinimalPair,
                ExperimentKind::Control
            ]
        );
        // The positive test uses a month the exemplars never showed.
        let month = &drafts[0].prediction.firing[0];
        assert!(TokenClass::Month.matches(month));
        assert!(!designer.seen_words().contains(month), "{month}");
        assert!(drafts[0].text.contains(month.as_str()));
        // The minimal pair swaps one month out of an exemplar for a non-month.
        assert!(
            drafts[1].rationale.contains("swapped for \"Oslo\""),
            "{:?}",
            drafts[1]
        );
        assert!(drafts[2].prediction.firing.is_empty(), "{:?}", drafts[2]);
        assert!(
            designer
                .design(3, 1)
                .iter()
                .all(|d| !drafts.iter().any(|o| o.text == d.text))
        );
    }

    #[test]
    fn byte_level_exemplars_become_plain_text() {
        let tokens: Vec<String> = [
            "<|endoftext|>",
            "We",
            "\u{120}met",
            "\u{120}in",
            "\u{120}May",
            "\u{10a}",
        ]
        .iter()
        .map(|t| t.to_string())
        .collect();
        assert_eq!(surface_tokens(&tokens), ["We", " met", " in", " May", "\n"]);
    }

    #[test]
    fn context_rule_controls_drop_the_context() {
        let ex = exemplars(11);
        let rule = Rule {
            preceded_by: vec![TokenTest::one_of(["$"])],
            ..Rule::on(TokenTest::Class {
                class: TokenClass::Digits,
            })
        };
        let designer = Designer {
            hypothesis: HypothesisId(2),
            rule: &rule,
            top: &ex.top,
            done: vec![],
        };
        let drafts = designer.design(3, 0);
        assert_eq!(drafts.len(), 3);
        assert!(drafts[0].text.contains("$"), "{}", drafts[0].text);
        assert_eq!(drafts[0].prediction.firing.len(), 1);
        assert!(!drafts[1].text.contains("$"), "{}", drafts[1].text);
        assert!(!drafts[2].text.contains("$"), "{}", drafts[2].text);
        assert!(drafts[2].prediction.firing.is_empty());
    }

    #[test]
    fn generated_sentences_vary_and_make_the_rule_fire() {
        let rule = Rule {
            preceded_by: vec![TokenTest::one_of(["$"])],
            ..Rule::on(TokenTest::Class {
                class: TokenClass::Digits,
            })
        };
        let sentences = sentences_for(&rule, 5);
        assert_eq!(sentences.len(), 5);
        for s in &sentences {
            let words = s.split_whitespace().count();
            assert!((5..=15).contains(&words), "{s}");
            assert!(rule.firing(&tokenize(s)).contains(&true), "{s}");
        }
        let mut unique = sentences.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 5, "{sentences:?}");
    }
}
