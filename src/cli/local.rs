//! The model + SAE options shared by the subcommands that run them
//! locally (`activations`, `top`), and loading the pair they name.

use anyhow::Context as _;
use sage::activation::LocalSource;
use sage::model::hub::HubSettings;
use sage::model::{HookPoint, LoadOptions as ModelLoadOptions, load_model};
use sage::sae::registry::Registry;
use sage::sae::{LoadOptions, SaeFormat, check_model_name, open_sae};

use super::input::BosArgs;

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
