//! The small building blocks every family shares: a linear map stored as
//! `[in, out]` (so GPT-2's Conv1D needs no copy and HF `Linear` weights are a
//! free transposed view), LayerNorm and RMSNorm.

use std::sync::Arc;

use candle_core::{DType, Tensor};
use candle_nn::VarBuilder;

use super::ModelError;
use super::gemm::{self, Epilogue};
use super::packed_affine::PackedAffine;
use super::weights::{matrix, tensor};

/// `x @ w + b` over the last dimension of `x`.
#[derive(Debug, Clone)]
pub(crate) enum Affine {
    /// Packed at load for the CPU kernel (the weight is not kept twice).
    Packed(Arc<PackedAffine>),
    /// Any other device or CPU.
    General {
        /// Weight as `[in, out]` (possibly a transposed view).
        w: Tensor,
        /// Bias `[out]`.
        b: Option<Tensor>,
    },
}

impl Affine {
    /// Packs `w` (`[in, out]`) and `b` for the CPU kernel when it can run
    /// here, else keeps them as they are (widened to f32 on the CPU, where
    /// the general path multiplies f32).
    fn new(w: Tensor, b: Option<Tensor>) -> Result<Affine, ModelError> {
        if let Some(packed) = PackedAffine::pack(&w, b.as_ref())? {
            return Ok(Affine::Packed(Arc::new(packed)));
        }
        let w = if w.device().is_cpu() {
            w.to_dtype(DType::F32)?
        } else {
            w
        };
        Ok(Affine::General { w, b })
    }

    /// Loads an HF `nn.Linear` (`weight` is `[out, in]`).
    pub(crate) fn linear(
        vb: &VarBuilder,
        d_in: usize,
        d_out: usize,
        bias: bool,
    ) -> Result<Affine, ModelError> {
        let w = matrix(vb, "weight", &[d_out, d_in])?.t()?;
        let b = bias.then(|| tensor(vb, "bias", &[d_out])).transpose()?;
        Affine::new(w, b)
    }

    /// Loads a GPT-2 `Conv1D` (`weight` is already `[in, out]`, always biased).
    pub(crate) fn conv1d(vb: &VarBuilder, d_in: usize, d_out: usize) -> Result<Affine, ModelError> {
        let w = matrix(vb, "weight", &[d_in, d_out])?;
        let b = Some(tensor(vb, "bias", &[d_out])?);
        Affine::new(w, b)
    }

    /// Applies the map to `[..., in]`, flattening leading dims into one matmul.
    pub(crate) fn forward(&self, x: &Tensor) -> Result<Tensor, ModelError> {
        self.run(x, Epilogue::Identity)
    }

    /// Applies the map, then `act`; on the CPU the tanh GELU is computed by
    /// the matmul's own threads as they finish each block.
    pub(crate) fn forward_activated(
        &self,
        x: &Tensor,
        act: Activation,
    ) -> Result<Tensor, ModelError> {
        match act {
            Activation::GeluTanh => self.run(x, Epilogue::GeluTanh),
            other => other.apply(&self.run(x, Epilogue::Identity)?),
        }
    }

    fn run(&self, x: &Tensor, epilogue: Epilogue) -> Result<Tensor, ModelError> {
        let mut out_shape = x.dims().to_vec();
        let d_in = out_shape.pop().unwrap_or(0);
        let rows = x.elem_count() / d_in.max(1);
        let x = x.reshape((rows, d_in))?;
        let y = match self {
            Affine::Packed(packed) => {
                out_shape.push(packed.n());
                packed.apply(&x, epilogue)?
            }
            Affine::General { w, b } => {
                out_shape.push(w.dim(1)?);
                gemm::affine(&x, w, b.as_ref(), epilogue)?
            }
        };
        Ok(y.reshape(out_shape)?)
    }
}

/// LayerNorm with learned scale and bias (GPT-2).
#[derive(Debug, Clone)]
pub(crate) struct LayerNorm {
    w: Tensor,
    b: Tensor,
    eps: f32,
}

impl LayerNorm {
    /// Loads `weight` and `bias`, both `[d]`.
    pub(crate) fn load(vb: &VarBuilder, d: usize, eps: f64) -> Result<LayerNorm, ModelError> {
        Ok(LayerNorm {
            w: tensor(vb, "weight", &[d])?,
            b: tensor(vb, "bias", &[d])?,
            eps: eps as f32,
        })
    }

