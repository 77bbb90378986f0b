//! Starting and resuming sessions headlessly: create or reopen the log,
//! rebuild the agent, and drive it to the end.

use tokio::sync::{mpsc, watch};

use super::driver::{DriveError, DriveOutcome, Driver, Instruments, now_ms};
use super::fold::Fold;
use super::log::FORMAT_NAME;
use super::log::{Durability, FORMAT_VERSION, LogHeader, LogWriter, SourceRecord, TornTail};
use super::replay::replay;
use super::store::{SessionStore, StoreError};
use crate::agent::{Agent, AgentConfig, AgentState, Event, UserAction};
use crate::net::strip_userinfo;

/// Why a session could not run.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// Finding, naming or reading the log failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Driving failed.
    #[error(transparent)]
    Drive(#[from] DriveError),
}

/// A finished drive.
#[derive(Debug)]
pub struct SessionRun {
    /// The session's id.
    pub id: String,
    /// How it ended.
    pub outcome: DriveOutcome,
    /// The final state.
    pub state: AgentState,
    /// Events in the log.
    pub events: u64,
    /// A torn tail cut off when resuming, to show the user.
    pub repaired: Option<TornTail>,
}

/// What a new session explains and how.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// Feature index.
    pub feature: u32,
    /// Agent configuration.
    pub config: AgentConfig,
    /// Seed for the agent's choices.
    pub seed: u64,
    /// The reasoner spec as the user gave it (`heuristic`, `openai:MODEL`,
    /// …), recorded so `sage resume` can rebuild the same reasoner. Keys
    /// never appear in specs, and URL user info is stripped before the spec
    /// is written.
    pub reasoner_spec: String,
    /// How to reopen the activation source on resume (recorded in the
    /// header); `None` for a source sage cannot reopen by itself.
    pub source: Option<SourceRecord>,
    /// When events reach the disk.
    pub durability: Durability,
}

/// Optional live hooks: researcher actions in, state snapshots out.
#[derive(Default)]
pub struct Controls {
    /// Researcher actions; `None` for unattended runs.
    pub actions: Option<mpsc::Receiver<UserAction>>,
    /// Receives the snapshot channel as soon as the driver exists.
    pub on_snapshots: Option<Box<dyn FnOnce(watch::Receiver<AgentState>) + Send>>,
}

/// Creates a new session log and drives it to its end.
pub async fn start(
    store: &SessionStore,
    instruments: Instruments,
    session: NewSession,
    controls: Controls,
) -> Result<SessionRun, SessionError> {
    let info = instruments.source.info();
    let created_at_ms = now_ms();
    let header = LogHeader {
        format: FORMAT_NAME.to_string(),
        format_version: FORMAT_VERSION,
        session_id: String::new(),
        model: info.model,
        sae: info.sae,
        hook: info.hook,
        source: session.source.clone(),
        feature: session.feature,
        reasoner: strip_userinfo(&session.reasoner_spec),
        seed: session.seed,
        created_at_ms,
        config: session.config.clone(),
    };
    let log = store.create(header, session.durability)?;
    let id = log.session_id();
    let first = Event::Start {
        feature: session.feature,
        config: session.config,
        seed: session.seed,
        at_ms: created_at_ms,
    };
    drive(
        id,
        Fold::new(Agent::new()),
        log,
        instruments,
        controls,
        Some(first),
        None,
    )
    .await
}

/// Reopens a session's log (cutting a torn tail), rebuilds the agent by
/// replaying it, re-issues every unanswered request, and drives it on.
pub async fn resume(
    store: &SessionStore,
    id: &str,
    instruments: Instruments,
    durability: Durability,
    controls: Controls,
) -> Result<SessionRun, SessionError> {
    let (loaded, log) = store.reopen(id, durability)?;
    let fold = replay(Agent::new(), &loaded.entries, None);
    drive(
        id.to_string(),
        fold,
        log,
        instruments,
        controls,
        None,
        loaded.torn_tail,
    )
    .await
}

async fn drive(
    id: String,
    fold: Fold<Agent>,
    log: LogWriter,
    instruments: Instruments,
    controls: Controls,
    first: Option<Event>,
    repaired: Option<TornTail>,
) -> Result<SessionRun, SessionError> {
    let (driver, snapshots) = Driver::new(fold, log, instruments, controls.actions);
    if let Some(hand_over) = controls.on_snapshots {
        hand_over(snapshots);
    }
    let (outcome, fold) = driver.run(first).await?;
    Ok(SessionRun {
        id,
        outcome,
        state: fold.state(),
        events: fold.applied(),
        repaired,
    })
}
