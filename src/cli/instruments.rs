//! Choosing the activation source and the reasoner from command-line
//! words. Every command that runs an agent goes through these two
//! functions, so a new source plugs in here once.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use sage::activation::ActivationSource;
use sage::activation::neuronpedia::NeuronpediaSource;
use sage::activation::synthetic::SyntheticSource;
use sage::agent::heuristic::HeuristicReasoner;
use sage::agent::{LlmReasoner, Reasoner};
use sage::config::{ConfigFile, Paths};
use sage::llm::{BaseUrls, LlmConfig, LlmSpec, build_client};

use super::local::{LocalArgs, open_local_source, with_corpus};

/// The model name the synthetic source reports (how resumed sessions find it).
const SYNTHETIC_MODEL: &str = "synthetic";

/// Where activations come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceChoice {
    /// Built-in features with known rules over a built-in corpus.
    Synthetic,
    /// A local model and SAE.
    Local {
        /// Model path or repo id.
        model: String,
        /// SAE path or `release/sae_id`.
        sae: String,
        /// Corpus to mine top examples from; without one the source has
        /// no exemplars.
        corpus: Option<PathBuf>,
    },
    /// A Neuronpedia(-compatible) server.
    Neuronpedia {
        /// Neuronpedia model id.
        model_id: String,
        /// Neuronpedia SAE id.
        sae_id: String,
    },
}

impl SourceChoice {
    /// The source a session log was recorded with, from its header.
    pub fn from_recorded(model: &str, sae: &str) -> SourceChoice {
        if model == SYNTHETIC_MODEL {
            SourceChoice::Synthetic
        } else {
            SourceChoice::Local {
                model: model.to_string(),
                sae: sae.to_string(),
                corpus: None,
            }
        }
    }
}

/// Opens the chosen activation source.
pub fn activation_source(choice: &SourceChoice) -> anyhow::Result<Arc<dyn ActivationSource>> {
    activation_source_for(choice, None)
}

/// Opens the chosen activation source; a local source with a corpus mines
/// `features` (when given) in one pass up front, instead of one pass per
/// feature when each is first asked about.
pub fn activation_source_for(
    choice: &SourceChoice,
    features: Option<&[u32]>,
) -> anyhow::Result<Arc<dyn ActivationSource>> {
    match choice {
        SourceChoice::Synthetic => Ok(Arc::new(SyntheticSource::new())),
        SourceChoice::Local { model, sae, corpus } => {
            let source = open_local_source(&LocalArgs::named(model, sae))?;
            Ok(Arc::new(match corpus {
                Some(path) => with_corpus(source, path, features)?,
                None => source,
            }))
        }
        SourceChoice::Neuronpedia { model_id, sae_id } => Ok(Arc::new(
            NeuronpediaSource::connect(
                None,
                Paths::resolve().cache_dir(),
                model_id.clone(),
                sae_id.clone(),
            )
            .with_context(|| format!("could not open Neuronpedia {model_id}/{sae_id}"))?,
        )),
    }
}

/// Builds the reasoner a spec names: `heuristic` (offline) or any LLM spec
/// (`openai:MODEL`, `anthropic:MODEL`, `http://HOST:PORT/v1#MODEL`).
pub fn reasoner(spec: &str) -> anyhow::Result<Arc<dyn Reasoner>> {
    let parsed = LlmSpec::parse(spec, &BaseUrls::from_env())?;
    Ok(match parsed {
        LlmSpec::Heuristic => Arc::new(HeuristicReasoner),
        endpoint => {
            let client = build_client(&endpoint, &llm_config()?)
                .with_context(|| format!("could not set up the reasoner `{spec}`"))?;
            Arc::new(LlmReasoner::new(client))
        }
    })
}

/// LLM settings with the config file's `[keys]` and `[prices]` tables.
fn llm_config() -> anyhow::Result<LlmConfig> {
    let file = ConfigFile::load(&Paths::resolve().config_file)?;
    Ok(LlmConfig::with_file_tables(file.keys, file.prices))
}
