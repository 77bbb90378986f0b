//! `sage resume ID`: continue an interrupted session from its log.
//!
//! A log can come from someone else, and its header names the servers and
//! files the session uses. Before anything is opened, resume says what it
//! will contact and read, and it goes ahead only when that matches the
//! user's own settings, the user confirms at a terminal, or `--trust-log`
//! is given.

use std::io::{BufRead as _, IsTerminal as _, Write as _};

use anyhow::{Context, bail};
use sage::activation::neuronpedia::{DEFAULT_URL, URL_ENV};
use sage::agent::AgentConfig;
use sage::config::Paths;
use sage::escape::terminal_line;
use sage::llm::BaseUrls;
use sage::net::strip_userinfo;
use sage::reasoner::ReasonerSpec;
use sage::session::run::resume;
use sage::session::{
    Controls, DriveOutcome, Durability, Instruments, LogHeader, SessionStore, SourceRecord,
};

use super::instruments::{SourceChoice, activation_source, reasoner};

/// Arguments of `sage resume`.
#[derive(Debug, clap::Args)]
pub struct ResumeArgs {
    /// The session id (see `sage sessions`).
    pub id: String,
    /// Continue with this reasoner instead of the recorded one.
    #[arg(long)]
    pub llm: Option<String>,
    /// Resume even though the log names servers or files other than your
    /// own settings (a corpus path, a reasoner URL, a Neuronpedia server).
    #[arg(long)]
    pub trust_log: bool,
}

/// What resuming a session will reach, and which of it the log chose
/// rather than the user's own settings.
#[derive(Debug, Default, PartialEq)]
struct Reach {
    /// Servers the session will send requests to.
    contacts: Vec<String>,
    /// Local files and directories it will read.
    reads: Vec<String>,
    /// The entries of `contacts` and `reads` that come from the log alone.
    from_log: Vec<String>,
}

/// The user's own settings that a log is compared with.
struct Own<'a> {
    /// `--llm` given to this resume.
    llm: Option<&'a str>,
    /// `NEURONPEDIA_URL`, when set.
    neuronpedia_url: Option<&'a str>,
    /// `OPENAI_BASE_URL` / `ANTHROPIC_BASE_URL`.
    base_urls: &'a BaseUrls,
}

/// `url` without user info and trailing slashes, for comparing and showing.
fn shown_url(url: &str) -> String {
    strip_userinfo(url.trim()).trim_end_matches('/').to_string()
}

fn reach(header: &LogHeader<AgentConfig>, own: &Own<'_>) -> Reach {
    let mut reach = Reach::default();
    let spec = own.llm.unwrap_or(&header.reasoner);
    if let Ok(ReasonerSpec::Llm(endpoint)) = ReasonerSpec::parse(spec, own.base_urls) {
        let url = shown_url(&endpoint.base_url);
        // `openai:` and `anthropic:` resolve against the user's own base
        // URLs; a literal URL in the log is the log's choice.
        let literal = spec.trim_start().starts_with("http");
        if own.llm.is_none() && literal {
            reach.from_log.push(format!("the reasoner endpoint {url}"));
        }
        reach.contacts.push(format!("{url} (reasoner)"));
    }
    match &header.source {
        Some(SourceRecord::Neuronpedia { base_url, .. }) => {
            let own_url = shown_url(own.neuronpedia_url.unwrap_or(DEFAULT_URL));
            let url = base_url.as_deref().map_or(own_url.clone(), shown_url);
            if url != own_url {
                reach.from_log.push(format!(
                    "the Neuronpedia server {url} (yours: {own_url}, from --neuronpedia-url or {URL_ENV})"
                ));
            }
            reach.contacts.push(format!("{url} (Neuronpedia)"));
        }
        Some(SourceRecord::Local { model, sae, corpus }) => {
            reach.reads.push(format!("model {model}"));
            reach.reads.push(format!("SAE {sae}"));
            if let Some(corpus) = corpus {
                reach.reads.push(format!("corpus {corpus}"));
                reach.from_log.push(format!(
                    "the corpus {corpus} (its text is shown to the reasoner)"
                ));
            }
        }
        Some(SourceRecord::Synthetic) | None => {}
    }
    reach
}

impl std::fmt::Display for Reach {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let list = |items: &[String]| {
            if items.is_empty() {
                "nothing".to_string()
            } else {
                terminal_line(&items.join(", "))
            }
        };
        write!(
            f,
            "contacts {}; reads {}",
            list(&self.contacts),
            list(&self.reads)
        )
    }
}

