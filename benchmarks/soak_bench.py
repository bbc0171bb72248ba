"""Soak benchmark: does the host's memory stay flat over an hour of ticks?

Runs the demo (``spawner``, ``movement``, ``boids``, ``player``, each in its
sandboxed child) headless in a :class:`gpi.runtime.app.App` for the
equivalent of an hour at 60 Hz (216,000 ticks, as fast as they go; the
player is steered by a scripted input), and samples the resident memory of
the host and of every child every ``ticks / 400`` ticks. After the warm-up
(the first 10 %, at least 5,000 ticks: caches, allocator arenas and the
bounded telemetry windows fill), a least-squares line through the samples
gives each process's growth in MiB per 1,000 ticks, for the whole RSS and
for its anonymous part (``RssAnon``: the heap, where a retained-record leak
shows; the rest is shared memory such as the world's segments and the
channel arenas, bounded by their sizes).

Beside it, the counts of records the app, its telemetry and its host retain
at the end of the warm-up and at the end (they must not change).

Targets (issue 14): the host's and each child's RSS growth after warm-up
<= 0.05 MiB per 1,000 ticks.

Usage: ``python benchmarks/soak_bench.py [--quick] [--json] [--ticks N]
[--population N]``; ``--quick`` runs 20,000 ticks.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))
import _common as bc  # noqa: E402

ROOT = bc.use()

from gpi.runtime.app import App, AppConfig  # noqa: E402
from gpi.runtime.config import DEMO_PLUGINS, demo_plugin_dirs  # noqa: E402
from gpi.runtime.telemetry import MemorySample, leak_check  # noqa: E402

HOUR_TICKS = 216_000
QUICK_TICKS = 20_000
TARGET_MIB_PER_1K = 0.05
_MIB = 1024 * 1024


def anon_bytes(pid: int) -> int | None:
    """``RssAnon`` of ``pid`` in bytes (None if it is gone)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def steer(tick: int) -> dict[str, Any]:
    """The scripted player: a square, a quarter of a second per side."""
    return {"keys": [("right", "up", "left", "down")[(tick // 15) % 4]]}


def soak(ticks: int, population: int, isolation: str) -> dict[str, Any]:
    """Run the demo for ``ticks`` ticks; RSS and RssAnon samples per process and retained counts."""
    every = max(10, ticks // 400)
    warm = max(ticks // 10, min(5000, ticks // 2))
    cfg = AppConfig(plugins=demo_plugin_dirs(names=DEMO_PLUGINS), isolation=isolation, render=False,
                    population=population, memory_every=every, seed=1)
    rss: list[MemorySample] = []
    anon: list[MemorySample] = []
    with App(cfg) as app:
        app.input_source = steer
        app.start()
        pids = {"host": os.getpid(), **app.child_pids()}

        def sample() -> None:
            t = app.tick
            app.telemetry.sample_memory(t, app.child_pids())
            rss.append(app.telemetry.memory[-1])
            values = {k: anon_bytes(p) for k, p in pids.items()}
            anon.append(MemorySample(t, 0, {k: v for k, v in values.items() if v is not None}))

        t0 = time.perf_counter()
        retained_warm: dict[str, int] = {}
        sample()
        while app.tick < ticks:
            app.run_headless(min(every, ticks - app.tick))
            sample()
            if not retained_warm and app.tick >= warm:
                retained_warm = app.retained()
        elapsed = time.perf_counter() - t0
        retained_end = app.retained()
        restarts = {n: lp.restarts for n, lp in app.host.plugins.items()}
    first = next(i for i, s in enumerate(rss) if s.tick >= warm)
    return {"rss": rss[first:], "anon": anon[first:], "ticks": ticks, "warm": warm, "elapsed": elapsed,
            "retained": (retained_warm, retained_end), "restarts": restarts}


def main() -> None:
    """Measure and report (see the module docstring)."""
    args = bc.parse_args(__doc__, add=lambda ap: (
        ap.add_argument("--ticks", type=int, default=None, help=f"ticks to run (default {HOUR_TICKS}, "
                                                                  f"--quick {QUICK_TICKS})"),
        ap.add_argument("--population", type=int, default=1000, help="entities the spawner keeps (default 1000)"),
        ap.add_argument("--isolation", choices=("process", "none"), default="process"),
    ))
    ticks = args.ticks or (QUICK_TICKS if args.quick else HOUR_TICKS)
    res = soak(ticks, args.population, args.isolation)
    fit = {r.label: r for r in leak_check(res["rss"], warmup=0.0)}
    fit_anon = {r.label: r for r in leak_check(res["anon"], warmup=0.0)}
    figures: dict[str, Any] = {
        "ticks": ticks,
        "warmup_ticks": res["warm"],
        "population": args.population,
        "ticks_per_s": round(ticks / res["elapsed"], 1),
        "seconds": round(res["elapsed"], 1),
    }
    rows = []
    targets: dict[str, Any] = {}
    for label, r in fit.items():
        a = fit_anon.get(label)
        figures[f"{label}_rss_mib_per_1k_ticks"] = round(r.slope_mib_per_1k_ticks, 4)
        figures[f"{label}_anon_mib_per_1k_ticks"] = round(a.slope_mib_per_1k_ticks, 4) if a else None
        figures[f"{label}_rss_start_mib"] = round(r.start_bytes / _MIB, 1)
        figures[f"{label}_rss_end_mib"] = round(r.end_bytes / _MIB, 1)
        rows.append((label, f"{r.start_bytes / _MIB:.1f}", f"{r.end_bytes / _MIB:.1f}",
                     f"{r.growth_bytes / _MIB:+.2f}", f"{r.slope_mib_per_1k_ticks:+.4f}",
                     f"{a.slope_mib_per_1k_ticks:+.4f}" if a else "-", str(r.samples)))
        targets[f"{label}_rss_growth_mib_per_1k_ticks"] = bc.target(
            round(r.slope_mib_per_1k_ticks, 4), "<=", TARGET_MIB_PER_1K)
    warm_counts, end_counts = res["retained"]
    grown = {k: end_counts[k] - warm_counts.get(k, 0) for k in end_counts if end_counts[k] != warm_counts.get(k, 0)}
    figures["retained_records_grown"] = sum(grown.values())
    figures["child_restarts"] = sum(res["restarts"].values())
    tables = [
        bc.figures_table(figures, f"soak: the demo headless, {ticks:,} ticks"),
        bc.rows_table(f"growth after {res['warm']:,} warm-up ticks (least-squares fit)",
                      ("process", "start MiB", "end MiB", "growth MiB", "RSS MiB/1k ticks",
                       "anon MiB/1k ticks", "samples"), rows),
        bc.rows_table("retained records (app, telemetry, host)", ("store", "after warm-up", "end"),
                      ((k, warm_counts.get(k, 0), v) for k, v in sorted(end_counts.items()))),
    ]
    bc.report(figures, targets, tables, json_line=args.json)


if __name__ == "__main__":
    main()
