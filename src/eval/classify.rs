//! Delphi's two classification scores, so sage's numbers sit beside the
//! ones the field compares explainers by (EleutherAI Delphi; Neuronpedia's
//! `eleuther_recall` and `eleuther_fuzz`):
//!
//! - **detection**: the judge reads the explanation and a shuffled mix of
//!   held-out activating and non-activating windows and says which
//!   activate. Balanced accuracy, F1, and AUROC when the judge gives a
//!   probability for every answer.
//! - **fuzzing** (Delphi's default `fuzz_type`): activating windows with
//!   their firing tokens highlighted (at least 0.3 of the window's max),
//!   mixed with non-activating windows with `n_incorrect` tokens
//!   highlighted at random, `n_incorrect` being the mean number of nonzero
//!   activations per activating window, rounded up; the judge says which
//!   are highlighted correctly. Balanced accuracy.
//!
//! A batch the judge failed on (or answered with the wrong number of
//! verdicts) leaves its examples missing: counted, never scored as wrong.

use serde::{Deserialize, Serialize};

use super::explanation::Explanation;
use super::judge::{Judge, Spend};
use super::sampling::{ClassifierConfig, TestSample};
use super::stats::{BOOTSTRAP_RESAMPLES, Interval, bootstrap};
use crate::rng::SplitMix64;

/// Which classification the judge is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    /// Does the feature fire in this text?
    Detection,
    /// Are this text's highlighted tokens the ones the feature fires on?
    Fuzzing,
}

impl Task {
    /// Its name in tables and file paths.
    pub fn name(self) -> &'static str {
        match self {
            Task::Detection => "detection",
            Task::Fuzzing => "fuzzing",
        }
    }
}

/// One text as the judge sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shown {
    /// Its tokens.
    pub tokens: Vec<String>,
    /// Fuzzing: which tokens are highlighted (aligned with `tokens`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub highlights: Option<Vec<bool>>,
}

/// A judge's answer about one text.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// It says yes (fires / correctly highlighted).
    pub yes: bool,
    /// Its probability of yes, when it gives one.
    pub probability: Option<f64>,
}

/// One scored example.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    /// What the judge saw.
    pub shown: Shown,
    /// True activations (for exports).
    pub activations: Vec<f32>,
    /// The right answer: activating (detection) / correctly highlighted (fuzzing).
    pub truth: bool,
    /// Activation quantile it was drawn from (0 = strongest); `None` for a
    /// non-activating window.
    pub quantile: Option<usize>,
    /// The judge's verdict; `None` when missing.
    pub verdict: Option<Verdict>,
}

/// Counts of answered examples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Confusion {
    /// Positive said yes.
    pub tp: usize,
    /// Negative said yes.
    pub fp: usize,
    /// Negative said no.
    pub tn: usize,
    /// Positive said no.
    pub fn_: usize,
}

impl Confusion {
    /// Tallies answered items; missing ones are skipped.
    pub fn of<'a>(items: impl IntoIterator<Item = &'a Item>) -> Confusion {
        let mut c = Confusion::default();
        for item in items {
            let Some(v) = item.verdict else { continue };
            match (item.truth, v.yes) {
                (true, true) => c.tp += 1,
                (false, true) => c.fp += 1,
                (false, false) => c.tn += 1,
                (true, false) => c.fn_ += 1,
            }
        }
        c
    }

    /// (TPR + TNR) / 2; `None` unless both classes were answered.
    pub fn balanced_accuracy(&self) -> Option<f64> {
        let (p, n) = (self.tp + self.fn_, self.tn + self.fp);
        (p > 0 && n > 0).then(|| (self.tp as f64 / p as f64 + self.tn as f64 / n as f64) / 2.0)
    }

    /// 2TP / (2TP + FP + FN); `None` when there is neither a positive nor a
    /// yes.
    pub fn f1(&self) -> Option<f64> {
        let denominator = 2 * self.tp + self.fp + self.fn_;
        (denominator > 0).then(|| 2.0 * self.tp as f64 / denominator as f64)
    }
}

