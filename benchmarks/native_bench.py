"""Native (C) plugins vs Python plugins vs raw numpy: what the C ABI buys.

Measured in one run, sides interleaved (A B A B) and reduced to medians:

- movement (Position += Velocity * dt, wrapped into the arena) at 1M
  entities: the C plugin ``movement_native`` in a sandboxed child, the Python
  ``movement`` plugin in a sandboxed child, and raw numpy in-process writing
  straight into the world's column (the baseline: no child, no commands, no
  copy). Figures are milliseconds per tick (the whole tick: call, IPC, the
  host's validation and its one copy into the table).
- boids steering at 10k entities: ``boids_native.steer`` vs ``boids.steer``,
  each in a sandboxed child beside the Python movement plugin; the figure is
  the host-observed cost of that one system per tick (call round trip plus
  applying its commands, from the host's per-call records), and the time
  spent inside the child.

Targets (issue #18): native movement in a child <= 1.2x raw numpy in-process
at 1M; native boids >= 5x faster than the Python boids plugin.

The C plugins are built with CMake on first use (cached; see
gpi.plugins.native.build). Run ``python benchmarks/native_bench.py`` for a
table, ``--quick`` for small sizes, ``--json`` to end with one JSON line.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))
import _common as bc  # noqa: E402

ROOT = bc.use()

from gpi.ecs import Component, World  # noqa: E402
from gpi.plugins.host import PluginHost  # noqa: E402
from gpi.plugins.native.build import build_project, plugin_dirs  # noqa: E402

EXAMPLES = ROOT / "examples" / "plugins"
ARENA = np.float32(100.0)


def movement_world(n: int, seed: int = 1) -> World:
    rng = np.random.default_rng(seed)
    w = World(seed=seed)
    w.register(Component("Position", "float32", (2,)), Component("Velocity", "float32", (2,)))
    w.spawn(n, {"Position": rng.uniform(0, 100, (n, 2)).astype(np.float32),
                "Velocity": rng.uniform(-5, 5, (n, 2)).astype(np.float32)})
    return w


def tick_side(host: PluginHost, ticks: int) -> Callable[[], float]:
    """A side: median seconds per tick over ``ticks`` ticks."""

    def side() -> float:
        times = []
        for _ in range(ticks):
            t0 = time.perf_counter()
            rep = host.tick()
            times.append(time.perf_counter() - t0)
            if rep.errors or rep.rejected or rep.skipped:
                raise RuntimeError(f"benchmark tick failed: {rep} {host.faults[-1:]}")
        return statistics.median(times)

    return side


def bench_movement(n: int, ticks: int, reps: int, native_dir: Path) -> dict[str, float]:
    worlds = {k: movement_world(n) for k in ("native", "python", "numpy")}
    hosts = {k: PluginHost(worlds[k], isolation="process", sandbox=True) for k in ("native", "python")}
    dt = np.float32(1 / 60)
    numpy_world = worlds["numpy"]

    def numpy_side() -> float:
        times = []
        for _ in range(ticks):
            t0 = time.perf_counter()
            for chunk in numpy_world.query("Position", "Velocity", writable=True):
                pos = chunk["Position"]
                pos += chunk["Velocity"] * dt
                np.subtract(pos, ARENA, out=pos, where=pos >= ARENA)
                np.add(pos, ARENA, out=pos, where=pos < 0)
            times.append(time.perf_counter() - t0)
        return statistics.median(times)

    try:
        hosts["native"].load(native_dir)
        hosts["python"].load(EXAMPLES / "movement")
        for h in hosts.values():
            h.run(3)
        sides = {k: tick_side(h, ticks) for k, h in hosts.items()}
        sides["numpy"] = numpy_side
        med = bc.interleaved_medians(sides, reps)
        a = np.concatenate([c["Position"] for c in worlds["native"].query("Position")])
        b = np.concatenate([c["Position"] for c in worlds["python"].query("Position")])
        assert np.allclose(a, b, atol=1e-3), "native and Python movement disagree"
    finally:
        for h in hosts.values():
            h.close()
        for w in worlds.values():
            w.close()
    return {k: v * 1e3 for k, v in med.items()}


def bench_boids(n: int, ticks: int, reps: int, boids_dir: Path) -> dict[str, float]:
    kinds = {"native": ("boids_native", boids_dir), "python": ("boids", EXAMPLES / "boids")}
    worlds = {k: movement_world(n, seed=2) for k in kinds}
    hosts = {k: PluginHost(worlds[k], isolation="process", sandbox=True) for k in kinds}

    def system_side(kind: str) -> Callable[[], float]:
        host, plugin = hosts[kind], kinds[kind][0]

        def side() -> float:
            start = len(host.records)
            tick_side(host, ticks)()
            recs = [r for r in list(host.records)[start:] if r["plugin"] == plugin and r["system"] == "steer"]
            side.child = statistics.median(r["child_ns"] for r in recs) / 1e9  # type: ignore[attr-defined]
            return statistics.median((r["host_ns"] + r["apply_ns"]) for r in recs) / 1e9

        return side

    try:
        for k, (_, folder) in kinds.items():
            hosts[k].load(EXAMPLES / "movement", folder)
            hosts[k].run(3)
        sides = {k: system_side(k) for k in kinds}
        med = bc.interleaved_medians(sides, reps)
        child = {k: sides[k].child for k in kinds}  # type: ignore[attr-defined]
        for w in worlds.values():  # both flocks keep the boids' speed clamp
            vel = np.concatenate([c["Velocity"] for c in w.query("Velocity")])
            s = np.hypot(vel[:, 0], vel[:, 1])
            assert (s > 1.99).all() and (s < 20.01).all()
    finally:
        for h in hosts.values():
            h.close()
        for w in worlds.values():
            w.close()
    return {"native_ms": med["native"] * 1e3, "python_ms": med["python"] * 1e3,
            "native_child_ms": child["native"] * 1e3, "python_child_ms": child["python"] * 1e3}


def main() -> int:
    args = bc.parse_args(__doc__)
    built = plugin_dirs(build_project(EXAMPLES / "boids_native"))
    n_move = 100_000 if args.quick else 1_000_000
    n_boids = 2_000 if args.quick else 10_000
    reps = 3 if args.quick else 5
    ticks = 5 if args.quick else 15
    mv = bench_movement(n_move, ticks, reps, built["movement_native"])
    bd = bench_boids(n_boids, ticks, reps, built["boids_native"])
    ml, bl = bc.label(n_move), bc.label(n_boids)
    figures = {
        f"movement_{ml}_native_child_ms": round(mv["native"], 3),
        f"movement_{ml}_python_child_ms": round(mv["python"], 3),
        f"movement_{ml}_numpy_inprocess_ms": round(mv["numpy"], 3),
        f"movement_{ml}_native_vs_numpy": round(mv["native"] / mv["numpy"], 3),
        f"movement_{ml}_python_vs_numpy": round(mv["python"] / mv["numpy"], 3),
        f"boids_{bl}_native_system_ms": round(bd["native_ms"], 3),
        f"boids_{bl}_python_system_ms": round(bd["python_ms"], 3),
        f"boids_{bl}_native_in_child_ms": round(bd["native_child_ms"], 3),
        f"boids_{bl}_python_in_child_ms": round(bd["python_child_ms"], 3),
        f"boids_{bl}_native_speedup": round(bd["python_ms"] / bd["native_ms"], 2),
    }
    targets = {
        f"native_movement_{ml}_vs_numpy": bc.target(figures[f"movement_{ml}_native_vs_numpy"], "<=", 1.2),
        f"native_boids_{bl}_speedup": bc.target(figures[f"boids_{bl}_native_speedup"], ">=", 5),
    }
    bc.report(figures, targets, bc.figures_table(figures, f"native plugins (movement {ml}, boids {bl})"),
              json_line=args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
