//! The session log on real files: torn tails, corruption, sequence checks,
//! version checks, unicode, resume, and a never-panics property over
//! arbitrary bytes (with the inputs the fuzzer found kept as regressions);
//! then the live driver against the real agent: replaying a log rebuilds the
//! live state exactly, and a log cut short resumes to a consistent end.

use std::io::Write;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use sage::session::{
    Durability, FORMAT_VERSION, LogError, LogHeader, LogWriter, SourceRecord, parse_log,
    read_header, read_log,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct TestConfig {
    max_rounds: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum TestEvent {
    Note { text: String },
    Number { value: i64 },
    Measure { value: f32 },
}

fn header(id: &str) -> LogHeader<TestConfig> {
    LogHeader {
        format: "sage-session".into(),
        format_version: FORMAT_VERSION,
        session_id: id.into(),
        model: "gpt2".into(),
        sae: "gpt2-small-res-jb/blocks.8.hook_resid_pre".into(),
        hook: "blocks.8.hook_resid_pre".into(),
        source: None,
        feature: 1337,
        reasoner: "heuristic".into(),
        seed: 7,
        created_at_ms: 1_764_000_000_000,
        config: TestConfig { max_rounds: 5 },
    }
}

fn note(text: &str) -> TestEvent {
    TestEvent::Note { text: text.into() }
}

/// Writes a header and `n` note events through the real writer (synced on
/// close; `unicode_text_round_trips_exactly` covers per-event syncing).
fn write_log(dir: &Path, n: usize) -> PathBuf {
    let path = dir.join("s.jsonl");
    let mut writer = LogWriter::create(&path, &header("s"), Durability::OnClose).unwrap();
    for i in 0..n {
        writer
            .append(1_764_000_000_000 + i as u64, &note(&format!("event {i}")))
            .unwrap();
    }
    writer.close().unwrap();
    path
}

fn read(path: &Path) -> Result<sage::session::LoadedLog<TestConfig, TestEvent>, LogError> {
    read_log(path)
}

fn append_raw(path: &Path, bytes: &[u8]) {
    let mut file = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    file.write_all(bytes).unwrap();
}

#[test]
fn written_events_read_back_in_order_with_their_header() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_log(dir.path(), 3);
    let log = read(&path).unwrap();
    assert_eq!(log.header, header("s"));
    assert_eq!(log.entries.len(), 3);
    assert_eq!(
        log.entries.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(log.entries[2].event, note("event 2"));
    assert_eq!(log.entries[2].at_ms, 1_764_000_000_002);
    assert!(log.torn_tail.is_none());
    assert_eq!(log.intact_len, std::fs::metadata(&path).unwrap().len());
}

#[test]
fn each_event_is_one_line_in_the_documented_shape() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_log(dir.path(), 2);
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3);
    let first: Value = serde_json::from_str(lines[1]).unwrap();
    assert_eq!(
        first,
        serde_json::json!({"seq":1,"at_ms":1_764_000_000_000u64,
                           "event":{"kind":"note","text":"event 0"}})
    );
    assert!(text.ends_with('\n'));
}

#[test]
fn torn_tail_without_newline_is_reported_and_left_out() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_log(dir.path(), 2);
    append_raw(&path, br#"{"seq":3,"at_ms":5,"event":{"kind":"no"#);
    let log = read(&path).unwrap();
    assert_eq!(log.entries.len(), 2);
    let torn = log.torn_tail.expect("the torn line is reported");
    assert_eq!(torn.line, 4);
    assert_eq!(torn.bytes, 38);
    assert!(torn.to_string().contains("torn"), "{torn}");
}

#[test]
fn complete_json_missing_only_its_newline_still_counts_as_torn() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_log(dir.path(), 1);
    append_raw(
        &path,
        br#"{"seq":2,"at_ms":5,"event":{"kind":"number","value":4}}"#,
    );
    let log = read(&path).unwrap();
    assert_eq!(log.entries.len(), 1);
    assert_eq!(log.torn_tail.unwrap().line, 3);
}

#[test]
fn unparseable_final_line_with_newline_is_torn_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_log(dir.path(), 2);
    // What a filesystem can leave after a crash: the size grew, the data is zeros.
    append_raw(&path, b"\0\0\0\0\0\0\n");
    let log = read(&path).unwrap();
    assert_eq!(log.entries.len(), 2);
    assert_eq!(log.torn_tail.unwrap().line, 4);
}

#[test]
fn resume_cuts_the_torn_tail_and_appends_after_the_last_good_event() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_log(dir.path(), 2);
    let good_len = std::fs::metadata(&path).unwrap().len();
    append_raw(&path, br#"{"seq":3,"at_m"#);
    let (log, mut writer) =
        LogWriter::resume::<TestConfig, TestEvent>(&path, Durability::EveryEvent).unwrap();
    assert_eq!(log.entries.len(), 2);
    assert!(log.torn_tail.is_some());
    assert_eq!(std::fs::metadata(&path).unwrap().len(), good_len);
    assert_eq!(writer.append(99, &note("after resume")).unwrap(), 3);
    writer.close().unwrap();
    let reread = read(&path).unwrap();
    assert!(reread.torn_tail.is_none());
    assert_eq!(reread.entries.len(), 3);
    assert_eq!(reread.entries[2].event, note("after resume"));
}

