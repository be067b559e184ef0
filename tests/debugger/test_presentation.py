"""``tensorpeek.debugger.presentation`` in-process: what the debugger plugin shows for every kind of
tensor, that it never raises, never changes the tensor, and caches only while unchanged."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator

import numpy as np
import pytest
import torch

from tensorpeek.debugger import presentation
from tensorpeek.debugger.presentation import hover_text, preview, quick_options, tensor_children
from tensorpeek.summary.tensor_summary import summarize


@pytest.fixture(autouse=True)
def empty_cache() -> Iterator[None]:
    presentation.clear_cache()
    yield
    presentation.clear_cache()


ODD: dict[str, Callable[[], object]] = {
    "meta": lambda: torch.empty(3, 4, device="meta"),
    "sparse_coo": lambda: torch.eye(5).to_sparse(),
    "sparse_csr": lambda: torch.eye(5).to_sparse_csr(),
    "quantized": lambda: torch.quantize_per_tensor(torch.randn(4, 4), 0.1, 0, torch.qint8),
    "zero_dim": lambda: torch.tensor(3.5),
    "empty": lambda: torch.empty(0, 3),
    "complex": lambda: torch.randn(5, dtype=torch.complex64),
    "bool": lambda: torch.tensor([True, False, True]),
    "float8": lambda: torch.randn(10).to(torch.float8_e4m3fn),
    "bfloat16": lambda: torch.randn(10, dtype=torch.bfloat16),
    "nonfinite": lambda: torch.tensor([1.0, float("nan"), float("inf"), -float("inf")]),
    "transposed": lambda: torch.randn(30, 20).t(),
    "parameter": lambda: torch.nn.Parameter(torch.randn(3, 3)),
}


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("kind", sorted(ODD))
def test_odd_tensors_get_a_summary_line_and_children_never_an_exception(kind: str) -> None:
    x = ODD[kind]()
    text = hover_text(x, "hover")
    assert text == str(summarize(x, **quick_options())), text
    assert len(text) < 120
    names = [name for name, _, _ in tensor_children(x)]
    assert names[:4] == ["shape", "dtype", "device", "requires_grad"] and names[-1] == "preview"


def test_summary_failures_are_shown_not_raised() -> None:
    class Broken(torch.Tensor):
        def detach(self) -> torch.Tensor:  # type: ignore[override]
            raise RuntimeError("cannot read this one")

    x = torch.ones(3).as_subclass(Broken)
    text = hover_text(x, "hover")
    assert text is not None and "could not summarize it: RuntimeError: cannot read this one" in text
    assert text.startswith("tensor[3] f32 (tensorpeek could not")


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_tensors_without_a_plain_shape_still_get_a_line_and_children() -> None:
    nested = torch.nested.nested_tensor([torch.randn(2, 3), torch.randn(4, 3)])
    text = hover_text(nested, "hover")
    # the summary's own line for a nested tensor (its buffer's statistics, ragged dim as -1)
    assert text == str(presentation.quick_summary(nested)) and "nested" in text
    rows = {name: value for name, value, _ in tensor_children(nested)}
    assert rows["shape"] == "nested: 2 tensors"
    assert presentation.deferred_text(nested).startswith("tensor[nested: 2 tensors] f32 · stats")


def test_clipboard_and_non_numeric_arrays_keep_pydevds_own_text() -> None:
    assert hover_text(torch.ones(2), "clipboard") is None
    assert hover_text(np.array(["a", "b"], dtype=object), "hover") is None
    assert hover_text([1, 2], "hover") is None
    assert hover_text(np.ones(3), "hover") == str(summarize(np.ones(3), **quick_options()))


def test_preview_is_a_small_corner_read_through_a_view() -> None:
    big = torch.arange(4 * 100 * 100, dtype=torch.float32).reshape(4, 100, 100)
    assert preview(big) == big[0, :8, :8].tolist()
    assert preview(torch.arange(1000)) == list(range(64))
    assert preview(torch.tensor(2.0)) == 2.0
    assert preview(torch.empty(2, 0)) == [[], []]
    assert preview(torch.empty(2, device="meta")) == "meta tensor: no values"


def test_grad_child_appears_only_where_autograd_keeps_one() -> None:
    w = torch.nn.Parameter(torch.ones(2, 2))
    (w * 3).sum().backward()
    rows = {name: value for name, value, _ in tensor_children(w)}
    assert torch.equal(rows["grad"], torch.full((2, 2), 3.0))
    nonleaf = w * 2
    assert "grad" not in {name for name, _, _ in tensor_children(nonleaf)}


def test_cache_serves_an_unchanged_tensor_and_recomputes_after_an_in_place_write() -> None:
    x = torch.zeros(1000)
    first = presentation.quick_summary(x)
    assert presentation.quick_summary(x) is first
    x.add_(1.0)  # bumps the version counter
    second = presentation.quick_summary(x)
    assert second is not first and second.mean == 1.0
    view = x[:10]  # same storage pointer, other shape: its own entry
    assert presentation.quick_summary(view).numel == 10


def test_showing_a_tensor_changes_nothing_about_it_or_the_rng() -> None:
    w = torch.nn.Parameter(torch.randn(50, 50))
    version, values, rng = w._version, w.detach().clone(), torch.get_rng_state()
    hover_text(w, "hover")
    tensor_children(w)
    assert w._version == version and torch.equal(w, values)
    assert torch.equal(torch.get_rng_state(), rng)
    assert w.grad is None


@pytest.mark.slow
def test_the_plugin_modules_do_not_import_torch() -> None:
    code = (
        "import json, sys, numpy as np\n"
        "from tensorpeek.agent import frame_scan, snapshot\n"
        "from tensorpeek.debugger import presentation\n"
        "a = np.ones(3)\n"
        "print(json.dumps([presentation.hover_text(a, 'hover'), presentation.is_presentable(a),"
        " 'torch' in sys.modules]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert json.loads(out.stdout) == [None, False, False]


def test_the_variables_listing_defers_tensors_once_its_time_budget_is_spent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    budget = presentation.TimeBudget(budget=1e-9, gap=60.0)
    monkeypatch.setattr(presentation, "VARIABLES_BUDGET", budget)
    a, b = torch.randn(100, 100), torch.randn(7, 3)
    first = hover_text(a)  # nothing spent yet: summarised, and that spends the budget
    assert first == str(summarize(a, **quick_options()))
    deferred = hover_text(b)
    assert (
        deferred == "tensor[7, 3] f32 n=21 · stats skipped to keep this stop fast: hover or expand"
    )
    assert hover_text(b, "hover") == str(summarize(b, **quick_options()))  # asked for: computed
    assert hover_text(b) == str(summarize(b, **quick_options()))  # now cached: shown at no cost
    budget.last -= 61.0  # the next stop starts a new burst
    assert hover_text(torch.ones(2)) == str(summarize(torch.ones(2), **quick_options()))


@pytest.mark.parametrize(("text", "expected"), [("2.5", 2.5), ("", 0.6), ("-1", 0.6), ("x", 0.6)])
def test_the_variables_budget_comes_from_the_environment_when_valid(
    monkeypatch: pytest.MonkeyPatch, text: str, expected: float
) -> None:
    monkeypatch.setenv("TENSORPEEK_VARIABLES_BUDGET_S", text)
    assert presentation._budget_from_env() == expected


def test_containers_of_tensors_show_summaries_bounded_and_others_keep_their_repr() -> None:
    from tensorpeek.debugger.presentation import MAX_CONTAINER_ITEMS, container_text

    x = torch.randn(32, 8, generator=torch.Generator().manual_seed(0))
    line = str(presentation.quick_summary(x))
    assert container_text({"x": x, "n": 3}) == f"{{'x': {line}, 'n': 3}}"
    assert container_text((x,)) == f"({line},)"
    many = container_text([x] * (MAX_CONTAINER_ITEMS + 4))
    assert many is not None and many.endswith(", … 4 more]")
    assert many.count("tensor[32, 8]") == MAX_CONTAINER_ITEMS
    assert container_text({"a": 1, "b": [2]}) is None, "no tensors: pydevd's own repr"
    assert container_text({"x": x}, "clipboard") is None, "clipboard copies the real values"
    assert container_text(torch.ones(2)) is None


def test_a_module_is_one_line_of_metadata_not_its_repr() -> None:
    from torch import nn

    from tensorpeek.debugger.presentation import is_module_type, module_text

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.features = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU())
            self.head = nn.Linear(8, 10, dtype=torch.float64)

    net = Net()
    assert is_module_type(Net) and is_module_type(nn.Linear) and not is_module_type(int)
    n = sum(p.numel() for p in net.parameters())  # oracle: 3*8*9+8 + 8*10+10 = 314
    f64 = sum(p.numel() for p in net.head.parameters())
    common = "float64" if f64 > n - f64 else "float32"
    assert module_text(net) == f"Net: 2 submodules, {n} params, {common} on cpu (mixed), training"
    assert module_text(nn.ReLU()) == "ReLU: 0 submodules, 0 params, training"
    big = nn.Linear(1000, 2000)
    assert module_text(big) == "Linear: 0 submodules, 2M params, float32 on cpu, training"
    assert module_text(net, "clipboard") is None  # copying keeps the real repr

    class Broken(nn.Module):
        def parameters(self, recurse: bool = True):  # type: ignore[override]
            raise RuntimeError("boom")

    assert module_text(Broken()) is None  # never raises into the debugger: pydevd's repr
