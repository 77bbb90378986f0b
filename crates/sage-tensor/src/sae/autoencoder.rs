//! The SAE itself: weights, architecture, and the encode / decode maths.
//!
//! Formulas follow SAELens 6.x (`sae_in = norm(x) - b_dec` when
//! `apply_b_dec_to_input`, `pre = sae_in @ W_enc + b_enc`):
//! - standard: `relu(pre)`;
//! - jumprelu: `relu(pre) * (pre > threshold)` with a per-latent threshold;
//! - topk: the `k` largest `pre` of each row, ReLU applied to them, the rest
//!   zero (optionally after scaling `pre` by the decoder row norms);
//! - gated: `(sae_in @ W_enc + b_gate > 0) * relu(sae_in @ (W_enc * exp(r_mag)) + b_mag)`.
//!
//! Transcoders use the same encoders with `apply_b_dec_to_input` off.

use std::sync::{Arc, OnceLock};

use candle_core::{D, DType, Device, Tensor};

use super::norm::InputNorm;
use super::residual::InputTransform;
use super::topk::topk_mask;
use super::{SaeError, SaeInfo};
use crate::model::WeightDtype;
use crate::model::gemm::{self, Epilogue};
use crate::model::packed_affine::PackedAffine;

/// How pre-activations become feature activations.
#[derive(Debug, Clone)]
pub enum Activation {
    /// `relu(pre)`.
    Relu,
    /// `relu(pre) * (pre > threshold)`; `threshold` has shape `[d_sae]`.
    JumpRelu {
        /// Per-latent threshold.
        threshold: Tensor,
    },
    /// Keep the `k` largest pre-activations per row, ReLU them, zero the rest.
    TopK {
        /// Latents kept per row.
        k: usize,
        /// SAELens `rescale_acts_by_decoder_norm`: when set, pre-activations
        /// are multiplied by these decoder row norms before selection.
        decoder_norms: Option<Tensor>,
    },
    /// Gated SAE: `b_enc` holds `b_gate`; magnitudes use
    /// `W_enc * exp(r_mag) + b_mag`.
    Gated {
        /// `exp(r_mag)`, shape `[d_sae]`.
        r_mag_exp: Tensor,
        /// Magnitude bias, shape `[d_sae]`.
        b_mag: Tensor,
    },
}

impl Activation {
    /// The architecture's SAELens name, for messages and summaries.
    pub fn name(&self) -> &'static str {
        match self {
            Activation::Relu => "standard",
            Activation::JumpRelu { .. } => "jumprelu",
            Activation::TopK { .. } => "topk",
            Activation::Gated { .. } => "gated",
        }
    }
}

/// The raw parameters every architecture shares, in SAELens orientation
/// (`W_enc [d_in, d_sae]`, `W_dec [d_sae, d_out]`), any float dtype.
#[derive(Debug, Clone)]
pub struct SaeWeights {
    /// Encoder matrix `[d_in, d_sae]`.
    pub w_enc: Tensor,
    /// Encoder bias `[d_sae]` (`b_gate` for gated SAEs).
    pub b_enc: Tensor,
    /// Decoder matrix `[d_sae, d_out]`.
    pub w_dec: Tensor,
    /// Decoder bias `[d_out]`.
    pub b_dec: Tensor,
}

/// A loaded sparse autoencoder (or transcoder), computing in f32.
#[derive(Debug, Clone)]
pub struct Sae {
    w_enc: Tensor,
    b_enc: Tensor,
    w_dec: Tensor,
    b_dec: Tensor,
    activation: Activation,
    apply_b_dec_to_input: bool,
    norm: InputNorm,
    info: SaeInfo,
    /// `W_enc` and `b_enc` packed for the CPU kernel, on the first full
    /// encode (mining encodes every latent for every batch); `None` inside
    /// when this CPU or device has no packed kernel.
    packed_encoder: OnceLock<Option<Arc<PackedAffine>>>,
    /// The precision of the full encoder's product (`--dtype`).
    encoder_dtype: WeightDtype,
}

/// Replaces `out`'s contents with a tensor's values, row-major (the slow
/// paths of the `*_into` encoders, which have a tensor in hand).
pub(crate) fn replace_with_tensor(out: &mut Vec<f32>, t: &Tensor) -> Result<(), SaeError> {
    out.clear();
    out.extend(t.flatten_all()?.to_vec1::<f32>()?);
    Ok(())
}

