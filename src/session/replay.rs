//! Replay: fold the first N events of a log into a fresh agent, through the
//! same [`Fold`] the live driver uses.

use super::fold::{Fold, Machine};
use super::log::LogEntry;
use crate::agent::Event;

/// Rebuilds the state after the first `upto` events (all of them when
/// `None` or when `upto` exceeds the log).
pub fn replay<M: Machine>(machine: M, entries: &[LogEntry<Event>], upto: Option<usize>) -> Fold<M> {
    let count = upto.map_or(entries.len(), |n| n.min(entries.len()));
    let mut fold = Fold::new(machine);
    for entry in &entries[..count] {
        // The effects were executed when the session ran; replay only needs
        // the state they lead to.
        let _effects = fold.apply(entry.event.clone());
    }
    fold
}
