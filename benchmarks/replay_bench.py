"""Replay benchmark: file size, recording overhead, verify speed and seek time.

Format-level measurements of :mod:`gpi.replays`, driven by a stand-in
simulation: a numpy world of N entities (Position and Velocity, float32[2]
each; one tick is ``vel += accel(input); pos += vel * dt``, the checksum is
xxh64 over both columns, a snapshot is their bytes). It is not the ECS world
or the demo; it has a realistic per-tick cost and incompressible state, which
is what the replay machinery sees.

- Bytes per tick, per second and per minute of 60 Hz ticks, for idle input
  (nothing pressed) and busy input (mouse moving every tick, keys changing
  every few ticks), in the three checksum modes: chain per block only
  (``checksum_interval=0``, the default), plus a stored checksum once per
  second (``60``), or every tick (``1``). Keyframes are off here and reported
  separately (bytes per keyframe of the stand-in world).
  Flushes follow a simulated 60 Hz clock with a 1 s flush interval, as live.
- Recording overhead: time in ``Recorder.record_tick`` (block encoding, lz4,
  write included) as a share of the stand-in tick time (step + checksum),
  measured in the same loop; also with keyframe snapshots every 300 ticks.
- Verify speed: ticks re-simulated and checked per second, as a multiple of
  real time at 60 Hz, and verify's cost over bare stepping; also on a real
  ``gpi.ecs.World`` of the same size with a movement system and the world's
  own checksum (through ``WorldSimulator``), in one process.
- Seek time to a random tick as a function of the keyframe interval K.
- The real plugin host (the four demo plugins at 10k entities): recording's
  share of the demo tick in both isolations, and ``gpi replay verify`` speed
  on a demo recording in each variant: serial with a sandboxed child per
  plugin (with and without draw-only systems), serial unconfined in process,
  and confined parallel workers (the default; see
  :mod:`gpi.replays.parallel`). The target (>= 20x real time) is on the
  default variant for this machine's CPUs.

Usage: ``python benchmarks/replay_bench.py [--quick] [--json]``. Medians of
several repetitions; the two sides of each ratio are measured in the same loop.
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import xxhash

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))
import _common as bc  # noqa: E402

ROOT = bc.use()

from gpi.replays import (  # noqa: E402
    InputState,
    Recorder,
    Replay,
    ReplayHeader,
    TickRecord,
    seek,
    verify,
)

TICK_RATE = 60
DT = np.float32(1.0 / TICK_RATE)


class StandInSim:
    """N entities with float32 Position/Velocity; deterministic given the inputs."""

    def __init__(self, n: int, seed: int = 1) -> None:
        rng = np.random.default_rng(seed)
        self.n = n
        self.pos = rng.uniform(0, 1000, (n, 2)).astype(np.float32)
        self.vel = rng.uniform(-5, 5, (n, 2)).astype(np.float32)
        self._accel = np.zeros(2, np.float32)

    def reset_to(self, snapshot: bytes) -> None:
        half = len(snapshot) // 2
        self.pos = np.frombuffer(snapshot[:half], np.float32).reshape(-1, 2).copy()
        self.vel = np.frombuffer(snapshot[half:], np.float32).reshape(-1, 2).copy()

    def step(self, input: InputState, record: TickRecord | None = None) -> int:
        self._accel[0] = (1.0 if input.held("right") else 0.0) - (
            1.0 if input.held("left") else 0.0
        )
        self._accel[1] = np.float32(input.mouse[1] % 7) * np.float32(0.01)
        self.vel += self._accel
        self.pos += self.vel * DT
        np.mod(self.pos, np.float32(1000), out=self.pos)
        return self.checksum()

    def checksum(self) -> int:
        h = xxhash.xxh64()
        h.update(self.pos.data)
        h.update(self.vel.data)
        return h.intdigest()

    def snapshot(self) -> bytes:
        return self.pos.tobytes() + self.vel.tobytes()


def idle_input(t: int) -> InputState:
    return InputState()


_BUSY_KEYS = ["left", "right", "up", "down", "space"]


def busy_input(t: int) -> InputState:
    keys = {k for i, k in enumerate(_BUSY_KEYS) if (t // (7 + 3 * i)) % 2}
    return InputState(
        keys=frozenset(keys),
        mouse=(400 + (t * 3) % 300, 300 + (t * 7) % 200),
        buttons=frozenset({1} if t % 40 < 10 else ()),
    )


class TickClock:
    """Simulated time: advances one 60 Hz tick per call of ``tick()``."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def tick(self) -> None:
        self.now += 1.0 / TICK_RATE


