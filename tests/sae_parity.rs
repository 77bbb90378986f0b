//! SAE parity: every committed fixture SAE (each architecture and on-disk
//! format, written by tests/fixtures/make_sae_fixtures.py) must reproduce
//! the feature activations SAELens / the format's published formula gave,
//! to 1e-4, through format auto-detection, `encode`, `encode_features` and
//! `decode`.

mod common;

use common::max_abs_diff;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use sage::sae::{LoadOptions, Sae, SaeError, load_sae};

const TOLERANCE: f32 = 1e-4;

#[derive(serde::Deserialize)]
struct Case {
    name: String,
    path: String,
    format: String,
    hook: String,
    architecture: String,
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/saes")
}

fn cases() -> Vec<Case> {
    let text = std::fs::read_to_string(fixtures().join("cases.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn expected(case: &Case) -> std::collections::HashMap<String, Tensor> {
    let file = fixtures().join(&case.name).join("expected.safetensors");
    candle_core::safetensors::load(file, &Device::Cpu).unwrap()
}

fn load(case: &Case) -> Sae {
    load_sae(&fixtures().join(&case.path), &LoadOptions::default())
        .unwrap_or_else(|e| panic!("{}: {e}", case.name))
}

#[test]
fn every_fixture_is_detected_with_its_format_hook_and_architecture() {
    let cases = cases();
    assert_eq!(cases.len(), 11, "fixture set changed: update this test");
    for case in &cases {
        let sae = load(case);
        assert_eq!(sae.info().format.to_string(), case.format, "{}", case.name);
        assert_eq!(sae.info().hook.to_string(), case.hook, "{}", case.name);
        assert_eq!(sae.activation().name(), case.architecture, "{}", case.name);
        assert_eq!((sae.d_in(), sae.d_sae()), (32, 64), "{}", case.name);
    }
}

#[test]
fn encode_matches_the_reference_activations() {
    for case in cases() {
        let sae = load(&case);
        let want = expected(&case);
        let got = sae.encode(&want["input"]).unwrap();
        let err = max_abs_diff(&got, &want["acts"]);
        assert!(err <= TOLERANCE, "{}: max abs error {err}", case.name);
    }
}

#[test]
fn encoding_selected_features_matches_the_same_columns_of_the_full_encoding() {
    let features = [0u32, 5, 17, 63, 5];
    for case in cases() {
        let sae = load(&case);
        let want = expected(&case);
        let got = sae.encode_features(&want["input"], &features).unwrap();
        let idx = Tensor::new(&features, &Device::Cpu).unwrap();
        let columns = want["acts"].index_select(&idx, 1).unwrap();
        let err = max_abs_diff(&got, &columns);
        assert!(err <= TOLERANCE, "{}: max abs error {err}", case.name);
    }
}

#[test]
fn decode_matches_the_reference_reconstruction() {
    let mut checked = 0;
    for case in cases() {
        let want = expected(&case);
        let Some(decoded) = want.get("decoded") else {
            continue;
        };
        let got = load(&case).decode(&want["acts"]).unwrap();
        let err = max_abs_diff(&got, decoded);
        assert!(err <= TOLERANCE, "{}: max abs error {err}", case.name);
        checked += 1;
    }
    assert!(
        checked >= 7,
        "only {checked} fixtures carry a reconstruction"
    );
}

#[test]
fn inferred_hooks_are_reported_and_configured_facts_are_kept() {
    let by_name = |name: &str| cases().into_iter().find(|c| c.name == name).unwrap();
    let gemma = load(&by_name("gemma-scope-npz"));
    assert_eq!(
        gemma.info().notes,
        vec!["inferred hook blocks.1.hook_resid_post from directory names"]
    );
    let legacy = load(&by_name("saelens-legacy-topk-constnorm"));
    assert_eq!(legacy.info().center_writing_weights, Some(true));
    assert_eq!(legacy.info().model_name.as_deref(), Some("gpt2-small"));
    assert_eq!(
        legacy.input_transform("gpt2"),
        sage::sae::InputTransform::CenterPerToken
    );
    assert!(load(&by_name("saelens-transcoder")).info().transcoder);
}

#[test]
fn a_hook_override_is_used_where_the_files_name_none() {
    let case = cases()
        .into_iter()
        .find(|c| c.name == "gemma-scope-npz")
        .unwrap();
    let hook = "blocks.1.hook_mlp_out".parse().unwrap();
    let options = LoadOptions {
        hook: Some(hook),
        ..LoadOptions::default()
    };
    let sae = load_sae(&fixtures().join(&case.path), &options).unwrap();
    assert_eq!(sae.info().hook, hook);
    assert!(sae.info().notes.is_empty());
}

#[test]
fn bad_requests_fail_with_errors_that_say_what_to_do() {
    let case = cases()
        .into_iter()
        .find(|c| c.name == "saelens-standard")
        .unwrap();
    let sae = load(&case);
    let input = &expected(&case)["input"];
    let err = sae.encode_features(input, &[64]).unwrap_err();
    assert!(matches!(
        err,
        SaeError::FeatureOutOfRange {
            feature: 64,
            max: 63
        }
    ));
    assert!(err.to_string().contains("0..=63"), "{err}");

    let narrow = input.narrow(1, 0, 16).unwrap();
    let err = sae.encode(&narrow).unwrap_err().to_string();
    assert!(
        err.contains("width 32") && err.contains("width 16"),
        "{err}"
    );

    let conflicting = LoadOptions {
        hook: Some("blocks.0.hook_resid_pre".parse().unwrap()),
        ..LoadOptions::default()
    };
    let err = load_sae(&fixtures().join(&case.path), &conflicting).unwrap_err();
    assert!(matches!(err, SaeError::HookConflict { .. }), "{err}");

    let forced = LoadOptions {
        format: Some(sage::sae::SaeFormat::LlamaScope),
        ..LoadOptions::default()
    };
    let err = load_sae(&fixtures().join(&case.path), &forced)
        .unwrap_err()
        .to_string();
    assert!(err.contains("hyperparams.json"), "{err}");
}

/// A fake Hugging Face hub on 127.0.0.1: serves files under `root` at
/// `/{repo}/resolve/main/{path}` with the headers hf-hub 0.5 reads (ETag,
/// X-Repo-Commit, Content-Range for ranged GETs), and logs request paths.
struct FakeHub {
    url: String,
    requests: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

fn start_fake_hub(repo: &'static str, root: PathBuf) -> FakeHub {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let requests = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = requests.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            let mut range = None;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if line.trim().is_empty() {
                    break;
                }
                if let Some(value) = line.to_ascii_lowercase().strip_prefix("range: bytes=") {
                    let (a, b) = value.trim().split_once('-').unwrap();
                    range = Some((a.parse::<usize>().unwrap(), b.parse::<usize>().unwrap()));
                }
            }
            let path = request_line
                .split_whitespace()
                .nth(1)
                .unwrap_or("")
                .to_string();
            log.lock().unwrap().push(path.clone());
            let prefix = format!("/{repo}/resolve/main/");
            let file = path.strip_prefix(&prefix).map(|p| root.join(p));
            let response = match file.and_then(|f| std::fs::read(f).ok()) {
                Some(bytes) => {
                    let (a, b) = range.unwrap_or((0, bytes.len() - 1));
                    let b = b.min(bytes.len() - 1);
                    let mut head = format!(
                        "HTTP/1.1 206 Partial Content\r\nContent-Length: {}\r\nContent-Range: bytes {a}-{b}/{}\r\n\
                         ETag: \"{:x}\"\r\nX-Repo-Commit: {}\r\nConnection: close\r\n\r\n",
                        b + 1 - a,
                        bytes.len(),
                        bytes.len() * 7919 + path.len(),
                        "ab".repeat(20),
                    )
                    .into_bytes();
                    head.extend_from_slice(&bytes[a..=b]);
                    head
                }
                None => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    .to_vec(),
            };
            stream.write_all(&response).unwrap();
        }
    });
    FakeHub { url, requests }
}