/// Asks at a terminal whether to go ahead; `false` when no one can answer.
fn confirmed(question: &str) -> bool {
    if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        return false;
    }
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer).is_ok()
        && matches!(answer.trim(), "y" | "Y" | "yes")
}

/// Resumes the session and drives it to its end.
pub fn run(args: ResumeArgs) -> anyhow::Result<()> {
    let store = SessionStore::new(Paths::resolve().sessions_dir());
    let header = store.load(&args.id)?.header;
    let neuronpedia_url = std::env::var(URL_ENV).ok().filter(|u| !u.trim().is_empty());
    let own = Own {
        llm: args.llm.as_deref(),
        neuronpedia_url: neuronpedia_url.as_deref(),
        base_urls: &BaseUrls::from_env(),
    };
    let reach = reach(&header, &own);
    eprintln!("resuming {}: {reach}", terminal_line(&args.id));
    if !reach.from_log.is_empty() && !args.trust_log {
        let named = terminal_line(&reach.from_log.join("; "));
        if !confirmed(&format!(
            "The log, not your settings, chose: {named}. Go ahead?"
        )) {
            bail!(
                "not resuming {}: the log, not your settings, chose {named}; a log from someone else could send your key or your files anywhere. Check them, then pass --trust-log (or --llm SPEC to pick the reasoner yourself)",
                args.id
            );
        }
    }
    let source = activation_source(&SourceChoice::from_header(&header))?;
    let reasoner = reasoner(args.llm.as_deref().unwrap_or(&header.reasoner))?;
    let runtime = tokio::runtime::Runtime::new().context("could not start the async runtime")?;
    let run = runtime.block_on(resume(
        &store,
        &args.id,
        Instruments { source, reasoner },
        Durability::EveryEvent,
        Controls::default(),
    ))?;
    if let Some(torn) = &run.repaired {
        eprintln!(
            "warning: {}; it was cut off before resuming",
            terminal_line(&torn.to_string())
        );
    }
    match run.outcome {
        DriveOutcome::Concluded(conclusion) => println!(
            "{}: concluded after {} events: {}",
            run.id,
            run.events,
            terminal_line(&conclusion.label)
        ),
        DriveOutcome::Idle => println!(
            "{}: stopped after {} events, waiting for the researcher (paused or awaiting approval)",
            run.id, run.events
        ),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(reasoner: &str, source: SourceRecord) -> LogHeader<AgentConfig> {
        LogHeader {
            format: "sage-session".into(),
            format_version: 1,
            session_id: "s".into(),
            model: "m".into(),
            sae: "s".into(),
            hook: "h".into(),
            source: Some(source),
            feature: 0,
            reasoner: reasoner.into(),
            seed: 0,
            created_at_ms: 0,
            config: AgentConfig::default(),
        }
    }

    fn own<'a>(llm: Option<&'a str>, np: Option<&'a str>, urls: &'a BaseUrls) -> Own<'a> {
        Own {
            llm,
            neuronpedia_url: np,
            base_urls: urls,
        }
    }

    #[test]
    fn what_the_log_chose_is_told_apart_from_the_users_settings() {
        let urls = BaseUrls::default();
        let np = |url: Option<&str>| SourceRecord::neuronpedia("gpt2-small", "8-res-jb", url);

        let ours = reach(&header("openai:gpt-4o", np(None)), &own(None, None, &urls));
        assert!(ours.from_log.is_empty(), "{ours:?}");
        assert!(ours.contacts[0].starts_with("https://api.openai.com/v1"));

        let theirs = reach(
            &header(
                "http://evil.example:8/v1#m",
                np(Some("http://np.evil.example")),
            ),
            &own(None, None, &urls),
        );
        assert_eq!(theirs.from_log.len(), 2, "{theirs:?}");
        assert!(theirs.from_log[0].contains("evil.example:8"));
        assert!(theirs.from_log[1].contains("np.evil.example"));

        // The same server as the user's own NEURONPEDIA_URL, and an --llm
        // override, are the user's choices.
        let mine = reach(
            &header("http://evil.example:8/v1#m", np(Some("http://np.mine/"))),
            &own(Some("heuristic"), Some("http://np.mine"), &urls),
        );
        assert!(mine.from_log.is_empty(), "{mine:?}");

        let local = SourceRecord::Local {
            model: "m".into(),
            sae: "s".into(),
            corpus: Some("/home/u/.ssh".into()),
        };
        let local = reach(&header("heuristic", local), &own(None, None, &urls));
        assert_eq!(local.reads.len(), 3);
        assert!(local.from_log[0].contains("/home/u/.ssh"));
    }
}
