//! Explanations and scores in the shapes other interpretability tools
//! read, and Delphi's explanations read back, so sage's explainer, Delphi's
//! and Neuronpedia's can be scored side by side on the same features.
//! The shapes are documented in `docs/EVAL.md`.
//!
//! - Neuronpedia: one JSON array of explanation objects with the fields of
//!   Neuronpedia's explanation records (`modelId`, `layer` = the SAE id,
//!   `index`, `description`, `explanationModelName`, `typeName`) and a
//!   `scores` list; detection is written as `eleuther_recall` and fuzzing
//!   as `eleuther_fuzz`, the names Neuronpedia gives Delphi's scores.
//! - Delphi: a run folder per explainer with `explanations/` (one
//!   `{module}_latent{index}.txt` per feature holding the explanation as a
//!   JSON string) and `scores/detection/`, `scores/fuzz/` (a JSON list
//!   of per-example outputs: `str_tokens`, `activations`, `distance`,
//!   `activating`, `prediction`, `probability`, `correct`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::classify::{ClassifierScore, Task};
use super::explanation::Explanation;
use super::report::{EvalReport, result_of};
use crate::reasoner::heuristic::rule_from_words;

/// Why an export could not be written or an import read.
#[derive(Debug, thiserror::Error)]
pub enum InteropError {
    /// A file or folder could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// A Delphi explanation file holds neither a JSON string nor text.
    #[error("{path} is not a Delphi explanation (a JSON string): {reason}")]
    NotAnExplanation {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Two modules of a Delphi run explain the same latent.
    #[error(
        "{dir} holds explanations of latent {feature} for more than one module ({modules}); point --import-delphi at a folder with one module"
    )]
    AmbiguousModule {
        /// The explanations folder.
        dir: PathBuf,
        /// The latent.
        feature: u32,
        /// The module names found.
        modules: String,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> InteropError + '_ {
    move |source| InteropError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// One explanation as Neuronpedia's explanation records hold it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NeuronpediaExplanation {
    /// The model id (the source's model).
    pub model_id: String,
    /// The SAE id (Neuronpedia calls it the layer: `6-res-jb`).
    pub layer: String,
    /// The latent index, as a string as Neuronpedia writes it.
    pub index: String,
    /// The explanation text.
    pub description: String,
    /// Who explained: the explainer's LLM spec, or `heuristic`.
    pub explanation_model_name: String,
    /// The explanation method: `sage`, `sage_one-shot`, `delphi`, ….
    pub type_name: String,
    /// The scores sage gave it.
    pub scores: Vec<NeuronpediaScore>,
}

/// One score of an explanation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NeuronpediaScore {
    /// `eleuther_recall` (detection), `eleuther_fuzz` (fuzzing),
    /// `sage_generative`, `sage_predictive`.
    pub explanation_score_type_name: String,
    /// Who judged.
    pub explanation_score_model_name: String,
    /// The score (balanced accuracy, fraction or Pearson r).
    pub value: f64,
}

/// Neuronpedia's name for a Delphi score.
pub fn neuronpedia_score_name(task: Task) -> &'static str {
    match task {
        Task::Detection => "eleuther_recall",
        Task::Fuzzing => "eleuther_fuzz",
    }
}

/// Every scored explanation of the report in Neuronpedia's shape.
pub fn to_neuronpedia(report: &EvalReport) -> Vec<NeuronpediaExplanation> {
    let mut out = Vec::new();
    for f in &report.features {
        for row in &f.scored {
            let Some(explanation) = &row.explanation else {
                continue;
            };
            let score = |name: &str, value: Option<f64>| {
                value.map(|value| NeuronpediaScore {
                    explanation_score_type_name: name.to_string(),
                    explanation_score_model_name: report.judge.clone(),
                    value,
                })
            };
            let mut scores: Vec<NeuronpediaScore> = [Task::Detection, Task::Fuzzing]
                .into_iter()
                .filter_map(|task| {
                    let first = result_of(row, task)?.first()?;
                    score(
                        neuronpedia_score_name(task),
                        first.balanced_accuracy.map(|b| b.estimate),
                    )
                })
                .collect();
            scores.extend(score(
                "sage_generative",
                row.generative.as_ref().map(|g| g.score.estimate),
            ));
            scores.extend(score(
                "sage_predictive",
                row.predictive
                    .as_ref()
                    .and_then(|p| p.pearson)
                    .map(|r| r.estimate),
            ));
            out.push(NeuronpediaExplanation {
                model_id: report.model.clone(),
                layer: report.sae.clone(),
                index: f.feature.to_string(),
                description: explanation.text(),
                explanation_model_name: explainer_model(report, &row.explainer),
                type_name: type_name(&row.explainer),
                scores,
            });
        }
    }
    out
}

