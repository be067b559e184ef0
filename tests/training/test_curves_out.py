"""The curves go where the user's other pictures go: TensorBoard event files beside
``watch()``'s histograms (read back with ``EventAccumulator``) and the active W&B run (offline
mode, read back from the run file with a reader written here: no network)."""

from __future__ import annotations

import glob
import json
import struct
import time
from pathlib import Path

import pytest
import torch
from models import batches, hooks_of, mlp
from torch import nn

import tensorpeek
from tensorpeek.common.steps import STEPS
from tensorpeek.training.series import STORE


def train(model: nn.Module, steps: int) -> list[float]:
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    losses = []
    for step, (x, y) in enumerate(batches(steps)):
        loss = nn.functional.mse_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        tensorpeek.log(step=step, accuracy=step / 10)
    return losses


def test_curves_are_scalars_beside_watchs_histograms_in_the_event_files(tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    model = mlp()
    handle = tensorpeek.watch(model, log="gradients", log_freq=5, log_dir=tmp_path)
    losses = train(model, 12)
    handle.remove()
    acc = EventAccumulator(str(tmp_path), size_guidance={"scalars": 0, "histograms": 0})
    acc.Reload()
    tags = acc.Tags()
    assert "gradients/0.weight" in tags["histograms"]
    loss = acc.Scalars("training/loss")
    assert [e.step for e in loss] == list(range(12))
    assert [e.value for e in loss] == pytest.approx(losses, rel=1e-6)  # stored as float32
    assert [e.value for e in acc.Scalars("training/accuracy")] == pytest.approx(
        [s / 10 for s in range(12)]
    )
    assert [e.value for e in acc.Scalars("training/lr")] == pytest.approx([0.05] * 12)
    assert len(acc.Scalars("training/grad_norm")) == 12
    assert [e.step for e in acc.Scalars("training/update_ratio/0")] == [0, 10]
    assert hooks_of(model) == 0 and not STEPS.counting
    assert STORE.sinks == []


def wandb_history(folder: Path) -> list[dict[str, object]]:
    """The history rows of an offline run, read from its ``.wandb`` file once W&B's service
    wrote the run's exit record into it (``finish()`` may return before that)."""
    deadline = time.monotonic() + 60
    while True:
        (path,) = glob.glob(str(folder / "wandb" / "offline-run-*" / "run-*.wandb"))
        kinds, rows = _read_run(Path(path).read_bytes())
        if "exit" in kinds or time.monotonic() > deadline:
            return rows
        time.sleep(0.2)


def _read_run(data: bytes) -> tuple[set[str], list[dict[str, object]]]:
    """A LevelDB-style log of 32 KiB blocks: a 7-byte header per chunk, the chunks of one
    record joined; each record a ``wandb_internal_pb2.Record``."""
    from wandb.proto import wandb_internal_pb2 as pb

    assert data[:4] == b":W&B"
    pos, block, records, partial = 7, 32768, [], b""
    while pos + 7 <= len(data):
        if block - pos % block < 7:
            pos += block - pos % block
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        if length == 0 and kind == 0:
            pos += block - pos % block
            continue
        chunk = data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind == 1:
            records.append(chunk)
        elif kind == 2:
            partial = chunk
        elif kind == 3:
            partial += chunk
        elif kind == 4:
            records.append(partial + chunk)
    rows, kinds = [], set()
    for raw in records:
        rec = pb.Record()
        rec.ParseFromString(raw)
        kinds.add(str(rec.WhichOneof("record_type")))
        if rec.WhichOneof("record_type") == "history":
            rows.append(
                {
                    i.key or "/".join(i.nested_key): json.loads(i.value_json)
                    for i in rec.history.item
                }
            )
    return kinds, rows


@pytest.mark.slow
def test_curves_go_to_the_active_wandb_run_in_offline_mode(tmp_path: Path, monkeypatch) -> None:
    wandb = pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_SILENT", "true")
    run = wandb.init(project="tensorpeek-test", dir=str(tmp_path))
    try:
        model = mlp()
        handle = tensorpeek.watch(
            model, log_freq=1000, tensorboard=False, wandb=True, log_dir=tmp_path
        )
        losses = train(model, 6)
        handle.remove()
    finally:
        run.finish()
    history = wandb_history(tmp_path)
    rows = [r for r in history if "tensorpeek/loss" in r]
    assert rows, history
    assert [r["tensorpeek/step"] for r in rows] == list(range(6))
    assert [r["tensorpeek/loss"] for r in rows] == losses  # JSON floats: bit for bit
    acc = [r["tensorpeek/accuracy"] for r in wandb_history(tmp_path) if "tensorpeek/accuracy" in r]
    assert acc == [s / 10 for s in range(6)]


def test_wandb_without_an_active_run_is_a_clear_error_that_changes_nothing(tmp_path) -> None:
    pytest.importorskip("wandb")
    model = mlp()
    with pytest.raises(RuntimeError, match=r"needs an active W&B run: call wandb.init\(\) first"):
        tensorpeek.watch(model, wandb=True, log_dir=tmp_path)
    assert hooks_of(model) == 0 and not STEPS.counting and STORE.sinks == []