const TEST_REGISTRY: &str = r#"
[[release]]
name = "tiny-res"
repo = "sage-test/tiny-saes"
format = "saelens"
model = "tiny-gpt2"
hf_model = "sage-test/tiny-gpt2"
center_writing_weights = true

[[release.sae]]
id = "blocks.1.hook_resid_pre"
path = "saelens-standard/sae"
hook = "blocks.1.hook_resid_pre"

[[release]]
name = "tiny-gemma-scope"
repo = "sage-test/tiny-saes"
format = "gemma-scope"
model = "tiny-gemma"
hf_model = "sage-test/tiny-gemma"

[[release.sae]]
id = "layer_1/canonical"
path = "gemma-scope-npz/gemma-scope-2b-pt-res/layer_1/width_64/average_l0_20"
hook = "blocks.1.hook_resid_post"
"#;

#[tokio::test]
async fn registry_names_resolve_through_the_hub_cache() {
    use sage::hub::HubSettings;
    use sage::hub::registry::Registry;

    let hub = start_fake_hub("sage-test/tiny-saes", fixtures());
    let cache = tempfile::tempdir().unwrap();
    let registry = Registry::parse(TEST_REGISTRY).unwrap();
    let online = HubSettings {
        endpoint: hub.url.clone(),
        cache_dir: cache.path().to_path_buf(),
        offline: false,
        token: None,
        progress: false,
    };
    let options = LoadOptions::default();

    let sae = sage::open::open_sae(
        "tiny-res/blocks.1.hook_resid_pre",
        &registry,
        &online,
        &options,
    )
    .await
    .unwrap();
    // The registry's override wins over the file's `center_writing_weights: false`.
    assert_eq!(sae.info().center_writing_weights, Some(true));
    let case = cases()
        .into_iter()
        .find(|c| c.name == "saelens-standard")
        .unwrap();
    let want = expected(&case);
    assert!(max_abs_diff(&sae.encode(&want["input"]).unwrap(), &want["acts"]) <= TOLERANCE);
    let seen = hub.requests.lock().unwrap().clone();
    assert!(
        seen.contains(
            &"/sage-test/tiny-saes/resolve/main/saelens-standard/sae/sae_weights.safetensors"
                .to_string()
        ),
        "{seen:?}"
    );

    let gemma = sage::open::open_sae(
        "tiny-gemma-scope/layer_1/canonical",
        &registry,
        &online,
        &options,
    )
    .await
    .unwrap();
    let case = cases()
        .into_iter()
        .find(|c| c.name == "gemma-scope-npz")
        .unwrap();
    let want = expected(&case);
    assert!(max_abs_diff(&gemma.encode(&want["input"]).unwrap(), &want["acts"]) <= TOLERANCE);
    assert!(gemma.info().notes.is_empty(), "the registry names the hook");

    // Offline, cached files are used without a single request.
    let before = hub.requests.lock().unwrap().len();
    let offline = HubSettings {
        offline: true,
        ..online.clone()
    };
    sage::open::open_sae(
        "tiny-res/blocks.1.hook_resid_pre",
        &registry,
        &offline,
        &options,
    )
    .await
    .unwrap();
    assert_eq!(hub.requests.lock().unwrap().len(), before);

    // Offline with an empty cache says why it cannot proceed.
    let empty = tempfile::tempdir().unwrap();
    let cold = HubSettings {
        cache_dir: empty.path().to_path_buf(),
        ..offline
    };
    let err = sage::open::open_sae(
        "tiny-res/blocks.1.hook_resid_pre",
        &registry,
        &cold,
        &options,
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("HF_HUB_OFFLINE") && err.contains("sage-test/tiny-saes"),
        "{err}"
    );

    // A file the hub does not have is an error naming it.
    let missing =
        Registry::parse(&TEST_REGISTRY.replace("saelens-standard/sae", "nowhere")).unwrap();
    let err = sage::open::open_sae(
        "tiny-res/blocks.1.hook_resid_pre",
        &missing,
        &online,
        &options,
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("nowhere/cfg.json"), "{err}");
}

