# The developer loop. `make` lists the targets; CI runs `bash scripts/test.sh` (= `make all`).
# Python targets use ./.venv (made by `make setup`); extension targets use vscode-extension/.

PY := .venv/bin/python
PYTEST := $(PY) -m pytest

.PHONY: help setup lint format imports types py-test py-fast ext-test e2e all bench

help:
	@echo "make setup     .venv with torch (CPU) and tensorpeek[dev], editable"
	@echo "make lint      ruff, ruff format --check, lint-imports (the part boundaries), mypy"
	@echo "make format    ruff --fix and ruff format"
	@echo "make py-fast   pytest without the slow tests (debugger sessions, subprocesses)"
	@echo "make py-test   every pytest test; pass a folder with T=tests/breakpoints"
	@echo "make ext-test  the extension: eslint, tsc, unit, webview, package (no code-server)"
	@echo "make e2e       the extension end to end in a real VS Code (code-server)"
	@echo "make all       everything CI runs (scripts/test.sh)"
	@echo "make bench     the benchmarks (ratios measured side by side in one run)"

setup:
	bash scripts/setup-python.sh dev

lint: imports types
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

format:
	.venv/bin/ruff check --fix .
	.venv/bin/ruff format .

imports:
	.venv/bin/lint-imports

types:
	.venv/bin/mypy

T ?= tests
py-test:
	$(PYTEST) $(T)

py-fast:
	$(PYTEST) -m "not slow and not e2e" $(T)

ext-test:
	TENSORPEEK_SKIP_E2E=1 bash vscode-extension/scripts/ci.sh

e2e:
	bash vscode-extension/scripts/ci.sh

all:
	bash scripts/test.sh

bench:
	$(PY) benchmarks/bench_summarize.py
	$(PY) benchmarks/bench_breakpoints.py
	$(PY) benchmarks/bench_snapshot.py
	$(PY) benchmarks/bench_render.py
	$(PY) benchmarks/bench_watch.py
