//! Parsing the `--features` argument: `all`, single indices and ranges,
//! comma-separated (`3,7,100..110,200..=205`).

use super::MiningError;

/// The feature indices named by `spec` for an SAE with `n_features`
/// latents, sorted and without duplicates. `a..b` excludes `b`, `a..=b`
/// includes it.
pub fn parse_feature_list(spec: &str, n_features: u32) -> Result<Vec<u32>, MiningError> {
    let bad = |why: String| {
        MiningError::BadConfig(format!(
            "--features {spec:?}: {why}; use `all`, indices and ranges such as 3,7,100..110"
        ))
    };
    if spec.trim() == "all" {
        return Ok((0..n_features).collect());
    }
    let number = |s: &str| {
        s.trim()
            .parse::<u32>()
            .map_err(|_| bad(format!("`{}` is not a feature index", s.trim())))
    };
    let mut out = Vec::new();
    for part in spec.split(',').filter(|p| !p.trim().is_empty()) {
        let (start, end) = if let Some((a, b)) = part.split_once("..=") {
            (number(a)?, number(b)?.saturating_add(1))
        } else if let Some((a, b)) = part.split_once("..") {
            (number(a)?, number(b)?)
        } else {
            let i = number(part)?;
            (i, i.saturating_add(1))
        };
        if start >= end {
            return Err(bad(format!("the range `{}` is empty", part.trim())));
        }
        if end > n_features {
            return Err(bad(format!(
                "`{}` goes past the last feature of this SAE ({})",
                part.trim(),
                n_features.saturating_sub(1)
            )));
        }
        out.extend(start..end);
    }
    if out.is_empty() {
        return Err(bad("no features named".to_string()));
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_ranges_and_all() {
        assert_eq!(parse_feature_list("all", 3).unwrap(), vec![0, 1, 2]);
        assert_eq!(
            parse_feature_list("7, 2..4,3..=5", 10).unwrap(),
            vec![2, 3, 4, 5, 7]
        );
    }

    #[test]
    fn bad_lists_say_what_is_wrong() {
        let err = parse_feature_list("5..2", 10).unwrap_err().to_string();
        assert!(err.contains("`5..2` is empty"), "{err}");
        let err = parse_feature_list("3,x", 10).unwrap_err().to_string();
        assert!(err.contains("`x` is not a feature index"), "{err}");
        let err = parse_feature_list("8..12", 10).unwrap_err().to_string();
        assert!(err.contains("last feature of this SAE (9)"), "{err}");
        assert!(parse_feature_list(" , ", 10).is_err());
    }
}
