//! What calls cost: a price table (embedded, overridable from the config
//! file) and a per-session accumulator of tokens and dollars.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Usage;

const EMBEDDED_PRICES: &str = include_str!("../../assets/prices.toml");

/// US dollars per million tokens for one model.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Price {
    /// Uncached prompt tokens.
    pub input: f64,
    /// Prompt tokens read from the provider's cache; defaults to `input`.
    #[serde(default)]
    pub cached_input: Option<f64>,
    /// Generated tokens.
    pub output: f64,
}

impl Price {
    /// Dollar cost of the tokens in `usage`.
    pub fn cost(&self, usage: &Usage) -> f64 {
        let cached = self.cached_input.unwrap_or(self.input);
        (usage.prompt_tokens as f64 * self.input
            + usage.cached_tokens as f64 * cached
            + usage.completion_tokens as f64 * self.output)
            / 1_000_000.0
    }
}

/// Why a price table could not be read.
#[derive(Debug, thiserror::Error)]
#[error(
    "invalid price table: {0}; expected [models.\"NAME\"] tables with input, output and optional cached_input (USD per million tokens)"
)]
pub struct PriceTableError(String);

/// Model name → price. Dated snapshots fall back to their undated name;
/// anything else unknown has no price.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PriceTable {
    /// Prices keyed by model name.
    pub models: BTreeMap<String, Price>,
}

impl PriceTable {
    /// The table shipped in `assets/prices.toml`.
    pub fn embedded() -> PriceTable {
        // The embedded file is checked by a unit test, so this cannot fail
        // in a released binary; fall back to "no prices" rather than panic.
        PriceTable::parse(EMBEDDED_PRICES).unwrap_or_default()
    }

    /// Parses a table in the `assets/prices.toml` format.
    pub fn parse(text: &str) -> Result<PriceTable, PriceTableError> {
        toml::from_str(text).map_err(|e| PriceTableError(e.to_string()))
    }

    /// This table with `overrides` replacing or adding entries.
    pub fn with_overrides(mut self, overrides: BTreeMap<String, Price>) -> PriceTable {
        self.models.extend(overrides);
        self
    }

    /// The price of `model`, also for a dated snapshot of a listed model
    /// (`gpt-4o-2024-08-06`, `claude-haiku-4-5-20251001`) or `-latest`.
    pub fn price(&self, model: &str) -> Option<Price> {
        if let Some(p) = self.models.get(model) {
            return Some(*p);
        }
        self.models
            .iter()
            .filter(|(name, _)| {
                model
                    .strip_prefix(name.as_str())
                    .and_then(|rest| rest.strip_prefix('-'))
                    .is_some_and(is_snapshot_suffix)
            })
            .max_by_key(|(name, _)| name.len())
            .map(|(_, p)| *p)
    }

    /// Fills in `usage.cost_usd` for `model` (left `None` when unpriced).
    pub fn price_usage(&self, model: &str, usage: Usage) -> Usage {
        Usage {
            cost_usd: self.price(model).map(|p| p.cost(&usage)),
            ..usage
        }
    }
}

fn is_snapshot_suffix(rest: &str) -> bool {
    rest == "latest" || (rest.len() >= 8 && rest.chars().all(|c| c.is_ascii_digit() || c == '-'))
}

/// Tokens and dollars summed over many calls. Costs of priced calls are
/// summed; calls of unpriced models are counted in `unpriced_calls` so a
/// total is never silently understated.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct UsageTotals {
    /// Calls recorded.
    pub calls: u64,
    /// Uncached prompt tokens.
    pub prompt_tokens: u64,
    /// Cached prompt tokens.
    pub cached_tokens: u64,
    /// Generated tokens.
    pub completion_tokens: u64,
    /// Summed cost of the priced calls, in US dollars.
    pub cost_usd: f64,
    /// Calls whose model had no price.
    pub unpriced_calls: u64,
}

impl UsageTotals {
    /// Adds one call.
    pub fn add(&mut self, usage: &Usage) {
        self.calls = self.calls.saturating_add(1);
        self.prompt_tokens = self.prompt_tokens.saturating_add(usage.prompt_tokens);
        self.cached_tokens = self.cached_tokens.saturating_add(usage.cached_tokens);
        self.completion_tokens = self
            .completion_tokens
            .saturating_add(usage.completion_tokens);
        match usage.cost_usd {
            Some(c) => self.cost_usd += c,
            None => self.unpriced_calls = self.unpriced_calls.saturating_add(1),
        }
    }

