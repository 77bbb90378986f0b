//! Seeded sampling for the miner: a small deterministic RNG, fixed-size
//! reservoirs, and reservoirs per activation band whose bounds grow with
//! the largest activation seen, so bands need not be known in advance.

use serde::{Deserialize, Serialize};

/// SplitMix64: tiny, fast, and its whole state is one `u64`, so a
/// checkpoint can store it and a resumed run draws the same numbers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform integer in `0..n` (`n > 0`), without modulo bias.
    pub fn below(&mut self, n: u64) -> u64 {
        let zone = u64::MAX - u64::MAX % n;
        loop {
            let x = self.next_u64();
            if x < zone {
                return x % n;
            }
        }
    }
}

/// A uniform sample of at most `capacity` items from everything offered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reservoir<T> {
    /// Items offered so far.
    pub seen: u64,
    /// The sample.
    pub items: Vec<T>,
}

impl<T> Default for Reservoir<T> {
    fn default() -> Self {
        Reservoir {
            seen: 0,
            items: Vec::new(),
        }
    }
}

impl<T> Reservoir<T> {
    /// Offers one item (Algorithm R). `make` is called only if the item
    /// enters the sample, so rejected items cost nothing to build.
    pub fn offer(&mut self, capacity: usize, rng: &mut SplitMix64, make: impl FnOnce() -> T) {
        self.seen += 1;
        if self.items.len() < capacity {
            self.items.push(make());
        } else if capacity > 0 {
            let slot = rng.below(self.seen);
            if slot < capacity as u64 {
                self.items[slot as usize] = make();
            }
        }
    }

    /// Merges two reservoirs into a uniform sample of their union: how
    /// many items come from each side follows the hypergeometric law of
    /// their `seen` counts, then that many are drawn from each side.
    pub fn merge(self, other: Reservoir<T>, capacity: usize, rng: &mut SplitMix64) -> Reservoir<T> {
        let total = self.items.len() + other.items.len();
        let take = total.min(capacity);
        let (mut left_pop, mut right_pop) = (self.seen, other.seen);
        let mut from_left = 0;
        for _ in 0..take {
            if rng.below(left_pop + right_pop) < left_pop {
                from_left += 1;
                left_pop -= 1;
            } else {
                right_pop -= 1;
            }
        }
        let mut items = pick(self.items, from_left, rng);
        items.extend(pick(other.items, take - from_left, rng));
        Reservoir {
            seen: self.seen + other.seen,
            items,
        }
    }
}

/// `n` items of `items` chosen uniformly (partial Fisher-Yates).
fn pick<T>(mut items: Vec<T>, n: usize, rng: &mut SplitMix64) -> Vec<T> {
    let n = n.min(items.len());
    for i in 0..n {
        let j = i + rng.below((items.len() - i) as u64) as usize;
        items.swap(i, j);
    }
    items.truncate(n);
    items
}

/// Reservoirs for equal-width bands of activation over `[0, upper)`.
/// `upper` is a power of two above the largest value seen; when a larger
/// value arrives it doubles and each pair of adjacent bands merges into
/// one, so every band always holds a uniform sample of its range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BandedReservoirs<T> {
    /// Exclusive upper bound of the top band (0 until a value arrives).
    pub upper: f32,
    /// One reservoir per band, lowest band first.
    pub bands: Vec<Reservoir<T>>,
}

impl<T> BandedReservoirs<T> {
    /// `n_bands` empty bands (rounded up to an even number, at least 2).
    pub fn new(n_bands: usize) -> BandedReservoirs<T> {
        let n = n_bands.max(2).next_multiple_of(2);
        BandedReservoirs {
            upper: 0.0,
            bands: (0..n).map(|_| Reservoir::default()).collect(),
        }
    }

    /// The `[low, high)` bounds of band `i`.
    pub fn bounds(&self, i: usize) -> (f32, f32) {
        let width = self.upper / self.bands.len() as f32;
        (width * i as f32, width * (i + 1) as f32)
    }

