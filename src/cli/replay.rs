//! `sage replay ID`: rebuild a session's state after N events, offline, and
//! export it as Markdown, JSON or HTML.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Context;
use sage::agent::Agent;
use sage::config::Paths;
use sage::escape::{terminal, terminal_line};
use sage::report::Report;
use sage::session::{SessionStore, replay};

/// Report formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// Markdown, tokens listed with their activations.
    Md,
    /// The stable JSON schema of docs/explain-schema.md.
    Json,
    /// A standalone page, tokens coloured by activation.
    Html,
}

/// Arguments of `sage replay`.
#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// The session id (see `sage sessions`).
    pub id: String,
    /// Rebuild the state after this many events (default: all of them).
    #[arg(long)]
    pub at: Option<usize>,
    /// Export a report in this format instead of opening the TUI. Without
    /// it, a terminal gets the replay TUI and a pipe gets Markdown.
    #[arg(long, value_enum)]
    pub export: Option<ExportFormat>,
    /// Appearance of the replay TUI.
    #[command(flatten)]
    pub look: super::explore::LookArgs,
    /// Write the report here instead of to standard output.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Replays the log and prints or writes the report.
pub fn run(args: ReplayArgs) -> anyhow::Result<()> {
    let paths = Paths::resolve();
    if args.export.is_none() && args.out.is_none() && std::io::stdout().is_terminal() {
        return super::explore::replay_tui(&paths, &args.id, &args.look);
    }
    let store = SessionStore::new(paths.sessions_dir());
    let log = store.load(&args.id)?;
    if let Some(torn) = &log.torn_tail {
        eprintln!("warning: {}", terminal_line(&torn.to_string()));
    }
    let fold = replay(Agent::new(), &log.entries, args.at);
    let report = Report::build(&log.header, &fold.state(), fold.applied());
    let text = match args.export.unwrap_or(ExportFormat::Md) {
        ExportFormat::Md => report.to_markdown(),
        ExportFormat::Json => serde_json::to_string_pretty(&report)? + "\n",
        ExportFormat::Html => report.to_html(),
    };
    match args.out {
        Some(path) => std::fs::write(&path, text)
            .with_context(|| format!("could not write the report to {}", path.display()))?,
        // Markdown and HTML are escaped as built and JSON by serde; this
        // is the last guard before the terminal.
        None => print!("{}", terminal(&text)),
    }
    Ok(())
}
