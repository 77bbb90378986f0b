//! Scoring every explanation of one feature with one judge, on the same
//! held-out set and against the same success bar: SAGE's conclusion, the
//! one-shot baseline, the control floor and the explanation-free baselines.

use serde::{Deserialize, Serialize};

use super::explanation::Explanation;
use super::generative::{GenerativeScore, success_threshold};
use super::judge::{Judge, Spend};
use super::predictive::{self, Baseline, HeldOutText, PredictiveScore, held_out_set};
use crate::activation::{ActivationSource, Exemplar, ExemplarQuery, FeatureExemplars};
use crate::agent::Holdout;

/// Knobs of one evaluation, all recorded with its results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalOptions {
    /// Sentences asked of the generator per explanation (SAGE's 10).
    pub sentences: usize,
    /// Non-activating texts added to the held-out set (SAGE adds none).
    pub non_activating: usize,
    /// Base seed: the baselines and their intervals use it as is, the
    /// control's interval `seed ^ 0xC0`, the k-th explainer's `seed + k + 1`
    /// (each score records the seed it used).
    pub seed: u64,
}

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions {
            sentences: super::generative::SENTENCES,
            non_activating: 0,
            seed: 0,
        }
    }
}

/// One explanation to score and what producing it cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// Who explained (`sage`, `one-shot`).
    pub explainer: String,
    /// The explanation, or why there is none.
    pub explanation: Result<Explanation, String>,
    /// LLM calls and tokens spent producing it.
    pub spend: Spend,
}

/// Everything about one feature the evaluation needs from its session.
#[derive(Debug, Clone)]
pub struct FeatureInput {
    /// Feature index.
    pub feature: u32,
    /// The session it was explained in, if any.
    pub session_id: Option<String>,
    /// The exemplars the explainer saw.
    pub visible: FeatureExemplars,
    /// The held-out exemplars it did not.
    pub holdout: Holdout,
    /// The feature's max activation (the 0-10 rescaling).
    pub feature_max: f32,
    /// The explanations to score.
    pub candidates: Vec<Candidate>,
    /// An explanation of a *different* feature: its sentences give the
    /// generative floor.
    pub control: Option<Explanation>,
}

/// One explanation's scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scored {
    /// Who explained.
    pub explainer: String,
    /// The explanation (absent when the explainer failed).
    pub explanation: Option<Explanation>,
    /// What explaining cost.
    pub explainer_spend: Spend,
    /// What judging it cost.
    pub judge_spend: Spend,
    /// Generative accuracy; `None` when missing (see `missing`).
    pub generative: Option<GenerativeScore>,
    /// Predictive accuracy over the held-out set.
    pub predictive: Option<PredictiveScore>,
    /// Why parts are missing: one line per distinct reason.
    pub missing: Vec<String>,
}

/// One baseline's predictive score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaselineScore {
    /// Which baseline.
    pub baseline: Baseline,
    /// Its score.
    pub score: PredictiveScore,
}

/// The evaluation of one feature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureEvaluation {
    /// Feature index.
    pub feature: u32,
    /// Its session.
    pub session_id: Option<String>,
    /// Seed the held-out split was drawn with.
    pub holdout_seed: u64,
    /// The options (with the bootstrap seed).
    pub options: EvalOptions,
    /// The activation a generated sentence had to reach.
    pub threshold: Option<f32>,
    /// Held-out texts (non-activating ones included).
    pub held_out_texts: usize,
    /// Generative score of the control sentences (the floor); `None` when
    /// there was no control or it could not be generated.
    pub control: Option<GenerativeScore>,
    /// What generating the control sentences cost the judge.
    pub control_spend: Spend,
    /// SAGE, the one-shot baseline, …, in the order given.
    pub scored: Vec<Scored>,
    /// Explanation-free predictive baselines.
    pub baselines: Vec<BaselineScore>,
}

/// Why a feature could not be evaluated at all.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// The source failed while fetching exemplars or activations.
    #[error("feature {feature}: the activation source failed: {message}")]
    Source {
        /// Feature index.
        feature: u32,
        /// The source's message.
        message: String,
    },
}

