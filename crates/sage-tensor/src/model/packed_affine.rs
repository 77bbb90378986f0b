//! `epilogue(x @ w + b)` with `w` packed once, when it is loaded, into
//! column panels that a register-tile micro-kernel streams through.
//!
//! A general GEMM (matrixmultiply, `gemm`) re-packs the weight matrix on
//! every call, and the weights here never change: mining calls the same
//! projections and the same SAE encoder thousands of times. Packing at load
//! time removes that work from every call, and reading the activations in
//! place (a tile's rows broadcast one value at a time) removes the other
//! packing. The work is split over the rayon pool by column panels, so each
//! thread owns its output columns; the bias seeds the accumulators and the
//! nonlinearity is applied to each tile while it is still in cache.
//!
//! The micro-kernel is chosen at run time ([`super::cpu`]): f32 weights use
//! the AVX-512 8x48 or the AVX2 6x16 tile; bf16 weights are packed as pairs
//! of consecutive rows (the layout VDPBF16PS and AMX's TDPBF16PS read) and
//! use AMX, AVX512-BF16, or a portable kernel; products accumulate in f32
//! and the activations are rounded to bf16 per call. Without a f32 kernel
//! [`PackedAffine::pack`] answers `None` for f32 weights and callers keep
//! the general path ([`super::gemm`]).

#[cfg(target_arch = "x86_64")]
mod amx;
#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
mod portable;

use candle_core::{CpuStorage, DType, Storage, Tensor};
use rayon::prelude::*;

use super::cpu::{self, Kernel};
use super::gemm::{Epilogue, SharedOut};

/// Products smaller than this many multiply-adds run on the calling thread.
const PARALLEL_MIN_MACS: usize = 1 << 18;
/// The tallest tile and deepest pass of any kernel (edge-tile scratch).
const MAX_MR: usize = 16;
const MAX_KC: usize = 256;
/// The widest panel of any kernel.
const MAX_NR: usize = 48;

/// One full tile's operands, as every micro-kernel takes them: `mr` rows
/// of `a` (`kc` values each, row stride `lda`), a `kc x nr` panel slice,
/// and `c` (`mr x nr` at row stride `ldc`), which starts from `bias` (the
/// `nr` values repeated for every row) or, when `bias` is null, from what
/// `c` already holds.
pub(super) struct TileArgs<E> {
    pub kc: usize,
    pub a: *const E,
    pub lda: usize,
    pub panel: *const E,
    pub c: *mut f32,
    pub ldc: usize,
    pub bias: *const f32,
}

/// A micro-kernel over full tiles.
///
/// # Safety
/// The kernel's CPU features must be present and every pointer of the
/// arguments valid for the extents [`TileArgs`] describes.
type TileFn<E> = unsafe fn(&TileArgs<E>);

/// How a kernel blocks the product.
#[derive(Debug, Clone, Copy)]
struct Geometry {
    /// Rows per register tile.
    mr: usize,
    /// Columns per panel.
    nr: usize,
    /// Depth of one pass over a panel: a `kc x nr` panel slice stays in L1
    /// while every row tile of a block passes over it.
    kc: usize,
    /// Rows of `x` worked on together while panels stream past (`mc x kc`
    /// values stay in L2).
    mc: usize,
    /// The packed depth is a multiple of this (AMX reads 16 pairs at once).
    k_grain: usize,
}

fn geometry(kernel: Kernel) -> Geometry {
    let g = |mr, nr, kc, mc, k_grain| Geometry {
        mr,
        nr,
        kc,
        mc,
        k_grain,
    };
    match kernel {
        // BLIS's blocking for its 6x16 AVX2 kernel.
        Kernel::F32Avx2 => g(6, 16, 256, 168, 1),
        // 128 x 48 x 4 bytes = 24 KiB of panel per pass, inside a 32 KiB L1.
        Kernel::F32Avx512 | Kernel::Bf16Avx512 => g(8, 48, 128, 192, 1),
        Kernel::Bf16Amx => g(16, 32, 128, 192, 16),
        Kernel::Bf16Portable => g(4, 16, 256, 192, 1),
    }
}

