"""Re-simulating replays on the real plugin host: the ``gpi replay`` simulator.

``gpi replay verify|diff|play|render`` build a simulator with
:func:`make_simulator` (the default ``--simulator``, see
:mod:`gpi.runtime.cli.cmd_replay`). :class:`HostSimulator` implements the
:class:`~gpi.replays.verify.Simulator` protocol over a fresh
:class:`~gpi.ecs.World` and :class:`~gpi.plugins.host.PluginHost`:

* plugin folders (:func:`find_plugin_dirs`): for each plugin of the replay
  header, the folders :func:`gpi.plugins.discovery.find_plugins` finds under
  each search entry in turn: the explicit ``plugin_dirs``, the folder
  recorded in the header (``path``), the ``search`` entries (``--plugins``),
  ``$GPI_REPLAY_PLUGINS``, ``$GPI_PLUGIN_PATH`` (each a plugin folder or a
  folder of plugin folders). Among the folders that hold a plugin of that
  name, one whose content hash equals the recorded one wins, else the first;
* a loaded plugin whose content hash differs from the header's is refused
  with :class:`~gpi.replays.errors.PluginMismatchError` naming the plugin and
  both hashes, unless ``force``;
* ``step(input, record)`` sets the host's tick number to the record's (the
  deterministic RNG is seeded by tick), reloads plugins the record swapped,
  skips the systems the record says did not apply their commands (a crash,
  stall or timeout while recording, see :mod:`gpi.runtime.replay.recording`),
  runs one ``host.tick`` with the input as the App passes it (``to_dict()``)
  and returns ``world.checksum()``;
* ``world_diff(snapshot)`` lists differing components and entities with both
  values, and the systems that wrote that component in the last tick (from
  the host's per-call records: status ok and at least one command, among the
  systems declaring the component in ``writes``).

Isolation: ``isolation`` argument, else ``$GPI_REPLAY_ISOLATION``, else the
header's ``meta["isolation"]``, else ``"process"``. Results are identical in
both modes; ``"none"`` is faster (no IPC) but runs plugin code unconfined.
:func:`confined_simulator` (``make_simulator(isolation="confined")``) is
``"none"`` inside a process that first confined itself with the plugin
sandbox: what ``gpi replay verify`` runs in its worker processes.
``skip_effect_free`` leaves out systems that cannot change the world
(:meth:`HostSimulator.effect_free_systems`); verify sets it.

Crash reports and save stores of a re-simulation never touch the user's: the
host gets a temporary ``data_dir`` (or the caller's) and an in-memory save
store.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import stat
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from gpi.ecs import World
from gpi.ecs.schedule import Schedule
from gpi.errors import GpiError
from gpi.plugins.discovery import find_plugins
from gpi.plugins.host import PluginHost
from gpi.plugins.hoststate import capture_host_state, decode_host_state, restore_host_state
from gpi.plugins.manifest import load_manifest
from gpi.plugins.sandbox import SandboxPolicy, apply_sandbox
from gpi.plugins.sandbox.seccomp import WORLD_OWNER_SYSCALLS
from gpi.plugins.signing import Keyring, content_hash
from gpi.replays import (
    InputState,
    PluginMismatchError,
    ReplayHeader,
    SimulatorUnavailableError,
    TickRecord,
    check_plugins,
)
from gpi.replays.worldsim import world_differences
from gpi.version import PACKAGE_DIR

__all__ = [
    "HostSimulator",
    "confined_simulator",
    "find_plugin_dirs",
    "make_simulator",
]

#: replay fault kinds that mean "the system's commands were not applied" when a
#: fault carries no explicit ``skip`` flag (recordings by other recorders)
SKIP_KINDS = frozenset({"skipped", "crashed", "stalled", "disabled"})


# -- plugin folders ---------------------------------------------------------------


def _search_entries(extra: Iterable[str | os.PathLike[str]]) -> list[Path]:
    out = [Path(p) for p in extra]
    for var in ("GPI_REPLAY_PLUGINS", "GPI_PLUGIN_PATH"):
        out += [Path(p) for p in os.environ.get(var, "").split(os.pathsep) if p]
    return out


def _candidates(name: str, entries: Sequence[Path]) -> list[Path]:
    """Folders holding a plugin called ``name``, one per search entry that has one, in entry order."""
    ring = Keyring()  # the signature state plays no part here: only names and folders
    out: list[Path] = []
    for entry in entries:
        if not entry.is_dir():
            continue
        found = find_plugins([entry], include_defaults=False, entry_points=False, keyring=ring).by_name()
        hit = found.get(name)
        if hit is not None and hit.path.resolve() not in out:
            out.append(hit.path.resolve())
    return out


def find_plugin_dirs(
    header: ReplayHeader,
    *,
    plugin_dirs: Sequence[str | os.PathLike[str]] = (),
    search: Sequence[str | os.PathLike[str]] = (),
    force: bool = False,
) -> tuple[list[Path], list[dict[str, Any]]]:
    """The folders of the header's plugins and ``[{name, version, content_hash}]`` found there.

    Raises :class:`PluginMismatchError` when a plugin cannot be found, or
    (unless ``force``) when a found plugin's content hash differs from the
    recorded one; the message names the plugin and both hashes.
    """
    dirs = [Path(d) for d in plugin_dirs]
    paths = _search_entries(search)
    found: list[Path] = []
    loaded: list[dict[str, Any]] = []
    missing: list[str] = []
    for p in header.plugins:
        name = str(p["name"])
        recorded = [Path(p["path"])] if p.get("path") else []
        cands = _candidates(name, [*dirs, *recorded, *paths])
        if not cands:
            missing.append(name)
            continue
        hashes = [content_hash(c) for c in cands]
        pick = hashes.index(p["content_hash"]) if p["content_hash"] in hashes else 0
        found.append(cands[pick])
        m = load_manifest(cands[pick], check_entry=False)
        loaded.append({"name": name, "version": m.version, "content_hash": hashes[pick]})
    if missing:
        where = [str(p.get("path")) for p in header.plugins if p["name"] in missing and p.get("path")]
        raise PluginMismatchError(
            f"cannot find plugin(s) {missing} of the replay (recorded at {where or 'no path'}; "
            f"searched {[str(s) for s in paths] or 'no search path'}); pass the folders with "
            "--plugins DIR or set GPI_REPLAY_PLUGINS"
        )
    check_plugins(header, loaded, force=force)
    return found, loaded


# -- the simulator ----------------------------------------------------------------


class HostSimulator:
    """A :class:`~gpi.replays.verify.Simulator` over a real :class:`PluginHost` (see module doc)."""

    _closed = True
    _host: PluginHost | None = None  # class defaults: close() works after a failed __init__
    _world: World | None = None
    _data_dir: str | None = None

    def __init__(
        self,
        header: ReplayHeader,
        *,
        plugin_dirs: Sequence[str | os.PathLike[str]] = (),
        search: Sequence[str | os.PathLike[str]] = (),
        isolation: str | None = None,
        force: bool = False,
        sandbox: bool | None = None,
        timeout: float | None = None,
        diff_limit: int = 200,
        skip_effect_free: bool = False,
        data_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        self.header = header
        self.skip_effect_free = skip_effect_free
        self._filtered: tuple[Schedule, frozenset[str], Schedule] | None = None
        self._effect_free: tuple[Schedule, frozenset[str]] | None = None
        self.dirs, self.loaded = find_plugin_dirs(
            header, plugin_dirs=plugin_dirs, search=search, force=force
        )
        iso = (
            isolation
            or os.environ.get("GPI_REPLAY_ISOLATION")
            or str(header.meta.get("isolation") or "process")
        )
        self.isolation = iso
        self.diff_limit = diff_limit
        self._world = World(seed=header.seed)
        kwargs: dict[str, Any] = {"isolation": iso, "dt": 1.0 / header.tick_rate,
                                  "seed": header.seed, "sandbox": sandbox}
        if timeout is not None:
            kwargs["timeout"] = timeout
        if data_dir is None:  # ours to remove; the caller's otherwise
            self._data_dir = data_dir = tempfile.mkdtemp(prefix="gpi-replay-sim-")
        kwargs["data_dir"] = data_dir
        self._calls: list[tuple[str, str, int]] = []  # (plugin, system, ops) applied last tick
        self.last_tick: int | None = None
        try:
            self._host = PluginHost(self.world, on_call_record=self._on_call, **kwargs)
            self._closed = False
            self.host.saves.in_memory = True  # the recorded items come from the replay, nothing persists
            self.host.load(*self.dirs)
            restore_host_state(self.host, header.initial_snapshot)
        except BaseException:
            self.close()
            raise

    @property
    def host(self) -> PluginHost:
        """The plugin host that re-simulates (raises once closed)."""
        if self._host is None:
            raise SimulatorUnavailableError(f"{self!r} is closed")
        return self._host

    @property
    def world(self) -> World:
        """The re-simulated world (raises once closed)."""
        if self._world is None:
            raise SimulatorUnavailableError(f"{self!r} is closed")
        return self._world

    # -- Simulator protocol ---------------------------------------------------------

    def _on_call(self, rec: Mapping[str, Any]) -> None:
        if rec.get("status") == "ok" and rec.get("ops"):
            self._calls.append((str(rec["plugin"]), str(rec["system"]), int(rec["ops"])))

    def reset_to(self, snapshot: bytes) -> None:
        """Load a host state (world and saved items: the header's initial one or a keyframe)."""
        restore_host_state(self.host, snapshot)
        self._calls = []
        self.last_tick = None

    def skipped_systems(self, record: TickRecord) -> set[str]:
        """Keys ``plugin.system`` whose commands were not applied in ``record``'s tick."""
        out = set()
        for f in record.faults:
            system = f.get("system")
            if system and f.get("skip", f.get("kind") in SKIP_KINDS):
                out.add(f"{f.get('plugin')}.{system}")
            elif not system and f.get("kind") == "disabled" and f.get("plugin"):
                lp = self.host.plugins.get(str(f["plugin"]))
                if lp is not None:
                    out.update(f"{lp.name}.{s}" for s in lp.systems)
        return out

    def effect_free_systems(self) -> set[str]:
        """Keys ``plugin.system`` whose command lists cannot change the world.

        Such a system declares no writes, spawns, despawns, resources or
        events, watches no changes (its last-run tick is world state), and its plugin holds no
        ``save`` grant, so host validation
        rejects any command it could send; only its draw list and log remain.
        Verify skips them with ``skip_effect_free`` (the same no-hidden-state
        assumption that seeking from a keyframe makes).
        """
        out = set()
        for lp in self.host.plugins.values():
            if "save" in lp.granted:
                continue
            for spec in lp.systems.values():
                if not (spec.writes or spec.structural or spec.resources or spec.events or spec.watches):
                    out.add(f"{lp.name}.{spec.name}")
        return out

    def _schedule_without(self, skip: frozenset[str]) -> Schedule:
        full = self.host.schedule
        cached = self._filtered
        if cached is not None and cached[0] is full and cached[1] == skip:
            return cached[2]
        stages = {
            st: [w2 for w2 in ([k for k in wave if k not in skip] for wave in waves) if w2]
            for st, waves in full.stages.items()
        }
        filtered = Schedule(stages=stages, systems=full.systems, warnings=full.warnings)
        self._filtered = (full, skip, filtered)
        return filtered

    def step(self, input: InputState, record: TickRecord) -> int:
        """Run ``record``'s tick with ``input``; returns the world checksum after it."""
        for sw in record.swaps:
            self._swap(sw)
        host = self.host
        host.tick_count = record.tick
        self._calls = []
        skip = self.skipped_systems(record) if record.faults else set()
        if self.skip_effect_free:
            if self._effect_free is None or self._effect_free[0] is not host.schedule:
                self._effect_free = (host.schedule, frozenset(self.effect_free_systems()))
            skip |= self._effect_free[1]
        if skip:
            full = host.schedule
            host.schedule = self._schedule_without(frozenset(skip))
            try:
                host.tick(input.to_dict())
            finally:
                host.schedule = full
        else:
            host.tick(input.to_dict())
        self.last_tick = record.tick
        return self.world.checksum()

    def _swap(self, sw: Mapping[str, Any]) -> None:
        name = str(sw.get("plugin"))
        if name in self.host.plugins:
            self.host.reload(name)

    def snapshot(self) -> bytes:
        """The current host state (world and saved items) as :meth:`reset_to` takes it."""
        return capture_host_state(self.host)

    def checksum(self) -> int:
        """The current world checksum."""
        return self.world.checksum()

    def writers(self, component: str) -> list[str]:
        """Systems that applied commands declaring ``component`` in ``writes`` in the last tick."""
        out = []
        for plugin, system, _ in self._calls:
            lp = self.host.plugins.get(plugin)
            spec = lp.systems.get(system) if lp is not None else None
            if spec is not None and component in spec.writes:
                out.append(f"{plugin}.{system}")
        return out

    def world_diff(self, other_snapshot: bytes) -> list[tuple[Any, ...]]:
        """``(component, entity, mine, theirs, systems)`` for every difference (at most ``diff_limit``)."""
        other = World.from_snapshot(decode_host_state(other_snapshot)[0], name="gpi-replay-diff")
        try:
            return list(world_differences(self.world, other, limit=self.diff_limit, writers=self.writers))
        finally:
            other.close()

    # -- lifetime ---------------------------------------------------------------------

    def close(self) -> None:
        """Stop the plugin children and free the world; safe twice."""
        if self._closed and self._world is None:
            return
        self._closed = True
        host, self._host = self._host, None
        if host is not None:
            host.close()
        world, self._world = self._world, None
        if world is not None:
            world.close()
        if self._data_dir is not None:
            shutil.rmtree(self._data_dir, ignore_errors=True)
            self._data_dir = None

    def __enter__(self) -> HostSimulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    def __repr__(self) -> str:
        return f"<HostSimulator isolation={self.isolation} plugins={[p['name'] for p in self.loaded]}>"


def make_simulator(
    header: ReplayHeader,
    force: bool = False,
    *,
    plugins: Sequence[str | os.PathLike[str]] = (),
    isolation: str | None = None,
    skip_effect_free: bool = False,
    data_dir: str | os.PathLike[str] | None = None,
) -> HostSimulator:
    """The ``gpi replay`` factory: a :class:`HostSimulator` for ``header``.

    ``plugins`` are extra search-path entries (``--plugins``); ``verify``
    passes ``skip_effect_free`` (see :meth:`HostSimulator.effect_free_systems`).
    ``isolation="confined"`` builds a :func:`confined_simulator` (verify
    workers only).
    """
    if isolation == "confined":
        return confined_simulator(header, force, plugins=plugins, skip_effect_free=skip_effect_free,
                                  data_dir=data_dir)
    return HostSimulator(header, search=plugins, isolation=isolation, force=force,
                         skip_effect_free=skip_effect_free, data_dir=data_dir)


def confined_simulator(
    header: ReplayHeader,
    force: bool = False,
    *,
    plugins: Sequence[str | os.PathLike[str]] = (),
    skip_effect_free: bool = False,
    data_dir: str | os.PathLike[str] | None = None,
) -> HostSimulator:
    """Confine this process with the plugin sandbox, then build an in-process :class:`HostSimulator`.

    For parallel-verify workers (:class:`gpi.replays.VerifyPool`): the
    plugins run in the worker itself (no per-call IPC), behind the same
    layers a plugin child gets (rlimits, no_new_privs, parent-death signal,
    network namespace, Landlock read-only on the plugin folders and the
    interpreter, seccomp), plus ``memfd_create``/``ftruncate`` so the worker
    can own the world. Plugins are confined from the machine, not from each
    other or from the verifier. ``data_dir`` (made beforehand, removed by the
    caller) holds a fresh sub-folder for the host (crash reports could not
    be written there once confined; the save store is in memory). Refuses
    to run in a process that is not a child (it would confine the caller for
    good).
    """
    if multiprocessing.parent_process() is None:
        raise SimulatorUnavailableError(
            "a confined simulator confines its own process for good: build it only in a verify "
            "worker (gpi.replays.VerifyPool), not in the main process"
        )
    dirs, _ = find_plugin_dirs(header, search=plugins, force=force)
    host_dir = tempfile.mkdtemp(prefix="gpi-replay-sim-", dir=None if data_dir is None else os.fspath(data_dir))
    _stdio_off_regular_files()
    policy = _confined_policy(dirs, SandboxPolicy)
    gpi_dir = str(PACKAGE_DIR)
    try:
        apply_sandbox(policy, dirs[0], [*map(str, dirs[1:]), gpi_dir],
                      expected_parent=os.getppid(), extra_syscalls=WORLD_OWNER_SYSCALLS)
    except GpiError as exc:
        raise SimulatorUnavailableError(
            f"cannot confine the verify worker: {exc}. Verify with --isolation process (a sandboxed "
            "child per plugin) or --isolation none (unconfined: only for plugins you trust)"
        ) from exc
    return HostSimulator(header, plugin_dirs=dirs, isolation="none", sandbox=False, force=force,
                         skip_effect_free=skip_effect_free, data_dir=host_dir)


def _confined_policy(dirs: Sequence[Path], policy_type: Any) -> Any:
    """The sandbox policy of a confined worker that runs every plugin in ``dirs``.

    The default layers; room for the plugins' address spaces together (each
    as its manifest's ``memory_mb`` or the default) plus the world, at least
    8 GiB; more fds; memfds that may grow (RLIMIT_FSIZE bounds each one). No
    CPU limit: the pool's stall timeout is the deadline.
    """
    base = policy_type()
    address_space = 0
    for d in dirs:
        m = load_manifest(d, check_entry=False)
        own = policy_type.from_dict(dict(m.sandbox), base=base) if m.sandbox else base
        address_space += own.address_space_bytes or 0
    # No pid namespace: its fork would leave the pool's own process (whose pid the pool watches) unconfined.
    return policy_type(cpu_seconds=None, open_files=4096, file_size_bytes=4 << 30,
                       address_space_bytes=max(8 << 30, address_space + (2 << 30)),
                       layers=base.layers - {"pidns"})


def _stdio_off_regular_files() -> None:
    """Point stdout/stderr at /dev/null when they are regular files (a confined process may ftruncate)."""
    for fd in (1, 2):
        try:
            if stat.S_ISREG(os.fstat(fd).st_mode):
                null = os.open(os.devnull, os.O_WRONLY)
                os.dup2(null, fd)
                os.close(null)
        except OSError:
            pass
