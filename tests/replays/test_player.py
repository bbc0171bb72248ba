"""Player: step, step back and seek agree with straight re-simulation."""

from __future__ import annotations

from pathlib import Path

import pytest
from replay_testsim import ToySim, record_run, scripted_input

from gpi.replays import Player, Replay, SeekError


@pytest.fixture(scope="module")
def rec(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[int]]:
    p = tmp_path_factory.mktemp("play") / "p.gpir"
    return p, record_run(p, 150, keyframe_interval=40, checksum_interval=0)


def test_step_step_back_and_seek(rec: tuple[Path, list[int]]) -> None:
    path, sums = rec
    with Replay.open(path) as rp:
        sim = ToySim()
        pl = Player(rp, sim)
        assert pl.tick == -1 and sim.snapshot() == rp.header.initial_snapshot
        for t in range(60):
            assert pl.step() == sums[t]
        assert pl.input == scripted_input(59)
        pl.step_back()
        assert pl.tick == 58 and sim.checksum() == sums[58]
        pl.seek(45)  # a keyframe (40) lies at or before: reload from it
        assert sim.checksum() == sums[45] and pl.input == scripted_input(45)
        steps = sim.steps
        pl.seek(47)  # reachable from here: steps on, no reload
        assert sim.steps == steps + 2 and sim.checksum() == sums[47]
        pl.seek(149)
        assert pl.at_end and pl.step() is None and sim.checksum() == sums[149]
        pl.seek(-1)
        assert sim.snapshot() == rp.header.initial_snapshot and pl.tick == -1
        with pytest.raises(SeekError):
            pl.seek(150)
        assert pl.divergence is None


def test_player_notes_the_first_checksum_mismatch(tmp_path: Path) -> None:
    p = tmp_path / "x.gpir"
    record_run(p, 80, keyframe_interval=0, checksum_interval=1)
    with Replay.open(p) as rp:
        pl = Player(rp, ToySim(changed_from=33))
        while pl.step() is not None:
            pass
        assert pl.divergence is not None and pl.divergence[0] == 33
