//! Choosing the activation source and the reasoner from command-line
//! words. Every command that runs an agent goes through these two
//! functions, so a new source plugs in here once.

use std::sync::Arc;

use anyhow::Context;
use sage::activation::ActivationSource;
use sage::activation::neuronpedia::NeuronpediaSource;
use sage::activation::synthetic::SyntheticSource;
use sage::agent::heuristic::HeuristicReasoner;
use sage::agent::{LlmReasoner, Reasoner};
use sage::config::{ConfigFile, Paths};
use sage::llm::{BaseUrls, LlmClient, LlmConfig, LlmSpec, build_client};

use super::local::{LocalArgs, open_local_source};

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
            }
        }
    }
}

/// Opens the chosen activation source.
pub fn activation_source(choice: &SourceChoice) -> anyhow::Result<Arc<dyn ActivationSource>> {
    match choice {
        SourceChoice::Synthetic => Ok(Arc::new(SyntheticSource::new())),
        SourceChoice::Local { model, sae } => {
            Ok(Arc::new(open_local_source(&LocalArgs::named(model, sae))?))
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
    Ok(match llm_client(spec)? {
        None => Arc::new(HeuristicReasoner),
        Some(client) => Arc::new(LlmReasoner::new(client)),
    })
}

/// The LLM client a spec names, or `None` for `heuristic` (offline).
pub fn llm_client(spec: &str) -> anyhow::Result<Option<Arc<dyn LlmClient>>> {
    match LlmSpec::parse(spec, &BaseUrls::from_env())? {
        LlmSpec::Heuristic => Ok(None),
        endpoint => Ok(Some(
            build_client(&endpoint, &llm_config()?)
                .with_context(|| format!("could not set up the LLM `{spec}`"))?,
        )),
    }
}

/// LLM settings with the config file's `[keys]` and `[prices]` tables.
fn llm_config() -> anyhow::Result<LlmConfig> {
    let file = ConfigFile::load(&Paths::resolve().config_file)?;
    Ok(LlmConfig::with_file_tables(file.keys, file.prices))
}
