//! GGUF tensor names to Hugging Face names, and llama.cpp's q/k row
//! permutation undone, so the HF-layout llama forward can load them.

use candle_core::Tensor;

use super::GgufError;
use super::metadata::{GgufArchitecture, Heads};

/// Which rows of a projection the converter permuted, and with how many heads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Permuted {
    /// Not permuted: stored exactly as in the Hugging Face checkpoint.
    No,
    /// Query rows, grouped by attention head.
    Query,
    /// Key rows, grouped by key/value head.
    Key,
}

/// The Hugging Face name of a GGUF tensor and whether its rows need un-permuting.
pub(crate) fn hf_name(
    gguf_name: &str,
    arch: GgufArchitecture,
) -> Result<(String, Permuted), GgufError> {
    let unknown = || GgufError::UnknownTensor {
        name: gguf_name.to_string(),
    };
    let fixed = match gguf_name {
        "token_embd.weight" => Some("model.embed_tokens.weight"),
        "output_norm.weight" => Some("model.norm.weight"),
        "output.weight" => Some("lm_head.weight"),
        _ => None,
    };
    if let Some(name) = fixed {
        return Ok((name.to_string(), Permuted::No));
    }
    let rest = gguf_name.strip_prefix("blk.").ok_or_else(unknown)?;
    let (layer, rest) = rest.split_once('.').ok_or_else(unknown)?;
    let layer: usize = layer.parse().map_err(|_| unknown())?;
    let (part, kind) = rest.rsplit_once('.').ok_or_else(unknown)?;
    if kind != "weight" && kind != "bias" {
        return Err(unknown());
    }
    let (hf_part, permuted) = match part {
        "attn_norm" => ("input_layernorm", Permuted::No),
        "attn_q" => ("self_attn.q_proj", Permuted::Query),
        "attn_k" => ("self_attn.k_proj", Permuted::Key),
        "attn_v" => ("self_attn.v_proj", Permuted::No),
        "attn_output" => ("self_attn.o_proj", Permuted::No),
        "ffn_norm" => ("post_attention_layernorm", Permuted::No),
        "ffn_gate" => ("mlp.gate_proj", Permuted::No),
        "ffn_up" => ("mlp.up_proj", Permuted::No),
        "ffn_down" => ("mlp.down_proj", Permuted::No),
        _ => return Err(unknown()),
    };
    // convert_hf_to_gguf.py permutes llama q/k weights only; Qwen2 stores them as HF does.
    let permuted = if arch == GgufArchitecture::Llama && kind == "weight" {
        permuted
    } else {
        Permuted::No
    };
    Ok((format!("model.layers.{layer}.{hf_part}.{kind}"), permuted))
}

/// Undoes llama.cpp's rotary permutation of a `[n_head * head_dim, in]` weight.
///
/// The converter regroups each head's rows from the half-split rotary layout
/// (all first halves, then all second halves) into interleaved pairs: viewed
/// as `[heads, 2, head_dim/2, in]`, axes 1 and 2 are swapped. Swapping them
/// back restores the Hugging Face layout.
pub(crate) fn unpermute(
    weight: &Tensor,
    permuted: Permuted,
    heads: Heads,
    name: &str,
) -> Result<Tensor, GgufError> {
    let n_head = match permuted {
        Permuted::No => return Ok(weight.clone()),
        Permuted::Query => heads.n_head,
        Permuted::Key => heads.n_kv_head,
    };
    let (rows, cols) = weight.dims2()?;
    if rows % (2 * n_head) != 0 {
        return Err(GgufError::BadTensorShape {
            name: name.to_string(),
            shape: vec![rows, cols],
            expected: format!("rows divisible by 2 x {n_head} heads"),
        });
    }
    Ok(weight
        .reshape((n_head, rows / n_head / 2, 2, cols))?
        .transpose(1, 2)?
        .contiguous()?
        .reshape((rows, cols))?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn names_map_to_hugging_face_with_permutation_only_for_llama_qk_weights() {
        let llama = GgufArchitecture::Llama;
        assert_eq!(
            hf_name("blk.7.attn_q.weight", llama).unwrap(),
            (
                "model.layers.7.self_attn.q_proj.weight".into(),
                Permuted::Query
            )
        );
        assert_eq!(
            hf_name("blk.0.ffn_down.weight", llama).unwrap(),
            ("model.layers.0.mlp.down_proj.weight".into(), Permuted::No)
        );
        assert_eq!(
            hf_name("blk.3.attn_k.weight", GgufArchitecture::Qwen2).unwrap(),
            (
                "model.layers.3.self_attn.k_proj.weight".into(),
                Permuted::No
            )
        );
        assert_eq!(
            hf_name("blk.3.attn_k.bias", GgufArchitecture::Qwen2).unwrap(),
            ("model.layers.3.self_attn.k_proj.bias".into(), Permuted::No)
        );
        for bad in [
            "rope_freqs.weight",
            "blk.x.attn_q.weight",
            "blk.1.attn_qkv.weight",
        ] {
            let err = hf_name(bad, llama).unwrap_err();
            assert!(err.to_string().contains(bad), "{err}");
        }
    }

    #[test]
    fn unpermute_restores_half_split_rows_per_head() {
        // Two heads of head_dim 4, one input column: HF rows are
        // [h0: a0 a1 b0 b1, h1: c0 c1 d0 d1]; llama.cpp stores pairs interleaved,
        // [h0: a0 b0 a1 b1, h1: c0 d0 c1 d1].
        let stored = Tensor::new(
            &[[0f32], [2.], [1.], [3.], [4.], [6.], [5.], [7.]],
            &Device::Cpu,
        )
        .unwrap();
        let heads = Heads {
            n_head: 2,
            n_kv_head: 1,
        };
        let restored = unpermute(&stored, Permuted::Query, heads, "q").unwrap();
        let rows: Vec<f32> = restored.flatten_all().unwrap().to_vec1().unwrap();
        assert_eq!(rows, vec![0., 1., 2., 3., 4., 5., 6., 7.]);
        let bad = unpermute(
            &stored.narrow(0, 0, 6).unwrap(),
            Permuted::Query,
            heads,
            "q",
        );
        assert!(matches!(bad, Err(GgufError::BadTensorShape { .. })));
    }
}
