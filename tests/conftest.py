"""Fixtures shared by every test folder.

Each folder (summary, breakpoints, debugger, lsp, render, cli) keeps its own fixtures in its
own conftest; this file holds only what several of them need.

Tests write only under temporary folders: before any test runs, ``HOME`` and the XDG and
matplotlib folders point into a scratch directory that is removed at the end, so nothing the
tests or their subprocesses (debuggees, language servers, the CLI) cache lands in the user's
home.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
HOME_VARIABLES = ("HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "MPLCONFIGDIR")
_saved_home: dict[str, str | None] = {}
_scratch_home: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    home = tempfile.mkdtemp(prefix="tensorpeek-tests-home-")
    _scratch_home.append(home)
    for name in HOME_VARIABLES:
        _saved_home[name] = os.environ.get(name)
        folder = home if name == "HOME" else os.path.join(home, name.lower())
        os.makedirs(folder, exist_ok=True)
        os.environ[name] = folder


def pytest_unconfigure(config: pytest.Config) -> None:
    for name, value in _saved_home.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    for home in _scratch_home:
        shutil.rmtree(home, ignore_errors=True)


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
