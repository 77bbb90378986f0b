//! Subcommand definitions and their dispatch; one file per subcommand.

mod activations;
mod demo;
mod eval;
mod explain;
mod explore;
mod hook;
mod input;
mod instruments;
mod interrupt;
mod llm;
mod local;
mod neuronpedia;
mod paths;
mod presets;
mod replay;
mod resume;
mod sessions;
mod top;
mod train_sae;

use clap::{Parser, Subcommand};

/// A command that ran to its end without doing all it was asked (some
/// features got no explanation): exit status 1, its text (one line per
/// failure) printed as is.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct PartialFailure(pub String);

/// A command line that asks for something impossible (bad flag values,
/// missing flags, an unknown `--llm` spec): exit status 2, like clap's own
/// usage errors.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Wraps `message` as a [`UsageError`].
pub fn usage_error(message: impl std::fmt::Display) -> anyhow::Error {
    UsageError(message.to_string()).into()
}

/// Explain sparse-autoencoder features by experiment.
#[derive(Debug, Parser)]
#[command(name = "sage", version, about, long_about = None)]
pub struct Cli {
    /// What to do; without a subcommand sage opens the start screen.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Appearance of the start screen.
    #[command(flatten)]
    pub look: explore::LookArgs,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Open the TUI on a feature: watch the agent explain it, and steer it.
    Explore(explore::ExploreArgs),
    /// Explain many features unattended: one explanation JSON + Markdown each.
    Explain(explain::ExplainArgs),
    /// Score SAGE's explanations against a one-shot baseline (generative and predictive accuracy).
    Eval(eval::EvalArgs),
    /// List saved sessions: id, feature, status, label, rounds, tokens, cost, date.
    Sessions(sessions::SessionsArgs),
    /// Scrub a saved session in the TUI, or export it as a report (offline).
    Replay(replay::ReplayArgs),
    /// Continue an interrupted session from its log.
    Resume(resume::ResumeArgs),
    /// Per-token activations of one SAE feature on texts or token ids.
    Activations(activations::ActivationsArgs),
    /// Mine a corpus for the windows that most activate SAE features.
    Top(top::TopArgs),
    /// Run a model to one TransformerLens hook and print the activations per token.
    Hook(hook::HookArgs),
    /// Train a TopK SAE on a model's activations over a corpus (SAELens format).
    TrainSae(train_sae::TrainSaeArgs),
    /// Print where sage keeps its config file, sessions and caches.
    Paths(paths::PathsArgs),
    /// Check an LLM endpoint: structured mode, latency, tokens, log-probs.
    Llm(llm::LlmArgs),
}

/// Runs one parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let Some(command) = cli.command else {
        return explore::run_start_screen(&cli.look);
    };
    match command {
        Command::Explore(args) => explore::run(args),
        Command::Paths(args) => paths::run(args),
        Command::TrainSae(args) => train_sae::run(args),
        Command::Hook(args) => hook::run(args),
        Command::Sessions(args) => sessions::run(args),
        Command::Resume(args) => resume::run(args),
        Command::Replay(args) => replay::run(args),
        Command::Explain(args) => explain::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Activations(args) => activations::run(args),
        Command::Top(args) => top::run(args),
        Command::Llm(args) => llm::run(args),
    }
}
