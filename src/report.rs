//! The explanation report: one stable JSON shape (documented in
//! `docs/explain-schema.md`) built from a session's header and state, and
//! its Markdown and HTML renderings.

use crate::escape::{markdown as text, markdown_code as code};
use serde::{Deserialize, Serialize};

use crate::agent::{
    Actor, AgentConfig, AgentState, Evaluation, Experiment, ExperimentStatus, Hypothesis,
    HypothesisStatus, Phase,
};
use crate::session::LogHeader;

/// Version of the report schema; bumped only on incompatible changes.
pub const REPORT_SCHEMA_VERSION: u32 = 1;

/// Where a session stands, as users see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionStatus {
    /// The agent concluded.
    Concluded,
    /// Something waits for the researcher's approval.
    AwaitingApproval,
    /// The researcher paused it.
    Paused,
    /// It stopped mid-run (crash, kill, quit): `sage resume` continues it.
    Interrupted,
}

impl SessionStatus {
    /// Derives the status from an agent state.
    pub fn of(state: &AgentState) -> SessionStatus {
        if state.phase == Phase::Done {
            SessionStatus::Concluded
        } else if !state.pending_approvals().is_empty() {
            SessionStatus::AwaitingApproval
        } else if state.paused {
            SessionStatus::Paused
        } else {
            SessionStatus::Interrupted
        }
    }

    /// Lowercase name for tables.
    pub fn name(self) -> &'static str {
        match self {
            SessionStatus::Concluded => "concluded",
            SessionStatus::AwaitingApproval => "awaiting approval",
            SessionStatus::Paused => "paused",
            SessionStatus::Interrupted => "interrupted",
        }
    }
}

/// One hypothesis version in a report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportHypothesis {
    /// `H1`, `H2`, …
    pub id: String,
    /// Version within its lineage (1 for an original).
    pub version: u32,
    /// The id of the version it refines, if any.
    pub parent: Option<String>,
    /// What it claims.
    pub description: String,
    /// Its testable prediction.
    pub prediction: String,
    /// `proposed`, `testing`, `confirmed`, `refined`, `refuted`, `uncertain`, `rejected`.
    pub status: String,
    /// The researcher's reason, for a rejected hypothesis.
    pub rejected_because: Option<String>,
    /// Confidence, 0..=1.
    pub confidence: f32,
    /// Experiments cited by the verdict that decided it.
    pub decided_by: Vec<String>,
    /// `agent` or `researcher`.
    pub origin: String,
}

/// One experiment in a report, with its per-token result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportExperiment {
    /// `E1`, `E2`, …
    pub id: String,
    /// The hypothesis it tests.
    pub hypothesis: String,
    /// `positive`, `control` or `minimal_pair`.
    pub kind: String,
    /// Design round.
    pub round: u32,
    /// `agent` or `researcher`.
    pub origin: String,
    /// The text that was run.
    pub text: String,
    /// Substrings predicted to fire (empty: predicted silent).
    pub predicted_firing: Vec<String>,
    /// `done`, `failed`, `rejected`, or a not-yet-run status.
    pub status: String,
    /// Tokens as the model split the text (empty until run).
    pub tokens: Vec<String>,
    /// Activation at each token.
    pub values: Vec<f32>,
    /// Largest activation.
    pub max_value: Option<f32>,
    /// Precision of predicted against observed firing tokens.
    pub precision: Option<f32>,
    /// Recall of predicted against observed firing tokens.
    pub recall: Option<f32>,
    /// Their F1.
    pub f1: Option<f32>,
    /// Whether it behaved as predicted.
    pub passed: Option<bool>,
}

/// LLM usage of the whole session.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ReportUsage {
    /// Prompt tokens at the full rate.
    pub prompt_tokens: u64,
    /// Prompt tokens served from cache.
    pub cached_tokens: u64,
    /// Generated tokens.
    pub completion_tokens: u64,
    /// All of the above.
    pub total_tokens: u64,
    /// Reasoner calls made.
    pub reasoner_calls: u32,
    /// Of those, calls that failed or gave an unusable answer; their
    /// billed tokens are included in the totals above.
    #[serde(default)]
    pub failed_calls: u32,
    /// Cost in US dollars; null when a price was unknown.
    pub cost_usd: Option<f64>,
}