/// Scores every candidate of one feature with `judge`.
pub async fn evaluate_feature(
    input: &FeatureInput,
    source: &dyn ActivationSource,
    judge: &dyn Judge,
    options: &EvalOptions,
) -> Result<FeatureEvaluation, EvalError> {
    let feature = input.feature;
    let source_error = |e: crate::activation::SourceError| EvalError::Source {
        feature,
        message: e.to_string(),
    };
    let extra = extra_non_activating(input, source, options.non_activating)
        .await
        .map_err(source_error)?;
    let set = held_out_set(&input.holdout, &extra, input.feature_max);
    let threshold = success_threshold(&input.visible.top);
    let sentences = Sentences {
        source,
        judge,
        feature,
        threshold,
        options,
    };

    let mut control_spend = Spend::default();
    let control = match &input.control {
        Some(explanation) => sentences
            .score(explanation, &mut control_spend, options.seed ^ 0xC0)
            .await?
            .ok(),
        None => None,
    };
    let mut scored = Vec::with_capacity(input.candidates.len());
    for (k, candidate) in input.candidates.iter().enumerate() {
        let seed = options.seed.wrapping_add(k as u64 + 1);
        scored.push(score_candidate(candidate, &set, &sentences, seed).await?);
    }
    let baselines = Baseline::ALL
        .iter()
        .map(|&baseline| BaselineScore {
            baseline,
            score: predictive::score(
                &set,
                &baseline.predict(&input.visible, &set, options.seed),
                options.seed,
            ),
        })
        .collect();
    Ok(FeatureEvaluation {
        feature,
        session_id: input.session_id.clone(),
        holdout_seed: input.holdout.seed,
        options: options.clone(),
        threshold,
        held_out_texts: set.len(),
        control,
        control_spend,
        scored,
        baselines,
    })
}

/// Generates sentences and runs them through the source.
struct Sentences<'a> {
    source: &'a dyn ActivationSource,
    judge: &'a dyn Judge,
    feature: u32,
    threshold: Option<f32>,
    options: &'a EvalOptions,
}

impl Sentences<'_> {
    /// The generative score of one explanation; the inner `Err` says why it
    /// is missing (the outer one is a source failure).
    async fn score(
        &self,
        explanation: &Explanation,
        spend: &mut Spend,
        seed: u64,
    ) -> Result<Result<GenerativeScore, String>, EvalError> {
        let Some(threshold) = self.threshold else {
            return Ok(Err(
                "no firing top exemplar sets the success bar".to_string()
            ));
        };
        let texts = match self
            .judge
            .generate(explanation, self.options.sentences, spend)
            .await
        {
            Ok(texts) => texts,
            Err(e) => return Ok(Err(format!("generation: {e}"))),
        };
        let records = if texts.is_empty() {
            Vec::new()
        } else {
            self.source
                .activations(self.feature, &texts)
                .await
                .map_err(|e| EvalError::Source {
                    feature: self.feature,
                    message: e.to_string(),
                })?
        };
        Ok(Ok(GenerativeScore::from_records(
            self.options.sentences,
            threshold,
            &texts,
            &records,
            seed,
        )))
    }
}

async fn score_candidate(
    candidate: &Candidate,
    set: &[HeldOutText],
    sentences: &Sentences<'_>,
    seed: u64,
) -> Result<Scored, EvalError> {
    let mut scored = Scored {
        explainer: candidate.explainer.clone(),
        explanation: None,
        explainer_spend: candidate.spend,
        judge_spend: Spend::default(),
        generative: None,
        predictive: None,
        missing: Vec::new(),
    };
    let explanation = match &candidate.explanation {
        Ok(e) => e,
        Err(why) => {
            scored.missing.push(format!("no explanation: {why}"));
            return Ok(scored);
        }
    };
    scored.explanation = Some(explanation.clone());
    match sentences
        .score(explanation, &mut scored.judge_spend, seed)
        .await?
    {
        Ok(g) => scored.generative = Some(g),
        Err(why) => scored.missing.push(why),
    }
    let mut predictions = Vec::with_capacity(set.len());
    for text in set {
        match sentences
            .judge
            .predict(explanation, &text.tokens, &mut scored.judge_spend)
            .await
        {
            Ok(values) if values.len() == text.tokens.len() => predictions.push(Some(values)),
            Ok(values) => {
                note(
                    &mut scored.missing,
                    format!(
                        "prediction: {} values for {} tokens",
                        values.len(),
                        text.tokens.len()
                    ),
                );
                predictions.push(None);
            }
            Err(e) => {
                note(&mut scored.missing, format!("prediction: {e}"));
                predictions.push(None);
            }
        }
    }
    scored.predictive = Some(predictive::score(set, &predictions, seed));
    Ok(scored)
}

/// Adds a reason once.
fn note(reasons: &mut Vec<String>, reason: String) {
    if !reasons.contains(&reason) {
        reasons.push(reason);
    }
}

