//! The bf16 fallback for CPUs without AVX512-BF16 or AMX: each pair is
//! widened to two f32 (a bf16 is the top half of an f32) and multiplied in
//! plain Rust over a 4x16 tile. Same packing, same results to f32
//! rounding: the products of two bf16 are exact in f32 on every path.

use super::TileArgs;

const MR: usize = 4;
const NR: usize = 16;

/// The two bf16 of a pair as f32 (low half first).
fn widen(pair: u32) -> (f32, f32) {
    (
        f32::from_bits(pair << 16),
        f32::from_bits(pair & 0xffff_0000),
    )
}

/// `c = init + a @ panel` over a full 4x16 tile of bf16 pairs.
///
/// # Safety
/// `t`'s pointers must be valid for 4 rows of `kc` pairs at stride `lda`,
/// `kc * 16` panel pairs, 16 bias values (if not null) and 4 rows of 16
/// outputs at stride `ldc`.
pub(super) unsafe fn tile_bf16(t: &TileArgs<u32>) {
    let mut acc = [[0f32; NR]; MR];
    for (r, row) in acc.iter_mut().enumerate() {
        let init = if t.bias.is_null() {
            // SAFETY: row r of the output tile, which the caller vouches for.
            unsafe { t.c.add(r * t.ldc).cast_const() }
        } else {
            t.bias
        };
        // SAFETY: 16 values at `init`, as above.
        row.copy_from_slice(unsafe { std::slice::from_raw_parts(init, NR) });
    }
    for p in 0..t.kc {
        // SAFETY: panel row p of kc, 16 pairs.
        let panel = unsafe { std::slice::from_raw_parts(t.panel.add(p * NR), NR) };
        let (mut lo, mut hi) = ([0f32; NR], [0f32; NR]);
        for ((l, h), &w) in lo.iter_mut().zip(&mut hi).zip(panel) {
            (*l, *h) = widen(w);
        }
        for (r, row) in acc.iter_mut().enumerate() {
            // SAFETY: pair p of row r of `a`.
            let (al, ah) = widen(unsafe { *t.a.add(r * t.lda + p) });
            for ((v, wl), wh) in row.iter_mut().zip(&lo).zip(&hi) {
                *v += al * wl + ah * wh;
            }
        }
    }
    for (r, row) in acc.iter().enumerate() {
        // SAFETY: row r of the output tile.
        let out = unsafe { std::slice::from_raw_parts_mut(t.c.add(r * t.ldc), NR) };
        out.copy_from_slice(row);
    }
}
