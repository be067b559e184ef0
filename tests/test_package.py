"""The package facade: cheap to import, and every advertised name is really there."""

from __future__ import annotations

import subprocess
import sys

import pytest

import tensorpeek


def test_importing_tensorpeek_imports_nothing_heavy() -> None:
    # the agent is a guest in the training process: `import tensorpeek` must not pull in
    # torch, numpy or matplotlib by itself
    code = (
        "import sys, tensorpeek\n"
        "heavy = sorted(m for m in ('torch', 'numpy', 'matplotlib', 'debugpy', 'pygls')"
        " if m in sys.modules)\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == ""


def test_every_exported_name_resolves() -> None:
    for name in tensorpeek.__all__:
        assert getattr(tensorpeek, name) is not None, name


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_thing"):
        tensorpeek.no_such_thing  # noqa: B018


def test_version_says_whether_the_fused_kernel_is_used() -> None:
    import os

    def version(**env: str) -> list[str]:
        out = subprocess.run(
            [sys.executable, "-m", "tensorpeek", "--version"],
            capture_output=True, text=True, check=True, timeout=60, env={**os.environ, **env},
        )  # fmt: skip
        return out.stdout.splitlines()

    first, state, screen = version()
    assert first == f"tensorpeek {tensorpeek.__version__}"
    assert state.startswith("fused reduction kernel ")
    assert screen.startswith("breakpoint screen ")
    if os.environ.get("TENSORPEEK_REQUIRE_NATIVE") == "1":
        assert state.startswith("fused reduction kernel loaded from "), state
        assert screen.startswith("breakpoint screen in C, loaded from "), screen
    assert version(TENSORPEEK_NO_NATIVE="1")[1:] == [
        "fused reduction kernel disabled by TENSORPEEK_NO_NATIVE=1",
        "breakpoint screen through ctypes (the C module disabled by TENSORPEEK_NO_NATIVE=1)",
    ]
