"""Under a debugger, a peer's pause pauses this rank where it is, and the peer's resume resumes
it: a real debugpy adapter and debuggee (``scripts/ranks_debuggee.py``, "rank 1 of 2" by
torchrun's variables), a real ``TCPStore`` in the test standing in for torchrun's agent store,
and the test playing rank 0. The oracle is the debugger's own answer: DAP ``stopped`` (reason
``pause``) in the debuggee's main loop, then ``continued``; while it is suspended, its
watcher thread still answers a whole-tensor request (``engine.rank_summary``).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import torch.distributed as dist

from support.dap_client import DapSession
from tensorpeek.engine import ranks
from tensorpeek.engine.ranks import RankChannel, RankIdentity

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).parent / "scripts" / "ranks_debuggee.py"


@pytest.fixture
def master() -> Iterator[Any]:
    server = dist.TCPStore(
        "127.0.0.1", 0, is_master=True, wait_for_workers=False, timeout=timedelta(seconds=10)
    )
    yield server
    del server


def test_a_paused_peer_pauses_this_rank_in_the_debugger_and_its_resume_resumes_it(
    master: Any, tmp_path: Path
) -> None:
    script = tmp_path / SCRIPT.name
    shutil.copy(SCRIPT, script)
    client = dist.TCPStore("127.0.0.1", master.port, is_master=False, timeout=timedelta(seconds=10))
    peer = RankChannel(dist.PrefixStore("tensorpeek/dbg/0", client), RankIdentity(0, 2, 0, "peer"))
    env = {
        "RANK": "1",
        "WORLD_SIZE": "2",
        "LOCAL_RANK": "1",
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(master.port),
        "TORCHELASTIC_USE_AGENT_STORE": "True",
        "TORCHELASTIC_RUN_ID": "dbg",
        "TENSORPEEK_CACHE_DIR": str(tmp_path / "cache"),
    }
    with DapSession() as dap:
        dap.initialize()
        dap.launch(script, env=env, cwd=tmp_path)
        dap.configuration_done()
        deadline = time.monotonic() + 60
        while not peer.has("armed/1") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert peer.has("armed/1"), dap.output()
        record = ranks.event_record(
            "hit", peer.me, "rank 0/2 hit 'x' at fc (Linear) output", step=4
        )
        record.update(kind="hit", pauses=True, action="debugger")
        n = peer.publish_stop(record)
        stopped = dap.wait_for_event("stopped", timeout=30)
        assert stopped["reason"] == "pause"
        names = {t["id"]: t["name"] for t in dap.threads()}
        assert names[int(stopped["threadId"])] == "MainThread"
        top = dap.stack_trace(int(stopped["threadId"]))[0]
        assert Path(top["source"]["path"]).name == SCRIPT.name  # where it was: its own loop
        assert "pausing: rank 0/2 hit 'x' at fc (Linear) output" in dap.output()
        # suspended by the debugger, its watcher still answers a whole-tensor request
        ask = ranks.event_record(ranks.REQUEST_KIND, peer.me, "asks", step=4)
        request = {"param": "fc.weight", "grad": False, "root_class": "Net", "timeout_s": 2}
        asked = peer.publish_request({**ask, "request": request})
        answer = None
        while answer is None and time.monotonic() < deadline:
            answer = peer.read(f"ask/{asked}/part/1")
            time.sleep(0.05)
        assert answer is not None, dap.output()
        assert (answer["ok"], answer["state"]) == (False, "paused")
        assert answer["error"] == (
            "no model of class Net has run forward while tensorpeek was armed here"
        )
        assert n is not None
        peer.publish_resume(n, record["seq"])
        dap.wait_for_event("continued", timeout=30)
        (tmp_path / "stop.flag").write_text("")
        dap.wait_for_event("terminated", timeout=30)
        out = dap.output()
    assert "rank 0 continued; so does this rank" in out
    assert "iterations" in out
