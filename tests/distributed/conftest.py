"""Fixtures of the in-process ranks tests: a real ``TCPStore`` standing in for torchrun's agent
store, and this process made "rank 1 of 2" by torchrun's variables while the test plays rank 0
through its own ``RankChannel``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import torch.distributed as dist

import tensorpeek
from tensorpeek.engine.rank_watch import RUNTIME
from tensorpeek.engine.ranks import RankChannel, RankIdentity


def torchrun_env(port: int, run_id: str) -> dict[str, str]:
    """What torchrun sets in rank 1 of a 2-rank job whose agent store listens on ``port``."""
    return {
        "RANK": "1",
        "WORLD_SIZE": "2",
        "LOCAL_RANK": "1",
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(port),
        "TORCHELASTIC_USE_AGENT_STORE": "True",
        "TORCHELASTIC_RUN_ID": run_id,
        "TORCHELASTIC_RESTART_COUNT": "0",
    }


@pytest.fixture(scope="module")
def master() -> Iterator[Any]:
    server = dist.TCPStore(
        "127.0.0.1", 0, is_master=True, wait_for_workers=False, timeout=timedelta(seconds=10)
    )
    yield server
    del server


@pytest.fixture
def rank0(master: Any, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Any:
    """This process is rank 1 of 2 under torchrun; the returned channel is rank 0's."""
    run_id = request.node.name
    for name, value in torchrun_env(master.port, run_id).items():
        monkeypatch.setenv(name, value)
    client = dist.TCPStore("127.0.0.1", master.port, is_master=False, timeout=timedelta(seconds=10))
    peer = RankChannel(
        dist.PrefixStore(f"tensorpeek/{run_id}/0", client), RankIdentity(0, 2, 0, "peer")
    )
    peer.register()
    yield peer
    tensorpeek.clear()
    if RUNTIME.exit_timer is not None:
        RUNTIME.exit_timer.cancel()  # a test's PeerStopped must not end pytest
