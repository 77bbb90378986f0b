//! The offline demo: SmolLM2-135M + the committed demo SAE + the demo
//! corpus, all installed in the data dir by `scripts/install-demo-pack.sh`.
//! On first use every latent is mined once over a bounded, seeded sample
//! of the corpus (progress bar; Ctrl-C saves a checkpoint), and the table
//! is cached with a small summary: which latents fire, how often and how
//! strongly, and the default feature the Quick start opens on.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use sage::activation::cache::{CacheKey, DiskCache};
use sage::activation::mining::{
    Corpus, ExemplarSupply, MinedFeature, MinedFeatures, MiningConfig, MiningStore, SamplePlan,
};
use sage::activation::{ActivationSource as _, LocalSource};
use sage::config::Paths;
use sage::model::WeightDtype;
use serde::{Deserialize, Serialize};

use super::local::{LocalArgs, mine_with_progress, open_local_source};

/// The command that installs (or repairs) the demo pack.
pub const INSTALL_COMMAND: &str = "bash scripts/install-demo-pack.sh";

/// The corpus sample the demo mines: about 32k tokens (128 KiB of text at
/// roughly 4 bytes a token), 3 KiB from the start of each file drawn,
/// files drawn in turn from the speeches, the fortunes and the Python docs.
/// About three minutes on two busy cores in the dev profile.
pub const SAMPLE: SamplePlan = SamplePlan {
    seed: 0xDE30,
    bytes_per_file: 3 * 1024,
    total_bytes: 128 * 1024,
};

/// Mining settings: short windows and few samples per band keep the table
/// of 2048 latents small enough to load in a moment.
pub fn mining_config() -> MiningConfig {
    MiningConfig {
        window: 32,
        batch_size: 16,
        top_k: 20,
        bands: 5,
        per_band: 2,
        non_activating: 3,
        seed: 0xDE30,
        checkpoint_every: 20,
    }
}

/// Where the installed demo pack's parts are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoPack {
    /// The GGUF model file.
    pub model: PathBuf,
    /// The SAE directory (SAELens layout).
    pub sae: PathBuf,
    /// The corpus directory.
    pub corpus: PathBuf,
}

/// A part of the demo pack that is not installed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "the demo {part} is not installed (expected {path}); run `{INSTALL_COMMAND}` from the sage checkout to install the demo pack"
)]
pub struct MissingPack {
    /// Which part: model, SAE or corpus.
    pub part: &'static str,
    /// Where it was looked for.
    pub path: PathBuf,
}

impl DemoPack {
    /// Finds the pack under the data dir, or names the first missing part
    /// and the command that installs it.
    pub fn locate(paths: &Paths) -> Result<DemoPack, MissingPack> {
        let dir = paths.demo_dir();
        let pack = DemoPack {
            model: paths.demo_model(),
            sae: dir.join("sae"),
            corpus: dir.join("corpus"),
        };
        let missing = |part, path: &Path| MissingPack {
            part,
            path: path.to_path_buf(),
        };
        if !pack.model.is_file() {
            return Err(missing("model", &pack.model));
        }
        for file in ["cfg.json", "sae_weights.safetensors"] {
            if !pack.sae.join(file).is_file() {
                return Err(missing("SAE", &pack.sae.join(file)));
            }
        }
        if !has_files(&pack.corpus) {
            return Err(missing("corpus", &pack.corpus));
        }
        Ok(pack)
    }

    /// The latent count from the SAE's cfg.json (`d_sae`), if readable.
    pub fn n_features(&self) -> Option<u32> {
        let text = std::fs::read_to_string(self.sae.join("cfg.json")).ok()?;
        let cfg: serde_json::Value = serde_json::from_str(&text).ok()?;
        u32::try_from(cfg.get("d_sae")?.as_u64()?).ok()
    }

    /// The sampled corpus the demo mines.
    pub fn sample(&self) -> anyhow::Result<Corpus> {
        Ok(Corpus::open(&self.corpus)?.sample(&self.corpus, SAMPLE))
    }

