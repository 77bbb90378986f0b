//! Activation normalisation applied to an SAE's input before encoding.
//!
//! SAELens 6.x offers `normalize_activations` modes; the formulas here are
//! its inference-time ones:
//! - `none`: the input as is.
//! - `constant_norm_rescale`: each row scaled to norm `sqrt(d_in)`:
//!   `x * sqrt(d_in) / ||x||`.
//! - `layer_norm`: `(x - mean) / (std + 1e-5)` per row, with the unbiased
//!   (n - 1) standard deviation, as `torch.std` computes it.
//! - `expected_average_only_in`: a constant factor `s` on the input. SAELens
//!   folds a known `s` into the weights (`W_enc * s`, `b_dec / s`), which is
//!   the same as scaling the input; without a known factor it is a no-op.
//!   Llama Scope's dataset-wise norm is this mode with
//!   `s = sqrt(d_in) / dataset_average_activation_norm.in`.

use candle_core::{D, Tensor};

/// How an SAE normalises its input activations before encoding.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum InputNorm {
    /// No normalisation.
    None,
    /// Every row rescaled to norm `sqrt(d_in)`.
    ConstantNormRescale,
    /// Per-row standardisation (mean 0, unbiased std 1, eps 1e-5).
    LayerNorm,
    /// Multiplication by a constant (dataset-wise norm, folded scaling factor).
    Scale(f64),
}

/// Epsilon SAELens adds to the standard deviation in `layer_norm` mode.
const LAYER_NORM_EPS: f64 = 1e-5;

impl InputNorm {
    /// Applies the normalisation to `x` of shape `[n, d_in]`.
    pub fn apply(self, x: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            InputNorm::None => Ok(x.clone()),
            InputNorm::ConstantNormRescale => {
                let d_in = x.dim(D::Minus1)? as f64;
                let norm = x.sqr()?.sum_keepdim(D::Minus1)?.sqrt()?;
                x.broadcast_div(&norm)? * d_in.sqrt()
            }
            InputNorm::LayerNorm => {
                let d_in = x.dim(D::Minus1)?;
                let centred = x.broadcast_sub(&x.mean_keepdim(D::Minus1)?)?;
                let var = (centred.sqr()?.sum_keepdim(D::Minus1)? / (d_in as f64 - 1.0))?;
                let std = (var.sqrt()? + LAYER_NORM_EPS)?;
                centred.broadcast_div(&std)
            }
            InputNorm::Scale(s) => x * s,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn rows() -> Tensor {
        Tensor::new(
            &[[3.0f32, 4.0, 0.0, 0.0], [1.0, 2.0, 3.0, 6.0]],
            &Device::Cpu,
        )
        .unwrap()
    }

    #[test]
    fn constant_norm_rescale_gives_rows_of_norm_sqrt_d_in() {
        let out = InputNorm::ConstantNormRescale.apply(&rows()).unwrap();
        let first: Vec<f32> = out.get(0).unwrap().to_vec1().unwrap();
        // [3,4,0,0] has norm 5; sqrt(4) = 2, so the row becomes [1.2, 1.6, 0, 0].
        assert!((first[0] - 1.2).abs() < 1e-6 && (first[1] - 1.6).abs() < 1e-6);
    }

    #[test]
    fn layer_norm_uses_the_unbiased_std() {
        let out = InputNorm::LayerNorm.apply(&rows()).unwrap();
        let second: Vec<f32> = out.get(1).unwrap().to_vec1().unwrap();
        // [1,2,3,6]: mean 3, deviations [-2,-1,0,3], unbiased var 14/3.
        let std = (14.0f32 / 3.0).sqrt() + 1e-5;
        assert!((second[0] - (-2.0 / std)).abs() < 1e-6);
        assert!((second[3] - (3.0 / std)).abs() < 1e-6);
    }

    #[test]
    fn scale_multiplies_by_the_factor() {
        let out = InputNorm::Scale(0.5).apply(&rows()).unwrap();
        assert_eq!(
            out.get(1).unwrap().to_vec1::<f32>().unwrap(),
            vec![0.5, 1.0, 1.5, 3.0]
        );
    }
}
