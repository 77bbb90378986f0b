//! The live driver: owns the agent, runs its effects concurrently, logs
//! every incoming event before applying it, and publishes state snapshots.
//!
//! Reasoner calls, exemplar fetches and activation runs each run on their
//! own tokio task; their results come back as events in completion order.
//! Researcher actions arrive over an mpsc channel and are events too, so the
//! log holds everything needed to replay the session exactly. When the agent
//! has a time limit ([`Machine::wake_at_ms`]) the driver keeps one timer and
//! sends an `Event::Tick` when it expires, so a wall-time budget fires on
//! time even while a call hangs.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::fold::{Fold, Machine};
use super::log::{LogError, LogWriter};
use crate::activation::{ActivationRecord, ActivationSource, FeatureExemplars, SourceError};
use crate::agent::{Conclusion, Effect, Event, UserAction};
use crate::net::strip_userinfo;
use crate::reasoner::Reasoner;

/// The instruments effects are executed with.
#[derive(Clone)]
pub struct Instruments {
    /// Where exemplars and activations come from.
    pub source: Arc<dyn ActivationSource>,
    /// Who takes the thinking steps.
    pub reasoner: Arc<dyn Reasoner>,
}

/// How a drive ended.
#[derive(Debug, Clone, PartialEq)]
pub enum DriveOutcome {
    /// The agent concluded.
    Concluded(Conclusion),
    /// Nothing is running and no researcher can act any more (the action
    /// channel closed) while the agent waits: for approval, or paused.
    Idle,
}

/// Why driving stopped early.
#[derive(Debug, thiserror::Error)]
pub enum DriveError {
    /// The log could not be written: the event was not applied.
    #[error("could not record an event, so the session stopped: {0}")]
    Log(#[from] LogError),
}

/// Runs one session's agent against its instruments.
pub struct Driver<M: Machine> {
    fold: Fold<M>,
    log: LogWriter,
    instruments: Instruments,
    states: watch::Sender<M::State>,
    actions: Option<mpsc::Receiver<UserAction>>,
    clock: Clock,
    /// The wake-up time already answered with a Tick, so a machine that
    /// stays awake past it is not ticked in a loop.
    ticked_for: Option<u64>,
}

type Running = FuturesUnordered<JoinHandle<Event>>;

impl<M: Machine> Driver<M> {
    /// A driver over a fold (fresh, or rebuilt from a log by replay) that
    /// appends to `log`. Returns the receiver of state snapshots.
    pub fn new(
        fold: Fold<M>,
        log: LogWriter,
        instruments: Instruments,
        actions: Option<mpsc::Receiver<UserAction>>,
    ) -> (Driver<M>, watch::Receiver<M::State>) {
        let (states, snapshots) = watch::channel(fold.state());
        let driver = Driver {
            fold,
            log,
            instruments,
            states,
            actions,
            clock: Clock::start(),
            ticked_for: None,
        };
        (driver, snapshots)
    }

    /// Drives until the agent concludes or can make no more progress.
    /// `first` is the event to start with (`Event::Start` for a new session,
    /// `None` when resuming, in which case every unanswered request of the
    /// rebuilt fold is issued again).
    pub async fn run(
        mut self,
        first: Option<Event>,
    ) -> Result<(DriveOutcome, Fold<M>), DriveError> {
        let mut running: Running = FuturesUnordered::new();
        match first {
            Some(event) => self.apply(event, &mut running)?,
            None => {
                for effect in self.fold.unanswered() {
                    self.execute(effect, &mut running);
                }
            }
        }
        loop {
            if let Some(conclusion) = self.fold.conclusion() {
                let conclusion = conclusion.clone();
                self.log.close()?;
                return Ok((DriveOutcome::Concluded(conclusion), self.fold));
            }
            let wake = self.tick_due(&running);
            let wake_instant = self.clock.instant_at(wake.unwrap_or(0));
            let event = tokio::select! {
                Some(done) = running.next(), if !running.is_empty() => match done {
                    Ok(event) => event,
                    // A task that panicked is a bug in an instrument; the
                    // session cannot know the answer, so it stops here.
                    Err(join) => std::panic::resume_unwind(join.into_panic()),
                },
                action = recv(&mut self.actions), if self.actions.is_some() => match action {
                    Some(action) => Event::User { action, at_ms: self.clock.now_ms() },
                    None => {
                        self.actions = None;
                        continue;
                    }
                },
                () = tokio::time::sleep_until(wake_instant), if wake.is_some() => {
                    self.ticked_for = wake;
                    Event::Tick { at_ms: self.clock.now_ms() }
                },
                else => {
                    self.log.close()?;
                    return Ok((DriveOutcome::Idle, self.fold));
                }
            };
            self.apply(event, &mut running)?;
        }
    }

