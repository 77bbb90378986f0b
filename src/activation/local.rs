//! Activations computed on this machine: a local model run to the SAE's
//! hook, then the SAE's encoder for one feature.
//!
//! The model runs on a blocking worker so async callers (the agent driver,
//! the UI) stay responsive. Exemplars come from corpus mining: the source
//! is given a corpus (and optionally a table mined in advance) with
//! [`LocalSource::with_exemplars`]; without one it has none.
//!
//! BOS rule: when this source prepends the model's BOS to a text, the
//! model sees it, but the records it hands out (experiment activations and
//! mined exemplars alike) start at the text's first token. The BOS is an
//! attention sink whose SAE activations say nothing about the text (the
//! demo SAE was not even trained on it), and mining drops it the same way.

use std::sync::Arc;

use super::mining::{ExemplarSupply, FeatureScorer, MiningError, TokenWindow};
use super::{
    ActivationRecord, ActivationSource, ExemplarQuery, FeatureExemplars, SourceError, SourceInfo,
};
use crate::model::{HookedModel, LoadedModel, ModelTokenizer};
use crate::sae::{Sae, SaeError, check_compatible, feature_activations, features_activations_into};

/// A model + SAE pair on this machine, answering activation requests.
#[derive(Clone)]
pub struct LocalSource {
    model: Arc<dyn HookedModel>,
    tokenizer: Arc<ModelTokenizer>,
    sae: Arc<Sae>,
    info: SourceInfo,
    prepend_bos: Option<bool>,
    exemplars: Option<Arc<ExemplarSupply>>,
}

impl LocalSource {
    /// Pairs a loaded model with an SAE, refusing pairs that cannot work
    /// (hook outside the model, width mismatch) before any compute.
    /// `sae_name` is how the user named the SAE; `prepend_bos` overrides the
    /// tokenizer's BOS default for texts.
    pub fn new(
        loaded: LoadedModel,
        sae: Sae,
        sae_name: &str,
        prepend_bos: Option<bool>,
    ) -> Result<LocalSource, SaeError> {
        check_compatible(&sae, loaded.model.as_ref())?;
        let info = SourceInfo {
            model: loaded.name.clone(),
            sae: sae_name.to_string(),
            hook: sae.info().hook.to_string(),
            n_features: u32::try_from(sae.d_sae()).unwrap_or(u32::MAX),
        };
        Ok(LocalSource {
            model: Arc::from(loaded.model),
            tokenizer: Arc::new(loaded.tokenizer),
            sae: Arc::new(sae),
            info,
            prepend_bos,
            exemplars: None,
        })
    }

    /// Gives the source a corpus to answer `exemplars` from.
    pub fn with_exemplars(mut self, supply: ExemplarSupply) -> LocalSource {
        self.exemplars = Some(Arc::new(supply));
        self
    }

    /// Readies the SAE's full encoder before a mining run (which encodes
    /// every latent of every batch), so loading pays for packing it rather
    /// than the first batch.
    pub fn prepare_mining(&self) {
        self.sae.pack_encoder();
    }

    /// The model's tokenizer.
    pub fn tokenizer(&self) -> &ModelTokenizer {
        &self.tokenizer
    }

    /// The longest mining window this model can score: its context length,
    /// less one position for the BOS this source prepends (if any).
    pub fn max_window(&self) -> usize {
        let bos = usize::from(self.window_bos().is_some());
        self.model.max_positions().saturating_sub(bos)
    }

    /// The BOS put before each mined window: the model's, unless this
    /// source was told not to prepend one.
    fn window_bos(&self) -> Option<u32> {
        match self.prepend_bos {
            Some(false) => None,
            _ => self.tokenizer.bos_id(),
        }
    }

    /// Token ids for a text, with this source's BOS policy.
    pub fn tokenize(&self, text: &str) -> Result<Vec<u32>, SourceError> {
        self.tokenizer
            .encode(text, self.prepend_bos)
            .map_err(|e| SourceError::Compute(e.to_string()))
    }

