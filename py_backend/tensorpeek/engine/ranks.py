"""Ranks of a ``torchrun`` job: who this process is, and the records it shares with its peers
through the c10d store torchrun already runs (``docs/ranks-protocol.md`` is the contract).

Imports no torch at import time (the hit text reads the identity); ``torch.distributed`` is
read only when it is already imported. Nothing here runs on the healthy path: the store is
touched when the runtime starts (one registration), at a hit (a rank's first hit only), at
a stop and at a crash. ``engine.rank_watch`` is the watcher thread that reacts to peers.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tensorpeek.engine.hit import Hit

NAMESPACE = "tensorpeek"
STORE_TIMEOUT_S = 10.0  # connecting to / one operation on the store
PEER_STOPPED_EXIT = 75  # exit status of a rank stopped while blocked in a collective
STOPPING_ACTIONS = ("debugger", "pdb", "raise")
PAUSING_ACTIONS = ("debugger", "pdb")
REQUEST_KIND = "request"  # a record on the stops counter that asks the peers, stopping nobody


@dataclass(frozen=True)
class RankIdentity:
    """This process's place in the job (``docs/ranks-protocol.md``: Identity)."""

    rank: int
    world_size: int
    local_rank: int
    host: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "world_size": self.world_size,
            "local_rank": self.local_rank,
            "host": self.host,
        }

    @property
    def tag(self) -> str:
        """``[rank 1/2]``, the prefix of every line tensorpeek prints in a rank."""
        return f"[rank {self.rank}/{self.world_size}]"


def _env_int(name: str) -> int | None:
    try:
        return int(os.environ[name])
    except (KeyError, ValueError):
        return None


def _initialized_group() -> Any:
    """``torch.distributed`` when it is imported and its default group is up, else None."""
    dist = sys.modules.get("torch.distributed")
    try:
        if dist is not None and dist.is_available() and dist.is_initialized():
            return dist
    except (AttributeError, RuntimeError):
        return None
    return None


def identity() -> RankIdentity | None:
    """This rank, or ``None`` in a single process (no group and no ``WORLD_SIZE`` > 1)."""
    dist = _initialized_group()
    if dist is not None:
        rank, world_size = int(dist.get_rank()), int(dist.get_world_size())
    else:
        rank_env, world_env = _env_int("RANK"), _env_int("WORLD_SIZE")
        if rank_env is None or world_env is None:
            return None
        rank, world_size = rank_env, world_env
    if world_size <= 1 or rank < 0:
        return None
    local = _env_int("LOCAL_RANK")
    return RankIdentity(rank, world_size, local if local is not None else rank, _hostname())


_HOST: list[str] = []


def _hostname() -> str:
    if not _HOST:
        _HOST.append(socket.gethostname())
    return _HOST[0]


def _namespace() -> str:
    run_id = os.environ.get("TORCHELASTIC_RUN_ID") or "job"
    attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT") or "0"
    return f"{NAMESPACE}/{run_id}/{attempt}"


def connect_store() -> Any:
    """The job's store under tensorpeek's namespace, or ``None`` when there is none yet.

    Under torchrun the agent's store (``TORCHELASTIC_USE_AGENT_STORE=True``) is reachable at
    ``MASTER_ADDR:MASTER_PORT`` before ``init_process_group``; otherwise rank 0 hosts it, and
    it is the default group's store once the group is initialized."""
    import torch.distributed as dist

    timeout = timedelta(seconds=STORE_TIMEOUT_S)
    base: Any
    addr, port = os.environ.get("MASTER_ADDR"), _env_int("MASTER_PORT")
    if os.environ.get("TORCHELASTIC_USE_AGENT_STORE") == "True" and addr and port:
        base = dist.TCPStore(addr, port, is_master=False, timeout=timeout)
    elif _initialized_group() is not None:
        from torch.distributed.distributed_c10d import _get_default_store

        base = _get_default_store()
    else:
        return None
    return dist.PrefixStore(_namespace(), base)


