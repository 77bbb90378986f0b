//! The committed fuzz corpus (tests/fixtures/fuzz/<target>/, plus the
//! session-log regressions in tests/fixtures/fuzz_regressions/) replayed
//! through the same checks the fuzz targets run (`sage::fuzz_checks`), with
//! every seed also cut short and byte-flipped at fixed points, so CI
//! exercises the checks without libFuzzer. `scripts/fuzz.sh` runs the
//! fuzzer itself from these seeds.

use std::path::{Path, PathBuf};

use sage::fuzz_checks::CHECKS;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The seed files of one target.
fn seeds(target: &str) -> Vec<Vec<u8>> {
    let mut dirs = vec![fixtures().join("fuzz").join(target)];
    if target == "load_log" {
        dirs.push(fixtures().join("fuzz_regressions"));
    }
    let mut seeds = Vec::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_file() && path.extension().is_none_or(|e| e != "md") {
                seeds.push(std::fs::read(&path).unwrap());
            }
        }
    }
    seeds
}

/// The seed, its prefixes and single-byte flips at up to 32 evenly spaced
/// places each (deterministic, so a failure names the same input twice).
fn variants(seed: &[u8]) -> Vec<Vec<u8>> {
    let mut out = vec![seed.to_vec()];
    let step = (seed.len() / 32).max(1);
    for at in (0..seed.len()).step_by(step) {
        out.push(seed[..at].to_vec());
        let mut flipped = seed.to_vec();
        flipped[at] ^= 0xff;
        out.push(flipped);
    }
    out
}

#[test]
fn every_fuzz_target_has_seeds_and_none_of_them_or_their_mutations_fails() {
    for (target, check) in CHECKS {
        let seeds = seeds(target);
        assert!(!seeds.is_empty(), "no seeds for fuzz target {target}");
        for (i, seed) in seeds.iter().enumerate() {
            for input in variants(seed) {
                let outcome = std::panic::catch_unwind(|| check(&input));
                assert!(
                    outcome.is_ok(),
                    "{target}: seed {i} variant {:?} failed its check",
                    String::from_utf8_lossy(&input[..input.len().min(200)])
                );
            }
        }
    }
}

#[test]
fn every_check_has_a_fuzz_target() {
    let targets = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/fuzz_targets");
    for (target, _) in CHECKS {
        assert!(
            targets.join(format!("{target}.rs")).is_file(),
            "no fuzz/fuzz_targets/{target}.rs"
        );
    }
}
