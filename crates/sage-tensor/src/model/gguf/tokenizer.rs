//! A Hugging Face tokenizer rebuilt from a GGUF file's `tokenizer.ggml.*`
//! metadata, with the pre-tokenizer the original model uses.
//!
//! The generic GGUF tokenizer ignores `tokenizer.ggml.pre`, so digits,
//! spaces and punctuation split differently from the model's own tokenizer
//! and the ids come out wrong. Here each known `pre` value maps to the
//! pre-tokenizer its Hugging Face tokenizer.json declares, and the result is
//! assembled as a tokenizer.json document and loaded by `tokenizers`.

use serde_json::{Value, json};
use tokenizers::Tokenizer;

use super::GgufError;
use super::metadata::Metadata;

/// Token type GGUF gives control tokens (`<|im_start|>`...): special added tokens.
const TOKEN_TYPE_CONTROL: i64 = 3;
/// Token type GGUF gives user-defined added tokens: matched whole, not special.
const TOKEN_TYPE_USER_DEFINED: i64 = 4;

/// Qwen2's split regex, from its tokenizer.json.
const QWEN2_PATTERN: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// Llama 3's split regex (`llama-bpe`), from its tokenizer.json.
const LLAMA3_PATTERN: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

fn byte_level(use_regex: bool) -> Value {
    json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": use_regex})
}

fn split_then_byte_level(pattern: &str) -> Value {
    json!({"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": pattern}, "behavior": "Isolated", "invert": false},
        byte_level(false),
    ]})
}

/// The Hugging Face pre-tokenizer (and normalizer) for a `tokenizer.ggml.pre` value.
fn pre_tokenizer(pre: &str) -> Option<(Value, Value)> {
    match pre {
        // llama.cpp splits single digits, then applies the GPT-2 regex: the
        // Digits(individual) + ByteLevel pair of these models' tokenizer.json.
        "smollm" | "starcoder" | "refact" | "codeshell" => Some((
            Value::Null,
            json!({"type": "Sequence", "pretokenizers": [
                {"type": "Digits", "individual_digits": true},
                byte_level(true),
            ]}),
        )),
        "gpt2" => Some((Value::Null, byte_level(true))),
        "qwen2" => Some((json!({"type": "NFC"}), split_then_byte_level(QWEN2_PATTERN))),
        "llama-bpe" | "llama3" => Some((Value::Null, split_then_byte_level(LLAMA3_PATTERN))),
        _ => None,
    }
}

/// Builds the tokenizer a GGUF file describes; fails for tokenizer kinds
/// whose Hugging Face form is not known here (the caller then asks for a
/// tokenizer.json beside the file).
pub(crate) fn from_metadata(md: &Metadata<'_>) -> Result<Tokenizer, GgufError> {
    let model = md.str("tokenizer.ggml.model")?;
    if model != "gpt2" {
        return Err(GgufError::UnsupportedTokenizer {
            what: format!("tokenizer model `{model}` (only byte-level BPE, `gpt2`, is rebuilt)"),
        });
    }
    let pre = md.opt_str("tokenizer.ggml.pre")?.unwrap_or("gpt2");
    let (normalizer, pre_tokenizer) =
        pre_tokenizer(pre).ok_or_else(|| GgufError::UnsupportedTokenizer {
            what: format!("pre-tokenizer `{pre}`"),
        })?;
    let tokens = md.strings("tokenizer.ggml.tokens")?;
    let merges = md.strings("tokenizer.ggml.merges")?;
    let types = md.opt_ints("tokenizer.ggml.token_type")?;

    let vocab: serde_json::Map<String, Value> = tokens
        .iter()
        .enumerate()
        .map(|(id, t)| (t.to_string(), json!(id)))
        .collect();
    let added: Vec<Value> = types
        .iter()
        .flatten()
        .enumerate()
        .filter(|(_, t)| **t == TOKEN_TYPE_CONTROL || **t == TOKEN_TYPE_USER_DEFINED)
        .filter_map(|(id, t)| {
            tokens.get(id).map(|content| {
                json!({"id": id, "content": content, "single_word": false, "lstrip": false,
                       "rstrip": false, "normalized": false,
                       "special": *t == TOKEN_TYPE_CONTROL})
            })
        })
        .collect();
    let post_processor = match (
        md.opt_bool("tokenizer.ggml.add_bos_token")?,
        md.opt_usize("tokenizer.ggml.bos_token_id")?,
    ) {
        (Some(true), Some(bos)) => {
            let bos_text = tokens.get(bos).ok_or_else(|| GgufError::BadMetadata {
                key: "tokenizer.ggml.bos_token_id".into(),
                expected: "an index into tokenizer.ggml.tokens",
            })?;
            json!({"type": "TemplateProcessing",
                "single": [{"SpecialToken": {"id": bos_text, "type_id": 0}},
                           {"Sequence": {"id": "A", "type_id": 0}}],
                "pair": [{"SpecialToken": {"id": bos_text, "type_id": 0}},
                         {"Sequence": {"id": "A", "type_id": 0}},
                         {"Sequence": {"id": "B", "type_id": 1}}],
                "special_tokens": {*bos_text: {"id": bos_text, "ids": [bos], "tokens": [bos_text]}}})
        }
        _ => {
            json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": true})
        }
    };
    let document = json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": normalizer,
        "pre_tokenizer": pre_tokenizer,
        "post_processor": post_processor,
        "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
        "model": {"type": "BPE", "dropout": null, "unk_token": null,
                  "continuing_subword_prefix": null, "end_of_word_suffix": null,
                  "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
                  "vocab": vocab, "merges": merges},
    });
    document
        .to_string()
        .parse::<Tokenizer>()
        .map_err(|e| GgufError::UnsupportedTokenizer {
            what: format!("its vocabulary ({e})"),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokenizers::PreTokenizedString;
    use tokenizers::pre_tokenizers::PreTokenizerWrapper;
    use tokenizers::tokenizer::{OffsetReferential, OffsetType, PreTokenizer};

    fn pieces(pre: &str, text: &str) -> Vec<String> {
        let (_, value) = pre_tokenizer(pre).unwrap();
        let wrapper: PreTokenizerWrapper = serde_json::from_value(value).unwrap();
        let mut s = PreTokenizedString::from(text);
        wrapper.pre_tokenize(&mut s).unwrap();
        s.get_splits(OffsetReferential::Original, OffsetType::Byte)
            .into_iter()
            .map(|(piece, _, _)| piece.to_string())
            .collect()
    }

    #[test]
    fn each_pre_tokenizer_splits_numbers_as_its_model_does() {
        // Byte-level pieces: a space shows as `Ġ`.
        assert_eq!(pieces("smollm", "in 2024"), ["in", "Ġ", "2", "0", "2", "4"]);
        assert_eq!(pieces("gpt2", "in 2024"), ["in", "Ġ2024"]);
        assert_eq!(pieces("llama-bpe", "in 12345"), ["in", "Ġ", "123", "45"]);
        assert_eq!(pieces("qwen2", "in 123"), ["in", "Ġ", "1", "2", "3"]);
        assert!(pre_tokenizer("deepseek-llm").is_none());
    }
}
