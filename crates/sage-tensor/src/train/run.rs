//! One training run: fill the shuffle buffer, fix the input scale and
//! `b_dec` on the first batch, step until the token budget is spent, then
//! measure the finished SAE on activations it was not trained on.

use std::path::PathBuf;
use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use super::TrainError;
use super::corpus::TextCorpus;
use super::rng::Rng;
use super::shuffle::ShuffleBuffer;
use super::stream::{ActivationStream, StreamSource};
use super::topk::{FoldedSae, StepStats, TopKSettings, TopKTrainer};
use crate::model::{HookPoint, LoadedModel};

/// Batches kept in the shuffle buffer.
const BUFFER_BATCHES: usize = 8;
/// Windows run through the model per forward pass.
const WINDOWS_PER_FORWARD: usize = 8;
/// Steps averaged for the "first" and "last" loss reported.
const LOSS_WINDOW: usize = 10;

/// The dtype a trained SAE is saved in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaveDtype {
    /// float32: exact.
    F32,
    /// float16: half the size, for committed SAEs.
    F16,
}

impl SaveDtype {
    /// The candle dtype the weights are rounded through.
    pub(crate) fn candle(self) -> DType {
        match self {
            SaveDtype::F32 => DType::F32,
            SaveDtype::F16 => DType::F16,
        }
    }
}

/// Everything a run needs besides the model and the corpus.
#[derive(Debug, Clone)]
pub struct TrainConfig {
    /// Hook whose activations are trained on.
    pub hook: HookPoint,
    /// Corpus file or directory.
    pub corpus: PathBuf,
    /// Number of latents.
    pub latents: usize,
    /// Latents kept per token.
    pub k: usize,
    /// Training tokens.
    pub tokens: u64,
    /// Tokens per training batch.
    pub batch: usize,
    /// Adam learning rate.
    pub lr: f64,
    /// Seed for initialisation, file order and shuffling.
    pub seed: u64,
    /// Tokens per window (BOS included).
    pub context: usize,
    /// Tokens taken from each corpus file per pass.
    pub tokens_per_file: usize,
    /// Tokens without firing after which a latent counts as dead.
    pub dead_after: u64,
    /// Held-out tokens for the final metrics.
    pub eval_tokens: usize,
    /// Dtype the weights are saved in.
    pub dtype: SaveDtype,
    /// Show a progress bar on stderr.
    pub progress: bool,
}

impl TrainConfig {
    fn check(&self) -> Result<(), TrainError> {
        let bad = |m: String| Err(TrainError::Setting(m));
        if self.latents == 0 {
            return bad("--latents must be at least 1".into());
        }
        if self.k == 0 || self.k > self.latents {
            return bad(format!(
                "--k must be between 1 and --latents ({}), got {}",
                self.latents, self.k
            ));
        }
        if self.batch == 0 || self.tokens < self.batch as u64 {
            return bad(format!(
                "--tokens ({}) must be at least one --batch ({}), and --batch at least 1",
                self.tokens, self.batch
            ));
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return bad(format!("--lr must be a positive number, got {}", self.lr));
        }
        if self.context < 2 {
            return bad("--context must be at least 2 tokens".into());
        }
        Ok(())
    }
}

/// The numbers a run reports, saved as metrics.json.
#[derive(Debug, Clone, Serialize)]
pub struct TrainMetrics {
    /// Explained variance on held-out tokens (saved weights).
    pub explained_variance: f32,
    /// Mean non-zero latents per held-out token.
    pub l0: f32,
    /// Fraction of latents that had not fired for `dead_after` tokens at
    /// the end of training.
    pub dead_fraction: f32,
    /// Latents that fired at least once during training.
    pub latents_fired: usize,
    /// Number of latents.
    pub latents: usize,
    /// Held-out tokens measured.
    pub eval_tokens: usize,
    /// Latents that fired at least once on the held-out tokens.
    pub eval_latents_fired: usize,
    /// Explained variance on the last training batches.
    pub train_explained_variance_last_steps: f32,
    /// Mean loss of the first training steps.
    pub loss_first_steps: f32,
    /// Mean loss of the last training steps.
    pub loss_last_steps: f32,
    /// Training tokens.
    pub tokens: u64,
    /// Optimiser steps.
    pub steps: usize,
    /// Files in the corpus.
    pub corpus_files: usize,
    /// Full passes over the corpus files (each pass takes a slice of every file).
    pub corpus_passes: usize,
    /// Input scale used in training (folded into the saved weights).
    pub input_scale: f64,
    /// Wall-clock seconds of the run.
    pub wall_seconds: f64,
    /// The command line that produced the run.
    pub command: String,
}

