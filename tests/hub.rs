//! Repo ids resolved through a fake Hugging Face hub: a real HTTP/1.1 server
//! on 127.0.0.1 serving the tiny fixture model the way huggingface.co does
//! (`/{repo}/resolve/{revision}/{file}`, range requests answered with 206,
//! `etag` and `x-repo-commit` headers), then the populated cache read offline.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use sage::hub::{HubError, HubSettings, resolve_model};
use sage::model::{HookKind, HookPoint, LoadOptions};
use sage::open::{load_hub_model, load_model};

mod common;
use common::{FakeServer, Request, Response};

const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

/// A fake hub: serves `files` (URL path -> bytes) as huggingface.co does.
fn start_hub(files: HashMap<String, Vec<u8>>) -> FakeServer {
    FakeServer::start(move |request, _| serve(request, &files))
}

fn serve(request: &Request, files: &HashMap<String, Vec<u8>>) -> Response {
    let Some(body) = files.get(&request.path) else {
        return Response::bytes(404, b"Entry not found".to_vec())
            .header("x-error-code", "EntryNotFound");
    };
    let range = request.header("range").map(|value| {
        let spec = value.trim().trim_start_matches("bytes=");
        let (a, b) = spec.split_once('-').unwrap();
        (a.parse::<usize>().unwrap(), b.parse::<usize>().unwrap())
    });
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    body.hash(&mut hasher);
    let etag = format!("\"{:016x}\"", hasher.finish());
    let (start, stop) = match range {
        Some((a, b)) => (a, b.min(body.len() - 1)),
        None => (0, body.len() - 1),
    };
    Response::bytes(206, body[start..=stop].to_vec())
        .header("etag", &etag)
        .header("x-repo-commit", COMMIT)
        .header(
            "content-range",
            &format!("bytes {start}-{stop}/{}", body.len()),
        )
}

fn fixture_model(file: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/models/llama-gqa")
            .join(file),
    )
    .unwrap()
}

/// One repo with a single weights file, one with two shards and an index.
fn hub_files() -> HashMap<String, Vec<u8>> {
    let mut files = HashMap::new();
    for file in ["config.json", "tokenizer.json", "model.safetensors"] {
        files.insert(
            format!("/tiny/llama/resolve/main/{file}"),
            fixture_model(file),
        );
    }
    let weights = fixture_model("model.safetensors");
    let (a, b) = weights.split_at(weights.len() / 2);
    let index = br#"{"metadata": {}, "weight_map": {
        "model.embed_tokens.weight": "model-00001-of-00002.safetensors",
        "model.norm.weight": "model-00002-of-00002.safetensors",
        "lm_head.weight": "model-00002-of-00002.safetensors"}}"#;
    for (file, body) in [
        ("config.json", fixture_model("config.json")),
        ("tokenizer.json", fixture_model("tokenizer.json")),
        ("model.safetensors.index.json", index.to_vec()),
        ("model-00001-of-00002.safetensors", a.to_vec()),
        ("model-00002-of-00002.safetensors", b.to_vec()),
    ] {
        files.insert(format!("/tiny/sharded/resolve/main/{file}"), body);
    }
    files
}

fn settings(cache: &Path, endpoint: &str, offline: bool) -> HubSettings {
    HubSettings {
        cache_dir: cache.to_path_buf(),
        endpoint: endpoint.to_string(),
        offline,
        token: None,
        progress: false,
    }
}

fn read(path: &PathBuf) -> Vec<u8> {
    std::fs::read(path).unwrap()
}