/// Area under the ROC curve of the judge's probabilities: the chance a
/// random positive gets a higher probability than a random negative (ties
/// count half). `None` unless every answered item has a probability and
/// both classes were answered.
pub fn auroc(items: &[Item]) -> Option<f64> {
    let mut positives = Vec::new();
    let mut negatives = Vec::new();
    for item in items {
        let Some(v) = item.verdict else { continue };
        let p = v.probability?;
        if item.truth {
            positives.push(p);
        } else {
            negatives.push(p);
        }
    }
    if positives.is_empty() || negatives.is_empty() {
        return None;
    }
    let mut wins = 0.0;
    for p in &positives {
        for n in &negatives {
            wins += if p > n {
                1.0
            } else if p == n {
                0.5
            } else {
                0.0
            };
        }
    }
    Some(wins / (positives.len() * negatives.len()) as f64)
}

/// One explanation's score on one sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassifierScore {
    /// Detection or fuzzing.
    pub task: Task,
    /// The sample's seed (also the bootstrap's).
    pub seed: u64,
    /// Positive examples shown.
    pub positives: usize,
    /// Negative examples shown.
    pub negatives: usize,
    /// Examples without a verdict (failed or unusable judge answers).
    pub missing: usize,
    /// Answered examples by outcome.
    pub confusion: Confusion,
    /// Balanced accuracy with a bootstrap interval over answered examples.
    pub balanced_accuracy: Option<Interval>,
    /// F1 of the yes answers.
    pub f1: Option<f64>,
    /// AUROC of the judge's probabilities, where it gave them.
    pub auroc: Option<f64>,
    /// Every example in the order shown (kept for the base seed only: the
    /// other seeds' runs keep their numbers, so reports stay small).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<Item>,
}

impl ClassifierScore {
    /// The score of judged items.
    pub fn of(task: Task, seed: u64, items: Vec<Item>) -> ClassifierScore {
        let answered: Vec<&Item> = items.iter().filter(|i| i.verdict.is_some()).collect();
        ClassifierScore {
            task,
            seed,
            positives: items.iter().filter(|i| i.truth).count(),
            negatives: items.iter().filter(|i| !i.truth).count(),
            missing: items.len() - answered.len(),
            confusion: Confusion::of(answered.iter().copied()),
            balanced_accuracy: bootstrap(
                &answered,
                |s| Confusion::of(s.iter().map(|i| **i)).balanced_accuracy(),
                BOOTSTRAP_RESAMPLES,
                seed,
            ),
            f1: Confusion::of(answered.iter().copied()).f1(),
            auroc: auroc(&items),
            items,
        }
    }
}

/// The examples of one task for one sample, shuffled with the sample's
/// seed (so every explainer of the feature sees the same order).
pub fn items_for(task: Task, sample: &TestSample, config: &ClassifierConfig) -> Vec<Item> {
    let mut rng = SplitMix64::new(sample.seed ^ 0xF022);
    let mut items: Vec<Item> = Vec::new();
    let nonzero: usize = sample
        .activating
        .iter()
        .map(|(_, e)| e.record.values.iter().filter(|v| **v != 0.0).count())
        .sum();
    let n_incorrect = nonzero.div_ceil(sample.activating.len().max(1)).max(1);
    for (quantile, e) in &sample.activating {
        let r = &e.record;
        let highlights = (task == Task::Fuzzing).then(|| {
            let bar = config.highlight_fraction * r.max_value;
            r.values.iter().map(|&v| v > 0.0 && v >= bar).collect()
        });
        items.push(Item {
            shown: Shown {
                tokens: r.tokens.clone(),
                highlights,
            },
            activations: r.values.clone(),
            truth: true,
            quantile: Some(*quantile),
            verdict: None,
        });
    }
    for e in &sample.non_activating {
        let r = &e.record;
        let highlights =
            (task == Task::Fuzzing).then(|| random_marks(r.tokens.len(), n_incorrect, &mut rng));
        items.push(Item {
            shown: Shown {
                tokens: r.tokens.clone(),
                highlights,
            },
            activations: r.values.clone(),
            truth: false,
            quantile: None,
            verdict: None,
        });
    }
    for i in (1..items.len()).rev() {
        items.swap(i, rng.below(i + 1));
    }
    items
}

/// `count` distinct positions out of `len` marked at random.
fn random_marks(len: usize, count: usize, rng: &mut SplitMix64) -> Vec<bool> {
    let mut marks = vec![false; len];
    let mut order: Vec<usize> = (0..len).collect();
    for k in 0..count.min(len) {
        let j = k + rng.below(len - k);
        order.swap(k, j);
        marks[order[k]] = true;
    }
    marks
}

