//! `sage sessions`: list saved sessions with where each one stands.

use sage::agent::Agent;
use sage::config::Paths;
use sage::escape::terminal_line;
use sage::report::{SessionStatus, format_cost};
use sage::session::store::timestamp_name;
use sage::session::{SessionStore, replay};

/// Arguments of `sage sessions`.
#[derive(Debug, clap::Args)]
pub struct SessionsArgs {
    /// Print one JSON object per session instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// One row of the listing.
#[derive(Debug, serde::Serialize)]
struct Row {
    id: String,
    feature: Option<u32>,
    status: String,
    label: Option<String>,
    rounds: Option<u32>,
    tokens: Option<u64>,
    /// Reasoning steps taken (reasoner calls, failed ones included).
    steps: Option<u32>,
    /// Tokens per reasoning step: what one step of this session costs.
    tokens_per_step: Option<u64>,
    /// Reasoner calls that failed; their billed tokens are in `tokens`.
    failed_calls: Option<u32>,
    cost_usd: Option<f64>,
    created: Option<String>,
}

/// Lists the sessions in the data dir, oldest first.
pub fn run(args: SessionsArgs) -> anyhow::Result<()> {
    let store = SessionStore::new(Paths::resolve().sessions_dir());
    let rows: Vec<Row> = store.ids()?.into_iter().map(|id| row(&store, id)).collect();
    if args.json {
        for row in &rows {
            println!("{}", serde_json::to_string(row)?);
        }
        return Ok(());
    }
    if rows.is_empty() {
        println!("no sessions in {}", store.dir().display());
        return Ok(());
    }
    println!(
        "{:<26} {:>7} {:<18} {:>6} {:>8} {:>5} {:>8} {:>9} {:<15} label",
        "id", "feature", "status", "rounds", "tokens", "steps", "tok/step", "cost", "created (UTC)"
    );
    for r in rows {
        println!(
            "{:<26} {:>7} {:<18} {:>6} {:>8} {:>5} {:>8} {:>9} {:<15} {}",
            terminal_line(&r.id),
            r.feature.map_or("?".into(), |f| f.to_string()),
            r.status,
            r.rounds.map_or("?".into(), |n| n.to_string()),
            r.tokens.map_or("?".into(), |n| n.to_string()),
            r.steps.map_or("?".into(), |n| n.to_string()),
            r.tokens_per_step.map_or("-".into(), |n| n.to_string()),
            r.tokens.map_or("?".into(), |t| format_cost(r.cost_usd, t)),
            r.created.unwrap_or_default(),
            terminal_line(&r.label.unwrap_or_default())
        );
    }
    Ok(())
}

fn row(store: &SessionStore, id: String) -> Row {
    match store.load(&id) {
        Ok(log) => {
            let state = replay(Agent::new(), &log.entries, None).state();
            Row {
                feature: Some(log.header.feature),
                status: SessionStatus::of(&state).name().to_string(),
                label: state.conclusion.as_ref().map(|c| c.label.clone()),
                rounds: Some(state.round),
                tokens: Some(state.total_tokens()),
                steps: Some(state.reasoner_calls),
                tokens_per_step: state
                    .total_tokens()
                    .checked_div(u64::from(state.reasoner_calls)),
                failed_calls: Some(state.reasoner_failures),
                cost_usd: state.usage.cost_usd,
                created: Some(timestamp_name(log.header.created_at_ms)),
                id,
            }
        }
        Err(err) => Row {
            id,
            feature: None,
            status: format!("unreadable: {err}"),
            label: None,
            rounds: None,
            tokens: None,
            steps: None,
            tokens_per_step: None,
            failed_calls: None,
            cost_usd: None,
            created: None,
        },
    }
}
