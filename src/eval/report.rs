//! The comparison table `sage eval` prints and writes: per feature and on
//! average, every explainer's generative and predictive accuracy with 95%
//! bootstrap intervals, the floors beside them, missing answers counted,
//! and the LLM calls and tokens each explainer and the judge spent.

use crate::escape::markdown as cell;
use std::fmt::Write;

use serde::{Deserialize, Serialize};

use super::feature::{EvalOptions, FeatureEvaluation, Scored};
use super::judge::Spend;
use super::predictive::Baseline;
use super::stats::{Interval, mean_interval};

/// The explainer name of SAGE's own conclusion.
pub const SAGE: &str = "sage";
/// The explainer name of the one-shot baseline.
pub const ONE_SHOT: &str = "one-shot";
/// The row name of the control sentences (written for another feature).
pub const CONTROL: &str = "control (other feature's sentences)";

/// One row of the average table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Average {
    /// Explainer, control or baseline name.
    pub name: String,
    /// Mean generative accuracy over the features that have one, with a
    /// bootstrap interval over features.
    pub generative: Option<Interval>,
    /// Features with a generative score.
    pub generative_features: usize,
    /// Mean Pearson r over the features that have one.
    pub predictive: Option<Interval>,
    /// Features with a predictive score.
    pub predictive_features: usize,
    /// Held-out texts left out as missing, over all features.
    pub missing_texts: usize,
    /// Features with no explanation or no generative score.
    pub missing_features: usize,
    /// LLM calls and tokens spent explaining, summed.
    pub explainer_spend: Spend,
    /// LLM calls and tokens spent judging, summed.
    pub judge_spend: Spend,
}

/// A feature that could not be evaluated, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailedFeature {
    /// Feature index.
    pub feature: u32,
    /// Why.
    pub reason: String,
}

/// Everything one `sage eval` run found: the JSON it writes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// Model identifier.
    pub model: String,
    /// SAE identifier.
    pub sae: String,
    /// Who judged (the same for every explainer).
    pub judge: String,
    /// The options, bootstrap seed included.
    pub options: EvalOptions,
    /// Averages over features: explainers, the control floor, baselines.
    pub averages: Vec<Average>,
    /// Per-feature results.
    pub features: Vec<FeatureEvaluation>,
    /// Features that could not be evaluated.
    pub failed: Vec<FailedFeature>,
}

impl EvalReport {
    /// Builds the report and its averages.
    pub fn new(
        model: String,
        sae: String,
        judge: String,
        options: EvalOptions,
        features: Vec<FeatureEvaluation>,
        failed: Vec<FailedFeature>,
    ) -> EvalReport {
        let mut names: Vec<String> = Vec::new();
        for f in &features {
            for s in &f.scored {
                if !names.contains(&s.explainer) {
                    names.push(s.explainer.clone());
                }
            }
        }
        let seed = options.seed;
        let mut averages: Vec<Average> = names
            .iter()
            .map(|name| {
                let rows: Vec<&Scored> = features
                    .iter()
                    .filter_map(|f| f.scored.iter().find(|s| &s.explainer == name))
                    .collect();
                explainer_average(name, &rows, seed)
            })
            .collect();
        let control: Vec<f64> = features
            .iter()
            .filter_map(|f| f.control.as_ref().map(|c| c.score.estimate))
            .collect();
        let mut control_spend = Spend::default();
        for f in &features {
            control_spend.add(&f.control_spend);
        }
        averages.push(Average {
            generative_features: control.len(),
            generative: mean_interval(&control, seed),
            judge_spend: control_spend,
            ..Average::empty(CONTROL)
        });
        for baseline in Baseline::ALL {
            let rs: Vec<f64> = features
                .iter()
                .flat_map(|f| &f.baselines)
                .filter(|b| b.baseline == baseline)
                .filter_map(|b| b.score.pearson.map(|r| r.estimate))
                .collect();
            averages.push(Average {
                predictive_features: rs.len(),
                predictive: mean_interval(&rs, seed),
                ..Average::empty(&format!("baseline: {}", baseline.name()))
            });
        }
        EvalReport {
            model,
            sae,
            judge,
            options,
            averages,
            features,
            failed,
        }
    }

