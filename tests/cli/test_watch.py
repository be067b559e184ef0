"""``tensorpeek.watch``: what lands in TensorBoard (read back with tensorboard's own event
reader) and in the JSONL file, checked against the tensors themselves in float64; NaN/Inf
are counted, never dropped; no hook survives ``remove()``; training is not changed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch import nn
from torch.optim import optimizer as optim_module

import tensorpeek


def make_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 1))


def plant(grad: torch.Tensor, kind: str) -> torch.Tensor:
    """A gradient hook's replacement: partly NaN/Inf ("partial") or all NaN ("all")."""
    bad = grad.clone()
    if kind == "all":
        return bad.fill_(float("nan"))
    bad[0, :3] = float("nan")
    bad[0, 3] = float("inf")
    return bad


def train(
    model: nn.Module, steps: int, nan_at: int | None = None
) -> dict[int, dict[str, torch.Tensor]]:
    """Train; return each step's gradients (float64 copies) as the oracle. At ``nan_at`` the
    backward delivers NaN/Inf into the last layer's gradients; they are zeroed before the
    optimizer step so that later steps are clean again."""
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    gen = torch.Generator().manual_seed(1)
    grads: dict[int, dict[str, torch.Tensor]] = {}
    for step in range(steps):
        x = torch.randn(16, 6, generator=gen)
        loss = model(x).pow(2).mean()
        opt.zero_grad()
        handles = []
        if step == nan_at:
            handles = [
                model[2].weight.register_hook(lambda g: plant(g, "partial")),
                model[2].bias.register_hook(lambda g: plant(g, "all")),
            ]
        loss.backward()
        for h in handles:
            h.remove()
        grads[step] = {n: p.grad.detach().double().clone() for n, p in model.named_parameters()}
        if step == nan_at:
            for p in model.parameters():
                p.grad.nan_to_num_(0.0, 0.0, 0.0)
        opt.step()
    return grads


def read_events(log_dir: Path) -> EventAccumulator:
    acc = EventAccumulator(str(log_dir), size_guidance={"histograms": 0, "scalars": 0})
    acc.Reload()
    return acc


def test_gradient_histograms_and_scalars_read_back_from_tensorboard(tmp_path):
    model = make_model()
    handle = tensorpeek.watch(model, log="gradients", log_freq=3, log_dir=tmp_path)
    grads = train(model, 10)
    handle.remove()
    acc = read_events(tmp_path)
    tags = acc.Tags()
    assert set(tags["histograms"]) == {
        f"gradients/{n}" for n in ("0.weight", "0.bias", "2.weight", "2.bias")
    }
    events = acc.Histograms("gradients/0.weight")
    assert [e.step for e in events] == [0, 3, 6, 9]
    for e in events:
        g = grads[e.step]["0.weight"]
        h = e.histogram_value
        assert h.num == g.numel() and sum(h.bucket) == g.numel()
        assert h.min == pytest.approx(g.min().item(), rel=1e-6)
        assert h.max == pytest.approx(g.max().item(), rel=1e-6)
        assert h.sum == pytest.approx(g.sum().item(), rel=1e-5, abs=1e-9)
        assert h.sum_squares == pytest.approx(g.pow(2).sum().item(), rel=1e-5)
    norms = {s.step: s.value for s in acc.Scalars("gradients/0.weight/norm")}
    assert norms == pytest.approx(
        {s: grads[s]["0.weight"].norm().item() for s in (0, 3, 6, 9)}, rel=1e-5
    )
    assert {s.value for s in acc.Scalars("gradients/0.weight/nan")} == {0.0}


def test_nan_and_inf_are_counted_and_shown_not_dropped(tmp_path):
    model = make_model()
    handle = tensorpeek.watch(model, log="gradients", log_freq=2, log_dir=tmp_path)
    train(model, 5, nan_at=2)
    handle.remove()
    acc = read_events(tmp_path)
    nan = {s.step: s.value for s in acc.Scalars("gradients/2.weight/nan")}
    inf = {s.step: s.value for s in acc.Scalars("gradients/2.weight/inf")}
    assert nan == {0: 0.0, 2: 3.0, 4: 0.0} and inf == {0: 0.0, 2: 1.0, 4: 0.0}
    # the histogram of step 2 still shows the finite values (4 of 8), the writer kept going
    h = {e.step: e.histogram_value for e in acc.Histograms("gradients/2.weight")}
    assert sorted(h) == [0, 2, 4] and h[2].num == 4
    # an all-NaN tensor has no histogram at that step but its NaN count is there
    assert {s.step: s.value for s in acc.Scalars("gradients/2.bias/nan")}[2] == 1.0
    assert [e.step for e in acc.Histograms("gradients/2.bias")] == [0, 4]
    lines = [json.loads(x) for x in (tmp_path / "tensorpeek-watch.jsonl").read_text().splitlines()]
    bias2 = next(r for r in lines if r["name"] == "2.bias" and r["step"] == 2)
    assert bias2["summary"]["nan"] == 1 and bias2["summary"]["min"] is None


