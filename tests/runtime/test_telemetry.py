"""Telemetry numbers add up; stats, tables, memory, leak check and the PNG plot."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from rich.console import Console
from rt_telemetry_samples import SYSTEMS, fill

from gpi.errors import GpiError
from gpi.runtime.telemetry import (
    CallRecord,
    MemorySample,
    PlotError,
    Telemetry,
    TelemetryError,
    leak_check,
    leak_table,
    plot_frame_times,
    rss_bytes,
    sort_rows,
    summarize,
    system_table,
)
from gpi.runtime.telemetry.plot import BUDGET_COLOR, LINE_COLOR


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(min_value=0, max_value=1e6, allow_nan=False), max_size=60))
def test_summarize_matches_numpy(values):
    s = summarize(values)
    assert s.count == len(values)
    if values:
        arr = np.array(values)
        assert s.mean == pytest.approx(arr.mean())
        assert s.max == arr.max() and s.min == arr.min()
        assert s.min <= s.p95 <= s.max
    else:
        assert (s.mean, s.p95, s.max) == (0.0, 0.0, 0.0)


def test_systems_time_within_frame_time():
    tel = fill(Telemetry(window=1000), frames=100)
    assert tel.validate() == []
    for f in tel.frames:
        assert f.waves_ns <= f.dur_ns
    # Per wave, calls run in parallel: the longest call fits in the wave.
    waves = {(w.tick, w.wave): w for w in tel.waves}
    for c in tel.calls:
        w = waves[(c.tick, c.wave)]
        assert w.start_ns <= c.start_ns and c.end_ns <= w.end_ns
    # The per-frame per-system series sums to the frame's systems_ns.
    keys, series = tel.system_series_ms()
    assert series.shape == (len(SYSTEMS), 100)
    systems_ms = np.array([f.systems_ns for f in tel.frames]) * 1e-6
    assert np.allclose(series.sum(axis=0), systems_ms)
    # Rows: total host time per system over all calls equals the calls' sum.
    rows = {r.name: r for r in tel.system_rows()}
    for plugin, system, _ in SYSTEMS:
        row = rows[f"{plugin}/{system}"]
        walls = [c.host_wall_ns for c in tel.calls if c.key == (plugin, system)]
        assert row.calls == 100
        assert row.host.mean == pytest.approx(np.mean(walls) * 1e-6)
        assert row.host.max == pytest.approx(max(walls) * 1e-6)
        assert row.host.mean <= row.host.p95 <= row.host.max
        assert 0.05 <= row.ipc_share <= 0.3
        assert row.child_cpu.mean < row.host.mean
    fs = tel.frame_stats()
    assert fs.count == 100 and fs.mean > 0
    assert tel.ticks_per_second() > 0


def test_validate_reports_broken_nesting():
    tel = Telemetry()
    tel.record_call(CallRecord("s", "p", tick=0, wave=0, host_wall_ns=500, start_ns=900))
    tel.record_wave(0, 0, start_ns=1000, dur_ns=100)
    tel.record_frame(0, start_ns=1000, dur_ns=50)
    problems = tel.validate()
    assert any("outside its wave" in p for p in problems)
    assert any("outside frame" in p for p in problems)
    assert any("more than the frame" in p for p in problems)


def test_rolling_window_and_history_bounds():
    tel = fill(Telemetry(window=30, history=50), frames=40)
    assert len(tel.frame_times_ms()) == 30
    assert all(r.calls == 30 for r in tel.system_rows())
    assert len(tel.frames) == 40 and len(tel.calls) == 50
    assert tel.history_dropped > 0
    assert tel.frame_count == 40
    keys, series = tel.system_series_ms()
    assert series.shape == (4, 30)
    tel.clear()
    assert tel.frame_count == 0 and tel.system_rows() == []


def test_new_system_series_is_padded():
    tel = Telemetry(window=10)
    tel.record_frame(0, 0, 100)
    tel.record_frame(1, 100, 100)
    tel.record_call(CallRecord("late", "p", 2, 0, host_wall_ns=40, start_ns=210))
    tel.record_frame(2, 200, 100)
    keys, series = tel.system_series_ms()
    assert keys == [("p", "late")]
    assert np.allclose(series[0], [0, 0, 40e-6])


def test_frame_and_wave_context_managers_use_given_clock():
    now = [0]

    def clock_ns() -> int:
        return now[0]

    tel = Telemetry(clock_ns=clock_ns)
    with tel.frame(tick=5, ticks=2):
        now[0] += 100
        with tel.wave(5, 0, stage="update"):
            now[0] += 300
        now[0] += 50
    f = tel.frames[-1]
    assert (f.tick, f.start_ns, f.dur_ns, f.ticks, f.waves_ns) == (5, 0, 450, 2, 300)
    assert tel.waves[-1].stage == "update"
    with pytest.raises(TelemetryError):
        tel.end_frame()


def test_sort_rows():
    tel = fill(Telemetry(), frames=20)
    rows = tel.system_rows(sort_by="host_mean")
    means = [r.host.mean for r in rows]
    assert means == sorted(means, reverse=True)
    by_name = sort_rows(rows, "name", descending=False)
    assert [r.name for r in by_name] == sorted(r.name for r in rows)
    with pytest.raises(TelemetryError) as exc:
        sort_rows(rows, "bogus")
    assert "host_mean" in str(exc.value) and isinstance(exc.value, GpiError)


def test_rich_system_table_renders():
    tel = fill(Telemetry(), frames=20)
    console = Console(width=160, record=True)
    console.print(system_table(tel))
    text = console.export_text()
    for plugin, system, _ in SYSTEMS:
        assert f"{plugin}/{system}" in text
    assert "host p95 ms" in text and "ticks/s" in text


def test_rss_of_host_and_real_child():
    assert rss_bytes() > 1024 * 1024
    child = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE
    )
    try:
        tel = Telemetry()
        sample = tel.sample_memory(3, {"child": child.pid, "gone": 2**22 + 12345})
        assert sample.rss["host"] > 0 and sample.rss["child"] > 0
        assert "gone" not in sample.rss
    finally:
        child.communicate(b"")
    assert rss_bytes(child.pid) is None


def test_leak_check_flags_growth_and_not_noise():
    mib = 1024 * 1024
    samples = []
    for i in range(50):
        samples.append(
            MemorySample(
                tick=i * 100,
                t_ns=i,
                rss={"host": 100 * mib + (i % 3) * mib, "leaky": 50 * mib + i * mib},
            )
        )
    reports = {r.label: r for r in leak_check(samples, warmup=0.2)}
    assert not reports["host"].suspect
    leaky = reports["leaky"]
    assert leaky.suspect and leaky.first_tick == 1000 and leaky.samples == 40
    assert leaky.growth_bytes == 39 * mib
    assert leaky.slope_bytes_per_1k_ticks == pytest.approx(10 * mib)
    console = Console(width=160, record=True)
    console.print(leak_table(list(reports.values())))
    assert "suspect" in console.export_text()
    with pytest.raises(ValueError):
        leak_check(samples, warmup=1.0)


def test_leak_report_over_real_samples():
    tel = Telemetry()
    for tick in range(0, 50, 10):
        tel.sample_memory(tick)
    (host,) = tel.leak_report(warmup=0.0)
    assert host.label == "host" and host.samples == 5
    assert tel.memory_series()["host"].shape == (5, 2)


def test_png_plot(tmp_path):
    tel = fill(Telemetry(), frames=200)
    ms = tel.frame_times_ms()
    path = plot_frame_times(ms, tmp_path / "frames.png", width=600, height=240)
    img = np.asarray(Image.open(path).convert("RGB"))
    assert img.shape == (240, 600, 3)
    line = np.all(img == LINE_COLOR, axis=-1)
    budget = np.all(img == BUDGET_COLOR, axis=-1)
    assert line.sum() > 600  # a 2-px polyline across the plot
    assert budget.sum() > 100
    # The line spans most of the plot horizontally.
    cols = np.nonzero(line.any(axis=0))[0]
    assert cols.max() - cols.min() > 400
    os.makedirs("out", exist_ok=True)
    plot_frame_times(ms, "out/frame_times_test.png")


@pytest.mark.parametrize("bad", [[], [[1.0, 2.0]], [1.0, float("nan")]])
def test_png_plot_rejects_bad_data(tmp_path, bad):
    with pytest.raises(PlotError):
        plot_frame_times(bad, tmp_path / "x.png")


def test_png_plot_single_point(tmp_path):
    path = plot_frame_times([3.0], tmp_path / "one.png", budget_ms=None)
    img = np.asarray(Image.open(path).convert("RGB"))
    assert np.all(img == LINE_COLOR, axis=-1).any()


def test_write_profile(tmp_path):
    import json

    from gpi.runtime.telemetry import write_profile

    tel = fill(Telemetry(), frames=50)
    for tick in range(0, 50, 10):
        tel.sample_memory(tick)
    report = write_profile(tel, tmp_path / "profile", metadata={"ticks": 50})
    assert json.loads(report.trace.read_text())["otherData"]["ticks"] == 50
    assert report.plot is not None and report.plot.stat().st_size > 1000
    assert "boids/steer" in report.systems_txt.read_text()
    assert report.leaks and report.leaks_txt is not None
    assert "host" in report.leaks_txt.read_text()
    assert report.suspect_leaks == []
    empty = write_profile(Telemetry(), tmp_path / "empty")
    assert empty.plot is None and empty.leaks == []


def test_real_clock_headless_run_nests_and_adds_up():
    """A headless loop timed with the real clock: invariants hold, no wall-clock asserts."""
    from gpi.runtime.clock import monotonic_ns
    from gpi.runtime.loop import FixedStepLoop

    tel = Telemetry()
    data = np.random.default_rng(0).random((2000, 2))

    def on_tick(tick: int, dt: float) -> None:
        with tel.frame(tick):
            for wave in range(2):
                with tel.wave(tick, wave):
                    for name in ("move", "spin"):
                        start = monotonic_ns()
                        data[:] += dt * 0.5
                        tel.record_call(
                            CallRecord(name, "demo", tick, wave, monotonic_ns() - start,
                                       start_ns=start)
                        )

    FixedStepLoop(on_tick).run_ticks(25)
    assert tel.validate() == []
    assert tel.frame_count == 25 and len(tel.calls) == 100
    for f in tel.frames:
        assert f.systems_ns <= f.waves_ns <= f.dur_ns  # sequential calls here
    assert {r.name: r.calls for r in tel.system_rows()} == {"demo/move": 50, "demo/spin": 50}


def test_wave_stats():
    tel = fill(Telemetry(window=50), frames=80)
    stats = tel.wave_stats()
    assert set(stats) == {("update", 0), ("update", 1), ("update", 2)}
    for key, s in stats.items():
        durs = [w.dur_ns * 1e-6 for w in list(tel.waves) if (w.stage, w.wave) == key][-50:]
        assert s.count == 50 and s.mean == pytest.approx(np.mean(durs))


def test_leak_check_catches_4_5_mib_per_1k_ticks_within_1200_ticks():
    """The growth `gpi profile --leak-check` used to call "ok": now suspect; allocator wobble stays ok."""
    mib = 1024 * 1024
    rng = np.random.default_rng(5)
    samples = [
        MemorySample(tick=t, t_ns=t, rss={
            "host": int(80 * mib + 4.5 * mib * t / 1000 + rng.normal(0, 0.3 * mib)),
            "child": int(40 * mib + (3 * mib if (t // 120) % 2 else 0)),  # arenas come and go
        })
        for t in range(0, 1201, 12)
    ]
    reports = {r.label: r for r in leak_check(samples)}
    assert reports["host"].suspect
    assert reports["host"].slope_mib_per_1k_ticks == pytest.approx(4.5, rel=0.1)
    assert not reports["child"].suspect
    # the threshold is in MiB per 1000 ticks
    assert not leak_check(samples, max_slope_mib=5.0)[0].suspect


def test_retained_counts_stop_growing_once_the_windows_are_full():
    tel = Telemetry(window=50, history=200)
    fill(tel, frames=250)
    first = tel.retained()
    fill(tel, frames=300, seed=8)
    assert tel.retained() == first
    assert first["calls"] == first["waves"] == first["frames"] == 200
    assert first["system_windows"] == 50 * len(SYSTEMS) and first["frame_window"] == 50
    assert tel.history_dropped > 0
