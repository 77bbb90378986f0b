//! Scoring every explanation of one feature with one judge, on the same
//! held-out set and against the same success bar: SAGE's conclusion, the
//! one-shot baseline, imported explanations, the control floor and the
//! explanation-free baselines; with the scorers asked for (SAGE's
//! generative and predictive accuracy, Delphi's detection and fuzzing).

use serde::{Deserialize, Serialize};

use super::classify::{ClassifierResult, ClassifierScore, Task, items_for, judge_items};
use super::explanation::Explanation;
use super::generative::{GenerativeScore, success_threshold};
use super::judge::{Judge, Spend};
use super::predictive::{self, Baseline, HeldOutText, PredictiveScore, held_out_set};
use super::sampling::{ClassifierConfig, TestSample, test_pool};
use crate::activation::{ActivationSource, Exemplar, ExemplarQuery, FeatureExemplars};
use crate::agent::Holdout;

/// One way of scoring an explanation (`--scorers`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scorer {
    /// SAGE's generative accuracy.
    Generative,
    /// SAGE's predictive accuracy.
    Predictive,
    /// Delphi's detection.
    Detection,
    /// Delphi's fuzzing.
    Fuzzing,
}

impl Scorer {
    /// Every scorer this build has, in table order (the default).
    pub const ALL: [Scorer; 4] = [
        Scorer::Generative,
        Scorer::Predictive,
        Scorer::Detection,
        Scorer::Fuzzing,
    ];

    /// Its command-line and table name.
    pub fn name(self) -> &'static str {
        match self {
            Scorer::Generative => "generative",
            Scorer::Predictive => "predictive",
            Scorer::Detection => "detection",
            Scorer::Fuzzing => "fuzzing",
        }
    }

    /// The classification task behind a Delphi scorer.
    pub fn task(self) -> Option<Task> {
        match self {
            Scorer::Detection => Some(Task::Detection),
            Scorer::Fuzzing => Some(Task::Fuzzing),
            Scorer::Generative | Scorer::Predictive => None,
        }
    }
}

/// Knobs of one evaluation, all recorded with its results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalOptions {
    /// Sentences asked of the generator per explanation (SAGE's 10).
    pub sentences: usize,
    /// Non-activating texts added to the held-out set (SAGE adds none).
    pub non_activating: usize,
    /// Base seed: the baselines and their intervals use it as is, the
    /// control's interval `seed ^ 0xC0`, the k-th explainer's `seed + k + 1`
    /// (each score records the seed it used). Detection and fuzzing draw
    /// their examples with `seed + r` for reseed `r`.
    pub seed: u64,
    /// The scorers run.
    #[serde(default = "all_scorers")]
    pub scorers: Vec<Scorer>,
    /// Detection and fuzzing example counts and sampling.
    #[serde(default)]
    pub classifier: ClassifierConfig,
    /// Seeds detection and fuzzing draw their examples with (at least 1).
    #[serde(default = "one")]
    pub reseeds: usize,
}

fn all_scorers() -> Vec<Scorer> {
    Scorer::ALL.to_vec()
}

fn one() -> usize {
    1
}

impl EvalOptions {
    /// Whether `scorer` is run.
    pub fn runs(&self, scorer: Scorer) -> bool {
        self.scorers.contains(&scorer)
    }

