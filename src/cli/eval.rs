//! `sage eval`: explain features (or reuse finished explanations), score
//! SAGE's explanations, a one-shot baseline and any imported Delphi
//! explanations with the same judge on the same held-out sets, and write
//! the comparison as JSON, Markdown and SVG (plus Neuronpedia and Delphi
//! exports on request). Each feature's scores are also appended to its
//! session's log.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use futures::StreamExt;
use sage::activation::ActivationSource;
use sage::config::Paths;
use sage::escape::terminal;
use sage::eval::from_session::{feature_input, load_state, sage_candidate};
use sage::eval::{
    Candidate, ClassifierConfig, DELPHI, EvalOptions, EvalReport, Explanation, FailedFeature,
    FeatureEvaluation, Judge, LlmJudge, ONE_SHOT, PredictMode, RuleJudge, Scorer, Spend,
    append_to_session, evaluate_feature, evaluation_of, interop, one_shot, plot,
};
use sage::llm::LlmClient;
use sage::reasoner::one_line_reason;
use sage::report::Report;
use sage::session::{SessionStore, now_ms};

use super::explain::{
    ExplainArgs, explain_with, failure_summary, parse_features, refuse_attended_gate, source_choice,
};
use super::instruments::{activation_source_for, llm_client};
use super::{PartialFailure, usage_error};

/// Arguments of `sage eval`: those of `sage explain`, plus how to judge.
#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    /// Source, features, reasoner (`--llm`, also the one-shot explainer and,
    /// without `--judge`, the judge), seed and output folder, exactly as
    /// `sage explain` takes them; the eval files go into `--out` beside the
    /// explanations.
    #[command(flatten)]
    pub explain: ExplainArgs,
    /// Read finished explanations from this folder (a `sage explain --out`)
    /// instead of explaining.
    #[arg(long)]
    pub sessions: Option<PathBuf>,
    /// How an LLM judge predicts activations: one structured call per text,
    /// or SAGE's one call per token over digit log-probabilities.
    #[arg(long, value_enum, default_value = "batched")]
    pub predict: PredictArg,
    /// Non-activating texts added to each held-out set (SAGE adds none).
    #[arg(long, default_value_t = 0)]
    pub non_activating: usize,
    /// Sentences the generator writes per explanation.
    #[arg(long, default_value_t = 10)]
    pub sentences: usize,
    /// Scorers to run, comma-separated: generative, predictive, detection,
    /// fuzzing (default: all four).
    #[arg(long, default_value = "generative,predictive,detection,fuzzing")]
    pub scorers: String,
    /// The judge: `heuristic` (offline, from the rule behind an
    /// explanation) or an LLM spec; default: the `--llm` model. A judge of
    /// another model family than the explainer makes a fairer comparison.
    #[arg(long)]
    pub judge: Option<String>,
    /// Seeds detection and fuzzing draw their held-out examples with; the
    /// spread across them is reported beside the bootstrap intervals.
    #[arg(long, default_value_t = 1)]
    pub reseeds: usize,
    /// Detection/fuzzing: activating held-out examples per feature (Delphi: 50).
    #[arg(long, default_value_t = sage::eval::sampling::DELPHI_ACTIVATING)]
    pub classify_activating: usize,
    /// Detection/fuzzing: non-activating examples per feature (Delphi: 50).
    #[arg(long, default_value_t = sage::eval::sampling::DELPHI_NON_ACTIVATING)]
    pub classify_non_activating: usize,
    /// Detection/fuzzing: activation quantiles the examples span (Delphi: 10).
    #[arg(long, default_value_t = sage::eval::sampling::DELPHI_QUANTILES)]
    pub classify_quantiles: usize,
    /// Detection/fuzzing: examples per judge prompt (Delphi: 5).
    #[arg(long, default_value_t = sage::eval::sampling::DELPHI_PER_PROMPT)]
    pub classify_per_prompt: usize,
    /// Also write explanations and scores for other tools: `neuronpedia`,
    /// `delphi`, or both comma-separated.
    #[arg(long)]
    pub export: Option<String>,
    /// Score Delphi's explanations from this run folder (its
    /// `explanations/{module}_latent{N}.txt`) beside sage's.
    #[arg(long)]
    pub import_delphi: Option<PathBuf>,
}

