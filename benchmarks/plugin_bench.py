"""Plugin systems in child processes vs in-process: what isolation costs.

Measured in one run, sides interleaved (A B A B) and reduced to medians:

- per-tick overhead of a no-op system in a child vs in-process (isolation none);
- the movement plugin (Position += Velocity * dt, wrapped) over 100k and 1M
  entities in a child vs the same system in-process, and vs a bare numpy
  update written straight into the world's column;
- ticks per second of the example simulation (spawner, movement, boids,
  player; sandboxed children) at 10k and 100k entities;
- two independent heavy systems in one wave: parallel children vs one after
  the other.

Run ``python benchmarks/plugin_bench.py`` for a table, ``--quick`` for small
sizes, ``--json`` to end with one JSON line (figures and targets).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gpi.ecs import World  # noqa: E402
from gpi.plugins.host import PluginHost  # noqa: E402

EXAMPLES = ROOT / "examples" / "plugins"
NOOP = ROOT / "tests" / "plugins" / "fixtures" / "noop"

HEAVY = '''
"""Benchmark plugin: a CPU-heavy numpy system over its own component."""
import numpy as np
from gpi import Plugin

plugin = Plugin("{name}")
plugin.component("{comp}", "float32")


@plugin.system(reads=["{comp}"], writes=["{comp}"])
def crunch(ctx):
    for chunk in ctx.query("{comp}"):
        v = chunk["{comp}"].astype(np.float32)
        for _ in range({rounds}):
            v = np.sin(v) + np.float32(0.5)
        out = ctx.output(v.shape, v.dtype)
        out[:] = v
        ctx.commands.set_chunk(chunk, "{comp}", out)
'''


def write_heavy(folder: Path, name: str, comp: str, rounds: int) -> Path:
    d = folder / name
    d.mkdir(parents=True, exist_ok=True)
    (d / "plugin.toml").write_text(f'[plugin]\nname = "{name}"\nversion = "1.0.0"\nabi = 1\nentry = "main"\n')
    (d / "main.py").write_text(textwrap.dedent(HEAVY.format(name=name, comp=comp, rounds=rounds)))
    return d


def tick_times(host: PluginHost, ticks: int) -> list[float]:
    """Seconds per tick, one per tick."""
    out = []
    for _ in range(ticks):
        t0 = time.perf_counter()
        host.tick()
        out.append(time.perf_counter() - t0)
    return out


def interleave(sides: dict[str, Callable[[], float]], reps: int) -> dict[str, float]:
    """Median over ``reps`` rounds of each side's measurement, sides alternating."""
    got: dict[str, list[float]] = {k: [] for k in sides}
    for _ in range(reps):
        for k, fn in sides.items():
            got[k].append(fn())
    return {k: statistics.median(v) for k, v in got.items()}


def bench_noop(ticks: int, reps: int) -> dict[str, float]:
    worlds = {iso: World() for iso in ("process", "none")}
    hosts = {iso: PluginHost(w, isolation=iso, sandbox=True) for iso, w in worlds.items()}
    try:
        for h in hosts.values():
            h.load(NOOP)
            tick_times(h, 200)
        med = interleave({iso: (lambda h=h: statistics.median(tick_times(h, ticks))) for iso, h in hosts.items()}, reps)
    finally:
        for h in hosts.values():
            h.close()
        for w in worlds.values():
            w.close()
    return {"noop_child_us": med["process"] * 1e6, "noop_inprocess_us": med["none"] * 1e6,
            "noop_overhead_us": (med["process"] - med["none"]) * 1e6}


def movement_world(n: int) -> World:
    rng = np.random.default_rng(1)
    w = World(seed=1)
    from gpi.ecs import Component

    w.register(Component("Position", "float32", (2,)), Component("Velocity", "float32", (2,)))
    w.spawn(n, {"Position": rng.uniform(0, 100, (n, 2)).astype(np.float32),
                "Velocity": rng.uniform(-5, 5, (n, 2)).astype(np.float32)})
    return w


