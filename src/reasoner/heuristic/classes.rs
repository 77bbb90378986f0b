//! Token classes the heuristic reasoner can name: shapes (digits,
//! capitalisation, punctuation, whitespace, code symbols) and a small
//! built-in lexicon of common English closed word categories (months,
//! weekdays, colours, ...), the general knowledge an LLM explainer would
//! bring. Tokens are compared after stripping the space marker a BPE
//! tokenizer puts in front of a word.

use serde::{Deserialize, Serialize};

/// Removes the leading space marker (` `, `Ġ`, `▁`) from a token; tokens
/// that are nothing but whitespace are kept as they are.
pub fn normalize(token: &str) -> &str {
    let stripped = token.trim_start_matches([' ', '\u{120}', '\u{2581}']);
    if stripped.is_empty() { token } else { stripped }
}

/// A named family of tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenClass {
    /// Numbers written in digits.
    Digits,
    /// Words with an upper-case initial and some lower-case letters.
    Capitalised,
    /// Acronyms: two or more letters, all upper case.
    AllCaps,
    /// Words entirely in lower case.
    Lowercase,
    /// Sentence punctuation (`. , ; : ! ?` and runs of them).
    Punctuation,
    /// Quotation marks.
    Quote,
    /// Code operators and braces (`=`, `==`, `->`, `{`, `;`, ...).
    Operator,
    /// Newline tokens.
    Newline,
    /// Tokens made only of spaces or tabs (indentation).
    Whitespace,
    /// Programming-language keywords.
    CodeKeyword,
    /// Month names.
    Month,
    /// Weekday names.
    Weekday,
    /// Numbers written as words.
    NumberWord,
    /// Colour words.
    Colour,
    /// Common animal nouns.
    Animal,
    /// Personal pronouns.
    Pronoun,
    /// Units of measure.
    Unit,
    /// Titles before a name (Dr, Mr, ...).
    Honorific,
}

