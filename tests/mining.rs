//! Corpus mining with a deterministic synthetic scorer, checked against a
//! brute-force pass over every window of the same corpus.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use sage::activation::mining::ExemplarSupply;
use sage::activation::mining::{
    Corpus, FeatureScorer, MinedFeature, MinedFeatures, MiningConfig, MiningControl, MiningError,
    MiningOutcome, MiningRequest, MiningStore, Token, TokenWindow, WindowTokenizer, mine,
    windows_of,
};
use sage::activation::{ActivationSource, ExemplarQuery, LocalSource, SourceError, SourceInfo};

/// Splits on spaces and newlines; a word's id is a hash of its bytes.
struct Words;

impl WindowTokenizer for Words {
    fn tokenize(&self, text: &str) -> Result<Vec<Token>, MiningError> {
        let mut tokens = Vec::new();
        let mut start = None;
        for (i, c) in text.char_indices().chain([(text.len(), ' ')]) {
            match (c.is_whitespace(), start) {
                (false, None) => start = Some(i),
                (true, Some(s)) => {
                    let id = text[s..i].bytes().fold(2166136261u32, |h, b| {
                        (h ^ u32::from(b)).wrapping_mul(16777619)
                    });
                    tokens.push(Token {
                        id: id % 50_000,
                        start: s,
                        end: i,
                    });
                    start = None;
                }
                _ => {}
            }
        }
        Ok(tokens)
    }
}

/// Feature `f` on token id `x`: a fixed hash mapped to [-9, 4) and scaled
/// by 1 to 32, so it fires (> 0) on roughly 30% of tokens with values
/// spread over orders of magnitude (which makes the miner's bands grow).
fn activation(feature: u32, id: u32) -> f32 {
    let h = (u64::from(id) * 2654435761 + u64::from(feature) * 40503)
        .wrapping_mul(0x9E3779B97F4A7C15)
        >> 40;
    ((h % 1300) as f32 / 100.0 - 9.0) * (1u32 << (h % 6)) as f32
}

/// The synthetic model + SAE; counts what it is asked to score and can
/// raise a stop flag after some calls (a simulated Ctrl-C).
#[derive(Default)]
struct Synthetic<'a> {
    calls: usize,
    windows_scored: usize,
    stop_after: Option<(usize, &'a AtomicBool)>,
}

impl FeatureScorer for Synthetic<'_> {
    fn score(
        &mut self,
        windows: &[TokenWindow],
        features: &[u32],
        out: &mut Vec<f32>,
    ) -> Result<(), MiningError> {
        self.calls += 1;
        self.windows_scored += windows.len();
        if let Some((after, flag)) = self.stop_after
            && self.calls == after
        {
            flag.store(true, Ordering::SeqCst);
        }
        out.clear();
        out.extend(
            windows
                .iter()
                .flat_map(|w| &w.ids)
                .flat_map(|&id| features.iter().map(move |&f| activation(f, id))),
        );
        Ok(())
    }
}

const FEATURES: [u32; 3] = [0, 3, 7];

/// A few thousand pseudo-random words over several files: text files in
/// nested directories and a .jsonl file.
fn write_corpus(dir: &Path) {
    let vocab: Vec<String> = (0..300).map(|i| format!("w{}", i * 7919 % 1000)).collect();
    let mut state = 12345u64;
    let mut words = |n: usize| -> String {
        (0..n)
            .map(|i| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let word = &vocab[(state >> 33) as usize % vocab.len()];
                if i % 13 == 12 {
                    format!("{word}\n")
                } else {
                    format!("{word} ")
                }
            })
            .collect()
    };
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(dir.join("a.txt"), words(1500)).unwrap();
    std::fs::write(dir.join("sub/b.txt"), words(2200)).unwrap();
    let jsonl: String = (0..40)
        .map(|_| serde_json::json!({"text": words(37)}).to_string() + "\n")
        .collect();
    std::fs::write(dir.join("sub/c.jsonl"), jsonl).unwrap();
}

