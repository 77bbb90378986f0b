//! The slice kernels of [`super`] eight lanes at a time with AVX2 and FMA
//! intrinsics. Intrinsics rather than auto-vectorised loops, because sage's
//! own code builds at opt-level 1 in dev profiles, where the compiler does
//! not vectorise loops; the scalar forms handle each row's tail.

use std::arch::x86_64::*;

use super::{EXP_MAX, EXP_MIN, EXP_POLY, GELU_CUBIC, LN2_HI, LN2_LO, SQRT_2_OVER_PI};

/// [`super::exp`] on 8 lanes.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn exp8(t: __m256) -> __m256 {
    let x = _mm256_min_ps(
        _mm256_max_ps(t, _mm256_set1_ps(EXP_MIN)),
        _mm256_set1_ps(EXP_MAX),
    );
    let n = _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(_mm256_mul_ps(
        x,
        _mm256_set1_ps(std::f32::consts::LOG2_E),
    ));
    let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(LN2_HI), x);
    let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(LN2_LO), r);
    let mut p = _mm256_setzero_ps();
    for c in EXP_POLY {
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(c));
    }
    let exponent = _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127));
    let pow2 = _mm256_castsi256_ps(_mm256_slli_epi32::<23>(exponent));
    let below = _mm256_cmp_ps::<_CMP_LT_OQ>(t, _mm256_set1_ps(EXP_MIN));
    _mm256_andnot_ps(below, _mm256_mul_ps(p, pow2))
}

/// [`super::gelu_tanh`] on 8 lanes.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn gelu8(x: __m256) -> __m256 {
    let x3 = _mm256_mul_ps(_mm256_mul_ps(x, x), x);
    let inner = _mm256_fmadd_ps(_mm256_set1_ps(GELU_CUBIC), x3, x);
    let minus_2u = _mm256_mul_ps(_mm256_set1_ps(-2.0 * SQRT_2_OVER_PI), inner);
    let denom = _mm256_add_ps(_mm256_set1_ps(1.0), exp8(minus_2u));
    _mm256_div_ps(x, denom)
}

/// [`super::gelu_tanh_in_place`].
#[target_feature(enable = "avx2,fma")]
pub(super) fn gelu_in_place(values: &mut [f32]) {
    let mut chunks = values.chunks_exact_mut(8);
    for chunk in &mut chunks {
        // SAFETY: `chunk` holds exactly 8 floats.
        unsafe { _mm256_storeu_ps(chunk.as_mut_ptr(), gelu8(_mm256_loadu_ps(chunk.as_ptr()))) };
    }
    for v in chunks.into_remainder() {
        *v = super::gelu_tanh(*v);
    }
}

/// [`super::softmax_rows_in_place`].
#[target_feature(enable = "avx2,fma")]
pub(super) fn softmax_rows_in_place(rows: &mut [f32], mask: Option<&[f32]>, width: usize) {
    if let Some(mask) = mask {
        add_in_place(rows, mask);
    }
    for row in rows.chunks_exact_mut(width.max(1)) {
        let lanes = row.len() / 8 * 8;
        let (body, tail) = row.split_at_mut(lanes);
        let mut max8 = _mm256_set1_ps(f32::NEG_INFINITY);
        for chunk in body.chunks_exact(8) {
            // SAFETY: `chunk` holds exactly 8 floats.
            max8 = _mm256_max_ps(max8, unsafe { _mm256_loadu_ps(chunk.as_ptr()) });
        }
        let max = tail
            .iter()
            .copied()
            .fold(horizontal(max8, f32::max), f32::max);
        let (max8, mut sum8) = (_mm256_set1_ps(max), _mm256_setzero_ps());
        for chunk in body.chunks_exact_mut(8) {
            // SAFETY: `chunk` holds exactly 8 floats.
            unsafe {
                let e = exp8(_mm256_sub_ps(_mm256_loadu_ps(chunk.as_ptr()), max8));
                _mm256_storeu_ps(chunk.as_mut_ptr(), e);
                sum8 = _mm256_add_ps(sum8, e);
            }
        }
        let mut sum = horizontal(sum8, |a, b| a + b);
        for v in tail.iter_mut() {
            *v = super::exp(*v - max);
            sum += *v;
        }
        let inv = 1.0 / sum;
        let inv8 = _mm256_set1_ps(inv);
        for chunk in body.chunks_exact_mut(8) {
            // SAFETY: `chunk` holds exactly 8 floats.
            unsafe {
                let scaled = _mm256_mul_ps(_mm256_loadu_ps(chunk.as_ptr()), inv8);
                _mm256_storeu_ps(chunk.as_mut_ptr(), scaled);
            }
        }
        for v in tail {
            *v *= inv;
        }
    }
}

/// `values += addend`, elementwise over the shorter of the two.
#[target_feature(enable = "avx2,fma")]
fn add_in_place(values: &mut [f32], addend: &[f32]) {
    let mut chunks = values.chunks_exact_mut(8);
    let mut addends = addend.chunks_exact(8);
    for (chunk, add) in (&mut chunks).zip(&mut addends) {
        // SAFETY: both chunks hold exactly 8 floats.
        unsafe {
            let sum = _mm256_add_ps(
                _mm256_loadu_ps(chunk.as_ptr()),
                _mm256_loadu_ps(add.as_ptr()),
            );
            _mm256_storeu_ps(chunk.as_mut_ptr(), sum);
        }
    }
    for (v, a) in chunks.into_remainder().iter_mut().zip(addends.remainder()) {
        *v += a;
    }
}

/// Folds the 8 lanes of `v` with `f`.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn horizontal(v: __m256, f: impl Fn(f32, f32) -> f32) -> f32 {
    let mut lanes = [0f32; 8];
    // SAFETY: `lanes` holds exactly 8 floats.
    unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), v) };
    lanes.into_iter().reduce(f).unwrap_or(0.0)
}
