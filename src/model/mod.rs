//! Hooked transformer forward passes on candle.
//!
//! Every model family implements [`HookedModel`]: token ids in, the
//! activations at one TransformerLens hook out, computing no layer past the
//! one that produces the hook.

pub mod gguf;
mod hook;
pub mod hub;

pub use hook::{HookKind, HookParseError, HookPoint};

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
    /// A tensor operation failed inside candle.
    #[error("tensor error: {0}")]
    Candle(#[from] candle_core::Error),
}
