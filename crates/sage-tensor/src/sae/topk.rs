//! Row-wise top-k selection for TopK SAEs.
//!
//! SAELens's TopK keeps the `k` largest pre-activations of each row (then
//! applies ReLU to them) and zeroes the rest. Selection runs on the host with
//! a linear-time nth-element per row, which is cheaper than sorting `d_sae`
//! values; ties at the k-th value are broken by lower index.

/// For each row of `pre` (row-major, `width` columns), whether each column
/// is among the row's `k` largest values.
pub fn topk_mask(pre: &[f32], width: usize, k: usize) -> Vec<bool> {
    let mut mask = vec![false; pre.len()];
    if width == 0 {
        return mask;
    }
    let k = k.min(width);
    let mut scratch = Vec::with_capacity(width);
    for (row, row_mask) in pre.chunks(width).zip(mask.chunks_mut(width)) {
        if k == 0 {
            continue;
        }
        scratch.clear();
        scratch.extend_from_slice(row);
        let (_, kth, _) = scratch.select_nth_unstable_by(k - 1, |a, b| b.total_cmp(a));
        let kth = *kth;
        let above = row.iter().filter(|v| v.total_cmp(&kth).is_gt()).count();
        let mut ties_left = k - above;
        for (v, m) in row.iter().zip(row_mask.iter_mut()) {
            match v.total_cmp(&kth) {
                std::cmp::Ordering::Greater => *m = true,
                std::cmp::Ordering::Equal if ties_left > 0 => {
                    *m = true;
                    ties_left -= 1;
                }
                _ => {}
            }
        }
    }
    mask
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_exactly_the_k_largest_per_row() {
        let pre = [0.5, -1.0, 3.0, 2.0, /* row 2 */ 9.0, 1.0, 1.0, 0.0];
        let mask = topk_mask(&pre, 4, 2);
        assert_eq!(
            mask,
            vec![false, false, true, true, true, true, false, false]
        );
    }

    #[test]
    fn k_larger_than_width_keeps_everything() {
        assert_eq!(topk_mask(&[1.0, 2.0], 2, 5), vec![true, true]);
    }
}
