//! A [`Reasoner`] backed by any [`LlmClient`]: our prompts, one JSON schema
//! per step, and strict parsing of the answer into reply types.
//!
//! Each call sends exactly three messages: the instructions and the
//! feature's exemplars as two system messages (identical for every step of
//! a session, so providers cache them as a prefix), then the current state
//! and the task; cost per step does not grow with a transcript. Replies that cite
//! unknown hypotheses or experiments, or give a label over 8 words, are
//! rejected as malformed; the LLM client has already re-asked on schema
//! failures, and the agent retries a failed step once.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Value, json};

use super::prompt;
use super::{Reasoner, ReasonerError};
use crate::agent::{
    ConclusionDraft, Context, Decision, ExperimentDraft, ExperimentId, ExperimentKind,
    HypothesisDraft, HypothesisId, MAX_LABEL_WORDS, Prediction, ReasonRequest, ReasonerReply,
    ReviewOutcome, Strength, Verdict, label_words,
};
use crate::llm::{LlmClient, LlmRequest, Message, Usage};

/// Reasons by asking a language model.
pub struct LlmReasoner {
    client: Arc<dyn LlmClient>,
    max_tokens: u32,
}

impl LlmReasoner {
    /// A reasoner over `client` with a 4096-token reply cap and the
    /// server's default temperature.
    pub fn new(client: Arc<dyn LlmClient>) -> LlmReasoner {
        LlmReasoner {
            client,
            max_tokens: 4096,
        }
    }

    /// The exact request sent for one step.
    fn request_for(&self, req: &ReasonRequest) -> LlmRequest {
        LlmRequest {
            messages: vec![
                Message::system(prompt::SYSTEM),
                Message::system(prompt::exemplar_context(req.context())),
                Message::user(prompt::render(req)),
            ],
            schema: Some(schema(req)),
            max_tokens: Some(self.max_tokens),
            temperature: None,
            top_logprobs: None,
        }
    }
}

#[async_trait::async_trait]
impl Reasoner for LlmReasoner {
    fn spec(&self) -> String {
        self.client.spec().to_string()
    }

    async fn reason(&self, req: &ReasonRequest) -> Result<(ReasonerReply, Usage), ReasonerError> {
        let reply = self.client.complete(&self.request_for(req)).await?;
        let value = match reply.json {
            Some(v) => Ok(v),
            None => serde_json::from_str(reply.text.trim()).map_err(|e| malformed(req, e)),
        };
        match value.and_then(|value| parse(req, value)) {
            Ok(parsed) => Ok((parsed, reply.usage)),
            Err(ReasonerError::Malformed { step, reason, .. }) => Err(ReasonerError::Malformed {
                step,
                reason,
                usage: reply.usage,
            }),
            Err(other) => Err(other),
        }
    }
}

/// An unusable answer; [`LlmReasoner::reason`] fills in what it cost.
fn malformed(req: &ReasonRequest, reason: impl ToString) -> ReasonerError {
    ReasonerError::Malformed {
        step: req.name(),
        reason: reason.to_string(),
        usage: Usage::default(),
    }
}

// ---------------------------------------------------------------------------
// Schemas: strict (every property required, nullable where optional), so
// they work with OpenAI structured outputs as well as plain JSON mode.

fn string() -> Value {
    json!({"type": "string"})
}

fn strings() -> Value {
    json!({"type": "array", "items": {"type": "string"}})
}

fn unit() -> Value {
    json!({"type": "number", "minimum": 0, "maximum": 1})
}

fn object(properties: Value) -> Value {
    let required: Vec<&String> = properties
        .as_object()
        .map(|m| m.keys().collect())
        .unwrap_or_default();
    json!({
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false
    })
}

fn experiment_schema() -> Value {
    object(json!({
        "hypothesis": string(),
        "text": string(),
        "firing": strings(),
        "strength": {"type": ["string", "null"], "enum": ["weak", "medium", "strong", null]},
        "kind": {"type": "string", "enum": ["positive", "control", "minimal_pair"]},
        "rationale": string(),
    }))
}

