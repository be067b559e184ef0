"""The ranks runtime in real ``torchrun`` jobs (``python -m torch.distributed.run``, gloo on
CPU, loopback only): tiny models, a few steps, a NaN planted on one rank at a known step.

The oracles are what each test plants (rank, step, module ``Plant``) and, for "first", the
definition in ``docs/ranks-protocol.md`` applied to what the ranks did. Wall times are hang
guards (a collective timeout is 30 minutes), never speed thresholds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

SCRIPTS = Path(__file__).parent / "scripts"
TRAIN = SCRIPTS / "ranks_train.py"
# hang guards, far below gloo's 30-minute collective timeout (this machine may be loaded):
HANG_GUARD_S = 100.0  # the whole job, torch imports and rendezvous included
STOP_GUARD_S = 20.0  # from the planted rank's hit or crash to the end of every rank
NONFINITE = "*:output:nonfinite"


@dataclass
class Job:
    returncode: int
    output: str
    wall_s: float
    ranks: dict[int, dict[str, Any]]  # rank -> what it wrote (ranks killed mid-step write none)
    finished: float  # time.time() when torchrun had returned: every rank had ended

    def ended_within(self, rank: int) -> float:
        """Seconds from ``rank``'s end (its hit or crash) to the end of the whole job."""
        return self.finished - float(self.ranks[rank]["at"])

    def lines(self, rank: int) -> list[str]:
        """The lines torchrun prefixed with ``[rank<r>]:`` plus tensorpeek's own rank-tagged
        lines (printed straight to stderr, so torchrun's prefix may be missing)."""
        tag = f"[rank {rank}/"
        return [
            line
            for line in self.output.splitlines()
            if line.startswith(f"[rank{rank}]:") or tag in line.split("tensorpeek:")[-1][:12]
        ]

    def text(self, rank: int) -> str:
        return "\n".join(self.lines(rank))