/// Checks a tensor's shape, naming it in the error.
pub(crate) fn expect_shape(name: &str, t: &Tensor, expected: &[usize]) -> Result<(), SaeError> {
    if t.dims() == expected {
        Ok(())
    } else {
        Err(SaeError::Shape {
            name: name.to_string(),
            expected: expected.to_vec(),
            found: t.dims().to_vec(),
        })
    }
}

impl Sae {
    /// Assembles an SAE, checking every shape and converting to f32.
    /// `apply_b_dec_to_input` must be false for transcoders (their `b_dec`
    /// lives in the output space).
    pub fn new(
        weights: SaeWeights,
        activation: Activation,
        apply_b_dec_to_input: bool,
        norm: InputNorm,
        info: SaeInfo,
    ) -> Result<Sae, SaeError> {
        let f32 = |t: Tensor| t.to_dtype(DType::F32);
        let (d_in, d_sae) = weights.w_enc.dims2().map_err(|_| SaeError::Shape {
            name: "W_enc".into(),
            expected: vec![0, 0],
            found: weights.w_enc.dims().to_vec(),
        })?;
        let d_out = weights.w_dec.dims().get(1).copied().unwrap_or(0);
        expect_shape("b_enc", &weights.b_enc, &[d_sae])?;
        expect_shape("W_dec", &weights.w_dec, &[d_sae, d_out])?;
        expect_shape("b_dec", &weights.b_dec, &[d_out])?;
        if apply_b_dec_to_input && d_out != d_in {
            return Err(SaeError::Shape {
                name: "b_dec (subtracted from the input)".into(),
                expected: vec![d_in],
                found: vec![d_out],
            });
        }
        let activation = match activation {
            Activation::JumpRelu { threshold } => {
                expect_shape("threshold", &threshold, &[d_sae])?;
                Activation::JumpRelu {
                    threshold: f32(threshold)?,
                }
            }
            Activation::Gated { r_mag_exp, b_mag } => {
                expect_shape("r_mag", &r_mag_exp, &[d_sae])?;
                expect_shape("b_mag", &b_mag, &[d_sae])?;
                Activation::Gated {
                    r_mag_exp: f32(r_mag_exp)?,
                    b_mag: f32(b_mag)?,
                }
            }
            Activation::TopK { k, decoder_norms } => Activation::TopK {
                k,
                decoder_norms: decoder_norms.map(f32).transpose()?,
            },
            Activation::Relu => Activation::Relu,
        };
        Ok(Sae {
            w_enc: f32(weights.w_enc)?,
            b_enc: f32(weights.b_enc)?,
            w_dec: f32(weights.w_dec)?,
            b_dec: f32(weights.b_dec)?,
            activation,
            apply_b_dec_to_input,
            norm,
            info,
            packed_encoder: OnceLock::new(),
            encoder_dtype: WeightDtype::F32,
        })
    }

    /// Width of the input activations.
    pub fn d_in(&self) -> usize {
        self.w_enc.dims()[0]
    }

    /// Number of latents (features).
    pub fn d_sae(&self) -> usize {
        self.w_enc.dims()[1]
    }

    /// The architecture.
    pub fn activation(&self) -> &Activation {
        &self.activation
    }

    /// The input normalisation.
    pub fn norm(&self) -> InputNorm {
        self.norm
    }

    /// Where the SAE came from and what it reads.
    pub fn info(&self) -> &SaeInfo {
        &self.info
    }

    /// The device the weights live on.
    pub fn device(&self) -> &Device {
        self.w_enc.device()
    }

    /// The same SAE with `center_writing_weights` replaced (the registry's
    /// per-release override, as SAELens's `config_overrides`).
    pub fn with_center_writing_weights(mut self, center: Option<bool>) -> Sae {
        self.info.center_writing_weights = center;
        self
    }

    /// The same SAE with its full encoder's product in `dtype` (bf16:
    /// `W_enc` packed as bf16 pairs for the bf16 kernels, like the model's
    /// projections under `--dtype bf16`); inputs and feature activations
    /// stay f32.
    pub fn with_encoder_dtype(mut self, dtype: WeightDtype) -> Sae {
        self.encoder_dtype = dtype;
        self.packed_encoder = OnceLock::new();
        self
    }

