"""No rank left hanging: the runtime that, in each armed rank of a multi-rank job, publishes
this rank's hits, stops and crashes and reacts to its peers' (``docs/ranks-protocol.md``).

``RUNTIME.sync(armed)`` follows the registry (``follow``): with the first breakpoint in a
process whose world size is > 1 it starts one daemon thread, which connects to the job's
store, registers the rank, then polls the store's ``stops`` counter every ``POLL_S`` (one small
round trip, off the training thread: nothing is added to a step). With the last breakpoint removed
it ends the thread and restores ``sys.excepthook``.

When a peer stops: a peer paused in a debugger or pdb pauses this rank too (suspended under
debugpy, otherwise one line saying it waits: its next collective waits for the paused peer,
and ending this rank would make torchrun kill the paused one); a peer that ends (raised,
crashed, quit, stopped) ends this rank: ``PeerStopped`` is raised in the main thread and, if
the process is still alive ``GRACE_S`` later (blocked in a C++ collective), the line is
printed again and the process exits with ``PEER_STOPPED_EXIT``.
"""

from __future__ import annotations

import ctypes
import os
import sys
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any

from tensorpeek.common.terminal_text import terminal_safe
from tensorpeek.engine import ranks
from tensorpeek.engine.ranks import STOPPING_ACTIONS, RankChannel, RankIdentity

if TYPE_CHECKING:
    from tensorpeek.engine.hit import Hit
    from tensorpeek.engine.registry import Registry

POLL_S = 0.1  # how often the watcher reads the stops counter
GRACE_S = 3.0  # after PeerStopped, how long before a blocked rank exits
HANDLING_GRACE_S = 30.0  # ... when its main thread is handling PeerStopped (writing a report)
UNARMED_CHECK_S = 2.0  # after the group is up, before checking which ranks registered
PEER_PAUSE_DELAY_S = 0.5  # a peer's pause waits this long, so that its own stop is seen first
STOP_RECORD_WAIT_S = 2.0  # a stop's number is counted just before its record is written
CATCH_UP_STOPS = 64  # the stops before this rank connected that are looked at (the latest)


class PeerStopped(BaseException):
    """Raised in a rank's main thread when another rank stopped (hit and raised, crashed, quit
    the debugger, or was ended by ``tensorpeek run|doctor``). A ``BaseException``, like
    ``KeyboardInterrupt``: an ``except Exception`` in a training loop does not swallow it.
    ``.record`` is the peer's stop record (``docs/ranks-protocol.md``)."""

    record: dict[str, Any] = {}  # noqa: RUF012 - set per stop on a subclass (async raise)

    def __init__(self, *args: Any) -> None:
        super().__init__(*(args or (peer_stop_line(self.record, ranks.identity()),)))
        RUNTIME.peer_stop_delivered = True  # the main thread is handling it, in Python


def _no_stop() -> int | None:
    return None


def peer_stop_line(record: dict[str, Any], me: RankIdentity | None) -> str:
    """The one line a rank says when a peer's stop ends or pauses it."""
    tag = f"{me.tag} " if me is not None else ""
    kind = record.get("kind")
    who = f"rank {record.get('rank')}/{record.get('world_size')}"
    if kind == "hit":
        what = str(record.get("message") or f"{who} hit")
    elif kind == "crashed":
        what = f"{who} crashed at step {record.get('step')}: {record.get('error')}"
    elif kind == "quit":
        what = f"{who} quit the debugger at its hit"
    else:
        what = f"{who} stopped: {record.get('message')}"
    return terminal_safe(f"tensorpeek: {tag}stopping: {what}")


def _say(text: str) -> None:
    try:
        print(text, file=sys.stderr, flush=True)
    except (OSError, ValueError):  # stderr closed at exit: nothing to say it on
        return


def _debugger_connected() -> bool:
    debugpy = sys.modules.get("debugpy")
    is_connected = getattr(debugpy, "is_client_connected", None)
    return bool(is_connected is not None and is_connected())


