"""Fixtures for sandbox tests and the attack table printed at the end of the run."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sandbox_harness import ATTACK_TABLE, run_child

from gpi.plugins.sandbox import SandboxPolicy


@pytest.fixture
def plugin_dir(tmp_path: Path) -> Path:
    """A plugin folder with a data file and a module, and a secret file beside it (outside)."""
    d = tmp_path / "plugin"
    d.mkdir()
    (d / "data.txt").write_text("plugin data\n")
    (d / "plugmod.py").write_text("ANSWER = 42\n")
    (tmp_path / "outside.txt").write_text("secret\n")
    return d


@pytest.fixture
def run_sandboxed(plugin_dir: Path) -> Callable[..., dict[str, Any]]:
    """``run_sandboxed(code, policy=None, setup="", args=None)`` -> result dict (see module doc)."""

    def run(code: str, policy: SandboxPolicy | None = None, setup: str = "", args: dict[str, Any] | None = None) -> dict[str, Any]:
        return run_child(code, plugin_dir, policy, setup, args)

    return run


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not ATTACK_TABLE:
        return
    tr = terminalreporter
    tr.section("sandbox layers: what a sandboxed child tried")
    w = max(len(a) for a, *_ in ATTACK_TABLE)
    tr.write_line(f"{'attack / action':<{w}}  {'layer':<12} outcome")
    for attack, outcome, layer, call in ATTACK_TABLE:
        tr.write_line(f"{attack:<{w}}  {layer:<12} {outcome}")
        if call:
            tr.write_line(f"{'':<{w}}  {'':<12} call: {call[:90]}")