#[test]
fn a_complete_last_line_that_does_not_parse_is_kept_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_log(dir.path(), 2);
    // What an older sage wrote for a NaN: a whole line, newline and all.
    append_raw(
        &path,
        b"{\"seq\":3,\"at_ms\":1,\"event\":{\"kind\":\"measure\",\"value\":null}}\n",
    );
    let before = std::fs::read(&path).unwrap();
    match read(&path) {
        Err(LogError::Corrupt { line, after, .. }) => assert_eq!((line, after), (4, 0)),
        other => panic!("expected the complete last line to be reported, got {other:?}"),
    }
    let refused = LogWriter::resume::<TestConfig, TestEvent>(&path, Durability::EveryEvent);
    assert!(matches!(refused, Err(LogError::Corrupt { line: 4, .. })));
    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "resume must not cut off a complete line"
    );
}

#[test]
fn non_finite_numbers_are_refused_unwritten_and_the_log_stays_readable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.jsonl");
    let mut writer = LogWriter::create(&path, &header("s"), Durability::EveryEvent).unwrap();
    assert_eq!(
        writer
            .append(1, &TestEvent::Measure { value: 0.5 })
            .unwrap(),
        1
    );
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        match writer.append(2, &TestEvent::Measure { value: bad }) {
            Err(e @ LogError::Unreadable { seq: 2, .. }) => {
                assert!(e.to_string().contains("NaN or infinite"), "{e}");
            }
            other => panic!("{bad} must be refused, got {other:?}"),
        }
    }
    // The refused events took no sequence number and left no bytes.
    assert_eq!(writer.append(3, &note("after")).unwrap(), 2);
    writer.close().unwrap();
    let log = read(&path).unwrap();
    assert!(log.torn_tail.is_none());
    assert_eq!(log.entries.len(), 2);
    assert_eq!(log.entries[0].event, TestEvent::Measure { value: 0.5 });
    assert_eq!(log.entries[1].event, note("after"));
}

#[test]
fn a_second_writer_is_refused_while_the_first_holds_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_log(dir.path(), 1);
    let (_, mut first) =
        LogWriter::resume::<TestConfig, TestEvent>(&path, Durability::EveryEvent).unwrap();
    match LogWriter::resume::<TestConfig, TestEvent>(&path, Durability::EveryEvent) {
        Err(e @ LogError::Locked { .. }) => {
            let message = e.to_string();
            assert!(
                message.contains("session s is open in another sage process"),
                "{message}"
            );
            if cfg!(target_os = "linux") {
                assert!(
                    message.contains(&format!("pid {}", std::process::id())),
                    "{message}"
                );
            }
        }
        other => panic!("the second writer must be refused, got {other:?}"),
    }
    assert_eq!(first.append(2, &note("still mine")).unwrap(), 2);
    first.close().unwrap();
    // Once the first writer is gone, the log can be reopened.
    let (log, again) =
        LogWriter::resume::<TestConfig, TestEvent>(&path, Durability::EveryEvent).unwrap();
    assert_eq!(log.entries.len(), 2);
    drop(again);
}

#[test]
fn appends_land_at_the_end_even_after_someone_else_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_log(dir.path(), 1);
    let (_, mut writer) =
        LogWriter::resume::<TestConfig, TestEvent>(&path, Durability::EveryEvent).unwrap();
    // A tool that ignores the advisory lock appends behind sage's back.
    append_raw(
        &path,
        b"{\"seq\":2,\"at_ms\":1,\"event\":{\"kind\":\"number\",\"value\":7}}\n",
    );
    writer.append(2, &note("sage's")).unwrap();
    writer.close().unwrap();
    // Both lines are whole (O_APPEND): nothing was overwritten at an old offset.
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(lines[2].contains("\"value\":7"), "{text}");
    assert!(lines[3].contains("sage's"), "{text}");
}

#[test]
fn corruption_in_the_middle_is_an_error_naming_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_log(dir.path(), 3);
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    lines[2] = lines[2].replace("\"seq\":2", "\"seq\":2,,");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    match read(&path) {
        Err(LogError::Corrupt { line, after, .. }) => {
            assert_eq!(line, 3);
            assert_eq!(after, 1);
        }
        other => panic!("expected a corrupt-line error, got {other:?}"),
    }
    let message = read(&path).unwrap_err().to_string();
    assert!(message.contains("line 3"), "{message}");
}

#[test]
fn a_blank_line_in_the_middle_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_log(dir.path(), 1);
    append_raw(
        &path,
        b"\n{\"seq\":2,\"at_ms\":1,\"event\":{\"kind\":\"number\",\"value\":1}}\n",
    );
    assert!(matches!(
        read(&path),
        Err(LogError::Corrupt { line: 3, .. })
    ));
}

#[test]
fn an_event_of_the_wrong_shape_mid_file_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_log(dir.path(), 1);
    append_raw(
        &path,
        b"{\"seq\":2,\"at_ms\":1,\"event\":{\"kind\":\"mystery\"}}\n\
          {\"seq\":3,\"at_ms\":1,\"event\":{\"kind\":\"number\",\"value\":1}}\n",
    );
    match read(&path) {
        Err(LogError::Corrupt { line, reason, .. }) => {
            assert_eq!(line, 3);
            assert!(reason.contains("mystery"), "{reason}");
        }
        other => panic!("expected corruption, got {other:?}"),
    }
}

