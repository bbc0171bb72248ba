"""Snapshot bytes: a body hash instead of the lz4 content checksum, old snapshots still load, sizes checked first."""

from __future__ import annotations

import struct

import lz4.frame
import msgpack
import numpy as np
import pytest

from gpi.ecs import Component, SnapshotError, World
from gpi.ecs.snapshot import FLAG_BODY_HASH, FORMAT_VERSION, MAGIC, parse_snapshot

_HEADER = struct.Struct("<8sIIQQ")
_CONTENT_CHECKSUM_FLAG = 0x04  # bit 2 of the lz4 frame's FLG byte


def _world() -> World:
    w = World(seed=4)
    w.register(Component("Position", "float32", (2,)), Component("Health", "int32"),
               Component("Pair", np.dtype([("a", "<u2"), ("b", "<f8")])))
    ids = w.spawn(200, {"Position": np.random.default_rng(1).random((200, 2)), "Health": np.arange(200)})
    w.spawn(5, {"Pair": np.zeros(5, dtype=[("a", "<u2"), ("b", "<f8")]), "Health": 3})
    w.despawn(ids[::9])
    w.insert_resource("cfg", {"speed": [1, 2.5]})
    w.send_event("hit", {"x": 1})
    return w


def _flags(snap: bytes) -> int:
    frame = snap[_HEADER.size:]
    assert frame[:4] == b"\x04\x22\x4d\x18"  # lz4 frame magic
    return frame[4]


def _old_style(snap: bytes) -> bytes:
    """The same snapshot as the previous writer made it: lz4 content checksum on, arrays via tobytes()."""
    checksum, body = parse_snapshot(snap)
    compressed = lz4.frame.compress(msgpack.packb(body, use_bin_type=True), content_checksum=True)
    return _HEADER.pack(MAGIC, FORMAT_VERSION, 0, checksum, len(compressed)) + compressed


def test_no_content_checksum_and_same_body_as_before() -> None:
    with _world() as w:
        snap = w.snapshot()
        assert not _flags(snap) & _CONTENT_CHECKSUM_FLAG
        old = _old_style(snap)
        assert _flags(old) & _CONTENT_CHECKSUM_FLAG
        # the body is what the old writer packed (astype(...).tobytes() per array)
        ent = w.storage.entities
        n = ent.count
        _, body = parse_snapshot(snap)
        assert body["entities"]["generation"] == ent.generation[:n].astype("<u4").tobytes()
        assert body["entities"]["free"] == ent.free.astype("<i8").tobytes()
        for t, te in zip(w.tables, body["tables"]):
            assert te["entities"] == t.entities[: t.rows].tobytes()
            assert te["columns"] == {name: t.columns[name][: t.rows].tobytes() for name in t.names}


def test_old_snapshots_with_a_content_checksum_still_load() -> None:
    with _world() as w:
        old = _old_style(w.snapshot())
        with World.from_snapshot(old) as c:
            assert c.checksum() == w.checksum()
        w.spawn(3, {"Health": 1})
        w.restore(old)
        with World.from_snapshot(w.snapshot()) as c:
            assert c.checksum() == w.checksum()


def test_every_damaged_byte_is_refused_and_the_world_kept() -> None:
    # The body hash catches a flip anywhere in the body or in the hash itself, including what the
    # world checksum does not cover (events, seed, epoch); header flips fail their own checks.
    with _world() as w:
        snap = w.snapshot()
        before = w.checksum()
        for at in sorted({*range(0, _HEADER.size), *range(_HEADER.size, len(snap), max(1, len(snap) // 80)),
                          *range(len(snap) - 8, len(snap))}):
            bad = bytearray(snap)
            bad[at] ^= 0x10
            with pytest.raises(SnapshotError):
                World.from_snapshot(bytes(bad))
            with pytest.raises(SnapshotError):
                w.restore(bytes(bad))
            assert w.checksum() == before
        for cut in (snap[:-1], snap[:-8], snap + b"\0"):
            with pytest.raises(SnapshotError, match="truncated or padded"):
                World.from_snapshot(cut)


def test_a_change_the_world_checksum_cannot_see_is_caught_by_the_body_hash() -> None:
    with _world() as w:
        snap = w.snapshot()
        checksum, body = parse_snapshot(snap)
        payload = lz4.frame.compress(msgpack.packb(dict(body, seed=body["seed"] + 1), use_bin_type=True))
        unhashed = _HEADER.pack(MAGIC, FORMAT_VERSION, 0, checksum, len(payload)) + payload
        with World.from_snapshot(unhashed) as c:  # a flags-0 snapshot has only the world checksum...
            assert c.seed == w.seed + 1
        forged = _HEADER.pack(MAGIC, FORMAT_VERSION, FLAG_BODY_HASH, checksum, len(payload)) + payload + snap[-8:]
        with pytest.raises(SnapshotError, match="xxh64"):  # ...a hashed one refuses the same change
            World.from_snapshot(forged)


def test_sizes_are_checked_before_allocating() -> None:
    with _world() as w:
        checksum, body = parse_snapshot(w.snapshot())
    huge = dict(body)
    huge["entities"] = dict(body["entities"], count=1 << 40)  # would ask for terabytes
    for bad in (huge, dict(body, tables=[dict(body["tables"][0], rows=1 << 40)] + body["tables"][1:])):
        payload = lz4.frame.compress(msgpack.packb(bad, use_bin_type=True))
        data = _HEADER.pack(MAGIC, FORMAT_VERSION, 0, checksum, len(payload)) + payload
        with pytest.raises(SnapshotError, match="corrupt"):
            World.from_snapshot(data)


def test_every_kind_of_dtype_round_trips() -> None:
    kinds = {"When": ("datetime64[ms]", ()), "Span": ("timedelta64[s]", ()), "Big": (">f4", (2,)),
             "Half": ("float16", ()), "Cplx": ("complex128", ()), "Name": ("U3", ()), "Flag": ("bool", ())}
    with World() as w:
        w.register(*(Component(name, dt, shape) for name, (dt, shape) in kinds.items()))
        w.spawn(4, {"When": np.arange(4).astype("datetime64[ms]"), "Span": np.arange(4).astype("timedelta64[s]"),
                    "Big": np.arange(8.0).reshape(4, 2), "Half": 1.5, "Cplx": 1 + 2j, "Name": "abc", "Flag": True})
        with World.from_snapshot(w.snapshot()) as c:
            assert c.checksum() == w.checksum()
            (chunk,) = c.query("When", "Name")
            assert list(chunk["Name"]) == ["abc"] * 4


def test_snapshot_of_memoryview_and_bytearray_input() -> None:
    with _world() as w:
        snap = w.snapshot()
        for data in (bytearray(snap), memoryview(snap)):
            with World.from_snapshot(data) as c:  # type: ignore[arg-type]
                assert c.checksum() == w.checksum()
