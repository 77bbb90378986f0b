//! The LLM judge: the configured model writes sentences from an explanation,
//! predicts activations from it, and classifies texts by it (detection and
//! fuzzing, a few texts per call, a probability per text). Two prediction modes: SAGE's, one call
//! per token taking the expected value over the digit tokens of the
//! answer's top log-probabilities (needs an endpoint with logprobs), and a
//! cheaper batched mode, one structured call per text.

use std::fmt::Write;
use std::sync::Arc;

use serde_json::{Value, json};

use super::classify::{Shown, Task, Verdict};
use super::explanation::Explanation;
use super::judge::{Judge, JudgeError, Spend};
use crate::llm::{LlmClient, LlmReply, LlmRequest, Message, TokenLogprob};

/// How the LLM judge predicts activations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PredictMode {
    /// One structured call per text: an integer 0-10 for every token.
    Batched,
    /// One call per token: the expected value over the digit tokens of the
    /// answer's top log-probabilities (SAGE's method).
    Logprobs,
}

/// Alternatives asked for at the answer token in [`PredictMode::Logprobs`].
const TOP_LOGPROBS: u8 = 20;

const GENERATE_PROMPT: &str = "A feature of a language model is explained as follows.\n\n\
Explanation: {explanation}\n\nWrite {count} varied, natural English sentences of 5 to 15 words \
each that should make this feature fire strongly. Vary topic and wording; do not number them.";

const PREDICT_PROMPT: &str = "A feature of a language model is explained as follows.\n\n\
Explanation: {explanation}\n\nBelow is a text split into numbered tokens. For every token, \
estimate the feature's activation there as an integer from 0 (silent) to 10 (as strong as it \
ever gets), from the explanation alone. Answer with exactly {n} numbers, one per token, in order.";

const TOKEN_PROMPT: &str = "A feature of a language model is explained as follows.\n\n\
Explanation: {explanation}\n\nText: {text}\n\nHow strongly does the feature fire on the token \
{token} (token number {index} of the text)? Answer with a single integer from 0 (silent) to 10 \
(as strong as it ever gets) and nothing else.";

const DETECT_PROMPT: &str = "A feature of a language model is explained as follows.\n\n\
Explanation: {explanation}\n\nBelow are {n} numbered texts. Some make the feature fire somewhere, \
some do not. For each text, in order, give the probability (0 to 1) that the feature fires in it, \
judging from the explanation alone.";

const FUZZ_PROMPT: &str = "A feature of a language model is explained as follows.\n\n\
Explanation: {explanation}\n\nBelow are {n} numbered texts, each with some tokens marked \
<<like this>>. In some texts the marks sit on the tokens where the feature fires; in others they \
were placed at random. For each text, in order, give the probability (0 to 1) that its marks are \
placed correctly, judging from the explanation alone.";

/// A judge backed by any [`LlmClient`].
pub struct LlmJudge {
    client: Arc<dyn LlmClient>,
    mode: PredictMode,
}

impl LlmJudge {
    /// A judge asking `client`, predicting in `mode`.
    pub fn new(client: Arc<dyn LlmClient>, mode: PredictMode) -> LlmJudge {
        LlmJudge { client, mode }
    }

    /// One call, counted in `spend` whether it succeeds or not.
    async fn ask(&self, request: LlmRequest, spend: &mut Spend) -> Result<LlmReply, JudgeError> {
        match self.client.complete(&request).await {
            Ok(reply) => {
                spend.answered(&reply.usage);
                Ok(reply)
            }
            Err(err) => {
                spend.failed_call(&err);
                Err(err.into())
            }
        }
    }

    async fn predict_batched(
        &self,
        explanation: &Explanation,
        tokens: &[String],
        spend: &mut Spend,
    ) -> Result<Vec<f32>, JudgeError> {
        let mut listing = String::new();
        for (i, t) in tokens.iter().enumerate() {
            let _ = writeln!(listing, "{i}\t{}", t.escape_debug());
        }
        let prompt = PREDICT_PROMPT
            .replace("{explanation}", &explanation.text())
            .replace("{n}", &tokens.len().to_string());
        let values = self
            .ask_numbers(
                format!("{prompt}\n\n{listing}"),
                "activations",
                64 + 4 * tokens.len() as u32,
                spend,
            )
            .await?;
        if values.len() != tokens.len() {
            return Err(JudgeError::Unparseable(format!(
                "{} activations for {} tokens",
                values.len(),
                tokens.len()
            )));
        }
        Ok(values
            .into_iter()
            .map(|x| x.clamp(0.0, 10.0) as f32)
            .collect())
    }

