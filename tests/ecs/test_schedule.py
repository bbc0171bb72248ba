"""Schedule: stages, before/after, group edges, wave packing, determinism."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpi.ecs.schedule import STAGES, Schedule, ScheduleError, SystemDecl, conflicts


def decl(key: str, **kw: object) -> SystemDecl:
    group = key.split(".")[0] if "." in key else ""
    kw.setdefault("group", group)
    return SystemDecl(key, **kw)  # type: ignore[arg-type]


def test_stages_run_in_fixed_order() -> None:
    s = Schedule.build([decl("a.r", stage="render"), decl("a.i", stage="input"), decl("a.u")])
    assert s.order() == ["a.i", "a.u", "a.r"]
    assert list(s.stages) == list(STAGES)


def test_unknown_stage_is_a_clear_error() -> None:
    with pytest.raises(ScheduleError, match="unknown stage 'physics'"):
        Schedule.build([decl("a.x", stage="physics")])


def test_duplicate_key_is_an_error() -> None:
    with pytest.raises(ScheduleError, match="declared twice"):
        Schedule.build([decl("a.x"), decl("a.x")])


def test_independent_systems_share_a_wave() -> None:
    s = Schedule.build([decl("a.x", writes={"A"}), decl("b.y", writes={"B"}), decl("c.z", reads={"C"})])
    assert s.stages["update"] == [["a.x", "b.y", "c.z"]]


def test_write_read_conflict_splits_waves_in_registration_order() -> None:
    s = Schedule.build([decl("a.move", writes={"Pos"}, reads={"Vel"}), decl("b.draw", reads={"Pos"})])
    assert s.stages["update"] == [["a.move"], ["b.draw"]]


def test_before_after_edges_and_name_resolution() -> None:
    systems = [
        decl("b.draw", reads={"Pos"}),
        decl("a.move", writes={"Pos"}, before=("draw",)),
        decl("c.log", after=("a",)),  # a whole group
    ]
    s = Schedule.build(systems)
    order = s.order()
    assert order.index("a.move") < order.index("b.draw")
    assert order.index("a.move") < order.index("c.log")
    assert s.predecessors("c.log") == {"a.move"}


def test_cycle_names_the_systems() -> None:
    with pytest.raises(ScheduleError, match="cycle.*a.x.*b.y"):
        Schedule.build([decl("a.x", after=("b.y",)), decl("b.y", after=("a.x",))])


def test_unknown_reference_is_a_warning_not_an_error() -> None:
    s = Schedule.build([decl("a.x", after=("ghost",))])
    assert s.order() == ["a.x"]
    assert any("ghost" in w for w in s.warnings)


def test_group_dependencies_order_plugins_softly() -> None:
    # b depends on a: b's systems run after a's, even though b registered first.
    s = Schedule.build([decl("b.y"), decl("a.x")], group_deps={"b": ["a"]})
    assert s.stages["update"] == [["a.x"], ["b.y"]]
    # An explicit edge the other way wins; the soft edge is dropped, no cycle error.
    s2 = Schedule.build([decl("b.y", before=("a.x",)), decl("a.x")], group_deps={"b": ["a"]})
    assert s2.order() == ["b.y", "a.x"]


def test_structural_systems_run_alone() -> None:
    s = Schedule.build([decl("a.x", writes={"A"}), decl("s.spawn", structural=True), decl("b.y", writes={"B"})])
    waves = s.stages["update"]
    assert ["s.spawn"] in waves
    assert all(len(w) == 1 or "s.spawn" not in w for w in waves)


def test_resources_and_events_conflict() -> None:
    assert conflicts(decl("a.x", resources={"Score"}), decl("b.y", resources={"Score"}))
    assert conflicts(decl("a.x", events={"Hit"}), decl("b.y", events={"Hit"}))
    assert not conflicts(decl("a.x", reads={"P"}), decl("b.y", reads={"P"}))


def test_max_wave_size_one_is_serial_with_same_order() -> None:
    systems = [decl(f"p.s{i}", writes={f"C{i}"}) for i in range(5)]
    par = Schedule.build(systems)
    ser = Schedule.build(systems, max_wave_size=1)
    assert len(par.stages["update"]) == 1
    assert all(len(w) == 1 for w in ser.stages["update"])
    assert par.order() == ser.order()


COMPS = ["A", "B", "C", "D"]


@st.composite
def system_sets(draw: st.DrawFn) -> list[SystemDecl]:
    n = draw(st.integers(1, 8))
    out = []
    for i in range(n):
        after = tuple(f"g.s{j}" for j in range(i) if draw(st.booleans()) and draw(st.booleans()))
        out.append(
            SystemDecl(
                f"g.s{i}",
                stage=draw(st.sampled_from(["update", "post_update"])),
                reads=frozenset(draw(st.sets(st.sampled_from(COMPS), max_size=2))),
                writes=frozenset(draw(st.sets(st.sampled_from(COMPS), max_size=1))),
                structural=draw(st.integers(0, 9)) == 0,
                after=after,
                group="g",
            )
        )
    return out


@settings(max_examples=60, deadline=None)
@given(system_sets(), st.sampled_from([None, 1, 2]))
def test_waves_respect_edges_and_conflicts(systems: list[SystemDecl], cap: int | None) -> None:
    s = Schedule.build(systems, max_wave_size=cap)
    assert sorted(s.order()) == sorted(x.key for x in systems)
    assert Schedule.build(systems, max_wave_size=cap).stages == s.stages  # deterministic
    by_key = {x.key: x for x in systems}
    for stage in STAGES:
        wave_of = {k: i for i, w in enumerate(s.stages[stage]) for k in w}
        for wave in s.stages[stage]:
            if cap is not None:
                assert len(wave) <= cap
            for i, a in enumerate(wave):
                for b in wave[i + 1:]:
                    assert not conflicts(by_key[a], by_key[b])
        for k in wave_of:
            for p in s.predecessors(k):
                assert wave_of[p] < wave_of[k]


def test_unknown_reference_says_did_you_mean() -> None:
    s = Schedule.build([decl("game.spawn_wave"), decl("game.move", after=("spawn_wav",), before=("zzz",))])
    assert any("after='spawn_wav' matches no system; ignored (did you mean 'spawn_wave'" in w
               for w in s.warnings), s.warnings
    assert any("before='zzz' matches no system; ignored" in w and "did you mean" not in w for w in s.warnings)
