"""Every summary test runs twice: through the fused C kernel (``tensorpeek.summary.native``) and
through the torch reductions it replaces, which is what users without a C compiler get.
Both must match the same float64 oracle."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tensorpeek.summary import native


@pytest.fixture(autouse=True, params=["fused", "torch"])
def reduction_path(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    if request.param == "fused" and not native.available():
        if os.environ.get("TENSORPEEK_REQUIRE_NATIVE") == "1":
            pytest.fail(f"TENSORPEEK_REQUIRE_NATIVE=1 but the {native.status()}")
        pytest.skip(native.status())
    if request.param == "torch":
        monkeypatch.setattr(native, "can_read", lambda x: False)
    yield request.param
