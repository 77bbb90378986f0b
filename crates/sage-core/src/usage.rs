//! What a reasoner call costs. Plain data shared by the agent (budgets,
//! session totals) and the LLM clients that fill it in.

use serde::{Deserialize, Serialize};

/// Token counts and cost of one call (or, summed, of a session).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Usage {
    /// Prompt tokens billed at the full rate.
    pub prompt_tokens: u64,
    /// Prompt tokens served from the provider's cache.
    pub cached_tokens: u64,
    /// Generated tokens.
    pub completion_tokens: u64,
    /// Cost in US dollars; `None` when the model's price is unknown.
    pub cost_usd: Option<f64>,
}

impl Usage {
    /// Whether no token was counted.
    pub fn is_empty(&self) -> bool {
        self.prompt_tokens == 0 && self.cached_tokens == 0 && self.completion_tokens == 0
    }
}