#[derive(serde::Deserialize)]
struct ModelCase {
    name: String,
    model: String,
    path: String,
    hook: String,
    sequences: Vec<Vec<u32>>,
}

fn model_cases() -> Vec<ModelCase> {
    let text = std::fs::read_to_string(fixtures().join("model_cases.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn model_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/models")
        .join(name)
}

/// Expected activations of `feature` per sequence, from the fixture.
fn expected_feature(case: &ModelCase, feature: u32) -> Vec<Vec<f32>> {
    let file = fixtures()
        .join("on-models")
        .join(&case.name)
        .join("expected.safetensors");
    let tensors = candle_core::safetensors::load(file, &Device::Cpu).unwrap();
    (0..case.sequences.len())
        .map(|i| {
            let acts: Vec<Vec<f32>> = tensors[&format!("seq{i}")].to_vec2().unwrap();
            acts.iter().map(|row| row[feature as usize]).collect()
        })
        .collect()
}

fn max_diff(a: &[Vec<f32>], b: &[Vec<f32>]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .flat_map(|(x, y)| {
            assert_eq!(x.len(), y.len());
            x.iter().zip(y).map(|(p, q)| (p - q).abs())
        })
        .fold(0.0, f32::max)
}

/// Features that fire somewhere in the case's sequences (and one that fires least).
fn busy_features(case: &ModelCase) -> Vec<u32> {
    let mut busy: Vec<(usize, u32)> = (0..64u32)
        .map(|f| {
            let fired = expected_feature(case, f)
                .iter()
                .flatten()
                .filter(|v| **v > 0.0)
                .count();
            (fired, f)
        })
        .collect();
    busy.sort();
    vec![busy[63].1, busy[50].1, busy[32].1]
}

#[test]
fn model_and_sae_together_match_the_reference_library() {
    for case in model_cases() {
        let loaded = sage::open::load_model(
            model_dir(&case.model).to_str().unwrap(),
            &sage::model::LoadOptions::default(),
        )
        .unwrap();
        let sae = load_sae(&fixtures().join(&case.path), &LoadOptions::default()).unwrap();
        assert_eq!(sae.info().hook.to_string(), case.hook);
        sage::sae::check_model_name(&sae, &loaded.name).unwrap();
        for feature in busy_features(&case) {
            let got = sage::sae::feature_activations(
                loaded.model.as_ref(),
                &sae,
                &case.sequences,
                feature,
            )
            .unwrap();
            let err = max_diff(&got, &expected_feature(&case, feature));
            assert!(
                err <= TOLERANCE,
                "{} feature {feature}: max abs error {err}",
                case.name
            );
        }
    }
}

#[test]
fn gpt2_saes_trained_on_centred_residuals_need_the_centring() {
    let case = model_cases()
        .into_iter()
        .find(|c| c.name == "gpt2-res-centred")
        .unwrap();
    let loaded = sage::open::load_model(
        model_dir(&case.model).to_str().unwrap(),
        &sage::model::LoadOptions::default(),
    )
    .unwrap();
    let sae = load_sae(&fixtures().join(&case.path), &LoadOptions::default()).unwrap();
    assert_eq!(
        sae.input_transform(loaded.model.family()),
        sage::sae::InputTransform::CenterPerToken
    );
    // Without the centring the values are clearly off: the rule matters.
    let feature = busy_features(&case)[0];
    let raw: Vec<Vec<f32>> = case
        .sequences
        .iter()
        .map(|ids| {
            let acts = loaded.model.run_to_hook(ids, sae.info().hook).unwrap();
            let col = sae.encode_features(&acts, &[feature]).unwrap();
            col.flatten_all().unwrap().to_vec1().unwrap()
        })
        .collect();
    assert!(max_diff(&raw, &expected_feature(&case, feature)) > 1e-2);
}

#[test]
fn mismatched_models_and_saes_are_refused_before_compute() {
    let loaded = sage::open::load_model(
        model_dir("llama-gqa").to_str().unwrap(),
        &sage::model::LoadOptions::default(),
    )
    .unwrap();
    let gpt2_case = model_cases()
        .into_iter()
        .find(|c| c.model == "gpt2")
        .unwrap();
    let gpt2_sae = load_sae(&fixtures().join(&gpt2_case.path), &LoadOptions::default()).unwrap();
    let err = sage::sae::check_model_name(&gpt2_sae, &loaded.name)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`gpt2`") && err.contains("llama-gqa") && err.contains("--ignore-model-name"),
        "{err}"
    );

    // An SAE of width 16 on a model of width 32, and one reading layer 7 of a 2-layer model.
    let dir = tempfile::tempdir().unwrap();
    for (name, d_in, hook) in [
        ("narrow", 16, "blocks.0.hook_resid_post"),
        ("deep", 32, "blocks.7.hook_resid_post"),
    ] {
        let sae_dir = dir.path().join(name);
        std::fs::create_dir(&sae_dir).unwrap();
        let cfg = serde_json::json!({"architecture": "standard", "d_in": d_in, "d_sae": 8,
            "metadata": {"sae_lens_version": "6.0.0", "hook_name": hook}});
        std::fs::write(sae_dir.join("cfg.json"), cfg.to_string()).unwrap();
        let zeros =
            |shape: &[usize]| Tensor::zeros(shape, candle_core::DType::F32, &Device::Cpu).unwrap();
        let tensors = std::collections::HashMap::from([
            ("W_enc".to_string(), zeros(&[d_in, 8])),
            ("W_dec".to_string(), zeros(&[8, d_in])),
            ("b_enc".to_string(), zeros(&[8])),
            ("b_dec".to_string(), zeros(&[d_in])),
        ]);
        candle_core::safetensors::save(&tensors, sae_dir.join("sae_weights.safetensors")).unwrap();
        let sae = load_sae(&sae_dir, &LoadOptions::default()).unwrap();
        let err = sage::sae::feature_activations(loaded.model.as_ref(), &sae, &[vec![1, 2]], 0)
            .unwrap_err()
            .to_string();
        let want = if name == "narrow" {
            "width 16 but the model's d_model is 32"
        } else {
            "layers 0..=1"
        };
        assert!(err.contains(want), "{err}");
    }
}

