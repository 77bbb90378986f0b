//! GGUF checkpoints against the fixtures written by
//! tests/fixtures/make_gguf_fixtures.py: tokenizer ids from the reference
//! Python tokenizer, weights dequantized and un-permuted by gguf-py.

mod common;

use common::max_abs_diff;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::quantized::{GgmlDType, QTensor, gguf_file, gguf_file::Value};
use candle_core::{DType, Device, Tensor};
use sage::model::gguf::{GgufArchitecture, GgufError, read_gguf};
use sage::model::{HookKind, HookPoint, LoadOptions};
use sage::open::load_model;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/gguf")
        .join(name)
}

fn expected(arch: &str, tag: &str) -> HashMap<String, Tensor> {
    candle_core::safetensors::load(
        fixture(&format!("tiny-{arch}-{tag}.expected.safetensors")),
        &Device::Cpu,
    )
    .unwrap()
}

/// The parity fixtures: (architecture, quant type) as in their file names.
const FIXTURES: [(&str, &str); 3] = [("llama", "q8_0"), ("llama", "q4_1"), ("qwen2", "q8_0")];

fn gguf_path(arch: &str, tag: &str) -> PathBuf {
    fixture(&format!("tiny-{arch}-{tag}.gguf"))
}

#[test]
fn config_comes_from_metadata_and_qk_weights_match_the_dequantized_reference() {
    for (arch, tag) in FIXTURES {
        let ckpt = read_gguf(&gguf_path(arch, tag), &Device::Cpu).unwrap();
        let c = &ckpt.config;
        assert_eq!(c["model_type"], arch);
        assert_eq!(c["hidden_size"], 64);
        assert_eq!(c["intermediate_size"], 128);
        assert_eq!(c["num_hidden_layers"], 2);
        assert_eq!(c["num_attention_heads"], 4);
        assert_eq!(c["num_key_value_heads"], 2);
        assert_eq!(c["head_dim"], 16);
        assert_eq!(c["max_position_embeddings"], 128);
        assert_eq!(c["rope_theta"], 10000.0);
        assert_eq!(c["tie_word_embeddings"], true);
        assert_eq!(c["attention_bias"], false);
        assert!((c["rms_norm_eps"].as_f64().unwrap() - 1e-5).abs() < 1e-9);
        // 2 layers x 9 tensors (+ q/k/v biases for qwen2) + embeddings + final
        // norm, no lm_head (tied).
        let (want_arch, per_layer) = match arch {
            "llama" => (GgufArchitecture::Llama, 9),
            _ => (GgufArchitecture::Qwen2, 12),
        };
        assert_eq!(ckpt.architecture, want_arch);
        assert_eq!(
            ckpt.tensors.len(),
            2 * per_layer + 2,
            "{:?}",
            ckpt.tensors.keys()
        );
        assert_eq!(
            ckpt.tensors["model.embed_tokens.weight"].dims(),
            [c["vocab_size"].as_u64().unwrap() as usize, 64]
        );
        let reference = expected(arch, tag);
        for proj in ["q_proj", "k_proj"] {
            let name = format!("model.layers.0.self_attn.{proj}.weight");
            let diff = max_abs_diff(&ckpt.tensors[&name], &reference[&format!("ref.{name}")]);
            assert!(diff < 1e-6, "{arch} {tag} {name}: max abs diff {diff}");
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
    assert!(
        matches!(
            truncated,
            GgufError::Header { .. } | GgufError::Format { .. }
        ),
        "{truncated}"
    );
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
    for (arch, tag) in FIXTURES {
        let loaded = load_model(
            gguf_path(arch, tag).to_str().unwrap(),
            &LoadOptions::default(),
        )
        .unwrap();
        let reference = expected(arch, tag);
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
                assert_eq!(got.dims(), want.dims(), "{arch} {tag} {hook}");
                for (row, cos) in row_cosines(&got, want).into_iter().enumerate() {
                    assert!(cos >= 0.995, "{arch} {tag} {hook} row {row}: cosine {cos}");
                }
                let diff = max_abs_diff(&got, want);
                assert!(diff < 1e-3, "{arch} {tag} {hook}: max abs diff {diff}");
                checked += 1;
            }
        }
        assert_eq!(checked, 10);
    }
}

