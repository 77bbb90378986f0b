//! TransformerLens hook names, parsed into a typed [`HookPoint`].
//!
//! Users already think in these names (`blocks.8.hook_resid_pre`), SAE
//! configs record them, and Neuronpedia ids are derived from them, so they
//! are the only way sage names a place in the forward pass.

use std::fmt;
use std::str::FromStr;

/// Which activation inside a transformer block a hook reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum HookKind {
    /// The residual stream entering the block.
    ResidPre,
    /// The residual stream after attention has been added, before the MLP.
    ResidMid,
    /// The residual stream leaving the block.
    ResidPost,
    /// The attention sub-layer's output (after any post-norm).
    AttnOut,
    /// The MLP sub-layer's output (after any post-norm).
    MlpOut,
    /// The MLP's input before its norm (`hook_mlp_in`; equals `hook_resid_mid`).
    MlpIn,
    /// The MLP's normalised input (`ln2.hook_normalized`), read by transcoders.
    MlpInNormalized,
}

impl HookKind {
    /// Every kind, in the order they occur inside a block; used for error messages.
    pub const ALL: [HookKind; 7] = [
        HookKind::ResidPre,
        HookKind::AttnOut,
        HookKind::ResidMid,
        HookKind::MlpIn,
        HookKind::MlpInNormalized,
        HookKind::MlpOut,
        HookKind::ResidPost,
    ];

    /// The suffix after `blocks.{L}.` in TransformerLens naming.
    pub fn suffix(self) -> &'static str {
        match self {
            HookKind::ResidPre => "hook_resid_pre",
            HookKind::ResidMid => "hook_resid_mid",
            HookKind::ResidPost => "hook_resid_post",
            HookKind::AttnOut => "hook_attn_out",
            HookKind::MlpOut => "hook_mlp_out",
            HookKind::MlpIn => "hook_mlp_in",
            HookKind::MlpInNormalized => "ln2.hook_normalized",
        }
    }
}

/// A named point in the forward pass: a block index and what to read there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HookPoint {
    /// Zero-based block index.
    pub layer: usize,
    /// Which activation of that block.
    pub kind: HookKind,
}

impl HookPoint {
    /// Builds a hook point; no range check (the model does that, knowing its depth).
    pub fn new(layer: usize, kind: HookKind) -> HookPoint {
        HookPoint { layer, kind }
    }

    /// How many blocks a pass to this hook runs: a block's `hook_resid_pre`
    /// is its input, so only the blocks before it; any other hook also
    /// needs its own block.
    pub fn blocks_needed(self) -> usize {
        match self.kind {
            HookKind::ResidPre => self.layer,
            _ => self.layer + 1,
        }
    }
}

impl fmt::Display for HookPoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "blocks.{}.{}", self.layer, self.kind.suffix())
    }
}

/// Why a hook name could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown hook name `{name}`: expected `blocks.<layer>.<hook>` where <hook> is one of {}",
    HookKind::ALL.map(|k| k.suffix()).join(", ")
)]
pub struct HookParseError {
    /// The name as given.
    pub name: String,
}

impl FromStr for HookPoint {
    type Err = HookParseError;

    fn from_str(name: &str) -> Result<HookPoint, HookParseError> {
        let err = || HookParseError {
            name: name.to_string(),
        };
        let rest = name.strip_prefix("blocks.").ok_or_else(err)?;
        let (layer, suffix) = rest.split_once('.').ok_or_else(err)?;
        let layer: usize = layer.parse().map_err(|_| err())?;
        let kind = HookKind::ALL
            .into_iter()
            .find(|k| k.suffix() == suffix)
            .ok_or_else(err)?;
        Ok(HookPoint { layer, kind })
    }
}

impl serde::Serialize for HookPoint {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for HookPoint {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<HookPoint, D::Error> {
        let name = String::deserialize(d)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_through_its_name() {
        for kind in HookKind::ALL {
            let hook = HookPoint::new(11, kind);
            let parsed: HookPoint = hook.to_string().parse().unwrap();
            assert_eq!(parsed, hook);
        }
        assert_eq!(
            "blocks.8.hook_resid_pre".parse::<HookPoint>().unwrap(),
            HookPoint::new(8, HookKind::ResidPre)
        );
    }

    #[test]
    fn malformed_names_are_rejected_with_the_valid_forms() {
        for bad in [
            "",
            "blocks.x.hook_resid_pre",
            "blocks.3.hook_nope",
            "8.hook_resid_pre",
        ] {
            let err = bad.parse::<HookPoint>().unwrap_err();
            assert!(err.to_string().contains("hook_resid_post"), "{err}");
        }
    }
}
