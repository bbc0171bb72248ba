"""``gpi replay`` sub-commands, run through the real CLI entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from replay_testsim import record_run

from gpi.runtime.cli import main

SIM = str(Path(__file__).with_name("replay_testsim.py")) + ":make_simulator"
BAD_SIM = str(Path(__file__).with_name("replay_testsim.py")) + ":make_bad_simulator"


@pytest.fixture(scope="module")
def rec(tmp_path_factory: pytest.TempPathFactory) -> Path:
    p = tmp_path_factory.mktemp("cli") / "run.gpir"
    record_run(p, 700, keyframe_interval=100, checksum_interval=60, meta={"n": 6, "bad_tick": 321})
    return p


def test_info_json(rec: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", "info", str(rec), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["ticks"] == 700 and d["complete"] and d["tail"] is None
    assert d["keyframes"] == list(range(100, 700, 100))
    assert d["bytes_per_tick"] > 0


def test_info_table_and_truncated_tail(
    rec: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cut = tmp_path / "cut.gpir"
    cut.write_bytes(rec.read_bytes()[:-60])
    assert main(["replay", "info", str(cut)]) == 0
    out = capsys.readouterr().out
    assert "truncated tail at byte" in out and "ticks" in out
    assert main(["replay", "info", str(cut), "--json"]) == 0
    tail = json.loads(capsys.readouterr().out)["tail"]
    assert tail["kind"] == "truncated" and tail["offset"] > 0


def test_info_errors_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", "info", str(tmp_path / "missing.gpir")]) == 1
    assert "no such file" in capsys.readouterr().err
    junk = tmp_path / "junk.gpir"
    junk.write_bytes(b"hello world, not a replay")
    assert main(["replay", "info", str(junk)]) == 1
    assert "not a GPI replay" in capsys.readouterr().err


def test_verify_with_a_simulator(rec: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", "verify", str(rec), "--simulator", SIM]) == 0
    assert "OK" in capsys.readouterr().out
    assert main(["replay", "verify", str(rec), "--simulator", BAD_SIM, "--no-progress"]) == 1
    out = capsys.readouterr().out
    assert "tick 321" in out and "Position" in out


def test_verify_without_a_simulator_exits_2(rec: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", "verify", str(rec), "--simulator", "gpi_no_such_module:make"]) == 2
    assert "cannot import the simulator module 'gpi_no_such_module'" in capsys.readouterr().err


def test_diff_and_play(rec: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", "diff", str(rec), str(rec)]) == 0
    other = tmp_path / "other.gpir"
    record_run(other, 500, keyframe_interval=100, checksum_interval=60)
    assert main(["replay", "diff", str(rec), str(other)]) == 1
    assert "length" in capsys.readouterr().out
    assert main(["replay", "play", str(rec), "--to", "250", "--simulator", SIM]) == 0
    assert "tick 250" in capsys.readouterr().out
    assert main(["replay", "render", str(rec), "--tick", "3", "--simulator", SIM]) == 2