def test_parameters_and_activations_in_jsonl_every_log_freq_steps(tmp_path):
    model = make_model()
    with tensorpeek.watch(model, log="all", log_freq=4, log_dir=tmp_path, tensorboard=False) as h:
        train(model, 9)
    assert not list(tmp_path.glob("events.out.tfevents*")), "tensorboard=False: JSONL only"
    records = [json.loads(x) for x in h.jsonl_path.read_text().splitlines()]
    by_kind: dict[str, set[tuple[int, str]]] = {}
    for r in records:
        by_kind.setdefault(r["kind"], set()).add((r["step"], r["name"]))
    steps = (0, 4, 8)
    params = ("0.weight", "0.bias", "2.weight", "2.bias")
    assert by_kind["parameters"] == {(s, n) for s in steps for n in params}
    assert by_kind["gradients"] == {(s, n) for s in steps for n in params}
    assert by_kind["activations"] == {(s, n) for s in steps for n in ("0", "1", "2", "<root>")}
    relu = next(r for r in records if r["kind"] == "activations" and r["name"] == "1")
    assert relu["summary"]["shape"] == [16, 8] and relu["summary"]["min"] >= 0


def test_remove_leaves_no_hooks_and_training_is_unchanged(tmp_path):
    post_hooks = len(optim_module._global_optimizer_post_hooks)
    plain, watched = make_model(), make_model()
    train(plain, 6)
    rng = torch.get_rng_state()
    handle = tensorpeek.watch(watched, log="all", log_freq=1, log_dir=tmp_path)
    train(watched, 6)
    assert torch.equal(torch.get_rng_state(), rng), "watch never touches the global RNG"
    handle.remove()
    for a, b in zip(plain.parameters(), watched.parameters(), strict=True):
        assert torch.equal(a, b), "bit-identical training"
    for m in watched.modules():
        assert not m._forward_hooks and not m._forward_pre_hooks
    assert all(not p._post_accumulate_grad_hooks for p in watched.parameters())
    assert len(optim_module._global_optimizer_post_hooks) == post_hooks
    handle.remove()  # idempotent


def test_without_an_optimizer_steps_are_forward_calls(tmp_path):
    model = make_model()
    with (
        tensorpeek.watch(
            model, log="parameters", log_freq=2, log_dir=tmp_path, tensorboard=False
        ) as h,
        torch.no_grad(),
    ):
        for _ in range(5):
            model(torch.randn(2, 6))
    steps = {json.loads(x)["step"] for x in h.jsonl_path.read_text().splitlines()}
    assert steps == {0, 2, 4}


def test_watch_returns_a_watch_handle_and_rejects_bad_arguments(tmp_path):
    import tensorpeek.watcher as watch_module

    model = make_model()
    with tensorpeek.watch(model, log_dir=tmp_path, tensorboard=False) as h:
        assert isinstance(h, watch_module.Watch)
    with pytest.raises(
        ValueError, match="log must be one of gradients, parameters, activations, all"
    ):
        tensorpeek.watch(model, log="grads")
    with pytest.raises(ValueError, match="log_freq must be a positive integer"):
        tensorpeek.watch(model, log_freq=0)
    with pytest.raises(TypeError, match=r"needs a torch\.nn\.Module"):
        tensorpeek.watch("model")


def test_an_eval_forward_first_does_not_use_up_the_steps_gradient_log(tmp_path):
    model = make_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    with tensorpeek.watch(model, log="all", log_freq=2, log_dir=tmp_path, tensorboard=False) as h:
        for _ in range(4):
            with torch.no_grad():
                model(torch.randn(3, 6))  # validation first
            loss = model(torch.randn(16, 6)).pow(2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    records = [json.loads(x) for x in h.jsonl_path.read_text().splitlines()]
    grads = {(r["step"], r["name"]) for r in records if r["kind"] == "gradients"}
    assert grads == {(s, n) for s in (0, 2) for n in ("0.weight", "0.bias", "2.weight", "2.bias")}
    acts = {r["summary"]["shape"][0] for r in records if r["kind"] == "activations"}
    assert acts == {3}, "activations come from the first forward of the step (here: eval)"
