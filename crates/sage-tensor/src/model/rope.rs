//! Rotary position embeddings in the Hugging Face "rotate half" layout, with
//! the frequency scalings checkpoints use (`default`, `linear`, `llama3`).
//!
//! Config files spell RoPE two ways: hub checkpoints put `rope_theta` and a
//! `rope_scaling` object at top level; transformers 5 writes one
//! `rope_parameters` object holding `rope_type`, `rope_theta` and the scaling
//! fields. [`resolve_rope`] accepts both.

use candle_core::{Device, Tensor};

use super::ModelError;

/// One RoPE parameter object, as either spelling writes it.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, serde::Serialize)]
pub struct RopeParameters {
    /// `default`, `linear` or `llama3` (others are rejected with a message).
    #[serde(default)]
    pub rope_type: Option<String>,
    /// The older spelling of `rope_type` found in some hub configs.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub legacy_type: Option<String>,
    /// Base of the geometric frequency ladder (only in `rope_parameters`).
    #[serde(default)]
    pub rope_theta: Option<f64>,
    /// Scaling factor for `linear` and `llama3`.
    #[serde(default)]
    pub factor: Option<f64>,
    /// `llama3`: wavelengths above `original / low_freq_factor` are fully scaled.
    #[serde(default)]
    pub low_freq_factor: Option<f64>,
    /// `llama3`: wavelengths below `original / high_freq_factor` are kept.
    #[serde(default)]
    pub high_freq_factor: Option<f64>,
    /// `llama3`: the context length the model was pretrained with.
    #[serde(default)]
    pub original_max_position_embeddings: Option<f64>,
}

/// The inverse frequencies of one head's rotary embedding.
#[derive(Debug, Clone)]
pub(crate) struct Rope {
    inv_freq: Vec<f32>,
}

/// Builds the rotary embedding for `head_dim` from a config's top-level
/// `rope_theta` / `rope_scaling` and/or `rope_parameters` (which wins).
pub(crate) fn resolve_rope(
    rope_theta: Option<f64>,
    rope_scaling: Option<&RopeParameters>,
    rope_parameters: Option<&RopeParameters>,
    default_theta: f64,
    head_dim: usize,
) -> Result<Rope, ModelError> {
    let scaling = rope_parameters.or(rope_scaling);
    let theta = rope_parameters
        .and_then(|p| p.rope_theta)
        .or(rope_theta)
        .unwrap_or(default_theta);
    let base: Vec<f64> = (0..head_dim / 2)
        .map(|i| 1.0 / theta.powf(2.0 * i as f64 / head_dim as f64))
        .collect();
    let kind = scaling
        .and_then(|s| s.rope_type.clone().or(s.legacy_type.clone()))
        .unwrap_or_else(|| "default".to_string());
    let bad = |message: String| ModelError::Config {
        path: "config.json".to_string(),
        message,
    };
    let need = |field: Option<f64>, name: &str| {
        field.ok_or_else(|| bad(format!("rope type `{kind}` needs `{name}`")))
    };
    let inv_freq: Vec<f64> = match kind.as_str() {
        "default" => base,
        "linear" => {
            let factor = need(scaling.and_then(|s| s.factor), "factor")?;
            base.iter().map(|f| f / factor).collect()
        }
        "llama3" => {
            let s = scaling.cloned().unwrap_or_default();
            let factor = need(s.factor, "factor")?;
            let low = need(s.low_freq_factor, "low_freq_factor")?;
            let high = need(s.high_freq_factor, "high_freq_factor")?;
            let original = need(
                s.original_max_position_embeddings,
                "original_max_position_embeddings",
            )?;
            base.iter()
                .map(|&f| llama3_scale(f, factor, low, high, original))
                .collect()
        }
        other => {
            return Err(bad(format!(
                "rope type `{other}` is not supported (supported: default, linear, llama3)"
            )));
        }
    };
    Ok(Rope {
        inv_freq: inv_freq.into_iter().map(|f| f as f32).collect(),
    })
}

/// Llama 3.1's frequency-dependent scaling of one inverse frequency.
fn llama3_scale(freq: f64, factor: f64, low: f64, high: f64, original: f64) -> f64 {
    let wavelen = 2.0 * std::f64::consts::PI / freq;
    let low_freq_wavelen = original / low;
    let high_freq_wavelen = original / high;
    if wavelen < high_freq_wavelen {
        freq
    } else if wavelen > low_freq_wavelen {
        freq / factor
    } else {
        let smooth = (original / wavelen - low) / (high - low);
        (1.0 - smooth) * freq / factor + smooth * freq
    }
}

impl Rope {
    /// `cos` and `sin` tables `[seq, head_dim/2]` for positions `0..seq`.
    pub(crate) fn tables(
        &self,
        seq: usize,
        device: &Device,
    ) -> Result<(Tensor, Tensor), ModelError> {
        let half = self.inv_freq.len();
        let angles: Vec<f32> = (0..seq)
            .flat_map(|p| self.inv_freq.iter().map(move |f| p as f32 * f))
            .collect();
        let angles = Tensor::from_vec(angles, (seq, half), device)?;
        Ok((angles.cos()?, angles.sin()?))
    }
}

/// Rotates `x` `[b, heads, s, head_dim]` (contiguous) by the tables.
pub(crate) fn apply_rope(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor, ModelError> {
    Ok(candle_nn::rotary_emb::rope(x, cos, sin)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> RopeParameters {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn both_spellings_give_the_same_frequencies() {
        let legacy = parse(r#"{"type": "linear", "factor": 2.0}"#);
        let modern = parse(r#"{"rope_type": "linear", "factor": 2.0, "rope_theta": 500.0}"#);
        let a = resolve_rope(Some(500.0), Some(&legacy), None, 10000.0, 8).unwrap();
        let b = resolve_rope(None, None, Some(&modern), 10000.0, 8).unwrap();
        assert_eq!(a.inv_freq, b.inv_freq);
        // theta 500, dim 8: the second frequency is 500^(-1/4) / 2.
        assert!((a.inv_freq[1] - 500f32.powf(-0.25) / 2.0).abs() < 1e-7);
    }

    #[test]
    fn unsupported_rope_types_are_named() {
        let yarn = parse(r#"{"rope_type": "yarn", "factor": 4.0}"#);
        let err = resolve_rope(None, Some(&yarn), None, 10000.0, 8).unwrap_err();
        assert!(err.to_string().contains("`yarn`"), "{err}");
    }
}
