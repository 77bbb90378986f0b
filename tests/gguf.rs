//! GGUF checkpoints against the fixtures written by
//! tests/fixtures/make_gguf_fixtures.py: tokenizer ids from the reference
//! Python tokenizer, weights dequantized and un-permuted by gguf-py.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use sage::model::gguf::{GgufArchitecture, GgufError, read_gguf};
use sage::model::{HookKind, HookPoint, LoadOptions, load_model};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/gguf")
        .join(name)
}

fn expected(tag: &str) -> HashMap<String, Tensor> {
    candle_core::safetensors::load(
        fixture(&format!("tiny-llama-{tag}.expected.safetensors")),
        &Device::Cpu,
    )
    .unwrap()
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
    a.sub(b)
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar()
        .unwrap()
}

#[test]
fn config_comes_from_metadata_and_qk_weights_match_the_dequantized_reference() {
    for tag in ["q8_0", "q4_1"] {
        let ckpt = read_gguf(&fixture(&format!("tiny-llama-{tag}.gguf")), &Device::Cpu).unwrap();
        assert_eq!(ckpt.architecture, GgufArchitecture::Llama);
        let c = &ckpt.config;
        assert_eq!(c["hidden_size"], 64);
        assert_eq!(c["intermediate_size"], 128);
        assert_eq!(c["num_hidden_layers"], 2);
        assert_eq!(c["num_attention_heads"], 4);
        assert_eq!(c["num_key_value_heads"], 2);
        assert_eq!(c["head_dim"], 16);
        assert_eq!(c["max_position_embeddings"], 128);
        assert_eq!(c["rope_theta"], 10000.0);
        assert_eq!(c["tie_word_embeddings"], true);
        assert!((c["rms_norm_eps"].as_f64().unwrap() - 1e-5).abs() < 1e-9);
        // 2 layers x 9 tensors + embeddings + final norm, no lm_head (tied).
        assert_eq!(ckpt.tensors.len(), 20, "{:?}", ckpt.tensors.keys());
        assert_eq!(
            ckpt.tensors["model.embed_tokens.weight"].dims(),
            [c["vocab_size"].as_u64().unwrap() as usize, 64]
        );
        let reference = expected(tag);
        for proj in ["q_proj", "k_proj"] {
            let name = format!("model.layers.0.self_attn.{proj}.weight");
            let diff = max_abs_diff(&ckpt.tensors[&name], &reference[&format!("ref.{name}")]);
            assert!(diff < 1e-6, "{tag} {name}: max abs diff {diff}");
        }
    }
}

#[derive(serde::Deserialize)]
struct TokenizerFixture {
    texts: Vec<String>,
    reduced_vocab_ids: Vec<Vec<u32>>,
    reduced_vocab_size: usize,
}

#[test]
fn tokenizer_rebuilt_from_metadata_matches_the_hugging_face_smollm2_tokenizer() {
    let fx: TokenizerFixture =
        serde_json::from_str(&std::fs::read_to_string(fixture("tokenizer_ids.json")).unwrap())
            .unwrap();
    let ckpt = read_gguf(&fixture("tiny-llama-q4_1.gguf"), &Device::Cpu).unwrap();
    assert_eq!(ckpt.tokenizer.get_vocab_size(true), fx.reduced_vocab_size);
    for (text, want) in fx.texts.iter().zip(&fx.reduced_vocab_ids) {
        let enc = ckpt.tokenizer.encode(text.as_str(), true).unwrap();
        assert_eq!(enc.get_ids(), want.as_slice(), "ids for {text:?}");
        let back = ckpt.tokenizer.decode(enc.get_ids(), false).unwrap();
        assert_eq!(&back, text);
    }
}

#[test]
fn a_tokenizer_json_beside_the_file_takes_precedence_and_a_broken_one_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let gguf = dir.path().join("model.gguf");
    std::fs::copy(fixture("tiny-llama-q8_0.gguf"), &gguf).unwrap();
    let word_level = r#"{"version":"1.0","truncation":null,"padding":null,"added_tokens":[],
        "normalizer":null,"pre_tokenizer":{"type":"Whitespace"},"post_processor":null,
        "decoder":null,"model":{"type":"WordLevel","vocab":{"[UNK]":0,"hello":1,"world":2},
        "unk_token":"[UNK]"}}"#;
    std::fs::write(dir.path().join("tokenizer.json"), word_level).unwrap();
    let ckpt = read_gguf(&gguf, &Device::Cpu).unwrap();
    let ids = ckpt.tokenizer.encode("hello world", false).unwrap();
    assert_eq!(ids.get_ids(), [1, 2]);

    std::fs::write(dir.path().join("tokenizer.json"), "{not json").unwrap();
    let err = read_gguf(&gguf, &Device::Cpu).unwrap_err();
    assert!(matches!(err, GgufError::TokenizerFile { .. }), "{err}");
    assert!(err.to_string().contains("tokenizer.json"), "{err}");
}

#[test]
fn missing_and_truncated_files_give_typed_errors_that_say_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let missing = read_gguf(&dir.path().join("nope.gguf"), &Device::Cpu).unwrap_err();
    assert!(matches!(missing, GgufError::Io { .. }), "{missing}");
    assert!(missing.to_string().contains("nope.gguf"), "{missing}");

    let bytes = std::fs::read(fixture("tiny-llama-q8_0.gguf")).unwrap();
    let cut = dir.path().join("cut.gguf");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let truncated = read_gguf(&cut, &Device::Cpu).unwrap_err();
    assert!(matches!(truncated, GgufError::Format { .. }), "{truncated}");
    assert!(
        truncated.to_string().contains("download it again"),
        "{truncated}"
    );
}

/// Cosine similarity of each row of two `[seq, d]` tensors.
fn row_cosines(a: &Tensor, b: &Tensor) -> Vec<f32> {
    let dot = (a * b).unwrap().sum(1).unwrap();
    let na = a.sqr().unwrap().sum(1).unwrap().sqrt().unwrap();
    let nb = b.sqr().unwrap().sum(1).unwrap().sqrt().unwrap();
    dot.div(&(na * nb).unwrap()).unwrap().to_vec1().unwrap()
}

#[test]
fn hooked_forward_on_gguf_matches_transformers_on_the_dequantized_weights() {
    for tag in ["q8_0", "q4_1"] {
        let loaded = load_model(
            fixture(&format!("tiny-llama-{tag}.gguf")).to_str().unwrap(),
            &LoadOptions::default(),
        )
        .unwrap();
        let reference = expected(tag);
        let ids: Vec<u32> = reference["token_ids"]
            .to_vec1::<i64>()
            .unwrap()
            .into_iter()
            .map(|id| id as u32)
            .collect();
        let mut checked = 0;
        for layer in 0..2 {
            for kind in [
                HookKind::ResidPre,
                HookKind::AttnOut,
                HookKind::ResidMid,
                HookKind::MlpOut,
                HookKind::ResidPost,
            ] {
                let hook = HookPoint::new(layer, kind);
                let want = &reference[&hook.to_string()];
                let got = loaded.model.run_to_hook(&ids, hook).unwrap();
                assert_eq!(got.dims(), want.dims(), "{tag} {hook}");
                for (row, cos) in row_cosines(&got, want).into_iter().enumerate() {
                    assert!(cos >= 0.995, "{tag} {hook} row {row}: cosine {cos}");
                }
                let diff = max_abs_diff(&got, want);
                assert!(diff < 1e-3, "{tag} {hook}: max abs diff {diff}");
                checked += 1;
            }
        }
        assert_eq!(checked, 10);
    }
}
