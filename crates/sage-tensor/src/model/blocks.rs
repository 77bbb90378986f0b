//! The residual-stream walk shared by every family: embed, then run blocks
//! until the requested hook has been produced, and return it.
//!
//! A family only says how its block computes the attention output, the MLP's
//! normalised input and the MLP output (each including any post-norm); the
//! order of hooks and where to stop live here, once.

use candle_core::Tensor;

use super::attention::attention_mask;
use super::rope::Rope;
use super::{HookKind, HookPoint, ModelError};

/// Per-forward inputs every block may read: the attention masks and the
/// rotary tables for this batch's shape.
pub(crate) struct Context {
    /// Causal + padding mask, `[b, 1, s, s]`.
    pub mask: Option<Tensor>,
    /// The same with a sliding window (Gemma-2's local layers).
    pub sliding_mask: Option<Tensor>,
    /// RoPE `cos`, `sin` tables `[s, head_dim/2]`.
    pub rope: Option<(Tensor, Tensor)>,
}

impl Context {
    /// Builds masks (and, given a `rope`, its tables) for a right-padded
    /// batch with row lengths `lens`, in the dtype and on the device of the
    /// embeddings `x` `[b, s, d]`. The sliding mask exists only with a window.
    pub(crate) fn new(
        x: &Tensor,
        lens: &[usize],
        sliding_window: Option<usize>,
        rope: Option<&Rope>,
    ) -> Result<Context, ModelError> {
        let (seq, dtype, device) = (x.dim(1)?, x.dtype(), x.device());
        let in_dtype = |t: Option<Tensor>| t.map(|t| t.to_dtype(dtype)).transpose();
        Ok(Context {
            mask: in_dtype(attention_mask(lens, seq, None, device)?)?,
            sliding_mask: match sliding_window {
                Some(w) => in_dtype(attention_mask(lens, seq, Some(w), device)?)?,
                None => None,
            },
            rope: match rope {
                Some(rope) => {
                    let (cos, sin) = rope.tables(seq, device)?;
                    Some((cos.to_dtype(dtype)?, sin.to_dtype(dtype)?))
                }
                None => None,
            },
        })
    }
}

/// One transformer block, split at the points TransformerLens hooks.
pub(crate) trait Block {
    /// `hook_attn_out`: the attention sub-layer's output from the residual
    /// stream `x` `[b, s, d]` (pre-norm, attention, projection, post-norm).
    fn attention(&self, x: &Tensor, ctx: &Context) -> Result<Tensor, ModelError>;
    /// `ln2.hook_normalized`: the MLP's input norm applied to `hook_resid_mid`.
    fn mlp_norm(&self, resid_mid: &Tensor) -> Result<Tensor, ModelError>;
    /// `hook_mlp_out`: the MLP (and any post-norm) on the normalised input.
    fn mlp(&self, normed: &Tensor) -> Result<Tensor, ModelError>;
}

/// Runs `blocks` on the embeddings `x` and returns the activation at `stop`,
/// computing nothing after it. The caller has checked `stop.layer` is in range.
pub(crate) fn run_blocks<B: Block>(
    mut x: Tensor,
    blocks: &[B],
    ctx: &Context,
    stop: HookPoint,
) -> Result<Tensor, ModelError> {
    let needed = stop.blocks_needed();
    if needed > blocks.len() {
        return Err(ModelError::LayerNotLoaded {
            hook: stop,
            needed,
            loaded: blocks.len(),
        });
    }
    for (layer, block) in blocks.iter().enumerate() {
        let here = |kind: HookKind| layer == stop.layer && stop.kind == kind;
        if here(HookKind::ResidPre) {
            return Ok(x);
        }
        let attn = block.attention(&x, ctx)?;
        if here(HookKind::AttnOut) {
            return Ok(attn);
        }
        x = (x + attn)?;
        if here(HookKind::ResidMid) || here(HookKind::MlpIn) {
            return Ok(x);
        }
        let normed = block.mlp_norm(&x)?;
        if here(HookKind::MlpInNormalized) {
            return Ok(normed);
        }
        let mlp = block.mlp(&normed)?;
        if here(HookKind::MlpOut) {
            return Ok(mlp);
        }
        x = (x + mlp)?;
        if here(HookKind::ResidPost) {
            return Ok(x);
        }
    }
    if stop.kind == HookKind::ResidPre && stop.layer == blocks.len() {
        // The input of a block that was not loaded: everything before it ran.
        return Ok(x);
    }
    Err(ModelError::HookOutOfRange {
        hook: stop,
        max_layer: blocks.len().saturating_sub(1),
    })
}
