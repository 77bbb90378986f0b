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

/// The most tokens one call may report per count. No model reads or writes
/// anywhere near this many in one call; a server claiming more is wrong, and
/// taking its number at face value would swamp every total and budget.
pub const MAX_CALL_TOKENS: u64 = 1 << 40;

/// A token count as a server reported it, clamped to [`MAX_CALL_TOKENS`] so
/// that sums of counts stay meaningful.
pub fn bounded_count(reported: u64) -> u64 {
    reported.min(MAX_CALL_TOKENS)
}

impl Usage {
    /// Whether no token was counted.
    pub fn is_empty(&self) -> bool {
        self.prompt_tokens == 0 && self.cached_tokens == 0 && self.completion_tokens == 0
    }

    /// All tokens, prompt (cached or not) and completion; saturates rather
    /// than wrapping, because counts may come from a log written elsewhere.
    pub fn total_tokens(&self) -> u64 {
        self.prompt_tokens
            .saturating_add(self.cached_tokens)
            .saturating_add(self.completion_tokens)
    }

    /// Adds another call's token counts (saturating); the cost is left to
    /// the caller, which knows whether an unpriced call makes it unknown.
    pub fn add_tokens(&mut self, call: &Usage) {
        self.prompt_tokens = self.prompt_tokens.saturating_add(call.prompt_tokens);
        self.cached_tokens = self.cached_tokens.saturating_add(call.cached_tokens);
        self.completion_tokens = self
            .completion_tokens
            .saturating_add(call.completion_tokens);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_of_huge_counts_saturate_instead_of_overflowing() {
        let huge = Usage {
            prompt_tokens: u64::MAX,
            cached_tokens: u64::MAX,
            completion_tokens: 1,
            cost_usd: None,
        };
        let mut total = huge;
        total.add_tokens(&huge);
        assert_eq!(total.prompt_tokens, u64::MAX);
        assert_eq!(total.completion_tokens, 2);
        assert_eq!(total.total_tokens(), u64::MAX);
    }

    #[test]
    fn reported_counts_are_bounded() {
        assert_eq!(bounded_count(u64::MAX), MAX_CALL_TOKENS);
        assert_eq!(bounded_count(1_234), 1_234);
    }
}
