//! The Neuronpedia source against a fake Neuronpedia: a real HTTP/1.1
//! server on 127.0.0.1 started by each test, answering from a script and
//! recording every request it sees.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use sage::activation::neuronpedia::{
    ApiKey, NeuronpediaClient, NeuronpediaConfig, NeuronpediaSource, RetryPolicy,
};
use sage::activation::{ActivationSource, ExemplarQuery, SourceError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const KEY: &str = "np-test-key-5f3a9";

/// A request as the fake server saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    api_key: Option<String>,
    body: String,
}

/// A scripted answer: status, extra headers, body.
struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
}

fn reply(status: u16, body: &str) -> Reply {
    Reply {
        status,
        headers: Vec::new(),
        body: body.to_string(),
    }
}

type Script = dyn Fn(&Seen, usize) -> Reply + Send + Sync;

/// The fake Neuronpedia: answers each request with `script(request, n)`,
/// where `n` counts requests from 0.
struct FakeNeuronpedia {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl FakeNeuronpedia {
    async fn start(script: impl Fn(&Seen, usize) -> Reply + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let script: Arc<Script> = Arc::new(script);
        let log = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let log = log.clone();
                let script = script.clone();
                tokio::spawn(async move {
                    let Some(request) = read_request(&mut stream).await else {
                        return;
                    };
                    let n = {
                        let mut log = log.lock().unwrap();
                        log.push(request.clone());
                        log.len() - 1
                    };
                    let answer = script(&request, n);
                    let mut head = format!(
                        "HTTP/1.1 {} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
                        answer.status,
                        answer.body.len()
                    );
                    for (name, value) in &answer.headers {
                        head.push_str(&format!("{name}: {value}\r\n"));
                    }
                    head.push_str("\r\n");
                    let _ = stream.write_all(head.as_bytes()).await;
                    let _ = stream.write_all(answer.body.as_bytes()).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        FakeNeuronpedia { url, seen }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Every request was one of the two read-only endpoints.
    fn assert_read_only(&self) {
        for s in self.seen() {
            let allowed = (s.method == "GET" && s.path.starts_with("/api/feature/"))
                || (s.method == "POST" && s.path == "/api/activation/new");
            assert!(allowed, "sage sent a non read-only request: {s:?}");
        }
    }
}

async fn read_request(stream: &mut tokio::net::TcpStream) -> Option<Seen> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_string();
    let path = first.next()?.to_string();
    let mut length = 0;
    let mut api_key = None;
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            match name.trim().to_ascii_lowercase().as_str() {
                "content-length" => length = value.trim().parse().ok()?,
                "x-api-key" => api_key = Some(value.trim().to_string()),
                _ => {}
            }
        }
    }
    while buf.len() < head_end + length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = String::from_utf8_lossy(&buf[head_end..]).to_string();
    Some(Seen {
        method,
        path,
        api_key,
        body,
    })
}

fn config(url: &str, cache: Option<&std::path::Path>) -> NeuronpediaConfig {
    let mut config = NeuronpediaConfig::new(url);
    config.api_key = ApiKey::new(KEY);
    config.min_interval = Duration::from_millis(1);
    config.retry = RetryPolicy {
        max_retries: 2,
        backoff_base: Duration::from_millis(1),
        max_wait: Duration::from_millis(50),
    };
    config.timeout = Duration::from_secs(10);
    config.cache_dir = cache.map(|p| p.to_path_buf());
    config
}

fn source(url: &str, cache: Option<&std::path::Path>) -> NeuronpediaSource {
    let client = NeuronpediaClient::new(config(url, cache)).unwrap();
    NeuronpediaSource::new(client, "gpt2-small", "8-res-jb")
}

/// Answers custom-text requests by activating 2.5 on every token "May".
fn activation_answer(seen: &Seen) -> Reply {
    let body: serde_json::Value = serde_json::from_str(&seen.body).unwrap();
    let text = body["customText"].as_str().unwrap();
    let tokens: Vec<String> = std::iter::once("<|endoftext|>".to_string())
        .chain(text.split(' ').map(str::to_string))
        .collect();
    let values: Vec<f32> = tokens
        .iter()
        .map(|t| if t == "May" { 2.5 } else { 0.0 })
        .collect();
    let answer = serde_json::json!({
        "tokens": tokens, "values": values,
        "maxValue": 2.5, "minValue": 0.0, "maxValueTokenIndex": 1,
        "modelId": "gpt2-small", "layer": "8-res-jb", "index": body["feature"]["index"],
        "creatorId": "", "dataIndex": null, "dataSource": "Neuronpedia",
    });
    reply(200, &answer.to_string())
}

/// Answers custom-text requests with [`activation_answer`] and feature
/// requests with [`FEATURE`].
fn feature_or_activation(seen: &Seen) -> Reply {
    if seen.method == "POST" {
        activation_answer(seen)
    } else {
        reply(200, FEATURE)
    }
}

const FEATURE: &str = r#"{
  "modelId": "gpt2-small", "layer": "8-res-jb", "index": "1337",
  "maxActApprox": 9.75, "frac_nonzero": 0.00125,
  "activations": [
    {"tokens": ["in", " May"], "values": [0.0, 8.5], "maxValue": 8.5, "maxValueTokenIndex": 1, "dataIndex": "101", "dataSource": "openwebtext"},
    {"tokens": ["to", " June"], "values": [0.5, 9.75], "maxValue": 9.75, "maxValueTokenIndex": 1, "dataIndex": "77", "dataSource": "openwebtext"},
    {"tokens": ["the", " may", "or"], "values": [0.0, 3.0, 0.0], "maxValue": 3.0, "binMin": 2.0, "binMax": 4.0}
  ],
  "explanations": [{"description": "month names", "typeName": "oai_token-act-pair", "explanationModelName": "gpt-4o-mini"}]
}"#;

