//! The mining loop: windows in batches through a scorer, every requested
//! feature updated from each batch, a checkpoint on interruption.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::MiningError;
use super::corpus::{Corpus, Documents};
use super::result::{MinedFeature, MinedFeatures};
use super::sampling::Reservoir;
use super::stats::{Capacities, FeatureStats, Sample, ScoredWindow, StoredWindow};
use super::window::{TokenWindow, WindowTokenizer, windows_of};
use crate::activation::cache::{CacheKey, write_json_atomic};

/// Activations of many features on many windows at once: one forward pass
/// of the model + SAE per batch in real runs.
pub trait FeatureScorer {
    /// Writes into `out` the activation of each of `features` at each
    /// token of each window, row-major `[token][feature]`, the windows' rows
    /// one after another in window order: `window.ids.len() *
    /// features.len()` values per window. `out` is the miner's buffer from
    /// the previous batch: replace its contents and keep its allocation (a
    /// batch over a wide SAE is large). Rows must line up with the windows'
    /// own tokens (leave out any BOS the model was given).
    fn score(
        &mut self,
        windows: &[TokenWindow],
        features: &[u32],
        out: &mut Vec<f32>,
    ) -> Result<(), MiningError>;
}

/// Settings of a mining run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MiningConfig {
    /// Tokens per window.
    pub window: usize,
    /// Windows per scorer call.
    pub batch_size: usize,
    /// Top windows kept per feature.
    pub top_k: usize,
    /// Activation bands for quantile samples.
    pub bands: usize,
    /// Samples kept per band.
    pub per_band: usize,
    /// Silent windows kept per feature.
    pub non_activating: usize,
    /// Seed of the sampling RNG.
    pub seed: u64,
    /// Write a checkpoint every this many batches (0: only when stopped).
    pub checkpoint_every: usize,
}

impl Default for MiningConfig {
    fn default() -> Self {
        MiningConfig {
            window: 64,
            batch_size: 16,
            top_k: 20,
            bands: 10,
            per_band: 5,
            non_activating: 5,
            seed: 0x5A6E,
            checkpoint_every: 200,
        }
    }
}

/// Largest `top_k`, `per_band` and `non_activating` a run accepts: every
/// feature keeps that many windows, so a typo such as `-k 100000000` would
/// otherwise exhaust memory instead of failing.
pub const MAX_KEPT_PER_FEATURE: usize = 1_000;
/// Largest number of activation bands.
pub const MAX_BANDS: usize = 1_000;
/// Largest window, in tokens (longer than any context sage runs).
pub const MAX_WINDOW: usize = 1 << 17;
/// Largest number of windows per scorer call.
pub const MAX_BATCH: usize = 1 << 14;

impl MiningConfig {
    /// Checks every size against its bound, so a run fails with a
    /// [`MiningError::BadConfig`] that names the flag before it allocates.
    pub fn check(&self) -> Result<(), MiningError> {
        let limits = [
            ("window (--window)", self.window, 1, MAX_WINDOW),
            ("batch size (--batch)", self.batch_size, 1, MAX_BATCH),
            (
                "top windows per feature (-k)",
                self.top_k,
                0,
                MAX_KEPT_PER_FEATURE,
            ),
            ("bands", self.bands, 0, MAX_BANDS),
            ("samples per band", self.per_band, 0, MAX_KEPT_PER_FEATURE),
            (
                "silent windows per feature",
                self.non_activating,
                0,
                MAX_KEPT_PER_FEATURE,
            ),
        ];
        for (name, value, low, high) in limits {
            if !(low..=high).contains(&value) {
                return Err(MiningError::BadConfig(format!(
                    "the {name} is {value}; it must be between {low} and {high}"
                )));
            }
        }
        Ok(())
    }

    /// The settings that change results (batch size and checkpoint
    /// frequency do not), for cache keys.
    pub fn result_identity(&self) -> String {
        format!(
            "window={};top_k={};bands={};per_band={};non_activating={};seed={};rng=per-feature",
            self.window, self.top_k, self.bands, self.per_band, self.non_activating, self.seed
        )
    }

