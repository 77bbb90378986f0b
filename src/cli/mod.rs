//! Subcommand definitions and their dispatch; one file per subcommand.

mod activations;
mod input;
mod local;
mod neuronpedia;
mod paths;
mod top;

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
    /// Per-token activations of one SAE feature on texts or token ids.
    Activations(activations::ActivationsArgs),
    /// Mine a corpus for the windows that most activate SAE features.
    Top(top::TopArgs),
}

/// Runs one parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Paths(args) => paths::run(args),
        Command::Activations(args) => activations::run(args),
        Command::Top(args) => top::run(args),
    }
}
