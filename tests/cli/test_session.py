"""In-process checks of the machinery behind ``run`` and ``doctor``: after a session every hook
it added is gone (even when the script raised or was stopped), and ``sys.argv``/``sys.path``
are restored."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch.nn.modules.module as nn_module
from cli_support import FIXTURES
from torch.optim import optimizer as optim_module

from tensorpeek.cli.doctor import DoctorOptions, run_doctor
from tensorpeek.engine import api
from tensorpeek.engine.registry import REGISTRY


def global_hook_counts() -> tuple[int, ...]:
    return (
        len(nn_module._global_forward_pre_hooks),
        len(nn_module._global_forward_hooks),
        len(optim_module._global_optimizer_pre_hooks),
        len(optim_module._global_optimizer_post_hooks),
        len(REGISTRY.root_listeners),
    )


@pytest.mark.parametrize(
    ("fixture", "args", "status"),
    [
        ("healthy.py", ["3"], "completed"),
        ("forward_nan_deep.py", [], "stopped"),
        ("raises.py", [], "failed"),
        ("healthy.py", ["50"], "stopped"),  # by max_steps below
    ],
)
def test_doctor_session_leaves_no_hooks_and_restores_argv_and_path(fixture, args, status):
    before = global_hook_counts()
    argv, path0 = list(sys.argv), sys.path[0]
    report, result = run_doctor(
        DoctorOptions(Path(FIXTURES / fixture), args, max_steps=5, progress=False)
    )
    assert result.status == status and report.status == status
    assert global_hook_counts() == before
    assert api.list_breakpoints() == []
    assert sys.argv == argv and sys.path[0] == path0
