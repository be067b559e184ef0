"""Tensor breakpoints under a real debugger: debugpy's adapter over stdio (the same one VS Code
starts) runs an unmodified training script armed only by ``TENSORPEEK_BREAKPOINTS``; the
debugger must stop in a frame where ``hit``, ``tensor`` and ``module`` are locals, at the right
module and step, with ``justMyCode`` on and off, also when tensorpeek is a built wheel in
site-packages; ``continue`` must run the script to a clean exit."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from support.dap_client import DapSession

SCRIPT = Path(__file__).resolve().parent / "scripts" / "train_bad_step.py"
REPO = Path(__file__).resolve().parents[2]
TIMEOUT = 60.0


def run_until_tensor_breakpoint(
    dap: DapSession,
    spec: str,
    scenario: str,
    just_my_code: bool,
    python: str | None = None,
    cache: Path | None = None,
    thread: bool = False,
) -> tuple[int, int, dict]:
    env = {"TENSORPEEK_BREAKPOINTS": spec, "TP_SCENARIO": scenario, "TP_BAD_STEP": "3"}
    if thread:
        env["TP_THREAD"] = "1"
    if cache is not None:
        env["TENSORPEEK_CACHE_DIR"] = str(cache)
    dap.initialize()
    dap.launch(SCRIPT, env=env, justMyCode=just_my_code, python=python, timeout=TIMEOUT)
    dap.configuration_done(TIMEOUT)
    stopped = dap.wait_for_event("stopped", TIMEOUT)
    thread_id = int(stopped["threadId"])
    top = dap.stack_trace(thread_id, TIMEOUT)[0]
    return thread_id, int(top["id"]), top


def check_stop(dap: DapSession, frame_id: int, top: dict, module: str, site: str) -> None:
    assert top["name"] == "tensor_breakpoint" and top["source"]["path"].endswith(
        "tensor_breakpoint.py"
    )
    assert Path(top["source"]["path"]).read_text().count("hit") >= 1  # the editor can show it
    local_names = set(dap.locals(frame_id, TIMEOUT))
    assert {"hit", "tensor", "module"} <= local_names
    where = dap.evaluate("(hit.module, hit.site, hit.step, hit.origin)", frame_id, timeout=TIMEOUT)[
        "result"
    ]
    assert where == f"('{module}', '{site}', 3, True)"
    module_class = dap.evaluate(
        "type(module).__name__ == hit.module_class", frame_id, timeout=TIMEOUT
    )
    assert module_class["result"] == "True"
    nonfinite = dap.evaluate("int((~tensor.isfinite()).sum())", frame_id, timeout=TIMEOUT)["result"]
    assert int(nonfinite) > 0
    current = dap.evaluate(
        "__import__('tensorpeek.engine.api').engine.api.current_hit() is hit",
        frame_id,
        timeout=TIMEOUT,
    )
    assert current["result"] == "True"


def check_stop_and_continue(
    dap: DapSession, thread_id: int, frame_id: int, top: dict, module: str, site: str
) -> None:
    check_stop(dap, frame_id, top, module, site)
    dap.continue_(thread_id, TIMEOUT)
    exited = dap.wait_for_event("exited", TIMEOUT)
    assert exited["exitCode"] == 0
    assert "training finished" in dap.output()


@pytest.mark.slow
@pytest.mark.parametrize("just_my_code", [True, False])
def test_forward_breakpoint_stops_at_the_origin_module_and_step(
    just_my_code: bool, tmp_path: Path
) -> None:
    with DapSession() as dap:
        thread_id, frame_id, top = run_until_tensor_breakpoint(
            dap, "*:output:nonfinite", "forward", just_my_code, cache=tmp_path
        )
        check_stop_and_continue(dap, thread_id, frame_id, top, "scale", "output")


@pytest.mark.slow
@pytest.mark.parametrize("thread", [False, True], ids=["main-thread", "worker-thread"])
def test_backward_breakpoint_stops_at_the_first_nonfinite_gradient(
    thread: bool, tmp_path: Path
) -> None:
    with DapSession() as dap:
        thread_id, frame_id, top = run_until_tensor_breakpoint(
            dap, "*:grad_output:nonfinite", "backward", True, cache=tmp_path, thread=thread
        )
        names = {t["id"]: t["name"] for t in dap.threads(TIMEOUT)}
        assert (names[thread_id] == "trainer") is thread  # stopped on the thread that trained
        check_stop_and_continue(dap, thread_id, frame_id, top, "fc1", "grad_output")


def _site_packages(venv: Path) -> Path:
    paths = sysconfig.get_paths(vars={"base": str(venv), "platbase": str(venv)})
    return Path(paths["purelib"])


@pytest.fixture(scope="module")
def wheel_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A scratch venv with tensorpeek installed from a freshly built wheel (non-editable, in
    its own site-packages); torch and debugpy come from the project venv through a path-only
    .pth, which does not run the editable install's finder, so the repo sources are invisible."""
    root = tmp_path_factory.mktemp("wheel")
    pip = [sys.executable, "-m", "pip"]
    build = [*pip, "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(root), str(REPO)]
    subprocess.run(build, check=True, timeout=300)
    wheel = next(root.glob("tensorpeek-*.whl"))
    venv = root / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120
    )
    site = _site_packages(venv)
    (site / "project_venv.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    python = venv / "bin" / "python"
    install = [*pip, "--python", str(python), "install", "--no-deps", "-q", str(wheel)]
    subprocess.run(install, check=True, timeout=300)
    return python


@pytest.mark.slow
def test_wheel_installed_in_site_packages_stops_with_just_my_code(
    wheel_venv: Path, tmp_path: Path
) -> None:
    site = _site_packages(wheel_venv.parent.parent)
    code = "import tensorpeek.engine.api as b, debugpy, torch; print(b.__file__)"
    probe = subprocess.run(
        [str(wheel_venv), "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert probe.stdout.strip() == str(
        site / "tensorpeek" / "engine" / "api.py"
    )  # not the repo's copy
    assert (site / "tensorpeek_autoarm.pth").exists()
    with DapSession() as dap:
        thread_id, frame_id, top = run_until_tensor_breakpoint(
            dap, "*:output:nonfinite", "forward", True, python=str(wheel_venv), cache=tmp_path
        )
        check_stop(dap, frame_id, top, "scale", "output")
        # library frames (tensorpeek, torch) are hidden: the user's forward is right below
        frames = dap.stack_trace(thread_id, TIMEOUT)
        assert [f["name"] for f in frames[:3]] == ["tensor_breakpoint", "forward", "main"]
        assert frames[1]["source"]["path"] == str(SCRIPT)
        dap.request("next", {"threadId": thread_id}, TIMEOUT)  # stepping leaves our frame...
        assert dap.wait_for_event("stopped", TIMEOUT)["reason"] == "step"
        after = dap.stack_trace(thread_id, TIMEOUT)[0]  # ...into the user's code
        assert (after["name"], after["source"]["path"]) == ("forward", str(SCRIPT))
        dap.continue_(thread_id, TIMEOUT)
        assert dap.wait_for_event("exited", TIMEOUT)["exitCode"] == 0


def test_unset_variable_imports_nothing_at_start_up() -> None:
    env = {k: v for k, v in os.environ.items() if k != "TENSORPEEK_BREAKPOINTS"}
    code = "import sys, torch; print(sorted(m for m in sys.modules if m.startswith('tensorpeek')))"
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.stdout.strip() == "[]"
