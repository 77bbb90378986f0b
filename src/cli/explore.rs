//! `sage` and `sage explore`: the interactive TUI. With no arguments sage
//! opens the start screen; `sage explore` goes straight to the exploration
//! screen on the given preset (or source) and feature.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use indicatif::ProgressBar;
use sage::activation::ActivationSource;
use sage::agent::{Agent, AgentConfig, GateMode};
use sage::config::{ConfigFile, Paths};
use sage::model::WeightDtype;
use sage::session::run::{resume, start};
use sage::session::{Controls, Durability, Instruments, NewSession, SessionStore, replay};
use sage::tui::keymap::Keymap;
use sage::tui::panes::SessionInfo;
use sage::tui::run::{FrameStats, TuiOptions, run_live, run_replay, run_start};
use sage::tui::start::{FeatureChoice, RecentSession, StartChoice, StartScreen};
use sage::tui::theme::Theme;
use tokio::sync::{mpsc, oneshot};

use super::demo::DemoPack;
use super::instruments::{SourceChoice, activation_source, reasoner};
use super::presets;

/// Environment variable naming a file to receive frame-time and
/// key-to-screen latency measurements when the TUI exits.
pub const STATS_ENV: &str = "SAGE_TUI_STATS";

/// Gate modes as flag values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GateArg {
    /// Nothing waits for approval.
    Auto,
    /// Hypotheses and the conclusion wait for approval.
    Review,
    /// Every proposed step waits for approval.
    Step,
}

impl From<GateArg> for GateMode {
    fn from(g: GateArg) -> GateMode {
        match g {
            GateArg::Auto => GateMode::Auto,
            GateArg::Review => GateMode::Review,
            GateArg::Step => GateMode::Step,
        }
    }
}

/// How the TUI looks.
#[derive(Debug, Clone, clap::Args)]
pub struct LookArgs {
    /// Colour theme: dark, light, high-contrast, colorblind, or a .toml
    /// file (default: the config file's `theme`, else dark).
    #[arg(long)]
    pub theme: Option<String>,
}

impl LookArgs {
    fn options(&self, info: SessionInfo) -> anyhow::Result<TuiOptions> {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let config = ConfigFile::load(&Paths::resolve().config_file)?;
        let theme = self
            .theme
            .as_deref()
            .or(config.theme.as_deref())
            .unwrap_or("dark");
        Ok(TuiOptions {
            theme: Theme::load(theme, no_color)?,
            keymap: Keymap::with_overrides(&config.keymap)?,
            info,
        })
    }
}

/// Arguments of `sage explore`.
#[derive(Debug, clap::Args)]
pub struct ExploreArgs {
    /// A preset: demo (offline SmolLM2 + demo SAE), synthetic,
    /// gpt2-small-res-jb, neuronpedia-gpt2-small.
    #[arg(long, default_value = presets::DEMO)]
    pub preset: String,
    /// Feature index; omitted: the demo's default feature (see README), or
    /// a random live feature of other presets.
    #[arg(long)]
    pub feature: Option<u32>,
    /// Reasoner: `heuristic` (offline) or an LLM spec (`openai:MODEL`, ...).
    #[arg(long, default_value = "heuristic")]
    pub llm: String,
    /// Approval gate.
    #[arg(long, value_enum, default_value = "auto")]
    pub gate: GateArg,
    /// Corpus to mine top examples from, for a local preset other than
    /// demo (which brings its own): text files, .jsonl or a directory.
    #[arg(long)]
    pub corpus: Option<PathBuf>,
    /// Precision of a local preset's model products and SAE encoder: f32,
    /// bf16 (weights packed as bf16, f32 accumulation) or f16.
    #[arg(long, default_value = "f32")]
    pub dtype: WeightDtype,
    /// Appearance.
    #[command(flatten)]
    pub look: LookArgs,
}

/// Runs `sage explore`.
pub fn run(args: ExploreArgs) -> anyhow::Result<()> {
    let paths = Paths::resolve();
    let mut preset = presets::find(&paths, &args.preset)?;
    if let Some(missing) = &preset.preset.missing {
        bail!("{missing}");
    }
    if let Some(path) = args.corpus {
        match &mut preset.source {
            SourceChoice::Local { corpus, .. } if preset.preset.name != presets::DEMO => {
                *corpus = Some(path);
            }
            _ => bail!(
                "--corpus applies to local presets other than demo (gpt2-small-res-jb); preset `{}` brings its own examples",
                preset.preset.name
            ),
        }
    }
    if args.dtype != WeightDtype::F32 {
        match &mut preset.source {
            SourceChoice::Local { dtype, .. } if preset.preset.name != presets::DEMO => {
                *dtype = args.dtype;
            }
            _ => bail!(
                "--dtype applies to local presets other than demo (gpt2-small-res-jb); preset `{}` runs in f32 (its mined examples were made that way)",
                preset.preset.name
            ),
        }
    }
    require_terminal()?;
    let (source, feature) = open_preset(&paths, &preset, args.feature.map(FeatureChoice::Index))?;
    let runtime = runtime()?;
    runtime.block_on(explore_live(
        &paths,
        &preset.source,
        source,
        feature,
        &args.llm,
        args.gate.into(),
        &args.look,
    ))
}

