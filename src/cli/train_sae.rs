//! `sage train-sae`: train a TopK SAE on a model's activations over a
//! corpus and write it as a SAELens directory plus metrics.json.

use std::path::PathBuf;

use anyhow::Context;
use sage::activation::mining::Corpus;
use sage::model::{HookPoint, LoadOptions, WeightDtype};
use sage::open::load_model;
use sage::train::{self, TrainConfig, train, write_sae_dir};

/// Arguments of `sage train-sae`.
#[derive(Debug, clap::Args)]
pub struct TrainSaeArgs {
    /// Model: a Hugging Face directory, a .gguf file or a hub repo id.
    #[arg(long)]
    pub model: String,
    /// Hook to train on, e.g. `blocks.9.hook_resid_post`.
    #[arg(long)]
    pub hook: HookPoint,
    /// Corpus: a text file, a .jsonl file or a directory of them.
    #[arg(long)]
    pub corpus: PathBuf,
    /// Number of latents.
    #[arg(long, default_value_t = 2048)]
    pub latents: usize,
    /// Latents kept per token.
    #[arg(long, default_value_t = 32)]
    pub k: usize,
    /// Training tokens.
    #[arg(long, default_value_t = 1_000_000)]
    pub tokens: u64,
    /// Output directory.
    #[arg(long, default_value = "trained-sae")]
    pub out: PathBuf,
    /// Seed for initialisation, corpus order and shuffling.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Adam learning rate.
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    /// Tokens per training batch.
    #[arg(long, default_value_t = 1024)]
    pub batch: usize,
    /// Tokens per model window (BOS included).
    #[arg(long, default_value_t = 128)]
    pub context: usize,
    /// Tokens taken from each corpus file per pass over the files.
    #[arg(long, default_value_t = 2048)]
    pub tokens_per_file: usize,
    /// Tokens without firing after which a latent counts as dead (AuxK).
    #[arg(long, default_value_t = 50_000)]
    pub dead_after: u64,
    /// Held-out tokens measured after training.
    #[arg(long, default_value_t = 4096)]
    pub eval_tokens: usize,
    /// Dtype of the saved weights.
    #[arg(long, value_enum, default_value_t = SaveDtype::Float32)]
    pub dtype: SaveDtype,
    /// Precision of the model's products while it makes the training
    /// activations: f32, bf16 (weights packed as bf16, f32 accumulation)
    /// or f16. (`--dtype` names the saved SAE's dtype here.)
    #[arg(long, default_value = "f32")]
    pub model_dtype: WeightDtype,
}

/// Weight precision on disk.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum SaveDtype {
    /// 32-bit floats.
    Float32,
    /// 16-bit floats (half the size).
    Float16,
}

/// Loads the model, trains, writes the directory and prints the metrics.
pub fn run(args: TrainSaeArgs) -> anyhow::Result<()> {
    let options = LoadOptions {
        blocks: Some(args.hook.blocks_needed()),
        ..LoadOptions::cpu(args.model_dtype)
    };
    let model = load_model(&args.model, &options)
        .with_context(|| format!("loading model {}", args.model))?;
    let config = TrainConfig {
        hook: args.hook,
        corpus: args.corpus.clone(),
        latents: args.latents,
        k: args.k,
        tokens: args.tokens,
        batch: args.batch,
        lr: args.lr,
        seed: args.seed,
        context: args.context,
        tokens_per_file: args.tokens_per_file,
        dead_after: args.dead_after,
        eval_tokens: args.eval_tokens,
        dtype: match args.dtype {
            SaveDtype::Float32 => train::SaveDtype::F32,
            SaveDtype::Float16 => train::SaveDtype::F16,
        },
        progress: true,
    };
    let corpus = Corpus::open(&args.corpus)?;
    let mut outcome = train(&model, &corpus, &config)?;
    outcome.metrics.command = std::env::args().collect::<Vec<_>>().join(" ");
    write_sae_dir(&args.out, &outcome, &config, &model.name)?;
    println!("{}", serde_json::to_string_pretty(&outcome.metrics)?);
    eprintln!("wrote {}", args.out.display());
    Ok(())
}
