//! `sage eval`: explain features (or reuse finished explanations), score
//! SAGE's explanations and a one-shot baseline with the same judge on the
//! same held-out sets, and write the comparison as JSON, Markdown and SVG.
//! Each feature's scores are also appended to its session's log.

use std::path::{Path, PathBuf};

use anyhow::Context;
use futures::StreamExt;
use sage::activation::ActivationSource;
use sage::config::Paths;
use sage::escape::terminal;
use sage::eval::from_session::{feature_input, load_state, sage_candidate};
use sage::eval::{
    Candidate, EvalOptions, EvalReport, Explanation, FailedFeature, FeatureEvaluation, Judge,
    LlmJudge, ONE_SHOT, PredictMode, RuleJudge, Spend, append_to_session, evaluate_feature,
    evaluation_of, one_shot, plot,
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
    /// Source, features, reasoner (`--llm`, also the judge and the one-shot
    /// explainer), seed and output folder, exactly as `sage explain` takes
    /// them; the eval files go into `--out` beside the explanations.
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
    refuse_attended_gate(args.explain.gate)?;
    let choice = source_choice(&args.explain)?;
    let source = activation_source_for(&choice, Some(&features))?;
    let client = llm_client(&args.explain.llm)?;
    if client.is_none() && args.predict == PredictArg::Logprobs {
        return Err(usage_error(
            "--predict logprobs needs an LLM judge with log-probabilities: pass --llm SPEC (the offline judge predicts from the heuristic rule)",
        ));
    }
    let (reports_dir, unexplained) = match &args.sessions {
        Some(dir) => (dir.clone(), Vec::new()),
        None => (
            args.explain.out.clone(),
            explain_with(&args.explain, &choice, source.clone())?,
        ),
    };
    let judge: Box<dyn Judge> = match &client {
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
    };
    let store = SessionStore::new(Paths::resolve().sessions_dir());
    let runtime = tokio::runtime::Runtime::new().context("could not start the async runtime")?;
    let tools = Tools {
        store: &store,
        source: source.as_ref(),
        client: client.as_deref(),
        judge: judge.as_ref(),
        options: &options,
    };
    let report = runtime.block_on(tools.evaluate_all(&features, &reports_dir, args.explain.jobs));
    write_outputs(&args.explain.out, &report)?;
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
        let candidates = vec![
            sage_candidate(&l.state),
            one_shot_candidate(&l.state, self.client).await,
        ];
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
