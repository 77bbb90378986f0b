//! The judge: whoever writes sentences from an explanation (generative
//! accuracy) and predicts activations from it (predictive accuracy). The
//! same judge scores SAGE and the baseline, so the comparison is fair.
//! [`RuleJudge`] works offline from the heuristic reasoner's rule; the LLM
//! judge lives in `llm_judge`.

use serde::{Deserialize, Serialize};

use super::explanation::Explanation;
use crate::llm::{LlmError, Usage};
use crate::reasoner::heuristic::{Rule, RuleError, sentences_for};

/// LLM calls and tokens spent by an explainer or a judge.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Spend {
    /// Calls made (answered or not).
    pub calls: u32,
    /// Calls that failed or gave an unusable answer.
    pub failed: u32,
    /// Tokens billed (prompt, cached and completion), failed calls included.
    pub tokens: u64,
    /// Cost in US dollars of the priced calls; `None` when none was priced.
    pub cost_usd: Option<f64>,
}

impl Spend {
    /// Counts one answered call.
    pub fn answered(&mut self, usage: &Usage) {
        self.calls += 1;
        self.tokens = self.tokens.saturating_add(usage.total_tokens());
        if let Some(cost) = usage.cost_usd {
            self.cost_usd = Some(self.cost_usd.unwrap_or(0.0) + cost);
        }
    }

    /// Counts one failed call and the tokens it was still billed for.
    pub fn failed_call(&mut self, error: &LlmError) {
        self.answered(&error.usage());
        self.failed += 1;
    }

    /// Adds another tally to this one.
    pub fn add(&mut self, other: &Spend) {
        self.calls += other.calls;
        self.failed += other.failed;
        self.tokens += other.tokens;
        self.cost_usd = match (self.cost_usd, other.cost_usd) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0.0) + b.unwrap_or(0.0)),
        };
    }
}

/// Why a judge gave no answer for one explanation or text; the answer is
/// then reported as missing.
#[derive(Debug, thiserror::Error)]
pub enum JudgeError {
    /// The offline judge needs a rule and the explanation has none.
    #[error(
        "the offline judge predicts from the heuristic reasoner's rule and this explanation has none; pass --llm SPEC to judge it with a model"
    )]
    NoRule,
    /// The rule in the explanation could not be read.
    #[error(transparent)]
    Rule(#[from] RuleError),
    /// The LLM call failed.
    #[error("LLM call failed: {0}")]
    Llm(#[from] LlmError),
    /// The LLM answered, but not with something usable.
    #[error("unparseable answer: {0}")]
    Unparseable(String),
}

/// Writes sentences from and predicts activations from an explanation.
#[async_trait::async_trait]
pub trait Judge: Send + Sync {
    /// What judges (`heuristic rule`, the LLM spec and mode), for the table.
    fn name(&self) -> String;

    /// Up to `count` sentences meant to make the explained feature fire.
    async fn generate(
        &self,
        explanation: &Explanation,
        count: usize,
        spend: &mut Spend,
    ) -> Result<Vec<String>, JudgeError>;

    /// The predicted activation (0..=10) of every token of one text.
    async fn predict(
        &self,
        explanation: &Explanation,
        tokens: &[String],
        spend: &mut Spend,
    ) -> Result<Vec<f32>, JudgeError>;
}

/// The offline judge: the heuristic reasoner's own generator and predictor,
/// reading the rule an explanation carries. Makes no LLM call.
#[derive(Debug, Clone, Copy, Default)]
pub struct RuleJudge;

impl RuleJudge {
    fn rule(explanation: &Explanation) -> Result<Rule, JudgeError> {
        Ok(Rule::from_json(
            explanation.rule.as_ref().ok_or(JudgeError::NoRule)?,
        )?)
    }
}

#[async_trait::async_trait]
impl Judge for RuleJudge {
    fn name(&self) -> String {
        "heuristic rule (offline)".to_string()
    }

    async fn generate(
        &self,
        explanation: &Explanation,
        count: usize,
        _spend: &mut Spend,
    ) -> Result<Vec<String>, JudgeError> {
        Ok(sentences_for(&Self::rule(explanation)?, count))
    }

    async fn predict(
        &self,
        explanation: &Explanation,
        tokens: &[String],
        _spend: &mut Spend,
    ) -> Result<Vec<f32>, JudgeError> {
        Ok(Self::rule(explanation)?.predict(tokens))
    }
}
