//! The `--source neuronpedia` side of `sage activations`: the same records
//! as the local source, computed by a Neuronpedia server.

use sage::activation::neuronpedia::NeuronpediaSource;
use sage::activation::{ActivationRecord, ActivationSource as _};
use sage::config::Paths;

/// Which Neuronpedia feature set to ask.
#[derive(Debug, clap::Args)]
pub struct NeuronpediaArgs {
    /// Neuronpedia model id, e.g. `gpt2-small`.
    #[arg(long)]
    pub model_id: Option<String>,
    /// Neuronpedia SAE id (its "source"), e.g. `8-res-jb`.
    #[arg(long)]
    pub sae_id: Option<String>,
    /// Base URL of a Neuronpedia-compatible server (default: the public site).
    #[arg(long, env = "NEURONPEDIA_URL")]
    pub neuronpedia_url: Option<String>,
}

/// Activations of `feature` on each text, one request per text (answers
/// are cached in the data directory).
pub fn neuronpedia_records(
    args: &NeuronpediaArgs,
    feature: u32,
    texts: &[String],
) -> anyhow::Result<Vec<ActivationRecord>> {
    let (Some(model_id), Some(sae_id)) = (&args.model_id, &args.sae_id) else {
        anyhow::bail!(
            "--source neuronpedia needs --model-id (e.g. gpt2-small) and --sae-id (e.g. 8-res-jb)"
        );
    };
    let source = NeuronpediaSource::connect(
        args.neuronpedia_url.clone(),
        Paths::resolve().cache_dir(),
        model_id.clone(),
        sae_id.clone(),
    )?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    Ok(runtime.block_on(source.activations(feature, texts))?)
}