    /// The summary cached by an earlier [`DemoPack::prepare`] over this
    /// pack and sample, if any (cheap: no model is loaded).
    pub fn cached_summary(&self, paths: &Paths) -> Option<DemoSummary> {
        let key = self.summary_key(&self.sample().ok()?);
        let bytes = summary_cache(paths).get(&key)?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Loads the model and SAE, mines every latent over the sample (or
    /// loads the cached table), and returns the source with the table
    /// attached plus the table's summary.
    pub fn prepare(&self, paths: &Paths) -> anyhow::Result<(LocalSource, DemoSummary)> {
        let corpus = self.sample()?;
        eprintln!("loading the demo model and SAE…");
        let source = open_local_source(&LocalArgs::named(
            &self.model.display().to_string(),
            &self.sae.display().to_string(),
            WeightDtype::F32,
        ))?;
        let n = source.info().n_features;
        let features: Vec<u32> = (0..n).collect();
        let store = MiningStore::new(&paths.cache_dir());
        let config = mining_config();
        let (model, sae) = (self.model_identity(), self.sae_identity());
        let (table, cached) =
            mine_with_progress(&source, &corpus, &store, (&model, &sae), &features, &config)?;
        if !cached {
            eprintln!(
                "mined {n} demo latents over {} tokens ({} windows); cached for next time",
                table.tokens, table.windows
            );
        }
        let summary = DemoSummary::of(&table, n);
        let key = self.summary_key(&corpus);
        let cache = summary_cache(paths);
        cache
            .put_json(&key, &summary)
            .with_context(|| format!("could not write {}", cache.path_for(&key).display()))?;
        let supply = ExemplarSupply::new(corpus, store, config).with_table(Arc::new(table));
        Ok((source.with_exemplars(supply), summary))
    }

    /// The model file with its size and modification time, so a replaced
    /// model is mined afresh.
    fn model_identity(&self) -> String {
        file_identity(&self.model)
    }

    /// The SAE directory with its weights file's size and modification
    /// time (the install script keeps the checkout's mtime).
    fn sae_identity(&self) -> String {
        format!(
            "{}|{}",
            self.sae.display(),
            file_identity(&self.sae.join("sae_weights.safetensors"))
        )
    }

    fn summary_key(&self, sample: &Corpus) -> CacheKey {
        CacheKey::from_parts([
            self.model_identity(),
            self.sae_identity(),
            sample.fingerprint().as_str().to_string(),
            mining_config().result_identity(),
            SUMMARY_VERSION.to_string(),
        ])
    }
}

/// Changes whenever the summary's fields or the pick rule change.
const SUMMARY_VERSION: &str = "demo-summary-1";

fn summary_cache(paths: &Paths) -> DiskCache {
    DiskCache::new(paths.cache_dir().join("demo"), "json")
}

fn file_identity(path: &Path) -> String {
    let meta = std::fs::metadata(path).ok();
    let size = meta.as_ref().map_or(0, std::fs::Metadata::len);
    let modified = meta
        .and_then(|m| m.modified().ok())
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    format!("{}|{size}|{modified}", path.display())
}

fn has_files(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some())
}

/// What the start screen and the Quick start need from the mined table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DemoSummary {
    /// Latents in the SAE.
    pub n_features: u32,
    /// Latents that fired on the sample: (index, max activation),
    /// strongest first.
    pub live: Vec<(u32, f32)>,
    /// The latent the Quick start explores; see [`pick_demo_feature`].
    pub default_feature: u32,
}

impl DemoSummary {
    fn of(table: &MinedFeatures, n_features: u32) -> DemoSummary {
        let mut live: Vec<(u32, f32)> = table
            .features
            .iter()
            .filter(|f| f.firing_tokens > 0)
            .map(|f| (f.feature, f.max_activation))
            .collect();
        live.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        DemoSummary {
            n_features,
            default_feature: pick_demo_feature(&table.features).unwrap_or(0),
            live,
        }
    }
}

