//! The Llama family: Llama 2/3 (including `llama3` RoPE scaling), SmolLM2,
//! Qwen2 (q/k/v biases) and Qwen3 (per-head q/k RMSNorm, explicit
//! `head_dim`). Pre-RMSNorm blocks, grouped-query attention with
//! half-split ("rotate half") RoPE, and a SwiGLU MLP.
//!
//! Only the blocks are built, never `lm_head`, so tied and untied
//! checkpoints load alike. `ln2.hook_normalized` is
//! `post_attention_layernorm`'s output, including its learned scale.

use candle_core::{Device, Tensor};
use candle_nn::VarBuilder;

use super::attention::attend;
use super::batch::{Dims, PaddedForward};
use super::blocks::{Block, Context, run_blocks};
use super::layers::HeadLayout;
use super::layers::{Activation, Affine, RmsNorm};
use super::rope::{Rope, RopeParameters, apply_rope, resolve_rope};
use super::weights::{embed, tensor, under_optional_prefix};
use super::{HookPoint, ModelError};

/// A Llama-family config.json, field for field as Hugging Face writes it.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
pub struct LlamaConfig {
    /// `llama` (also SmolLM2), `qwen2` or `qwen3`; selects biases and q/k norms.
    #[serde(default = "default_model_type")]
    pub model_type: String,
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Residual stream width.
    pub hidden_size: usize,
    /// MLP width.
    pub intermediate_size: usize,
    /// Number of blocks.
    pub num_hidden_layers: usize,
    /// Query heads.
    pub num_attention_heads: usize,
    /// Key/value heads (grouped-query attention); equals the query heads when absent.
    #[serde(default)]
    pub num_key_value_heads: Option<usize>,
    /// Width of one head; `hidden_size / num_attention_heads` when absent.
    #[serde(default)]
    pub head_dim: Option<usize>,
    /// Context window.
    pub max_position_embeddings: usize,
    /// RMSNorm epsilon.
    #[serde(default = "default_rms_norm_eps")]
    pub rms_norm_eps: f64,
    /// RoPE base, hub spelling.
    #[serde(default)]
    pub rope_theta: Option<f64>,
    /// RoPE scaling, hub spelling.
    #[serde(default)]
    pub rope_scaling: Option<RopeParameters>,
    /// RoPE base and scaling, transformers 5 spelling (wins over the others).
    #[serde(default)]
    pub rope_parameters: Option<RopeParameters>,
    /// Biases on q, k, v and o projections (Qwen2 always has q/k/v biases).
    #[serde(default)]
    pub attention_bias: bool,
    /// Biases on the MLP projections.
    #[serde(default)]
    pub mlp_bias: bool,
    /// MLP gate nonlinearity.
    #[serde(default = "default_hidden_act")]
    pub hidden_act: String,
}

fn default_model_type() -> String {
    "llama".to_string()
}

fn default_rms_norm_eps() -> f64 {
    1e-6
}

fn default_hidden_act() -> String {
    "silu".to_string()
}

impl LlamaConfig {
    fn head_dim(&self) -> usize {
        self.head_dim.unwrap_or(
            self.hidden_size
                .checked_div(self.num_attention_heads)
                .unwrap_or(0),
        )
    }

    fn n_kv_heads(&self) -> usize {
        self.num_key_value_heads.unwrap_or(self.num_attention_heads)
    }
}

/// Rotary multi-head attention with grouped-query heads; shared with Gemma-2.
pub(crate) struct Attention {
    q_proj: Affine,
    k_proj: Affine,
    v_proj: Affine,
    o_proj: Affine,
    /// Qwen3's per-head RMSNorms on queries and keys.
    qk_norm: Option<(RmsNorm, RmsNorm)>,
    heads: HeadLayout,
}

/// The gated MLP `down(act(gate(x)) * up(x))`: SwiGLU here, GeGLU in Gemma-2.
pub(crate) struct GatedMlp {
    gate_proj: Affine,
    up_proj: Affine,
    down_proj: Affine,
    act: Activation,
}