/// Asks `judge` about `items` in prompts of `per_prompt` and fills in the
/// verdicts; a failed prompt leaves its items missing and returns why.
pub async fn judge_items(
    judge: &dyn Judge,
    explanation: &Explanation,
    task: Task,
    items: &mut [Item],
    per_prompt: usize,
    spend: &mut Spend,
) -> Vec<String> {
    let mut reasons: Vec<String> = Vec::new();
    for chunk in items.chunks_mut(per_prompt.max(1)) {
        let shown: Vec<Shown> = chunk.iter().map(|i| i.shown.clone()).collect();
        let reason = match judge.classify(explanation, task, &shown, spend).await {
            Ok(verdicts) if verdicts.len() == chunk.len() => {
                for (item, v) in chunk.iter_mut().zip(verdicts) {
                    item.verdict = Some(v);
                }
                continue;
            }
            Ok(verdicts) => format!(
                "{}: {} verdicts for {} examples",
                task.name(),
                verdicts.len(),
                chunk.len()
            ),
            Err(e) => format!("{}: {e}", task.name()),
        };
        if !reasons.contains(&reason) {
            reasons.push(reason);
        }
    }
    reasons
}

/// A score's balanced accuracy across reseeds: mean, sample standard
/// deviation, range.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    /// Seeds with a defined score.
    pub runs: usize,
    /// Their mean.
    pub mean: f64,
    /// Their sample standard deviation (0 for one run).
    pub sd: f64,
    /// The lowest.
    pub min: f64,
    /// The highest.
    pub max: f64,
}

impl Spread {
    /// The spread of `values`; `None` when empty.
    pub fn of(values: &[f64]) -> Option<Spread> {
        let n = values.len();
        let mean = super::stats::mean(values)?;
        let sd = if n > 1 {
            (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
        } else {
            0.0
        };
        Some(Spread {
            runs: n,
            mean,
            sd,
            min: values.iter().copied().fold(f64::INFINITY, f64::min),
            max: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        })
    }

    /// `±0.03 (0.58–0.64, 5 seeds)`.
    pub fn show(&self) -> String {
        format!(
            "±{:.2} ({:.2}–{:.2}, {} seeds)",
            self.sd, self.min, self.max, self.runs
        )
    }
}

/// One explanation's score on every reseed of a task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassifierResult {
    /// One score per sample seed, the base seed first.
    pub runs: Vec<ClassifierScore>,
    /// Balanced accuracy across the runs; `None` with a single seed.
    pub spread: Option<Spread>,
}

impl ClassifierResult {
    /// The runs and their spread; the examples of all runs but the first
    /// are dropped.
    pub fn of(mut runs: Vec<ClassifierScore>) -> ClassifierResult {
        for run in runs.iter_mut().skip(1) {
            run.items = Vec::new();
        }
        let values: Vec<f64> = runs
            .iter()
            .filter_map(|r| r.balanced_accuracy.map(|b| b.estimate))
            .collect();
        ClassifierResult {
            spread: (runs.len() > 1).then(|| Spread::of(&values)).flatten(),
            runs,
        }
    }

