//! What the miner keeps per feature while streaming: a bounded top-k, a
//! reservoir per activation band, a reservoir of silent windows, firing
//! counts and the running maximum.

use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};

use super::sampling::{BandedReservoirs, Reservoir, SplitMix64};
use super::values::WindowValues;
use super::window::TokenWindow;

/// Slots reserved per kept list (top, each band, silent) before any window
/// arrives; larger capacities grow on demand.
const RESERVED_TOP: usize = 64;

/// A window's text, kept once and shared by every feature that keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredWindow {
    /// Position in the window stream.
    pub seq: u64,
    /// Source file (shared by every window cut from it).
    pub file: Arc<str>,
    /// Byte offset in the file.
    pub offset: u64,
    /// Token ids, shared with every result that shows this window.
    pub ids: Arc<[u32]>,
    /// Token strings, shared with every result that shows this window.
    pub tokens: Arc<[String]>,
}

impl StoredWindow {
    fn from_window(w: &TokenWindow) -> StoredWindow {
        StoredWindow {
            seq: w.seq,
            file: Arc::clone(&w.file),
            offset: w.offset,
            ids: w.ids.as_slice().into(),
            tokens: w.tokens.as_slice().into(),
        }
    }
}

/// One kept window for one feature. `W` is the window itself while
/// mining (`Arc<StoredWindow>`) and its `seq` in a checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample<W> {
    /// The window.
    pub window: W,
    /// Window position in the stream (ties go to the earlier window).
    pub seq: u64,
    /// The feature's activation at each token.
    pub values: WindowValues,
    /// The largest of `values`.
    pub max: f32,
}

/// How many windows of each kind a feature keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capacities {
    /// Top windows.
    pub top_k: usize,
    /// Samples per activation band.
    pub per_band: usize,
    /// Silent windows.
    pub non_activating: usize,
}

/// Everything kept for one feature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureStats<W> {
    /// The feature index.
    pub feature: u32,
    /// Best windows, strongest first (ties: earlier first).
    pub top: Vec<Sample<W>>,
    /// Firing windows sampled per band of their maximum.
    pub bands: BandedReservoirs<Sample<W>>,
    /// Windows where the feature never fires.
    pub quiet: Reservoir<Sample<W>>,
    /// Tokens with an activation above zero.
    pub firing_tokens: u64,
    /// Largest activation seen (0 if it never fired).
    pub max: f32,
    /// This feature's own sampling stream, so features can be updated on
    /// any thread in any order and still draw the same samples.
    pub rng: SplitMix64,
}

/// One window's activations for all requested features, row-major
/// `[token][feature]`.
pub struct ScoredWindow<'a> {
    /// The window.
    pub window: &'a TokenWindow,
    /// `window.ids.len() * n_features` values.
    pub values: &'a [f32],
    /// Number of requested features (the row length).
    pub n_features: usize,
    /// The window's text once some feature kept it (shared by the threads
    /// that update different features).
    pub stored: &'a OnceLock<Arc<StoredWindow>>,
}

impl ScoredWindow<'_> {
    fn sample(&mut self, column: usize, max: f32) -> Sample<Arc<StoredWindow>> {
        let window = self.window;
        let stored = self
            .stored
            .get_or_init(|| Arc::new(StoredWindow::from_window(window)))
            .clone();
        Sample {
            window: stored,
            seq: window.seq,
            values: WindowValues::from_column(self.values, column, self.n_features),
            max,
        }
    }
}