impl GatedMlp {
    /// Loads `gate_proj`, `up_proj`, `down_proj` under `vb`.
    pub(crate) fn load(
        vb: &VarBuilder,
        d: usize,
        inter: usize,
        bias: bool,
        act: Activation,
    ) -> Result<GatedMlp, ModelError> {
        Ok(GatedMlp {
            gate_proj: Affine::linear(&vb.pp("gate_proj"), d, inter, bias)?,
            up_proj: Affine::linear(&vb.pp("up_proj"), d, inter, bias)?,
            down_proj: Affine::linear(&vb.pp("down_proj"), inter, d, bias)?,
            act,
        })
    }

    /// Applies the MLP to `[..., d]`.
    pub(crate) fn forward(&self, x: &Tensor) -> Result<Tensor, ModelError> {
        let gate = self.act.apply(&self.gate_proj.forward(x)?)?;
        self.down_proj.forward(&(gate * self.up_proj.forward(x)?)?)
    }
}

struct LlamaBlock {
    input_layernorm: RmsNorm,
    attn: Attention,
    post_attention_layernorm: RmsNorm,
    mlp: GatedMlp,
}

/// A Llama-family model without its unembedding.
pub struct Llama {
    embed_tokens: Tensor,
    blocks: Vec<LlamaBlock>,
    rope: Rope,
    cfg: LlamaConfig,
}

impl Llama {
    /// Builds the model from its config and a VarBuilder over HF tensor
    /// names (`model.layers.N...`, or the same without `model.`).
    pub fn new(cfg: &LlamaConfig, vb: VarBuilder) -> Result<Llama, ModelError> {
        let vb = under_optional_prefix(vb, "model", "embed_tokens.weight");
        let (d, hd, h, kvh) = (
            cfg.hidden_size,
            cfg.head_dim(),
            cfg.num_attention_heads,
            cfg.n_kv_heads(),
        );
        let qkv_bias = cfg.attention_bias || cfg.model_type == "qwen2";
        let qk_norm = cfg.model_type == "qwen3";
        let heads = HeadLayout {
            n_heads: h,
            n_kv_heads: kvh,
            head_dim: hd,
            scale: 1.0 / (hd as f64).sqrt(),
            softcap: None,
        }
        .checked()?;
        let act = Activation::parse(&cfg.hidden_act)?;
        let eps = cfg.rms_norm_eps;
        let blocks = (0..cfg.num_hidden_layers)
            .map(|i| {
                let vb = vb.pp(format!("layers.{i}"));
                Ok(LlamaBlock {
                    input_layernorm: RmsNorm::load(&vb.pp("input_layernorm"), d, eps)?,
                    attn: Attention::load(
                        &vb.pp("self_attn"),
                        d,
                        heads,
                        qkv_bias,
                        cfg.attention_bias,
                        qk_norm.then_some(eps),
                    )?,
                    post_attention_layernorm: RmsNorm::load(
                        &vb.pp("post_attention_layernorm"),
                        d,
                        eps,
                    )?,
                    mlp: GatedMlp::load(
                        &vb.pp("mlp"),
                        d,
                        cfg.intermediate_size,
                        cfg.mlp_bias,
                        act,
                    )?,
                })
            })
            .collect::<Result<Vec<_>, ModelError>>()?;
        Ok(Llama {
            embed_tokens: tensor(&vb.pp("embed_tokens"), "weight", &[cfg.vocab_size, d])?,
            blocks,
            rope: resolve_rope(
                cfg.rope_theta,
                cfg.rope_scaling.as_ref(),
                cfg.rope_parameters.as_ref(),
                10_000.0,
                hd,
            )?,
            cfg: cfg.clone(),
        })
    }
}

/// Projects `x` `[b, s, d]` to `[b, heads, s, head_dim]` (contiguous), with
/// an optional per-head norm before the transpose.
fn split_heads(
    proj: &Affine,
    x: &Tensor,
    n_heads: usize,
    head_dim: usize,
    norm: Option<&RmsNorm>,
) -> Result<Tensor, ModelError> {
    let (b, s, _) = x.dims3()?;
    let y = proj.forward(x)?.reshape((b, s, n_heads, head_dim))?;
    let y = match norm {
        Some(norm) => norm.forward(&y)?,
        None => y,
    };
    Ok(y.transpose(1, 2)?.contiguous()?)
}

