//! Where mining results and checkpoints live: under the data directory's
//! cache, keyed by model, SAE, features, settings and corpus fingerprint,
//! so asking the same question twice is instant and an interrupted run
//! picks up where it stopped.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use super::MiningError;
use super::corpus::Corpus;
use super::miner::{
    FeatureScorer, MiningConfig, MiningControl, MiningOutcome, MiningProgress, mine,
};
use super::result::MinedFeatures;
use super::window::WindowTokenizer;
use crate::activation::cache::{CacheKey, DiskCache};

/// What is being mined, beyond the corpus.
#[derive(Debug, Clone, Copy)]
pub struct MiningRequest<'a> {
    /// Model identifier as the user named it.
    pub model: &'a str,
    /// SAE identifier as the user named it.
    pub sae: &'a str,
    /// Features to record.
    pub features: &'a [u32],
    /// Settings.
    pub config: &'a MiningConfig,
}

/// The mining cache directory (`cache/mining` in the data dir).
#[derive(Debug, Clone)]
pub struct MiningStore {
    results: DiskCache,
    checkpoints: PathBuf,
}

impl MiningStore {
    /// A store under `cache_root` (normally `Paths::cache_dir()`).
    pub fn new(cache_root: &Path) -> MiningStore {
        let dir = cache_root.join("mining");
        MiningStore {
            results: DiskCache::new(dir.join("results"), "json"),
            checkpoints: dir.join("checkpoints"),
        }
    }

    /// The key of a request over a corpus.
    pub fn key(&self, corpus: &Corpus, request: &MiningRequest<'_>) -> CacheKey {
        let features: Vec<String> = request.features.iter().map(u32::to_string).collect();
        CacheKey::from_parts([
            request.model.to_string(),
            request.sae.to_string(),
            features.join(","),
            request.config.result_identity(),
            corpus.fingerprint().as_str().to_string(),
        ])
    }

    /// The cached result for `key`, if any. An entry that does not parse
    /// (damaged, or written by an older format) is a miss, never an error:
    /// the features are mined again and the entry is overwritten.
    pub fn cached(&self, key: &CacheKey) -> Option<MinedFeatures> {
        let bytes = self.results.get(key)?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Where the checkpoint of `key` is kept while a run is unfinished.
    pub fn checkpoint_path(&self, key: &CacheKey) -> PathBuf {
        self.checkpoints.join(format!("{}.json", key.as_str()))
    }

    /// Answers from the cache, or mines (resuming from a checkpoint if one
    /// exists) and caches the finished result. The flag says whether the
    /// answer came from the cache.
    pub fn mine<'a>(
        &self,
        corpus: &Corpus,
        tokenizer: &dyn WindowTokenizer,
        scorer: &mut dyn FeatureScorer,
        request: &MiningRequest<'_>,
        stop: Option<&'a AtomicBool>,
        progress: Option<&'a mut dyn FnMut(&MiningProgress)>,
    ) -> Result<(MiningOutcome, bool), MiningError> {
        let key = self.key(corpus, request);
        if let Some(done) = self.cached(&key) {
            return Ok((MiningOutcome::Finished(done), true));
        }
        let control = MiningControl {
            stop,
            checkpoint: Some(self.checkpoint_path(&key)),
            progress,
        };
        let outcome = mine(
            corpus,
            tokenizer,
            scorer,
            request.features,
            request.config,
            control,
        )?;
        if let MiningOutcome::Finished(result) = &outcome {
            self.results
                .put_json(&key, result)
                .map_err(|e| MiningError::io(&self.results.path_for(&key), e))?;
        }
        Ok((outcome, false))
    }
}
