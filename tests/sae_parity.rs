//! SAE parity: every committed fixture SAE (each architecture and on-disk
//! format, written by tests/fixtures/make_sae_fixtures.py) must reproduce
//! the feature activations SAELens / the format's published formula gave,
//! to 1e-4, through format auto-detection, `encode`, `encode_features` and
//! `decode`.

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

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
    assert_eq!(a.dims(), b.dims());
    (a - b)
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
    use sage::sae::hub::HubConfig;
    use sage::sae::registry::Registry;

    let hub = start_fake_hub("sage-test/tiny-saes", fixtures());
    let cache = tempfile::tempdir().unwrap();
    let registry = Registry::parse(TEST_REGISTRY).unwrap();
    let online = HubConfig {
        endpoint: Some(hub.url.clone()),
        cache_dir: Some(cache.path().to_path_buf()),
        offline: false,
    };
    let options = LoadOptions::default();

    let sae = sage::sae::open_sae(
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

    let gemma = sage::sae::open_sae(
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
    let offline = HubConfig {
        offline: true,
        ..online.clone()
    };
    sage::sae::open_sae(
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
    let cold = HubConfig {
        cache_dir: Some(empty.path().to_path_buf()),
        ..offline
    };
    let err = sage::sae::open_sae(
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
    let err = sage::sae::open_sae(
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
