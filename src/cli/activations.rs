//! `sage activations`: per-token activations of one SAE feature on texts or
//! token ids, as a heatmap or Neuronpedia-shaped JSON.

use std::io::IsTerminal as _;

use anyhow::Context as _;
use sage::activation::{ActivationRecord, LocalSource};
use sage::model::{HookPoint, LoadOptions as ModelLoadOptions, load_model};
use sage::sae::hub::HubConfig;
use sage::sae::registry::Registry;
use sage::sae::{LoadOptions, SaeFormat, check_model_name, open_sae};

use super::input::{bos_choice, parse_token_ids};

/// Arguments of `sage activations`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("input").required(true).multiple(true).args(["text", "token_ids"])))]
pub struct ActivationsArgs {
    /// A local Hugging Face model directory.
    #[arg(long)]
    pub model: String,
    /// An SAE directory (any supported format) or a `release/sae_id` from the
    /// registry, e.g. `gpt2-small-res-jb/blocks.8.hook_resid_pre`.
    #[arg(long)]
    pub sae: String,
    /// Feature (latent) index.
    #[arg(long)]
    pub feature: u32,
    /// Text to run; repeat for several texts (run as one batch).
    #[arg(long)]
    pub text: Vec<String>,
    /// Comma-separated token ids, used exactly as given; repeatable.
    #[arg(long)]
    pub token_ids: Vec<String>,
    /// The hook the SAE reads, for SAE files that do not name it.
    #[arg(long)]
    pub hook: Option<HookPoint>,
    /// The SAE's on-disk format, when auto-detection is not wanted:
    /// saelens, gemma-scope, llama-scope or sparsify.
    #[arg(long)]
    pub sae_format: Option<SaeFormat>,
    /// Print JSON: one object for one input, an array for several.
    #[arg(long)]
    pub json: bool,
    /// Prepend the model's BOS token to each --text (the default when the config defines one).
    #[arg(long, conflicts_with = "no_prepend_bos")]
    pub prepend_bos: bool,
    /// Do not prepend a BOS token to --text.
    #[arg(long)]
    pub no_prepend_bos: bool,
    /// Run even though the SAE names a different model than --model.
    #[arg(long)]
    pub ignore_model_name: bool,
}

/// Loads the model and SAE, checks they fit, runs every input as one batch
/// and prints the records.
pub fn run(args: ActivationsArgs) -> anyhow::Result<()> {
    let loaded = load_model(&args.model, &ModelLoadOptions::default())
        .with_context(|| format!("loading model `{}`", args.model))?;
    let options = LoadOptions {
        format: args.sae_format,
        hook: args.hook,
        ..LoadOptions::default()
    };
    let registry = Registry::builtin()?;
    let sae = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(open_sae(
            &args.sae,
            &registry,
            &HubConfig::from_env(),
            &options,
        ))
        .with_context(|| format!("loading SAE `{}`", args.sae))?;
    for note in &sae.info().notes {
        eprintln!("note: {note}");
    }
    if !args.ignore_model_name {
        check_model_name(&sae, &loaded.name)?;
    }
    let source = LocalSource::new(
        loaded,
        sae,
        &args.sae,
        bos_choice(args.prepend_bos, args.no_prepend_bos),
    )?;

    let mut sequences = Vec::with_capacity(args.text.len() + args.token_ids.len());
    for text in &args.text {
        sequences.push(source.tokenize(text)?);
    }
    for list in &args.token_ids {
        sequences.push(parse_token_ids(list)?);
    }
    let records = source.records_for_ids(args.feature, &sequences)?;

    if args.json {
        let json = match records.as_slice() {
            [one] => serde_json::to_string(one)?,
            many => serde_json::to_string(many)?,
        };
        println!("{json}");
    } else {
        let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        print!("{}", render(&records, colour));
    }
    Ok(())
}

/// Background colours (xterm-256) from faint to strong activation.
const HEAT: [u8; 6] = [230, 229, 222, 215, 208, 202];

/// The records as text: in colour, each token on a background whose
/// strength is its activation relative to the largest value shown; plain,
/// one line per token with its position, id and value.
fn render(records: &[ActivationRecord], colour: bool) -> String {
    let peak = records.iter().map(|r| r.max_value).fold(0.0f32, f32::max);
    let mut out = String::new();
    for (i, record) in records.iter().enumerate() {
        out.push_str(&format!(
            "[{i}] {} · {} · feature {} · max {:.4} at token {}\n",
            record.sae, record.hook, record.feature, record.max_value, record.max_value_token_index
        ));
        if colour {
            for (token, value) in record.tokens.iter().zip(&record.values) {
                if *value > 0.0 && peak > 0.0 {
                    let level = ((value / peak) * (HEAT.len() - 1) as f32).round() as usize;
                    let bg = HEAT[level.min(HEAT.len() - 1)];
                    out.push_str(&format!("\x1b[48;5;{bg}m\x1b[38;5;16m{token}\x1b[0m"));
                } else {
                    out.push_str(token);
                }
            }
            out.push('\n');
        } else {
            for (pos, ((token, id), value)) in record
                .tokens
                .iter()
                .zip(&record.token_ids)
                .zip(&record.values)
                .enumerate()
            {
                let shown = format!("{token:?}");
                out.push_str(&format!("{pos:>4}  {id:>7}  {shown:<20} {value:>10.4}\n"));
            }
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
