//! The TopK sparse autoencoder being trained, after OpenAI's recipe
//! ("Scaling and evaluating sparse autoencoders", Gao et al. 2024):
//!
//! - `pre = (x - b_dec) @ W_enc + b_enc`; the `k` largest `pre` of each row
//!   are kept and ReLU'd, the rest are zero (SAELens's TopK encoder);
//!   `x_hat = acts @ W_dec + b_dec`.
//! - Loss: the fraction of variance unexplained, `|x - x_hat|^2 /
//!   |x - mean(x)|^2` over the batch, plus `AUX_COEFF` times the AuxK loss.
//! - AuxK: latents that have not fired for `dead_after` tokens are "dead";
//!   the `aux_k` largest dead pre-activations of each row are asked to
//!   reconstruct the main residual `x - x_hat` (normalised the same way),
//!   which gives dead latents a gradient and revives them.
//! - `b_dec` starts at the geometric median of the first batch, `W_dec`
//!   rows at random unit vectors, `W_enc` at `W_dec`'s transpose.
//! - Before each Adam step the gradient component parallel to each decoder
//!   row is removed; after it every row is renormalised to unit norm.
//!
//! The trainer sees inputs already scaled (see [`super::run`]); [`FoldedSae`]
//! is the finished SAE with that scale folded into its weights.

use candle_core::{D, DType, Device, Tensor, Var};
use candle_nn::optim::{AdamW, Optimizer, ParamsAdamW};

use super::rng::Rng;
use crate::sae::SaeWeights;
use crate::sae::topk::topk_mask;

/// Weight of the AuxK loss (OpenAI uses 1/32).
const AUX_COEFF: f64 = 1.0 / 32.0;
/// Weiszfeld iterations for the geometric-median initialisation of `b_dec`.
const MEDIAN_ITERATIONS: usize = 30;

/// What one training step measured (on the batch it trained on).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepStats {
    /// Total loss minimised (`fvu + AUX_COEFF * aux`).
    pub loss: f32,
    /// Fraction of variance unexplained by the reconstruction.
    pub fvu: f32,
    /// The AuxK loss (0 while no latent is dead).
    pub aux: f32,
    /// Mean number of non-zero latents per token.
    pub l0: f32,
    /// Fraction of latents dead after this step.
    pub dead_fraction: f32,
}

impl StepStats {
    /// `1 - fvu`.
    pub fn explained_variance(&self) -> f32 {
        1.0 - self.fvu
    }
}

/// Training-time shape and schedule settings.
#[derive(Debug, Clone, Copy)]
pub struct TopKSettings {
    /// Input width.
    pub d_in: usize,
    /// Number of latents.
    pub latents: usize,
    /// Latents kept per token.
    pub k: usize,
    /// Dead latents used per token by AuxK.
    pub aux_k: usize,
    /// Adam learning rate.
    pub lr: f64,
    /// Tokens without firing after which a latent counts as dead.
    pub dead_after: u64,
}

/// The parameters, optimiser state and firing statistics of a TopK SAE in
/// training.
pub struct TopKTrainer {
    w_enc: Var,
    b_enc: Var,
    w_dec: Var,
    b_dec: Var,
    settings: TopKSettings,
    optimizer: AdamW,
    tokens_since_fired: Vec<u64>,
    ever_fired: Vec<bool>,
}

