//! `sage explain`: explain many features unattended. One session per
//! feature (its log kept in the data dir), one explanation JSON + Markdown
//! per feature, a summary table, and a progress bar. Failed features are
//! reported with a one-line reason each and get no explanation; on a re-run
//! finished ones are skipped and interrupted sessions are resumed. Exit
//! status: 0 when every feature got an explanation, 1 when some failed, 2
//! for usage errors.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use sage::activation::ActivationSource;
use sage::agent::{AgentConfig, Event, GateMode, StopReason};
use sage::config::Paths;
use sage::escape::{markdown, terminal};
use sage::model::WeightDtype;
use sage::net::strip_userinfo;
use sage::reasoner::one_line_reason;
use sage::report::{Report, format_cost};
use sage::session::run::{resume, start};
use sage::session::{
    Controls, DriveOutcome, Durability, Instruments, NewSession, ResumeQuery, SessionStore,
    SourceRecord, interrupted_session,
};

use super::explore::GateArg;
use super::instruments::{SourceChoice, activation_source_for, reasoner};
use super::neuronpedia::NeuronpediaArgs;
use super::{PartialFailure, usage_error};

/// Where activations come from, as a flag value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SourceKind {
    /// A local model and SAE (`--model`, `--sae`).
    Local,
    /// A Neuronpedia server (`--model-id`, `--sae-id`).
    Neuronpedia,
    /// Built-in features with known rules: for offline demos and tests,
    /// not for explaining a real model.
    Synthetic,
}

/// Arguments of `sage explain`.
#[derive(Debug, clap::Args)]
pub struct ExplainArgs {
    /// Activation source. `synthetic` serves built-in features with known
    /// rules over a built-in corpus: legitimate for offline demos and tests.
    #[arg(long, value_enum, default_value = "local")]
    pub source: SourceKind,
    /// Model (local source): a directory, a .gguf file or a repo id.
    #[arg(long)]
    pub model: Option<String>,
    /// SAE (local source): a directory or `release/sae_id`.
    #[arg(long)]
    pub sae: Option<String>,
    /// Corpus the local source mines top examples from: a text file, a
    /// .jsonl file with a "text" field per line, or a directory.
    #[arg(long)]
    pub corpus: Option<PathBuf>,
    /// Which Neuronpedia features (neuronpedia source). The server URL is
    /// recorded in each session, so `sage resume` goes back to it.
    #[command(flatten)]
    pub neuronpedia: NeuronpediaArgs,
    /// Features to explain: `0..200`, `0..=9`, `7`, or a comma list of those.
    #[arg(long)]
    pub features: String,
    /// Reasoner: `heuristic` (offline) or an LLM spec.
    #[arg(long, default_value = "heuristic")]
    pub llm: String,
    /// Approval gate. A batch runs unattended, so only `auto` is accepted:
    /// `review` and `step` are refused with a pointer to `sage explore`,
    /// where a researcher can approve each step of one feature.
    #[arg(long, value_enum, default_value = "auto")]
    pub gate: GateArg,
    /// Features explained at the same time.
    #[arg(long, default_value_t = 4)]
    pub jobs: usize,
    /// Folder for the explanations and the summary.
    #[arg(long, default_value = "explanations")]
    pub out: PathBuf,
    /// Design rounds per feature.
    #[arg(long)]
    pub max_rounds: Option<u32>,
    /// Seed for every session (each feature's session mixes in its index).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Wall-time budget per feature, in minutes (0: none). A batch runs
    /// unattended, so a stalled server must not hold it forever.
    #[arg(long, default_value_t = DEFAULT_MAX_MINUTES)]
    pub max_minutes: u64,
    /// Precision of the local model's products and SAE encoder: f32, bf16
    /// (weights packed as bf16, f32 accumulation; activations stay f32) or
    /// f16 (weights rounded to f16).
    #[arg(long, default_value = "f32")]
    pub dtype: WeightDtype,
}

/// Most features one `sage explain` batch takes (each is a whole session).
pub const MAX_BATCH_FEATURES: u64 = 1 << 20;

