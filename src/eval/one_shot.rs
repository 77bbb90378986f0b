//! The one-shot baseline explainer: one look at the visible top examples,
//! no experiments. With an LLM it is one call over the examples written as
//! Neuronpedia-style token-activation pairs; offline it names the tokens
//! each top example peaks on (a heuristic rule, so the offline judge can
//! score it exactly like SAGE's).

use std::collections::BTreeMap;
use std::fmt::Write;

use serde_json::json;

use super::explanation::Explanation;
use super::judge::Spend;
use crate::activation::{Exemplar, FeatureExemplars};
use crate::llm::{LlmClient, LlmError, LlmRequest, Message};
use crate::reasoner::heuristic::{Rule, TokenTest, normalize};

/// Top examples the baseline sees (the ones the agent keeps visible).
pub const ONE_SHOT_TOP: usize = 10;

/// The offline one-shot explanation: "fires on the tokens the top examples
/// peak on", each with its mean peak strength. `None` when no top example
/// fires.
pub fn offline(visible: &FeatureExemplars) -> Option<Explanation> {
    let max = visible.max_activation;
    let mut peaks: BTreeMap<String, (f32, u32)> = BTreeMap::new();
    for e in visible.top.iter().take(ONE_SHOT_TOP) {
        let r = &e.record;
        if r.max_value <= 0.0 || max <= 0.0 {
            continue;
        }
        let Some(token) = r.tokens.get(r.max_value_token_index) else {
            continue;
        };
        let entry = peaks.entry(normalize(token).to_string()).or_default();
        entry.0 += r.max_value / max * 10.0;
        entry.1 += 1;
    }
    if peaks.is_empty() {
        return None;
    }
    let mut rule = Rule::on(TokenTest::one_of(peaks.keys().map(String::as_str)));
    rule.strengths = peaks
        .into_iter()
        .map(|(t, (sum, n))| (t, sum / n as f32))
        .collect();
    Some(Explanation {
        label: rule.label(),
        description: rule.describe(),
        rule: Some(rule.to_json()),
    })
}

/// The top examples as Neuronpedia-style token-activation pairs: one
/// example per block, one `token<TAB>activation` line per token, activations
/// rescaled to integers 0-10 by the feature's max.
pub fn token_activation_pairs(top: &[Exemplar], feature_max: f32) -> String {
    let mut out = String::new();
    for (i, e) in top.iter().enumerate() {
        let _ = writeln!(out, "Example {}:", i + 1);
        for (t, &v) in e.record.tokens.iter().zip(&e.record.values) {
            let scaled = if feature_max > 0.0 {
                (v.max(0.0) / feature_max * 10.0).round() as u32
            } else {
                0
            };
            let _ = writeln!(out, "{}\t{scaled}", t.escape_debug());
        }
        out.push('\n');
    }
    out
}

const ONE_SHOT_PROMPT: &str = "We study one feature of a sparse autoencoder trained on a language \
model. Below are the texts it responds to most, one token per line, each with the feature's \
activation rescaled to 0-10. Say in a few words what the feature detects: a short label (at most \
8 words) and a one- or two-sentence description precise enough that someone could predict, token \
by token, where it fires.";

/// The LLM one-shot explanation: a single call over the visible top
/// examples. The call is counted in `spend` whether it succeeds or not.
pub async fn with_llm(
    client: &dyn LlmClient,
    visible: &FeatureExemplars,
    spend: &mut Spend,
) -> Result<Explanation, LlmError> {
    let top: Vec<Exemplar> = visible.top.iter().take(ONE_SHOT_TOP).cloned().collect();
    let request = LlmRequest {
        messages: vec![Message::user(format!(
            "{ONE_SHOT_PROMPT}\n\n{}",
            token_activation_pairs(&top, visible.max_activation)
        ))],
        schema: Some(json!({
            "title": "one_shot_explanation",
            "type": "object",
            "properties": {
                "label": {"type": "string"},
                "description": {"type": "string"}
            },
            "required": ["label", "description"],
            "additionalProperties": false
        })),
        max_tokens: Some(300),
        temperature: Some(0.0),
        top_logprobs: None,
    };
    match client.complete(&request).await {
        Ok(reply) => {
            spend.answered(&reply.usage);
            let json = reply.json.unwrap_or_default();
            let field = |name: &str| json[name].as_str().unwrap_or_default().trim().to_string();
            Ok(Explanation {
                label: crate::agent::clamp_label(&field("label")),
                description: field("description"),
                rule: None,
            })
        }
        Err(err) => {
            spend.failed_call(&err);
            Err(err)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::fixtures::exemplar;

    fn visible() -> FeatureExemplars {
        FeatureExemplars {
            feature: 0,
            top: vec![
                exemplar(&["in", " May", " we"], &[0.0, 8.0, 1.0]),
                exemplar(&["by", " June", "."], &[0.0, 4.0, 0.0]),
                exemplar(&["late", " May"], &[0.0, 6.0]),
            ],
            quantiles: Vec::new(),
            non_activating: Vec::new(),
            density: None,
            max_activation: 8.0,
        }
    }

    #[test]
    fn offline_baseline_names_the_peak_tokens_with_their_mean_strength() {
        let e = offline(&visible()).unwrap();
        let rule = Rule::from_json(e.rule.as_ref().unwrap()).unwrap();
        assert_eq!(rule.target, TokenTest::one_of(["May", "June"]));
        assert_eq!(rule.strengths["May"], 8.75);
        assert_eq!(rule.strengths["June"], 5.0);
        assert!(e.label.contains("May"), "{}", e.label);
        let tokens: Vec<String> = ["a", " May", " we"].map(String::from).to_vec();
        assert_eq!(rule.predict(&tokens), [0.0, 8.75, 0.0]);
    }

    #[test]
    fn pairs_rescale_to_integers_by_the_feature_max() {
        let text = token_activation_pairs(&visible().top[..1], 8.0);
        assert_eq!(text, "Example 1:\nin\t0\n May\t10\n we\t1\n\n");
    }
}