    /// The transform from a model of `family`'s hook activations to this
    /// SAE's training activations (see [`super::residual`]).
    pub fn input_transform(&self, family: &str) -> InputTransform {
        InputTransform::for_model(self.info.center_writing_weights, family)
    }

    /// Checks the feature index, naming the valid range when it is not.
    pub fn check_feature(&self, feature: u32) -> Result<(), SaeError> {
        if (feature as usize) < self.d_sae() {
            Ok(())
        } else {
            Err(SaeError::FeatureOutOfRange {
                feature,
                max: self.d_sae().saturating_sub(1),
            })
        }
    }

    /// `norm(x) - b_dec` (when configured), as f32, after a width check.
    fn sae_input(&self, x: &Tensor) -> Result<Tensor, SaeError> {
        let width = x.dims().last().copied().unwrap_or(0);
        if x.rank() != 2 || width != self.d_in() {
            return Err(SaeError::InputWidth {
                expected: self.d_in(),
                found: width,
            });
        }
        let x = self.norm.apply(&x.to_dtype(DType::F32)?)?;
        Ok(if self.apply_b_dec_to_input {
            x.broadcast_sub(&self.b_dec)?
        } else {
            x
        })
    }

    /// All feature activations for inputs `[n, d_in]`, shape `[n, d_sae]`.
    pub fn encode(&self, x: &Tensor) -> Result<Tensor, SaeError> {
        match &self.activation {
            Activation::Relu | Activation::TopK { .. } => {
                let mut values = Vec::new();
                self.encode_into(x, &mut values)?;
                let n = values.len() / self.d_sae().max(1);
                Ok(Tensor::from_vec(values, (n, self.d_sae()), self.device())?)
            }
            activation => {
                let all = Columns {
                    w_enc: self.w_enc.clone(),
                    b_enc: self.b_enc.clone(),
                    activation: activation.clone(),
                };
                all.encode(&self.sae_input(x)?)
            }
        }
    }

    /// [`Sae::encode`] into a caller's buffer, row-major `[n][d_sae]`: a
    /// miner encodes batch after batch into the same allocation instead of
    /// mapping a fresh dense `[n, d_sae]` block each time. ReLU and TopK
    /// SAEs are computed straight into it.
    pub fn encode_into(&self, x: &Tensor, out: &mut Vec<f32>) -> Result<(), SaeError> {
        let sae_in = self.sae_input(x)?;
        match &self.activation {
            Activation::Relu => self.full_encoder_into(&sae_in, Epilogue::Relu, out),
            Activation::TopK { k, decoder_norms } => {
                self.full_encoder_into(&sae_in, Epilogue::Identity, out)?;
                let width = self.d_sae();
                if let Some(norms) = decoder_norms {
                    let norms = norms.to_vec1::<f32>()?;
                    for row in out.chunks_exact_mut(width) {
                        row.iter_mut().zip(&norms).for_each(|(v, s)| *v *= s);
                    }
                }
                let mask = topk_mask(out, width, *k);
                for (v, keep) in out.iter_mut().zip(mask) {
                    *v = if keep { v.max(0.0) } else { 0.0 };
                }
                Ok(())
            }
            _ => replace_with_tensor(out, &self.encode(x)?),
        }
    }

    /// Packs `W_enc` for the CPU kernel now rather than on the first full
    /// encode (callers about to encode batch after batch do this while
    /// loading, so the first batch is not the slow one). Only ReLU and TopK
    /// SAEs encode through it; for the others this does nothing.
    pub fn pack_encoder(&self) {
        if matches!(self.activation, Activation::Relu | Activation::TopK { .. }) {
            self.packed_encoder();
        }
    }

    fn packed_encoder(&self) -> Option<&PackedAffine> {
        self.packed_encoder
            .get_or_init(|| {
                let w = self.w_enc.to_dtype(self.encoder_dtype.candle()).ok()?;
                PackedAffine::pack(&w, Some(&self.b_enc))
                    .ok()
                    .flatten()
                    .map(Arc::new)
            })
            .as_deref()
    }

    /// `epilogue(sae_in @ W_enc + b_enc)` over every latent into `out`,
    /// through the packed kernel where it runs (packed on first use).
    fn full_encoder_into(
        &self,
        sae_in: &Tensor,
        epilogue: Epilogue,
        out: &mut Vec<f32>,
    ) -> Result<(), SaeError> {
        match self.packed_encoder() {
            Some(packed) => {
                packed.apply_into(sae_in, epilogue, out)?;
            }
            None => {
                let acts = gemm::affine(sae_in, &self.w_enc, Some(&self.b_enc), epilogue)?;
                replace_with_tensor(out, &acts)?;
            }
        }
        Ok(())
    }

