//! GPT-2: learned positions, pre-LayerNorm blocks, `gelu_new` MLP, and the
//! Conv1D weight layout (`[in, out]`) of the original checkpoints.
//!
//! Tensor names are read with or without the `transformer.` prefix, so both
//! the `gpt2` hub checkpoint (saved from `GPT2Model`) and `GPT2LMHeadModel`
//! saves load. `ln2.hook_normalized` is `ln_2`'s output including its learned
//! scale and bias (TransformerLens without weight folding).

use candle_core::{Device, Tensor};
use candle_nn::VarBuilder;

use super::attention::attend;
use super::batch::{Dims, PaddedForward};
use super::blocks::{Block, Context, run_blocks};
use super::layers::HeadLayout;
use super::layers::{Activation, Affine, LayerNorm};
use super::weights::{embed, tensor, under_optional_prefix};
use super::{HookPoint, ModelError};

/// The fields of a GPT-2 config.json that the forward pass needs.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
pub struct Gpt2Config {
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Context window (rows of the position embedding).
    pub n_positions: usize,
    /// Residual stream width.
    pub n_embd: usize,
    /// Number of blocks.
    pub n_layer: usize,
    /// Attention heads per block.
    pub n_head: usize,
    /// MLP width; `4 * n_embd` when absent.
    #[serde(default)]
    pub n_inner: Option<usize>,
    /// LayerNorm epsilon.
    #[serde(default = "default_layer_norm_epsilon")]
    pub layer_norm_epsilon: f64,
    /// MLP nonlinearity name.
    #[serde(default = "default_activation")]
    pub activation_function: String,
}

fn default_layer_norm_epsilon() -> f64 {
    1e-5
}

fn default_activation() -> String {
    "gelu_new".to_string()
}

struct Gpt2Block {
    ln_1: LayerNorm,
    c_attn: Affine,
    c_proj: Affine,
    ln_2: LayerNorm,
    c_fc: Affine,
    mlp_proj: Affine,
    act: Activation,
    heads: HeadLayout,
}

/// A GPT-2 model without its unembedding.
pub struct Gpt2 {
    wte: Tensor,
    wpe: Tensor,
    blocks: Vec<Gpt2Block>,
    cfg: Gpt2Config,
}

impl Gpt2 {
    /// Builds the model from its config and a VarBuilder over HF tensor names.
    pub fn new(cfg: &Gpt2Config, vb: VarBuilder) -> Result<Gpt2, ModelError> {
        let vb = under_optional_prefix(vb, "transformer", "wte.weight");
        let d = cfg.n_embd;
        let inner = cfg.n_inner.unwrap_or(4 * d);
        let act = Activation::parse(&cfg.activation_function)?;
        let head_dim = d.checked_div(cfg.n_head).unwrap_or(0);
        let heads = HeadLayout {
            n_heads: cfg.n_head,
            n_kv_heads: cfg.n_head,
            head_dim,
            scale: 1.0 / (head_dim as f64).sqrt(),
            softcap: None,
        }
        .checked()?;
        if head_dim * cfg.n_head != d {
            return Err(ModelError::Config {
                path: "config.json".to_string(),
                message: format!("n_embd {d} is not a multiple of n_head {}", cfg.n_head),
            });
        }
        let blocks = (0..cfg.n_layer)
            .map(|i| {
                let vb = vb.pp(format!("h.{i}"));
                Ok(Gpt2Block {
                    ln_1: LayerNorm::load(&vb.pp("ln_1"), d, cfg.layer_norm_epsilon)?,
                    c_attn: Affine::conv1d(&vb.pp("attn.c_attn"), d, 3 * d)?,
                    c_proj: Affine::conv1d(&vb.pp("attn.c_proj"), d, d)?,
                    ln_2: LayerNorm::load(&vb.pp("ln_2"), d, cfg.layer_norm_epsilon)?,
                    c_fc: Affine::conv1d(&vb.pp("mlp.c_fc"), d, inner)?,
                    mlp_proj: Affine::conv1d(&vb.pp("mlp.c_proj"), inner, d)?,
                    act,
                    heads,
                })
            })
            .collect::<Result<Vec<_>, ModelError>>()?;
        Ok(Gpt2 {
            wte: tensor(&vb.pp("wte"), "weight", &[cfg.vocab_size, d])?,
            wpe: tensor(&vb.pp("wpe"), "weight", &[cfg.n_positions, d])?,
            blocks,
            cfg: cfg.clone(),
        })
    }
}

impl Block for Gpt2Block {
    fn attention(&self, x: &Tensor, ctx: &Context) -> Result<Tensor, ModelError> {
        let (b, s, _) = x.dims3()?;
        let (h, hd) = (self.heads.n_heads, self.heads.head_dim);
        let qkv = self.c_attn.forward(&self.ln_1.forward(x)?)?;
        // Views into the fused projection, [b, h, s, hd]; nothing is copied.
        let qkv = qkv.reshape((b, s, 3, h, hd))?;
        let split = |i: usize| -> Result<Tensor, ModelError> {
            Ok(qkv.narrow(2, i, 1)?.squeeze(2)?.transpose(1, 2)?)
        };
        let out = attend(
            &split(0)?,
            &split(1)?,
            &split(2)?,
            ctx.mask.as_ref(),
            self.heads,
        )?;
        self.c_proj.forward(&out)
    }

    fn mlp_norm(&self, resid_mid: &Tensor) -> Result<Tensor, ModelError> {
        self.ln_2.forward(resid_mid)
    }

    fn mlp(&self, normed: &Tensor) -> Result<Tensor, ModelError> {
        let hidden = self.c_fc.forward_activated(normed, self.act)?;
        self.mlp_proj.forward(&hidden)
    }
}

impl PaddedForward for Gpt2 {
    fn dims(&self) -> Dims {
        Dims {
            family: "gpt2",
            n_layers: self.cfg.n_layer,
            d_model: self.cfg.n_embd,
            max_positions: self.cfg.n_positions,
            vocab_size: self.cfg.vocab_size,
            n_heads: self.cfg.n_head,
        }
    }

    fn device(&self) -> &Device {
        self.wte.device()
    }

    fn forward_padded(
        &self,
        ids: &Tensor,
        lens: &[usize],
        stop: HookPoint,
    ) -> Result<Tensor, ModelError> {
        let s = ids.dim(1)?;
        let x = embed(&self.wte, ids)?.broadcast_add(&self.wpe.narrow(0, 0, s)?)?;
        let ctx = Context::new(&x, lens, None, None)?;
        run_blocks(x, &self.blocks, &ctx, stop)
    }
}
