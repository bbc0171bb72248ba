"""The App end to end: real plugin children, real telemetry, a real offscreen frame.

One module-scoped run (the four example plugins in sandboxed children, overlay
on, SDL offscreen + EGL) feeds the pixel, telemetry and trace checks, so the
children start once.
"""

from __future__ import annotations

import json
import shutil
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from gpi.runtime.app import App, AppConfig, AppError
from gpi.runtime.clock import ManualClock
from gpi.runtime.config import demo_plugin_dirs, load_scene, parse_screenshot
from gpi.runtime.errors import SceneError
from gpi.runtime.overlay import OverlayAction

ROOT = Path(__file__).resolve().parents[2]
TICKS = 24
W, H = 960, 600
BOID = np.array([120, 200, 255])  # the boids plugin's circle colour
FRAME = np.array([90, 100, 130])  # the host's arena outline


@pytest.fixture(scope="module")
def gl_run(tmp_path_factory: pytest.TempPathFactory):
    """Run the four example plugins for TICKS ticks with the overlay; screenshot at the end."""
    tmp = tmp_path_factory.mktemp("app")
    shot = tmp / "app.png"
    cfg = AppConfig(plugins=demo_plugin_dirs(names=("spawner", "movement", "boids", "player")), seed=3,
                    population=400, headless=True, width=W, height=H, memory_every=8)
    with App(cfg) as app:
        app.start()
        ran = app.run_headless(TICKS, render_every=6, screenshots={TICKS: shot})
        report = app.write_profile(tmp / "profile")
        yield {"app_ticks": ran, "shot": shot, "telemetry": app.telemetry, "report": report,
               "systems": app.host.system_keys(), "stats": app.last_frame_stats,
               "entities": app.world.entity_count, "overlay_width": app.overlay_width()}


@pytest.mark.gl
@pytest.mark.subprocess
def test_headless_frame_shows_overlay_and_scene(gl_run):
    assert gl_run["app_ticks"] == TICKS
    img = np.asarray(Image.open(gl_run["shot"]).convert("RGB")).astype(int)
    assert img.shape == (H, W, 3)
    out = ROOT / "out"
    out.mkdir(exist_ok=True)
    shutil.copy(gl_run["shot"], out / "app_test.png")
    ow = int(gl_run["overlay_width"])
    overlay, scene = img[:, : ow], img[:, ow + 30:]
    # overlay: ImGui's window body and title bar differ from the clear colour and hold text
    clear = np.array([13, 18, 31])
    assert (np.abs(overlay - clear).sum(axis=2) > 30).mean() > 0.5
    assert len(np.unique(overlay.reshape(-1, 3), axis=0)) > 50  # text, plots, table
    # scene: boid circles (drawn by the sandboxed child) and the host's arena outline
    boid_px = (np.abs(scene - BOID).sum(axis=2) < 40).sum()
    frame_px = (np.abs(scene - FRAME).sum(axis=2) < 20).sum()
    assert boid_px > 200, boid_px
    assert frame_px > 200, frame_px
    assert not gl_run["stats"].errors


@pytest.mark.gl
@pytest.mark.subprocess
def test_telemetry_adds_up(gl_run):
    tel = gl_run["telemetry"]
    assert tel.validate() == []
    frames = list(tel.frames)
    assert len(frames) == TICKS and all(f.ticks == 1 for f in frames)
    calls_by_system: dict[str, int] = defaultdict(int)
    for c in tel.calls:
        calls_by_system[f"{c.plugin}.{c.system}"] += 1
    assert set(calls_by_system) == set(gl_run["systems"])
    assert all(n == TICKS for n in calls_by_system.values())
    # per frame: waves within the frame; calls of a wave run in parallel, so the longest
    # call of each wave counts, and those add up to no more than the frame
    longest: dict[tuple[int, int], int] = defaultdict(int)
    for c in tel.calls:
        longest[(c.tick, c.wave)] = max(longest[(c.tick, c.wave)], c.host_wall_ns)
    for f in frames:
        waves = [w for w in tel.waves if w.tick == f.tick]
        assert waves
        assert sum(w.dur_ns for w in waves) == f.waves_ns <= f.dur_ns
        assert sum(longest[(f.tick, w.wave)] for w in waves) <= f.dur_ns
        assert f.systems_ns == sum(c.host_wall_ns for c in tel.calls if c.tick == f.tick)
    assert len(tel.memory) >= 3 and {"host", "spawner", "movement", "boids"} <= set(tel.memory[-1].rss)
    rows = {r.name: r for r in tel.system_rows()}
    assert len(rows) == len(gl_run["systems"]) and all(r.calls == TICKS for r in rows.values())


