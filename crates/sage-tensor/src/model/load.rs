//! Turning a model spec into a runnable [`LoadedModel`].
//!
//! A local directory in Hugging Face layout (config.json, model.safetensors
//! or a sharded model.safetensors.index.json, tokenizer.json) is read here;
//! the family is picked from config.json's `model_type` (or `architectures`).
//! [`build_model`] is the seam other weight sources (GGUF, the hub cache)
//! use once they have a config and a VarBuilder with HF tensor names.

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
    /// Weight dtype (activations are returned as f32 regardless). On the
    /// CPU only the products' matrices take it (bf16 ones are packed for
    /// the bf16 kernels, f16 ones widened to f32); norms, embeddings,
    /// biases and the residual stream stay f32.
    pub dtype: DType,
    /// Read and pack only the first N blocks (`HookPoint::blocks_needed`
    /// of the one hook a command runs to); `None` loads them all.
    pub blocks: Option<usize>,
}

impl LoadOptions {
    /// The CPU with the products' weights in `dtype`.
    pub fn cpu(dtype: WeightDtype) -> LoadOptions {
        LoadOptions {
            device: Device::Cpu,
            dtype: dtype.candle(),
            blocks: None,
        }
    }
}

/// The precision a command runs a model's products in (`--dtype`), so the
/// app can choose one without naming candle's types.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum WeightDtype {
    /// f32 weights and products.
    #[default]
    F32,
    /// bf16 weights, products accumulated in f32.
    Bf16,
    /// f16-rounded weights (products in f32: no CPU kernel takes f16).
    F16,
}

impl WeightDtype {
    /// The candle dtype.
    pub fn candle(self) -> DType {
        match self {
            WeightDtype::F32 => DType::F32,
            WeightDtype::Bf16 => DType::BF16,
            WeightDtype::F16 => DType::F16,
        }
    }

    /// The name `--dtype` takes.
    pub fn name(self) -> &'static str {
        match self {
            WeightDtype::F32 => "f32",
            WeightDtype::Bf16 => "bf16",
            WeightDtype::F16 => "f16",
        }
    }
}

impl std::fmt::Display for WeightDtype {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A `--dtype` value that is not one of f32, bf16, f16.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown dtype `{0}`: use f32, bf16 or f16")]
pub struct UnknownDtype(pub String);

impl std::str::FromStr for WeightDtype {
    type Err = UnknownDtype;

