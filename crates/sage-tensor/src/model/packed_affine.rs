//! `epilogue(x @ w + b)` with `w` packed once, when it is loaded, into
//! 16-column panels that a 6x16 AVX2+FMA register tile streams through.
//!
//! A general GEMM (matrixmultiply, `gemm`) re-packs the weight matrix on
//! every call, and the weights here never change: mining calls the same
//! projections and the same SAE encoder thousands of times. Packing at load
//! time removes that work from every call, and reading the activations in
//! place (6 rows broadcast one value at a time) removes the other packing.
//! The work is split over the rayon pool by column panels, so each thread
//! owns its output columns; the bias seeds the accumulators and the
//! nonlinearity is applied to each tile while it is still in cache.
//!
//! Only on x86-64 CPUs with AVX2 and FMA; [`PackedAffine::pack`] answers
//! `None` elsewhere and callers keep the general path ([`super::gemm`]).

use candle_core::{CpuStorage, DType, Storage, Tensor};
use rayon::prelude::*;

use super::gemm::{Epilogue, SharedOut};

/// Columns per panel (two 8-lane registers).
const NR: usize = 16;
/// Rows per register tile.
const MR: usize = 6;
/// Depth of one pass over a panel: a 256 x 16 panel slice (16 KiB) stays
/// in L1 while every row tile of a block passes over it. KC and MC are the
/// blocking BLIS uses for its 6x16 single-precision AVX2 kernel.
const KC: usize = 256;
/// Rows of `x` worked on together while panels stream past (`MC x KC`
/// floats, 168 KiB, stay in L2).
const MC: usize = 168;
/// Products smaller than this many multiply-adds run on the calling thread.
const PARALLEL_MIN_MACS: usize = 1 << 18;

/// A weight matrix `[k, n]` and its bias, packed for the 6x16 kernel.
pub(crate) struct PackedAffine {
    k: usize,
    n: usize,
    /// Panel `j` holds columns `16j..16j+16` as `k` rows of 16 values,
    /// zero-padded past `n`.
    panels: Vec<f32>,
    /// The bias (zeros if there is none), zero-padded to whole panels.
    bias: Vec<f32>,
}

impl std::fmt::Debug for PackedAffine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PackedAffine({}x{})", self.k, self.n)
    }
}

impl PackedAffine {
    /// Packs `w` (`[k, n]` f32, any strides) and an optional bias `[n]`;
    /// `None` when the weight is not f32 on the CPU (a model loaded in bf16
    /// keeps computing in bf16) or the CPU has no AVX2+FMA.
    pub(crate) fn pack(w: &Tensor, b: Option<&Tensor>) -> candle_core::Result<Option<Self>> {
        if !w.device().is_cpu() || w.dtype() != DType::F32 || !kernel_available() {
            return Ok(None);
        }
        let (k, n) = w.dims2()?;
        let rows = w.contiguous()?.flatten_all()?;
        let rows = rows.to_vec1::<f32>()?;
        let n_panels = n.div_ceil(NR);
        let mut panels = vec![0f32; n_panels * k * NR];
        for (j, panel) in panels.chunks_exact_mut((k * NR).max(1)).enumerate() {
            let width = NR.min(n - j * NR);
            for (p, dst) in panel.chunks_exact_mut(NR).enumerate() {
                let src = &rows[p * n + j * NR..][..width];
                dst[..width].copy_from_slice(src);
            }
        }
        let mut bias = vec![0f32; n_panels * NR];
        if let Some(b) = b {
            let b = b.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
            if b.len() != n {
                candle_core::bail!("bias has {} values for {n} outputs", b.len());
            }
            bias[..n].copy_from_slice(&b);
        }
        Ok(Some(PackedAffine { k, n, panels, bias }))
    }

    /// Output width.
    pub(crate) fn n(&self) -> usize {
        self.n
    }

    /// `epilogue(x @ w + b)` for `x` `[m, k]` on the CPU.
    pub(crate) fn apply(&self, x: &Tensor, epilogue: Epilogue) -> candle_core::Result<Tensor> {
        let mut out = Vec::new();
        let m = self.apply_into(x, epilogue, &mut out)?;
        Tensor::from_vec(out, (m, self.n), x.device())
    }