def _loads(raw: Any) -> dict[str, Any] | None:
    try:
        value = json.loads(bytes(raw).decode("utf-8"))
    except (TypeError, ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None


def _first_order(record: dict[str, Any]) -> tuple[float, float]:
    step, seq = record.get("step"), record.get("seq")
    return (
        float(step) if isinstance(step, int) else float("inf"),
        float(seq) if isinstance(seq, int) else float("inf"),
    )


def hit_record(hit: Hit, me: RankIdentity, action: str) -> dict[str, Any]:
    """The store's JSON form of a hit (``seq`` is filled in when it is published)."""
    spec = hit.spec or {}
    where = f"{hit.module or '<root>'}" + (f".{hit.param}" if hit.param else "")
    spec_text = f"{spec.get('target')}:{spec.get('site')}:{spec.get('condition')}"
    return {
        "kind": "hit",
        **me.to_dict(),
        "pid": os.getpid(),
        "seq": None,
        "step": hit.step,
        "module": hit.module,
        "module_class": hit.module_class,
        "site": hit.site,
        "param": hit.param,
        "condition": hit.condition,
        "spec": spec_text,
        "action": action,
        "pauses": action in PAUSING_ACTIONS,
        "time": time.time(),
        "error": None,
        "message": (
            f"rank {me.rank}/{me.world_size} hit '{spec_text}' at {where} "
            f"({hit.module_class}) {hit.site} at step {hit.step}"
        ),
    }


def event_record(
    kind: str, me: RankIdentity, message: str, *, step: int | None, error: str | None = None
) -> dict[str, Any]:
    """A record that is not a hit: ``crashed``, ``quit`` or ``stopped``."""
    return {
        "kind": kind,
        **me.to_dict(),
        "pid": os.getpid(),
        "seq": None,
        "step": step,
        "module": None,
        "module_class": None,
        "site": None,
        "param": None,
        "condition": None,
        "spec": None,
        "action": None,
        "pauses": False,
        "time": time.time(),
        "error": error,
        "message": message,
    }


class RankChannel:
    """This rank's side of the store: registration, hits, stops, resumes, crashes. Every
    method is safe to call from any thread and never raises into the caller: a store that
    went away (the job is ending) makes them return ``None``."""

    def __init__(self, store: Any, me: RankIdentity) -> None:
        self.store = store
        self.me = me
        self.lock = threading.Lock()
        self.first_hit_published = False
        self.own_stops: set[int] = set()  # stop numbers this rank published
        self.own_requests: set[int] = set()  # request numbers (on the same counter) it published
        self.failed: str | None = None  # the first store error, said once by the caller

    def _op(self, fn: Any, *args: Any) -> Any:
        try:
            with self.lock:
                return fn(*args)
        except Exception as err:  # noqa: BLE001 - a dead store must never break training
            if self.failed is None:
                self.failed = f"{type(err).__name__}: {err}"
            return None

    def register(self) -> None:
        value = json.dumps({**self.me.to_dict(), "pid": os.getpid()})
        self._op(self.store.set, f"armed/{self.me.rank}", value)

    def armed_ranks(self) -> list[int] | None:
        """The ranks that registered (``None`` when the store cannot be read)."""
        keys = [f"armed/{r}" for r in range(self.me.world_size)]
        found = []
        for rank, key in enumerate(keys):
            present = self._op(self.store.check, [key])
            if present is None:
                return None
            if present:
                found.append(rank)
        return found

    def _next_seq(self) -> int | None:
        seq = self._op(self.store.add, "seq", 1)
        return int(seq) if seq is not None else None

    def publish_hit(self, record: dict[str, Any]) -> dict[str, Any] | None:
        """Publish this rank's first hit and update ``first``; returns the job's first record
        as known now (``None`` if the store is unreachable). Later hits are not published."""
        if self.first_hit_published:
            return self.read("first")
        self.first_hit_published = True
        record["seq"] = self._next_seq()
        if record["seq"] is None:
            return None
        text = json.dumps(record)
        self._op(
            self.store.compare_set, f"hit/{self.me.rank}", "", text
        )  # a re-arming's later hit keeps the first
        return self._update_first(record, text)

    def _update_first(self, record: dict[str, Any], text: str) -> dict[str, Any] | None:
        expected = ""
        for _ in range(64):  # each round loses only to a strictly newer value
            current_raw = self._op(self.store.compare_set, "first", expected, text)
            if current_raw is None:
                return None
            current = _loads(current_raw)
            if current is None or current == record:
                return record
            if _first_order(current) <= _first_order(record):
                return current
            expected = bytes(current_raw).decode("utf-8")
        return self.read("first")

    def publish_stop(self, record: dict[str, Any]) -> int | None:
        """Publish ``record`` as stop ``n`` (its ``seq`` taken if it has none); returns n."""
        if record.get("seq") is None:
            record["seq"] = self._next_seq()
        n = self._op(self.store.add, "stops", 1)
        if n is None:
            return None
        self.own_stops.add(int(n))
        self._op(self.store.set, f"stop/{int(n)}", json.dumps(record))
        return int(n)

    def publish_request(self, record: dict[str, Any]) -> int | None:
        """Publish a request to the peers (``kind`` ``"request"``: not a stop) on the stops
        counter, which every watcher already polls; returns its number n (``stop/<n>``)."""
        n = self._op(self.store.add, "stops", 1)
        if n is None:
            return None
        self.own_requests.add(int(n))
        self._op(self.store.set, f"stop/{int(n)}", json.dumps(record))
        return int(n)

    def write(self, key: str, value: dict[str, Any]) -> None:
        self._op(self.store.set, key, json.dumps(value))

    def delete(self, key: str) -> None:
        self._op(self.store.delete_key, key)

    def publish_resume(self, n: int, seq: int | None) -> None:
        self._op(self.store.set, f"resume/{n}", json.dumps({"rank": self.me.rank, "seq": seq}))

    def publish_crash(self, record: dict[str, Any]) -> None:
        record["seq"] = self._next_seq()
        self._op(self.store.set, f"crashed/{self.me.rank}", json.dumps(record))
        self.publish_stop(record)

    def stops(self) -> int | None:
        """How many stops were published (the watcher's poll: one small round trip)."""
        n = self._op(self.store.add, "stops", 0)
        return int(n) if n is not None else None

    def has(self, key: str) -> bool:
        return bool(self._op(self.store.check, [key]))

    def read(self, key: str) -> dict[str, Any] | None:
        if not self.has(key):
            return None
        raw = self._op(self.store.get, key)
        return _loads(raw) if raw is not None else None
