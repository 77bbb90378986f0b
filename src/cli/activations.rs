//! `sage activations`: per-token activations of one SAE feature on texts or
//! token ids, as a heatmap or Neuronpedia-shaped JSON.

use std::io::IsTerminal as _;

use sage::activation::ActivationRecord;
use sage::escape::terminal_line;

use super::input::parse_token_ids;
use super::local::{LocalArgs, open_local_source};
use super::neuronpedia::{NeuronpediaArgs, neuronpedia_records};

/// Where the activations are computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SourceKind {
    /// The model and SAE on this machine (--model, --sae).
    Local,
    /// A Neuronpedia server (--model-id, --sae-id, --neuronpedia-url).
    Neuronpedia,
}

/// Arguments of `sage activations`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("input").required(true).multiple(true).args(["text", "token_ids"])))]
pub struct ActivationsArgs {
    /// Where to compute the activations.
    #[arg(long, value_enum, default_value = "local")]
    pub source: SourceKind,
    /// Model and SAE for the local source.
    #[command(flatten)]
    pub local: LocalArgs,
    /// Feature set for the Neuronpedia source.
    #[command(flatten)]
    pub neuronpedia: NeuronpediaArgs,
    /// Feature (latent) index.
    #[arg(long)]
    pub feature: u32,
    /// Text to run; repeat for several texts (run as one batch).
    #[arg(long)]
    pub text: Vec<String>,
    /// Comma-separated token ids, used exactly as given; repeatable (local source only).
    #[arg(long)]
    pub token_ids: Vec<String>,
    /// Print JSON: one object for one input, an array for several.
    #[arg(long)]
    pub json: bool,
}

/// Computes the records with the chosen source and prints them.
pub fn run(args: ActivationsArgs) -> anyhow::Result<()> {
    let records = match args.source {
        SourceKind::Local => local_records(&args)?,
        SourceKind::Neuronpedia => {
            if !args.token_ids.is_empty() {
                anyhow::bail!(
                    "--token-ids works only with the local source; Neuronpedia tokenizes --text itself"
                );
            }
            neuronpedia_records(&args.neuronpedia, args.feature, &args.text)?
        }
    };
    print_records(&records, args.json)
}

/// Loads the model and SAE, checks they fit, and runs every input as one
/// batch.
fn local_records(args: &ActivationsArgs) -> anyhow::Result<Vec<ActivationRecord>> {
    let source = open_local_source(&args.local)?;
    let mut sequences = Vec::with_capacity(args.text.len() + args.token_ids.len());
    for text in &args.text {
        sequences.push(source.tokenize(text)?);
    }
    for list in &args.token_ids {
        sequences.push(parse_token_ids(list)?);
    }
    Ok(source.records_for_ids(args.feature, &sequences)?)
}

/// Prints records as JSON or as a heatmap / table.
fn print_records(records: &[ActivationRecord], json: bool) -> anyhow::Result<()> {
    if json {
        let json = match records {
            [one] => serde_json::to_string(one)?,
            many => serde_json::to_string(many)?,
        };
        println!("{json}");
    } else {
        let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        print!("{}", render(records, colour));
    }
    Ok(())
}

/// Background colours (xterm-256) from faint to strong activation.
const HEAT: [u8; 6] = [230, 229, 222, 215, 208, 202];

/// The records as text: per record a header, then (in colour) the text
/// with each token on a background whose strength is its activation
/// relative to the largest value shown, then one line per token with its
/// position, id and value (its token coloured the same way).
fn render(records: &[ActivationRecord], colour: bool) -> String {
    let peak = records.iter().map(|r| r.max_value).fold(0.0f32, f32::max);
    let heat = |token: &str, value: f32| -> String {
        let token = terminal_line(token);
        if colour && value > 0.0 && peak > 0.0 {
            let level = ((value / peak) * (HEAT.len() - 1) as f32).round() as usize;
            let bg = HEAT[level.min(HEAT.len() - 1)];
            format!("\x1b[48;5;{bg}m\x1b[38;5;16m{token}\x1b[0m")
        } else {
            token
        }
    };
    let mut out = String::new();
    for (i, record) in records.iter().enumerate() {
        out.push_str(&format!(
            "[{i}] {} · {} · feature {} · max {:.4} at token {}\n",
            terminal_line(&record.sae),
            terminal_line(&record.hook),
            record.feature,
            record.max_value,
            record.max_value_token_index
        ));
        if colour {
            for (token, value) in record.tokens.iter().zip(&record.values) {
                out.push_str(&heat(token, *value));
            }
            out.push('\n');
        }
        // Neuronpedia records carry no token ids: show "-" there.
        for (pos, (token, value)) in record.tokens.iter().zip(&record.values).enumerate() {
            let id = record
                .token_ids
                .get(pos)
                .map_or_else(|| "-".to_string(), u32::to_string);
            let shown = format!("{:<20}", format!("{token:?}"));
            out.push_str(&format!(
                "{pos:>4}  {id:>7}  {} {value:>10.4}\n",
                heat(&shown, *value)
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use sage::activation::SourceInfo;

    fn record(values: Vec<f32>) -> ActivationRecord {
        let info = SourceInfo {
            model: "m".into(),
            sae: "s".into(),
            hook: "blocks.0.hook_resid_post".into(),
            n_features: 10,
        };
        let n = values.len();
        ActivationRecord::new(
            &info,
            3,
            (0..n).map(|i| format!("t{i}")).collect(),
            (0..n as u32).collect(),
            values,
        )
    }

    #[test]
    fn plain_output_lists_every_token_with_its_value() {
        let text = render(&[record(vec![0.0, 2.5])], false);
        assert!(!text.contains('\x1b'));
        assert!(text.contains("max 2.5000 at token 1"), "{text}");
        assert!(
            text.lines().nth(2).unwrap().contains("\"t1\"") && text.contains("2.5000"),
            "{text}"
        );
    }

    #[test]
    fn colour_output_heats_only_active_tokens_by_strength() {
        let text = render(&[record(vec![0.0, 1.0, 4.0])], true);
        let body = text.lines().nth(1).unwrap();
        assert!(body.starts_with("t0\x1b[48;5;"), "{body:?}");
        let last_row = text.lines().nth(4).unwrap();
        assert!(
            last_row.contains(&format!("\x1b[48;5;{}m", HEAT[5])) && last_row.ends_with("4.0000"),
            "{last_row:?}"
        );
        // 4.0 is the peak: strongest colour; 1.0 is a quarter: a faint one.
        assert!(
            body.contains(&format!("\x1b[48;5;{}m\x1b[38;5;16mt2", HEAT[5])),
            "{body:?}"
        );
        assert!(
            body.contains(&format!("\x1b[48;5;{}m\x1b[38;5;16mt1", HEAT[1])),
            "{body:?}"
        );
    }
}
