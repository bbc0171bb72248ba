"""`gpi profile`, `gpi run` and `gpi demo`: real runs (small) and wrong arguments."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gpi.runtime.cli import main

ROOT = Path(__file__).resolve().parents[2]
EX = ROOT / "examples" / "plugins"


def _exit_code(argv: list[str]) -> int:
    """main()'s return code, or argparse's exit status."""
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)


def test_profile_writes_trace_plot_tables_and_leak_report(tmp_path, capsys):
    out = tmp_path / "prof"
    code = main(["profile", str(EX / "movement"), str(EX / "spawner"), "--ticks", "30", "--out", str(out),
                 "--isolation", "none", "--population", "100", "--leak-check", "--memory-every", "2",
                 "--no-progress"])
    assert code == 0
    text = capsys.readouterr().out
    assert "per-system" in text and "RSS growth" in text and "trace.json" in text
    trace = json.loads((out / "trace.json").read_text())
    systems = [e for e in trace["traceEvents"] if e.get("cat") == "system"]
    assert len(systems) == 30 * 3  # integrate, populate, grow_old
    assert sum(e.get("cat") == "frame" for e in trace["traceEvents"]) == 30
    assert (out / "frame_times.png").read_bytes()[:4] == b"\x89PNG"
    assert "movement" in (out / "systems.txt").read_text()
    assert "host" in (out / "leaks.txt").read_text()


_LEAKY_PROFILE = """
import sys
from gpi.runtime.app import App
from gpi.runtime.cli import main

kept = []
tick = App._on_tick

def leaky(self, t, dt):  # the host keeps 4.5 KiB a tick, touched (in RSS), never let go
    tick(self, t, dt)
    kept.append(b"x" * 4608)