/// The report of one session: the stable, scriptable explanation schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// [`REPORT_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The session log this was built from.
    pub session_id: String,
    /// Model identifier.
    pub model: String,
    /// SAE identifier.
    pub sae: String,
    /// Hook the SAE reads.
    pub hook: String,
    /// Feature index.
    pub feature: u32,
    /// Reasoner spec.
    pub reasoner: String,
    /// `concluded`, `awaiting_approval`, `paused` or `interrupted`.
    pub status: SessionStatus,
    /// Short label (at most 8 words); null until concluded.
    pub label: Option<String>,
    /// Description; null until concluded.
    pub description: Option<String>,
    /// Near misses it does not fire on.
    pub does_not_fire_on: Vec<String>,
    /// Confidence, 0..=1; null until concluded.
    pub confidence: Option<f32>,
    /// Experiments the conclusion rests on.
    pub evidence: Vec<String>,
    /// Why exploration stopped (snake_case), once it has.
    pub stop_reason: Option<String>,
    /// Design rounds run.
    pub rounds: u32,
    /// Every hypothesis version, in id order.
    pub hypotheses: Vec<ReportHypothesis>,
    /// Every experiment, in id order.
    pub experiments: Vec<ReportExperiment>,
    /// LLM usage and cost.
    pub usage: ReportUsage,
    /// Events the report reflects.
    pub events: u64,
    /// Scores recorded by `sage eval`, oldest first (absent when never
    /// evaluated).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evaluations: Vec<Evaluation>,
}

impl Report {
    /// Builds the report of a state reached after `events` events.
    pub fn build(header: &LogHeader<AgentConfig>, state: &AgentState, events: u64) -> Report {
        let conclusion = state.conclusion.as_ref();
        let usage = &state.usage;
        Report {
            schema_version: REPORT_SCHEMA_VERSION,
            session_id: header.session_id.clone(),
            model: header.model.clone(),
            sae: header.sae.clone(),
            hook: header.hook.clone(),
            feature: header.feature,
            reasoner: header.reasoner.clone(),
            status: SessionStatus::of(state),
            label: conclusion.map(|c| c.label.clone()),
            description: conclusion.map(|c| c.description.clone()),
            does_not_fire_on: conclusion
                .map(|c| c.does_not_fire_on.clone())
                .unwrap_or_default(),
            confidence: conclusion.map(|c| c.confidence),
            evidence: conclusion
                .map(|c| c.evidence.iter().map(ToString::to_string).collect())
                .unwrap_or_default(),
            stop_reason: state.stop_reason.map(snake_name),
            rounds: state.round,
            hypotheses: state.hypotheses.iter().map(report_hypothesis).collect(),
            experiments: state.experiments.iter().map(report_experiment).collect(),
            usage: ReportUsage {
                prompt_tokens: usage.prompt_tokens,
                cached_tokens: usage.cached_tokens,
                completion_tokens: usage.completion_tokens,
                total_tokens: state.total_tokens(),
                reasoner_calls: state.reasoner_calls,
                failed_calls: state.reasoner_failures,
                cost_usd: usage.cost_usd,
            },
            events,
            evaluations: state.evaluations.clone(),
        }
    }

