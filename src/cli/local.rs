//! The model + SAE options shared by the subcommands that run them
//! locally (`activations`, `top`), loading the pair they name, and mining
//! a corpus through it with a progress bar and Ctrl-C handling.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use sage::activation::mining::{
    Corpus, ExemplarSupply, MinedFeatures, MiningConfig, MiningOutcome, MiningProgress,
    MiningRequest, MiningStore, ProgressBarReporter,
};
use sage::activation::{ActivationSource as _, LocalSource};
use sage::config::Paths;
use sage::hub::HubSettings;
use sage::hub::registry::Registry;
use sage::model::{HookPoint, LoadOptions as ModelLoadOptions};
use sage::open::{load_model, open_sae};
use sage::sae::{LoadOptions, SaeFormat, check_model_name};

use super::input::BosArgs;
use super::interrupt::StopOnCtrlC;

/// Which model and SAE to run, and how.
#[derive(Debug, clap::Args)]
pub struct LocalArgs {
    /// A local Hugging Face model directory.
    #[arg(long)]
    pub model: Option<String>,
    /// An SAE directory (any supported format) or a `release/sae_id` from the
    /// registry, e.g. `gpt2-small-res-jb/blocks.8.hook_resid_pre`.
    #[arg(long)]
    pub sae: Option<String>,
    /// The hook the SAE reads, for SAE files that do not name it.
    #[arg(long)]
    pub hook: Option<HookPoint>,
    /// The SAE's on-disk format, when auto-detection is not wanted:
    /// saelens, gemma-scope, llama-scope or sparsify.
    #[arg(long)]
    pub sae_format: Option<SaeFormat>,
    /// BOS handling for texts.
    #[command(flatten)]
    pub bos: BosArgs,
    /// Run even though the SAE names a different model than --model.
    #[arg(long)]
    pub ignore_model_name: bool,
}

impl LocalArgs {
    /// A model and SAE with every other option at its default (how the
    /// agent commands name a local source).
    pub fn named(model: &str, sae: &str) -> LocalArgs {
        LocalArgs {
            model: Some(model.to_string()),
            sae: Some(sae.to_string()),
            hook: None,
            sae_format: None,
            bos: BosArgs {
                prepend_bos: false,
                no_prepend_bos: false,
            },
            ignore_model_name: false,
        }
    }
}

/// Loads the model and SAE, checks they fit, and pairs them.
pub fn open_local_source(args: &LocalArgs) -> anyhow::Result<LocalSource> {
    let (Some(model), Some(sae_spec)) = (&args.model, &args.sae) else {
        anyhow::bail!(
            "--model and --sae are required to run a model locally (for Neuronpedia use --source neuronpedia --model-id ID --sae-id ID)"
        );
    };
    let loaded = load_model(model, &ModelLoadOptions::default())
        .with_context(|| format!("loading model `{model}`"))?;
    let options = LoadOptions {
        format: args.sae_format,
        hook: args.hook,
        ..LoadOptions::default()
    };
    let registry = Registry::builtin()?;
    // On its own thread so this also works from inside a runtime (`explore`).
    let sae = std::thread::scope(|scope| {
        scope
            .spawn(|| -> anyhow::Result<_> {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                Ok(runtime.block_on(open_sae(
                    sae_spec,
                    &registry,
                    &HubSettings::from_env(),
                    &options,
                ))?)
            })
            .join()
            .map_err(|_| anyhow::anyhow!("the SAE loader thread panicked"))?
    })
    .with_context(|| format!("loading SAE `{sae_spec}`"))?;
    for note in &sae.info().notes {
        eprintln!("note: {note}");
    }
    if !args.ignore_model_name {
        check_model_name(&sae, &loaded.name)?;
    }
    Ok(LocalSource::new(loaded, sae, sae_spec, args.bos.choice())?)
}

/// Gives `source` the corpus at `path` to mine exemplars from, with the
/// default settings, cached in the data dir: `premine` features are mined
/// together in one pass now (progress bar), any other feature on its own
/// when first asked about. Windows are at most half the model's context,
/// so experiments that edit an exemplar (longer words, an added phrase)
/// still fit.
pub fn with_corpus(
    source: LocalSource,
    path: &Path,
    premine: Option<&[u32]>,
) -> anyhow::Result<LocalSource> {
    let corpus = Corpus::open(path)?;
    let store = MiningStore::new(&Paths::resolve().cache_dir());
    let default = MiningConfig::default();
    let config = MiningConfig {
        window: default.window.min(source.max_window() / 2).max(1),
        ..default
    };
    let info = source.info();
    let in_range = |features: &[u32]| features.iter().all(|&f| f < info.n_features);
    // Out-of-range features are left to the caller's range check.
    let table = match premine {
        Some(features) if !features.is_empty() && in_range(features) => {
            let names = (info.model.as_str(), info.sae.as_str());
            let (table, _) =
                mine_with_progress(&source, &corpus, &store, names, features, &config)?;
            Some(Arc::new(table))
        }
        _ => None,
    };
    let supply = ExemplarSupply::new(corpus, store, config);
    Ok(source.with_exemplars(match table {
        Some(table) => supply.with_table(table),
        None => supply,
    }))
}

/// Mines `features` over `corpus` in one pass (or answers from the cache,
/// then the flag is true), with a progress bar on stderr. `names` are the
/// model and SAE identities in the cache key. The first
/// Ctrl-C stops after the current batch and saves a checkpoint that the
/// same call resumes; the error then says so.
pub fn mine_with_progress(
    source: &LocalSource,
    corpus: &Corpus,
    store: &MiningStore,
    names: (&str, &str),
    features: &[u32],
    config: &MiningConfig,
) -> anyhow::Result<(MinedFeatures, bool)> {
    // Ctrl-C is claimed for this stage only: the guard's drop, at the end
    // of this function, makes it end the process again.
    let ctrl_c = StopOnCtrlC::claim();
    let mut bar = ProgressBarReporter::new(corpus.total_bytes());
    let mut report = |p: &MiningProgress| bar.report(p);
    let request = MiningRequest {
        model: names.0,
        sae: names.1,
        features,
        config,
    };
    source.prepare_mining();
    let mut scorer = source.clone();
    let mined = store.mine(
        corpus,
        source.tokenizer().inner(),
        &mut scorer,
        &request,
        Some(ctrl_c.flag()),
        Some(&mut report),
    );
    bar.finish();
    match mined? {
        (MiningOutcome::Finished(result), cached) => Ok((result, cached)),
        (MiningOutcome::Interrupted { windows_done }, _) => anyhow::bail!(
            "mining interrupted after {windows_done} windows; the state is saved: run the same command again to continue"
        ),
    }
}
