//! A bounded, seeded sample of a corpus: a fixed number of bytes taken
//! from the start of files drawn in turn from each top-level part of the
//! corpus directory, so a short mining run still sees every source (the
//! demo corpus has speeches, fortunes and Python docs side by side).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::corpus::{Corpus, CorpusFile};
use super::sampling::SplitMix64;

/// How much of a corpus a sample reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SamplePlan {
    /// Seed of the file draw.
    pub seed: u64,
    /// Bytes read from the start of each drawn file at most.
    pub bytes_per_file: u64,
    /// Bytes read in all, at most (the last file drawn is cut to fit).
    pub total_bytes: u64,
}

impl Corpus {
    /// The files of this corpus (opened at `root`) grouped by their first
    /// path component under `root`, each group shuffled with the plan's
    /// seed, then drawn round-robin across the groups, each file limited
    /// to `bytes_per_file`, until `total_bytes` are planned. The same
    /// corpus and plan always give the same sample, and a sample's
    /// fingerprint differs from the whole corpus's.
    pub fn sample(&self, root: &Path, plan: SamplePlan) -> Corpus {
        let mut groups: BTreeMap<PathBuf, Vec<CorpusFile>> = BTreeMap::new();
        for file in self.files() {
            let group = file
                .path
                .strip_prefix(root)
                .ok()
                .and_then(|rel| rel.components().next())
                .map(|c| PathBuf::from(c.as_os_str()))
                .unwrap_or_default();
            groups.entry(group).or_default().push(file.clone());
        }
        let mut rng = SplitMix64(plan.seed);
        let mut queues: Vec<std::vec::IntoIter<CorpusFile>> = groups
            .into_values()
            .map(|mut files| {
                for i in (1..files.len()).rev() {
                    let j = rng.below(i as u64 + 1) as usize;
                    files.swap(i, j);
                }
                files.into_iter()
            })
            .collect();
        let mut chosen = Vec::new();
        let mut left = plan.total_bytes;
        while left > 0 {
            let mut drew = false;
            for queue in &mut queues {
                let Some(mut file) = queue.next() else {
                    continue;
                };
                drew = true;
                let take = file.size.min(plan.bytes_per_file).min(left);
                if take == 0 {
                    continue;
                }
                file.limit = Some(take);
                left -= take;
                chosen.push(file);
                if left == 0 {
                    break;
                }
            }
            if !drew {
                break;
            }
        }
        Corpus::from_files(chosen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn corpus_dir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (group, n) in [("a", 5), ("b", 1), ("c", 3)] {
            std::fs::create_dir(dir.path().join(group)).unwrap();
            for i in 0..n {
                let text = format!("{group}{i} line\n").repeat(20);
                std::fs::write(dir.path().join(group).join(format!("{i}.txt")), text).unwrap();
            }
        }
        dir
    }

    fn names(corpus: &Corpus, root: &Path) -> Vec<String> {
        corpus
            .files()
            .iter()
            .map(|f| f.path.strip_prefix(root).unwrap().display().to_string())
            .collect()
    }

    #[test]
    fn draws_round_robin_across_groups_with_capped_files() {
        let dir = corpus_dir();
        let corpus = Corpus::open(dir.path()).unwrap();
        let plan = SamplePlan {
            seed: 7,
            bytes_per_file: 50,
            total_bytes: 320,
        };
        let sample = corpus.sample(dir.path(), plan);
        let drawn = names(&sample, dir.path());
        // 320 bytes at 50 per file: 7 files (the last cut to 20 bytes),
        // visiting a, b, c in turn while each group has files left.
        assert_eq!(drawn.len(), 7, "{drawn:?}");
        let groups: String = drawn.iter().map(|n| &n[..1]).collect();
        assert_eq!(groups, "abcacac");
        assert_eq!(sample.total_bytes(), 320);
        assert_eq!(sample.files()[6].limit, Some(20));
        // Reading the sample yields exactly the capped prefixes.
        let read: usize = sample.documents().map(|d| d.unwrap().text.len()).sum();
        assert_eq!(read, 320);
        let first = sample.documents().next().unwrap().unwrap();
        assert_eq!(first.text.len(), 50);
        assert!(first.text.starts_with(&drawn[0][..1]), "{}", first.text);
    }

    #[test]
    fn the_same_seed_gives_the_same_sample_and_a_new_fingerprint() {
        let dir = corpus_dir();
        let corpus = Corpus::open(dir.path()).unwrap();
        let plan = |seed| SamplePlan {
            seed,
            bytes_per_file: 40,
            total_bytes: 10_000,
        };
        let one = corpus.sample(dir.path(), plan(1));
        let again = corpus.sample(dir.path(), plan(1));
        assert_eq!(names(&one, dir.path()), names(&again, dir.path()));
        assert_eq!(one.fingerprint(), again.fingerprint());
        assert_eq!(
            one.files().len(),
            9,
            "every file once when the budget allows"
        );
        assert_ne!(one.fingerprint(), corpus.fingerprint());
        let orders: Vec<Vec<String>> = (0..8)
            .map(|s| names(&corpus.sample(dir.path(), plan(s)), dir.path()))
            .collect();
        assert!(
            orders.iter().any(|o| o != &orders[0]),
            "the seed changes the draw"
        );
    }
}