/// The wall-time budget a feature of an unattended batch gets by default.
pub const DEFAULT_MAX_MINUTES: u64 = 30;

/// How one feature went.
#[derive(Debug, Clone)]
enum Outcome {
    Explained(Box<Report>),
    Skipped(Box<Report>),
    Failed(String),
}

/// Live numbers for the progress bar.
#[derive(Default)]
struct Progress {
    rounds: BTreeMap<u32, u32>,
    tokens: u64,
    cost: f64,
}

/// Runs the batch; features that failed make it a [`PartialFailure`].
pub fn run(args: ExplainArgs) -> anyhow::Result<()> {
    refuse_attended_gate(args.gate)?;
    let features = parse_features(&args.features)?;
    let choice = source_choice(&args)?;
    let source = activation_source_for(&choice, Some(&features))?;
    let failures = explain_with(&args, &choice, source)?;
    match failure_summary(&failures, features.len()) {
        None => Ok(()),
        Some(summary) => Err(PartialFailure(summary).into()),
    }
}

/// The features of a batch that got no explanation, each with a one-line reason.
pub type Failures = Vec<(u32, String)>;

/// The lines that end a batch with failures: how many, then one line per
/// feature with its reason; `None` when nothing failed.
pub fn failure_summary(failures: &[(u32, String)], total: usize) -> Option<String> {
    if failures.is_empty() {
        return None;
    }
    let mut text = format!(
        "{} of {total} feature(s) failed and have no explanation (re-run the same command to retry them):",
        failures.len()
    );
    for (feature, why) in failures {
        text.push_str(&format!("\n  feature {feature}: {why}"));
    }
    Some(text)
}

/// Runs the batch on an already opened source (`sage eval` shares its own)
/// and returns the features that failed.
pub fn explain_with(
    args: &ExplainArgs,
    choice: &SourceChoice,
    source: Arc<dyn ActivationSource>,
) -> anyhow::Result<Failures> {
    let features = parse_features(&args.features)?;
    let n_features = source.info().n_features;
    if let Some(bad) = features.iter().find(|&&f| f >= n_features) {
        return Err(usage_error(format!(
            "feature {bad} is out of range: this SAE has features 0..{n_features}"
        )));
    }
    let instruments = Instruments {
        source,
        reasoner: reasoner(&args.llm)?,
    };
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("could not create {}", args.out.display()))?;
    let store = SessionStore::new(Paths::resolve().sessions_dir());
    let mut config = AgentConfig {
        gate: GateMode::Auto,
        ..AgentConfig::default()
    };
    if let Some(rounds) = args.max_rounds {
        config.max_rounds = rounds;
    }
    config.budgets.max_wall_ms =
        (args.max_minutes > 0).then(|| args.max_minutes.saturating_mul(60_000));
    config.validate()?;

    let bar = ProgressBar::new(features.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} features · {msg} · ETA {eta}")
            .context("bad progress template")?,
    );
    let progress = Arc::new(Mutex::new(Progress::default()));
    let runtime = tokio::runtime::Runtime::new().context("could not start the async runtime")?;
    let outcomes: Vec<(u32, Outcome)> = runtime.block_on(
        futures::stream::iter(features.iter().copied())
            .map(|feature| {
                let job = Job {
                    store: &store,
                    instruments: instruments.clone(),
                    config: config.clone(),
                    seed: args.seed ^ u64::from(feature).wrapping_mul(0x9E37_79B9_7F4A_7C15),
                    reasoner_spec: args.llm.clone(),
                    source: choice.record(),
                    out: &args.out,
                    progress: progress.clone(),
                    bar: bar.clone(),
                };
                async move {
                    let outcome = job.explain(feature).await;
                    job.bar.inc(1);
                    (feature, outcome)
                }
            })
            .buffer_unordered(args.jobs.max(1))
            .collect(),
    );
    bar.finish_and_clear();

    let mut outcomes = outcomes;
    outcomes.sort_by_key(|(feature, _)| *feature);
    let summary = summary_table(&outcomes);
    std::fs::write(args.out.join("summary.md"), &summary)
        .with_context(|| format!("could not write {}/summary.md", args.out.display()))?;
    print!("{}", terminal(&summary));
    Ok(outcomes
        .into_iter()
        .filter_map(|(feature, outcome)| match outcome {
            Outcome::Failed(why) => Some((feature, why)),
            _ => None,
        })
        .collect())
}

