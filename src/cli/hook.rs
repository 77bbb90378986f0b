//! `sage hook`: run a model to one hook on one text and print the activations.

use std::io::Write;

use anyhow::Context as _;
use sage::model::{HookPoint, LoadOptions, WeightDtype};
use sage::open::load_model;

use super::input::{BosArgs, parse_token_ids};

/// Arguments of `sage hook`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("input").required(true).args(["text", "token_ids"])))]
pub struct HookArgs {
    /// A local Hugging Face model directory (config.json, model.safetensors, tokenizer.json),
    /// a `.gguf` file, or a Hugging Face repo id such as `gpt2` (resolved through the HF cache).
    #[arg(long)]
    pub model: String,
    /// TransformerLens hook name, e.g. `blocks.8.hook_resid_pre`.
    #[arg(long)]
    pub hook: HookPoint,
    /// Text to tokenise and run.
    #[arg(long)]
    pub text: Option<String>,
    /// Comma-separated token ids, used exactly as given (no BOS added).
    #[arg(long)]
    pub token_ids: Option<String>,
    /// Print JSON: model, hook, tokens, token_ids, shape, values.
    #[arg(long)]
    pub json: bool,
    /// BOS handling for --text.
    #[command(flatten)]
    pub bos: BosArgs,
    /// Precision of the model's products: f32, bf16 (weights packed as
    /// bf16 and accumulated in f32; activations stay f32) or f16 (weights
    /// rounded to f16, products in f32).
    #[arg(long, default_value = "f32")]
    pub dtype: WeightDtype,
}

/// What `--json` prints; one row of `values` per token.
#[derive(Debug, serde::Serialize)]
struct HookOutput {
    model: String,
    hook: HookPoint,
    tokens: Vec<String>,
    token_ids: Vec<u32>,
    shape: [usize; 2],
    values: Vec<Vec<f32>>,
}

/// Loads the model, runs it to the hook and prints the result.
pub fn run(args: HookArgs) -> anyhow::Result<()> {
    // Only the blocks the pass runs are read and packed.
    let options = LoadOptions {
        blocks: Some(args.hook.blocks_needed()),
        ..LoadOptions::cpu(args.dtype)
    };
    let loaded = load_model(&args.model, &options)
        .with_context(|| format!("loading model `{}`", args.model))?;
    let token_ids = match (&args.text, &args.token_ids) {
        (Some(text), _) => {
            let bos = args.bos.choice();
            loaded.tokenizer.encode(text, bos)?
        }
        (None, Some(list)) => parse_token_ids(list)?,
        (None, None) => unreachable!("clap requires --text or --token-ids"),
    };
    let values = loaded.model.run_to_hook(&token_ids, args.hook)?;
    let rows: Vec<Vec<f32>> = values.to_vec2()?;
    let output = HookOutput {
        model: loaded.name,
        hook: args.hook,
        tokens: loaded.tokenizer.token_strings(&token_ids)?,
        shape: [rows.len(), loaded.model.d_model()],
        token_ids,
        values: rows,
    };
    let mut stdout = std::io::stdout().lock();
    let printed = if args.json {
        serde_json::to_writer(&mut stdout, &output)
            .map_err(std::io::Error::from)
            .and_then(|()| writeln!(stdout))
    } else {
        print_table(&mut stdout, &output)
    };
    match printed {
        // A closed pipe (`| head`) means the reader has all it wanted.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other.context("writing the activations to stdout")?),
    }
}

/// One readable line per token: position, id, token, and a summary of its row.
fn print_table(w: &mut impl Write, out: &HookOutput) -> std::io::Result<()> {
    writeln!(
        w,
        "{} · {} · shape [{}, {}]",
        out.model, out.hook, out.shape[0], out.shape[1]
    )?;
    writeln!(
        w,
        "{:>4}  {:>7}  {:<16} {:>9} {:>9} {:>9} {:>9}",
        "pos", "id", "token", "norm", "mean", "min", "max"
    )?;
    for (pos, ((id, token), row)) in out
        .token_ids
        .iter()
        .zip(&out.tokens)
        .zip(&out.values)
        .enumerate()
    {
        let n = row.len().max(1) as f32;
        let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt();
        let mean = row.iter().sum::<f32>() / n;
        let min = row.iter().copied().fold(f32::INFINITY, f32::min);
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let shown = format!("{token:?}");
        writeln!(
            w,
            "{pos:>4}  {id:>7}  {shown:<16} {norm:>9.4} {mean:>9.4} {min:>9.4} {max:>9.4}"
        )?;
    }
    Ok(())
}