    /// The report as Markdown: conclusion, hypotheses with lineage,
    /// experiments with their firing tokens listed, usage.
    pub fn to_markdown(&self) -> String {
        let mut md = String::new();
        md.push_str(&format!(
            "# Feature {} · {} · {}\n\n",
            self.feature,
            text(&self.model),
            text(&self.sae)
        ));
        md.push_str(&format!(
            "Hook `{}` · reasoner `{}` · session `{}` · status {} · {} round(s) · {} event(s)\n\n",
            code(&self.hook),
            code(&self.reasoner),
            code(&self.session_id),
            self.status.name(),
            self.rounds,
            self.events
        ));
        md.push_str("## Conclusion\n\n");
        match (&self.label, &self.description) {
            (Some(label), Some(description)) => {
                md.push_str(&format!("**{}**\n\n{}\n\n", text(label), text(description)));
                if let Some(confidence) = self.confidence {
                    md.push_str(&format!("Confidence: {confidence:.2}\n\n"));
                }
                if !self.does_not_fire_on.is_empty() {
                    md.push_str(&format!(
                        "Does not fire on: {}\n\n",
                        text(&self.does_not_fire_on.join("; "))
                    ));
                }
                if !self.evidence.is_empty() {
                    md.push_str(&format!(
                        "Evidence: {}\n\n",
                        text(&self.evidence.join(", "))
                    ));
                }
            }
            _ => md.push_str("Not concluded yet.\n\n"),
        }
        if let Some(reason) = &self.stop_reason {
            md.push_str(&format!("Stopped because: {}\n\n", text(reason)));
        }
        for evaluation in &self.evaluations {
            md.push_str(&format!(
                "## Evaluation ({})\n\n| explainer | metric | score | 95% interval |\n|---|---|---|---|\n",
                text(&evaluation.judge)
            ));
            for s in &evaluation.scores {
                let value = s.value.map_or("missing".to_string(), |v| format!("{v:.2}"));
                let interval = match (s.low, s.high) {
                    (Some(low), Some(high)) => format!("[{low:.2}, {high:.2}]"),
                    _ => String::new(),
                };
                md.push_str(&format!(
                    "| {} | {} | {value} | {interval} |\n",
                    text(&s.explainer),
                    s.metric.short()
                ));
            }
            md.push('\n');
        }
        md.push_str("## Hypotheses\n\n| id | v | from | status | confidence | decided by | description |\n|---|---|---|---|---|---|---|\n");
        for h in &self.hypotheses {
            let status = match &h.rejected_because {
                Some(reason) => format!("{} ({})", h.status, reason),
                None => h.status.clone(),
            };
            md.push_str(&format!(
                "| {} | {} | {} | {} | {:.2} | {} | {} |\n",
                text(&h.id),
                h.version,
                text(h.parent.as_deref().unwrap_or("—")),
                text(&status),
                h.confidence,
                text(&h.decided_by.join(", ")),
                text(&h.description)
            ));
        }
        md.push_str("\n## Experiments\n\n");
        for e in &self.experiments {
            md.push_str(&format!(
                "### {} ({} of {}, round {}, {})\n\n> {}\n\n",
                text(&e.id),
                text(&e.kind),
                text(&e.hypothesis),
                e.round,
                text(&e.origin),
                text(&e.text)
            ));
            let predicted = if e.predicted_firing.is_empty() {
                "nothing fires".to_string()
            } else {
                text(&e.predicted_firing.join(", "))
            };
            md.push_str(&format!("- predicted: {predicted}\n"));
            if e.tokens.is_empty() {
                md.push_str(&format!("- status: {}\n\n", text(&e.status)));
                continue;
            }
            let tokens: Vec<String> = e
                .tokens
                .iter()
                .zip(&e.values)
                .map(|(t, v)| format!("`{}` {v:.2}", code(t)))
                .collect();
            md.push_str(&format!("- tokens: {}\n", tokens.join(" · ")));
            if let (Some(p), Some(r), Some(f1)) = (e.precision, e.recall, e.f1) {
                let verdict = if e.passed == Some(true) {
                    "as predicted"
                } else {
                    "not as predicted"
                };
                md.push_str(&format!(
                    "- precision {p:.2} · recall {r:.2} · F1 {f1:.2} ({verdict})\n"
                ));
            }
            md.push('\n');
        }
        md.push_str(&format!(
            "## Usage\n\n{} reasoner call(s), {} failed · {} tokens ({} prompt, {} cached, {} completion) · cost {}\n",
            self.usage.reasoner_calls,
            self.usage.failed_calls,
            self.usage.total_tokens,
            self.usage.prompt_tokens,
            self.usage.cached_tokens,
            self.usage.completion_tokens,
            format_cost(self.usage.cost_usd, self.usage.total_tokens)
        ));
        md
    }

