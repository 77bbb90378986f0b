//! The identifiers hypotheses and experiments use to point at each other,
//! and who proposed what. They live apart from both so that neither module
//! needs the other to name an id.

use crate::prelude::*;

use core::fmt;
use core::str::FromStr;

use serde::{Deserialize, Serialize};

/// Stable identifier of one hypothesis version (`H1`, `H2`, ...). A refined
/// hypothesis gets a fresh id and points at its parent, so ids are never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct HypothesisId(pub u32);

impl fmt::Display for HypothesisId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "H{}", self.0)
    }
}

impl FromStr for HypothesisId {
    type Err = String;

    /// Accepts `H3`, `h3` or `3`, the forms an LLM is likely to echo back.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_prefixed(s, 'H')
            .map(HypothesisId)
            .ok_or_else(|| format!("`{s}` is not a hypothesis id (expected H<number>)"))
    }
}

/// Parses `P12`, `p12` or `12` into 12.
pub(crate) fn parse_prefixed(s: &str, prefix: char) -> Option<u32> {
    let t = s.trim();
    let digits = t
        .strip_prefix(prefix)
        .or_else(|| t.strip_prefix(prefix.to_ascii_lowercase()))
        .unwrap_or(t);
    digits.parse().ok()
}

/// Who proposed something or took an action: the agent or the human.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Actor {
    /// The reasoner, through the state machine.
    Agent,
    /// The researcher at the keyboard.
    Researcher,
}

/// Stable identifier of one experiment (`E1`, `E2`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ExperimentId(pub u32);

impl fmt::Display for ExperimentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "E{}", self.0)
    }
}

impl FromStr for ExperimentId {
    type Err = String;

    /// Accepts `E7`, `e7` or `7`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_prefixed(s, 'E')
            .map(ExperimentId)
            .ok_or_else(|| format!("`{s}` is not an experiment id (expected E<number>)"))
    }
}
