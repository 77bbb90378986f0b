//! The boundaries of docs/ARCHITECTURE.md, checked on the crate graph: the
//! core is `no_std` and depends on serde, serde_json and thiserror only;
//! candle is a dependency of the tensor crate alone; the tensor crate does
//! no HTTP and draws no terminal; only the app sees ratatui and crossterm.

use std::collections::BTreeSet;
use std::path::Path;

fn manifest(relative: &str) -> toml::Table {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    let text = std::fs::read_to_string(&path).unwrap();
    text.parse().unwrap()
}

/// Names of the normal (not dev, not build) dependencies of a manifest.
fn dependencies(relative: &str) -> BTreeSet<String> {
    manifest(relative)
        .get("dependencies")
        .and_then(|d| d.as_table())
        .map(|d| d.keys().cloned().collect())
        .unwrap_or_default()
}

#[test]
fn the_core_depends_on_serde_and_thiserror_only_and_has_no_std() {
    let deps = dependencies("crates/sage-core/Cargo.toml");
    let allowed: BTreeSet<String> = ["serde", "serde_json", "thiserror"]
        .map(String::from)
        .into();
    assert_eq!(deps, allowed);
    let lib = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/sage-core/src/lib.rs"),
    )
    .unwrap();
    assert!(
        lib.lines().any(|l| l.trim() == "#![no_std]"),
        "sage-core must stay no_std so std::fs, std::time and threads cannot be named"
    );
}

#[test]
fn only_the_tensor_crate_depends_on_candle() {
    let tensor = dependencies("crates/sage-tensor/Cargo.toml");
    assert!(tensor.contains("candle-core"), "{tensor:?}");
    for app_or_core in ["Cargo.toml", "crates/sage-core/Cargo.toml"] {
        let deps = dependencies(app_or_core);
        let candle: Vec<_> = deps.iter().filter(|d| d.starts_with("candle")).collect();
        assert!(candle.is_empty(), "{app_or_core} depends on {candle:?}");
    }
}

#[test]
fn the_tensor_crate_does_no_http_no_async_and_no_terminal() {
    let deps = dependencies("crates/sage-tensor/Cargo.toml");
    for io in [
        "tokio",
        "reqwest",
        "hf-hub",
        "ratatui",
        "crossterm",
        "futures",
    ] {
        assert!(!deps.contains(io), "sage-tensor depends on {io}");
    }
    assert!(deps.contains("sage-core"));
}

#[test]
fn the_app_is_the_crate_that_holds_io_and_sits_on_both_libraries() {
    let deps = dependencies("Cargo.toml");
    for needed in ["sage-core", "sage-tensor", "tokio", "reqwest", "ratatui"] {
        assert!(deps.contains(needed), "the app lacks {needed}");
    }
}

/// Every `.rs` file under `dir`, recursively.
fn rust_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

#[test]
fn only_the_session_module_opens_session_logs_for_writing() {
    // One writer per log: everything else goes through `SessionStore`
    // (create, reopen), which hands out the locked `LogWriter`.
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let session = src.join("session");
    let mut offenders = Vec::new();
    for file in rust_files(&src) {
        if file.starts_with(&session) {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        if text.contains("LogWriter::create") || text.contains("LogWriter::resume") {
            offenders.push(file.display().to_string());
        }
    }
    assert!(
        offenders.is_empty(),
        "these files open session logs themselves: {offenders:?}"
    );
}
