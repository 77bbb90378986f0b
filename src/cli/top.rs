//! `sage top`: stream a corpus through a model + SAE once and report, per
//! feature, its top activating windows (with file and offset), quantile
//! samples, firing density and maximum.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use sage::activation::ActivationSource as _;
use sage::activation::mining::{
    Corpus, MinedFeatures, MinedWindow, MiningConfig, MiningControl, MiningOutcome, MiningProgress,
    MiningStore, ProgressBarReporter, mine, parse_feature_list,
};
use sage::config::Paths;
use sage::escape::terminal;

use super::local::{LocalArgs, mine_with_progress, open_local_source};

/// Arguments of `sage top`.
#[derive(Debug, clap::Args)]
pub struct TopArgs {
    /// Model and SAE to run.
    #[command(flatten)]
    pub local: LocalArgs,
    /// A text file, a .jsonl file with a "text" field per line, or a
    /// directory of them (searched recursively).
    #[arg(long)]
    pub corpus: PathBuf,
    /// Features to record: `all`, or indices and ranges like 3,7,100..110.
    #[arg(long, default_value = "all")]
    pub features: String,
    /// Top windows kept per feature.
    #[arg(short = 'k', long = "top-k", default_value_t = 20)]
    pub top_k: usize,
    /// Tokens per window.
    #[arg(long, default_value_t = 64)]
    pub window: usize,
    /// Windows per forward pass.
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
    /// Print the full result as JSON.
    #[arg(long)]
    pub json: bool,
    /// Neither read nor write the result cache and checkpoint (for benchmarks).
    #[arg(long)]
    pub no_cache: bool,
}

/// Mines the corpus (or answers from the cache) and prints the result.
pub fn run(args: TopArgs) -> anyhow::Result<()> {
    let corpus = Corpus::open(&args.corpus)?;
    let source = open_local_source(&args.local)?;
    let info = source.info();
    let features = parse_feature_list(&args.features, info.n_features)?;
    let config = MiningConfig {
        window: args.window,
        batch_size: args.batch,
        top_k: args.top_k,
        ..MiningConfig::default()
    };
    let (result, cached) = if args.no_cache {
        source.prepare_mining();
        let mut bar = ProgressBarReporter::new(corpus.total_bytes());
        let mut report = |p: &MiningProgress| bar.report(p);
        let control = MiningControl {
            stop: None,
            checkpoint: None,
            progress: Some(&mut report),
        };
        let mut scorer = source.clone();
        let tokenizer = source.tokenizer().inner();
        let outcome = mine(&corpus, tokenizer, &mut scorer, &features, &config, control);
        bar.finish();
        match outcome? {
            MiningOutcome::Finished(result) => (result, false),
            MiningOutcome::Interrupted { .. } => anyhow::bail!("mining stopped early"),
        }
    } else {
        let store = MiningStore::new(&Paths::resolve().cache_dir());
        let names = (info.model.as_str(), info.sae.as_str());
        mine_with_progress(&source, &corpus, &store, names, &features, &config)?
    };
    if cached {
        eprintln!("(answered from the cache; the corpus is unchanged since it was mined)");
    }
    if args.json {
        // Streamed: a result over every feature of a wide SAE is large.
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        serde_json::to_writer(&mut out, &result).context("writing the result as JSON")?;
        writeln!(out).context("writing the result as JSON")?;
        out.flush().context("writing the result as JSON")?;
    } else {
        print!("{}", terminal(&render(&result)));
    }
    Ok(())
}

/// Context shown on each side of a window's strongest token.
const CONTEXT: usize = 12;

/// A readable summary: per feature its density and maximum, then each top
/// window as `value  file:offset  …context [token] context…`.
fn render(result: &MinedFeatures) -> String {
    let mut out = format!(
        "mined {} windows, {} tokens\n",
        result.windows, result.tokens
    );
    for feature in &result.features {
        out.push_str(&format!(
            "\nfeature {} · max {:.4} · density {:.6} ({} tokens)\n",
            feature.feature, feature.max_activation, feature.density, feature.firing_tokens
        ));
        for window in &feature.top {
            out.push_str(&format!(
                "  {:>9.4}  {}:{}  {}\n",
                window.max_value,
                window.file,
                window.offset,
                snippet(window)
            ));
        }
    }
    out
}

/// The window around its strongest token, which is shown in brackets.
fn snippet(window: &MinedWindow) -> String {
    let values = window.values.to_vec();
    let peak = values
        .iter()
        .enumerate()
        .fold(0, |best, (i, v)| if *v > values[best] { i } else { best });
    let from = peak.saturating_sub(CONTEXT);
    let to = (peak + CONTEXT + 1).min(window.tokens.len());
    let mut text = String::new();
    if from > 0 {
        text.push('…');
    }
    for (i, token) in window.tokens[from..to].iter().enumerate() {
        if from + i == peak {
            text.push_str(&format!("[{token}]"));
        } else {
            text.push_str(token);
        }
    }
    if to < window.tokens.len() {
        text.push('…');
    }
    text.replace('\n', "⏎")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippet_brackets_the_peak_and_elides_far_context() {
        let tokens: Vec<String> = (0..40).map(|i| format!(" t{i}")).collect();
        let mut values = vec![0.0; 40];
        values[20] = 3.0;
        values[5] = 1.0;
        let window = MinedWindow {
            file: "a.txt".into(),
            offset: 0,
            tokens: tokens.into(),
            token_ids: (0..40).collect(),
            values: values.into(),
            max_value: 3.0,
        };
        let text = snippet(&window);
        assert!(text.starts_with("… t8 t9"), "{text}");
        assert!(text.contains("[ t20]"), "{text}");
        assert!(text.ends_with(" t32…"), "{text}");
    }
}
