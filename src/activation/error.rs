//! Why an activation source could not answer.

/// Why a source could not answer. Messages say what to do next.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The feature index is not in the SAE.
    #[error("feature {feature} is out of range: this SAE has features 0..={max}")]
    FeatureOutOfRange {
        /// Requested feature.
        feature: u32,
        /// Largest valid index.
        max: u32,
    },
    /// The source has no exemplars for this feature (for example no corpus).
    #[error("no exemplars available: {0}")]
    NoExemplars(String),
    /// The model or SAE failed while computing activations.
    #[error("activation run failed: {0}")]
    Compute(String),
    /// The source does not know this feature (for example Neuronpedia has
    /// no such model, SAE or index). The message names what was asked.
    #[error("unknown feature: {0}")]
    UnknownFeature(String),
    /// A remote source (Neuronpedia) failed.
    #[error("remote source failed: {0}")]
    Remote(String),
    /// The source answered with NaN or infinity somewhere. Such a value has
    /// no JSON spelling, so it is refused before it can reach a session log.
    #[error(
        "the source answered with a value sage cannot record: {0}; check the model and SAE \
         weights (or the server) for overflow"
    )]
    NonFinite(sage_core::activation::NonFinite),
}
