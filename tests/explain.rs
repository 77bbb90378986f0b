//! `sage explain`, `sage sessions` and `sage replay` end to end: the real
//! binary on the synthetic source with the heuristic reasoner, and with an
//! LLM reasoner talking to a scripted OpenAI-compatible server on
//! 127.0.0.1, in a temp data dir.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

mod common;
use common::{FakeServer, Response, ok};

fn sage(data_dir: &Path, args: &[&str]) -> Output {
    sage_with_env(data_dir, args, &[])
}

fn sage_with_env(data_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sage"));
    command
        .args(args)
        .env("SAGE_DATA_DIR", data_dir)
        .env_remove("OPENAI_API_KEY")
        .env_remove("ANTHROPIC_API_KEY")
        .env_remove("SAGE_LLM_API_KEY");
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().expect("the sage binary runs")
}

fn session_count(data_dir: &Path) -> usize {
    std::fs::read_dir(data_dir.join("sessions"))
        .map(|d| d.count())
        .unwrap_or(0)
}

#[test]
fn explain_writes_one_report_per_feature_and_skips_them_on_a_rerun() {
    let data = tempfile::tempdir().unwrap();
    let out = data.path().join("out");
    let out_arg = out.to_str().unwrap();
    let args = [
        "explain",
        "--source",
        "synthetic",
        "--features",
        "0..3",
        "--jobs",
        "2",
        "--max-rounds",
        "3",
        "--out",
        out_arg,
    ];
    let summary = ok(sage(data.path(), &args));

    for feature in 0..3u32 {
        let text = std::fs::read_to_string(out.join(format!("feature-{feature}.json"))).unwrap();
        let report: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(report["schema_version"], 1);
        assert_eq!(report["feature"], feature);
        assert_eq!(report["model"], "synthetic");
        assert_eq!(report["reasoner"], "heuristic");
        assert_eq!(report["status"], "concluded");
        let label = report["label"].as_str().unwrap();
        assert!(!label.trim().is_empty() && label.split_whitespace().count() <= 8);
        assert!(report["stop_reason"].is_string());
        assert!(!report["hypotheses"].as_array().unwrap().is_empty());
        let experiments = report["experiments"].as_array().unwrap();
        assert!(!experiments.is_empty());
        for e in experiments.iter().filter(|e| e["status"] == "done") {
            assert_eq!(
                e["tokens"].as_array().unwrap().len(),
                e["values"].as_array().unwrap().len()
            );
            assert!(e["f1"].is_number());
        }
        let session = report["session_id"].as_str().unwrap();
        assert!(
            data.path()
                .join("sessions")
                .join(format!("{session}.jsonl"))
                .is_file()
        );
        let md = std::fs::read_to_string(out.join(format!("feature-{feature}.md"))).unwrap();
        assert!(md.contains(label), "the Markdown carries the label");
        assert!(summary.contains(&format!("| {feature} | explained | {label}")));
    }
    assert_eq!(
        std::fs::read_to_string(out.join("summary.md")).unwrap(),
        summary
    );
    assert_eq!(session_count(data.path()), 3);

    // A re-run finds every feature finished: no new sessions, same reports.
    let rerun = ok(sage(data.path(), &args));
    assert_eq!(session_count(data.path()), 3);
    assert_eq!(rerun.matches("done earlier").count(), 3, "{rerun}");

    // The sessions are listed as concluded.
    let listing = ok(sage(data.path(), &["sessions", "--json"]));
    let rows: Vec<Value> = listing
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|r| r["status"] == "concluded"));
}

#[test]
fn replay_exports_reports_at_any_point_of_a_session() {
    let data = tempfile::tempdir().unwrap();
    let out = data.path().join("out");
    ok(sage(
        data.path(),
        &[
            "explain",
            "--source",
            "synthetic",
            "--features",
            "4",
            "--out",
            out.to_str().unwrap(),
        ],
    ));
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("feature-4.json")).unwrap())
            .unwrap();
    let id = report["session_id"].as_str().unwrap();
    let total = report["events"].as_u64().unwrap();

    // The whole log replays to exactly the report explain wrote.
    let full: Value =
        serde_json::from_str(&ok(sage(data.path(), &["replay", id, "--export", "json"]))).unwrap();
    assert_eq!(full, report);

    // After the Start event alone nothing is known yet.
    let start: Value = serde_json::from_str(&ok(sage(
        data.path(),
        &["replay", id, "--at", "1", "--export", "json"],
    )))
    .unwrap();
    assert_eq!(start["events"], 1);
    assert_eq!(start["status"], "interrupted");
    assert!(start["hypotheses"].as_array().unwrap().is_empty());
    assert!(start["label"].is_null());
    assert!(total > 1);

    let html = ok(sage(data.path(), &["replay", id, "--export", "html"]));
    assert!(html.starts_with("<!doctype html>"));
    assert!(html.contains("<span class=\"tok\""));
    let label = report["label"].as_str().unwrap();
    assert!(html.contains(&label.replace('&', "&amp;").replace('<', "&lt;")));

    let md = ok(sage(data.path(), &["replay", id]));
    assert!(md.contains("## Hypotheses") && md.contains("## Experiments"));
}