/// The model behind an explainer row: the `--llm` spec for sage and the
/// one-shot baseline, the explainer's own name otherwise.
fn explainer_model(report: &EvalReport, explainer: &str) -> String {
    if explainer == super::report::SAGE || explainer == super::report::ONE_SHOT {
        report.explainer.clone()
    } else {
        explainer.to_string()
    }
}

fn type_name(explainer: &str) -> String {
    if explainer == super::report::SAGE {
        "sage".to_string()
    } else {
        format!("sage_{explainer}")
    }
}

/// Writes `neuronpedia-explanations.json` into `out`; returns its path.
pub fn write_neuronpedia(report: &EvalReport, out: &Path) -> Result<PathBuf, InteropError> {
    let path = out.join("neuronpedia-explanations.json");
    let body = serde_json::to_string_pretty(&to_neuronpedia(report)).unwrap_or_default() + "\n";
    std::fs::write(&path, body).map_err(io(&path))?;
    Ok(path)
}

/// One example of a Delphi score file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DelphiOutput {
    /// The example's tokens.
    pub str_tokens: Vec<String>,
    /// Its true activations.
    pub activations: Vec<f32>,
    /// Its activation quantile (0 = strongest); -1 for a non-activating one.
    pub distance: i64,
    /// Whether it is a positive (activating; fuzzing: correctly highlighted).
    pub activating: bool,
    /// The judge's answer; `null` when missing.
    pub prediction: Option<bool>,
    /// The judge's probability, where it gave one.
    pub probability: Option<f64>,
    /// Whether the answer was right; `null` when missing.
    pub correct: Option<bool>,
}

/// A score's examples as Delphi's per-example outputs.
pub fn delphi_outputs(score: &ClassifierScore) -> Vec<DelphiOutput> {
    score
        .items
        .iter()
        .map(|item| DelphiOutput {
            str_tokens: item.shown.tokens.clone(),
            activations: item.activations.clone(),
            distance: item.quantile.map_or(-1, |q| q as i64),
            activating: item.truth,
            prediction: item.verdict.map(|v| v.yes),
            probability: item.verdict.and_then(|v| v.probability),
            correct: item.verdict.map(|v| v.yes == item.truth),
        })
        .collect()
}

/// Delphi's name for a scorer (its `scores/` subfolder).
pub fn delphi_scorer(task: Task) -> &'static str {
    match task {
        Task::Detection => "detection",
        Task::Fuzzing => "fuzz",
    }
}

