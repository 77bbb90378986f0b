//! Typed reads of GGUF metadata values, and the Hugging Face `config.json`
//! that the llama-family forward expects, rebuilt from them.

use std::collections::HashMap;

use candle_core::quantized::gguf_file::Value;
use serde_json::json;

use super::GgufError;

/// The metadata table of one GGUF file, with reads that fail with a typed error.
pub(crate) struct Metadata<'a> {
    pub(crate) values: &'a HashMap<String, Value>,
}

impl<'a> Metadata<'a> {
    pub(crate) fn get(&self, key: &str) -> Option<&'a Value> {
        self.values.get(key)
    }

    fn bad(key: &str, expected: &'static str) -> GgufError {
        GgufError::BadMetadata {
            key: key.to_string(),
            expected,
        }
    }

    fn missing(key: &str) -> GgufError {
        GgufError::MissingMetadata {
            key: key.to_string(),
        }
    }

    /// An unsigned integer of any width.
    pub(crate) fn opt_usize(&self, key: &str) -> Result<Option<usize>, GgufError> {
        let Some(value) = self.get(key) else {
            return Ok(None);
        };
        let n: Option<u64> = match value {
            Value::U8(v) => Some(u64::from(*v)),
            Value::U16(v) => Some(u64::from(*v)),
            Value::U32(v) => Some(u64::from(*v)),
            Value::U64(v) => Some(*v),
            Value::I8(v) => u64::try_from(*v).ok(),
            Value::I16(v) => u64::try_from(*v).ok(),
            Value::I32(v) => u64::try_from(*v).ok(),
            Value::I64(v) => u64::try_from(*v).ok(),
            _ => None,
        };
        n.and_then(|n| usize::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| Self::bad(key, "a non-negative integer"))
    }

    pub(crate) fn usize(&self, key: &str) -> Result<usize, GgufError> {
        self.opt_usize(key)?.ok_or_else(|| Self::missing(key))
    }

    pub(crate) fn opt_f64(&self, key: &str) -> Result<Option<f64>, GgufError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::F32(v)) => Ok(Some(f64::from(*v))),
            Some(Value::F64(v)) => Ok(Some(*v)),
            Some(_) => Err(Self::bad(key, "a floating-point number")),
        }
    }

    pub(crate) fn opt_bool(&self, key: &str) -> Result<Option<bool>, GgufError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(v)) => Ok(Some(*v)),
            Some(_) => Err(Self::bad(key, "a boolean")),
        }
    }

    pub(crate) fn opt_str(&self, key: &str) -> Result<Option<&'a str>, GgufError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(Self::bad(key, "a string")),
        }
    }

    pub(crate) fn str(&self, key: &str) -> Result<&'a str, GgufError> {
        self.opt_str(key)?.ok_or_else(|| Self::missing(key))
    }

    pub(crate) fn strings(&self, key: &str) -> Result<Vec<&'a str>, GgufError> {
        let Some(Value::Array(items)) = self.get(key) else {
            return Err(match self.get(key) {
                None => Self::missing(key),
                Some(_) => Self::bad(key, "an array of strings"),
            });
        };
        items
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.as_str()),
                _ => Err(Self::bad(key, "an array of strings")),
            })
            .collect()
    }

    pub(crate) fn opt_ints(&self, key: &str) -> Result<Option<Vec<i64>>, GgufError> {
        let Some(value) = self.get(key) else {
            return Ok(None);
        };
        let Value::Array(items) = value else {
            return Err(Self::bad(key, "an array of integers"));
        };
        items
            .iter()
            .map(|v| match v {
                Value::I32(n) => Ok(i64::from(*n)),
                Value::U32(n) => Ok(i64::from(*n)),
                Value::I64(n) => Ok(*n),
                Value::U8(n) => Ok(i64::from(*n)),
                Value::I8(n) => Ok(i64::from(*n)),
                _ => Err(Self::bad(key, "an array of integers")),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }
}

/// Which transformer layout the file declares (`general.architecture`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GgufArchitecture {
    /// Llama, SmolLM2, Mistral-style checkpoints; q/k rows were permuted by the converter.
    Llama,
    /// Qwen2-style checkpoints; q/k/v carry biases and are stored unpermuted.
    Qwen2,
}