/// `--export` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Export {
    Neuronpedia,
    Delphi,
}

/// Reads `--scorers`.
fn parse_scorers(list: &str) -> anyhow::Result<Vec<Scorer>> {
    let mut scorers = Vec::new();
    for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let scorer = match name {
            "output" => {
                return Err(usage_error(
                    "--scorers output: the steering (output-side) score is not in this build; run the other scorers",
                ));
            }
            _ => Scorer::ALL
                .into_iter()
                .find(|s| s.name() == name)
                .ok_or_else(|| {
                    usage_error(format!(
                        "--scorers: unknown scorer `{name}`; choose from generative, predictive, detection, fuzzing"
                    ))
                })?,
        };
        if !scorers.contains(&scorer) {
            scorers.push(scorer);
        }
    }
    if scorers.is_empty() {
        return Err(usage_error(
            "--scorers is empty; name at least one of generative, predictive, detection, fuzzing",
        ));
    }
    Ok(scorers)
}

/// Reads `--export`.
fn parse_exports(list: Option<&str>) -> anyhow::Result<Vec<Export>> {
    let mut exports = Vec::new();
    for name in list.unwrap_or_default().split(',').map(str::trim) {
        let export = match name {
            "" => continue,
            "neuronpedia" => Export::Neuronpedia,
            "delphi" => Export::Delphi,
            other => {
                return Err(usage_error(format!(
                    "--export: unknown format `{other}`; choose neuronpedia, delphi or both"
                )));
            }
        };
        if !exports.contains(&export) {
            exports.push(export);
        }
    }
    Ok(exports)
}

/// `--predict` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PredictArg {
    /// One structured call per held-out text.
    Batched,
    /// One call per token: expected value over digit log-probabilities.
    Logprobs,
}