/// Opens a preset's source and settles the feature: the one chosen, else
/// the demo's default feature, else a random live one. The demo preset
/// mines its table first (or loads it from the cache).
fn open_preset(
    paths: &Paths,
    preset: &presets::NamedPreset,
    choice: Option<FeatureChoice>,
) -> anyhow::Result<(Arc<dyn ActivationSource>, u32)> {
    if preset.preset.name == presets::DEMO {
        let (source, summary) = DemoPack::locate(paths)?.prepare(paths)?;
        let feature = match choice {
            Some(c) => pick_feature(&summary.live, c, summary.n_features),
            None => summary.default_feature,
        };
        return Ok((Arc::new(source), feature));
    }
    let source = open_source(&preset.source)?;
    let feature = pick_feature(
        &preset.preset.live_features,
        choice.unwrap_or(FeatureChoice::Random),
        preset.preset.n_features,
    );
    Ok((source, feature))
}

/// Runs bare `sage`: the start screen, then whatever was picked there.
pub fn run_start_screen(look: &LookArgs) -> anyhow::Result<()> {
    require_terminal()?;
    let paths = Paths::resolve();
    let store = SessionStore::new(paths.sessions_dir());
    let recent = recent_sessions(&store);
    let named = presets::all(&paths);
    let screen = StartScreen::new(
        named.iter().map(|p| p.preset.clone()).collect(),
        recent,
        "heuristic",
    );
    let runtime = runtime()?;
    let theme = look.options(SessionInfo::default())?.theme;
    let choice = runtime.block_on(run_start(&theme, screen))?;
    match choice {
        StartChoice::Quit => Ok(()),
        StartChoice::New {
            preset,
            feature,
            reasoner,
            gate,
        } => {
            let (source, feature) = open_preset(&paths, &named[preset], Some(feature))?;
            runtime.block_on(explore_live(
                &paths,
                &named[preset].source,
                source,
                feature,
                &reasoner,
                gate,
                look,
            ))
        }
        StartChoice::Resume(id) => runtime.block_on(resume_live(&paths, &id, look)),
        StartChoice::Replay(id) => replay_tui(&paths, &id, look),
    }
}

/// Opens a saved session read-only in the TUI (`sage replay ID`).
pub fn replay_tui(paths: &Paths, id: &str, look: &LookArgs) -> anyhow::Result<()> {
    require_terminal()?;
    let store = SessionStore::new(paths.sessions_dir());
    let log = store.load(id)?;
    let info = SessionInfo {
        model: log.header.model.clone(),
        sae: log.header.sae.clone(),
        hook: log.header.hook.clone(),
        reasoner: log.header.reasoner.clone(),
    };
    let events = log.entries.into_iter().map(|e| e.event).collect();
    let stats = runtime()?.block_on(run_replay(look.options(info)?, events))?;
    write_stats(&stats)
}

async fn explore_live(
    paths: &Paths,
    choice: &SourceChoice,
    source: Arc<dyn ActivationSource>,
    feature: u32,
    reasoner_spec: &str,
    gate: GateMode,
    look: &LookArgs,
) -> anyhow::Result<()> {
    let instruments = Instruments {
        source,
        reasoner: reasoner(reasoner_spec)?,
    };
    let config = AgentConfig {
        gate,
        ..AgentConfig::default()
    };
    config.validate().context("invalid agent configuration")?;
    let session = NewSession {
        feature,
        config,
        seed: clock_seed(),
        reasoner_spec: reasoner_spec.to_string(),
        source: Some(choice.record()),
        durability: Durability::EveryEvent,
    };
    let store = SessionStore::new(paths.sessions_dir());
    let info = session_info(&instruments, reasoner_spec);
    let (actions, controls, states) = live_controls();
    let driver = tokio::spawn(async move { start(&store, instruments, session, controls).await });
    let states = states
        .await
        .context("the session stopped before it began")?;
    let stats = run_live(look.options(info)?, states, actions).await?;
    finish(driver, &stats).await
}

