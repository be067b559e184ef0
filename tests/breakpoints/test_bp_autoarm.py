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


def test_a_spec_list_whose_condition_divides_is_a_spec_list_not_a_path(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(autoarm.ENV_VAR, "*:output:nonfinite;*:output:norm / numel > 3")
    autoarm.arm()
    assert [str(bp.spec) for bp in api.list_breakpoints()] == [
        "*:output:nonfinite",
        "*:output:norm / numel > 3",
    ]
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("{tmp}/missing.json", ["missing.json does not exist", "nothing armed"]),
        ("{tmp}/bps.jsno", ["looks like a file path", "must end in .json"]),
        ("{tmp}/empty.json", ["empty.json holds no breakpoints"]),
        ("{tmp}/garbage.json", ["cannot read breakpoints file", "garbage.json"]),
        ("{tmp}/list.json", ['must hold {"breakpoints"']),
        ("{tmp}/deep.json", ["cannot read breakpoints file"]),
        ("{tmp}", ["cannot read breakpoints file"]),
        (" ; ;", ["holds no breakpoint spec"]),
        ("   ", ["is blank"]),
        ("*:output:nonfinite;fc2:output:", ["not applied", "condition", "empty"]),
        ("*:output:norm >\n 3", ["not applied", "not a valid expression"]),
    ],
)
def test_every_value_that_arms_nothing_says_why_in_exactly_one_line(
    value: str,
    says: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    watcher_cleanup: object,
) -> None:
    write_specs(tmp_path / "empty.json", [])
    (tmp_path / "garbage.json").write_text("{not json")
    (tmp_path / "list.json").write_text('["*:output:nan"]')
    (tmp_path / "deep.json").write_text("[" * 100_000)
    if value == "{tmp}":
        value = str(tmp_path / "dir.json")
        (tmp_path / "dir.json").mkdir()
    monkeypatch.setenv(autoarm.ENV_VAR, value.replace("{tmp}", str(tmp_path)))
    autoarm.arm()
    assert api.list_breakpoints() == []
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("tensorpeek: TENSORPEEK_BREAKPOINTS ")
    for words in says:
        assert words in lines[0], lines[0]


def test_a_missing_file_is_armed_once_it_appears(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    watcher_cleanup: object,
) -> None:
    path = tmp_path / "later.json"
    monkeypatch.setenv(autoarm.ENV_VAR, str(path))
    monkeypatch.setattr(autoarm, "POLL_INTERVAL_S", 0.0)
    autoarm.arm()
    model = MLP()
    model(torch.randn(2, 4))
    assert len(capsys.readouterr().err.splitlines()) == 1, "said once, not at every check"
    write_specs(path, [{"target": "fc2", "condition": "absmax >= 0", "action": "record"}])
    model(torch.randn(2, 4))
    assert [str(bp.spec) for bp in api.list_breakpoints()] == ["fc2:output:absmax >= 0"]
    assert [(h.module, h.site) for h in api.hits()] == [("fc2", "output")]
    assert capsys.readouterr().err == ""


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


@pytest.mark.slow
def test_pth_armed_run_captures_the_loss_curve(tmp_path: Path) -> None:
    """Armed by the variable alone (the VS Code launch path, plain torchrun), the training
    capture runs too: the losses the curves hold are the script's own ``loss.item()`` values,
    bit for bit, from step 0."""
    script = tmp_path / "train.py"
    script.write_text(
        "import json, torch\n"
        "torch.manual_seed(0)\n"
        "m = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))\n"
        "opt = torch.optim.SGD(m.parameters(), lr=0.05)\n"
        "mine = []\n"
        "for step in range(5):\n"
        "    loss = m(torch.randn(16, 4)).pow(2).mean()\n"
        "    opt.zero_grad(); loss.backward(); opt.step()\n"
        "    mine.append(loss.item())\n"
        "from tensorpeek.training.series import STORE\n"
        "print(json.dumps({'mine': mine, 'captured': STORE.snapshot().get('loss')}))\n"
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
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["captured"] == [[i, v] for i, v in enumerate(got["mine"])]
