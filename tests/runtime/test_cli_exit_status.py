"""Exit status of `gpi run` / `gpi profile`: non-zero when a plugin was disabled, and with --strict on any fault."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from gpi.runtime.cli import main

CRASHER = textwrap.dedent('''
    import os
    from gpi import Plugin

    plugin = Plugin("crasher")

    @plugin.system
    def die(ctx):
        os._exit(3)   # every tick: restarts, then the circuit breaker disables it
''')

RAISER = textwrap.dedent('''
    from gpi import Plugin

    plugin = Plugin("raiser")

    @plugin.system
    def once(ctx):
        if ctx.tick == 2:
            raise RuntimeError("boom at tick 2")
''')


def _plugin(tmp_path: Path, name: str, code: str) -> Path:
    d = tmp_path / name
    d.mkdir()
    (d / "plugin.toml").write_text(f'[plugin]\nname = "{name}"\nversion = "1.0.0"\nabi = 1\nentry = "main"\n')
    (d / "main.py").write_text(code)
    return d


@pytest.mark.subprocess
@pytest.mark.parametrize("cmd", ["run", "profile"])
def test_disabled_plugin_exits_1(tmp_path: Path, cmd: str, capsys: pytest.CaptureFixture[str]) -> None:
    d = _plugin(tmp_path, "crasher", CRASHER)
    extra = ["--headless", "--quiet", "--no-sandbox"] if cmd == "run" else ["--no-progress", "--out",
                                                                            str(tmp_path / "prof")]
    code = main([cmd, str(d), "--ticks", "20", *extra])
    io = capsys.readouterr()
    assert code == 1, io.out + io.err
    assert "crasher was disabled" in io.out + io.err


@pytest.mark.parametrize("cmd", ["run", "profile"])
def test_strict_fails_on_one_exception(tmp_path: Path, cmd: str, capsys: pytest.CaptureFixture[str]) -> None:
    d = _plugin(tmp_path, "raiser", RAISER)
    base = [cmd, str(d), "--ticks", "5", "--isolation", "none"]
    base += ["--headless", "--quiet"] if cmd == "run" else ["--no-progress", "--out", str(tmp_path / "prof")]
    assert main(base) == 0  # one exception, nothing disabled
    capsys.readouterr()
    assert main([*base, "--strict"]) == 1
    io = capsys.readouterr()
    assert "--strict: 1 fault(s) recorded" in io.out + io.err
