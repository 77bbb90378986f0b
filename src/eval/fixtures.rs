//! Small records and exemplars for the evaluation unit tests.

use crate::activation::{ActivationRecord, Exemplar, SourceInfo};

/// A record over `tokens` with `values`.
pub fn record(tokens: &[&str], values: &[f32]) -> ActivationRecord {
    let info = SourceInfo {
        model: "m".into(),
        sae: "s".into(),
        hook: "h".into(),
        n_features: 1,
    };
    ActivationRecord::new(
        &info,
        0,
        tokens.iter().map(|t| t.to_string()).collect(),
        vec![0; tokens.len()],
        values.to_vec(),
    )
}

/// An exemplar over `tokens` with `values`.
pub fn exemplar(tokens: &[&str], values: &[f32]) -> Exemplar {
    Exemplar {
        record: record(tokens, values),
        origin: None,
        offset: None,
    }
}
