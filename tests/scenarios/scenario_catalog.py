"""The scenario scripts and what each one declares about itself.

Every ``scripts/*.py`` states, as module-level literals read here with ``ast`` (without running
it), the answer derived by hand in its docstring:
- ``EXPECTED``: ``None`` for a healthy run; otherwise the first error's ``module``, ``site``
  and ``step``, plus optional checks: ``message`` (words the error's message must contain),
  ``once`` (the origin is hit once), ``warning`` (a warning finding, or a Python warning
  from tensorpeek during the run, must contain one of these words), ``no_origin_class``
  (no non-finite origin hit on a module of that class);
- ``ORACLE``: how the reference detector (``scenario_oracle``) can follow it: ``"full"``,
  ``"forward"`` (no backward hooks: in-place ops or reentrant checkpointing) or ``"none"``;
- optionally ``FORBIDDEN_KINDS`` (finding kinds a healthy run must not produce), ``AMP``
  (``"routine"`` or ``"collapse"``: GradScaler scenarios) and ``KEEP_GOING`` (run doctor with
  ``--keep-going``, so that what happens after the first error in its step is seen too).
A healthy script prints ``scenario steps=N``, its own count of training steps, at the end;
a GradScaler script also prints ``scenario skipped=[...]``, the steps its scaler skipped.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCRIPTS_DIR = Path(__file__).parent / "scripts"
_DECLARED = ("EXPECTED", "ORACLE", "FORBIDDEN_KINDS", "AMP", "KEEP_GOING")


@dataclass(frozen=True)
class Scenario:
    path: Path
    expected: dict[str, Any] | None
    oracle: str
    forbidden_kinds: tuple[str, ...] = ()
    amp: str | None = None
    keep_going: bool = False

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def healthy(self) -> bool:
        return self.expected is None


def _declarations(path: Path) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name) and target.id in _DECLARED:
                found[target.id] = ast.literal_eval(node.value)
    return found


def load(path: Path) -> Scenario:
    d = _declarations(path)
    if "EXPECTED" not in d or d.get("ORACLE") not in ("full", "forward", "none"):
        raise ValueError(f"{path.name} must declare EXPECTED and ORACLE")
    return Scenario(
        path=path,
        expected=d["EXPECTED"],
        oracle=d["ORACLE"],
        forbidden_kinds=tuple(d.get("FORBIDDEN_KINDS", ())),
        amp=d.get("AMP"),
        keep_going=bool(d.get("KEEP_GOING", False)),
    )


def all_scenarios() -> list[Scenario]:
    return [load(p) for p in sorted(SCRIPTS_DIR.glob("*.py"))]


def printed(stdout: str, key: str) -> Any:
    """The value of the script's last ``scenario KEY=VALUE`` line (``None`` when absent)."""
    values = re.findall(rf"^scenario {key}=(.*)$", stdout, flags=re.MULTILINE)
    return ast.literal_eval(values[-1]) if values else None