/// Runs the evaluation; features that could not be explained or scored
/// make it a [`PartialFailure`] (exit status 1).
pub fn run(args: EvalArgs) -> anyhow::Result<()> {
    let features = parse_features(&args.explain.features)?;
    if args.sentences == 0 {
        return Err(usage_error("--sentences must be at least 1 (SAGE uses 10)"));
    }
    let scorers = parse_scorers(&args.scorers)?;
    let exports = parse_exports(args.export.as_deref())?;
    if args.reseeds == 0 {
        return Err(usage_error("--reseeds must be at least 1"));
    }
    if args.classify_quantiles == 0 || args.classify_per_prompt == 0 {
        return Err(usage_error(
            "--classify-quantiles and --classify-per-prompt must be at least 1",
        ));
    }
    refuse_attended_gate(args.explain.gate)?;
    let choice = source_choice(&args.explain)?;
    let source = activation_source_for(&choice, Some(&features))?;
    let client = llm_client(&args.explain.llm)?;
    let judge_spec = args.judge.as_deref().unwrap_or(&args.explain.llm);
    let judge_client = llm_client(judge_spec)?;
    if judge_client.is_none() && args.predict == PredictArg::Logprobs {
        return Err(usage_error(
            "--predict logprobs needs an LLM judge with log-probabilities: pass --judge SPEC (the offline judge predicts from the heuristic rule)",
        ));
    }
    if judge_client.is_some() && judge_spec == args.explain.llm {
        eprintln!(
            "note: the judge is the explainer's own model ({}); pass --judge SPEC with another model for a fair comparison",
            sage::net::strip_userinfo(judge_spec)
        );
    }
    let imported = match &args.import_delphi {
        Some(dir) => Some(interop::read_delphi(dir, &features).with_context(|| {
            format!("could not read Delphi explanations from {}", dir.display())
        })?),
        None => None,
    };
    let (reports_dir, unexplained) = match &args.sessions {
        Some(dir) => (dir.clone(), Vec::new()),
        None => (
            args.explain.out.clone(),
            explain_with(&args.explain, &choice, source.clone())?,
        ),
    };
    let judge: Box<dyn Judge> = match &judge_client {
        None => Box::new(RuleJudge),
        Some(client) => Box::new(LlmJudge::new(
            client.clone(),
            match args.predict {
                PredictArg::Batched => PredictMode::Batched,
                PredictArg::Logprobs => PredictMode::Logprobs,
            },
        )),
    };
    let options = EvalOptions {
        sentences: args.sentences,
        non_activating: args.non_activating,
        seed: args.explain.seed,
        scorers,
        classifier: ClassifierConfig {
            activating: args.classify_activating,
            quantiles: args.classify_quantiles,
            non_activating: args.classify_non_activating,
            per_prompt: args.classify_per_prompt,
            ..ClassifierConfig::default()
        },
        reseeds: args.reseeds,
    };
    let store = SessionStore::new(Paths::resolve().sessions_dir());
    let runtime = tokio::runtime::Runtime::new().context("could not start the async runtime")?;
    let tools = Tools {
        store: &store,
        source: source.as_ref(),
        client: client.as_deref(),
        judge: judge.as_ref(),
        options: &options,
        imported: imported.as_ref(),
    };
    let mut report =
        runtime.block_on(tools.evaluate_all(&features, &reports_dir, args.explain.jobs));
    report.explainer = sage::net::strip_userinfo(&args.explain.llm);
    write_outputs(&args.explain.out, &report)?;
    for export in exports {
        match export {
            Export::Neuronpedia => {
                let path = interop::write_neuronpedia(&report, &args.explain.out)?;
                eprintln!("wrote {}", path.display());
            }
            Export::Delphi => {
                for run in interop::write_delphi(&report, &args.explain.out)? {
                    eprintln!("wrote {}", run.display());
                }
            }
        }
    }
    print!("{}", terminal(&report.to_markdown()));
    // A feature that failed to explain is also "not evaluated"; its
    // explain reason says more than the missing file does.
    let mut failures = unexplained;
    for failed in &report.failed {
        if !failures.iter().any(|(f, _)| *f == failed.feature) {
            failures.push((failed.feature, one_line_reason(&failed.reason)));
        }
    }
    failures.sort_by_key(|(f, _)| *f);
    match failure_summary(&failures, features.len()) {
        None => Ok(()),
        Some(summary) => Err(PartialFailure(summary).into()),
    }
}

/// A feature's session, ready to score.
struct Loaded {
    session_id: String,
    state: sage::agent::AgentState,
}

/// What every feature's evaluation shares.
struct Tools<'a> {
    store: &'a SessionStore,
    source: &'a dyn ActivationSource,
    client: Option<&'a dyn LlmClient>,
    judge: &'a dyn Judge,
    options: &'a EvalOptions,
    imported: Option<&'a BTreeMap<u32, Explanation>>,
}