/// The module part of Delphi file names: the SAE id with path separators
/// replaced.
pub fn delphi_module(report: &EvalReport) -> String {
    report
        .sae
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Writes one Delphi run folder per explainer under `out/delphi/`:
/// explanations and the base seed's detection and fuzzing scores. Returns
/// the run folders.
pub fn write_delphi(report: &EvalReport, out: &Path) -> Result<Vec<PathBuf>, InteropError> {
    let module = delphi_module(report);
    let mut runs: Vec<PathBuf> = Vec::new();
    for f in &report.features {
        for row in &f.scored {
            let Some(explanation) = &row.explanation else {
                continue;
            };
            let run = out.join("delphi").join(&row.explainer);
            let name = format!("{module}_latent{}.txt", f.feature);
            let dir = run.join("explanations");
            std::fs::create_dir_all(&dir).map_err(io(&dir))?;
            let path = dir.join(&name);
            let text = serde_json::to_string(&explanation.text()).unwrap_or_default();
            std::fs::write(&path, text).map_err(io(&path))?;
            for task in [Task::Detection, Task::Fuzzing] {
                let Some(first) = result_of(row, task).and_then(|r| r.first()) else {
                    continue;
                };
                let dir = run.join("scores").join(delphi_scorer(task));
                std::fs::create_dir_all(&dir).map_err(io(&dir))?;
                let path = dir.join(&name);
                let body = serde_json::to_string(&delphi_outputs(first)).unwrap_or_default();
                std::fs::write(&path, body).map_err(io(&path))?;
            }
            if !runs.contains(&run) {
                runs.push(run);
            }
        }
    }
    Ok(runs)
}

/// Reads Delphi's explanations for `features` from a run folder (or its
/// `explanations/` folder): the file `{module}_latent{index}.txt` of each
/// latent, a JSON string (plain text is taken as is). The words become the
/// label and the description; the offline judge gets the rule the words
/// state in quotes (`"May", "June"`), when they do. Latents without a file
/// are left out.
pub fn read_delphi(
    dir: &Path,
    features: &[u32],
) -> Result<BTreeMap<u32, Explanation>, InteropError> {
    let nested = dir.join("explanations");
    let dir = if nested.is_dir() {
        nested
    } else {
        dir.to_path_buf()
    };
    let mut found: BTreeMap<u32, Vec<(String, PathBuf)>> = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).map_err(io(&dir))? {
        let path = entry.map_err(io(&dir))?.path();
        let Some(stem) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".txt"))
        else {
            continue;
        };
        let Some((module, index)) = stem.rsplit_once("_latent") else {
            continue;
        };
        if let Ok(feature) = index.parse::<u32>()
            && features.contains(&feature)
        {
            found
                .entry(feature)
                .or_default()
                .push((module.to_string(), path));
        }
    }
    let mut out = BTreeMap::new();
    for (feature, files) in found {
        if files.len() > 1 {
            let mut modules: Vec<String> = files.into_iter().map(|(m, _)| m).collect();
            modules.sort();
            return Err(InteropError::AmbiguousModule {
                dir,
                feature,
                modules: modules.join(", "),
            });
        }
        let path = &files[0].1;
        let raw = std::fs::read_to_string(path).map_err(io(path))?;
        let text = match serde_json::from_str::<serde_json::Value>(&raw) {
            Ok(serde_json::Value::String(s)) => s,
            Ok(other) => {
                return Err(InteropError::NotAnExplanation {
                    path: path.clone(),
                    reason: format!("found {other}"),
                });
            }
            Err(_) => raw.trim().to_string(),
        };
        out.insert(
            feature,
            Explanation {
                label: text.clone(),
                description: text.clone(),
                rule: rule_from_words(&text).map(|r| r.to_json()),
            },
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activation::synthetic::SyntheticSource;
    use crate::eval::feature::{EvalOptions, Scorer, evaluate_feature};
    use crate::eval::fixtures::{candidate, explained, input, run};
    use crate::eval::judge::{Judge, RuleJudge};
    use crate::eval::report::SAGE;
    use crate::reasoner::heuristic::{Rule, TokenTest};

    /// A report scoring a quoted-token explanation of "months" with every
    /// scorer, offline.
    fn report() -> EvalReport {
        let source = SyntheticSource::new();
        let rule = Rule::on(TokenTest::one_of(["May", "June", "March", "April"]));
        let input = input(&source, "months", vec![candidate(SAGE, explained(rule))]);
        let eval = run(evaluate_feature(
            &input,
            &source,
            &RuleJudge,
            &EvalOptions::default(),
        ))
        .unwrap();
        let mut report = EvalReport::new(
            "synthetic".into(),
            "synthetic-rules".into(),
            RuleJudge.name(),
            EvalOptions::default(),
            vec![eval],
            Vec::new(),
        );
        report.explainer = "heuristic".into();
        report
    }

    #[test]
    fn delphi_export_reads_back_as_the_same_explanations_and_scores() {
        let report = report();
        let feature = report.features[0].feature;
        let dir = tempfile::tempdir().unwrap();
        let runs = write_delphi(&report, dir.path()).unwrap();
        assert_eq!(runs, [dir.path().join("delphi").join(SAGE)]);
        let name = format!("synthetic-rules_latent{feature}.txt");
        let stored = std::fs::read_to_string(runs[0].join("explanations").join(&name)).unwrap();
        let original = report.features[0].scored[0].explanation.clone().unwrap();
        // Delphi stores the explanation as a JSON string.
        assert_eq!(stored, serde_json::to_string(&original.text()).unwrap());

        let back = read_delphi(&runs[0], &[feature, feature + 1]).unwrap();
        assert_eq!(back.len(), 1, "only the latent with a file");
        let imported = &back[&feature];
        assert_eq!(imported.text(), original.text());
        let rule = Rule::from_json(imported.rule.as_ref().unwrap()).unwrap();
        assert_eq!(
            rule.target,
            TokenTest::one_of(["May", "June", "March", "April"])
        );

        // Each score file holds every example shown, and its verdicts give
        // back the report's balanced accuracy.
        for (task, folder) in [(Task::Detection, "detection"), (Task::Fuzzing, "fuzz")] {
            let path = runs[0].join("scores").join(folder).join(&name);
            let rows: Vec<DelphiOutput> =
                serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
            let first = result_of(&report.features[0].scored[0], task)
                .unwrap()
                .first()
                .unwrap();
            assert_eq!(rows.len(), first.positives + first.negatives);
            let rate = |positive: bool| {
                let class: Vec<&DelphiOutput> =
                    rows.iter().filter(|r| r.activating == positive).collect();
                let right = class.iter().filter(|r| r.correct == Some(true)).count();
                right as f64 / class.len() as f64
            };
            let balanced = (rate(true) + rate(false)) / 2.0;
            let expected = first.balanced_accuracy.unwrap().estimate;
            assert!((balanced - expected).abs() < 1e-12, "{task:?}");
            assert!(rows.iter().all(|r| (r.distance == -1) != r.activating));
        }
    }

    #[test]
    fn an_imported_explanation_scores_as_the_original_did() {
        let report = report();
        let feature = report.features[0].feature;
        let dir = tempfile::tempdir().unwrap();
        let runs = write_delphi(&report, dir.path()).unwrap();
        let imported = read_delphi(&runs[0], &[feature]).unwrap()[&feature].clone();
        let source = SyntheticSource::new();
        let input = input(&source, "months", vec![candidate("delphi", imported)]);
        let options = EvalOptions {
            scorers: vec![Scorer::Detection, Scorer::Fuzzing],
            ..EvalOptions::default()
        };
        let again = run(evaluate_feature(&input, &source, &RuleJudge, &options)).unwrap();
        let before = &report.features[0].scored[0];
        let after = &again.scored[0];
        for task in [Task::Detection, Task::Fuzzing] {
            let score = |row| {
                result_of(row, task)
                    .unwrap()
                    .first()
                    .unwrap()
                    .balanced_accuracy
            };
            assert_eq!(score(before), score(after), "{task:?}");
        }
    }

    #[test]
    fn neuronpedia_export_has_its_field_names_and_reads_back() {
        let report = report();
        let rows = to_neuronpedia(&report);
        let json = serde_json::to_value(&rows).unwrap();
        let row = &json[0];
        assert_eq!(row["modelId"], "synthetic");
        assert_eq!(row["layer"], "synthetic-rules");
        assert_eq!(row["index"], report.features[0].feature.to_string());
        assert_eq!(row["explanationModelName"], "heuristic");
        assert_eq!(row["typeName"], "sage");
        let names: Vec<&str> = row["scores"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["explanationScoreTypeName"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "eleuther_recall",
                "eleuther_fuzz",
                "sage_generative",
                "sage_predictive"
            ]
        );
        let detection = result_of(&report.features[0].scored[0], Task::Detection)
            .unwrap()
            .first()
            .unwrap();
        assert_eq!(
            row["scores"][0]["value"].as_f64(),
            detection.balanced_accuracy.map(|b| b.estimate)
        );
        let back: Vec<NeuronpediaExplanation> = serde_json::from_value(json).unwrap();
        assert_eq!(back, rows);
        let dir = tempfile::tempdir().unwrap();
        let path = write_neuronpedia(&report, dir.path()).unwrap();
        let written: Vec<NeuronpediaExplanation> =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        assert_eq!(written, rows);
    }

    #[test]
    fn delphi_import_takes_plain_text_and_refuses_what_it_cannot_read() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("layers.6_latent3.txt"), "fires on \"cat\"\n").unwrap();
        std::fs::write(d.join("layers.6_latent4.txt"), "[1, 2]").unwrap();
        std::fs::write(d.join("notes.txt"), "not an explanation").unwrap();
        let got = read_delphi(d, &[3]).unwrap();
        assert_eq!(got[&3].text(), "fires on \"cat\"");
        assert!(got[&3].rule.is_some());
        let err = read_delphi(d, &[4]).unwrap_err();
        assert!(
            err.to_string().contains("not a Delphi explanation"),
            "{err}"
        );
        std::fs::write(d.join("layers.7_latent3.txt"), "\"other\"").unwrap();
        let err = read_delphi(d, &[3]).unwrap_err();
        assert!(err.to_string().contains("layers.6, layers.7"), "{err}");
        let err = read_delphi(&d.join("missing"), &[3]).unwrap_err();
        assert!(matches!(err, InteropError::Io { .. }), "{err}");
    }
}
