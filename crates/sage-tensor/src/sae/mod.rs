//! Sparse autoencoders: loading every common on-disk format and encoding
//! model activations into feature activations exactly as the SAE's own
//! library does.
//!
//! - [`Sae`] holds the weights and does the maths (`encode`,
//!   `encode_features`, `decode`) for the standard (ReLU), JumpReLU, TopK and
//!   gated architectures, with SAELens's input options.
//! - [`format`] reads SAELens, Gemma Scope, Llama Scope and EleutherAI
//!   sparsify directories, auto-detected or named with [`SaeFormat`].
//! - [`residual`] records how the model must be read to match the residual
//!   stream the SAE was trained on.

mod autoencoder;
mod error;
pub mod format;
mod measure;
mod norm;
pub mod npz;
pub mod residual;
pub(crate) mod topk;
mod weights_file;

pub use autoencoder::{Activation, Sae, SaeWeights, decoder_row_norms};
pub use error::SaeError;
pub use format::{LoadOptions, SaeFormat, load_sae};
pub use measure::{
    check_compatible, check_model_name, feature_activations, features_activations_into,
};
pub use norm::InputNorm;
pub use residual::InputTransform;

use crate::model::HookPoint;

/// What an SAE reads and where it came from: everything about it that is
/// not weights.
#[derive(Debug, Clone, PartialEq)]
pub struct SaeInfo {
    /// The on-disk format it was loaded from.
    pub format: SaeFormat,
    /// The hook whose activations it encodes.
    pub hook: HookPoint,
    /// The model it was trained on, as its files name it (if they do).
    pub model_name: Option<String>,
    /// True for transcoders (encoder reads the MLP input).
    pub transcoder: bool,
    /// `model_from_pretrained_kwargs.center_writing_weights` from its config,
    /// when stated (see [`residual`]).
    pub center_writing_weights: Option<bool>,
    /// Whether it was trained with a BOS token prepended, when stated.
    pub prepend_bos: Option<bool>,
    /// Things worth telling the user about how it was loaded (for example a
    /// hook inferred from directory names); the CLI prints them to stderr.
    pub notes: Vec<String>,
}

impl SaeInfo {
    /// Facts known for every SAE; the rest start unknown (`None`, not a
    /// transcoder) for the format loader to fill in.
    pub fn new(format: SaeFormat, hook: HookPoint, notes: Vec<String>) -> SaeInfo {
        SaeInfo {
            format,
            hook,
            model_name: None,
            transcoder: false,
            center_writing_weights: None,
            prepend_bos: None,
            notes,
        }
    }
}
