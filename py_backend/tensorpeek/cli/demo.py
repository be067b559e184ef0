"""``tensorpeek demo``: the README's first command. Shows, in a few seconds on a CPU,
``doctor`` naming the layer and step where a bundled training script's planted bug turns into
NaN (``demo_scripts/planted_nan.py``), then ``inspect`` flagging a NaN planted in a saved
state dict of the same model.

Exit code 0 when both found exactly what was planted (the demo checks itself), 1 otherwise.
"""

from __future__ import annotations

import importlib.resources
import json
import sys
import time
from pathlib import Path

import torch

from tensorpeek.cli.doctor import DoctorOptions, doctor_main
from tensorpeek.cli.inspect_checkpoint import inspect_checkpoint, inspect_main

PLANTED_MODULE = "blocks.0.norm"
PLANTED_WEIGHT = "blocks.1.proj.weight"


def demo_script() -> Path:
    """The bundled training script's path (inside the installed package)."""
    return Path(str(importlib.resources.files("tensorpeek.cli.demo_scripts") / "planted_nan.py"))


def write_checkpoint(path: Path) -> None:
    """A state dict of the demo model with one NaN planted in ``PLANTED_WEIGHT``."""
    from tensorpeek.cli.demo_scripts.planted_nan import Classifier

    gen_state = torch.random.get_rng_state()
    torch.manual_seed(0)
    state = Classifier().state_dict()
    torch.random.set_rng_state(gen_state)
    state[PLANTED_WEIGHT][3, 5] = float("nan")
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)


def demo_main(out: Path) -> int:
    from tensorpeek.cli.demo_scripts.planted_nan import BAD_STEP

    script = demo_script()
    report_path, html_path = out / "doctor-report.json", out / "doctor-report.html"
    print(f"$ tensorpeek doctor {script.name} --report {report_path} --html {html_path}")
    print(
        f"  (planted: RMSNorm without epsilon at {PLANTED_MODULE}; a zero row at step {BAD_STEP})"
    )
    started = time.monotonic()
    doctor_main(DoctorOptions(script, [], report_path=report_path, html_path=html_path))
    findings = json.loads(report_path.read_text())["findings"]
    first = findings[0] if findings else None
    caught = bool(
        first
        and first["module"] == PLANTED_MODULE
        and first["step"] == BAD_STEP
        and first["kind"] == "nonfinite"
    )
    took = time.monotonic() - started
    verdict = "caught" if caught else "MISSED"
    print(f"doctor {verdict} the planted bug at {PLANTED_MODULE}, step {BAD_STEP} ({took:.1f} s)\n")
    sys.stdout.flush()

    checkpoint = out / "demo_checkpoint.pt"
    write_checkpoint(checkpoint)
    print(f"$ tensorpeek inspect {checkpoint}   (one NaN planted in {PLANTED_WEIGHT})")
    sys.stdout.flush()
    inspect_main(checkpoint)
    flagged = [f.name for f in inspect_checkpoint(checkpoint) if f.severity == "error"]
    ok = caught and flagged == [PLANTED_WEIGHT]
    print(f"\ninspect flagged {', '.join(flagged) or 'nothing'}")
    print(f"demo {'OK' if ok else 'FAILED'}: reports in {out}/")
    return 0 if ok else 1
