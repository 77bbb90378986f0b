//! `sage hook` through the built binary: output formats and every bad-input
//! path (typed error, non-zero exit, no panic).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/models/{name}"))
}

fn sage(model: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sage"))
        .arg("hook")
        .arg("--model")
        .arg(model)
        .args(args)
        .output()
        .unwrap()
}

/// Asserts a clean failure whose stderr mentions every `needle`.
fn assert_fails_with(out: &Output, needles: &[&str]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "expected failure, got: {stderr}");
    assert!(!stderr.contains("panicked"), "panicked: {stderr}");
    for needle in needles {
        assert!(stderr.contains(needle), "`{needle}` not in: {stderr}");
    }
}

#[test]
fn json_output_has_one_row_per_token_with_bos_prepended() {
    let out = sage(
        &fixture("gpt2"),
        &[
            "--hook",
            "blocks.1.hook_resid_post",
            "--text",
            "Hello world!",
            "--json",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["model"], "gpt2");
    assert_eq!(v["hook"], "blocks.1.hook_resid_post");
    // "Hello world!" is [294, 295, 3] in the fixture tokenizer; GPT-2 prepends <|endoftext|> (0).
    assert_eq!(v["token_ids"], serde_json::json!([0, 294, 295, 3]));
    assert_eq!(v["tokens"][0], "<|endoftext|>");
    assert_eq!(v["tokens"][3], "!");
    assert_eq!(v["shape"], serde_json::json!([4, 32]));
    let values = v["values"].as_array().unwrap();
    assert_eq!(values.len(), 4);
    assert!(values.iter().all(|row| row.as_array().unwrap().len() == 32));
}

#[test]
fn token_ids_are_used_exactly_and_bos_can_be_switched_off() {
    let out = sage(
        &fixture("llama-gqa"),
        &[
            "--hook",
            "blocks.0.hook_resid_pre",
            "--token-ids",
            "5, 6,7",
            "--json",
        ],
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["token_ids"], serde_json::json!([5, 6, 7]));
    let out = sage(
        &fixture("llama-gqa"),
        &[
            "--hook",
            "blocks.0.hook_resid_pre",
            "--text",
            "Hello world!",
            "--no-prepend-bos",
            "--json",
        ],
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["token_ids"], serde_json::json!([294, 295, 3]));
}

#[test]
fn text_output_lists_each_token() {
    let out = sage(
        &fixture("gemma2"),
        &["--hook", "blocks.2.hook_mlp_out", "--text", "Hello world!"],
    );
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("blocks.2.hook_mlp_out"), "{stdout}");
    assert!(stdout.contains("shape [4, 32]"), "{stdout}");
    assert!(stdout.contains("\"<s>\""), "{stdout}");
    assert!(stdout.contains("\" world\""), "{stdout}");
}

#[test]
fn hook_out_of_range_names_the_valid_layers() {
    let out = sage(
        &fixture("gpt2"),
        &["--hook", "blocks.2.hook_resid_pre", "--text", "hi"],
    );
    assert_fails_with(&out, &["out of range", "0..=1"]);
}

#[test]
fn unknown_hook_name_lists_the_valid_ones() {
    let out = sage(
        &fixture("gpt2"),
        &["--hook", "blocks.0.hook_nope", "--text", "hi"],
    );
    assert_fails_with(&out, &["unknown hook name", "hook_resid_pre"]);
}

#[test]
fn empty_input_is_rejected() {
    let text = sage(
        &fixture("gpt2"),
        &["--hook", "blocks.0.hook_resid_pre", "--text", ""],
    );
    assert_fails_with(&text, &["empty input"]);
    let ids = sage(
        &fixture("gpt2"),
        &["--hook", "blocks.0.hook_resid_pre", "--token-ids", " , "],
    );
    assert_fails_with(&ids, &["empty input"]);
}

#[test]
fn bad_token_ids_are_rejected() {
    let junk = sage(
        &fixture("gpt2"),
        &["--hook", "blocks.0.hook_resid_pre", "--token-ids", "1,x"],
    );
    assert_fails_with(&junk, &["bad token id `x`"]);
    let big = sage(
        &fixture("gpt2"),
        &["--hook", "blocks.0.hook_resid_pre", "--token-ids", "320"],
    );
    assert_fails_with(&big, &["token id 320", "0..320"]);
}

#[test]
fn a_sequence_longer_than_the_context_is_rejected() {
    // The GPT-2 fixture has n_positions = 32.
    let ids = vec!["7"; 33].join(",");
    let out = sage(
        &fixture("gpt2"),
        &["--hook", "blocks.0.hook_resid_pre", "--token-ids", &ids],
    );
    assert_fails_with(&out, &["33 tokens", "context window of 32"]);
}