App._on_tick = leaky
code = main(sys.argv[1:])
assert len(kept) == 1200
sys.exit(code)
"""


@pytest.mark.subprocess
def test_profile_leak_check_catches_a_host_growing_4_5_mib_per_1k_ticks(tmp_path):
    """The growth issue 14 saw (+4.5 MiB per 1000 ticks), over 1,200 ticks: suspect, exit 3.

    In a fresh process: one whose heap has room freed by earlier tests would
    grow into it without its RSS growing.
    """
    argv = ["profile", str(EX / "movement"), str(EX / "spawner"), "--ticks", "1200", "--out", str(tmp_path),
            "--isolation", "none", "--population", "100", "--leak-check", "--no-progress"]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", _LEAKY_PROFILE, *argv], capture_output=True, text=True,
                          env=env, timeout=300)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "suspect RSS growth in host" in proc.stderr
    assert "retained records" in proc.stdout


@pytest.mark.parametrize("argv, message", [
    (["profile", "nowhere", "--ticks", "5"], "does not exist"),
    (["profile", str(ROOT / "docs"), "--ticks", "5"], "no plugin.toml"),
])
def test_profile_wrong_plugin_dirs(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("argv", [
    ["profile", str(EX / "movement")],  # --ticks is required
    ["profile", str(EX / "movement"), "--ticks", "0"],
    ["profile", str(EX / "movement"), "--ticks", "many"],
    ["profile", "--ticks", "3"],  # no plugins
    ["run", str(EX / "movement"), "--ticks", "-1"],
    ["run", str(EX / "movement"), "--screenshot", "ten:a.png"],
    ["run", str(EX / "movement"), "--screenshot", "10"],
    ["run", str(EX / "movement"), "--isolation", "threads"],
    ["run", str(EX / "movement"), "--seed", "-3"],
    ["demo", "--dt", "0"],
])
def test_argparse_errors_exit_2(argv, capsys):
    assert _exit_code(argv) == 2
    assert "error" in capsys.readouterr().err


def test_run_argument_errors(tmp_path, capsys):
    scene = tmp_path / "scene.toml"
    scene.write_text("seed = 1\n")
    cases = [
        (["run"], "nothing to run"),
        (["run", str(EX / "movement"), "--scene", str(scene)], "not both"),
        (["run", str(tmp_path / "missing")], "does not exist"),
        (["run", "--scene", str(tmp_path / "nope.toml")], "does not exist"),
        (["run", "--scene", str(scene)], "'plugins' must be"),
        (["run", str(EX / "movement"), "--ticks", "5", "--screenshot", f"9:{tmp_path / 'a.png'}"], "after the last"),
        (["run", str(EX / "movement"), "--size", "12x3"], "--size"),
    ]
    for argv, message in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert message in err, (argv, err)


@pytest.mark.gl
def test_run_scene_headless_with_screenshot(tmp_path, capsys):
    scene = tmp_path / "scene.toml"
    scene.write_text(f'plugins = ["{EX}/movement", "{EX}/spawner", "{EX}/boids"]\nseed = 5\nticks = 12\n'
                     "population = 150\n[camera]\ncenter = [50.0, 50.0]\n")
    shot = tmp_path / "shots" / "t12.png"
    code = main(["run", "--scene", str(scene), "--headless", "--isolation", "none", "--quiet", "--size", "900x560",
                 "--screenshot", f"12:{shot}", "--screenshot", f"0:{tmp_path / 't0.png'}"])
    assert code == 0
    out = capsys.readouterr().out
    assert "boids.steer" in out and "checksum" in out and "12 ticks" in out
    img = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert img.shape == (560, 900, 3)
    boids = (np.abs(img[:, 500:] - np.array([120, 200, 255])).sum(axis=2) < 40).sum()
    assert boids > 50  # the boids plugin's circles, drawn in-process
    assert len(np.unique(img[:, :400].reshape(-1, 3), axis=0)) > 30  # the overlay's text and plots
    assert (tmp_path / "t0.png").is_file()


@pytest.mark.gl
def test_demo_headless_leaves_screenshot_and_profile(tmp_path, capsys):
    code = main(["demo", "--ticks", "12", "--entities", "200", "--isolation", "none", "--quiet",
                 "--out", str(tmp_path), "--size", "800x500", "--render-every", "4"])
    assert code == 0
    out = capsys.readouterr().out
    assert "player.control" in out and "entities" in out and "demo.png" in out
    img = np.asarray(Image.open(tmp_path / "demo.png").convert("RGB"))
    assert img.shape == (500, 800, 3)
    trace = json.loads((tmp_path / "demo_profile" / "trace.json").read_text())
    assert sum(e.get("cat") == "frame" for e in trace["traceEvents"]) == 12


def test_demo_argument_errors(capsys):
    assert main(["demo", "--entities", "-5"]) == 2
    assert "--entities" in capsys.readouterr().err
    assert main(["demo", "--render-every", "-1"]) == 2
    assert "--render-every" in capsys.readouterr().err


def test_run_records_a_replay(tmp_path, capsys):
    from gpi.replays import Replay

    rec = tmp_path / "run.gpir"
    code = main(["run", str(EX / "movement"), str(EX / "spawner"), "--ticks", "9", "--headless", "--quiet",
                 "--isolation", "none", "--population", "40", "--record", str(rec)])
    assert code == 0
    assert "run.gpir" in capsys.readouterr().out
    with Replay.open(rec) as rp:
        assert rp.tick_count == 9 and rp.header.start_tick == 0


@pytest.mark.gl
def test_run_realtime_headless(tmp_path, capsys):
    shot = tmp_path / "rt.png"
    code = main(["run", str(EX / "movement"), str(EX / "spawner"), "--headless", "--realtime", "--ticks", "20",
                 "--dt", "0.005", "--isolation", "none", "--quiet", "--size", "640x400", "--screenshot",
                 f"20:{shot}"])
    assert code == 0
    out = capsys.readouterr().out
    assert "real time at 200 Hz" in out and "20 ticks" in out
    assert shot.is_file()


@pytest.mark.gl
def test_profile_with_rendering(tmp_path, capsys):
    shot = tmp_path / "last.png"
    code = main(["profile", str(EX / "movement"), str(EX / "spawner"), "--ticks", "8", "--out", str(tmp_path / "p"),
                 "--isolation", "none", "--population", "50", "--render", "--screenshot", str(shot),
                 "--no-progress"])
    assert code == 0
    assert shot.is_file()
    assert main(["profile", str(EX / "movement"), "--ticks", "3", "--screenshot", str(shot)]) == 2
    assert "needs --render" in capsys.readouterr().err
