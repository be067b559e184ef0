"""Tensors in the real debugger: debugpy's Variables, hover and watch answers carry tensorpeek
summaries (via the ``pydevd_plugins`` extension shipped with the distribution), and expanding
a tensor shows cheap children. The oracle is ``summarize`` run on the same values here."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from support.dap_client import DapSession, marked_line
from tensorpeek.debugger.presentation import quick_options
from tensorpeek.summary.tensor_summary import summarize

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).resolve().parent / "fixtures" / "frame_tensors.py"
# these tests check content: a loaded test machine must not make the Variables view defer
NO_BUDGET = {"TENSORPEEK_VARIABLES_BUDGET_S": "600"}


def _fixture_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("frame_tensors_oracle", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def oracle() -> dict[str, Any]:
    x, w, odd, arr = _fixture_module().make_tensors()
    return {"x": x, "w": w, "odd": odd, "arr": arr}


@pytest.fixture(scope="module")
def paused() -> Iterator[tuple[DapSession, int]]:
    """One debuggee stopped at ``# @bp stop`` for the whole module (read-only tests)."""
    with DapSession() as dap:
        _, frame_id = dap.run_to_breakpoint(
            SCRIPT, [marked_line(SCRIPT, "stop")], timeout=60, env=NO_BUDGET
        )
        yield dap, frame_id


def test_variables_view_shows_the_quick_summary_line(
    paused: tuple[DapSession, int], oracle: dict[str, Any]
) -> None:
    dap, frame_id = paused
    local = dap.locals(frame_id)
    for name in ("x", "w", "odd", "arr"):
        assert local[name]["value"] == str(summarize(oracle[name], **quick_options())), name
    assert local["x"]["value"].startswith("tensor[32, 256] f32")
    assert local["w"]["value"].startswith("param[4, 4] f32")
    assert "NaN!×1" in local["odd"]["value"] and "+Inf!×1" in local["odd"]["value"]
    assert local["meta"]["value"].startswith("tensor[5, 7] f32 meta")
    assert local["label"]["value"] == "'tensors'"  # other values keep pydevd's display
    # a dict of tensors shows their summaries, not torch's repr of every value
    x_line, odd_line = (str(summarize(oracle[n], **quick_options())) for n in ("x", "odd"))
    assert local["batch"]["value"] == f"{{'x': {x_line}, 'odd': {odd_line}, 'step': 3}}"
    assert local["sizes"]["value"] == "[1, 2, 3]"  # containers without tensors are left alone
    # a module: one line, not torch's repr of the tree (4*8+8 + 8*2+2 params, bias frozen)
    assert local["model"]["value"] == (
        "Sequential: 3 submodules, 58 params (56 trainable), float32 on cpu, eval"
    )


@pytest.mark.parametrize("context", ["hover", "watch", "repl"])
def test_evaluate_shows_the_summary_in_display_contexts(
    paused: tuple[DapSession, int], oracle: dict[str, Any], context: str
) -> None:
    dap, frame_id = paused
    reply = dap.evaluate("x", frame_id, context=context)
    assert reply["result"] == str(summarize(oracle["x"], **quick_options()))
    assert reply["variablesReference"] > 0  # expandable


def test_clipboard_copies_the_real_values_not_the_summary(
    paused: tuple[DapSession, int], oracle: dict[str, Any]
) -> None:
    dap, frame_id = paused
    reply = dap.evaluate("odd", frame_id, context="clipboard")
    assert reply["result"] == repr(oracle["odd"])


def test_expanding_a_tensor_shows_metadata_stats_histogram_grad_and_preview(
    paused: tuple[DapSession, int], oracle: dict[str, Any]
) -> None:
    dap, frame_id = paused
    w = dap.locals(frame_id)["w"]
    kids = {v["name"]: v for v in dap.variables(w["variablesReference"])}
    assert list(kids) == [
        "shape", "dtype", "device", "requires_grad", "stats", "histogram", "grad", "preview",
    ]  # fmt: skip
    assert kids["shape"]["value"] == "(4, 4)"
    assert kids["dtype"]["value"] == "torch.float32"
    assert kids["device"]["value"] == "device(type='cpu')"
    assert kids["grad"]["value"] == str(summarize(oracle["w"].grad, **quick_options()))
    assert kids["grad"]["evaluateName"] == "w.grad"
    stats = {v["name"]: v["value"] for v in dap.variables(kids["stats"]["variablesReference"])}
    expected = summarize(oracle["w"], **quick_options())
    assert float(stats["'min'"]) == pytest.approx(expected.min)
    assert float(stats["'std'"]) == pytest.approx(expected.std)
    assert stats["'nan'"] == "0"
    rows = _items(dap, kids["preview"]["variablesReference"])
    assert len(rows) == 4
    first_row = [float(v["value"]) for v in _items(dap, rows[0]["variablesReference"])]
    assert first_row == pytest.approx(oracle["w"][0].tolist())


def _items(dap: DapSession, reference: int) -> list[dict[str, Any]]:
    """The indexed children of a list in the Variables view (not pydevd's 'special' groups)."""
    return [v for v in dap.variables(reference) if v["name"].isdigit()]


def test_a_large_tensor_never_lists_its_storage(paused: tuple[DapSession, int]) -> None:
    dap, frame_id = paused
    x = dap.locals(frame_id)["x"]
    names = [v["name"] for v in dap.variables(x["variablesReference"])]
    assert "untyped_storage" not in names and "data" not in names
    assert "grad" not in names  # x has no grad
