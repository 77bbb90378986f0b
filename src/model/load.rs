//! Turning a model spec into a runnable [`LoadedModel`].
//!
//! A local directory in Hugging Face layout (config.json, model.safetensors
//! or a sharded model.safetensors.index.json, tokenizer.json) is read here;
//! the family is picked from config.json's `model_type` (or `architectures`).
//! [`build_model`] is the seam other weight sources (GGUF, the hub cache)
//! use once they have a config and a VarBuilder with HF tensor names.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device};
use candle_nn::VarBuilder;
use serde::de::DeserializeOwned;

use super::gemma2::{Gemma2, Gemma2Config};
use super::gpt2::{Gpt2, Gpt2Config};
use super::llama::{Llama, LlamaConfig};
use super::{HookedModel, ModelError, ModelTokenizer};

/// The `model_type`s sage can run.
pub const SUPPORTED_ARCHITECTURES: &[&str] = &["gpt2", "llama", "qwen2", "qwen3", "gemma2"];

/// Where and in what precision to load weights.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Device the weights are placed on.
    pub device: Device,
    /// Weight dtype (activations are returned as f32 regardless).
    pub dtype: DType,
}

impl Default for LoadOptions {
    fn default() -> LoadOptions {
        LoadOptions {
            device: Device::Cpu,
            dtype: DType::F32,
        }
    }
}

/// A model ready to run, with the tokenizer that goes with it.
pub struct LoadedModel {
    /// The hooked forward pass.
    pub model: Box<dyn HookedModel>,
    /// Its tokenizer and BOS policy.
    pub tokenizer: ModelTokenizer,
    /// A short display name (the directory name for local models).
    pub name: String,
    /// Where it was loaded from.
    pub source: PathBuf,
}

/// Loads `spec`: a local Hugging Face directory. Other sources (a `.gguf`
/// file, a hub repo id) are answered with an error saying what to give.
pub fn load_model(spec: &str, opts: &LoadOptions) -> Result<LoadedModel, ModelError> {
    let path = Path::new(spec);
    if path.is_dir() {
        return load_hf_dir(path, opts);
    }
    Err(ModelError::UnsupportedSource {
        spec: spec.to_string(),
        reason: "not a directory; give a local Hugging Face model directory holding \
                 config.json, model.safetensors and tokenizer.json"
            .to_string(),
    })
}

/// Reads a Hugging Face model directory, memory-mapping its weights.
pub fn load_hf_dir(dir: &Path, opts: &LoadOptions) -> Result<LoadedModel, ModelError> {
    let config_path = dir.join("config.json");
    let config: serde_json::Value = read_json(&config_path)?;
    let files = weight_files(dir)?;
    // SAFETY: the safetensors files are memory-mapped read-only; sage never
    // writes them, and like every HF loader we assume no other process
    // rewrites a checkpoint while it is being read.
    let vb = unsafe { VarBuilder::from_mmaped_safetensors(&files, opts.dtype, &opts.device)? };
    let model = build_model(&config, vb).map_err(|e| match e {
        ModelError::Config { message, .. } => ModelError::Config {
            path: config_path.display().to_string(),
            message,
        },
        other => other,
    })?;
    let tokenizer = ModelTokenizer::from_file(&dir.join("tokenizer.json"), bos_token_id(&config))?;
    let name = dir
        .canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| dir.display().to_string());
    Ok(LoadedModel {
        model,
        tokenizer,
        name,
        source: dir.to_path_buf(),
    })
}

/// Builds the right family for a parsed config.json over HF-named weights.
pub fn build_model(
    config: &serde_json::Value,
    vb: VarBuilder,
) -> Result<Box<dyn HookedModel>, ModelError> {
    let arch = architecture(config)?;
    Ok(match arch.as_str() {
        "gpt2" => Box::new(Gpt2::new(&parse::<Gpt2Config>(config)?, vb)?),
        "llama" | "qwen2" | "qwen3" => {
            let mut cfg = parse::<LlamaConfig>(config)?;
            cfg.model_type = arch;
            Box::new(Llama::new(&cfg, vb)?)
        }
        "gemma2" => Box::new(Gemma2::new(&parse::<Gemma2Config>(config)?, vb)?),
        _ => return Err(ModelError::UnknownArchitecture { name: arch }),
    })
}

/// `model_type`, else the first `architectures` entry reduced to its family
/// (`Qwen2ForCausalLM` → `qwen2`).
fn architecture(config: &serde_json::Value) -> Result<String, ModelError> {
    if let Some(t) = config.get("model_type").and_then(|v| v.as_str()) {
        return Ok(t.to_string());
    }
    let arch = config
        .get("architectures")
        .and_then(|a| a.get(0))
        .and_then(|v| v.as_str())
        .ok_or_else(|| ModelError::Config {
            path: "config.json".to_string(),
            message: "neither `model_type` nor `architectures` is set".to_string(),
        })?;
    let lower = arch.to_ascii_lowercase();
    let family = ["forcausallm", "lmheadmodel", "model"]
        .iter()
        .find_map(|suffix| lower.strip_suffix(suffix))
        .unwrap_or(&lower);
    Ok(family.to_string())
}

fn parse<T: DeserializeOwned>(config: &serde_json::Value) -> Result<T, ModelError> {
    T::deserialize(config).map_err(|e| ModelError::Config {
        path: "config.json".to_string(),
        message: e.to_string(),
    })
}

/// The config's `bos_token_id` (some configs give a list; the first counts).
fn bos_token_id(config: &serde_json::Value) -> Option<u32> {
    let v = config.get("bos_token_id")?;
    let v = v.as_array().and_then(|a| a.first()).unwrap_or(v);
    v.as_u64().and_then(|id| u32::try_from(id).ok())
}

fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T, ModelError> {
    let text = std::fs::read_to_string(path).map_err(|source| ModelError::Io {
        path: path.display().to_string(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| ModelError::Config {
        path: path.display().to_string(),
        message: e.to_string(),
    })
}

/// `model.safetensors`, or every shard named by `model.safetensors.index.json`.
fn weight_files(dir: &Path) -> Result<Vec<PathBuf>, ModelError> {
    let single = dir.join("model.safetensors");
    if single.is_file() {
        return Ok(vec![single]);
    }
    let index_path = dir.join("model.safetensors.index.json");
    if !index_path.is_file() {
        return Err(ModelError::Io {
            path: single.display().to_string(),
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no model.safetensors or model.safetensors.index.json in the model directory",
            ),
        });
    }
    let index: serde_json::Value = read_json(&index_path)?;
    let shards: BTreeSet<&str> = index
        .get("weight_map")
        .and_then(|m| m.as_object())
        .ok_or_else(|| ModelError::Config {
            path: index_path.display().to_string(),
            message: "missing `weight_map` object".to_string(),
        })?
        .values()
        .filter_map(|v| v.as_str())
        .collect();
    Ok(shards.into_iter().map(|s| dir.join(s)).collect())
}