    fn capacities(&self) -> Capacities {
        Capacities {
            top_k: self.top_k,
            per_band: self.per_band,
            non_activating: self.non_activating,
        }
    }
}

/// How far a run has got, reported after each batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MiningProgress {
    /// Windows scored (including those done before a resume).
    pub windows_done: u64,
    /// Tokens scored (including those done before a resume).
    pub tokens_done: u64,
    /// Tokens scored by this run alone (for its rate).
    pub tokens_this_run: u64,
    /// Corpus bytes read.
    pub bytes_done: u64,
    /// Corpus size in bytes.
    pub total_bytes: u64,
}

/// Outside control over a run: a stop flag (set it from a Ctrl-C
/// handler), where to keep the checkpoint, and a progress callback.
#[derive(Default)]
pub struct MiningControl<'a> {
    /// Checked between batches; when set, the run writes its checkpoint
    /// and returns [`MiningOutcome::Interrupted`].
    pub stop: Option<&'a AtomicBool>,
    /// Checkpoint file. If it exists and matches this run, the run resumes
    /// from it; it is deleted when the run finishes.
    pub checkpoint: Option<PathBuf>,
    /// Called after every batch.
    pub progress: Option<&'a mut dyn FnMut(&MiningProgress)>,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub enum MiningOutcome {
    /// The whole corpus was mined.
    Finished(MinedFeatures),
    /// Stopped early; rerun with the same checkpoint to continue.
    Interrupted {
        /// Windows scored so far.
        windows_done: u64,
    },
}

/// Mines `corpus` for `features`; see the module docs.
pub fn mine(
    corpus: &Corpus,
    tokenizer: &dyn WindowTokenizer,
    scorer: &mut dyn FeatureScorer,
    features: &[u32],
    config: &MiningConfig,
    mut control: MiningControl<'_>,
) -> Result<MiningOutcome, MiningError> {
    if features.is_empty() {
        return Err(MiningError::BadConfig("no features requested".into()));
    }
    config.check()?;
    let identity = run_identity(corpus, features, config);
    let mut state = match &control.checkpoint {
        Some(path) => Checkpoint::load(path, &identity)?,
        None => None,
    }
    .unwrap_or_else(|| MinerState::fresh(features, config));
    let mut stream = WindowStream {
        documents: corpus.documents(),
        next_seq: 0,
        pending: Vec::new(),
    };
    stream.skip(state.windows_done, tokenizer, config.window)?;
    let caps = config.capacities();
    let resumed_tokens = state.tokens_done;
    let total_bytes = corpus.total_bytes();
    let mut batches = 0usize;
    let mut scores = Vec::new();
    loop {
        if control.stop.is_some_and(|s| s.load(Ordering::SeqCst)) {
            if let Some(path) = &control.checkpoint {
                Checkpoint::save(&state, &identity, path)?;
            }
            return Ok(MiningOutcome::Interrupted {
                windows_done: state.windows_done,
            });
        }
        let batch = stream.next_batch(config.batch_size, tokenizer, config.window)?;
        if batch.is_empty() {
            break;
        }
        scorer.score(&batch, features, &mut scores)?;
        state.absorb(&batch, &scores, features.len(), caps)?;
        batches += 1;
        if let Some(report) = control.progress.as_mut() {
            report(&MiningProgress {
                windows_done: state.windows_done,
                tokens_done: state.tokens_done,
                tokens_this_run: state.tokens_done - resumed_tokens,
                bytes_done: batch.last().map_or(0, |w| w.corpus_bytes_done),
                total_bytes,
            });
        }
        if config.checkpoint_every > 0
            && batches.is_multiple_of(config.checkpoint_every)
            && let Some(path) = &control.checkpoint
        {
            Checkpoint::save(&state, &identity, path)?;
        }
    }
    if let Some(path) = &control.checkpoint {
        let _ = std::fs::remove_file(path);
    }
    Ok(MiningOutcome::Finished(state.finish()))
}

/// Identifies a run for checkpoint matching: corpus, features, settings.
fn run_identity(corpus: &Corpus, features: &[u32], config: &MiningConfig) -> String {
    let features: Vec<String> = features.iter().map(u32::to_string).collect();
    CacheKey::from_parts([
        corpus.fingerprint().as_str().to_string(),
        features.join(","),
        config.result_identity(),
    ])
    .as_str()
    .to_string()
}