#[test]
fn sequence_gaps_and_duplicates_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let gap = write_log(dir.path(), 1);
    append_raw(
        &gap,
        b"{\"seq\":3,\"at_ms\":1,\"event\":{\"kind\":\"number\",\"value\":1}}\n",
    );
    assert!(matches!(
        read(&gap),
        Err(LogError::SeqGap {
            line: 3,
            expected: 2,
            found: 3
        })
    ));

    let dir = tempfile::tempdir().unwrap();
    let dup = write_log(dir.path(), 2);
    append_raw(
        &dup,
        b"{\"seq\":2,\"at_ms\":1,\"event\":{\"kind\":\"number\",\"value\":1}}\n",
    );
    assert!(matches!(
        read(&dup),
        Err(LogError::SeqDuplicate {
            line: 4,
            expected: 3,
            found: 2
        })
    ));
}

#[test]
fn an_empty_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.jsonl");
    std::fs::write(&path, b"").unwrap();
    let err = read(&path).unwrap_err();
    assert!(matches!(err, LogError::Empty));
    assert!(err.to_string().contains("empty"));
}

#[test]
fn a_header_only_log_has_no_events() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_log(dir.path(), 0);
    let log = read(&path).unwrap();
    assert!(log.entries.is_empty());
    assert!(log.torn_tail.is_none());
    assert_eq!(read_header::<TestConfig>(&path).unwrap(), header("s"));
}

#[test]
fn a_torn_header_is_reported_as_a_bad_header() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("torn-header.jsonl");
    std::fs::write(&path, br#"{"format":"sage-session","format_ve"#).unwrap();
    assert!(matches!(read(&path), Err(LogError::BadHeader(_))));
}

#[test]
fn a_future_format_version_says_which_versions_are_involved() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("future.jsonl");
    let mut head = serde_json::to_value(header("s")).unwrap();
    head["format_version"] = 99.into();
    std::fs::write(&path, format!("{head}\n")).unwrap();
    let err = read(&path).unwrap_err();
    assert!(matches!(
        err,
        LogError::UnsupportedVersion {
            found: 99,
            supported: FORMAT_VERSION
        }
    ));
    let message = err.to_string();
    assert!(
        message.contains("99") && message.contains(&FORMAT_VERSION.to_string()),
        "{message}"
    );
}

#[test]
fn a_file_that_is_not_a_session_log_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.jsonl");
    std::fs::write(&path, b"{\"hello\":1}\n").unwrap();
    let message = read(&path).unwrap_err().to_string();
    assert!(message.contains("not a sage session log"), "{message}");
}

#[test]
fn unicode_text_round_trips_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("u.jsonl");
    let texts = [
        "naïve café — “quotes”",
        "日本語のテキスト",
        "emoji 🧪🔬 and a\nnewline\tand tab",
        "\u{202e}right-to-left override",
        "",
    ];
    let mut writer = LogWriter::create(&path, &header("u"), Durability::EveryEvent).unwrap();
    for (i, text) in texts.iter().enumerate() {
        writer.append(i as u64, &note(text)).unwrap();
    }
    writer.close().unwrap();
    let log = read(&path).unwrap();
    let back: Vec<TestEvent> = log.entries.into_iter().map(|e| e.event).collect();
    assert_eq!(back, texts.iter().map(|t| note(t)).collect::<Vec<_>>());
}

#[test]
fn creating_over_an_existing_log_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_log(dir.path(), 1);
    let err = LogWriter::create(&path, &header("s"), Durability::EveryEvent).unwrap_err();
    assert!(matches!(err, LogError::AlreadyExists(_)));
    assert_eq!(read(&path).unwrap().entries.len(), 1);
}

#[test]
fn the_recorded_source_round_trips_and_older_headers_still_load() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("with-source.jsonl");
    let mut with_source = header("s");
    with_source.source = Some(SourceRecord::neuronpedia(
        "gpt2-small",
        "8-res-jb",
        Some("http://127.0.0.1:8080/np"),
    ));
    LogWriter::create(&path, &with_source, Durability::EveryEvent)
        .unwrap()
        .close()
        .unwrap();
    let line = std::fs::read_to_string(&path).unwrap();
    let head: Value = serde_json::from_str(line.trim_end()).unwrap();
    assert_eq!(
        head["source"],
        serde_json::json!({"kind": "neuronpedia", "model_id": "gpt2-small",
                           "sae_id": "8-res-jb", "base_url": "http://127.0.0.1:8080/np"})
    );
    assert_eq!(read_header::<TestConfig>(&path).unwrap(), with_source);

    // A log written before sources were recorded has no `source` field.
    let old = dir.path().join("old.jsonl");
    let mut head = serde_json::to_value(header("s")).unwrap();
    assert!(head.get("source").is_none(), "None is not written");
    head.as_object_mut().unwrap().remove("source");
    std::fs::write(&old, format!("{head}\n")).unwrap();
    assert_eq!(read_header::<TestConfig>(&old).unwrap().source, None);
}

