#!/usr/bin/env bash
# Quick start, part 1: set up the Python environment and run the demo (a small CPU training
# run with a planted bug that `tensorpeek doctor` catches at the right layer and step).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-python.sh >/dev/null
exec .venv/bin/tensorpeek demo "$@"