/// What a run produced.
#[derive(Debug, Clone)]
pub struct TrainOutcome {
    /// The SAE as saved (scale folded in, rounded through the save dtype).
    pub sae: FoldedSae,
    /// The input scale used in training (already folded into `sae`).
    pub input_scale: f64,
    /// The loss of every step, in order.
    pub losses: Vec<f32>,
    /// Summary numbers for metrics.json.
    pub metrics: TrainMetrics,
}

/// Trains a TopK SAE on `model`'s activations at `config.hook` over the
/// documents of `corpus` (`config.corpus` names it in messages and in the
/// saved config).
pub fn train(
    model: &LoadedModel,
    corpus: &dyn TextCorpus,
    config: &TrainConfig,
) -> Result<TrainOutcome, TrainError> {
    config.check()?;
    let started = Instant::now();
    let d_in = model.model.d_model();
    let mut rng = Rng::new(config.seed);
    let source = StreamSource {
        model: model.model.as_ref(),
        tokenizer: &model.tokenizer,
        hook: config.hook,
        context: config.context.min(model.model.max_positions()),
        tokens_per_file: config.tokens_per_file,
        windows_per_forward: WINDOWS_PER_FORWARD,
    };
    let mut stream = ActivationStream::open(source, corpus, &config.corpus, &mut rng)?;
    let mut buffer = ShuffleBuffer::new(d_in, config.batch * BUFFER_BATCHES);
    let device = Device::Cpu;

    let bar = progress_bar(config);
    let first = next_batch(&mut stream, &mut buffer, config.batch, &mut rng, &device)?;
    let input_scale = input_scale(&first)?;
    let settings = TopKSettings {
        d_in,
        latents: config.latents,
        k: config.k,
        aux_k: (d_in / 2).clamp(1, config.latents),
        lr: config.lr,
        dead_after: config.dead_after,
    };
    let mut trainer = TopKTrainer::new(settings, &(&first * input_scale)?, &mut rng)?;

    let mut losses = Vec::new();
    let mut recent: Vec<StepStats> = Vec::new();
    let mut trained: u64 = 0;
    let mut batch = first;
    loop {
        let rows = batch.dim(0)?;
        let stats = trainer.step(&(&batch * input_scale)?)?;
        trained += rows as u64;
        losses.push(stats.loss);
        recent.push(stats);
        if recent.len() > LOSS_WINDOW {
            recent.remove(0);
        }
        report(&bar, &recent, trained, config, started);
        if trained >= config.tokens {
            break;
        }
        batch = next_batch(&mut stream, &mut buffer, config.batch, &mut rng, &device)?;
    }
    bar.finish_and_clear();

    let sae = FoldedSae::fold(
        &trainer.weights(),
        config.k,
        input_scale,
        config.dtype.candle(),
    )?;
    let eval_rows = config.eval_tokens.max(1);
    let held_out = next_batch(&mut stream, &mut buffer, eval_rows, &mut rng, &device)?;
    let eval = evaluate(&sae, &held_out)?;
    let mean = |f: fn(&StepStats) -> f32| recent.iter().map(f).sum::<f32>() / recent.len() as f32;
    let first_losses = &losses[..losses.len().min(LOSS_WINDOW)];
    let metrics = TrainMetrics {
        explained_variance: eval.explained_variance,
        l0: eval.l0,
        dead_fraction: trainer.dead_fraction(),
        latents_fired: trainer.latents_fired(),
        latents: config.latents,
        eval_tokens: held_out.dim(0)?,
        eval_latents_fired: eval.latents_fired,
        train_explained_variance_last_steps: 1.0 - mean(|s| s.fvu),
        loss_first_steps: first_losses.iter().sum::<f32>() / first_losses.len() as f32,
        loss_last_steps: mean(|s| s.loss),
        tokens: trained,
        steps: losses.len(),
        corpus_files: stream.file_count(),
        corpus_passes: stream.passes_completed(),
        input_scale,
        wall_seconds: started.elapsed().as_secs_f64(),
        command: String::new(),
    };
    Ok(TrainOutcome {
        sae,
        input_scale,
        losses,
        metrics,
    })
}

