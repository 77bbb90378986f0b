//! The JSON Neuronpedia sends, and its translation into sage's types.
//!
//! Shapes follow the Neuronpedia webapp: `POST /api/activation/new` answers
//! with one activation object (`tokens`, `values`, `maxValue`,
//! `maxValueTokenIndex`, …); `GET /api/feature/{model}/{source}/{index}`
//! answers with the feature row (`maxActApprox`, `frac_nonzero`, …) plus
//! its stored `activations` and `explanations`, or with `null` /
//! `{"error": …}` when the feature does not exist. Fields sage does not use
//! are ignored, so newer servers with extra fields still parse.

use serde::{Deserialize, Serialize};

use crate::activation::{
    ActivationRecord, Exemplar, ExemplarQuery, FeatureExemplars, QuantileBand, SourceInfo,
};

/// One activation object, as stored or as computed for custom text.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireActivation {
    /// Token strings.
    pub tokens: Vec<String>,
    /// Activation per token.
    pub values: Vec<f32>,
    /// Lower bound of the quantile bin this example was sampled from; top
    /// examples carry none (or a negative value).
    #[serde(default)]
    pub bin_min: Option<f64>,
    /// Upper bound of that bin.
    #[serde(default)]
    pub bin_max: Option<f64>,
    /// Row of the dataset the example came from (a string or a number).
    #[serde(default)]
    pub data_index: Option<serde_json::Value>,
    /// Name of that dataset.
    #[serde(default)]
    pub data_source: Option<String>,
}

/// An explanation already stored on Neuronpedia for a feature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Explanation {
    /// The explanation text.
    pub description: String,
    /// How it was made (for example `oai_token-act-pair`).
    #[serde(default)]
    pub type_name: Option<String>,
    /// The model that wrote it.
    #[serde(default)]
    pub explanation_model_name: Option<String>,
}

/// A feature's dashboard data from `GET /api/feature/…`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireFeature {
    /// Approximate largest activation seen when the dashboard was built.
    #[serde(default)]
    pub max_act_approx: Option<f64>,
    /// Fraction of dataset tokens on which the feature fires.
    #[serde(default, rename = "frac_nonzero")]
    pub frac_nonzero: Option<f64>,
    /// Stored examples: top activations and quantile samples.
    #[serde(default)]
    pub activations: Vec<WireActivation>,
    /// Stored explanations, best scored first.
    #[serde(default)]
    pub explanations: Vec<Explanation>,
}

/// Parses a custom-text activation reply. `Ok(None)` means the server says
/// the feature does not exist.
pub fn parse_activation(body: &[u8]) -> Result<Option<WireActivation>, String> {
    let Some(value) = parse_present(body)? else {
        return Ok(None);
    };
    let activation: WireActivation =
        serde_json::from_value(value).map_err(|e| format!("unexpected activation JSON: {e}"))?;
    check_aligned(&activation)?;
    Ok(Some(activation))
}

/// Parses a feature reply. `Ok(None)` means the feature does not exist.
pub fn parse_feature(body: &[u8]) -> Result<Option<WireFeature>, String> {
    let Some(value) = parse_present(body)? else {
        return Ok(None);
    };
    let feature: WireFeature =
        serde_json::from_value(value).map_err(|e| format!("unexpected feature JSON: {e}"))?;
    for activation in &feature.activations {
        check_aligned(activation)?;
    }
    Ok(Some(feature))
}

/// Reads the body as JSON; `null` and an object that only reports a
/// "not found" error mean absence, any other error object is an error.
fn parse_present(body: &[u8]) -> Result<Option<serde_json::Value>, String> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("the body is not JSON ({e})"))?;
    if value.is_null() {
        return Ok(None);
    }
    if let Some(message) = error_message(&value)
        && value.get("tokens").is_none()
    {
        if message.to_ascii_lowercase().contains("not found") {
            return Ok(None);
        }
        return Err(format!("the server reported an error: {message}"));
    }
    Ok(Some(value))
}

/// The `error` or `message` string of an error body, if it is one.
pub fn error_message(value: &serde_json::Value) -> Option<&str> {
    ["error", "message"]
        .iter()
        .find_map(|field| value.get(field).and_then(serde_json::Value::as_str))
}

fn check_aligned(activation: &WireActivation) -> Result<(), String> {
    if activation.tokens.len() != activation.values.len() {
        return Err(format!(
            "an activation has {} tokens but {} values",
            activation.tokens.len(),
            activation.values.len()
        ));
    }
    Ok(())
}

impl WireActivation {
    /// The activation as sage's record. Neuronpedia does not send token
    /// ids, so `token_ids` stays empty.
    pub fn into_record(self, info: &SourceInfo, feature: u32) -> ActivationRecord {
        ActivationRecord::new(info, feature, self.tokens, Vec::new(), self.values)
    }

    fn is_top_example(&self) -> bool {
        self.bin_min.is_none_or(|b| b < 0.0)
    }

    fn into_exemplar(self, info: &SourceInfo, feature: u32) -> Exemplar {
        let row = self.data_index.as_ref().map(|v| match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        });
        let offset = row.as_deref().and_then(|r| r.parse::<u64>().ok());
        let origin = match (&self.data_source, &row) {
            (Some(source), Some(row)) => format!("neuronpedia:{source}#{row}"),
            (Some(source), None) => format!("neuronpedia:{source}"),
            (None, Some(row)) => format!("neuronpedia#{row}"),
            (None, None) => "neuronpedia".to_string(),
        };
        Exemplar {
            record: self.into_record(info, feature),
            origin: Some(origin),
            offset,
        }
    }
}