    /// The same into `out`, row-major `[m][n]`, reusing its allocation;
    /// returns `m`.
    pub(crate) fn apply_into(
        &self,
        x: &Tensor,
        epilogue: Epilogue,
        out: &mut Vec<f32>,
    ) -> candle_core::Result<usize> {
        let x = x.to_dtype(DType::F32)?.contiguous()?;
        let (m, k) = x.dims2()?;
        if k != self.k {
            candle_core::bail!(
                "packed affine: x is {m}x{k} for a {}x{} weight",
                self.k,
                self.n
            );
        }
        let (storage, layout) = x.storage_and_layout();
        let Storage::Cpu(CpuStorage::F32(data)) = &*storage else {
            candle_core::bail!("packed affine: x is not an f32 tensor on the CPU");
        };
        self.run(&data[layout.start_offset()..][..m * k], m, epilogue, out);
        Ok(m)
    }

    /// Fills `out` (resized to `m x n`) from the `m x k` rows in `x`.
    fn run(&self, x: &[f32], m: usize, epilogue: Epilogue, out: &mut Vec<f32>) {
        let (k, n) = (self.k, self.n);
        // Every element is written below (the first pass starts from the
        // bias), so stale values from a previous call never survive.
        out.resize(m * n, 0.0);
        if m == 0 || n == 0 {
            return;
        }
        let n_panels = n.div_ceil(NR);
        let threads = if m * k * n < PARALLEL_MIN_MACS {
            1
        } else {
            rayon::current_num_threads().min(n_panels)
        };
        let per_thread = n_panels.div_ceil(threads);
        let ptr = SharedOut(out.as_mut_ptr());
        let block = |t: usize| {
            let panels = t * per_thread..((t + 1) * per_thread).min(n_panels);
            // SAFETY: each thread writes only the columns of its panels, in
            // the m x n buffer; `x` holds m x k values.
            unsafe { self.columns(x, m, ptr, panels, epilogue) };
        };
        if threads == 1 {
            block(0);
        } else {
            (0..threads).into_par_iter().for_each(block);
        }
    }

