#!/usr/bin/env bash
# Creates ./.venv (once) and installs torch 2.13.0 (the CPU build on this disk; an unpinned
# torch would pull a multi-GB CUDA build) and tensorpeek in editable mode.
# Usage: scripts/setup-python.sh [EXTRAS]   e.g. "test" or "dev"
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
python="${PYTHON:-python3}"

if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
pip() { .venv/bin/python -m pip "$@"; }
pip install --quiet --disable-pip-version-check --upgrade pip
# torch first and pinned, so no later requirement can pull another build
pip install --quiet --disable-pip-version-check torch==2.13.0
pip install --quiet --disable-pip-version-check -e ".${extras:+[$extras]}"
.venv/bin/python -c "import torch, tensorpeek; from tensorpeek.summary import native; print('python env ready: torch', torch.__version__, '| tensorpeek', tensorpeek.__version__, '|', native.status(), '|', native.screen_status())"
