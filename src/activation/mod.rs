//! Where per-token feature activations come from.
//!
//! The agent never runs a model itself: it asks an [`ActivationSource`] for
//! the activations of one feature on some texts, and for the feature's
//! exemplars (top activating windows, quantile samples, density). Sources:
//! a local model + SAE (+ a mined corpus), a Neuronpedia server, and a
//! synthetic source with known rules for tests.

pub mod cache;
mod error;
mod local;
pub mod mining;
pub mod neuronpedia;
pub mod synthetic;

pub use error::SourceError;
pub use local::LocalSource;
pub use sage_core::activation::{
    ActivationRecord, Exemplar, ExemplarQuery, FeatureExemplars, QuantileBand, SourceInfo,
};

/// A provider of per-token activations for SAE features.
///
/// Async because the Neuronpedia source does HTTP and the local source runs
/// the model on a blocking worker; both must leave the UI responsive.
#[async_trait::async_trait]
pub trait ActivationSource: Send + Sync {
    /// What this source measures (model, SAE, hook, number of features).
    fn info(&self) -> SourceInfo;

    /// Activations of `feature` on each text, one record per text, in order.
    async fn activations(
        &self,
        feature: u32,
        texts: &[String],
    ) -> Result<Vec<ActivationRecord>, SourceError>;

    /// The feature's exemplars: top activating windows, quantile samples,
    /// some non-activating windows, its firing density and maximum.
    async fn exemplars(
        &self,
        feature: u32,
        query: &ExemplarQuery,
    ) -> Result<FeatureExemplars, SourceError>;
}
