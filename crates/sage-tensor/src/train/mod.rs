//! `sage train-sae`: training a TopK sparse autoencoder on a model's
//! activations over a text corpus, written as a SAELens directory.
//!
//! - [`stream`] turns corpus files into activation rows at a hook;
//! - [`shuffle`] mixes rows from many windows into each batch;
//! - [`topk`] is the SAE, its loss and its optimiser step;
//! - [`run`] drives a run (token budget, progress, held-out metrics);
//! - [`output`] writes cfg.json, sae_weights.safetensors and metrics.json.
//!
//! Input normalisation: activations are multiplied by one constant, chosen
//! on the first batch so that the mean row norm is `sqrt(d_in)` (SAELens's
//! `expected_average_only_in`), which makes the learning rate independent
//! of the model's residual scale. The constant is folded into the saved
//! weights, so the saved SAE reads raw activations and its config says
//! `normalize_activations: "none"`.

mod corpus;
mod output;
mod rng;
mod run;
mod shuffle;
mod stream;
mod topk;

pub use corpus::TextCorpus;
pub use output::write_sae_dir;
pub use run::{SaveDtype, TrainConfig, TrainMetrics, TrainOutcome, train};
pub use topk::FoldedSae;

use std::path::PathBuf;

use crate::model::ModelError;

/// Why training failed; each message says what to change.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// The model could not run the corpus.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The corpus could not be read (the message comes from the corpus reader).
    #[error("{0}")]
    Corpus(String),
    /// The SAE could not be saved (boxed: the SAE error is large, and a
    /// failed save is rare).
    #[error(transparent)]
    Save(Box<crate::sae::SaeError>),
    /// A tensor operation failed (a bug or out of memory).
    #[error("tensor computation failed: {0}")]
    Tensor(#[from] candle_core::Error),
    /// A setting is out of range.
    #[error("invalid setting: {0}")]
    Setting(String),
    /// The corpus has files but no text in them.
    #[error("the corpus {path} yields no tokens; point --corpus at text files")]
    NoTokens {
        /// The corpus given.
        path: PathBuf,
    },
    /// The output directory could not be written.
    #[error("cannot write {path}: {source}; check that --out is a writable directory")]
    Write {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}
