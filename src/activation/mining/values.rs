//! One feature's per-token activations in one window, kept sparsely.
//!
//! The miner holds tens of windows for each of tens of thousands of
//! features, and an SAE latent is zero on most tokens of most windows, so
//! storing only the non-zero positions keeps that state a fraction of its
//! dense size (a silent window costs nothing but its length). On disk and
//! in `--json` output the values are still a plain list with one number per
//! token, so the format is the dense one users read.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Per-token values of one window: its length and the non-zero entries.
#[derive(Clone, Default, PartialEq)]
pub struct WindowValues {
    len: u32,
    nonzero: Box<[(u32, f32)]>,
}

impl WindowValues {
    /// From one value per token.
    pub fn from_dense(values: &[f32]) -> WindowValues {
        WindowValues::collect(values.len(), values.iter().copied())
    }

    /// Column `column` of a row-major `[token][feature]` block with
    /// `n_features` values per row: one feature's values in one window.
    pub fn from_column(rows: &[f32], column: usize, n_features: usize) -> WindowValues {
        let len = rows.len() / n_features.max(1);
        let column = rows.iter().skip(column).step_by(n_features.max(1)).copied();
        WindowValues::collect(len, column)
    }

    fn collect(len: usize, values: impl Iterator<Item = f32>) -> WindowValues {
        let nonzero: Vec<(u32, f32)> = values
            .enumerate()
            .filter(|(_, v)| *v != 0.0)
            .map(|(i, v)| (i as u32, v))
            .collect();
        WindowValues {
            len: u32::try_from(len).unwrap_or(u32::MAX),
            nonzero: nonzero.into_boxed_slice(),
        }
    }

    /// Number of tokens.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// True for a window of no tokens.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The value at each token, zeros included.
    pub fn iter(&self) -> impl Iterator<Item = f32> + '_ {
        let mut next = self.nonzero.iter().peekable();
        (0..self.len).map(move |i| match next.peek() {
            Some(&&(at, v)) if at == i => {
                next.next();
                v
            }
            _ => 0.0,
        })
    }

    /// One value per token, as a plain vector.
    pub fn to_vec(&self) -> Vec<f32> {
        self.iter().collect()
    }
}

impl From<Vec<f32>> for WindowValues {
    fn from(values: Vec<f32>) -> WindowValues {
        WindowValues::from_dense(&values)
    }
}

impl std::fmt::Debug for WindowValues {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl Serialize for WindowValues {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for WindowValues {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<WindowValues, D::Error> {
        Vec::<f32>::deserialize(deserializer).map(WindowValues::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dense_values_round_trip_through_the_sparse_form() {
        let dense = vec![0.0, 1.5, 0.0, 0.0, -2.0, 3.25, 0.0];
        let values = WindowValues::from_dense(&dense);
        assert_eq!(values.len(), 7);
        assert_eq!(values.nonzero.len(), 3);
        assert_eq!(values.to_vec(), dense);
        assert!(WindowValues::from_dense(&[0.0; 5]).nonzero.is_empty());
        assert_eq!(WindowValues::from_dense(&[0.0; 5]).to_vec(), vec![0.0; 5]);
    }

    #[test]
    fn a_column_is_read_out_of_row_major_rows() {
        // Three tokens, two features: feature 1 is 0, 4, 0.
        let rows = [7.0, 0.0, 8.0, 4.0, 9.0, 0.0];
        assert_eq!(
            WindowValues::from_column(&rows, 1, 2).to_vec(),
            vec![0.0, 4.0, 0.0]
        );
        assert_eq!(
            WindowValues::from_column(&rows, 0, 2).to_vec(),
            vec![7.0, 8.0, 9.0]
        );
    }

    #[test]
    fn json_is_one_number_per_token() {
        let values = WindowValues::from_dense(&[0.0, 0.5, 0.0]);
        let json = serde_json::to_string(&values).unwrap();
        assert_eq!(json, "[0.0,0.5,0.0]");
        let back: WindowValues = serde_json::from_str(&json).unwrap();
        assert_eq!(back, values);
    }
}