/// A packed value: one f32, or two bf16 halves of consecutive rows in a
/// `u32` (row `2p` in the low half, `2p + 1` in the high half).
trait Element: Copy + Send + Sync + 'static {
    const ZERO: Self;
    /// The micro-kernel of `kernel` over this element type (the packing
    /// never pairs a kernel with the other type).
    fn tile_for(kernel: Kernel) -> TileFn<Self>;
}

impl Element for f32 {
    const ZERO: f32 = 0.0;
    fn tile_for(kernel: Kernel) -> TileFn<f32> {
        f32_kernel_fn(kernel)
    }
}

impl Element for u32 {
    const ZERO: u32 = 0;
    fn tile_for(kernel: Kernel) -> TileFn<u32> {
        pair_kernel_fn(kernel)
    }
}

/// `x` rounded to bf16 (round to nearest even; NaN stays NaN).
pub(crate) fn bf16_bits(x: f32) -> u16 {
    let bits = x.to_bits();
    if x.is_nan() {
        return ((bits >> 16) | 0x40) as u16;
    }
    let round = 0x7fff + ((bits >> 16) & 1);
    (bits.wrapping_add(round) >> 16) as u16
}

/// Two values as one packed bf16 pair.
fn bf16_pair(lo: f32, hi: f32) -> u32 {
    u32::from(bf16_bits(lo)) | (u32::from(bf16_bits(hi)) << 16)
}

/// The packed panels, in the element type of their kernel.
enum Panels {
    F32(Vec<f32>),
    Bf16(Vec<u32>),
}

/// A weight matrix `[k, n]` and its bias, packed for one micro-kernel.
pub(crate) struct PackedAffine {
    kernel: Kernel,
    k: usize,
    n: usize,
    /// Rows per panel: `k` for f32, `k / 2` pairs rounded up to the
    /// kernel's grain for bf16.
    depth: usize,
    /// Panel `j` holds columns `nr*j..nr*(j+1)` as `depth` rows of `nr`
    /// values, zero-padded past `n` and past `k`.
    panels: Panels,
    /// The bias (zeros if there is none), zero-padded to whole panels.
    bias: Vec<f32>,
}

impl std::fmt::Debug for PackedAffine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "PackedAffine({}x{}, {})",
            self.k,
            self.n,
            self.kernel.name()
        )
    }
}

impl PackedAffine {
    /// Packs `w` (`[k, n]`, any strides) and an optional bias `[n]` for
    /// the kernel this CPU runs for `w`'s dtype: f32 weights for the f32
    /// kernel, bf16 weights as bf16 pairs, f16 weights widened to f32 (no
    /// CPU here has an f16 kernel). `None` off the CPU, for other dtypes,
    /// and for f32 when the CPU has no f32 kernel.
    pub(crate) fn pack(w: &Tensor, b: Option<&Tensor>) -> candle_core::Result<Option<Self>> {
        if !w.device().is_cpu() {
            return Ok(None);
        }
        let kernel = match w.dtype() {
            DType::F32 | DType::F16 => cpu::f32_kernel(),
            DType::BF16 => Some(cpu::bf16_kernel()),
            _ => None,
        };
        kernel.map(|k| Self::pack_for(k, w, b)).transpose()
    }