async fn resume_live(paths: &Paths, id: &str, look: &LookArgs) -> anyhow::Result<()> {
    let store = SessionStore::new(paths.sessions_dir());
    let header = store.load(id)?.header;
    super::resume::require_trust(id, &header, None, false)?;
    let choice = SourceChoice::from_header(&header);
    let instruments = Instruments {
        source: open_source(&choice)?,
        reasoner: reasoner(&header.reasoner)?,
    };
    let info = session_info(&instruments, &header.reasoner);
    let (actions, controls, states) = live_controls();
    let id = id.to_string();
    let driver = tokio::spawn(async move {
        resume(&store, &id, instruments, Durability::EveryEvent, controls).await
    });
    let states = states
        .await
        .context("the session stopped before it began")?;
    let stats = run_live(look.options(info)?, states, actions).await?;
    finish(driver, &stats).await
}

type LiveControls = (
    mpsc::Sender<sage::agent::UserAction>,
    Controls,
    oneshot::Receiver<tokio::sync::watch::Receiver<sage::agent::AgentState>>,
);

/// The channels between the TUI and the driver.
fn live_controls() -> LiveControls {
    let (actions, inbox) = mpsc::channel(64);
    let (hand_over, states) = oneshot::channel();
    let controls = Controls {
        actions: Some(inbox),
        on_snapshots: Some(Box::new(move |snapshots| {
            let _ = hand_over.send(snapshots);
        })),
    };
    (actions, controls, states)
}

/// After the researcher quits: stop the driver (every event it applied is
/// already on disk, so `sage resume` continues where it stopped) and report
/// a driver failure if there was one.
async fn finish<T>(
    driver: tokio::task::JoinHandle<Result<T, sage::session::run::SessionError>>,
    stats: &FrameStats,
) -> anyhow::Result<()> {
    if driver.is_finished() {
        driver.await.context("the session driver crashed")??;
    } else {
        driver.abort();
    }
    write_stats(stats)
}

/// Opens a source behind a spinner (loading a model takes a moment).
fn open_source(choice: &SourceChoice) -> anyhow::Result<Arc<dyn ActivationSource>> {
    let spinner = ProgressBar::new_spinner().with_message("loading the model and SAE…");
    spinner.enable_steady_tick(std::time::Duration::from_millis(100));
    let source = activation_source(choice);
    spinner.finish_and_clear();
    source
}

fn session_info(instruments: &Instruments, reasoner_spec: &str) -> SessionInfo {
    let info = instruments.source.info();
    SessionInfo {
        model: short_name(&info.model),
        sae: short_name(&info.sae),
        hook: info.hook,
        reasoner: reasoner_spec.to_string(),
    }
}

/// The last path component of a local path; ids stay as they are.
fn short_name(name: &str) -> String {
    let path = std::path::Path::new(name);
    if path.is_absolute() {
        path.file_name()
            .map_or(name.to_string(), |f| f.to_string_lossy().into_owned())
    } else {
        name.to_string()
    }
}

fn recent_sessions(store: &SessionStore) -> Vec<RecentSession> {
    let mut ids = store.ids().unwrap_or_default();
    ids.reverse();
    ids.into_iter()
        .take(20)
        .filter_map(|id| {
            let log = store.load(&id).ok()?;
            let state = replay(Agent::new(), &log.entries, None).state();
            let status = match &state.conclusion {
                Some(c) => format!("done: {}", c.label),
                None => "interrupted".to_string(),
            };
            Some(RecentSession {
                summary: format!(
                    "feature {} · {} · {}",
                    log.header.feature, log.header.model, status
                ),
                id,
            })
        })
        .collect()
}

/// A feature for a start-screen choice: the index given, or a draw from the
/// preset's live features (all features when none are known).
fn pick_feature(live: &[(u32, f32)], choice: FeatureChoice, n_features: u32) -> u32 {
    match choice {
        FeatureChoice::Index(i) => i,
        FeatureChoice::Random => {
            let draw = clock_seed();
            if live.is_empty() {
                (draw % u64::from(n_features.max(1))) as u32
            } else {
                live[(draw % live.len() as u64) as usize].0
            }
        }
    }
}

/// A seed from the clock: recorded in the session header, so the session
/// is still reproducible by replay.
fn clock_seed() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

fn require_terminal() -> anyhow::Result<()> {
    if std::io::stdout().is_terminal() && std::io::stdin().is_terminal() {
        Ok(())
    } else {
        bail!(
            "the TUI needs an interactive terminal; for unattended runs use `sage explain`, \
             and for reports `sage replay ID --export md|json|html`"
        )
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Runtime::new().context("could not start the async runtime")
}

fn write_stats(stats: &FrameStats) -> anyhow::Result<()> {
    if let Some(path) = std::env::var_os(STATS_ENV) {
        std::fs::write(&path, serde_json::to_string_pretty(stats)? + "\n")
            .with_context(|| format!("could not write TUI stats to {}", path.to_string_lossy()))?;
    }
    Ok(())
}