/// The test corpus in a fresh temp dir (kept alive by the returned guard).
fn corpus() -> (tempfile::TempDir, Corpus) {
    let dir = tempfile::tempdir().unwrap();
    write_corpus(dir.path());
    let corpus = Corpus::open(dir.path()).unwrap();
    (dir, corpus)
}

fn config() -> MiningConfig {
    MiningConfig {
        window: 16,
        batch_size: 7,
        top_k: 5,
        bands: 6,
        per_band: 3,
        non_activating: 2,
        seed: 99,
        checkpoint_every: 0,
    }
}

fn run(corpus: &Corpus, config: &MiningConfig, scorer: &mut Synthetic<'_>) -> MinedFeatures {
    match mine(
        corpus,
        &Words,
        scorer,
        &FEATURES,
        config,
        MiningControl::default(),
    )
    .unwrap()
    {
        MiningOutcome::Finished(result) => result,
        other => panic!("expected a finished run, got {other:?}"),
    }
}

/// Every window of the corpus with its per-token values for `feature`.
fn brute_force(corpus: &Corpus, window: usize, feature: u32) -> Vec<(TokenWindow, Vec<f32>)> {
    let mut all = Vec::new();
    let mut seq = 0;
    for doc in corpus.documents() {
        let windows = windows_of(&doc.unwrap(), &Words, window, seq).unwrap();
        seq += windows.len() as u64;
        for w in windows {
            let values = w.ids.iter().map(|&id| activation(feature, id)).collect();
            all.push((w, values));
        }
    }
    all
}

fn window_max(values: &[f32]) -> f32 {
    values.iter().copied().fold(f32::NEG_INFINITY, f32::max)
}

fn feature(result: &MinedFeatures, index: u32) -> &MinedFeature {
    result.features.iter().find(|f| f.feature == index).unwrap()
}

#[test]
fn top_k_density_and_max_match_brute_force() {
    let (_dir, corpus) = corpus();
    let config = config();
    let result = run(&corpus, &config, &mut Synthetic::default());
    for f in FEATURES {
        let mut all = brute_force(&corpus, config.window, f);
        let tokens: usize = all.iter().map(|(w, _)| w.ids.len()).sum();
        let firing: usize = all
            .iter()
            .map(|(_, v)| v.iter().filter(|&&x| x > 0.0).count())
            .sum();
        assert_eq!(result.tokens, tokens as u64);
        assert_eq!(result.windows, all.len() as u64);
        let mined = feature(&result, f);
        assert_eq!(mined.firing_tokens, firing as u64);
        assert_eq!(mined.density, firing as f64 / tokens as f64);
        all.sort_by(|a, b| {
            window_max(&b.1)
                .total_cmp(&window_max(&a.1))
                .then(a.0.seq.cmp(&b.0.seq))
        });
        assert_eq!(mined.max_activation, window_max(&all[0].1));
        let expected: Vec<(String, u64, Vec<String>, Vec<f32>)> = all
            .iter()
            .take(config.top_k)
            .map(|(w, v)| (w.file.to_string(), w.offset, w.tokens.clone(), v.clone()))
            .collect();
        let got: Vec<(String, u64, Vec<String>, Vec<f32>)> = mined
            .top
            .iter()
            .map(|w| {
                (
                    w.file.to_string(),
                    w.offset,
                    w.tokens.to_vec(),
                    w.values.to_vec(),
                )
            })
            .collect();
        assert_eq!(got, expected, "feature {f}");
    }
}