    /// The report as Markdown: the average table, then one row per feature.
    pub fn to_markdown(&self) -> String {
        let mut s = String::new();
        let o = &self.options;
        let _ = writeln!(
            s,
            "# sage eval: {} · {}\n",
            cell(&self.model),
            cell(&self.sae)
        );
        let _ = writeln!(
            s,
            "Judge: {} · {} sentences per explanation · {} non-activating texts added · bootstrap seed {} (95% intervals, 1000 resamples)\n",
            cell(&self.judge),
            o.sentences,
            o.non_activating,
            o.seed
        );
        let _ = writeln!(s, "## Average over {} feature(s)\n", self.features.len());
        s.push_str(
            "| explainer | generative | features | predictive r | features | missing texts | missing features | explainer calls | explainer tokens | judge calls | judge tokens |\n\
             |---|---|---|---|---|---|---|---|---|---|---|\n",
        );
        for a in &self.averages {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                cell(&a.name),
                show(a.generative),
                a.generative_features,
                show(a.predictive),
                a.predictive_features,
                a.missing_texts,
                a.missing_features,
                a.explainer_spend.calls,
                a.explainer_spend.tokens,
                a.judge_spend.calls,
                a.judge_spend.tokens
            );
        }
        s.push_str("\n## Per feature\n\n| feature | explainer | label | generative | predictive r | missing | explainer calls / tokens |\n|---|---|---|---|---|---|---|\n");
        for f in &self.features {
            for row in &f.scored {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} | {} | {} | {} / {} |",
                    f.feature,
                    cell(&row.explainer),
                    cell(row.explanation.as_ref().map_or("", |e| e.label.as_str())),
                    show(row.generative.as_ref().map(|g| g.score)),
                    show(row.predictive.as_ref().and_then(|p| p.pearson)),
                    cell(&missing_summary(row)),
                    row.explainer_spend.calls,
                    row.explainer_spend.tokens
                );
            }
            let baselines: Vec<String> = f
                .baselines
                .iter()
                .map(|b| {
                    format!(
                        "{} {}",
                        b.baseline.name(),
                        b.score
                            .pearson
                            .map_or("n/a".to_string(), |r| format!("{:.2}", r.estimate))
                    )
                })
                .collect();
            let _ = writeln!(
                s,
                "| {} | floors | {} held-out text(s) | {} | {} | | |",
                f.feature,
                f.held_out_texts,
                f.control.as_ref().map_or("n/a".to_string(), |c| format!(
                    "control {:.2}",
                    c.score.estimate
                )),
                baselines.join(", ")
            );
        }
        if !self.failed.is_empty() {
            s.push_str("\n## Not evaluated\n\n");
            for f in &self.failed {
                let _ = writeln!(s, "- feature {}: {}", f.feature, cell(&f.reason));
            }
        }
        s
    }
}

impl Average {
    fn empty(name: &str) -> Average {
        Average {
            name: name.to_string(),
            generative: None,
            generative_features: 0,
            predictive: None,
            predictive_features: 0,
            missing_texts: 0,
            missing_features: 0,
            explainer_spend: Spend::default(),
            judge_spend: Spend::default(),
        }
    }
}