def record(
    path: Path,
    sim: StandInSim,
    ticks: int,
    inputs: Any,
    *,
    checksum_interval: int,
    keyframe_interval: int,
    timed: bool = False,
) -> tuple[float, float]:
    """Record ``ticks`` ticks; returns (seconds in sim.step, seconds in record_tick+snapshot)."""
    clock = TickClock()
    header = ReplayHeader(seed=1, tick_rate=TICK_RATE, initial_snapshot=sim.snapshot())
    t_sim = t_rec = 0.0
    pc = time.perf_counter
    with Recorder(
        path,
        header,
        keyframe_interval=keyframe_interval,
        checksum_interval=checksum_interval,
        flush_interval_s=1.0,
        clock=clock,
    ) as rec:
        for t in range(ticks):
            state = inputs(t)
            a = pc()
            c = sim.step(state)
            b = pc()
            kf = sim.snapshot() if rec.keyframe_due(t) else None
            rec.record_tick(t, state, c, keyframe=kf)
            e = pc()
            t_sim += b - a
            t_rec += e - b
            clock.tick()
    return t_sim, t_rec


def measure_ecs_verify(n_ent: int, ticks: int, reps: int, tmp: Path) -> dict[str, Any]:
    """Verify speed on a real gpi.ecs World (movement system, world checksum per tick)."""
    try:
        from gpi.ecs import Component, World
        from gpi.replays.worldsim import WorldSimulator
    except ImportError as exc:  # Cython kernels not built
        return {
            "ecs_verify_x_realtime": None,
            "ecs_record_share_of_tick_pct": None,
            "ecs_record_share_with_keyframes_pct": None,
            "ecs_verify_skipped": str(exc),
        }
    pos, vel = Component("Position", "float32", (2,)), Component("Velocity", "float32", (2,))
    rng = np.random.default_rng(2)

    def step(world: World, inp: InputState, rec: TickRecord) -> None:
        push = np.float32(1 if inp.held("right") else 0)
        for ch in world.query("Position", "Velocity", writable=True):
            ch["Velocity"][:, 0] += push
            ch["Position"][:] += ch["Velocity"] * DT

    world = World(seed=1)
    try:
        world.register(pos, vel)
        world.spawn(n_ent, {"Position": rng.random((n_ent, 2)), "Velocity": rng.random((n_ent, 2))})
        sim = WorldSimulator(world, step)
        path = tmp / "ecs.gpir"
        header = ReplayHeader(seed=1, tick_rate=TICK_RATE, initial_snapshot=world.snapshot())
        shares: dict[int, list[float]] = {0: [], 300: []}
        pc = time.perf_counter
        for _ in range(reps):
            for k in (0, 300):  # without keyframes, then the one verify reads
                world.restore(header.initial_snapshot)
                t_sim = t_rec = 0.0
                with Recorder(path, header, keyframe_interval=k) as rec:
                    for t in range(ticks):
                        inp = busy_input(t)
                        a = pc()
                        c = sim.step(inp, TickRecord(t))
                        b = pc()
                        kf = world.snapshot() if rec.keyframe_due(t) else None
                        rec.record_tick(t, inp, c, keyframe=kf)
                        t_sim += b - a
                        t_rec += pc() - b
                shares[k].append(t_rec / t_sim)
        speeds = []
        for _ in range(reps):
            with Replay.open(path) as rp:
                a = time.perf_counter()
                res = verify(rp, sim)
                speeds.append((ticks / TICK_RATE) / (time.perf_counter() - a))
            assert res.ok, res.message
    finally:
        world.close()
    return {
        "ecs_verify_x_realtime": round(statistics.median(speeds), 1),
        "ecs_tick_us": round(t_sim / ticks * 1e6, 1),
        "ecs_record_share_of_tick_pct": round(100 * statistics.median(shares[0]), 2),
        "ecs_record_share_with_keyframes_pct": round(100 * statistics.median(shares[300]), 2),
    }