    /// Records for token sequences given as ids, all run as one batch.
    /// Blocking: call from a worker thread in async code.
    pub fn records_for_ids(
        &self,
        feature: u32,
        sequences: &[Vec<u32>],
    ) -> Result<Vec<ActivationRecord>, SourceError> {
        let values = feature_activations(self.model.as_ref(), &self.sae, sequences, feature)
            .map_err(|e| match e {
                SaeError::FeatureOutOfRange { feature, max } => SourceError::FeatureOutOfRange {
                    feature,
                    max: u32::try_from(max).unwrap_or(u32::MAX),
                },
                other => SourceError::Compute(other.to_string()),
            })?;
        sequences
            .iter()
            .zip(values)
            .map(|(ids, values)| {
                let tokens = self
                    .tokenizer
                    .token_strings(ids)
                    .map_err(|e| SourceError::Compute(e.to_string()))?;
                Ok(ActivationRecord::new(
                    &self.info,
                    feature,
                    tokens,
                    ids.clone(),
                    values,
                ))
            })
            .collect()
    }
}

/// Corpus mining scores windows through the model + SAE, one batch per
/// forward pass, with the BOS (if any) prepended and left out of the
/// encoder's rows.
impl FeatureScorer for LocalSource {
    fn score(
        &mut self,
        windows: &[TokenWindow],
        features: &[u32],
        out: &mut Vec<f32>,
    ) -> Result<(), MiningError> {
        let bos = self.window_bos();
        let sequences: Vec<Vec<u32>> = windows
            .iter()
            .map(|w| bos.into_iter().chain(w.ids.iter().copied()).collect())
            .collect();
        let skip = usize::from(bos.is_some());
        features_activations_into(
            self.model.as_ref(),
            &self.sae,
            &sequences,
            features,
            skip,
            out,
        )
        .map_err(|e| MiningError::Score(e.to_string()))
    }
}

#[async_trait::async_trait]
impl ActivationSource for LocalSource {
    fn info(&self) -> SourceInfo {
        self.info.clone()
    }

    async fn activations(
        &self,
        feature: u32,
        texts: &[String],
    ) -> Result<Vec<ActivationRecord>, SourceError> {
        let sequences = texts
            .iter()
            .map(|t| self.tokenize(t))
            .collect::<Result<Vec<_>, _>>()?;
        let source = self.clone();
        let records =
            tokio::task::spawn_blocking(move || source.records_for_ids(feature, &sequences))
                .await
                .map_err(|e| SourceError::Compute(format!("activation worker failed: {e}")))??;
        if self.window_bos().is_none() {
            return Ok(records);
        }
        Ok(records
            .into_iter()
            .map(|r| {
                ActivationRecord::new(
                    &self.info,
                    feature,
                    skip1(r.tokens),
                    skip1(r.token_ids),
                    skip1(r.values),
                )
            })
            .collect())
    }

    async fn exemplars(
        &self,
        feature: u32,
        query: &ExemplarQuery,
    ) -> Result<FeatureExemplars, SourceError> {
        let Some(supply) = self.exemplars.clone() else {
            return Err(SourceError::NoExemplars(
                "this local model + SAE was opened without a corpus to mine top examples from; \
                 pass --corpus PATH (text files, .jsonl or a directory)"
                    .to_string(),
            ));
        };
        if feature >= self.info.n_features {
            return Err(SourceError::FeatureOutOfRange {
                feature,
                max: self.info.n_features.saturating_sub(1),
            });
        }
        let mut scorer = self.clone();
        let mined = tokio::task::spawn_blocking(move || {
            let tokenizer = scorer.tokenizer.clone();
            let (model, sae) = (scorer.info.model.clone(), scorer.info.sae.clone());
            supply.mined(feature, &model, &sae, tokenizer.inner(), &mut scorer)
        })
        .await
        .map_err(|e| SourceError::Compute(format!("mining worker failed: {e}")))?
        .map_err(|e| SourceError::Compute(format!("mining feature {feature} failed: {e}")))?;
        Ok(mined.to_exemplars(&self.info, query))
    }
}

/// A record's list without its first (BOS) position.
fn skip1<T>(mut list: Vec<T>) -> Vec<T> {
    if !list.is_empty() {
        list.remove(0);
    }
    list
}