const MONTHS: &[&str] = &[
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
const WEEKDAYS: &[&str] = &[
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];
const NUMBER_WORDS: &[&str] = &[
    "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
    "twelve", "twenty", "thirty", "forty", "fifty", "hundred", "thousand", "million", "One", "Two",
    "Three", "Four", "Five", "Six", "Seven", "Eight", "Nine", "Ten",
];
const COLOURS: &[&str] = &[
    "red", "green", "blue", "yellow", "orange", "purple", "pink", "black", "white", "grey", "gray",
    "brown", "violet", "scarlet", "crimson", "teal", "silver", "golden",
];
const ANIMALS: &[&str] = &[
    "dog",
    "dogs",
    "cat",
    "cats",
    "horse",
    "horses",
    "cow",
    "cows",
    "fox",
    "owl",
    "mouse",
    "mice",
    "rabbit",
    "sheep",
    "goat",
    "goats",
    "pig",
    "pigs",
    "eagle",
    "lion",
    "bear",
    "wolf",
    "tiger",
    "deer",
    "duck",
    "swan",
    "whale",
    "bird",
    "birds",
    "puppy",
    "kitten",
    "snake",
    "frog",
    "bee",
    "elephant",
    "elephants",
    "monkey",
    "camel",
    "donkey",
    "hen",
    "chicken",
    "badger",
    "otter",
];
const PRONOUNS: &[&str] = &[
    "I", "you", "he", "she", "we", "they", "You", "He", "She", "We", "They", "me", "him", "her",
    "us", "them",
];
const UNITS: &[&str] = &[
    "km", "kg", "g", "mg", "m", "cm", "mm", "miles", "mile", "meters", "metres", "feet", "inches",
    "litres", "liters", "ml", "minutes", "hours", "seconds", "days", "weeks", "years", "percent",
    "degrees", "tons", "pounds", "people",
];
const CODE_KEYWORDS: &[&str] = &[
    "def", "return", "import", "from", "class", "fn", "let", "mut", "elif", "else", "lambda",
    "impl", "pub", "struct", "const", "var", "function", "while", "async", "await", "self", "None",
    "True", "False", "print", "println",
];
const HONORIFICS: &[&str] = &["Dr", "Mr", "Mrs", "Ms", "Prof", "Sir", "Dame"];

/// Characters that make up code operators.
const OPERATOR_CHARS: &str = "=+-*/<>!&|{};%^~";

/// Every class, in the order candidates are tried.
pub const ALL_CLASSES: &[TokenClass] = &[
    TokenClass::Month,
    TokenClass::Weekday,
    TokenClass::NumberWord,
    TokenClass::Colour,
    TokenClass::Animal,
    TokenClass::Pronoun,
    TokenClass::Unit,
    TokenClass::Honorific,
    TokenClass::CodeKeyword,
    TokenClass::Digits,
    TokenClass::Capitalised,
    TokenClass::AllCaps,
    TokenClass::Lowercase,
    TokenClass::Punctuation,
    TokenClass::Quote,
    TokenClass::Operator,
    TokenClass::Newline,
    TokenClass::Whitespace,
];

impl TokenClass {
    /// The class's word list, for lexicon classes.
    pub fn lexicon(self) -> Option<&'static [&'static str]> {
        match self {
            TokenClass::Month => Some(MONTHS),
            TokenClass::Weekday => Some(WEEKDAYS),
            TokenClass::NumberWord => Some(NUMBER_WORDS),
            TokenClass::Colour => Some(COLOURS),
            TokenClass::Animal => Some(ANIMALS),
            TokenClass::Pronoun => Some(PRONOUNS),
            TokenClass::Unit => Some(UNITS),
            TokenClass::CodeKeyword => Some(CODE_KEYWORDS),
            TokenClass::Honorific => Some(HONORIFICS),
            _ => None,
        }
    }

    /// Whether the token (raw, as the tokenizer produced it) is in the class.
    pub fn matches(self, token: &str) -> bool {
        let word = normalize(token);
        if word.is_empty() {
            return false;
        }
        if let Some(words) = self.lexicon() {
            return words.contains(&word);
        }
        let letters = || word.chars().all(char::is_alphabetic);
        match self {
            TokenClass::Digits => word.chars().all(|c| c.is_ascii_digit()),
            TokenClass::Capitalised => {
                letters()
                    && word.chars().next().is_some_and(char::is_uppercase)
                    && word.chars().any(char::is_lowercase)
            }
            TokenClass::AllCaps => {
                letters() && word.chars().count() >= 2 && word.chars().all(char::is_uppercase)
            }
            TokenClass::Lowercase => letters() && word.chars().all(char::is_lowercase),
            TokenClass::Punctuation => word.chars().all(|c| ".,;:!?".contains(c)),
            TokenClass::Quote => word.chars().any(|c| "\"“”«»".contains(c)),
            TokenClass::Operator => word.chars().all(|c| OPERATOR_CHARS.contains(c)),
            TokenClass::Newline => word.contains('\n') && word.trim().is_empty(),
            TokenClass::Whitespace => {
                !word.is_empty() && word.chars().all(|c| c == ' ' || c == '\t')
            }
            _ => false,
        }
    }

    /// A few members to put into designed texts (word form, no leading
    /// space), most typical first.
    pub fn examples(self) -> &'static [&'static str] {
        if let Some(words) = self.lexicon() {
            return words;
        }
        match self {
            TokenClass::Digits => &["42", "7", "1987", "305", "12"],
            TokenClass::Capitalised => &["Oslo", "Maria", "Kent", "Harbour", "Lima"],
            TokenClass::AllCaps => &["DNA", "GPS", "UNESCO", "NATO", "HTML"],
            TokenClass::Lowercase => &["table", "river", "quiet", "walk", "paper"],
            TokenClass::Punctuation => &[",", ";", ".", "!", "?"],
            TokenClass::Quote => &["\""],
            TokenClass::Operator => &["=", "==", "+=", "->", ";"],
            TokenClass::Newline => &["\n"],
            TokenClass::Whitespace => &["  "],
            _ => &[],
        }
    }

    /// Plain-English name, plural, for descriptions.
    pub fn describe(self) -> &'static str {
        match self {
            TokenClass::Digits => "numbers written in digits",
            TokenClass::Capitalised => "capitalised words",
            TokenClass::AllCaps => "all-capital acronyms",
            TokenClass::Lowercase => "lower-case words",
            TokenClass::Punctuation => "punctuation marks",
            TokenClass::Quote => "quotation marks",
            TokenClass::Operator => "code operators and braces",
            TokenClass::Newline => "line breaks",
            TokenClass::Whitespace => "runs of spaces (indentation)",
            TokenClass::CodeKeyword => "programming keywords",
            TokenClass::Month => "month names",
            TokenClass::Weekday => "weekday names",
            TokenClass::NumberWord => "numbers written as words",
            TokenClass::Colour => "colour words",
            TokenClass::Animal => "animal nouns",
            TokenClass::Pronoun => "personal pronouns",
            TokenClass::Unit => "units of measure",
            TokenClass::Honorific => "titles like Dr and Mr",
        }
    }

    /// Whether the class is a shape (spelling) rather than a word list.
    pub fn is_shape(self) -> bool {
        self.lexicon().is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_strips_bpe_space_markers() {
        assert_eq!(normalize(" May"), "May");
        assert_eq!(normalize("\u{120}May"), "May");
        assert_eq!(normalize("\u{2581}May"), "May");
        assert_eq!(normalize("\n"), "\n");
        assert_eq!(normalize("  "), "  ");
    }

    #[test]
    fn shape_classes_match_by_spelling() {
        assert!(TokenClass::Digits.matches(" 1998"));
        assert!(!TokenClass::Digits.matches(" 19a"));
        assert!(TokenClass::Capitalised.matches(" Paris"));
        assert!(!TokenClass::Capitalised.matches(" NASA"));
        assert!(TokenClass::AllCaps.matches(" NASA"));
        assert!(TokenClass::Punctuation.matches(","));
        assert!(!TokenClass::Punctuation.matches("=="));
        assert!(TokenClass::Operator.matches(" =="));
        assert!(TokenClass::Newline.matches("\n"));
        assert!(TokenClass::Whitespace.matches(" "));
        assert!(!TokenClass::Whitespace.matches("\n"));
        assert!(TokenClass::Quote.matches(" \""));
    }

    #[test]
    fn lexicon_classes_are_case_sensitive_word_lists() {
        assert!(TokenClass::Month.matches(" May"));
        assert!(!TokenClass::Month.matches(" may"));
        assert!(TokenClass::Animal.matches("\u{120}fox"));
        assert!(!TokenClass::Animal.matches(" box"));
    }

    #[test]
    fn examples_belong_to_their_class() {
        for class in ALL_CLASSES {
            assert!(!class.examples().is_empty(), "{class:?}");
            for e in class.examples() {
                assert!(class.matches(e), "{class:?} example {e:?}");
            }
        }
    }
}
