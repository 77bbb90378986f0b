//! The shard index of a sharded safetensors checkpoint
//! (`model.safetensors.index.json`), read in one place for both the loader
//! and the hub resolver, so both refuse the same bad indexes.

use std::collections::BTreeMap;

/// The distinct shard file names an index names, sorted. A name that could
/// leave the checkpoint's directory (`..`, an absolute path) is refused, so
/// an index from a hub repo cannot point the loader at other files.
pub fn shard_names(index_json: &str) -> Result<Vec<String>, String> {
    #[derive(serde::Deserialize)]
    struct Index {
        weight_map: BTreeMap<String, String>,
    }
    let parsed: Index = serde_json::from_str(index_json).map_err(|e| e.to_string())?;
    let mut shards: Vec<String> = parsed.weight_map.into_values().collect();
    shards.sort();
    shards.dedup();
    if let Some(odd) = shards
        .iter()
        .find(|s| s.contains("..") || s.starts_with('/') || s.starts_with('\\'))
    {
        return Err(format!(
            "shard name `{odd}` escapes the checkpoint directory"
        ));
    }
    Ok(shards)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_back_once_each_in_order() {
        let index = r#"{"weight_map": {"b": "m-2.safetensors", "a": "m-1.safetensors", "c": "m-2.safetensors"}}"#;
        assert_eq!(
            shard_names(index).unwrap(),
            vec!["m-1.safetensors", "m-2.safetensors"]
        );
    }

    #[test]
    fn names_that_leave_the_directory_are_refused() {
        for bad in ["../secret.safetensors", "/etc/passwd"] {
            let index = format!(r#"{{"weight_map": {{"w": "{bad}"}}}}"#);
            let err = shard_names(&index).unwrap_err();
            assert!(err.contains("escapes"), "{err}");
        }
    }

    #[test]
    fn an_index_without_a_weight_map_is_an_error() {
        assert!(shard_names(r#"{"metadata": {}}"#).is_err());
    }
}
