//! `sage train-sae` on a tiny random Llama fixture and a small corpus the
//! test writes: the loss falls, and the SAELens directory it writes loads
//! back through sage's SAE loader with the trainer's own reconstruction.

use std::path::{Path, PathBuf};

use candle_core::{DType, Tensor};
use sage::activation::mining::Corpus;
use sage::model::{HookPoint, LoadOptions, LoadedModel};
use sage::open::load_model;
use sage::sae::{self, Activation};
use sage::train::{FoldedSae, SaveDtype, TrainConfig, TrainError, TrainOutcome, write_sae_dir};

fn fixture_model() -> LoadedModel {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/models/llama-gqa");
    load_model(dir.to_str().unwrap(), &LoadOptions::default()).unwrap()
}

/// A few files of varied English text.
fn write_corpus(dir: &Path) -> PathBuf {
    let corpus = dir.join("corpus");
    std::fs::create_dir_all(corpus.join("sub")).unwrap();
    let lines = [
        "The committee met on Tuesday to discuss the budget for the coming year.",
        "def add(a, b):\n    return a + b\n",
        "Rain fell over the hills, and the river rose by the old stone bridge.",
        "%\nA fortune: you will write many tests today.\n%\n",
        "Numbers 1, 2, 3 and 42 appear in the table below; see section 7.",
    ];
    for (i, line) in lines.iter().enumerate() {
        let text: String = (0..20).map(|j| format!("{line} ({j})\n")).collect();
        let sub = if i % 2 == 0 { "" } else { "sub/" };
        std::fs::write(corpus.join(format!("{sub}doc{i}.txt")), text).unwrap();
    }
    corpus
}

/// Trains on the corpus the config names, read the way `sage train-sae` reads it.
fn train(model: &LoadedModel, cfg: &TrainConfig) -> Result<TrainOutcome, TrainError> {
    let corpus = Corpus::open(&cfg.corpus).unwrap();
    sage::train::train(model, &corpus, cfg)
}

fn config(corpus: PathBuf) -> TrainConfig {
    TrainConfig {
        hook: "blocks.1.hook_resid_post".parse::<HookPoint>().unwrap(),
        corpus,
        latents: 64,
        k: 4,
        tokens: 12_800,
        batch: 128,
        lr: 5e-3,
        seed: 3,
        context: 16,
        tokens_per_file: 64,
        dead_after: 1_000,
        eval_tokens: 256,
        dtype: SaveDtype::F32,
        progress: false,
    }
}

#[test]
fn loss_falls_and_the_saved_sae_reproduces_the_trainer() {
    let tmp = tempfile::tempdir().unwrap();
    let model = fixture_model();
    let cfg = config(write_corpus(tmp.path()));
    let outcome = train(&model, &cfg).unwrap();

    assert_eq!(outcome.losses.len(), 100);
    let first: f32 = outcome.losses[..10].iter().sum::<f32>() / 10.0;
    let last: f32 = outcome.losses[90..].iter().sum::<f32>() / 10.0;
    assert!(
        last < 0.8 * first,
        "loss did not fall: first {first}, last {last}"
    );
    assert!(outcome.metrics.explained_variance > 0.0);
    assert!(outcome.metrics.l0 <= 4.0 && outcome.metrics.l0 > 0.0);
    assert_eq!(outcome.metrics.tokens, 12_800);

    let out = tmp.path().join("sae");
    write_sae_dir(&out, &outcome, &cfg, &model.name).unwrap();
    let metrics: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("metrics.json")).unwrap()).unwrap();
    assert_eq!(metrics["tokens"], 12_800);
    assert_eq!(metrics["latents"], 64);

    let loaded = sae::load_sae(&out, &sae::LoadOptions::default()).unwrap();
    assert_eq!(loaded.info().hook, cfg.hook);
    assert_eq!(loaded.info().format, sae::SaeFormat::Saelens);
    assert_eq!(
        loaded.info().model_name.as_deref(),
        Some(model.name.as_str())
    );
    assert_eq!((loaded.d_in(), loaded.d_sae()), (32, 64));
    assert!(matches!(loaded.activation(), Activation::TopK { k: 4, .. }));

    let ids = model
        .tokenizer
        .encode("The river rose by the committee's stone table.", None)
        .unwrap();
    let x = model.model.run_to_hook(&ids, cfg.hook).unwrap();
    let diff = reconstruction_gap(&outcome.sae, &loaded, &x);
    assert!(diff <= 1e-5, "reconstructions differ by {diff}");
    // The reconstruction is not trivially zero or the bias alone.
    let sparse = loaded.encode(&x).unwrap();
    let nonzero = sparse.ne(0f32).unwrap().to_dtype(DType::F32).unwrap();
    assert!(nonzero.sum_all().unwrap().to_scalar::<f32>().unwrap() > 0.0);
}

