//! Hooked transformer forward passes on candle.
//!
//! Every model family implements [`HookedModel`]: token ids in, the
//! activations at one TransformerLens hook out, computing no layer past the
//! one that produces the hook. Families live one per file (`gpt2`, `llama`
//! for Llama 2/3, SmolLM2, Qwen2 and Qwen3, `gemma2`); `load` turns a
//! Hugging Face directory into a [`LoadedModel`].

mod attention;
mod batch;
mod blocks;
mod fastmath;
mod fused_attention;
pub(crate) mod gemm;
pub mod gemma2;
pub mod gguf;
pub mod gpt2;
mod hook;
mod layers;
pub mod llama;
mod load;
pub(crate) mod packed_affine;
mod rope;
pub mod shards;
mod tokenizer;
mod weights;

pub use hook::{HookKind, HookParseError, HookPoint};
pub use load::{
    LoadOptions, LoadedModel, SUPPORTED_ARCHITECTURES, build_model, load_hf_dir, load_local,
};
pub use rope::RopeParameters;
pub use tokenizer::ModelTokenizer;

use candle_core::Tensor;

/// A transformer whose forward pass can stop at any TransformerLens hook.
///
/// Implementations exist per family (one file each); the rest of sage only
/// sees this trait, so adding a family never touches SAEs or the agent.
pub trait HookedModel: Send + Sync {
    /// The family name (`gpt2`, `llama`, ...), for messages and session headers.
    fn family(&self) -> &'static str;
    /// Number of transformer blocks.
    fn n_layers(&self) -> usize;
    /// Width of the residual stream.
    fn d_model(&self) -> usize;
    /// Longest sequence the model accepts (its context window).
    fn max_positions(&self) -> usize;
    /// Activations at `hook` for one sequence, shape `[seq, d_model]`, f32.
    /// Runs only the blocks up to the one that produces the hook.
    fn run_to_hook(&self, token_ids: &[u32], hook: HookPoint) -> Result<Tensor, ModelError>;
    /// The same for several sequences of different lengths, run as one
    /// padded batch; returns one `[len_i, d_model]` tensor per sequence.
    fn run_to_hook_batch(
        &self,
        batch: &[Vec<u32>],
        hook: HookPoint,
    ) -> Result<Vec<Tensor>, ModelError>;
}

/// Everything that can go wrong loading or running a model; each message
/// says what was wrong and what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The hook names a layer the model does not have.
    #[error("hook `{hook}` is out of range: this model has layers 0..={max_layer}")]
    HookOutOfRange {
        /// The requested hook.
        hook: HookPoint,
        /// The deepest valid layer index.
        max_layer: usize,
    },
    /// An empty token sequence was given.
    #[error("empty input: give at least one token (a non-empty --text or --token-ids)")]
    EmptyInput,
    /// The sequence does not fit in the context window.
    #[error(
        "sequence of {len} tokens exceeds the model's context window of {max}; shorten the text"
    )]
    SequenceTooLong {
        /// Tokens given.
        len: usize,
        /// Context window.
        max: usize,
    },
    /// The attention of a request would need more memory than is free.
    #[error(
        "{rows} text(s) of {seq} tokens need about {needed_mib} MiB for attention scores, but only {available_mib} MiB of memory is free; use shorter texts or smaller batches"
    )]
    AttentionTooLarge {
        /// Sequences in the batch.
        rows: usize,
        /// Longest sequence, in tokens.
        seq: usize,
        /// Memory the attention would need, in MiB.
        needed_mib: u64,
        /// Memory available, in MiB.
        available_mib: u64,
    },
    /// A token id is not in the model's vocabulary.
    #[error("token id {id} is outside the vocabulary (ids 0..{vocab}); check --token-ids")]
    TokenOutOfRange {
        /// The offending id.
        id: u32,
        /// Vocabulary size.
        vocab: usize,
    },
    /// The checkpoint's architecture is not one sage implements.
    #[error(
        "unsupported model architecture `{name}`; sage supports: {}",
        SUPPORTED_ARCHITECTURES.join(", ")
    )]
    UnknownArchitecture {
        /// The `model_type` (or `architectures` entry) found in config.json.
        name: String,
    },
    /// The checkpoint lacks a tensor the architecture needs.
    #[error(
        "weight `{name}` (expected shape {expected:?}) is missing from the checkpoint; is the config.json the one for these weights?"
    )]
    MissingWeight {
        /// Full tensor name.
        name: String,
        /// The shape the config implies.
        expected: Vec<usize>,
    },
    /// A tensor's shape disagrees with what config.json implies.
    #[error(
        "weight `{name}` has shape {found:?} but the config implies {expected:?}; the config.json does not match these weights"
    )]
    WeightShape {
        /// Full tensor name.
        name: String,
        /// The shape the config implies.
        expected: Vec<usize>,
        /// The shape in the checkpoint.
        found: Vec<usize>,
    },
    /// config.json is unreadable, malformed or asks for something unsupported.
    #[error("bad model config {path}: {message}")]
    Config {
        /// Which file (or source) the config came from.
        path: String,
        /// What was wrong.
        message: String,
    },
    /// A file the model needs could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The model spec is neither a local directory nor something a loader handles.
    #[error("cannot load model `{spec}`: {reason}")]
    UnsupportedSource {
        /// The spec as given.
        spec: String,
        /// Why, and what to give instead.
        reason: String,
    },
    /// The tokenizer could not be loaded or failed on the input.
    #[error("tokenizer error: {0}")]
    Tokenizer(String),
    /// A GGUF file could not be read into a model.
    #[error(transparent)]
    Gguf(#[from] gguf::GgufError),
    /// A tensor operation failed inside candle.
    #[error("tensor error: {0}")]
    Candle(#[from] candle_core::Error),
}
