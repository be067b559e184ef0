"""Every terminal output escapes the control characters of strings that come from user code
or files (module paths, class names, labels, checkpoint keys): an ESC sequence shows as
``\\x1b[...`` and cannot erase lines, move the cursor or set the window title."""

from __future__ import annotations

import pytest

from tensorpeek.common.terminal_text import terminal_safe
from tensorpeek.engine.hit import hit_text, where_text
from tensorpeek.report.model import Finding, Report
from tensorpeek.report.terminal import format_findings

EVIL = "enc\x1b[1A\x1b[2K\x1b]0;owned\x07\x9b\x7f\u202e\nx"
SHOWN = r"enc\x1b[1A\x1b[2K\x1b]0;owned\x07\x9b\x7f\u202e\nx"
CONTROL = set(range(0x20)) - {ord("\n")} | {0x7F} | set(range(0x80, 0xA0)) | {0x202E}


def raw_controls(text: str) -> set[int]:
    return {ord(c) for c in text} & CONTROL


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("plain.module.path", "plain.module.path"),
        ("naïve 中文 ✗ ▁▂█", "naïve 中文 ✗ ▁▂█"),  # printable text stays readable
        ("\x1b[2K", r"\x1b[2K"),
        ("\x00\x07\x08\t\r\n\x1f", r"\x00\x07\x08\t\r\n\x1f"),
        ("\x7f\x80\x9b\x9f", r"\x7f\x80\x9b\x9f"),
        ("\u200b\u202e\u2028", r"\u200b\u202e\u2028"),
    ],
)
def test_terminal_safe_escapes_c0_c1_del_and_format_characters_only(raw: str, shown: str) -> None:
    assert terminal_safe(raw) == shown


def evil_hit() -> dict:
    return {
        "breakpoint": 1,
        "spec": {"target": EVIL, "site": "output", "condition": "nonfinite"},
        "module": EVIL,
        "module_class": "Evil\x1b]0;t\x07",
        "site": "output",
        "step": 3,
        "condition": "nonfinite",
        "origin": True,
        "param": None,
        "label": "out\x1b[2J",
        "deferred": False,
        "summary": None,
        "inputs": [],
    }


def test_hit_text_escapes_module_paths_class_names_and_labels() -> None:
    text = hit_text(evil_hit())
    assert not raw_controls(text)
    assert len(text.splitlines()) == 2, "no line of the hit comes from the module path"
    assert SHOWN in text and r"Evil\x1b]0;t\x07" in text and r"[out\x1b[2J]" in text
    assert where_text(evil_hit()).startswith(SHOWN)


def test_doctor_findings_escape_what_comes_from_user_code() -> None:
    finding = Finding(
        kind="nonfinite",
        module=EVIL,
        site="output",
        step=2,
        severity="error",
        message=f"NaN×1 first appear in the output of {EVIL} (Evil) at step 2",
        summary=None,
        param="w\x1b[2K",
    )
    text = format_findings(Report("train.py", "doctor", ["train.py"], findings=[finding]))
    assert not raw_controls(text)
    assert SHOWN in text and r"[w\x1b[2K]" in text
    assert len(text.splitlines()) == 3, "head, the finding, its message"
