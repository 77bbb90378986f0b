//! Attention for f32 on the CPU in one pass per (sequence, head): scores
//! straight from strided views of Q and K, soft-cap, additive mask and
//! softmax in a per-head buffer, and the weighted values written into the
//! head's columns of the output. Nothing is copied per head, and the heads
//! run in parallel on the rayon pool.

use candle_core::{CpuStorage, CustomOp3, DType, Layout, Shape, Tensor};
use rayon::prelude::*;

use super::ModelError;
use super::fastmath::softmax_rows_in_place;
use super::gemm::{SharedOut, sgemm_into};
use super::layers::HeadLayout;

/// Whether [`attend`] can run on these tensors: all f32 on the CPU.
pub(crate) fn applies(q: &Tensor, k: &Tensor, v: &Tensor) -> bool {
    q.device().is_cpu() && [q, k, v].iter().all(|t| t.dtype() == DType::F32)
}

/// The same computation as [`super::attention::attend`]: `q` `[b, h, s, hd]`,
/// `k`, `v` `[b, kvh, s, hd]`, the additive `mask` `[1 or b, 1, s, s]`;
/// returns `[b, s, h * hd]`.
pub(crate) fn attend(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    mask: Option<&Tensor>,
    heads: HeadLayout,
) -> Result<Tensor, ModelError> {
    let mask = match mask {
        Some(m) => Some((m.dim(0)?, m.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?)),
        None => None,
    };
    Ok(q.apply_op3_no_bwd(k, v, &FusedAttention { heads, mask })?)
}

struct FusedAttention {
    heads: HeadLayout,
    /// Mask rows (1 or b) and their `[rows, s, s]` values.
    mask: Option<(usize, Vec<f32>)>,
}

/// A `[b, h, s, hd]` view: values from the start offset, and strides.
struct Heads<'a> {
    data: &'a [f32],
    dims: [usize; 4],
    strides: [usize; 4],
}

impl Heads<'_> {
    /// Pointer to row 0 of head `head` of sequence `seq`.
    fn head(&self, seq: usize, head: usize) -> *const f32 {
        self.data[seq * self.strides[0] + head * self.strides[1]..].as_ptr()
    }
}

fn heads<'a>(s: &'a CpuStorage, l: &Layout, what: &str) -> candle_core::Result<Heads<'a>> {
    let CpuStorage::F32(data) = s else {
        candle_core::bail!("attention: {what} is not f32");
    };
    let (&[b, h, s, hd], &[s0, s1, s2, s3]) = (l.dims(), l.stride()) else {
        candle_core::bail!("attention: {what} is not [b, heads, seq, head_dim]");
    };
    Ok(Heads {
        data: &data[l.start_offset()..],
        dims: [b, h, s, hd],
        strides: [s0, s1, s2, s3],
    })
}

impl CustomOp3 for FusedAttention {
    fn name(&self) -> &'static str {
        "sage-fused-attention"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (q, k, v) = (
            heads(s1, l1, "q")?,
            heads(s2, l2, "k")?,
            heads(s3, l3, "v")?,
        );
        let [b, h, s, hd] = q.dims;
        let kvh = self.heads.n_kv_heads;
        if k.dims != [b, kvh, s, hd] || v.dims != k.dims || kvh == 0 || h % kvh != 0 {
            candle_core::bail!(
                "attention: q {:?} does not fit k {:?} / v {:?}",
                q.dims,
                k.dims,
                v.dims
            );
        }
        if let Some((rows, values)) = &self.mask
            && ((*rows != 1 && *rows != b) || values.len() != rows * s * s)
        {
            candle_core::bail!("attention: mask of {rows} rows does not fit batch {b} x {s}");
        }
        let width = h * hd;
        let mut out = vec![0f32; b * s * width];
        let ptr = SharedOut(out.as_mut_ptr());
        (0..b * h).into_par_iter().for_each(|task| {
            let (seq, head) = (task / h, task % h);
            let kv_head = head / (h / kvh);
            let mut scores = vec![0f32; s * s];
            // SAFETY: the views' strides come from candle layouts of the
            // tensors' own storage, and each task writes only its head's
            // hd columns of its sequence's s rows of `out`.
            unsafe {
                sgemm_into(
                    (s, hd, s),
                    self.heads.scale as f32,
                    q.head(seq, head),
                    (q.strides[2], q.strides[3]),
                    k.head(seq, kv_head),
                    (k.strides[3], k.strides[2]),
                    scores.as_mut_ptr(),
                    s,
                );
            }
            if let Some(cap) = self.heads.softcap {
                let cap = cap as f32;
                scores.iter_mut().for_each(|x| *x = cap * (*x / cap).tanh());
            }
            let mask = self.mask.as_ref().map(|(rows, values)| {
                let row = if *rows == 1 { 0 } else { seq };
                &values[row * s * s..(row + 1) * s * s]
            });
            softmax_rows_in_place(&mut scores, mask, s);
            // SAFETY: as above.
            unsafe {
                sgemm_into(
                    (s, s, hd),
                    1.0,
                    scores.as_ptr(),
                    (s, 1),
                    v.head(seq, kv_head),
                    (v.strides[2], v.strides[3]),
                    ptr.at(seq * s * width + head * hd),
                    width,
                );
            }
        });
        Ok((CpuStorage::F32(out), Shape::from((b, s, width))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::gemm::tests::close;
    use candle_core::Device;

    /// The fused kernel against the generic candle path (which f64 takes),
    /// with grouped heads, soft-capping, a padded batch and strided views.
    #[test]
    fn matches_the_generic_path() {
        let dev = Device::Cpu;
        let (b, h, kvh, s, hd) = (2, 4, 2, 5, 8);
        let heads = HeadLayout {
            n_heads: h,
            n_kv_heads: kvh,
            head_dim: hd,
            scale: 0.3,
            softcap: Some(2.0),
        };
        // q as a transposed view of [b, s, h, hd], like a split QKV projection.
        let q = Tensor::randn(0f32, 1.0, (b, s, h, hd), &dev)
            .unwrap()
            .transpose(1, 2)
            .unwrap();
        let k = Tensor::randn(0f32, 1.0, (b, kvh, s, hd), &dev).unwrap();
        let v = Tensor::randn(0f32, 1.0, (b, s, kvh, hd), &dev)
            .unwrap()
            .transpose(1, 2)
            .unwrap();
        let mask = super::super::attention::attention_mask(&[5, 3], s, None, &dev).unwrap();
        let fused = attend(&q, &k, &v, mask.as_ref(), heads).unwrap();
        let f64s = |t: &Tensor| t.to_dtype(DType::F64).unwrap();
        let mask64 = mask.as_ref().map(f64s);
        let generic = super::super::attention::attend(
            &f64s(&q),
            &f64s(&k),
            &f64s(&v),
            mask64.as_ref(),
            heads,
        )
        .unwrap()
        .to_dtype(DType::F32)
        .unwrap();
        assert_eq!(fused.dims(), &[b, s, h * hd]);
        // Padding rows (sequence 1, positions 3 and 4) are garbage either way.
        let real = |t: &Tensor| {
            Tensor::cat(
                &[
                    t.get(0).unwrap(),
                    t.get(1).unwrap().narrow(0, 0, 3).unwrap(),
                ],
                0,
            )
            .unwrap()
        };
        let diff = close(&real(&fused), &real(&generic));
        assert!(diff < 1e-5, "max difference {diff}");
    }
}
