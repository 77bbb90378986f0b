//! Activations from a Neuronpedia server (the public site or a self-hosted
//! instance), for users exploring features they do not run themselves.
//!
//! Read-only by construction: the client can only send
//! `POST /api/activation/new` (activations for a custom text) and
//! `GET /api/feature/{model}/{source}/{index}` (stored examples, density,
//! explanations).

mod client;
mod pacing;
mod wire;

pub use client::{API_KEY_ENV, ApiKey, DEFAULT_URL, NeuronpediaClient, NeuronpediaConfig, URL_ENV};
pub use pacing::RetryPolicy;
pub use wire::Explanation;
pub(crate) use wire::{parse_activation, parse_feature};

use futures::future::try_join_all;

use crate::activation::{
    ActivationRecord, ActivationSource, ExemplarQuery, FeatureExemplars, SourceError, SourceInfo,
};

/// One SAE on a Neuronpedia server, seen as an [`ActivationSource`].
#[derive(Debug)]
pub struct NeuronpediaSource {
    client: NeuronpediaClient,
    info: SourceInfo,
}

impl NeuronpediaSource {
    /// The SAE `sae_id` (Neuronpedia's "source", e.g. `8-res-jb`) of model
    /// `model_id` (e.g. `gpt2-small`). Neuronpedia does not say how many
    /// features an SAE has or which hook it reads without a request, so
    /// `info()` reports `n_features = u32::MAX` and an empty hook until
    /// [`NeuronpediaSource::with_shape`] says otherwise; the server itself
    /// rejects indices that do not exist.
    pub fn new(
        client: NeuronpediaClient,
        model_id: impl Into<String>,
        sae_id: impl Into<String>,
    ) -> NeuronpediaSource {
        NeuronpediaSource {
            client,
            info: SourceInfo {
                model: model_id.into(),
                sae: sae_id.into(),
                hook: String::new(),
                n_features: u32::MAX,
            },
        }
    }

    /// The source the command line asks for: `url` from
    /// `--neuronpedia-url` (else `NEURONPEDIA_URL`, else the public site),
    /// the key from `NEURONPEDIA_API_KEY`, answers cached under
    /// `cache_root/neuronpedia` (pass `Paths::cache_dir()`).
    pub fn connect(
        url: Option<String>,
        cache_root: std::path::PathBuf,
        model_id: impl Into<String>,
        sae_id: impl Into<String>,
    ) -> Result<NeuronpediaSource, SourceError> {
        let client = NeuronpediaClient::new(NeuronpediaConfig::from_env(url, cache_root))?;
        Ok(NeuronpediaSource::new(client, model_id, sae_id))
    }

    /// Records the SAE's width and hook when the caller knows them, so
    /// out-of-range features fail locally without a request.
    pub fn with_shape(mut self, n_features: u32, hook: impl Into<String>) -> NeuronpediaSource {
        self.info.n_features = n_features;
        self.info.hook = hook.into();
        self
    }

    /// Explanations already published for `feature`, best scored first
    /// (answered from the cache after [`ActivationSource::exemplars`]).
    pub async fn explanations(&self, feature: u32) -> Result<Vec<Explanation>, SourceError> {
        self.check_range(feature)?;
        Ok(self.feature(feature).await?.explanations)
    }

    async fn feature(&self, feature: u32) -> Result<wire::WireFeature, SourceError> {
        self.client
            .feature(&self.info.model, &self.info.sae, feature)
            .await?
            .ok_or_else(|| self.unknown(feature))
    }

    fn unknown(&self, feature: u32) -> SourceError {
        SourceError::UnknownFeature(format!(
            "Neuronpedia has no feature {}/{}/{feature}; check the model id, the SAE id and the index (see the feature's page on the site), and that --neuronpedia-url points at a Neuronpedia server",
            self.info.model, self.info.sae
        ))
    }

    fn check_range(&self, feature: u32) -> Result<(), SourceError> {
        if feature >= self.info.n_features {
            return Err(SourceError::FeatureOutOfRange {
                feature,
                max: self.info.n_features.saturating_sub(1),
            });
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl ActivationSource for NeuronpediaSource {
    fn info(&self) -> SourceInfo {
        self.info.clone()
    }

    async fn activations(
        &self,
        feature: u32,
        texts: &[String],
    ) -> Result<Vec<ActivationRecord>, SourceError> {
        self.check_range(feature)?;
        // One request per text; the client's limiter paces them.
        try_join_all(texts.iter().map(|text| async move {
            let activation = self
                .client
                .activation(&self.info.model, &self.info.sae, feature, text)
                .await?
                .ok_or_else(|| self.unknown(feature))?;
            Ok(activation.into_record(&self.info, feature))
        }))
        .await
    }

    async fn exemplars(
        &self,
        feature: u32,
        query: &ExemplarQuery,
    ) -> Result<FeatureExemplars, SourceError> {
        self.check_range(feature)?;
        Ok(self
            .feature(feature)
            .await?
            .into_exemplars(&self.info, feature, query))
    }
}
