//! The named synthetic features: each a ground-truth rule with a plain
//! description, covering token sets, token classes, context-dependent
//! tokens, multi-token phrases and position effects.

use super::rules::{Matcher, SyntheticRule};

/// A feature whose behaviour is known exactly, for testing explainers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SyntheticFeature {
    /// Short identifier, e.g. `months`.
    pub name: &'static str,
    /// The true rule in words, printed beside what an explainer found.
    pub truth: &'static str,
    /// How activations are computed.
    pub rule: SyntheticRule,
}

const MONTHS: &[(&str, f32)] = &[
    ("January", 0.9),
    ("February", 0.8),
    ("March", 0.85),
    ("April", 0.9),
    ("May", 0.7),
    ("June", 1.0),
    ("July", 0.95),
    ("August", 0.9),
    ("September", 0.8),
    ("October", 0.85),
    ("November", 0.8),
    ("December", 0.9),
];

const WEEKDAYS: &[(&str, f32)] = &[
    ("Monday", 1.0),
    ("Tuesday", 0.9),
    ("Wednesday", 0.85),
    ("Thursday", 0.9),
    ("Friday", 1.0),
    ("Saturday", 0.8),
    ("Sunday", 0.8),
];

const COLOURS: &[(&str, f32)] = &[
    ("red", 1.0),
    ("green", 0.9),
    ("blue", 0.95),
    ("yellow", 0.8),
    ("orange", 0.7),
    ("purple", 0.8),
    ("pink", 0.75),
    ("black", 0.6),
    ("white", 0.6),
    ("grey", 0.7),
    ("brown", 0.7),
];

const ANIMALS: &[(&str, f32)] = &[
    ("dog", 1.0),
    ("dogs", 0.9),
    ("cat", 1.0),
    ("horse", 0.9),
    ("cow", 0.8),
    ("fox", 0.9),
    ("owl", 0.8),
    ("mouse", 0.7),
    ("rabbit", 0.8),
    ("sheep", 0.8),
    ("goats", 0.7),
    ("goat", 0.8),
    ("pig", 0.8),
    ("eagle", 0.9),
    ("lion", 1.0),
    ("bear", 0.9),
    ("wolf", 0.9),
    ("tiger", 1.0),
    ("deer", 0.8),
    ("duck", 0.8),
    ("swan", 0.8),
    ("whale", 0.9),
    ("birds", 0.7),
    ("puppy", 0.9),
];

const PRONOUNS: &[(&str, f32)] = &[
    ("I", 1.0),
    ("you", 0.9),
    ("he", 0.9),
    ("she", 0.9),
    ("we", 0.8),
    ("they", 0.8),
    ("He", 0.9),
    ("She", 0.9),
    ("We", 0.8),
    ("They", 0.8),
    ("You", 0.9),
];

const NUMBER_WORDS: &[(&str, f32)] = &[
    ("one", 0.8),
    ("two", 0.9),
    ("three", 0.9),
    ("four", 0.9),
    ("five", 0.9),
    ("six", 0.9),
    ("seven", 0.9),
    ("eight", 0.9),
    ("nine", 0.9),
    ("ten", 1.0),
    ("twenty", 1.0),
    ("hundred", 1.0),
    ("One", 0.8),
    ("Three", 0.9),
    ("Seven", 0.9),
];

const CODE_KEYWORDS: &[(&str, f32)] = &[
    ("def", 1.0),
    ("return", 0.9),
    ("import", 1.0),
    ("fn", 1.0),
    ("let", 0.9),
    ("elif", 0.8),
    ("lambda", 0.9),
    ("impl", 1.0),
    ("pub", 0.8),
    ("struct", 0.9),
    ("const", 0.8),
];

const OPERATORS: &[(&str, f32)] = &[
    ("=", 1.0),
    ("==", 0.9),
    ("!=", 0.9),
    ("+=", 0.9),
    ("->", 0.8),
    ("{", 0.7),
    ("}", 0.7),
    (";", 0.8),
];

const UNITS: &[(&str, f32)] = &[
    ("km", 1.0),
    ("kg", 1.0),
    ("g", 0.8),
    ("miles", 0.9),
    ("meters", 0.9),
    ("minutes", 0.8),
    ("hours", 0.8),
    ("percent", 0.9),
    ("days", 0.7),
    ("years", 0.7),
    ("people", 0.6),
];

const HONORIFICS: &[(&str, f32)] = &[("Dr", 1.0), ("Mr", 1.0), ("Mrs", 1.0), ("Ms", 1.0)];

