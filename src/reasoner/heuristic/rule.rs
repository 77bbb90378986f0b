//! The heuristic reasoner's machine-readable claims: a [`Rule`] says which
//! tokens fire (a token set, a class, or any token), optionally only after
//! given preceding tokens (context, phrases) or only near the start of a
//! text (position), and how strongly. A rule predicts activations on any
//! token sequence, so evaluation can score an explanation with no reasoner.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::classes::{ALL_CLASSES, TokenClass, normalize};

/// A test on one token.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TokenTest {
    /// Any token that is not pure whitespace.
    Any,
    /// One of these tokens (compared without the leading space marker,
    /// case-sensitive).
    OneOf {
        /// The member tokens.
        tokens: BTreeSet<String>,
    },
    /// Any token of a class.
    Class {
        /// The class.
        class: TokenClass,
    },
}

impl TokenTest {
    /// A set test from token strings (normalised on the way in).
    pub fn one_of<'a>(tokens: impl IntoIterator<Item = &'a str>) -> TokenTest {
        TokenTest::OneOf {
            tokens: tokens
                .into_iter()
                .map(|t| normalize(t).to_string())
                .collect(),
        }
    }

    /// Whether `token` passes the test.
    pub fn matches(&self, token: &str) -> bool {
        match self {
            TokenTest::Any => !token.trim().is_empty(),
            TokenTest::OneOf { tokens } => tokens.contains(normalize(token)),
            TokenTest::Class { class } => class.matches(token),
        }
    }

    /// Words for the test, e.g. `month names` or `"$"`.
    pub fn describe(&self) -> String {
        match self {
            TokenTest::Any => "any token".to_string(),
            TokenTest::Class { class } => class.describe().to_string(),
            TokenTest::OneOf { tokens } => {
                const SHOWN: usize = 6;
                let mut words: Vec<String> = tokens.iter().take(SHOWN).map(|t| quote(t)).collect();
                if tokens.len() > SHOWN {
                    words.push(format!("… ({} in all)", tokens.len()));
                }
                words.join(", ")
            }
        }
    }
}

/// Quotes a token for prose, spelling out invisible ones.
fn quote(token: &str) -> String {
    match token {
        "\n" => "a line break".to_string(),
        t if t.trim().is_empty() => "spaces".to_string(),
        t => format!("\"{t}\""),
    }
}

/// What sort of claim a rule makes; hypotheses are chosen to differ in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleKind {
    /// A specific set of tokens.
    TokenSet,
    /// A class of tokens.
    TokenClass,
    /// Tokens after a given context.
    Context,
    /// The last token of a fixed phrase.
    Phrase,
    /// Tokens near the start of a text.
    Position,
}

/// A testable claim about where a feature fires.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    /// Which tokens fire.
    pub target: TokenTest,
    /// Tests on the tokens right before the firing one, nearest last; all
    /// must pass.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub preceded_by: Vec<TokenTest>,
    /// Fires only within the first this-many tokens of a text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within_first: Option<usize>,
    /// Activation (0..=10, relative to the feature's max) per member token,
    /// where the exemplars showed it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub strengths: BTreeMap<String, f32>,
    /// Activation (0..=10) of any other firing token.
    pub strength: f32,
}

/// Why a serialised rule could not be used.
#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    /// The JSON is not a heuristic rule.
    #[error(
        "not a heuristic rule ({0}); pass the `rule` of a conclusion made by the heuristic reasoner"
    )]
    Invalid(#[from] serde_json::Error),
}

impl Rule {
    /// A rule firing on `target` anywhere, at full strength.
    pub fn on(target: TokenTest) -> Rule {
        Rule {
            target,
            preceded_by: Vec::new(),
            within_first: None,
            strengths: BTreeMap::new(),
            strength: 10.0,
        }
    }

    /// Reads a rule from the JSON a conclusion or hypothesis carries.
    pub fn from_json(value: &serde_json::Value) -> Result<Rule, RuleError> {
        Ok(Rule::deserialize(value)?)
    }

