"""Fixtures for the CLI tests (helpers live in ``cli_support``)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cli_support import FIXTURES, run_cli


@pytest.fixture
def cli() -> Callable[..., subprocess.CompletedProcess[str]]:
    return run_cli


@pytest.fixture
def doctor(
    tmp_path: Path,
) -> Callable[..., tuple[subprocess.CompletedProcess[str], dict[str, Any]]]:
    """Run ``tensorpeek doctor FIXTURE ... --report R.json``; return the process and the report."""

    def go(fixture: str, *extra: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
        report = tmp_path / f"{fixture}.json"
        proc = run_cli("doctor", FIXTURES / fixture, *extra, "--report", report)
        assert report.exists(), f"no report written\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        return proc, json.loads(report.read_text())

    return go
