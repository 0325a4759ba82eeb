#!/usr/bin/env bash
# Sets everything up (scripts/setup.sh), then runs the linter and the whole test suite.
set -euo pipefail
unset CDPATH
cd "$(dirname "$(readlink -f "$0")")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/python -m pytest "$@"
