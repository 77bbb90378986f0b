#!/usr/bin/env bash
# The README's main command.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --release --quiet -- paths
