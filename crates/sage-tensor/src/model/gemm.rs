//! `x @ w + b` for f32 tensors on the CPU through `matrixmultiply`, split
//! over the rayon pool, with the bias and the nonlinearity (GELU, ReLU)
//! applied by the thread that wrote each block while it is still in cache.
//! Used by the model's projections and the SAE encoder.
//!
//! On the 2-core AVX2 benchmark machine, candle's CPU matmul (the `gemm`
//! crate) ran the GPT-2 shapes at 25-40% of the FMA peak per core and
//! `matrixmultiply` at 40-70% (bench/README.md has the numbers). Other devices and
//! dtypes keep candle's matmul.

use candle_core::{CpuStorage, CustomOp2, CustomOp3, DType, Layout, Shape, Tensor};
use rayon::prelude::*;

use super::fastmath::gelu_tanh_in_place;

/// What to do to the product after the bias is added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Epilogue {
    /// Nothing.
    Identity,
    /// GPT-2's `gelu_new`.
    GeluTanh,
    /// `max(x, 0)` (ReLU SAE encoders).
    Relu,
}

impl Epilogue {
    /// Applies the nonlinearity to finished outputs in place.
    pub(crate) fn apply_in_place(self, values: &mut [f32]) {
        match self {
            Epilogue::Identity => {}
            Epilogue::GeluTanh => gelu_tanh_in_place(values),
            Epilogue::Relu => values.iter_mut().for_each(|v| *v = v.max(0.0)),
        }
    }
}

/// `epilogue(x @ w + b)` for `x` `[m, k]`, `w` `[k, n]` (any strides) and
/// an optional bias `[n]`: fused and multi-threaded for f32 on the CPU,
/// candle's matmul and elementwise ops otherwise.
pub(crate) fn affine(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    epilogue: Epilogue,
) -> candle_core::Result<Tensor> {
    if x.device().is_cpu() && x.dtype() == DType::F32 && w.dtype() == DType::F32 {
        let op = Gemm { epilogue };
        return match b {
            Some(b) => x.apply_op3_no_bwd(w, &b.to_dtype(DType::F32)?.contiguous()?, &op),
            None => x.apply_op2_no_bwd(w, &op),
        };
    }
    let y = x.matmul(w)?;
    let y = match b {
        Some(b) => y.broadcast_add(b)?,
        None => y,
    };
    match epilogue {
        Epilogue::Identity => Ok(y),
        Epilogue::GeluTanh => y.gelu(),
        Epilogue::Relu => y.relu(),
    }
}

/// `a @ b` for a row-major `a` `[m, k]` into the `m x n` block of `out`
/// whose rows are `out_row_stride` apart, `b` being `[k, n]` with row and
/// column strides `b_strides`; single-threaded (callers parallelise over
/// heads). `alpha` scales the product.
///
/// # Safety
/// `a` must hold `m * k` values, `b` must be valid for every `(i, j)` with
/// `i < k`, `j < n` at `i * b_strides.0 + j * b_strides.1`, and `out` must
/// be valid for writes over the whole block.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn sgemm_into(
    (m, k, n): (usize, usize, usize),
    alpha: f32,
    a: *const f32,
    a_strides: (usize, usize),
    b: *const f32,
    b_strides: (usize, usize),
    out: *mut f32,
    out_row_stride: usize,
) {
    // SAFETY: forwarded from the caller's contract.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            alpha,
            a,
            a_strides.0 as isize,
            a_strides.1 as isize,
            b,
            b_strides.0 as isize,
            b_strides.1 as isize,
            0.0,
            out,
            out_row_stride as isize,
            1,
        )
    }
}

struct Gemm {
    epilogue: Epilogue,
}

/// A raw output pointer shared by threads that write disjoint blocks.
#[derive(Clone, Copy)]
pub(crate) struct SharedOut(pub *mut f32);
// SAFETY: every user writes only its own block of the buffer.
unsafe impl Send for SharedOut {}
// SAFETY: as above.
unsafe impl Sync for SharedOut {}

