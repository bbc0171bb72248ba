"""The context a system function receives each tick.

``ctx`` is the system's whole view of the world and its only way to change it:

- ``ctx.tick``, ``ctx.dt`` (fixed step), ``ctx.rng`` (a generator seeded from
  world seed, tick, plugin and system; see :mod:`gpi.plugins.rng`);
- ``ctx.query(*names, with_=(), without=(), changed=(), added=())`` over the read-only world (the
  host's :class:`~gpi.ecs.World` in isolation ``none``, a
  :class:`~gpi.ecs.WorldView` over shared memory in a child), yielding chunks
  of contiguous read-only column views;
- ``ctx.removed(name)``: ids that lost a declared ``removed=`` component since
  the system last ran (change detection, :mod:`gpi.ecs.changes`);
- relations (:mod:`gpi.ecs.relations`): ``ctx.children(e)``, ``ctx.parent(e)``,
  ``ctx.related(e, R)``, ``ctx.targets(e, R)``, ``ctx.descendants(e)``;
  ``ctx.set_relation``, ``ctx.remove_relation``, ``ctx.despawn_recursive``;
- ``ctx.resource(name)``, ``ctx.events(name)`` for declared resources and events;
- ``ctx.commands``: the :class:`~gpi.ecs.CommandBuffer` the host validates and
  applies after the wave (``ctx.spawn``/``ctx.despawn``/``ctx.send_event`` are
  shortcuts that check capabilities right away);
- ``ctx.output(shape, dtype)``: a scratch array for big command values (in
  a child it lives in the output arena: no copy on the way to the host);
- ``ctx.input`` (capability ``input``), ``ctx.draw`` (capability ``draw``);
- ``ctx.log(...)``: lines that reach the host's log.

The same class runs in the child and in the host, so isolation modes give the
same results. Every check here raises at the offending call with a message that
names the plugin and system; the host re-checks command lists regardless
(the child is untrusted).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np

from gpi.plugins.errors import CapabilityError
from gpi.plugins.rng import system_rng
from gpi.plugins.sdk import SystemSpec

__all__ = ["LOG_LIMIT", "SystemContext"]

# Log lines per call that travel back to the host; more are counted, not sent.
LOG_LIMIT = 100


class _DeclaredAccessError(CapabilityError):
    """A system used a component, resource or event it did not declare."""


class SystemContext:
    """What a system function sees for one call: world, time, rng, input, commands, log."""

    def __init__(
        self,
        world: Any,
        spec: SystemSpec,
        *,
        plugin: str,
        tick: int,
        dt: float,
        seed: int,
        granted: Iterable[str] = (),
        input_state: Mapping[str, Any] | None = None,
        draw: Any = None,
        alloc: Any = None,
        saved: Mapping[str, Any] | None = None,
        readable: frozenset[str] | None = None,
        changes: Mapping[str, Any] | None = None,
    ) -> None:
        self.world = world
        self._changes = changes  # {"last", "this", "removed"} from World.begin_system
        self._readable_set = readable  # spec.readable, when the caller already has it
        self._saved = saved if saved is not None else {}
        self._saves: list[list[Any]] = []  # ["put", key, value] / ["del", key], in call order
        self._alloc = alloc
        self.spec = spec
        self.plugin = plugin
        self.system = spec.name
        self.tick = int(tick)
        self.dt = float(dt)
        self.seed = int(seed)
        self.granted = frozenset(granted)
        self._input = input_state if input_state is not None else {}
        self._input_copied = False
        self._draw = draw
        self._rng: np.random.Generator | None = None
        self._commands: Any = None
        self.logs: list[tuple[str, str]] = []
        self.dropped_logs = 0

    # -- identity and time ------------------------------------------------------------

    @property
    def where(self) -> str:
        """``plugin 'x' system 'y'``, for messages."""
        return f"plugin {self.plugin!r} system {self.system!r}"

    @property
    def rng(self) -> np.random.Generator:
        """This system's generator for this tick (created on first use)."""
        if self._rng is None:
            self._rng = system_rng(self.seed, self.tick, self.plugin, self.system)
        return self._rng

    # -- reading the world -------------------------------------------------------------

    def query(self, *names: str, with_: Iterable[str] = (), without: Iterable[str] = (),
              changed: Iterable[str] = (), added: Iterable[str] = ()) -> Iterator[Any]:
        """Chunks of entities having ``names`` (and ``with_``, not ``without``); read-only views.

        ``changed``/``added`` (declared on the system) keep only the rows whose
        components were written / added since this system last ran: the chunks
        are then gathered copies (:class:`~gpi.ecs.changes.FilteredChunk`).
        """
        changed_t, added_t = tuple(changed), tuple(added)
        if changed_t or added_t:
            return self._changed_query(names, tuple(with_), tuple(without), changed_t, added_t)
        readable = self._readable()
        for n in names:
            if n not in readable:
                undeclared = [n for n in names if n not in readable]
                raise _DeclaredAccessError(
                    f"{self.where} queried {undeclared} but declared reads={list(self.spec.reads)} "
                    f"writes={list(self.spec.writes)}; add them to reads=[...]"
                )
        # Filters may name components no loaded plugin registered: nothing has them.
        with_t = tuple(with_)
        without_t: tuple[str, ...] = ()
        if with_t or without:
            known = self.world.components
            if any(n not in known for n in with_t):
                return iter(())
            without_t = tuple(n for n in without if n in known)
        return iter(self.world.query(*names, with_=with_t, without=without_t))

    def _changed_query(self, names: tuple[str, ...], with_t: tuple[str, ...], without: tuple[str, ...],
                       changed: tuple[str, ...], added: tuple[str, ...]) -> Iterator[Any]:
        from gpi.ecs.changes import filter_chunks

        for kind, got, declared in (("changed", changed, self.spec.changed), ("added", added, self.spec.added)):
            bad = [n for n in got if n not in declared]
            if bad:
                raise _DeclaredAccessError(f"{self.where} filtered on {kind}={bad} but declared "
                                           f"{kind}={list(declared)}; add them to {kind}=[...]")
        info = self._change_info()
        extra = tuple(n for n in (*changed, *added) if n not in names and n not in with_t)
        chunks = list(self.query(*names, with_=(*with_t, *extra), without=without))
        return iter(filter_chunks(chunks, changed, added, int(info["last"]), int(info["this"])))

    def _change_info(self) -> Mapping[str, Any]:
        if self._changes is None:
            raise CapabilityError(f"{self.where}: no change-detection state was given to this call "
                                  "(declare changed=/added=/removed= on the system)")
        return self._changes

    def removed(self, name: str) -> np.ndarray:
        """Ids (uint64) that lost component ``name`` or were despawned since this system last ran.

        ``name`` must be declared in ``removed=[...]``. Ids of despawned entities are dead.
        """
        if name not in self.spec.removed:
            raise _DeclaredAccessError(f"{self.where} read removed({name!r}) but declared "
                                       f"removed={list(self.spec.removed)}; add it to removed=[...]")
        raw = self._change_info().get("removed", {}).get(name, b"")
        return np.frombuffer(raw, dtype="<u8").astype(np.uint64)

    @property
    def last_run(self) -> int | None:
        """The change tick this system last ran at (None unless it declares change detection)."""
        return None if self._changes is None else int(self._changes["last"])

    # -- relations (gpi.ecs.relations) --------------------------------------------------

    def _check_relation(self, name: str, write: bool = False) -> None:
        ok = name in (self.spec.writes if write else self._readable())
        if not ok:
            what = "writes" if write else "reads"
            raise _DeclaredAccessError(f"{self.where} used relation {name!r} but did not declare it in {what}=[...]")

    def related(self, eid: int, relation: str) -> np.ndarray:
        """Ids of entities related to ``eid`` by ``relation`` (its sources), in table order."""
        from gpi.ecs.relations import sources

        self._check_relation(relation)
        return sources(self.world, relation, [eid]) if relation in self.world.components else np.zeros(0, np.uint64)

    def children(self, eid: int, relation: str = "ChildOf") -> np.ndarray:
        """Entities whose ``relation`` (default ``ChildOf``) points at ``eid``."""
        return self.related(eid, relation)

    def targets(self, eid: int, relation: str) -> np.ndarray:
        """The entities ``eid`` points at by ``relation``."""
        from gpi.ecs.relations import targets_of

        self._check_relation(relation)
        return targets_of(self.world, eid, relation)

    def parent(self, eid: int, relation: str = "ChildOf") -> int | None:
        """``eid``'s target by exclusive ``relation`` (its parent), or None."""
        t = self.targets(eid, relation)
        return int(t[0]) if len(t) else None

    def descendants(self, eid: Any, relation: str = "ChildOf") -> np.ndarray:
        """Every entity below ``eid`` (one id or many) by ``relation``, breadth first."""
        from gpi.ecs.relations import descendants

        self._check_relation(relation)
        return descendants(self.world, np.atleast_1d(np.asarray(eid, np.uint64)), (relation,))

    def set_relation(self, ids: Any, relation: str, target: Any) -> None:
        """Queue relating ``ids`` to ``target`` (exclusive: replaces the target; else adds one)."""
        self._check_relation(relation, write=True)
        ids_a = np.atleast_1d(np.asarray(ids, np.uint64))
        comp = self.world.component(relation)
        if not comp.shape:
            self.commands.add_component(ids_a, relation, np.broadcast_to(np.asarray(target, np.uint64), ids_a.shape))
            return
        t = int(target)
        rows = []
        for e in ids_a.tolist():
            cur = self.targets(e, relation).tolist()
            if t not in cur:
                cur.append(t)
            if len(cur) > comp.shape[0]:
                raise ValueError(f"{self.where}: entity {e:#x} already has {comp.shape[0]} {relation!r} targets")
            rows.append(cur + [0] * (comp.shape[0] - len(cur)))
        self.commands.add_component(ids_a, relation, np.asarray(rows, np.uint64).reshape(len(ids_a), -1))

    def remove_relation(self, ids: Any, relation: str, target: Any = None) -> None:
        """Queue removing ``relation`` from ``ids`` (only ``target`` for a non-exclusive one, if given)."""
        self._check_relation(relation, write=True)
        ids_a = np.atleast_1d(np.asarray(ids, np.uint64))
        comp = self.world.component(relation)
        if not comp.shape or target is None:
            self.commands.remove_component(ids_a, relation)
            return
        keep_ids, keep_rows, drop = [], [], []
        for e in ids_a.tolist():
            cur = [x for x in self.targets(e, relation).tolist() if x != int(target)]
            if cur:
                keep_ids.append(e)
                keep_rows.append(cur + [0] * (comp.shape[0] - len(cur)))
            else:
                drop.append(e)
        if keep_ids:
            self.commands.set(relation, np.asarray(keep_ids, np.uint64), np.asarray(keep_rows, np.uint64))
        if drop:
            self.commands.remove_component(np.asarray(drop, np.uint64), relation)

    def despawn_recursive(self, ids: Any, relation: str = "ChildOf") -> None:
        """Queue despawning ``ids`` and everything below them by ``relation`` (when the list applies)."""
        if not self.spec.despawns:
            raise _DeclaredAccessError(f"{self.where} despawned entities but did not declare despawns=True")
        self._need("despawn", "despawn entities")
        self.commands.despawn_recursive(ids, relation)

    def _readable(self) -> frozenset[str]:
        """``spec.readable`` (given by the runner, which works it out once per system)."""
        if self._readable_set is None:
            self._readable_set = self.spec.readable
        return self._readable_set

    def entity_count(self) -> int:
        """How many entities are alive."""
        return int(self.world.entity_count)

    def get(self, eid: int, name: str) -> Any:
        """The value of component ``name`` of one entity (declared reads only)."""
        if name not in self._readable():
            raise _DeclaredAccessError(f"{self.where} read {name!r} but did not declare it in reads=[...]")
        return self.world.get(eid, name)

    def is_alive(self, eid: int) -> bool:
        """Whether ``eid`` is a live entity."""
        return bool(self.world.is_alive(eid))

    def resource(self, name: str) -> Any:
        """A copy of a declared resource's value (raises if it is not in the world).

        A copy, so that mutating it changes nothing in-process either: resources
        change only through commands, in every isolation mode.
        """
        self._check_resource(name)
        return copy.deepcopy(self.world.resource(name))

    def try_resource(self, name: str, default: Any = None) -> Any:
        """A declared resource's value, or ``default`` when the world has none."""
        self._check_resource(name)
        value = self.world.try_resource(name)
        return default if value is None else copy.deepcopy(value)

    def events(self, name: str) -> list[Any]:
        """Copies of the events of kind ``name`` sent this tick by earlier waves (or before the tick)."""
        self._check_event(name)
        return copy.deepcopy(list(self.world.events(name)))

    @property
    def input(self) -> Any:
        """The input of this tick (:class:`~gpi.plugins.input.Input`: a mapping with
        ``pressed``/``just_pressed``/``just_released``, mouse buttons and positions, text);
        needs capability ``input``."""
        self._need("input", "read input")
        if not self._input_copied:  # systems of one tick share the host's mapping in-process
            from gpi.plugins.input import Input

            self._input = Input(copy.deepcopy(dict(self._input)))
            self._input_copied = True
        return self._input

    # -- changing the world (through commands) ----------------------------------------

    @property
    def commands(self) -> Any:
        """This call's :class:`~gpi.ecs.CommandBuffer` (applied by the host after the wave)."""
        if self._commands is None:
            from gpi.ecs import CommandBuffer

            self._commands = CommandBuffer()
        return self._commands

    def output(self, shape: int | tuple[int, ...], dtype: Any) -> np.ndarray:
        """A writable, uninitialised array for command values.

        In a child it lives in the output arena, so a big result (a new column
        for a million rows) reaches the host without any copy on this side;
        in-process it is a plain ``np.empty``. Fill it, then pass it to
        ``ctx.commands.set_chunk``/``set``. Valid for this call only.
        """
        if self._alloc is not None:
            return self._alloc(shape, dtype)  # type: ignore[no-any-return]
        return np.empty(shape, dtype)

    def spawn(self, count: int, values: Mapping[str, Any]) -> None:
        """Queue ``count`` new entities with component ``values``; needs ``spawns=True`` and ``spawn``."""
        if not self.spec.spawns:
            raise _DeclaredAccessError(f"{self.where} spawned entities but did not declare spawns=True")
        self._need("spawn", "spawn entities")
        self.commands.spawn(count, values)

    def despawn(self, ids: Any) -> None:
        """Queue despawning ``ids``; needs ``despawns=True`` and capability ``despawn``."""
        if not self.spec.despawns:
            raise _DeclaredAccessError(f"{self.where} despawned entities but did not declare despawns=True")
        self._need("despawn", "despawn entities")
        self.commands.despawn(ids)

    def send_event(self, name: str, payload: Any) -> None:
        """Queue an event for systems that run later (needs capability ``events``)."""
        self._check_event(name)
        self.commands.send_event(name, payload)

    def insert_resource(self, name: str, value: Any) -> None:
        """Queue setting a declared resource (needs capability ``resources``)."""
        self._check_resource(name)
        self.commands.insert_resource(name, value)

    @property
    def draw(self) -> Any:
        """The draw-list builder of this call (a DrawList); needs capability ``draw``.

        Column draws take ``motion=`` (e.g. ``Velocity * ctx.dt``): how far each
        shape moved this tick, so the host can draw frames between two ticks.
        """
        self._need("draw", "draw")
        if self._draw is None:
            raise CapabilityError(f"{self.where}: no draw-list buffer is attached in this run (headless)")
        return self._draw

    # -- the save store (capability ``save``) -----------------------------------------

    def save(self, key: str, value: Any) -> None:
        """Queue storing ``value`` (numbers, strings, bytes, lists, maps) under ``key`` in this plugin's store.

        The host writes a call's saves in one atomic batch after its world
        commands; :meth:`load` sees them at once in this call, and from the
        store in later ticks.
        """
        self._need("save", "save data")
        self._check_save_key(key)
        try:
            import msgpack

            msgpack.packb(value, use_bin_type=True)
        except (TypeError, ValueError, OverflowError) as exc:
            raise ValueError(f"{self.where}: save {key!r}: value cannot be stored ({exc}); "
                             "use numbers, strings, bytes, lists and maps") from None
        self._saves.append(["put", key, value])

    def delete_save(self, key: str) -> None:
        """Queue removing ``key`` from this plugin's store (absent keys are fine)."""
        self._need("save", "delete saved data")
        self._check_save_key(key)
        self._saves.append(["del", key])

    def load(self, key: str, default: Any = None) -> Any:
        """The value saved under ``key`` (this call's own saves first), or ``default``."""
        self._need("save", "load saved data")
        for op in reversed(self._saves):
            if op[1] == key:
                return op[2] if op[0] == "put" else default
        return self._saved.get(key, default)

    def saved_keys(self) -> list[str]:
        """Every key in this plugin's store (as of this call), sorted."""
        self._need("save", "list saved data")
        keys = set(self._saved)
        for op in self._saves:
            (keys.add if op[0] == "put" else keys.discard)(op[1])
        return sorted(keys)

    def take_saves(self) -> list[list[Any]] | None:
        """The queued save operations (None when there are none); the host applies them."""
        saves, self._saves = self._saves, []
        return saves or None

    def _check_save_key(self, key: Any) -> None:
        if not isinstance(key, str) or not key or len(key) > 256:
            raise ValueError(f"{self.where}: save key must be a non-empty string of at most 256 characters, "
                             f"got {key!r}")

    def log(self, *parts: Any, level: str = "info") -> None:
        """Send a log line to the host (at most :data:`LOG_LIMIT` lines per call)."""
        if len(self.logs) >= LOG_LIMIT:
            self.dropped_logs += 1
            return
        self.logs.append((str(level), " ".join(str(p) for p in parts)))

    # -- checks -----------------------------------------------------------------------

    def _need(self, cap: str, what: str) -> None:
        if cap not in self.granted:
            raise CapabilityError(
                f"{self.where} tried to {what}, which needs capability {cap!r}; "
                f"granted: {sorted(self.granted) or 'none'}. Add {cap!r} to capabilities in "
                f"plugin.toml and make sure the host policy grants it"
            )

    def _check_resource(self, name: str) -> None:
        if name not in self.spec.resources:
            raise _DeclaredAccessError(f"{self.where} used resource {name!r} but declared resources={list(self.spec.resources)}")
        self._need("resources", f"use resource {name!r}")

    def _check_event(self, name: str) -> None:
        if name not in self.spec.events:
            raise _DeclaredAccessError(f"{self.where} used event {name!r} but declared events={list(self.spec.events)}")
        self._need("events", f"use event {name!r}")

    def take_commands(self) -> Any:
        """The command buffer (possibly ``None`` when the system issued nothing)."""
        return self._commands
