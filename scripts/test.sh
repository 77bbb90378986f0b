#!/usr/bin/env bash
# The whole test suite, exactly as the README's Quick start runs it (and CI).
set -euo pipefail
cd "$(dirname "$0")/.."
# The TUI end-to-end test drives the real binary in tmux.
if ! command -v tmux >/dev/null; then
    if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
        apt-get update -qq && apt-get install -y -qq tmux
    else
        echo "the TUI end-to-end test needs tmux: install it (e.g. sudo apt-get install tmux) and rerun" >&2
        exit 1
    fi
fi
cargo test --all-targets