impl<W> FeatureStats<W> {
    /// Empty state for `feature` with `n_bands` activation bands; its
    /// sampling stream is derived from the run's `seed` and the index. The
    /// sample lists are allocated at their bounds up front, so memory does
    /// not creep up (or overshoot by doubling) as a long run fills them.
    pub fn new(feature: u32, n_bands: usize, seed: u64, caps: Capacities) -> FeatureStats<W> {
        // A well-mixed start point per feature along the 2^64-long cycle.
        let rng = SplitMix64(SplitMix64(seed.wrapping_add(u64::from(feature))).next_u64());
        let mut bands = BandedReservoirs::new(n_bands);
        for band in &mut bands.bands {
            band.items.reserve_exact(caps.per_band.min(RESERVED_TOP));
        }
        let mut quiet = Reservoir::default();
        quiet
            .items
            .reserve_exact(caps.non_activating.min(RESERVED_TOP));
        FeatureStats {
            feature,
            // One spare slot: a new window is inserted before the last is cut.
            // Reserved up to a small bound only: a large `top_k` grows on
            // demand instead of reserving for every feature up front.
            top: Vec::with_capacity(caps.top_k.min(RESERVED_TOP) + 1),
            bands,
            quiet,
            firing_tokens: 0,
            max: 0.0,
            rng,
        }
    }
}

impl FeatureStats<Arc<StoredWindow>> {
    /// Records one window: `column` is this feature's position in the
    /// scored rows, `window_max` and `firing` its precomputed maximum and
    /// count of tokens above zero there.
    pub fn observe(
        &mut self,
        scored: &mut ScoredWindow<'_>,
        column: usize,
        window_max: f32,
        firing: u64,
        caps: Capacities,
    ) {
        self.firing_tokens += firing;
        if !(window_max.is_finite() && window_max > 0.0) {
            self.quiet.offer(caps.non_activating, &mut self.rng, || {
                scored.sample(column, 0.0)
            });
            return;
        }
        self.max = self.max.max(window_max);
        let seq = scored.window.seq;
        let beats = |s: &Sample<Arc<StoredWindow>>| {
            window_max > s.max || (window_max == s.max && seq < s.seq)
        };
        if caps.top_k > 0 && (self.top.len() < caps.top_k || self.top.last().is_some_and(beats)) {
            let at = self.top.iter().position(beats).unwrap_or(self.top.len());
            self.top.insert(at, scored.sample(column, window_max));
            self.top.truncate(caps.top_k);
        }
        self.bands
            .offer(window_max, caps.per_band, &mut self.rng, || {
                scored.sample(column, window_max)
            });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(seq: u64, n: usize) -> TokenWindow {
        TokenWindow {
            seq,
            file: Arc::from("f.txt"),
            offset: seq * 10,
            ids: (0..n as u32).collect(),
            tokens: (0..n).map(|i| format!("t{i}")).collect(),
            corpus_bytes_done: 0,
        }
    }

    #[test]
    fn top_k_keeps_the_strongest_windows_and_prefers_earlier_ties() {
        let caps = Capacities {
            top_k: 2,
            per_band: 1,
            non_activating: 1,
        };
        let mut stats = FeatureStats::new(0, 2, 0, caps);
        // Two features per row; this feature is column 1.
        let maxes = [1.0f32, 3.0, 2.0, 3.0, 0.0];
        for (seq, &m) in maxes.iter().enumerate() {
            let w = window(seq as u64, 2);
            let values = [9.0, 0.0, 9.0, m];
            let mut scored = ScoredWindow {
                window: &w,
                values: &values,
                n_features: 2,
                stored: &OnceLock::new(),
            };
            stats.observe(&mut scored, 1, m, u64::from(m > 0.0), caps);
        }
        let top: Vec<(u64, f32, Vec<f32>)> = stats
            .top
            .iter()
            .map(|s| (s.seq, s.max, s.values.to_vec()))
            .collect();
        assert_eq!(
            top,
            vec![(1, 3.0, vec![0.0, 3.0]), (3, 3.0, vec![0.0, 3.0])]
        );
        assert_eq!(stats.firing_tokens, 4);
        assert_eq!(stats.max, 3.0);
        assert_eq!(stats.quiet.seen, 1);
        assert_eq!(stats.quiet.items[0].seq, 4);
        assert_eq!(stats.top[0].window.offset, 10);
    }
}
