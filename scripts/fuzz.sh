#!/usr/bin/env bash
# The long fuzzing run: every target under fuzz/fuzz_targets/ with
# cargo-fuzz (nightly rustc and `cargo install cargo-fuzz` needed), each for
# SECONDS seconds (default 300), starting from the committed seeds in
# tests/fixtures/fuzz/<target>/. Crashing inputs land in fuzz/artifacts/;
# copy each one to tests/fixtures/fuzz/<target>/ so tests/fuzz_corpus.rs
# replays it from then on. The executions and findings of each target are
# summed up in fuzz/fuzz.log.
#
#   scripts/fuzz.sh            # all targets, 300 s each
#   scripts/fuzz.sh 60 usage   # one target, 60 s
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-300}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    for file in fuzz/fuzz_targets/*.rs; do
        targets+=("$(basename "$file" .rs)")
    done
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "cargo-fuzz on a nightly toolchain is needed: rustup toolchain install nightly && cargo install cargo-fuzz" >&2
    echo "(without it, \`cargo test --test fuzz_corpus\` still replays the committed corpus)" >&2
    exit 2
fi
: > fuzz/fuzz.log
for target in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/$target"
    if [ -d "tests/fixtures/fuzz/$target" ]; then
        cp -n "tests/fixtures/fuzz/$target/"* "fuzz/corpus/$target/" 2>/dev/null || true
    fi
    echo "== $target ($seconds s)" | tee -a fuzz/fuzz.log
    (cd fuzz && cargo +nightly fuzz run "$target" "corpus/$target" -- \
        -max_total_time="$seconds" -max_len=65536 -print_final_stats=1) 2>&1 \
        | grep -E "stat::number_of_executed_units|Done|SUMMARY|crash-|deadly signal" \
        | tee -a fuzz/fuzz.log || true
done
echo "findings (empty when none):" | tee -a fuzz/fuzz.log
find fuzz/artifacts -type f 2>/dev/null | tee -a fuzz/fuzz.log