    /// All tokens, prompt (cached or not) and completion.
    pub fn total_tokens(&self) -> u64 {
        self.prompt_tokens
            .saturating_add(self.cached_tokens)
            .saturating_add(self.completion_tokens)
    }

    /// Whether every recorded call had a price, so `cost_usd` is complete.
    pub fn cost_is_complete(&self) -> bool {
        self.unpriced_calls == 0
    }
}

/// The status-bar form: `3 calls · 18.2k tokens · $0.0310`, plus
/// `(+N unpriced)` when some calls had no price.
impl std::fmt::Display for UsageTotals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let tokens = self.total_tokens();
        let calls = if self.calls == 1 { "call" } else { "calls" };
        write!(f, "{} {calls} · ", self.calls)?;
        if tokens >= 1_000 {
            write!(f, "{:.1}k tokens", tokens as f64 / 1_000.0)?;
        } else {
            write!(f, "{tokens} tokens")?;
        }
        write!(f, " · ${:.4}", self.cost_usd)?;
        if self.unpriced_calls > 0 {
            write!(f, " (+{} unpriced)", self.unpriced_calls)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_table_parses_and_lists_the_promised_models() {
        let table = PriceTable::parse(EMBEDDED_PRICES).expect("assets/prices.toml parses");
        for model in [
            "gpt-4o",
            "gpt-4o-mini",
            "gpt-4.1",
            "gpt-4.1-mini",
            "o4-mini",
            "claude-sonnet-4-5",
            "claude-haiku-4-5",
            "claude-opus-4-1",
        ] {
            assert!(table.price(model).is_some(), "{model} missing");
        }
        assert_eq!(table, PriceTable::embedded());
    }

    #[test]
    fn snapshots_inherit_prices_but_variants_do_not() {
        let table = PriceTable::embedded();
        let mini = table.price("gpt-4o-mini").expect("listed");
        assert_eq!(table.price("gpt-4o-mini-2024-07-18"), Some(mini));
        assert_eq!(
            table.price("claude-haiku-4-5-20251001"),
            table.price("claude-haiku-4-5")
        );
        assert_eq!(table.price("gpt-4o-audio-preview"), None);
        assert_eq!(table.price("llama3.2:3b"), None);
    }

    #[test]
    fn cost_uses_each_rate() {
        let price = Price {
            input: 2.0,
            cached_input: Some(0.5),
            output: 8.0,
        };
        let usage = Usage {
            prompt_tokens: 1_000,
            cached_tokens: 2_000,
            completion_tokens: 500,
            cost_usd: None,
        };
        // 1000*2 + 2000*0.5 + 500*8 = 7000 dollars per million tokens.
        assert!((price.cost(&usage) - 0.007).abs() < 1e-12);
    }

    #[test]
    fn overrides_replace_and_add() {
        let table = PriceTable::embedded().with_overrides(BTreeMap::from([
            (
                "gpt-4o".to_string(),
                Price {
                    input: 1.0,
                    cached_input: None,
                    output: 1.0,
                },
            ),
            (
                "my-local".to_string(),
                Price {
                    input: 0.0,
                    cached_input: None,
                    output: 0.0,
                },
            ),
        ]));
        assert_eq!(table.price("gpt-4o").map(|p| p.input), Some(1.0));
        assert!(table.price("my-local").is_some());
        assert!(PriceTable::parse("[models.x]\ninput = \"cheap\"").is_err());
    }

    #[test]
    fn totals_sum_known_costs_and_count_unpriced_calls() {
        let mut totals = UsageTotals::default();
        let priced = Usage {
            prompt_tokens: 10,
            cached_tokens: 5,
            completion_tokens: 3,
            cost_usd: Some(0.25),
        };
        let unpriced = Usage {
            cost_usd: None,
            ..priced
        };
        totals.add(&priced);
        totals.add(&priced);
        totals.add(&unpriced);
        assert_eq!(totals.calls, 3);
        assert_eq!(totals.total_tokens(), 54);
        assert!((totals.cost_usd - 0.5).abs() < 1e-12);
        assert_eq!(totals.unpriced_calls, 1);
        assert!(!totals.cost_is_complete());
        assert_eq!(
            totals.to_string(),
            "3 calls · 54 tokens · $0.5000 (+1 unpriced)"
        );
        let big = UsageTotals {
            calls: 1,
            prompt_tokens: 18_000,
            completion_tokens: 234,
            cost_usd: 0.031,
            ..UsageTotals::default()
        };
        assert_eq!(big.to_string(), "1 call · 18.2k tokens · $0.0310");
    }
}
