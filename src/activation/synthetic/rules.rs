//! The ground-truth rule language of synthetic features.
//!
//! A synthetic feature's activation on each token is computed by one
//! [`SyntheticRule`]. The language is deliberately independent of the
//! heuristic reasoner's own rule type, so the suite measures whether the
//! reasoner *recovers* a rule rather than whether two copies of one
//! evaluator agree.

/// Which tokens a rule looks at. Token text is compared after removing the
/// leading space the tokenizer keeps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Matcher {
    /// Exact (case-sensitive) words, each with its own relative strength.
    Words(&'static [(&'static str, f32)]),
    /// Numbers; longer numbers fire a little more strongly.
    Digits,
    /// Words with an upper-case first letter and some lower-case letters.
    Capitalised,
    /// Acronyms: two or more letters, all upper case.
    AllCaps,
    /// Newline tokens.
    Newline,
    /// Any token containing a double quote.
    Quote,
    /// Any token that is not pure whitespace.
    AnyWord,
}

impl Matcher {
    /// The relative strength (0..=1) at which `token` matches, if it does.
    pub fn weight(&self, token: &str) -> Option<f32> {
        let word = token.trim_start_matches(' ');
        match self {
            Matcher::Words(words) => words.iter().find(|(w, _)| *w == word).map(|(_, s)| *s),
            Matcher::Digits => (!word.is_empty() && word.chars().all(|c| c.is_ascii_digit()))
                .then(|| (0.6 + 0.1 * word.len() as f32).min(1.0)),
            Matcher::Capitalised => {
                let mut chars = word.chars();
                let first_upper = chars.next().is_some_and(char::is_uppercase);
                (first_upper
                    && word.chars().all(char::is_alphabetic)
                    && word.chars().any(char::is_lowercase))
                .then_some(1.0)
            }
            Matcher::AllCaps => (word.chars().count() >= 2
                && word.chars().all(|c| c.is_ascii_uppercase()))
            .then_some(1.0),
            Matcher::Newline => (token == "\n").then_some(1.0),
            Matcher::Quote => token.contains('"').then_some(1.0),
            Matcher::AnyWord => (!token.trim().is_empty()).then_some(1.0),
        }
    }
}

/// How a synthetic feature's activation is computed from tokens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SyntheticRule {
    /// Fires on every token the matcher accepts, at `strength × weight`.
    Token {
        /// Which tokens fire.
        matcher: Matcher,
        /// Activation of a full-weight match.
        strength: f32,
    },
    /// Fires on a `target` token only when the token right before it
    /// matches `previous`.
    After {
        /// The context the previous token must match.
        previous: Matcher,
        /// Which tokens fire, given the context.
        target: Matcher,
        /// Activation of a full-weight match.
        strength: f32,
    },
    /// Fires on the last token of a multi-token phrase.
    Phrase {
        /// The phrase's words in order (without leading spaces).
        words: &'static [&'static str],
        /// Activation on the phrase's last token.
        strength: f32,
    },
    /// Fires on the first `first_n` tokens, decaying by `decay` per token.
    Position {
        /// How many leading tokens fire.
        first_n: usize,
        /// Activation on the first token.
        strength: f32,
        /// Factor applied per later position.
        decay: f32,
    },
}

impl SyntheticRule {
    /// The activation at every token of `tokens`.
    pub fn activations(&self, tokens: &[String]) -> Vec<f32> {
        (0..tokens.len())
            .map(|i| self.value_at(tokens, i))
            .collect()
    }

    fn value_at(&self, tokens: &[String], i: usize) -> f32 {
        match *self {
            SyntheticRule::Token { matcher, strength } => {
                matcher.weight(&tokens[i]).map_or(0.0, |w| strength * w)
            }
            SyntheticRule::After {
                previous,
                target,
                strength,
            } => {
                let context_ok = i > 0 && previous.weight(&tokens[i - 1]).is_some();
                match target.weight(&tokens[i]) {
                    Some(w) if context_ok => strength * w,
                    _ => 0.0,
                }
            }
            SyntheticRule::Phrase { words, strength } => {
                let n = words.len();
                let matches = i + 1 >= n
                    && words
                        .iter()
                        .zip(&tokens[i + 1 - n..=i])
                        .all(|(w, t)| t.trim_start_matches(' ') == *w);
                if matches { strength } else { 0.0 }
            }
            SyntheticRule::Position {
                first_n,
                strength,
                decay,
            } => {
                if i < first_n {
                    strength * decay.powi(i as i32)
                } else {
                    0.0
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::words::tokenize;

    #[test]
    fn token_rule_grades_members() {
        let rule = SyntheticRule::Token {
            matcher: Matcher::Words(&[("May", 0.5), ("June", 1.0)]),
            strength: 10.0,
        };
        assert_eq!(
            rule.activations(&tokenize("May or June, may")),
            [5.0, 0.0, 10.0, 0.0, 0.0]
        );
    }

    #[test]
    fn after_rule_needs_its_context() {
        let rule = SyntheticRule::After {
            previous: Matcher::Words(&[("$", 1.0)]),
            target: Matcher::Digits,
            strength: 10.0,
        };
        let values = rule.activations(&tokenize("pay $25 not 25"));
        assert_eq!(values[0..2], [0.0, 0.0]);
        assert!((values[2] - 8.0).abs() < 1e-6, "{values:?}");
        assert_eq!(values[4], 0.0);
    }

    #[test]
    fn phrase_fires_on_last_token_only() {
        let rule = SyntheticRule::Phrase {
            words: &["New", "York"],
            strength: 9.0,
        };
        assert_eq!(
            rule.activations(&tokenize("New York, York, new York")),
            [0.0, 9.0, 0.0, 0.0, 0.0, 0.0, 0.0]
        );
    }

    #[test]
    fn position_rule_decays() {
        let rule = SyntheticRule::Position {
            first_n: 2,
            strength: 10.0,
            decay: 0.5,
        };
        assert_eq!(rule.activations(&tokenize("a b c")), [10.0, 5.0, 0.0]);
    }

    #[test]
    fn classes_match_their_tokens() {
        assert!(Matcher::Capitalised.weight(" Paris").is_some());
        assert!(Matcher::Capitalised.weight(" NASA").is_none());
        assert!(Matcher::AllCaps.weight(" NASA").is_some());
        assert!(Matcher::AllCaps.weight(" I").is_none());
        assert!(Matcher::Quote.weight(",\"").is_some());
        assert!(Matcher::AnyWord.weight(" ").is_none());
    }
}