    /// Logs the event, then applies it, publishes the new state and starts
    /// the work it asked for.
    fn apply(&mut self, event: Event, running: &mut Running) -> Result<(), DriveError> {
        self.log.append(event.at_ms(), &event)?;
        let effects = self.fold.apply(event);
        self.states.send_replace(self.fold.state());
        for effect in effects {
            self.execute(effect, running);
        }
        Ok(())
    }

    /// The wake-up time to wait for, if the machine has one not yet
    /// answered and the session can still move (work is running or a
    /// researcher can act); a stalled headless session ends as idle instead.
    fn tick_due(&self, running: &Running) -> Option<u64> {
        if running.is_empty() && self.actions.is_none() {
            return None;
        }
        self.fold
            .wake_at_ms()
            .filter(|&at| self.ticked_for != Some(at))
    }

    fn execute(&self, effect: Effect, running: &mut Running) {
        let Instruments { source, reasoner } = self.instruments.clone();
        let clock = self.clock;
        match effect {
            Effect::FetchExemplars { feature, query } => running.push(tokio::spawn(async move {
                match source
                    .exemplars(feature, &query)
                    .await
                    .and_then(finite_exemplars)
                {
                    Ok(exemplars) => Event::ExemplarsArrived {
                        exemplars,
                        at_ms: clock.now_ms(),
                    },
                    Err(error) => Event::ExemplarsFailed {
                        error: strip_userinfo(&error.to_string()),
                        at_ms: clock.now_ms(),
                    },
                }
            })),
            Effect::Reason { request, step } => running.push(tokio::spawn(async move {
                match reasoner.reason(&step).await {
                    Ok((reply, usage)) => Event::ReasonerReplied {
                        request,
                        reply,
                        usage,
                        at_ms: clock.now_ms(),
                    },
                    Err(error) => Event::ReasonerFailed {
                        request,
                        usage: error.usage(),
                        error: strip_userinfo(&error.to_string()),
                        at_ms: clock.now_ms(),
                    },
                }
            })),
            Effect::RunTexts {
                request,
                feature,
                texts,
            } => running.push(tokio::spawn(async move {
                match source
                    .activations(feature, &texts)
                    .await
                    .and_then(finite_records)
                {
                    Ok(records) => Event::ActivationsArrived {
                        request,
                        records,
                        at_ms: clock.now_ms(),
                    },
                    Err(error) => Event::ActivationsFailed {
                        request,
                        error: strip_userinfo(&error.to_string()),
                        at_ms: clock.now_ms(),
                    },
                }
            })),
            // Approvals are shown from the state; the conclusion is kept by the fold.
            Effect::AwaitApproval { .. } | Effect::Concluded { .. } => {}
        }
    }
}

/// Exemplars as the source gave them, or a typed error when a value is NaN
/// or infinite (the event log could not hold it).
fn finite_exemplars(exemplars: FeatureExemplars) -> Result<FeatureExemplars, SourceError> {
    exemplars.check_finite().map_err(SourceError::NonFinite)?;
    Ok(exemplars)
}

/// Experiment records as the source gave them, or a typed error naming the
/// first value that is NaN or infinite.
fn finite_records(records: Vec<ActivationRecord>) -> Result<Vec<ActivationRecord>, SourceError> {
    for (i, record) in records.iter().enumerate() {
        record
            .check_finite(&format!("text {}: ", i + 1))
            .map_err(SourceError::NonFinite)?;
    }
    Ok(records)
}

/// Receives the next researcher action; never resolves without a channel
/// (the `select!` guard keeps it from being polled then).
async fn recv(actions: &mut Option<mpsc::Receiver<UserAction>>) -> Option<UserAction> {
    match actions {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// The driver's clock: milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The time events are stamped with: Unix milliseconds taken once, advanced
/// by tokio's monotonic clock. Monotonic within a drive, and a test that
/// pauses tokio's clock controls it.
#[derive(Debug, Clone, Copy)]
struct Clock {
    origin_unix_ms: u64,
    origin: Instant,
}

impl Clock {
    fn start() -> Clock {
        Clock {
            origin_unix_ms: now_ms(),
            origin: Instant::now(),
        }
    }

    fn now_ms(&self) -> u64 {
        let elapsed = u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.origin_unix_ms.saturating_add(elapsed)
    }

    /// The instant this clock reads `unix_ms` (its origin, for a time
    /// already past), capped at ten years so no budget overflows `Instant`.
    fn instant_at(&self, unix_ms: u64) -> Instant {
        const CAP: Duration = Duration::from_secs(10 * 365 * 86_400);
        let ahead = Duration::from_millis(unix_ms.saturating_sub(self.origin_unix_ms));
        self.origin + ahead.min(CAP)
    }
}