def bench_movement(n: int, ticks: int, reps: int) -> dict[str, float]:
    worlds = {k: movement_world(n) for k in ("process", "none", "numpy")}
    hosts = {k: PluginHost(worlds[k], isolation=k, sandbox=True) for k in ("process", "none")}
    dt = np.float32(1 / 60)
    arena = np.float32(100.0)

    def numpy_side() -> float:
        times = []
        for _ in range(ticks):
            t0 = time.perf_counter()
            for chunk in worlds["numpy"].query("Position", "Velocity", writable=True):
                pos = chunk["Position"]
                pos += chunk["Velocity"] * dt
                np.subtract(pos, arena, out=pos, where=pos >= arena)
                np.add(pos, arena, out=pos, where=pos < 0)
            times.append(time.perf_counter() - t0)
        return statistics.median(times)

    try:
        for h in hosts.values():
            h.load(EXAMPLES / "movement")
            tick_times(h, 3)
        sides: dict[str, Callable[[], float]] = {
            k: (lambda h=h: statistics.median(tick_times(h, ticks))) for k, h in hosts.items()
        }
        sides["numpy"] = numpy_side
        med = interleave(sides, reps)
        assert worlds["process"].checksum() == worlds["none"].checksum()
    finally:
        for h in hosts.values():
            h.close()
        for w in worlds.values():
            w.close()
    return {"child_ms": med["process"] * 1e3, "inprocess_ms": med["none"] * 1e3, "numpy_ms": med["numpy"] * 1e3}


def bench_sim(n: int, ticks: int) -> dict[str, float]:
    with World(seed=0) as world, PluginHost(world, sandbox=True) as host:
        host.load(*(EXAMPLES / p for p in ("movement", "spawner", "boids", "player")))
        world.insert_resource("population", n)
        while world.entity_count < n:
            host.tick({"keys": ["right"]})
        for _ in range(5):
            host.tick({"keys": ["right"]})
        t0 = time.perf_counter()
        for i in range(ticks):
            host.tick({"keys": ["up" if i % 2 else "left"]})
        elapsed = time.perf_counter() - t0
        return {"ticks_per_s": ticks / elapsed, "entities": float(world.entity_count), "faults": float(len(host.faults))}


