//! A terminal progress bar for mining: corpus bytes read, tokens per
//! second and the time left.

use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};

use super::miner::MiningProgress;

/// Shows [`MiningProgress`] reports on an indicatif bar (on stderr, so
/// `--json` output on stdout stays clean).
pub struct ProgressBarReporter {
    bar: ProgressBar,
    started: Instant,
    first_tokens: Option<u64>,
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
        ProgressBarReporter {
            bar,
            started: Instant::now(),
            first_tokens: None,
        }
    }

    /// Updates the bar from one report. The rate counts only tokens scored
    /// in this process, so a resumed run does not claim the earlier work.
    pub fn report(&mut self, progress: &MiningProgress) {
        let first = *self.first_tokens.get_or_insert(progress.tokens_done);
        let elapsed = self.started.elapsed().as_secs_f64().max(1e-3);
        let rate = (progress.tokens_done - first) as f64 / elapsed;
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
