#!/usr/bin/env bash
# Builds KenLM's lmplz and build_binary from the kenlm sdist on PyPI (the Python package holds only the query
# module) and installs them into .venv/bin, where `lm` looks first. Quick when they are there already.
# Needs: cmake, g++, Boost (program-options, system, thread, test), zlib, bz2, lzma dev packages (setup.sh).
set -euo pipefail
unset CDPATH
cd "$(dirname "$(readlink -f "$0")")/.."
KENLM_VERSION=0.3.0
# built again where a library they link went away (Boost after a Debian upgrade)
if [[ -x .venv/bin/lmplz && -x .venv/bin/build_binary &&
    $(ldd .venv/bin/lmplz .venv/bin/build_binary) != *"not found"* ]]; then
    exit 0
fi
echo "setup: building KenLM $KENLM_VERSION's lmplz and build_binary (about a minute)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
.venv/bin/python -m pip --disable-pip-version-check -q download --no-deps --no-binary kenlm \
    "kenlm==$KENLM_VERSION" -d "$work" >"$work/pip.log" 2>&1 || { cat "$work/pip.log" >&2; exit 1; }
tar xzf "$work/kenlm-$KENLM_VERSION.tar.gz" -C "$work"
cmake -S "$work/kenlm-$KENLM_VERSION" -B "$work/build" -DCMAKE_BUILD_TYPE=Release >"$work/cmake.log" 2>&1 \
    || { cat "$work/cmake.log" >&2; exit 1; }
cmake --build "$work/build" -j "$(nproc)" --target lmplz build_binary >"$work/make.log" 2>&1 \
    || { tail -40 "$work/make.log" >&2; exit 1; }
install -m 755 "$work/build/bin/lmplz" "$work/build/bin/build_binary" .venv/bin/