def bench_parallel(n: int, rounds: int, ticks: int, reps: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        dirs = [write_heavy(Path(tmp), "heavy_a", "A", rounds), write_heavy(Path(tmp), "heavy_b", "B", rounds)]
        worlds = {k: World(seed=2) for k in ("parallel", "serial")}
        hosts = {k: PluginHost(w, sandbox=True, parallel=(k == "parallel")) for k, w in worlds.items()}
        try:
            for w, h in zip(worlds.values(), hosts.values()):
                h.load(*dirs)
                w.spawn(n, {"A": np.linspace(0, 1, n, dtype=np.float32), "B": np.linspace(1, 2, n, dtype=np.float32)})
                tick_times(h, 2)
                assert h.schedule.stages["update"] == [["heavy_a.crunch", "heavy_b.crunch"]]
            med = interleave({k: (lambda h=h: statistics.median(tick_times(h, ticks))) for k, h in hosts.items()}, reps)
            assert worlds["parallel"].checksum() == worlds["serial"].checksum()
        finally:
            for h in hosts.values():
                h.close()
            for w in worlds.values():
                w.close()
    return {"parallel_ms": med["parallel"] * 1e3, "serial_ms": med["serial"] * 1e3}


def _crunch_worker(conn, n: int, rounds: int) -> None:  # type: ignore[no-untyped-def]
    v0 = np.linspace(0, 1, n, dtype=np.float32)
    while conn.recv():
        v = v0
        for _ in range(rounds):
            v = np.sin(v) + np.float32(0.5)
        conn.send(float(v[0]))


def bench_machine_parallel(n: int, rounds: int, ticks: int, reps: int) -> dict[str, float]:
    """Baseline: the same numpy work in two bare processes (pipes), both at once vs one after the other."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    pipes, procs = [], []
    for _ in range(2):
        a, b = ctx.Pipe()
        p = ctx.Process(target=_crunch_worker, args=(b, n, rounds), daemon=True)
        p.start()
        pipes.append(a)
        procs.append(p)

    def run(parallel: bool) -> float:
        times = []
        for _ in range(ticks):
            t0 = time.perf_counter()
            if parallel:
                for c in pipes:
                    c.send(True)
                for c in pipes:
                    c.recv()
            else:
                for c in pipes:
                    c.send(True)
                    c.recv()
            times.append(time.perf_counter() - t0)
        return statistics.median(times)

    try:
        run(True)
        med = interleave({"parallel": lambda: run(True), "serial": lambda: run(False)}, reps)
    finally:
        for c in pipes:
            c.send(False)
        for p in procs:
            p.join(5)
    return {"bare_parallel_ms": med["parallel"] * 1e3, "bare_serial_ms": med["serial"] * 1e3}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (CI)")
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    args = parser.parse_args(argv)
    q = args.quick
    reps = 3 if q else 5
    figures: dict[str, float] = {}

    noop = bench_noop(200 if q else 1000, reps)
    figures.update({k: round(v, 2) for k, v in noop.items()})
    sizes = [("100k", 100_000), ("1m", 1_000_000)]
    for label, n in sizes:
        if q and n > 100_000:
            n = 300_000
        m = bench_movement(n, 5 if n >= 1_000_000 else 20, reps)
        figures[f"movement_{label}_child_ms"] = round(m["child_ms"], 3)
        figures[f"movement_{label}_inprocess_ms"] = round(m["inprocess_ms"], 3)
        figures[f"movement_{label}_numpy_ms"] = round(m["numpy_ms"], 3)
        figures[f"movement_{label}_entities"] = n
    for label, n in (("10k", 10_000), ("100k", 100_000)):
        if q and n > 10_000:
            n = 30_000
        s = bench_sim(n, 30 if q else 120)
        figures[f"sim_{label}_ticks_per_s"] = round(s["ticks_per_s"], 1)
        figures[f"sim_{label}_entities"] = int(s["entities"])
        figures[f"sim_{label}_faults"] = int(s["faults"])
    pn, pr, pt = (100_000, 40, 5) if q else (200_000, 60, 10)
    par = bench_parallel(pn, pr, pt, reps if q else 9)
    figures.update({k: round(v, 3) for k, v in par.items()})
    bare = bench_machine_parallel(pn, pr, pt, reps if q else 9)
    figures.update({k: round(v, 3) for k, v in bare.items()})
    figures["bare_parallel_speedup"] = round(bare["bare_serial_ms"] / bare["bare_parallel_ms"], 3)

    child_vs_in = figures["movement_1m_child_ms"] / figures["movement_1m_inprocess_ms"]
    child_vs_numpy = figures["movement_1m_child_ms"] / figures["movement_1m_numpy_ms"]
    speedup = figures["serial_ms"] / figures["parallel_ms"]
    figures["movement_1m_child_vs_numpy"] = round(child_vs_numpy, 3)
    targets = {
        "noop_overhead_us": {"value": figures["noop_overhead_us"], "op": "<=", "target": 50},
        "movement_1m_child_vs_inprocess": {"value": round(child_vs_in, 3), "op": "<=", "target": 1.5},
        "parallel_speedup": {"value": round(speedup, 3), "op": ">=", "target": 1.3},
    }
    for t in targets.values():
        t["met"] = t["value"] <= t["target"] if t["op"] == "<=" else t["value"] >= t["target"]

    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"plugin_bench{' (quick)' if q else ''}: medians of {reps} interleaved repetitions")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for k, v in figures.items():
        table.add_row(k, f"{v:,}")
    Console().print(table)
    tt = Table(title="targets")
    for col in ("target", "value", "goal", "met"):
        tt.add_column(col)
    for k, t in targets.items():
        tt.add_row(k, str(t["value"]), f"{t['op']} {t['target']}", "yes" if t["met"] else "[red]no[/red]")
    Console().print(tt)
    if args.json:
        print(json.dumps({"figures": figures, "targets": targets}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