#[tokio::test]
async fn downloads_into_the_python_cache_layout_then_resolves_offline_from_it() {
    let hub = start_hub(hub_files());
    let cache = tempfile::tempdir().unwrap();
    let online = settings(cache.path(), hub.url(), false);

    let files = resolve_model("tiny/llama", &online).await.unwrap();
    assert_eq!(read(&files.config), fixture_model("config.json"));
    assert_eq!(read(&files.tokenizer), fixture_model("tokenizer.json"));
    assert_eq!(files.weights.len(), 1);
    assert_eq!(read(&files.weights[0]), fixture_model("model.safetensors"));
    let repo_dir = cache.path().join("models--tiny--llama");
    assert_eq!(
        std::fs::read_to_string(repo_dir.join("refs/main")).unwrap(),
        COMMIT
    );
    assert_eq!(files.dir(), repo_dir.join("snapshots").join(COMMIT));

    let sharded = resolve_model("tiny/sharded", &online).await.unwrap();
    let joined: Vec<u8> = sharded.weights.iter().flat_map(read).collect();
    assert_eq!(joined, fixture_model("model.safetensors"));
    assert!(sharded.weights[0].ends_with("model-00001-of-00002.safetensors"));

    let served = hub.requests().len();
    let offline = settings(cache.path(), hub.url(), true);
    assert_eq!(resolve_model("tiny/llama", &offline).await.unwrap(), files);
    assert_eq!(
        resolve_model("tiny/sharded", &offline).await.unwrap(),
        sharded
    );
    assert_eq!(hub.requests().len(), served, "offline mode made requests");

    // The cached snapshot runs exactly like the fixture directory it came from.
    let opts = LoadOptions::default();
    let from_hub = load_hub_model("tiny/llama", &offline, &opts).unwrap();
    assert_eq!(from_hub.name, "tiny/llama");
    let local_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/models/llama-gqa");
    let local = load_model(local_dir.to_str().unwrap(), &opts).unwrap();
    let hook = HookPoint::new(1, HookKind::ResidPost);
    let a = from_hub.model.run_to_hook(&[5, 9, 2], hook).unwrap();
    let b = local.model.run_to_hook(&[5, 9, 2], hook).unwrap();
    assert_eq!(a.to_vec2::<f32>().unwrap(), b.to_vec2::<f32>().unwrap());
}

#[tokio::test]
async fn missing_repos_and_uncached_files_name_the_file_and_the_fix() {
    let hub = start_hub(hub_files());
    let cache = tempfile::tempdir().unwrap();

    let err = resolve_model("tiny/absent", &settings(cache.path(), hub.url(), false))
        .await
        .unwrap_err();
    assert!(matches!(err, HubError::NotFound { .. }), "{err}");
    assert!(err.to_string().contains("config.json"), "{err}");

    let err = resolve_model("tiny/llama", &settings(cache.path(), hub.url(), true))
        .await
        .unwrap_err();
    assert!(matches!(err, HubError::NotCached { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("config.json") && msg.contains("huggingface-cli download tiny/llama"),
        "{msg}"
    );
}

/// Runs `sage hook` on a repo id with only the given HF_* variables set.
fn sage_hook(repo: &str, vars: &[(&str, &Path)], endpoint: &str) -> std::process::Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_sage"));
    cmd.args([
        "hook",
        "--model",
        repo,
        "--hook",
        "blocks.0.hook_resid_pre",
        "--token-ids",
        "5,9",
        "--json",
    ]);
    for var in [
        "HF_HOME",
        "HF_HUB_CACHE",
        "HF_HUB_OFFLINE",
        "HF_TOKEN",
        "HF_ENDPOINT",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("HF_ENDPOINT", endpoint);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

#[test]
fn the_binary_honours_hf_home_hf_endpoint_and_hf_hub_offline() {
    let hub = start_hub(hub_files());
    let home = tempfile::tempdir().unwrap();
    let out = sage_hook("tiny/llama", &[("HF_HOME", home.path())], hub.url());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["model"], "tiny/llama");
    assert_eq!(json["shape"], serde_json::json!([2, 32]));
    let snapshot = home
        .path()
        .join("hub/models--tiny--llama/snapshots")
        .join(COMMIT);
    assert!(snapshot.join("model.safetensors").is_file());

    let served = hub.requests().len();
    let offline = [("HF_HOME", home.path()), ("HF_HUB_OFFLINE", Path::new("1"))];
    let again = sage_hook("tiny/llama", &offline, hub.url());
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert_eq!(again.stdout, out.stdout);
    assert_eq!(hub.requests().len(), served, "offline run made requests");

    let empty = tempfile::tempdir().unwrap();
    let missing = sage_hook(
        "tiny/llama",
        &[
            ("HF_HOME", empty.path()),
            ("HF_HUB_OFFLINE", Path::new("1")),
        ],
        hub.url(),
    );
    assert!(!missing.status.success());
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(
        stderr.contains("config.json") && stderr.contains("huggingface-cli download tiny/llama"),
        "{stderr}"
    );
}
