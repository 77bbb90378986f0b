//! Choosing the activation source and the reasoner from command-line
//! words. Every command that runs an agent goes through these two
//! functions, so a new source plugs in here once.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use sage::activation::ActivationSource;
use sage::activation::neuronpedia::{NeuronpediaSource, URL_ENV};
use sage::activation::synthetic::SyntheticSource;
use sage::agent::AgentConfig;
use sage::config::{ConfigFile, Paths};
use sage::llm::{BaseUrls, EndpointSpec, LlmClient, LlmConfig, LlmError, build_client};
use sage::model::WeightDtype;
use sage::reasoner::heuristic::HeuristicReasoner;
use sage::reasoner::{LlmReasoner, Reasoner, ReasonerSpec};
use sage::session::{LogHeader, SourceRecord};

use super::local::{LocalArgs, open_local_source, with_corpus};
use super::usage_error;

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
        /// Precision of the model's products (`--dtype`; a resumed session
        /// runs in f32, as its header does not record one).
        dtype: WeightDtype,
    },
    /// A Neuronpedia(-compatible) server.
    Neuronpedia {
        /// Neuronpedia model id.
        model_id: String,
        /// Neuronpedia SAE id.
        sae_id: String,
        /// Server base URL; `None` for `NEURONPEDIA_URL`, else the public site.
        base_url: Option<String>,
    },
}

impl SourceChoice {
    /// The source a session log was recorded with, from its header: the
    /// recorded source when the header has one, else (older logs) a guess
    /// from the model name.
    pub fn from_header(header: &LogHeader<AgentConfig>) -> SourceChoice {
        match &header.source {
            Some(SourceRecord::Synthetic) => SourceChoice::Synthetic,
            Some(SourceRecord::Local { model, sae, corpus }) => SourceChoice::Local {
                model: model.clone(),
                sae: sae.clone(),
                corpus: corpus.as_ref().map(PathBuf::from),
                dtype: WeightDtype::F32,
            },
            Some(SourceRecord::Neuronpedia {
                model_id,
                sae_id,
                base_url,
            }) => SourceChoice::Neuronpedia {
                model_id: model_id.clone(),
                sae_id: sae_id.clone(),
                base_url: base_url.clone(),
            },
            None => SourceChoice::from_recorded(&header.model, &header.sae),
        }
    }

    /// What a new session records in its header so it can be reopened:
    /// the Neuronpedia URL actually used (flag, else `NEURONPEDIA_URL`).
    pub fn record(&self) -> SourceRecord {
        match self {
            SourceChoice::Synthetic => SourceRecord::Synthetic,
            SourceChoice::Local {
                model, sae, corpus, ..
            } => SourceRecord::Local {
                model: model.clone(),
                sae: sae.clone(),
                corpus: corpus.as_ref().map(|p| {
                    // Absolute, so a resume from another directory finds it.
                    std::fs::canonicalize(p)
                        .unwrap_or_else(|_| p.clone())
                        .display()
                        .to_string()
                }),
            },
            SourceChoice::Neuronpedia {
                model_id,
                sae_id,
                base_url,
            } => {
                let from_env = || std::env::var(URL_ENV).ok().filter(|u| !u.trim().is_empty());
                let url = base_url.clone().or_else(from_env);
                SourceRecord::neuronpedia(model_id, sae_id, url.as_deref())
            }
        }
    }

