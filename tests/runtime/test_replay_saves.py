"""Replays restore plugins' saved items with the world: verify, seek and confined workers agree."""

from __future__ import annotations

from pathlib import Path

import pytest

from gpi.ecs import World
from gpi.plugins.host import PluginHost
from gpi.plugins.hoststate import HostStateError, decode_host_state, encode_host_state
from gpi.replays import Replay, seek, verify
from gpi.runtime.cli import main
from gpi.runtime.replay.recording import HostRecorder
from gpi.runtime.replay.simulation import HostSimulator

ROOT = Path(__file__).resolve().parents[2]
DIARY = ROOT / "tests" / "replays" / "fixtures" / "diary"

pytestmark = pytest.mark.subprocess


@pytest.fixture(scope="module")
def diary(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[int]]:
    """90 ticks recorded in process isolation from a store that already held page 40."""
    tmp = tmp_path_factory.mktemp("saves")
    path = tmp / "diary.gpir"
    pages = []
    with World(seed=9) as world, PluginHost(world, isolation="process", data_dir=tmp / "data") as host:
        host.load(DIARY)
        host.saves.store.put("diary", "page", 40)  # saved by an earlier run
        with HostRecorder(host, path, keyframe_interval=30) as rec:
            for _ in range(90):
                host.tick({})
                rec.after_tick()
                (chunk,) = [c for c in world.query("Page") if len(c)]
                pages.append(int(chunk["Page"][0]))
    return path, pages


def test_the_recording_depends_on_the_store(diary: tuple[Path, list[int]]) -> None:
    path, pages = diary
    assert pages[0] == 40 and len(set(pages)) == 90  # starts from the saved page, moves every tick
    with Replay.open(path) as rp:
        world_bytes, saves = decode_host_state(rp.header.initial_snapshot)
        assert saves == {"diary": {"page": 40}}
        assert all(decode_host_state(rp.record(k).keyframe or b"")[1] for k in rp.keyframe_ticks)


@pytest.mark.parametrize("isolation", ["none", "process"])
def test_verify_and_seek_restore_the_saved_items(diary: tuple[Path, list[int]], isolation: str) -> None:
    path, pages = diary
    with Replay.open(path) as rp, HostSimulator(rp.header, isolation=isolation) as sim:
        res = verify(rp, sim)
        assert res.ok, res.message
        for tick in (75, 31, 59):  # keyframes at 30 and 60: the store must come back with the world
            seek(rp, sim, tick)
            (chunk,) = [c for c in sim.world.query("Page") if len(c)]
            assert int(chunk["Page"][0]) == pages[tick]


def test_confined_parallel_verify_with_a_save_store(diary: tuple[Path, list[int]],
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    path, _ = diary
    assert main(["replay", "verify", str(path), "--jobs", "2", "--no-progress"]) == 0
    assert "90 ticks verified" in capsys.readouterr().out


def test_host_state_bytes() -> None:
    plain = b"GPISNAP\0 whatever"
    assert encode_host_state(plain, None) == plain and encode_host_state(plain, {}) == plain
    assert decode_host_state(plain) == (plain, None)
    packed = encode_host_state(plain, {"p": {"k": [1, 2]}})
    assert decode_host_state(packed) == (plain, {"p": {"k": [1, 2]}})
    for bad in (packed[:12], packed[:20], packed[:-3] + b"\xc1\xc1\xc1", packed[:16 + len(plain)] + b"\x05"):
        with pytest.raises(HostStateError):
            decode_host_state(bad)