@pytest.mark.gl
@pytest.mark.subprocess
def test_trace_is_chrome_trace_json(gl_run):
    report = gl_run["report"]
    data = json.loads(Path(report.trace).read_text())
    events = data["traceEvents"]
    assert isinstance(events, list) and data["displayTimeUnit"] == "ms"
    for e in events:
        assert {"name", "ph", "pid"} <= set(e)
        if e["ph"] == "X":
            assert e["dur"] >= 0 and e["ts"] >= 0 and isinstance(e["tid"], int)
    by_cat: dict[str, list] = defaultdict(list)
    for e in events:
        if e["ph"] == "X":
            by_cat[e["cat"]].append(e)
    assert len(by_cat["frame"]) == TICKS
    assert len(by_cat["system"]) == TICKS * len(gl_run["systems"])
    n_waves = len({(e["args"]["tick"], e["args"]["wave"]) for e in by_cat["system"]})
    assert len(by_cat["wave"]) == n_waves
    names = {(e["args"]["plugin"], e["name"]) for e in by_cat["system"]}
    assert {f"{p}.{s}" for p, s in names} == set(gl_run["systems"])
    assert report.plot is not None and Path(report.plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_headless_without_render_in_process():
    cfg = AppConfig(plugins=demo_plugin_dirs(names=("movement", "spawner")), isolation="none",
                    render=False, population=50, memory_every=0)
    with App(cfg) as app:
        assert app.run(10) == 10
        assert app.tick == 10 and app.world.entity_count == 50
        assert app.telemetry.validate() == []
        assert app.telemetry.frame_count == 10
        with pytest.raises(AppError, match="not rendering"):
            app.save_screenshot("x.png")
        with pytest.raises(AppError, match="screenshots need rendering"):
            app.run_headless(1, screenshots={1: "x.png"})
        with pytest.raises(AppError, match="needs a number of ticks"):
            app.run()
    app.close()  # safe twice


class ListRecorder:
    """A minimal recorder: keeps (host tick, input, checksum) rows in memory."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.rows: list[tuple[int, dict, int]] = []
        self.closed = False

    def after_tick(self, input_state):
        self.rows.append((self.app.host.tick_count - 1, input_state.to_dict(), self.app.world.checksum()))

    def close(self, stopped=None):
        self.closed = True


def test_overlay_actions_drive_loop_reload_and_recording(tmp_path):
    cfg = AppConfig(plugins=demo_plugin_dirs(names=("movement", "spawner")), isolation="none",
                    render=False, population=20, memory_every=0)
    clock = ManualClock()
    with App(cfg, clock=clock) as app:
        app.start()
        app.handle_actions([OverlayAction("time_scale", 2.0), OverlayAction("pause"), OverlayAction("step", 2)])
        assert app.loop.paused and app.loop.time_scale == 2.0
        app.loop.advance()
        assert app.tick == 2
        app.handle_actions([OverlayAction("resume")])
        clock.advance(1 / 60)
        app.loop.advance()
        assert app.tick == 4  # time scale 2: two ticks per sixtieth of a second
        # reload: the host hot-swaps the plugin between ticks; the world and the tick stay
        old = app.host.plugins["spawner"]
        entities = app.world.entity_count
        app.handle_actions([OverlayAction("reload", plugin="spawner")])
        assert app.host.plugins["spawner"] is not old
        assert app.logs[-1] == "plugin 'spawner' reloaded at tick 4"
        assert app.world.entity_count == entities and app.tick == 4
        # a plugin that is not loaded: logged, the app carries on
        assert app.reload_plugin("nope") is False
        assert "reload of plugin 'nope' failed: KeyError" in app.logs[-1]
        # recording through the default factory, then through a custom one
        assert app.start_recording(tmp_path / "r.gpir") and app.recorder is not None
        app.stop_recording()
        assert app.recorder is None and (tmp_path / "r.gpir").stat().st_size > 0
        rec = ListRecorder(app)
        app.recorder_factory = lambda a, path: rec
        app.handle_actions([OverlayAction("record_start")])
        assert app.recorder is rec
        app.run_headless(3)
        app.handle_actions([OverlayAction("record_stop")])
        assert rec.closed and app.recorder is None
        assert [r[0] for r in rec.rows] == [4, 5, 6]  # the host's tick numbers
        assert rec.rows[-1][2] == app.world.checksum()


def test_scene_file_and_screenshot_spec(tmp_path):
    scene = tmp_path / "scene.toml"
    plugins = ROOT / "examples" / "plugins"
    scene.write_text(f'plugins = ["{plugins}/movement", "{plugins}/spawner"]\nseed = 9\nticks = 30\n'
                     "population = 10\n[camera]\ncenter = [10.0, 20.0]\nzoom = 3\n")
    s = load_scene(scene)
    assert s.seed == 9 and s.ticks == 30 and s.population == 10
    assert s.camera_center == (10.0, 20.0) and s.camera_zoom == 3.0
    assert [p.name for p in s.plugins] == ["movement", "spawner"]
    cfg = s.app_config(render=False)
    assert cfg.seed == 9 and not cfg.render
    rel = tmp_path / "sub"
    (rel / "p").mkdir(parents=True)
    (rel / "p" / "plugin.toml").write_text("")
    (rel / "s.toml").write_text('plugins = ["p"]\n')
    assert load_scene(rel / "s.toml").plugins == [(rel / "p").resolve()]
    bad = {
        "missing.toml": None,
        "notoml.toml": "plugins = [",
        "noplugins.toml": "seed = 1\n",
        "wrongdir.toml": 'plugins = ["nope"]\n',
        "badseed.toml": f'plugins = ["{plugins}/movement"]\nseed = -1\n',
        "badcam.toml": f'plugins = ["{plugins}/movement"]\n[camera]\ncenter = [1]\n',
        "badzoom.toml": f'plugins = ["{plugins}/movement"]\n[camera]\nzoom = 0\n',
    }
    for name, text in bad.items():
        if text is not None:
            (tmp_path / name).write_text(text)
        with pytest.raises(SceneError) as info:
            load_scene(tmp_path / name)
        assert isinstance(info.value, ValueError) and name in str(info.value)
    assert parse_screenshot("12:out/a.png") == (12, Path("out/a.png"))
    for spec in ("12", "x:a.png", "-1:a.png", "3:a.jpg", ":a.png", "3:"):
        with pytest.raises(ValueError):
            parse_screenshot(spec)
    with pytest.raises(AppError):
        App(AppConfig(isolation="threads"))



def test_default_recorder_writes_a_readable_replay(tmp_path):
    from gpi.replays import Replay

    cfg = AppConfig(plugins=demo_plugin_dirs(names=("movement", "spawner", "player")), isolation="none",
                    render=False, population=30, memory_every=0)
    path = tmp_path / "run.gpir"
    with App(cfg) as app:
        app.start()
        app.run_headless(2)
        app.input_source = lambda tick: {"keys": ["left"] if tick % 4 < 2 else []}
        assert app.start_recording(path)
        checksums = []
        for _ in range(6):
            app.run_headless(1)
            checksums.append(app.world.checksum())
        app.stop_recording()
    with Replay.open(path) as rp:
        assert rp.header.start_tick == 2 and rp.header.seed == 0
        assert {p["name"] for p in rp.header.plugins} == {"movement", "spawner", "player"}
        assert rp.tick_count == 6
        assert rp.input_state_at(4).keys == frozenset({"left"})
        assert rp.input_state_at(6).keys == frozenset()
        stored = [r.checksum for r in rp if r.checksum is not None]
        assert all(s in checksums for s in stored)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.lists(st.tuples(st.integers(0, 5_000), st.integers(0, 800)), min_size=1, max_size=4),
                         min_size=1, max_size=4), min_size=1, max_size=4))
def test_bridge_places_calls_inside_waves_inside_frames(ticks):
    """Host-style records (all calls of a wave received, then applied one by one) -> valid telemetry."""
    from gpi.runtime.telemetry import Telemetry, TelemetryBridge

    now = [1_000_000]
    tel = Telemetry(clock_ns=lambda: now[0])
    bridge = TelemetryBridge(tel)
    for tick, waves in enumerate(ticks):
        tel.begin_frame(tick)
        now[0] += 100
        for wi, calls in enumerate(waves):
            stage = "update" if wi % 2 else "input"
            now[0] += max(h for h, _ in calls) + 10  # the wave's calls run in parallel, then arrive
            for ci, (host_ns, apply_ns) in enumerate(calls):
                now[0] += apply_ns  # applied in schedule order; the record is emitted after
                bridge.on_record({"tick": tick, "plugin": "p", "system": f"s{wi}.{ci}", "stage": stage,
                                  "wave": wi // 2, "host_ns": host_ns, "apply_ns": apply_ns, "cpu_ns": 0,
                                  "ipc_ns": 0, "cmd_bytes": 0})
        bridge.flush()
        now[0] += 50
        tel.end_frame()
    assert tel.validate() == []
    assert len(tel.waves) == sum(len(w) for w in ticks)
    assert len({(w.tick, w.wave) for w in tel.waves}) == len(tel.waves)
    assert len(tel.calls) == sum(len(c) for w in ticks for c in w)