    /// The report as a standalone HTML page; each experiment token's
    /// background strength is its activation relative to the session's peak.
    pub fn to_html(&self) -> String {
        let peak = self
            .experiments
            .iter()
            .filter_map(|e| e.max_value)
            .fold(0.0f32, f32::max);
        let mut html =
            String::from("<!doctype html>\n<html><head><meta charset=\"utf-8\">\n<title>");
        html.push_str(&escape(&format!("sage · feature {}", self.feature)));
        html.push_str("</title>\n<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}\
             .tok{font-family:monospace;white-space:pre;border-radius:2px}\
             td,th{border:1px solid #ccc;padding:2px 6px}table{border-collapse:collapse}</style>\n</head><body>\n");
        html.push_str(&format!(
            "<h1>Feature {} · {} · {}</h1>\n<p>Hook <code>{}</code> · reasoner <code>{}</code> · session <code>{}</code> · {} · {} round(s)</p>\n",
            self.feature,
            escape(&self.model),
            escape(&self.sae),
            escape(&self.hook),
            escape(&self.reasoner),
            escape(&self.session_id),
            self.status.name(),
            self.rounds
        ));
        html.push_str("<h2>Conclusion</h2>\n");
        match (&self.label, &self.description) {
            (Some(label), Some(description)) => html.push_str(&format!(
                "<p><strong>{}</strong></p><p>{}</p><p>Does not fire on: {}</p><p>Confidence: {}</p>\n",
                escape(label),
                escape(description),
                escape(&self.does_not_fire_on.join("; ")),
                self.confidence.map_or("—".into(), |c| format!("{c:.2}"))
            )),
            _ => html.push_str("<p>Not concluded yet.</p>\n"),
        }
        html.push_str("<h2>Hypotheses</h2>\n<table><tr><th>id</th><th>v</th><th>from</th><th>status</th><th>confidence</th><th>decided by</th><th>description</th></tr>\n");
        for h in &self.hypotheses {
            html.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.2}</td><td>{}</td><td>{}</td></tr>\n",
                escape(&h.id),
                h.version,
                escape(h.parent.as_deref().unwrap_or("—")),
                escape(&h.status),
                h.confidence,
                escape(&h.decided_by.join(", ")),
                escape(&h.description)
            ));
        }
        html.push_str("</table>\n<h2>Experiments</h2>\n");
        for e in &self.experiments {
            html.push_str(&format!(
                "<h3>{} ({} of {}, round {})</h3>\n<p>",
                escape(&e.id),
                escape(&e.kind),
                escape(&e.hypothesis),
                e.round
            ));
            if e.tokens.is_empty() {
                html.push_str(&format!("{} ({})", escape(&e.text), escape(&e.status)));
            }
            for (token, value) in e.tokens.iter().zip(&e.values) {
                let strength = if peak > 0.0 {
                    (value / peak).clamp(0.0, 1.0)
                } else {
                    0.0
                };
                html.push_str(&format!(
                    "<span class=\"tok\" title=\"{value:.3}\" style=\"background:rgba(255,128,0,{strength:.3})\">{}</span>",
                    escape(token)
                ));
            }
            html.push_str("</p>\n");
            if let Some(f1) = e.f1 {
                html.push_str(&format!(
                    "<p>predicted: {} · F1 {f1:.2}</p>\n",
                    escape(&e.predicted_firing.join(", "))
                ));
            }
        }
        html.push_str(&format!(
            "<h2>Usage</h2>\n<p>{} reasoner call(s), {} failed · {} tokens · cost {}</p>\n</body></html>\n",
            self.usage.reasoner_calls,
            self.usage.failed_calls,
            self.usage.total_tokens,
            format_cost(self.usage.cost_usd, self.usage.total_tokens)
        ));
        html
    }
}

/// Cost as dollars: `unknown` when tokens were spent at a missing price,
/// `$0.0000` when no LLM tokens were spent at all (the heuristic reasoner).
pub fn format_cost(cost: Option<f64>, tokens: u64) -> String {
    match cost {
        Some(c) => format!("${c:.4}"),
        None if tokens == 0 => "$0.0000".into(),
        None => "unknown".into(),
    }
}

fn report_hypothesis(h: &Hypothesis) -> ReportHypothesis {
    ReportHypothesis {
        id: h.id.to_string(),
        version: h.version,
        parent: h.parent.map(|p| p.to_string()),
        description: h.description.clone(),
        prediction: h.prediction.clone(),
        status: h.status.name().to_string(),
        rejected_because: match &h.status {
            HypothesisStatus::Rejected { reason } => Some(reason.clone()),
            _ => None,
        },
        confidence: h.confidence,
        decided_by: h.decided_by.iter().map(ToString::to_string).collect(),
        origin: actor_name(h.origin).into(),
    }
}

fn report_experiment(e: &Experiment) -> ReportExperiment {
    let result = e.result.as_ref();
    let score = e.score.as_ref();
    ReportExperiment {
        id: e.id.to_string(),
        hypothesis: e.hypothesis.to_string(),
        kind: snake_name(e.kind),
        round: e.round,
        origin: actor_name(e.origin).into(),
        text: e.text.clone(),
        predicted_firing: e.prediction.firing.clone(),
        status: match &e.status {
            ExperimentStatus::Rejected { reason } => format!("rejected: {reason}"),
            ExperimentStatus::Failed { error } => format!("failed: {error}"),
            other => snake_name(other),
        },
        tokens: result.map(|r| r.tokens.clone()).unwrap_or_default(),
        values: result.map(|r| r.values.clone()).unwrap_or_default(),
        max_value: result.map(|r| r.max_value),
        precision: score.map(|s| s.precision),
        recall: score.map(|s| s.recall),
        f1: score.map(|s| s.f1),
        passed: score.map(|s| s.passed),
    }
}

fn actor_name(actor: Actor) -> &'static str {
    match actor {
        Actor::Agent => "agent",
        Actor::Researcher => "researcher",
    }
}

/// The serde name of a unit-like enum value (`minimal_pair`, `max_rounds`).
fn snake_name<T: Serialize>(value: T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        Ok(serde_json::Value::Object(map)) => map
            .values()
            .next()
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string(),
        _ => String::new(),
    }
}

fn escape(text: &str) -> String {
    crate::escape::terminal(text)
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
