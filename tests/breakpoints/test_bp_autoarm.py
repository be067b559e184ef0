"""Arming from ``TENSORPEEK_BREAKPOINTS`` (no code change): a spec list or a JSON file that is
re-read when it changes, installed by the distribution's .pth file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from bp_models import MLP

import tensorpeek
from tensorpeek.engine import api, autoarm
from tensorpeek.engine.hooks import HOOKS
from tensorpeek.engine.registry import REGISTRY


@pytest.fixture
def watcher_cleanup() -> object:
    yield
    REGISTRY.root_listeners.clear()
    REGISTRY.changed()


def write_specs(path: Path, specs: list[object]) -> None:
    path.write_text(json.dumps({"breakpoints": specs}))
    stamp = time.time() + len(specs)  # a distinct mtime even on coarse file-system clocks
    os.utime(path, (stamp, stamp))


def test_spec_list_in_the_variable_arms_each_spec(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(autoarm.ENV_VAR, "*:output:nonfinite; fc*:grad_output:norm > 1e3")
    autoarm.arm()
    assert [str(bp.spec) for bp in api.list_breakpoints()] == [
        "*:output:nonfinite",
        "fc*:grad_output:norm > 1e3",
    ]


def test_a_bad_spec_in_the_variable_is_reported_and_arms_nothing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(autoarm.ENV_VAR, "*:output:nonfinite;*:output:stdev > 1")
    autoarm.arm()
    assert api.list_breakpoints() == []
    err = capsys.readouterr().err
    assert "TENSORPEEK_BREAKPOINTS not applied" in err and "stdev" in err and "absmax" in err


def test_json_file_is_reread_when_it_changes_and_bad_content_keeps_the_old_set(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    watcher_cleanup: object,
) -> None:
    path = tmp_path / "bps.json"
    write_specs(path, [])
    monkeypatch.setenv(autoarm.ENV_VAR, str(path))
    monkeypatch.setattr(autoarm, "POLL_INTERVAL_S", 0.0)
    autoarm.arm()
    assert api.list_breakpoints() == [] and HOOKS.installed  # watching, nothing armed
    in_code = tensorpeek.break_on("head", "param", action="raise")  # the script's own
    model = MLP()
    write_specs(
        path, [{"target": "fc2", "site": "output", "condition": "absmax >= 0", "action": "record"}]
    )
    model(torch.randn(2, 4))  # the root forward notices the change, then fc2 runs armed
    assert [(h.module, h.site) for h in api.hits()] == [("fc2", "output")]
    path.write_text("{not json")
    os.utime(path, (time.time() + 100, time.time() + 100))
    model(torch.randn(2, 4))
    assert "not applied" in capsys.readouterr().err
    armed = [str(bp.spec) for bp in api.list_breakpoints()]
    assert armed == ["head:param:nonfinite", "fc2:output:absmax >= 0"]  # the script's one stays
    assert in_code in api.list_breakpoints()


@pytest.mark.slow
def test_pth_arms_a_script_that_never_imports_tensorpeek(tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    script.write_text(
        "import torch\n"
        "m = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 1))\n"
        "with torch.no_grad():\n"
        "    m[1].weight.fill_(float('nan'))\n"
        "m(torch.ones(1, 2))\n"
        "print('not reached')\n"
    )
    env = {**os.environ, autoarm.ENV_VAR: "*:output:nonfinite"}
    out = subprocess.run(
        [sys.executable, str(script)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert out.returncode != 0 and "not reached" not in out.stdout
    assert "TensorBreakpointError" in out.stderr and "1 (Linear) output at step 0" in out.stderr


@pytest.mark.slow
def test_pdb_action_stops_real_pdb_where_hit_tensor_and_module_are_locals(tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    script.write_text(
        "import torch, tensorpeek\n"
        "m = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 1))\n"
        "with torch.no_grad():\n"
        "    m[1].weight.fill_(float('nan'))\n"
        "tensorpeek.break_on(m, action='pdb')\n"
        "m(torch.ones(1, 2))\n"
        "print('resumed')\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in (autoarm.ENV_VAR, "PYTHONBREAKPOINT")}
    commands = "p (hit.module, hit.site, hit.step)\np type(module).__name__\np tensor.shape\nc\n"
    out = subprocess.run(
        [sys.executable, str(script)],
        env=env,
        input=commands,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "('1', 'output', 0)" in out.stdout and "'Linear'" in out.stdout
    assert "torch.Size([1, 1])" in out.stdout and out.stdout.rstrip().endswith("resumed")
    assert "1 (Linear) output at step 0" in out.stderr  # the hit report printed before pdb
