"""World checksum benchmark: ``World.checksum()`` vs xxh3 and memcpy over the same bytes.

- Worlds of N = 10k, 100k, 1M entities with the example simulation's schema
  (Position, Velocity, Age, Tint, Player; 4 tables, 5 % of the slots
  despawned, 4 resources of which one list), built directly with
  ``World.spawn``; plus the real demo (spawner, movement, boids, player on a
  ``PluginHost``, isolation none) at 10k after a few ticks, which is what a
  recording checksums every tick.
- ``checksum`` is the steady call (same layout epoch: the structure's hash is
  cached, columns and resources are hashed); ``new epoch`` is the first call
  after a structural change (entity index, table headers and entity ids
  hashed again), what a tick that spawned or despawned pays.
- Over the very bytes the checksum covers (every buffer prefix, taken once):
  the raw kernel (``checksum_buffers``, one call), ``xxhash.xxh3_64``
  (one call per buffer, each seeded with the previous result, as the kernel
  chains them) and ``numpy.copyto`` into a
  preallocated buffer of the same sizes (memcpy): bandwidths in GB/s.
- The kernel per SIMD path (scalar Cython, SSE2, AVX2, AVX-512F) on the 10k
  bytes.
- Right after a demo tick: what a recording pays per tick (the checksum
  while the tick's data is partly out of cache, and at once again, hot), the
  tick itself, and a keyframe (``World.snapshot``) and its ``from_snapshot``.

Before this kernel (format v1: one splitmix64 per 8-byte word, one kernel call
per part, everything re-encoded per call) the demo at 10k took ~128 us per
checksum on this machine and the raw kernel ~41 us for 300 KB (xxh3: ~6 us);
``V1_DEMO_10K_US`` holds that measured figure for the speedup target.
Before the steady-call fast path (commit 06a7266: weak column references
dereferenced by the kernel, one kernel call, prefetch) the checksum right
after a demo tick took ~20-30 us and a keyframe snapshot ~0.7-1.1 ms (with an
lz4 content checksum, dropped since).

Usage: ``python benchmarks/checksum_bench.py [--quick] [--json]``. Every
measurement interleaves its sides (A B C A B C ...) after a warm-up and
reports the median.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import xxhash

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from gpi.cython_ext import checksum as ck  # noqa: E402
from gpi.ecs import Component, World  # noqa: E402
from gpi.ecs.checksum import checksum_parts  # noqa: E402

V1_DEMO_10K_US = 128.0  # measured with the v1 kernel (commit 55d1300), see the module doc
COMPONENTS = (
    Component("Position", "float32", (2,)),
    Component("Velocity", "float32", (2,)),
    Component("Age", "uint32"),
    Component("Tint", "uint8", (4,)),
    Component("Player", "uint8"),
)


def build_world(n: int, seed: int = 1) -> World:
    """A world shaped like the demo: 4 tables, holes in the entity index, a few resources."""
    rng = np.random.default_rng(seed)
    w = World(seed=seed)
    w.register(*COMPONENTS)
    parts = {("Age", "Position", "Tint", "Velocity"): 0.9, ("Position", "Velocity"): 0.09,
             ("Age", "Position", "Tint"): 0.01}
    ids = []
    for names, share in parts.items():
        k = max(1, int(n * share))
        vals: dict[str, Any] = {"Position": rng.uniform(0, 100, (k, 2)), "Velocity": rng.uniform(-10, 10, (k, 2)),
                                "Age": rng.integers(0, 600, k), "Tint": rng.integers(0, 256, (k, 4))}
        ids.append(w.spawn(k, {name: vals[name] for name in names}))
    w.spawn(1, {"Player": 1, "Position": (50.0, 50.0), "Velocity": (0.0, 0.0)})
    every = np.concatenate(ids)
    w.despawn(rng.choice(every, len(every) // 20, replace=False))
    w.insert_resource("population", n)
    w.insert_resource("arena", 100.0)
    w.insert_resource("mode", "demo")
    w.insert_resource("gravity", [0.0, -9.8])
    return w


def covered_bytes(world: World) -> list[np.ndarray]:
    """Every byte range the checksum covers, as flat uint8 views (structure, columns, resources)."""
    buffers, lengths = checksum_parts(world)
    views = []
    for b, n in zip(buffers, lengths):
        flat = b.reshape(-1).view(np.uint8) if isinstance(b, np.ndarray) else np.frombuffer(b, np.uint8)
        views.append(flat[:n])
    assert ck.checksum_buffers(views, lengths) == world.checksum()  # type: ignore[arg-type]
    return views


def interleaved(fns: dict[str, Callable[[], Any]], reps: int, warm: int = 3) -> dict[str, float]:
    """Median microseconds per call of each function, called in turn ``reps`` times."""
    for _ in range(warm):
        for f in fns.values():
            f()
    times: dict[str, list[int]] = {k: [] for k in fns}
    gc.disable()
    try:
        for _ in range(reps):
            for k, f in fns.items():
                t0 = time.perf_counter_ns()
                f()
                times[k].append(time.perf_counter_ns() - t0)
    finally:
        gc.enable()
    return {k: statistics.median(v) / 1e3 for k, v in times.items()}


def measure_size(world: World, label: str, reps: int) -> dict[str, Any]:
    """Figures of one world: checksum (steady, new epoch) and kernel / xxh3 / memcpy over its bytes."""
    views = covered_bytes(world)
    lengths = [v.nbytes for v in views]
    dst = [np.empty_like(v) for v in views]
    total = sum(lengths)

    def bump() -> int:
        world.storage.epoch += 1  # what a structural change does to the layout (nothing else changes)
        return world.checksum()

    def xxh3() -> int:
        h = 0
        for v in views:  # chained like the kernel: each result seeds the next
            h = xxhash.xxh3_64_intdigest(v, seed=h)  # type: ignore[arg-type]
        return h

    def memcpy() -> None:
        for d, v in zip(dst, views):
            np.copyto(d, v)

    t = interleaved({
        "checksum": world.checksum,
        "new_epoch": bump,
        "kernel": lambda: ck.checksum_buffers(views, lengths),  # type: ignore[arg-type]
        "xxh3": xxh3,
        "memcpy": memcpy,
    }, reps)

    def gbs(us: float) -> float:
        return round(total / us / 1e3, 2)

    return {
        f"{label}_bytes": total,
        f"{label}_checksum_us": round(t["checksum"], 2),
        f"{label}_new_epoch_us": round(t["new_epoch"], 2),
        f"{label}_kernel_us": round(t["kernel"], 2),
        f"{label}_xxh3_us": round(t["xxh3"], 2),
        f"{label}_memcpy_us": round(t["memcpy"], 2),
        f"{label}_kernel_gbs": gbs(t["kernel"]),
        f"{label}_xxh3_gbs": gbs(t["xxh3"]),
        f"{label}_memcpy_gbs": gbs(t["memcpy"]),
        f"{label}_kernel_vs_xxh3": round(t["xxh3"] / t["kernel"], 3),
    }


def measure_demo(reps: int) -> dict[str, Any]:
    """The real demo world at 10k entities (plugin host, isolation none) after a few ticks."""
    from gpi.plugins.host import PluginHost

    dirs = [ROOT / "examples" / "plugins" / n for n in ("spawner", "movement", "boids", "player")]
    with World(seed=3) as world, PluginHost(world, isolation="none") as host:
        host.load(*dirs)
        world.insert_resource("population", 10_000)
        for t in range(6):
            host.tick({"keys": [["right"], ["up"]][t % 2], "mouse": [0.0, 0.0], "buttons": [], "axes": {}})
        out = measure_size(world, "demo_10k", reps)
        out["demo_10k_entities"] = world.entity_count
        out["demo_10k_tables"] = sum(1 for t in world.tables if t.rows)
        out.update(measure_after_tick(world, host, max(20, reps // 4)))
    return out


def measure_after_tick(world: World, host: Any, ticks: int) -> dict[str, Any]:
    """What a recording pays per tick: ``world_checksum`` right after ``host.tick`` (its columns partly
    out of cache), then again at once (hot); and a keyframe (``World.snapshot``) after a tick."""
    from gpi.ecs.checksum import world_checksum

    tick_ns: list[int] = []
    cold: list[int] = []
    hot: list[int] = []
    snap: list[int] = []
    restore: list[int] = []
    gc.disable()
    try:
        for t in range(ticks):
            t0 = time.perf_counter_ns()
            host.tick({"keys": [["left"], ["down"]][t % 2], "mouse": [0.0, 0.0], "buttons": [], "axes": {}})
            t1 = time.perf_counter_ns()
            world_checksum(world)
            t2 = time.perf_counter_ns()
            world_checksum(world)
            t3 = time.perf_counter_ns()
            tick_ns.append(t1 - t0)
            cold.append(t2 - t1)
            hot.append(t3 - t2)
            if t % 4 == 0:
                s0 = time.perf_counter_ns()
                data = world.snapshot()
                s1 = time.perf_counter_ns()
                World.from_snapshot(data).close()
                s2 = time.perf_counter_ns()
                snap.append(s1 - s0)
                restore.append(s2 - s1)
    finally:
        gc.enable()

    def med(v: list[int]) -> float:
        return round(statistics.median(v) / 1e3, 2)

    return {
        "demo_10k_tick_us": med(tick_ns),
        "demo_10k_after_tick_checksum_us": med(cold),
        "demo_10k_after_tick_hot_checksum_us": med(hot),
        "demo_10k_after_tick_checksum_share_pct": round(100 * statistics.median(cold) / statistics.median(tick_ns), 2),
        "demo_10k_snapshot_us": med(snap),
        "demo_10k_from_snapshot_us": med(restore),
        "demo_10k_snapshot_bytes": len(data),
    }


def measure_levels(world: World, reps: int) -> dict[str, Any]:
    """Kernel GB/s per SIMD path over the bytes of ``world``."""
    kernel = getattr(ck.KERNEL, "set_simd_level", None)
    if kernel is None:
        return {}
    views = covered_bytes(world)
    lengths = [v.nbytes for v in views]
    total = sum(lengths)
    names = {0: "scalar", 1: "sse2", 2: "avx2", 3: "avx512"}
    out: dict[str, Any] = {}
    levels = ck.KERNEL.simd_levels()  # type: ignore[union-attr]
    old = ck.KERNEL.simd_level()  # type: ignore[union-attr]
    try:
        for lv in levels:
            ck.KERNEL.set_simd_level(lv)  # type: ignore[union-attr]
            t = interleaved({"k": lambda: ck.checksum_buffers(views, lengths)}, reps)  # type: ignore[arg-type]
            out[f"kernel_{names.get(lv, lv)}_gbs"] = round(total / t["k"] / 1e3, 2)
    finally:
        ck.KERNEL.set_simd_level(old)  # type: ignore[union-attr]
    return out


def measure(quick: bool) -> dict[str, Any]:
    """All figures and targets."""
    sizes = [(10_000, "w10k", 100 if quick else 400), (100_000, "w100k", 30 if quick else 120),
             (1_000_000, "w1m", 5 if quick else 25)]
    figures: dict[str, Any] = {"backend": ck.BACKEND,
                               "simd_level": ck.KERNEL.simd_level() if ck.KERNEL is not None else None}
    figures.update(measure_demo(100 if quick else 400))
    for n, label, reps in sizes:
        with build_world(n) as w:
            figures.update(measure_size(w, label, reps))
            if n == 10_000:
                figures.update(measure_levels(w, 50 if quick else 200))
    figures["v1_demo_10k_checksum_us"] = V1_DEMO_10K_US
    figures["speedup_vs_v1_10k"] = round(V1_DEMO_10K_US / figures["demo_10k_checksum_us"], 2)

    def target(value: float, op: str, tgt: float) -> dict[str, Any]:
        met = value <= tgt if op == "<=" else value >= tgt
        return {"value": value, "op": op, "target": tgt, "met": bool(met)}

    targets = {
        "world_checksum_10k_us": target(figures["demo_10k_checksum_us"], "<=", 30),
        "world_checksum_10k_new_epoch_us": target(figures["demo_10k_new_epoch_us"], "<=", 30),
        "speedup_vs_v1_10k": target(figures["speedup_vs_v1_10k"], ">=", 3),
        "kernel_vs_xxh3": target(figures["demo_10k_kernel_vs_xxh3"], ">=", 0.5),
    }
    return {"figures": figures, "targets": targets}


def show(result: dict[str, Any]) -> None:
    """A readable table (rich)."""
    from rich.console import Console
    from rich.table import Table

    f = result["figures"]
    con = Console()
    t = Table(title=f"World checksum (backend {f['backend']}, SIMD level {f['simd_level']})")
    worlds = (("demo_10k", f"demo 10k ({f['demo_10k_tables']} tables)"), ("w10k", "10k"),
              ("w100k", "100k"), ("w1m", "1M"))
    t.add_column("")
    for _, name in worlds:
        t.add_column(name, justify="right")
    rows = (("bytes covered", "bytes", "{:,}"), ("World.checksum() µs", "checksum_us", "{}"),
            ("  after a structural change µs", "new_epoch_us", "{}"), ("kernel µs", "kernel_us", "{}"),
            ("xxh3_64 µs", "xxh3_us", "{}"), ("memcpy µs", "memcpy_us", "{}"),
            ("kernel GB/s", "kernel_gbs", "{}"), ("xxh3_64 GB/s", "xxh3_gbs", "{}"),
            ("memcpy GB/s", "memcpy_gbs", "{}"), ("kernel / xxh3 bandwidth", "kernel_vs_xxh3", "{}"))
    for title, key, fmt in rows:
        t.add_row(title, *(fmt.format(f[f"{label}_{key}"]) for label, _ in worlds))
    con.print(t)
    lv = ", ".join(f"{k[7:-4]} {v} GB/s" for k, v in f.items() if k.startswith("kernel_") and k.endswith("_gbs"))
    con.print(f"kernel per SIMD path (10k bytes): {lv}")
    con.print(f"v1 demo 10k: {f['v1_demo_10k_checksum_us']} µs -> {f['demo_10k_checksum_us']} µs "
              f"({f['speedup_vs_v1_10k']}x)")
    con.print(f"demo 10k, right after a tick ({f['demo_10k_tick_us']} µs, isolation none): "
              f"checksum {f['demo_10k_after_tick_checksum_us']} µs "
              f"({f['demo_10k_after_tick_checksum_share_pct']} % of the tick; at once again: "
              f"{f['demo_10k_after_tick_hot_checksum_us']} µs); keyframe snapshot {f['demo_10k_snapshot_us']} µs "
              f"({f['demo_10k_snapshot_bytes']:,} bytes), from_snapshot {f['demo_10k_from_snapshot_us']} µs")
    tt = Table(title="targets")
    for col in ("target", "value", "op", "goal", "met"):
        tt.add_column(col)
    for k, v in result["targets"].items():
        tt.add_row(k, str(v["value"]), v["op"], str(v["target"]), "yes" if v["met"] else "NO")
    con.print(tt)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repetitions")
    ap.add_argument("--json", action="store_true", help="end with one JSON line of figures and targets")
    args = ap.parse_args()
    result = measure(args.quick)
    show(result)
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
