#!/usr/bin/env bash
# The README's main command: the TUI exploring a real feature of a real
# model, offline, with the heuristic reasoner.
#
#   1. installs the demo pack (SmolLM2-135M Q4_1 GGUF, the committed demo
#      SAE, the demo corpus) into sage's data dir if any part is missing,
#   2. builds sage,
#   3. opens `sage explore --preset demo`: on first use it mines top
#      examples for every demo latent over a sample of the corpus (a
#      progress bar, a few minutes; cached in the data dir), then opens the
#      exploration screen on the demo's default feature.
#
# Extra arguments go to `sage explore`: `--feature N`, `--llm SPEC`,
# `--gate review`, or another preset (`--preset synthetic` needs no pack).
# Environment: SAGE_DATA_DIR (default ${XDG_DATA_HOME:-~/.local/share}/sage).
set -euo pipefail
cd "$(dirname "$0")/.."

export SAGE_DATA_DIR="${SAGE_DATA_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/sage}"
demo_dir="$SAGE_DATA_DIR/demo"

preset=demo
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
    case "${args[i]}" in
        --preset=*) preset="${args[i]#--preset=}" ;;
        --preset) preset="${args[i + 1]:-}" ;;
    esac
done

pack_installed() {
    [[ -f "$demo_dir/SmolLM2-135M-Instruct.Q4_1.gguf" &&
        -f "$demo_dir/sae/cfg.json" &&
        -f "$demo_dir/sae/sae_weights.safetensors" &&
        -n "$(find -L "$demo_dir/corpus" -type f -print -quit 2>/dev/null)" ]]
}

if [[ "$preset" == demo ]] && ! pack_installed; then
    echo "run.sh: the demo pack is not in $demo_dir; installing it (bash scripts/install-demo-pack.sh)"
    bash scripts/install-demo-pack.sh
fi

exec cargo run --quiet -- explore "$@"
