//! What `--llm` names: the offline heuristic reasoner or an LLM endpoint.
//! The LLM clients only ever see endpoints; choosing between the two kinds
//! of reasoner happens here.

use crate::llm::{BaseUrls, EndpointSpec, LlmError};

/// A parsed `--llm` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReasonerSpec {
    /// The deterministic offline reasoner (`heuristic`).
    Heuristic,
    /// A language model behind an endpoint.
    Llm(EndpointSpec),
}

impl ReasonerSpec {
    /// Parses `heuristic` or any endpoint spec (`openai:MODEL`,
    /// `anthropic:MODEL`, `http://HOST:PORT/v1#MODEL`).
    pub fn parse(spec: &str, base_urls: &BaseUrls) -> Result<ReasonerSpec, LlmError> {
        if spec.trim() == "heuristic" {
            return Ok(ReasonerSpec::Heuristic);
        }
        EndpointSpec::parse(spec, base_urls).map(ReasonerSpec::Llm)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heuristic_and_endpoints_are_told_apart() {
        assert_eq!(
            ReasonerSpec::parse(" heuristic ", &BaseUrls::default()).ok(),
            Some(ReasonerSpec::Heuristic)
        );
        let Ok(ReasonerSpec::Llm(e)) =
            ReasonerSpec::parse("openai:gpt-4o-mini", &BaseUrls::default())
        else {
            panic!("an openai spec is an endpoint");
        };
        assert_eq!(e.model, "gpt-4o-mini");
        assert!(ReasonerSpec::parse("gpt-4o", &BaseUrls::default()).is_err());
    }
}
