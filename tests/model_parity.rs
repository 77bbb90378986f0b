//! Parity of every family's hooked forward pass with transformers.
//!
//! The fixtures under tests/fixtures/models/ were written by
//! tests/fixtures/make_fixtures.py: tiny random-weight models plus the
//! activations PyTorch forward hooks recorded at every hook of every layer,
//! and the Python tokenizer's ids for a few texts.

mod common;

use common::max_abs_diff;
use std::path::PathBuf;

use candle_core::Device;
use sage::model::{HookPoint, LoadOptions, LoadedModel};
use sage::open::load_model;

const TOLERANCE: f32 = 1e-4;

#[derive(serde::Deserialize)]
struct Expected {
    sequences: Vec<Vec<u32>>,
    hooks: Vec<String>,
    n_layers: usize,
    texts: Vec<TextIds>,
}

#[derive(serde::Deserialize)]
struct TextIds {
    text: String,
    ids: Vec<u32>,
}

fn fixture_dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/models/{name}"))
}

/// Checks every hook of every layer, unbatched and as one padded batch.
fn assert_parity(name: &str, family: &str) {
    let dir = fixture_dir(name);
    let loaded: LoadedModel = load_model(dir.to_str().unwrap(), &LoadOptions::default()).unwrap();
    let model = &loaded.model;
    assert_eq!(model.family(), family);
    let expected: Expected =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    let values =
        candle_core::safetensors::load(dir.join("expected.safetensors"), &Device::Cpu).unwrap();
    assert_eq!(model.n_layers(), expected.n_layers);
    let mut checked = 0;
    for layer in 0..expected.n_layers {
        for hook_name in &expected.hooks {
            let hook: HookPoint = format!("blocks.{layer}.{hook_name}").parse().unwrap();
            let batched = model.run_to_hook_batch(&expected.sequences, hook).unwrap();
            for (k, ids) in expected.sequences.iter().enumerate() {
                let want = &values[&format!("seq{k}.{hook}")];
                let single = model.run_to_hook(ids, hook).unwrap();
                let err = max_abs_diff(&single, want);
                assert!(
                    err <= TOLERANCE,
                    "{name} {hook} seq{k}: max abs error {err}"
                );
                let err = max_abs_diff(&batched[k], want);
                assert!(
                    err <= TOLERANCE,
                    "{name} {hook} seq{k} batched: max abs error {err}"
                );
                checked += 1;
            }
        }
    }
    assert_eq!(checked, expected.n_layers * 7 * expected.sequences.len());
}

/// Token ids match the Python tokenizer exactly; BOS follows the config.
fn assert_token_ids(name: &str, bos: u32) {
    let dir = fixture_dir(name);
    let loaded = load_model(dir.to_str().unwrap(), &LoadOptions::default()).unwrap();
    let expected: Expected =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    for case in &expected.texts {
        let plain = loaded.tokenizer.encode(&case.text, Some(false)).unwrap();
        assert_eq!(plain, case.ids, "{name}: {:?}", case.text);
        let with_bos = loaded.tokenizer.encode(&case.text, None).unwrap();
        assert_eq!(with_bos[0], bos);
        assert_eq!(&with_bos[1..], &case.ids[..]);
    }
}

#[test]
fn gpt2_matches_transformers_at_every_hook() {
    assert_parity("gpt2", "gpt2");
}

#[test]
fn llama_with_grouped_query_attention_matches_transformers() {
    assert_parity("llama-gqa", "llama");
}

#[test]
fn llama3_rope_scaling_in_hub_spelling_matches_transformers() {
    assert_parity("llama3-rope", "llama");
}

#[test]
fn qwen2_with_qkv_biases_matches_transformers() {
    assert_parity("qwen2", "qwen2");
}

#[test]
fn qwen3_with_qk_norms_matches_transformers() {
    assert_parity("qwen3", "qwen3");
}

#[test]
fn gemma2_with_sliding_window_and_softcap_matches_transformers() {
    assert_parity("gemma2", "gemma2");
}

#[test]
fn token_ids_match_the_python_tokenizer_and_bos_follows_the_config() {
    assert_token_ids("gpt2", 0);
    assert_token_ids("llama-gqa", 1);
    assert_token_ids("gemma2", 1);
}
