//! Input options shared by the subcommands that run a model on text or ids.

use anyhow::Context as _;
use sage::model::ModelError;

/// The BOS choice from `--prepend-bos` / `--no-prepend-bos`: `None` keeps
/// the model's default.
pub fn bos_choice(prepend_bos: bool, no_prepend_bos: bool) -> Option<bool> {
    match (prepend_bos, no_prepend_bos) {
        (true, _) => Some(true),
        (_, true) => Some(false),
        _ => None,
    }
}

/// Parses `1,2,3`; an empty list is [`ModelError::EmptyInput`].
pub fn parse_token_ids(list: &str) -> anyhow::Result<Vec<u32>> {
    let ids = list
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<u32>().with_context(|| {
                format!(
                    "bad token id `{s}` in --token-ids: give comma-separated non-negative integers"
                )
            })
        })
        .collect::<anyhow::Result<Vec<u32>>>()?;
    if ids.is_empty() {
        return Err(ModelError::EmptyInput.into());
    }
    Ok(ids)
}