/// One feature's work and what it shares with the batch.
struct Job<'a> {
    store: &'a SessionStore,
    instruments: Instruments,
    config: AgentConfig,
    seed: u64,
    reasoner_spec: String,
    source: SourceRecord,
    out: &'a Path,
    progress: Arc<Mutex<Progress>>,
    bar: ProgressBar,
}

impl Job<'_> {
    /// The session an interrupted batch continues, if any.
    fn interrupted_session(&self, feature: u32) -> Option<String> {
        let info = self.instruments.source.info();
        interrupted_session(
            self.store,
            &ResumeQuery {
                feature,
                model: &info.model,
                sae: &info.sae,
                reasoner: &self.reasoner_spec,
                source: &self.source,
                config: &self.config,
            },
        )
    }

    async fn explain(&self, feature: u32) -> Outcome {
        let json_path = self.out.join(format!("feature-{feature}.json"));
        if let Ok(text) = std::fs::read_to_string(&json_path)
            && let Ok(report) = serde_json::from_str::<Report>(&text)
        {
            return Outcome::Skipped(Box::new(report));
        }
        let progress = self.progress.clone();
        let bar = self.bar.clone();
        let controls = Controls {
            actions: None,
            on_snapshots: Some(Box::new(move |mut snapshots| {
                tokio::spawn(async move {
                    let mut last_tokens = 0;
                    let mut last_cost = 0.0;
                    while snapshots.changed().await.is_ok() {
                        let state = snapshots.borrow_and_update().clone();
                        let mut p = progress.lock().unwrap_or_else(|e| e.into_inner());
                        p.rounds.insert(feature, state.round);
                        p.tokens += state.total_tokens().saturating_sub(last_tokens);
                        let cost = state.usage.cost_usd.unwrap_or(0.0);
                        p.cost += cost - last_cost;
                        last_tokens = state.total_tokens();
                        last_cost = cost;
                        bar.set_message(progress_message(&p));
                    }
                });
            })),
        };
        let session = NewSession {
            feature,
            config: self.config.clone(),
            seed: self.seed,
            reasoner_spec: self.reasoner_spec.clone(),
            source: Some(self.source.clone()),
            durability: Durability::EveryEvent,
        };
        let started = match self.interrupted_session(feature) {
            Some(id) => {
                let instruments = self.instruments.clone();
                resume(
                    self.store,
                    &id,
                    instruments,
                    Durability::EveryEvent,
                    controls,
                )
                .await
            }
            None => start(self.store, self.instruments.clone(), session, controls).await,
        };
        let run = match started {
            Ok(run) => run,
            Err(err) => return Outcome::Failed(err.to_string()),
        };
        if let Ok(mut p) = self.progress.lock() {
            p.rounds.remove(&feature);
        }
        let log = match self.store.load(&run.id) {
            Ok(log) => log,
            Err(err) => return Outcome::Failed(err.to_string()),
        };
        let report = Report::build(&log.header, &run.state, run.events);
        match (&run.outcome, run.state.stop_reason) {
            (DriveOutcome::Idle, _) => Outcome::Failed(format!(
                "session {} stopped without concluding (waiting for approval or paused)",
                run.id
            )),
            (DriveOutcome::Concluded(_), Some(StopReason::ReasonerFailed)) => {
                let last_error = log.entries.iter().rev().find_map(|e| match &e.event {
                    Event::ReasonerFailed { error, .. } => Some(error.as_str()),
                    _ => None,
                });
                Outcome::Failed(format!(
                    "{} (session {})",
                    last_error.map_or("the reasoner failed".to_string(), one_line_reason),
                    run.id
                ))
            }
            (DriveOutcome::Concluded(_), Some(reason)) if no_explanation(reason) => {
                Outcome::Failed(format!(
                    "no explanation: {} (session {})",
                    report.stop_reason.as_deref().unwrap_or("unknown"),
                    run.id
                ))
            }
            (DriveOutcome::Concluded(_), _) => match write_report(self.out, feature, &report) {
                Ok(()) => Outcome::Explained(Box::new(report)),
                Err(err) => Outcome::Failed(format!("{err:#}")),
            },
        }
    }
}

