//! Reading named tensors from the weight files SAE formats use
//! (safetensors, numpy `.npz`), with errors that name the file and tensor.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};

use super::SaeError;

/// The tensors of one weights file, by name.
pub struct TensorFile {
    path: PathBuf,
    tensors: HashMap<String, Tensor>,
}

impl TensorFile {
    /// Loads every tensor of a `.safetensors` file onto `device`.
    pub fn safetensors(path: &Path, device: &Device) -> Result<TensorFile, SaeError> {
        if !path.is_file() {
            return Err(SaeError::Io {
                path: path.to_path_buf(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
            });
        }
        let tensors =
            candle_core::safetensors::load(path, device).map_err(|e| SaeError::Weights {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
        Ok(TensorFile {
            path: path.to_path_buf(),
            tensors,
        })
    }

    /// Loads every array of a numpy `.npz` archive (stored, not deflated,
    /// as `np.savez` writes it) onto `device`.
    pub fn npz(path: &Path, device: &Device) -> Result<TensorFile, SaeError> {
        super::npz::check_npz(path).map_err(|e| SaeError::Weights {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let arrays = Tensor::read_npz(path).map_err(|e| SaeError::Weights {
            path: path.to_path_buf(),
            message: format!(
                "{e} (sage reads .npz archives written by np.savez; re-save compressed ones uncompressed)"
            ),
        })?;
        let tensors = arrays
            .into_iter()
            .map(|(name, t)| Ok((name, t.to_device(device)?)))
            .collect::<Result<HashMap<_, _>, SaeError>>()?;
        Ok(TensorFile {
            path: path.to_path_buf(),
            tensors,
        })
    }

    /// The tensor called `name`, or an error listing what the file holds.
    pub fn take(&mut self, name: &str) -> Result<Tensor, SaeError> {
        self.tensors.remove(name).ok_or_else(|| {
            let mut found: Vec<&str> = self.tensors.keys().map(String::as_str).collect();
            found.sort_unstable();
            SaeError::MissingTensor {
                path: self.path.clone(),
                name: name.to_string(),
                found: found.join(", "),
            }
        })
    }

    /// The tensor called `name`, if present.
    pub fn take_optional(&mut self, name: &str) -> Option<Tensor> {
        self.tensors.remove(name)
    }
}

/// Reads and parses a JSON file, naming the file in errors.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, SaeError> {
    let text = std::fs::read_to_string(path).map_err(|source| SaeError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| SaeError::Config {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}
