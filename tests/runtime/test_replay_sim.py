"""The runtime's replay hook: App recording, `gpi replay verify/render` end to end, playback.

Everything runs the real example plugins in isolation ``none`` (the
``process`` round trip is in tests/replays/test_host_replay.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gpi.replays import Player, Replay, verify
from gpi.runtime.cli import main
from gpi.runtime.overlay.replay_panel import ReplayControls, entity_rows, pick_entity
from gpi.runtime.replay.render import render_ticks
from gpi.runtime.replay.simulation import HostSimulator
from gpi.runtime.scene import arena_camera

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "plugins"
FIXTURES = ROOT / "tests" / "replays" / "fixtures"
DEMO = [EXAMPLES / n for n in ("spawner", "movement", "boids", "player")]


@pytest.fixture(scope="module")
def app_replay(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """120 ticks of the demo recorded through the App's recorder hook."""
    from gpi.runtime.app import App, AppConfig

    path = tmp_path_factory.mktemp("replay_sim") / "app.gpir"
    cfg = AppConfig(plugins=[str(d) for d in DEMO], isolation="none", render=False, population=25, seed=4)
    with App(cfg) as app:
        assert app.start_recording(path), app.logs
        app.run_headless(120)
        app.stop_recording()
    return path


def test_app_recording_verifies(app_replay: Path) -> None:
    with Replay.open(app_replay) as rp:
        assert rp.complete and rp.tick_count == 120 and rp.start_tick == 0
        assert {p["name"] for p in rp.header.plugins} == {"spawner", "movement", "boids", "player"}
        assert all(len(p["content_hash"]) == 64 and Path(p["path"]).is_dir() for p in rp.header.plugins)
        assert rp.header.meta["isolation"] == "none" and rp.header.meta["population"] == 25
        with HostSimulator(rp.header) as sim:
            assert sim.isolation == "none"  # from the header
            assert verify(rp, sim).ok


