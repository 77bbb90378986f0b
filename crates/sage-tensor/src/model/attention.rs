//! Scaled dot-product attention with grouped-query heads, optional logit
//! soft-capping, and the additive masks (causal, padding, sliding window)
//! every family needs.

use candle_core::{Device, Tensor};

use super::ModelError;
use super::fused_attention;
use super::layers::HeadLayout;

/// Attends `q` `[b, n_heads, s, hd]` over `k`, `v` `[b, n_kv_heads, s, hd]`
/// (any strides, e.g. views into a fused QKV projection) and returns the
/// heads concatenated: `[b, s, n_heads*hd]`.
///
/// f32 on the CPU runs the fused per-head kernel in [`fused_attention`];
/// elsewhere grouped-query heads are handled by folding each group of query
/// heads into the sequence axis, so keys and values are never copied per head.
pub(crate) fn attend(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    mask: Option<&Tensor>,
    heads: HeadLayout,
) -> Result<Tensor, ModelError> {
    if fused_attention::applies(q, k, v) {
        return fused_attention::attend(q, k, v, mask, heads);
    }
    let (q, k, v) = (q.contiguous()?, k.contiguous()?, v.contiguous()?);
    let (b, h, s, hd) = q.dims4()?;
    let kvh = heads.n_kv_heads;
    let grouped = (&q * heads.scale)?.reshape((b, kvh, (h / kvh) * s, hd))?;
    let mut scores = grouped.matmul(&k.t()?)?;
    if let Some(cap) = heads.softcap {
        scores = ((scores / cap)?.tanh()? * cap)?;
    }
    let mut scores = scores.reshape((b, h, s, s))?;
    if let Some(mask) = mask {
        scores = scores.broadcast_add(mask)?;
    }
    let probs = candle_nn::ops::softmax_last_dim(&scores)?.reshape((b, kvh, (h / kvh) * s, s))?;
    let out = probs.matmul(&v)?.reshape((b, h, s, hd))?;
    Ok(out.transpose(1, 2)?.reshape((b, s, h * hd))?)
}

/// The additive attention mask for a right-padded batch: query `i` of
/// sequence `n` may see key `j` when `j <= i`, `j < lens[n]`, and (with a
/// sliding window `w`) `i - j < w`. Shape `[b, 1, s, s]`, or `None` when
/// nothing needs masking (a single position).
///
/// Masked entries get `f32::MIN` rather than `-inf`, so a padding row whose
/// keys are all masked stays finite instead of turning into NaN.
pub(crate) fn attention_mask(
    lens: &[usize],
    seq: usize,
    window: Option<usize>,
    device: &Device,
) -> Result<Option<Tensor>, ModelError> {
    if seq <= 1 {
        return Ok(None);
    }
    let same_length = lens.iter().all(|&l| l == seq);
    let rows: &[usize] = if same_length { &[seq] } else { lens };
    let mut values = Vec::with_capacity(rows.len() * seq * seq);
    for &len in rows {
        for i in 0..seq {
            for j in 0..seq {
                let visible = j <= i && j < len && window.is_none_or(|w| i - j < w);
                values.push(if visible { 0.0 } else { f32::MIN });
            }
        }
    }
    Ok(Some(Tensor::from_vec(
        values,
        (rows.len(), 1, seq, seq),
        device,
    )?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_combine_causality_padding_and_window() {
        let mask = attention_mask(&[3, 2], 3, Some(2), &Device::Cpu)
            .unwrap()
            .unwrap();
        let m: Vec<Vec<Vec<f32>>> = mask.squeeze(1).unwrap().to_vec3().unwrap();
        let open = |row: &[f32]| row.iter().map(|&v| v == 0.0).collect::<Vec<_>>();
        // Sequence 0 (full length): causal, and row 2 cannot see key 0 (window 2).
        assert_eq!(open(&m[0][0]), [true, false, false]);
        assert_eq!(open(&m[0][2]), [false, true, true]);
        // Sequence 1 (length 2): key 2 is padding and hidden from every row.
        assert_eq!(open(&m[1][1]), [true, true, false]);
        assert_eq!(open(&m[1][2]), [false, true, false]);
    }

    #[test]
    fn head_layouts_that_cannot_be_grouped_are_config_errors() {
        let layout = |n_heads, n_kv_heads| HeadLayout {
            n_heads,
            n_kv_heads,
            head_dim: 8,
            scale: 1.0,
            softcap: None,
        };
        assert!(layout(8, 2).checked().is_ok());
        for (h, kvh) in [(6, 4), (4, 0), (0, 1)] {
            let err = layout(h, kvh).checked().unwrap_err();
            assert!(matches!(err, ModelError::Config { .. }), "{err}");
        }
    }

    #[test]
    fn a_single_position_needs_no_mask() {
        assert!(
            attention_mask(&[1], 1, None, &Device::Cpu)
                .unwrap()
                .is_none()
        );
    }
}
