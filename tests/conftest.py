"""Fixtures shared by every test folder.

Each folder (summary, breakpoints, debugger, lsp, render, cli) keeps its own fixtures in its
own conftest; this file holds only what several of them need.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def python_exe() -> str:
    """The interpreter running the tests (the project's venv); subprocesses use it too."""
    return sys.executable


@pytest.fixture(scope="session")
def chromium() -> str:
    """Path of Debian's headless Chromium. Missing locally: skip; missing in CI: fail,
    because `scripts/setup-system.sh` installs it there and a skip would hide a broken setup."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; scripts/setup-system.sh should have done it")
        pytest.skip("chromium is not installed (run scripts/setup-system.sh)")
    return path
