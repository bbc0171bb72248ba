"""Per-call records: the same fields and statuses on every path, the same in both isolation modes."""

from __future__ import annotations

from pathlib import Path

import pytest

from gpi.ecs import World
from gpi.plugins.host import RECORD_FIELDS, PluginHost

ROOT = Path(__file__).resolve().parents[2]
EX = ROOT / "examples" / "plugins"
FIX = Path(__file__).parent / "fixtures"
TICKS = 4

pytestmark = pytest.mark.subprocess


def run(isolation: str) -> tuple[list[dict], list[dict], list[int]]:
    records: list[dict] = []
    with World(seed=11) as world, PluginHost(world, isolation=isolation, sandbox=False) as host:
        host.on_call_record(records.append)
        host.load(EX / "movement", EX / "spawner", FIX / "rogue", FIX / "raiser", FIX / "noop")
        world.insert_resource("population", 50)
        sums = []
        for _ in range(TICKS):
            report = host.tick()
            assert set(report.ran) >= {"noop.nothing", "movement.integrate"}
            sums.append(world.checksum())
        return records, list(host.faults), sums


@pytest.fixture(scope="module")
def both() -> dict[str, tuple[list[dict], list[dict], list[int]]]:
    return {iso: run(iso) for iso in ("none", "process")}


@pytest.mark.parametrize("isolation", ["none", "process"])
def test_every_record_has_exactly_the_documented_fields(both: dict, isolation: str) -> None:
    records, _, _ = both[isolation]
    assert records
    for rec in records:
        assert tuple(rec) == RECORD_FIELDS
        assert rec["status"] in ("ok", "rejected", "error", "skipped")
        assert (rec["error"] is None) == (rec["status"] == "ok")
        assert rec["ipc_ns"] == max(0, rec["host_ns"] - rec["child_ns"])


@pytest.mark.parametrize("isolation", ["none", "process"])
def test_statuses_name_what_happened(both: dict, isolation: str) -> None:
    records, faults, _ = both[isolation]
    by = {(r["tick"], r["plugin"], r["system"]): r for r in records}
    assert by[(2, "raiser", "flaky")]["status"] == "error"
    assert "boom at tick 2" in by[(2, "raiser", "flaky")]["error"]
    assert by[(1, "raiser", "flaky")]["status"] == "ok"
    assert by[(1, "rogue", "malformed")]["status"] == "rejected"
    integrate = by[(1, "movement", "integrate")]
    assert integrate["status"] == "ok" and integrate["ops"] >= 1 and integrate["cmd_bytes"] > 0
    assert integrate["apply_ns"] > 0
    nothing = by[(1, "noop", "nothing")]
    assert nothing["status"] == "ok" and nothing["ops"] == 0 and nothing["cmd_bytes"] == 0
    kinds = {(f["plugin"], f["kind"]) for f in faults}
    assert ("raiser", "exception") in kinds and ("rogue", "rejected") in kinds


def test_both_isolation_modes_agree_on_records_and_world(both: dict) -> None:
    def key(recs: list[dict]) -> list[tuple]:
        return [(r["tick"], r["plugin"], r["system"], r["stage"], r["wave"], r["status"], r["ops"],
                 r["cmd_bytes"]) for r in recs]

    none, process = both["none"], both["process"]
    assert key(none[0]) == key(process[0])
    assert none[2] == process[2]