#[test]
fn bad_requests_fail_with_a_message_and_no_output() {
    let data = tempfile::tempdir().unwrap();
    let out = data.path().join("out");
    let failed = sage(
        data.path(),
        &[
            "explain",
            "--source",
            "synthetic",
            "--features",
            "0..9999",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert!(!failed.status.success());
    assert!(String::from_utf8_lossy(&failed.stderr).contains("out of range"));
    assert!(!out.exists());

    let missing = sage(data.path(), &["replay", "no-such-session"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("sage sessions"));

    // A batch has nobody to approve steps: attended gates are refused
    // before any session starts, with the way to get them.
    for gate in ["review", "step"] {
        let gated = sage(
            data.path(),
            &[
                "explain",
                "--source",
                "synthetic",
                "--features",
                "0",
                "--gate",
                gate,
                "--out",
                out.to_str().unwrap(),
            ],
        );
        assert!(!gated.status.success(), "--gate {gate} was accepted");
        let stderr = String::from_utf8_lossy(&gated.stderr);
        assert!(
            stderr.contains(&format!("--gate {gate}")) && stderr.contains("sage explore"),
            "{stderr}"
        );
        assert!(!out.exists());
        assert_eq!(session_count(data.path()), 0);
    }
}

/// The scripted answer to each reasoning step, chosen by the schema title
/// the client sends (`hypotheses`, `experiments`, `verdicts`, `review`,
/// `conclusion`).
fn scripted_answer(step: &str) -> serde_json::Value {
    use serde_json::json;
    match step {
        "hypotheses" => json!({"hypotheses": [{
            "description": "the word cat",
            "evidence": "cat in the top examples",
            "prediction": "fires on cat, not on dog"}]}),
        "experiments" => json!({"experiments": [
            {"hypothesis": "H1", "text": "The cat sat on the mat.", "firing": ["cat"],
             "strength": null, "kind": "positive", "rationale": "the claim"},
            {"hypothesis": "H1", "text": "The dog sat on the mat.", "firing": [],
             "strength": null, "kind": "control", "rationale": "a near miss"}]}),
        "verdicts" => json!({"verdicts": [{
            "hypothesis": "H1", "decision": "uncertain", "new_description": null,
            "new_prediction": null, "cites": [], "confidence": 0.5, "rationale": "scripted"}]}),
        "review" => json!({"done": true, "more_tests": [], "rationale": "scripted"}),
        _ => json!({"label": "the scripted cat label", "description": "scripted description",
                    "does_not_fire_on": ["dog"], "evidence": ["E1"], "hypothesis": "H1",
                    "confidence": 0.6}),
    }
}

/// A fake OpenAI-compatible server answering chat completions from the
/// script (it records every request).
fn start_scripted_server() -> FakeServer {
    FakeServer::start(|request, _| {
        let body = request.json();
        let format = &body["response_format"]["json_schema"];
        let step = format["schema"]["title"]
            .as_str()
            .or_else(|| format["name"].as_str())
            .unwrap_or("conclusion");
        Response::json(
            200,
            serde_json::json!({
                "id": "scripted", "object": "chat.completion", "model": "scripted-model",
                "choices": [{"index": 0, "finish_reason": "stop", "message": {
                    "role": "assistant", "content": scripted_answer(step).to_string()}}],
                "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}
            }),
        )
    })
}

#[test]
fn explain_with_an_openai_compatible_server_records_its_answers_and_never_the_key() {
    let server = start_scripted_server();
    let base = format!("{}/v1", server.url());
    let data = tempfile::tempdir().unwrap();
    let out = data.path().join("out");
    let spec = format!("{base}#scripted-model");
    let secret = "sk-test-never-in-any-file-0123456789";
    ok(sage_with_env(
        data.path(),
        &[
            "explain",
            "--source",
            "synthetic",
            "--features",
            "1",
            "--llm",
            &spec,
            "--max-rounds",
            "2",
            "--out",
            out.to_str().unwrap(),
        ],
        &[("SAGE_LLM_API_KEY", secret)],
    ));
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("feature-1.json")).unwrap())
            .unwrap();
    assert_eq!(report["label"], "the scripted cat label");
    assert_eq!(report["reasoner"].as_str().unwrap(), spec);
    assert_eq!(report["hypotheses"][0]["description"], "the word cat");
    let calls = server.requests().len() as u64;
    assert!(
        calls >= 4,
        "hypothesise, design, update, review, conclude: {calls}"
    );
    assert_eq!(report["usage"]["reasoner_calls"].as_u64(), Some(calls));
    assert_eq!(report["usage"]["prompt_tokens"].as_u64(), Some(100 * calls));
    assert_eq!(
        report["usage"]["completion_tokens"].as_u64(),
        Some(20 * calls)
    );
    let experiments = report["experiments"].as_array().unwrap();
    assert!(
        experiments
            .iter()
            .any(|e| e["text"] == "The cat sat on the mat.")
    );

    // The key went to the server, and into no file sage wrote.
    assert!(
        server
            .requests()
            .iter()
            .any(|r| r.header("authorization") == Some(format!("Bearer {secret}").as_str()))
    );
    for dir in [out.clone(), data.path().join("sessions")] {
        for entry in std::fs::read_dir(dir).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            assert!(!text.contains(secret));
        }
    }
}
