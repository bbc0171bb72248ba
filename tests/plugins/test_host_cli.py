"""`gpi demo` and `gpi run`: the headless commands built on PluginHost."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gpi.runtime.cli import main

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.subprocess


def checksum(out: str) -> str:
    m = re.search(r"checksum\s*│\s*(0x[0-9a-f]+)", out)
    assert m, out
    return m.group(1)


def test_demo_runs_headless_and_prints_the_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--ticks", "15", "--entities", "300", "--quiet", "--no-sandbox"]) == 0
    out = capsys.readouterr().out
    for word in ("boids.steer", "movement.integrate", "entities", "ticks/s", "checksum"):
        assert word in out
    assert re.search(r"entities\s*│\s*301", out)  # 300 boids and the player
    first = checksum(out)
    assert main(["demo", "--ticks", "15", "--entities", "300", "--quiet", "--isolation", "none"]) == 0
    assert checksum(capsys.readouterr().out) == first  # same seed: same world, any isolation


def test_run_reports_load_errors(capsys: pytest.CaptureFixture[str]) -> None:
    bad = ROOT / "tests" / "plugins" / "fixtures" / "needs_missing"
    assert main(["run", str(bad), "--ticks", "1", "--quiet"]) == 1
    assert "ghost" in capsys.readouterr().out


def test_run_plugin_dirs(capsys: pytest.CaptureFixture[str]) -> None:
    fx = ROOT / "tests" / "plugins" / "fixtures" / "allinone"
    assert main(["run", str(fx), "--ticks", "10", "--quiet", "--no-sandbox"]) == 0
    out = capsys.readouterr().out
    assert "allinone.churn" in out and "faults" in out
