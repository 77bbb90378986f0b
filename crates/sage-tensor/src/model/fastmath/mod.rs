//! Branch-free `exp`, tanh-approximated GELU and row softmax over `f32`
//! slices: libm's scalar `tanhf`/`expf` made the GELU alone cost a third as
//! much as the matmul before it. On x86-64 with AVX2 and FMA the slice
//! kernels run 8 lanes at a time ([`avx2`]); elsewhere the scalar forms below.
//!
//! `exp` is accurate to a few ulp over the whole `f32` range, far inside the
//! 1e-4 the parity tests allow against PyTorch.

#[cfg(target_arch = "x86_64")]
mod avx2;

/// Below this `exp` returns exactly 0 (as masked attention scores need).
const EXP_MIN: f32 = -87.3;
/// Above this `exp` stays at `exp(EXP_MAX)` instead of overflowing.
const EXP_MAX: f32 = 88.3;
/// `ln 2` split into a part exact in f32 and the remainder (Cody-Waite).
const LN2_HI: f32 = 0.693_145_75;
const LN2_LO: f32 = 1.428_606_8e-6;
/// Taylor coefficients of `exp(r)` on `|r| <= ln2 / 2`, highest degree first.
const EXP_POLY: [f32; 7] = [
    1.0 / 720.0,
    1.0 / 120.0,
    1.0 / 24.0,
    1.0 / 6.0,
    0.5,
    1.0,
    1.0,
];
/// `sqrt(2 / pi)` and the cubic coefficient of the tanh GELU.
const SQRT_2_OVER_PI: f32 = 0.797_884_6;
const GELU_CUBIC: f32 = 0.044_715;

/// `exp(t)`: Cody-Waite reduction `t = n ln2 + r`, a degree-6 polynomial
/// for `exp(r)`, and `2^n` built from the exponent bits. Arguments below
/// -87.3 give exactly 0; above 88.3 the result stays at `exp(88.3)`.
#[inline(always)]
pub(crate) fn exp(t: f32) -> f32 {
    let x = t.clamp(EXP_MIN, EXP_MAX);
    let n = (x * std::f32::consts::LOG2_E).round_ties_even();
    let r = (x - n * LN2_HI) - n * LN2_LO;
    let p = EXP_POLY.iter().fold(0.0, |p, &c| p * r + c);
    // n lies in [-126, 127], so 2^n is a normal float.
    let value = p * f32::from_bits((((n as i32) + 127) as u32) << 23);
    if t < EXP_MIN { 0.0 } else { value }
}

/// GPT-2's `gelu_new`: `0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))`,
/// computed through the identity `0.5 (1 + tanh u) = 1 / (1 + exp(-2u))`.
#[inline(always)]
pub(crate) fn gelu_tanh(x: f32) -> f32 {
    let u = SQRT_2_OVER_PI * (x + GELU_CUBIC * x * x * x);
    x / (1.0 + exp(-2.0 * u))
}

/// Whether the 8-lane kernels can run on this CPU.
#[cfg(target_arch = "x86_64")]
pub(crate) fn has_avx2_fma() -> bool {
    super::cpu::avx2_fma()
}

/// Applies [`gelu_tanh`] in place.
pub(crate) fn gelu_tanh_in_place(values: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if has_avx2_fma() {
        // SAFETY: the CPU has AVX2 and FMA, checked just above.
        unsafe { avx2::gelu_in_place(values) };
        return;
    }
    gelu_portable(values);
}

fn gelu_portable(values: &mut [f32]) {
    for v in values {
        *v = gelu_tanh(*v);
    }
}