def _suspend_main_thread() -> bool:
    """Ask pydevd (debugpy's engine, in this process) to suspend the main thread where it is;
    it stops at its next Python line (a thread inside a C++ collective stops when it returns)."""
    try:
        import pydevd
        from _pydevd_bundle.pydevd_comm_constants import CMD_THREAD_SUSPEND
    except ImportError:
        return False
    py_db = pydevd.get_global_debugger()
    if py_db is None:
        return False
    py_db.set_suspend(threading.main_thread(), CMD_THREAD_SUSPEND, is_pause=True)
    return True


def _resume_main_thread() -> None:
    try:
        from _pydevd_bundle.pydevd_constants import get_thread_id
        from _pydevd_bundle.pydevd_thread_lifecycle import resume_threads
    except ImportError:
        return
    resume_threads(get_thread_id(threading.main_thread()))


def _raise_in_main_thread(record: dict[str, Any]) -> bool:
    """Raise ``PeerStopped`` (carrying ``record``) in the main thread at its next bytecode."""
    ident = threading.main_thread().ident
    if ident is None or not threading.main_thread().is_alive():
        return False
    exc_type = type("PeerStopped", (PeerStopped,), {"record": dict(record)})
    done = ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(ident), ctypes.py_object(exc_type)
    )
    return bool(done == 1)


def _cancel_in_main_thread() -> None:
    """Clear a ``PeerStopped`` set by ``_raise_in_main_thread`` and not delivered yet."""
    ident = threading.main_thread().ident
    if ident is not None:
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident), None)


