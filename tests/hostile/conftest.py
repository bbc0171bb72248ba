"""Fixtures for the hostile corpus and the outcome table printed at the end of the run."""

from __future__ import annotations

from typing import Any

import hostile_table


def pytest_terminal_summary(terminalreporter: Any) -> None:
    rows = hostile_table.ROWS
    if not rows:
        return
    path = hostile_table.write()
    tr = terminalreporter
    tr.section("hostile plugin corpus: attack, outcome, layer that stopped it")
    wa = max(len(r[0]) for r in rows)
    wo = max(len(r[1]) for r in rows)
    wl = max(len(r[2]) for r in rows)
    tr.write_line(f"{'attack':<{wa}}  {'outcome':<{wo}}  {'stopped by':<{wl}}  reported")
    for attack, outcome, layer, reported in sorted(rows):
        tr.write_line(f"{attack:<{wa}}  {outcome:<{wo}}  {layer:<{wl}}  {reported[:100]}")
    if path is not None:
        tr.write_line(f"(also written to {path})")
