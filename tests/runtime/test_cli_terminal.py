"""`gpi run` prints plugin logs as they happen (level, plugin/system, neutralised, repeats counted) and the resources."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gpi.runtime.cli.terminal import LogPrinter, resource_rows

CHATTY = textwrap.dedent('''
    from gpi import Plugin

    plugin = Plugin("chatty")

    @plugin.system(resources=["score", "big"])
    def talk(ctx):
        ctx.log("same every tick")
        ctx.log(f"tick {ctx.tick} \\x1b[31mred", level="warning")
        ctx.log("quiet detail", level="debug")
        ctx.insert_resource("score", ctx.tick * 10)
        ctx.insert_resource("big", list(range(500)))
''')


@pytest.mark.subprocess
def test_run_prints_logs_repeats_and_resources(tmp_path: Path) -> None:
    d = tmp_path / "chatty"
    d.mkdir()
    (d / "plugin.toml").write_text('[plugin]\nname = "chatty"\nversion = "1.0.0"\nabi = 1\nentry = "main"\n'
                                   'capabilities = ["resources"]\n')
    (d / "main.py").write_text(CHATTY)
    proc = subprocess.run([sys.executable, "-m", "gpi.runtime.cli", "run", str(d), "--ticks", "4", "--headless",
                           "--quiet", "--no-sandbox"], capture_output=True, text=True, timeout=120)
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    assert out.count("[chatty/talk] info: same every tick") == 2, out  # once as it happens, once with the count
    assert "same every tick (x4 in all)" in out
    assert "[chatty/talk] warning: tick 3 \\x1b[31mred" in out and "\x1b[31m" not in out
    assert "quiet detail" not in out
    assert "score" in out and "30" in out.split("resources", 1)[1]
    assert "list (500 items)" in out


def test_log_printer_levels_and_resource_rows() -> None:
    lines: list[str] = []

    class Console:
        def print(self, text: str, **_kw: object) -> None:
            lines.append(text)

    p = LogPrinter(Console(), "warning")
    p("a/b", "info", "hidden")
    p("a/b", "error", "shown")
    p("a/b", "error", "shown")
    p.finish()
    assert lines == ["[a/b] error: shown", "[a/b] error: shown (x2 in all)"]
    assert resource_rows({"z": 1, "a": "x" * 500}) == [("a", "str (500 items)"), ("z", "1")]
