#!/usr/bin/env bash
# Installs everything the project needs on a fresh Debian machine, as root, and is quick when it is all there:
# Debian packages, a virtual environment at .venv/, torch 2.13.0 first (the CPU build; an unpinned torch pulls
# a CUDA build of several GB), then this package, editable, with its development extras.
set -euo pipefail
unset CDPATH  # cd would look up relative folders there (and print the one it found)
cd "$(dirname "$(readlink -f "$0")")/.."

# sctk: NIST sclite, the scoring yardstick; espeak-ng and the fortunes: the synthetic corpus (voices, text);
# asterisk-core-sounds-*: real recorded prompts (transcripts, and the 8 kHz recordings in the -wav packages)
APT_PACKAGES=(sctk gcc python3-dev python3-venv espeak-ng fortunes-min fortunes fortunes-de fortunes-ru fortunes-es fortunes-it)
# KenLM's lmplz and build_binary are built from source (scripts/build_kenlm.sh): a compiler, cmake, Boost, zlib
APT_PACKAGES+=(g++ cmake libboost-program-options-dev libboost-system-dev libboost-thread-dev libboost-test-dev
    zlib1g-dev libbz2-dev liblzma-dev)
# a headless browser for the test that opens the leaderboard page
APT_PACKAGES+=(chromium chromium-driver)
for lang in en es fr it ru; do
    APT_PACKAGES+=("asterisk-core-sounds-$lang" "asterisk-core-sounds-$lang-wav")
done
# Festival and the voices of asr/data/synth/voices.py (FESTIVAL_PACKAGES; tests/test_layout.py checks the list)
APT_PACKAGES+=(festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts festvox-suopuhe-lj festvox-suopuhe-mv
    festvox-hi-nsk festival-hi festvox-italp16k festvox-itapc16k festvox-ru)
TORCH_VERSION=2.13.0
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3

missing=()
for pkg in "${APT_PACKAGES[@]}"; do  # dpkg -s also knew removed and half-installed packages (one line an arch)
    [[ $(dpkg-query -W -f='${db:Status-Status} ' "$pkg" 2>/dev/null) =~ ^(installed )+$ ]] || missing+=("$pkg")
done
if ((${#missing[@]})); then
    echo "setup: installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

is_311() { "$1" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; }
# a venv made without python3-venv has a python and no pip; one of another Python fails pip's resolver
if [[ -e .venv ]] && ! { is_311 .venv/bin/python && .venv/bin/python -m pip --version >/dev/null 2>&1; }; then
    echo "setup: .venv has no pip or is not Python 3.11 (an interrupted set-up?): making it again"
    rm -rf .venv
fi
if [[ ! -e .venv ]]; then
    is_311 "$PYTHON" || { echo "setup: needs Python 3.11 (pyproject.toml); $PYTHON is not: set PYTHON=" >&2; exit 1; }
    echo "setup: creating .venv with $($PYTHON --version)"
    "$PYTHON" -m venv .venv
fi
# KenLM compiles (about a minute, both cores) while pip installs (one core, mostly unpacking): a minute less
set -m  # in a process group of its own: a failed pip step stops the build with its compilers
scripts/build_kenlm.sh &
kenlm=$!
set +m
trap 'kill -- -"$kenlm" 2>/dev/null || true' EXIT
pip() {  # quiet pip that shows its output only when it fails
    local log
    log=$(mktemp)
    if ! .venv/bin/python -m pip --disable-pip-version-check -q "$@" >"$log" 2>&1; then
        grep -v "is ignored: it is neither" "$log" >&2
        rm -f "$log"
        return 1
    fi
    rm -f "$log"
}
if ! .venv/bin/python -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '$TORCH_VERSION')" 2>/dev/null; then
    echo "setup: installing torch $TORCH_VERSION (CPU)"
    pip install "torch==$TORCH_VERSION"
fi
# installed again only when what it is built from changed: pip builds it in an isolated environment, which
# needs the package index even when everything is installed
stamp=$(cat pyproject.toml asr/scoring/_align.c | sha256sum)
# (-I: not from the current folder, where the source tree would import without the installed package)
if [[ $(cat .venv/.asr-installed 2>/dev/null) != "$stamp" ]] || ! .venv/bin/python -I -c "import asr.scoring._align" 2>/dev/null; then
    echo "setup: installing the asr package (editable) and its dependencies"
    pip install -e ".[dev]"
    echo "$stamp" >.venv/.asr-installed
fi
# pyctcdecode 0.5.0 (the reference beam decoder, 2023) pins numpy<2 without needing it: its outputs are
# identical on numpy 2 (tests/test_decoders.py compares them with the fast backend), so it goes in without deps
if ! .venv/bin/python -c "import pyctcdecode" 2>/dev/null; then
    pip install --no-deps "pyctcdecode==0.5.0"
fi
wait "$kenlm" || { echo "setup: building KenLM failed (its log is above)" >&2; exit 1; }
.venv/bin/python -c "import asr.scoring._align" || { echo "setup: the C extension did not build" >&2; exit 1; }
echo "setup: done; the CLI is .venv/bin/asr"