impl TopKTrainer {
    /// Initialises the SAE; `first_batch` (`[rows, d_in]`, already scaled)
    /// sets `b_dec` to its geometric median.
    pub fn new(
        settings: TopKSettings,
        first_batch: &Tensor,
        rng: &mut Rng,
    ) -> candle_core::Result<TopKTrainer> {
        let device = first_batch.device();
        let TopKSettings { d_in, latents, .. } = settings;
        let raw: Vec<f32> = (0..latents * d_in).map(|_| rng.normal() as f32).collect();
        let w_dec = unit_rows(&Tensor::from_vec(raw, (latents, d_in), device)?)?;
        let w_enc = w_dec.t()?.contiguous()?;
        let b_dec = geometric_median(first_batch)?;
        let w_enc = Var::from_tensor(&w_enc)?;
        let b_enc = Var::zeros(latents, DType::F32, device)?;
        let w_dec = Var::from_tensor(&w_dec)?;
        let b_dec = Var::from_tensor(&b_dec)?;
        let optimizer = AdamW::new(
            vec![w_enc.clone(), b_enc.clone(), w_dec.clone(), b_dec.clone()],
            ParamsAdamW {
                lr: settings.lr,
                weight_decay: 0.0,
                ..ParamsAdamW::default()
            },
        )?;
        Ok(TopKTrainer {
            w_enc,
            b_enc,
            w_dec,
            b_dec,
            settings,
            optimizer,
            tokens_since_fired: vec![0; latents],
            ever_fired: vec![false; latents],
        })
    }

    /// One Adam step on the batch `x` (`[rows, d_in]`, already scaled).
    pub fn step(&mut self, x: &Tensor) -> candle_core::Result<StepStats> {
        let rows = x.dim(0)?;
        let n = self.settings.latents;
        let pre = x
            .broadcast_sub(self.b_dec.as_tensor())?
            .matmul(self.w_enc.as_tensor())?
            .broadcast_add(self.b_enc.as_tensor())?;
        let pre_host = pre.flatten_all()?.to_vec1::<f32>()?;
        let keep = topk_mask(&pre_host, n, self.settings.k);
        let live: Vec<f32> = keep
            .iter()
            .zip(&pre_host)
            .map(|(&kept, &p)| f32::from(u8::from(kept && p > 0.0)))
            .collect();
        let l0 = live.iter().sum::<f32>() / rows as f32;
        self.record_firing(&live, rows);

        let mask = Tensor::from_vec(live, (rows, n), x.device())?;
        let acts = (&pre * &mask)?;
        let recon = acts
            .matmul(self.w_dec.as_tensor())?
            .broadcast_add(self.b_dec.as_tensor())?;
        let residual = (x - &recon)?;
        let fvu = (residual.sqr()?.sum_all()? / total_variance(x)?)?;
        let aux = self.aux_loss(&pre, &pre_host, &residual.detach())?;
        let loss = match &aux {
            Some(aux) => (&fvu + (aux * AUX_COEFF)?)?,
            None => fvu.clone(),
        };

        let mut grads = loss.backward()?;
        if let Some(g) = grads.get(self.w_dec.as_tensor()) {
            let w = self.w_dec.as_tensor();
            let parallel = (g * w)?.sum_keepdim(D::Minus1)?;
            let g = (g - w.broadcast_mul(&parallel)?)?;
            grads.insert(self.w_dec.as_tensor(), g);
        }
        self.optimizer.step(&grads)?;
        self.w_dec.set(&unit_rows(self.w_dec.as_tensor())?)?;

        Ok(StepStats {
            loss: loss.to_scalar::<f32>()?,
            fvu: fvu.to_scalar::<f32>()?,
            aux: aux
                .map(|a| a.to_scalar::<f32>())
                .transpose()?
                .unwrap_or(0.0),
            l0,
            dead_fraction: self.dead_fraction(),
        })
    }

    /// Fraction of latents that have not fired for `dead_after` tokens.
    pub fn dead_fraction(&self) -> f32 {
        self.dead().iter().filter(|&&d| d).count() as f32 / self.settings.latents as f32
    }

    /// How many latents fired at least once during training.
    pub fn latents_fired(&self) -> usize {
        self.ever_fired.iter().filter(|&&f| f).count()
    }

    /// The current parameters (training scale, f32).
    pub fn weights(&self) -> SaeWeights {
        SaeWeights {
            w_enc: self.w_enc.as_tensor().clone(),
            b_enc: self.b_enc.as_tensor().clone(),
            w_dec: self.w_dec.as_tensor().clone(),
            b_dec: self.b_dec.as_tensor().clone(),
        }
    }

