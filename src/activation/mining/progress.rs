//! A terminal progress bar for mining: corpus bytes read, tokens per
//! second and the time left.

use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};

use super::miner::MiningProgress;

/// Shows [`MiningProgress`] reports on an indicatif bar (on stderr, so
/// `--json` output on stdout stays clean), and a one-line summary with the
/// run's throughput when it ends.
pub struct ProgressBarReporter {
    bar: ProgressBar,
    /// When the run started (before its first batch, so the summary's
    /// rate covers tokenizing and every batch, not model loading).
    started: Instant,
    /// Tokens this run scored, as of the last report.
    tokens_this_run: u64,
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
        ProgressBarReporter {
            bar,
            started: Instant::now(),
            tokens_this_run: 0,
            first: None,
        }
    }

    /// Updates the bar from one report.
    pub fn report(&mut self, progress: &MiningProgress) {
        let (since, first_tokens) = *self
            .first
            .get_or_insert((Instant::now(), progress.tokens_done));
        let elapsed = since.elapsed().as_secs_f64().max(1e-3);
        let rate = progress.tokens_done.saturating_sub(first_tokens) as f64 / elapsed;
        self.tokens_this_run = progress.tokens_this_run;
        self.bar.set_position(progress.bytes_done);
        self.bar.set_message(format!(
            "{} tokens · {rate:.0} tokens/s",
            progress.tokens_done
        ));
    }

    /// Removes the bar and, if this run scored anything, prints how much
    /// and how fast on stderr (also when stderr is not a terminal, so logs
    /// and benchmarks see it).
    pub fn finish(&self) {
        self.bar.finish_and_clear();
        if let Some(line) = summary(self.tokens_this_run, self.started.elapsed().as_secs_f64()) {
            eprintln!("{line}");
        }
    }
}

/// `mined N tokens in S s (R tokens/s)`, or nothing for a run that scored
/// no tokens (answered from the cache).
fn summary(tokens: u64, seconds: f64) -> Option<String> {
    (tokens > 0).then(|| {
        format!(
            "mined {tokens} tokens in {seconds:.1} s ({:.0} tokens/s)",
            tokens as f64 / seconds.max(1e-3)
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_gives_the_rate_and_stays_quiet_without_work() {
        assert_eq!(
            summary(1000, 4.0).as_deref(),
            Some("mined 1000 tokens in 4.0 s (250 tokens/s)")
        );
        assert_eq!(summary(0, 4.0), None);
    }
}
