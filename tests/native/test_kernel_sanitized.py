"""The kernel's C source under AddressSanitizer and UBSan: a driver (csrc/sanitize_driver.c)
reduces exactly-sized heap blocks of every kind, at every lane/chunk/thread boundary, so a
read one element past a block, or undefined behaviour, aborts the run. The kernel runs
inside a user's training process: a stray read there would be a crash of their program."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
KERNEL = REPO / "py_backend" / "tensorpeek" / "summary" / "csrc" / "reduce.c"
DRIVER = Path(__file__).parent / "csrc" / "sanitize_driver.c"


@pytest.mark.parametrize("opt", [["-O1"], ["-O3", "-DTP_CLONES"]], ids=["O1", "O3-clones"])
def test_kernel_is_clean_under_address_and_ub_sanitizers(tmp_path: Path, opt: list[str]) -> None:
    cc = shutil.which("cc")
    if cc is None:
        pytest.skip("no C compiler")
    exe = tmp_path / "driver"
    build = [
        cc, "-std=gnu11", "-fno-trapping-math", *opt, "-g", "-fno-omit-frame-pointer",
        "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
        "-o", str(exe), str(DRIVER), str(KERNEL), "-lpthread", "-lm",
    ]  # fmt: skip
    built = subprocess.run(build, capture_output=True, text=True, timeout=120, check=False)
    if built.returncode != 0 and "asan" in built.stderr.lower():
        pytest.skip(f"this compiler has no sanitizer runtime: {built.stderr[-300:]}")
    assert built.returncode == 0, built.stderr
    done = subprocess.run([str(exe)], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert int(done.stdout) == 4 * 11 * 3  # kinds x lengths x thread counts
