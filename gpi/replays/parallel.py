"""Parallel verify: worker processes re-simulate the segments between keyframes.

A keyframe holds the whole world after its tick, so the ticks after one
keyframe up to and including the next can be re-simulated without the ticks
before: segment ``i`` covers ticks ``k_i + 1 .. k_{i+1}`` (``k_0`` is the
initial snapshot, the last segment ends at the last readable tick). Each
worker process builds its own simulator once (``factory(header)``, which must
pickle: a module-level function or a :func:`functools.partial` of one) and
then takes segments from a shared queue until none are left.

The parent feeds the checksums to :func:`gpi.replays.verify.check_checksums`
in tick order, as segments finish, so every check of serial verify runs
unchanged: per-tick checksums, block chains, and on divergence the same
localisation by a simulator in this process. Starting a segment from the
recorded keyframe instead of the re-simulated state loses nothing: the
segment before it ends *on* the keyframe tick, whose checksum is recorded, so
a world that reached the keyframe differently fails that check.

Segments are as long as the keyframe interval; a replay with one keyframe
interval gains nothing. Workers start with the ``spawn`` method (no state
inherited from a host with threads and shared memory); start-up costs an
interpreter, the imports and the simulator (plugin children included), which
is why :class:`VerifyPool` can be started before the clock is read.

Workers run plugin code (a confined worker runs every plugin in its own
process), so the parent trusts a worker as little as a plugin child: nothing
a worker sends is ever unpickled. Both directions carry msgpack arrays of
plain data over the pipe's byte frames (:func:`pack_message`, :func:`decode_worker_message`),
each frame at most :data:`MAX_FRAME` bytes, and the parent checks every
message against its schema (``["ready", pid]``, ``["sums", first,
[uint64, ...]]``, ``["error" | "unavailable", text, traceback]``); anything
else makes the worker faulty (:class:`VerifyWorkerError`).
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing as mp
import os
import time
import traceback
from collections.abc import Callable, Generator, Iterator
from multiprocessing.connection import Connection, wait
from typing import Any

import msgpack

from gpi.replays.errors import ReplayError, SimulatorUnavailableError, VerifyWorkerError
from gpi.replays.format import ReplayHeader
from gpi.replays.reader import Replay
from gpi.replays.verify import Progress, Simulator, VerifyResult, check_checksums, simulate_ticks

__all__ = ["VerifyPool", "VerifyWorkerError", "decode_worker_message", "pack_message", "segments", "verify_parallel"]

SimulatorFactory = Callable[[ReplayHeader], Simulator]

#: seconds a worker may take to build its simulator before the pool gives up
START_TIMEOUT = 120.0
#: seconds every segment may take on top of ``tick_timeout`` per tick
SEGMENT_GRACE = 30.0
#: environment of the workers on top of this process's: the pool is the
#: parallelism, so numerical libraries get one thread each (OpenBLAS threads
#: busy-wait and two pools of them halve a 2-core machine)
WORKER_ENV: dict[str, str] = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
#: bytes of one message between the parent and a worker (a segment's checksums: 9 bytes a tick)
MAX_FRAME = 64 << 20
#: characters of a worker's error text and traceback kept by the parent
MAX_ERROR_TEXT = 64 * 1024


def pack_message(*msg: Any) -> bytes:
    """One message as a msgpack array (plain data only: it cannot carry code)."""
    return msgpack.packb(list(msg), use_bin_type=True)


def decode_worker_message(data: bytes, i: int) -> tuple[Any, ...]:
    """A worker's message, checked against its schema; :class:`VerifyWorkerError` names what was wrong."""

    def bad(what: str) -> VerifyWorkerError:
        return VerifyWorkerError(f"verify worker {i} is faulty: it sent {what}; its answers are not trusted")

    try:
        msg = msgpack.unpackb(data, raw=False, strict_map_key=True)
    except Exception as exc:  # msgpack raises several unrelated types on garbage
        raise bad(f"a {len(data)}-byte frame that is not a msgpack message ({type(exc).__name__}), "
                  f"starting {data[:8].hex()}") from None
    if type(msg) is not list or not msg or type(msg[0]) is not str:
        raise bad(f"a {type(msg).__name__} where a message array was expected")
    kind = msg[0]
    if kind == "ready" and len(msg) == 2 and type(msg[1]) is int and 0 < msg[1] < 1 << 22:
        return tuple(msg)
    if kind == "sums" and len(msg) == 3 and type(msg[1]) is int and msg[1] >= 0 and type(msg[2]) is list:
        if all(type(c) is int and 0 <= c < 1 << 64 for c in msg[2]):
            return tuple(msg)
        raise bad("checksums that are not 64-bit unsigned integers")
    if kind in ("error", "unavailable") and len(msg) == 3 and type(msg[1]) is str and type(msg[2]) is str:
        return kind, msg[1][:MAX_ERROR_TEXT], msg[2][:MAX_ERROR_TEXT]
    raise bad(f"a malformed {kind[:40]!r} message of {len(msg)} fields")


