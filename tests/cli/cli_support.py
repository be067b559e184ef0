"""Helpers for the CLI tests: run ``python -m tensorpeek`` as a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"
CLI_TIMEOUT_S = 100


def run_cli(
    *args: str | Path, cwd: Path | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m tensorpeek ARGS`` in a clean environment (no armed breakpoints)."""
    env = {k: v for k, v in os.environ.items() if k != "TENSORPEEK_BREAKPOINTS"}
    env["PYTHONUNBUFFERED"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "tensorpeek", *map(str, args)],
        cwd=cwd,
        env=env,
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
    )
