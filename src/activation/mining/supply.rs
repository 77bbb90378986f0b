//! Exemplars for a source that runs the model itself: answered from a
//! table mined in advance, from the mining cache, or by mining the one
//! feature asked about over the source's corpus (and caching it).

use std::sync::Arc;

use super::MiningError;
use super::corpus::Corpus;
use super::miner::{FeatureScorer, MiningConfig, MiningOutcome};
use super::result::{MinedFeature, MinedFeatures};
use super::store::{MiningRequest, MiningStore};
use super::window::WindowTokenizer;

/// A corpus to mine, where to cache what is mined, and how; plus an
/// optional table of features mined in advance (the demo mines every
/// latent once and hands the table over).
#[derive(Debug, Clone)]
pub struct ExemplarSupply {
    corpus: Arc<Corpus>,
    store: MiningStore,
    config: MiningConfig,
    table: Option<Arc<MinedFeatures>>,
}

impl ExemplarSupply {
    /// Mines single features over `corpus` on demand, caching in `store`.
    pub fn new(corpus: Corpus, store: MiningStore, config: MiningConfig) -> ExemplarSupply {
        ExemplarSupply {
            corpus: Arc::new(corpus),
            store,
            config,
            table: None,
        }
    }

    /// Answers features found in `table` from it, without mining.
    pub fn with_table(mut self, table: Arc<MinedFeatures>) -> ExemplarSupply {
        self.table = Some(table);
        self
    }

    /// What mining found for `feature`: from the table, the cache, or a
    /// fresh run over the corpus (blocking; call from a worker thread).
    /// `model` and `sae` name the pair in the cache key.
    pub fn mined(
        &self,
        feature: u32,
        model: &str,
        sae: &str,
        tokenizer: &dyn WindowTokenizer,
        scorer: &mut dyn FeatureScorer,
    ) -> Result<MinedFeature, MiningError> {
        if let Some(found) = self.table.as_deref().and_then(|t| find(t, feature)) {
            return Ok(found.clone());
        }
        let features = [feature];
        let request = MiningRequest {
            model,
            sae,
            features: &features,
            config: &self.config,
        };
        let (outcome, _) =
            self.store
                .mine(&self.corpus, tokenizer, scorer, &request, None, None)?;
        match outcome {
            MiningOutcome::Finished(mut result) if !result.features.is_empty() => {
                Ok(result.features.swap_remove(0))
            }
            other => Err(MiningError::BadState {
                path: self
                    .store
                    .checkpoint_path(&self.store.key(&self.corpus, &request)),
                why: format!("mining one feature ended without its result ({other:?})"),
            }),
        }
    }
}

/// The entry of `feature` in a table (its entries are in request order,
/// which for the demo's `all` is index order, so try that slot first).
fn find(table: &MinedFeatures, feature: u32) -> Option<&MinedFeature> {
    let direct = table
        .features
        .get(feature as usize)
        .filter(|f| f.feature == feature);
    direct.or_else(|| table.features.iter().find(|f| f.feature == feature))
}