impl WireFeature {
    /// Sorts the stored examples into top examples, quantile bands
    /// (strongest band first) and non-activating examples, as many of each
    /// as `query` asks for.
    pub fn into_exemplars(
        self,
        info: &SourceInfo,
        feature: u32,
        query: &ExemplarQuery,
    ) -> FeatureExemplars {
        let density = self.frac_nonzero;
        let approx_max = self.max_act_approx;
        let mut top = Vec::new();
        let mut non_activating = Vec::new();
        let mut bands: Vec<(f64, f64, Vec<Exemplar>)> = Vec::new();
        let any_top = self.activations.iter().any(WireActivation::is_top_example);
        for activation in self.activations {
            let is_top = !any_top || activation.is_top_example();
            let bin = (activation.bin_min, activation.bin_max);
            let exemplar = activation.into_exemplar(info, feature);
            if exemplar.record.max_value <= 0.0 {
                non_activating.push(exemplar);
            } else if is_top {
                top.push(exemplar);
            } else {
                let (lo, hi) = (bin.0.unwrap_or(0.0), bin.1.unwrap_or(0.0));
                match bands.iter_mut().find(|(l, h, _)| *l == lo && *h == hi) {
                    Some((_, _, members)) => members.push(exemplar),
                    None => bands.push((lo, hi, vec![exemplar])),
                }
            }
        }
        top.sort_by(|a, b| b.record.max_value.total_cmp(&a.record.max_value));
        let observed_max = top.first().map_or(0.0, |e| e.record.max_value);
        top.truncate(query.top_k);
        non_activating.truncate(query.non_activating);
        bands.sort_by(|a, b| b.1.total_cmp(&a.1).then(b.0.total_cmp(&a.0)));
        let quantiles = bands
            .into_iter()
            .map(|(lo, hi, mut examples)| {
                examples.truncate(query.per_quantile);
                QuantileBand {
                    min_value: lo as f32,
                    max_value: hi as f32,
                    examples,
                }
            })
            .collect();
        FeatureExemplars {
            feature,
            top,
            quantiles,
            non_activating,
            density,
            max_activation: approx_max.map_or(observed_max, |m| m as f32),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> SourceInfo {
        SourceInfo {
            model: "gpt2-small".into(),
            sae: "8-res-jb".into(),
            hook: String::new(),
            n_features: 24576,
        }
    }

    #[test]
    fn null_and_not_found_errors_mean_absent() {
        assert_eq!(parse_feature(b"null"), Ok(None));
        assert_eq!(parse_feature(br#"{"error":"Feature Not Found"}"#), Ok(None));
        assert_eq!(
            parse_activation(br#"{"message":"Neuron not found."}"#),
            Ok(None)
        );
    }

    #[test]
    fn other_error_bodies_and_garbage_are_errors() {
        let err = parse_activation(br#"{"message":"Invalid feature."}"#).unwrap_err();
        assert!(err.contains("Invalid feature."), "{err}");
        assert!(parse_feature(b"<html>").unwrap_err().contains("not JSON"));
        let err = parse_activation(br#"{"tokens":["a","b"],"values":[1.0]}"#).unwrap_err();
        assert!(err.contains("2 tokens but 1 values"), "{err}");
    }

    #[test]
    fn stored_examples_split_into_top_bands_and_zero() {
        let body = br#"{
            "maxActApprox": 9.5, "frac_nonzero": 0.002,
            "activations": [
                {"tokens":["a","b"],"values":[0.0,3.0],"binMin":-1,"binMax":-1,"dataIndex":"12","dataSource":"pile"},
                {"tokens":["c","d"],"values":[9.0,1.0],"binMin":-1,"binMax":-1},
                {"tokens":["e"],"values":[1.5],"binMin":1.0,"binMax":2.0,"dataIndex":7},
                {"tokens":["f"],"values":[4.5],"binMin":4.0,"binMax":5.0},
                {"tokens":["g"],"values":[1.2],"binMin":1.0,"binMax":2.0},
                {"tokens":["h"],"values":[0.0],"binMin":0.0,"binMax":1.0}
            ],
            "explanations": [{"description":"the letter b","typeName":"oai","explanationModelName":"gpt-4"}]
        }"#;
        let feature = parse_feature(body).unwrap().unwrap();
        assert_eq!(feature.explanations[0].description, "the letter b");
        let query = ExemplarQuery {
            top_k: 5,
            per_quantile: 1,
            non_activating: 5,
        };
        let ex = feature.into_exemplars(&info(), 42, &query);
        assert_eq!(ex.density, Some(0.002));
        assert_eq!(ex.max_activation, 9.5);
        let top: Vec<f32> = ex.top.iter().map(|e| e.record.max_value).collect();
        assert_eq!(top, vec![9.0, 3.0]);
        assert_eq!(ex.top[1].origin.as_deref(), Some("neuronpedia:pile#12"));
        assert_eq!(ex.top[1].offset, Some(12));
        assert_eq!(ex.top[1].record.max_value_token_index, 1);
        let bands: Vec<(f32, f32, usize)> = ex
            .quantiles
            .iter()
            .map(|b| (b.min_value, b.max_value, b.examples.len()))
            .collect();
        assert_eq!(bands, vec![(4.0, 5.0, 1), (1.0, 2.0, 1)]);
        assert_eq!(ex.quantiles[1].examples[0].offset, Some(7));
        assert_eq!(ex.non_activating.len(), 1);
        assert_eq!(ex.non_activating[0].record.tokens, vec!["h".to_string()]);
    }
}
