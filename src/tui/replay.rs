//! Scrubbing through a saved session: the state after any prefix of its
//! events, rebuilt through the session's one [`Fold`] (the code path the
//! live driver uses, so what replay shows is what happened).

use crate::agent::{Agent, AgentState, Event};
use crate::session::Fold;

/// A position in a session's event list and the state it produces.
#[derive(Debug)]
pub struct ReplayCursor {
    events: Vec<Event>,
    fold: Fold<Agent>,
    at: usize,
    /// The design round after each prefix length, for round jumps.
    rounds: Vec<u32>,
}

impl ReplayCursor {
    /// A cursor before the first event.
    pub fn new(events: Vec<Event>) -> ReplayCursor {
        let mut fold = Fold::new(Agent::new());
        let mut rounds = vec![fold.machine().state().round];
        for event in &events {
            let _ = fold.apply(event.clone());
            rounds.push(fold.machine().state().round);
        }
        ReplayCursor {
            events,
            fold: Fold::new(Agent::new()),
            at: 0,
            rounds,
        }
    }

    /// Events in the session.
    pub fn total(&self) -> usize {
        self.events.len()
    }

    /// Events folded so far.
    pub fn at(&self) -> usize {
        self.at
    }

    /// The state after `at()` events.
    pub fn state(&self) -> &AgentState {
        self.fold.machine().state()
    }

    /// Moves to the state after `n` events (clamped to the log's length).
    /// Going forward folds only the new events; going back refolds.
    pub fn seek(&mut self, n: usize) {
        let n = n.min(self.events.len());
        if n < self.at {
            self.fold = Fold::new(Agent::new());
            self.at = 0;
        }
        for event in &self.events[self.at..n] {
            let _ = self.fold.apply(event.clone());
        }
        self.at = n;
    }

    /// The prefix length where the next (or previous) round begins; the
    /// end (or start) of the log when there is none.
    pub fn round_boundary(&self, forward: bool) -> usize {
        let current = self.rounds[self.at];
        if forward {
            (self.at + 1..self.rounds.len())
                .find(|&i| self.rounds[i] > current)
                .unwrap_or(self.events.len())
        } else {
            // The first prefix of the current round, then of the one before.
            let start = (0..=self.at)
                .rev()
                .find(|&i| self.rounds[i] < current)
                .map_or(0, |i| i + 1);
            if start < self.at {
                start
            } else {
                (0..start)
                    .rev()
                    .find(|&i| self.rounds[i] < current.saturating_sub(1))
                    .map_or(0, |i| i + 1)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::GateMode;
    use crate::tui::testing::scripted_session;

    #[test]
    fn seeking_anywhere_matches_a_fresh_fold_of_that_prefix() {
        let (live, events) = scripted_session(GateMode::Auto, usize::MAX);
        let mut cursor = ReplayCursor::new(events.clone());
        for n in [events.len(), 3, 0, 7, events.len() - 1, events.len()] {
            cursor.seek(n);
            let mut fresh = Agent::new();
            for e in &events[..n] {
                let _ = fresh.handle(e.clone());
            }
            assert_eq!(cursor.state(), fresh.state(), "after {n} events");
        }
        assert_eq!(cursor.state(), live.state());
    }

    #[test]
    fn round_jumps_land_on_round_boundaries() {
        let (_, events) = scripted_session(GateMode::Auto, usize::MAX);
        let mut cursor = ReplayCursor::new(events);
        let next = cursor.round_boundary(true);
        cursor.seek(next);
        assert_eq!(cursor.state().round, 1);
        let after = cursor.round_boundary(true);
        cursor.seek(after);
        assert_eq!(cursor.state().round, 2);
        let back = cursor.round_boundary(false);
        cursor.seek(back);
        assert_eq!(cursor.state().round, 1);
        cursor.seek(cursor.round_boundary(false));
        assert_eq!(cursor.at(), 0);
    }
}
