"""Hypothesis fuzzing of the replay reader: truncated, corrupted and forged files.

A replay can come from anyone (``gpi replay verify downloaded.gpir``). Cut at
any byte, with bytes flipped, or with blocks whose CRC is right but whose
payload is arbitrary msgpack, :meth:`Replay.open` and reading every tick
either work or raise :class:`~gpi.replays.errors.ReplayError`: never another
exception, never a hang. Fixed budget (``max_examples``) so CI stays fast.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path
from typing import Any

import lz4.block
import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpi.replays import Recorder, Replay, ReplayHeader
from gpi.replays.errors import ReplayError
from gpi.replays.format import BLOCK_DATA, BLOCK_HEADER, BLOCK_KEYFRAME

FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                        HealthCheck.too_slow])
plain = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(1 << 63), (1 << 64) - 1), st.floats(), st.text(max_size=20),
              st.binary(max_size=20)),
    lambda inner: st.one_of(st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=8), inner, max_size=5)),
    max_leaves=30)


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("fuzz") / "good.gpir"
    with Recorder(path, ReplayHeader(initial_snapshot=b"s" * 64), keyframe_interval=8, checksum_interval=1,
                  block_max_ticks=5) as rec:
        for t in range(40):
            kf = b"k%d" % t * 10 if rec.keyframe_due(t) else None
            rec.record_tick(t, {"m": [t, 0]} if t % 3 == 0 else {}, (t * 0x9E3779B97F4A7C15) % (1 << 64),
                            keyframe=kf)
    return path.read_bytes()


def _read_all(path: Path) -> None:
    try:
        with Replay.open(path) as rp:
            for rec in rp.iter_ticks():
                assert rec.tick >= rp.start_tick
            if rp.tick_count:
                rp.nearest_keyframe(rp.end_tick - 1)
                rp.input_state_at(rp.end_tick - 1)
            if rp.tail is not None:
                rp.tail.describe()
    except ReplayError:
        pass


@FUZZ
@given(st.data())
def test_cut_or_flipped_files_only_raise_replay_errors(good: bytes, tmp_path: Path, data: st.DataObject) -> None:
    raw = bytearray(good[: data.draw(st.integers(0, len(good)))])
    for _ in range(data.draw(st.integers(0, 6))):
        if raw:
            raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    raw += data.draw(st.binary(max_size=64))
    path = tmp_path / "cut.gpir"
    path.write_bytes(bytes(raw))
    _read_all(path)


def _block(marker: bytes, first: int, count: int, payload: Any) -> bytes:
    raw = msgpack.packb(payload, use_bin_type=True)
    comp = lz4.block.compress(raw, store_size=False)
    tail = struct.pack("<QIQ", first, count, 0)
    crc = zlib.crc32(comp, zlib.crc32(tail))
    return BLOCK_HEADER.pack(marker, len(comp), len(raw), crc, first, count, 0) + comp


@FUZZ
@given(st.data())
def test_forged_blocks_with_good_crcs_only_raise_replay_errors(good: bytes, tmp_path: Path,
                                                               data: st.DataObject) -> None:
    with _open(good, tmp_path) as rp:
        start = rp.data_offset
        first = rp.start_tick
    rows = data.draw(st.lists(st.one_of(plain, st.lists(plain, max_size=6)), min_size=1, max_size=6))
    marker = data.draw(st.sampled_from([BLOCK_DATA, BLOCK_KEYFRAME]))
    count = data.draw(st.sampled_from([len(rows), len(rows) + 1, 0]))
    path = tmp_path / "forged.gpir"
    path.write_bytes(good[:start] + _block(marker, first, count, rows))
    _read_all(path)


def _open(data: bytes, tmp_path: Path) -> Replay:
    path = tmp_path / "base.gpir"
    path.write_bytes(data)
    return Replay.open(path)
