//! Structured-reply negotiation and honest failure, end to end: the real
//! `sage` binary explains synthetic features through fake servers (real
//! HTTP on 127.0.0.1) that each behave like one family of real LLM server.
//! Every test checks the reply mode reached, the requests sent, the tokens
//! counted and the exit status.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::{Value, json};

mod common;
use common::{FakeServer, Request, Response, scripted_answer, step_of};

/// Prompt and completion tokens every successful fake reply bills.
const PROMPT: u64 = 100;
const COMPLETION: u64 = 20;
/// The last user message of `sage llm check`'s structured probe.
const PROBE: &str = "Set ok to true and word to \"ready\".";

fn sage(data: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sage"));
    command.args(args).env("SAGE_DATA_DIR", data);
    for var in [
        "OPENAI_API_KEY",
        "ANTHROPIC_API_KEY",
        "SAGE_LLM_API_KEY",
        "OPENAI_BASE_URL",
        "ANTHROPIC_BASE_URL",
    ] {
        command.env_remove(var);
    }
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().expect("the sage binary runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn last_user_message(request: &Request) -> String {
    let body = request.json();
    body["messages"]
        .as_array()
        .and_then(|m| m.iter().rev().find(|m| m["role"] == "user"))
        .and_then(|m| m["content"].as_str())
        .unwrap_or("")
        .to_string()
}

/// The JSON a well-behaved model gives for this request.
fn answer(request: &Request) -> Value {
    if last_user_message(request) == PROBE {
        json!({"ok": true, "word": "ready"})
    } else {
        scripted_answer(&step_of(request))
    }
}

/// `none`, `json_schema` or `json_object`: what a request's `response_format` asked for.
fn format_of(request: &Request) -> String {
    request.json()["response_format"]["type"]
        .as_str()
        .unwrap_or("none")
        .to_string()
}

/// A chat-completions reply; `prompt` includes `cached`.
fn chat(content: String, finish: &str, cached: u64) -> Response {
    Response::json(
        200,
        json!({
            "id": "fake", "object": "chat.completion", "model": "fake-model",
            "choices": [{"index": 0, "finish_reason": finish,
                         "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": PROMPT, "completion_tokens": COMPLETION,
                      "total_tokens": PROMPT + COMPLETION,
                      "prompt_tokens_details": {"cached_tokens": cached}}
        }),
    )
}

/// `sage explain` on synthetic features 0 and 1, one round, one feature at
/// a time (so the request order is fixed), through `spec`.
fn explain(data: &Path, spec: &str, env: &[(&str, &str)]) -> Output {
    let out = data.join("out");
    let args = [
        "explain",
        "--source",
        "synthetic",
        "--features",
        "0..2",
        "--llm",
        spec,
        "--max-rounds",
        "1",
        "--jobs",
        "1",
        "--out",
        out.to_str().unwrap(),
    ];
    sage(data, &args, env)
}

/// Starts a fake server answering with `family` and runs [`explain`]
/// through it: as `http://…/v1#family-model`, or as `provider_spec` with
/// the provider's base-URL variable (`OPENAI_BASE_URL`, …) pointing at it.
fn explain_through(
    family: fn(&Request, usize) -> Response,
    provider: Option<(&str, &str)>,
) -> (FakeServer, tempfile::TempDir, Output) {
    let server = FakeServer::start(family);
    let data = tempfile::tempdir().unwrap();
    let base = format!("{}/v1", server.url());
    let output = match provider {
        None => explain(data.path(), &url_spec(&server), &[]),
        Some((spec, var)) => explain(data.path(), spec, &[(var, base.as_str())]),
    };
    (server, data, output)
}

fn url_spec(server: &FakeServer) -> String {
    format!("{}/v1#family-model", server.url())
}

/// The usage blocks of the explanations written for features 0 and 1.
fn report_usages(data: &Path) -> Vec<Value> {
    (0..2)
        .map(|f| {
            let path = data.join("out").join(format!("feature-{f}.json"));
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            serde_json::from_str::<Value>(&text).unwrap()["usage"].clone()
        })
        .collect()
}

fn summed(usages: &[Value], field: &str) -> u64 {
    usages.iter().map(|u| u[field].as_u64().unwrap()).sum()
}

/// Checks a run that explained both features: exit status 0, and the
/// reports count exactly `PROMPT` + `COMPLETION` per answered request.
fn assert_explained_both(data: &Path, output: &Output, answered: u64) {
    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(output));
    let usages = report_usages(data);
    assert_eq!(summed(&usages, "prompt_tokens"), PROMPT * answered);
    assert_eq!(summed(&usages, "completion_tokens"), COMPLETION * answered);
    assert_eq!(summed(&usages, "reasoner_calls"), answered);
    let summary = String::from_utf8_lossy(&output.stdout);
    assert!(
        summary.contains("Tokens per explained feature:"),
        "{summary}"
    );
}

/// `sage llm check` against `spec`: its stdout, after checking it succeeded.
fn llm_check(data: &Path, spec: &str, env: &[(&str, &str)]) -> String {
    let output = sage(data, &["llm", "check", "--llm", spec], env);
    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(&output));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Like hosted servers that predate structured outputs: any
/// `response_format` is an unknown argument (400).
fn rejects_response_format_400(request: &Request, _: usize) -> Response {
    if format_of(request) != "none" {
        return Response::json(
            400,
            json!({"error": {"message": "Unrecognized request argument supplied: response_format",
                             "type": "invalid_request_error"}}),
        );
    }
    chat(answer(request).to_string(), "stop", 0)
}

#[test]
fn a_400_naming_response_format_moves_down_to_the_prompt_once_per_run() {
    let (server, data, output) = explain_through(rejects_response_format_400, None);

    let sent = server.requests();
    let formats: Vec<String> = sent.iter().map(format_of).collect();
    assert_eq!(formats[0], "json_schema");
    assert_eq!(formats[1], "json_object");
    assert!(
        formats[2..].iter().all(|f| f == "none"),
        "the prompt-only mode was remembered: {formats:?}"
    );
    let system = sent[2].json()["messages"][0]["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(system.contains("JSON Schema"), "{system}");
    assert_explained_both(data.path(), &output, sent.len() as u64 - 2);
    assert!(llm_check(data.path(), &url_spec(&server), &[]).contains("prompt-only"));
}

/// llama-cpp-python's server: `response_format` may be `text` or
/// `json_object` (with an optional `schema`, enforced by a grammar), and a
/// request that fails validation is answered 500 with pydantic's message.
fn llama_cpp_python(request: &Request, _: usize) -> Response {
    let body = request.json();
    if format_of(request) == "json_schema" {
        return Response::json(
            500,
            json!({"error": {"message": "1 validation error for CreateChatCompletionRequest\nresponse_format.type\n  Input should be 'text' or 'json_object' [type=literal_error, input_value='json_schema', input_type=str]",
                             "type": "internal_server_error", "param": null, "code": null}}),
        );
    }
    if body["logprobs"] == true {
        let mut reply = chat("yes".into(), "length", 0);
        let mut value: Value = serde_json::from_slice(&reply.body).unwrap();
        value["choices"][0]["logprobs"] = json!({"content": [
            {"token": "yes", "logprob": -0.1, "top_logprobs": [{"token": "yes", "logprob": -0.1}]}]});
        reply.body = value.to_string().into_bytes();
        return reply;
    }
    chat(answer(request).to_string(), "stop", 0)
}

#[test]
fn a_500_validation_error_is_not_retried_and_json_object_with_the_schema_is_used() {
    let (server, data, output) = explain_through(llama_cpp_python, None);

    let sent = server.requests();
    let rejected = sent
        .iter()
        .filter(|r| format_of(r) == "json_schema")
        .count();
    assert_eq!(
        rejected, 1,
        "the deterministic 500 was sent once, never retried"
    );
    assert_eq!(format_of(&sent[0]), "json_schema");
    for request in &sent[1..] {
        let body = request.json();
        assert_eq!(body["response_format"]["type"], "json_object");
        let title = body["response_format"]["schema"]["title"].as_str().unwrap();
        assert_eq!(title, step_of(request));
        let system = body["messages"][0]["content"].as_str().unwrap();
        assert!(system.contains("JSON Schema"), "also in the prompt");
        // Its grammar converter dies on regex escapes: no patterns sent.
        assert!(
            !body["response_format"]["schema"]
                .to_string()
                .contains("pattern")
        );
    }
    assert_explained_both(data.path(), &output, sent.len() as u64 - 1);

    let check = llm_check(data.path(), &url_spec(&server), &[]);
    assert!(
        check.contains("structured replies: json_object+schema"),
        "{check}"
    );
    assert!(check.contains("log-probs:          available"), "{check}");
    assert!(
        check.contains(&format!("{} completion", 2 * COMPLETION)),
        "{check}"
    );
}

/// llama.cpp-style servers that accept only `json_object` with a schema:
/// `json_schema` is an unknown type, and JSON mode without a schema is refused.
fn json_object_with_schema_only(request: &Request, _: usize) -> Response {
    let body = request.json();
    match format_of(request).as_str() {
        "json_object" if body["response_format"]["schema"].is_object() => {
            chat(answer(request).to_string(), "stop", 0)
        }
        "json_object" => Response::json(400, json!({"error": "json_object needs a schema"})),
        other => Response::json(
            400,
            json!({"error": {"code": 400, "message": format!("Unsupported response_format type: {other}")}}),
        ),
    }
}

#[test]
fn a_server_that_takes_only_json_object_with_a_schema_settles_there() {
    let (server, data, output) = explain_through(json_object_with_schema_only, None);
    let formats: Vec<String> = server.requests().iter().map(format_of).collect();
    assert_eq!(formats[0], "json_schema");
    assert!(
        formats[1..].iter().all(|f| f == "json_object"),
        "{formats:?}"
    );
    assert_explained_both(data.path(), &output, formats.len() as u64 - 1);
}

/// A chatty model behind a server without structured outputs: the JSON
/// comes wrapped in prose and a fence.
fn prose_around_json(request: &Request, n: usize) -> Response {
    if format_of(request) != "none" {
        return rejects_response_format_400(request, n);
    }
    let text = format!(
        "Sure! Here is my answer:\n```json\n{}\n```\nLet me know if you need more.",
        answer(request)
    );
    chat(text, "stop", 0)
}

#[test]
fn json_wrapped_in_prose_is_extracted() {
    let (server, data, output) = explain_through(prose_around_json, None);
    let sent = server.requests();
    assert!(sent[2..].iter().all(|r| format_of(r) == "none"));
    assert_explained_both(data.path(), &output, sent.len() as u64 - 2);
    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(data.path().join("out/feature-0.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(report["label"], "the scripted cat label");
}

/// A model that runs out of tokens mid-answer every time.
fn truncates_at_max_tokens(request: &Request, _: usize) -> Response {
    let full = answer(request).to_string();
    chat(full[..full.len() / 2].to_string(), "length", 0)
}

#[test]
fn replies_cut_off_at_max_tokens_fail_the_feature_with_every_token_counted() {
    let (server, data, output) = explain_through(truncates_at_max_tokens, None);

    assert_eq!(output.status.code(), Some(1), "some features failed");
    let err = stderr(&output);
    assert!(err.contains("2 of 2 feature(s) failed"), "{err}");
    for feature in 0..2 {
        assert!(
            err.contains(&format!(
                "feature {feature}: the model's replies were cut off at the token limit"
            )),
            "{err}"
        );
    }
    // Each feature: the agent's attempts at its first step, each with the
    // client's whole re-ask budget (1 + 2 requests), all in json_schema.
    let sent = server.requests();
    let per_feature = 3 * u64::from(sage::agent::REASONER_ATTEMPTS);
    assert_eq!(sent.len() as u64, 2 * per_feature);
    assert!(sent.iter().all(|r| format_of(r) == "json_schema"));
    assert!(last_user_message(&sent[1]).contains("Keep every string short"));
    let listing = sage(data.path(), &["sessions", "--json"], &[]);
    let rows: Vec<Value> = String::from_utf8_lossy(&listing.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2);
    for row in rows {
        assert_eq!(
            row["tokens"].as_u64(),
            Some(per_feature * (PROMPT + COMPLETION))
        );
        assert_eq!(
            row["steps"].as_u64(),
            Some(u64::from(sage::agent::REASONER_ATTEMPTS))
        );
        assert_eq!(
            row["tokens_per_step"].as_u64(),
            Some(3 * (PROMPT + COMPLETION))
        );
    }
    assert!(!data.path().join("out/feature-0.json").exists());
}

/// OpenAI's hosted API: `json_schema` works, and repeated prefixes come
/// back as `cached_tokens`.
fn hosted_openai_with_cache(request: &Request, _: usize) -> Response {
    chat(answer(request).to_string(), "stop", 80)
}

#[test]
fn openai_cached_tokens_are_counted_and_the_prefix_stays_stable() {
    let (server, data, output) = explain_through(
        hosted_openai_with_cache,
        Some(("openai:gpt-4o-mini", "OPENAI_BASE_URL")),
    );
    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(&output));

    let sent = server.requests();
    assert!(sent.iter().all(|r| format_of(r) == "json_schema"));
    assert!(
        sent.iter()
            .all(|r| r.json()["response_format"]["json_schema"]["strict"] == true)
    );
    let usages = report_usages(data.path());
    let n = sent.len() as u64;
    assert_eq!(summed(&usages, "prompt_tokens"), (PROMPT - 80) * n);
    assert_eq!(summed(&usages, "cached_tokens"), 80 * n);
    assert_eq!(summed(&usages, "completion_tokens"), COMPLETION * n);
    // Within a feature every request opens with the same system message:
    // the prefix automatic caching reuses.
    let systems: Vec<String> = sent
        .iter()
        .map(|r| {
            r.json()["messages"][0]["content"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let first_of_feature_1 = systems.iter().position(|s| s != &systems[0]).unwrap();
    assert!(
        systems[..first_of_feature_1]
            .iter()
            .all(|s| s == &systems[0])
    );
    assert!(
        systems[first_of_feature_1..]
            .iter()
            .all(|s| s == &systems[first_of_feature_1])
    );
    assert!(systems[0].contains("# Feature 0") && !systems[0].contains("Round "));
}

/// Anthropic's messages API answering a forced tool call, with cache reads.
fn anthropic_tools(request: &Request, _: usize) -> Response {
    let body = request.json();
    let content = if body["tool_choice"]["name"] == "reply" {
        json!([{"type": "tool_use", "id": "toolu_1", "name": "reply", "input": answer(request)}])
    } else {
        json!([{"type": "text", "text": answer(request).to_string()}])
    };
    Response::json(
        200,
        json!({"id": "msg_1", "type": "message", "role": "assistant", "content": content,
               "stop_reason": "tool_use",
               "usage": {"input_tokens": 30, "cache_read_input_tokens": 70,
                         "cache_creation_input_tokens": 0, "output_tokens": COMPLETION}}),
    )
}

#[test]
fn anthropic_forced_tool_calls_with_cache_control_and_cache_reads_counted() {
    let (server, data, output) = explain_through(
        anthropic_tools,
        Some(("anthropic:claude-haiku-4-5", "ANTHROPIC_BASE_URL")),
    );
    let base = format!("{}/v1", server.url());
    let env = [("ANTHROPIC_BASE_URL", base.as_str())];
    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(&output));

    let sent = server.requests();
    for request in &sent {
        let body = request.json();
        assert_eq!(request.path, "/v1/messages");
        assert_eq!(
            body["tool_choice"],
            json!({"type": "tool", "name": "reply"})
        );
        assert_eq!(body["tools"][0]["input_schema"]["title"], step_of(request));
        let system = body["system"].as_array().expect("system blocks");
        assert_eq!(system.len(), 2, "instructions, then the exemplars");
        assert_eq!(system[1]["cache_control"], json!({"type": "ephemeral"}));
        assert!(system[0].get("cache_control").is_none());
    }
    let usages = report_usages(data.path());
    let n = sent.len() as u64;
    assert_eq!(summed(&usages, "prompt_tokens"), 30 * n);
    assert_eq!(summed(&usages, "cached_tokens"), 70 * n);
    assert_eq!(summed(&usages, "completion_tokens"), COMPLETION * n);
    assert!(
        usages
            .iter()
            .all(|u| u["cost_usd"].as_f64().is_some_and(|c| c > 0.0))
    );
    let check = llm_check(data.path(), "anthropic:claude-haiku-4-5", &env);
    assert!(check.contains("structured replies: tool_call"), "{check}");
    assert!(
        check.contains("log-probs:          not available"),
        "{check}"
    );
}

/// An Anthropic-compatible server without tool support.
fn anthropic_without_tools(request: &Request, n: usize) -> Response {
    if request.json().get("tools").is_some() {
        return Response::json(
            400,
            json!({"type": "error", "error": {"type": "invalid_request_error",
                   "message": "tools: Extra inputs are not permitted"}}),
        );
    }
    anthropic_tools(request, n)
}

#[test]
fn an_anthropic_endpoint_without_tools_falls_back_to_the_prompt() {
    let (server, data, output) = explain_through(
        anthropic_without_tools,
        Some(("anthropic:claude-haiku-4-5", "ANTHROPIC_BASE_URL")),
    );
    let sent = server.requests();
    assert!(sent[0].json().get("tools").is_some());
    assert!(sent[1..].iter().all(|r| r.json().get("tools").is_none()));
    let system = sent[1].json()["system"].to_string();
    assert!(system.contains("JSON Schema"));
    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(&output));
    let usages = report_usages(data.path());
    assert_eq!(summed(&usages, "reasoner_calls"), sent.len() as u64 - 1);
}

#[test]
fn usage_errors_exit_with_status_2() {
    let data = tempfile::tempdir().unwrap();
    let cases: [&[&str]; 5] = [
        &["explain", "--source", "synthetic", "--features", "x..3"],
        &[
            "explain",
            "--source",
            "synthetic",
            "--features",
            "0",
            "--llm",
            "gpt-4o",
        ],
        &[
            "eval",
            "--source",
            "synthetic",
            "--features",
            "0",
            "--sentences",
            "0",
        ],
        &["explain", "--source", "synthetic", "--no-such-flag"],
        &["llm", "check", "--llm", "heuristic"],
    ];
    for args in cases {
        let output = sage(data.path(), args, &[]);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            stderr(&output)
        );
        assert!(!stderr(&output).trim().is_empty());
    }
    assert!(!data.path().join("sessions").exists());
}
