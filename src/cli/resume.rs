//! `sage resume ID`: continue an interrupted session from its log.

use anyhow::Context;
use sage::config::Paths;
use sage::session::run::resume;
use sage::session::{Controls, DriveOutcome, Durability, Instruments, SessionStore};

use super::instruments::{SourceChoice, activation_source, reasoner};

/// Arguments of `sage resume`.
#[derive(Debug, clap::Args)]
pub struct ResumeArgs {
    /// The session id (see `sage sessions`).
    pub id: String,
    /// Continue with this reasoner instead of the recorded one.
    #[arg(long)]
    pub llm: Option<String>,
}

/// Resumes the session and drives it to its end.
pub fn run(args: ResumeArgs) -> anyhow::Result<()> {
    let store = SessionStore::new(Paths::resolve().sessions_dir());
    let header = store.load(&args.id)?.header;
    let source = activation_source(&SourceChoice::from_header(&header))?;
    let reasoner = reasoner(args.llm.as_deref().unwrap_or(&header.reasoner))?;
    let runtime = tokio::runtime::Runtime::new().context("could not start the async runtime")?;
    let run = runtime.block_on(resume(
        &store,
        &args.id,
        Instruments { source, reasoner },
        Durability::EveryEvent,
        Controls::default(),
    ))?;
    if let Some(torn) = &run.repaired {
        eprintln!("warning: {torn}; it was cut off before resuming");
    }
    match run.outcome {
        DriveOutcome::Concluded(conclusion) => println!(
            "{}: concluded after {} events: {}",
            run.id, run.events, conclusion.label
        ),
        DriveOutcome::Idle => println!(
            "{}: stopped after {} events, waiting for the researcher (paused or awaiting approval)",
            run.id, run.events
        ),
    }
    Ok(())
}
