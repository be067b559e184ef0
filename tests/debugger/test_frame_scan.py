"""``tensorpeek.agent.frame_scan``: which tensors a frame reaches, under which names, and how a
name is walked back to its tensor without evaluating anything."""

from __future__ import annotations

import json
import sys
import types
from dataclasses import dataclass
from typing import Any

import pytest
import torch

from tensorpeek.agent import request
from tensorpeek.agent.frame_scan import PathError, locals_first, resolve_path, scan_frame


@dataclass(slots=True)
class Slotted:
    weight: torch.Tensor
    note: str


class Lazy:
    def __init__(self) -> None:
        self.cached = torch.ones(2)

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the scan asked for {name!r} through __getattr__")

    @property
    def computed(self) -> torch.Tensor:
        raise AssertionError("the scan called a property")


def names(frame: dict[str, Any], **kw: Any) -> list[str]:
    return [t.name for t in scan_frame(frame, **kw).tensors]


def test_slots_dataclasses_and_plain_objects_are_read_from_stored_data_only() -> None:
    frame = {"s": Slotted(torch.zeros(3), "n"), "lazy": Lazy()}
    assert names(frame) == ["s.weight", "lazy.cached"]


def test_container_modules_get_indexing_paths_that_python_also_accepts() -> None:
    seq = torch.nn.Sequential(torch.nn.Linear(2, 2))
    d = torch.nn.ModuleDict({"a-b": torch.nn.Linear(2, 2)})
    frame = {"seq": seq, "d": d}
    found = names(frame)
    assert found == ["seq[0].weight", "seq[0].bias", "d['a-b'].weight", "d['a-b'].bias"]
    for name in found:
        assert resolve_path(name, frame) is eval(name, {}, frame)  # same object as Python's


def test_cycles_are_visited_once() -> None:
    a: list[Any] = [torch.ones(1)]
    a.append(a)
    found = scan_frame({"a": a}, max_depth=5)
    assert [t.name for t in found.tensors] == ["a[0]"] and found.truncated is False


def test_a_huge_list_is_cut_at_the_per_container_cap() -> None:
    found = scan_frame({"xs": [torch.ones(1) for _ in range(1000)]}, max_tensors=10_000)
    assert len(found.tensors) == 256 and found.truncated is True


def test_function_locals_come_before_module_globals() -> None:
    module = types.ModuleType("fake_user_module")
    module.shared = torch.ones(1)  # type: ignore[attr-defined]
    sys.modules["fake_user_module"] = module
    try:
        merged = {"__name__": "fake_user_module", "shared": module.shared, "mine": torch.zeros(1)}
        assert [k for k, _ in locals_first(merged)] == ["mine", "shared"]
        scopes = {t.name: t.scope for t in scan_frame(merged).tensors}
        assert scopes == {"mine": "local", "shared": "global"}
        snap = json.loads(
            request(json.dumps({"version": 1, "method": "snapshot", "params": {}}), merged)
        )
        marked = {t["name"]: t.get("scope", "local") for t in snap["result"]["tensors"]}
        assert marked == {"mine": "local", "shared": "global"}
    finally:
        del sys.modules["fake_user_module"]


@pytest.mark.parametrize(
    ("path", "expected"),
    [("m.fc.weight", (4, 3)), ("d['k'][1]", (2,)), ("t[1]", (5,)), ("m.fc.weight.grad", (4, 3))],
)
def test_paths_resolve_to_the_same_objects_the_scan_named(
    path: str, expected: tuple[int, ...]
) -> None:
    m = torch.nn.Module()
    m.fc = torch.nn.Linear(3, 4)
    m.fc.weight.grad = torch.zeros(4, 3)
    frame = {"m": m, "d": {"k": [torch.ones(1), torch.ones(2)]}, "t": torch.ones(3, 5)}
    assert tuple(resolve_path(path, frame).shape) == expected


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("m.fc.weight()", "not a variable path"),
        ("m.__class__", "no stored attribute '__class__'"),
        ("open('/etc/passwd')", "not a variable path"),
        ("d[k]", "not a variable path"),
        ("t[7]", "out of range"),
        ("missing", "no variable named 'missing'"),
    ],
)
def test_anything_but_a_plain_path_is_refused(path: str, message: str) -> None:
    frame = {"m": torch.nn.Linear(2, 2), "d": {"k": 1}, "t": torch.ones(3)}
    with pytest.raises(PathError, match=message):
        resolve_path(path, frame)


def test_indexing_a_tensor_adds_nothing_to_the_autograd_graph() -> None:
    t = torch.ones(3, 5, requires_grad=True)
    row = resolve_path("t[1]", {"t": t})
    assert row.grad_fn is None and not row.requires_grad
    assert row.data_ptr() == t[1].data_ptr()  # a view, not a copy


def test_overlong_paths_are_refused_before_parsing() -> None:
    with pytest.raises(PathError, match="at most 2000 characters"):
        resolve_path("t" + "[0]" * 5000, {"t": torch.ones(1)})