    /// The base seed's score.
    pub fn first(&self) -> Option<&ClassifierScore> {
        self.runs.first()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(truth: bool, verdict: Option<(bool, Option<f64>)>) -> Item {
        Item {
            shown: Shown {
                tokens: vec!["t".into()],
                highlights: None,
            },
            activations: vec![0.0],
            truth,
            quantile: None,
            verdict: verdict.map(|(yes, probability)| Verdict { yes, probability }),
        }
    }

    #[test]
    fn balanced_accuracy_and_f1_by_hand() {
        // 4 positives: 3 said yes, 1 no; 4 negatives: 2 yes, 2 no; one
        // positive and one negative missing.
        let items = vec![
            item(true, Some((true, None))),
            item(true, Some((true, None))),
            item(true, Some((true, None))),
            item(true, Some((false, None))),
            item(true, None),
            item(false, Some((true, None))),
            item(false, Some((true, None))),
            item(false, Some((false, None))),
            item(false, Some((false, None))),
            item(false, None),
        ];
        let s = ClassifierScore::of(Task::Detection, 1, items);
        assert_eq!((s.positives, s.negatives, s.missing), (5, 5, 2));
        assert_eq!(
            s.confusion,
            Confusion {
                tp: 3,
                fp: 2,
                tn: 2,
                fn_: 1
            }
        );
        // TPR 3/4, TNR 2/4: (0.75 + 0.5) / 2 = 0.625; missing are not wrong
        // (scoring them as "no" would give (3/5 + 3/5)/2 = 0.6).
        assert!((s.balanced_accuracy.unwrap().estimate - 0.625).abs() < 1e-12);
        // F1 = 6 / (6 + 2 + 1) = 2/3.
        assert!((s.f1.unwrap() - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(s.auroc, None, "no probabilities given");
    }

    #[test]
    fn balanced_accuracy_ignores_class_imbalance() {
        // 9 positives all yes, 1 negative said yes: plain accuracy 0.9,
        // balanced (1 + 0) / 2 = 0.5.
        let mut items: Vec<Item> = (0..9).map(|_| item(true, Some((true, None)))).collect();
        items.push(item(false, Some((true, None))));
        let c = Confusion::of(&items);
        assert_eq!(c.balanced_accuracy(), Some(0.5));
        // One class only: undefined, not 0 or 1.
        assert_eq!(Confusion::of(&items[..9]).balanced_accuracy(), None);
        assert_eq!(Confusion::default().f1(), None);
    }

    #[test]
    fn auroc_by_hand_with_a_tie() {
        // Positives 0.9, 0.4; negatives 0.4, 0.1. Pairs: (0.9,0.4) 1,
        // (0.9,0.1) 1, (0.4,0.4) 0.5, (0.4,0.1) 1: 3.5 / 4 = 0.875.
        let items = vec![
            item(true, Some((true, Some(0.9)))),
            item(true, Some((false, Some(0.4)))),
            item(false, Some((false, Some(0.4)))),
            item(false, Some((false, Some(0.1)))),
            item(false, None),
        ];
        assert_eq!(auroc(&items), Some(0.875));
        let mut partial = items.clone();
        partial[0].verdict = Some(Verdict {
            yes: true,
            probability: None,
        });
        assert_eq!(auroc(&partial), None);
    }

    fn sample() -> TestSample {
        use crate::eval::fixtures::exemplar;
        TestSample {
            seed: 4,
            activating: vec![
                (0, exemplar(&["a", "b", "c", "d"], &[0.0, 1.0, 5.0, 10.0])),
                (1, exemplar(&["x", "y"], &[4.0, 0.0])),
            ],
            non_activating: vec![exemplar(&["p", "q", "r"], &[0.0, 0.0, 0.0])],
        }
    }

    #[test]
    fn fuzzing_highlights_by_hand() {
        let items = items_for(Task::Fuzzing, &sample(), &ClassifierConfig::default());
        assert_eq!(items.len(), 3);
        let find = |first: &str| items.iter().find(|i| i.shown.tokens[0] == first).unwrap();
        // Bar 0.3 x 10 = 3: "c" (5) and "d" (10) are marked, "b" (1) is not.
        let a = find("a");
        assert_eq!(
            a.shown.highlights.as_deref(),
            Some(&[false, false, true, true][..])
        );
        assert_eq!((a.truth, a.quantile), (true, Some(0)));
        // Bar 0.3 x 4 = 1.2: only "x".
        assert_eq!(
            find("x").shown.highlights.as_deref(),
            Some(&[true, false][..])
        );
        // n_incorrect = ceil((3 + 1) nonzero / 2 windows) = 2 random marks.
        let p = find("p");
        let marks = p.shown.highlights.as_ref().unwrap();
        assert_eq!(marks.iter().filter(|m| **m).count(), 2);
        assert_eq!((p.truth, p.quantile), (false, None));
        // The same seed shows the same order; detection shows no marks.
        assert_eq!(
            items,
            items_for(Task::Fuzzing, &sample(), &ClassifierConfig::default())
        );
        let detection = items_for(Task::Detection, &sample(), &ClassifierConfig::default());
        assert!(detection.iter().all(|i| i.shown.highlights.is_none()));
        let truths = detection.iter().filter(|i| i.truth).count();
        assert_eq!(truths, 2);
    }

    #[test]
    fn spread_by_hand() {
        // 0.5, 0.7, 0.6: mean 0.6, sd sqrt((0.01 + 0.01 + 0) / 2) = 0.1.
        let s = Spread::of(&[0.5, 0.7, 0.6]).unwrap();
        assert!((s.mean - 0.6).abs() < 1e-12 && (s.sd - 0.1).abs() < 1e-12);
        assert_eq!((s.min, s.max, s.runs), (0.5, 0.7, 3));
        assert_eq!(Spread::of(&[]), None);
    }
}
