//! On-disk SAE formats, one file each, behind one entry point: [`load_sae`].
//!
//! The format is detected from the files in the directory unless the caller
//! names it with [`SaeFormat`] (`--sae-format`).

mod gemma_scope;
mod llama_scope;
pub mod saelens;
mod sparsify;

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use candle_core::Device;

use super::{Sae, SaeError};
use crate::model::HookPoint;

/// The SAE file layouts sage reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SaeFormat {
    /// SAELens: `cfg.json` + `sae_weights.safetensors` (6.x and older layouts).
    Saelens,
    /// Gemma Scope: `params.npz` or `params.safetensors`, hook from the path.
    GemmaScope,
    /// Llama Scope: `hyperparams.json` + `checkpoints/final.safetensors`.
    LlamaScope,
    /// EleutherAI sparsify: `cfg.json` + `sae.safetensors` per hookpoint dir.
    Sparsify,
}

impl SaeFormat {
    /// Every format with its command-line name.
    pub const ALL: [(SaeFormat, &'static str); 4] = [
        (SaeFormat::Saelens, "saelens"),
        (SaeFormat::GemmaScope, "gemma-scope"),
        (SaeFormat::LlamaScope, "llama-scope"),
        (SaeFormat::Sparsify, "sparsify"),
    ];

    /// Recognises the format from the files in `dir`.
    pub fn detect(dir: &Path) -> Result<SaeFormat, SaeError> {
        let has = |name: &str| dir.join(name).is_file();
        if has("hyperparams.json") {
            Ok(SaeFormat::LlamaScope)
        } else if has("cfg.json") && has("sae.safetensors") {
            Ok(SaeFormat::Sparsify)
        } else if has("cfg.json") {
            Ok(SaeFormat::Saelens)
        } else if has("params.npz") || has("params.safetensors") {
            Ok(SaeFormat::GemmaScope)
        } else {
            Err(SaeError::UnknownFormat {
                path: dir.to_path_buf(),
            })
        }
    }
}

impl fmt::Display for SaeFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = SaeFormat::ALL
            .iter()
            .find(|(fmt, _)| fmt == self)
            .map_or("?", |(_, name)| name);
        f.write_str(name)
    }
}

impl FromStr for SaeFormat {
    type Err = SaeError;

    fn from_str(name: &str) -> Result<SaeFormat, SaeError> {
        SaeFormat::ALL
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(fmt, _)| *fmt)
            .ok_or_else(|| SaeError::UnknownFormatName {
                name: name.to_string(),
            })
    }
}

/// How to load an SAE: overrides for what detection and config files say.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Use this format instead of detecting one.
    pub format: Option<SaeFormat>,
    /// The hook the SAE reads, for formats whose files do not name it; an
    /// error if it contradicts the SAE's config.
    pub hook: Option<HookPoint>,
    /// `center_writing_weights` overriding what the SAE's files say, as
    /// SAELens's per-release `config_overrides` do (the registry sets it).
    pub center_writing_weights: Option<bool>,
    /// Where to put the weights (CPU when `None`).
    pub device: Option<Device>,
}

impl LoadOptions {
    fn device(&self) -> Device {
        self.device.clone().unwrap_or(Device::Cpu)
    }
}

/// Loads the SAE in `path` (a directory, or a weights file inside one).
pub fn load_sae(path: &Path, options: &LoadOptions) -> Result<Sae, SaeError> {
    let dir: PathBuf = if path.is_file() {
        path.parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
    } else if path.is_dir() {
        path.to_path_buf()
    } else {
        return Err(SaeError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or directory"),
        });
    };
    let format = match options.format {
        Some(format) => format,
        None => SaeFormat::detect(&dir)?,
    };
    let device = options.device();
    let mut sae = match format {
        SaeFormat::Saelens => saelens::load(&dir, options, &device),
        SaeFormat::GemmaScope => gemma_scope::load(&dir, options, &device),
        SaeFormat::LlamaScope => llama_scope::load(&dir, options, &device),
        SaeFormat::Sparsify => sparsify::load(&dir, options, &device),
    }?;
    if options.center_writing_weights.is_some() {
        sae = sae.with_center_writing_weights(options.center_writing_weights);
    }
    Ok(sae)
}

/// Settles which hook an SAE reads: its config's hook if it names one (a
/// conflicting `--hook` is an error), else `--hook`, else a hook inferred
/// from paths (noted so the user is told).
fn settle_hook(
    dir: &Path,
    configured: Option<&str>,
    given: Option<HookPoint>,
    inferred: Option<HookPoint>,
    notes: &mut Vec<String>,
) -> Result<HookPoint, SaeError> {
    if let Some(name) = configured {
        let hook: HookPoint = name.parse().map_err(|_| SaeError::HookUnsupported {
            name: name.to_string(),
        })?;
        return match given {
            Some(given) if given != hook => Err(SaeError::HookConflict {
                given: given.to_string(),
                configured: hook.to_string(),
            }),
            _ => Ok(hook),
        };
    }
    if let Some(given) = given {
        return Ok(given);
    }
    let hook = inferred.ok_or_else(|| SaeError::HookUnknown {
        path: dir.to_path_buf(),
    })?;
    notes.push(format!("inferred hook {hook} from directory names"));
    Ok(hook)
}

/// Parses the digits following `prefix` at the start of `name`
/// (`layer_12_width_16k` with prefix `layer_` gives 12).
fn number_after(name: &str, prefix: &str) -> Option<usize> {
    let rest = name.strip_prefix(prefix)?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_names_round_trip_and_unknown_names_list_the_choices() {
        for (format, name) in SaeFormat::ALL {
            assert_eq!(name.parse::<SaeFormat>().unwrap(), format);
            assert_eq!(format.to_string(), name);
        }
        let err = "npz".parse::<SaeFormat>().unwrap_err().to_string();
        assert!(err.contains("gemma-scope") && err.contains("npz"), "{err}");
    }

    #[test]
    fn a_directory_without_sae_files_is_rejected_with_the_expected_layouts() {
        let dir = tempfile::tempdir().unwrap();
        let err = load_sae(dir.path(), &LoadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("sae_weights.safetensors") && err.contains("--sae-format"),
            "{err}"
        );
    }

    #[test]
    fn a_hook_given_on_the_command_line_must_agree_with_the_config() {
        let given: HookPoint = "blocks.3.hook_resid_post".parse().unwrap();
        let mut notes = Vec::new();
        let err = settle_hook(
            Path::new("x"),
            Some("blocks.2.hook_resid_post"),
            Some(given),
            None,
            &mut notes,
        )
        .unwrap_err();
        assert!(matches!(err, SaeError::HookConflict { .. }), "{err}");
        let inferred = settle_hook(Path::new("x"), None, None, Some(given), &mut notes).unwrap();
        assert_eq!(inferred, given);
        assert_eq!(
            notes,
            vec!["inferred hook blocks.3.hook_resid_post from directory names"]
        );
    }
}