    /// The guess for logs without a recorded source: synthetic by its
    /// model name, anything else a local model.
    fn from_recorded(model: &str, sae: &str) -> SourceChoice {
        if model == SYNTHETIC_MODEL {
            SourceChoice::Synthetic
        } else {
            SourceChoice::Local {
                model: model.to_string(),
                sae: sae.to_string(),
                corpus: None,
                dtype: WeightDtype::F32,
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
        SourceChoice::Local {
            model,
            sae,
            corpus,
            dtype,
        } => {
            let source = open_local_source(&LocalArgs::named(model, sae, *dtype))?;
            Ok(Arc::new(match corpus {
                Some(path) => with_corpus(source, path, features)?,
                None => source,
            }))
        }
        SourceChoice::Neuronpedia {
            model_id,
            sae_id,
            base_url,
        } => Ok(Arc::new(
            NeuronpediaSource::connect(
                base_url.clone(),
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

/// The LLM client a spec names, or `None` for `heuristic` (offline). A
/// spec that does not parse, or names an endpoint whose key is not set, is
/// a usage error.
pub fn llm_client(spec: &str) -> anyhow::Result<Option<Arc<dyn LlmClient>>> {
    match ReasonerSpec::parse(spec, &BaseUrls::from_env()).map_err(usage_error)? {
        ReasonerSpec::Heuristic => Ok(None),
        ReasonerSpec::Llm(endpoint) => match build_client(&endpoint, &llm_config(&endpoint)?) {
            Ok(client) => Ok(Some(client)),
            Err(e @ LlmError::MissingKey { .. }) => Err(usage_error(e)),
            Err(e) => Err(e).with_context(|| format!("could not set up the LLM `{spec}`")),
        },
    }
}

/// How long a server on this machine may stay silent before a reply: a
/// CPU server sends nothing until it has generated the whole answer.
const LOCAL_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);

/// LLM settings with the config file's `[keys]` and `[prices]` tables, and
/// a longer read timeout for servers on this machine.
fn llm_config(endpoint: &EndpointSpec) -> anyhow::Result<LlmConfig> {
    let file = ConfigFile::load(&Paths::resolve().config_file)?;
    let mut config = LlmConfig::with_file_tables(file.keys, file.prices);
    if endpoint.is_local() {
        config.retry.read_timeout = config.retry.read_timeout.max(LOCAL_READ_TIMEOUT);
        // Room for a slow reply and a retry or two within one call.
        config.retry.call_deadline = config.retry.call_deadline.max(3 * LOCAL_READ_TIMEOUT);
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sage::session::{FORMAT_NAME, FORMAT_VERSION};

    fn header(model: &str, source: Option<SourceRecord>) -> LogHeader<AgentConfig> {
        LogHeader {
            format: FORMAT_NAME.into(),
            format_version: FORMAT_VERSION,
            session_id: "s".into(),
            model: model.into(),
            sae: "some-sae".into(),
            hook: String::new(),
            source,
            feature: 0,
            reasoner: "heuristic".into(),
            seed: 0,
            created_at_ms: 0,
            config: AgentConfig::default(),
        }
    }

    #[test]
    fn recorded_sources_reopen_as_they_were_chosen() {
        let choices = [
            SourceChoice::Synthetic,
            SourceChoice::Local {
                model: "/models/gpt2".into(),
                sae: "gpt2-small-res-jb/blocks.8.hook_resid_pre".into(),
                corpus: Some("/data/corpus".into()),
                dtype: WeightDtype::F32,
            },
            SourceChoice::Neuronpedia {
                model_id: "gpt2-small".into(),
                sae_id: "8-res-jb".into(),
                base_url: Some("http://127.0.0.1:9/".into()),
            },
        ];
        for choice in choices {
            // The header's model name is deliberately unhelpful: the record decides.
            let reopened = SourceChoice::from_header(&header("gpt2-small", Some(choice.record())));
            assert_eq!(reopened, choice);
        }
    }

    #[test]
    fn logs_without_a_recorded_source_fall_back_to_the_model_name() {
        assert_eq!(
            SourceChoice::from_header(&header(SYNTHETIC_MODEL, None)),
            SourceChoice::Synthetic
        );
        assert_eq!(
            SourceChoice::from_header(&header("gpt2", None)),
            SourceChoice::Local {
                model: "gpt2".into(),
                sae: "some-sae".into(),
                corpus: None,
                dtype: WeightDtype::F32,
            }
        );
    }
}