/// The JSON schema the answer to one step must satisfy.
pub fn schema(req: &ReasonRequest) -> Value {
    let (title, body) = match req {
        ReasonRequest::Hypothesise { .. } => (
            "hypotheses",
            object(
                json!({"hypotheses": {"type": "array", "items": object(json!({
                    "description": string(),
                    "evidence": string(),
                    "prediction": string(),
                }))}}),
            ),
        ),
        ReasonRequest::Design { .. } => (
            "experiments",
            object(json!({"experiments": {"type": "array", "items": experiment_schema()}})),
        ),
        ReasonRequest::Update { .. } => (
            "verdicts",
            object(json!({"verdicts": {"type": "array", "items": object(json!({
                "hypothesis": string(),
                "decision": {"type": "string", "enum": ["confirm", "refine", "refute", "uncertain"]},
                "new_description": {"type": ["string", "null"]},
                "new_prediction": {"type": ["string", "null"]},
                "cites": strings(),
                "confidence": unit(),
                "rationale": string(),
            }))}})),
        ),
        ReasonRequest::Review { .. } => (
            "review",
            object(json!({
                "done": {"type": "boolean"},
                "more_tests": {"type": "array", "items": experiment_schema()},
                "rationale": string(),
            })),
        ),
        ReasonRequest::Conclude { .. } => (
            "conclusion",
            object(json!({
                "label": {"type": "string", "pattern": "^\\s*\\S+(\\s+\\S+){0,7}\\s*$"},
                "description": string(),
                "does_not_fire_on": strings(),
                "evidence": strings(),
                "hypothesis": {"type": ["string", "null"]},
                "confidence": unit(),
            })),
        ),
    };
    let mut schema = body;
    schema["title"] = json!(title);
    schema
}

// ---------------------------------------------------------------------------
// Parsing: the wire shapes, then validation against the context.

#[derive(Deserialize)]
struct HypothesesWire {
    hypotheses: Vec<HypothesisWire>,
}

#[derive(Deserialize)]
struct HypothesisWire {
    description: String,
    #[serde(default)]
    evidence: String,
    #[serde(default)]
    prediction: String,
}

#[derive(Deserialize)]
struct ExperimentsWire {
    experiments: Vec<ExperimentWire>,
}

#[derive(Deserialize)]
struct ExperimentWire {
    hypothesis: String,
    text: String,
    #[serde(default)]
    firing: Vec<String>,
    #[serde(default)]
    strength: Option<Strength>,
    kind: ExperimentKind,
    #[serde(default)]
    rationale: String,
}