def torchrun(
    tmp_path: Path,
    *args: str,
    nproc: int = 2,
    breakpoints: str | None = NONFINITE,
    env: dict[str, str] | None = None,
) -> Job:
    out = tmp_path / f"out-{time.monotonic_ns()}"
    out.mkdir()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("TENSORPEEK_")}
    environ.update(OMP_NUM_THREADS="1", PYTHONPATH=str(SCRIPTS), PYTHONUNBUFFERED="1")
    if breakpoints is not None:
        environ["TENSORPEEK_BREAKPOINTS"] = breakpoints
    environ.update(env or {})
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc-per-node",
        str(nproc),
        "--standalone",
        "--local-ranks-filter",
        ",".join(str(r) for r in range(nproc)),
        str(TRAIN),
        "--out",
        str(out),
        *args,
    ]
    started = time.monotonic()
    proc = subprocess.run(
        command,
        env=environ,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    wall = time.monotonic() - started
    finished = time.time()
    written = {int(p.stem[4:]): json.loads(p.read_text()) for p in out.glob("rank*.json")}
    return Job(proc.returncode, proc.stdout, wall, written, finished)


def hit_line(rank: int, world: int, module: str, step: int) -> str:
    return (
        f"━━ tensorpeek: [rank {rank}/{world}] breakpoint #1 '{NONFINITE}' hit at "
        f"{module} (Plant) output at step {step}"
    )


def stop_line(rank: int, world: int, peer: int, module: str, step: int) -> str:
    return (
        f"tensorpeek: [rank {rank}/{world}] stopping: rank {peer}/{world} hit '{NONFINITE}' "
        f"at {module} (Plant) output at step {step}"
    )


def assert_hitter_is_first(job: Job, rank: int, step: int) -> None:
    """The hitting rank's own record says it is the job's first (the store's ``first`` as
    read at its hit), with its sequence number."""
    hit = job.ranks[rank]["ended"]["hit"]
    assert (hit["rank"], hit["step"], hit["module_class"]) == (rank, step, "Plant")
    first = hit["first"]
    assert first is not None and (first["rank"], first["step"]) == (rank, step)
    assert first["seq"] == hit["rank_seq"] and isinstance(hit["rank_seq"], int)


@pytest.mark.parametrize("store", ["agent", "group"])
def test_ddp_two_ranks_nan_on_rank1_env_var_only(tmp_path: Path, store: str) -> None:
    """Plain torchrun, ``TENSORPEEK_BREAKPOINTS`` alone. ``group``: torchrun's agent does not
    share its store, so the runtime uses the default group's store (rank 0 hosts it)."""
    env = {"TORCH_DISABLE_SHARE_RDZV_TCP_STORE": "1"} if store == "group" else {}
    job = torchrun(tmp_path, "--wrap", "ddp", "--plant", "1:3", env=env)
    assert job.returncode != 0
    assert job.wall_s < HANG_GUARD_S, job.output[-3000:]
    assert job.ended_within(1) < STOP_GUARD_S, job.output[-3000:]
    assert hit_line(1, 2, "module.1", 3) in job.text(1)
    assert stop_line(0, 2, 1, "module.1", 3) in job.text(0), job.output[-4000:]
    assert job.ranks[1]["ended"]["how"] == "TensorBreakpointError"
    assert_hitter_is_first(job, 1, 3)
    assert len(job.ranks[1]["losses"]) == 3  # steps 0, 1, 2 completed, the hit is in step 3
    rank0 = job.ranks.get(0)
    if rank0 is not None:  # it may also have been ended inside its all-reduce
        assert rank0["ended"]["how"] in ("PeerStopped", "RuntimeError")


def test_ddp_four_ranks_every_other_rank_names_the_one_that_hit(tmp_path: Path) -> None:
    job = torchrun(tmp_path, "--wrap", "ddp", "--plant", "2:2", nproc=4)
    assert job.returncode != 0
    assert job.wall_s < HANG_GUARD_S, job.output[-3000:]
    assert job.ended_within(2) < STOP_GUARD_S, job.output[-3000:]
    assert hit_line(2, 4, "module.1", 2) in job.text(2)
    for rank in (0, 1, 3):
        assert stop_line(rank, 4, 2, "module.1", 2) in job.text(rank), job.output[-4000:]
        assert "breakpoint #1" not in job.text(rank)  # clean themselves
    assert_hitter_is_first(job, 2, 2)


def test_fsdp2_fully_shard_nan_on_rank0(tmp_path: Path) -> None:
    job = torchrun(tmp_path, "--wrap", "fsdp", "--plant", "0:2")
    assert job.returncode != 0
    assert job.wall_s < HANG_GUARD_S, job.output[-3000:]
    assert job.ended_within(0) < STOP_GUARD_S, job.output[-3000:]
    assert hit_line(0, 2, "1", 2) in job.text(0)  # fully_shard keeps the model's own paths
    assert stop_line(1, 2, 0, "1", 2) in job.text(1), job.output[-4000:]
    assert_hitter_is_first(job, 0, 2)


@pytest.mark.parametrize(
    ("plants", "delay", "first_rank", "first_step", "first_seq"),
    [
        # rank 0 hits at step 3 first in time (seq 1); rank 1 at step 1 later (seq 2)
        (("0:3", "1:1"), "1:2.5", 1, 1, 2),
        # both at step 2, rank 0 later in time: the sequence decides, not the lower rank
        (("0:2", "1:2"), "0:2.5", 1, 2, 1),
    ],
    ids=["earlier-step-wins", "same-step-sequence-order"],
)
def test_first_bad_rank_is_lowest_step_then_sequence(
    tmp_path: Path,
    plants: tuple[str, str],
    delay: str,
    first_rank: int,
    first_step: int,
    first_seq: int,
) -> None:
    """Ranks without a collective between them (``--wrap none``) and ``action="log"``, so
    both hit and go on; each reads the store's ``first`` at the end."""
    args = ["--wrap", "none", "--arm", "0", "--arm", "1", "--action", "log", "--delay", delay]
    for plant in plants:
        args += ["--plant", plant]
    job = torchrun(tmp_path, *args, breakpoints=None)
    assert job.returncode == 0, job.output[-3000:]
    first = job.ranks[0]["first"]
    assert first == job.ranks[1]["first"]
    assert (first["rank"], first["step"], first["seq"]) == (first_rank, first_step, first_seq)
    assert first["kind"] == "hit" and first["module_class"] == "Plant"
    assert "stopping:" not in job.output  # log hits stop nobody


def test_a_rank_that_crashes_is_reported_as_crashed_not_as_a_hit(tmp_path: Path) -> None:
    job = torchrun(tmp_path, "--wrap", "ddp", "--crash", "1:2")
    assert job.returncode != 0
    assert job.wall_s < HANG_GUARD_S, job.output[-3000:]
    assert job.ended_within(1) < STOP_GUARD_S, job.output[-3000:]
    expected = (
        "tensorpeek: [rank 0/2] stopping: rank 1/2 crashed at step 2: "
        "ValueError: an ordinary bug in the training code"
    )
    assert expected in job.text(0), job.output[-4000:]
    assert "breakpoint #" not in job.output and " hit " not in job.text(0)
    assert job.ranks[1]["ended"]["how"] == "ValueError"


@pytest.mark.parametrize("when", ["at-the-hit", "after-init"])
def test_some_ranks_unarmed_get_a_warning_and_no_hang(tmp_path: Path, when: str) -> None:
    """Only rank 0 arms. ``after-init``: both ranks wait 3 s before training, so the one-time
    check 2 s after the group is up says it before the hit; ``at-the-hit``: the hit says it."""
    delays = ["--delay", "0:3", "--delay", "1:3"] if when == "after-init" else []
    job = torchrun(
        tmp_path,
        *("--wrap", "ddp", "--arm", "0", "--action", "raise", "--plant", "0:2", *delays),
        breakpoints=None,
    )
    assert job.returncode != 0
    assert job.wall_s < HANG_GUARD_S, job.output[-3000:]
    assert job.ended_within(0) < STOP_GUARD_S, job.output[-3000:]
    warning = "tensorpeek: [rank 0/2] warning: rank(s) 1 of 2 have no tensorpeek breakpoint armed"
    assert job.output.count(warning) == 1, job.output[-3000:]
    hit = hit_line(0, 2, "module.1", 2)
    assert hit in job.text(0)
    if when == "after-init":
        assert job.output.index(warning) < job.output.index(hit)


def test_a_paused_rank_pauses_the_others_and_resuming_resumes_all(tmp_path: Path) -> None:
    """``action="pdb"`` with a stand-in user (``PYTHONBREAKPOINT``) who continues after 2 s:
    rank 0 says it waits for rank 1, then that rank 1 continued; both ranks finish training."""
    job = torchrun(
        tmp_path,
        "--wrap",
        "ddp",
        "--arm",
        "0",
        "--arm",
        "1",
        "--action",
        "pdb",
        "--once",
        "--plant",
        "1:2",
        "--steps",
        "4",
        breakpoints=None,
        env={"PYTHONBREAKPOINT": "ranks_pause_hook.continue_later", "RANKS_PAUSE_S": "2"},
    )
    assert job.returncode == 0, job.output[-4000:]
    text = job.text(0)
    waiting = (
        "tensorpeek: [rank 0/2] pausing: rank 1/2 hit '*:output:nonfinite' at module.1 (Plant) "
        "output at step 2 (in pdb); this rank waits and continues when rank 1 continues"
    )
    assert waiting in text, job.output[-4000:]
    assert "tensorpeek: [rank 0/2] rank 1 continued; so does this rank" in text
    # rank 0 then hits at step 3 (the NaN came through DDP's all-reduce) and pauses; rank 1,
    # whose once-breakpoint is spent, is still a peer: it waits and continues with rank 0
    assert hit_line(0, 2, "module.0", 3).replace("(Plant)", "(Linear)") in text
    assert "tensorpeek: [rank 1/2] pausing: rank 0/2 hit" in job.text(1), job.output[-4000:]
    assert "tensorpeek: [rank 1/2] rank 0 continued; so does this rank" in job.text(1)
    assert all(job.ranks[r]["ended"]["how"] == "completed" for r in (0, 1))
    assert all(len(job.ranks[r]["losses"]) == 4 for r in (0, 1))


def test_quitting_pdb_at_a_hit_stops_the_others(tmp_path: Path) -> None:
    job = torchrun(
        tmp_path,
        "--wrap",
        "ddp",
        "--arm",
        "0",
        "--arm",
        "1",
        "--action",
        "pdb",
        "--plant",
        "1:2",
        breakpoints=None,
        env={"PYTHONBREAKPOINT": "ranks_pause_hook.quit"},
    )
    assert job.returncode != 0
    assert job.wall_s < HANG_GUARD_S, job.output[-3000:]
    assert job.ended_within(1) < STOP_GUARD_S, job.output[-3000:]
    assert "tensorpeek: [rank 0/2] stopping: rank 1/2 quit the debugger at its hit" in job.text(0)


def test_healthy_ddp_is_bitwise_identical_armed_and_plain_and_leaves_nothing(
    tmp_path: Path,
) -> None:
    plain = torchrun(tmp_path, "--wrap", "ddp", "--steps", "5", breakpoints=None)
    armed = torchrun(tmp_path, "--wrap", "ddp", "--steps", "5")
    assert plain.returncode == 0 and armed.returncode == 0, armed.output[-3000:]
    for rank in (0, 1):
        assert len(plain.ranks[rank]["losses"]) == 5
        assert armed.ranks[rank]["losses"] == plain.ranks[rank]["losses"]
        left = armed.ranks[rank]["left"]
        assert left == {
            "threads": [],
            "excepthook_active": False,
            "forward_hooks": 0,
            "forward_pre_hooks": 0,
        }
    assert "tensorpeek:" not in armed.output  # nothing said on a healthy, fully armed run
