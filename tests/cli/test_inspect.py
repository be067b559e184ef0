"""``tensorpeek inspect``: one line per tensor (exactly ``str(summarize(t))``), non-finite
tensors flagged as errors (exit code 1), suspicious ones as warnings (exit code 0)."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from tensorpeek import summarize

pytestmark = pytest.mark.slow


def state_dict() -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    return {
        "embed.weight": torch.randn(10, 4, generator=gen),
        "fc.weight": torch.randn(4, 4, generator=gen),
        "fc.bias": torch.zeros(4),  # all-zero biases are normal: not flagged
        "norm.weight": torch.ones(4),
    }


def lines_by_name(stdout: str) -> dict[str, str]:
    out = {}
    for line in stdout.splitlines()[1:]:
        parts = line[2:].split(None, 1)
        if len(parts) == 2 and line[:1] in " ✗?":
            out[parts[0]] = parts[1].strip()
    return out


def test_clean_checkpoint_prints_each_summary_and_exits_zero(cli, tmp_path):
    sd = state_dict()
    path = tmp_path / "model.pt"
    torch.save(sd, path)
    proc = cli("inspect", path)
    assert proc.returncode == 0, proc.stderr
    lines = lines_by_name(proc.stdout)
    assert set(lines) == set(sd)
    for name, t in sd.items():
        assert lines[name] == str(summarize(t))
    assert "0 with non-finite values, 0 suspicious" in proc.stdout


def test_nan_and_inf_are_flagged_with_counts_and_fail_the_command(cli, tmp_path):
    sd = state_dict()
    sd["fc.weight"][1, 2] = float("nan")
    sd["embed.weight"][0, 0] = float("-inf")
    path = tmp_path / "model.pt"
    torch.save({"model": sd, "step": 7}, path)  # a nested training checkpoint
    proc = cli("inspect", path)
    assert proc.returncode == 1
    out = proc.stdout.splitlines()
    i = next(k for k, line in enumerate(out) if line.startswith("✗ model.fc.weight"))
    assert "^ error: non-finite: 1 NaN" in out[i + 1]
    j = next(k for k, line in enumerate(out) if line.startswith("✗ model.embed.weight"))
    assert "1 -Inf" in out[j + 1]
    assert "2 with non-finite values" in proc.stdout


def test_safetensors_and_suspicious_weights(cli, tmp_path):
    sd = state_dict()
    sd["fc.weight"] = torch.zeros(4, 4)  # a weight matrix of zeros: suspicious
    sd["embed.weight"] = sd["embed.weight"] * 1e6  # huge values: suspicious
    sd["head.weight"] = torch.randn(3, 4).to(torch.bfloat16)
    path = tmp_path / "model.safetensors"
    save_file(sd, str(path))
    proc = cli("inspect", path)
    assert proc.returncode == 0, "warnings do not fail the command"
    assert "? fc.weight" in proc.stdout and "weight matrix is all zeros" in proc.stdout
    assert "? embed.weight" in proc.stdout and "huge values" in proc.stdout
    assert lines_by_name(proc.stdout)["head.weight"] == str(summarize(sd["head.weight"]))
    assert "0 with non-finite values, 2 suspicious" in proc.stdout


def test_unreadable_files_are_clear_errors(cli, tmp_path):
    proc = cli("inspect", tmp_path / "missing.pt")
    assert proc.returncode == 2 and "checkpoint not found" in proc.stderr
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    proc = cli("inspect", junk)
    assert proc.returncode == 2 and "cannot read" in proc.stderr
    assert "Traceback" not in proc.stderr
    empty = tmp_path / "empty.pt"
    torch.save({"step": 3}, empty)
    proc = cli("inspect", empty)
    assert proc.returncode == 2 and "holds no tensors" in proc.stderr


CONTROL = frozenset(range(0x20)) | {0x7F} | frozenset(range(0x80, 0xA0))


def test_escape_sequences_in_keys_are_shown_escaped_and_cannot_hide_a_nan_flag(cli, tmp_path):
    sd = state_dict()
    sd["fc.weight"][0, 0] = float("nan")
    # erase the two lines above (the NaN flag), set the window title, a C1 CSI, DEL, a newline
    evil = "x\x1b[2A\x1b[2K\x1b]0;owned\x07\x9b2J\x7f\nfake ok"
    sd[evil] = torch.ones(2, 2) * torch.arange(2.0)
    path = tmp_path / "model.pt"
    torch.save(sd, path)
    proc = cli("inspect", path)
    assert proc.returncode == 1
    assert not CONTROL & {ord(c) for c in proc.stdout} - {ord("\n")}, "no raw control characters"
    assert len(proc.stdout.splitlines()) == 2 + len(sd) + 1, "the key adds no line of its own"
    shown = r"x\x1b[2A\x1b[2K\x1b]0;owned\x07\x9b2J\x7f\nfake ok"
    assert any(line.startswith(f"  {shown}") for line in proc.stdout.splitlines())
    out = proc.stdout.splitlines()
    i = next(k for k, line in enumerate(out) if line.startswith("✗ fc.weight"))
    assert "^ error: non-finite: 1 NaN" in out[i + 1], "the flag is still there, intact"


def test_a_checkpoint_nested_thousands_of_levels_deep_is_a_clear_error(cli, tmp_path):
    import sys

    nested: object = torch.zeros(2)
    for _ in range(2000):
        nested = {"k": nested}
    path = tmp_path / "deep.pt"
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(20_000)  # torch.save pickles recursively
    try:
        torch.save(nested, path)
    finally:
        sys.setrecursionlimit(limit)
    proc = cli("inspect", path)
    assert proc.returncode == 2, proc.stderr
    assert "nested more than 64 levels deep" in proc.stderr
    assert "Traceback" not in proc.stderr and "RecursionError" not in proc.stderr
