//! A bounded shuffle buffer for activation rows.
//!
//! Consecutive tokens of one document have strongly correlated residual
//! streams; training on them in order makes every batch one topic. Rows
//! are collected into a buffer of fixed capacity and batches are drawn
//! from it at random, so memory stays bounded however long the run.

use super::rng::Rng;

/// Rows of width `width`, stored flat, drawn out in random order.
#[derive(Debug)]
pub struct ShuffleBuffer {
    width: usize,
    capacity: usize,
    rows: Vec<f32>,
}

impl ShuffleBuffer {
    /// An empty buffer holding at most `capacity` rows of `width` values.
    pub fn new(width: usize, capacity: usize) -> ShuffleBuffer {
        ShuffleBuffer {
            width,
            capacity: capacity.max(1),
            rows: Vec::with_capacity(width * capacity.max(1)),
        }
    }

    /// Rows held now.
    pub fn len(&self) -> usize {
        self.rows.len() / self.width.max(1)
    }

    /// Whether the buffer has reached its capacity (time to draw a batch).
    pub fn is_full(&self) -> bool {
        self.len() >= self.capacity
    }

    /// Appends rows (a flat slice, a whole number of rows).
    pub fn push_rows(&mut self, flat: &[f32]) {
        self.rows.extend_from_slice(flat);
    }

    /// Removes up to `n` rows chosen uniformly at random and returns them
    /// flat, in the order drawn.
    pub fn draw(&mut self, n: usize, rng: &mut Rng) -> Vec<f32> {
        let n = n.min(self.len());
        let w = self.width;
        let mut out = Vec::with_capacity(n * w);
        for _ in 0..n {
            let len = self.len();
            let pick = rng.below(len);
            out.extend_from_slice(&self.rows[pick * w..(pick + 1) * w]);
            // Move the last row into the hole (swap-remove on rows).
            let last = len - 1;
            if pick != last {
                let (head, tail) = self.rows.split_at_mut(last * w);
                head[pick * w..(pick + 1) * w].copy_from_slice(&tail[..w]);
            }
            self.rows.truncate(last * w);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_every_row_exactly_once_in_a_mixed_order() {
        let mut buf = ShuffleBuffer::new(2, 100);
        let flat: Vec<f32> = (0..40).flat_map(|i| [i as f32, -(i as f32)]).collect();
        buf.push_rows(&flat);
        assert_eq!(buf.len(), 40);
        let mut rng = Rng::new(5);
        let mut drawn = buf.draw(25, &mut rng);
        drawn.extend(buf.draw(25, &mut rng));
        assert_eq!(buf.len(), 0);
        assert_eq!(drawn.len(), 80);
        let firsts: Vec<f32> = drawn.chunks(2).map(|r| r[0]).collect();
        // Rows stay intact (second value is minus the first).
        assert!(drawn.chunks(2).all(|r| r[1] == -r[0]));
        assert_ne!(firsts, (0..40).map(|i| i as f32).collect::<Vec<_>>());
        let mut sorted = firsts.clone();
        sorted.sort_by(f32::total_cmp);
        assert_eq!(sorted, (0..40).map(|i| i as f32).collect::<Vec<_>>());
    }

    #[test]
    fn reports_full_at_capacity() {
        let mut buf = ShuffleBuffer::new(1, 3);
        buf.push_rows(&[1.0, 2.0]);
        assert!(!buf.is_full());
        buf.push_rows(&[3.0]);
        assert!(buf.is_full());
    }
}
