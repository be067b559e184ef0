"""``tensorpeek.agent.request`` in-process: snapshot contents, caps, the byte budget, breakpoints
and history from the real breakpoint engine, and the guest rules. Oracle: ``summarize``."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import torch
from torch import nn

from tensorpeek.agent import request
from tensorpeek.agent.params import dumps
from tensorpeek.debugger.presentation import clear_cache, quick_options
from tensorpeek.engine import api, history
from tensorpeek.engine.registry import REGISTRY
from tensorpeek.summary.tensor_summary import summarize


def call(method: str, frame_locals: dict[str, Any] | None = None, **params: Any) -> dict[str, Any]:
    if method == "snapshot":  # a loaded test machine must not make the budget drop tensors
        params.setdefault("time_budget_ms", 60_000)
    text = request(json.dumps({"version": 1, "method": method, "params": params}), frame_locals)
    return json.loads(text)  # type: ignore[no-any-return]


def result(method: str, frame_locals: dict[str, Any] | None = None, **params: Any) -> Any:
    reply = call(method, frame_locals, **params)
    assert reply["ok"], reply
    return reply["result"]


@pytest.fixture(autouse=True)
def clean_state() -> Iterator[None]:
    api.clear()
    history.clear()
    history.set_live_modules([])
    clear_cache()
    yield
    api.clear()
    history.clear()
    history.set_live_modules([])


@dataclass
class Batch:
    images: torch.Tensor
    labels: torch.Tensor


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(4, 8)
        self.fc2 = nn.Linear(8, 2)
        self.register_buffer("running", torch.zeros(8))

    @property
    def exploding_property(self) -> torch.Tensor:
        raise AssertionError("the scan must never call properties")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.relu(self.fc1(x)))


def sample_frame() -> dict[str, Any]:
    g = torch.Generator().manual_seed(7)
    net = Net()
    x = torch.randn(16, 4, generator=g)
    return {
        "self": net,
        "x": x,
        "batch": Batch(torch.rand(2, 3, 8, 8, generator=g), torch.arange(2)),
        "outs": [torch.randn(3, generator=g), (torch.ones(2),)],
        "cfg": {"scale": torch.tensor(2.0), "deep": {"deeper": {"deepest": torch.zeros(1)}}},
        "x_again": x,
        "n": 3,
    }


def test_snapshot_lists_reachable_tensors_breadth_first_up_to_depth_two() -> None:
    frame = sample_frame()
    snap = result("snapshot", frame)
    names = [t["name"] for t in snap["tensors"]]
    assert names[0] == "x"  # locals first, then depth 1, then depth 2
    assert names.index("self.running") < names.index("self.fc1.weight")
    assert set(names) == {
        "x", "self.running", "self.fc1.weight", "self.fc1.bias", "self.fc2.weight",
        "self.fc2.bias", "batch.images", "batch.labels", "outs[0]", "outs[1][0]",
        "cfg['scale']",
    }  # fmt: skip
    # cfg['deep']['deeper']['deepest'] is depth 3
    assert next(t for t in snap["tensors"] if t["name"] == "x")["aliases"] == ["x_again"]
    assert snap["hit"] is None and snap["breakpoints"] == [] and snap["layers"] == []
    assert snap["truncated"] is False and snap["version"] == 1


def test_each_tensor_carries_the_quick_summary_and_grad_summary() -> None:
    frame = sample_frame()
    frame["self"].fc1.weight.grad = torch.full((8, 4), 0.25)
    snap = result("snapshot", frame, bins=16)
    by_name = {t["name"]: t for t in snap["tensors"]}
    for name, value in [("x", frame["x"]), ("batch.images", frame["batch"].images)]:
        assert by_name[name]["summary"] == summarize(value, **quick_options(16)).to_dict()
        assert len(by_name[name]["summary"]["hist"]["counts"]) == 16
    assert by_name["self.fc1.weight"]["grad"]["mean"] == pytest.approx(0.25)
    assert "grad" not in by_name["x"]


def test_depth_and_count_caps_are_respected_and_reported() -> None:
    frame = {f"t{i}": torch.full((2,), float(i)) for i in range(250)}
    snap = result("snapshot", frame, max_tensors=200)
    assert len(snap["tensors"]) == 200 and snap["truncated"] is True
    assert [t["name"] for t in snap["tensors"][:3]] == ["t0", "t1", "t2"]
    shallow = result("snapshot", sample_frame(), max_depth=0)
    assert {t["name"] for t in shallow["tensors"]} == {"x"}


def test_default_reply_stays_under_256_kb_by_trimming_with_a_note() -> None:
    frame = {f"t{i}": torch.randn(64) for i in range(200)}
    params = {"bins": 256, "time_budget_ms": 60_000}
    text = request(json.dumps({"version": 1, "method": "snapshot", "params": params}), frame)
    assert len(text.encode()) <= 256 * 1024
    snap = json.loads(text)["result"]
    assert snap["truncated"] is True and 0 < len(snap["tensors"]) < 200
    assert any("left out to fit 262144 bytes" in n for n in snap["notes"])


def test_snapshot_leaves_values_versions_rng_and_autograd_untouched() -> None:
    frame = sample_frame()
    w = frame["self"].fc1.weight
    before = (w._version, w.detach().clone(), torch.get_rng_state())
    hooks_before = dict(torch.nn.modules.module._global_forward_hooks)
    result("snapshot", frame)
    result("detail", frame, expression="self.fc1.weight")
    assert w._version == before[0] and torch.equal(w, before[1])
    assert torch.equal(torch.get_rng_state(), before[2])
    assert w.grad is None and w.grad_fn is None
    assert dict(torch.nn.modules.module._global_forward_hooks) == hooks_before


def test_hit_and_layers_come_from_the_breakpoint_engine() -> None:
    torch.manual_seed(0)
    net = Net()
    api.set_breakpoints(
        [{"target": "fc2", "site": "output", "condition": "norm > 0", "action": "record"}]
    )
    for _ in range(3):
        net(torch.randn(5, 4))
    hit = api.hits()[-1]
    snap = result("snapshot", {"self": net, "hit": hit})
    assert snap["hit"] == json.loads(json.dumps(hit.to_dict()))
    assert snap["hit"]["module"] == "fc2" and snap["hit"]["site"] == "output"
    [info] = snap["breakpoints"]
    assert info["spec"] == "fc2:output:norm > 0" and info["hit_count"] == 3
    [layer] = snap["layers"]
    assert layer["module"] == "fc2"
    recorded = history.layer_history()["fc2"]["output"]
    assert layer["history"]["output"] == [
        {"step": p["step"], "stats": p["summary"]} for p in recorded
    ]
    assert layer["latest"]["output"] == layer["history"]["output"][-1]


def test_a_paused_hit_lists_its_module_parameters_with_their_gradients() -> None:
    torch.manual_seed(0)
    net = Net()
    net(torch.randn(5, 4)).sum().backward()
    api.set_breakpoints(
        [{"target": "fc2", "site": "output", "condition": "norm > 0", "action": "record"}]
    )
    net(torch.randn(5, 4))
    hit = api.hits()[-1]
    REGISTRY.paused.append(hit)  # what engine.pause does while the debugger is stopped at it
    try:
        snap = result("snapshot", {})
    finally:
        REGISTRY.paused.remove(hit)
    assert [p["name"] for p in snap["hit_params"]] == ["weight", "bias"]
    weight = snap["hit_params"][0]
    assert weight["summary"]["shape"] == list(net.fc2.weight.shape)
    assert weight["summary"]["norm"] == pytest.approx(
        float(net.fc2.weight.detach().norm()), rel=1e-5
    )
    assert net.fc2.weight.grad is not None
    assert weight["grad"]["norm"] == pytest.approx(float(net.fc2.weight.grad.norm()), rel=1e-5)
    assert "hit_params" not in result("snapshot", {"hit": hit}), "only while paused at the hit"


def test_the_model_tree_reaches_every_nested_parameter_and_its_gradient() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()), nn.Flatten(), nn.LazyLinear(2)
    )
    model(torch.randn(2, 3, 8, 8)).sum().backward()
    snap = result("snapshot", {"model": model, "step": 3})
    assert "model[0][0].weight" not in [t["name"] for t in snap["tensors"]], "deeper than depth 2"
    tree = snap["model"]
    assert tree["root"] == "model" and tree["module_class"] == "Sequential"
    assert [m["path"] for m in tree["modules"]] == [p for p, _ in model.named_modules()]
    assert [p["name"] for p in tree["params"]] == [n for n, _ in model.named_parameters()]
    conv = tree["params"][0]
    assert conv["name"] == "0.0.weight" and conv["module"] == "0.0"
    assert conv["expression"] == "model[0][0].weight" and conv["shape"] == [4, 3, 3, 3]
    weight = model[0][0].weight
    assert weight.grad is not None
    assert conv["stats"]["norm"] == pytest.approx(float(weight.detach().norm()), rel=1e-5)
    assert conv["grad"]["norm"] == pytest.approx(float(weight.grad.norm()), rel=1e-5)
    assert conv["stats"]["nonfinite"] == 0
    # the expression is one detail accepts
    assert result("detail", {"model": model}, expression=conv["expression"])["summary"][
        "shape"
    ] == [
        4,
        3,
        3,
        3,
    ]


def test_a_big_model_tree_is_cut_at_its_caps_and_to_the_byte_budget() -> None:
    model = nn.Sequential(*[nn.Linear(2, 2) for _ in range(400)])  # 800 parameters
    snap = result("snapshot", {"model": model})
    tree = snap["model"]
    assert len(tree["params"]) <= 500 and tree["truncated"] is True
    assert any("model" in note for note in snap["notes"])
    small = result("snapshot", {"model": model}, max_bytes=64 * 1024)
    assert len(small["model"]["params"]) < len(tree["params"])
    assert len(dumps(small)) <= 64 * 1024


def test_set_breakpoints_validates_everything_first_and_changes_nothing_on_error() -> None:
    ok = result("set_breakpoints", specs=["*:output:nonfinite"])
    assert ok["applied"] and [b["spec"] for b in ok["breakpoints"]] == ["*:output:nonfinite"]
    bad = result("set_breakpoints", specs=["fc1:output:nan", "fc1:nowhere:nan", 42])
    assert bad["applied"] is False
    assert [e["index"] for e in bad["errors"]] == [1, 2]
    assert "nowhere" in bad["errors"][0]["message"]
    assert [b.spec.__str__() for b in api.list_breakpoints()] == ["*:output:nonfinite"]
    assert result("breakpoints")["breakpoints"] == ok["breakpoints"]


def test_modules_lists_the_live_model_or_the_biggest_module_in_the_frame() -> None:
    net = Net()
    assert result("modules", {"self": net}) == {"modules": ["", "fc1", "fc2"], "source": "frame"}
    api.set_breakpoints(["*:output:nonfinite"])
    net(torch.randn(2, 4))
    assert result("modules", {}) == {"modules": ["", "fc1", "fc2"], "source": "live"}


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ("not json", "not valid JSON"),
        ('{"version": 2, "method": "snapshot"}', "unsupported protocol version 2"),
        ('{"version": 1, "method": "rm -rf"}', "unknown method 'rm -rf'"),
        ('{"version": 1, "method": "snapshot", "params": []}', "params must be a JSON object"),
        ('{"version": 1, "method": "snapshot", "params": {"max_bytes": 1}}', "max_bytes must"),
        ('{"version": 1, "method": "detail", "params": {}}', "params.expression"),
        ('{"version": 1, "method": "set_breakpoints", "params": {}}', "specs must be a list"),
    ],
)
def test_bad_requests_come_back_as_error_data(payload: str, message: str) -> None:
    reply = json.loads(request(payload, {}))
    assert reply["ok"] is False and message in reply["error"]["message"]


@pytest.mark.slow
def test_a_process_without_torch_gets_an_answer_without_importing_torch() -> None:
    code = (
        "import json, sys, numpy as np\n"
        "from tensorpeek.agent import request\n"
        "r = json.loads(request(json.dumps({'version': 1, 'method': 'snapshot'}), "
        "{'a': np.ones(3)}))\n"
        "print(json.dumps([r, 'torch' in sys.modules]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    reply, torch_loaded = json.loads(out.stdout)
    assert torch_loaded is False
    assert reply["ok"] and reply["result"]["tensors"] == []
    assert any("torch is not imported" in n for n in reply["result"]["notes"])


def test_every_method_reply_validates_against_the_committed_schema(repo_root: Any) -> None:
    import jsonschema

    schema = json.loads((repo_root / "docs" / "snapshot.schema.json").read_text())
    torch.manual_seed(0)
    net = Net()
    api.set_breakpoints(
        [{"target": "fc1", "site": "output", "condition": "norm > 0", "action": "record"}]
    )
    net(torch.randn(3, 4))
    frame = dict(sample_frame(), hit=api.hits()[-1])
    frame["self"].fc1.weight.grad = torch.ones(8, 4)
    calls = {
        "snapshot": {},
        "detail": {"expression": "batch.images"},
        "set_breakpoints": {"specs": ["*:output:nonfinite", "bad:site:nan"]},
        "breakpoints": {},
        "modules": {},
    }
    for method, params in calls.items():
        reply = call(method, frame, **params)
        jsonschema.validate(reply, schema)  # the envelope
        result_schema = dict(schema, **schema["x-methods"][method]["result"])
        jsonschema.validate(reply["result"], result_schema)
    heat = call("detail", frame, expression="self.fc1.weight")["result"]
    jsonschema.validate(heat, dict(schema, **schema["x-methods"]["detail"]["result"]))
    assert "heatmap" in heat


def test_past_the_time_budget_only_already_summarised_tensors_are_added() -> None:
    from tensorpeek.debugger.presentation import quick_summary

    frame = {"a": torch.randn(10), "b": torch.randn(20), "c": torch.randn(30)}
    quick_summary(frame["b"])  # e.g. the Variables view showed b at this stop
    snap = result("snapshot", frame, time_budget_ms=0)
    assert [t["name"] for t in snap["tensors"]] == ["b"]
    assert snap["truncated"] is True
    assert "2 of 3 tensors left out: the 0 ms summary budget was spent" in snap["notes"]