#[tokio::test]
async fn activations_and_exemplars_come_back_in_sage_shapes() {
    let server = FakeNeuronpedia::start(|seen, _| feature_or_activation(seen)).await;
    let source = source(&server.url, None);
    let texts = vec!["We met in May".to_string(), "You may go".to_string()];
    let records = source.activations(1337, &texts).await.unwrap();
    assert_eq!(records.len(), 2);
    assert_eq!(
        records[0].tokens,
        vec!["<|endoftext|>", "We", "met", "in", "May"]
    );
    assert_eq!(records[0].values, vec![0.0, 0.0, 0.0, 0.0, 2.5]);
    assert_eq!(records[0].max_value, 2.5);
    assert_eq!(records[0].max_value_token_index, 4);
    assert_eq!(records[0].model, "gpt2-small");
    assert_eq!(records[0].sae, "8-res-jb");
    assert_eq!(records[0].feature, 1337);
    assert_eq!(records[1].max_value, 0.0);
    // Same JSON keys as the local source's records.
    let json = serde_json::to_value(&records[0]).unwrap();
    for key in [
        "tokens",
        "token_ids",
        "values",
        "max_value",
        "max_value_token_index",
    ] {
        assert!(json.get(key).is_some(), "missing {key} in {json}");
    }

    let exemplars = source
        .exemplars(1337, &ExemplarQuery::default())
        .await
        .unwrap();
    assert_eq!(exemplars.feature, 1337);
    assert_eq!(exemplars.density, Some(0.00125));
    assert_eq!(exemplars.max_activation, 9.75);
    let tops: Vec<(f32, Option<&str>)> = exemplars
        .top
        .iter()
        .map(|e| (e.record.max_value, e.origin.as_deref()))
        .collect();
    assert_eq!(
        tops,
        vec![
            (9.75, Some("neuronpedia:openwebtext#77")),
            (8.5, Some("neuronpedia:openwebtext#101"))
        ]
    );
    assert_eq!(exemplars.quantiles.len(), 1);
    assert_eq!(exemplars.quantiles[0].min_value, 2.0);
    assert_eq!(exemplars.quantiles[0].examples[0].record.max_value, 3.0);
    let explanations = source.explanations(1337).await.unwrap();
    assert_eq!(explanations[0].description, "month names");

    let seen = server.seen();
    let posts: Vec<serde_json::Value> = seen
        .iter()
        .filter(|s| s.method == "POST")
        .map(|s| serde_json::from_str(&s.body).unwrap())
        .collect();
    assert_eq!(posts.len(), 2);
    assert_eq!(
        posts[0]["feature"],
        serde_json::json!({"modelId": "gpt2-small", "source": "8-res-jb", "index": "1337"})
    );
    assert!(
        seen.iter()
            .any(|s| s.path == "/api/feature/gpt2-small/8-res-jb/1337")
    );
    assert!(seen.iter().all(|s| s.api_key.as_deref() == Some(KEY)));
    server.assert_read_only();
}

#[tokio::test]
async fn a_429_is_retried_after_the_servers_retry_after() {
    let server = FakeNeuronpedia::start(|seen, n| {
        if n == 0 {
            Reply {
                status: 429,
                headers: vec![("Retry-After", "0".to_string())],
                body: r#"{"message":"slow down"}"#.to_string(),
            }
        } else {
            activation_answer(seen)
        }
    })
    .await;
    let records = source(&server.url, None)
        .activations(5, &["May".to_string()])
        .await
        .unwrap();
    assert_eq!(records[0].values, vec![0.0, 2.5]);
    assert_eq!(server.seen().len(), 2);
    server.assert_read_only();
}

