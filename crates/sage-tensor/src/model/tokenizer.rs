//! Text to token ids, with the beginning-of-sequence policy made explicit.
//!
//! Every family follows one rule: the BOS token is the config's
//! `bos_token_id`, and it is prepended by default whenever the config
//! defines one. For GPT-2 that is `<|endoftext|>` (as TransformerLens
//! prepends by default); for Llama 2/3, SmolLM2 and Gemma-2 it is their
//! `<s>` / `<|begin_of_text|>` / `<bos>` token; Qwen configs name
//! `<|endoftext|>`. The caller can force it on or off. The tokenizer's own
//! post-processor is never applied, so BOS is never added twice.

use std::path::Path;

use tokenizers::Tokenizer;

use super::ModelError;

/// A Hugging Face tokenizer plus the model's BOS token.
pub struct ModelTokenizer {
    inner: Tokenizer,
    bos: Option<u32>,
}

impl ModelTokenizer {
    /// Wraps an already-built tokenizer (e.g. one made from GGUF metadata).
    pub fn new(inner: Tokenizer, bos: Option<u32>) -> ModelTokenizer {
        ModelTokenizer { inner, bos }
    }

    /// Reads a `tokenizer.json`.
    pub fn from_file(path: &Path, bos: Option<u32>) -> Result<ModelTokenizer, ModelError> {
        if !path.is_file() {
            return Err(ModelError::Io {
                path: path.display().to_string(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "no tokenizer.json; the model directory needs one next to config.json",
                ),
            });
        }
        let inner = Tokenizer::from_file(path)
            .map_err(|e| ModelError::Tokenizer(format!("{}: {e}", path.display())))?;
        Ok(ModelTokenizer { inner, bos })
    }

    /// The underlying Hugging Face tokenizer, for callers that need token
    /// offsets (corpus mining maps windows back to file positions).
    pub fn inner(&self) -> &Tokenizer {
        &self.inner
    }

    /// The BOS id prepended by default, if the model defines one.
    pub fn bos_id(&self) -> Option<u32> {
        self.bos
    }

    /// Token ids for `text`. `prepend_bos`: `None` follows the default
    /// (prepend when a BOS is defined), `Some(b)` forces it.
    pub fn encode(&self, text: &str, prepend_bos: Option<bool>) -> Result<Vec<u32>, ModelError> {
        if text.is_empty() {
            return Err(ModelError::EmptyInput);
        }
        let encoding = self
            .inner
            .encode(text, false)
            .map_err(|e| ModelError::Tokenizer(e.to_string()))?;
        let bos = match (prepend_bos, self.bos) {
            (Some(false), _) | (None, None) => None,
            (_, Some(id)) => Some(id),
            (Some(true), None) => {
                return Err(ModelError::Tokenizer(
                    "--prepend-bos was given but this model's config defines no bos_token_id"
                        .to_string(),
                ));
            }
        };
        Ok(bos
            .into_iter()
            .chain(encoding.get_ids().iter().copied())
            .collect())
    }

    /// Each id decoded on its own, as Neuronpedia displays tokens.
    pub fn token_strings(&self, ids: &[u32]) -> Result<Vec<String>, ModelError> {
        ids.iter()
            .map(|&id| {
                self.inner
                    .decode(&[id], false)
                    .map_err(|e| ModelError::Tokenizer(e.to_string()))
            })
            .collect()
    }
}
