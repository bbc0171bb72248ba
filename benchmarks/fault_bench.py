"""Faults and hot-swap: how fast a crashed or edited plugin is running again.

Measured in one run, with and without the fork-server (zygote), sides
interleaved (A B A B) and reduced to medians:

- **restart**: from the moment the host sees a child die (segfault in a
  system; the skipped call's record) to the restarted child's first completed
  call: reaping, crash report (JSON, fsync), a new child, handshake, the call;
- **hot-swap**: from the moment a plugin's source file is replaced on disk to
  the end of the first tick that ran the new code (watcher, new child beside
  the old one, schema check, swap, schedule rebuild, the tick);
- **lost ticks per crash**: ticks in which the crashed system did not run,
  divided by crashes.

Children are sandboxed as in a normal run when the sandbox is available.
Run ``python benchmarks/fault_bench.py`` for a table, ``--quick`` for fewer
repetitions, ``--json`` to end with one JSON line (figures and targets).
"""

from __future__ import annotations

import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))
import _common as bc  # noqa: E402

ROOT = bc.use()

from gpi.ecs import World  # noqa: E402
from gpi.plugins.faults import RestartPolicy  # noqa: E402
from gpi.plugins.host import PluginHost  # noqa: E402

FIX = ROOT / "tests" / "plugins" / "fixtures"
MOVEMENT = ROOT / "examples" / "plugins" / "movement"
LENIENT = RestartPolicy(base_ticks=1, max_ticks=8, max_faults=10_000, window_ticks=10)


def bench_restart(use_zygote: bool, crashes: int, period: int = 10) -> dict[str, Any]:
    """Crash fault_flaky every ``period`` ticks; times from detection to the next good call."""
    samples: list[float] = []
    state: dict[str, Any] = {"t_crash": None}

    def on_record(rec: dict[str, Any]) -> None:
        if rec["plugin"] != "fault_flaky":
            return
        now = time.perf_counter_ns()
        if rec["status"] == "skipped" and state["t_crash"] is None:
            state["t_crash"] = now
        elif rec["status"] == "ok" and state["t_crash"] is not None:
            samples.append((now - state["t_crash"]) / 1e6)
            state["t_crash"] = None

    ticks = crashes * period
    with tempfile.TemporaryDirectory() as tmp, World(seed=1) as world, \
            PluginHost(world, data_dir=tmp, restart_policy=LENIENT, use_zygote=use_zygote) as host:
        host.load(MOVEMENT, FIX / "fault_flaky")
        n = 1000
        world.spawn(n, {"Position": np.zeros((n, 2), np.float32), "Velocity": np.ones((n, 2), np.float32),
                        "Tally": np.zeros(n, np.int64)})
        world.insert_resource("fault_config", {"period": period, "mode": "segv"})
        host.on_call_record(on_record)
        reports = host.run(ticks)
        lost = sum(1 for r in reports if "fault_flaky.bump" not in r.ran)
        n_crashes = sum(1 for f in host.faults if f["kind"] == "crashed")
    return {"restart_ms": samples, "lost": lost, "crashes": n_crashes}


def bench_hotswap(use_zygote: bool, swaps: int) -> list[float]:
    """Edit fault_swap's STEP ``swaps`` times; times from the file replace to the first new tick's end."""
    samples = []
    with tempfile.TemporaryDirectory() as tmp, World(seed=1) as world:
        plugin = Path(tmp) / "fault_swap"
        shutil.copytree(FIX / "fault_swap", plugin)
        with PluginHost(world, data_dir=tmp, use_zygote=use_zygote) as host:
            host.load(plugin)
            world.spawn(1, {"Swapped": np.zeros(1, np.int64)})
            host.enable_hot_swap()
            host.run(3)
            src = plugin / "main.py"
            steps = [1]
            for i in range(swaps):
                new_step = 1000 + i
                text = src.read_text().replace(f"STEP = {steps[-1]}\n", f"STEP = {new_step}\n")
                tmp_file = plugin / "main.py.edit"
                tmp_file.write_text(text)
                time.sleep(0.05)  # quiet period, so the swap is not merged with the previous one
                t0 = time.perf_counter_ns()
                os.replace(tmp_file, src)
                for _ in range(20_000):
                    before = int(next(iter(world.query("Swapped")))["Swapped"][0])
                    rep = host.tick()
                    after = int(next(iter(world.query("Swapped")))["Swapped"][0])
                    if rep.swaps and after - before == new_step:
                        samples.append((time.perf_counter_ns() - t0) / 1e6)
                        break
                    time.sleep(0.0005)
                steps.append(new_step)
    return samples


def main(argv: list[str] | None = None) -> int:
    args = bc.parse_args(__doc__, argv, quick_help="fewer repetitions (CI)")
    logging.getLogger("gpi").setLevel(logging.CRITICAL)  # the crashes are on purpose: no log noise
    q = args.quick
    reps = 2 if q else 4
    crashes = 4 if q else 8
    swaps = 2 if q else 4
    restart: dict[bool, list[float]] = {True: [], False: []}
    hotswap: dict[bool, list[float]] = {True: [], False: []}
    lost: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(reps):
        for z in (True, False):  # interleaved
            r = bench_restart(z, crashes)
            restart[z] += r["restart_ms"]
            lost[z].append(r["lost"] / max(r["crashes"], 1))
            hotswap[z] += bench_hotswap(z, swaps)

    def med(xs: list[float]) -> float:
        return round(statistics.median(xs), 2) if xs else float("nan")

    figures: dict[str, float] = {
        "restart_ms_zygote": med(restart[True]),
        "restart_ms_popen": med(restart[False]),
        "hotswap_ms_zygote": med(hotswap[True]),
        "hotswap_ms_popen": med(hotswap[False]),
        "lost_ticks_per_crash_zygote": round(max(lost[True]), 3),
        "lost_ticks_per_crash_popen": round(max(lost[False]), 3),
        "restart_samples": len(restart[True]) + len(restart[False]),
        "hotswap_samples": len(hotswap[True]) + len(hotswap[False]),
    }
    figures["restart_speedup_zygote"] = round(figures["restart_ms_popen"] / figures["restart_ms_zygote"], 2)
    targets = {
        "restart_ms_zygote": bc.target(figures["restart_ms_zygote"], "<=", 50),
        "hotswap_ms_zygote": bc.target(figures["hotswap_ms_zygote"], "<=", 250),
        "lost_ticks_per_crash": bc.target(max(figures["lost_ticks_per_crash_zygote"],
                                              figures["lost_ticks_per_crash_popen"]), "<=", 1),
    }

    table = bc.rows_table(
        f"fault_bench{' (quick)' if q else ''}: medians over {reps} interleaved repetitions "
        f"({crashes} crashes, {swaps} swaps each)",
        ("figure", "fork-server", "fresh interpreter"),
        [(what, figures[f"{key}_zygote"], figures[f"{key}_popen"]) for what, key in (
            ("crash -> restarted child's first call (ms)", "restart_ms"),
            ("file change -> new code ran a tick (ms)", "hotswap_ms"),
            ("ticks of the crashed system lost per crash", "lost_ticks_per_crash"))])
    bc.report(figures, targets, table, json_line=args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
