"""Fixtures for the breakpoint tests: every test starts and ends with no breakpoint armed."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bp_models for the test modules


@pytest.fixture(autouse=True)
def no_breakpoints() -> Iterator[None]:
    from tensorpeek.engine import api, deferred

    api.clear()
    yield
    api.clear()
    deferred.set_mode("auto")
