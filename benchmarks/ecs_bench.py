"""ECS benchmark: movement update and bulk spawn, gpi vs esper 3.x vs raw numpy.

- Movement: ``Position += Velocity * dt`` (float32[2] each) over N entities,
  N = 10k, 100k, 1M. ``gpi`` goes through the public API every tick
  (``world.query("Position", "Velocity", writable=True)``, then the update on
  each chunk); ``numpy`` runs the same expression on the very same column
  arrays, taken once (the floor); ``esper`` runs the idiomatic loop over
  ``esper.get_components(Position, Velocity)`` with ``__slots__`` classes.
  Esper at 1M is slow: only a few ticks are timed there.
- Spawn: 100k entities with Position and Velocity from arrays in one
  ``world.spawn`` call vs an ``esper.create_entity`` loop.
- Also shown: world checksum and snapshot of 100k entities.

Usage: ``python benchmarks/ecs_bench.py [--quick] [--json]``. The two sides of
each ratio are interleaved (A B A B ...) after a warm-up and the median per
tick is reported.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import esper
import numpy as np

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))
import _common as bc  # noqa: E402

ROOT = bc.use()

from gpi.ecs import Component, World  # noqa: E402

DT = np.float32(1.0 / 60.0)
POSITION = Component("Position", "float32", (2,))
VELOCITY = Component("Velocity", "float32", (2,))


class EPosition:
    __slots__ = ("x", "y")

    def __init__(self, x: float, y: float) -> None:
        self.x = x
        self.y = y


class EVelocity:
    __slots__ = ("x", "y")

    def __init__(self, x: float, y: float) -> None:
        self.x = x
        self.y = y


def _data(n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(n)
    return rng.uniform(0, 1000, (n, 2)).astype(np.float32), rng.uniform(-5, 5, (n, 2)).astype(np.float32)


def _gpi_world(n: int) -> World:
    w = World()
    w.register(POSITION, VELOCITY)
    pos, vel = _data(n)
    w.spawn(n, {"Position": pos, "Velocity": vel})
    return w


def gpi_tick(world: World) -> None:
    for c in world.query("Position", "Velocity", writable=True):
        c["Position"] += c["Velocity"] * DT


def _esper_world(n: int, name: str) -> None:
    esper.switch_world(name)
    esper.clear_database()
    pos, vel = _data(n)
    for (px, py), (vx, vy) in zip(pos.tolist(), vel.tolist()):
        esper.create_entity(EPosition(px, py), EVelocity(vx, vy))


def esper_tick() -> None:
    dt = float(DT)
    for _ent, (p, v) in esper.get_components(EPosition, EVelocity):
        p.x += v.x * dt
        p.y += v.y * dt


def _interleaved(fns: dict[str, Callable[[], Any]], ticks: dict[str, int], reps: int) -> dict[str, float]:
    """Seconds per tick of each side (``ticks[name]`` ticks per sample), after one warm-up tick each."""
    return bc.interleaved_medians(fns, reps, time_calls=True, calls=ticks, warmup=True, gc_off=True)


def measure_movement(n: int, quick: bool) -> dict[str, float]:
    world = _gpi_world(n)
    try:
        (table,) = [t for t in world.tables if t.rows]
        pos, vel = table.view("Position"), table.view("Velocity")

        def numpy_tick() -> None:
            p = pos
            p += vel * DT

        fns: dict[str, Callable[[], Any]] = {"gpi": lambda: gpi_tick(world), "numpy": numpy_tick}
        big = n >= 1_000_000
        ticks = {"gpi": 3 if big else max(5, 2_000_000 // n), "numpy": 3 if big else max(5, 2_000_000 // n)}
        reps = (5 if quick else 9) if not big else (3 if quick else 5)
        out = _interleaved(fns, ticks, reps)
        esper_ok = not (quick and big)
        if esper_ok:
            _esper_world(n, f"bench{n}")
            e_ticks = 1 if big else max(1, 200_000 // n)
            e_reps = 2 if big else (3 if quick else 5)
            fns2: dict[str, Callable[[], Any]] = {"esper": esper_tick, "gpi": lambda: gpi_tick(world)}
            out2 = _interleaved(fns2, {"esper": e_ticks, "gpi": ticks["gpi"]}, e_reps)
            out["esper"] = out2["esper"]
            esper.clear_database()
            esper.switch_world("default")
            esper.delete_world(f"bench{n}")
        return out
    finally:
        world.close()


def measure_spawn(n: int, quick: bool) -> dict[str, float]:
    pos, vel = _data(n)
    gpi_s: list[float] = []
    esper_s: list[float] = []
    for _ in range(3 if quick else 5):
        with World() as w:
            w.register(POSITION, VELOCITY)
            t0 = time.perf_counter()
            w.spawn(n, {"Position": pos, "Velocity": vel})
            gpi_s.append(time.perf_counter() - t0)
        esper.switch_world("spawnbench")
        esper.clear_database()
        p_l, v_l = pos.tolist(), vel.tolist()
        t0 = time.perf_counter()
        for (px, py), (vx, vy) in zip(p_l, v_l):
            esper.create_entity(EPosition(px, py), EVelocity(vx, vy))
        esper_s.append(time.perf_counter() - t0)
        esper.clear_database()
    esper.switch_world("default")
    esper.delete_world("spawnbench")
    return {"gpi": statistics.median(gpi_s), "esper": statistics.median(esper_s)}


def measure_extras(n: int) -> dict[str, float]:
    with _gpi_world(n) as w:
        cs = [bc.timed(w.checksum, 5)() for _ in range(5)]
        t0 = time.perf_counter()
        snap = w.snapshot()
        t_snap = time.perf_counter() - t0
        t0 = time.perf_counter()
        World.from_snapshot(snap).close()
        t_load = time.perf_counter() - t0
        return {"checksum_ms": statistics.median(cs) * 1e3, "snapshot_ms": t_snap * 1e3,
                "restore_ms": t_load * 1e3, "snapshot_bytes": float(len(snap))}


def _redraw_work(pos: np.ndarray) -> np.ndarray:
    """A render-side job per row: screen rectangles from positions (camera offset, zoom, half size)."""
    screen = (pos - np.float32(500.0)) * np.float32(1.6)
    out = np.empty((len(pos), 4), np.float32)
    out[:, 0:2] = screen - np.float32(2.0)
    out[:, 2:4] = screen + np.float32(2.0)
    return out


def measure_changed(n: int, quick: bool) -> dict[str, float]:
    """A changed=["Position"] query (1% of rows written since the last run) plus the job, vs the job on every row."""
    from gpi.ecs.changes import filter_chunks

    with _gpi_world(n) as w:
        w.track_changes("Position")
        info0 = w.begin_system("bench")
        ids = np.concatenate([c.entities for c in w.query("Position")])
        moved = np.random.default_rng(1).choice(ids, n // 100, replace=False)
        w.set_many("Position", moved, 1.0)
        info = w.begin_system("bench")
        assert info["last"] == info0["this"]

        def changed_side() -> None:
            for fc in filter_chunks(w.query("Position"), ("Position",), (), info["last"], info["this"]):
                _redraw_work(fc["Position"])

        def full_side() -> None:
            for c in w.query("Position"):
                _redraw_work(c["Position"])

        got = sum(len(fc) for fc in filter_chunks(w.query("Position"), ("Position",), (), info["last"], info["this"]))
        assert got == len(moved)
        calls = 20 if quick else 50
        return _interleaved({"changed": changed_side, "full": full_side}, {"changed": calls, "full": calls},
                            5 if quick else 9)


def measure_tick_cost(n: int, quick: bool) -> dict[str, float]:
    """The movement update as plugins do it (a set_chunk command list applied), with and without Position ticks."""
    from gpi.ecs import CommandBuffer

    worlds = {"ticks": _gpi_world(n), "plain": _gpi_world(n)}
    try:
        worlds["ticks"].track_changes("Position")

        def side(w: World) -> Callable[[], None]:
            def tick() -> None:
                buf = CommandBuffer()
                for c in w.query("Position", "Velocity"):
                    buf.set_chunk(c, "Position", c["Position"] + c["Velocity"] * DT)
                w.apply(buf)
            return tick

        calls = 20 if quick else 50
        return _interleaved({k: side(w) for k, w in worlds.items()}, {k: calls for k in worlds},
                            5 if quick else 9)
    finally:
        for w in worlds.values():
            w.close()


def _tree_world(n: int, fanout: int = 4) -> tuple[World, np.ndarray]:
    """A world holding one ChildOf tree of ``n`` nodes (breadth-first ids, ``fanout`` children each)."""
    from gpi.ecs.relations import Relation

    w = World()
    w.register(POSITION)
    w.declare_relation(Relation("ChildOf", on_delete="remove"))
    ids = [w.spawn(1, {"Position": 0})]
    made = 1
    while made < n:
        parents = ids[-1]
        k = min(len(parents) * fanout, n - made)
        kids = w.spawn(k, {"Position": 0, "ChildOf": np.repeat(parents, fanout)[:k]})
        ids.append(kids)
        made += k
    return w, np.concatenate(ids)


def measure_tree_despawn(n: int, quick: bool) -> dict[str, float]:
    """despawn_recursive(root) of an n-node tree vs despawn(all its ids) in one call (fresh worlds each time)."""
    rec: list[float] = []
    flat: list[float] = []
    for _ in range(3 if quick else 7):
        for side in ("recursive", "flat"):
            w, ids = _tree_world(n)
            try:
                t0 = time.perf_counter()
                if side == "recursive":
                    gone = w.despawn_recursive(ids[:1])
                    rec.append(time.perf_counter() - t0)
                    assert len(gone) == n and w.entity_count == 0
                else:
                    w.despawn(ids)
                    flat.append(time.perf_counter() - t0)
                    assert w.entity_count == 0
            finally:
                w.close()
    return {"recursive": statistics.median(rec), "flat": statistics.median(flat)}


def measure(quick: bool) -> dict[str, Any]:
    figures: dict[str, float] = {}
    sizes = [10_000, 100_000, 1_000_000]
    for n in sizes:
        r = measure_movement(n, quick)
        lab = bc.label(n)
        figures[f"movement_{lab}_gpi_ms"] = round(r["gpi"] * 1e3, 4)
        figures[f"movement_{lab}_numpy_ms"] = round(r["numpy"] * 1e3, 4)
        figures[f"query_overhead_vs_numpy_{lab}"] = round(r["gpi"] / r["numpy"], 3)
        if "esper" in r:
            figures[f"movement_{lab}_esper_ms"] = round(r["esper"] * 1e3, 3)
            figures[f"esper_speedup_movement_{lab}"] = round(r["esper"] / r["gpi"], 1)
    s = measure_spawn(100_000, quick)
    figures["spawn_100k_gpi_ms"] = round(s["gpi"] * 1e3, 3)
    figures["spawn_100k_esper_ms"] = round(s["esper"] * 1e3, 1)
    figures["esper_speedup_spawn_100k"] = round(s["esper"] / s["gpi"], 1)
    for k, v in measure_extras(100_000).items():
        figures[f"{k.replace('_ms', '')}_100k_ms" if k.endswith("_ms") else f"{k}_100k"] = round(v, 3)

    ch = measure_changed(100_000, quick)
    figures["changed_query_1pct_100k_ms"] = round(ch["changed"] * 1e3, 4)
    figures["full_scan_100k_ms"] = round(ch["full"] * 1e3, 4)
    figures["changed_speedup_1pct_100k"] = round(ch["full"] / ch["changed"], 1)
    tc = measure_tick_cost(100_000, quick)
    figures["movement_apply_100k_ticks_ms"] = round(tc["ticks"] * 1e3, 4)
    figures["movement_apply_100k_plain_ms"] = round(tc["plain"] * 1e3, 4)
    figures["change_tick_cost_movement_100k"] = round(tc["ticks"] / tc["plain"], 3)
    tr = measure_tree_despawn(10_000, quick)
    figures["despawn_recursive_tree_10k_ms"] = round(tr["recursive"] * 1e3, 3)
    figures["despawn_same_ids_10k_ms"] = round(tr["flat"] * 1e3, 3)
    figures["despawn_recursive_vs_flat_10k"] = round(tr["recursive"] / tr["flat"], 2)

    def target(key: str, op: str, goal: float) -> dict[str, Any]:
        return bc.target(figures[key], op, goal)

    targets = {
        "esper_speedup_movement_100k": target("esper_speedup_movement_100k", ">=", 50),
        "esper_speedup_spawn_100k": target("esper_speedup_spawn_100k", ">=", 20),
        "query_overhead_vs_numpy_100k": target("query_overhead_vs_numpy_100k", "<=", 1.3),
        "changed_speedup_1pct_100k": target("changed_speedup_1pct_100k", ">=", 20),
        "change_tick_cost_movement_100k": target("change_tick_cost_movement_100k", "<=", 1.15),
    }
    return {"figures": figures, "targets": targets, "quick": quick}


def tables(result: dict[str, Any]) -> list[Any]:
    """The movement table and the table of other operations."""
    f = result["figures"]
    rows = []
    for lab in ("10k", "100k", "1m"):
        e = f.get(f"movement_{lab}_esper_ms")
        rows.append((
            lab,
            f"{f[f'movement_{lab}_gpi_ms']:.3f}",
            f"{f[f'movement_{lab}_numpy_ms']:.3f}",
            "skipped (--quick)" if e is None else f"{e:.1f}",
            f"{f[f'query_overhead_vs_numpy_{lab}']:.2f}x",
            "-" if e is None else f"{f[f'esper_speedup_movement_{lab}']:.0f}x",
        ))
    movement = bc.rows_table("Movement: Position += Velocity * dt (ms per tick, median)",
                             ("entities", "gpi (query API)", "raw numpy", "esper 3.x", "gpi / numpy",
                              "esper / gpi"), rows, first="right")
    other = bc.rows_table("Other operations, 100k entities", ("what", "figure"), [
        ("spawn 100k, gpi (one call)", f"{f['spawn_100k_gpi_ms']:.2f} ms"),
        ("spawn 100k, esper create_entity loop", f"{f['spawn_100k_esper_ms']:.1f} ms"),
        ("spawn speedup", f"{f['esper_speedup_spawn_100k']:.0f}x"),
        ("world checksum", f"{f['checksum_100k_ms']:.3f} ms"),
        ("snapshot (lz4)", f"{f['snapshot_100k_ms']:.2f} ms, {f['snapshot_bytes_100k'] / 1e6:.2f} MB"),
        ("from_snapshot", f"{f['restore_100k_ms']:.2f} ms"),
        ("changed=[Position] query + job, 1% moved", f"{f['changed_query_1pct_100k_ms']:.3f} ms"),
        ("same job, full scan", f"{f['full_scan_100k_ms']:.3f} ms"),
        ("changed speedup", f"{f['changed_speedup_1pct_100k']:.1f}x"),
        ("movement apply, Position ticks kept", f"{f['movement_apply_100k_ticks_ms']:.3f} ms"),
        ("movement apply, no ticks", f"{f['movement_apply_100k_plain_ms']:.3f} ms"),
        ("change-tick cost", f"{f['change_tick_cost_movement_100k']:.3f}x"),
        ("despawn_recursive, 10k-node ChildOf tree", f"{f['despawn_recursive_tree_10k_ms']:.2f} ms"),
        ("despawn the same 10k ids, one call", f"{f['despawn_same_ids_10k_ms']:.2f} ms"),
        ("recursive / one call", f"{f['despawn_recursive_vs_flat_10k']:.2f}x"),
    ])
    return [movement, other]


def main(argv: list[str] | None = None) -> int:
    args = bc.parse_args(__doc__, argv, quick_help="fewer repetitions; no esper at 1M")
    result = measure(args.quick)
    bc.report(result["figures"], result["targets"], tables(result), json_line=args.json,
              extra={"quick": result["quick"]})
    return 0


if __name__ == "__main__":
    sys.exit(main())