    /// The rule as JSON, for `Hypothesis.rule` and `Conclusion.rule`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }

    /// Whether two rules fire on the same tokens (strengths aside).
    pub fn same_claim(&self, other: &Rule) -> bool {
        self.target == other.target
            && self.preceded_by == other.preceded_by
            && self.within_first == other.within_first
    }

    /// Whether the rule fires at token `i`.
    pub fn fires_at(&self, tokens: &[String], i: usize) -> bool {
        if self.within_first.is_some_and(|n| i >= n) || !self.target.matches(&tokens[i]) {
            return false;
        }
        let n = self.preceded_by.len();
        i >= n
            && self
                .preceded_by
                .iter()
                .zip(&tokens[i - n..i])
                .all(|(test, token)| test.matches(token))
    }

    /// Which tokens fire.
    pub fn firing(&self, tokens: &[String]) -> Vec<bool> {
        (0..tokens.len())
            .map(|i| self.fires_at(tokens, i))
            .collect()
    }

    /// Predicted activation of every token on a 0..=10 scale.
    pub fn predict(&self, tokens: &[String]) -> Vec<f32> {
        (0..tokens.len())
            .map(|i| {
                if self.fires_at(tokens, i) {
                    self.strengths
                        .get(normalize(&tokens[i]))
                        .copied()
                        .unwrap_or(self.strength)
                } else {
                    0.0
                }
            })
            .collect()
    }

    /// The sort of claim this is.
    pub fn kind(&self) -> RuleKind {
        let single = |t: &TokenTest| matches!(t, TokenTest::OneOf { tokens } if tokens.len() == 1);
        if self.within_first.is_some() {
            RuleKind::Position
        } else if !self.preceded_by.is_empty()
            && single(&self.target)
            && self.preceded_by.iter().all(single)
        {
            RuleKind::Phrase
        } else if !self.preceded_by.is_empty() {
            RuleKind::Context
        } else if matches!(self.target, TokenTest::OneOf { .. }) {
            RuleKind::TokenSet
        } else {
            RuleKind::TokenClass
        }
    }

    /// Number of conditions, used to prefer simpler rules on ties.
    pub fn complexity(&self) -> usize {
        let target = match &self.target {
            TokenTest::Any => 0,
            TokenTest::Class { .. } => 1,
            TokenTest::OneOf { tokens } => 1 + tokens.len() / 4,
        };
        target + 2 * self.preceded_by.len() + 2 * usize::from(self.within_first.is_some())
    }

    /// A short label (at most 8 words).
    pub fn label(&self) -> String {
        let target = match &self.target {
            TokenTest::OneOf { tokens } if tokens.len() > 3 => self.set_label(tokens),
            t => t.describe(),
        };
        let label = match self.kind() {
            RuleKind::Position => match self.within_first {
                Some(1) => "the first token of a text".to_string(),
                Some(n) => format!("the first {n} tokens of a text"),
                None => target,
            },
            RuleKind::Phrase => format!("\"{}\" ending a phrase", self.phrase()),
            RuleKind::Context => format!(
                "{target} after {}",
                self.preceded_by
                    .last()
                    .map_or(String::new(), |t| t.describe())
            ),
            RuleKind::TokenSet | RuleKind::TokenClass => target,
        };
        crate::agent::clamp_label(&label)
    }

    /// A label for a big token set: the class most members share (if most
    /// do) and its strongest members, e.g. `colour words like "red", "blue"`.
    fn set_label(&self, tokens: &BTreeSet<String>) -> String {
        let mut members: Vec<&String> = tokens.iter().collect();
        members.sort_by(|a, b| {
            let s = |t: &String| self.strengths.get(t.as_str()).copied().unwrap_or(0.0);
            s(b).total_cmp(&s(a)).then(a.cmp(b))
        });
        let shown: Vec<String> = members.iter().take(2).map(|t| quote(t)).collect();
        let class = ALL_CLASSES
            .iter()
            .find(|c| tokens.iter().filter(|t| c.matches(t)).count() * 10 >= tokens.len() * 6);
        let family = class.map_or("tokens", |c| c.describe());
        format!("{family} like {}", shown.join(", "))
    }

