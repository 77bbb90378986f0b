#!/usr/bin/env bash
# The README's main command: open the TUI on the offline default.
#
# Today the offline default is the `synthetic` preset: the real agent and the
# offline heuristic reasoner exploring a built-in feature with a known rule.
# The `demo` preset (SmolLM2 + the committed demo SAE) needs mined top
# examples, which are not wired into the local source yet (see README).
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo run --quiet -- explore --preset synthetic "$@"
