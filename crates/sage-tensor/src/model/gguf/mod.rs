//! llama.cpp's GGUF checkpoints (llama and qwen2 architectures) read into
//! the Hugging Face form the llama-family forward loads.
//!
//! A GGUF file carries the config as metadata, the tokenizer as metadata,
//! and quantized tensors under llama.cpp names. [`read_gguf`] turns that into
//! a `config.json` document, f32 tensors under Hugging Face names (q/k rows
//! un-permuted), and a tokenizer whose ids match the model's own.
//!
//! Every weight is dequantized to f32 at load, Q8_0 included. For a
//! 64-token prefill at SmolLM2's MLP shapes candle's quantized CPU matmuls
//! measured 2.5-10x slower than its f32 matmul for Q8_0 and Q4_0, and
//! 13-37x slower for Q4_1, which has no vectorised kernel
//! (`cargo bench --bench gguf_prefill`). The hooked forward always reads
//! whole prompts, so the memory (4 bytes a weight) buys speed.

pub mod header;
mod metadata;
mod tensors;
mod tokenizer;

use std::collections::HashMap;
use std::fs::File;
use std::io::{Seek as _, SeekFrom};
use std::path::{Path, PathBuf};

use candle_core::quantized::gguf_file;
use candle_core::{Device, Tensor};
use candle_nn::VarBuilder;

use super::{LoadOptions, LoadedModel, ModelError, ModelTokenizer, build_model};

pub use metadata::GgufArchitecture;

/// A GGUF checkpoint in Hugging Face form: what an HF model directory holds.
#[derive(Debug)]
pub struct GgufCheckpoint {
    /// Which layout the file declares.
    pub architecture: GgufArchitecture,
    /// The equivalent of the model's `config.json` (HF field names), for the
    /// family's serde `Config`.
    pub config: serde_json::Value,
    /// Every weight, dequantized to f32, under its Hugging Face name; feed to
    /// `candle_nn::VarBuilder::from_tensors`.
    pub tensors: HashMap<String, Tensor>,
    /// The tokenizer: `tokenizer.json` beside the file if there is one,
    /// otherwise rebuilt from the file's metadata.
    pub tokenizer: tokenizers::Tokenizer,
}

/// Everything that can go wrong reading a GGUF checkpoint; each message says
/// what was wrong and what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum GgufError {
    /// The file could not be opened or read.
    #[error("cannot read GGUF file {path}: {source}; check the path and permissions")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The header failed the bounds checks made before candle reads it.
    #[error(
        "{path}: {source}; the file is damaged or not a GGUF file: download it again or re-convert it"
    )]
    Header {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        source: header::HeaderError,
    },
    /// The file is not a well-formed GGUF file.
    #[error(
        "{path} is not a readable GGUF file ({source}); it may be truncated or another format: download it again"
    )]
    Format {
        /// The file.
        path: PathBuf,
        /// What the reader found wrong.
        source: candle_core::Error,
    },
    /// `general.architecture` names a layout sage has no forward for.
    #[error(
        "GGUF architecture `{architecture}` is not supported; sage reads `llama` (Llama, SmolLM2, Mistral) and `qwen2` GGUF files, or use the model's Hugging Face directory instead"
    )]
    UnsupportedArchitecture {
        /// The declared architecture.
        architecture: String,
    },
    /// A required metadata key is absent.
    #[error(
        "GGUF metadata lacks `{key}`; the file was written by an old or partial converter: re-convert it with a current llama.cpp convert_hf_to_gguf.py"
    )]
    MissingMetadata {
        /// The key.
        key: String,
    },
    /// A metadata key holds the wrong kind of value.
    #[error("GGUF metadata `{key}` should be {expected}; the file is malformed: re-convert it")]
    BadMetadata {
        /// The key.
        key: String,
        /// What it should hold.
        expected: &'static str,
    },
    /// The model uses a feature the llama forward does not implement.
    #[error(
        "this GGUF model uses {what}, which sage's llama forward does not implement; use a model without it"
    )]
    Unsupported {
        /// The feature.
        what: String,
    },
    /// A tensor name has no Hugging Face counterpart.
    #[error(
        "GGUF tensor `{name}` has no Hugging Face llama counterpart; this file is a variant sage does not support"
    )]
    UnknownTensor {
        /// The GGUF tensor name.
        name: String,
    },
    /// A required tensor is absent.
    #[error(
        "GGUF file lacks tensor `{name}`; the file is incomplete: download or convert it again"
    )]
    MissingTensor {
        /// The GGUF tensor name.
        name: String,
    },
    /// A tensor's shape does not fit the config.
    #[error("GGUF tensor `{name}` has shape {shape:?}, expected {expected}; the file is malformed")]
    BadTensorShape {
        /// The tensor.
        name: String,
        /// Its shape.
        shape: Vec<usize>,
        /// What was expected.
        expected: String,
    },
    /// The tokenizer in the metadata cannot be rebuilt faithfully.
    #[error(
        "cannot rebuild the tokenizer from GGUF metadata: {what} is not supported; put the model's tokenizer.json beside the .gguf file"
    )]
    UnsupportedTokenizer {
        /// What is unsupported.
        what: String,
    },
    /// A tokenizer.json beside the file could not be loaded.
    #[error(
        "cannot load {path}: {message}; replace it with the model's tokenizer.json or remove it"
    )]
    TokenizerFile {
        /// The tokenizer.json path.
        path: PathBuf,
        /// What the tokenizers library reported.
        message: String,
    },
    /// A tensor operation failed while dequantizing or reshaping.
    #[error("tensor error while loading GGUF weights: {0}")]
    Candle(#[from] candle_core::Error),
}