#[tokio::test]
async fn a_persistent_500_fails_after_bounded_retries_without_leaking_the_key() {
    // The server echoes the key back, as a careless proxy might.
    let server = FakeNeuronpedia::start(|seen, _| {
        reply(
            500,
            &format!(
                r#"{{"message":"inference host down (key {})"}}"#,
                seen.api_key.clone().unwrap_or_default()
            ),
        )
    })
    .await;
    let err = source(&server.url, None)
        .activations(5, &["May".to_string()])
        .await
        .unwrap_err();
    assert!(matches!(err, SourceError::Remote(_)), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("500"), "{message}");
    assert!(message.contains("3 attempt"), "{message}");
    assert!(message.contains("inference host down"), "{message}");
    assert!(!message.contains(KEY), "key leaked: {message}");
    assert!(!format!("{err:?}").contains(KEY));
    // One attempt plus max_retries (2) retries, then it gives up.
    assert_eq!(server.seen().len(), 3);
    assert!(!format!("{:?}", config(&server.url, None)).contains(KEY));
    server.assert_read_only();
}

#[tokio::test]
async fn a_malformed_body_is_a_clear_error() {
    let server = FakeNeuronpedia::start(|seen, _| {
        if seen.method == "POST" {
            reply(200, r#"{"tokens": ["a"], "values": "#)
        } else {
            reply(
                200,
                r#"{"activations": [{"tokens": ["a", "b"], "values": [1.0]}]}"#,
            )
        }
    })
    .await;
    let source = source(&server.url, None);
    let err = source.activations(5, &["a".to_string()]).await.unwrap_err();
    assert!(err.to_string().contains("cannot read"), "{err}");
    assert!(err.to_string().contains("not JSON"), "{err}");
    let err = source
        .exemplars(5, &ExemplarQuery::default())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("2 tokens but 1 values"), "{err}");
    server.assert_read_only();
}

#[tokio::test]
async fn unknown_features_are_reported_as_such_in_every_form() {
    // The feature route answers `null` for some ids and an error object
    // for others; the activation route answers 404.
    let server = FakeNeuronpedia::start(|seen, _| match seen.path.as_str() {
        "/api/feature/gpt2-small/8-res-jb/999999" => reply(200, "null"),
        "/api/feature/gpt2-small/8-res-jb/888888" => reply(200, r#"{"error":"Feature Not Found"}"#),
        _ => reply(404, r#"{"message":"Neuron not found"}"#),
    })
    .await;
    let source = source(&server.url, None);
    let query = ExemplarQuery::default();
    for result in [
        source.exemplars(999999, &query).await.map(|_| ()),
        source.exemplars(888888, &query).await.map(|_| ()),
        source
            .activations(777777, &["x".to_string()])
            .await
            .map(|_| ()),
    ] {
        let err = result.unwrap_err();
        assert!(matches!(err, SourceError::UnknownFeature(_)), "{err:?}");
        assert!(err.to_string().contains("gpt2-small/8-res-jb/"), "{err}");
    }
    server.assert_read_only();
}

#[tokio::test]
async fn cached_answers_do_not_reach_the_server_again() {
    let server = FakeNeuronpedia::start(|seen, _| feature_or_activation(seen)).await;
    let cache = tempfile::tempdir().unwrap();
    let texts = vec!["in May".to_string()];
    let first = source(&server.url, Some(cache.path()));
    let a = first.activations(3, &texts).await.unwrap();
    let e = first.exemplars(3, &ExemplarQuery::default()).await.unwrap();
    assert_eq!(server.seen().len(), 2);
    // A fresh source (a new run of sage) over the same cache directory.
    let second = source(&server.url, Some(cache.path()));
    assert_eq!(second.activations(3, &texts).await.unwrap(), a);
    assert_eq!(
        second
            .exemplars(3, &ExemplarQuery::default())
            .await
            .unwrap(),
        e
    );
    assert_eq!(second.explanations(3).await.unwrap().len(), 1);
    assert_eq!(server.seen().len(), 2, "cache miss: {:?}", server.seen());
    // A different text is a different key.
    second
        .activations(3, &["in June".to_string()])
        .await
        .unwrap();
    assert_eq!(server.seen().len(), 3);
    server.assert_read_only();
}

#[tokio::test]
async fn known_width_rejects_out_of_range_features_without_a_request() {
    let server = FakeNeuronpedia::start(|_, _| reply(500, "{}")).await;
    let source = source(&server.url, None).with_shape(24576, "blocks.8.hook_resid_pre");
    let err = source
        .activations(24576, &["x".to_string()])
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            SourceError::FeatureOutOfRange {
                feature: 24576,
                max: 24575
            }
        ),
        "{err:?}"
    );
    assert!(server.seen().is_empty());
}
