"""Fixtures for the debugger tests: a real debugpy adapter per test, and the fixture scripts."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.dap_fixtures import dap  # noqa: F401

FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return FIXTURES