/// Reads a GGUF checkpoint: config from metadata, every tensor dequantized
/// to f32 under its Hugging Face name, and the tokenizer.
pub fn read_gguf(path: &Path, device: &Device) -> Result<GgufCheckpoint, GgufError> {
    let io = |source| GgufError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = File::open(path).map_err(io)?;
    let file_len = file.metadata().map_err(io)?.len();
    // Buffered: the walk reads the vocabulary's strings one by one.
    let mut buffered = std::io::BufReader::new(&file);
    header::check_header(&mut buffered, file_len).map_err(|source| GgufError::Header {
        path: path.to_path_buf(),
        source,
    })?;
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    let content = gguf_file::Content::read(&mut file).map_err(|source| GgufError::Format {
        path: path.to_path_buf(),
        source,
    })?;
    let md = metadata::Metadata {
        values: &content.metadata,
    };
    let architecture = GgufArchitecture::parse(md.str("general.architecture")?)?;

    let embeddings = content
        .tensor_infos
        .get("token_embd.weight")
        .ok_or_else(|| GgufError::MissingTensor {
            name: "token_embd.weight".into(),
        })?;
    let vocab_size = embeddings.shape.dims().first().copied().unwrap_or(0);
    let tied = !content.tensor_infos.contains_key("output.weight");
    // `attention_bias` means q/k/v *and* o biases; Qwen2 has q/k/v biases by
    // its model type alone, so only an o bias (or q bias on llama) sets it.
    let has = |name: &str| content.tensor_infos.contains_key(name);
    let biased = has("blk.0.attn_output.bias")
        || (architecture == GgufArchitecture::Llama && has("blk.0.attn_q.bias"));
    let (config, heads) = metadata::hf_config(&md, architecture, vocab_size, tied, biased)?;

    // The tokenizer first: it is cheap, and failing here saves dequantizing.
    let tokenizer = match path.parent().map(|dir| dir.join("tokenizer.json")) {
        Some(beside) if beside.is_file() => {
            tokenizers::Tokenizer::from_file(&beside).map_err(|e| GgufError::TokenizerFile {
                path: beside.clone(),
                message: e.to_string(),
            })?
        }
        _ => tokenizer::from_metadata(&md)?,
    };
    let mut tensors = HashMap::with_capacity(content.tensor_infos.len());
    let mut names: Vec<&String> = content.tensor_infos.keys().collect();
    names.sort();
    for name in names {
        let (hf, permuted) = tensors::hf_name(name, architecture)?;
        let weight = content
            .tensor(&mut file, name, device)
            .map_err(|source| GgufError::Format {
                path: path.to_path_buf(),
                source,
            })?
            .dequantize(device)?;
        tensors.insert(hf, tensors::unpermute(&weight, permuted, heads, name)?);
    }

    Ok(GgufCheckpoint {
        architecture,
        config,
        tensors,
        tokenizer,
    })
}

/// Loads a `.gguf` file as a runnable model: the checkpoint from
/// [`read_gguf`] built by the same family code as a Hugging Face directory.
pub fn load_gguf(path: &Path, opts: &LoadOptions) -> Result<LoadedModel, ModelError> {
    let ckpt = read_gguf(path, &opts.device)?;
    let bos = ckpt
        .config
        .get("bos_token_id")
        .and_then(|v| v.as_u64())
        .and_then(|id| u32::try_from(id).ok());
    let vb = VarBuilder::from_tensors(ckpt.tensors, opts.dtype, &opts.device);
    let model = build_model(&ckpt.config, vb)?;
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string());
    Ok(LoadedModel {
        model,
        tokenizer: ModelTokenizer::new(ckpt.tokenizer, bos),
        name,
        source: path.to_path_buf(),
    })
}
