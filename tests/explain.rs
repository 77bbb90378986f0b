//! `sage explain`, `sage sessions` and `sage replay` end to end: the real
//! binary on the synthetic source with the heuristic reasoner, and with an
//! LLM reasoner talking to a scripted OpenAI-compatible server on
//! 127.0.0.1, in a temp data dir.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

mod common;
use common::{FakeServer, Response, ok, scripted_answer, step_of};

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

/// A fake OpenAI-compatible server answering chat completions from the
/// script (it records every request).
fn start_scripted_server() -> FakeServer {
    FakeServer::start(|request, _| {
        let step = step_of(request);
        Response::json(
            200,
            serde_json::json!({
                "id": "scripted", "object": "chat.completion", "model": "scripted-model",
                "choices": [{"index": 0, "finish_reason": "stop", "message": {
                    "role": "assistant", "content": scripted_answer(&step).to_string()}}],
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

/// The tiny Llama fixture (64-token context) and its SAELens JumpReLU SAE
/// (64 latents at `blocks.1.hook_resid_post`), as `--model` / `--sae`.
fn fixture_model_and_sae() -> (String, String) {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let model = fixtures.join("models/llama-gqa");
    let sae = fixtures.join("saes/on-models/llama-res-jumprelu/sae");
    (
        model.to_str().unwrap().to_string(),
        sae.to_str().unwrap().to_string(),
    )
}

/// A small corpus of plain sentences in two files.
fn write_corpus(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let animals = "The cat sat on the mat. A dog ran in the park. Birds sing in May.\n";
    let numbers = "We counted 12 apples, 7 pears and 30 plums on Monday morning.\n";
    std::fs::write(dir.join("animals.txt"), animals.repeat(12)).unwrap();
    std::fs::write(dir.join("numbers.txt"), numbers.repeat(12)).unwrap();
}

#[test]
fn explain_on_a_local_model_mines_exemplars_from_the_corpus_and_replays() {
    let data = tempfile::tempdir().unwrap();
    let corpus = data.path().join("corpus");
    write_corpus(&corpus);
    let out = data.path().join("out");
    let (model, sae) = fixture_model_and_sae();
    let args = [
        "explain",
        "--model",
        &model,
        "--sae",
        &sae,
        "--corpus",
        corpus.to_str().unwrap(),
        "--features",
        "0..2",
        "--llm",
        "heuristic",
        "--max-rounds",
        "2",
        "--out",
        out.to_str().unwrap(),
    ];
    let summary = ok(sage(data.path(), &args));

    for feature in 0..2u32 {
        let text = std::fs::read_to_string(out.join(format!("feature-{feature}.json")))
            .unwrap_or_else(|e| panic!("feature {feature}: {e}\nsummary:\n{summary}"));
        let report: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(report["schema_version"], 1);
        assert_eq!(report["model"], "llama-gqa");
        assert_eq!(report["sae"], sae.as_str());
        assert_eq!(report["hook"], "blocks.1.hook_resid_post");
        assert_eq!(report["feature"], feature);
        assert_eq!(report["reasoner"], "heuristic");
        assert_eq!(report["status"], "concluded", "{report}");
        let stop = report["stop_reason"].as_str().unwrap();
        assert!(
            !["exemplars_failed", "no_exemplars"].contains(&stop),
            "exemplars came from the corpus: {stop}"
        );
        let label = report["label"].as_str().unwrap();
        assert!(!label.trim().is_empty());
        assert!(report["confidence"].is_number());
        assert!(!report["hypotheses"].as_array().unwrap().is_empty());
        let done: Vec<&Value> = report["experiments"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["status"] == "done")
            .collect();
        assert!(!done.is_empty(), "{report}");
        for e in done {
            let tokens = e["tokens"].as_array().unwrap();
            assert_eq!(tokens.len(), e["values"].as_array().unwrap().len());
            // The model saw a prepended <s>; the record starts at the
            // text's first token (the BOS rule).
            assert_ne!(tokens[0], "<s>", "{e}");
            let first = e["text"].as_str().unwrap().trim_start();
            let token0 = tokens[0].as_str().unwrap().trim_start();
            assert!(first.starts_with(token0), "{token0:?} vs {first:?}");
        }

        // The session log replays to exactly the report explain wrote.
        let id = report["session_id"].as_str().unwrap();
        let replayed: Value =
            serde_json::from_str(&ok(sage(data.path(), &["replay", id, "--export", "json"])))
                .unwrap();
        assert_eq!(replayed, report);
        // Its exemplars name the corpus files they came from.
        let log = std::fs::read_to_string(data.path().join("sessions").join(format!("{id}.jsonl")))
            .unwrap();
        assert!(log.contains("animals.txt") || log.contains("numbers.txt"));
    }
    // Both features were mined together in one pass, cached in the data dir.
    let cached = std::fs::read_dir(data.path().join("cache/mining/results"))
        .unwrap()
        .count();
    assert_eq!(cached, 1);
}

#[test]
fn a_local_model_without_a_corpus_fails_each_feature_naming_the_flag() {
    let data = tempfile::tempdir().unwrap();
    let out = data.path().join("out");
    let (model, sae) = fixture_model_and_sae();
    let output = sage(
        data.path(),
        &[
            "explain",
            "--model",
            &model,
            "--sae",
            &sae,
            "--features",
            "3",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    let summary = String::from_utf8_lossy(&output.stdout);
    assert!(summary.contains("| 3 | failed |"), "{summary}");
    assert!(
        !out.join("feature-3.json").exists(),
        "no made-up explanation"
    );
    // The session log records why, naming the missing flag.
    let sessions: Vec<_> = std::fs::read_dir(data.path().join("sessions"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(sessions.len(), 1);
    let log = std::fs::read_to_string(&sessions[0]).unwrap();
    let failure = log
        .lines()
        .find(|l| l.contains("exemplars_failed"))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(failure.contains("pass --corpus PATH"), "{failure}");
}

#[test]
fn the_demo_preset_without_its_pack_names_the_install_command() {
    let data = tempfile::tempdir().unwrap();
    let output = sage(data.path(), &["explore", "--preset", "demo"]);
    assert!(!output.status.success());
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains("demo model is not installed"), "{err}");
    assert!(err.contains("bash scripts/install-demo-pack.sh"), "{err}");
    assert!(
        err.contains(&data.path().join("demo").display().to_string()),
        "{err}"
    );
}

/// An unattended batch gets a wall-time budget unless told otherwise, so
/// a stalled server cannot hold it forever; `--max-minutes 0` lifts it.
#[test]
fn explain_sets_a_wall_time_budget_by_default() {
    let budget_of = |extra: &[&str]| {
        let data = tempfile::tempdir().unwrap();
        let out = data.path().join("out");
        let mut args = vec![
            "explain",
            "--source",
            "synthetic",
            "--features",
            "1",
            "--max-rounds",
            "1",
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        ok(sage(data.path(), &args));
        let entry = std::fs::read_dir(data.path().join("sessions"))
            .unwrap()
            .next()
            .unwrap()
            .unwrap();
        let text = std::fs::read_to_string(entry.path()).unwrap();
        let header: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        header["config"]["budgets"]["max_wall_ms"].clone()
    };
    assert_eq!(budget_of(&[]), Value::from(30 * 60_000));
    assert_eq!(budget_of(&["--max-minutes", "2"]), Value::from(2 * 60_000));
    assert_eq!(budget_of(&["--max-minutes", "0"]), Value::Null);
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files
}

/// Credentials written into URLs (`--neuronpedia-url http://user:pass@…`,
/// `--llm http://user:tok@…/v1#m`) are used for the requests but never
/// reach a file in the data dir, the explanations, the exports or any
/// output, errors that quote the URL included.
#[test]
fn credentials_inside_urls_never_reach_files_or_output() {
    const CANARY: &str = "CANARYpw77";
    let neuronpedia = FakeServer::start(|request, _| {
        if request.method == "POST" {
            Response::text(400, r#"{"message":"no custom text today"}"#)
        } else {
            Response::text(
                200,
                r#"{"modelId":"gpt2-small","layer":"8-res-jb","index":"3","maxActApprox":5.0,
                    "frac_nonzero":0.01,"activations":[
                    {"tokens":["the"," cat"],"values":[0.0,5.0],"maxValue":5.0,"maxValueTokenIndex":1},
                    {"tokens":["a"," cat"],"values":[0.0,4.0],"maxValue":4.0,"maxValueTokenIndex":1}]}"#,
            )
        }
    });
    let llm = start_scripted_server();
    let np_url = neuronpedia
        .url()
        .replace("http://", &format!("http://npuser:{CANARY}@"));
    let spec = format!(
        "{}/v1#scripted-model",
        llm.url()
            .replace("http://", &format!("http://llmuser:{CANARY}@"))
    );
    let data = tempfile::tempdir().unwrap();
    let out = data.path().join("out");
    let mut outputs = vec![sage(
        data.path(),
        &[
            "explain",
            "--source",
            "neuronpedia",
            "--model-id",
            "gpt2-small",
            "--sae-id",
            "8-res-jb",
            "--neuronpedia-url",
            &np_url,
            "--features",
            "3",
            "--llm",
            &spec,
            "--max-rounds",
            "1",
            "--out",
            out.to_str().unwrap(),
        ],
    )];
    assert!(!llm.requests().is_empty() && !neuronpedia.requests().is_empty());
    let basic = neuronpedia.requests()[0]
        .header("authorization")
        .map(str::to_string);
    assert!(
        basic.is_some_and(|v| v.starts_with("Basic ")),
        "the user info is still sent, as HTTP basic auth"
    );
    assert!(
        neuronpedia.requests().iter().any(|r| r.method == "POST"),
        "an experiment reached the failing endpoint, so an error quoting the URL was recorded"
    );
    let id = files_under(&data.path().join("sessions"))[0]
        .file_stem()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    outputs.push(sage(data.path(), &["sessions"]));
    outputs.push(sage(data.path(), &["sessions", "--json"]));
    for format in ["json", "md", "html"] {
        outputs.push(sage(data.path(), &["replay", &id, "--export", format]));
    }
    for output in &outputs {
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(!text.contains(CANARY), "{text}");
    }
    let files = files_under(data.path());
    assert!(files.len() >= 3, "{files:?}");
    for path in files {
        let bytes = std::fs::read(&path).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(CANARY),
            "{} holds the credential",
            path.display()
        );
    }
}

/// A Neuronpedia-shaped server whose top token is a terminal escape
/// sequence: nothing `sage explain`, `sage sessions` or a Markdown export
/// prints or writes carries a control character.
#[test]
fn escape_sequences_from_a_server_never_reach_the_terminal_or_exports() {
    let hostile = "\u{1b}]0;owned\u{7}\u{1b}[31mcat";
    let feature = serde_json::json!({
        "modelId": "gpt2-small", "layer": "8-res-jb", "index": "3",
        "maxActApprox": 5.0, "frac_nonzero": 0.01,
        "activations": [
            {"tokens": ["the", hostile], "values": [0.0, 5.0], "maxValue": 5.0, "maxValueTokenIndex": 1},
            {"tokens": ["a", hostile], "values": [0.0, 4.0], "maxValue": 4.0, "maxValueTokenIndex": 1},
            {"tokens": ["one", hostile, "sat"], "values": [0.0, 4.5, 0.0], "maxValue": 4.5, "maxValueTokenIndex": 1}
        ]
    });
    let server = FakeServer::start(move |request, _| {
        if request.method == "POST" {
            let text = request.json()["customText"]
                .as_str()
                .unwrap_or("")
                .to_string();
            let tokens: Vec<String> = text.split(' ').map(|t| format!("{t}\u{1b}[2J")).collect();
            let values: Vec<f32> = tokens.iter().map(|_| 1.0).collect();
            Response::json(
                200,
                serde_json::json!({"tokens": tokens, "values": values, "maxValue": 1.0, "maxValueTokenIndex": 0}),
            )
        } else {
            Response::json(200, feature.clone())
        }
    });
    let data = tempfile::tempdir().unwrap();
    let out = data.path().join("out");
    let explain = sage(
        data.path(),
        &[
            "explain",
            "--source",
            "neuronpedia",
            "--model-id",
            "gpt2-small",
            "--sae-id",
            "8-res-jb",
            "--neuronpedia-url",
            server.url(),
            "--features",
            "3",
            "--max-rounds",
            "1",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    let id = files_under(&data.path().join("sessions"))[0]
        .file_stem()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let log =
        std::fs::read_to_string(data.path().join("sessions").join(format!("{id}.jsonl"))).unwrap();
    assert!(
        log.contains("\\u001b]0;owned"),
        "the hostile token was really served and kept"
    );
    let mut texts = Vec::new();
    for output in [
        explain,
        sage(data.path(), &["sessions"]),
        sage(data.path(), &["replay", &id, "--export", "md"]),
        sage(data.path(), &["replay", &id, "--export", "html"]),
    ] {
        texts.push(String::from_utf8_lossy(&output.stdout).into_owned());
        texts.push(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    for path in files_under(&out) {
        texts.push(std::fs::read_to_string(path).unwrap());
    }
    for text in texts {
        assert!(
            !text.contains(['\u{1b}', '\u{7}']),
            "a control character got through: {text:?}"
        );
    }
}

/// Ctrl-C still ends `sage explain` after corpus mining: mining claims
/// Ctrl-C to save its state, and gives it back when it is done. The
/// reasoner's server never answers, so the run sits in its first session
/// until the signal comes.
#[test]
fn ctrl_c_stops_explain_after_corpus_mining() {
    let (sender, asked) = std::sync::mpsc::channel::<()>();
    let sender = std::sync::Mutex::new(sender);
    let server = FakeServer::start(move |_, _| {
        let _ = sender.lock().unwrap().send(());
        Response::text(500, "never").delayed(std::time::Duration::from_secs(120))
    });
    let data = tempfile::tempdir().unwrap();
    let corpus = data.path().join("corpus");
    write_corpus(&corpus);
    let (model, sae) = fixture_model_and_sae();
    let spec = format!("{}/v1#stalled", server.url());
    let mut child = Command::new(env!("CARGO_BIN_EXE_sage"))
        .args([
            "explain",
            "--model",
            &model,
            "--sae",
            &sae,
            "--corpus",
            corpus.to_str().unwrap(),
            "--features",
            "0",
            "--llm",
            &spec,
            "--out",
            data.path().join("out").to_str().unwrap(),
        ])
        .env("SAGE_DATA_DIR", data.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    asked
        .recv_timeout(std::time::Duration::from_secs(120))
        .expect("mining finished and the first session asked the reasoner");
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("sage explain ignored Ctrl-C after mining");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(130), "{status:?}");
}

/// `sage resume` says what it will contact, and refuses a log that points
/// at a server other than the user's own until `--trust-log` is given.
#[test]
fn resume_refuses_a_logs_own_servers_without_trust_log() {
    let server = FakeServer::start(|request, _| {
        if request.method == "POST" {
            Response::text(400, r#"{"message":"no"}"#)
        } else {
            Response::text(
                200,
                r#"{"modelId":"gpt2-small","layer":"8-res-jb","index":"3","maxActApprox":5.0,
                    "activations":[{"tokens":["the"," cat"],"values":[0.0,5.0],"maxValue":5.0,"maxValueTokenIndex":1}]}"#,
            )
        }
    });
    let data = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_sage"))
            .args(args)
            .env("SAGE_DATA_DIR", data.path())
            .env_remove("NEURONPEDIA_URL")
            .env_remove("NEURONPEDIA_API_KEY")
            .output()
            .unwrap()
    };
    let out = data.path().join("out");
    run(&[
        "explain",
        "--source",
        "neuronpedia",
        "--model-id",
        "gpt2-small",
        "--sae-id",
        "8-res-jb",
        "--neuronpedia-url",
        server.url(),
        "--features",
        "3",
        "--max-rounds",
        "1",
        "--out",
        out.to_str().unwrap(),
    ]);
    let log_path = files_under(&data.path().join("sessions"))[0].clone();
    let id = log_path.file_stem().unwrap().to_string_lossy().into_owned();
    // Cut the log back to its header and Start event: an interrupted
    // session whose first request (the exemplars) is still unanswered.
    let text = std::fs::read_to_string(&log_path).unwrap();
    let kept: String = text.lines().take(2).map(|l| format!("{l}\n")).collect();
    std::fs::write(&log_path, kept).unwrap();
    let before = server.requests().len();

    let refused = run(&["resume", &id]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{stderr}");
    assert!(
        stderr.contains(server.url()) && stderr.contains("--trust-log"),
        "{stderr}"
    );
    assert!(
        stderr.contains("contacts"),
        "what it would contact is shown: {stderr}"
    );
    assert_eq!(server.requests().len(), before, "nothing was sent");

    let trusted = run(&["resume", &id, "--trust-log"]);
    assert!(
        trusted.status.success(),
        "{}",
        String::from_utf8_lossy(&trusted.stderr)
    );
    assert!(
        server.requests().len() > before,
        "the trusted resume went on"
    );
}
