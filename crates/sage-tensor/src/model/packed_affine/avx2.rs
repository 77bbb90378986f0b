//! The 6x16 f32 register tile on AVX2 + FMA: two 8-lane columns halves,
//! six rows broadcast one value at a time.

use std::arch::x86_64::*;

use super::TileArgs;

/// Columns per panel (two 8-lane registers).
const NR: usize = 16;

/// `c = init + a @ panel` over a full 6x16 tile.
///
/// # Safety
/// AVX2 and FMA must be available and `t`'s pointers valid for 6 rows of
/// `kc` values at stride `lda`, `kc * 16` panel values, 16 bias values (if
/// not null) and 6 rows of 16 outputs at stride `ldc`.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn tile(t: &TileArgs<f32>) {
    let TileArgs {
        kc,
        a,
        lda,
        panel,
        c,
        ldc,
        bias,
    } = *t;
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
