"""A recording that stops early says so, and `verify` says how many ticks the replay holds."""

from __future__ import annotations

from pathlib import Path

import pytest

from gpi.ecs import World
from gpi.plugins.host import PluginHost
from gpi.replays import Replay
from gpi.runtime.cli import main
from gpi.runtime.replay.recording import HostRecorder

ROOT = Path(__file__).resolve().parents[2]
BENIGN = ROOT / "tests" / "hostile" / "plugins" / "benign"


def _record(path: Path, ticks: int, stopped: str | None) -> None:
    with World(seed=3) as world, PluginHost(world, isolation="none", sandbox=False) as host:
        host.load(BENIGN)
        rec = HostRecorder(host, path, keyframe_interval=5)
        for _ in range(ticks):
            host.tick({})
            rec.after_tick({})
        rec.close(stopped)


def test_a_stopped_recording_keeps_why_and_verify_reports_incomplete(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "stopped.gpir"
    _record(path, 12, "tick 12 could not be recorded: SchemaError: [/red] too deep")
    with Replay.open(path) as rp:
        assert rp.tick_count == 12 and rp.complete and rp.stopped and "tick 12" in rp.stopped
    assert main(["replay", "verify", str(path), "--isolation", "none", "--no-progress"]) == 1
    out = capsys.readouterr().out
    assert "INCOMPLETE" in out and "holds 12 ticks" in out and "[/red]" in out, out


def test_a_replay_with_no_ticks_is_not_ok(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "empty.gpir"
    _record(path, 0, None)
    assert main(["replay", "verify", str(path), "--isolation", "none", "--no-progress"]) == 1
    assert "holds no ticks" in capsys.readouterr().out


def test_a_whole_recording_still_verifies_ok(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "whole.gpir"
    _record(path, 12, None)
    assert main(["replay", "verify", str(path), "--isolation", "none", "--no-progress"]) == 0
    assert "OK 12 ticks verified" in capsys.readouterr().out