#[test]
fn recorded_neuronpedia_urls_keep_no_credentials() {
    let url_of = |url: &str| match SourceRecord::neuronpedia("m", "s", Some(url)) {
        SourceRecord::Neuronpedia { base_url, .. } => base_url,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        url_of("https://user:np-secret@np.example.org:8443/api?key=np-secret#x").as_deref(),
        Some("https://np.example.org:8443/api")
    );
    assert_eq!(
        url_of(" http://127.0.0.1:9/ ").as_deref(),
        Some("http://127.0.0.1:9/")
    );
    assert_eq!(
        url_of("https://www.neuronpedia.org").as_deref(),
        Some("https://www.neuronpedia.org")
    );
    assert_eq!(url_of("  "), None);
    assert_eq!(
        SourceRecord::neuronpedia("m", "s", None),
        SourceRecord::Neuronpedia {
            model_id: "m".into(),
            sae_id: "s".into(),
            base_url: None
        }
    );
}

/// Inputs from fuzzing the loader (fuzz/fuzz_targets/load_log.rs; see the
/// folder's README). Each must load consistently or fail with a typed error.
#[test]
fn fuzz_regressions_load_or_fail_cleanly() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fuzz_regressions");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        assert_consistent(&bytes);
        seen += 1;
    }
    assert!(seen > 0, "no regression inputs found in {}", dir.display());
}

