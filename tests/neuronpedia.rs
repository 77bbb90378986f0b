//! The Neuronpedia source against a fake Neuronpedia: a real HTTP/1.1
//! server on 127.0.0.1 started by each test, answering from a script and
//! recording every request it sees.

use std::time::Duration;

use sage::activation::neuronpedia::{
    ApiKey, NeuronpediaClient, NeuronpediaConfig, NeuronpediaSource, RetryPolicy,
};
use sage::activation::{ActivationSource, ExemplarQuery, SourceError};

mod common;
use common::{FakeServer, Request, Response};

const KEY: &str = "np-test-key-5f3a9";

/// Every request was one of the two read-only endpoints.
fn assert_read_only(server: &FakeServer) {
    for s in server.requests() {
        let allowed = (s.method == "GET" && s.path.starts_with("/api/feature/"))
            || (s.method == "POST" && s.path == "/api/activation/new");
        assert!(allowed, "sage sent a non read-only request: {s:?}");
    }
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
fn activation_answer(seen: &Request) -> Response {
    let body = seen.json();
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
    Response::json(200, answer)
}

/// Answers custom-text requests with [`activation_answer`] and feature
/// requests with [`FEATURE`].
fn feature_or_activation(seen: &Request) -> Response {
    if seen.method == "POST" {
        activation_answer(seen)
    } else {
        Response::text(200, FEATURE)
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
    let server = FakeServer::start(|seen, _| feature_or_activation(seen));
    let source = source(server.url(), None);
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

    let seen = server.requests();
    let posts: Vec<serde_json::Value> = seen
        .iter()
        .filter(|s| s.method == "POST")
        .map(|s| s.json())
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
    assert!(seen.iter().all(|s| s.header("x-api-key") == Some(KEY)));
    assert_read_only(&server);
}

#[tokio::test]
async fn a_429_is_retried_after_the_servers_retry_after() {
    let server = FakeServer::start(|seen, n| {
        if n == 0 {
            Response::text(429, r#"{"message":"slow down"}"#).header("Retry-After", "0")
        } else {
            activation_answer(seen)
        }
    });
    let records = source(server.url(), None)
        .activations(5, &["May".to_string()])
        .await
        .unwrap();
    assert_eq!(records[0].values, vec![0.0, 2.5]);
    assert_eq!(server.requests().len(), 2);
    assert_read_only(&server);
}

#[tokio::test]
async fn a_persistent_500_fails_after_bounded_retries_without_leaking_the_key() {
    // The server echoes the key back, as a careless proxy might.
    let server = FakeServer::start(|seen, _| {
        Response::text(
            500,
            format!(
                r#"{{"message":"inference host down (key {})"}}"#,
                seen.header("x-api-key").unwrap_or_default()
            ),
        )
    });
    let err = source(server.url(), None)
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
    assert_eq!(server.requests().len(), 3);
    assert!(!format!("{:?}", config(server.url(), None)).contains(KEY));
    assert_read_only(&server);
}

#[tokio::test]
async fn a_malformed_body_is_a_clear_error() {
    let server = FakeServer::start(|seen, _| {
        if seen.method == "POST" {
            Response::text(200, r#"{"tokens": ["a"], "values": "#)
        } else {
            Response::text(
                200,
                r#"{"activations": [{"tokens": ["a", "b"], "values": [1.0]}]}"#,
            )
        }
    });
    let source = source(server.url(), None);
    let err = source.activations(5, &["a".to_string()]).await.unwrap_err();
    assert!(err.to_string().contains("cannot read"), "{err}");
    assert!(err.to_string().contains("not JSON"), "{err}");
    let err = source
        .exemplars(5, &ExemplarQuery::default())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("2 tokens but 1 values"), "{err}");
    assert_read_only(&server);
}

#[tokio::test]
async fn unknown_features_are_reported_as_such_in_every_form() {
    // The feature route answers `null` for some ids and an error object
    // for others; the activation route answers 404.
    let server = FakeServer::start(|seen, _| match seen.path.as_str() {
        "/api/feature/gpt2-small/8-res-jb/999999" => Response::text(200, "null"),
        "/api/feature/gpt2-small/8-res-jb/888888" => {
            Response::text(200, r#"{"error":"Feature Not Found"}"#)
        }
        _ => Response::text(404, r#"{"message":"Neuron not found"}"#),
    });
    let source = source(server.url(), None);
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
    assert_read_only(&server);
}

#[tokio::test]
async fn cached_answers_do_not_reach_the_server_again() {
    let server = FakeServer::start(|seen, _| feature_or_activation(seen));
    let cache = tempfile::tempdir().unwrap();
    let texts = vec!["in May".to_string()];
    let first = source(server.url(), Some(cache.path()));
    let a = first.activations(3, &texts).await.unwrap();
    let e = first.exemplars(3, &ExemplarQuery::default()).await.unwrap();
    assert_eq!(server.requests().len(), 2);
    // A fresh source (a new run of sage) over the same cache directory.
    let second = source(server.url(), Some(cache.path()));
    assert_eq!(second.activations(3, &texts).await.unwrap(), a);
    assert_eq!(
        second
            .exemplars(3, &ExemplarQuery::default())
            .await
            .unwrap(),
        e
    );
    assert_eq!(second.explanations(3).await.unwrap().len(), 1);
    assert_eq!(
        server.requests().len(),
        2,
        "cache miss: {:?}",
        server.requests()
    );
    // A different text is a different key.
    second
        .activations(3, &["in June".to_string()])
        .await
        .unwrap();
    assert_eq!(server.requests().len(), 3);
    assert_read_only(&server);
}

#[tokio::test]
async fn known_width_rejects_out_of_range_features_without_a_request() {
    let server = FakeServer::start(|_, _| Response::text(500, "{}"));
    let source = source(server.url(), None).with_shape(24576, "blocks.8.hook_resid_pre");
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
    assert!(server.requests().is_empty());
}

mod explain_end_to_end {
    //! `sage explain --source neuronpedia` and `sage resume` of its sessions,
    //! the real binary against a fake Neuronpedia whose features fire on
    //! one word each (feature 0 on "May", feature 1 on "June").

    use std::path::{Path, PathBuf};
    use std::process::{Command, Output};

    use serde_json::{Value, json};

    use super::KEY;
    use super::common::{FakeServer, Request, Response, ok};

    fn word_of(index: u64) -> &'static str {
        ["May", "June"][(index % 2) as usize]
    }

    fn fires(token: &str, word: &str) -> bool {
        token.trim().trim_matches(|c: char| !c.is_alphanumeric()) == word
    }

    /// Top examples of one feature: sentences with its word, activation 6
    /// to 9 on the word and 0 elsewhere.
    fn feature(index: u64) -> Value {
        let word = word_of(index);
        let sentences = [
            format!("We met in {word} last year"),
            format!("The party is in {word} again"),
            format!("Every {word} the river floods"),
            format!("She was born in {word} of 1990"),
        ];
        let examples: Vec<Value> = sentences
            .iter()
            .enumerate()
            .map(|(i, text)| {
                let tokens: Vec<String> = text.split(' ').map(|t| format!(" {t}")).collect();
                let peak = 9.0 - i as f64;
                let values: Vec<f64> = tokens
                    .iter()
                    .map(|t| if fires(t, word) { peak } else { 0.0 })
                    .collect();
                let at = values.iter().position(|&v| v > 0.0).unwrap();
                json!({"tokens": tokens, "values": values, "maxValue": peak,
                       "maxValueTokenIndex": at, "dataIndex": i.to_string(),
                       "dataSource": "fake"})
            })
            .collect();
        json!({"modelId": "gpt2-small", "layer": "8-res-jb", "index": index.to_string(),
               "maxActApprox": 9.0, "frac_nonzero": 0.001, "activations": examples,
               "explanations": []})
    }

    /// The activation route: 3.0 on each token that is the feature's word.
    fn activation(request: &Request) -> Response {
        let body = request.json();
        let index: u64 = body["feature"]["index"]
            .as_str()
            .and_then(|i| i.parse().ok())
            .unwrap();
        let tokens: Vec<String> = std::iter::once("<|endoftext|>".to_string())
            .chain(
                body["customText"]
                    .as_str()
                    .unwrap()
                    .split(' ')
                    .map(str::to_string),
            )
            .collect();
        let values: Vec<f64> = tokens
            .iter()
            .map(|t| if fires(t, word_of(index)) { 3.0 } else { 0.0 })
            .collect();
        let max = values.iter().cloned().fold(0.0, f64::max);
        let at = values.iter().position(|&v| v == max).unwrap_or(0);
        Response::json(
            200,
            json!({"tokens": tokens, "values": values, "maxValue": max, "minValue": 0.0,
                   "maxValueTokenIndex": at, "modelId": "gpt2-small", "layer": "8-res-jb",
                   "index": index.to_string()}),
        )
    }

    fn fake_neuronpedia() -> FakeServer {
        FakeServer::start(|request, _| {
            let prefix = "/api/feature/gpt2-small/8-res-jb/";
            match request.path.strip_prefix(prefix) {
                Some(index) if request.method == "GET" => match index.parse() {
                    Ok(index) => Response::json(200, feature(index)),
                    Err(_) => Response::text(404, r#"{"message":"no such feature"}"#),
                },
                _ if request.method == "POST" && request.path == "/api/activation/new" => {
                    activation(request)
                }
                _ => Response::text(404, r#"{"message":"unknown route"}"#),
            }
        })
    }

    fn sage(data: &Path, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_sage"))
            .args(args)
            .env("SAGE_DATA_DIR", data)
            .env("NEURONPEDIA_API_KEY", KEY)
            .env_remove("NEURONPEDIA_URL")
            .output()
            .expect("the sage binary runs")
    }

    fn explain(data: &Path, server: &FakeServer, features: &str) -> Output {
        let out = data.join("out");
        sage(
            data,
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
                features,
                "--llm",
                "heuristic",
                "--out",
                out.to_str().unwrap(),
            ],
        )
    }

    fn read_json(path: &Path) -> Value {
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn explain_with_a_neuronpedia_source_writes_reports_from_its_answers() {
        let server = fake_neuronpedia();
        let data = tempfile::tempdir().unwrap();
        ok(explain(data.path(), &server, "0..2"));

        for index in 0..2u64 {
            let word = word_of(index);
            let report = read_json(&data.path().join(format!("out/feature-{index}.json")));
            assert_eq!(report["feature"], index);
            assert_eq!(report["model"], "gpt2-small");
            assert_eq!(report["sae"], "8-res-jb");
            assert_eq!(report["reasoner"], "heuristic");
            assert_eq!(report["status"], "concluded");
            let label = report["label"].as_str().unwrap();
            assert!(label.contains(word), "feature {index}: {label}");
            // Experiments ran through the activation route: its tokens
            // (with the BOS it prepends) and its rule.
            let run: Vec<&Value> = report["experiments"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|e| e["status"] == "done")
                .collect();
            assert!(!run.is_empty(), "feature {index} ran no experiment");
            for e in run {
                assert_eq!(e["tokens"][0], "<|endoftext|>");
                let fired = e["values"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|v| v.as_f64() == Some(3.0));
                let text = e["text"].as_str().unwrap();
                assert_eq!(
                    fired,
                    text.split(' ').any(|t| fires(t, word)),
                    "feature {index}: {text}"
                );
            }
        }

        // The header records where the source lives, and never the key.
        let sessions = data.path().join("sessions");
        for entry in std::fs::read_dir(&sessions).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            assert!(!text.contains(KEY), "the key reached a session log");
            let header: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
            assert_eq!(
                header["source"],
                json!({"kind": "neuronpedia", "model_id": "gpt2-small",
                       "sae_id": "8-res-jb", "base_url": server.url()})
            );
        }
        for entry in std::fs::read_dir(data.path().join("out")).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            assert!(!text.contains(KEY));
        }
        let requests = server.requests();
        assert!(requests.iter().all(|r| r.header("x-api-key") == Some(KEY)));
        super::assert_read_only(&server);
    }

    /// Explains one feature, then cuts its session after the first three
    /// events (start, exemplars, hypotheses) and drops the answer cache, as
    /// if the run had been killed. Returns the log's path and id.
    fn interrupted_session(data: &Path, server: &FakeServer, feature: &str) -> (PathBuf, String) {
        ok(explain(data, server, feature));
        let log = std::fs::read_dir(data.join("sessions"))
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let id = log.file_stem().unwrap().to_str().unwrap().to_string();
        let full = std::fs::read_to_string(&log).unwrap();
        assert!(full.lines().count() > 4, "{full}");
        let cut: String = full.split_inclusive('\n').take(4).collect();
        std::fs::write(&log, cut).unwrap();
        std::fs::remove_dir_all(data.join("cache")).ok();
        std::fs::remove_dir_all(data.join("out")).ok();
        (log, id)
    }

    #[test]
    fn resume_reopens_the_recorded_neuronpedia_server() {
        let server = fake_neuronpedia();
        let data = tempfile::tempdir().unwrap();
        let (log, id) = interrupted_session(data.path(), &server, "1");
        let before = server.requests().len();

        // Nothing on the command line or in the environment names the
        // server: only the header does.
        let printed = ok(sage(data.path(), &["resume", &id]));
        assert!(
            printed.contains(&id) && printed.contains("concluded"),
            "{printed}"
        );
        assert!(
            server.requests().len() > before,
            "the resumed session asked the recorded server"
        );
        let resumed = std::fs::read_to_string(&log).unwrap();
        let last: Value = serde_json::from_str(resumed.lines().last().unwrap()).unwrap();
        assert!(last["seq"].as_u64().unwrap() > 3);
    }

    #[test]
    fn a_rerun_against_another_server_starts_afresh() {
        let first = fake_neuronpedia();
        let data = tempfile::tempdir().unwrap();
        let (log, _) = interrupted_session(data.path(), &first, "0");
        let cut = std::fs::read_to_string(&log).unwrap();

        let second = fake_neuronpedia();
        ok(explain(data.path(), &second, "0"));
        assert_eq!(
            std::fs::read_dir(data.path().join("sessions"))
                .unwrap()
                .count(),
            2,
            "the other server's interrupted session was not continued"
        );
        assert_eq!(std::fs::read_to_string(&log).unwrap(), cut);
        assert!(data.path().join("out/feature-0.json").is_file());
    }
}

/// A redirect to another origin is refused: the other server never gets
/// the `x-api-key` or the custom text.
#[tokio::test]
async fn redirects_to_another_origin_are_refused_and_the_key_stays_home() {
    let elsewhere = FakeServer::start(|seen, _| activation_answer(seen));
    let target = format!("{}/api/activation/new", elsewhere.url());
    let server =
        FakeServer::start(move |_, _| Response::bytes(307, Vec::new()).header("location", &target));
    let err = source(server.url(), None)
        .activations(5, &["secret text".to_string()])
        .await
        .expect_err("the redirect is refused");
    assert!(
        elsewhere.requests().is_empty(),
        "{:?}",
        elsewhere.requests()
    );
    assert_eq!(server.requests().len(), 1, "not retried");
    let text = err.to_string();
    assert!(text.contains("refused a redirect"), "{text}");
    assert!(!text.contains(KEY), "{text}");
}

/// An answer over the body limit is refused with a clear error.
#[tokio::test]
async fn an_answer_over_the_body_limit_is_refused() {
    let server = FakeServer::start(|_, _| Response::text(200, "x".repeat(4096)));
    let mut config = config(server.url(), None);
    config.max_body_bytes = 1024;
    let client = NeuronpediaClient::new(config).unwrap();
    let err = NeuronpediaSource::new(client, "gpt2-small", "8-res-jb")
        .activations(5, &["May".to_string()])
        .await
        .expect_err("too large");
    assert!(err.to_string().contains("larger than 1024 bytes"), "{err}");
}