    /// One structured call whose answer is an array of numbers in the
    /// field `name`; a missing array or a non-number is unparseable.
    async fn ask_numbers(
        &self,
        prompt: String,
        name: &str,
        max_tokens: u32,
        spend: &mut Spend,
    ) -> Result<Vec<f64>, JudgeError> {
        let reply = self
            .ask(
                LlmRequest {
                    messages: vec![Message::user(prompt)],
                    schema: Some(object(
                        name,
                        json!({"type": "array", "items": {"type": "number"}}),
                    )),
                    max_tokens: Some(max_tokens),
                    temperature: Some(0.0),
                    top_logprobs: None,
                },
                spend,
            )
            .await?;
        reply
            .json
            .as_ref()
            .and_then(|v| v[name].as_array())
            .ok_or_else(|| JudgeError::Unparseable(format!("no `{name}` array")))?
            .iter()
            .map(|v| {
                v.as_f64()
                    .filter(|x| x.is_finite())
                    .ok_or_else(|| JudgeError::Unparseable(format!("`{v}` is not a number")))
            })
            .collect()
    }

    async fn predict_per_token(
        &self,
        explanation: &Explanation,
        tokens: &[String],
        spend: &mut Spend,
    ) -> Result<Vec<f32>, JudgeError> {
        let text = tokens.concat();
        let mut out = Vec::with_capacity(tokens.len());
        for (index, token) in tokens.iter().enumerate() {
            let prompt = TOKEN_PROMPT
                .replace("{explanation}", &explanation.text())
                .replace("{text}", &text)
                .replace("{token}", &format!("{:?}", token))
                .replace("{index}", &index.to_string());
            let reply = self
                .ask(
                    LlmRequest {
                        messages: vec![Message::user(prompt)],
                        schema: None,
                        max_tokens: Some(3),
                        temperature: Some(0.0),
                        top_logprobs: Some(TOP_LOGPROBS),
                    },
                    spend,
                )
                .await?;
            let first = reply
                .logprobs
                .as_ref()
                .and_then(|l| l.first())
                .ok_or_else(|| {
                    JudgeError::Unparseable("the reply carried no log-probabilities".to_string())
                })?;
            out.push(expected_digit(first).ok_or_else(|| {
                JudgeError::Unparseable(format!("no digit among the top answers at token {index}"))
            })?);
        }
        Ok(out)
    }
}

/// Numbered texts, one per line; each run of highlighted tokens wrapped
/// in one `<<` `>>` pair, as Delphi marks them.
fn listing(shown: &[Shown]) -> String {
    let mut out = String::new();
    for (i, s) in shown.iter().enumerate() {
        let marked = |k: usize| s.highlights.as_ref().and_then(|m| m.get(k).copied()) == Some(true);
        let mut text = String::new();
        for (k, t) in s.tokens.iter().enumerate() {
            if marked(k) && (k == 0 || !marked(k - 1)) {
                text.push_str("<<");
            }
            text.push_str(t);
            if marked(k) && !marked(k + 1) {
                text.push_str(">>");
            }
        }
        let _ = writeln!(out, "{}. {}", i + 1, text.escape_debug());
    }
    out
}

/// The expected value over the answers 0..=10 among a token's top
/// alternatives (and the token itself), weighted by probability and
/// renormalised over those answers; `None` when none is a number 0-10.
pub fn expected_digit(position: &TokenLogprob) -> Option<f32> {
    let mut seen: Vec<&str> = Vec::new();
    let (mut weighted, mut total) = (0.0_f64, 0.0_f64);
    let candidates = std::iter::once((position.token.as_str(), position.logprob))
        .chain(position.top.iter().map(|(t, lp)| (t.as_str(), *lp)));
    for (token, logprob) in candidates {
        let trimmed = token.trim();
        if seen.contains(&trimmed) {
            continue;
        }
        seen.push(trimmed);
        if let Ok(d) = trimmed.parse::<u8>()
            && d <= 10
        {
            let p = logprob.exp();
            weighted += p * f64::from(d);
            total += p;
        }
    }
    (total > 0.0).then(|| (weighted / total) as f32)
}

/// A JSON schema for an object with one required property.
fn object(name: &str, property: Value) -> Value {
    json!({
        "title": name,
        "type": "object",
        "properties": {name: property},
        "required": [name],
        "additionalProperties": false
    })
}

