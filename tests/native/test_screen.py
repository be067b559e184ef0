"""The breakpoint hooks' screen, ``native.sumsq``, in both its implementations: the C extension's
(``csrc/screen.c``, what the hooks call where ``_screen`` was built) and the ctypes path (the
fallback), against a float64 oracle and each other; its refusals; and which one is used when
the module is missing, stale, foreign or refuses its setup."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
import torch

import tensorpeek
from support.native_values import DTYPES, SIZES
from support.native_values import values as _values
from tensorpeek.summary import native

pytestmark = pytest.mark.usefixtures("kernel")

# Two implementations with the same checks and numbers: the C extension's (native.sumsq where
# _screen was built) and the ctypes path (the fallback). Every test runs both.

Sumsq = Callable[[Any], "float | None"]


@pytest.fixture(params=["c", "ctypes"])
def sumsq(request: pytest.FixtureRequest) -> Sumsq:
    if request.param == "ctypes":
        return native._sumsq_ctypes
    if native._c_sumsq is None:
        if os.environ.get("TENSORPEEK_REQUIRE_NATIVE") == "1":
            pytest.fail(f"TENSORPEEK_REQUIRE_NATIVE=1 but the {native.screen_status()}")
        pytest.skip(native.screen_status())
    return native._c_sumsq


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("n", SIZES)
def test_sumsq_matches_the_float64_sum_of_squares(sumsq: Sumsq, n: int, dtype: torch.dtype) -> None:
    t = _values(n, dtype, n + 1)
    exact = float((t.double() ** 2).sum())
    got = sumsq(t)
    assert got is not None
    assert got == pytest.approx(exact, rel=1e-6)  # float32 lanes within a chunk only


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("where", [0, -1, 5000])
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_sumsq_is_not_finite_with_any_nan_or_inf(
    sumsq: Sumsq, dtype: torch.dtype, where: int, bad: float
) -> None:
    t = _values((1 << 19) + 17, dtype, 3)  # split over threads when there are several
    t[where] = bad
    got = sumsq(t)
    assert got is not None and not math.isfinite(got)


def test_sumsq_reads_views_from_their_first_element_and_no_further(sumsq: Sumsq) -> None:
    base = torch.arange(10000, dtype=torch.float32)
    view = base[4000:4100]
    assert sumsq(view) == pytest.approx(float((view.double() ** 2).sum()), rel=1e-7)
    assert sumsq(torch.arange(-5.0, 5.0)._neg_view()) == pytest.approx(85.0)


def test_sumsq_refuses_tensors_with_no_values_behind_them(sumsq: Sumsq) -> None:
    shrunk = torch.ones(100)[10:]
    shrunk.untyped_storage().resize_(0)  # FSDP frees unsharded parameters this way
    assert sumsq(shrunk) is None
    assert sumsq(torch._efficientzerotensor(8)) is None
    assert sumsq(torch.ones(0)) is None
    assert sumsq(torch.ones(4, 4).t()) is None  # not contiguous
    assert sumsq(torch.ones(4, dtype=torch.int64)) is None
    assert sumsq(torch.ones(4, device="meta")) is None
    assert sumsq(torch.ones(4, 4).to_sparse()) is None
    assert sumsq(torch.nested.nested_tensor([torch.ones(2), torch.ones(3)])) is None
    assert sumsq(torch.nn.Parameter(torch.full((3,), 2.0))) == 12.0
    assert sumsq(3.0) is None and sumsq(None) is None  # not a tensor at all

    class Sub(torch.Tensor):  # a subclass may run other code in a reduction
        pass

    assert sumsq(torch.ones(4).as_subclass(Sub)) is None
    seen: list[float | None] = []
    torch.func.vmap(lambda row: seen.append(sumsq(row)) or row)(torch.ones(3, 4))
    assert seen == [None]  # inside a torch.func transform: its storage is not the row


def test_sumsq_leaves_the_thread_count_alone(sumsq: Sumsq) -> None:
    before = torch.get_num_threads()
    sumsq(torch.ones(1 << 21))
    assert torch.get_num_threads() == before


def test_both_screens_give_the_same_bits() -> None:
    """The C screen and the ctypes path run the same kernel on the same block: equal floats,
    on contiguous views at odd offsets and sizes that split over threads."""
    if native._c_sumsq is None:
        pytest.skip(native.screen_status())
    base = _values((1 << 20) + 7, torch.float32, 11)
    for view in (base, base[3:], base[5:4100], base[: (1 << 19) + 1]):
        for dtype in DTYPES:
            block = view.to(dtype)
            assert native._c_sumsq(block) == native._sumsq_ctypes(block)


def test_hooks_use_the_c_screen_where_it_was_built() -> None:
    if os.environ.get("TENSORPEEK_REQUIRE_NATIVE") != "1" and native._c_sumsq is None:
        pytest.skip(native.screen_status())
    assert native.sumsq is native._c_sumsq
    assert native.screen_status().startswith("breakpoint screen in C, loaded from ")


def _refuse(*_: object) -> None:
    raise TypeError("no")


@pytest.mark.parametrize(
    ("module", "why"),
    [
        (None, "not built ("),  # no _screen file: the import fails
        (SimpleNamespace(abi=lambda: 0), "stale build (ABI 0, expected 1)"),
        (SimpleNamespace(), "is not tensorpeek's screen ("),
        (SimpleNamespace(abi=lambda: 1, setup=_refuse), "refused its setup (no)"),
    ],
    ids=["missing", "stale", "foreign", "refused"],
)
def test_a_missing_or_stale_screen_falls_back_to_ctypes(
    monkeypatch: pytest.MonkeyPatch, module: object, why: str
) -> None:
    monkeypatch.setitem(sys.modules, "tensorpeek.summary._screen", module)
    monkeypatch.delattr(tensorpeek.summary, "_screen", raising=False)
    found, line = native._open_screen()
    assert found is None and line.startswith(why), line
    monkeypatch.setenv("TENSORPEEK_NO_NATIVE", "1")
    assert native._open_screen() == (None, "disabled by TENSORPEEK_NO_NATIVE=1")


def test_without_the_c_screen_sumsq_is_the_ctypes_path() -> None:
    """A fresh interpreter with TENSORPEEK_NO_NATIVE=1 binds the ctypes path, which then
    refuses (the kernel is off too): the hooks fall back to torch.dot."""
    code = (
        "import json, torch; from tensorpeek.summary import native; "
        "print(json.dumps([native.sumsq is native._sumsq_ctypes, native.screen_status(), "
        "native.sumsq(torch.ones(4))]))"
    )
    env = {**os.environ, "TENSORPEEK_NO_NATIVE": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         check=True, timeout=120)  # fmt: skip
    is_ctypes, line, value = json.loads(out.stdout)
    assert is_ctypes is True and value is None
    assert line == (
        "breakpoint screen through ctypes (the C module disabled by TENSORPEEK_NO_NATIVE=1)"
    )