fn sage_cli(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_sage"))
        .args(args)
        .env("HF_HUB_OFFLINE", "1")
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

/// Runs `sage activations --model MODEL --sae SAE EXTRA...`.
fn run_activations(model: &Path, sae: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "activations",
        "--model",
        model.to_str().unwrap(),
        "--sae",
        sae,
    ];
    args.extend_from_slice(extra);
    sage_cli(&args)
}

fn ids_arg(ids: &[u32]) -> String {
    ids.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
}

#[test]
fn the_cli_prints_neuronpedia_shaped_records_matching_the_reference() {
    for case in model_cases() {
        let feature = busy_features(&case)[0];
        let want = expected_feature(&case, feature);
        let model = model_dir(&case.model);
        let sae = fixtures().join(&case.path);
        let feature_arg = feature.to_string();
        let mut args = vec!["--feature", &feature_arg, "--json"];
        let id_args: Vec<String> = case.sequences.iter().map(|s| ids_arg(s)).collect();
        for ids in &id_args {
            args.extend(["--token-ids", ids.as_str()]);
        }
        let out = run_activations(&model, sae.to_str().unwrap(), &args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let records: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(records.len(), case.sequences.len());
        let got: Vec<Vec<f32>> = records
            .iter()
            .map(|r| serde_json::from_value(r["values"].clone()).unwrap())
            .collect();
        let err = max_diff(&got, &want);
        assert!(err <= TOLERANCE, "{}: CLI max abs error {err}", case.name);
        for (record, ids) in records.iter().zip(&case.sequences) {
            assert_eq!(record["token_ids"], serde_json::json!(ids));
            assert_eq!(record["hook"], case.hook);
            assert_eq!(record["feature"], feature);
            assert_eq!(record["model"], case.model);
            assert_eq!(record["tokens"].as_array().unwrap().len(), ids.len());
            let values: Vec<f32> = serde_json::from_value(record["values"].clone()).unwrap();
            let max = values.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            assert_eq!(record["max_value"].as_f64().unwrap() as f32, max);
            let at = record["max_value_token_index"].as_u64().unwrap() as usize;
            assert_eq!(values[at], max);
        }

        // One input: a single object, not an array.
        let one = run_activations(
            &model,
            sae.to_str().unwrap(),
            &[
                "--feature",
                &feature_arg,
                "--json",
                "--token-ids",
                &id_args[0],
            ],
        );
        let record: serde_json::Value = serde_json::from_slice(&one.stdout).unwrap();
        assert!(record.is_object(), "{record}");
        let got: Vec<f32> = serde_json::from_value(record["values"].clone()).unwrap();
        assert!(max_diff(&[got], &want[..1]) <= TOLERANCE);
    }
}

#[test]
fn the_cli_runs_texts_and_prints_a_plain_table_when_piped() {
    let case = model_cases()
        .into_iter()
        .find(|c| c.model == "gpt2")
        .unwrap();
    let model = model_dir(&case.model);
    let sae = fixtures().join(&case.path);
    let out = run_activations(
        &model,
        sae.to_str().unwrap(),
        &[
            "--feature",
            "3",
            "--text",
            "Hello world!",
            "--text",
            "The fox met the dog in May.",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(!text.contains('\x1b'), "NO_COLOR / a pipe means no escapes");
    assert!(
        text.starts_with("[0] ") && text.contains("\n[1] "),
        "{text}"
    );
    assert!(text.contains("feature 3"), "{text}");
    // GPT-2 prepends <|endoftext|> (id 0 in the fixture tokenizer) to texts.
    let first_id = text.lines().nth(1).unwrap().split_whitespace().nth(1);
    assert_eq!(first_id, Some("0"), "{text}");
}

#[test]
fn the_cli_fails_clearly_on_bad_requests() {
    let model = model_dir("gpt2");
    let gpt2_case = model_cases()
        .into_iter()
        .find(|c| c.model == "gpt2")
        .unwrap();
    let sae = fixtures().join(&gpt2_case.path);
    let run = |extra: &[&str]| {
        let out = run_activations(&model, sae.to_str().unwrap(), extra);
        assert!(!out.status.success());
        String::from_utf8(out.stderr).unwrap()
    };
    let err = run(&["--feature", "64", "--token-ids", "1,2"]);
    assert!(err.contains("0..=63"), "{err}");
    let err = run(&[
        "--feature",
        "1",
        "--token-ids",
        "1,2",
        "--hook",
        "blocks.0.hook_resid_post",
    ]);
    assert!(err.contains("disagrees"), "{err}");
    let err = run(&["--feature", "1", "--token-ids", "1,x"]);
    assert!(err.contains("bad token id `x`"), "{err}");

    let llama = model_dir("llama-gqa");
    let out = run_activations(
        &llama,
        sae.to_str().unwrap(),
        &["--feature", "1", "--token-ids", "1,2"],
    );
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("trained on `gpt2`"), "{err}");

    let out = run_activations(
        &model,
        "no-such-release/x",
        &["--feature", "1", "--token-ids", "1,2"],
    );
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("gpt2-small-res-jb"), "{err}");
}

/// A Gemma Scope `params.npz` whose first array claims a 2^20 x 2^20 shape
/// (4 TiB) in a 8 KiB member: refused with a typed error naming the array,
/// before candle reserves memory for it.
#[test]
fn an_npz_shape_larger_than_the_file_is_refused_before_allocating() {
    let case = cases()
        .into_iter()
        .find(|c| c.name == "gemma-scope-npz")
        .unwrap();
    let original = fixtures().join(&case.path);
    let dir = tempfile::tempdir().unwrap();
    // Same path tail, so the format and hook are detected as for the fixture.
    let copy = dir.path().join(&case.path);
    std::fs::create_dir_all(&copy).unwrap();
    for entry in std::fs::read_dir(&original).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), copy.join(entry.file_name())).unwrap();
    }
    let npz = copy.join("params.npz");
    let mut bytes = std::fs::read(&npz).unwrap();
    // Rewrite the first header's shape in place, using its space padding,
    // so every zip offset stays valid.
    let at = bytes.windows(10).position(|w| w == b"'shape': (").unwrap() + 9;
    let end = at + bytes[at..].iter().position(|&b| b == b'\n').unwrap();
    let huge = format!("{:<width$}", "(1048576, 1048576), }", width = end - at);
    bytes[at..end].copy_from_slice(huge.as_bytes());
    std::fs::write(&npz, &bytes).unwrap();

    let err = load_sae(&copy, &LoadOptions::default()).unwrap_err();
    assert!(matches!(err, SaeError::Weights { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("needs") && text.contains("params.npz"),
        "{text}"
    );
}
