"""Fixtures for the breakpoint tests: every test starts and ends with no breakpoint armed."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent

if (
    importlib.util.find_spec("tensorpeek.stats") is None
    or importlib.util.find_spec("tensorpeek.summary") is None
):
    sys.path.insert(0, str(HERE))
    import bp_standin_stats

    bp_standin_stats.install()


@pytest.fixture(autouse=True)
def no_breakpoints() -> Iterator[None]:
    from tensorpeek import breakpoints, deferred

    breakpoints.clear()
    yield
    breakpoints.clear()
    deferred.set_mode("auto")
