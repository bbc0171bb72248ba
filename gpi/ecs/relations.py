"""Relationships: components whose value is another entity, kept consistent by the world.

A :class:`Relation` is declared once (by a plugin or host code) and is stored
as an ordinary component, so it lives in the archetype columns, in shared
memory, snapshots and checksums like any other:

- exclusive (``ChildOf``: one target per source): ``uint64`` scalar, the
  target's id;
- non-exclusive (``Likes``: up to ``max_targets`` targets): ``uint64[max_targets]``,
  target ids packed first, unused slots ``0`` (no entity id is 0: generations
  start at 1).

``on_delete`` says what happens to a source when its target is despawned:
``"remove"`` takes the target out (an exclusive relation, or a
non-exclusive one left with no targets, is removed from the source);
``"despawn"`` despawns the source too, recursively. The world applies this
inside ``despawn`` (:func:`expand_despawn` before, :func:`drop_dangling`
after), so an id that dies never dangles. Writing a relation whose target is
dead (or, for an exclusive one, the source itself) is refused by validation
(:func:`check_plan`).

Queries read the columns, so they work on a host :class:`~gpi.ecs.World` and
on a child's :class:`~gpi.ecs.view.WorldView` alike: :func:`sources`
(entities related to targets by R: ``children`` for ``ChildOf``),
:func:`targets_of`, :func:`parent`, :func:`descendants`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from gpi.ecs.component import Component
from gpi.ecs.errors import CommandError, SchemaError

if TYPE_CHECKING:
    from gpi.ecs.reader import WorldReader
    from gpi.ecs.world import World

__all__ = [
    "CHILD_OF",
    "ON_DELETE",
    "Relation",
    "check_plan",
    "descendants",
    "drop_dangling",
    "expand_despawn",
    "parent",
    "propagate",
    "sources",
    "sweep",
    "targets_of",
]

ON_DELETE = ("remove", "despawn")
CHILD_OF = "ChildOf"
_MAX_TARGETS = 64


@dataclass(frozen=True)
class Relation:
    """A relationship kind: name, exclusivity, target-despawn policy, fan-out."""

    name: str
    exclusive: bool = True
    on_delete: str = "remove"
    max_targets: int = 1

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise SchemaError(f"relation name {self.name!r} must be an identifier")
        if self.on_delete not in ON_DELETE:
            raise SchemaError(f"relation {self.name!r}: on_delete {self.on_delete!r} must be one of {ON_DELETE}")
        n = 1 if self.exclusive else int(self.max_targets)
        if not 1 <= n <= _MAX_TARGETS:
            raise SchemaError(f"relation {self.name!r}: max_targets must be in 1..{_MAX_TARGETS}, got {n}")
        object.__setattr__(self, "max_targets", n)
        object.__setattr__(self, "exclusive", bool(self.exclusive))

    def component(self) -> Component:
        """The component that stores it (uint64, or uint64[max_targets])."""
        return Component(self.name, "uint64", () if self.exclusive else (self.max_targets,))

    def to_dict(self) -> dict[str, Any]:
        """A msgpack-able description."""
        return {"name": self.name, "exclusive": self.exclusive, "on_delete": self.on_delete,
                "max_targets": self.max_targets}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Relation:
        """Rebuild from :meth:`to_dict`."""
        try:
            return cls(str(d["name"]), bool(d.get("exclusive", True)), str(d.get("on_delete", "remove")),
                       int(d.get("max_targets", 1)))
        except (KeyError, TypeError, ValueError) as exc:
            raise SchemaError(f"bad relation description {d!r}: {exc}") from None


# -- queries (any world) -------------------------------------------------------------------


def _value_hits(col: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Rows of a relation column (1-d or 2-d) whose value (any slot) is one of ``targets``."""
    if len(targets) == 1:
        hit = col == targets[0]
    else:
        hit = np.isin(col, targets)
    return hit if hit.ndim == 1 else hit.any(axis=1)


def sources(world: WorldReader, name: str, targets: Any) -> np.ndarray:
    """Ids of entities related by ``name`` to any of ``targets`` (table order); ``children`` for ChildOf."""
    t = np.asarray(targets, dtype=np.uint64).reshape(-1)
    out = []
    if not len(t):
        return np.zeros(0, np.uint64)
    t = t[t != 0]
    for ch in world.query(name):
        hit = _value_hits(ch[name], t)
        if hit.any():
            out.append(ch.entities[hit])
    return np.concatenate(out) if out else np.zeros(0, np.uint64)


def targets_of(world: WorldReader, eid: int, name: str) -> np.ndarray:
    """The targets of ``eid``'s relation ``name`` (empty when it has none)."""
    if name not in world.components_of(eid):
        return np.zeros(0, np.uint64)
    v = np.atleast_1d(np.asarray(world.get(eid, name), dtype=np.uint64))
    return v[v != 0]