/// Stops that leave nothing observed or no working reasoner: the agent's
/// conclusion then is a placeholder, not an explanation.
fn no_explanation(reason: StopReason) -> bool {
    matches!(
        reason,
        StopReason::ExemplarsFailed | StopReason::NoExemplars | StopReason::ReasonerFailed
    )
}

fn progress_message(p: &Progress) -> String {
    let rounds: Vec<String> = p
        .rounds
        .iter()
        .map(|(feature, round)| format!("f{feature} r{round}"))
        .collect();
    format!(
        "{} tokens · ${:.4} · {}",
        p.tokens,
        p.cost,
        if rounds.is_empty() {
            "-".to_string()
        } else {
            rounds.join(" ")
        }
    )
}

/// Writes `feature-F.json` (last, so its presence means "finished") and
/// `feature-F.md`.
fn write_report(out: &Path, feature: u32, report: &Report) -> anyhow::Result<()> {
    let md = out.join(format!("feature-{feature}.md"));
    std::fs::write(&md, report.to_markdown())
        .with_context(|| format!("could not write {}", md.display()))?;
    let json = out.join(format!("feature-{feature}.json"));
    let partial = out.join(format!(".feature-{feature}.json.partial"));
    std::fs::write(&partial, serde_json::to_string_pretty(report)? + "\n")
        .and_then(|()| std::fs::rename(&partial, &json))
        .with_context(|| format!("could not write {}", json.display()))?;
    Ok(())
}

/// The summary: one row per feature (tokens, reasoning steps and tokens per
/// step included), then tokens per explained feature over the batch.
fn summary_table(outcomes: &[(u32, Outcome)]) -> String {
    let mut table = String::from(
        "| feature | status | label | confidence | rounds | tokens | steps | tokens/step | cost | session |\n\
         |---|---|---|---|---|---|---|---|---|---|\n",
    );
    let mut explained = Vec::new();
    for (feature, outcome) in outcomes {
        let row = match outcome {
            Outcome::Explained(r) | Outcome::Skipped(r) => format!(
                "| {feature} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
                if matches!(outcome, Outcome::Skipped(_)) {
                    "done earlier"
                } else {
                    "explained"
                },
                markdown(r.label.as_deref().unwrap_or("")),
                r.confidence.map_or("".into(), |c| format!("{c:.2}")),
                r.rounds,
                r.usage.total_tokens,
                r.usage.reasoner_calls,
                per_step(r.usage.total_tokens, u64::from(r.usage.reasoner_calls)),
                format_cost(r.usage.cost_usd, r.usage.total_tokens),
                markdown(&r.session_id)
            ),
            Outcome::Failed(why) => format!(
                "| {feature} | failed | {} |  |  |  |  |  |  |  |\n",
                markdown(&strip_userinfo(why))
            ),
        };
        if let Outcome::Explained(r) | Outcome::Skipped(r) = outcome {
            explained.push(&r.usage);
        }
        table.push_str(&row);
    }
    if !explained.is_empty() {
        let tokens: u64 = explained.iter().map(|u| u.total_tokens).sum();
        let steps: u64 = explained.iter().map(|u| u64::from(u.reasoner_calls)).sum();
        table.push_str(&format!(
            "\nTokens per explained feature: {} ({} feature(s)); per reasoning step: {}.\n",
            tokens / explained.len() as u64,
            explained.len(),
            per_step(tokens, steps)
        ));
    }
    table
}

/// Tokens per reasoning step, `-` when no step was taken.
fn per_step(tokens: u64, steps: u64) -> String {
    tokens
        .checked_div(steps)
        .map_or("-".to_string(), |t| t.to_string())
}