#[test]
fn half_precision_save_matches_what_the_trainer_reports() {
    let tmp = tempfile::tempdir().unwrap();
    let model = fixture_model();
    let mut cfg = config(write_corpus(tmp.path()));
    cfg.tokens = 1_024;
    cfg.dtype = SaveDtype::F16;
    let outcome = train(&model, &cfg).unwrap();
    let out = tmp.path().join("sae16");
    write_sae_dir(&out, &outcome, &cfg, &model.name).unwrap();
    let cfg_json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("cfg.json")).unwrap()).unwrap();
    assert_eq!(cfg_json["dtype"], "float16");
    assert_eq!(cfg_json["architecture"], "topk");
    assert_eq!(
        cfg_json["metadata"]["hook_name"],
        "blocks.1.hook_resid_post"
    );
    assert_eq!(cfg_json["metadata"]["sae_lens_version"], "6.0.0");
    let loaded = sae::load_sae(&out, &sae::LoadOptions::default()).unwrap();
    let ids = model
        .tokenizer
        .encode("A fortune for the bridge.", None)
        .unwrap();
    let x = model.model.run_to_hook(&ids, cfg.hook).unwrap();
    let diff = reconstruction_gap(&outcome.sae, &loaded, &x);
    assert!(diff <= 1e-5, "reconstructions differ by {diff}");
}

/// Largest absolute difference between the trainer's reconstruction and
/// the loaded SAE's `decode(encode(x))`.
fn reconstruction_gap(ours: &FoldedSae, loaded: &sae::Sae, x: &Tensor) -> f32 {
    let mine = ours.reconstruct(x).unwrap();
    let theirs = loaded.decode(&loaded.encode(x).unwrap()).unwrap();
    let diff = (mine - theirs).unwrap().abs().unwrap().max_all().unwrap();
    diff.to_scalar::<f32>().unwrap()
}

#[test]
fn bad_settings_and_empty_corpora_are_explained() {
    let tmp = tempfile::tempdir().unwrap();
    let model = fixture_model();
    let mut cfg = config(write_corpus(tmp.path()));
    cfg.k = 65;
    let err = train(&model, &cfg).unwrap_err();
    assert!(matches!(err, TrainError::Setting(_)));
    assert!(
        err.to_string()
            .contains("--k must be between 1 and --latents (64)")
    );

    let empty = tmp.path().join("blank");
    std::fs::create_dir_all(&empty).unwrap();
    std::fs::write(empty.join("a.txt"), "   \n\n").unwrap();
    let mut cfg = config(empty.clone());
    cfg.tokens = 128;
    let err = train(&model, &cfg).unwrap_err();
    assert!(matches!(err, TrainError::NoTokens { .. }), "{err}");
    assert!(err.to_string().contains("yields no tokens"));
}

#[test]
fn the_committed_demo_sae_loads_as_a_topk_sae_for_smollm2() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo-sae");
    let loaded = sae::load_sae(&dir, &sae::LoadOptions::default()).unwrap();
    assert_eq!((loaded.d_in(), loaded.d_sae()), (576, 2048));
    assert!(matches!(
        loaded.activation(),
        Activation::TopK { k: 32, .. }
    ));
    assert_eq!(loaded.info().hook.to_string(), "blocks.9.hook_resid_post");
    sae::check_model_name(&loaded, "SmolLM2-135M-Instruct.Q4_1").unwrap();
    // Every latent of a TopK SAE keeps at most k activations per token.
    let x = Tensor::ones((2, 576), DType::F32, &candle_core::Device::Cpu).unwrap();
    let acts = loaded.encode(&x).unwrap();
    let nonzero = acts.ne(0f32).unwrap().to_dtype(DType::F32).unwrap();
    let per_row = nonzero.sum(1).unwrap().to_vec1::<f32>().unwrap();
    assert!(per_row.iter().all(|&n| n > 0.0 && n <= 32.0), "{per_row:?}");
}