    /// Normalises over the last dimension.
    pub(crate) fn forward(&self, x: &Tensor) -> Result<Tensor, ModelError> {
        Ok(candle_nn::ops::layer_norm(
            &x.contiguous()?,
            &self.w,
            &self.b,
            self.eps,
        )?)
    }
}

/// RMSNorm `x / rms(x) * scale`; Gemma's `(1 + weight)` convention is folded
/// into `scale` at load time.
#[derive(Debug, Clone)]
pub(crate) struct RmsNorm {
    scale: Tensor,
    eps: f32,
}

impl RmsNorm {
    /// Llama convention: scale is `weight`.
    pub(crate) fn load(vb: &VarBuilder, d: usize, eps: f64) -> Result<RmsNorm, ModelError> {
        Ok(RmsNorm {
            scale: tensor(vb, "weight", &[d])?,
            eps: eps as f32,
        })
    }

    /// Gemma convention: scale is `1 + weight`.
    pub(crate) fn load_offset(vb: &VarBuilder, d: usize, eps: f64) -> Result<RmsNorm, ModelError> {
        Ok(RmsNorm {
            scale: (tensor(vb, "weight", &[d])? + 1.0)?,
            eps: eps as f32,
        })
    }

    /// Normalises over the last dimension.
    pub(crate) fn forward(&self, x: &Tensor) -> Result<Tensor, ModelError> {
        Ok(candle_nn::ops::rms_norm(
            &x.contiguous()?,
            &self.scale,
            self.eps,
        )?)
    }
}

/// The MLP nonlinearities the supported checkpoints name in config.json.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Activation {
    /// `gelu_new`, `gelu_pytorch_tanh`: the tanh approximation.
    GeluTanh,
    /// `gelu`: the exact erf form.
    GeluErf,
    /// `silu` / `swish`.
    Silu,
    /// `relu`.
    Relu,
}

impl Activation {
    /// Parses a config.json activation name; unknown names are a config error.
    pub(crate) fn parse(name: &str) -> Result<Activation, ModelError> {
        match name {
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Ok(Activation::GeluTanh),
            "gelu" => Ok(Activation::GeluErf),
            "silu" | "swish" => Ok(Activation::Silu),
            "relu" => Ok(Activation::Relu),
            other => Err(ModelError::Config {
                path: "config.json".to_string(),
                message: format!(
                    "activation `{other}` is not supported (supported: gelu_new, gelu_pytorch_tanh, gelu, silu, relu)"
                ),
            }),
        }
    }

    /// Applies the nonlinearity elementwise.
    pub(crate) fn apply(self, x: &Tensor) -> Result<Tensor, ModelError> {
        Ok(match self {
            Activation::GeluTanh => x.gelu()?,
            Activation::GeluErf => x.gelu_erf()?,
            Activation::Silu => x.silu()?,
            Activation::Relu => x.relu()?,
        })
    }
}

/// The head layout and scoring rule of one attention layer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HeadLayout {
    /// Query heads.
    pub n_heads: usize,
    /// Key/value heads (divides `n_heads`).
    pub n_kv_heads: usize,
    /// Width of one head.
    pub head_dim: usize,
    /// Multiplier applied to the query (1/sqrt(head_dim) unless the config says otherwise).
    pub scale: f64,
    /// Gemma-2's `attn_logit_softcapping`: scores become `cap * tanh(scores / cap)`.
    pub softcap: Option<f64>,
}

impl HeadLayout {
    /// Rejects layouts `attend` cannot run: zero heads, or query heads that
    /// do not split evenly over the key/value heads.
    pub(crate) fn checked(self) -> Result<HeadLayout, ModelError> {
        let (h, kvh) = (self.n_heads, self.n_kv_heads);
        if h == 0 || kvh == 0 || self.head_dim == 0 || h % kvh != 0 {
            return Err(ModelError::Config {
                path: "config.json".to_string(),
                message: format!(
                    "{h} attention heads cannot be grouped over {kvh} key/value heads of width {}",
                    self.head_dim
                ),
            });
        }
        Ok(self)
    }
}
