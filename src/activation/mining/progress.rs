//! A terminal progress bar for mining: corpus bytes read, tokens per
//! second and the time left.

use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};

use super::miner::MiningProgress;

/// Shows [`MiningProgress`] reports on an indicatif bar (on stderr, so
/// `--json` output on stdout stays clean).
pub struct ProgressBarReporter {
    bar: ProgressBar,
    /// Time and token count of the first report: the rate is measured
    /// from there, so model loading and a resumed run's earlier work do
    /// not distort it.
    first: Option<(Instant, u64)>,
}

impl ProgressBarReporter {
    /// A bar over `total_bytes` of corpus; hidden when stderr is not a
    /// terminal.
    pub fn new(total_bytes: u64) -> ProgressBarReporter {
        let bar = ProgressBar::new(total_bytes);
        let style = ProgressStyle::with_template(
            "{spinner} mining [{bar:30}] {bytes}/{total_bytes} · {msg} · ETA {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        bar.set_style(style);
        ProgressBarReporter { bar, first: None }
    }

    /// Updates the bar from one report.
    pub fn report(&mut self, progress: &MiningProgress) {
        let (since, first_tokens) = *self
            .first
            .get_or_insert((Instant::now(), progress.tokens_done));
        let elapsed = since.elapsed().as_secs_f64().max(1e-3);
        let rate = progress.tokens_done.saturating_sub(first_tokens) as f64 / elapsed;
        self.bar.set_position(progress.bytes_done);
        self.bar.set_message(format!(
            "{} tokens · {rate:.0} tokens/s",
            progress.tokens_done
        ));
    }

    /// Removes the bar.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
