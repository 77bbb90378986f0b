//! Corpus mining: stream a corpus through a model + SAE once and keep, for
//! every requested feature, its top activating windows, samples from lower
//! activation bands, some windows where it stays silent, its firing
//! density and its maximum.
//!
//! The core here is model-agnostic: it takes a [`WindowTokenizer`] and a
//! [`FeatureScorer`] (the real model + SAE, or a synthetic scorer in
//! tests). Memory is bounded by the number of features times the number of
//! kept windows, never by the corpus size. A run can be interrupted and
//! resumed from a checkpoint, and finished results are cached by model,
//! SAE, settings and corpus fingerprint.

mod corpus;
mod features;
mod miner;
mod progress;
mod result;
mod sample;
mod sampling;
mod stats;
mod store;
mod supply;
mod values;
mod window;

pub use corpus::{Corpus, CorpusFile, Document, Documents, FileFormat};
pub use features::parse_feature_list;
pub use miner::{FeatureScorer, MiningConfig, MiningControl, MiningOutcome, MiningProgress, mine};
pub use progress::ProgressBarReporter;
pub use result::{MinedBand, MinedFeature, MinedFeatures, MinedWindow};
pub use sample::SamplePlan;
pub use store::{MiningRequest, MiningStore};
pub use supply::ExemplarSupply;
pub use values::WindowValues;
pub use window::{Token, TokenWindow, WindowTokenizer, windows_of};

use std::path::{Path, PathBuf};

/// Why mining failed. Each message says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum MiningError {
    /// The corpus path does not exist.
    #[error(
        "corpus {path} not found; pass a text file, a .jsonl file or a directory with --corpus"
    )]
    CorpusNotFound {
        /// The path given.
        path: PathBuf,
    },
    /// The corpus has no readable files.
    #[error("corpus {path} has no text files to mine (hidden and binary files are skipped)")]
    EmptyCorpus {
        /// The path given.
        path: PathBuf,
    },
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A `.jsonl` line is not an object with a `"text"` string.
    #[error(
        "{path} line {line}: {why}; each line must be a JSON object with a \"text\" string (fix or remove the line)"
    )]
    BadJsonl {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// What is wrong.
        why: String,
    },
    /// The tokenizer rejected a document.
    #[error("tokenizing the corpus failed: {0}")]
    Tokenize(String),
    /// The scorer (model + SAE) failed or answered with the wrong shape.
    #[error("scoring a batch failed: {0}")]
    Score(String),
    /// The settings cannot work.
    #[error("invalid mining settings: {0}")]
    BadConfig(String),
    /// A checkpoint or cached result could not be read back.
    #[error("{path} is not a usable mining state ({why}); delete it to start over")]
    BadState {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
}

impl MiningError {
    fn io(path: &Path, source: std::io::Error) -> MiningError {
        MiningError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