impl SharedOut {
    /// The pointer `offset` values in (a method, so closures capture the
    /// whole `Sync` wrapper rather than the bare pointer field).
    ///
    /// # Safety
    /// `offset` must stay inside the buffer.
    pub(crate) unsafe fn at(self, offset: usize) -> *mut f32 {
        // SAFETY: forwarded from the caller's contract.
        unsafe { self.0.add(offset) }
    }
}

/// A strided f32 matrix view: the storage slice from its start offset,
/// with row and column strides.
struct View<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    strides: (usize, usize),
}

fn view<'a>(s: &'a CpuStorage, l: &Layout, what: &str) -> candle_core::Result<View<'a>> {
    let CpuStorage::F32(data) = s else {
        candle_core::bail!("sgemm: {what} is not f32");
    };
    let (&[rows, cols], &[rs, cs]) = (l.dims(), l.stride()) else {
        candle_core::bail!("sgemm: {what} is not a matrix: {:?}", l.dims());
    };
    Ok(View {
        data: &data[l.start_offset()..],
        rows,
        cols,
        strides: (rs, cs),
    })
}

/// Products smaller than this many multiply-adds run on the calling thread.
const PARALLEL_MIN_MACS: usize = 1 << 18;

impl Gemm {
    fn run(
        &self,
        x: View,
        w: View,
        bias: Option<&[f32]>,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (m, k, n) = (x.rows, x.cols, w.cols);
        if w.rows != k || bias.is_some_and(|b| b.len() != n) {
            candle_core::bail!("sgemm: shapes {m}x{k} @ {}x{n} do not match", w.rows);
        }
        let mut out = vec![0f32; m * n];
        let ptr = SharedOut(out.as_mut_ptr());
        let threads = if m * k * n < PARALLEL_MIN_MACS {
            1
        } else {
            rayon::current_num_threads()
        };
        // Split the longer side into one block per thread, in whole
        // micro-kernel tiles (8).
        let along_cols = n >= m;
        let len = if along_cols { n } else { m };
        let chunk = len.div_ceil(threads).div_ceil(8) * 8;
        let blocks = len.div_ceil(chunk.max(1));
        let block = |i: usize| {
            let (start, end) = (i * chunk, ((i + 1) * chunk).min(len));
            let (rows, cols) = if along_cols {
                (0..m, start..end)
            } else {
                (start..end, 0..n)
            };
            // SAFETY: blocks cover disjoint rows or columns of `out`, which
            // is m x n; x and w are read within the bounds of their layouts.
            unsafe { self.block(&x, &w, bias, ptr, n, rows, cols) }
        };
        if blocks <= 1 {
            block(0);
        } else {
            (0..blocks).into_par_iter().for_each(block);
        }
        Ok((CpuStorage::F32(out), Shape::from((m, n))))
    }

    /// Fills `out[rows, cols]` (row stride `n`) with the bias, accumulates
    /// the product on top, and applies the epilogue.
    #[allow(clippy::too_many_arguments)]
    unsafe fn block(
        &self,
        x: &View,
        w: &View,
        bias: Option<&[f32]>,
        out: SharedOut,
        n: usize,
        rows: std::ops::Range<usize>,
        cols: std::ops::Range<usize>,
    ) {
        let width = cols.len();
        // SAFETY (for the slices and the sgemm below): the caller hands each
        // thread a disjoint block inside the m x n buffer.
        let row_slice =
            |r: usize| unsafe { std::slice::from_raw_parts_mut(out.at(r * n + cols.start), width) };
        if let Some(bias) = bias {
            for r in rows.clone() {
                row_slice(r).copy_from_slice(&bias[cols.clone()]);
            }
        }
        unsafe {
            matrixmultiply::sgemm(
                rows.len(),
                x.cols,
                width,
                1.0,
                x.data.as_ptr().add(rows.start * x.strides.0),
                x.strides.0 as isize,
                x.strides.1 as isize,
                w.data.as_ptr().add(cols.start * w.strides.1),
                w.strides.0 as isize,
                w.strides.1 as isize,
                if bias.is_some() { 1.0 } else { 0.0 },
                out.at(rows.start * n + cols.start),
                n as isize,
                1,
            );
        }
        if self.epilogue != Epilogue::Identity {
            rows.for_each(|r| self.epilogue.apply_in_place(row_slice(r)));
        }
    }
}