#[async_trait::async_trait]
impl Judge for LlmJudge {
    fn name(&self) -> String {
        let mode = match self.mode {
            PredictMode::Batched => "batched",
            PredictMode::Logprobs => "per-token logprobs",
        };
        format!("{} ({mode})", self.client.spec())
    }

    async fn generate(
        &self,
        explanation: &Explanation,
        count: usize,
        spend: &mut Spend,
    ) -> Result<Vec<String>, JudgeError> {
        let prompt = GENERATE_PROMPT
            .replace("{explanation}", &explanation.text())
            .replace("{count}", &count.to_string());
        let reply = self
            .ask(
                LlmRequest {
                    messages: vec![Message::user(prompt)],
                    schema: Some(object(
                        "sentences",
                        json!({"type": "array", "items": {"type": "string"}}),
                    )),
                    max_tokens: Some(60 * count as u32 + 100),
                    temperature: Some(0.7),
                    top_logprobs: None,
                },
                spend,
            )
            .await?;
        let sentences: Vec<String> = reply
            .json
            .as_ref()
            .and_then(|v| v["sentences"].as_array())
            .ok_or_else(|| JudgeError::Unparseable("no `sentences` array".to_string()))?
            .iter()
            .filter_map(|s| s.as_str().map(str::trim))
            .filter(|s| !s.is_empty())
            .take(count)
            .map(str::to_string)
            .collect();
        Ok(sentences)
    }

    async fn predict(
        &self,
        explanation: &Explanation,
        tokens: &[String],
        spend: &mut Spend,
    ) -> Result<Vec<f32>, JudgeError> {
        match self.mode {
            PredictMode::Batched => self.predict_batched(explanation, tokens, spend).await,
            PredictMode::Logprobs => self.predict_per_token(explanation, tokens, spend).await,
        }
    }

