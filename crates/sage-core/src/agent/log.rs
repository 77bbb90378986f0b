//! The refinement log: a readable timeline of what happened and why.

use crate::prelude::*;

use serde::{Deserialize, Serialize};

use super::Actor;

/// One line of the refinement log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogEntry {
    /// Driver time of the event that caused it, in ms since the Unix epoch.
    pub at_ms: u64,
    /// Design round at the time.
    pub round: u32,
    /// Who acted.
    pub actor: Actor,
    /// What happened.
    pub text: String,
    /// Why, when the actor gave a reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rationale: Option<String>,
}