def measure(quick: bool) -> dict[str, Any]:
    n_ent = 2_000 if quick else 10_000
    reps = 3 if quick else 5
    size_ticks = 1800 if quick else 3600
    figures: dict[str, Any] = {"entities": n_ent}
    tmp = Path(tempfile.mkdtemp(prefix="gpi_replay_bench_"))

    # -- bytes per tick ------------------------------------------------------------
    for name, fn in (("idle", idle_input), ("busy", busy_input)):
        for ci in (0, 60, 1):
            p = tmp / f"size_{name}_{ci}.gpir"
            record(p, StandInSim(n_ent), size_ticks, fn, checksum_interval=ci, keyframe_interval=0)
            with Replay.open(p) as rp:
                per_tick = rp.data_bytes / rp.tick_count
            key = f"{name}_ci{ci}"
            figures[f"{key}_bytes_per_tick"] = round(per_tick, 3)
            figures[f"{key}_bytes_per_s"] = round(per_tick * TICK_RATE, 1)
            figures[f"{key}_bytes_per_min"] = round(per_tick * TICK_RATE * 60)
    p = tmp / "kf.gpir"
    record(p, StandInSim(n_ent), 600, idle_input, checksum_interval=0, keyframe_interval=300)
    with Replay.open(p) as rp:
        kf_bytes = sum(b.size for b in rp.blocks if b.keyframe) / max(1, len(rp.keyframe_ticks))
    figures["keyframe_bytes"] = round(kf_bytes)
    figures["keyframe_raw_bytes"] = n_ent * 16

    # -- recording overhead --------------------------------------------------------
    rec_ticks = 600 if quick else 1800
    shares, shares_kf, rec_us, tick_us = [], [], [], []
    for r in range(reps + 1):
        ts, tr = record(
            tmp / "ovh.gpir",
            StandInSim(n_ent),
            rec_ticks,
            busy_input,
            checksum_interval=0,
            keyframe_interval=0,
        )
        ts2, tr2 = record(
            tmp / "ovh_kf.gpir",
            StandInSim(n_ent),
            rec_ticks,
            busy_input,
            checksum_interval=0,
            keyframe_interval=300,
        )
        if r == 0:
            continue  # warm-up
        shares.append(tr / ts)
        shares_kf.append(tr2 / ts2)
        rec_us.append(tr / rec_ticks * 1e6)
        tick_us.append(ts / rec_ticks * 1e6)
    figures["record_us_per_tick"] = round(statistics.median(rec_us), 2)
    figures["standin_tick_us"] = round(statistics.median(tick_us), 1)
    figures["record_share_of_tick_pct"] = round(100 * statistics.median(shares), 2)
    figures["record_share_with_keyframes_pct"] = round(100 * statistics.median(shares_kf), 2)
    figures["record_share_of_60hz_frame_pct"] = round(
        100 * statistics.median(rec_us) / (1e6 / TICK_RATE), 3
    )

    # -- verify speed --------------------------------------------------------------
    v_ticks = 600 if quick else 1200
    vpath = tmp / "verify.gpir"
    record(
        vpath, StandInSim(n_ent), v_ticks, busy_input, checksum_interval=0, keyframe_interval=300
    )
    speeds, over = [], []
    for _ in range(reps):
        with Replay.open(vpath) as rp:
            a = time.perf_counter()
            res = verify(rp, StandInSim(n_ent))
            b = time.perf_counter()
        assert res.ok, res.message
        sim = StandInSim(n_ent)
        c = time.perf_counter()
        for t in range(v_ticks):
            sim.step(busy_input(t))
        d = time.perf_counter()
        speeds.append((v_ticks / TICK_RATE) / (b - a))
        over.append((b - a) / (d - c))
    figures["verify_x_realtime"] = round(statistics.median(speeds), 1)
    figures["verify_cost_over_bare_stepping"] = round(statistics.median(over), 3)
    figures.update(measure_ecs_verify(n_ent, v_ticks, reps, tmp))

    # -- seek time vs keyframe interval -------------------------------------------------
    s_ticks = 1200 if quick else 3600
    ks = (30, 120, 600)
    paths = {}
    for k in ks:
        paths[k] = tmp / f"seek_{k}.gpir"
        record(
            paths[k],
            StandInSim(n_ent),
            s_ticks,
            busy_input,
            checksum_interval=0,
            keyframe_interval=k,
        )
    rng = random.Random(5)
    targets = [rng.randrange(s_ticks) for _ in range(10 if quick else 20)]
    seek_ms: dict[int, list[float]] = {k: [] for k in ks}
    opened = {k: Replay.open(paths[k]) for k in ks}
    try:
        for tgt in targets:  # interleaved over K
            for k in ks:
                sim = StandInSim(n_ent)
                a = time.perf_counter()
                seek(opened[k], sim, tgt)
                seek_ms[k].append((time.perf_counter() - a) * 1e3)
    finally:
        for rp in opened.values():
            rp.close()
    for k in ks:
        figures[f"seek_ms_k{k}"] = round(statistics.median(seek_ms[k]), 2)
        figures[f"seek_ms_max_k{k}"] = round(max(seek_ms[k]), 2)
        figures[f"file_kib_k{k}"] = round(paths[k].stat().st_size / 1024, 1)

    for f in tmp.iterdir():
        f.unlink()
    tmp.rmdir()

    # Targets are the issue's, on the default settings: the idle-bytes bound is for
    # the default checksum modes (storing every tick's checksum is an opt-in that
    # costs ~12 B/tick by design), and the recording share is of a tick that does
    # real work (the stand-in's, and the demo's in measure_host). The gpi.ecs
    # movement tick (~25 us, 0.15 % of a 60 Hz frame) is reported, not targeted:
    # a few us of per-tick Python is already 10 % of it.
    target = bc.target
    targets_out = {
        "record_share_of_tick_pct": target(figures["record_share_of_tick_pct"], "<", 2),
        "idle_bytes_per_s_default_chain_only": target(figures["idle_ci0_bytes_per_s"], "<", 64),
        "idle_bytes_per_s_checkpoint_every_60": target(figures["idle_ci60_bytes_per_s"], "<", 64),
        "verify_x_realtime_standin": target(figures["verify_x_realtime"], ">=", 20),
    }
    if figures.get("ecs_verify_x_realtime") is not None:
        targets_out["verify_x_realtime_ecs_world"] = target(
            figures["ecs_verify_x_realtime"], ">=", 20
        )
    return {"figures": figures, "targets": targets_out}


