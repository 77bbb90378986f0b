//! The one error type of the SAE module. Every message says what was wrong
//! and what the user can do about it.

use std::path::PathBuf;

/// Everything that can go wrong finding, loading or running an SAE.
#[derive(Debug, thiserror::Error)]
pub enum SaeError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A file of an SAE being saved could not be written.
    #[error("cannot write {path}: {source}; check that the output directory is writable")]
    Write {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A JSON config file is not valid JSON or lacks a required field.
    #[error("bad SAE config {path}: {message}")]
    Config {
        /// The config file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// A weights file could not be parsed.
    #[error("cannot load SAE weights from {path}: {message}")]
    Weights {
        /// The weights file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A tensor the format requires is absent from the weights file.
    #[error("SAE weights {path} have no tensor `{name}` (found: {found})")]
    MissingTensor {
        /// The weights file.
        path: PathBuf,
        /// The tensor that was looked for.
        name: String,
        /// The tensors that are there, comma separated.
        found: String,
    },
    /// A tensor has the wrong shape for the SAE's dimensions.
    #[error("SAE tensor `{name}` has shape {found:?}, expected {expected:?}")]
    Shape {
        /// The tensor's name.
        name: String,
        /// The shape it should have.
        expected: Vec<usize>,
        /// The shape it has.
        found: Vec<usize>,
    },
    /// The config names an architecture sage does not implement.
    #[error(
        "unsupported SAE architecture `{name}`: sage supports standard (relu), jumprelu, topk, gated and transcoder"
    )]
    UnknownArchitecture {
        /// The name in the config.
        name: String,
    },
    /// The config names an activation normalisation sage does not implement.
    #[error(
        "unsupported normalize_activations `{name}`: sage supports none, expected_average_only_in, constant_norm_rescale and layer_norm"
    )]
    UnknownNormalization {
        /// The name in the config.
        name: String,
    },
    /// No known SAE layout was recognised in the directory.
    #[error(
        "{path} is not an SAE directory sage recognises: expected cfg.json + sae_weights.safetensors (SAELens), \
         params.npz or params.safetensors (Gemma Scope), hyperparams.json + checkpoints/final.safetensors \
         (Llama Scope) or cfg.json + sae.safetensors (sparsify); pass --sae-format to say which it is"
    )]
    UnknownFormat {
        /// The directory.
        path: PathBuf,
    },
    /// A format name (for `--sae-format`) is not one sage knows.
    #[error(
        "unknown SAE format `{name}`: expected one of saelens, gemma-scope, llama-scope, sparsify"
    )]
    UnknownFormatName {
        /// The name given.
        name: String,
    },
    /// The SAE's files do not say which hook it reads and none could be inferred.
    #[error(
        "cannot tell which hook the SAE at {path} reads: pass --hook (e.g. blocks.12.hook_resid_post)"
    )]
    HookUnknown {
        /// The SAE directory.
        path: PathBuf,
    },
    /// The SAE reads a hook sage's models cannot produce.
    #[error(
        "the SAE reads hook `{name}`, which sage cannot compute: supported hooks are blocks.<L>.hook_resid_pre/mid/post, hook_attn_out, hook_mlp_out, hook_mlp_in and ln2.hook_normalized"
    )]
    HookUnsupported {
        /// The hook name from the SAE's files.
        name: String,
    },
    /// `--hook` disagrees with the hook the SAE's config names.
    #[error(
        "--hook {given} disagrees with the SAE, which reads {configured}: drop --hook or pick another SAE"
    )]
    HookConflict {
        /// The hook the user gave.
        given: String,
        /// The hook the SAE's config names.
        configured: String,
    },
    /// A feature index is not in the SAE.
    #[error("feature {feature} is out of range: this SAE has features 0..={max}")]
    FeatureOutOfRange {
        /// The requested feature.
        feature: u32,
        /// The largest valid index (d_sae - 1).
        max: usize,
    },
    /// The activations given to the SAE have the wrong width.
    #[error(
        "the SAE expects inputs of width {expected} (its d_in) but got width {found}: the model does not match the SAE"
    )]
    InputWidth {
        /// The SAE's d_in.
        expected: usize,
        /// The width given.
        found: usize,
    },
    /// A `release/sae_id` name is not in the registry.
    #[error("{message}")]
    Registry {
        /// What was not found and what exists.
        message: String,
    },
    /// Downloading or locating files through the Hugging Face hub failed.
    #[error(
        "could not fetch {file} from hub repo {repo}: {message} (set HF_HUB_OFFLINE / HF_ENDPOINT, or pass a local directory)"
    )]
    Hub {
        /// The hub repository.
        repo: String,
        /// The file within it.
        file: String,
        /// The underlying error.
        message: String,
    },
    /// The model cannot feed this SAE (width, depth or model name differ).
    #[error("model and SAE do not match: {message}")]
    ModelMismatch {
        /// What differs and what to do.
        message: String,
    },
    /// Running the model failed.
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
    /// A tensor operation failed inside candle.
    #[error("tensor error: {0}")]
    Candle(#[from] candle_core::Error),
}