    fn from_str(s: &str) -> Result<WeightDtype, UnknownDtype> {
        match s.to_ascii_lowercase().as_str() {
            "f32" | "float32" => Ok(WeightDtype::F32),
            "bf16" | "bfloat16" => Ok(WeightDtype::Bf16),
            "f16" | "float16" => Ok(WeightDtype::F16),
            _ => Err(UnknownDtype(s.to_string())),
        }
    }
}

impl Default for LoadOptions {
    fn default() -> LoadOptions {
        LoadOptions {
            device: Device::Cpu,
            dtype: DType::F32,
            blocks: None,
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

/// Loads a model from a local path: a Hugging Face directory or a `.gguf`
/// file. Names that are neither (hub repo ids) are resolved to a directory
/// by the app first; this crate does no network I/O.
pub fn load_local(path: &Path, opts: &LoadOptions) -> Result<LoadedModel, ModelError> {
    if path.is_dir() {
        return load_hf_dir(path, opts);
    }
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gguf"))
    {
        return super::gguf::load_gguf(path, opts);
    }
    Err(ModelError::UnsupportedSource {
        spec: path.display().to_string(),
        reason: "not a directory, a .gguf file or a hub repo id; give a local Hugging Face \
                 model directory (config.json, model.safetensors, tokenizer.json), a .gguf \
                 file, or a repo id such as `gpt2`"
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
    let model = build_model(&config, vb, opts.blocks).map_err(|e| match e {
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

/// Builds the right family for a parsed config.json over HF-named weights,
/// with its first `blocks` blocks (`None`: all of them).
pub fn build_model(
    config: &serde_json::Value,
    vb: VarBuilder,
    blocks: Option<usize>,
) -> Result<Box<dyn HookedModel>, ModelError> {
    let arch = architecture(config)?;
    let blocks = blocks.unwrap_or(usize::MAX);
    Ok(match arch.as_str() {
        "gpt2" => Box::new(Gpt2::with_blocks(
            &parse::<Gpt2Config>(config)?,
            vb,
            blocks,
        )?),
        "llama" | "qwen2" | "qwen3" => {
            let mut cfg = parse::<LlamaConfig>(config)?;
            cfg.model_type = arch;
            Box::new(Llama::with_blocks(&cfg, vb, blocks)?)
        }
        "gemma2" => Box::new(Gemma2::with_blocks(
            &parse::<Gemma2Config>(config)?,
            vb,
            blocks,
        )?),
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
    let text = std::fs::read_to_string(&index_path).map_err(|source| ModelError::Io {
        path: index_path.display().to_string(),
        source,
    })?;
    let shards = super::shards::shard_names(&text).map_err(|message| ModelError::Config {
        path: index_path.display().to_string(),
        message,
    })?;
    Ok(shards.into_iter().map(|s| dir.join(s)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../../tests/fixtures/models/{name}"))
    }

    #[test]
    fn sharded_checkpoints_load_like_a_single_file() {
        let src = fixture("llama-gqa");
        let tensors =
            candle_core::safetensors::load(src.join("model.safetensors"), &Device::Cpu).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut names: Vec<&String> = tensors.keys().collect();
        names.sort();
        let (first, second) = names.split_at(names.len() / 2);
        let mut weight_map = serde_json::Map::new();
        for (file, part) in [("a.safetensors", first), ("b.safetensors", second)] {
            let shard: HashMap<String, candle_core::Tensor> = part
                .iter()
                .map(|&n| (n.clone(), tensors[n].clone()))
                .collect();
            candle_core::safetensors::save(&shard, dir.path().join(file)).unwrap();
            for n in part {
                weight_map.insert((*n).clone(), file.into());
            }
        }
        let index = serde_json::json!({ "weight_map": weight_map });
        std::fs::write(
            dir.path().join("model.safetensors.index.json"),
            index.to_string(),
        )
        .unwrap();
        for f in ["config.json", "tokenizer.json"] {
            std::fs::copy(src.join(f), dir.path().join(f)).unwrap();
        }
        let hook = "blocks.1.hook_resid_post".parse().unwrap();
        let ids = [5, 17, 42, 99];
        let whole = load_hf_dir(&src, &LoadOptions::default()).unwrap();
        let sharded = load_hf_dir(dir.path(), &LoadOptions::default()).unwrap();
        let a: Vec<Vec<f32>> = whole
            .model
            .run_to_hook(&ids, hook)
            .unwrap()
            .to_vec2()
            .unwrap();
        let b: Vec<Vec<f32>> = sharded
            .model
            .run_to_hook(&ids, hook)
            .unwrap()
            .to_vec2()
            .unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn bf16_weights_run_every_family_and_stay_close_to_f32() {
        let bf16 = LoadOptions {
            dtype: DType::BF16,
            ..LoadOptions::default()
        };
        let hook = "blocks.1.hook_resid_post".parse().unwrap();
        let ids = [3, 17, 42, 99, 7, 250];
        for name in ["gpt2", "llama-gqa", "qwen3", "gemma2"] {
            let f32_out = load_hf_dir(&fixture(name), &LoadOptions::default())
                .unwrap()
                .model
                .run_to_hook(&ids, hook)
                .unwrap();
            let bf16_out = load_hf_dir(&fixture(name), &bf16)
                .unwrap()
                .model
                .run_to_hook(&ids, hook)
                .unwrap();
            assert_eq!(bf16_out.dtype(), DType::F32);
            let scale = f32_out
                .abs()
                .unwrap()
                .max_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            let err = (f32_out - bf16_out)
                .unwrap()
                .abs()
                .unwrap()
                .max_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            assert!(
                err < 0.05 * scale,
                "{name}: bf16 error {err} vs scale {scale}"
            );
        }
    }

    #[test]
    fn a_model_loaded_to_a_hook_matches_the_full_model_there_and_refuses_deeper_hooks() {
        let ids = [5, 17, 42, 99];
        for name in ["gpt2", "llama-gqa", "gemma2"] {
            let full = load_hf_dir(&fixture(name), &LoadOptions::default()).unwrap();
            for hook in ["blocks.1.hook_resid_pre", "blocks.0.hook_mlp_out"] {
                let hook: crate::model::HookPoint = hook.parse().unwrap();
                let opts = LoadOptions {
                    blocks: Some(hook.blocks_needed()),
                    ..LoadOptions::default()
                };
                let short = load_hf_dir(&fixture(name), &opts).unwrap();
                let a: Vec<Vec<f32>> = full
                    .model
                    .run_to_hook(&ids, hook)
                    .unwrap()
                    .to_vec2()
                    .unwrap();
                let b: Vec<Vec<f32>> = short
                    .model
                    .run_to_hook(&ids, hook)
                    .unwrap()
                    .to_vec2()
                    .unwrap();
                assert_eq!(a, b, "{name} {hook}");
                // The depth it reports is still the checkpoint's.
                assert_eq!(short.model.n_layers(), full.model.n_layers());
                let deeper = "blocks.1.hook_resid_post".parse().unwrap();
                let err = short.model.run_to_hook(&ids, deeper).unwrap_err();
                assert!(
                    matches!(err, ModelError::LayerNotLoaded { needed: 2, .. }),
                    "{name}: {err}"
                );
            }
        }
    }

    #[test]
    fn dtype_names_parse_and_unknown_ones_say_what_to_use() {
        for d in [WeightDtype::F32, WeightDtype::Bf16, WeightDtype::F16] {
            assert_eq!(d.name().parse::<WeightDtype>(), Ok(d));
        }
        assert_eq!("BFloat16".parse::<WeightDtype>(), Ok(WeightDtype::Bf16));
        let err = "fp8".parse::<WeightDtype>().unwrap_err();
        assert!(err.to_string().contains("f32, bf16 or f16"), "{err}");
    }

    #[test]
    fn the_family_comes_from_architectures_when_model_type_is_absent() {
        let arch = |a: &str| architecture(&serde_json::json!({ "architectures": [a] })).unwrap();
        assert_eq!(arch("Qwen2ForCausalLM"), "qwen2");
        assert_eq!(arch("GPT2LMHeadModel"), "gpt2");
        assert_eq!(arch("Gemma2ForCausalLM"), "gemma2");
        assert!(architecture(&serde_json::json!({})).is_err());
    }

    #[test]
    fn bos_token_id_accepts_a_number_a_list_or_nothing() {
        assert_eq!(
            bos_token_id(&serde_json::json!({"bos_token_id": 7})),
            Some(7)
        );
        assert_eq!(
            bos_token_id(&serde_json::json!({"bos_token_id": [3, 4]})),
            Some(3)
        );
        assert_eq!(
            bos_token_id(&serde_json::json!({"bos_token_id": null})),
            None
        );
        assert_eq!(bos_token_id(&serde_json::json!({})), None);
    }
}