#[test]
fn quantile_samples_come_from_their_bands_and_counts_are_exact() {
    let (_dir, corpus) = corpus();
    let config = config();
    let result = run(&corpus, &config, &mut Synthetic::default());
    for f in FEATURES {
        let all = brute_force(&corpus, config.window, f);
        let mined = feature(&result, f);
        assert!(mined.quantiles.len() >= 2, "feature {f}: too few bands");
        let top_windows: Vec<(&str, u64, &[String])> = mined
            .top
            .iter()
            .map(|w| (&*w.file, w.offset, &w.tokens[..]))
            .collect();
        for band in &mined.quantiles {
            // Every firing window whose max falls in the band was counted.
            let in_band = all
                .iter()
                .filter(|(_, v)| {
                    let m = window_max(v);
                    m > 0.0 && band.min_value <= m && m < band.max_value
                })
                .count();
            assert_eq!(
                band.windows_seen, in_band as u64,
                "feature {f} band {band:?}"
            );
            assert!(!band.examples.is_empty() && band.examples.len() <= config.per_band);
            for example in &band.examples {
                assert!(
                    band.min_value <= example.max_value && example.max_value < band.max_value,
                    "feature {f}: {} outside [{}, {})",
                    example.max_value,
                    band.min_value,
                    band.max_value
                );
                assert_eq!(example.max_value, window_max(&example.values.to_vec()));
                let key = (&*example.file, example.offset, &example.tokens[..]);
                assert!(
                    !top_windows.contains(&key),
                    "a top window is also a band sample"
                );
            }
        }
        // Strongest band first.
        let lows: Vec<f32> = mined.quantiles.iter().map(|b| b.min_value).collect();
        assert!(lows.windows(2).all(|p| p[0] > p[1]), "{lows:?}");
        let quiet = all.iter().filter(|(_, v)| window_max(v) <= 0.0).count();
        assert_eq!(mined.non_activating.len(), quiet.min(config.non_activating));
        assert!(
            mined
                .non_activating
                .iter()
                .all(|w| window_max(&w.values.to_vec()) <= 0.0)
        );
    }
}

#[test]
fn results_do_not_depend_on_batch_size() {
    let (_dir, corpus) = corpus();
    let a = run(&corpus, &config(), &mut Synthetic::default());
    let b = run(
        &corpus,
        &MiningConfig {
            batch_size: 64,
            ..config()
        },
        &mut Synthetic::default(),
    );
    assert_eq!(a, b);
}

#[test]
fn results_do_not_depend_on_how_many_threads_update_the_features() {
    // Enough features to be split into several blocks updated in parallel.
    let (_dir, corpus) = corpus();
    let features: Vec<u32> = (0..300).collect();
    let mine_on = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            mine(
                &corpus,
                &Words,
                &mut Synthetic::default(),
                &features,
                &config(),
                MiningControl::default(),
            )
            .unwrap()
        })
    };
    let one = mine_on(1);
    let MiningOutcome::Finished(result) = &one else {
        panic!("expected a finished run, got {one:?}");
    };
    assert_eq!(result.features.len(), 300);
    assert_eq!(one, mine_on(4));
    // Nor on which other features are mined alongside: each feature draws
    // its samples from its own stream.
    let alone = mine(
        &corpus,
        &Words,
        &mut Synthetic::default(),
        &[150],
        &config(),
        MiningControl::default(),
    )
    .unwrap();
    let MiningOutcome::Finished(alone) = alone else {
        panic!("expected a finished run");
    };
    assert_eq!(alone.features[0], result.features[150]);
}

