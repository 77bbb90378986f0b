//! Subcommand definitions and their dispatch; one file per subcommand.

mod activations;
mod input;
mod paths;

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
}

/// Runs one parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Paths(args) => paths::run(args),
        Command::Activations(args) => activations::run(args),
    }
}