impl CustomOp2 for Gemm {
    fn name(&self) -> &'static str {
        "sage-sgemm"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        self.run(view(s1, l1, "x")?, view(s2, l2, "w")?, None)
    }
}

impl CustomOp3 for Gemm {
    fn name(&self) -> &'static str {
        "sage-sgemm-bias"
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
        let CpuStorage::F32(bias) = s3 else {
            candle_core::bail!("sgemm: bias is not f32");
        };
        let bias = &bias[l3.start_offset()..l3.start_offset() + l3.shape().elem_count()];
        self.run(view(s1, l1, "x")?, view(s2, l2, "w")?, Some(bias))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use candle_core::Device;

    /// The largest absolute elementwise difference of two tensors.
    pub(crate) fn close(a: &Tensor, b: &Tensor) -> f32 {
        (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .flatten_all()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    }

    #[test]
    fn matches_candle_for_strided_inputs_bias_and_both_split_directions() {
        let dev = Device::Cpu;
        // Wide (split by columns), tall (split by rows), and tiny (one block).
        for (m, k, n) in [(8, 64, 1000), (1000, 64, 8), (3, 5, 7)] {
            let x = Tensor::randn(0f32, 1.0, (m, k), &dev).unwrap();
            // A transposed view, as HF `Linear` weights are held.
            let w = Tensor::randn(0f32, 1.0, (n, k), &dev).unwrap().t().unwrap();
            let b = Tensor::randn(0f32, 1.0, n, &dev).unwrap();
            let want = x.matmul(&w).unwrap().broadcast_add(&b).unwrap();
            let got = affine(&x, &w, Some(&b), Epilogue::Identity).unwrap();
            assert!(close(&got, &want) < 1e-3, "{m}x{k}x{n}");
            let got = affine(&x, &w, None, Epilogue::Identity).unwrap();
            assert!(close(&got, &x.matmul(&w).unwrap()) < 1e-3, "{m}x{k}x{n}");
        }
    }

    #[test]
    fn the_gelu_epilogue_matches_candle_gelu() {
        let dev = Device::Cpu;
        let x = Tensor::randn(0f32, 1.0, (16, 32), &dev).unwrap();
        let w = Tensor::randn(0f32, 1.0, (32, 600), &dev).unwrap();
        let b = Tensor::randn(0f32, 1.0, 600, &dev).unwrap();
        let want = x
            .matmul(&w)
            .unwrap()
            .broadcast_add(&b)
            .unwrap()
            .gelu()
            .unwrap();
        let got = affine(&x, &w, Some(&b), Epilogue::GeluTanh).unwrap();
        assert!(close(&got, &want) < 1e-3);
    }

    #[test]
    fn other_dtypes_take_candles_path_with_the_same_result() {
        let dev = Device::Cpu;
        let x = Tensor::randn(0f32, 1.0, (4, 6), &dev).unwrap();
        let w = Tensor::randn(0f32, 1.0, (6, 5), &dev).unwrap();
        let b = Tensor::randn(0f32, 1.0, 5, &dev).unwrap();
        let f64s = |t: &Tensor| t.to_dtype(DType::F64).unwrap();
        for epilogue in [Epilogue::Identity, Epilogue::GeluTanh, Epilogue::Relu] {
            let fast = affine(&x, &w, Some(&b), epilogue).unwrap();
            let slow = affine(&f64s(&x), &f64s(&w), Some(&f64s(&b)), epilogue).unwrap();
            assert_eq!(slow.dtype(), DType::F64);
            assert!(
                close(&fast, &slow.to_dtype(DType::F32).unwrap()) < 1e-4,
                "{epilogue:?}"
            );
        }
    }

    #[test]
    fn mismatched_shapes_are_errors_not_panics() {
        let dev = Device::Cpu;
        let x = Tensor::zeros((2, 3), DType::F32, &dev).unwrap();
        let w = Tensor::zeros((4, 5), DType::F32, &dev).unwrap();
        assert!(affine(&x, &w, None, Epilogue::Identity).is_err());
    }
}
