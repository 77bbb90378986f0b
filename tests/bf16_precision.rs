//! `--dtype bf16` against the f32 references: the model fixtures' hooks
//! (recorded by tests/fixtures/make_fixtures.py from transformers in f32)
//! stay within a row cosine of 0.999, and on the SAE-on-model fixtures
//! (tests/fixtures/make_sae_fixtures.py, SAELens) every token keeps its top
//! feature. The f32 path's 1e-4 is tests/model_parity.rs and
//! tests/sae_parity.rs, through the same dispatched kernels.

use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use sage::model::{HookPoint, LoadOptions, LoadedModel, WeightDtype};
use sage::open::load_model;
use sage::sae::{LoadOptions as SaeLoadOptions, features_activations_into, load_sae};

const MIN_COSINE: f64 = 0.999;

#[derive(serde::Deserialize)]
struct Expected {
    sequences: Vec<Vec<u32>>,
    hooks: Vec<String>,
    n_layers: usize,
}

#[derive(serde::Deserialize)]
struct ModelCase {
    name: String,
    model: String,
    path: String,
    sequences: Vec<Vec<u32>>,
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn load(name: &str, dtype: WeightDtype) -> LoadedModel {
    let dir = fixtures().join("models").join(name);
    load_model(dir.to_str().unwrap(), &LoadOptions::cpu(dtype)).unwrap()
}

fn rows(t: &Tensor) -> Vec<Vec<f32>> {
    t.to_vec2().unwrap()
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| f64::from(*x) * f64::from(*y))
        .sum();
    let norm = |v: &[f32]| v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    dot / (norm(a) * norm(b))
}

fn argmax(row: &[f32]) -> usize {
    (0..row.len())
        .max_by(|&i, &j| row[i].total_cmp(&row[j]))
        .unwrap()
}

#[test]
fn bf16_hooks_of_every_family_stay_within_cosine_0_999_of_transformers_f32() {
    for name in [
        "gpt2",
        "llama-gqa",
        "llama3-rope",
        "qwen2",
        "qwen3",
        "gemma2",
    ] {
        let dir = fixtures().join("models").join(name);
        let expected: Expected =
            serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap())
                .unwrap();
        let values =
            candle_core::safetensors::load(dir.join("expected.safetensors"), &Device::Cpu).unwrap();
        let (bf16, f32) = (load(name, WeightDtype::Bf16), load(name, WeightDtype::F32));
        let (mut worst, mut moved) = (1.0f64, false);
        for layer in 0..expected.n_layers {
            for hook_name in &expected.hooks {
                let hook: HookPoint = format!("blocks.{layer}.{hook_name}").parse().unwrap();
                for (k, ids) in expected.sequences.iter().enumerate() {
                    let want = rows(&values[&format!("seq{k}.{hook}")]);
                    let got = rows(&bf16.model.run_to_hook(ids, hook).unwrap());
                    let exact = rows(&f32.model.run_to_hook(ids, hook).unwrap());
                    moved |= got != exact;
                    for (t, (g, w)) in got.iter().zip(&want).enumerate() {
                        let c = cosine(g, w);
                        worst = worst.min(c);
                        assert!(
                            c >= MIN_COSINE,
                            "{name} {hook} seq{k} token {t}: cosine {c}"
                        );
                    }
                }
            }
        }
        // The bf16 products really ran: the values differ from f32's.
        assert!(moved, "{name}: bf16 gave exactly the f32 activations");
        println!("{name}: worst bf16 row cosine {worst:.6}");
    }
}

#[test]
fn bf16_model_and_sae_encoder_keep_every_tokens_top_feature() {
    let text = std::fs::read_to_string(fixtures().join("saes/model_cases.json")).unwrap();
    let cases: Vec<ModelCase> = serde_json::from_str(&text).unwrap();
    for case in cases {
        let loaded = load(&case.model, WeightDtype::Bf16);
        let sae = load_sae(
            &fixtures().join("saes").join(&case.path),
            &SaeLoadOptions::default(),
        )
        .unwrap()
        .with_encoder_dtype(WeightDtype::Bf16);
        let every: Vec<u32> = (0..sae.d_sae() as u32).collect();
        let mut got = Vec::new();
        features_activations_into(
            loaded.model.as_ref(),
            &sae,
            &case.sequences,
            &every,
            0,
            &mut got,
        )
        .unwrap();
        let file = fixtures()
            .join("saes/on-models")
            .join(&case.name)
            .join("expected.safetensors");
        let want = candle_core::safetensors::load(file, &Device::Cpu).unwrap();
        let want: Vec<Vec<f32>> = (0..case.sequences.len())
            .flat_map(|i| rows(&want[&format!("seq{i}")]))
            .collect();
        let got: Vec<&[f32]> = got.chunks_exact(sae.d_sae()).collect();
        assert_eq!(got.len(), want.len(), "{}", case.name);
        for (t, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(
                argmax(g),
                argmax(w),
                "{} token {t}: top feature changed under bf16",
                case.name
            );
        }
    }
}