    /// The tokens of a phrase rule joined with spaces (`New York`).
    fn phrase(&self) -> String {
        self.preceded_by
            .iter()
            .chain(std::iter::once(&self.target))
            .filter_map(|t| match t {
                TokenTest::OneOf { tokens } => tokens.iter().next().cloned(),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// A readable sentence: where the rule fires.
    pub fn describe(&self) -> String {
        let mut text = match self.kind() {
            RuleKind::Phrase => format!(
                "fires on the last token of the phrase \"{}\"",
                self.phrase()
            ),
            _ => format!("fires on {}", self.target.describe()),
        };
        if self.kind() != RuleKind::Phrase {
            for (k, test) in self.preceded_by.iter().rev().enumerate() {
                let place = if k == 0 {
                    "right after"
                } else {
                    "which itself follows"
                };
                text.push_str(&format!(" {place} {}", test.describe()));
            }
        }
        if let Some(n) = self.within_first {
            text.push_str(&format!(" within the first {n} token(s) of a text"));
        }
        text
    }
}

/// Predicts a feature's activation (0..=10) at every token from a rule
/// serialised in a conclusion, so evaluation needs no reasoner.
pub fn predict_from_rule(
    rule: &serde_json::Value,
    tokens: &[String],
) -> Result<Vec<f32>, RuleError> {
    Ok(Rule::from_json(rule)?.predict(tokens))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn set_rule_predicts_member_strengths() {
        let mut rule = Rule::on(TokenTest::one_of([" May", "June"]));
        rule.strengths.insert("June".into(), 7.5);
        rule.strength = 5.0;
        let tokens = toks(&["In", " May", " and", "\u{120}June", " may"]);
        assert_eq!(rule.predict(&tokens), [0.0, 5.0, 0.0, 7.5, 0.0]);
    }

    #[test]
    fn context_and_phrase_rules_need_preceding_tokens() {
        let rule = Rule {
            preceded_by: vec![TokenTest::one_of(["New"])],
            ..Rule::on(TokenTest::one_of(["York"]))
        };
        assert_eq!(rule.kind(), RuleKind::Phrase);
        assert_eq!(
            rule.firing(&toks(&["York", " New", " York", " old", " York"])),
            [false, false, true, false, false]
        );
        assert!(
            rule.describe().contains("\"New York\""),
            "{}",
            rule.describe()
        );
        let dollars = Rule {
            preceded_by: vec![TokenTest::one_of(["$"])],
            ..Rule::on(TokenTest::Class {
                class: TokenClass::Digits,
            })
        };
        assert_eq!(dollars.kind(), RuleKind::Context);
        assert_eq!(dollars.label(), "numbers written in digits after \"$\"");
    }

    #[test]
    fn position_rule_fires_only_early() {
        let rule = Rule {
            within_first: Some(2),
            ..Rule::on(TokenTest::Any)
        };
        assert_eq!(rule.firing(&toks(&["A", " b", " c"])), [true, true, false]);
        assert_eq!(rule.label(), "the first 2 tokens of a text");
    }

    #[test]
    fn rules_round_trip_through_json_and_predict_from_it() {
        let rule = Rule::on(TokenTest::Class {
            class: TokenClass::Month,
        });
        let json = rule.to_json();
        assert_eq!(json["target"]["class"], "month");
        let values = predict_from_rule(&json, &toks(&["In", " October"]));
        assert_eq!(values.ok(), Some(vec![0.0, 10.0]));
        assert!(predict_from_rule(&serde_json::json!({"bogus": 1}), &[]).is_err());
    }

    #[test]
    fn descriptions_name_members() {
        let rule = Rule::on(TokenTest::one_of(["May", "June"]));
        assert_eq!(rule.describe(), "fires on \"June\", \"May\"");
        assert_eq!(rule.label(), "\"June\", \"May\"");
    }
}