#[test]
fn an_interrupted_run_resumes_to_the_same_result() {
    let (_dir, corpus) = corpus();
    let config = MiningConfig {
        checkpoint_every: 2,
        ..config()
    };
    let mut whole_scorer = Synthetic::default();
    let uninterrupted = run(&corpus, &config, &mut whole_scorer);

    let state = tempfile::tempdir().unwrap();
    let checkpoint = state.path().join("run.checkpoint.json");
    let stop = AtomicBool::new(false);
    let mut first = Synthetic {
        stop_after: Some((5, &stop)),
        ..Synthetic::default()
    };
    let control = MiningControl {
        stop: Some(&stop),
        checkpoint: Some(checkpoint.clone()),
        progress: None,
    };
    let outcome = mine(&corpus, &Words, &mut first, &FEATURES, &config, control).unwrap();
    assert_eq!(
        outcome,
        MiningOutcome::Interrupted {
            windows_done: 5 * config.batch_size as u64
        }
    );
    assert!(checkpoint.exists());

    let mut second = Synthetic::default();
    let mut reports = Vec::new();
    let mut record = |p: &sage::activation::mining::MiningProgress| reports.push(*p);
    let control = MiningControl {
        stop: None,
        checkpoint: Some(checkpoint.clone()),
        progress: Some(&mut record),
    };
    let resumed = match mine(&corpus, &Words, &mut second, &FEATURES, &config, control).unwrap() {
        MiningOutcome::Finished(result) => result,
        other => panic!("{other:?}"),
    };
    assert_eq!(resumed, uninterrupted);
    // The second run scored only what the first had not.
    assert_eq!(
        first.windows_scored + second.windows_scored,
        whole_scorer.windows_scored
    );
    assert!(
        !checkpoint.exists(),
        "a finished run removes its checkpoint"
    );
    let last = reports.last().unwrap();
    assert_eq!(last.windows_done, uninterrupted.windows);
    assert_eq!(last.bytes_done, last.total_bytes);
}

#[test]
fn the_store_answers_a_repeated_query_from_its_cache() {
    let (dir, corpus) = corpus();
    let cache = tempfile::tempdir().unwrap();
    let store = MiningStore::new(cache.path());
    let config = config();
    let request = MiningRequest {
        model: "synthetic",
        sae: "rules",
        features: &FEATURES,
        config: &config,
    };
    let mut scorer = Synthetic::default();
    let (first, cached) = store
        .mine(&corpus, &Words, &mut scorer, &request, None, None)
        .unwrap();
    assert!(!cached);
    assert!(scorer.calls > 0);

    let mut idle = Synthetic::default();
    let (second, cached) = store
        .mine(&corpus, &Words, &mut idle, &request, None, None)
        .unwrap();
    assert!(cached);
    assert_eq!(idle.calls, 0, "a cache hit must not run the model");
    assert_eq!(first, second);

    // Another SAE is another question.
    let other = MiningRequest {
        sae: "other",
        ..request
    };
    assert_ne!(store.key(&corpus, &other), store.key(&corpus, &request));
    // A changed corpus is too.
    std::fs::write(dir.path().join("a.txt"), "w1 w2 w3\n").unwrap();
    let changed = Corpus::open(dir.path()).unwrap();
    assert_ne!(store.key(&changed, &request), store.key(&corpus, &request));
}