    async fn classify(
        &self,
        explanation: &Explanation,
        task: Task,
        shown: &[Shown],
        spend: &mut Spend,
    ) -> Result<Vec<Verdict>, JudgeError> {
        let prompt = match task {
            Task::Detection => DETECT_PROMPT,
            Task::Fuzzing => FUZZ_PROMPT,
        }
        .replace("{explanation}", &explanation.text())
        .replace("{n}", &shown.len().to_string());
        let values = self
            .ask_numbers(
                format!("{prompt}\n\n{}", listing(shown)),
                "probabilities",
                64 + 8 * shown.len() as u32,
                spend,
            )
            .await?;
        Ok(values
            .into_iter()
            .map(|p| {
                let p = p.clamp(0.0, 1.0);
                Verdict {
                    yes: p >= 0.5,
                    probability: Some(p),
                }
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::{LlmError, Usage};
    use std::sync::Mutex;

    /// Answers every call with "7" whose top alternatives are 7 and 3 at
    /// equal odds, and records the requests.
    struct DigitModel {
        requests: Mutex<Vec<LlmRequest>>,
    }

    #[async_trait::async_trait]
    impl LlmClient for DigitModel {
        fn spec(&self) -> &str {
            "digits"
        }

        async fn complete(&self, request: &LlmRequest) -> Result<LlmReply, LlmError> {
            self.requests.lock().unwrap().push(request.clone());
            let half = 0.5f64.ln();
            Ok(LlmReply {
                text: "7".into(),
                json: None,
                usage: Usage {
                    prompt_tokens: 40,
                    completion_tokens: 1,
                    ..Usage::default()
                },
                logprobs: Some(vec![TokenLogprob {
                    token: "7".into(),
                    logprob: half,
                    top: vec![("7".into(), half), ("3".into(), half)],
                }]),
            })
        }
    }

    #[test]
    fn per_token_mode_makes_one_logprob_call_per_token() {
        let model = Arc::new(DigitModel {
            requests: Mutex::new(Vec::new()),
        });
        let judge = LlmJudge::new(model.clone(), PredictMode::Logprobs);
        let explanation = Explanation {
            label: "month names".into(),
            description: String::new(),
            rule: None,
        };
        let tokens: Vec<String> = ["In", " May", " we"].map(String::from).to_vec();
        let mut spend = Spend::default();
        let values = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(judge.predict(&explanation, &tokens, &mut spend))
            .unwrap();
        assert_eq!(values, [5.0, 5.0, 5.0]);
        assert_eq!((spend.calls, spend.failed, spend.tokens), (3, 0, 3 * 41));
        let requests = model.requests.lock().unwrap();
        assert!(
            requests
                .iter()
                .all(|r| r.top_logprobs == Some(TOP_LOGPROBS))
        );
        assert!(
            requests[1].messages[0]
                .content
                .contains("\" May\" (token number 1")
        );
    }

    fn position(token: &str, top: &[(&str, f64)]) -> TokenLogprob {
        TokenLogprob {
            token: token.to_string(),
            logprob: top.iter().find(|(t, _)| *t == token).map_or(-1.0, |x| x.1),
            top: top.iter().map(|(t, lp)| (t.to_string(), *lp)).collect(),
        }
    }

    #[test]
    fn expected_value_over_digit_answers_renormalised() {
        // p(7) = 0.5, p(8) = 0.25, p("seven") ignored, p(" 3") = 0.25:
        // (0.5*7 + 0.25*8 + 0.25*3) / 1.0 = 6.25.
        let p = position(
            "7",
            &[
                ("7", 0.5f64.ln()),
                ("8", 0.25f64.ln()),
                ("seven", 0.1f64.ln()),
                (" 3", 0.25f64.ln()),
            ],
        );
        assert!((expected_digit(&p).unwrap() - 6.25).abs() < 1e-6);
        // Only half the mass on digits: renormalised, 10 and 0 equally -> 5.
        let p = position(
            "10",
            &[
                ("10", 0.25f64.ln()),
                ("0", 0.25f64.ln()),
                ("x", 0.5f64.ln()),
            ],
        );
        assert!((expected_digit(&p).unwrap() - 5.0).abs() < 1e-6);
        assert_eq!(
            expected_digit(&position("no", &[("no", -0.1), ("11", -2.0)])),
            None
        );
    }

    /// Answers every call with the same `probabilities` and records the
    /// prompts.
    struct ProbabilityModel {
        answer: serde_json::Value,
        prompts: Mutex<Vec<String>>,
    }

    #[async_trait::async_trait]
    impl LlmClient for ProbabilityModel {
        fn spec(&self) -> &str {
            "probabilities"
        }

        async fn complete(&self, request: &LlmRequest) -> Result<LlmReply, LlmError> {
            self.prompts
                .lock()
                .unwrap()
                .push(request.messages[0].content.clone());
            Ok(LlmReply {
                text: self.answer.to_string(),
                json: Some(self.answer.clone()),
                usage: Usage::default(),
                logprobs: None,
            })
        }
    }

    #[test]
    fn classification_lists_the_texts_with_marks_and_reads_a_probability_each() {
        let model = Arc::new(ProbabilityModel {
            answer: json!({"probabilities": [0.9, 0.2, 1.7]}),
            prompts: Mutex::new(Vec::new()),
        });
        let judge = LlmJudge::new(model.clone(), PredictMode::Batched);
        let explanation = Explanation {
            label: "month names".into(),
            description: String::new(),
            rule: None,
        };
        let shown = |tokens: &[&str], marks: &[bool]| Shown {
            tokens: tokens.iter().map(|t| t.to_string()).collect(),
            highlights: Some(marks.to_vec()),
        };
        let texts = [
            shown(&["In", " May", " we"], &[false, true, false]),
            shown(&["a", " b", " c"], &[true, true, false]),
            shown(&["x"], &[false]),
        ];
        let mut spend = Spend::default();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let verdicts = rt
            .block_on(judge.classify(&explanation, Task::Fuzzing, &texts, &mut spend))
            .unwrap();
        let yes: Vec<bool> = verdicts.iter().map(|v| v.yes).collect();
        assert_eq!(yes, [true, false, true]);
        // Out-of-range probabilities are clamped.
        assert_eq!(verdicts[2].probability, Some(1.0));
        let prompt = model.prompts.lock().unwrap()[0].clone();
        assert!(
            prompt.contains("1. In<< May>> we\n2. <<a b>> c\n3. x\n"),
            "{prompt}"
        );
        assert!(prompt.contains("Explanation: month names"), "{prompt}");
        // Detection shows no marks.
        let plain: Vec<Shown> = texts
            .iter()
            .map(|s| Shown {
                highlights: None,
                ..s.clone()
            })
            .collect();
        rt.block_on(judge.classify(&explanation, Task::Detection, &plain, &mut spend))
            .unwrap();
        let prompt = model.prompts.lock().unwrap()[1].clone();
        assert!(
            prompt.contains("1. In May we\n") && !prompt.contains("<<"),
            "{prompt}"
        );
        assert_eq!(spend.calls, 2);
    }
}
