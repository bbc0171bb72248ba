"""Recording a real plugin host into a ``.gpir`` replay.

:class:`HostRecorder` sits between a :class:`~gpi.plugins.host.PluginHost`
(and the :class:`~gpi.runtime.app.App` around it) and a
:class:`~gpi.replays.writer.Recorder`:

* :func:`header_from_host` builds the replay header from the host: seed, tick
  rate (``1 / host.dt``), the loaded plugins with their versions, content
  hashes (:func:`gpi.plugins.signing.content_hash`) and folders, the world
  schema, and the world snapshot before the first recorded tick;
* :meth:`HostRecorder.record_tick` (called after each tick) stores the input
  (the recorder delta-encodes it), the world checksum, the tick's faults, the
  plugin swaps applied before it, and a keyframe snapshot when
  :meth:`~gpi.replays.writer.Recorder.keyframe_due` says so.

Faults are derived from the host's per-call records of the tick (one record
per scheduled system, see :data:`gpi.plugins.host.records.RECORD_FIELDS`): every
system of the schedule whose commands were *not* applied that tick (status
other than ``ok``, or no call at all, e.g. a disabled plugin) becomes a fault
event ``{"kind", "plugin", "system", "skip": True, "host_kind", "error"}``,
with ``kind`` one of :data:`gpi.replays.records.FAULT_KINDS`. A replay
simulator skips exactly those systems in that tick, so a crash, a stall or a
timeout during recording re-simulates to the same checksums. A child restart
adds ``{"kind": "restarted", "plugin": ...}`` (informational). A hot-swap
(:meth:`PluginHost.reload`) between ticks is recorded on the next tick as
``{"plugin", "version", "old", "new"}`` (content hashes); the simulator
reloads the plugin there.

Cost per tick. Recording runs after every tick of a real-time host, so the
common tick (every scheduled system ran ``ok``, no new host fault, no restart,
no swap) takes a fast path: :meth:`HostRecorder._quiet` checks exactly those
conditions on the call records and the plugins' identities and restart
counters, and only when one fails do :meth:`~HostRecorder.tick_faults` and
:meth:`~HostRecorder.tick_swaps` build their events (with the same results as
without the fast path). The world checksum is then the bulk of the cost; an
input given as a dict is turned into an :class:`InputState` only when it
differs from the previous tick's.

The App hook: :func:`make_recorder` is ``App.recorder_factory``'s default;
the App calls :meth:`HostRecorder.after_tick` after every tick. Faults come
from the call records, which also see systems that never ran.

A closed recorder stops listening (``PluginHost.off_call_record``), so
nothing of a finished recording stays alive with the host.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from gpi.plugins.faults import replay_fault_kind
from gpi.plugins.hoststate import capture_host_state
from gpi.replays import InputState, Recorder, ReplayHeader
from gpi.replays.inputs import same_input_dict

__all__ = ["HostRecorder", "header_from_host", "make_recorder", "plugin_entries"]

_ERROR_CHARS = 300  # fault texts are kept short: they are stored in the file
_NO_EVENTS: tuple[dict[str, Any], ...] = ()  # faults/swaps of a quiet tick (shared, never mutated)
_EMPTY_INPUT = InputState()
_RECS_LIMIT = 4096  # call records kept between two recorded ticks (many more: nobody records)


def plugin_entries(host: Any) -> list[dict[str, Any]]:
    """``[{name, version, content_hash, path}]`` of the host's plugins in load order."""
    from gpi.plugins.signing import content_hash

    out = []
    for name, lp in host.plugins.items():
        path = Path(lp.manifest.path).resolve()
        out.append(
            {
                "name": name,
                "version": str(lp.manifest.version),
                "content_hash": content_hash(path),
                "path": str(path),
            }
        )
    return out