    /// The classification tasks run, in table order.
    pub fn tasks(&self) -> Vec<Task> {
        self.scorers.iter().filter_map(|s| s.task()).collect()
    }
}

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions {
            sentences: super::generative::SENTENCES,
            non_activating: 0,
            seed: 0,
            scorers: all_scorers(),
            classifier: ClassifierConfig::default(),
            reseeds: 1,
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
    /// Delphi's detection, one run per reseed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detection: Option<ClassifierResult>,
    /// Delphi's fuzzing, one run per reseed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fuzzing: Option<ClassifierResult>,
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
    /// Activating and non-activating windows detection and fuzzing drew
    /// from (none seen by the explainer).
    #[serde(default)]
    pub test_pool: (usize, usize),
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
    let extra = if options.runs(Scorer::Predictive) {
        extra_non_activating(input, source, options.non_activating)
            .await
            .map_err(source_error)?
    } else {
        Vec::new()
    };
    let set = held_out_set(&input.holdout, &extra, input.feature_max);
    let threshold = success_threshold(&input.visible.top);
    let (samples, pool_size) = if options.tasks().is_empty() {
        (Vec::new(), (0, 0))
    } else {
        let pool = test_pool(input, source, &options.classifier)
            .await
            .map_err(source_error)?;
        let samples = (0..options.reseeds.max(1) as u64)
            .map(|r| pool.sample(&options.classifier, options.seed.wrapping_add(r)))
            .collect();
        (samples, (pool.activating.len(), pool.non_activating.len()))
    };
    let sentences = Sentences {
        source,
        judge,
        feature,
        threshold,
        options,
    };
    let scoring = Scoring {
        set: &set,
        samples: &samples,
        sentences: &sentences,
    };

    let mut control_spend = Spend::default();
    let control = match input
        .control
        .as_ref()
        .filter(|_| options.runs(Scorer::Generative))
    {
        Some(explanation) => sentences
            .score(explanation, &mut control_spend, options.seed ^ 0xC0)
            .await?
            .ok(),
        None => None,
    };
    let mut scored = Vec::with_capacity(input.candidates.len());
    for (k, candidate) in input.candidates.iter().enumerate() {
        let seed = options.seed.wrapping_add(k as u64 + 1);
        scored.push(scoring.candidate(candidate, seed).await?);
    }
    let baselines = Baseline::ALL
        .iter()
        .filter(|_| options.runs(Scorer::Predictive))
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
        test_pool: pool_size,
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

/// What every candidate of one feature is scored on.
struct Scoring<'a> {
    set: &'a [HeldOutText],
    samples: &'a [TestSample],
    sentences: &'a Sentences<'a>,
}