/// Documents turned into a stream of numbered windows.
struct WindowStream<'a> {
    documents: Documents<'a>,
    next_seq: u64,
    pending: Vec<TokenWindow>,
}

impl WindowStream<'_> {
    fn next_batch(
        &mut self,
        size: usize,
        tokenizer: &dyn WindowTokenizer,
        window: usize,
    ) -> Result<Vec<TokenWindow>, MiningError> {
        while self.pending.len() < size {
            let Some(doc) = self.documents.next() else {
                break;
            };
            let windows = windows_of(&doc?, tokenizer, window, self.next_seq)?;
            self.next_seq += windows.len() as u64;
            self.pending.extend(windows);
        }
        let take = size.min(self.pending.len());
        Ok(self.pending.drain(..take).collect())
    }

    /// Drops the first `n` windows (already scored before a resume).
    fn skip(
        &mut self,
        n: u64,
        tokenizer: &dyn WindowTokenizer,
        window: usize,
    ) -> Result<(), MiningError> {
        let mut left = n;
        while left > 0 {
            let batch = self.next_batch(left.min(4096) as usize, tokenizer, window)?;
            if batch.is_empty() {
                break;
            }
            left -= batch.len() as u64;
        }
        Ok(())
    }
}

/// The streaming state: counters and per-feature stats.
struct MinerState {
    windows_done: u64,
    tokens_done: u64,
    stats: Vec<FeatureStats<Arc<StoredWindow>>>,
}

impl MinerState {
    fn fresh(features: &[u32], config: &MiningConfig) -> MinerState {
        let caps = config.capacities();
        MinerState {
            windows_done: 0,
            tokens_done: 0,
            stats: features
                .iter()
                .map(|&f| FeatureStats::new(f, config.bands, config.seed, caps))
                .collect(),
        }
    }

    fn absorb(
        &mut self,
        batch: &[TokenWindow],
        scores: &[f32],
        n_features: usize,
        caps: Capacities,
    ) -> Result<(), MiningError> {
        let expected: usize = batch.iter().map(|w| w.ids.len() * n_features).sum();
        if scores.len() != expected {
            return Err(MiningError::Score(format!(
                "the scorer returned {} values for {} windows of {} tokens and {n_features} features (expected {expected})",
                scores.len(),
                batch.len(),
                expected / n_features.max(1),
            )));
        }
        let mut starts = Vec::with_capacity(batch.len() + 1);
        starts.push(0);
        for window in batch {
            starts.push(starts[starts.len() - 1] + window.ids.len() * n_features);
        }
        let stored: Vec<OnceLock<Arc<StoredWindow>>> =
            batch.iter().map(|_| OnceLock::new()).collect();
        // Features are independent (each has its own sampling stream), so
        // blocks of them are updated on the rayon pool; a few blocks per
        // thread even out features that keep more samples than others.
        let block = n_features
            .div_ceil(4 * rayon::current_num_threads())
            .max(64);
        self.stats
            .par_chunks_mut(block)
            .enumerate()
            .for_each(|(b, stats)| {
                let columns = b * block..b * block + stats.len();
                let mut maxes = vec![0f32; stats.len()];
                let mut firing = vec![0u64; stats.len()];
                for (w, window) in batch.iter().enumerate() {
                    let values = &scores[starts[w]..starts[w + 1]];
                    maxes.fill(f32::NEG_INFINITY);
                    firing.fill(0);
                    for row in values.chunks_exact(n_features) {
                        let row = &row[columns.clone()];
                        for ((&v, max), fired) in row.iter().zip(&mut maxes).zip(&mut firing) {
                            *fired += u64::from(v > 0.0);
                            *max = max.max(v);
                        }
                    }
                    let mut scored = ScoredWindow {
                        window,
                        values,
                        n_features,
                        stored: &stored[w],
                    };
                    for (i, stats) in stats.iter_mut().enumerate() {
                        stats.observe(&mut scored, columns.start + i, maxes[i], firing[i], caps);
                    }
                }
            });
        self.windows_done += batch.len() as u64;
        self.tokens_done += batch.iter().map(|w| w.ids.len() as u64).sum::<u64>();
        Ok(())
    }

