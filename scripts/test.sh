#!/usr/bin/env bash
# The whole test suite, exactly as the README's Quick start runs it.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --all-targets