    /// Packs for a given kernel (which must run on this CPU), rounding the
    /// weights to bf16 for the bf16 kernels.
    pub(crate) fn pack_for(
        kernel: Kernel,
        w: &Tensor,
        b: Option<&Tensor>,
    ) -> candle_core::Result<Self> {
        if !kernel.supported() {
            candle_core::bail!("the {} kernel cannot run on this CPU", kernel.name());
        }
        let (k, n) = w.dims2()?;
        let rows = w.to_dtype(DType::F32)?.contiguous()?.flatten_all()?;
        let rows = rows.to_vec1::<f32>()?;
        let Geometry { nr, k_grain, .. } = geometry(kernel);
        let panels_of = |depth: usize| (n.div_ceil(nr), (depth * nr).max(1));
        let (depth, panels) = if is_bf16(kernel) {
            let depth = k.div_ceil(2).div_ceil(k_grain) * k_grain;
            let (count, len) = panels_of(depth);
            let mut panels = vec![0u32; count * len];
            panels
                .par_chunks_mut(len)
                .enumerate()
                .for_each(|(j, panel)| {
                    let at = |row: usize, col: usize| {
                        if row < k && col < n {
                            rows[row * n + col]
                        } else {
                            0.0
                        }
                    };
                    for (p, dst) in panel.chunks_exact_mut(nr).enumerate() {
                        for (c, v) in dst.iter_mut().enumerate() {
                            let col = j * nr + c;
                            *v = bf16_pair(at(2 * p, col), at(2 * p + 1, col));
                        }
                    }
                });
            (depth, Panels::Bf16(panels))
        } else {
            let (count, len) = panels_of(k);
            let mut panels = vec![0f32; count * len];
            panels
                .par_chunks_mut(len)
                .enumerate()
                .for_each(|(j, panel)| {
                    let width = nr.min(n - j * nr);
                    for (p, dst) in panel.chunks_exact_mut(nr).enumerate() {
                        dst[..width].copy_from_slice(&rows[p * n + j * nr..][..width]);
                    }
                });
            (k, Panels::F32(panels))
        };
        let mut bias = vec![0f32; n.div_ceil(nr) * nr];
        if let Some(b) = b {
            let b = b.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
            if b.len() != n {
                candle_core::bail!("bias has {} values for {n} outputs", b.len());
            }
            bias[..n].copy_from_slice(&b);
        }
        Ok(PackedAffine {
            kernel,
            k,
            n,
            depth,
            panels,
            bias,
        })
    }

    /// Output width.
    pub(crate) fn n(&self) -> usize {
        self.n
    }

    /// The micro-kernel this matrix was packed for.
    #[cfg(test)]
    pub(crate) fn kernel(&self) -> Kernel {
        self.kernel
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
        let x = &data[layout.start_offset()..][..m * k];
        // Every element is written below (the first pass starts from the
        // bias), so stale values from a previous call never survive.
        out.resize(m * self.n, 0.0);
        match &self.panels {
            Panels::F32(panels) => self.run(x, k, panels, m, epilogue, out),
            Panels::Bf16(panels) => {
                let a = self.bf16_rows(x, m);
                self.run(&a, self.depth, panels, m, epilogue, out);
            }
        }
        Ok(m)
    }

    /// The rows of `x` as bf16 pairs, each padded with zeros to `depth`.
    fn bf16_rows(&self, x: &[f32], m: usize) -> Vec<u32> {
        let (k, depth) = (self.k, self.depth);
        let mut a = vec![0u32; m * depth];
        for (row, dst) in x
            .chunks_exact(k.max(1))
            .zip(a.chunks_exact_mut(depth.max(1)))
        {
            for (p, v) in dst.iter_mut().enumerate() {
                let at = |i: usize| row.get(i).copied().unwrap_or(0.0);
                *v = bf16_pair(at(2 * p), at(2 * p + 1));
            }
        }
        a
    }

    /// Fills `out` (`m x n`) from the `m` rows of `a` (row stride `lda`).
    fn run<E: Element>(
        &self,
        a: &[E],
        lda: usize,
        panels: &[E],
        m: usize,
        epilogue: Epilogue,
        out: &mut [f32],
    ) {
        let n = self.n;
        if m == 0 || n == 0 {
            return;
        }
        let geo = geometry(self.kernel);
        let n_panels = n.div_ceil(geo.nr);
        let threads = if m * self.k * n < PARALLEL_MIN_MACS {
            1
        } else {
            rayon::current_num_threads().min(n_panels)
        };
        let per_thread = n_panels.div_ceil(threads);
        let ptr = SharedOut(out.as_mut_ptr());
        let work = Work {
            a,
            lda,
            panels,
            m,
            geo,
            tile: E::tile_for(self.kernel),
        };
        let block = |t: usize| {
            let range = t * per_thread..((t + 1) * per_thread).min(n_panels);
            // SAFETY: each thread writes only the columns of its panels, in
            // the m x n buffer; `a` holds m rows at stride `lda`.
            unsafe { self.columns(&work, ptr, range, epilogue) };
        };
        if threads == 1 {
            block(0);
        } else {
            (0..threads).into_par_iter().for_each(block);
        }
    }

