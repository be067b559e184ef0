"""The agent's ``training`` and ``step_layers`` methods over their JSON schema
(``docs/snapshot.schema.json``, ``docs/training-protocol.md``), with answers checked against
the training loop's own numbers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import torch
from models import ResNet
from torch import nn

import tensorpeek
from tensorpeek import agent
from tensorpeek.engine import api

SCHEMA = json.loads(
    (Path(__file__).resolve().parents[2] / "docs" / "snapshot.schema.json").read_text()
)


def ask(method: str, **params: Any) -> dict[str, Any]:
    reply = json.loads(
        agent.request(json.dumps({"version": 1, "method": method, "params": params}))
    )
    jsonschema.validate(reply, SCHEMA)
    return reply


def validate_result(method: str, result: Any) -> None:
    ref = SCHEMA["x-methods"][method]["result"]
    jsonschema.validate(result, {**SCHEMA, "$ref": ref["$ref"]})


def train(model: nn.Module, steps: int, nan_at: int | None = None) -> list[float]:
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    g = torch.Generator().manual_seed(3)
    losses = []
    for step in range(steps):
        x = torch.randn(8, 6, generator=g)
        if step == nan_at:
            with torch.no_grad():
                model.blocks[1].fc1.weight[0, 0] = float("nan")
        loss = model(x).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def test_training_gives_curves_spikes_and_graph_valid_against_the_schema() -> None:
    model = ResNet()
    tensorpeek.break_on(model, "output", "nonfinite", action="record")
    losses = train(model, 12)
    tensorpeek.log(step=11, accuracy=0.25)
    reply = ask("training")
    assert reply["ok"], reply
    result = reply["result"]
    validate_result("training", result)
    assert result["step"] == 12
    assert [v for _, v in result["scalars"]["loss"]] == losses
    assert result["scalars"]["lr"] == [[s, 0.01] for s in range(12)]
    assert result["scalars"]["accuracy"] == [[11, 0.25]]
    assert result["spikes"] == []
    health = {n["id"]: n["health"] for n in result["graph"]["nodes"]}
    assert set(health.values()) == {"healthy"}  # every module has history, none was hit


def test_graph_nodes_are_coloured_by_the_engines_hits() -> None:
    model = ResNet()
    tensorpeek.break_on(model, "output", "nonfinite", action="record")
    train(model, 4, nan_at=3)
    result = ask("training")["result"]
    validate_result("training", result)
    health = {n["id"]: n["health"] for n in result["graph"]["nodes"]}
    assert health["blocks.1.fc1"] == "origin"
    origin_hits = [h for h in api.hits() if h.origin]
    assert [h.module for h in origin_hits] == ["blocks.1.fc1"]
    assert health["blocks.1.act"] == "propagated" and health["head"] == "propagated"
    assert health["stem"] == "healthy" and health["blocks.0.fc2"] == "healthy"


def test_training_before_anything_was_captured_is_empty_not_an_error() -> None:
    result = ask("training")["result"]
    validate_result("training", result)
    assert result == {"step": None, "scalars": {}, "spikes": [], "graph": None}


def test_step_layers_gives_that_steps_layer_table() -> None:
    model = ResNet()
    tensorpeek.break_on(model, "output", "nonfinite", action="record")
    g = torch.Generator().manual_seed(5)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    norms: dict[int, float] = {}
    for step in range(6):
        out = model(torch.randn(8, 6, generator=g))
        norms[step] = float(torch.linalg.vector_norm(out.detach().double()))
        opt.zero_grad()
        out.square().mean().backward()
        opt.step()
    reply = ask("step_layers", step=2)
    assert reply["ok"], reply
    result = reply["result"]
    validate_result("step_layers", result)
    assert result["step"] == 2
    head = next(row for row in result["layers"] if row["module"] == "head")
    assert head["latest"]["output"]["step"] == 2
    assert head["latest"]["output"]["stats"]["norm"] == pytest.approx(norms[2], rel=1e-6)
    assert [p["step"] for p in head["history"]["output"]] == [0, 1, 2]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"step": 99}, "step_layers: step 99 is not in the layer history (it holds steps 0-2)"),
        ({"step": "2"}, "step_layers: step must be an integer, got '2'"),
        ({}, "step_layers: step must be an integer, got None"),
    ],
)
def test_step_layers_with_a_step_not_in_the_history_is_a_clear_error(params, message) -> None:
    model = ResNet()
    tensorpeek.break_on(model, "output", "nonfinite", action="record")
    train(model, 3)
    reply = ask("step_layers", **params)
    assert reply == {"version": 1, "ok": False, "error": {"message": message}}


def test_step_layers_with_no_history_says_how_to_get_one() -> None:
    reply = ask("step_layers", step=0)
    assert not reply["ok"]
    assert "nothing was recorded yet" in reply["error"]["message"]


def test_long_curves_are_thinned_to_fit_the_reply_keeping_the_last_point() -> None:
    from tensorpeek.training.series import STORE

    for step in range(3000):
        STORE.add("loss", step, 1.0 + (step % 7) / 10)
        for k in range(20):
            STORE.add(f"update_ratio/layer{k}", step, 0.001 * k)
    reply = ask("training", max_points=500)
    loss = reply["result"]["scalars"]["loss"]
    assert len(loss) <= 500 and loss[-1] == [2999, 1.0 + (2999 % 7) / 10] and loss[0][0] == 0
    small = ask("training", max_bytes=64 * 1024)
    assert small["ok"], small
    assert len(json.dumps(small)) <= 64 * 1024
    assert small["result"]["scalars"]["loss"][-1][0] == 2999
    bad = ask("training", max_points=1)
    assert bad["error"]["message"] == "max_points must be an integer between 2 and 100000, got 1"


def test_a_spike_names_the_layer_whose_update_ratio_jumped_first() -> None:
    torch.manual_seed(0)
    model = ResNet()
    tensorpeek.break_on(model, "output", "nonfinite", action="record")
    jumped = model.blocks[0].fc1
    own = list(jumped.parameters())
    rest = [p for p in model.parameters() if all(p is not q for q in own)]
    opt = torch.optim.SGD([{"params": own}, {"params": rest}], lr=0.01)
    g = torch.Generator().manual_seed(3)
    jump_step = 40  # a captured update-ratio step (every 10th), with 4 earlier ones to compare
    ratio = None
    for step in range(jump_step + 3):
        x = torch.randn(8, 6, generator=g)
        loss = model(x).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.param_groups[0]["lr"] = 200.0 if step == jump_step else 0.01  # one layer, one step
        before = [p.detach().double().clone() for p in own]
        opt.step()
        if step == jump_step:  # the oracle: the layer's own update ratio, in float64
            diff = sum(
                ((p.detach().double() - b) ** 2).sum() for p, b in zip(own, before, strict=True)
            )
            ratio = float(diff.sqrt() / sum((b**2).sum() for b in before).sqrt())
    result = ask("training")["result"]
    validate_result("training", result)
    (spike,) = result["spikes"]
    assert spike["step"] == jump_step + 1  # the first loss computed with the jumped weights
    moved = spike["moved"]
    assert [(m["layer"], m["scalar"], m["step"]) for m in moved] == [
        ("blocks.0.fc1", "update_ratio", jump_step)
    ]
    assert moved[0]["value"] == pytest.approx(ratio, rel=1e-5)
    assert moved[0]["value"] > 3 * moved[0]["median"]