    fn finish(self) -> MinedFeatures {
        let tokens = self.tokens_done;
        MinedFeatures {
            windows: self.windows_done,
            tokens,
            features: self
                .stats
                .into_iter()
                .map(|s| MinedFeature::from_stats(s, tokens))
                .collect(),
        }
    }
}

/// The on-disk form of [`MinerState`]: kept windows are written once and
/// referred to by their `seq`.
#[derive(Serialize, Deserialize)]
struct Checkpoint {
    identity: String,
    windows_done: u64,
    tokens_done: u64,
    windows: Vec<StoredWindow>,
    stats: Vec<FeatureStats<u64>>,
}

impl Checkpoint {
    fn save(state: &MinerState, identity: &str, path: &Path) -> Result<(), MiningError> {
        let mut windows: HashMap<u64, Arc<StoredWindow>> = HashMap::new();
        let stats = state
            .stats
            .iter()
            .map(|s| {
                map_stats(s, |w: &Arc<StoredWindow>| {
                    windows.insert(w.seq, w.clone());
                    w.seq
                })
            })
            .collect();
        let mut windows: Vec<StoredWindow> =
            windows.into_values().map(|w| w.as_ref().clone()).collect();
        windows.sort_by_key(|w| w.seq);
        let checkpoint = Checkpoint {
            identity: identity.to_string(),
            windows_done: state.windows_done,
            tokens_done: state.tokens_done,
            windows,
            stats,
        };
        write_json_atomic(path, &checkpoint).map_err(|e| MiningError::io(path, e))
    }

    /// The saved state if `path` holds a checkpoint of this very run;
    /// `None` if there is none or it belongs to another run.
    fn load(path: &Path, identity: &str) -> Result<Option<MinerState>, MiningError> {
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(MiningError::io(path, e)),
        };
        let bad = |why: String| MiningError::BadState {
            path: path.to_path_buf(),
            why,
        };
        let checkpoint: Checkpoint =
            serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
        if checkpoint.identity != identity {
            return Ok(None);
        }
        let windows: HashMap<u64, Arc<StoredWindow>> = checkpoint
            .windows
            .into_iter()
            .map(|w| (w.seq, Arc::new(w)))
            .collect();
        let mut missing = None;
        let stats = checkpoint
            .stats
            .iter()
            .map(|s| {
                map_stats(s, |seq: &u64| match windows.get(seq) {
                    Some(w) => w.clone(),
                    None => {
                        missing = Some(*seq);
                        Arc::new(StoredWindow {
                            seq: *seq,
                            file: Arc::from(""),
                            offset: 0,
                            ids: Arc::new([]),
                            tokens: Arc::new([]),
                        })
                    }
                })
            })
            .collect();
        if let Some(seq) = missing {
            return Err(bad(format!("window {seq} is referenced but not stored")));
        }
        Ok(Some(MinerState {
            windows_done: checkpoint.windows_done,
            tokens_done: checkpoint.tokens_done,
            stats,
        }))
    }
}

/// Rebuilds `stats` with every sample's window mapped through `f`.
fn map_stats<A, B>(stats: &FeatureStats<A>, mut f: impl FnMut(&A) -> B) -> FeatureStats<B> {
    let mut sample = |s: &Sample<A>| Sample {
        window: f(&s.window),
        seq: s.seq,
        values: s.values.clone(),
        max: s.max,
    };
    let mut reservoir = |r: &Reservoir<Sample<A>>| Reservoir {
        seen: r.seen,
        items: r.items.iter().map(&mut sample).collect(),
    };
    let bands = stats.bands.bands.iter().map(&mut reservoir).collect();
    let quiet = reservoir(&stats.quiet);
    FeatureStats {
        feature: stats.feature,
        top: stats.top.iter().map(&mut sample).collect(),
        bands: super::sampling::BandedReservoirs {
            upper: stats.bands.upper,
            bands,
        },
        quiet,
        firing_tokens: stats.firing_tokens,
        max: stats.max,
        rng: stats.rng.clone(),
    }
}
