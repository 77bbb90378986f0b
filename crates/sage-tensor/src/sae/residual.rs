//! Matching the residual stream an SAE was trained on.
//!
//! sage's models compute activations the way Hugging Face `transformers`
//! does. Most SAEs were trained on TransformerLens activations, which can
//! differ: `HookedTransformer.from_pretrained` processes weights by default,
//! and one of those steps, `center_writing_weights`, subtracts the mean over
//! `d_model` from every weight and bias that writes into the residual stream
//! (embeddings, positional embeddings, attention and MLP output
//! projections). Every write is then mean-zero per token, so every residual
//! value (and every attention/MLP output) equals the Hugging Face value minus
//! its own mean over `d_model`. TransformerLens only centres writing weights
//! for LayerNorm models (GPT-2 here); RMSNorm models (Llama, Qwen, Gemma) are
//! never centred. The other default steps (folding LayerNorm weights, value
//! biases, centring the unembedding) leave these hooks' values unchanged;
//! `ln2.hook_normalized` after `fold_ln` lacks the LayerNorm's own weight
//! and bias, which sage does not emulate.
//!
//! Which loading an SAE saw is recorded by SAELens in
//! `model_from_pretrained_kwargs`. SAELens 6 trains on
//! `from_pretrained_no_processing` (no centring) unless those kwargs say
//! `center_writing_weights: true`, which older releases such as
//! `gpt2-small-res-jb` do (set in SAELens's `pretrained_saes.yaml`, and in
//! sage's registry). The rule sage applies:
//!
//! > centre each token's vector iff the SAE's `model_from_pretrained_kwargs`
//! > has `center_writing_weights: true` and the model family uses LayerNorm.

use candle_core::{D, Tensor};

/// A transform from the model's (Hugging Face) activations to the
/// activations the SAE was trained on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputTransform {
    /// Use the activations as they are.
    Identity,
    /// Subtract each token's mean over `d_model` (TransformerLens
    /// `center_writing_weights`).
    CenterPerToken,
}

/// Model families whose blocks use LayerNorm (and so can be centred).
const LAYER_NORM_FAMILIES: [&str; 1] = ["gpt2"];

impl InputTransform {
    /// The transform for an SAE whose config says `center_writing_weights`
    /// (`None` when it does not say) read from a model of `family`.
    pub fn for_model(center_writing_weights: Option<bool>, family: &str) -> InputTransform {
        if center_writing_weights == Some(true) && LAYER_NORM_FAMILIES.contains(&family) {
            InputTransform::CenterPerToken
        } else {
            InputTransform::Identity
        }
    }

    /// Applies the transform to hook activations of shape `[n, d_model]`.
    pub fn apply(self, x: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            InputTransform::Identity => Ok(x.clone()),
            InputTransform::CenterPerToken => x.broadcast_sub(&x.mean_keepdim(D::Minus1)?),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn only_layer_norm_models_with_centring_enabled_are_centred() {
        assert_eq!(
            InputTransform::for_model(Some(true), "gpt2"),
            InputTransform::CenterPerToken
        );
        assert_eq!(
            InputTransform::for_model(Some(true), "llama"),
            InputTransform::Identity
        );
        assert_eq!(
            InputTransform::for_model(None, "gpt2"),
            InputTransform::Identity
        );
        assert_eq!(
            InputTransform::for_model(Some(false), "gpt2"),
            InputTransform::Identity
        );
    }

    #[test]
    fn centring_removes_each_rows_mean() {
        let x = Tensor::new(&[[1.0f32, 2.0, 6.0], [0.0, 0.0, 3.0]], &Device::Cpu).unwrap();
        let out = InputTransform::CenterPerToken.apply(&x).unwrap();
        assert_eq!(
            out.to_vec2::<f32>().unwrap(),
            vec![vec![-2.0, -1.0, 3.0], vec![-1.0, -1.0, 2.0]]
        );
    }
}