/// A batch has nobody to approve what a `review` or `step` gate holds
/// back, so those gates are refused before any work starts rather than
/// leaving every session waiting.
pub fn refuse_attended_gate(gate: GateArg) -> anyhow::Result<()> {
    let name = match gate {
        GateArg::Auto => return Ok(()),
        GateArg::Review => "review",
        GateArg::Step => "step",
    };
    Err(usage_error(format!(
        "`sage explain` runs unattended, so nothing could approve what `--gate {name}` holds \
         back: use `--gate auto` here, or approve the steps of one feature in the TUI with \
         `sage explore --preset P --feature N --gate {name}`"
    )))
}

/// The source the flags name.
pub fn source_choice(args: &ExplainArgs) -> anyhow::Result<SourceChoice> {
    Ok(match args.source {
        SourceKind::Synthetic => SourceChoice::Synthetic,
        SourceKind::Local => match (&args.model, &args.sae) {
            (Some(model), Some(sae)) => SourceChoice::Local {
                model: model.clone(),
                sae: sae.clone(),
                corpus: args.corpus.clone(),
                dtype: args.dtype,
            },
            _ => {
                return Err(usage_error(
                    "the local source needs --model and --sae (or pick --source neuronpedia / synthetic)",
                ));
            }
        },
        SourceKind::Neuronpedia => match (&args.neuronpedia.model_id, &args.neuronpedia.sae_id) {
            (Some(model_id), Some(sae_id)) => SourceChoice::Neuronpedia {
                model_id: model_id.clone(),
                sae_id: sae_id.clone(),
                base_url: args.neuronpedia.neuronpedia_url.clone(),
            },
            _ => {
                return Err(usage_error(
                    "the neuronpedia source needs --model-id and --sae-id",
                ));
            }
        },
    })
}

/// Parses `0..200`, `0..=9`, `7` and comma lists of them into sorted,
/// distinct feature indices.
pub fn parse_features(spec: &str) -> anyhow::Result<Vec<u32>> {
    let mut ranges = Vec::new();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let number = |s: &str| -> anyhow::Result<u64> {
            s.trim().parse::<u32>().map(u64::from).map_err(|_| {
                usage_error(format!(
                    "`{s}` in --features `{spec}` is not a feature index (use e.g. 0..200, 0..=9, 7)"
                ))
            })
        };
        ranges.push(if let Some((a, b)) = part.split_once("..=") {
            (number(a)?, number(b)? + 1)
        } else if let Some((a, b)) = part.split_once("..") {
            (number(a)?, number(b)?)
        } else {
            let one = number(part)?;
            (one, one + 1)
        });
    }
    // Counted before anything is allocated: `0..4294967295` is a typo, not
    // a batch, and must not reserve 16 GiB on its way to an error.
    let count: u64 = ranges.iter().map(|&(a, b)| b.saturating_sub(a)).sum();
    if count > MAX_BATCH_FEATURES {
        return Err(usage_error(format!(
            "--features `{spec}` names {count} features; one batch explains at most {MAX_BATCH_FEATURES}: split it into several runs"
        )));
    }
    let mut features: Vec<u32> = ranges
        .into_iter()
        .flat_map(|(a, b)| a..b)
        .filter_map(|f| u32::try_from(f).ok())
        .collect();
    features.sort_unstable();
    features.dedup();
    if features.is_empty() {
        return Err(usage_error(format!(
            "--features `{spec}` names no feature (use e.g. 0..200, 0..=9, 7)"
        )));
    }
    Ok(features)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feature_ranges_parse_like_rust_ranges() {
        assert_eq!(parse_features("0..3").unwrap(), [0, 1, 2]);
        assert_eq!(parse_features("0..=2, 7,2").unwrap(), [0, 1, 2, 7]);
        assert!(parse_features("5..5").is_err());
        let err = parse_features("0..4294967295").unwrap_err().to_string();
        assert!(
            err.contains("4294967295 features") && err.contains("at most"),
            "{err}"
        );
        assert_eq!(parse_features("4294967295").unwrap(), [u32::MAX]);
        assert!(
            parse_features("a..3")
                .unwrap_err()
                .to_string()
                .contains("`a`")
        );
    }
}