impl Scoring<'_> {
    /// Scores one candidate with every scorer asked for.
    async fn candidate(&self, candidate: &Candidate, seed: u64) -> Result<Scored, EvalError> {
        let options = self.sentences.options;
        let mut scored = Scored {
            explainer: candidate.explainer.clone(),
            explanation: None,
            explainer_spend: candidate.spend,
            judge_spend: Spend::default(),
            generative: None,
            predictive: None,
            detection: None,
            fuzzing: None,
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
        if options.runs(Scorer::Generative) {
            match self
                .sentences
                .score(explanation, &mut scored.judge_spend, seed)
                .await?
            {
                Ok(g) => scored.generative = Some(g),
                Err(why) => scored.missing.push(why),
            }
        }
        if options.runs(Scorer::Predictive) {
            scored.predictive = Some(self.predictive(explanation, &mut scored, seed).await);
        }
        for task in options.tasks() {
            let mut runs = Vec::with_capacity(self.samples.len());
            for sample in self.samples {
                let mut items = items_for(task, sample, &options.classifier);
                let reasons = judge_items(
                    self.sentences.judge,
                    explanation,
                    task,
                    &mut items,
                    options.classifier.per_prompt,
                    &mut scored.judge_spend,
                )
                .await;
                for reason in reasons {
                    note(&mut scored.missing, reason);
                }
                runs.push(ClassifierScore::of(task, sample.seed, items));
            }
            let result = Some(ClassifierResult::of(runs));
            match task {
                Task::Detection => scored.detection = result,
                Task::Fuzzing => scored.fuzzing = result,
            }
        }
        Ok(scored)
    }

    /// Predictive accuracy over the held-out set.
    async fn predictive(
        &self,
        explanation: &Explanation,
        scored: &mut Scored,
        seed: u64,
    ) -> PredictiveScore {
        let mut predictions = Vec::with_capacity(self.set.len());
        for text in self.set {
            match self
                .sentences
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
        predictive::score(self.set, &predictions, seed)
    }
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
    use crate::eval::fixtures::{candidate, explained, input, run};
    use crate::eval::judge::RuleJudge;
    use crate::eval::llm_judge::{LlmJudge, PredictMode};
    use crate::llm::{LlmClient, LlmError, LlmReply, LlmRequest, Usage};
    use crate::reasoner::heuristic::{Rule, TokenClass, TokenTest};

    #[test]
    fn the_true_rule_scores_near_the_top_and_a_wrong_one_near_the_floor() {
        let source = SyntheticSource::new();
        let truth = months();
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

    /// The true rule of the "months" feature.
    fn months() -> Explanation {
        explained(Rule::on(TokenTest::Class {
            class: TokenClass::Month,
        }))
    }

    fn delphi_only() -> EvalOptions {
        EvalOptions {
            scorers: vec![Scorer::Detection, Scorer::Fuzzing],
            ..EvalOptions::default()
        }
    }

    fn balanced(result: &Option<ClassifierResult>) -> f64 {
        let score = result.as_ref().unwrap().first().unwrap();
        score.balanced_accuracy.unwrap().estimate
    }

    #[test]
    fn detection_and_fuzzing_score_the_true_rule_near_one_and_others_at_chance() {
        let source = SyntheticSource::new();
        let truth = months();
        // The "animals" feature's explanation, scored on months.
        let other = explained(Rule::on(TokenTest::Class {
            class: TokenClass::Animal,
        }));
        let blank = Explanation {
            label: String::new(),
            description: String::new(),
            rule: None,
        };
        let input = input(
            &source,
            "months",
            vec![
                candidate("truth", truth),
                candidate("other", other),
                candidate("blank", blank),
            ],
        );
        let eval = run(evaluate_feature(
            &input,
            &source,
            &RuleJudge,
            &delphi_only(),
        ))
        .unwrap();
        // The small corpus leaves only the held-out months texts unseen.
        let (pool_on, pool_off) = eval.test_pool;
        assert_eq!(pool_on, input.holdout.examples.len());
        assert!(pool_off >= 50, "{:?}", eval.test_pool);
        let [t, o, b] = &eval.scored[..] else {
            panic!("three rows")
        };
        assert!(balanced(&t.detection) >= 0.95, "{:?}", t.detection);
        assert!(balanced(&t.fuzzing) >= 0.95, "{:?}", t.fuzzing);
        let auroc = t.detection.as_ref().unwrap().runs[0].auroc.unwrap();
        assert!(auroc >= 0.95, "{auroc}");
        for task in [&o.detection, &o.fuzzing] {
            assert!((0.4..=0.6).contains(&balanced(task)), "{task:?}");
        }
        // A blank explanation says no to everything: exactly chance.
        assert_eq!(balanced(&b.detection), 0.5);
        assert_eq!(balanced(&b.fuzzing), 0.5);
        assert_eq!(b.detection.as_ref().unwrap().runs[0].auroc, Some(0.5));
        // Every explainer saw the same examples, none of them visible to it.
        let shown = |s: &Scored| {
            s.detection.as_ref().unwrap().runs[0]
                .items
                .iter()
                .map(|i| i.shown.tokens.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(shown(t), shown(o));
        let visible = &input.visible;
        for tokens in shown(t) {
            assert!(
                !visible
                    .top
                    .iter()
                    .chain(&visible.non_activating)
                    .any(|e| e.record.tokens == tokens)
            );
        }
        // Scorers not asked for are not run, and not reported missing.
        assert!(t.generative.is_none() && t.predictive.is_none());
        assert!(eval.baselines.is_empty() && eval.control.is_none());
        assert!(
            t.missing.is_empty() && b.missing.is_empty(),
            "{:?}",
            b.missing
        );
    }

    /// The offline judge, failing every other classification call.
    struct FlakyJudge {
        calls: AtomicU32,
    }

    #[async_trait::async_trait]
    impl Judge for FlakyJudge {
        fn name(&self) -> String {
            "flaky".into()
        }

        async fn generate(
            &self,
            e: &Explanation,
            count: usize,
            spend: &mut Spend,
        ) -> Result<Vec<String>, crate::eval::JudgeError> {
            RuleJudge.generate(e, count, spend).await
        }

        async fn predict(
            &self,
            e: &Explanation,
            tokens: &[String],
            spend: &mut Spend,
        ) -> Result<Vec<f32>, crate::eval::JudgeError> {
            RuleJudge.predict(e, tokens, spend).await
        }

        async fn classify(
            &self,
            e: &Explanation,
            task: Task,
            shown: &[crate::eval::classify::Shown],
            spend: &mut Spend,
        ) -> Result<Vec<crate::eval::Verdict>, crate::eval::JudgeError> {
            if self.calls.fetch_add(1, Ordering::SeqCst) % 2 == 1 {
                return Err(crate::eval::JudgeError::Unparseable("garbled".into()));
            }
            RuleJudge.classify(e, task, shown, spend).await
        }
    }

    #[test]
    fn judge_failures_leave_examples_missing_never_wrong() {
        let source = SyntheticSource::new();
        let input = input(&source, "months", vec![candidate("truth", months())]);
        let options = EvalOptions {
            scorers: vec![Scorer::Detection],
            ..delphi_only()
        };
        let judge = FlakyJudge {
            calls: AtomicU32::new(0),
        };
        let eval = run(evaluate_feature(&input, &source, &judge, &options)).unwrap();
        let s = &eval.scored[0];
        let run0 = &s.detection.as_ref().unwrap().runs[0];
        let shown = run0.positives + run0.negatives;
        // Prompts of 5 in order: the 2nd, 4th, ... failed.
        let expected_missing: usize = (0..shown)
            .step_by(5)
            .enumerate()
            .filter(|(k, _)| k % 2 == 1)
            .map(|(_, start)| (shown - start).min(5))
            .sum();
        assert!(expected_missing > 0);
        assert_eq!(run0.missing, expected_missing);
        let c = run0.confusion;
        assert_eq!(c.tp + c.fp + c.tn + c.fn_, shown - expected_missing);
        assert!(run0.balanced_accuracy.unwrap().estimate >= 0.95, "{run0:?}");
        let missing = run0.items.iter().filter(|i| i.verdict.is_none()).count();
        assert_eq!(missing, expected_missing);
        assert_eq!(s.missing, ["detection: unparseable answer: garbled"]);
    }

    #[test]
    fn reseeds_draw_new_examples_and_report_their_spread() {
        let source = SyntheticSource::new();
        // A partial rule (two months of twelve): how well it does depends
        // on which months the draw holds.
        let partial = explained(Rule::on(TokenTest::one_of(["May", "June"])));
        let input = input(&source, "months", vec![candidate("partial", partial)]);
        let options = EvalOptions {
            scorers: vec![Scorer::Detection],
            reseeds: 3,
            classifier: ClassifierConfig {
                activating: 4,
                non_activating: 4,
                quantiles: 2,
                ..ClassifierConfig::default()
            },
            ..EvalOptions::default()
        };
        let eval = run(evaluate_feature(&input, &source, &RuleJudge, &options)).unwrap();
        let result = eval.scored[0].detection.as_ref().unwrap();
        let seeds: Vec<u64> = result.runs.iter().map(|r| r.seed).collect();
        assert_eq!(seeds, [0, 1, 2]);
        assert!(
            result
                .runs
                .iter()
                .all(|r| r.positives == 4 && r.negatives == 4)
        );
        // Only the base seed keeps its examples.
        assert_eq!(result.runs[0].items.len(), 8);
        assert!(result.runs[1..].iter().all(|r| r.items.is_empty()));
        let values: Vec<f64> = result
            .runs
            .iter()
            .map(|r| r.balanced_accuracy.unwrap().estimate)
            .collect();
        let spread = result.spread.unwrap();
        assert_eq!(spread.runs, 3);
        assert!((spread.mean - values.iter().sum::<f64>() / 3.0).abs() < 1e-12);
        assert_eq!(spread.min, values.iter().copied().fold(1.0, f64::min));
        assert_eq!(spread.max, values.iter().copied().fold(0.0, f64::max));
        assert!(spread.sd > 0.0, "the draws differ: {values:?}");
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
        let options = EvalOptions {
            scorers: vec![Scorer::Generative, Scorer::Predictive],
            ..EvalOptions::default()
        };
        let eval = run(evaluate_feature(&input, &source, &judge, &options)).unwrap();
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