# -- the real plugin host (gpi.runtime.replay.recording / .simulation) ---------------------
#
# The demo (spawner, movement, boids, player from examples/plugins) on a real
# PluginHost: recording overhead as a share of a real demo tick (HostRecorder:
# call-record bookkeeping, world checksum, Recorder.record_tick; keyframes
# every 300 ticks incl. World.snapshot) and verify speed as a multiple of real
# time (HostSimulator re-simulating a recording) at 10k entities, in both
# isolation modes.

DEMO_PLUGINS = ("spawner", "movement", "boids", "player")


def _demo_input(t: int) -> InputState:
    return InputState(
        keys=frozenset((["right"], ["up"], [], ["left"])[(t // 40) % 4]), mouse=(float(t % 97), 1.0)
    )


def measure_host(quick: bool, tmp: Path) -> dict[str, Any]:
    """Figures of the real host: recording share of a demo tick, verify speed at 10k entities."""
    from gpi.ecs import World
    from gpi.plugins.host import PluginHost
    from gpi.runtime.replay.recording import HostRecorder

    n_ent = 10_000
    ticks = 120 if quick else 360
    verify_ticks = 240 if quick else 1200
    dirs = [ROOT / "examples" / "plugins" / n for n in DEMO_PLUGINS]
    figures: dict[str, Any] = {"host_entities": n_ent, "host_ticks": ticks, "verify_ticks": verify_ticks,
                               "verify_keyframe_interval": 60 if quick else 300}
    for iso in ("process", "none"):
        path = tmp / f"host_{iso}.gpir"
        tick_ns: list[int] = []
        rec_ns: list[int] = []
        with World(seed=3) as world, PluginHost(world, isolation=iso) as host:
            host.load(*dirs)
            world.insert_resource("population", n_ent)
            for t in range(5):  # warm up: children started, population reached
                host.tick(_demo_input(t).to_dict())
            with HostRecorder(host, path, keyframe_interval=figures["verify_keyframe_interval"]) as rec:
                for t in range(5, 5 + max(ticks, verify_ticks if iso == "process" else 0)):
                    inp = _demo_input(t)
                    t0 = time.perf_counter_ns()
                    host.tick(inp.to_dict())
                    t1 = time.perf_counter_ns()
                    rec.after_tick(inp)
                    t2 = time.perf_counter_ns()
                    if t < 5 + ticks:
                        tick_ns.append(t1 - t0)
                        rec_ns.append(t2 - t1)
            figures[f"host_{iso}_entities_recorded"] = int(world.entity_count)
            cs_ns = []
            for _ in range(15):  # the part of recording that is the world checksum itself
                c0 = time.perf_counter_ns()
                world.checksum()
                cs_ns.append(time.perf_counter_ns() - c0)
            figures[f"host_{iso}_checksum_us"] = round(statistics.median(cs_ns) / 1e3, 1)
        tick_us = statistics.median(tick_ns) / 1e3
        figures[f"host_{iso}_demo_tick_us"] = round(tick_us, 1)
        figures[f"host_{iso}_record_us_per_tick"] = round(statistics.median(rec_ns) / 1e3, 1)
        figures[f"host_{iso}_record_share_of_tick_pct"] = round(100 * sum(rec_ns) / sum(tick_ns), 2)
        figures[f"host_{iso}_record_share_median_pct"] = round(
            100 * statistics.median(r / t for r, t in zip(rec_ns, tick_ns)), 2
        )
        with Replay.open(path) as rp:
            figures[f"host_{iso}_bytes_per_tick"] = round(rp.bytes_per_tick(), 1)
        if iso == "none":
            path.unlink()
    figures.update(measure_verify(tmp / "host_process.gpir"))
    return figures


# Verify variants on one recording of the demo (process isolation, the way
# `make demo` runs it): (label, isolation, jobs, skip draw-only systems).
# Workers are started before the clock, as the serial simulator is built
# before it; the start-up is reported on its own.
VERIFY_VARIANTS: tuple[tuple[str, str, int, bool], ...] = (
    ("serial_process_all", "process", 0, False),
    ("serial_process", "process", 0, True),
    ("serial_none", "none", 0, True),
    ("confined_1", "confined", 1, True),
    ("confined_2", "confined", 2, True),
)


def measure_verify(path: Path) -> dict[str, Any]:
    """Verify speed (multiple of real time) of every variant on the recording at ``path``."""
    import functools

    from gpi.replays import VerifyPool, verify_parallel
    from gpi.replays.parallel import segments
    from gpi.runtime.replay.simulation import HostSimulator, make_simulator

    figures: dict[str, Any] = {}
    with Replay.open(path) as rp, tempfile.TemporaryDirectory(prefix="gpi-verify-bench-") as data:
        real_s = rp.tick_count / rp.header.tick_rate
        figures["verify_segments"] = len(segments(rp))
        for label, iso, jobs, skip in VERIFY_VARIANTS:
            s0 = time.perf_counter()
            if jobs == 0:
                with HostSimulator(rp.header, isolation=iso, skip_effect_free=skip) as sim:
                    v0 = time.perf_counter()
                    res = verify(rp, sim)
                    secs = time.perf_counter() - v0
            else:
                factory = functools.partial(make_simulator, isolation=iso, skip_effect_free=skip, data_dir=data)
                with VerifyPool(path, factory, jobs) as pool:
                    v0 = time.perf_counter()
                    res = verify_parallel(rp, pool, lambda: HostSimulator(rp.header))
                    secs = time.perf_counter() - v0
            figures[f"verify_{label}_ok"] = bool(res.ok)
            figures[f"verify_{label}_x_realtime"] = round(real_s / secs, 2)
            figures[f"verify_{label}_startup_s"] = round(v0 - s0, 2)
            figures[f"verify_{label}_x_realtime_incl_startup"] = round(real_s / (time.perf_counter() - s0), 2)
    default = f"confined_{min(os.cpu_count() or 1, 2)}"
    figures["verify_default_variant"] = default
    figures["verify_default_x_realtime"] = figures[f"verify_{default}_x_realtime"]
    return figures


def host_targets(figures: dict[str, Any]) -> dict[str, Any]:
    """Targets of the real-host figures (the issue's: <2 % recording, >=20x verify at 10k)."""
    target = bc.target
    return {
        "record_share_of_demo_tick_pct_process": target(
            figures["host_process_record_share_of_tick_pct"], "<", 2
        ),
        "record_share_of_demo_tick_pct_none": target(figures["host_none_record_share_of_tick_pct"], "<", 2),
        "verify_x_realtime_demo_10k_default": target(figures["verify_default_x_realtime"], ">=", 20),
    }


VERIFY_LABELS = {
    "serial_process_all": "serial, a sandboxed child per plugin, every system",
    "serial_process": "serial, a sandboxed child per plugin, draw-only skipped",
    "serial_none": "serial, in process, unconfined",
    "confined_1": "1 confined worker",
    "confined_2": "2 confined workers (default on 2 CPUs)",
}


def host_table(figures: dict[str, Any]) -> list[Any]:
    """The real-host tables: recording per isolation, verify per variant."""
    f = figures
    rec = bc.rows_table(
        f"real plugin host: demo plugins at {f['host_entities']} entities, {f['host_ticks']} ticks",
        ("isolation", "demo tick", "recording", "of which checksum", "share of tick", "B/tick (no header)"),
        [
            (
                iso,
                f"{f[f'host_{iso}_demo_tick_us']} µs",
                f"{f[f'host_{iso}_record_us_per_tick']} µs",
                f"{f[f'host_{iso}_checksum_us']} µs",
                f"{f[f'host_{iso}_record_share_of_tick_pct']} %",
                f"{f[f'host_{iso}_bytes_per_tick']}",
            )
            for iso in ("process", "none")
        ],
        first="right",
    )
    ver = bc.rows_table(
        f"verify the demo at {f['host_entities']} entities: {f['verify_ticks']} ticks recorded in process "
        f"isolation, keyframes every {f['verify_keyframe_interval']} ({f['verify_segments']} segments)",
        ("variant", "x real time", "start-up", "x real time incl. start-up"),
        [
            (
                VERIFY_LABELS[label],
                f"{f[f'verify_{label}_x_realtime']}x"
                + ("" if f[f"verify_{label}_ok"] else " [red](diverged)[/red]"),
                f"{f[f'verify_{label}_startup_s']} s",
                f"{f[f'verify_{label}_x_realtime_incl_startup']}x",
            )
            for label, *_ in VERIFY_VARIANTS
        ],
        first="right",
    )
    return [rec, ver]


def tables(result: dict[str, Any]) -> list[Any]:
    """The file-size table, the keyframe line, the overhead table and the seek table."""
    f = result["figures"]
    sizes = []
    for name in ("idle", "busy"):
        for ci, label in (
            (0, "chain per block (default)"),
            (60, "chain + every 60 ticks"),
            (1, "chain + every tick"),
        ):
            k = f"{name}_ci{ci}"
            sizes.append((
                name,
                label,
                f"{f[k + '_bytes_per_tick']:.2f}",
                f"{f[k + '_bytes_per_s']:.1f}",
                f"{f[k + '_bytes_per_min']}",
            ))
    overhead = [
        ("stand-in tick (step + checksum)", f"{f['standin_tick_us']} µs"),
        ("Recorder.record_tick", f"{f['record_us_per_tick']} µs"),
        ("share of tick time", f"{f['record_share_of_tick_pct']} %"),
        ("share with keyframes every 300 ticks (snapshot incl.)", f"{f['record_share_with_keyframes_pct']} %"),
        ("share of a 60 Hz frame (16.7 ms)", f"{f['record_share_of_60hz_frame_pct']} %"),
        ("verify speed", f"{f['verify_x_realtime']}x real time"),
        ("verify cost over bare stepping", f"{f['verify_cost_over_bare_stepping']}x"),
    ]
    if f.get("ecs_tick_us") is not None:
        overhead += [
            (f"gpi.ecs World tick ({f['entities']} entities: movement + world checksum)", f"{f['ecs_tick_us']} µs"),
            ("recording share of that tick", f"{f['ecs_record_share_of_tick_pct']} %"),
            ("  with keyframes every 300 ticks (World.snapshot incl.)",
             f"{f['ecs_record_share_with_keyframes_pct']} %"),
        ]
    overhead.append((
        f"verify speed, gpi.ecs World ({f['entities']} entities, movement)",
        "skipped" if f.get("ecs_verify_x_realtime") is None else f"{f['ecs_verify_x_realtime']}x real time",
    ))
    return [
        bc.rows_table(
            f"replay file size (60 Hz, 1 s blocks, keyframes off; stand-in world {f['entities']} entities)",
            ("input", "checksums stored", "B/tick", "B/s", "B/min"), sizes, first="right"),
        f"one keyframe of the stand-in world: {f['keyframe_bytes']} B stored ({f['keyframe_raw_bytes']} B raw)",
        bc.rows_table("recording overhead (busy input)", ("figure", "value"), overhead),
        bc.rows_table(
            "seek to a random tick vs keyframe interval K", ("K", "median ms", "max ms", "file KiB"),
            [(kf, f[f"seek_ms_k{kf}"], f[f"seek_ms_max_k{kf}"], f[f"file_kib_k{kf}"]) for kf in (30, 120, 600)],
            first="right"),
    ]


def main(argv: list[str] | None = None) -> int:
    args = bc.parse_args(__doc__, argv, quick_help="smaller world, fewer ticks and repetitions")
    result = measure(args.quick)
    with tempfile.TemporaryDirectory(prefix="gpi-replay-bench-host-") as d:
        host = measure_host(args.quick, Path(d))
    result["figures"].update(host)
    result["targets"].update(host_targets(host))
    bc.report(result["figures"], result["targets"], [*host_table(host), *tables(result)],
              json_line=args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
