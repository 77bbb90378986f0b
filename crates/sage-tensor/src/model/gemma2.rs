//! Gemma-2: embeddings scaled by sqrt(d_model), `(1 + weight)` RMSNorms
//! before and after both attention and MLP, GeGLU (tanh gelu), attention
//! logit soft-capping, `query_pre_attn_scalar`, and alternating local
//! (sliding-window) and global layers.
//!
//! Hooks follow TransformerLens: `hook_attn_out` and `hook_mlp_out` are
//! taken after the post-norms; `ln2.hook_normalized` is
//! `pre_feedforward_layernorm`'s output. Layer kinds come from config
//! `layer_types`, else transformers' default: even layers slide, odd are global.

use candle_core::{Device, Tensor};
use candle_nn::VarBuilder;

use super::batch::{Dims, PaddedForward};
use super::blocks::{Block, Context, run_blocks};
use super::layers::HeadLayout;
use super::layers::{Activation, RmsNorm};
use super::llama::{Attention, GatedMlp};
use super::rope::{Rope, RopeParameters, resolve_rope};
use super::weights::{embed, tensor, under_optional_prefix};
use super::{HookPoint, ModelError};

/// A Gemma-2 config.json, field for field as Hugging Face writes it.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
pub struct Gemma2Config {
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
    /// Key/value heads.
    pub num_key_value_heads: usize,
    /// Width of one head.
    pub head_dim: usize,
    /// Context window.
    pub max_position_embeddings: usize,
    /// RMSNorm epsilon.
    #[serde(default = "default_rms_norm_eps")]
    pub rms_norm_eps: f64,
    /// Attention scores are scaled by `query_pre_attn_scalar ** -0.5`.
    pub query_pre_attn_scalar: f64,
    /// Scores become `cap * tanh(scores / cap)` when set.
    #[serde(default)]
    pub attn_logit_softcapping: Option<f64>,
    /// Window of the local layers.
    #[serde(default)]
    pub sliding_window: Option<usize>,
    /// `sliding_attention` / `full_attention` per layer (transformers 5).
    #[serde(default)]
    pub layer_types: Option<Vec<String>>,
    /// MLP gate nonlinearity.
    #[serde(default = "default_hidden_activation")]
    pub hidden_activation: String,
    /// RoPE base, hub spelling.
    #[serde(default)]
    pub rope_theta: Option<f64>,
    /// RoPE base, transformers 5 spelling.
    #[serde(default)]
    pub rope_parameters: Option<RopeParameters>,
}

fn default_rms_norm_eps() -> f64 {
    1e-6
}

fn default_hidden_activation() -> String {
    "gelu_pytorch_tanh".to_string()
}

struct Gemma2Block {
    input_layernorm: RmsNorm,
    attn: Attention,
    post_attention_layernorm: RmsNorm,
    pre_feedforward_layernorm: RmsNorm,
    mlp: GatedMlp,
    post_feedforward_layernorm: RmsNorm,
    sliding: bool,
}

/// A Gemma-2 model without its unembedding.
pub struct Gemma2 {
    embed_tokens: Tensor,
    blocks: Vec<Gemma2Block>,
    rope: Rope,
    cfg: Gemma2Config,
}

impl Gemma2 {
    /// Builds the model from its config and a VarBuilder over HF tensor names.
    pub fn new(cfg: &Gemma2Config, vb: VarBuilder) -> Result<Gemma2, ModelError> {
        let vb = under_optional_prefix(vb, "model", "embed_tokens.weight");
        let d = cfg.hidden_size;
        let eps = cfg.rms_norm_eps;
        let heads = HeadLayout {
            n_heads: cfg.num_attention_heads,
            n_kv_heads: cfg.num_key_value_heads,
            head_dim: cfg.head_dim,
            scale: cfg.query_pre_attn_scalar.powf(-0.5),
            softcap: cfg.attn_logit_softcapping,
        }
        .checked()?;
        let act = Activation::parse(&cfg.hidden_activation)?;
        let blocks = (0..cfg.num_hidden_layers)
            .map(|i| {
                let vb = vb.pp(format!("layers.{i}"));
                let sliding = match &cfg.layer_types {
                    Some(types) => types.get(i).is_some_and(|t| t == "sliding_attention"),
                    None => i % 2 == 0,
                } && cfg.sliding_window.is_some();
                let norm = |name: &str| RmsNorm::load_offset(&vb.pp(name), d, eps);
                Ok(Gemma2Block {
                    input_layernorm: norm("input_layernorm")?,
                    attn: Attention::load(&vb.pp("self_attn"), d, heads, false, false, None)?,
                    post_attention_layernorm: norm("post_attention_layernorm")?,
                    pre_feedforward_layernorm: norm("pre_feedforward_layernorm")?,
                    mlp: GatedMlp::load(&vb.pp("mlp"), d, cfg.intermediate_size, false, act)?,
                    post_feedforward_layernorm: norm("post_feedforward_layernorm")?,
                    sliding,
                })
            })
            .collect::<Result<Vec<_>, ModelError>>()?;
        Ok(Gemma2 {
            embed_tokens: tensor(&vb.pp("embed_tokens"), "weight", &[cfg.vocab_size, d])?,
            blocks,
            rope: resolve_rope(
                cfg.rope_theta,
                None,
                cfg.rope_parameters.as_ref(),
                10_000.0,
                cfg.head_dim,
            )?,
            cfg: cfg.clone(),
        })
    }
}

impl Block for Gemma2Block {
    fn attention(&self, x: &Tensor, ctx: &Context) -> Result<Tensor, ModelError> {
        let mask = if self.sliding {
            ctx.sliding_mask.as_ref()
        } else {
            ctx.mask.as_ref()
        };
        let out = self
            .attn
            .forward(&self.input_layernorm.forward(x)?, ctx, mask)?;
        self.post_attention_layernorm.forward(&out)
    }

    fn mlp_norm(&self, resid_mid: &Tensor) -> Result<Tensor, ModelError> {
        self.pre_feedforward_layernorm.forward(resid_mid)
    }

    fn mlp(&self, normed: &Tensor) -> Result<Tensor, ModelError> {
        self.post_feedforward_layernorm
            .forward(&self.mlp.forward(normed)?)
    }
}

impl PaddedForward for Gemma2 {
    fn dims(&self) -> Dims {
        Dims {
            family: "gemma2",
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
        // transformers rounds sqrt(d_model) to the model dtype before scaling.
        let normalizer = Tensor::new(&[(self.cfg.hidden_size as f64).sqrt()], ids.device())?
            .to_dtype(self.embed_tokens.dtype())?;
        let x = embed(&self.embed_tokens, ids)?.broadcast_mul(&normalizer)?;
        let ctx = Context::new(&x, lens, self.cfg.sliding_window, Some(&self.rope))?;
        run_blocks(x, &self.blocks, &ctx, stop)
    }
}