/// Copies a fixture into a temp dir so a test can break it.
fn copy_fixture(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(fixture(name)).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
    }
    dir
}

fn edit_config(dir: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let path = dir.join("config.json");
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    edit(&mut config);
    std::fs::write(&path, config.to_string()).unwrap();
}

#[test]
fn unknown_architecture_is_named_with_the_supported_list() {
    let dir = copy_fixture("llama-gqa");
    edit_config(dir.path(), |c| c["model_type"] = "mamba".into());
    let out = sage(
        dir.path(),
        &["--hook", "blocks.0.hook_resid_pre", "--text", "hi"],
    );
    assert_fails_with(&out, &["`mamba`", "gpt2, llama, qwen2, qwen3, gemma2"]);
}

#[test]
fn mismatched_weight_names_tensor_and_both_shapes() {
    // A hook inside block 0, so block 0 is read (only the blocks a hook
    // needs are loaded).
    let dir = copy_fixture("llama-gqa");
    edit_config(dir.path(), |c| c["intermediate_size"] = 48.into());
    let out = sage(
        dir.path(),
        &["--hook", "blocks.0.hook_resid_post", "--text", "hi"],
    );
    assert_fails_with(
        &out,
        &[
            "model.layers.0.mlp.gate_proj.weight",
            "[64, 32]",
            "[48, 32]",
        ],
    );
}

#[test]
fn missing_weight_is_named() {
    let dir = copy_fixture("qwen2");
    // Qwen2 always has q/k/v biases; calling it Qwen3 asks for q_norm, which it lacks.
    edit_config(dir.path(), |c| c["model_type"] = "qwen3".into());
    let out = sage(
        dir.path(),
        &["--hook", "blocks.0.hook_resid_post", "--text", "hi"],
    );
    assert_fails_with(&out, &["model.layers.0.self_attn.q_norm.weight", "missing"]);
}

#[test]
fn a_path_that_is_not_a_model_directory_is_explained() {
    let out = sage(
        Path::new("/no/such/model"),
        &["--hook", "blocks.0.hook_resid_pre", "--text", "hi"],
    );
    assert_fails_with(&out, &["/no/such/model", "Hugging Face model directory"]);
}

/// The values of a `--json` run that must have succeeded.
fn json_values(out: &Output) -> Vec<Vec<f32>> {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    serde_json::from_value(v["values"].clone()).unwrap()
}

#[test]
fn dtype_bf16_runs_the_bf16_products_and_an_unknown_dtype_says_what_to_use() {
    let args = |dtype: &'static str| {
        [
            "--hook",
            "blocks.1.hook_resid_post",
            "--token-ids",
            "5,17,42,99",
            "--json",
            "--dtype",
            dtype,
        ]
    };
    let f32 = json_values(&sage(&fixture("gpt2"), &args("f32")));
    let bf16 = json_values(&sage(&fixture("gpt2"), &args("bf16")));
    let f16 = json_values(&sage(&fixture("gpt2"), &args("f16")));
    assert_eq!(bf16.len(), f32.len());
    assert_ne!(bf16, f32, "bf16 gave exactly the f32 values");
    for (rows, name) in [(&bf16, "bf16"), (&f16, "f16")] {
        for (a, b) in rows.iter().zip(&f32) {
            let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
            let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
            assert!(dot / (norm(a) * norm(b)) > 0.999, "{name}");
        }
    }
    let out = sage(&fixture("gpt2"), &args("fp8"));
    assert_fails_with(&out, &["fp8", "f32, bf16 or f16"]);
}

#[test]
fn sage_paths_names_the_kernels_that_run_here() {
    let out = Command::new(env!("CARGO_BIN_EXE_sage"))
        .args(["paths", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let f32 = v["kernel_f32"].as_str().unwrap();
    let bf16 = v["kernel_bf16"].as_str().unwrap();
    let flags = v["cpu_flags"].as_str().unwrap();
    // The choice follows the flags the same report lists.
    let has = |flag: &str| flags.split(' ').any(|f| f == flag);
    if has("avx512f") {
        assert!(f32.contains("avx512"), "{f32} with {flags}");
    } else if has("avx2") {
        assert!(f32.contains("avx2"), "{f32} with {flags}");
    }
    if has("amx_bf16") {
        assert!(bf16.contains("amx"), "{bf16}");
    } else if has("avx512_bf16") {
        assert!(bf16.contains("avx512-bf16"), "{bf16}");
    } else {
        assert!(bf16.contains("portable"), "{bf16}");
    }
}
