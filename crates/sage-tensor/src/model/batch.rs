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
    /// Attention (query) heads per layer.
    pub n_heads: usize,
}

/// Bytes the attention of one layer holds at once for `rows` sequences of
/// `seq` tokens: the f32 scores and their softmax, `[rows, heads, seq, seq]`
/// each. This is the part of a forward pass that grows with the square of
/// the length, so it is what a long text on a long-context model runs out of.
pub(crate) fn attention_bytes(dims: Dims, rows: usize, seq: usize) -> u128 {
    2 * 4 * rows as u128 * dims.n_heads as u128 * seq as u128 * seq as u128
}

/// Refuses a batch whose attention would not fit in `available` bytes
/// (when known), before anything is allocated.
pub(crate) fn check_attention_memory(
    dims: Dims,
    rows: usize,
    seq: usize,
    available: Option<u64>,
) -> Result<(), ModelError> {
    let needed = attention_bytes(dims, rows, seq);
    match available {
        Some(available) if needed > u128::from(available) => Err(ModelError::AttentionTooLarge {
            rows,
            seq,
            needed_mib: u64::try_from(needed >> 20).unwrap_or(u64::MAX),
            available_mib: available >> 20,
        }),
        _ => Ok(()),
    }
}

/// Memory the OS says it can still hand out (`MemAvailable` on Linux);
/// `None` where that is not known, and then no check is made.
fn available_memory() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
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
    if model.device().is_cpu() {
        check_attention_memory(model.dims(), 1, ids.len(), available_memory())?;
    }
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
    if model.device().is_cpu() {
        check_attention_memory(model.dims(), batch.len(), seq, available_memory())?;
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn dims() -> Dims {
        Dims {
            family: "test",
            n_layers: 2,
            d_model: 64,
            max_positions: 131_072,
            vocab_size: 100,
            n_heads: 32,
        }
    }

    #[test]
    fn a_batch_whose_attention_cannot_fit_is_refused_before_running() {
        // 32 heads x 131072^2 x 8 bytes = 4 TiB: no machine has it.
        let err = check_attention_memory(dims(), 1, 131_072, Some(64 << 30)).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("131072 tokens") && text.contains("MiB"),
            "{text}"
        );
        assert!(matches!(err, ModelError::AttentionTooLarge { rows: 1, .. }));
        // 8 rows of 1024 tokens: 8 x 32 x 1024^2 x 8 = 2 GiB.
        assert_eq!(attention_bytes(dims(), 8, 1024), 2 << 30);
        assert!(check_attention_memory(dims(), 8, 1024, Some(4 << 30)).is_ok());
        assert!(check_attention_memory(dims(), 8, 1024, Some(1 << 30)).is_err());
        assert!(check_attention_memory(dims(), 1, 131_072, None).is_ok());
    }
}
