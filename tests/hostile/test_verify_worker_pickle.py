"""A plugin inside a confined verify worker sends a pickle up the worker's pipe: nothing runs.

``gpi replay verify`` runs plugins inside sandboxed worker processes; the
verify parent is not confined. A parent that unpickled what a worker sends
would run plugin code unconfined (``pickle_worker``'s ``__reduce__`` writes
a marker file). The parent reads plain msgpack data only: the marker is never
written, the worker is reported faulty and verify fails.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gpi.runtime.cli import main

HERE = Path(__file__).resolve().parent
PLUGINS = HERE / "plugins"

pytestmark = [pytest.mark.subprocess, pytest.mark.sandbox, pytest.mark.slow]


def _record(path: Path, dirs: list[Path], ticks: int) -> None:
    from gpi.ecs import World
    from gpi.plugins.host import PluginHost
    from gpi.runtime.replay.recording import HostRecorder

    with World(seed=5) as world, PluginHost(world, isolation="process") as host:
        host.load(*dirs)
        with HostRecorder(host, path, keyframe_interval=10) as rec:
            for _ in range(ticks):
                host.tick({})
                rec.after_tick({})


def test_a_pickle_from_a_verify_worker_is_never_unpickled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    marker = tmp_path / "unpickled.txt"
    monkeypatch.setenv("GPI_HOSTILE_MARKER", str(marker))
    path = tmp_path / "pickle.gpir"
    _record(path, [PLUGINS / "benign", PLUGINS / "pickle_worker"], 30)  # in plugin children: no pipe, no attack
    assert not marker.exists()
    code = main(["replay", "verify", str(path), "--jobs", "2", "--isolation", "confined", "--no-progress"])
    out = capsys.readouterr()
    assert not marker.exists(), marker.read_text()
    assert code != 0, out.out
    text = out.out + out.err
    assert "faulty" in text and "not trusted" in text, text[-2000:]
