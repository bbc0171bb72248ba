"""Change detection in the world: row ticks, last runs, removal logs, wrap-around, snapshots."""

from __future__ import annotations

import os

import numpy as np
import pytest

from gpi.ecs import CommandBuffer, Component, World
from gpi.ecs.changes import ChangeState, filter_chunks, newer, newer_mask
from gpi.ecs.view import WorldView, layout_segment_ids
from gpi.shm import Segment

P = Component("P", "float32", (2,))
H = Component("H", "int32")
V = Component("V", "float32", (2,))


def make(n: int = 10) -> tuple[World, np.ndarray]:
    w = World(seed=1)
    w.register(P, H, V)
    ids = w.spawn(n, {"P": np.arange(2 * n, dtype=np.float32).reshape(n, 2), "H": 1})
    return w, ids


def changed_ids(w: World, info: dict, *, changed: tuple = ("P",), added: tuple = ()) -> list[int]:
    out = filter_chunks(w.query("P"), changed, added, info["last"], info["this"])
    return sorted(int(e) for fc in out for e in fc.entities)


def test_newer_matches_bevy_rule_across_wrap() -> None:
    m = 0xFFFFFFFF
    assert newer(5, 3, 10) and not newer(3, 3, 10) and not newer(2, 3, 10)
    assert newer(2, m - 1, 4)  # last run before the wrap, change after it
    assert not newer(m - 3, m - 1, 4)
    ticks = np.array([m - 3, m - 1, m, 0, 2, 4], dtype=np.uint32)
    assert newer_mask(ticks, m - 1, 4).tolist() == [newer(int(t), m - 1, 4) for t in ticks]


def test_untracked_world_pays_nothing() -> None:
    w, ids = make()
    before = w.checksum()
    w.set_many("P", ids[:2], 3)
    assert not w.changes.active and w.changes.state_bytes() == b""
    assert all(not t.tracked and not t.added_ticks for t in w.tables)
    assert "ticks" not in w.layout()["tables"][0]
    assert w.checksum() != before  # values still count, ticks add nothing


def test_changed_and_added_since_last_run() -> None:
    w, ids = make()
    w.track_changes("P")
    first = w.begin_system("s")
    assert changed_ids(w, first) == sorted(int(i) for i in ids)  # a first run sees everything
    assert changed_ids(w, w.begin_system("s")) == []
    w.set_many("P", ids[[1, 4]], 7)
    buf = CommandBuffer()
    buf.set("P", ids[[6]], [[1, 1]])
    w.apply(buf)
    info = w.begin_system("s")
    assert changed_ids(w, info) == sorted(int(i) for i in ids[[1, 4, 6]])
    assert changed_ids(w, info, changed=(), added=("P",)) == []
    new = w.spawn(2, {"P": 0})
    w.add_component(ids[[2]], "V", [[1, 2]])  # moving tables keeps P's ticks
    info = w.begin_system("s")
    assert changed_ids(w, info, changed=(), added=("P",)) == sorted(int(i) for i in new)
    assert changed_ids(w, info) == sorted(int(i) for i in new)


def test_set_chunk_and_swap_remove_keep_ticks_with_rows() -> None:
    w, ids = make(100)
    w.track_changes("P")
    w.begin_system("s")
    w.set_many("P", ids[[98, 99]], 5)
    w.despawn(ids[:10])  # tail rows (98, 99) move into the holes
    info = w.begin_system("s")
    assert changed_ids(w, info) == sorted(int(i) for i in ids[[98, 99]])
    ch = w.query("P")[0]
    buf = CommandBuffer()
    buf.set_chunk(ch, "P", np.zeros((len(ch), 2), np.float32))
    w.apply(buf)
    assert len(changed_ids(w, w.begin_system("s"))) == 90


def test_removed_log_sees_despawns_and_removals_once() -> None:
    w, ids = make()
    w.watch_removed("H", "s")
    w.watch_removed("H", "t")
    w.begin_system("s", ["H"])
    w.begin_system("t", ["H"])
    w.despawn(ids[[0]])
    w.remove_component(ids[[3]], "H")
    w.remove_component(ids[[4]], "P")  # not watched
    got = np.frombuffer(w.begin_system("s", ["H"])["removed"]["H"], "<u8")
    assert sorted(got.tolist()) == sorted(int(i) for i in ids[[0, 3]])
    assert w.begin_system("s", ["H"])["removed"]["H"] == b""
    assert len(w.changes.removed["H"]) == 2  # t has not seen them yet
    assert len(np.frombuffer(w.begin_system("t", ["H"])["removed"]["H"], "<u8")) == 2
    assert w.changes.removed["H"] == []  # every watcher saw them: pruned


def test_wrap_around_is_clamped_not_misread() -> None:
    w, ids = make()
    w._changes = ChangeState(check_threshold=8, max_age=0xFFFFFFFF - 15)
    w._changes.tick = 0xFFFFFFFF - 20  # about to wrap
    w.track_changes("P")
    w.begin_system("s")
    w.set_many("P", ids[[1]], 9)
    for _ in range(40):  # wraps past 0; scans clamp the old ticks
        buf = CommandBuffer()
        buf.set("H", ids[[5]], [2])
        w.apply(buf)
    assert w.changes.tick < 100
    info = w.begin_system("s")
    # ids[1]'s change is older than max_age? no: 41 ticks < max_age, still seen; nothing else is
    assert changed_ids(w, info) == [int(ids[1])]
    assert changed_ids(w, w.begin_system("s")) == []
    # rows untouched since before the wrap are clamped, never "new" again
    ages = (np.uint32(w.changes.tick) - w.query("P")[0].ticks("P")).astype(np.int64)
    assert (ages <= w.changes.max_age).all()


def test_snapshot_restore_and_checksum_cover_change_state() -> None:
    w, ids = make()
    w.track_changes("P")
    w.watch_removed("H", "s")
    w.begin_system("s", ["H"])
    w.set_many("P", ids[[2]], 1)
    w.despawn(ids[[7]])
    snap = w.snapshot()
    c0 = w.checksum()
    with World.from_snapshot(snap) as w2:
        assert w2.checksum() == c0
        assert w2.changes.to_state() == w.changes.to_state()
        info_a, info_b = w.begin_system("s", ["H"]), w2.begin_system("s", ["H"])
        assert info_a == info_b
        assert changed_ids(w, info_a) == changed_ids(w2, info_b) == [int(ids[2])]
    assert w.checksum() != c0  # the last run moved: part of the state
    w.restore(snap)
    assert w.checksum() == c0


def test_view_maps_tick_columns_read_only() -> None:
    w, ids = make()
    w.track_changes("P")
    w.begin_system("s")
    w.set_many("P", ids[[3]], 2)
    info = w.begin_system("s")
    layout = w.layout()
    segs = {sid: Segment.attach(os.dup(w.segments()[sid].fd), w.segments()[sid].size, readonly=True)
            for sid in layout_segment_ids(layout)}
    with WorldView.from_layout(layout, segs) as view:
        ticks = view.query("P")[0].ticks("P")
        assert not ticks.flags.writeable
        with pytest.raises(ValueError):
            ticks[0] = 1
        assert changed_ids(view, info) == [int(ids[3])]  # type: ignore[arg-type]
