//! Branch-free `exp`, tanh-approximated GELU and row softmax over `f32`
//! slices, written so the compiler can vectorise them: libm's scalar
//! `tanhf`/`expf` made the GELU alone cost a third as much as the matmul
//! before it.
//!
//! `exp` is accurate to a few ulp over the whole `f32` range, far inside the
//! 1e-4 the parity tests allow against PyTorch.

/// `exp(t)`: Cody-Waite reduction `t = n ln2 + r`, a degree-6 polynomial
/// for `exp(r)`, and `2^n` built from the exponent bits. Arguments below
/// -87.3 give exactly 0 (as masked attention scores need); above 88.3 the
/// result stays at `exp(88.3)` rather than overflowing to infinity.
#[inline(always)]
pub(crate) fn exp(t: f32) -> f32 {
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    let x = t.clamp(-87.3, 88.3);
    // Adding and removing 1.5 * 2^23 rounds to the nearest integer with
    // plain float adds, which vectorise on every x86-64 (`round` does not).
    const ROUND: f32 = 12_582_912.0;
    let n = (x * std::f32::consts::LOG2_E + ROUND) - ROUND;
    let r = (x - n * LN2_HI) - n * LN2_LO;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    // n lies in [-126, 127], so 2^n is a normal float.
    let value = p * f32::from_bits((((n as i32) + 127) as u32) << 23);
    if t < -87.3 { 0.0 } else { value }
}

/// GPT-2's `gelu_new`: `0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))`,
/// computed through the identity `0.5 (1 + tanh u) = 1 / (1 + exp(-2u))`.
#[inline(always)]
pub(crate) fn gelu_tanh(x: f32) -> f32 {
    const SQRT_2_OVER_PI: f32 = 0.797_884_6;
    let u = SQRT_2_OVER_PI * (x + 0.044_715 * x * x * x);
    x / (1.0 + exp(-2.0 * u))
}

/// Applies [`gelu_tanh`] in place, with 8-wide AVX2 where the CPU has it.
pub(crate) fn gelu_tanh_in_place(values: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        unsafe { gelu_avx2(values) };
        return;
    }
    gelu_portable(values);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn gelu_avx2(values: &mut [f32]) {
    gelu_portable(values);
}

#[inline(always)]
fn gelu_portable(values: &mut [f32]) {
    for v in values {
        *v = gelu_tanh(*v);
    }
}

/// Softmax of each `width`-long row of `rows` in place: subtract the row's
/// maximum, exponentiate, divide by the sum (candle's `softmax_last_dim`).
pub(crate) fn softmax_rows_in_place(rows: &mut [f32], width: usize) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        unsafe { softmax_avx2(rows, width) };
        return;
    }
    softmax_portable(rows, width);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn softmax_avx2(rows: &mut [f32], width: usize) {
    softmax_portable(rows, width);
}

#[inline(always)]
fn softmax_portable(rows: &mut [f32], width: usize) {
    for row in rows.chunks_exact_mut(width.max(1)) {
        let max = fold_lanes(row, f32::NEG_INFINITY, f32::max);
        for v in row.iter_mut() {
            *v = exp(*v - max);
        }
        let inv = 1.0 / fold_lanes(row, 0.0, |a, b| a + b);
        for v in row.iter_mut() {
            *v *= inv;
        }
    }
}

/// Folds `xs` with eight independent accumulators, so the loop vectorises
/// (a single running total is a serial chain the compiler must keep).
#[inline(always)]
fn fold_lanes(xs: &[f32], init: f32, f: impl Fn(f32, f32) -> f32) -> f32 {
    let mut acc = [init; 8];
    let chunks = xs.chunks_exact(8);
    let tail = chunks.remainder().iter().fold(init, |a, &b| f(a, b));
    for chunk in chunks {
        for (a, &x) in acc.iter_mut().zip(chunk) {
            *a = f(*a, x);
        }
    }
    acc.into_iter().fold(tail, f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_matches_libm_to_a_few_ulp_across_the_range() {
        let mut worst = 0.0f32;
        for i in -8700..=8830 {
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
    fn softmax_rows_sum_to_one_and_masked_entries_vanish() {
        // Two rows of 11 (longer than one 8-lane chunk, with a tail).
        let mut rows: Vec<f32> = (0..22).map(|i| (i % 11) as f32 * 0.5).collect();
        rows[3] = f32::MIN;
        let want: Vec<f32> = rows
            .chunks(11)
            .flat_map(|row| {
                let z: f32 = row.iter().map(|v| v.exp()).sum();
                row.iter().map(move |v| v.exp() / z)
            })
            .collect();
        softmax_rows_in_place(&mut rows, 11);
        for (got, want) in rows.iter().zip(&want) {
            assert!((got - want).abs() < 1e-6, "{rows:?} vs {want:?}");
        }
        assert_eq!(rows[3], 0.0);
    }
}
