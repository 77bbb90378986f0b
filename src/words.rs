//! A small deterministic word/punctuation tokenizer, for the two places that
//! need token boundaries without a model: the synthetic source (its texts'
//! tokens) and the heuristic reasoner (which tokens its rule predicts in a
//! text it designs). Neither owns it, so neither depends on the other.
//!
//! It imitates the surface of a BPE tokenizer closely enough for the agent:
//! a token keeps the single space in front of it (" May"), newlines are
//! tokens of their own, brackets and quotes stand alone, and other symbol
//! runs stay together ("==", "->", "+="), so code looks like code.

/// Splits `text` into token strings; concatenating them gives `text` back.
pub fn tokenize(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut pending_space = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            flush_space(&mut tokens, &mut pending_space);
            tokens.push("\n".to_string());
            i += 1;
            continue;
        }
        if c.is_whitespace() {
            flush_space(&mut tokens, &mut pending_space);
            pending_space = true;
            i += 1;
            continue;
        }
        let end = run_end(&chars, i);
        let mut token = String::new();
        if pending_space {
            token.push(' ');
            pending_space = false;
        }
        token.extend(&chars[i..end]);
        tokens.push(token);
        i = end;
    }
    flush_space(&mut tokens, &mut pending_space);
    tokens
}

/// Emits a space that no token claimed (a double space, or one before a
/// newline) as a token of its own, so no character is ever lost.
fn flush_space(tokens: &mut Vec<String>, pending_space: &mut bool) {
    if *pending_space {
        tokens.push(" ".to_string());
        *pending_space = false;
    }
}

/// Characters that always form a token by themselves.
fn is_lone_symbol(c: char) -> bool {
    matches!(c, '(' | ')' | '[' | ']' | '{' | '}' | '"' | '\'')
}

/// End (exclusive) of the token starting at `start`: a run of letters
/// (with `_`), a run of digits, a lone symbol, or a run of other symbols.
fn run_end(chars: &[char], start: usize) -> usize {
    let c = chars[start];
    let same_kind = |d: char| -> bool {
        if c.is_alphabetic() || c == '_' {
            d.is_alphabetic() || d == '_'
        } else if c.is_ascii_digit() {
            d.is_ascii_digit()
        } else {
            !d.is_alphanumeric() && !d.is_whitespace() && d != '_' && !is_lone_symbol(d)
        }
    };
    if is_lone_symbol(c) {
        return start + 1;
    }
    let mut end = start + 1;
    while end < chars.len() && same_kind(chars[end]) {
        end += 1;
    }
    end
}

/// A stable id for a token string (FNV-1a), so records carry `token_ids`
/// that are equal exactly when the strings are.
pub fn token_id(token: &str) -> u32 {
    token.bytes().fold(0x811c_9dc5_u32, |hash, byte| {
        (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_keep_their_leading_space() {
        assert_eq!(
            tokenize("We met in May."),
            ["We", " met", " in", " May", "."]
        );
    }

    #[test]
    fn code_symbols_group_but_brackets_stand_alone() {
        assert_eq!(
            tokenize("if x == 0:\n    f(y) += 1"),
            [
                "if", " x", " ==", " 0", ":", "\n", " ", " ", " ", " f", "(", "y", ")", " +=", " 1"
            ]
        );
    }

    #[test]
    fn quotes_and_money_split_like_bpe() {
        assert_eq!(
            tokenize("\"Hi,\" he paid $25"),
            ["\"", "Hi", ",", "\"", " he", " paid", " $", "25"]
        );
    }

    #[test]
    fn tokens_concatenate_back_to_the_text() {
        let text = "def add(a, b):\n  return a  + b\n\n\"Yes!\" -> done";
        assert_eq!(tokenize(text).concat(), text);
    }

    #[test]
    fn ids_are_equal_exactly_when_strings_are() {
        assert_eq!(token_id(" May"), token_id(" May"));
        assert_ne!(token_id(" May"), token_id("May"));
    }
}
