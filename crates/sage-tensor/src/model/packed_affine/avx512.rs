//! The 8x48 register tile on AVX-512: 24 zmm accumulators (8 rows x 3
//! 16-lane column blocks), three panel loads and eight broadcasts per
//! step, which leaves the load ports idle half the time on a 32-register
//! file. One tile body serves f32 (FMA) and bf16 pairs (VDPBF16PS: each
//! lane adds the products of two consecutive rows, exactly, in f32).

use std::arch::x86_64::*;

use super::TileArgs;

/// Columns per panel (three 16-lane registers).
const NR: usize = 48;

/// Expands to the whole tile for one element type. `$load` reads 16
/// panel values, `$splat` broadcasts one row value, `$mac(acc, a, b)`
/// accumulates. The accumulators are named one by one so they stay in
/// registers even at opt-level 1.
macro_rules! tile_8x48 {
    ($t:expr, $load:ident, $splat:ident, $mac:ident) => {
        tile_8x48!(
            $t, $load, $splat, $mac;
            (0, c00, c01, c02, a0),
            (1, c10, c11, c12, a1),
            (2, c20, c21, c22, a2),
            (3, c30, c31, c32, a3),
            (4, c40, c41, c42, a4),
            (5, c50, c51, c52, a5),
            (6, c60, c61, c62, a6),
            (7, c70, c71, c72, a7)
        )
    };
    ($t:expr, $load:ident, $splat:ident, $mac:ident;
     $(($r:expr, $x:ident, $y:ident, $z:ident, $ap:ident)),*) => {{
        let TileArgs { kc, a, lda, panel, c, ldc, bias } = *$t;
        // SAFETY: every pointer stays inside the ranges the caller vouched
        // for; loads and stores are unaligned.
        unsafe {
            $(
                let $ap = a.add($r * lda);
                let init = if bias.is_null() { c.add($r * ldc).cast_const() } else { bias };
                let mut $x = _mm512_loadu_ps(init);
                let mut $y = _mm512_loadu_ps(init.add(16));
                let mut $z = _mm512_loadu_ps(init.add(32));
            )*
            for p in 0..kc {
                let row = panel.add(p * NR);
                let (b0, b1, b2) = ($load(row), $load(row.add(16)), $load(row.add(32)));
                $(
                    let av = $splat($ap.add(p));
                    $x = $mac($x, av, b0);
                    $y = $mac($y, av, b1);
                    $z = $mac($z, av, b2);
                )*
            }
            $(
                _mm512_storeu_ps(c.add($r * ldc), $x);
                _mm512_storeu_ps(c.add($r * ldc + 16), $y);
                _mm512_storeu_ps(c.add($r * ldc + 32), $z);
            )*
        }
    }};
}

/// `c = init + a @ panel` over a full 8x48 f32 tile.
///
/// # Safety
/// AVX-512F must be available and `t`'s pointers valid for 8 rows of `kc`
/// values at stride `lda`, `kc * 48` panel values, 48 bias values (if not
/// null) and 8 rows of 48 outputs at stride `ldc`.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn tile_f32(t: &TileArgs<f32>) {
    tile_8x48!(t, load_f32, splat_f32, fma_f32);
}

/// The same over bf16 pairs: `kc` pairs of rows, accumulated in f32.
///
/// # Safety
/// As [`tile_f32`], with AVX512-BF16 as well, `kc` counting pairs.
#[target_feature(enable = "avx512f,avx512bf16")]
pub(super) unsafe fn tile_bf16(t: &TileArgs<u32>) {
    tile_8x48!(t, load_pairs, splat_pair, dot_pairs);
}

/// 16 f32 from `p`.
///
/// # Safety
/// `p` must be valid for 16 reads.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn load_f32(p: *const f32) -> __m512 {
    // SAFETY: the caller vouches for 16 values.
    unsafe { _mm512_loadu_ps(p) }
}

/// `*p` in every lane.
///
/// # Safety
/// `p` must be valid for one read.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn splat_f32(p: *const f32) -> __m512 {
    // SAFETY: the caller vouches for one value.
    _mm512_set1_ps(unsafe { *p })
}

#[inline]
#[target_feature(enable = "avx512f")]
fn fma_f32(acc: __m512, a: __m512, b: __m512) -> __m512 {
    _mm512_fmadd_ps(a, b, acc)
}

/// 16 bf16 pairs from `p`.
///
/// # Safety
/// `p` must be valid for 16 reads.
#[inline]
#[target_feature(enable = "avx512f,avx512bf16")]
unsafe fn load_pairs(p: *const u32) -> __m512bh {
    // SAFETY: the caller vouches for 16 values; 16 u32 and 32 bf16 have
    // the same 64 bytes.
    unsafe { std::mem::transmute::<__m512i, __m512bh>(_mm512_loadu_si512(p.cast())) }
}

/// The pair at `p` in every lane.
///
/// # Safety
/// `p` must be valid for one read.
#[inline]
#[target_feature(enable = "avx512f,avx512bf16")]
unsafe fn splat_pair(p: *const u32) -> __m512bh {
    // SAFETY: one read the caller vouches for; the transmute reinterprets
    // 64 bytes as 64 bytes.
    unsafe { std::mem::transmute::<__m512i, __m512bh>(_mm512_set1_epi32(*p as i32)) }
}

#[inline]
#[target_feature(enable = "avx512f,avx512bf16")]
fn dot_pairs(acc: __m512, a: __m512bh, b: __m512bh) -> __m512 {
    _mm512_dpbf16_ps(acc, a, b)
}