/// Adds the additive `mask` (same length as `rows`) when given, then takes
/// the softmax of each `width`-long row in place: subtract the row's
/// maximum, exponentiate, divide by the sum (candle's `softmax_last_dim`).
pub(crate) fn softmax_rows_in_place(rows: &mut [f32], mask: Option<&[f32]>, width: usize) {
    #[cfg(target_arch = "x86_64")]
    if has_avx2_fma() {
        // SAFETY: the CPU has AVX2 and FMA, checked just above.
        unsafe { avx2::softmax_rows_in_place(rows, mask, width) };
        return;
    }
    if let Some(mask) = mask {
        rows.iter_mut().zip(mask).for_each(|(v, m)| *v += m);
    }
    for row in rows.chunks_exact_mut(width.max(1)) {
        softmax_row_portable(row);
    }
}

fn softmax_row_portable(row: &mut [f32]) {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for v in row.iter_mut() {
        *v = exp(*v - max);
        sum += *v;
    }
    let inv = 1.0 / sum;
    for v in row.iter_mut() {
        *v *= inv;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_matches_libm_to_a_few_ulp_across_the_range() {
        let mut worst = 0.0f32;
        for i in -8730..=8830 {
            let t = i as f32 / 100.0;
            let (want, got) = (t.exp(), exp(t));
            worst = worst.max(((got - want) / want).abs());
        }
        assert!(worst < 5e-7, "worst relative error {worst}");
    }

    #[test]
    fn exp_saturates_instead_of_overflowing() {
        assert_eq!(exp(-100.0), 0.0);
        assert_eq!(exp(f32::MIN), 0.0);
        assert!(exp(200.0).is_finite());
        assert_eq!(exp(0.0), 1.0);
    }

    #[test]
    fn gelu_matches_the_tanh_formula() {
        for i in -1000..=1000 {
            let x = i as f32 / 100.0;
            let u = 0.797_884_6 * (x + 0.044_715 * x * x * x);
            let want = 0.5 * x * (1.0 + u.tanh());
            assert!(
                (gelu_tanh(x) - want).abs() < 2e-6,
                "x {x}: {} vs {want}",
                gelu_tanh(x)
            );
        }
        assert!(gelu_tanh(-1e4).abs() < 1e-30);
        assert_eq!(gelu_tanh(1e4), 1e4);
    }

    #[test]
    fn the_portable_kernels_agree_with_the_dispatched_ones() {
        let xs: Vec<f32> = (0..37).map(|i| (i as f32 - 18.0) * 0.37).collect();
        let (mut fast, mut plain) = (xs.clone(), xs.clone());
        gelu_tanh_in_place(&mut fast);
        gelu_portable(&mut plain);
        for (a, b) in fast.iter().zip(&plain) {
            assert!((a - b).abs() < 1e-6, "gelu {a} vs {b}");
        }
        let (mut fast, mut plain) = (xs.clone(), xs);
        softmax_rows_in_place(&mut fast, None, 37);
        softmax_row_portable(&mut plain);
        for (a, b) in fast.iter().zip(&plain) {
            assert!((a - b).abs() < 1e-7, "softmax {a} vs {b}");
        }
    }

    #[test]
    fn softmax_rows_sum_to_one_and_masked_entries_vanish() {
        // Two rows of 11 (longer than one 8-lane chunk, with a tail).
        let mut rows: Vec<f32> = (0..22).map(|i| (i % 11) as f32 * 0.5).collect();
        let mut mask = vec![0.0; 22];
        mask[3] = f32::MIN;
        let want: Vec<f32> = rows
            .chunks(11)
            .zip(mask.chunks(11))
            .flat_map(|(row, mask)| {
                let row: Vec<f32> = row.iter().zip(mask).map(|(v, m)| v + m).collect();
                let z: f32 = row.iter().map(|v| v.exp()).sum();
                row.into_iter().map(move |v| v.exp() / z)
            })
            .collect();
        softmax_rows_in_place(&mut rows, Some(&mask), 11);
        for (got, want) in rows.iter().zip(&want) {
            assert!((got - want).abs() < 1e-6, "{rows:?} vs {want:?}");
        }
        assert_eq!(rows[3], 0.0);
    }
}
