"""The pydevd plugin is found wherever tensorpeek is installed: from the editable install
(``py_backend`` on ``sys.path`` through the editable ``.pth``) and from a built wheel in a
scratch environment's site-packages. It never imports torch into a process without it."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from support.dap_client import DapSession, marked_line

pytestmark = pytest.mark.slow

FIXTURES = Path(__file__).resolve().parent / "fixtures"
REPO = Path(__file__).resolve().parents[2]


def _site_packages(venv: Path) -> Path:
    return Path(sysconfig.get_paths(vars={"base": str(venv), "platbase": str(venv)})["purelib"])


@pytest.fixture(scope="module")
def wheel_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv with tensorpeek installed from a freshly built wheel; torch, numpy and debugpy
    come from the project venv through a path-only .pth (which does not run the editable
    install's .pth, so the repository's py_backend stays invisible)."""
    root = tmp_path_factory.mktemp("wheel")
    pip = [sys.executable, "-m", "pip"]
    build = [*pip, "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(root), str(REPO)]
    subprocess.run(build, check=True, timeout=300)
    wheel = next(root.glob("tensorpeek-*.whl"))
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = _site_packages(venv)
    (site / "project_venv.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    python = venv / "bin" / "python"
    install = [*pip, "--python", str(python), "install", "--no-deps", "-q", str(wheel)]
    subprocess.run(install, check=True, timeout=300)
    return python


def _locals_at_stop(script: Path, python: str | None = None) -> dict[str, str]:
    with DapSession(python) as dap:
        _, frame_id = dap.run_to_breakpoint(script, [marked_line(script, "stop")], timeout=60)
        return {name: v["value"] for name, v in dap.locals(frame_id).items()}


def test_editable_install_puts_the_plugin_on_sys_path() -> None:
    code = "import pydevd_plugins.extensions.pydevd_plugin_tensorpeek as p; print(p.__file__)"
    pydevd_root = Path(__import__("debugpy").__file__).parent / "_vendored" / "pydevd"
    out = subprocess.run(
        [sys.executable, "-c", f"import sys; sys.path.append({str(pydevd_root)!r}); {code}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert out.stdout.strip() == str(
        REPO / "py_backend" / "pydevd_plugins" / "extensions" / "pydevd_plugin_tensorpeek.py"
    )


def test_wheel_install_shows_summaries_in_the_variables_view(wheel_python: Path) -> None:
    plugin = _site_packages(wheel_python.parent.parent) / "pydevd_plugins" / "extensions"
    assert (plugin / "pydevd_plugin_tensorpeek.py").exists()
    values = _locals_at_stop(FIXTURES / "frame_tensors.py", python=str(wheel_python))
    assert values["x"].startswith("tensor[32, 256] f32")
    assert values["w"].startswith("param[4, 4] f32")


def test_a_process_without_torch_keeps_numpy_display_and_never_loads_torch() -> None:
    script = FIXTURES / "numpy_only.py"
    with DapSession() as dap:
        _, frame_id = dap.run_to_breakpoint(script, [marked_line(script, "stop")], timeout=60)
        arr = dap.locals(frame_id)["arr"]
        assert arr["value"].startswith("array([[0., 1., 2.],")  # pydevd's own text
        assert "min" in {v["name"] for v in dap.variables(arr["variablesReference"])}
        assert dap.evaluate("arr", frame_id, context="hover")["result"].startswith("array(")
        probe = dap.evaluate("'torch' in __import__('sys').modules", frame_id, context="repl")
        assert probe["result"] == "False"


def test_wheel_carries_the_fused_kernel(wheel_python: Path) -> None:
    from tensorpeek.summary import native

    if not native.available():  # no C compiler here: the wheel is pure Python (tested above)
        pytest.skip(native.status())
    code = "from tensorpeek.summary import native; print(native.status())"
    out = subprocess.run(
        [str(wheel_python), "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    status = out.stdout.strip()
    assert status.startswith("fused reduction kernel loaded from "), status
    assert str(wheel_python.parent.parent) in status  # the wheel's copy, not the repository's
