"""The trust boundary: hostile plugins that attack what the host does with what a child *says*.

Each attack is a real plugin folder in ``plugins/`` run beside ``benign`` in
a :class:`~gpi.plugins.host.PluginHost` with real children under the
default sandbox (as a user's ``gpi run`` would). For each:

- the host completes every tick and benign's systems run on every tick;
- the world checksum after every tick equals benign's alone;
- host memory stays within 50 MiB of benign's run (RSS measured at the end
  of each run, the host still open);
- nothing is written outside (the attack's scratch folder stays empty);
- the attacking plugin gets the fault (or its text is neutralised, cut, or
  its folder refused), named in the outcome table.

The pickle through a verify worker is ``test_verify_worker_pickle.py``.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hostile_table import ROWS

from gpi.ecs import World
from gpi.plugins.host import PluginHost
from gpi.plugins.messages import MAX_LOG_TEXT

HERE = Path(__file__).resolve().parent
PLUGINS = HERE / "plugins"
SEED = 11
TICKS = 6
LONG = 60  # ticks for the floods: the rate bound is in bytes per second, the flood needs time to pass it
RSS_SLACK = 50 << 20
CONTROL = ("\x1b", "\r", "\x07", "\x9b", "\u202e")

pytestmark = [pytest.mark.subprocess, pytest.mark.sandbox, pytest.mark.slow]


def _rss() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def run(dirs: list[Path], ticks: int = TICKS, *, timeout: float = 3.0, recorder: Path | None = None,
        data: Path | None = None) -> dict[str, Any]:
    """Run ``dirs`` for ``ticks`` ticks; checksums, reports, faults, logs, RSS at the end, host facts."""
    opts: dict[str, Any] = {"timeout": timeout}
    if data is not None:
        opts["data_dir"] = data
    with World(seed=SEED) as world, PluginHost(world, **opts) as host:
        host.load(*dirs)
        rec = None
        if recorder is not None:
            from gpi.runtime.replay.recording import HostRecorder

            rec = HostRecorder(host, recorder, keyframe_interval=3)
        checksums, reports = [], []
        for _ in range(ticks):
            reports.append(host.tick({}))
            checksums.append(world.checksum())
            if rec is not None:
                rec.after_tick({})
        if rec is not None:
            rec.close()
        rss = _rss()
        saved = host.saves.store.items("saves_no_grant") if "saves_no_grant" in host.plugins else {}
        return {"checksums": checksums, "reports": reports, "faults": list(host.faults), "logs": list(host.logs),
                "ticks": host.tick_count, "rss": rss, "saved": saved, "crash_reports": list(host.supervision.reports),
                "plugins": {n: p.summary() for n, p in host.plugins.items()}}


@pytest.fixture(scope="module")
def reference() -> dict[str, Any]:
    """benign alone, twice (the second run's RSS is the baseline: the first warms caches and arenas)."""
    run([PLUGINS / "benign"], LONG)
    return run([PLUGINS / "benign"], LONG)


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    tmp = tmp_path / "hostile-tmp"
    tmp.mkdir()
    monkeypatch.setenv("GPI_HOSTILE_TMP", str(tmp))
    yield tmp
    assert os.listdir(tmp) == [], "something was written outside"


def _contained(name: str, res: dict[str, Any], ref: dict[str, Any], *, fault_kinds: set[str] | None,
               first_tick: bool = True) -> list[dict]:
    """The checks every attack shares; returns the attacker's faults."""
    n = len(res["reports"])
    assert res["ticks"] == n
    for t, rep in enumerate(res["reports"]):
        assert {"benign.populate", "benign.move"} <= set(rep.ran), (t, rep, res["faults"][-3:])
    assert res["checksums"] == ref["checksums"][:n], res["faults"][:3]
    assert res["rss"] - ref["rss"] < RSS_SLACK, f"host RSS {res['rss'] >> 20} MiB vs benign {ref['rss'] >> 20} MiB"
    assert not [f for f in res["faults"] if f["plugin"] == "benign"], res["faults"][:3]
    assert res["plugins"]["benign"]["restarts"] == 0
    mine = [f for f in res["faults"] if f["plugin"] == name]
    if fault_kinds is not None:
        assert mine and (mine[0]["tick"] == 0 or not first_tick), res["faults"][:3]
        assert {f["kind"] for f in mine} <= fault_kinds | {"disabled", "restart_failed"}, mine[:3]
    return mine


def _row(attack: str, outcome: str, stopped_by: str, reported: str) -> None:
    ROWS.append((attack, outcome, stopped_by, reported[:160]))


# -- forged messages -------------------------------------------------------------------------


def test_forged_result_fields_are_protocol_faults(reference: dict[str, Any], scratch: Path) -> None:
    res = run([PLUGINS / "benign", PLUGINS / "forged_result"])
    mine = _contained("forged_result", res, reference, fault_kinds={"protocol"})
    for rep in res["reports"]:
        assert "forged_result.attack" in rep.skipped and "forged_result.attack" not in rep.ran
    first = mine[0]["error"]
    assert "forged_result" in first and "'logs'" in first and "must be a list" in first, first
    fields = {f["error"].split("field ", 1)[1].split(" ", 1)[0] for f in mine if "field " in f["error"]}
    _row("forged_result", f"protocol fault on {len(mine)} of {TICKS} ticks, child restarted, then breaker",
         "message schema (gpi.plugins.messages)", f"fields: {', '.join(sorted(fields))}")


def test_saves_without_the_grant_are_refused_and_nothing_is_stored(reference: dict[str, Any], scratch: Path) -> None:
    res = run([PLUGINS / "benign", PLUGINS / "saves_no_grant"])
    mine = _contained("saves_no_grant", res, reference, fault_kinds={"protocol"})
    assert res["saved"] == {}, res["saved"]
    assert "not granted the 'save' capability" in mine[0]["error"], mine[0]
    _row("saves_no_grant", f"protocol fault on tick 0, {len(mine)} faults; save store empty",
         "message schema: grants (saves needs 'save')", mine[0]["error"])


def test_a_forged_ready_is_refused_with_the_field_named(reference: dict[str, Any], scratch: Path) -> None:
    from gpi.plugins.errors import ProtocolError

    with World(seed=SEED) as world, PluginHost(world, timeout=3.0) as host:
        host.load(PLUGINS / "benign")
        with pytest.raises(ProtocolError, match="field 'pid' must be an integer") as info:
            host.load(PLUGINS / "forged_ready")
        assert "forged_ready" not in host.plugins
        sums = []
        for _ in range(TICKS):
            rep = host.tick({})
            assert {"benign.populate", "benign.move"} <= set(rep.ran)
            sums.append(world.checksum())
        faults = [f for f in host.faults if f["plugin"] == "forged_ready"]
    assert sums == reference["checksums"][:TICKS]
    assert faults and faults[0]["kind"] == "protocol", faults
    _row("forged_ready (non-int pid, forged sandbox report)", "plugin refused at load, host runs on",
         "message schema: ready", str(info.value))


def test_a_600_deep_resource_is_rejected_and_the_recording_keeps_every_tick(
        reference: dict[str, Any], scratch: Path, tmp_path: Path) -> None:
    from gpi.replays import Replay

    path = tmp_path / "deep.gpir"
    res = run([PLUGINS / "benign", PLUGINS / "deep_resource"], recorder=path)
    mine = _contained("deep_resource", res, reference, fault_kinds={"rejected"})
    for rep in res["reports"]:
        assert "deep_resource.attack" in rep.rejected
    assert "deeper than" in mine[0]["error"], mine[0]
    with Replay.open(path) as rp:
        assert rp.tick_count == TICKS and rp.stopped is None and rp.complete
    _row("deep_resource (600 levels)", f"list rejected on {len(mine)}/{TICKS} ticks; replay holds {TICKS}/{TICKS}",
         "command validation: value bounds (gpi.ecs.values)", mine[0]["error"])


# -- text to the terminal --------------------------------------------------------------------


def test_markup_and_escapes_in_an_exception_reach_the_summary_neutralised(
        reference: dict[str, Any], scratch: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from gpi.runtime.cli import main

    res = run([PLUGINS / "benign", PLUGINS / "markup_error"])
    _contained("markup_error", res, reference, fault_kinds={"exception"})
    code = main(["run", "--headless", "--ticks", str(TICKS), "--quiet", "--no-overlay",
                 str(PLUGINS / "benign"), str(PLUGINS / "markup_error")])
    out = capsys.readouterr()
    assert code == 0, out.err[-2000:]
    assert "[/red]" in out.out and "\\x1b]0;pwned" in out.out, out.out[-2000:]
    assert not any(c in out.out + out.err for c in CONTROL), repr(out.out[-500:])
    _row("markup_error ([/red], OSC, CR/LF in an exception)", "summary printed, exit 0",
         "gpi.safetext.neutralise (markup + control characters)", "fault line printed escaped")


def test_escape_sequences_in_logs_and_stdout_are_neutralised(
        reference: dict[str, Any], scratch: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="gpi.plugins")
    res = run([PLUGINS / "benign", PLUGINS / "escape_log"])
    _contained("escape_log", res, reference, fault_kinds=None)
    texts = [text for src, _, text in res["logs"] if src.startswith("escape_log")]
    assert texts and any("pwned" in t for t in texts), res["logs"][-5:]
    for t in texts:
        assert not any(c in t for c in CONTROL), repr(t)
        assert "\n" not in t, repr(t)
    printed = [r.getMessage() for r in caplog.records if "escape_log" in r.getMessage()]
    assert printed and not any(c in m for m in printed for c in (*CONTROL, "\n")), printed[:2]
    _row("escape_log (ANSI/OSC, CR, forged lines, bidi)", "every record one line, escapes visible",
         "gpi.safetext.neutralise in the host log", texts[0])


# -- output floods ---------------------------------------------------------------------------


def test_a_thread_printing_mib_lines_is_bounded_and_faulted(reference: dict[str, Any], scratch: Path) -> None:
    res = run([PLUGINS / "benign", PLUGINS / "output_flood"], LONG)
    mine = _contained("output_flood", res, reference, fault_kinds={"flood"}, first_tick=False)
    assert any("dropped" in t for _, _, t in res["logs"]), res["logs"][-5:]
    assert all(len(t) <= 2 * MAX_LOG_TEXT for _, _, t in res["logs"])
    _row("output_flood (1 MiB lines, endless line)", f"flood fault {len(mine)}x, child restarted",
         "output pump: line, rate, memory bounds", mine[0]["error"])


def test_long_log_lines_are_cut(reference: dict[str, Any], scratch: Path) -> None:
    res = run([PLUGINS / "benign", PLUGINS / "long_logs"])
    _contained("long_logs", res, reference, fault_kinds=None)
    mine = [t for s, _, t in res["logs"] if s.startswith("long_logs/")]
    assert len(mine) >= 4 * TICKS
    assert all(len(t) <= MAX_LOG_TEXT + 64 and "characters dropped" in t for t in mine), len(mine[0])
    _row("long_logs (4 x 1,000,000-character lines per tick)", "each line cut, count in the line",
         f"message schema: log text <= {MAX_LOG_TEXT} characters", mine[0][-40:])


def test_a_crash_after_huge_output_leaves_a_small_report(reference: dict[str, Any], scratch: Path,
                                                          tmp_path: Path) -> None:
    res = run([PLUGINS / "benign", PLUGINS / "crash_flood"], data=tmp_path / "data")
    mine = _contained("crash_flood", res, reference, fault_kinds={"crashed", "flood"}, first_tick=False)
    sizes = [p.stat().st_size for p in res["crash_reports"]]
    assert sizes and max(sizes) < 1 << 20, sizes
    _row("crash_flood (40 x 4 MiB lines, abort)", f"crashed {len(mine)}x; reports {max(sizes) >> 10} KiB max",
         "output pump: line bound; crash report tail", f"{len(sizes)} reports")


# -- the plugin folder -----------------------------------------------------------------------


def test_a_symlink_to_pagemap_in_a_plugin_folder_is_refused(reference: dict[str, Any], scratch: Path,
                                                             tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    from gpi.runtime.cli import main

    evil = tmp_path / "linked"
    shutil.copytree(PLUGINS / "benign", evil)
    (evil / "plugin.toml").write_text((evil / "plugin.toml").read_text().replace('"benign"', '"linked"'))
    os.symlink("/proc/self/pagemap", evil / "assets.bin")
    with World(seed=SEED) as world, PluginHost(world, timeout=3.0) as host:
        host.load(PLUGINS / "benign")
        with pytest.raises(PermissionError, match="outside the plugin folder") as info:  # UnsafePathError
            host.load(evil)
        sums = [(host.tick({}), world.checksum())[1] for _ in range(TICKS)]
    assert sums == reference["checksums"][:TICKS]
    code = main(["run", "--headless", "--ticks", "2", "--quiet", "--no-overlay", "--record",
                 str(tmp_path / "r.gpir"), str(evil)])
    out = capsys.readouterr()
    assert code != 0 and "outside the plugin folder" in out.out + out.err, out
    _row("symlink to /proc/self/pagemap in a plugin folder", "folder refused at load and for --record",
         "gpi.plugins.safewalk", str(info.value))


def test_huge_exception_messages_are_cut_in_every_fault(reference: dict[str, Any], scratch: Path) -> None:
    from gpi.plugins.messages import MAX_TEXT, MAX_TRACEBACK

    res = run([PLUGINS / "benign", PLUGINS / "big_exception"], LONG)
    mine = _contained("big_exception", res, reference, fault_kinds={"exception"})
    assert len(mine) == LONG
    assert all(len(f["error"]) <= MAX_TEXT + 200 and len(f.get("traceback", "")) <= MAX_TRACEBACK + 64
               for f in mine), max(len(f["error"]) for f in mine)
    _row("big_exception (300,000-character message, every tick)", f"exception fault {len(mine)}/{LONG} ticks, "
         "each cut", f"message schema: message <= {MAX_TEXT}, traceback <= {MAX_TRACEBACK} characters",
         mine[0]["error"][-60:])