class RankRuntime:
    """The one runtime of this process (module docstring)."""

    def __init__(self) -> None:
        self.me: RankIdentity | None = None
        self.channel: RankChannel | None = None
        self.stopped_by: dict[str, Any] | None = None  # the peer stop that ended/paused us
        self.first: dict[str, Any] | None = None  # the job's first record, as last read
        self._lock = threading.RLock()
        self._thread: threading.Thread | None = None
        self._quit = threading.Event()
        self._seen = 0  # stops handled (or published before we started)
        self._caught_up = True  # the stops published before we connected were looked at
        self._waiting: tuple[int, dict[str, Any], bool] | None = None  # (n, record, suspended)
        self._unarmed_checked = False
        self._previous_hook: Any = None
        self._hook_active = False
        self.exit_timer: threading.Timer | None = None  # the grace after PeerStopped
        self.peer_stop_delivered = False
        self._store_said = False
        # PeerStopped is raised at most once per arming, and never once the script has ended
        # (``hold_peer_stop``): tensorpeek's own epilogue (the report) must not be cut short
        self._raise_lock = threading.Lock()
        self._raise_open = True
        self._raised = False

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def sync(self, armed: bool) -> None:
        """Start with the first armed breakpoint (world size > 1), end with the last."""
        with self._lock:
            if armed and self._thread is None:
                me = ranks.identity()
                if me is None:
                    return
                self.me = me
                self._fresh()
                self._quit.clear()
                self._install_excepthook()
                self._thread = threading.Thread(
                    target=self._watch, name="tensorpeek-ranks", daemon=True
                )
                # pydevd neither traces nor lists nor suspends it: it must run while the user
                # is paused (it is what resumes this rank when the peer continues)
                self._thread.pydev_do_not_trace = True  # type: ignore[attr-defined]
                self._thread.start()
            elif not armed and self._thread is not None:
                self._quit.set()
                thread, self._thread = self._thread, None
                self._restore_excepthook()
            else:
                return
        if not armed and thread is not threading.current_thread():
            thread.join(timeout=2 * POLL_S + ranks.STORE_TIMEOUT_S)  # outside the lock

    def _fresh(self) -> None:
        """A new arming starts afresh (the channel of the last one stays readable until then:
        the launcher reads the peer's stop after the run's breakpoints are gone)."""
        self.channel = None
        self.stopped_by = None
        self.first = None
        self._waiting = None
        self._unarmed_checked = False
        self.peer_stop_delivered = False
        with self._raise_lock:
            self._raise_open = True
            self._raised = False

    def hold_peer_stop(self) -> None:
        """The main thread says the script has ended (``run``/``doctor``'s runner, the
        excepthook): from now on a peer's stop raises nothing in it, and one raised but not
        yet delivered is cancelled. The grace timer then gives it ``HANDLING_GRACE_S`` (it is
        in Python, ending). Safe against the delivery it races with: ``PeerStopped`` lands at
        most once, and landing here it is caught here."""
        try:
            with self._raise_lock:
                self._raise_open = False
                raised = self._raised
            if raised:
                self.peer_stop_delivered = True
                _cancel_in_main_thread()
        except PeerStopped:
            return  # it landed here, in tensorpeek's epilogue: nothing is pending any more

    def _raise_peer_stop(self, record: dict[str, Any]) -> bool:
        with self._raise_lock:
            if not self._raise_open or self._raised:
                return False
            self._raised = True
            return _raise_in_main_thread(record)

    def connected(self) -> RankChannel | None:
        """The channel to the job's store (connecting now if the watcher has not yet), or
        ``None`` outside a multi-rank job or when the store cannot be reached."""
        return self._connect()

    def serving_state(self) -> str:
        """What this rank's main thread is doing, as said to a peer that asks for its shard:
        ``paused`` (at its own hit, or suspended by the debugger for a peer's pause),
        ``waiting`` (a peer paused; it runs on until its next collective waits) or
        ``running``."""
        from tensorpeek.engine.registry import REGISTRY

        if REGISTRY.paused:
            return "paused"
        waiting = self._waiting
        if waiting is not None:
            return "paused" if waiting[2] else "waiting"
        return "running"

    def _connect(self) -> RankChannel | None:
        """The channel, connecting on first use (the watcher, or a hit that came first)."""
        with self._lock:
            if self.channel is not None:
                return self.channel
            me = self.me or ranks.identity()
            if me is None:
                return None
            try:
                store = ranks.connect_store()
            except Exception as err:  # noqa: BLE001 - no store: say once, training goes on
                self._say_store_problem(f"{type(err).__name__}: {err}")
                return None
            if store is None:
                return None
            channel = RankChannel(store, me)
            channel.register()
            self._seen = channel.stops() or 0  # stops before this arming are not ours ...
            self._caught_up = False  # ... except those still open (``_catch_up``)
            # shown only now: a stop published once ``channel`` is visible is after ``_seen``
            self.me, self.channel = me, channel
            return channel

    def _say_store_problem(self, why: str) -> None:
        if not self._store_said:
            self._store_said = True
            tag = self.me.tag + " " if self.me else ""
            _say(
                terminal_safe(
                    f"tensorpeek: {tag}cannot reach the job's c10d store ({why}); other ranks "
                    "will not learn of this rank's hits"
                )
            )

    def _watch(self) -> None:
        channel = None
        group_up_at: float | None = None
        while not self._quit.wait(POLL_S):
            if channel is None:
                channel = self._connect()
                continue
            if not self._caught_up:
                self._catch_up(channel)
            if group_up_at is None and ranks._initialized_group() is not None:
                group_up_at = time.monotonic()
            if group_up_at is not None and time.monotonic() - group_up_at >= UNARMED_CHECK_S:
                self.check_unarmed()
            n = channel.stops()
            if n is None:
                return  # the store went away: the job is ending
            while self._seen < n and not self._quit.is_set():
                self._seen += 1
                self._handle(channel, self._seen)
            self._check_resume(channel)
        if channel is not None:
            self._check_resume(channel)  # a peer that resumed just before our last step

    def _catch_up(self, channel: RankChannel) -> None:
        """The stops published before this rank connected that are still open are its own to
        handle: a peer paused and not resumed (this rank waits with it), a peer's request for
        a whole tensor not answered and not given up (its requester waits for this rank's
        part). A rank whose watcher connected late (a slow start, arming after the peers had
        stopped) would otherwise leave them unanswered. Closed ones stay ignored."""
        self._caught_up = True
        last = self._seen
        me = self.me
        if me is None:
            return
        for n in range(max(1, last - CATCH_UP_STOPS + 1), last + 1):
            if self._quit.is_set():
                return
            if n in channel.own_stops or n in channel.own_requests:
                continue
            record = channel.read(f"stop/{n}")
            if record is None or record.get("rank") == me.rank:
                continue
            if record.get("kind") == ranks.REQUEST_KIND:
                open_ = not channel.has(f"ask/{n}/bins") and not channel.has(
                    f"ask/{n}/part/{me.rank}"
                )
            else:
                open_ = bool(record.get("pauses")) and not channel.has(f"resume/{n}")
            if open_:
                self._handle(channel, n)

    def _handle(self, channel: RankChannel, n: int) -> None:
        if n in channel.own_stops or n in channel.own_requests:
            return
        record = None
        deadline = time.monotonic() + STOP_RECORD_WAIT_S
        while record is None and time.monotonic() < deadline:
            record = channel.read(f"stop/{n}")
            if record is None and self._quit.wait(0.01):
                return
        if record is None:
            return
        if record.get("kind") == ranks.REQUEST_KIND:
            # a paused peer asks for this rank's part of a whole tensor: not a stop
            if self.me is not None and record.get("rank") != self.me.rank:
                from tensorpeek.engine import rank_summary

                rank_summary.serve(channel, n, record, self.serving_state(), self._quit)
            return
        from tensorpeek.engine.registry import REGISTRY

        if not self._raise_open and record == self.stopped_by:
            return  # the excepthook said it already: this rank's error was its consequence
        if not self._raised:  # the stop that ended this rank stays the first one
            self.stopped_by = record
        line = peer_stop_line(record, self.me)
        if REGISTRY.paused:
            # this rank is paused at its own hit: the user is looking at it, leave it be
            _say(line.replace("stopping:", "also stopped:", 1))
            return
        if record.get("pauses"):
            # not at once: the peer's own stop must reach the debugger's client before this
            # rank's pause does, or the client takes this rank for the one that stopped
            # (seen on a loaded machine: VS Code showed rank 0 as stopped, rank 1 as paused)
            if self._quit.wait(PEER_PAUSE_DELAY_S):
                return
            resumed = channel.has(f"resume/{n}")  # the peer went on meanwhile: nothing to join
            suspended = not resumed and _debugger_connected() and _suspend_main_thread()
            who = record.get("rank")
            how = "paused in the debugger" if record.get("action") == "debugger" else "in pdb"
            _say(
                line.replace("stopping:", "pausing:", 1)
                + f" ({how}); this rank "
                + ("is paused" if suspended else "waits")
                + f" and continues when rank {who} continues"
            )
            self._waiting = (n, record, suspended)
            return
        self._waiting = None
        timer = threading.Timer(GRACE_S, self._exit_if_alive, args=(line,))
        timer.daemon = True
        timer.pydev_do_not_trace = True  # type: ignore[attr-defined]
        # in place before the raise: the main thread may handle PeerStopped at once
        previous, self.exit_timer = self.exit_timer, timer
        if not self._raise_peer_stop(record):
            # the script has ended (its report is being written) or an earlier peer's stop
            # already ends it: this later one is only said
            self.exit_timer = previous
            _say(line.replace("stopping:", "also stopped:", 1))
            return
        _say(line)
        timer.start()

    def _exit_if_alive(self, line: str, waited: float = GRACE_S) -> None:
        """The main thread did not end after ``PeerStopped``: it is blocked in a collective
        (which cannot be unwound: ``PeerStopped`` was never raised) or it is handling the error
        (then it gets ``HANDLING_GRACE_S`` more, e.g. to write its report); end the process
        with the same message."""
        if self.peer_stop_delivered and waited < HANDLING_GRACE_S:
            self.exit_timer = threading.Timer(
                HANDLING_GRACE_S, self._exit_if_alive, args=(line, waited + HANDLING_GRACE_S)
            )
            self.exit_timer.daemon = True
            self.exit_timer.pydev_do_not_trace = True  # type: ignore[attr-defined]
            self.exit_timer.start()
            return
        _say(f"{line} (exiting: this rank had not ended {waited:g} s after PeerStopped)")
        os._exit(ranks.PEER_STOPPED_EXIT)

    def _check_resume(self, channel: RankChannel) -> None:
        if self._waiting is None:
            return
        n, record, suspended = self._waiting
        if channel.has(f"resume/{n}"):
            self._waiting = None
            self.stopped_by = None
            if suspended:
                _resume_main_thread()
            tag = self.me.tag + " " if self.me else ""
            _say(f"tensorpeek: {tag}rank {record.get('rank')} continued; so does this rank")

    def check_unarmed(self) -> list[int] | None:
        """Once: the ranks that never registered; the lowest armed rank says which."""
        if self._unarmed_checked or self.channel is None or self.me is None:
            return None
        self._unarmed_checked = True
        armed = self.channel.armed_ranks()
        if armed is None:
            return None
        missing = [r for r in range(self.me.world_size) if r not in armed]
        if missing and armed and min(armed) == self.me.rank:
            names = ", ".join(str(r) for r in missing)
            _say(
                f"tensorpeek: {self.me.tag} warning: rank(s) {names} of {self.me.world_size} "
                "have no tensorpeek breakpoint armed: a hit on an armed rank cannot stop them "
                "(they end when the job is torn down). Arm every rank, e.g. set "
                "TENSORPEEK_BREAKPOINTS for the whole torchrun command."
            )
        return missing

    def peer_stop(self) -> dict[str, Any] | None:
        """The peer's stop that ends this rank: the job's first stop published by another
        rank before this rank published one of its own (and not resumed since), read from the
        store; the watcher's last one when the store cannot be read. A rank whose script
        failed before its watcher read that stop is found the same way: the peer's stop is
        why its collective failed."""
        channel = self.channel
        if channel is None:
            return self.stopped_by
        last = channel.stops() or 0
        for n in range(1, last + 1):
            if n in channel.own_stops:
                return None  # this rank stopped on its own first
            if n in channel.own_requests or channel.has(f"resume/{n}"):
                continue  # a request, or a pause that ended: it stopped nobody
            record = channel.read(f"stop/{n}")
            if record is not None and record.get("kind") != ranks.REQUEST_KIND:
                return (
                    self._pause_ended(channel, n, last, record) if record.get("pauses") else record
                )
        return self.stopped_by

    @staticmethod
    def _pause_ended(
        channel: RankChannel, n: int, last: int, record: dict[str, Any]
    ) -> dict[str, Any]:
        """A pause (stop ``n``) that its rank ended by quitting pdb or crashing, not by
        resuming: that later stop is what ended this rank (its collective failed when the
        peer's process went), and its line says so; the pause itself when there is none."""
        for later in range(n + 1, last + 1):
            if later in channel.own_stops or later in channel.own_requests:
                continue
            end = channel.read(f"stop/{later}")
            if (
                end is not None
                and end.get("rank") == record.get("rank")
                and end.get("kind") in ("quit", "crashed")
            ):
                return end
        return record

    def on_hit(self, hit: Hit, action: str) -> int | None:
        """Called at a hit before its action: publish it (the rank's first hit), update
        ``first``, and for a stopping action publish the stop. Returns the stop's number."""
        return self.hold_stop(hit, action)()

    def hold_stop(self, hit: Hit, action: str) -> Callable[[], int | None]:
        """``on_hit`` in two halves: the hit is published now (``first``, the hit's
        ``rank_seq``), its stop when the returned function is called (it returns the stop's
        number). A debugger stop sends its snapshot to the client in between, so that the
        peers it pauses cannot reach the client before this rank's own stop does."""
        channel = self._connect()
        if channel is None:
            return _no_stop
        record = ranks.hit_record(hit, channel.me, action)
        published = not channel.first_hit_published
        self.first = channel.publish_hit(record)
        if published:
            hit.rank_seq = record.get("seq")
        hit.first = self.first
        self.check_unarmed()
        if action not in STOPPING_ACTIONS:
            return _no_stop
        return lambda: channel.publish_stop(record)

    def on_resume(self, n: int | None, hit: Hit) -> None:
        """The rank continues after pausing at ``hit`` (stop ``n``): its peers continue."""
        if n is not None and self.channel is not None:
            self.channel.publish_resume(n, hit.rank_seq)

    def script_ended(self, status: str, error: str | None, step: int | None) -> None:
        """``tensorpeek run|doctor`` in a rank: the script ended (its own exception handling
        replaces ``sys.excepthook``). A failure that is not a hit or a peer's stop is a crash;
        a stop on purpose (``StopRun``) ends the peers too."""
        if self.me is None or self.channel is None:
            return
        if status == "failed" and error and not _is_consequence(error):
            self._publish_crash(error, step)
        elif status == "stopped":
            record = ranks.event_record(
                "stopped", self.me, error or "the run was ended by tensorpeek", step=step
            )
            self.channel.publish_stop(record)

    def _publish_crash(self, error: str, step: int | None) -> None:
        if self.channel is None or self.me is None:
            return
        kind = "quit" if _error_name(error) == "BdbQuit" else "crashed"
        record = ranks.event_record(
            kind, self.me, f"rank {self.me.rank} {kind}: {error}", step=step, error=error
        )
        self.channel.publish_crash(record)

    @property
    def excepthook_active(self) -> bool:
        """Whether ``sys.excepthook`` reports crashes to the peers (only while armed)."""
        return self._hook_active

    def _install_excepthook(self) -> None:
        self._hook_active = True
        if self._previous_hook is None:
            self._previous_hook = sys.excepthook
            sys.excepthook = self._excepthook

    def _restore_excepthook(self) -> None:
        """Put the previous hook back; when something wrapped ours since (``init_process_group``
        wraps ``sys.excepthook`` to prefix ``[rank<r>]:``), ours stays in that chain, inert:
        taking it out would break the wrapper."""
        self._hook_active = False
        if self._previous_hook is not None and sys.excepthook == self._excepthook:
            sys.excepthook = self._previous_hook
            self._previous_hook = None

    def _excepthook(
        self, exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
    ) -> None:
        previous = self._previous_hook or sys.__excepthook__
        try:
            self.hold_peer_stop()
            error = f"{exc_type.__name__}: {exc}"
            consequence = _is_consequence(error) or issubclass(exc_type, PeerStopped)
            if self._hook_active and not consequence:
                from tensorpeek.common.steps import STEPS

                self._connect()
                stop = self.peer_stop()
                if stop is not None:
                    # a collective failed because the peer that stopped has gone (gloo's
                    # "Connection closed by peer" can come before the watcher reads the stop)
                    self.stopped_by = stop
                    _say(peer_stop_line(stop, self.me))
                else:
                    self._publish_crash(error.splitlines()[0] if error else error, STEPS.current())
        finally:
            previous(exc_type, exc, tb)


def _error_name(error: str) -> str:
    """``PeerStopped`` from ``"tensorpeek.engine.rank_watch.PeerStopped: ..."`` (the form of
    ``traceback.format_exception_only``) or from ``"PeerStopped: ..."``."""
    return error.split(":", 1)[0].strip().rsplit(".", 1)[-1]


def _is_consequence(error: str) -> bool:
    """An error that is a hit (published as one) or a peer's stop, not a crash."""
    return _error_name(error) in ("TensorBreakpointError", "PeerStopped")


RUNTIME = RankRuntime()
_FOLLOWING: list[Registry] = []


def follow(registry: Registry) -> None:
    """Start the runtime with the registry's first breakpoint and end it with the last one
    removed: wraps its ``wiring`` (set by ``engine.dispatch``) once."""
    if registry in _FOLLOWING:
        return
    _FOLLOWING.append(registry)
    inner = registry.wiring

    def wiring(reg: Registry) -> None:
        if inner is not None:
            inner(reg)
        # any breakpoint, enabled or not: one that fired ``once`` leaves the rank a peer
        RUNTIME.sync(bool(reg.breakpoints))

    registry.wiring = wiring
