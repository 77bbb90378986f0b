//! `sage eval` end to end: the real binary on the synthetic source, offline
//! (heuristic reasoner and rule judge), and with an LLM judge talking to a
//! scripted OpenAI-compatible server on 127.0.0.1 that fails some calls.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{FakeServer, Response, ok};
use serde_json::{Value, json};

fn sage(data_dir: &Path, args: &[&str]) -> String {
    ok(Command::new(env!("CARGO_BIN_EXE_sage"))
        .args(args)
        .env("SAGE_DATA_DIR", data_dir)
        .env_remove("OPENAI_API_KEY")
        .env_remove("SAGE_LLM_API_KEY")
        .output()
        .expect("the sage binary runs"))
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The average row named `name`.
fn average<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["averages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == name)
        .unwrap_or_else(|| panic!("no average row {name}"))
}

/// How many `evaluated` events each session log holds.
fn evaluated_events(data_dir: &Path) -> Vec<usize> {
    let mut counts: Vec<usize> = std::fs::read_dir(data_dir.join("sessions"))
        .unwrap()
        .map(|entry| {
            std::fs::read_to_string(entry.unwrap().path())
                .unwrap()
                .lines()
                .filter(|l| l.contains("\"event\":\"evaluated\""))
                .count()
        })
        .collect();
    counts.sort();
    counts
}

#[test]
fn offline_eval_scores_sage_above_the_one_shot_floor_and_records_it_in_each_session() {
    let data = tempfile::tempdir().unwrap();
    let out = data.path().join("out");
    let args = |out: &Path| {
        vec![
            "eval".to_string(),
            "--source".into(),
            "synthetic".into(),
            "--features".into(),
            "0,12,16,21".into(),
            "--out".into(),
            out.to_str().unwrap().to_string(),
        ]
    };
    let first: Vec<String> = args(&out);
    let stdout = sage(
        data.path(),
        &first.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    assert!(stdout.contains("| sage |"), "{stdout}");
    let report = read_json(&out.join("eval.json"));
    assert_eq!(report["features"].as_array().unwrap().len(), 4);
    assert_eq!(report["judge"], "heuristic rule (offline)");
    let sage_row = average(&report, "sage");
    let one_shot = average(&report, "one-shot");
    let control = average(&report, "control (other feature's sentences)");
    let estimate = |row: &Value, metric: &str| row[metric]["estimate"].as_f64().unwrap();
    // Features: months, any token after "the", "New York", colours. SAGE
    // finds the context and phrase rules; one look at the top examples
    // does not.
    assert!(estimate(sage_row, "generative") >= 0.8, "{sage_row}");
    assert!(
        estimate(sage_row, "generative") > estimate(one_shot, "generative"),
        "{sage_row} {one_shot}"
    );
    assert!(estimate(control, "generative") <= 0.3, "{control}");
    for row in [sage_row, one_shot] {
        let ci = &row["generative"];
        assert!(ci["low"].as_f64() <= ci["estimate"].as_f64());
        assert!(ci["estimate"].as_f64() <= ci["high"].as_f64());
        assert_eq!(row["missing_texts"], 0);
    }
    let md = std::fs::read_to_string(out.join("eval.md")).unwrap();
    assert!(md.contains("## Per feature") && md.contains("baseline: token table"));
    assert!(
        std::fs::read_to_string(out.join("eval.svg"))
            .unwrap()
            .starts_with("<svg")
    );
    assert_eq!(evaluated_events(data.path()), [1, 1, 1, 1]);
    let session = report["features"][0]["session_id"].as_str().unwrap();
    let exported = sage(data.path(), &["replay", session, "--export", "md"]);
    assert!(
        exported.contains("## Evaluation (heuristic rule (offline))"),
        "{exported}"
    );
    assert!(exported.contains("| one-shot | pred |"), "{exported}");

    // Reusing the sessions: no new session, the same numbers (fixed
    // seeds), and a second evaluation recorded in every log.
    let again = data.path().join("again");
    let mut second = args(&again);
    second.extend(["--sessions".to_string(), out.to_str().unwrap().to_string()]);
    sage(
        data.path(),
        &second.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let report_again = read_json(&again.join("eval.json"));
    assert_eq!(report_again["averages"], report["averages"]);
    assert_eq!(evaluated_events(data.path()), [2, 2, 2, 2]);
}

/// Answers chat completions for the LLM judge and the one-shot explainer,
/// telling the requests apart by their schema title; every third
/// prediction request gets an HTTP 400. Counts the failures it sent.
fn start_judge_server() -> (FakeServer, Arc<AtomicUsize>) {
    let failures = Arc::new(AtomicUsize::new(0));
    let failed = failures.clone();
    let predictions = AtomicUsize::new(0);
    let server = FakeServer::start(move |request, _| {
        let request = request.json();
        let title = request["response_format"]["json_schema"]["schema"]["title"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let prompt = request["messages"][0]["content"]
            .as_str()
            .unwrap_or_default();
        let answer = match title.as_str() {
            "one_shot_explanation" => {
                json!({"label": "month names", "description": "fires on month names"})
            }
            "sentences" => json!({"sentences": (0..10)
                .map(|i| format!("We moved house in {} that year.", ["May", "June"][i % 2]))
                .collect::<Vec<_>>()}),
            _ => {
                if (predictions.fetch_add(1, Ordering::SeqCst) + 1).is_multiple_of(3) {
                    failed.fetch_add(1, Ordering::SeqCst);
                    return Response::json(400, json!({"error": {"message": "scripted"}}));
                }
                // One value per listed token: 9 on month names.
                let listing = prompt.rsplit("\n\n").next().unwrap_or_default();
                let values: Vec<u32> = listing
                    .lines()
                    .map(|l| {
                        if l.contains("May") || l.contains("June") {
                            9
                        } else {
                            0
                        }
                    })
                    .collect();
                json!({ "activations": values })
            }
        };
        Response::json(
            200,
            json!({
                "id": "judge", "object": "chat.completion", "model": "judge",
                "choices": [{"index": 0, "finish_reason": "stop", "message": {
                    "role": "assistant", "content": answer.to_string()}}],
                "usage": {"prompt_tokens": 50, "completion_tokens": 5, "total_tokens": 55}
            }),
        )
    });
    (server, failures)
}

#[test]
fn failed_llm_predictions_are_reported_missing_and_left_out_of_the_averages() {
    let data = tempfile::tempdir().unwrap();
    let explained = data.path().join("explained");
    let out = data.path().join("out");
    let explained_arg = explained.to_str().unwrap();
    sage(
        data.path(),
        &[
            "explain",
            "--source",
            "synthetic",
            "--features",
            "0,21",
            "--out",
            explained_arg,
        ],
    );
    let (server, failures) = start_judge_server();
    let spec = format!("{}/v1#judge", server.url());
    let stdout = sage(
        data.path(),
        &[
            "eval",
            "--source",
            "synthetic",
            "--features",
            "0,21",
            "--sessions",
            explained_arg,
            "--llm",
            &spec,
            "--out",
            out.to_str().unwrap(),
        ],
    );
    let report = read_json(&out.join("eval.json"));
    let failed = failures.load(Ordering::SeqCst);
    assert!(failed > 0, "the server failed no call");
    let rows: Vec<&Value> = report["features"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|f| f["scored"].as_array().unwrap())
        .collect();
    let missing: u64 = rows
        .iter()
        .map(|r| r["predictive"]["missing"].as_u64().unwrap())
        .sum();
    let judge_failed: u64 = rows
        .iter()
        .map(|r| r["judge_spend"]["failed"].as_u64().unwrap())
        .sum();
    assert_eq!(missing as usize, failed);
    assert_eq!(judge_failed as usize, failed);
    for row in &rows {
        let p = &row["predictive"];
        let scored_texts = p["texts"].as_u64().unwrap() - p["missing"].as_u64().unwrap();
        // Only answered texts contribute tokens.
        assert_eq!(p["tokens"].as_u64().unwrap() > 0, scored_texts > 0, "{row}");
        if p["missing"].as_u64().unwrap() > 0 {
            let reasons = row["missing"].as_array().unwrap();
            assert!(
                reasons
                    .iter()
                    .any(|r| r.as_str().unwrap().contains("HTTP 400")),
                "{row}"
            );
        }
    }
    let averaged: u64 = ["sage", "one-shot"]
        .iter()
        .map(|name| average(&report, name)["missing_texts"].as_u64().unwrap())
        .sum();
    assert_eq!(averaged as usize, failed);
    assert!(stdout.contains("HTTP 400"), "{stdout}");
    assert_eq!(average(&report, "one-shot")["explainer_spend"]["calls"], 2);
    // One generation call per feature for the control sentences.
    let control = average(&report, "control (other feature's sentences)");
    assert_eq!(control["judge_spend"]["calls"], 2);
    assert!(report["judge"].as_str().unwrap().contains("batched"));
}