def header_from_host(
    host: Any,
    *,
    start_tick: int | None = None,
    keyframe_interval: int = 300,
    checksum_interval: int = 0,
    meta: Mapping[str, Any] | None = None,
) -> ReplayHeader:
    """The replay header for recording ``host`` from its current state on."""
    world = host.world
    rate = round(1.0 / host.dt, 6)
    m: dict[str, Any] = {"isolation": host.isolation}
    m.update(meta or {})
    return ReplayHeader(
        seed=int(host.seed),
        tick_rate=rate,
        plugins=tuple(plugin_entries(host)),
        schema=tuple(c.to_dict() for c in world.components.values()),
        initial_snapshot=capture_host_state(host),
        start_tick=int(host.tick_count if start_tick is None else start_tick),
        keyframe_interval=keyframe_interval,
        checksum_interval=checksum_interval,
        meta=m,
    )


class HostRecorder:
    """Records a :class:`PluginHost` tick by tick into a replay file (see module doc).

    Create it between ticks (the header's initial snapshot is the world now),
    call :meth:`record_tick` (or :meth:`after_tick`) after every tick, and
    :meth:`close` at the end; it is a context manager, closing twice is safe.
    """

    _closed = True

    def __init__(
        self,
        host: Any,
        path: str | os.PathLike[str],
        *,
        keyframe_interval: int = 300,
        checksum_interval: int = 0,
        flush_interval_s: float = 1.0,
        block_max_ticks: int | None = None,
        fsync: bool = False,
        meta: Mapping[str, Any] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.host = host
        self.header = header_from_host(
            host,
            keyframe_interval=keyframe_interval,
            checksum_interval=checksum_interval,
            meta=meta,
        )
        self.recorder = Recorder(
            path,
            self.header,
            flush_interval_s=flush_interval_s,
            block_max_ticks=block_max_ticks,
            fsync=fsync,
            clock=clock,
        )
        self.path = self.recorder.path
        self._recs: list[Mapping[str, Any]] = []  # the host's call records since the last tick
        self._plugins = dict(host.plugins)  # name -> LoadedPlugin object we saw last
        self._hashes = {p["name"]: p["content_hash"] for p in self.header.plugins}
        self._restarts = {n: lp.restarts for n, lp in host.plugins.items()}
        self._faults_seen = host.events.fault_count
        self._order: list[tuple[str, str, str]] = []
        self._order_of: Any = None
        self._calls_ok = True  # every call record since the last tick said "ok"
        self._seen: list[tuple[Any, int]] = []  # (LoadedPlugin, restarts) in load order, see _quiet
        self._sync_seen()
        self._schedule_order()
        rh = self.recorder.header
        self._kf_interval = int(rh.keyframe_interval)
        self._kf_start = int(rh.start_tick)
        self._last_dict: dict[str, Any] | None = None  # the last input given as a dict ...
        self._last_state = _EMPTY_INPUT  # ... and its InputState
        self.faults_recorded = 0
        self.swaps_recorded = 0
        host.on_call_record(self._on_call)
        self._closed = False

    # -- per call / per tick -----------------------------------------------------

    def _on_call(self, rec: Mapping[str, Any]) -> None:
        # kept whole for tick_faults (the host never changes a record it emitted); the status
        # is looked at now, while the record is fresh in the cache, rather than after the tick
        if not self._closed:
            recs = self._recs
            recs.append(rec)
            if rec["status"] != "ok":
                self._calls_ok = False
            if len(recs) > _RECS_LIMIT:  # ticks nobody recorded: keep each system's latest call
                self._recs = list({(r["plugin"], r["system"]): r for r in recs}.values())

    def _sync_seen(self) -> None:
        """Remember the plugins whose swap and restart state is up to date (for :meth:`_quiet`)."""
        plugins, restarts = self._plugins, self._restarts
        seen: list[tuple[Any, int]] = []
        for name, lp in self.host.plugins.items():
            n = lp.restarts
            current = restarts.get(name) == n and plugins.get(name) is lp
            seen.append((lp, n) if current else (None, -1))  # None: the next tick goes the full way
        self._seen = seen

    def _quiet(self) -> bool:
        """True (and the tick's call records consumed) when the tick had nothing to record.

        Nothing to record: as many call records as scheduled systems (the host
        emits exactly one per system and tick), all ``ok``; the host logged no
        fault; every plugin is the same ``LoadedPlugin`` object with the
        same restart count as last tick. Then :meth:`tick_faults` and
        :meth:`tick_swaps` would both return ``[]``; otherwise this returns
        False and consumes nothing.
        """
        host = self.host
        recs = self._recs
        if (
            not self._calls_ok
            or len(recs) != len(self._order)
            or host.schedule is not self._order_of
            or host.events.fault_count != self._faults_seen
        ):
            return False
        plugins = host.plugins
        seen = self._seen
        if len(plugins) != len(seen):
            return False
        for lp, (lp0, restarts) in zip(plugins.values(), seen):
            if lp is not lp0 or lp.restarts != restarts:
                return False
        recs.clear()
        return True

    def _schedule_order(self) -> list[tuple[str, str, str]]:
        sched = self.host.schedule
        if sched is not self._order_of:
            decls = sched.systems
            order = []
            for key in sched.order():
                d = decls.get(key)
                plugin, system = (d.group, d.name) if d is not None else key.split(".", 1)
                order.append((key, plugin, system))
            self._order, self._order_of = order, sched
        return self._order

    def tick_faults(self) -> list[dict[str, Any]]:
        """Fault events of the tick just run (consumes the call records since the last call)."""
        recs, self._recs = self._recs, []
        self._calls_ok = True
        calls = {
            f"{rec['plugin']}.{rec['system']}": (rec["status"], rec.get("error") or "") for rec in recs
        }
        host_faults = self.host.events.faults_since(self._faults_seen)
        self._faults_seen = self.host.events.fault_count
        out: list[dict[str, Any]] = []
        if len(calls) != len(self._schedule_order()) or any(s != "ok" for s, _ in calls.values()):
            kinds = {(f.get("plugin"), f.get("system")): str(f.get("kind")) for f in host_faults}
            for key, plugin, system in self._schedule_order():
                status, error = calls.get(key, ("not run", ""))
                if status == "ok":
                    continue
                host_kind = kinds.get((plugin, system), status)
                out.append(
                    {
                        "kind": replay_fault_kind(host_kind),
                        "plugin": plugin,
                        "system": system,
                        "skip": True,
                        "host_kind": host_kind,
                        "error": str(error)[:_ERROR_CHARS],
                    }
                )
        for name, lp in self.host.plugins.items():
            if lp.restarts != self._restarts.get(name, lp.restarts):
                out.append({"kind": "restarted", "plugin": name, "restarts": int(lp.restarts)})
            self._restarts[name] = lp.restarts
        self._sync_seen()
        self.faults_recorded += len(out)
        return out

    def tick_swaps(self) -> list[dict[str, Any]]:
        """Plugin swaps since the last tick (a reloaded plugin has a new ``LoadedPlugin``)."""
        plugins = self.host.plugins
        if all(self._plugins.get(n) is lp for n, lp in plugins.items()):
            return []
        from gpi.plugins.signing import content_hash

        out = []
        for name, lp in plugins.items():
            if self._plugins.get(name) is lp:
                continue
            new = content_hash(Path(lp.manifest.path))
            out.append(
                {
                    "plugin": name,
                    "version": str(lp.manifest.version),
                    "old": self._hashes.get(name, ""),
                    "new": new,
                    "path": str(Path(lp.manifest.path).resolve()),
                }
            )
            self._hashes[name] = new
        self._plugins = dict(plugins)
        self._sync_seen()
        self.swaps_recorded += len(out)
        return out

    def record_tick(
        self,
        tick: int,
        input_state: InputState | Mapping[str, Any] | None,
        checksum: int | None = None,
        faults: Sequence[Mapping[str, Any]] | None = None,
        swaps: Sequence[Mapping[str, Any]] | None = None,
        keyframe: bytes | None = None,
    ) -> None:
        """Record the tick the host just ran.

        The file numbers ticks as the host does (``host.tick_count - 1``: the
        tick number its systems saw, which seeds their RNG), whatever ``tick``
        the caller counts (the App passes its loop's). ``input_state`` is the
        tick's full input (an ``InputState`` or its ``to_dict()``);
        ``checksum`` defaults to the world's. ``faults`` from the caller are
        ignored (they come from the host's call records); ``swaps`` default to
        those detected since the last tick; a keyframe is taken when due.
        """
        tick = int(self.host.tick_count) - 1
        if input_state.__class__ is not InputState:
            input_state = self._input_state(input_state)
        if self._quiet():
            rec_faults: Sequence[Mapping[str, Any]] = _NO_EVENTS
            rec_swaps: Sequence[Mapping[str, Any]] = _NO_EVENTS if swaps is None else list(swaps)
        else:
            rec_faults = self.tick_faults()
            rec_swaps = self.tick_swaps() if swaps is None else list(swaps)
        if checksum is None:
            checksum = self._checksum()
        if keyframe is None and self.keyframe_due(tick):
            keyframe = capture_host_state(self.host)
        if rec_faults or rec_swaps or keyframe is not None:
            self.recorder.record_tick(tick, input_state, checksum, rec_faults, rec_swaps, keyframe)
        else:
            self.recorder.record_quiet(tick, input_state, checksum)

    def _input_state(self, given: InputState | Mapping[str, Any] | None) -> Any:
        """``given`` as an InputState; a dict equal to the last one (exactly) reuses its state.

        Anything else is passed on as it is (the recorder says what is wrong with it).
        """
        if given is None:
            return _EMPTY_INPUT
        if isinstance(given, InputState) or not isinstance(given, Mapping):
            return given
        last = self._last_dict
        if last is not None and same_input_dict(given, last):
            return self._last_state
        state = InputState.from_dict(given)
        self._last_dict = state.to_dict()  # our own copy: the caller may reuse its dict
        self._last_state = state
        return state

    def after_tick(self, input_state: InputState | Mapping[str, Any] | None = None) -> None:
        """Record the tick the host just ran (``host.tick_count - 1``)."""
        # the common tick inline (an InputState, nothing happened, no keyframe due), else
        # record_tick; both write the same record
        tick = self.host.tick_count - 1
        if (
            input_state.__class__ is not InputState
            or tick.__class__ is not int
            or self.keyframe_due(tick)
            or not self._quiet()
        ):
            self.record_tick(0, input_state)
            return
        self.recorder.record_quiet(tick, input_state, self._checksum())

    def _checksum(self) -> int:
        return int(self.host.world.checksum())

    def keyframe_due(self, tick: int) -> bool:
        """Whether a keyframe will be stored for ``tick``."""
        k = self._kf_interval
        return bool(k) and tick > self._kf_start and (tick - self._kf_start) % k == 0

    def flush(self) -> None:
        """Write buffered ticks now."""
        self.recorder.flush()

    @property
    def closed(self) -> bool:
        """True after :meth:`close`."""
        return self._closed

    def close(self, stopped: str | None = None) -> None:
        """Flush, finish the file and stop listening to the host; safe twice (``stopped``: see Recorder.close)."""
        if self._closed:
            return
        self._closed = True
        self._recs = []
        self.host.off_call_record(self._on_call)
        self.recorder.close(stopped)

    def __enter__(self) -> HostRecorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<HostRecorder {self.path!r} {self.recorder!r}>"


def make_recorder(app: Any, path: str | os.PathLike[str], **kwargs: Any) -> HostRecorder:
    """``App.recorder_factory``'s default: record ``app``'s host from its current tick to ``path``."""
    app.start()
    cfg = app.config
    meta: dict[str, Any] = {"camera_center": list(cfg.camera_center)}
    if cfg.population is not None:
        meta["population"] = int(cfg.population)
    return HostRecorder(app.host, path, meta=meta, **kwargs)