    fn dead(&self) -> Vec<bool> {
        self.tokens_since_fired
            .iter()
            .map(|&t| t >= self.settings.dead_after)
            .collect()
    }

    fn record_firing(&mut self, live: &[f32], rows: usize) {
        let n = self.settings.latents;
        let mut fired = vec![false; n];
        for row in live.chunks(n) {
            for (f, &v) in fired.iter_mut().zip(row) {
                *f |= v > 0.0;
            }
        }
        for ((since, ever), f) in self
            .tokens_since_fired
            .iter_mut()
            .zip(self.ever_fired.iter_mut())
            .zip(fired)
        {
            if f {
                *since = 0;
                *ever = true;
            } else {
                *since += rows as u64;
            }
        }
    }

    /// The AuxK loss, or `None` while no latent is dead.
    fn aux_loss(
        &self,
        pre: &Tensor,
        pre_host: &[f32],
        residual: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        let dead = self.dead();
        let n_dead = dead.iter().filter(|&&d| d).count();
        if n_dead == 0 {
            return Ok(None);
        }
        let n = self.settings.latents;
        let rows = pre_host.len() / n;
        let dead_pre: Vec<f32> = pre_host
            .iter()
            .enumerate()
            .map(|(i, &p)| if dead[i % n] { p } else { f32::NEG_INFINITY })
            .collect();
        let keep = topk_mask(&dead_pre, n, self.settings.aux_k.min(n_dead));
        let mask: Vec<f32> = keep
            .iter()
            .zip(&dead_pre)
            .map(|(&kept, &p)| f32::from(u8::from(kept && p > 0.0)))
            .collect();
        let mask = Tensor::from_vec(mask, (rows, n), pre.device())?;
        let aux_recon = (pre * mask)?.matmul(self.w_dec.as_tensor())?;
        let err = (aux_recon - residual)?.sqr()?.sum_all()?;
        Ok(Some((err / total_variance(residual)?)?))
    }
}

/// `sum |x - mean(x)|^2` over the batch, floored to avoid dividing by 0.
fn total_variance(x: &Tensor) -> candle_core::Result<Tensor> {
    let centred = x.broadcast_sub(&x.mean_keepdim(0)?)?;
    let v = centred.sqr()?.sum_all()?.to_scalar::<f32>()?.max(1e-12);
    Tensor::new(v, x.device())
}

/// Every row scaled to unit norm.
fn unit_rows(w: &Tensor) -> candle_core::Result<Tensor> {
    let norms = (w.sqr()?.sum_keepdim(D::Minus1)?.sqrt()? + 1e-12)?;
    w.broadcast_div(&norms)
}

/// The geometric median of the rows of `x` (Weiszfeld's iteration from the
/// mean): the point minimising the summed distance to every row, a robust
/// centre that outlier tokens do not drag.
pub fn geometric_median(x: &Tensor) -> candle_core::Result<Tensor> {
    let mut m = x.mean(0)?;
    for _ in 0..MEDIAN_ITERATIONS {
        let dist = x.broadcast_sub(&m)?.sqr()?.sum(D::Minus1)?.sqrt()?;
        let w = (dist.maximum(1e-6)?.recip())?;
        let weighted = x.broadcast_mul(&w.unsqueeze(1)?)?.sum(0)?;
        m = (weighted / w.sum_all()?.to_scalar::<f32>()? as f64)?;
    }
    Ok(m)
}

/// A finished TopK SAE in the units of the model's activations: the input
/// scale used in training folded into its weights, exactly as it is saved.
#[derive(Debug, Clone)]
pub struct FoldedSae {
    /// SAELens-oriented weights, f32 (rounded through the saved dtype).
    pub weights: SaeWeights,
    /// Latents kept per token.
    pub k: usize,
}

