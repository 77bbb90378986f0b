//! Subcommand definitions and their dispatch; one file per subcommand.

mod activations;
mod hook;
mod input;
mod paths;
mod train_sae;

use clap::{Parser, Subcommand};

/// Explain sparse-autoencoder features by experiment.
#[derive(Debug, Parser)]
#[command(name = "sage", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print where sage keeps its config file, sessions and caches.
    Paths(paths::PathsArgs),
    /// Train a TopK SAE on a model's activations over a corpus (SAELens format).
    TrainSae(train_sae::TrainSaeArgs),
    /// Run a model to one TransformerLens hook and print the activations per token.
    Hook(hook::HookArgs),
    /// Per-token activations of one SAE feature on texts or token ids.
    Activations(activations::ActivationsArgs),
}

/// Runs one parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Paths(args) => paths::run(args),
        Command::TrainSae(args) => train_sae::run(args),
        Command::Hook(args) => hook::run(args),
        Command::Activations(args) => activations::run(args),
    }
}