def test_cli_verify_and_render(app_replay: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", "verify", str(app_replay)]) == 0
    assert "OK" in capsys.readouterr().out
    out = tmp_path / "png"
    assert main(["replay", "render", str(app_replay), "--ticks", "10,50", "--out", str(out)]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["tick_000010.png", "tick_000050.png"]
    from PIL import Image

    a = np.asarray(Image.open(out / names[0]))
    b = np.asarray(Image.open(out / names[1]))
    assert a.shape == (256, 256, 3) and len(np.unique(a.reshape(-1, 3), axis=0)) > 3  # not blank
    assert not np.array_equal(a, b)  # the boids moved
    assert main(["replay", "render", str(app_replay), "--ticks", "x", "--out", str(out)]) == 1


def test_cli_verify_names_nondeterminism(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from gpi.ecs import World
    from gpi.plugins.host import PluginHost
    from gpi.runtime.replay.recording import HostRecorder

    path = tmp_path / "jitter.gpir"
    with World(seed=1) as world, PluginHost(world, isolation="none") as host:
        host.load(FIXTURES / "jitter")
        with HostRecorder(host, path) as rec:
            for _ in range(60):
                host.tick({})
                rec.after_tick()
    assert main(["replay", "verify", str(path), "--no-progress"]) == 1
    out = capsys.readouterr().out
    assert "tick 37" in out and "Wobble" in out and "jitter.wobble" in out


def test_cli_plugins_search_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # the recorded plugin folders are gone: --plugins finds them by name and content hash
    import shutil

    from gpi.ecs import World
    from gpi.plugins.host import PluginHost
    from gpi.runtime.replay.recording import HostRecorder

    first = tmp_path / "first"
    shutil.copytree(EXAMPLES / "movement", first / "movement")
    shutil.copytree(FIXTURES / "flaky", first / "flaky")
    path = tmp_path / "moved.gpir"
    with World(seed=2) as world, PluginHost(world, isolation="none") as host:
        host.load(first / "movement", first / "flaky")
        with HostRecorder(host, path) as rec:
            for _ in range(30):
                host.tick({})
                rec.after_tick()
    first.rename(tmp_path / "second")
    assert main(["replay", "verify", str(path)]) == 1
    assert "cannot find plugin" in capsys.readouterr().err
    assert main(["replay", "verify", str(path), "--plugins", str(tmp_path / "second")]) == 0


def test_render_is_repeatable(app_replay: Path) -> None:
    with Replay.open(app_replay) as rp, HostSimulator(rp.header) as sim:
        first = render_ticks(rp, sim, [30, 0], size=(96, 96))
        again = render_ticks(rp, sim, [30], size=(96, 96))
    assert sorted(first) == [0, 30] and first[30].shape == (96, 96, 4)
    assert np.array_equal(first[30], again[30])


def test_controls_and_inspector(app_replay: Path) -> None:
    with Replay.open(app_replay) as rp, HostSimulator(rp.header) as sim:
        player = Player(rp, sim)
        c = ReplayControls(player, rate=60.0)
        assert c.tick == -1 and not c.playing
        c.key("space")
        assert c.playing and c.update(0.05) == 3 and c.tick == 2
        c.update(10.0)  # a long hitch runs at most max_ticks
        assert c.tick == 10
        c.key("right")
        assert not c.playing and c.tick == 11
        c.key("left")
        assert c.tick == 10
        c.seek(500)
        assert c.tick == 119
        c.toggle()
        assert c.update(1.0) == 0 and not c.playing  # at the end playback stops
        c.key("home")
        assert c.tick == -1
        c.seek(60)
        world = sim.world
        chunk = next(ch for ch in world.query("Position", with_=["Player"]) if len(ch))
        eid = int(chunk.entities[0])
        pos = tuple(float(v) for v in chunk["Position"][0])
        cam = arena_camera((400, 400))
        picked = pick_entity(world, cam, cam.world_to_screen(*pos))
        assert picked is not None
        got = np.asarray(world.get(np.uint64(picked), "Position"), dtype=np.float64)
        assert np.hypot(*(got - pos)) * cam.zoom <= 8.0
        assert pick_entity(world, cam, (-500.0, -500.0)) is None
        rows = dict(entity_rows(world, eid))
        assert set(rows) == {"Player", "Position", "Velocity"}
        assert entity_rows(world, (7 << 32) | 123456) == []


@pytest.mark.gl
def test_windowed_play_headless(app_replay: Path) -> None:
    from gpi.runtime.replay.render import play

    with Replay.open(app_replay) as rp, HostSimulator(rp.header) as sim:
        assert play(rp, sim, to=40, max_frames=3, headless=True) == 0


def _record_keys(path: Path, switch_at: int | None) -> None:
    from gpi.ecs import World
    from gpi.plugins.host import PluginHost
    from gpi.runtime.replay.recording import HostRecorder

    with World(seed=6) as world, PluginHost(world, isolation="none") as host:
        host.load(EXAMPLES / "movement", EXAMPLES / "player")
        with HostRecorder(host, path) as rec:
            for t in range(40):
                keys = ["up"] if switch_at is not None and t >= switch_at else ["right"]
                host.tick({"keys": keys})
                rec.after_tick({"keys": keys})


def test_cli_diff_and_play(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = tmp_path / "a.gpir", tmp_path / "b.gpir"
    _record_keys(a, None)
    _record_keys(b, 25)
    assert main(["replay", "diff", str(a), str(a)]) == 0
    assert main(["replay", "diff", str(a), str(b)]) == 1
    assert "tick 25: input differs" in capsys.readouterr().out
    sim = "gpi.runtime.replay.simulation:make_simulator"
    assert main(["replay", "diff", str(a), str(b), "--simulator", sim]) == 1
    out = capsys.readouterr().out
    assert "part at tick 25 (inputs differ)" in out
    assert "Velocity of entity" in out and "player.control" in out
    assert main(["replay", "play", str(a), "--to", "30"]) == 0
    assert "simulated to tick 30, checksum 0x" in capsys.readouterr().out


def test_gpi_run_record_then_verify_and_render(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "run.gpir"
    dirs = [str(EXAMPLES / n) for n in ("spawner", "movement", "player")]
    code = main(["run", *dirs, "--headless", "--ticks", "90", "--isolation", "none", "--population", "30",
                 "--seed", "3", "--quiet", "--record", str(path)])
    assert code == 0, capsys.readouterr()
    with Replay.open(path) as rp:
        assert rp.tick_count == 90 and rp.complete and rp.header.seed == 3
    assert main(["replay", "verify", str(path)]) == 0
    assert "OK" in capsys.readouterr().out
    assert main(["replay", "render", str(path), "--ticks", "89", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "tick_000089.png").is_file()