impl FoldedSae {
    /// Folds `scale` (training input = `scale * x`) into `trained`, rounding
    /// every weight through `dtype` so this is exactly what is saved:
    /// `W_enc * scale`, `b_enc`, `W_dec / scale`, `b_dec / scale`.
    pub fn fold(
        trained: &SaeWeights,
        k: usize,
        scale: f64,
        dtype: DType,
    ) -> candle_core::Result<FoldedSae> {
        let round = |t: Tensor| t.to_dtype(dtype)?.to_dtype(DType::F32);
        Ok(FoldedSae {
            weights: SaeWeights {
                w_enc: round((&trained.w_enc * scale)?)?,
                b_enc: round(trained.b_enc.clone())?,
                w_dec: round((&trained.w_dec / scale)?)?,
                b_dec: round((&trained.b_dec / scale)?)?,
            },
            k,
        })
    }

    /// Latent activations for `x` (`[rows, d_in]`): the TopK encoder.
    pub fn encode(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let w = &self.weights;
        let pre = x
            .broadcast_sub(&w.b_dec)?
            .matmul(&w.w_enc)?
            .broadcast_add(&w.b_enc)?;
        let width = pre.dim(D::Minus1)?;
        let host = pre.flatten_all()?.to_vec1::<f32>()?;
        let keep = topk_mask(&host, width, self.k);
        let acts: Vec<f32> = keep
            .iter()
            .zip(&host)
            .map(|(&kept, &p)| if kept { p.max(0.0) } else { 0.0 })
            .collect();
        Tensor::from_vec(acts, pre.shape(), pre.device())
    }

    /// The reconstruction of `x`.
    pub fn reconstruct(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        self.encode(x)?
            .matmul(&self.weights.w_dec)?
            .broadcast_add(&self.weights.b_dec)
    }

    /// The device its weights live on.
    pub fn device(&self) -> &Device {
        self.weights.w_enc.device()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geometric_median_resists_an_outlier() {
        let rows = [
            [0.0f32, 0.0],
            [1.0, 0.0],
            [0.0, 1.0],
            [1.0, 1.0],
            [100.0, 100.0],
        ];
        let x = Tensor::new(&rows, &Device::Cpu).unwrap();
        let m = geometric_median(&x).unwrap().to_vec1::<f32>().unwrap();
        // The mean would be (20.4, 20.4); the median stays near the square.
        assert!(m.iter().all(|v| (0.3..1.2).contains(v)), "median {m:?}");
    }

    #[test]
    fn decoder_rows_stay_unit_norm_and_fold_preserves_the_reconstruction() {
        let mut rng = Rng::new(1);
        let data: Vec<f32> = (0..64 * 8).map(|_| rng.normal() as f32).collect();
        let x = Tensor::from_vec(data, (64, 8), &Device::Cpu).unwrap();
        let settings = TopKSettings {
            d_in: 8,
            latents: 16,
            k: 3,
            aux_k: 4,
            lr: 1e-2,
            dead_after: 32,
        };
        let mut t = TopKTrainer::new(settings, &x, &mut rng).unwrap();
        for _ in 0..5 {
            let stats = t.step(&x).unwrap();
            assert!(stats.l0 <= 3.0);
        }
        let norms = t.weights().w_dec.sqr().unwrap().sum(1).unwrap();
        for n in norms.to_vec1::<f32>().unwrap() {
            assert!((n - 1.0).abs() < 1e-5, "row norm^2 {n}");
        }
        // Training sees 2x; the folded SAE on x must give half of the
        // training-scale reconstruction of 2x.
        let scaled = (&x * 2.0).unwrap();
        let at_scale = FoldedSae::fold(&t.weights(), 3, 1.0, DType::F32).unwrap();
        let folded = FoldedSae::fold(&t.weights(), 3, 2.0, DType::F32).unwrap();
        let want = (at_scale.reconstruct(&scaled).unwrap() / 2.0).unwrap();
        let got = folded.reconstruct(&x).unwrap();
        let diff = (want - got).unwrap().abs().unwrap().max_all().unwrap();
        assert!(diff.to_scalar::<f32>().unwrap() < 1e-5);
    }
}
