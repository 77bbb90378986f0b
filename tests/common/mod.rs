//! Helpers shared by the integration tests: tensor comparison for the parity
//! tests, the fake HTTP/1.1 server every network test talks to, and checking
//! a run of the `sage` binary.
//!
//! Each test binary includes this module and uses only part of it.
#![allow(dead_code)]

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use candle_core::Tensor;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The largest absolute element-wise difference of two same-shaped tensors.
pub fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
    assert_eq!(a.dims(), b.dims(), "shape mismatch");
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

/// The stdout of a `sage` run that must have succeeded; otherwise fails the
/// test showing both streams.
pub fn ok(output: std::process::Output) -> String {
    assert!(
        output.status.success(),
        "sage failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("sage prints UTF-8")
}

/// One request as the fake server read it.
#[derive(Debug, Clone)]
pub struct Request {
    /// `GET`, `POST`, …
    pub method: String,
    /// Path and query, as sent.
    pub path: String,
    /// Headers, names lower-cased.
    pub headers: BTreeMap<String, String>,
    /// The body bytes.
    pub body: Vec<u8>,
}

impl Request {
    /// A header's value, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One answer: status, extra headers, body, and how long to wait first.
#[derive(Debug, Clone)]
pub struct Response {
    /// HTTP status code.
    pub status: u16,
    /// Headers besides `content-length` and `connection`.
    pub headers: Vec<(String, String)>,
    /// The body bytes.
    pub body: Vec<u8>,
    /// Delay before the answer is written.
    pub delay: Duration,
    /// When set, the body is written one byte at a time with this pause
    /// between bytes (a server that trickles).
    pub trickle: Option<Duration>,
}

impl Response {
    /// A JSON body with its content type.
    pub fn json(status: u16, body: serde_json::Value) -> Response {
        Response::text(status, body.to_string())
    }

    /// A body sent as `application/json` whatever it holds (tests send
    /// truncated or invalid JSON this way).
    pub fn text(status: u16, body: impl Into<String>) -> Response {
        Response::bytes(status, body.into().into_bytes()).header("content-type", "application/json")
    }

    /// Raw bytes with no content type.
    pub fn bytes(status: u16, body: Vec<u8>) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body,
            delay: Duration::ZERO,
            trickle: None,
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Response {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// Writes the body one byte per `pause`.
    pub fn trickled(mut self, pause: Duration) -> Response {
        self.trickle = Some(pause);
        self
    }

    /// Waits `delay` before answering.
    pub fn delayed(mut self, delay: Duration) -> Response {
        self.delay = delay;
        self
    }
}

type Answer = dyn Fn(&Request, usize) -> Response + Send + Sync;

/// A real HTTP/1.1 server on 127.0.0.1 (one connection per request) with
/// its own thread and tokio runtime, so sync tests, async tests and tests
/// that run the `sage` binary all use it the same way. It records every
/// request and the most requests it ever held at once.
pub struct FakeServer {
    url: String,
    requests: Arc<Mutex<Vec<Request>>>,
    peak_in_flight: Arc<AtomicUsize>,
}

impl FakeServer {
    /// Answers each request with `answer(request, n)`, `n` counting
    /// requests from 0 in arrival order.
    pub fn start(
        answer: impl Fn(&Request, usize) -> Response + Send + Sync + 'static,
    ) -> FakeServer {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let url = format!("http://{}", listener.local_addr().expect("local address"));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let peak_in_flight = Arc::new(AtomicUsize::new(0));
        let shared = Shared {
            answer: Arc::new(answer),
            requests: requests.clone(),
            in_flight: Arc::new(AtomicUsize::new(0)),
            peak: peak_in_flight.clone(),
        };
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("fake server runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                while let Ok((stream, _)) = listener.accept().await {
                    tokio::spawn(shared.clone().serve(stream));
                }
            });
        });
        FakeServer {
            url,
            requests,
            peak_in_flight,
        }
    }

    /// Answers requests in arrival order from `script`, then 418.
    pub fn scripted(script: Vec<Response>) -> FakeServer {
        let script = Mutex::new(VecDeque::from(script));
        FakeServer::start(move |_, _| {
            script
                .lock()
                .expect("script")
                .pop_front()
                .unwrap_or_else(|| Response::text(418, "fake server: script exhausted"))
        })
    }

    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().expect("request log").clone()
    }

    /// The most requests that were being answered at the same time.
    pub fn peak_in_flight(&self) -> usize {
        self.peak_in_flight.load(Ordering::SeqCst)
    }
}

#[derive(Clone)]
struct Shared {
    answer: Arc<Answer>,
    requests: Arc<Mutex<Vec<Request>>>,
    in_flight: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
}

impl Shared {
    async fn serve(self, mut stream: TcpStream) {
        let Some(request) = read_request(&mut stream).await else {
            return;
        };
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        let n = {
            let mut log = self.requests.lock().expect("request log");
            log.push(request.clone());
            log.len() - 1
        };
        let response = (self.answer)(&request, n);
        tokio::time::sleep(response.delay).await;
        // Leave the in-flight count before answering, so a client that waits
        // for this answer is never counted as overlapping with it.
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        let mut head = format!(
            "HTTP/1.1 {} Fake\r\ncontent-length: {}\r\nconnection: close\r\n",
            response.status,
            response.body.len()
        );
        for (name, value) in &response.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        let _ = stream.write_all(head.as_bytes()).await;
        match response.trickle {
            None => {
                let _ = stream.write_all(&response.body).await;
            }
            Some(pause) => {
                for byte in &response.body {
                    if stream.write_all(&[*byte]).await.is_err() {
                        return;
                    }
                    let _ = stream.flush().await;
                    tokio::time::sleep(pause).await;
                }
            }
        }
        let _ = stream.shutdown().await;
    }
}

async fn read_request(stream: &mut TcpStream) -> Option<Request> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split_whitespace();
    let method = first.next()?.to_string();
    let path = first.next()?.to_string();
    let headers: BTreeMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let length: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some(Request {
        method,
        path,
        headers,
        body,
    })
}

/// The scripted answer to each reasoning step, chosen by the schema title
/// the client sends (`hypotheses`, `experiments`, `verdicts`, `review`,
/// `conclusion`).
pub fn scripted_answer(step: &str) -> serde_json::Value {
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

/// Which reasoning step a chat request is for: the title of the schema it
/// carries, wherever the client put it (`response_format` as `json_schema`
/// or `json_object`, an Anthropic tool's `input_schema`, or the schema
/// written into the system prompt); `conclusion` when none is found.
pub fn step_of(request: &Request) -> String {
    let body = request.json();
    let titled = [
        "/response_format/json_schema/schema/title",
        "/response_format/schema/title",
        "/tools/0/input_schema/title",
    ]
    .iter()
    .find_map(|path| {
        body.pointer(path)
            .and_then(|t| t.as_str())
            .map(String::from)
    });
    if let Some(title) = titled {
        return title;
    }
    let system = match &body["system"] {
        serde_json::Value::Array(blocks) => blocks
            .iter()
            .filter_map(|b| b["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        serde_json::Value::String(text) => text.clone(),
        _ => body["messages"][0]["content"]
            .as_str()
            .unwrap_or("")
            .to_string(),
    };
    let marker = "\"title\":\"";
    system
        .rfind(marker)
        .map(|i| {
            system[i + marker.len()..]
                .split('"')
                .next()
                .unwrap_or("")
                .to_string()
        })
        .unwrap_or_else(|| "conclusion".to_string())
}