    /// Computes the output columns of `range` (panel indices) for all rows.
    ///
    /// # Safety
    /// `work.a` must hold `m` rows of `depth` values at stride `lda`, and
    /// `out` be an `m x n` buffer that no other thread writes within these
    /// columns.
    unsafe fn columns<E: Element>(
        &self,
        work: &Work<E>,
        out: SharedOut,
        range: std::ops::Range<usize>,
        epilogue: Epilogue,
    ) {
        let (n, depth, m) = (self.n, self.depth, work.m);
        let Geometry { mr, nr, kc, mc, .. } = work.geo;
        if depth == 0 {
            for r in 0..m {
                for j in range.clone() {
                    let width = nr.min(n - j * nr);
                    // SAFETY: row r, columns of panel j, inside the buffer.
                    let row =
                        unsafe { std::slice::from_raw_parts_mut(out.at(r * n + j * nr), width) };
                    row.copy_from_slice(&self.bias[j * nr..][..width]);
                    epilogue.apply_in_place(row);
                }
            }
            return;
        }
        for k0 in (0..depth).step_by(kc) {
            let kc = kc.min(depth - k0);
            let (first, last) = (k0 == 0, k0 + kc == depth);
            for m0 in (0..m).step_by(mc) {
                let rows = m0..(m0 + mc).min(m);
                for j in range.clone() {
                    let width = nr.min(n - j * nr);
                    let panel = &work.panels[(j * depth + k0) * nr..][..kc * nr];
                    let bias = first.then(|| &self.bias[j * nr..][..nr]);
                    for r0 in rows.clone().step_by(mr) {
                        let tile = Tile {
                            a: &work.a[r0 * work.lda + k0..],
                            lda: work.lda,
                            kc,
                            panel,
                            bias,
                            height: mr.min(rows.end - r0),
                            width,
                            geo: work.geo,
                        };
                        // SAFETY: the tile is rows r0..r0+height, columns
                        // j*nr..j*nr+width of the m x n buffer.
                        let c = unsafe { out.at(r0 * n + j * nr) };
                        unsafe { tile.run(work.tile, c, n) };
                        if last && epilogue != Epilogue::Identity {
                            for r in 0..tile.height {
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

fn is_bf16(kernel: Kernel) -> bool {
    matches!(
        kernel,
        Kernel::Bf16Amx | Kernel::Bf16Avx512 | Kernel::Bf16Portable
    )
}

/// What every thread of one product shares.
struct Work<'a, E> {
    a: &'a [E],
    lda: usize,
    panels: &'a [E],
    m: usize,
    geo: Geometry,
    tile: TileFn<E>,
}

#[cfg(target_arch = "x86_64")]
fn f32_kernel_fn(kernel: Kernel) -> TileFn<f32> {
    match kernel {
        Kernel::F32Avx512 => avx512::tile_f32,
        _ => avx2::tile,
    }
}

#[cfg(target_arch = "x86_64")]
fn pair_kernel_fn(kernel: Kernel) -> TileFn<u32> {
    match kernel {
        Kernel::Bf16Amx => amx::tile,
        Kernel::Bf16Avx512 => avx512::tile_bf16,
        _ => portable::tile_bf16,
    }
}

/// Only the portable kernel exists off x86-64 (and `cpu` reports no
/// other as supported, so `pack_for` never packs for one).
#[cfg(not(target_arch = "x86_64"))]
fn f32_kernel_fn(_kernel: Kernel) -> TileFn<f32> {
    unreachable!("no f32 micro-kernel is supported off x86-64")
}

#[cfg(not(target_arch = "x86_64"))]
fn pair_kernel_fn(_kernel: Kernel) -> TileFn<u32> {
    portable::tile_bf16
}

/// One register tile's inputs: up to `mr` rows of `a` (row stride `lda`),
/// one panel slice of `kc` rows, and the bias to start from (`None`:
/// accumulate onto what the output already holds).
struct Tile<'a, E> {
    a: &'a [E],
    lda: usize,
    kc: usize,
    panel: &'a [E],
    bias: Option<&'a [f32]>,
    height: usize,
    width: usize,
    geo: Geometry,
}

impl<E: Element> Tile<'_, E> {
    /// Writes the tile into `c` (row stride `ldc`). Full tiles go straight
    /// to the kernel; edge tiles go through zero-padded copies.
    ///
    /// # Safety
    /// `c` must be valid for `height` rows of `width` values at stride
    /// `ldc`, and `kernel` must run on this CPU.
    unsafe fn run(&self, kernel: TileFn<E>, c: *mut f32, ldc: usize) {
        let Geometry { mr, nr, .. } = self.geo;
        let bias = self.bias.map_or(std::ptr::null(), <[f32]>::as_ptr);
        if self.height == mr && self.width == nr {
            // SAFETY: `mr` rows of `a` hold kc values each (the caller
            // sliced `a` at row r0 of the matrix with r0+mr <= m), the
            // panel slice holds kc x nr, and c is a full tile.
            unsafe {
                kernel(&TileArgs {
                    kc: self.kc,
                    a: self.a.as_ptr(),
                    lda: self.lda,
                    panel: self.panel.as_ptr(),
                    c,
                    ldc,
                    bias,
                })
            };
            return;
        }
        // Stack scratch: an edge tile comes up once per panel and pass.
        let mut a = [E::ZERO; MAX_MR * MAX_KC];
        for r in 0..self.height {
            a[r * self.kc..][..self.kc].copy_from_slice(&self.a[r * self.lda..][..self.kc]);
        }
        let mut tile = [0f32; MAX_MR * MAX_NR];
        if self.bias.is_none() {
            for r in 0..self.height {
                // SAFETY: row r of the tile, `width` values, in bounds.
                let row = unsafe { std::slice::from_raw_parts(c.add(r * ldc), self.width) };
                tile[r * nr..][..self.width].copy_from_slice(row);
            }
        }
        // SAFETY: the padded copies are full mr x kc and mr x nr blocks.
        unsafe {
            kernel(&TileArgs {
                kc: self.kc,
                a: a.as_ptr(),
                lda: self.kc,
                panel: self.panel.as_ptr(),
                c: tile.as_mut_ptr(),
                ldc: nr,
                bias,
            })
        };
        for r in 0..self.height {
            // SAFETY: as above.
            let row = unsafe { std::slice::from_raw_parts_mut(c.add(r * ldc), self.width) };
            row.copy_from_slice(&tile[r * nr..][..self.width]);
        }
    }
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

    /// The tensor rounded through bf16 (what a bf16 kernel multiplies).
    fn through_bf16(t: &Tensor) -> Tensor {
        t.to_dtype(DType::BF16)
            .unwrap()
            .to_dtype(DType::F32)
            .unwrap()
    }

    /// Runs `check` for every kernel this CPU supports, printing one line
    /// for each it does not.
    fn for_each_kernel(mut check: impl FnMut(Kernel)) {
        for kernel in Kernel::ALL {
            if kernel.supported() {
                check(kernel);
            } else {
                println!("skipped: CPU lacks {} ({})", kernel.needs(), kernel.name());
            }
        }
    }

    #[test]
    fn every_supported_kernel_matches_candle_on_edge_shapes_strided_weights_and_epilogues() {
        let dev = Device::Cpu;
        // Rows around every tile height (4, 6, 8, 16) and block (168, 192),
        // widths around every panel (16, 32, 48), depths around the passes
        // (128, 256 values; 128 bf16 pairs), odd depths for the pairs; big
        // enough to be split over threads, and degenerate ones.
        let shapes = [
            (1, 1, 1),
            (5, 3, 15),
            (6, 16, 16),
            (8, 48, 48),
            (7, 17, 49),
            (17, 33, 97),
            (13, 769, 40),
            (100, 64, 1000),
            (97, 1600, 33),
            (200, 300, 40),
            (3, 0, 5),
        ];
        for_each_kernel(|kernel| {
            for (m, k, n) in shapes {
                let x = Tensor::randn(0f32, 1.0, (m, k), &dev).unwrap();
                let b = Tensor::randn(0f32, 1.0, n, &dev).unwrap();
                // Both a contiguous [k, n] weight and a transposed [n, k] view.
                let plain = Tensor::randn(0f32, 0.1, (k, n), &dev).unwrap();
                let viewed = Tensor::randn(0f32, 0.1, (n, k), &dev).unwrap().t().unwrap();
                for w in [plain, viewed] {
                    // A bf16 kernel multiplies bf16-rounded values exactly and
                    // adds in f32: against the rounded operands it is as close
                    // as an f32 kernel.
                    let (xr, wr) = if is_bf16(kernel) {
                        (through_bf16(&x), through_bf16(&w))
                    } else {
                        (x.clone(), w.clone())
                    };
                    for (bias, epilogue) in [
                        (None, Epilogue::Identity),
                        (Some(&b), Epilogue::Identity),
                        (Some(&b), Epilogue::GeluTanh),
                        (Some(&b), Epilogue::Relu),
                    ] {
                        let packed = PackedAffine::pack_for(kernel, &w, bias).unwrap();
                        let got = packed.apply(&x, epilogue).unwrap();
                        let want = reference(&xr, &wr, bias, epilogue);
                        assert_eq!(got.dims(), &[m, n]);
                        if m * n > 0 {
                            let err = close(&got, &want);
                            assert!(
                                err < 1e-3,
                                "{}: {m}x{k}x{n} {epilogue:?}: {err}",
                                kernel.name()
                            );
                        }
                    }
                }
            }
        });
    }

    #[test]
    fn pack_picks_the_dispatched_kernel_for_each_dtype() {
        let dev = Device::Cpu;
        let w = Tensor::randn(0f32, 1.0, (8, 8), &dev).unwrap();
        let f32_packed = PackedAffine::pack(&w, None).unwrap();
        assert_eq!(f32_packed.map(|p| p.kernel()), cpu::f32_kernel());
        let bf16 = w.to_dtype(DType::BF16).unwrap();
        let packed = PackedAffine::pack(&bf16, None).unwrap().unwrap();
        assert_eq!(packed.kernel(), cpu::bf16_kernel());
        let f64s = w.to_dtype(DType::F64).unwrap();
        assert!(PackedAffine::pack(&f64s, None).unwrap().is_none());
    }

    #[test]
    fn bf16_rounding_is_to_nearest_even_and_keeps_specials() {
        let back = |x: f32| f32::from_bits(u32::from(bf16_bits(x)) << 16);
        assert_eq!(back(1.0), 1.0);
        // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties go to even (1).
        assert_eq!(back(1.0 + 1.0 / 256.0), 1.0);
        // Just above halfway rounds up.
        assert_eq!(back(1.0 + 1.0 / 256.0 + 1.0 / 65536.0), 1.0 + 1.0 / 128.0);
        assert_eq!(back(f32::INFINITY), f32::INFINITY);
        assert!(back(f32::NAN).is_nan());
        for v in [0.1f32, -3.7, 1e-20, 6.5e4] {
            let want = half_bf16(v);
            assert_eq!(back(v), want, "{v}");
        }
    }

    /// candle's (the `half` crate's) rounding of one value.
    fn half_bf16(v: f32) -> f32 {
        Tensor::new(&[v], &Device::Cpu)
            .unwrap()
            .to_dtype(DType::BF16)
            .unwrap()
            .to_dtype(DType::F32)
            .unwrap()
            .to_vec1::<f32>()
            .unwrap()[0]
    }

    #[test]
    fn a_bias_of_the_wrong_length_or_input_of_the_wrong_width_is_an_error() {
        let dev = Device::Cpu;
        let w = Tensor::zeros((4, 8), DType::F32, &dev).unwrap();
        let short = Tensor::zeros(7, DType::F32, &dev).unwrap();
        let kernel = Kernel::Bf16Portable;
        assert!(PackedAffine::pack_for(kernel, &w, Some(&short)).is_err());
        let packed = PackedAffine::pack_for(kernel, &w, None).unwrap();
        let x = Tensor::zeros((2, 5), DType::F32, &dev).unwrap();
        let err = packed.apply(&x, Epilogue::Identity).unwrap_err();
        assert!(err.to_string().contains("2x5"), "{err}");
    }

    #[test]
    fn packing_for_a_kernel_the_cpu_lacks_is_an_error_not_a_fault() {
        let w = Tensor::zeros((4, 8), DType::F32, &Device::Cpu).unwrap();
        for kernel in Kernel::ALL {
            let packed = PackedAffine::pack_for(kernel, &w, None);
            assert_eq!(packed.is_ok(), kernel.supported(), "{}", kernel.name());
        }
    }
}