    /// Offers an item whose activation is `value` (finite, > 0).
    pub fn offer(
        &mut self,
        value: f32,
        capacity: usize,
        rng: &mut SplitMix64,
        make: impl FnOnce() -> T,
    ) {
        if !(value.is_finite() && value > 0.0) {
            return;
        }
        if self.upper == 0.0 {
            self.upper = 2f32.powi(value.log2().floor() as i32 + 1);
        }
        while value >= self.upper {
            self.double(capacity, rng);
        }
        let n = self.bands.len();
        let band = ((value / self.upper * n as f32) as usize).min(n - 1);
        self.bands[band].offer(capacity, rng, make);
    }

    fn double(&mut self, capacity: usize, rng: &mut SplitMix64) {
        let n = self.bands.len();
        let old = std::mem::take(&mut self.bands);
        let mut merged = Vec::with_capacity(n);
        let mut pairs = old.into_iter();
        while let (Some(low), Some(high)) = (pairs.next(), pairs.next()) {
            merged.push(low.merge(high, capacity, rng));
        }
        merged.resize_with(n, Reservoir::default);
        self.bands = merged;
        self.upper *= 2.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_matches_the_reference_sequence() {
        // First outputs of SplitMix64 seeded with 0 (Vigna's reference).
        let mut rng = SplitMix64(0);
        assert_eq!(rng.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(rng.next_u64(), 0x6E78_9E6A_A1B9_65F4);
    }

    #[test]
    fn reservoir_keeps_capacity_and_counts_everything() {
        let mut rng = SplitMix64(1);
        let mut r = Reservoir::default();
        for i in 0..1000 {
            r.offer(5, &mut rng, || i);
        }
        assert_eq!(r.seen, 1000);
        assert_eq!(r.items.len(), 5);
        assert!(r.items.iter().all(|&i| i < 1000));
    }

    #[test]
    fn reservoir_sampling_is_roughly_uniform() {
        // Offer 0..10 into a 1-slot reservoir many times: each value should
        // win about a tenth of the time.
        let mut rng = SplitMix64(7);
        let mut wins = [0u32; 10];
        for _ in 0..20_000 {
            let mut r = Reservoir::default();
            for i in 0..10 {
                r.offer(1, &mut rng, || i);
            }
            wins[r.items[0]] += 1;
        }
        assert!(wins.iter().all(|&w| (1700..2300).contains(&w)), "{wins:?}");
    }

    #[test]
    fn merging_weights_each_side_by_what_it_saw() {
        // Left saw 900 items, right 100: a merged 1-slot sample comes from
        // the left about 90% of the time.
        let mut rng = SplitMix64(3);
        let mut left_wins = 0;
        for _ in 0..10_000 {
            let left = Reservoir {
                seen: 900,
                items: vec!['L'],
            };
            let right = Reservoir {
                seen: 100,
                items: vec!['R'],
            };
            if left.merge(right, 1, &mut rng).items == ['L'] {
                left_wins += 1;
            }
        }
        assert!((8700..9300).contains(&left_wins), "{left_wins}");
    }

    #[test]
    fn bands_grow_and_keep_items_in_their_bounds() {
        let mut rng = SplitMix64(11);
        let mut bands = BandedReservoirs::new(4);
        for v in [0.3f32, 0.9, 1.5, 3.9, 6.5, 7.9, 2.0, 0.1] {
            bands.offer(v, 8, &mut rng, || v);
        }
        // First value 0.3 gives upper 0.5; 7.9 forces it up to 8.
        assert_eq!(bands.upper, 8.0);
        let seen: u64 = bands.bands.iter().map(|b| b.seen).sum();
        assert_eq!(seen, 8);
        for (i, band) in bands.bands.iter().enumerate() {
            let (low, high) = bands.bounds(i);
            for &v in &band.items {
                assert!(low <= v && v < high, "{v} not in band {i} [{low}, {high})");
            }
        }
        assert_eq!(bands.bands[0].items.len(), 4); // 0.3 0.9 1.5 0.1
        assert_eq!(bands.bands[3].items.len(), 2); // 6.5 7.9
        bands.offer(0.0, 8, &mut rng, || 0.0);
        bands.offer(f32::NAN, 8, &mut rng, || 0.0);
        assert_eq!(bands.bands.iter().map(|b| b.seen).sum::<u64>(), 8);
    }
}