    /// Computes the output columns of `panels` for all `m` rows.
    ///
    /// # Safety
    /// `x` must hold `m * k` values and `out` an `m x n` buffer that no
    /// other thread writes within these columns.
    unsafe fn columns(
        &self,
        x: &[f32],
        m: usize,
        out: SharedOut,
        panels: std::ops::Range<usize>,
        epilogue: Epilogue,
    ) {
        let (k, n) = (self.k, self.n);
        if k == 0 {
            for r in 0..m {
                for j in panels.clone() {
                    let width = NR.min(n - j * NR);
                    // SAFETY: row r, columns of panel j, inside the buffer.
                    let row =
                        unsafe { std::slice::from_raw_parts_mut(out.at(r * n + j * NR), width) };
                    row.copy_from_slice(&self.bias[j * NR..][..width]);
                    epilogue.apply_in_place(row);
                }
            }
            return;
        }
        for k0 in (0..k).step_by(KC) {
            let kc = KC.min(k - k0);
            let (first, last) = (k0 == 0, k0 + kc == k);
            for m0 in (0..m).step_by(MC) {
                let rows = m0..(m0 + MC).min(m);
                for j in panels.clone() {
                    let width = NR.min(n - j * NR);
                    let panel = &self.panels[(j * k + k0) * NR..][..kc * NR];
                    let bias = first.then(|| &self.bias[j * NR..][..NR]);
                    for r0 in rows.clone().step_by(MR) {
                        let height = MR.min(rows.end - r0);
                        let tile = Tile {
                            a: &x[r0 * k + k0..],
                            lda: k,
                            kc,
                            panel,
                            bias,
                            height,
                            width,
                        };
                        // SAFETY: the tile is rows r0..r0+height, columns
                        // j*16..j*16+width of the m x n buffer.
                        let c = unsafe { out.at(r0 * n + j * NR) };
                        unsafe { tile.run(c, n) };
                        if last && epilogue != Epilogue::Identity {
                            for r in 0..height {
                                // SAFETY: as above, one row of the tile.
                                let row =
                                    unsafe { std::slice::from_raw_parts_mut(c.add(r * n), width) };
                                epilogue.apply_in_place(row);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// One register tile's inputs: up to 6 rows of `x` (from column `k0`, row
/// stride `lda`), one panel slice of `kc` rows, and the bias to start from
/// (`None`: accumulate onto what the output already holds).
struct Tile<'a> {
    a: &'a [f32],
    lda: usize,
    kc: usize,
    panel: &'a [f32],
    bias: Option<&'a [f32]>,
    height: usize,
    width: usize,
}

impl Tile<'_> {
    /// Writes the tile into `c` (row stride `ldc`). Full 6x16 tiles go
    /// straight to the kernel; edge tiles go through zero-padded copies.
    ///
    /// # Safety
    /// `c` must be valid for `height` rows of `width` values at stride `ldc`.
    unsafe fn run(&self, c: *mut f32, ldc: usize) {
        let bias = self.bias.map_or(std::ptr::null(), <[f32]>::as_ptr);
        if self.height == MR && self.width == NR {
            // SAFETY: 6 rows of `x` from `a` hold kc values each (the
            // caller sliced `a` at row r0 of an m x k matrix with r0+6 <= m),
            // the panel slice holds kc x 16, and c is a full tile.
            unsafe {
                kernel(
                    self.kc,
                    self.a.as_ptr(),
                    self.lda,
                    self.panel.as_ptr(),
                    c,
                    ldc,
                    bias,
                )
            };
            return;
        }
        // Stack scratch: an edge tile comes up once per panel and pass.
        let mut a = [0f32; MR * KC];
        for r in 0..self.height {
            a[r * self.kc..][..self.kc].copy_from_slice(&self.a[r * self.lda..][..self.kc]);
        }
        let mut tile = [0f32; MR * NR];
        if self.bias.is_none() {
            for r in 0..self.height {
                // SAFETY: row r of the tile, `width` values, in bounds.
                let row = unsafe { std::slice::from_raw_parts(c.add(r * ldc), self.width) };
                tile[r * NR..][..self.width].copy_from_slice(row);
            }
        }
        // SAFETY: the padded copies are full 6 x kc and 6 x 16 blocks.
        unsafe {
            kernel(
                self.kc,
                a.as_ptr(),
                self.kc,
                self.panel.as_ptr(),
                tile.as_mut_ptr(),
                NR,
                bias,
            )
        };
        for r in 0..self.height {
            // SAFETY: as above.
            let row = unsafe { std::slice::from_raw_parts_mut(c.add(r * ldc), self.width) };
            row.copy_from_slice(&tile[r * NR..][..self.width]);
        }
    }
}

#[cfg(target_arch = "x86_64")]
fn kernel_available() -> bool {
    super::fastmath::has_avx2_fma()
}

#[cfg(not(target_arch = "x86_64"))]
fn kernel_available() -> bool {
    false
}

/// The 6x16 register tile: `c = init + a @ panel` where `init` is the bias
/// row (repeated for every row) or, when `bias` is null, `c` itself.
///
/// # Safety
/// AVX2 and FMA must be available; `a` must be valid for 6 rows of `kc`
/// values at stride `lda`, `panel` for `kc * 16` values, `bias` (if not
/// null) for 16, and `c` for 6 rows of 16 at stride `ldc`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn kernel(
    kc: usize,
    a: *const f32,
    lda: usize,
    panel: *const f32,
    c: *mut f32,
    ldc: usize,
    bias: *const f32,
) {
    use std::arch::x86_64::*;
    // Twelve accumulators (6 rows x 2 halves) named one by one, so they
    // stay in registers even at opt-level 1.
    macro_rules! tile {
        ($(($r:expr, $lo:ident, $hi:ident, $ap:ident)),*) => {
            // SAFETY: every pointer stays inside the ranges the caller
            // vouched for; loads and stores are unaligned.
            unsafe {
                $(
                    let $ap = a.add($r * lda);
                    let (mut $lo, mut $hi) = if bias.is_null() {
                        (_mm256_loadu_ps(c.add($r * ldc)), _mm256_loadu_ps(c.add($r * ldc + 8)))
                    } else {
                        (_mm256_loadu_ps(bias), _mm256_loadu_ps(bias.add(8)))
                    };
                )*
                for p in 0..kc {
                    let b0 = _mm256_loadu_ps(panel.add(p * NR));
                    let b1 = _mm256_loadu_ps(panel.add(p * NR + 8));
                    $(
                        let av = _mm256_broadcast_ss(&*$ap.add(p));
                        $lo = _mm256_fmadd_ps(av, b0, $lo);
                        $hi = _mm256_fmadd_ps(av, b1, $hi);
                    )*
                }
                $(
                    _mm256_storeu_ps(c.add($r * ldc), $lo);
                    _mm256_storeu_ps(c.add($r * ldc + 8), $hi);
                )*
            }
        };
    }
    tile!(
        (0, c00, c01, a0),
        (1, c10, c11, a1),
        (2, c20, c21, a2),
        (3, c30, c31, a3),
        (4, c40, c41, a4),
        (5, c50, c51, a5)
    );
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn kernel(
    _kc: usize,
    _a: *const f32,
    _lda: usize,
    _panel: *const f32,
    _c: *mut f32,
    _ldc: usize,
    _bias: *const f32,
) {
    unreachable!("PackedAffine::pack refuses CPUs without AVX2 and FMA")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::gemm::tests::close;
    use candle_core::Device;

    /// `epilogue(x @ w + b)` the plain candle way.
    fn reference(x: &Tensor, w: &Tensor, b: Option<&Tensor>, epilogue: Epilogue) -> Tensor {
        let y = x.matmul(w).unwrap();
        let y = match b {
            Some(b) => y.broadcast_add(b).unwrap(),
            None => y,
        };
        match epilogue {
            Epilogue::Identity => y,
            Epilogue::GeluTanh => y.gelu().unwrap(),
            Epilogue::Relu => y.relu().unwrap(),
        }
    }

    #[test]
    fn matches_candle_on_edge_shapes_strided_weights_and_every_epilogue() {
        let dev = Device::Cpu;
        // Rows around the 6-row tile and the 168-row block, widths around
        // the 16-column panel, depths around the 256-deep pass; big enough
        // to be split over threads, and degenerate ones.
        let shapes = [
            (1, 1, 1),
            (5, 3, 15),
            (6, 16, 16),
            (7, 17, 17),
            (13, 769, 40),
            (100, 64, 1000),
            (97, 1600, 33),
            (170, 300, 40),
            (3, 0, 5),
        ];
        for (m, k, n) in shapes {
            let x = Tensor::randn(0f32, 1.0, (m, k), &dev).unwrap();
            let b = Tensor::randn(0f32, 1.0, n, &dev).unwrap();
            // Both a contiguous [k, n] weight and a transposed [n, k] view.
            let plain = Tensor::randn(0f32, 0.1, (k, n), &dev).unwrap();
            let viewed = Tensor::randn(0f32, 0.1, (n, k), &dev).unwrap().t().unwrap();
            for w in [plain, viewed] {
                for (bias, epilogue) in [
                    (None, Epilogue::Identity),
                    (Some(&b), Epilogue::Identity),
                    (Some(&b), Epilogue::GeluTanh),
                    (Some(&b), Epilogue::Relu),
                ] {
                    let Some(packed) = PackedAffine::pack(&w, bias).unwrap() else {
                        // No AVX2+FMA here: callers use the general path.
                        assert!(!kernel_available());
                        return;
                    };
                    let got = packed.apply(&x, epilogue).unwrap();
                    let want = reference(&x, &w, bias, epilogue);
                    assert_eq!(got.dims(), &[m, n]);
                    if m * n > 0 {
                        let err = close(&got, &want);
                        assert!(err < 1e-3, "{m}x{k}x{n} {epilogue:?}: {err}");
                    }
                }
            }
        }
    }

    #[test]
    fn a_bias_of_the_wrong_length_or_input_of_the_wrong_width_is_an_error() {
        let dev = Device::Cpu;
        let w = Tensor::zeros((4, 8), DType::F32, &dev).unwrap();
        let short = Tensor::zeros(7, DType::F32, &dev).unwrap();
        if !kernel_available() {
            return;
        }
        assert!(PackedAffine::pack(&w, Some(&short)).is_err());
        let packed = PackedAffine::pack(&w, None).unwrap().unwrap();
        let x = Tensor::zeros((2, 5), DType::F32, &dev).unwrap();
        let err = packed.apply(&x, Epilogue::Identity).unwrap_err();
        assert!(err.to_string().contains("2x5"), "{err}");
    }
}