/// Writes a GGUF file with the given metadata and one f32 embedding tensor.
fn write_gguf(path: &Path, metadata: &[(&str, Value)]) {
    let embd = Tensor::zeros((8, 32), DType::F32, &Device::Cpu).unwrap();
    let embd = QTensor::quantize(&embd, GgmlDType::F32).unwrap();
    let md: Vec<(&str, &Value)> = metadata.iter().map(|(k, v)| (*k, v)).collect();
    let mut file = std::fs::File::create(path).unwrap();
    gguf_file::write(&mut file, &md, &[("token_embd.weight", &embd)]).unwrap();
}

#[test]
fn unsupported_or_incomplete_metadata_is_named_in_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.gguf");
    let text = |s: &str| Value::String(s.to_string());
    let llama = [
        ("general.architecture", text("llama")),
        ("llama.embedding_length", Value::U32(32)),
        ("llama.feed_forward_length", Value::U32(64)),
        ("llama.block_count", Value::U32(0)),
        ("llama.attention.head_count", Value::U32(2)),
        ("llama.attention.layer_norm_rms_epsilon", Value::F32(1e-5)),
        ("llama.context_length", Value::U32(16)),
        ("tokenizer.ggml.model", text("gpt2")),
        ("tokenizer.ggml.pre", text("deepseek-llm")),
        (
            "tokenizer.ggml.tokens",
            Value::Array((0..8).map(|i| text(&format!("t{i}"))).collect()),
        ),
        ("tokenizer.ggml.merges", Value::Array(vec![])),
    ];

    write_gguf(&path, &[("general.architecture", text("falcon"))]);
    let err = read_gguf(&path, &Device::Cpu).unwrap_err();
    assert!(
        matches!(&err, GgufError::UnsupportedArchitecture { architecture } if architecture == "falcon"),
        "{err}"
    );

    let without_eps: Vec<_> = llama
        .iter()
        .filter(|(k, _)| !k.ends_with("rms_epsilon"))
        .cloned()
        .collect();
    write_gguf(&path, &without_eps);
    let err = read_gguf(&path, &Device::Cpu).unwrap_err();
    assert!(
        err.to_string()
            .contains("llama.attention.layer_norm_rms_epsilon"),
        "{err}"
    );

    write_gguf(&path, &llama);
    let err = read_gguf(&path, &Device::Cpu).unwrap_err();
    assert!(
        matches!(err, GgufError::UnsupportedTokenizer { .. }),
        "{err}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("deepseek-llm") && msg.contains("tokenizer.json"),
        "{msg}"
    );
}

/// Headers that candle's reader would divide by zero on, or allocate or
/// seek from unchecked, are refused with a typed error first.
#[test]
fn malformed_headers_are_refused_before_candle_reads_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.gguf");
    let arch = ("general.architecture", Value::String("llama".into()));
    for alignment in [0u32, 24] {
        write_gguf(
            &path,
            &[arch.clone(), ("general.alignment", Value::U32(alignment))],
        );
        let err = read_gguf(&path, &Device::Cpu).unwrap_err();
        assert!(
            matches!(err, GgufError::Header { .. }),
            "{alignment}: {err}"
        );
        assert!(err.to_string().contains("general.alignment"), "{err}");
    }

    write_gguf(&path, std::slice::from_ref(&arch));
    let good = std::fs::read(&path).unwrap();
    // Data cut off: the one tensor runs past the end of the file.
    std::fs::write(&path, &good[..good.len() - 4]).unwrap();
    let err = read_gguf(&path, &Device::Cpu).unwrap_err();
    assert!(err.to_string().contains("past the end"), "{err}");
    // A tensor count no file could hold.
    let mut counted = good.clone();
    counted[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
    std::fs::write(&path, &counted).unwrap();
    let err = read_gguf(&path, &Device::Cpu).unwrap_err();
    assert!(matches!(err, GgufError::Header { .. }), "{err}");
    // The tensor's offset moved far past the end.
    // After the name: n_dims (u32), two dims (u64), the type (u32).
    let name = b"token_embd.weight";
    let at = good.windows(name.len()).rposition(|w| w == name).unwrap();
    let offset_at = at + name.len() + 4 + 2 * 8 + 4;
    let mut moved = good;
    moved[offset_at..offset_at + 8].copy_from_slice(&(1u64 << 40).to_le_bytes());
    std::fs::write(&path, &moved).unwrap();
    let err = read_gguf(&path, &Device::Cpu).unwrap_err();
    assert!(matches!(err, GgufError::Header { .. }), "{err}");
}