/// What the fuzz target checks: a loaded log numbers its events 1..=n and
/// its intact prefix lies within the input.
fn assert_consistent(bytes: &[u8]) {
    if let Ok(log) = parse_log::<Value, Value>(bytes) {
        assert!(log.intact_len as usize <= bytes.len());
        for (i, entry) in log.entries.iter().enumerate() {
            assert_eq!(entry.seq, i as u64 + 1);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Arbitrary bytes never panic the loader.
    #[test]
    fn arbitrary_bytes_load_or_fail_with_a_typed_error(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        assert_consistent(&bytes);
    }

    /// A valid log cut at any byte after its header loads: every complete
    /// line is kept, and a partial final line is reported as torn.
    #[test]
    fn a_log_cut_at_any_byte_keeps_exactly_its_complete_lines(
        n in 1usize..12,
        cut_back in 0usize..200,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = write_log(dir.path(), n);
        let full = std::fs::read(&path).unwrap();
        let header_len = full.iter().position(|&b| b == b'\n').unwrap() + 1;
        let cut = full.len().saturating_sub(cut_back).max(header_len);
        let log = parse_log::<TestConfig, TestEvent>(&full[..cut]).unwrap();
        let complete_lines = full[..cut].iter().filter(|&&b| b == b'\n').count() - 1;
        prop_assert_eq!(log.entries.len(), complete_lines);
        prop_assert_eq!(log.torn_tail.is_some(), full[..cut].last() != Some(&b'\n'));
        for (i, entry) in log.entries.iter().enumerate() {
            prop_assert_eq!(&entry.event, &note(&format!("event {i}")));
        }
    }
}

mod live {
    //! The driver with the real agent, the synthetic source, a seeded
    //! random reasoner and random researcher actions.

    use std::sync::Arc;

    use proptest::prelude::*;
    use sage::activation::synthetic::SyntheticSource;
    use sage::agent::{
        Agent, AgentConfig, ConclusionDraft, Decision, ExperimentDraft, ExperimentKind, GateMode,
        HypothesisDraft, Prediction, ReasonRequest, ReasonerReply, ReviewOutcome, SplitMix64,
        Target, UserAction, Verdict,
    };
    use sage::llm::Usage;
    use sage::reasoner::{Reasoner, ReasonerError};
    use sage::session::{
        Controls, Durability, Instruments, NewSession, SessionStore, SourceRecord, read_log,
        replay, run,
    };
    use tokio::sync::mpsc;

    const TEXTS: [&str; 5] = [
        "The cat sat on the mat.",
        "In May we met in Paris and again in June.",
        "Call 555 1234 before 9 pm!",
        "def add(x, y): return x + y",
        "She said \"hello\" twice.",
    ];

    /// Answers every step with a valid-looking but random reply (and now
    /// and then an error), seeded by the session seed and the request.
    struct RandomReasoner {
        seed: u64,
    }

    #[async_trait::async_trait]
    impl Reasoner for RandomReasoner {
        fn spec(&self) -> String {
            "test-random".into()
        }

        async fn reason(
            &self,
            req: &ReasonRequest,
        ) -> Result<(ReasonerReply, Usage), ReasonerError> {
            let ctx = req.context();
            let mut rng = SplitMix64::new(
                self.seed
                    ^ ((ctx.hypotheses.len() as u64) << 20)
                    ^ ((ctx.experiments.len() as u64) << 40)
                    ^ (u64::from(ctx.round) << 8)
                    ^ (req.name().len() as u64),
            );
            for _ in 0..rng.below(4) {
                tokio::task::yield_now().await;
            }
            if rng.below(8) == 0 {
                return Err(ReasonerError::Malformed {
                    step: req.name(),
                    reason: "random failure".into(),
                    usage: Usage::default(),
                });
            }
            let design = |rng: &mut SplitMix64, hypothesis| {
                let text = TEXTS[rng.below(TEXTS.len())];
                let words: Vec<&str> = text.split_whitespace().collect();
                let firing = if rng.below(3) == 0 {
                    Vec::new()
                } else {
                    vec![words[rng.below(words.len())].to_string()]
                };
                ExperimentDraft {
                    hypothesis,
                    text: text.to_string(),
                    prediction: Prediction {
                        firing,
                        strength: None,
                    },
                    kind: [
                        ExperimentKind::Positive,
                        ExperimentKind::Control,
                        ExperimentKind::MinimalPair,
                    ][rng.below(3)],
                    rationale: "random".into(),
                }
            };
            let reply = match req {
                ReasonRequest::Hypothesise { count, .. } => ReasonerReply::HypothesisDrafts(
                    (0..1 + rng.below(*count))
                        .map(|i| HypothesisDraft {
                            description: format!("random rule {i}"),
                            evidence: "random".into(),
                            prediction: format!("fires on word {i}"),
                            rule: None,
                        })
                        .collect(),
                ),
                ReasonRequest::Design {
                    targets,
                    per_hypothesis,
                    ..
                } => ReasonerReply::ExperimentDrafts(
                    targets
                        .iter()
                        .flat_map(|&t| {
                            (0..1 + rng.below(*per_hypothesis))
                                .map(|_| design(&mut rng, t))
                                .collect::<Vec<_>>()
                        })
                        .collect(),
                ),
                ReasonRequest::Update { context, targets } => ReasonerReply::Verdicts(
                    targets
                        .iter()
                        .map(|&t| Verdict {
                            hypothesis: t,
                            decision: match rng.below(4) {
                                0 => Decision::Confirm,
                                1 => Decision::Refute,
                                2 => Decision::Uncertain,
                                _ => Decision::Refine {
                                    description: "sharper".into(),
                                    prediction: "fires less".into(),
                                    rule: None,
                                },
                            },
                            cites: context.experiments_of(t).map(|e| e.id).collect(),
                            confidence: rng.below(100) as f32 / 100.0,
                            rationale: "random".into(),
                        })
                        .collect(),
                ),
                ReasonRequest::Review { context, .. } => {
                    let open: Vec<_> = context
                        .hypotheses
                        .iter()
                        .filter(|h| h.status.is_open())
                        .map(|h| h.id)
                        .collect();
                    let more_tests = if open.is_empty() || rng.below(2) == 0 {
                        Vec::new()
                    } else {
                        let target = open[rng.below(open.len())];
                        vec![design(&mut rng, target)]
                    };
                    ReasonerReply::ReviewOutcome(ReviewOutcome {
                        more_tests,
                        rationale: "random".into(),
                    })
                }
                ReasonRequest::Conclude { context, .. } => {
                    ReasonerReply::ConclusionDraft(ConclusionDraft {
                        label: "random label".into(),
                        description: "a random conclusion".into(),
                        does_not_fire_on: vec!["nothing in particular".into()],
                        evidence: context.experiments.iter().map(|e| e.id).take(2).collect(),
                        hypothesis: context.hypotheses.first().map(|h| h.id),
                        confidence: 0.5,
                        rule: None,
                    })
                }
            };
            let usage = Usage {
                prompt_tokens: rng.below(500) as u64,
                cached_tokens: 0,
                completion_tokens: rng.below(100) as u64,
                cost_usd: Some(rng.below(100) as f64 / 10_000.0),
            };
            Ok((reply, usage))
        }
    }

    fn instruments(seed: u64) -> Instruments {
        Instruments {
            source: Arc::new(SyntheticSource::new()),
            reasoner: Arc::new(RandomReasoner { seed }),
        }
    }

    fn random_action(rng: &mut SplitMix64) -> UserAction {
        match rng.below(7) {
            0 => UserAction::Pause,
            1 => UserAction::Resume,
            2 => UserAction::ConcludeNow,
            3 => UserAction::SetGate {
                mode: [GateMode::Auto, GateMode::Review, GateMode::Step][rng.below(3)],
            },
            4 => UserAction::Approve {
                target: Target::Conclusion,
            },
            5 => UserAction::AddHypothesis {
                description: "researcher's idea".into(),
                prediction: "fires on cats".into(),
            },
            _ => UserAction::Resume,
        }
    }

    fn config() -> AgentConfig {
        AgentConfig {
            max_rounds: 2,
            ..AgentConfig::default()
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        /// Folding a live session's log into a fresh agent yields the live
        /// final state; cutting the log at any event and resuming it
        /// continues from exactly that prefix.
        #[test]
        fn replaying_a_live_log_rebuilds_the_live_state(
            seed in any::<u64>(),
            feature in 0u32..25,
            actions in 0usize..6,
            cut in any::<proptest::sample::Index>(),
        ) {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let dir = tempfile::tempdir().unwrap();
            let store = SessionStore::new(dir.path().join("sessions"));
            let (tx, rx) = mpsc::channel(16);
            let live = runtime.block_on(async {
                let sender = tokio::spawn(async move {
                    let mut rng = SplitMix64::new(seed);
                    for _ in 0..actions {
                        for _ in 0..rng.below(6) {
                            tokio::task::yield_now().await;
                        }
                        if tx.send(random_action(&mut rng)).await.is_err() {
                            break;
                        }
                    }
                });
                let session = NewSession {
                    feature,
                    config: config(),
                    seed,
                    reasoner_spec: "test-random".into(),
                    source: Some(SourceRecord::Synthetic),
                    durability: Durability::OnClose,
                };
                let controls = Controls { actions: Some(rx), on_snapshots: None };
                let result = run::start(&store, instruments(seed), session, controls).await;
                sender.await.unwrap();
                result
            }).unwrap();

            let path = store.existing(&live.id).unwrap();
            let log = read_log::<AgentConfig, sage::agent::Event>(&path).unwrap();
            prop_assert_eq!(log.entries.len() as u64, live.events);
            prop_assert_eq!(log.header.feature, feature);
            prop_assert_eq!(log.header.reasoner.as_str(), "test-random");
            let replayed = replay(Agent::new(), &log.entries, None);
            prop_assert_eq!(&replayed.state(), &live.state);

            // Cut after a random number of events (the header always stays)
            // and resume: the prefix is kept verbatim and the resumed run's
            // log replays to its own final state.
            let keep = cut.index(log.entries.len() + 1);
            let text = std::fs::read_to_string(&path).unwrap();
            let prefix: String = text.split_inclusive('\n').take(1 + keep).collect();
            let cut_store = SessionStore::new(dir.path().join("cut"));
            std::fs::create_dir_all(cut_store.dir()).unwrap();
            std::fs::write(cut_store.dir().join(format!("{}.jsonl", live.id)), &prefix).unwrap();
            let resumed = runtime.block_on(run::resume(
                &cut_store, &live.id, instruments(seed), Durability::OnClose, Controls::default(),
            )).unwrap();
            let resumed_log = read_log::<AgentConfig, sage::agent::Event>(
                &cut_store.existing(&live.id).unwrap()).unwrap();
            prop_assert_eq!(&resumed_log.entries[..keep], &log.entries[..keep]);
            prop_assert_eq!(resumed_log.entries.len() as u64, resumed.events);
            prop_assert_eq!(&replay(Agent::new(), &resumed_log.entries, None).state(), &resumed.state);
        }
    }
}

mod wall_time {
    //! The wall-time budget fires on time even when the reasoner never
    //! answers: the driver ticks at the deadline (tokio's clock is paused,
    //! so the test takes no real time and has no sleeps).

    use std::sync::Arc;

    use sage::activation::synthetic::SyntheticSource;
    use sage::agent::{
        Agent, AgentConfig, Budgets, Event, GateMode, ReasonRequest, ReasonerReply, StopReason,
    };
    use sage::llm::Usage;
    use sage::reasoner::heuristic::HeuristicReasoner;
    use sage::reasoner::{Reasoner, ReasonerError};
    use sage::session::{
        Controls, DriveOutcome, Durability, Instruments, NewSession, SessionStore, SourceRecord,
        replay, run,
    };

    /// A reasoner whose calls never return, like a hung HTTP request.
    struct HungReasoner;

    #[async_trait::async_trait]
    impl Reasoner for HungReasoner {
        fn spec(&self) -> String {
            "test-hung".into()
        }

        async fn reason(&self, _: &ReasonRequest) -> Result<(ReasonerReply, Usage), ReasonerError> {
            std::future::pending().await
        }
    }

    const BUDGET_MS: u64 = 90_000;

    /// A synthetic-source session with a `BUDGET_MS` wall-time budget.
    fn budgeted(gate: GateMode, reasoner: Arc<dyn Reasoner>) -> (NewSession, Instruments) {
        let session = NewSession {
            feature: 2,
            config: AgentConfig {
                gate,
                budgets: Budgets {
                    max_wall_ms: Some(BUDGET_MS),
                    ..Budgets::default()
                },
                ..AgentConfig::default()
            },
            seed: 1,
            reasoner_spec: reasoner.spec(),
            source: Some(SourceRecord::Synthetic),
            durability: Durability::OnClose,
        };
        let instruments = Instruments {
            source: Arc::new(SyntheticSource::new()),
            reasoner,
        };
        (session, instruments)
    }

    #[tokio::test(start_paused = true)]
    async fn a_hung_reasoner_is_stopped_by_the_wall_time_budget() {
        let dir = tempfile::tempdir().unwrap();
        let store = SessionStore::new(dir.path());
        let (session, instruments) = budgeted(GateMode::Auto, Arc::new(HungReasoner));
        let started = tokio::time::Instant::now();
        let drive = run::start(&store, instruments, session, Controls::default());
        let done = tokio::time::timeout(std::time::Duration::from_secs(86_400), drive)
            .await
            .expect("a day of tokio time passed without the budget firing")
            .unwrap();
        let waited = started.elapsed().as_millis() as u64;

        assert!(matches!(done.outcome, DriveOutcome::Concluded(_)));
        assert_eq!(done.state.stop_reason, Some(StopReason::WallTime));
        // It fired at the deadline, not at some later event. (The budget
        // counts from the Start event, stamped a few real milliseconds
        // before the driver's clock starts, so tokio's clock may show a
        // little less.)
        assert!(
            (BUDGET_MS - 1_000..BUDGET_MS + 1_000).contains(&waited),
            "{waited} ms on tokio's clock"
        );
        let log = store.load(&done.id).unwrap();
        let ticks: Vec<u64> = log
            .entries
            .iter()
            .filter(|e| matches!(e.event, Event::Tick { .. }))
            .map(|e| e.at_ms)
            .collect();
        let begun = log.header.created_at_ms;
        assert_eq!(ticks.len(), 1, "one tick, at the deadline");
        let deadline = begun + BUDGET_MS;
        assert!(
            (deadline..deadline + 1_000).contains(&ticks[0]),
            "tick at {}, deadline {deadline}",
            ticks[0]
        );
        // The tick is in the log, so replay ends in the same place.
        assert_eq!(replay(Agent::new(), &log.entries, None).state(), done.state);
    }

    #[tokio::test(start_paused = true)]
    async fn a_headless_session_waiting_for_approval_ends_idle_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = SessionStore::new(dir.path());
        let (session, instruments) = budgeted(GateMode::Review, Arc::new(HeuristicReasoner));
        let started = tokio::time::Instant::now();
        let done = run::start(&store, instruments, session, Controls::default())
            .await
            .unwrap();
        // Nobody can approve the hypotheses, so waiting for the budget
        // would only delay the same answer.
        assert_eq!(done.outcome, DriveOutcome::Idle);
        assert!(started.elapsed() < std::time::Duration::from_millis(BUDGET_MS));
        assert!(!done.state.pending_approvals().is_empty());
        assert_eq!(done.state.stop_reason, None);
    }
}

mod non_finite {
    //! A source that answers NaN or infinity: the driver records the fetch
    //! as failed, naming the value, and the session log still reads back.

    use std::sync::Arc;

    use sage::activation::synthetic::SyntheticSource;
    use sage::activation::{
        ActivationRecord, ActivationSource, ExemplarQuery, FeatureExemplars, SourceError,
        SourceInfo,
    };
    use sage::agent::{Agent, AgentConfig, Event};
    use sage::reasoner::heuristic::HeuristicReasoner;
    use sage::session::{
        Controls, Durability, Instruments, NewSession, SessionStore, SourceRecord, replay, run,
    };

    /// The synthetic source with one value replaced: in the exemplars'
    /// maximum, or in every experiment's first token.
    struct Poisoned {
        inner: SyntheticSource,
        exemplars: bool,
        value: f32,
    }

    #[async_trait::async_trait]
    impl ActivationSource for Poisoned {
        fn info(&self) -> SourceInfo {
            self.inner.info()
        }

        async fn activations(
            &self,
            feature: u32,
            texts: &[String],
        ) -> Result<Vec<ActivationRecord>, SourceError> {
            let mut records = self.inner.activations(feature, texts).await?;
            for record in &mut records {
                if let Some(first) = record.values.first_mut() {
                    *first = self.value;
                }
            }
            Ok(records)
        }

        async fn exemplars(
            &self,
            feature: u32,
            query: &ExemplarQuery,
        ) -> Result<FeatureExemplars, SourceError> {
            let mut exemplars = self.inner.exemplars(feature, query).await?;
            if self.exemplars {
                exemplars.max_activation = self.value;
            }
            Ok(exemplars)
        }
    }

    async fn session_with(source: Poisoned) -> Vec<Event> {
        let dir = tempfile::tempdir().unwrap();
        let store = SessionStore::new(dir.path());
        let session = NewSession {
            feature: 2,
            config: AgentConfig::default(),
            seed: 3,
            reasoner_spec: "heuristic".into(),
            source: Some(SourceRecord::Synthetic),
            durability: Durability::OnClose,
        };
        let instruments = Instruments {
            source: Arc::new(source),
            reasoner: Arc::new(HeuristicReasoner),
        };
        let done = run::start(&store, instruments, session, Controls::default())
            .await
            .expect("a non-finite value fails one step, not the session");
        let log = store.load(&done.id).expect("the log reads back");
        assert_eq!(replay(Agent::new(), &log.entries, None).state(), done.state);
        log.entries.into_iter().map(|e| e.event).collect()
    }

    #[tokio::test]
    async fn non_finite_exemplars_are_a_failed_fetch_naming_the_value() {
        for value in [f32::NAN, f32::INFINITY] {
            let events = session_with(Poisoned {
                inner: SyntheticSource::new(),
                exemplars: true,
                value,
            })
            .await;
            let error = events
                .iter()
                .find_map(|e| match e {
                    Event::ExemplarsFailed { error, .. } => Some(error.clone()),
                    _ => None,
                })
                .expect("the fetch is recorded as failed");
            assert!(
                error.contains("max_activation is not a finite number"),
                "{error}"
            );
        }
    }

    #[tokio::test]
    async fn non_finite_experiment_values_are_failed_runs_and_the_session_goes_on() {
        let events = session_with(Poisoned {
            inner: SyntheticSource::new(),
            exemplars: false,
            value: f32::NEG_INFINITY,
        })
        .await;
        let failures: Vec<&String> = events
            .iter()
            .filter_map(|e| match e {
                Event::ActivationsFailed { error, .. } => Some(error),
                _ => None,
            })
            .collect();
        assert!(!failures.is_empty(), "experiments ran and failed");
        assert!(
            failures[0].contains("text 1: values[0] is not a finite number"),
            "{}",
            failures[0]
        );
        assert!(
            !events
                .iter()
                .any(|e| matches!(e, Event::ActivationsArrived { .. })),
            "no poisoned record reached the log"
        );
    }
}

mod kill {
    //! SIGKILL the real `sage explain` at seeded points and resume: the log
    //! always loads (at most the event being written is lost) and `sage
    //! resume` completes the session.

    use std::path::{Path, PathBuf};
    use std::process::{Command, Stdio};
    use std::time::Duration;

    use sage::agent::{Agent, AgentConfig, Event, SplitMix64};
    use sage::session::{read_log, replay};

    /// `sage explain` of one synthetic feature in a data dir.
    fn explain(data: &Path, feature: &str) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_sage"));
        command
            .args(["explain", "--source", "synthetic", "--jobs", "1"])
            .args(["--features", feature, "--out"])
            .arg(data.join("out"))
            .env("SAGE_DATA_DIR", data);
        command
    }

    /// The only log in the sessions folder, once it has `lines` lines.
    fn log_with_lines(sessions: &Path, lines: usize) -> Option<PathBuf> {
        let entry = std::fs::read_dir(sessions).ok()?.next()?.ok()?;
        let bytes = std::fs::read(entry.path()).ok()?;
        (bytes.iter().filter(|&&b| b == b'\n').count() >= lines).then(|| entry.path())
    }

    #[test]
    fn sage_resume_is_refused_while_another_process_writes_the_session() {
        use sage::session::{Durability, LogWriter};
        let data = tempfile::tempdir().unwrap();
        let sessions = data.path().join("sessions");
        let mut child = explain(data.path(), "3")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        while log_with_lines(&sessions, 3).is_none() && child.try_wait().unwrap().is_none() {
            std::thread::sleep(Duration::from_micros(200));
        }
        child.kill().unwrap();
        child.wait().unwrap();
        let path = log_with_lines(&sessions, 1).expect("the session log exists");
        let id = path.file_stem().unwrap().to_str().unwrap().to_string();

        // This test process is now the session's writer.
        let (_, held) = LogWriter::resume::<AgentConfig, Event>(&path, Durability::EveryEvent)
            .expect("the killed process left no lock behind");
        let before = std::fs::read(&path).unwrap();
        let resume = || {
            Command::new(env!("CARGO_BIN_EXE_sage"))
                .args(["resume", &id])
                .env("SAGE_DATA_DIR", data.path())
                .output()
                .unwrap()
        };
        let refused = resume();
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(!refused.status.success(), "{stderr}");
        assert!(
            stderr.contains(&format!("session {id} is open in another sage process")),
            "{stderr}"
        );
        assert_eq!(
            std::fs::read(&path).unwrap(),
            before,
            "the refused run wrote nothing"
        );

        drop(held);
        let done = resume();
        assert!(
            done.status.success(),
            "{}",
            String::from_utf8_lossy(&done.stderr)
        );
        let log = read_log::<AgentConfig, Event>(&path).unwrap();
        assert!(
            replay(Agent::new(), &log.entries, None)
                .state()
                .conclusion
                .is_some()
        );
    }

    #[test]
    fn a_session_killed_at_random_points_loads_and_resumes_to_its_end() {
        let mut rng = SplitMix64::new(0x5A6E);
        for round in 0..6 {
            let data = tempfile::tempdir().unwrap();
            let sessions = data.path().join("sessions");
            let feature = rng.below(25).to_string();
            // Kill once the log holds the header and `after` events.
            let after = 1 + rng.below(12);
            let mut child = explain(data.path(), &feature)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let mut finished = false;
            while log_with_lines(&sessions, 1 + after).is_none() {
                if child.try_wait().unwrap().is_some() {
                    finished = true;
                    break;
                }
                std::thread::sleep(Duration::from_micros(200));
            }
            child.kill().unwrap(); // SIGKILL on Unix
            child.wait().unwrap();
            let path = log_with_lines(&sessions, 1).expect("the session log exists");

            let killed = read_log::<AgentConfig, Event>(&path)
                .unwrap_or_else(|e| panic!("round {round}: the killed log must load: {e}"));
            if !finished {
                assert!(killed.entries.len() >= after, "round {round}");
            }
            let id = path.file_stem().unwrap().to_str().unwrap().to_string();
            // Odd rounds continue with `sage resume`, even rounds by running
            // the same `sage explain` again, which must pick the session up.
            let resumed = if round % 2 == 1 {
                Command::new(env!("CARGO_BIN_EXE_sage"))
                    .args(["resume", &id])
                    .env("SAGE_DATA_DIR", data.path())
                    .output()
                    .unwrap()
            } else {
                explain(data.path(), &feature).output().unwrap()
            };
            let stdout = String::from_utf8_lossy(&resumed.stdout);
            assert!(
                resumed.status.success() && stdout.contains(id.as_str()),
                "round {round}: resuming failed: {stdout} {}",
                String::from_utf8_lossy(&resumed.stderr)
            );
            assert_eq!(
                std::fs::read_dir(&sessions).unwrap().count(),
                1,
                "round {round}: the interrupted session was continued, not restarted"
            );
            let done = read_log::<AgentConfig, Event>(&path).unwrap();
            assert!(done.torn_tail.is_none(), "round {round}");
            assert_eq!(
                &done.entries[..killed.entries.len()],
                &killed.entries[..],
                "round {round}: resuming keeps every event that survived the kill"
            );
            let state = replay(Agent::new(), &done.entries, None).state();
            assert!(state.conclusion.is_some(), "round {round}");
        }
    }
}
