//! Applying events to the agent: the one code path shared by the live
//! driver and by replay, so a replayed state is the live state.
//!
//! Besides feeding the machine, the fold tracks which requests are still
//! unanswered (so a resumed session re-issues exactly those) and whether the
//! session has concluded.

use crate::agent::{Conclusion, Effect, Event, RequestId};

/// What the driver needs from the agent: feed it an event, read its state.
///
/// `agent::Agent` implements it; the driver and replay are written against
/// this trait so they never reach into the agent's internals.
pub trait Machine: Send {
    /// A snapshot of everything a view renders; compared by the replay test.
    type State: Clone + PartialEq + std::fmt::Debug + Send + Sync + 'static;

    /// Consumes one event and returns the work it asks for.
    fn handle(&mut self, event: Event) -> Vec<Effect>;

    /// The current state.
    fn state(&self) -> Self::State;

    /// The driver time (ms since the Unix epoch) at which the machine wants
    /// an `Event::Tick` even if nothing else happens, such as the end of a
    /// wall-time budget; `None` when no time limit is pending.
    fn wake_at_ms(&self) -> Option<u64> {
        None
    }
}

/// A request the agent made that has no answer in the log yet.
#[derive(Debug, Clone, PartialEq)]
enum Pending {
    Exemplars(Effect),
    Request(RequestId, Effect),
}

/// A machine plus the bookkeeping every event passes through.
#[derive(Debug)]
pub struct Fold<M> {
    machine: M,
    pending: Vec<Pending>,
    conclusion: Option<Conclusion>,
    applied: u64,
}

impl<M: Machine> Fold<M> {
    /// Wraps a fresh machine.
    pub fn new(machine: M) -> Fold<M> {
        Fold {
            machine,
            pending: Vec::new(),
            conclusion: None,
            applied: 0,
        }
    }

    /// Applies one event and returns the effects it produced.
    pub fn apply(&mut self, event: Event) -> Vec<Effect> {
        self.settle(&event);
        let effects = self.machine.handle(event);
        for effect in &effects {
            match effect {
                Effect::FetchExemplars { .. } => {
                    self.pending.push(Pending::Exemplars(effect.clone()))
                }
                Effect::Reason { request, .. } | Effect::RunTexts { request, .. } => {
                    self.pending
                        .push(Pending::Request(*request, effect.clone()));
                }
                Effect::Concluded { conclusion } => self.conclusion = Some(conclusion.clone()),
                Effect::AwaitApproval { .. } => {}
            }
        }
        self.applied += 1;
        effects
    }

    /// Requests still waiting for an answer, oldest first: what a resumed
    /// session must issue again.
    pub fn unanswered(&self) -> Vec<Effect> {
        self.pending
            .iter()
            .map(|p| match p {
                Pending::Exemplars(effect) | Pending::Request(_, effect) => effect.clone(),
            })
            .collect()
    }

    /// The conclusion, once the agent has reached one.
    pub fn conclusion(&self) -> Option<&Conclusion> {
        self.conclusion.as_ref()
    }

    /// How many events have been applied.
    pub fn applied(&self) -> u64 {
        self.applied
    }

    /// The machine's current state.
    pub fn state(&self) -> M::State {
        self.machine.state()
    }

    /// When the machine wants a `Tick` (see [`Machine::wake_at_ms`]).
    pub fn wake_at_ms(&self) -> Option<u64> {
        self.machine.wake_at_ms()
    }

    /// The machine itself, read-only.
    pub fn machine(&self) -> &M {
        &self.machine
    }

    /// Drops the pending entry an answering event settles.
    fn settle(&mut self, event: &Event) {
        let answered = match event {
            Event::ExemplarsArrived { .. } | Event::ExemplarsFailed { .. } => self
                .pending
                .iter()
                .position(|p| matches!(p, Pending::Exemplars(_))),
            Event::ReasonerReplied { request, .. }
            | Event::ReasonerFailed { request, .. }
            | Event::ActivationsArrived { request, .. }
            | Event::ActivationsFailed { request, .. } => self
                .pending
                .iter()
                .position(|p| matches!(p, Pending::Request(id, _) if id == request)),
            Event::Start { .. }
            | Event::User { .. }
            | Event::Tick { .. }
            | Event::Evaluated { .. } => None,
        };
        if let Some(index) = answered {
            self.pending.remove(index);
        }
    }
}

impl Machine for crate::agent::Agent {
    type State = crate::agent::AgentState;

    fn handle(&mut self, event: Event) -> Vec<Effect> {
        crate::agent::Agent::handle(self, event)
    }

    fn state(&self) -> Self::State {
        crate::agent::Agent::state(self).clone()
    }

    fn wake_at_ms(&self) -> Option<u64> {
        crate::agent::Agent::wake_at_ms(self)
    }
}