/// Draws `rows` shuffled rows, reading the stream until the buffer is full.
fn next_batch(
    stream: &mut ActivationStream<'_>,
    buffer: &mut ShuffleBuffer,
    rows: usize,
    rng: &mut Rng,
    device: &Device,
) -> Result<Tensor, TrainError> {
    while !buffer.is_full() || buffer.len() < rows {
        buffer.push_rows(&stream.next_rows()?);
    }
    let flat = buffer.draw(rows, rng);
    let width = flat.len() / rows;
    Ok(Tensor::from_vec(flat, (rows, width), device)?)
}

/// The constant that makes the batch's mean row norm `sqrt(d_in)`.
fn input_scale(batch: &Tensor) -> Result<f64, TrainError> {
    let d_in = batch.dim(1)? as f64;
    let mean_norm = batch
        .sqr()?
        .sum(1)?
        .sqrt()?
        .mean_all()?
        .to_scalar::<f32>()? as f64;
    if !(mean_norm > 0.0 && mean_norm.is_finite()) {
        return Err(TrainError::Setting(format!(
            "the activations at this hook have mean norm {mean_norm}; nothing to train on"
        )));
    }
    Ok(d_in.sqrt() / mean_norm)
}

/// Held-out quality of a finished SAE.
struct Evaluation {
    explained_variance: f32,
    l0: f32,
    latents_fired: usize,
}

fn evaluate(sae: &FoldedSae, x: &Tensor) -> Result<Evaluation, TrainError> {
    let acts = sae.encode(x)?;
    let recon = acts
        .matmul(&sae.weights.w_dec)?
        .broadcast_add(&sae.weights.b_dec)?;
    let err = (x - &recon)?.sqr()?.sum_all()?.to_scalar::<f32>()?;
    let centred = x.broadcast_sub(&x.mean_keepdim(0)?)?;
    let var = centred.sqr()?.sum_all()?.to_scalar::<f32>()?.max(1e-12);
    let fired = acts.gt(0f32)?.to_dtype(DType::F32)?;
    let l0 = fired.sum(1)?.mean_all()?.to_scalar::<f32>()?;
    let per_latent = fired.sum(0)?.to_vec1::<f32>()?;
    Ok(Evaluation {
        explained_variance: 1.0 - err / var,
        l0,
        latents_fired: per_latent.iter().filter(|&&c| c > 0.0).count(),
    })
}

fn progress_bar(config: &TrainConfig) -> ProgressBar {
    if !config.progress {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(config.tokens);
    bar.set_style(
        ProgressStyle::with_template(
            "{elapsed_precise} [{bar:30}] {pos}/{len} tokens ({per_sec}, eta {eta}) {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar
}

/// Updates the bar; when stderr is not a terminal (a log file) and progress
/// was asked for, prints a plain line about every 5% of the budget instead.
fn report(
    bar: &ProgressBar,
    recent: &[StepStats],
    trained: u64,
    config: &TrainConfig,
    started: Instant,
) {
    let n = recent.len().max(1) as f32;
    let avg = |f: fn(&StepStats) -> f32| recent.iter().map(f).sum::<f32>() / n;
    let rate = trained as f64 / started.elapsed().as_secs_f64().max(1e-9);
    bar.set_position(trained);
    let message = format!(
        "{rate:.0} tok/s loss {:.4} EV {:.3} L0 {:.1} dead {:.1}%",
        avg(|s| s.loss),
        avg(StepStats::explained_variance),
        avg(|s| s.l0),
        100.0 * avg(|s| s.dead_fraction),
    );
    let every = (config.tokens / 20).max(config.batch as u64);
    let step_start = trained - recent.last().map_or(0, |_| config.batch as u64);
    if config.progress && bar.is_hidden() && trained / every != step_start / every {
        eprintln!("{trained}/{} tokens: {message}", config.tokens);
    }
    bar.set_message(message);
}