    /// Activations of the given features only, shape `[n, features.len()]`.
    /// For ReLU, JumpReLU and gated SAEs only those columns of `W_enc` are
    /// used; TopK needs every pre-activation to know which latents win, so it
    /// computes them all and then reads the requested ones.
    pub fn encode_features(&self, x: &Tensor, features: &[u32]) -> Result<Tensor, SaeError> {
        for &f in features {
            self.check_feature(f)?;
        }
        if let Activation::TopK { .. } = &self.activation {
            let mut all = Vec::new();
            self.encode_into(x, &mut all)?;
            let width = self.d_sae();
            let picked: Vec<f32> = all
                .chunks_exact(width)
                .flat_map(|row| features.iter().map(|&f| row[f as usize]))
                .collect();
            let n = all.len() / width.max(1);
            return Ok(Tensor::from_vec(
                picked,
                (n, features.len()),
                self.device(),
            )?);
        }
        let sae_in = self.sae_input(x)?;
        let idx = Tensor::from_vec(features.to_vec(), features.len(), self.device())?;
        let slice = Columns {
            w_enc: self.w_enc.index_select(&idx, 1)?,
            b_enc: self.b_enc.index_select(&idx, 0)?,
            activation: match &self.activation {
                Activation::JumpRelu { threshold } => Activation::JumpRelu {
                    threshold: threshold.index_select(&idx, 0)?,
                },
                Activation::Gated { r_mag_exp, b_mag } => Activation::Gated {
                    r_mag_exp: r_mag_exp.index_select(&idx, 0)?,
                    b_mag: b_mag.index_select(&idx, 0)?,
                },
                other => other.clone(),
            },
        };
        slice.encode(&sae_in)
    }

    /// Reconstruction from feature activations `[n, d_sae]`: `acts @ W_dec +
    /// b_dec` (acts divided by decoder norms first for rescaled TopK SAEs).
    /// The result is in the SAE's normalised input space: multiply back by
    /// any run-time normalisation yourself.
    pub fn decode(&self, acts: &Tensor) -> Result<Tensor, SaeError> {
        let acts = acts.to_dtype(DType::F32)?;
        let acts = match &self.activation {
            Activation::TopK {
                decoder_norms: Some(norms),
                ..
            } => acts.broadcast_div(norms)?,
            _ => acts,
        };
        Ok(acts.matmul(&self.w_dec)?.broadcast_add(&self.b_dec)?)
    }
}

/// A set of encoder columns (all of them, or a selection) with the matching
/// slice of the per-latent parameters.
struct Columns {
    w_enc: Tensor,
    b_enc: Tensor,
    activation: Activation,
}

impl Columns {
    /// Encodes with these columns; TopK is handled by the caller.
    fn encode(&self, sae_in: &Tensor) -> Result<Tensor, SaeError> {
        if let Activation::Relu = self.activation {
            return Ok(gemm::affine(
                sae_in,
                &self.w_enc,
                Some(&self.b_enc),
                Epilogue::Relu,
            )?);
        }
        let proj = sae_in.matmul(&self.w_enc)?;
        let pre = proj.broadcast_add(&self.b_enc)?;
        Ok(match &self.activation {
            Activation::Relu | Activation::TopK { .. } => pre.relu()?,
            Activation::JumpRelu { threshold } => {
                let above = pre.broadcast_gt(threshold)?.to_dtype(DType::F32)?;
                (pre.relu()? * above)?
            }
            Activation::Gated { r_mag_exp, b_mag } => {
                let open = pre.gt(0.0)?.to_dtype(DType::F32)?;
                let magnitude = proj
                    .broadcast_mul(r_mag_exp)?
                    .broadcast_add(b_mag)?
                    .relu()?;
                (open * magnitude)?
            }
        })
    }
}

/// Norms of each decoder row, for TopK SAEs that rescale by them.
pub fn decoder_row_norms(w_dec: &Tensor) -> candle_core::Result<Tensor> {
    w_dec.to_dtype(DType::F32)?.sqr()?.sum(D::Minus1)?.sqrt()
}