/// The demo's default feature. Among latents firing on 0.2% to 2% of
/// tokens (rare enough to mean something, common enough to have full top
/// lists) whose 20 top windows come from at least three files, the one
/// whose firing is most concentrated on a single token per window: the
/// highest mean over its top windows of (peak value / sum of the window's
/// positive values). Such a latent marks one clear token, which is what a
/// reader and the heuristic reasoner can learn from. Ties go to the lower
/// index; `None` if nothing qualifies.
pub fn pick_demo_feature(features: &[MinedFeature]) -> Option<u32> {
    let score = |f: &MinedFeature| -> Option<f64> {
        if !(0.002..=0.02).contains(&f.density) || f.top.len() < 20 {
            return None;
        }
        let files: std::collections::HashSet<&str> = f.top.iter().map(|w| &*w.file).collect();
        if files.len() < 3 {
            return None;
        }
        let focus: f64 = f
            .top
            .iter()
            .map(|w| {
                let total: f32 = w.values.iter().filter(|v| *v > 0.0).sum();
                f64::from(w.max_value / total.max(f32::MIN_POSITIVE))
            })
            .sum();
        Some(focus / f.top.len() as f64)
    };
    features
        .iter()
        .filter_map(|f| score(f).map(|s| (f.feature, s)))
        .fold(None, |best: Option<(u32, f64)>, (i, s)| match best {
            Some((_, b)) if b >= s => best,
            _ => Some((i, s)),
        })
        .map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use sage::activation::mining::MinedWindow;

    use super::*;

    #[test]
    fn the_pack_is_found_part_by_part_and_a_missing_part_names_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::rooted_at(dir.path());
        let demo = dir.path().join("demo");
        let err = DemoPack::locate(&paths).unwrap_err();
        assert_eq!(err.part, "model");
        assert!(err.to_string().contains(INSTALL_COMMAND), "{err}");
        assert!(
            err.to_string()
                .contains(&paths.demo_model().display().to_string())
        );

        std::fs::create_dir_all(demo.join("sae")).unwrap();
        std::fs::write(paths.demo_model(), b"gguf").unwrap();
        std::fs::write(demo.join("sae/cfg.json"), r#"{"d_sae": 2048}"#).unwrap();
        let err = DemoPack::locate(&paths).unwrap_err();
        assert_eq!(err.part, "SAE");
        assert_eq!(err.path, demo.join("sae/sae_weights.safetensors"));

        std::fs::write(demo.join("sae/sae_weights.safetensors"), b"w").unwrap();
        let err = DemoPack::locate(&paths).unwrap_err();
        assert_eq!(err.part, "corpus");

        std::fs::create_dir_all(demo.join("corpus/sotu")).unwrap();
        std::fs::write(demo.join("corpus/sotu/1790.txt"), "Fellow-Citizens\n").unwrap();
        let pack = DemoPack::locate(&paths).unwrap();
        assert_eq!(pack.corpus, demo.join("corpus"));
        assert_eq!(pack.n_features(), Some(2048));
        // No summary until the demo has been mined once.
        assert_eq!(pack.cached_summary(&paths), None);
    }

    fn window(file: &str, values: &[f32]) -> MinedWindow {
        MinedWindow {
            file: file.into(),
            offset: 0,
            tokens: values.iter().map(|_| "t".to_string()).collect(),
            token_ids: vec![0; values.len()].into(),
            values: values.to_vec().into(),
            max_value: values.iter().copied().fold(0.0, f32::max),
        }
    }

    fn feature(index: u32, density: f64, files: usize, values: &[f32]) -> MinedFeature {
        MinedFeature {
            feature: index,
            top: (0..20)
                .map(|i| window(&format!("f{}.txt", i % files), values))
                .collect(),
            quantiles: Vec::new(),
            non_activating: Vec::new(),
            firing_tokens: 1,
            density,
            max_activation: 1.0,
        }
    }

    #[test]
    fn the_default_feature_is_the_most_focused_mid_density_one() {
        let one_token = [0.0, 3.0, 0.0, 0.0];
        let spread = [1.0, 1.0, 1.0, 0.0];
        let features = vec![
            feature(0, 0.01, 5, &spread),
            // Focused, but too dense, too rare, or from too few files.
            feature(1, 0.30, 5, &one_token),
            feature(2, 0.0001, 5, &one_token),
            feature(3, 0.01, 2, &one_token),
            feature(4, 0.01, 3, &[0.0, 3.0, 1.0, 0.0]),
            feature(5, 0.005, 4, &one_token),
            feature(6, 0.005, 4, &one_token),
        ];
        assert_eq!(pick_demo_feature(&features), Some(5));
        assert_eq!(pick_demo_feature(&features[..2]), Some(0));
        assert_eq!(pick_demo_feature(&features[1..4]), None);
    }
}
