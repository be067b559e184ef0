"""The ``kernel`` fixture of the kernel's and the screen's tests: skip without the kernel,
fail where it is required."""

from __future__ import annotations

import os

import pytest

from tensorpeek.summary import native


@pytest.fixture
def kernel() -> None:
    """These tests call the kernel directly. Not built (no C compiler): skip, unless
    ``TENSORPEEK_REQUIRE_NATIVE=1`` (set by scripts/test.sh, whose setup installs gcc)."""
    if not native.available():
        if os.environ.get("TENSORPEEK_REQUIRE_NATIVE") == "1":
            pytest.fail(f"TENSORPEEK_REQUIRE_NATIVE=1 but the {native.status()}")
        pytest.skip(native.status())