#[derive(Deserialize)]
struct VerdictsWire {
    verdicts: Vec<VerdictWire>,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum DecisionWire {
    Confirm,
    Refine,
    Refute,
    Uncertain,
}

#[derive(Deserialize)]
struct VerdictWire {
    hypothesis: String,
    decision: DecisionWire,
    #[serde(default)]
    new_description: Option<String>,
    #[serde(default)]
    new_prediction: Option<String>,
    #[serde(default)]
    cites: Vec<String>,
    confidence: f32,
    #[serde(default)]
    rationale: String,
}

#[derive(Deserialize)]
struct ReviewWire {
    done: bool,
    #[serde(default)]
    more_tests: Vec<ExperimentWire>,
    #[serde(default)]
    rationale: String,
}

#[derive(Deserialize)]
struct ConclusionWire {
    label: String,
    description: String,
    #[serde(default)]
    does_not_fire_on: Vec<String>,
    #[serde(default)]
    evidence: Vec<String>,
    #[serde(default)]
    hypothesis: Option<String>,
    confidence: f32,
}

/// Parses and validates a JSON answer to `req`.
pub fn parse(req: &ReasonRequest, value: Value) -> Result<ReasonerReply, ReasonerError> {
    let bad = |reason: String| malformed(req, reason);
    let ctx = req.context();
    match req {
        ReasonRequest::Hypothesise { .. } => {
            let wire: HypothesesWire = from_value(req, value)?;
            let drafts: Vec<HypothesisDraft> = wire
                .hypotheses
                .into_iter()
                .filter(|h| !h.description.trim().is_empty())
                .map(|h| HypothesisDraft {
                    description: h.description.trim().to_string(),
                    evidence: h.evidence,
                    prediction: h.prediction,
                    rule: None,
                })
                .collect();
            if drafts.is_empty() {
                return Err(bad("it proposed no hypothesis".into()));
            }
            Ok(ReasonerReply::HypothesisDrafts(drafts))
        }
        ReasonRequest::Design { targets, .. } => {
            let wire: ExperimentsWire = from_value(req, value)?;
            let drafts = experiments(ctx, wire.experiments).map_err(bad)?;
            if let Some(d) = drafts.iter().find(|d| !targets.contains(&d.hypothesis)) {
                return Err(bad(format!(
                    "it designed for {}, which was not one of the targets",
                    d.hypothesis
                )));
            }
            Ok(ReasonerReply::ExperimentDrafts(drafts))
        }
        ReasonRequest::Update { .. } => {
            let wire: VerdictsWire = from_value(req, value)?;
            let verdicts = wire
                .verdicts
                .into_iter()
                .map(|v| verdict(ctx, v))
                .collect::<Result<Vec<_>, _>>()
                .map_err(bad)?;
            Ok(ReasonerReply::Verdicts(verdicts))
        }
        ReasonRequest::Review { .. } => {
            let wire: ReviewWire = from_value(req, value)?;
            let more_tests = if wire.done {
                Vec::new()
            } else {
                experiments(ctx, wire.more_tests).map_err(bad)?
            };
            Ok(ReasonerReply::ReviewOutcome(ReviewOutcome {
                more_tests,
                rationale: wire.rationale,
            }))
        }
        ReasonRequest::Conclude { .. } => {
            let wire: ConclusionWire = from_value(req, value)?;
            let words = label_words(&wire.label);
            if words == 0 || words > MAX_LABEL_WORDS {
                return Err(bad(format!(
                    "the label {:?} has {words} words; it must have 1 to {MAX_LABEL_WORDS}",
                    wire.label
                )));
            }
            let hypothesis = wire
                .hypothesis
                .as_deref()
                .map(|h| hypothesis_id(ctx, h))
                .transpose()
                .map_err(bad)?;
            Ok(ReasonerReply::ConclusionDraft(ConclusionDraft {
                label: wire.label.trim().to_string(),
                description: wire.description,
                does_not_fire_on: wire.does_not_fire_on,
                evidence: experiment_ids(ctx, &wire.evidence).map_err(bad)?,
                hypothesis,
                confidence: wire.confidence.clamp(0.0, 1.0),
                rule: None,
            }))
        }
    }
}

fn from_value<T: serde::de::DeserializeOwned>(
    req: &ReasonRequest,
    value: Value,
) -> Result<T, ReasonerError> {
    serde_json::from_value(value).map_err(|e| malformed(req, e))
}

fn hypothesis_id(ctx: &Context, s: &str) -> Result<HypothesisId, String> {
    let id: HypothesisId = s.parse()?;
    ctx.hypothesis(id)
        .map(|h| h.id)
        .ok_or_else(|| format!("it cites {id}, which does not exist"))
}

fn experiment_ids(ctx: &Context, ids: &[String]) -> Result<Vec<ExperimentId>, String> {
    ids.iter()
        .map(|s| {
            let id: ExperimentId = s.parse()?;
            ctx.experiment(id)
                .map(|e| e.id)
                .ok_or_else(|| format!("it cites {id}, which does not exist"))
        })
        .collect()
}

fn experiments(ctx: &Context, wire: Vec<ExperimentWire>) -> Result<Vec<ExperimentDraft>, String> {
    wire.into_iter()
        .map(|e| {
            Ok(ExperimentDraft {
                hypothesis: hypothesis_id(ctx, &e.hypothesis)?,
                text: e.text,
                prediction: Prediction {
                    firing: e.firing,
                    strength: e.strength,
                },
                kind: e.kind,
                rationale: e.rationale,
            })
        })
        .collect()
}

fn verdict(ctx: &Context, v: VerdictWire) -> Result<Verdict, String> {
    let hypothesis = hypothesis_id(ctx, &v.hypothesis)?;
    let decision = match v.decision {
        DecisionWire::Confirm => Decision::Confirm,
        DecisionWire::Refute => Decision::Refute,
        DecisionWire::Uncertain => Decision::Uncertain,
        DecisionWire::Refine => {
            let description = v
                .new_description
                .filter(|d| !d.trim().is_empty())
                .ok_or_else(|| format!("it refines {hypothesis} without a new description"))?;
            Decision::Refine {
                description,
                prediction: v.new_prediction.unwrap_or_default(),
                rule: None,
            }
        }
    };
    Ok(Verdict {
        hypothesis,
        decision,
        cites: experiment_ids(ctx, &v.cites)?,
        confidence: v.confidence.clamp(0.0, 1.0),
        rationale: v.rationale,
    })
}