/// Up to `count` non-activating windows the explainer did not see.
async fn extra_non_activating(
    input: &FeatureInput,
    source: &dyn ActivationSource,
    count: usize,
) -> Result<Vec<Exemplar>, crate::activation::SourceError> {
    if count == 0 {
        return Ok(Vec::new());
    }
    let seen = &input.visible.non_activating;
    let query = ExemplarQuery {
        top_k: 1,
        per_quantile: 0,
        non_activating: seen.len() + count * 2,
    };
    let fetched = source.exemplars(input.feature, &query).await?;
    Ok(fetched
        .non_activating
        .into_iter()
        .filter(|e| e.record.max_value <= 0.0)
        .filter(|e| !seen.iter().any(|s| s.record.tokens == e.record.tokens))
        .take(count)
        .collect())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    use serde_json::json;

    use super::*;
    use crate::activation::synthetic::{FEATURES, SyntheticSource};
    use crate::agent::{Agent, AgentConfig, Event};
    use crate::eval::judge::RuleJudge;
    use crate::eval::llm_judge::{LlmJudge, PredictMode};
    use crate::llm::{LlmClient, LlmError, LlmReply, LlmRequest, Usage};
    use crate::reasoner::heuristic::{Rule, TokenClass, TokenTest};

    /// The input a session of `name` would give: the agent's own split.
    fn input(source: &SyntheticSource, name: &str, candidates: Vec<Candidate>) -> FeatureInput {
        let feature = FEATURES.iter().position(|f| f.name == name).unwrap() as u32;
        let mut agent = Agent::new();
        let config = AgentConfig::default();
        let _ = agent.handle(Event::Start {
            feature,
            config: config.clone(),
            seed: 11,
            at_ms: 0,
        });
        let exemplars = source
            .feature_exemplars(feature, &config.exemplars)
            .unwrap();
        let _ = agent.handle(Event::ExemplarsArrived {
            exemplars,
            at_ms: 1,
        });
        let state = agent.state();
        FeatureInput {
            feature,
            session_id: None,
            visible: state.exemplars.clone().unwrap(),
            holdout: state.holdout.clone().unwrap(),
            feature_max: state.feature_max,
            candidates,
            control: Some(explained(Rule::on(TokenTest::one_of([
                "red", "blue", "green",
            ])))),
        }
    }

    fn explained(rule: Rule) -> Explanation {
        Explanation {
            label: rule.label(),
            description: rule.describe(),
            rule: Some(rule.to_json()),
        }
    }

    fn candidate(name: &str, explanation: Explanation) -> Candidate {
        Candidate {
            explainer: name.to_string(),
            explanation: Ok(explanation),
            spend: Spend::default(),
        }
    }

    fn run<T>(fut: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(fut)
    }

    #[test]
    fn the_true_rule_scores_near_the_top_and_a_wrong_one_near_the_floor() {
        let source = SyntheticSource::new();
        let truth = explained(Rule::on(TokenTest::Class {
            class: TokenClass::Month,
        }));
        let wrong = explained(Rule::on(TokenTest::one_of([",", "the"])));
        let input = input(
            &source,
            "months",
            vec![candidate("truth", truth), candidate("wrong", wrong)],
        );
        let options = EvalOptions {
            non_activating: 2,
            ..EvalOptions::default()
        };
        let eval = run(evaluate_feature(&input, &source, &RuleJudge, &options)).unwrap();
        assert_eq!(eval.held_out_texts, input.holdout.examples.len() + 2);
        let (t, w) = (&eval.scored[0], &eval.scored[1]);
        let generative = |s: &Scored| s.generative.as_ref().unwrap().score.estimate;
        let predictive = |s: &Scored| s.predictive.as_ref().unwrap().pearson.unwrap().estimate;
        assert!(generative(t) >= 0.9, "{t:?}");
        assert!(predictive(t) >= 0.8, "{t:?}");
        assert!(generative(w) <= 0.1, "{w:?}");
        assert!(predictive(w) <= 0.2, "{w:?}");
        // The control (colour sentences) sets a floor at zero for months.
        assert_eq!(eval.control.as_ref().unwrap().score.estimate, 0.0);
        assert!(t.missing.is_empty() && w.missing.is_empty());
        // The true rule beats every explanation-free baseline.
        for b in &eval.baselines {
            let r = b.score.pearson.map_or(0.0, |r| r.estimate);
            assert!(r < predictive(t), "{:?} {r}", b.baseline);
        }
    }

    #[test]
    fn an_explanation_without_a_rule_is_missing_offline_never_scored() {
        let source = SyntheticSource::new();
        let words = Explanation {
            label: "month names".into(),
            description: "fires on month names".into(),
            rule: None,
        };
        let mut failed = candidate("llm", words);
        failed.explanation = Err("the explainer's call failed".into());
        let words = candidate("words", failed_words());
        let input = input(&source, "months", vec![words, failed]);
        let eval = run(evaluate_feature(
            &input,
            &source,
            &RuleJudge,
            &EvalOptions::default(),
        ))
        .unwrap();
        let s = &eval.scored[0];
        assert!(s.generative.is_none());
        let p = s.predictive.as_ref().unwrap();
        assert_eq!(p.missing, input.holdout.examples.len());
        assert_eq!((p.tokens, p.pearson), (0, None));
        assert!(
            s.missing.iter().any(|m| m.contains("has none")),
            "{:?}",
            s.missing
        );
        assert!(eval.scored[1].predictive.is_none());
        assert!(eval.scored[1].missing[0].contains("call failed"));
    }

    fn failed_words() -> Explanation {
        Explanation {
            label: "month names".into(),
            description: "fires on month names".into(),
            rule: None,
        }
    }

    /// Answers like an LLM judge that knows months fire; every third call
    /// fails and the fifth answers with the wrong number of values.
    struct ScriptedJudgeModel {
        calls: AtomicU32,
    }

    #[async_trait::async_trait]
    impl LlmClient for ScriptedJudgeModel {
        fn spec(&self) -> &str {
            "scripted"
        }

        async fn complete(&self, request: &LlmRequest) -> Result<LlmReply, LlmError> {
            let call = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
            let usage = Usage {
                prompt_tokens: 100,
                completion_tokens: 10,
                ..Usage::default()
            };
            let prompt = &request.messages[0].content;
            let schema_title = request.schema.as_ref().map(|s| s["title"].clone());
            if call.is_multiple_of(3) {
                return Err(LlmError::RetriesExhausted {
                    attempts: 3,
                    last: "HTTP 500".into(),
                    usage: Usage {
                        prompt_tokens: 7,
                        ..Usage::default()
                    },
                });
            }
            let value = if schema_title == Some(json!("sentences")) {
                json!({"sentences": (0..10).map(|i| format!("We met in {} last year, as planned.", ["May", "June"][i % 2])).collect::<Vec<_>>()})
            } else {
                let listing = prompt.split("\n\n").last().unwrap_or_default();
                let mut values: Vec<f64> = listing
                    .lines()
                    .map(|l| {
                        let month = FEATURES[0].rule.activations(&[l
                            .split('\t')
                            .nth(1)
                            .unwrap_or_default()
                            .to_string()]);
                        if month[0] > 0.0 { 9.0 } else { 0.0 }
                    })
                    .collect();
                if call == 5 {
                    values.pop();
                }
                json!({ "activations": values })
            };
            Ok(LlmReply {
                text: value.to_string(),
                json: Some(value),
                usage,
                logprobs: None,
            })
        }
    }

    #[test]
    fn failed_and_unparseable_llm_predictions_are_missing_and_counted() {
        let source = SyntheticSource::new();
        let model = Arc::new(ScriptedJudgeModel {
            calls: AtomicU32::new(0),
        });
        let judge = LlmJudge::new(model.clone(), PredictMode::Batched);
        let mut input = input(&source, "months", vec![candidate("sage", failed_words())]);
        input.control = None;
        let eval = run(evaluate_feature(
            &input,
            &source,
            &judge,
            &EvalOptions::default(),
        ))
        .unwrap();
        let s = &eval.scored[0];
        // Call 1 generates; calls 2..=7 predict the 6 held-out texts:
        // calls 3 and 6 fail (still billed 7 tokens each), call 5 has a
        // value missing.
        let n = input.holdout.examples.len();
        assert_eq!(n, 6, "the months split holds out 6 texts");
        assert_eq!(model.calls.load(Ordering::SeqCst), 7);
        let p = s.predictive.as_ref().unwrap();
        assert_eq!((p.texts, p.missing), (6, 3));
        let held: usize = input
            .holdout
            .examples
            .iter()
            .map(|e| e.record.tokens.len())
            .sum();
        let lost: usize = [1, 4, 3]
            .iter()
            .map(|&i| input.holdout.examples[i].record.tokens.len())
            .sum();
        assert_eq!(p.tokens, held - lost);
        assert!(p.pearson.unwrap().estimate > 0.8, "{p:?}");
        assert_eq!(s.generative.as_ref().unwrap().score.estimate, 1.0);
        assert_eq!(
            (
                s.judge_spend.calls,
                s.judge_spend.failed,
                s.judge_spend.tokens
            ),
            (7, 2, 5 * 110 + 2 * 7)
        );
        assert!(
            s.missing.iter().any(|m| m.contains("HTTP 500")),
            "{:?}",
            s.missing
        );
        assert!(
            s.missing.iter().any(|m| m.contains("activations for")),
            "{:?}",
            s.missing
        );
    }
}