impl GgufArchitecture {
    pub(crate) fn parse(name: &str) -> Result<GgufArchitecture, GgufError> {
        match name {
            "llama" => Ok(GgufArchitecture::Llama),
            "qwen2" => Ok(GgufArchitecture::Qwen2),
            other => Err(GgufError::UnsupportedArchitecture {
                architecture: other.to_string(),
            }),
        }
    }

    /// The metadata key prefix and Hugging Face `model_type`.
    pub fn name(self) -> &'static str {
        match self {
            GgufArchitecture::Llama => "llama",
            GgufArchitecture::Qwen2 => "qwen2",
        }
    }
}

/// Attention geometry needed to undo llama.cpp's q/k row permutation.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Heads {
    pub(crate) n_head: usize,
    pub(crate) n_kv_head: usize,
}

/// Builds the Hugging Face `config.json` equivalent of the file's metadata.
pub(crate) fn hf_config(
    md: &Metadata<'_>,
    arch: GgufArchitecture,
    vocab_size: usize,
    tied_embeddings: bool,
    attention_bias: bool,
) -> Result<(serde_json::Value, Heads), GgufError> {
    let key = |k: &str| format!("{}.{k}", arch.name());
    let hidden = md.usize(&key("embedding_length"))?;
    let n_head = md.usize(&key("attention.head_count"))?;
    let n_kv_head = md
        .opt_usize(&key("attention.head_count_kv"))?
        .unwrap_or(n_head);
    if n_head == 0 || n_kv_head == 0 || n_head % n_kv_head != 0 {
        return Err(GgufError::BadMetadata {
            key: key("attention.head_count_kv"),
            expected: "a non-zero divisor of attention.head_count",
        });
    }
    let head_dim = match md.opt_usize(&key("attention.key_length"))? {
        Some(d) => d,
        None if hidden % n_head == 0 => hidden / n_head,
        None => {
            return Err(GgufError::BadMetadata {
                key: key("attention.head_count"),
                expected: "a divisor of embedding_length",
            });
        }
    };
    if let Some(rot) = md.opt_usize(&key("rope.dimension_count"))?
        && rot != head_dim
    {
        return Err(GgufError::Unsupported {
            what: format!("partial rotary embeddings ({rot} of {head_dim} head dimensions)"),
        });
    }
    if let Some(scaling) = md.opt_str(&key("rope.scaling.type"))?
        && scaling != "none"
    {
        return Err(GgufError::Unsupported {
            what: format!("rope scaling `{scaling}`"),
        });
    }
    let eps_key = key("attention.layer_norm_rms_epsilon");
    let eps = md
        .opt_f64(&eps_key)?
        .ok_or(GgufError::MissingMetadata { key: eps_key })?;
    let rope_theta = md.opt_f64(&key("rope.freq_base"))?.unwrap_or(10_000.0);
    let mut config = json!({
        "model_type": arch.name(),
        "hidden_size": hidden,
        "intermediate_size": md.usize(&key("feed_forward_length"))?,
        "num_hidden_layers": md.usize(&key("block_count"))?,
        "num_attention_heads": n_head,
        "num_key_value_heads": n_kv_head,
        "head_dim": head_dim,
        "rms_norm_eps": eps,
        "rope_theta": rope_theta,
        "rope_parameters": {"rope_theta": rope_theta, "rope_type": "default"},
        "max_position_embeddings": md.usize(&key("context_length"))?,
        "vocab_size": vocab_size,
        "tie_word_embeddings": tied_embeddings,
        "attention_bias": attention_bias,
        "hidden_act": "silu",
    });
    for (gguf_key, hf_key) in [
        ("tokenizer.ggml.bos_token_id", "bos_token_id"),
        ("tokenizer.ggml.eos_token_id", "eos_token_id"),
    ] {
        if let Some(id) = md.opt_usize(gguf_key)? {
            config[hf_key] = json!(id);
        }
    }
    Ok((config, Heads { n_head, n_kv_head }))
}
