//! The LLM clients against fake OpenAI-compatible and Anthropic servers:
//! real HTTP on 127.0.0.1, scripted replies, recorded requests.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use sage::llm::{
    BaseUrls, EndpointSpec, KeySource, LlmClient, LlmConfig, LlmError, LlmRequest, Message, Price,
    PriceTable, RetryPolicy, StructuredMode, UsageTotals, build_client,
};
use serde_json::{Value, json};

mod common;
use common::{FakeServer, Request, Response};

const KEY: &str = "sk-test-CANARY-7f3a9c";

/// Fails the test if `fut` hangs (a liveness guard, not a speed check).
async fn within<T>(fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), fut)
        .await
        .expect("the call hung")
}

fn fast_config() -> LlmConfig {
    let keys = BTreeMap::from([
        ("OPENAI_API_KEY".to_string(), KEY.to_string()),
        ("ANTHROPIC_API_KEY".to_string(), KEY.to_string()),
        ("SAGE_LLM_API_KEY".to_string(), KEY.to_string()),
    ]);
    LlmConfig {
        keys: KeySource::table_only(keys),
        prices: PriceTable::embedded(),
        retry: RetryPolicy {
            connect_timeout: Duration::from_secs(2),
            read_timeout: Duration::from_secs(2),
            max_attempts: 3,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
            max_retry_after: Duration::from_secs(5),
            call_deadline: Duration::from_secs(20),
            max_body_bytes: 1 << 20,
        },
        max_reasks: 2,
        concurrency_per_endpoint: 4,
        structured: StructuredMode::Auto,
    }
}

/// The fake server's OpenAI-style base URL.
fn base_url(server: &FakeServer) -> String {
    format!("{}/v1", server.url())
}

/// A client for `PROVIDER:MODEL` whose base URL is the fake server.
fn client(
    server: &FakeServer,
    provider: &str,
    model: &str,
    config: &LlmConfig,
) -> Arc<dyn LlmClient> {
    let urls = BaseUrls {
        openai: Some(base_url(server)),
        anthropic: Some(base_url(server)),
    };
    let spec = EndpointSpec::parse(&format!("{provider}:{model}"), &urls).expect("spec parses");
    build_client(&spec, config).expect("client builds")
}

fn chat_reply(content: &str, prompt: u64, cached: u64, completion: u64) -> Response {
    Response::json(
        200,
        json!({
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt.saturating_add(completion),
                "prompt_tokens_details": {"cached_tokens": cached}
            }
        }),
    )
}

fn anthropic_reply(text: &str, input: u64, cache_read: u64, output: u64) -> Response {
    Response::json(
        200,
        json!({
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn",
            "usage": {"input_tokens": input, "output_tokens": output, "cache_read_input_tokens": cache_read, "cache_creation_input_tokens": 0}
        }),
    )
}

fn label_schema() -> Value {
    json!({
        "type": "object",
        "properties": {"label": {"type": "string"}, "confidence": {"type": "number", "minimum": 0, "maximum": 1}},
        "required": ["label", "confidence"],
        "additionalProperties": false
    })
}

fn structured_request() -> LlmRequest {
    LlmRequest {
        messages: vec![
            Message::system("You explain SAE features."),
            Message::user("Label feature 1337."),
        ],
        schema: Some(label_schema()),
        max_tokens: Some(200),
        temperature: Some(0.0),
        top_logprobs: None,
    }
}

fn text_request(prompt: &str) -> LlmRequest {
    LlmRequest {
        messages: vec![Message::user(prompt)],
        ..LlmRequest::default()
    }
}

fn last_user_message(request: &Request) -> String {
    let body = request.json();
    let messages = body["messages"].as_array().expect("messages array");
    messages
        .iter()
        .rev()
        .find(|m| m["role"] == "user")
        .and_then(|m| m["content"].as_str())
        .expect("a user message")
        .to_string()
}

#[tokio::test]
async fn openai_structured_success_sends_schema_key_and_model() {
    let server = FakeServer::scripted(vec![chat_reply(
        r#"{"label": "month names", "confidence": 0.9}"#,
        50,
        0,
        12,
    )]);
    let client = client(&server, "openai", "gpt-4o-mini", &fast_config());
    let reply = within(client.complete(&structured_request()))
        .await
        .expect("success");
    assert_eq!(
        reply.json,
        Some(json!({"label": "month names", "confidence": 0.9}))
    );
    assert_eq!(reply.text, r#"{"label": "month names", "confidence": 0.9}"#);
    assert_eq!(client.spec(), "openai:gpt-4o-mini");

    let sent = server.requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].path, "/v1/chat/completions");
    assert_eq!(sent[0].headers["authorization"], format!("Bearer {KEY}"));
    let body = &sent[0].json();
    assert_eq!(body["model"], "gpt-4o-mini");
    assert_eq!(body["max_tokens"], 200);
    assert_eq!(
        body["messages"][0],
        json!({"role": "system", "content": "You explain SAE features."})
    );
    assert_eq!(
        body["messages"][1],
        json!({"role": "user", "content": "Label feature 1337."})
    );
    assert_eq!(body["response_format"]["type"], "json_schema");
    assert_eq!(
        body["response_format"]["json_schema"]["schema"],
        label_schema()
    );
    assert_eq!(body["response_format"]["json_schema"]["strict"], true);
    assert!(body.get("logprobs").is_none());
}

