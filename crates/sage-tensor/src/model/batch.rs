//! Input checks and right-padded batching shared by every family, so that
//! `run_to_hook` and `run_to_hook_batch` are the same computation.

use candle_core::{DType, Device, Tensor};

use super::{HookPoint, HookedModel, ModelError};

/// The sizes a family reports about itself.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Dims {
    /// Family name for messages.
    pub family: &'static str,
    /// Number of blocks.
    pub n_layers: usize,
    /// Residual stream width.
    pub d_model: usize,
    /// Context window.
    pub max_positions: usize,
    /// Number of token ids the embedding accepts.
    pub vocab_size: usize,
}

/// What a family implements; the blanket [`HookedModel`] impl below does
/// the checks and batching, so every family behaves the same at the edges.
pub(crate) trait PaddedForward: Send + Sync {
    /// The family's sizes.
    fn dims(&self) -> Dims;
    /// Where the weights live.
    fn device(&self) -> &Device;
    /// `ids` `[b, s]` right-padded, `lens[n]` real tokens in row `n`; returns
    /// the hook's activations `[b, s, d_model]` (padding rows are garbage).
    fn forward_padded(
        &self,
        ids: &Tensor,
        lens: &[usize],
        stop: HookPoint,
    ) -> Result<Tensor, ModelError>;
}

impl<T: PaddedForward> HookedModel for T {
    fn family(&self) -> &'static str {
        self.dims().family
    }
    fn n_layers(&self) -> usize {
        self.dims().n_layers
    }
    fn d_model(&self) -> usize {
        self.dims().d_model
    }
    fn max_positions(&self) -> usize {
        self.dims().max_positions
    }
    fn run_to_hook(&self, token_ids: &[u32], hook: HookPoint) -> Result<Tensor, ModelError> {
        run_one(self, token_ids, hook)
    }
    fn run_to_hook_batch(
        &self,
        batch: &[Vec<u32>],
        hook: HookPoint,
    ) -> Result<Vec<Tensor>, ModelError> {
        run_many(self, batch, hook)
    }
}

fn check(dims: Dims, ids: &[u32], hook: HookPoint) -> Result<(), ModelError> {
    if hook.layer >= dims.n_layers {
        return Err(ModelError::HookOutOfRange {
            hook,
            max_layer: dims.n_layers.saturating_sub(1),
        });
    }
    if ids.is_empty() {
        return Err(ModelError::EmptyInput);
    }
    if ids.len() > dims.max_positions {
        return Err(ModelError::SequenceTooLong {
            len: ids.len(),
            max: dims.max_positions,
        });
    }
    match ids.iter().find(|&&id| id as usize >= dims.vocab_size) {
        Some(&id) => Err(ModelError::TokenOutOfRange {
            id,
            vocab: dims.vocab_size,
        }),
        None => Ok(()),
    }
}

/// `run_to_hook` for any family: one sequence, `[seq, d_model]` f32.
fn run_one(model: &impl PaddedForward, ids: &[u32], hook: HookPoint) -> Result<Tensor, ModelError> {
    check(model.dims(), ids, hook)?;
    let input = Tensor::new(ids, model.device())?.unsqueeze(0)?;
    let out = model.forward_padded(&input, &[ids.len()], hook)?;
    Ok(out.squeeze(0)?.to_dtype(DType::F32)?)
}

/// `run_to_hook_batch` for any family: pads on the right with token 0,
/// masks the padding, and cuts each row back to its own length.
fn run_many(
    model: &impl PaddedForward,
    batch: &[Vec<u32>],
    hook: HookPoint,
) -> Result<Vec<Tensor>, ModelError> {
    for ids in batch {
        check(model.dims(), ids, hook)?;
    }
    let Some(seq) = batch.iter().map(Vec::len).max() else {
        return Ok(Vec::new());
    };
    let lens: Vec<usize> = batch.iter().map(Vec::len).collect();
    let padded: Vec<u32> = batch
        .iter()
        .flat_map(|ids| {
            ids.iter()
                .copied()
                .chain(std::iter::repeat_n(0, seq - ids.len()))
        })
        .collect();
    let input = Tensor::from_vec(padded, (batch.len(), seq), model.device())?;
    let out = model
        .forward_padded(&input, &lens, hook)?
        .to_dtype(DType::F32)?;
    lens.iter()
        .enumerate()
        .map(|(n, &len)| Ok(out.get(n)?.narrow(0, 0, len)?))
        .collect()
}