/// The average row of one explainer; missing scores are left out of the
/// means and counted.
fn explainer_average(name: &str, rows: &[&Scored], seed: u64) -> Average {
    let generative: Vec<f64> = rows
        .iter()
        .filter_map(|r| r.generative.as_ref().map(|g| g.score.estimate))
        .collect();
    let predictive: Vec<f64> = rows
        .iter()
        .filter_map(|r| r.predictive.as_ref()?.pearson.map(|p| p.estimate))
        .collect();
    let mut average = Average {
        generative: mean_interval(&generative, seed),
        generative_features: generative.len(),
        predictive: mean_interval(&predictive, seed),
        predictive_features: predictive.len(),
        missing_texts: rows
            .iter()
            .filter_map(|r| r.predictive.as_ref().map(|p| p.missing))
            .sum(),
        missing_features: rows.iter().filter(|r| r.generative.is_none()).count(),
        ..Average::empty(name)
    };
    for r in rows {
        average.explainer_spend.add(&r.explainer_spend);
        average.judge_spend.add(&r.judge_spend);
    }
    average
}

fn show(interval: Option<Interval>) -> String {
    interval.map_or("n/a".to_string(), |i| i.show())
}

fn missing_summary(row: &Scored) -> String {
    let texts = row.predictive.as_ref().map_or(0, |p| p.missing);
    match (texts, row.missing.first()) {
        (0, None) => String::new(),
        (0, Some(why)) => why.clone(),
        (n, Some(why)) => format!("{n} text(s); {why}"),
        (n, None) => format!("{n} text(s)"),
    }
}

/// A table cell: pipes escaped, line breaks flattened.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::generative::GenerativeScore;
    use crate::eval::predictive::PredictiveScore;

    fn point(v: f64) -> Interval {
        Interval {
            estimate: v,
            low: v,
            high: v,
        }
    }

    fn scored(explainer: &str, generative: Option<f64>, r: Option<f64>, missing: usize) -> Scored {
        Scored {
            explainer: explainer.into(),
            explanation: None,
            explainer_spend: Spend {
                calls: 1,
                tokens: 100,
                ..Spend::default()
            },
            judge_spend: Spend::default(),
            generative: generative.map(|g| GenerativeScore {
                requested: 10,
                threshold: 1.0,
                sentences: Vec::new(),
                score: point(g),
                seed: 0,
            }),
            predictive: Some(PredictiveScore {
                texts: 10,
                missing,
                tokens: 100,
                pearson: r.map(point),
                seed: 0,
            }),
            missing: Vec::new(),
        }
    }

    fn feature(feature: u32, rows: Vec<Scored>) -> FeatureEvaluation {
        FeatureEvaluation {
            feature,
            session_id: None,
            holdout_seed: 0,
            options: EvalOptions::default(),
            threshold: Some(1.0),
            held_out_texts: 10,
            control: None,
            control_spend: Spend::default(),
            scored: rows,
            baselines: Vec::new(),
        }
    }

    #[test]
    fn averages_leave_missing_scores_out_and_count_them() {
        let report = EvalReport::new(
            "m".into(),
            "s".into(),
            "j".into(),
            EvalOptions::default(),
            vec![
                feature(1, vec![scored(SAGE, Some(0.8), Some(0.6), 0)]),
                feature(2, vec![scored(SAGE, None, Some(0.2), 3)]),
                feature(3, vec![scored(SAGE, Some(0.4), None, 10)]),
            ],
            Vec::new(),
        );
        let sage = &report.averages[0];
        assert_eq!(sage.name, SAGE);
        let generative = sage.generative.unwrap();
        assert!((generative.estimate - 0.6).abs() < 1e-12, "{generative:?}");
        assert!((sage.predictive.unwrap().estimate - 0.4).abs() < 1e-12);
        assert_eq!((sage.generative_features, sage.predictive_features), (2, 2));
        assert_eq!((sage.missing_features, sage.missing_texts), (1, 13));
        assert_eq!(
            (sage.explainer_spend.calls, sage.explainer_spend.tokens),
            (3, 300)
        );
        let md = report.to_markdown();
        assert!(md.contains("| sage | 0.60 ["), "{md}");
        assert!(
            md.contains("| 3 | sage |  | 0.40 [0.40, 0.40] | n/a | 10 text(s) |"),
            "{md}"
        );
    }
}
