//! `sage llm check --llm SPEC`: try an endpoint with one small structured
//! call before spending a session on it.

use anyhow::Context;
use sage::llm::check::check_endpoint;
use sage::reasoner::one_line_reason;

use super::instruments::llm_client;
use super::usage_error;

/// Arguments of `sage llm`.
#[derive(Debug, clap::Args)]
pub struct LlmArgs {
    /// What to do with the endpoint.
    #[command(subcommand)]
    pub command: LlmCommand,
}

/// The `sage llm` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum LlmCommand {
    /// One small structured call: the structured mode the endpoint accepted,
    /// latency, tokens, and whether log-probs are available.
    Check(CheckArgs),
}

/// Arguments of `sage llm check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The endpoint: `openai:MODEL`, `anthropic:MODEL` or `http://HOST:PORT/v1#MODEL`.
    #[arg(long)]
    pub llm: String,
    /// Print the result as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// Runs `sage llm`.
pub fn run(args: LlmArgs) -> anyhow::Result<()> {
    match args.command {
        LlmCommand::Check(args) => check(args),
    }
}

fn check(args: CheckArgs) -> anyhow::Result<()> {
    let Some(client) = llm_client(&args.llm)? else {
        return Err(usage_error(
            "`heuristic` runs offline and needs no check; pass an endpoint spec such as http://127.0.0.1:8080/v1#MODEL",
        ));
    };
    let runtime = tokio::runtime::Runtime::new().context("could not start the async runtime")?;
    let result = runtime.block_on(check_endpoint(client.as_ref()));
    let found = match result {
        Ok(found) => found,
        Err(failed) => {
            let reason = one_line_reason(&format!("LLM call failed: {}", failed.error));
            let mode = failed
                .mode
                .map_or(String::new(), |m| format!(" (last mode tried: {m})"));
            let usage = failed.error.usage();
            anyhow::bail!(
                "{}: {reason}{mode}; {} tokens spent",
                args.llm,
                usage.prompt_tokens + usage.cached_tokens + usage.completion_tokens
            );
        }
    };
    if args.json {
        println!("{}", serde_json::to_string(&found)?);
        return Ok(());
    }
    let u = &found.usage;
    println!("endpoint:           {}", found.spec);
    println!(
        "structured replies: {}",
        found.mode.as_deref().unwrap_or("not negotiated")
    );
    println!("latency:            {} ms", found.latency_ms);
    println!(
        "tokens:             {} prompt ({} cached), {} completion",
        u.prompt_tokens + u.cached_tokens,
        u.cached_tokens,
        u.completion_tokens
    );
    let logprobs = match (found.logprobs, &found.logprobs_note) {
        (Some(true), _) => "available (`sage eval --predict logprobs` works)".to_string(),
        (Some(false), _) => "not available (use `sage eval --predict batched`)".to_string(),
        (None, Some(note)) => format!("unknown: {}", one_line_reason(note)),
        (None, None) => "unknown".to_string(),
    };
    println!("log-probs:          {logprobs}");
    Ok(())
}