def segments(replay: Replay) -> list[tuple[int, int]]:
    """The ``(first, last)`` tick ranges between keyframes, in tick order (both inclusive)."""
    if replay.tick_count == 0:
        return []
    last = replay.end_tick - 1
    bounds = [replay.start_tick - 1] + [k for k in replay.keyframe_ticks if replay.start_tick <= k < last]
    return [(b + 1, e) for b, e in zip(bounds, bounds[1:] + [last])]


@contextlib.contextmanager
def _environment(extra: dict[str, str]) -> Iterator[None]:
    """Set ``extra`` in ``os.environ`` for the duration (children started meanwhile inherit it)."""
    saved = {k: os.environ.get(k) for k in extra}
    os.environ.update(extra)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _visible_pid() -> int:
    """This process's pid as the parent sees it: a confined worker may be in its own pid namespace.

    The first ``NSpid`` field of ``/proc/self/status`` (the outermost namespace); ``os.getpid()``
    when there is none.
    """
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("NSpid:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return os.getpid()


def _worker(conn: Connection, factory: SimulatorFactory, path: str) -> None:
    """A worker's loop: build the simulator, then answer ``("seg", first, last)`` with checksums."""
    sim: Any = None
    try:
        with Replay.open(path) as rp:
            sim = factory(rp.header)
            conn.send_bytes(pack_message("ready", _visible_pid()))
            while True:
                msg = msgpack.unpackb(conn.recv_bytes(), raw=False)
                if msg[0] != "seg":
                    break
                first, last = int(msg[1]), int(msg[2])
                sums = [int(c) for _, _, c in simulate_ticks(rp, sim, first, last + 1)]
                conn.send_bytes(pack_message("sums", first, sums))
    except (EOFError, BrokenPipeError, KeyboardInterrupt):
        pass  # the parent went away or stopped us
    except BaseException as exc:
        kind = "unavailable" if isinstance(exc, SimulatorUnavailableError) else "error"
        try:
            conn.send_bytes(pack_message(kind, f"{type(exc).__name__}: {exc}", traceback.format_exc()))
        except OSError:
            pass
    finally:
        close = getattr(sim, "close", None)
        if callable(close):
            close()
        conn.close()


class VerifyPool:
    """``jobs`` worker processes, each with its own simulator of one replay file.

    Use as a context manager; :meth:`checksums` hands out the segments of the
    replay and yields their checksums in tick order.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        factory: SimulatorFactory,
        jobs: int,
        *,
        tick_timeout: float | None = 1.0,
        grace: float = SEGMENT_GRACE,
    ) -> None:
        """``tick_timeout``: seconds per tick a segment may take (plus ``grace``
        seconds) before its worker counts as stalled and is killed."""
        if jobs < 1:
            raise ValueError(f"a verify pool needs at least one worker, got jobs={jobs}")
        self.path = os.fspath(path)
        self.jobs = jobs
        self.tick_timeout = tick_timeout
        self.grace = grace
        self.pids: list[int] = []
        self._procs: list[Any] = []
        self._conns: list[Connection] = []
        self._closed = False
        ctx = mp.get_context("spawn")
        try:
            with _environment(WORKER_ENV):  # a spawned child starts with this process's environment
                for _ in range(jobs):
                    parent, child = ctx.Pipe()
                    proc = ctx.Process(target=_worker, args=(child, factory, self.path), daemon=True,
                                       name="gpi-verify-worker")
                    proc.start()
                    child.close()
                    self._procs.append(proc)
                    self._conns.append(parent)
            deadline = time.monotonic() + START_TIMEOUT
            for i in range(jobs):
                self.pids.append(int(self._expect(i, "ready", deadline)[1]))
        except BaseException:
            self.close()
            raise

    def _recv(self, i: int, deadline: float | None) -> tuple[Any, ...]:
        conn, proc = self._conns[i], self._procs[i]
        timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
        ready = wait([conn, proc.sentinel], timeout)
        if conn in ready:
            try:
                data = conn.recv_bytes(MAX_FRAME)
            except EOFError:
                pass
            except OSError as exc:  # a frame over MAX_FRAME, or a broken pipe
                self._kill(i)
                raise VerifyWorkerError(f"verify worker {i} is faulty: its message could not be read "
                                        f"({exc}); its answers are not trusted") from None
            else:
                try:
                    return decode_worker_message(data, i)
                except VerifyWorkerError:
                    self._kill(i)
                    raise
        elif not ready:
            raise VerifyWorkerError(f"verify worker {i} did not start its simulator in {START_TIMEOUT:.0f} s")
        proc.join(1.0)
        raise VerifyWorkerError(f"verify worker {i} (pid {proc.pid}) died with exit code {proc.exitcode}")

    def _expect(self, i: int, kind: str, deadline: float | None) -> tuple[Any, ...]:
        msg = self._recv(i, deadline)
        if msg[0] == kind:
            return msg
        text = str(msg[1]) if len(msg) > 1 else repr(msg)
        if msg[0] == "unavailable":
            raise SimulatorUnavailableError(text)
        raise VerifyWorkerError(f"verify worker {i}: {text}")

    def checksums(self, replay: Replay) -> Generator[tuple[int, list[int]], None, None]:
        """Yield ``(first_tick, checksums)`` of every segment of ``replay``, in tick order.

        Stop iterating to stop handing out segments (the ones in flight finish).
        """
        if self._closed:
            raise VerifyWorkerError("the verify pool is closed")
        todo = segments(replay)
        queue = list(reversed(todo))
        busy: dict[int, tuple[int, int, float]] = {}  # worker -> (first, last, deadline)
        done: dict[int, list[int]] = {}

        def hand_out(i: int) -> None:
            if queue:
                first, last = queue.pop()
                self._conns[i].send_bytes(pack_message("seg", first, last))
                limit = math.inf if self.tick_timeout is None else self.grace + self.tick_timeout * (last - first + 1)
                busy[i] = (first, last, time.monotonic() + limit)

        for i in range(self.jobs):
            hand_out(i)
        try:
            for first, _ in todo:
                while first not in done:
                    soonest = min(d for _, _, d in busy.values())
                    timeout = None if soonest == math.inf else max(0.0, soonest - time.monotonic())
                    ready = wait([self._conns[i] for i in busy] + [self._procs[i].sentinel for i in busy], timeout)
                    for i in list(busy):
                        if self._conns[i] in ready or self._procs[i].sentinel in ready:
                            msg = self._expect(i, "sums", None)
                            want_first, want_last = busy[i][0], busy[i][1]
                            if msg[1] != want_first or len(msg[2]) != want_last - want_first + 1:
                                self._kill(i)
                                raise VerifyWorkerError(
                                    f"verify worker {i} is faulty: asked for ticks {want_first}..{want_last}, "
                                    f"it answered {len(msg[2])} checksums from tick {msg[1]}; its answers "
                                    "are not trusted")
                            done[msg[1]] = msg[2]
                            del busy[i]
                            hand_out(i)
                        elif time.monotonic() >= busy[i][2]:
                            self._stalled(i, *busy.pop(i))
                yield first, done.pop(first)
        finally:
            for i in list(busy):  # drain the segments in flight so the workers stay usable
                try:
                    if wait([self._conns[i], self._procs[i].sentinel], max(0.0, busy[i][2] - time.monotonic())):
                        self._expect(i, "sums", None)
                    else:
                        self._procs[i].kill()
                except ReplayError:
                    pass

    def _kill(self, i: int) -> None:
        """Stop worker ``i`` for good (it is faulty or stalled)."""
        proc = self._procs[i]
        if proc.is_alive():
            proc.kill()
        proc.join(5.0)

    def _stalled(self, i: int, first: int, last: int, _deadline: float) -> None:
        proc = self._procs[i]
        proc.kill()
        proc.join(5.0)
        assert self.tick_timeout is not None
        raise VerifyWorkerError(
            f"verify worker {i} (pid {proc.pid}) gave no answer for ticks {first}..{last} within "
            f"{self.grace + self.tick_timeout * (last - first + 1):.1f} s and was killed: a plugin "
            "may hang; verify with --isolation process, which puts a deadline on every system call"
        )

    def close(self) -> None:
        """Stop the workers (their simulators close); safe twice."""
        if self._closed:
            return
        self._closed = True
        for conn in self._conns:
            try:
                conn.send_bytes(pack_message("quit"))
            except OSError:
                pass
        for proc in self._procs:
            proc.join(10.0)
            if proc.is_alive():
                proc.kill()
                proc.join(5.0)
        for conn in self._conns:
            conn.close()

    def __enter__(self) -> VerifyPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{self.jobs} workers"
        return f"<VerifyPool {self.path!r} {state}>"


def verify_parallel(
    replay: Replay,
    pool: VerifyPool,
    simulator: Callable[[], Simulator],
    *,
    progress: Progress | None = None,
    localize: bool = True,
) -> VerifyResult:
    """:func:`~gpi.replays.verify.verify` with the re-simulation done by ``pool``.

    ``simulator()`` builds (or returns) a simulator in this process; it is
    only called to localise a divergence. The result equals serial verify's.
    """
    sums: dict[int, int] = {}
    feed = pool.checksums(replay)

    def checksum_of(rec: Any, _state: Any) -> int:
        while rec.tick not in sums:
            first, values = next(feed)
            sums.update(zip(range(first, first + len(values)), values))
        return sums.pop(rec.tick)

    try:
        return check_checksums(replay, checksum_of, simulator, progress=progress, localize=localize)
    finally:
        feed.close()