def parent(world: WorldReader, eid: int, name: str = CHILD_OF) -> int | None:
    """The target of exclusive relation ``name`` of ``eid`` (its parent for ChildOf), or None."""
    t = targets_of(world, eid, name)
    return int(t[0]) if len(t) else None


def descendants(world: WorldReader, roots: Any, names: Iterable[str] = (CHILD_OF,)) -> np.ndarray:
    """Every entity reachable from ``roots`` by following ``names`` backwards (sources of sources...), roots excluded.

    Breadth first, each id once, in a defined order (level by level, table order within a level).
    """
    names = [n for n in names if n in world.components]
    frontier = np.unique(np.asarray(roots, dtype=np.uint64).reshape(-1))
    seen = set(frontier.tolist())
    out: list[np.ndarray] = []
    while len(frontier) and names:
        level = [sources(world, n, frontier) for n in names]
        nxt = np.concatenate(level) if level else np.zeros(0, np.uint64)
        if len(nxt):
            _, first = np.unique(nxt, return_index=True)
            nxt = nxt[np.sort(first)]
            fresh = np.fromiter((x not in seen for x in nxt.tolist()), bool, len(nxt))
            nxt = nxt[fresh]
            seen.update(nxt.tolist())
            out.append(nxt)
        frontier = nxt
    return np.concatenate(out) if out else np.zeros(0, np.uint64)


def propagate(world: WorldReader, local: str, out: str, relation: str = CHILD_OF) -> tuple[np.ndarray, np.ndarray]:
    """World positions for every entity with ``local``: ``out = local + out(parent)``, level by level.

    The parent's value is its own propagated one when it has ``local``, else
    its ``out`` component (a root placed directly), else zero. Returns
    ``(ids, values)`` in table order; entities on a cycle keep their parent's
    contribution out (their own local value only).
    """
    ids_l, vals_l, par_l = [], [], []
    for ch in world.query(local):
        ids_l.append(ch.entities)
        vals_l.append(np.asarray(ch[local]))
        if relation in ch:
            par_l.append(np.asarray(ch[relation]).reshape(len(ch)))
        else:
            par_l.append(np.zeros(len(ch), np.uint64))
    if not ids_l:
        shape = world.component(local).shape if local in world.components else ()
        return np.zeros(0, np.uint64), np.zeros((0, *shape), np.float32)
    ids = np.concatenate(ids_l)
    loc = np.concatenate(vals_l)
    par = np.concatenate(par_l)
    order = np.argsort(ids)
    sorted_ids = ids[order]
    pos = np.searchsorted(sorted_ids, par)
    pos = np.minimum(pos, len(ids) - 1)
    in_set = (sorted_ids[pos] == par) & (par != 0)
    pidx = np.where(in_set, order[pos], -1)  # row of the parent among ids, or -1
    base = np.zeros_like(loc)
    outside = (~in_set) & (par != 0)
    if outside.any() and out in world.components:  # parents placed directly (no local value)
        alive = world.alive_mask(par[outside])
        for k, (e, ok) in enumerate(zip(par[outside].tolist(), alive.tolist())):
            if ok and out in world.components_of(e):
                base[np.flatnonzero(outside)[k]] = world.get(e, out)
    result = loc + base
    done = pidx < 0
    for _ in range(len(ids)):
        if done.all():
            break
        ready = (~done) & done[np.maximum(pidx, 0)]
        if not ready.any():
            break  # a cycle
        result[ready] = loc[ready] + result[pidx[ready]]
        done |= ready
    return ids, result


# -- consistency (host world) ----------------------------------------------------------------


def expand_despawn(world: World, ids: np.ndarray) -> np.ndarray:
    """``ids`` plus every source that ``on_delete="despawn"`` relations take with them (recursively)."""
    cascade = [r.name for r in world.relations.values() if r.on_delete == "despawn"]
    if not cascade:
        return ids
    more = descendants(world, ids, cascade)
    return np.concatenate([ids, more]) if len(more) else ids