#[tokio::test]
async fn reply_text_with_alarming_words_is_kept_verbatim() {
    let server = FakeServer::scripted(vec![
        chat_reply("failed error", 5, 0, 2),
        chat_reply(r#"{"label": "error failed", "confidence": 0.5}"#, 5, 0, 2),
    ]);
    let client = client(&server, "openai", "gpt-4o-mini", &fast_config());
    let reply = within(client.complete(&text_request("Say it.")))
        .await
        .expect("plain text");
    assert_eq!(reply.text, "failed error");
    assert_eq!(reply.json, None);
    let reply = within(client.complete(&structured_request()))
        .await
        .expect("structured");
    assert_eq!(reply.json.expect("json")["label"], "error failed");
    assert_eq!(server.requests().len(), 2, "no re-ask for either reply");
}

/// Scripts one 429 with `Retry-After: 1` and then `ok`, and checks the
/// client waits and retries. The backoff is set to an hour, so if the
/// client ignored Retry-After the call would trip the `within` guard.
async fn retries_after_rate_limit(provider: &str, model: &str, limited: Response, ok: Response) {
    let server = FakeServer::scripted(vec![limited.header("Retry-After", "1"), ok]);
    let mut config = fast_config();
    config.retry.base_delay = Duration::from_secs(3600);
    config.retry.max_delay = Duration::from_secs(3600);
    let client = client(&server, provider, model, &config);
    let reply = within(client.complete(&text_request("hi")))
        .await
        .expect("retried");
    assert_eq!(reply.text, "hello");
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn openai_429_with_retry_after_is_retried() {
    let limited = Response::json(429, json!({"error": {"message": "rate limited"}}));
    retries_after_rate_limit(
        "openai",
        "gpt-4o-mini",
        limited,
        chat_reply("hello", 5, 0, 1),
    )
    .await;
}

#[tokio::test]
async fn server_errors_until_retries_run_out() {
    let script = vec![Response::json(500, json!({"error": "boom"})); 3];
    let server = FakeServer::scripted(script);
    let client = client(&server, "openai", "gpt-4o-mini", &fast_config());
    let err = within(client.complete(&text_request("hi")))
        .await
        .unwrap_err();
    match &err {
        LlmError::RetriesExhausted {
            attempts,
            last,
            usage,
        } => {
            assert_eq!(*attempts, 3);
            assert!(last.contains("HTTP 500") && last.contains("boom"), "{last}");
            assert!(usage.is_empty(), "no reply billed anything: {usage:?}");
        }
        other => panic!("expected RetriesExhausted, got {other:?}"),
    }
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    let server = FakeServer::scripted(vec![Response::json(404, json!({"error": "no such model"}))]);
    let client = client(&server, "openai", "gpt-4o-mini", &fast_config());
    let err = within(client.complete(&text_request("hi")))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, LlmError::Http { status: 404, body } if body.contains("no such model")),
        "{err:?}"
    );
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn malformed_http_body_is_retried_then_valid_reply_used() {
    let server = FakeServer::scripted(vec![
        Response::text(200, "{\"choices\": [ truncated"),
        chat_reply(r#"{"label": "dates", "confidence": 0.7}"#, 5, 0, 3),
    ]);
    let client = client(&server, "openai", "gpt-4o-mini", &fast_config());
    let reply = within(client.complete(&structured_request()))
        .await
        .expect("second try");
    assert_eq!(reply.json.expect("json")["label"], "dates");
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn unparseable_reply_is_reasked_with_the_problem_then_accepted() {
    let server = FakeServer::scripted(vec![
        chat_reply("I think it is about months.", 100, 0, 10),
        chat_reply(
            "Sure:\n```json\n{\"label\": \"months\", \"confidence\": 0.8}\n```",
            130,
            0,
            20,
        ),
    ]);
    let client = client(&server, "openai", "gpt-4o-mini", &fast_config());
    let reply = within(client.complete(&structured_request()))
        .await
        .expect("re-asked");
    assert_eq!(
        reply.json,
        Some(json!({"label": "months", "confidence": 0.8}))
    );
    // Tokens of both attempts are billed to the call.
    assert_eq!(reply.usage.prompt_tokens, 230);
    assert_eq!(reply.usage.completion_tokens, 30);

    let sent = server.requests();
    assert_eq!(sent.len(), 2);
    let second = sent[1].json()["messages"]
        .as_array()
        .expect("messages")
        .clone();
    assert_eq!(
        second.len(),
        4,
        "original two turns + bad reply + correction"
    );
    assert_eq!(
        second[2],
        json!({"role": "assistant", "content": "I think it is about months."})
    );
    assert!(last_user_message(&sent[1]).contains("no parseable JSON"));
}

#[tokio::test]
async fn each_reask_sends_only_the_latest_bad_reply_cut_to_a_bounded_echo() {
    let babble = "months ".repeat(2_000);
    let server = FakeServer::scripted(vec![
        chat_reply(&babble, 100, 0, 4_000),
        chat_reply("still not JSON", 120, 0, 5),
        chat_reply(r#"{"label": "months", "confidence": 0.8}"#, 110, 0, 10),
    ]);
    let client = client(&server, "openai", "gpt-4o-mini", &fast_config());
    within(client.complete(&structured_request()))
        .await
        .expect("the third attempt parses");
    let sent = server.requests();
    assert_eq!(sent.len(), 3);
    let messages = |i: usize| sent[i].json()["messages"].as_array().unwrap().clone();
    let first = messages(0);
    let (second, third) = (messages(1), messages(2));
    // Original turns, the one bad reply shown back, the correction.
    assert_eq!(second.len(), first.len() + 2);
    assert_eq!(
        third.len(),
        first.len() + 2,
        "earlier bad replies are not resent"
    );
    assert_eq!(&second[..first.len()], &first[..]);
    let echoed = second[first.len()]["content"].as_str().unwrap();
    assert!(echoed.len() < 2_100, "{} bytes echoed", echoed.len());
    assert!(echoed.starts_with("months months"));
    assert!(echoed.ends_with("[... reply cut here ...]"));
    assert_eq!(
        third[first.len()],
        json!({"role": "assistant", "content": "still not JSON"})
    );
}

#[tokio::test]
async fn schema_invalid_replies_end_in_invalid_reply() {
    let bad = r#"{"label": "months", "confidence": 3}"#;
    let server = FakeServer::scripted(vec![chat_reply(bad, 5, 0, 5); 3]);
    let client = client(&server, "openai", "gpt-4o-mini", &fast_config());
    let err = within(client.complete(&structured_request()))
        .await
        .unwrap_err();
    match &err {
        LlmError::InvalidReply {
            attempts,
            reason,
            usage,
        } => {
            assert_eq!(*attempts, 3);
            assert_eq!(reason, "$.confidence: 3 is above the maximum 1");
            // Every attempt was billed, and the error says so.
            assert_eq!((usage.prompt_tokens, usage.completion_tokens), (15, 15));
            assert!(usage.cost_usd.is_some_and(|c| c > 0.0), "{usage:?}");
        }
        other => panic!("expected InvalidReply, got {other:?}"),
    }
    let sent = server.requests();
    assert_eq!(sent.len(), 3);
    assert!(last_user_message(&sent[1]).contains("$.confidence: 3 is above the maximum 1"));
    assert!(last_user_message(&sent[2]).contains("$.confidence: 3 is above the maximum 1"));
}

#[tokio::test]
async fn slow_reply_times_out_and_is_retried() {
    let server = FakeServer::scripted(vec![
        chat_reply("late", 1, 0, 1).delayed(Duration::from_secs(10)),
        chat_reply("on time", 1, 0, 1),
    ]);
    let mut config = fast_config();
    config.retry.read_timeout = Duration::from_millis(200);
    let client = client(&server, "openai", "gpt-4o-mini", &config);
    let reply = within(client.complete(&text_request("hi")))
        .await
        .expect("second try");
    assert_eq!(reply.text, "on time");
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn replies_slower_than_the_timeout_every_time_exhaust_retries() {
    let slow = chat_reply("late", 1, 0, 1).delayed(Duration::from_secs(10));
    let server = FakeServer::scripted(vec![slow; 2]);
    let mut config = fast_config();
    config.retry.read_timeout = Duration::from_millis(200);
    config.retry.max_attempts = 2;
    let client = client(&server, "openai", "gpt-4o-mini", &config);
    let err = within(client.complete(&text_request("hi")))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, LlmError::RetriesExhausted { attempts: 2, last, .. } if last.contains("timed out")),
        "{err:?}"
    );
}

#[tokio::test]
async fn logprobs_are_requested_and_parsed() {
    let reply = Response::json(
        200,
        json!({
            "choices": [{
                "message": {"role": "assistant", "content": "7"},
                "logprobs": {"content": [{
                    "token": "7", "logprob": -0.25,
                    "top_logprobs": [{"token": "7", "logprob": -0.25}, {"token": "8", "logprob": -1.75}]
                }]}
            }],
            "usage": {"prompt_tokens": 20, "completion_tokens": 1}
        }),
    );
    let server = FakeServer::scripted(vec![reply, chat_reply("7", 20, 0, 1)]);
    let client = client(&server, "openai", "gpt-4o-mini", &fast_config());
    let request = LlmRequest {
        top_logprobs: Some(2),
        ..text_request("Rate 0-10.")
    };
    let reply = within(client.complete(&request)).await.expect("logprobs");
    let logprobs = reply.logprobs.expect("logprobs present");
    assert_eq!(logprobs.len(), 1);
    assert_eq!(logprobs[0].token, "7");
    assert_eq!(logprobs[0].logprob, -0.25);
    assert_eq!(
        logprobs[0].top,
        vec![("7".to_string(), -0.25), ("8".to_string(), -1.75)]
    );
    let sent = server.requests();
    assert_eq!(sent[0].json()["logprobs"], true);
    assert_eq!(sent[0].json()["top_logprobs"], 2);

    // A server that ignores the request is reported, not papered over, and
    // the tokens it billed are still counted.
    let err = within(client.complete(&request)).await.unwrap_err();
    assert!(
        matches!(err.underlying(), LlmError::LogprobsUnsupported(_)),
        "{err:?}"
    );
    assert_eq!(err.usage().prompt_tokens, 20);
}

#[tokio::test]
async fn usage_and_cost_sum_against_the_price_table() {
    let server = FakeServer::scripted(vec![
        chat_reply("a", 1200, 200, 300),
        chat_reply("b", 1200, 200, 300),
        chat_reply("c", 1000, 0, 100),
    ]);
    let config = fast_config();
    let priced = client(&server, "openai", "gpt-4o-mini", &config);
    let unpriced_spec = EndpointSpec::parse(
        &format!("{}#my-local-model", base_url(&server)),
        &BaseUrls::default(),
    )
    .expect("url spec");
    let unpriced = build_client(&unpriced_spec, &config).expect("client");

    let mut totals = UsageTotals::default();
    for _ in 0..2 {
        let reply = within(priced.complete(&text_request("x")))
            .await
            .expect("priced");
        assert_eq!(reply.usage.prompt_tokens, 1000, "cached tokens split out");
        assert_eq!(reply.usage.cached_tokens, 200);
        assert_eq!(reply.usage.completion_tokens, 300);
        // gpt-4o-mini: $0.15 input, $0.075 cached, $0.60 output per million:
        // 1000*0.15 + 200*0.075 + 300*0.60 = 345 micro-dollars.
        let cost = reply.usage.cost_usd.expect("gpt-4o-mini is priced");
        assert!((cost - 345e-6).abs() < 1e-12, "{cost}");
        totals.add(&reply.usage);
    }
    let reply = within(unpriced.complete(&text_request("x")))
        .await
        .expect("unpriced");
    assert_eq!(
        reply.usage.cost_usd, None,
        "unknown model: tokens without cost"
    );
    assert_eq!(reply.usage.prompt_tokens, 1000);
    totals.add(&reply.usage);

    assert_eq!(totals.calls, 3);
    assert_eq!(totals.prompt_tokens, 3000);
    assert_eq!(totals.cached_tokens, 400);
    assert_eq!(totals.completion_tokens, 700);
    assert!(
        (totals.cost_usd - 690e-6).abs() < 1e-12,
        "{}",
        totals.cost_usd
    );
    assert_eq!(totals.unpriced_calls, 1);
    assert!(!totals.cost_is_complete());
}

#[tokio::test]
async fn missing_response_format_support_falls_back_to_instructions() {
    let unknown = Response::json(
        400,
        json!({"error": {"message": "Unknown parameter: response_format"}}),
    );
    let server = FakeServer::scripted(vec![
        unknown.clone(),
        unknown,
        chat_reply(
            "```json\n{\"label\": \"x\", \"confidence\": 0.1}\n```",
            5,
            0,
            5,
        ),
        chat_reply("{\"label\": \"y\", \"confidence\": 0.2}", 5, 0, 5),
    ]);
    let client = client(&server, "openai", "local-model", &fast_config());
    let first = within(client.complete(&structured_request()))
        .await
        .expect("fallback");
    assert_eq!(first.json.expect("json")["label"], "x");
    let second = within(client.complete(&structured_request()))
        .await
        .expect("remembered");
    assert_eq!(second.json.expect("json")["label"], "y");

    let sent = server.requests();
    assert_eq!(
        sent.len(),
        4,
        "json_schema and json_object rejected once each, then instructions only"
    );
    assert_eq!(sent[0].json()["response_format"]["type"], "json_schema");
    assert_eq!(sent[1].json()["response_format"]["type"], "json_object");
    assert_eq!(client.reply_mode(), Some(sage::llm::ReplyMode::Prompt));
    for request in &sent[2..] {
        assert!(request.json().get("response_format").is_none());
        let body = request.json();
        let system = body["messages"][0]["content"]
            .as_str()
            .expect("system text");
        assert!(system.starts_with("You explain SAE features."));
        assert!(system.contains("JSON Schema") && system.contains("\"confidence\""));
    }
}

#[tokio::test]
async fn endpoint_concurrency_limit_holds_across_clients() {
    let script = (0..4)
        .map(|i| chat_reply(&format!("r{i}"), 1, 0, 1).delayed(Duration::from_millis(100)))
        .collect();
    let server = FakeServer::scripted(script);
    let mut config = fast_config();
    config.concurrency_per_endpoint = 1;
    let a = client(&server, "openai", "gpt-4o-mini", &config);
    let b = client(&server, "openai", "gpt-4o", &config);
    let request = text_request("x");
    let calls = futures::future::join_all([
        a.complete(&request),
        b.complete(&request),
        a.complete(&request),
        b.complete(&request),
    ]);
    for result in within(calls).await {
        result.expect("each call succeeds");
    }
    assert_eq!(server.requests().len(), 4);
    assert_eq!(server.peak_in_flight(), 1);
}

#[tokio::test]
async fn dropping_a_call_aborts_it_and_frees_the_endpoint() {
    let server = FakeServer::scripted(vec![
        chat_reply("never read", 1, 0, 1).delayed(Duration::from_secs(120)),
        chat_reply("next", 1, 0, 1),
    ]);
    let mut config = fast_config();
    config.concurrency_per_endpoint = 1;
    config.retry.read_timeout = Duration::from_secs(300);
    let client = client(&server, "openai", "gpt-4o-mini", &config);
    let request = text_request("x");
    let dropped = tokio::time::timeout(Duration::from_millis(200), client.complete(&request)).await;
    assert!(dropped.is_err(), "the slow call was cut off");
    // With one permit per endpoint, this only runs if the dropped call let go of it.
    let reply = within(client.complete(&request))
        .await
        .expect("endpoint free again");
    assert_eq!(reply.text, "next");
}

#[tokio::test]
async fn anthropic_success_forces_the_reply_tool_caches_the_system_and_counts_cache_reads() {
    let tool_reply = Response::json(
        200,
        json!({
            "id": "msg_1", "type": "message", "role": "assistant",
            "content": [{"type": "tool_use", "id": "toolu_1", "name": "reply",
                         "input": {"label": "months", "confidence": 0.6}}],
            "stop_reason": "tool_use",
            "usage": {"input_tokens": 1000, "output_tokens": 200, "cache_read_input_tokens": 4000, "cache_creation_input_tokens": 0}
        }),
    );
    let server = FakeServer::scripted(vec![tool_reply]);
    let client = client(&server, "anthropic", "claude-haiku-4-5", &fast_config());
    let reply = within(client.complete(&structured_request()))
        .await
        .expect("success");
    assert_eq!(
        reply.json,
        Some(json!({"label": "months", "confidence": 0.6}))
    );
    assert_eq!(reply.usage.prompt_tokens, 1000);
    assert_eq!(reply.usage.cached_tokens, 4000);
    assert_eq!(reply.usage.completion_tokens, 200);
    // claude-haiku-4-5: $1 input, $0.10 cached, $5 output per million:
    // 1000*1 + 4000*0.1 + 200*5 = 2400 micro-dollars.
    let cost = reply.usage.cost_usd.expect("priced");
    assert!((cost - 2400e-6).abs() < 1e-12, "{cost}");
    assert_eq!(client.reply_mode(), Some(sage::llm::ReplyMode::ToolCall));

    let sent = server.requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].path, "/v1/messages");
    assert_eq!(sent[0].headers["x-api-key"], KEY);
    assert_eq!(sent[0].headers["anthropic-version"], "2023-06-01");
    assert!(!sent[0].headers.contains_key("authorization"));
    let body = &sent[0].json();
    assert_eq!(body["model"], "claude-haiku-4-5");
    assert_eq!(body["max_tokens"], 200);
    assert_eq!(
        body["messages"],
        json!([{"role": "user", "content": "Label feature 1337."}])
    );
    assert_eq!(
        body["system"],
        json!([{"type": "text", "text": "You explain SAE features.",
                "cache_control": {"type": "ephemeral"}}])
    );
    assert_eq!(body["tools"][0]["name"], "reply");
    assert_eq!(body["tools"][0]["input_schema"], label_schema());
    assert_eq!(
        body["tool_choice"],
        json!({"type": "tool", "name": "reply"})
    );
}

#[tokio::test]
async fn a_5xx_validation_error_is_not_retried() {
    let server = FakeServer::scripted(vec![Response::json(
        500,
        json!({"error": {"message": "1 validation error for Request\nlogprobs\n  Input should be a valid boolean"}}),
    )]);
    let client = client(&server, "openai", "local-model", &fast_config());
    let err = within(client.complete(&text_request("x")))
        .await
        .unwrap_err();
    assert!(matches!(err, LlmError::Http { status: 500, .. }), "{err:?}");
    assert_eq!(
        server.requests().len(),
        1,
        "the same body would fail the same way"
    );
}

#[tokio::test]
async fn anthropic_429_with_retry_after_is_retried() {
    let limited = Response::json(
        429,
        json!({"type": "error", "error": {"type": "rate_limit_error"}}),
    );
    let ok = anthropic_reply("hello", 10, 0, 2);
    retries_after_rate_limit("anthropic", "claude-sonnet-4-5", limited, ok).await;
}

#[tokio::test]
async fn anthropic_reports_logprobs_unsupported_without_calling() {
    let server = FakeServer::scripted(vec![]);
    let client = client(&server, "anthropic", "claude-sonnet-4-5", &fast_config());
    let request = LlmRequest {
        top_logprobs: Some(5),
        ..text_request("x")
    };
    let err = within(client.complete(&request)).await.unwrap_err();
    assert!(matches!(err, LlmError::LogprobsUnsupported(_)), "{err:?}");
    assert!(err.to_string().contains("not supported by this endpoint"));
    assert!(server.requests().is_empty());
}

#[test]
fn missing_keys_and_the_heuristic_spec_are_typed_errors() {
    let config = LlmConfig {
        keys: KeySource::table_only(BTreeMap::new()),
        ..fast_config()
    };
    let hosted =
        EndpointSpec::parse("anthropic:claude-opus-4-1", &BaseUrls::default()).expect("parses");
    let err = build_client(&hosted, &config).err().expect("no key");
    assert!(
        matches!(
            err,
            LlmError::MissingKey {
                var: "ANTHROPIC_API_KEY"
            }
        ),
        "{err:?}"
    );
    let err = EndpointSpec::parse("heuristic", &BaseUrls::default()).expect_err("not a client");
    assert!(
        err.to_string()
            .contains("heuristic reasoner runs inside the agent")
    );
}

#[tokio::test]
async fn the_key_never_appears_in_errors_replies_or_debug_output() {
    let echo = |status: u16| {
        Response::json(
            status,
            json!({"error": format!("bad header Authorization: Bearer {KEY}")}),
        )
    };
    let server = FakeServer::scripted(vec![
        echo(401),
        echo(500),
        echo(503),
        echo(502),
        Response::text(200, format!("not json {KEY}")),
        Response::text(200, format!("not json {KEY}")),
        Response::text(200, format!("not json {KEY}")),
        chat_reply(&format!("your key is {KEY}"), 1, 0, 1),
        chat_reply(&format!("{{\"label\": \"{KEY}\"}}"), 1, 0, 1),
        chat_reply(&format!("{{\"label\": \"{KEY}\"}}"), 1, 0, 1),
        chat_reply(&format!("{{\"label\": \"{KEY}\"}}"), 1, 0, 1),
        Response::json(200, json!({"choices": [], "echo": KEY})),
    ]);
    let config = fast_config();
    let client = client(&server, "openai", "gpt-4o-mini", &config);
    let mut seen = vec![format!("{config:?}")];
    let http = within(client.complete(&text_request("a")))
        .await
        .unwrap_err();
    assert!(
        matches!(http, LlmError::Http { status: 401, .. }),
        "{http:?}"
    );
    let exhausted = within(client.complete(&text_request("b")))
        .await
        .unwrap_err();
    assert!(
        matches!(exhausted, LlmError::RetriesExhausted { .. }),
        "{exhausted:?}"
    );
    let garbled = within(client.complete(&text_request("c")))
        .await
        .unwrap_err();
    assert!(
        matches!(garbled, LlmError::RetriesExhausted { .. }),
        "{garbled:?}"
    );
    let reply = within(client.complete(&text_request("d")))
        .await
        .expect("reply");
    let invalid = within(client.complete(&structured_request()))
        .await
        .unwrap_err();
    assert!(
        matches!(invalid, LlmError::InvalidReply { .. }),
        "{invalid:?}"
    );
    let shape = within(client.complete(&text_request("e")))
        .await
        .unwrap_err();
    assert!(matches!(shape, LlmError::UnexpectedReply(_)), "{shape:?}");
    for err in [http, exhausted, garbled, invalid, shape] {
        seen.push(format!("{err} {err:?}"));
    }
    seen.push(serde_json::to_string(&reply).expect("reply serialises"));
    seen.push(format!("{reply:?}"));
    assert!(reply.text.contains("[redacted]"));

    // The canary really was sent, so its absence above means something.
    assert_eq!(
        server.requests()[0].headers["authorization"],
        format!("Bearer {KEY}")
    );
    for text in seen {
        assert!(!text.contains(KEY), "key leaked into: {text}");
    }
}

/// Prices of 1 and 2 dollars per million prompt / completion tokens, so
/// costs in these tests are easy to check by hand.
fn house_priced_config() -> LlmConfig {
    let mut config = fast_config();
    config.prices = PriceTable::embedded().with_overrides(BTreeMap::from([(
        "house-model".to_string(),
        Price {
            input: 1.0,
            cached_input: None,
            output: 2.0,
        },
    )]));
    config
}

#[tokio::test]
async fn a_reask_that_ends_in_server_errors_still_reports_the_billed_reply() {
    let mut script = vec![chat_reply("not JSON at all", 40, 0, 8)];
    script.extend(vec![Response::json(500, json!({"error": "down"})); 3]);
    let server = FakeServer::scripted(script);
    let client = client(&server, "openai", "house-model", &house_priced_config());
    let err = within(client.complete(&structured_request()))
        .await
        .unwrap_err();
    match &err {
        LlmError::RetriesExhausted {
            attempts, usage, ..
        } => {
            assert_eq!(*attempts, 3);
            assert_eq!((usage.prompt_tokens, usage.completion_tokens), (40, 8));
            assert_eq!(usage.cost_usd, Some(56.0 / 1e6));
        }
        other => panic!("expected RetriesExhausted, got {other:?}"),
    }
    assert_eq!(err.usage().prompt_tokens, 40);
    assert_eq!(server.requests().len(), 4);
}

#[tokio::test]
async fn a_reask_refused_with_a_client_error_keeps_the_error_and_its_usage() {
    let server = FakeServer::scripted(vec![
        chat_reply("not JSON at all", 30, 0, 5),
        Response::json(400, json!({"error": "context length exceeded"})),
    ]);
    let client = client(&server, "openai", "house-model", &house_priced_config());
    let err = within(client.complete(&structured_request()))
        .await
        .unwrap_err();
    let LlmError::AfterUsage { usage, error } = &err else {
        panic!("expected AfterUsage, got {err:?}");
    };
    assert!(
        matches!(**error, LlmError::Http { status: 400, .. }),
        "{error:?}"
    );
    assert_eq!((usage.prompt_tokens, usage.completion_tokens), (30, 5));
    assert_eq!(usage.cost_usd, Some(40.0 / 1e6));
    // The message is the underlying error's, unchanged.
    assert!(err.to_string().starts_with("HTTP 400"), "{err}");
}

#[tokio::test]
async fn a_reply_without_choices_still_reports_what_it_billed() {
    let server = FakeServer::scripted(vec![Response::json(
        200,
        json!({"choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 3}}),
    )]);
    let client = client(&server, "openai", "house-model", &house_priced_config());
    let err = within(client.complete(&text_request("hi")))
        .await
        .unwrap_err();
    assert!(matches!(&err, LlmError::AfterUsage { .. }), "{err:?}");
    assert!(
        matches!(err.underlying(), LlmError::UnexpectedReply(_)),
        "{err:?}"
    );
    assert_eq!(err.usage().prompt_tokens, 12);
    assert_eq!(err.usage().completion_tokens, 3);
}

/// Runs a synthetic-source session whose reasoner is an LLM on a fake
/// server that answers every call with `reply` (100 prompt and 10
/// completion tokens each). Returns the server, the data dir and the run.
async fn session_answered_with(
    reply: &'static str,
) -> (FakeServer, tempfile::TempDir, sage::session::SessionRun) {
    session_billed(reply, 100, 10).await
}

/// Like [`session_answered_with`], with the token counts the server reports
/// for each call.
async fn session_billed(
    reply: &'static str,
    prompt: u64,
    completion: u64,
) -> (FakeServer, tempfile::TempDir, sage::session::SessionRun) {
    use sage::activation::synthetic::SyntheticSource;
    use sage::agent::AgentConfig;
    use sage::reasoner::LlmReasoner;
    use sage::session::{
        Controls, Durability, Instruments, NewSession, SessionStore, SourceRecord, run,
    };

    let server = FakeServer::start(move |_, _| chat_reply(reply, prompt, 0, completion));
    let llm = client(&server, "openai", "house-model", &house_priced_config());
    let data = tempfile::tempdir().unwrap();
    let store = SessionStore::new(data.path().join("sessions"));
    let instruments = Instruments {
        source: Arc::new(SyntheticSource::new()),
        reasoner: Arc::new(LlmReasoner::new(llm)),
    };
    let session = NewSession {
        feature: 1,
        config: AgentConfig::default(),
        seed: 3,
        reasoner_spec: "openai:house-model".into(),
        source: Some(SourceRecord::Synthetic),
        durability: Durability::OnClose,
    };
    let done = within(run::start(
        &store,
        instruments,
        session,
        Controls::default(),
    ))
    .await
    .expect("the session runs");
    (server, data, done)
}

/// Every reply is malformed, so each reasoning step spends its whole re-ask
/// budget and the agent gives up: the session's totals, the replayed log,
/// `sage sessions` and the report all count the tokens of every attempt.
#[tokio::test]
async fn a_session_of_failed_calls_counts_every_attempts_tokens() {
    use sage::agent::StopReason;
    use sage::session::{SessionStore, replay};

    let (server, data, done) = session_answered_with("I would rather not say.").await;
    let store = SessionStore::new(data.path().join("sessions"));
    let config = house_priced_config();
    let calls = server.requests().len() as u64;
    let per_step = 1 + u64::from(config.max_reasks);
    assert_eq!(
        calls,
        per_step * u64::from(sage::agent::REASONER_ATTEMPTS),
        "each attempt of the step used its whole re-ask budget"
    );
    let state = &done.state;
    assert_eq!(state.stop_reason, Some(StopReason::ReasonerFailed));
    assert_eq!(state.reasoner_failures, sage::agent::REASONER_ATTEMPTS);
    assert_eq!(state.usage.prompt_tokens, 100 * calls);
    assert_eq!(state.usage.completion_tokens, 10 * calls);
    let cost = state.usage.cost_usd.expect("priced");
    assert!((cost - 120.0 * calls as f64 / 1e6).abs() < 1e-12, "{cost}");

    // The log holds the usage, so replay (what `sage sessions` and reports
    // read) agrees with the live totals.
    let log = store.load(&done.id).unwrap();
    assert_eq!(
        replay(sage::agent::Agent::new(), &log.entries, None)
            .state()
            .usage,
        state.usage
    );
    let listing = std::process::Command::new(env!("CARGO_BIN_EXE_sage"))
        .args(["sessions", "--json"])
        .env("SAGE_DATA_DIR", data.path())
        .output()
        .expect("sage sessions runs");
    let row: Value = serde_json::from_slice(&listing.stdout).expect("one JSON row");
    assert_eq!(row["id"], done.id.as_str());
    assert_eq!(row["tokens"].as_u64(), Some(110 * calls));
    assert_eq!(
        row["failed_calls"].as_u64(),
        Some(u64::from(sage::agent::REASONER_ATTEMPTS))
    );
    let report = std::process::Command::new(env!("CARGO_BIN_EXE_sage"))
        .args(["replay", &done.id, "--export", "json"])
        .env("SAGE_DATA_DIR", data.path())
        .output()
        .expect("sage replay runs");
    let report: Value = serde_json::from_slice(&report.stdout).expect("a JSON report");
    assert_eq!(report["usage"]["total_tokens"].as_u64(), Some(110 * calls));
    assert_eq!(
        report["usage"]["failed_calls"].as_u64(),
        Some(u64::from(sage::agent::REASONER_ATTEMPTS))
    );
}

/// Replies that satisfy the schema but break the agent's rules (no
/// hypotheses at all) are unusable: no re-ask, yet their tokens count.
#[tokio::test]
async fn unusable_but_well_formed_replies_are_counted_too() {
    let (server, _data, done) = session_answered_with(r#"{"hypotheses": []}"#).await;
    let calls = server.requests().len() as u64;
    assert_eq!(calls, u64::from(sage::agent::REASONER_ATTEMPTS));
    let state = &done.state;
    assert_eq!(state.reasoner_failures, sage::agent::REASONER_ATTEMPTS);
    assert_eq!(state.usage.prompt_tokens, 100 * calls);
    assert_eq!(state.usage.completion_tokens, 10 * calls);
    assert!(
        state
            .log
            .iter()
            .any(|entry| entry.text.contains("unusable"))
    );
}

/// A server that reports 2^64-1 tokens per call: the counts are bounded
/// when parsed and summed without overflow, live, on replay and in
/// `sage sessions`.
#[tokio::test]
async fn absurd_token_counts_are_bounded_and_never_overflow() {
    use sage::session::{SessionStore, replay};
    use sage_core::usage::MAX_CALL_TOKENS;

    let (server, data, done) = session_billed("no JSON here", u64::MAX, u64::MAX).await;
    let calls = server.requests().len() as u64;
    assert!(calls > 1, "several calls were summed");
    let usage = done.state.usage;
    assert_eq!(usage.prompt_tokens, MAX_CALL_TOKENS * calls);
    assert_eq!(usage.completion_tokens, MAX_CALL_TOKENS * calls);
    let store = SessionStore::new(data.path().join("sessions"));
    let log = store.load(&done.id).unwrap();
    let replayed = replay(sage::agent::Agent::new(), &log.entries, None);
    assert_eq!(replayed.state().usage.prompt_tokens, usage.prompt_tokens);
    let listing = std::process::Command::new(env!("CARGO_BIN_EXE_sage"))
        .args(["sessions", "--json"])
        .env("SAGE_DATA_DIR", data.path())
        .output()
        .expect("sage sessions runs");
    assert!(listing.status.success(), "{listing:?}");
    let row: Value = serde_json::from_slice(&listing.stdout).expect("one JSON row");
    assert_eq!(row["id"], done.id.as_str());
    assert_eq!(row["tokens"].as_u64(), Some(2 * MAX_CALL_TOKENS * calls));
}

/// A 307 or 308 to another port (another origin) is refused: the other
/// server never sees the key or the prompt, and the error says why.
#[tokio::test]
async fn redirects_to_another_origin_are_refused_with_key_and_body_kept_home() {
    for (provider, model, status) in [
        ("anthropic", "claude-3-5-haiku-latest", 307),
        ("openai", "gpt-4o-mini", 308),
    ] {
        let elsewhere = FakeServer::start(|_, _| chat_reply("stolen", 1, 0, 1));
        let target = format!("{}/v1/steal", elsewhere.url());
        let server = FakeServer::start(move |_, _| {
            Response::bytes(status, Vec::new()).header("location", &target)
        });
        let llm = client(&server, provider, model, &fast_config());
        let err = within(llm.complete(&text_request("the secret prompt")))
            .await
            .expect_err("the redirect is refused");
        assert!(
            elsewhere.requests().is_empty(),
            "{provider}: the other origin was contacted: {:?}",
            elsewhere.requests()
        );
        assert_eq!(server.requests().len(), 1, "{provider}: not retried");
        let text = err.to_string();
        assert!(text.contains("refused a redirect"), "{provider}: {text}");
        assert!(!text.contains(KEY), "{provider}: {text}");
    }
}

/// A redirect within the same origin is still followed.
#[tokio::test]
async fn same_origin_redirects_are_followed() {
    let server = FakeServer::start(|seen, _| {
        if seen.path.ends_with("/moved") {
            chat_reply("hello", 3, 0, 1)
        } else {
            Response::bytes(307, Vec::new()).header("location", "/v1/moved")
        }
    });
    let llm = client(&server, "openai", "gpt-4o-mini", &fast_config());
    let reply = within(llm.complete(&text_request("hi"))).await.unwrap();
    assert_eq!(reply.text, "hello");
    let seen = server.requests();
    assert_eq!(seen.len(), 2);
    assert!(
        seen[1]
            .header("authorization")
            .is_some_and(|v| v.contains(KEY))
    );
    assert!(
        seen[1].text().contains("hi"),
        "the body is re-sent to the same origin"
    );
}

/// A server that sends a byte every 50 ms never trips the read timeout,
/// yet the call ends at its deadline with an error that says so.
#[tokio::test]
async fn a_trickling_server_is_cut_off_at_the_call_deadline() {
    let body = chat_reply("slow", 1, 0, 1).body;
    let server = FakeServer::start(move |_, _| {
        Response::bytes(200, body.clone()).trickled(Duration::from_millis(50))
    });
    let mut config = fast_config();
    config.retry.call_deadline = Duration::from_millis(800);
    let llm = client(&server, "openai", "gpt-4o-mini", &config);
    let err = within(llm.complete(&text_request("hi")))
        .await
        .expect_err("the deadline ends the call");
    assert!(
        matches!(err.underlying(), LlmError::DeadlineExceeded { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("deadline"), "{err}");
}

/// A reply body over the limit is a typed error, announced or not.
#[tokio::test]
async fn a_reply_body_over_the_limit_is_refused() {
    let huge = format!("{{\"pad\": \"{}\"}}", "a".repeat(2 << 20));
    let server = FakeServer::start(move |_, _| Response::text(200, huge.clone()));
    let llm = client(&server, "openai", "gpt-4o-mini", &fast_config());
    let err = within(llm.complete(&text_request("hi")))
        .await
        .expect_err("too large");
    assert!(
        matches!(err.underlying(), LlmError::BodyTooLarge(_)),
        "{err:?}"
    );
    assert!(err.to_string().contains("larger than"), "{err}");
    assert_eq!(server.requests().len(), 1, "not retried");
}