impl Tools<'_> {
    /// Evaluates every feature, `jobs` at a time, and records the scores in
    /// each session.
    async fn evaluate_all(&self, features: &[u32], reports_dir: &Path, jobs: usize) -> EvalReport {
        let Tools {
            store,
            source,
            judge,
            options,
            ..
        } = *self;
        let mut failed = Vec::new();
        let mut loaded: Vec<Loaded> = Vec::new();
        for &feature in features {
            match load(reports_dir, store, feature) {
                Ok(l) => loaded.push(l),
                Err(reason) => failed.push(FailedFeature {
                    feature,
                    reason: format!("{reason:#}"),
                }),
            }
        }
        let sage_explanations: Vec<Option<Explanation>> = loaded
            .iter()
            .map(|l| sage_candidate(&l.state).explanation.ok())
            .collect();
        let outcomes: Vec<(usize, anyhow::Result<FeatureEvaluation>)> =
            futures::stream::iter(loaded.iter().enumerate())
                .map(|(k, l)| {
                    // The control is the next feature's explanation (none with one feature).
                    let control = (loaded.len() > 1)
                        .then(|| sage_explanations[(k + 1) % loaded.len()].clone())
                        .flatten();
                    async move { (k, self.evaluate_one(l, control).await) }
                })
                .buffer_unordered(jobs.max(1))
                .collect()
                .await;
        let mut outcomes = outcomes;
        outcomes.sort_by_key(|(k, _)| *k);
        let mut evaluated = Vec::new();
        for (k, outcome) in outcomes {
            let l = &loaded[k];
            match outcome {
                Ok(evaluation) => {
                    let record = evaluation_of(&evaluation, &judge.name());
                    if let Err(e) = append_to_session(store, &l.session_id, record, now_ms()) {
                        eprintln!(
                            "feature {}: scores not recorded in session {}: {e}",
                            l.state.feature, l.session_id
                        );
                    }
                    evaluated.push(evaluation);
                }
                Err(reason) => failed.push(FailedFeature {
                    feature: l.state.feature,
                    reason: format!("{reason:#}"),
                }),
            }
        }
        failed.sort_by_key(|f| f.feature);
        let info = source.info();
        EvalReport::new(
            info.model,
            info.sae,
            judge.name(),
            options.clone(),
            evaluated,
            failed,
        )
    }

    /// Scores one feature's SAGE explanation and a fresh one-shot baseline.
    async fn evaluate_one(
        &self,
        l: &Loaded,
        control: Option<Explanation>,
    ) -> anyhow::Result<FeatureEvaluation> {
        let mut candidates = vec![
            sage_candidate(&l.state),
            one_shot_candidate(&l.state, self.client).await,
        ];
        if let Some(imported) = self.imported {
            candidates.push(Candidate {
                explainer: DELPHI.to_string(),
                explanation: imported
                    .get(&l.state.feature)
                    .cloned()
                    .ok_or_else(|| "no Delphi explanation of this latent".to_string()),
                spend: Spend::default(),
            });
        }
        let input = feature_input(&l.session_id, &l.state, candidates, control)?;
        Ok(evaluate_feature(&input, self.source, self.judge, self.options).await?)
    }
}

/// The session behind `feature-F.json` in the explanations folder.
fn load(reports_dir: &Path, store: &SessionStore, feature: u32) -> anyhow::Result<Loaded> {
    let path = reports_dir.join(format!("feature-{feature}.json"));
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "no explanation at {} (the feature failed to explain, or --sessions points elsewhere)",
            path.display()
        )
    })?;
    let report: Report = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a sage explanation", path.display()))?;
    let state = load_state(store, &report.session_id)?;
    Ok(Loaded {
        session_id: report.session_id,
        state,
    })
}

/// The one-shot baseline from the exemplars the session saw: one LLM call,
/// or offline the tokens the top examples peak on.
async fn one_shot_candidate(
    state: &sage::agent::AgentState,
    client: Option<&dyn LlmClient>,
) -> Candidate {
    let mut spend = Spend::default();
    let explanation = match (&state.exemplars, client) {
        (None, _) => Err("the session has no exemplars".to_string()),
        (Some(visible), None) => {
            one_shot::offline(visible).ok_or_else(|| "no top example fires".to_string())
        }
        (Some(visible), Some(client)) => one_shot::with_llm(client, visible, &mut spend)
            .await
            .map_err(|e| format!("one-shot call failed: {e}")),
    };
    Candidate {
        explainer: ONE_SHOT.to_string(),
        explanation,
        spend,
    }
}

/// Writes eval.json, eval.md and eval.svg into `out`.
fn write_outputs(out: &Path, report: &EvalReport) -> anyhow::Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("could not create {}", out.display()))?;
    let write = |name: &str, body: String| {
        let path = out.join(name);
        std::fs::write(&path, body).with_context(|| format!("could not write {}", path.display()))
    };
    write("eval.json", serde_json::to_string_pretty(report)? + "\n")?;
    write("eval.md", report.to_markdown())?;
    write("eval.svg", plot::to_svg(report)?)?;
    Ok(())
}