impl Attention {
    /// Loads `q_proj`..`o_proj` (and, given an epsilon, Qwen3's `q_norm`/`k_norm`).
    pub(crate) fn load(
        vb: &VarBuilder,
        d: usize,
        heads: HeadLayout,
        qkv_bias: bool,
        o_bias: bool,
        qk_norm_eps: Option<f64>,
    ) -> Result<Attention, ModelError> {
        let HeadLayout {
            n_heads: h,
            n_kv_heads: kvh,
            head_dim: hd,
            ..
        } = heads;
        Ok(Attention {
            q_proj: Affine::linear(&vb.pp("q_proj"), d, h * hd, qkv_bias)?,
            k_proj: Affine::linear(&vb.pp("k_proj"), d, kvh * hd, qkv_bias)?,
            v_proj: Affine::linear(&vb.pp("v_proj"), d, kvh * hd, qkv_bias)?,
            o_proj: Affine::linear(&vb.pp("o_proj"), h * hd, d, o_bias)?,
            qk_norm: qk_norm_eps
                .map(|eps| {
                    Ok::<_, ModelError>((
                        RmsNorm::load(&vb.pp("q_norm"), hd, eps)?,
                        RmsNorm::load(&vb.pp("k_norm"), hd, eps)?,
                    ))
                })
                .transpose()?,
            heads,
        })
    }

    /// `x` is the normalised residual `[b, s, d]`; `mask` the layer's mask.
    pub(crate) fn forward(
        &self,
        x: &Tensor,
        ctx: &Context,
        mask: Option<&Tensor>,
    ) -> Result<Tensor, ModelError> {
        let HeadLayout {
            n_heads,
            n_kv_heads,
            head_dim,
            ..
        } = self.heads;
        let (q_norm, k_norm) = match &self.qk_norm {
            Some((q, k)) => (Some(q), Some(k)),
            None => (None, None),
        };
        let mut q = split_heads(&self.q_proj, x, n_heads, head_dim, q_norm)?;
        let mut k = split_heads(&self.k_proj, x, n_kv_heads, head_dim, k_norm)?;
        let v = split_heads(&self.v_proj, x, n_kv_heads, head_dim, None)?;
        if let Some((cos, sin)) = &ctx.rope {
            q = apply_rope(&q, cos, sin)?;
            k = apply_rope(&k, cos, sin)?;
        }
        self.o_proj.forward(&attend(&q, &k, &v, mask, self.heads)?)
    }
}

impl Block for LlamaBlock {
    fn attention(&self, x: &Tensor, ctx: &Context) -> Result<Tensor, ModelError> {
        self.attn
            .forward(&self.input_layernorm.forward(x)?, ctx, ctx.mask.as_ref())
    }

    fn mlp_norm(&self, resid_mid: &Tensor) -> Result<Tensor, ModelError> {
        self.post_attention_layernorm.forward(resid_mid)
    }

    fn mlp(&self, normed: &Tensor) -> Result<Tensor, ModelError> {
        self.mlp.forward(normed)
    }
}

impl PaddedForward for Llama {
    fn dims(&self) -> Dims {
        Dims {
            family: match self.cfg.model_type.as_str() {
                "qwen2" => "qwen2",
                "qwen3" => "qwen3",
                _ => "llama",
            },
            n_layers: self.cfg.num_hidden_layers,
            d_model: self.cfg.hidden_size,
            max_positions: self.cfg.max_position_embeddings,
            vocab_size: self.cfg.vocab_size,
            n_heads: self.cfg.num_attention_heads,
        }
    }

    fn device(&self) -> &Device {
        self.embed_tokens.device()
    }

    fn forward_padded(
        &self,
        ids: &Tensor,
        lens: &[usize],
        stop: HookPoint,
    ) -> Result<Tensor, ModelError> {
        let x = embed(&self.embed_tokens, ids)?;
        let ctx = Context::new(&x, lens, None, Some(&self.rope))?;
        run_blocks(x, &self.blocks, &ctx, stop)
    }
}