#[test]
fn an_unreadable_cache_entry_is_a_miss_that_is_mined_again_and_rewritten() {
    let (_dir, corpus) = corpus();
    let cache = tempfile::tempdir().unwrap();
    let store = MiningStore::new(cache.path());
    let config = config();
    let request = MiningRequest {
        model: "synthetic",
        sae: "rules",
        features: &FEATURES,
        config: &config,
    };
    let (first, _) = store
        .mine(
            &corpus,
            &Words,
            &mut Synthetic::default(),
            &request,
            None,
            None,
        )
        .unwrap();
    let entries: Vec<std::path::PathBuf> = walk(&cache.path().join("mining/results"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    // A damaged entry (or one an older sage wrote in another shape).
    std::fs::write(&entries[0], b"{\"features\": [1, 2").unwrap();

    let mut scorer = Synthetic::default();
    let (again, cached) = store
        .mine(&corpus, &Words, &mut scorer, &request, None, None)
        .expect("an unreadable entry is a miss, not an error");
    assert!(!cached);
    assert!(scorer.calls > 0, "the features were mined again");
    assert_eq!(again, first);
    let (_, cached) = store
        .mine(
            &corpus,
            &Words,
            &mut Synthetic::default(),
            &request,
            None,
            None,
        )
        .unwrap();
    assert!(cached, "the entry was rewritten");
}

/// Every file under `dir`, recursively.
fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[test]
fn mined_features_become_exemplars_with_their_origin() {
    let (_dir, corpus) = corpus();
    let result = run(&corpus, &config(), &mut Synthetic::default());
    let info = SourceInfo {
        model: "synthetic".into(),
        sae: "rules".into(),
        hook: "blocks.0.hook_resid_pre".into(),
        n_features: 8,
    };
    let query = ExemplarQuery {
        top_k: 3,
        per_quantile: 1,
        non_activating: 1,
    };
    let mined = feature(&result, 3);
    let exemplars = mined.to_exemplars(&info, &query);
    assert_eq!(exemplars.feature, 3);
    assert_eq!(exemplars.top.len(), 3);
    assert_eq!(exemplars.density, Some(mined.density));
    for (exemplar, window) in exemplars.top.iter().zip(&mined.top) {
        assert_eq!(exemplar.origin.as_deref(), Some(&*window.file));
        assert_eq!(exemplar.offset, Some(window.offset));
        assert_eq!(exemplar.record.max_value, window.max_value);
        assert_eq!(exemplar.record.token_ids[..], window.token_ids[..]);
        assert_eq!(exemplar.record.hook, "blocks.0.hook_resid_pre");
    }
    // Text-file offsets point at the window's first token in the file.
    let text_window = mined
        .top
        .iter()
        .chain(mined.quantiles.iter().flat_map(|b| &b.examples))
        .find(|w| w.file.ends_with(".txt"))
        .unwrap();
    let content = std::fs::read_to_string(&*text_window.file).unwrap();
    assert!(content[text_window.offset as usize..].starts_with(&text_window.tokens[0]));
    assert!(exemplars.quantiles.iter().all(|b| b.examples.len() <= 1));
}

#[test]
fn a_scorer_answering_the_wrong_shape_is_an_error() {
    struct Short;
    impl FeatureScorer for Short {
        fn score(
            &mut self,
            windows: &[TokenWindow],
            _features: &[u32],
            out: &mut Vec<f32>,
        ) -> Result<(), MiningError> {
            *out = vec![1.0; windows.len()];
            Ok(())
        }
    }
    let (_dir, corpus) = corpus();
    let err = mine(
        &corpus,
        &Words,
        &mut Short,
        &FEATURES,
        &config(),
        MiningControl::default(),
    )
    .unwrap_err();
    assert!(matches!(err, MiningError::Score(_)), "{err:?}");
    assert!(
        err.to_string().contains("returned 7 values for 7 windows"),
        "{err}"
    );
}

#[test]
fn a_checkpoint_of_another_run_is_not_resumed() {
    let (_dir, corpus) = corpus();
    let state = tempfile::tempdir().unwrap();
    let checkpoint = state.path().join("shared.json");
    let stop = AtomicBool::new(false);
    let mut first = Synthetic {
        stop_after: Some((2, &stop)),
        ..Synthetic::default()
    };
    let control = MiningControl {
        stop: Some(&stop),
        checkpoint: Some(checkpoint.clone()),
        progress: None,
    };
    let other_features = [1, 2];
    let outcome = mine(
        &corpus,
        &Words,
        &mut first,
        &other_features,
        &config(),
        control,
    )
    .unwrap();
    assert!(matches!(outcome, MiningOutcome::Interrupted { .. }));
    assert!(checkpoint.exists());

    // Same checkpoint path, different features: a fresh, complete run.
    let mut second = Synthetic::default();
    let control = MiningControl {
        stop: None,
        checkpoint: Some(checkpoint.clone()),
        progress: None,
    };
    let resumed = mine(&corpus, &Words, &mut second, &FEATURES, &config(), control).unwrap();
    let fresh = run(&corpus, &config(), &mut Synthetic::default());
    assert_eq!(resumed, MiningOutcome::Finished(fresh.clone()));
    assert_eq!(second.windows_scored as u64, fresh.windows);
}

/// The tiny GPT-2 fixture with its SAE, a one-file corpus in a temp dir,
/// and every feature mined over it.
fn fixture_source_and_mining() -> (
    LocalSource,
    tempfile::TempDir,
    Corpus,
    MiningConfig,
    MinedFeatures,
) {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let loaded = sage::open::load_model(
        fixtures.join("models/gpt2").to_str().unwrap(),
        &sage::model::LoadOptions::default(),
    )
    .unwrap();
    let sae = sage::sae::load_sae(
        &fixtures.join("saes/on-models/gpt2-res-centred/sae"),
        &sage::sae::LoadOptions::default(),
    )
    .unwrap();
    let source = LocalSource::new(loaded, sae, "fixture", None).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a.txt"),
        "The meeting moved to May after the storm.\nShe was born in October and left in June.\n\
         Due on March 12, the report was late again.\nThe mayor said nothing at all.\n",
    )
    .unwrap();
    let corpus = Corpus::open(dir.path()).unwrap();
    let n_features = source.info().n_features;
    let features: Vec<u32> = (0..n_features).collect();
    let config = MiningConfig {
        window: 8,
        batch_size: 3,
        top_k: 3,
        ..MiningConfig::default()
    };
    let mut scorer = source.clone();
    let outcome = mine(
        &corpus,
        source.tokenizer().inner(),
        &mut scorer,
        &features,
        &config,
        MiningControl::default(),
    )
    .unwrap();
    let MiningOutcome::Finished(result) = outcome else {
        panic!("{outcome:?}")
    };
    (source, dir, corpus, config, result)
}

#[test]
fn mining_through_the_local_model_and_sae_matches_single_window_runs() {
    let (source, _dir, _corpus, _config, result) = fixture_source_and_mining();
    assert!(result.tokens > 20);
    let mut checked = 0;
    for mined in &result.features {
        for window in &mined.top {
            // The same window alone, BOS prepended, through the one-feature path.
            let bos = source.tokenizer().bos_id().unwrap();
            let ids: Vec<u32> = std::iter::once(bos)
                .chain(window.token_ids.iter().copied())
                .collect();
            let record = &source.records_for_ids(mined.feature, &[ids]).unwrap()[0];
            assert_eq!(record.values.len(), window.values.len() + 1);
            for (a, b) in record.values[1..].iter().zip(window.values.iter()) {
                assert!(
                    (a - b).abs() <= 1e-4,
                    "feature {}: {a} vs {b}",
                    mined.feature
                );
            }
            checked += 1;
        }
    }
    assert!(checked > 0, "no feature fired on the corpus");
}

#[test]
fn the_local_source_answers_exemplars_from_its_table_and_drops_its_own_bos() {
    let (source, dir, corpus, config, result) = fixture_source_and_mining();
    let cache = tempfile::tempdir().unwrap();
    let supply = ExemplarSupply::new(corpus, MiningStore::new(cache.path()), config)
        .with_table(std::sync::Arc::new(result.clone()));
    let source = source.with_exemplars(supply);
    // The table answers: the corpus is never read again.
    std::fs::remove_file(dir.path().join("a.txt")).unwrap();
    let info = source.info();
    let query = ExemplarQuery::default();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let busy = result
        .features
        .iter()
        .find(|f| !f.top.is_empty())
        .expect("some feature fires on the corpus");
    let got = runtime
        .block_on(source.exemplars(busy.feature, &query))
        .unwrap();
    assert_eq!(got, busy.to_exemplars(&info, &query));
    assert!(
        got.top
            .iter()
            .all(|e| { e.origin.as_deref().is_some_and(|o| o.ends_with("a.txt")) })
    );
    let past_end = runtime.block_on(source.exemplars(info.n_features, &query));
    assert!(
        matches!(past_end, Err(SourceError::FeatureOutOfRange { .. })),
        "{past_end:?}"
    );

    // Experiment records: the model sees the BOS the source prepends, the
    // record starts at the text's first token.
    let text = "The mayor moved to May.".to_string();
    let with_bos = source.tokenize(&text).unwrap();
    assert_eq!(Some(with_bos[0]), source.tokenizer().bos_id());
    let full = &source
        .records_for_ids(busy.feature, std::slice::from_ref(&with_bos))
        .unwrap()[0];
    let record = &runtime
        .block_on(source.activations(busy.feature, &[text]))
        .unwrap()[0];
    assert_eq!(record.token_ids, with_bos[1..]);
    assert_eq!(record.tokens, full.tokens[1..]);
    assert_eq!(record.values, full.values[1..]);
    let max = record
        .values
        .iter()
        .copied()
        .fold(f32::NEG_INFINITY, f32::max);
    assert_eq!(record.max_value, max);
    assert_eq!(record.values[record.max_value_token_index], max);
}

#[test]
fn without_a_table_the_local_source_mines_the_feature_asked_about_and_caches_it() {
    let (source, _dir, corpus, config, result) = fixture_source_and_mining();
    let cache = tempfile::tempdir().unwrap();
    let source = source.with_exemplars(ExemplarSupply::new(
        corpus,
        MiningStore::new(cache.path()),
        config,
    ));
    let busy = result
        .features
        .iter()
        .find(|f| !f.top.is_empty())
        .expect("some feature fires on the corpus");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let query = ExemplarQuery::default();
    let got = runtime
        .block_on(source.exemplars(busy.feature, &query))
        .unwrap();
    // Mined alone, the feature has the same top windows, density and max
    // as when mined with every other feature (values up to float error:
    // encoding one latent sums in another order than encoding all).
    let want = busy.to_exemplars(&source.info(), &query);
    assert_eq!(got.top.len(), want.top.len());
    for (g, w) in got.top.iter().zip(&want.top) {
        assert_eq!((&g.origin, g.offset), (&w.origin, w.offset));
        assert_eq!(g.record.token_ids, w.record.token_ids);
        for (a, b) in g.record.values.iter().zip(&w.record.values) {
            assert!((a - b).abs() <= 1e-5, "{a} vs {b}");
        }
    }
    assert_eq!(got.density, want.density);
    assert!((got.max_activation - want.max_activation).abs() <= 1e-5);
    let results = cache.path().join("mining/results");
    let count = || {
        std::fs::read_dir(&results)
            .unwrap()
            .flat_map(|d| std::fs::read_dir(d.unwrap().path()).unwrap())
            .count()
    };
    assert_eq!(count(), 1, "the result is cached");
    let again = runtime
        .block_on(source.exemplars(busy.feature, &query))
        .unwrap();
    assert_eq!(again, got);
    assert_eq!(count(), 1);
}

/// Sizes past their bounds are refused with the flag named, before
/// anything is reserved per feature (a `-k` of 2^60 used to abort).
#[test]
fn oversized_settings_are_refused_before_allocating() {
    let (_dir, corpus) = corpus();
    for (change, flag) in [
        (
            (|c: &mut MiningConfig| c.top_k = 1 << 60) as fn(&mut MiningConfig),
            "-k",
        ),
        (|c: &mut MiningConfig| c.top_k = usize::MAX, "-k"),
        (|c: &mut MiningConfig| c.window = 0, "--window"),
        (|c: &mut MiningConfig| c.batch_size = usize::MAX, "--batch"),
        (|c: &mut MiningConfig| c.per_band = usize::MAX, "per band"),
    ] {
        let mut config = config();
        change(&mut config);
        let mut scorer = Synthetic::default();
        let err = mine(
            &corpus,
            &Words,
            &mut scorer,
            &FEATURES,
            &config,
            MiningControl::default(),
        )
        .unwrap_err();
        assert!(matches!(err, MiningError::BadConfig(_)), "{err:?}");
        assert!(err.to_string().contains(flag), "{err}");
        assert_eq!(scorer.calls, 0);
    }
}