def drop_dangling(world: World, dead: np.ndarray) -> None:
    """After ``dead`` were despawned: take them out of every ``on_delete="remove"`` relation."""
    for rel in world.relations.values():
        if rel.on_delete != "remove" or rel.name not in world.components:
            continue
        name = rel.name
        gone: list[np.ndarray] = []
        rewrite: list[tuple[np.ndarray, np.ndarray]] = []
        for ch in world.query(name):
            col = ch[name]
            hit = np.isin(col, dead)
            if not hit.any():
                continue
            if rel.exclusive:
                gone.append(ch.entities[hit])
                continue
            rows = np.flatnonzero(hit.any(axis=1))
            vals = np.where(hit[rows], np.uint64(0), col[rows])
            vals = _pack(vals)
            empty = ~vals.any(axis=1)
            if empty.any():
                gone.append(ch.entities[rows[empty]])
            if (~empty).any():
                rewrite.append((ch.entities[rows[~empty]].copy(), vals[~empty]))
        for ids, vals in rewrite:
            world.set_many(name, ids, vals)
        if gone:
            world.remove_component(np.concatenate(gone), name)


def sweep(world: World) -> None:
    """Apply the policies to any relation value that points at a dead entity (until none does).

    Needed after a command list that spawned entities related to a target it
    also despawned (validation saw the target alive).
    """
    for _ in range(64):
        dead: list[np.ndarray] = []
        for rel in world.relations.values():
            if rel.name not in world.components:
                continue
            for ch in world.query(rel.name):
                v = ch[rel.name].reshape(-1)
                v = v[v != 0]
                if len(v):
                    bad = v[~world.alive_mask(v)]
                    if len(bad):
                        dead.append(bad)
        if not dead:
            return
        gone = np.unique(np.concatenate(dead))
        victims = [sources(world, r.name, gone) for r in world.relations.values() if r.on_delete == "despawn"]
        victims_a = np.unique(np.concatenate(victims)) if victims else np.zeros(0, np.uint64)
        if len(victims_a):
            world.despawn(victims_a)  # its own hooks clean what points at them
        drop_dangling(world, gone)


def _pack(vals: np.ndarray) -> np.ndarray:
    """Non-zero slots first, in their order; zeros after."""
    order = np.argsort(vals == 0, axis=1, kind="stable")
    return np.take_along_axis(vals, order, axis=1)


def check_plan(world: World, plan: list[dict[str, Any]], source: str = "") -> None:
    """Refuse relation writes to dead targets or (exclusive) to the source itself; raises CommandError."""
    rels = world.relations
    if not rels:
        return
    problems = []
    ent = world.storage.entities
    for i, op in enumerate(plan):
        kind = op.get("op")
        if kind in ("set", "add") and op.get("name") in rels:
            vals, ids = np.asarray(op["values"]), op["ids"]
        elif kind == "spawn" and any(n in rels for n in op.get("values", {})):
            for n in op["values"]:
                if n in rels:
                    problems += _dead_targets(ent, n, np.asarray(op["values"][n]), None, i)
            continue
        elif kind == "set_chunk" and op.get("name") in rels:
            t = world.storage.tables[op["table"]]
            vals, ids = np.asarray(op["values"]), t.entities[: t.rows]
        else:
            continue
        problems += _dead_targets(ent, op["name"], vals, ids if rels[op["name"]].exclusive else None, i)
        if not rels[op["name"]].exclusive:
            rows = vals.reshape(len(ids), -1)
            selfref = (rows == np.asarray(ids, np.uint64)[:, None]).any(axis=1)
            if selfref.any():
                problems.append(f"op {i}: entity {int(ids[selfref][0]):#x} related to itself by {op['name']!r}")
    if problems:
        where = f"{source}: " if source else ""
        raise CommandError(f"{where}command list rejected ({len(problems)} problem(s)):\n  " + "\n  ".join(problems))


def check_targets(world: World, name: str, ids: np.ndarray | None, values: np.ndarray) -> None:
    """For direct host writes of relation ``name``: targets alive, exclusive ones not the entity itself."""
    rel = world.relations.get(name)
    if rel is None or world.changes.in_batch:  # a validated list: check_plan ran, sweep cleans up after
        return
    problems = _dead_targets(world.storage.entities, name, np.asarray(values), ids if rel.exclusive else None, 0)
    if problems:
        raise SchemaError("; ".join(p.removeprefix("op 0: ") for p in problems))


def _dead_targets(ent: Any, name: str, vals: np.ndarray, ids: np.ndarray | None, i: int) -> list[str]:
    flat = vals.reshape(-1).astype(np.uint64, copy=False)
    nz = flat[flat != 0]
    out = []
    if len(nz):
        alive = ent.alive_mask(nz)
        if not alive.all():
            out.append(f"op {i}: relation {name!r} targets entity {int(nz[~alive][0]):#x}, which is not alive "
                       f"(a relation never points at a dead entity)")
    if ids is not None:
        same = np.broadcast_to(flat, (len(ids),)) == ids if flat.size in (1, len(ids)) else np.zeros(0, bool)
        if same.any():
            out.append(f"op {i}: entity {int(ids[same][0]):#x} would be its own {name!r} target")
    return out
