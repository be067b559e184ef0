#!/usr/bin/env bash
# Quick start, part 2: set up everything the tests need on a fresh machine, then run every
# test: lint and types, the extension's own suites (unit, webview in Chromium, end to end in
# a real VS Code), then pytest (unit, DAP, LSP, CLI) — pytest last, so its summary line ends
# the output. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

# the fused reduction kernel must build and load here (without it the tests of the kernel
# would skip and the summaries fall back to torch reductions; see hatch_build.py)
export TENSORPEEK_REQUIRE_NATIVE=1

echo "== setup"
bash scripts/setup-system.sh
bash scripts/setup-python.sh test

echo "== lint, types and import boundaries (python)"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
.venv/bin/lint-imports --no-cache

if [ -f vscode-extension/scripts/ci.sh ]; then
  echo "== extension (lint, unit, webview, package, end to end)"
  bash vscode-extension/scripts/ci.sh
fi

echo "== pytest"
# exit status 5 (no tests collected) is a failure like any other non-zero status
exec .venv/bin/python -m pytest "$@"