/// The built-in synthetic features, indexed by feature id.
pub const FEATURES: &[SyntheticFeature] = &[
    SyntheticFeature {
        name: "months",
        truth: "month names (January..December)",
        rule: SyntheticRule::Token {
            matcher: Matcher::Words(MONTHS),
            strength: 10.0,
        },
    },
    SyntheticFeature {
        name: "weekdays",
        truth: "weekday names (Monday..Sunday)",
        rule: SyntheticRule::Token {
            matcher: Matcher::Words(WEEKDAYS),
            strength: 8.0,
        },
    },
    SyntheticFeature {
        name: "numbers",
        truth: "any number written in digits, stronger when longer",
        rule: SyntheticRule::Token {
            matcher: Matcher::Digits,
            strength: 6.0,
        },
    },
    SyntheticFeature {
        name: "capitalised",
        truth: "capitalised words (upper-case initial, not acronyms)",
        rule: SyntheticRule::Token {
            matcher: Matcher::Capitalised,
            strength: 5.0,
        },
    },
    SyntheticFeature {
        name: "acronyms",
        truth: "all-capital acronyms of two or more letters",
        rule: SyntheticRule::Token {
            matcher: Matcher::AllCaps,
            strength: 7.0,
        },
    },
    SyntheticFeature {
        name: "commas",
        truth: "commas",
        rule: SyntheticRule::Token {
            matcher: Matcher::Words(&[(",", 1.0)]),
            strength: 4.0,
        },
    },
    SyntheticFeature {
        name: "sentence_end",
        truth: "sentence-final punctuation . ! ?",
        rule: SyntheticRule::Token {
            matcher: Matcher::Words(&[(".", 1.0), ("!", 0.9), ("?", 0.9)]),
            strength: 6.0,
        },
    },
    SyntheticFeature {
        name: "newlines",
        truth: "newline tokens",
        rule: SyntheticRule::Token {
            matcher: Matcher::Newline,
            strength: 5.0,
        },
    },
    SyntheticFeature {
        name: "quotes",
        truth: "double quotation marks",
        rule: SyntheticRule::Token {
            matcher: Matcher::Quote,
            strength: 6.0,
        },
    },
    SyntheticFeature {
        name: "code_keywords",
        truth: "programming keywords (def, return, import, fn, let, ...)",
        rule: SyntheticRule::Token {
            matcher: Matcher::Words(CODE_KEYWORDS),
            strength: 9.0,
        },
    },
    SyntheticFeature {
        name: "operators",
        truth: "code operators and braces (= == != += -> { } ;)",
        rule: SyntheticRule::Token {
            matcher: Matcher::Words(OPERATORS),
            strength: 7.0,
        },
    },
    SyntheticFeature {
        name: "dollar_amounts",
        truth: "a number right after a dollar sign",
        rule: SyntheticRule::After {
            previous: Matcher::Words(&[("$", 1.0)]),
            target: Matcher::Digits,
            strength: 10.0,
        },
    },
    SyntheticFeature {
        name: "after_the",
        truth: "the word right after \"the\"",
        rule: SyntheticRule::After {
            previous: Matcher::Words(&[("the", 1.0), ("The", 1.0)]),
            target: Matcher::AnyWord,
            strength: 5.0,
        },
    },
    SyntheticFeature {
        name: "year_after_in",
        truth: "a number right after \"in\" (years)",
        rule: SyntheticRule::After {
            previous: Matcher::Words(&[("in", 1.0), ("In", 1.0)]),
            target: Matcher::Digits,
            strength: 9.0,
        },
    },
    SyntheticFeature {
        name: "units",
        truth: "a unit word right after a number (12 km, 15 kg)",
        rule: SyntheticRule::After {
            previous: Matcher::Digits,
            target: Matcher::Words(UNITS),
            strength: 8.0,
        },
    },
    SyntheticFeature {
        name: "honorific_names",
        truth: "the name right after Dr / Mr / Mrs / Ms",
        rule: SyntheticRule::After {
            previous: Matcher::Words(HONORIFICS),
            target: Matcher::Capitalised,
            strength: 9.0,
        },
    },
    SyntheticFeature {
        name: "new_york",
        truth: "\"York\" in the phrase \"New York\"",
        rule: SyntheticRule::Phrase {
            words: &["New", "York"],
            strength: 10.0,
        },
    },
    SyntheticFeature {
        name: "machine_learning",
        truth: "\"learning\" in the phrase \"machine learning\"",
        rule: SyntheticRule::Phrase {
            words: &["machine", "learning"],
            strength: 8.0,
        },
    },
    SyntheticFeature {
        name: "ice_cream",
        truth: "\"cream\" in the phrase \"ice cream\"",
        rule: SyntheticRule::Phrase {
            words: &["ice", "cream"],
            strength: 7.0,
        },
    },
    SyntheticFeature {
        name: "text_start",
        truth: "the first three tokens of a text, decaying",
        rule: SyntheticRule::Position {
            first_n: 3,
            strength: 10.0,
            decay: 0.7,
        },
    },
    SyntheticFeature {
        name: "first_token",
        truth: "the first token of a text",
        rule: SyntheticRule::Position {
            first_n: 1,
            strength: 8.0,
            decay: 1.0,
        },
    },
    SyntheticFeature {
        name: "colours",
        truth: "colour words (red, green, blue, ...)",
        rule: SyntheticRule::Token {
            matcher: Matcher::Words(COLOURS),
            strength: 8.0,
        },
    },
    SyntheticFeature {
        name: "animals",
        truth: "animal nouns (dog, cat, horse, ...)",
        rule: SyntheticRule::Token {
            matcher: Matcher::Words(ANIMALS),
            strength: 9.0,
        },
    },
    SyntheticFeature {
        name: "pronouns",
        truth: "personal pronouns (I, you, he, she, we, they)",
        rule: SyntheticRule::Token {
            matcher: Matcher::Words(PRONOUNS),
            strength: 6.0,
        },
    },
    SyntheticFeature {
        name: "number_words",
        truth: "numbers written as words (one, two, ten, hundred)",
        rule: SyntheticRule::Token {
            matcher: Matcher::Words(NUMBER_WORDS),
            strength: 7.0,
        },
    },
];
