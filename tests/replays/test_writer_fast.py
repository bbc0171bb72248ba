"""The recorder's cheap paths write exactly what the general ones would.

``Recorder.record_quiet`` against ``record_tick``, the lz4 literal run used
for incompressible (keyframe) payloads against the reader, and the exact
value comparison behind the recorder's input cache.
"""

from __future__ import annotations

import math
import os
import random
import struct
import zlib
from pathlib import Path

import lz4.block
import msgpack
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpi.replays import InputState, Recorder, RecordError, Replay, ReplayHeader
from gpi.replays.format import BLOCK_DATA, BLOCK_HEADER, BLOCK_KEYFRAME
from gpi.replays.inputs import apply, diff, identical, same_input_dict
from gpi.replays.writer import block_parts, lz4_literals, pack_block


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 0.001
        return self.now


def _states(n: int, seed: int) -> list[InputState]:
    """A busy input stream; runs of ticks reuse the very same InputState object."""
    rnd = random.Random(seed)
    out: list[InputState] = []
    cur = InputState()
    for _ in range(n):
        r = rnd.random()
        if r < 0.3:
            cur = InputState(
                keys=frozenset(rnd.sample(["a", "b", 7, 9], rnd.randint(0, 3))),
                mouse=(rnd.choice([0.0, -0.0, 1.5, 3]), rnd.choice([0.0, -0.0, 2.0])),
                buttons=frozenset(rnd.sample([1, 2, 3], rnd.randint(0, 2))),
                axes={"x": rnd.choice([0.0, -0.0, 0.5])} if rnd.random() < 0.5 else {},
            )
        elif r < 0.5:  # equal value, new object
            cur = InputState(keys=cur.keys, mouse=cur.mouse, buttons=cur.buttons, axes=cur.axes)
        out.append(cur)
    return out


def _record(path: Path, states: list[InputState], *, quiet: bool, kf: int = 0) -> None:
    header = ReplayHeader(keyframe_interval=kf, checksum_interval=7)
    with Recorder(
        path, header, clock=FakeClock(), wall_clock=lambda: 1.0, block_max_ticks=16
    ) as rec:
        for t, s in enumerate(states):
            checksum = (t * 0x9E3779B97F4A7C15) % (1 << 64)
            if rec.keyframe_due(t):
                rec.record_tick(t, s, checksum, keyframe=b"K%d" % t)
            elif quiet:
                rec.record_quiet(t, s, checksum)
            else:
                rec.record_tick(t, s, checksum)


@pytest.mark.parametrize("kf", [0, 25])
def test_record_quiet_writes_the_same_bytes_as_record_tick(tmp_path: Path, kf: int) -> None:
    states = _states(120, seed=kf)
    _record(tmp_path / "quiet.gpir", states, quiet=True, kf=kf)
    _record(tmp_path / "tick.gpir", states, quiet=False, kf=kf)
    data = (tmp_path / "quiet.gpir").read_bytes()
    assert data == (tmp_path / "tick.gpir").read_bytes()
    with Replay.open(tmp_path / "quiet.gpir") as rp:
        assert rp.complete and rp.tick_count == 120
        for t in (0, 33, 77, 119):
            assert rp.input_state_at(t) == states[t]


def test_record_quiet_checks_like_record_tick(tmp_path: Path) -> None:
    rec = Recorder(tmp_path / "r.gpir", ReplayHeader(keyframe_interval=0))
    rec.record_quiet(0, None, np.uint64(5))  # type: ignore[arg-type]  # numpy ints are fine
    rec.record_quiet(1, {"m": [1.0, 2.0]}, 6)  # type: ignore[arg-type]  # so is a delta map
    with pytest.raises(RecordError, match="expected tick 2"):
        rec.record_quiet(5, None, 1)
    with pytest.raises(RecordError, match="checksum"):
        rec.record_quiet(2, None, -1)
    with pytest.raises(RecordError, match="checksum"):
        rec.record_quiet(2, None, 1.5)  # type: ignore[arg-type]
    with pytest.raises(RecordError, match="input must be"):
        rec.record_quiet(2, {"zz": 1}, 1)  # type: ignore[arg-type]
    rec.record_quiet(2, InputState(keys={"a"}, mouse=(1.0, 2.0)), 7)
    rec.close()
    with pytest.raises(RecordError, match="closed"):
        rec.record_quiet(3, None, 1)
    with Replay.open(tmp_path / "r.gpir") as rp:
        assert [r.input for r in rp.iter_ticks()] == [{}, {"m": [1.0, 2.0]}, {"kd": ["a"]}]
        assert rp.input_state_at(2) == InputState(keys={"a"}, mouse=(1.0, 2.0))


def test_record_quiet_flushes_on_the_time_bound(tmp_path: Path) -> None:
    now = [0.0]
    path = tmp_path / "t.gpir"
    rec = Recorder(path, ReplayHeader(keyframe_interval=0), flush_interval_s=0.5, clock=lambda: now[0])
    for t in range(10):
        rec.record_quiet(t, InputState(mouse=(t, 0)), t)
        now[0] += 0.1  # 10 Hz: the host fell behind the 60 Hz block length
    assert rec.blocks_written == 1 and rec.buffered_ticks == 4
    with Replay.open(path) as rp:  # on disk already: a crash now loses only the buffered ticks
        assert rp.tick_count == 6 and not rp.complete
    rec.close()
    with Replay.open(path) as rp:
        assert rp.tick_count == 10 and rp.complete and rp.final_chain == rec.chain


@pytest.mark.parametrize("n", [0, 1, 14, 15, 16, 269, 270, 271, 524, 525, 526, 70_000])
def test_lz4_literals_round_trip_at_length_boundaries(n: int) -> None:
    raw = os.urandom(n)
    assert lz4.block.decompress(lz4_literals(raw), uncompressed_size=n) == raw


@settings(max_examples=40, deadline=None)
@given(st.binary(max_size=3000))
def test_lz4_literals_round_trip(raw: bytes) -> None:
    assert lz4.block.decompress(lz4_literals(raw), uncompressed_size=len(raw)) == raw


def _payload_size(block: bytes) -> tuple[int, int]:
    _, clen, rlen, crc, *_ = BLOCK_HEADER.unpack(block[: BLOCK_HEADER.size])
    body = block[BLOCK_HEADER.size :]
    assert len(body) == clen
    assert zlib.crc32(body, zlib.crc32(block[16 : BLOCK_HEADER.size])) == crc
    return clen, rlen


def test_block_parts_join_to_pack_block() -> None:
    for payload in ([None, [{"m": [1.0, 2.0]}]], [[None, 5, None, None, os.urandom(100_000)]], []):
        parts = block_parts(BLOCK_DATA, 10, 2, 99, payload)
        block = b"".join(parts)
        assert block == pack_block(BLOCK_DATA, 10, 2, 99, payload)
        clen, rlen = _payload_size(block)
        raw = lz4.block.decompress(block[BLOCK_HEADER.size :], uncompressed_size=rlen)
        assert msgpack.unpackb(raw) == payload


def test_incompressible_payload_is_a_literal_run_and_compressible_one_is_compressed() -> None:
    noise = os.urandom(200_000)
    clen, rlen = _payload_size(pack_block(BLOCK_KEYFRAME, 0, 1, 0, [[None, 1, None, None, noise]]))
    assert rlen > 200_000 and clen == len(lz4_literals(b"x" * rlen))  # no match search, no saving
    zeros = bytes(200_000)
    clen, rlen = _payload_size(pack_block(BLOCK_KEYFRAME, 0, 1, 0, [[None, 1, None, None, zeros]]))
    assert rlen > 200_000 and clen < 5_000


def test_big_keyframes_read_back(tmp_path: Path) -> None:
    frames = {5: os.urandom(150_000), 10: bytes(90_000) + os.urandom(90_000)}
    path = tmp_path / "k.gpir"
    with Recorder(path, ReplayHeader(keyframe_interval=5), block_max_ticks=5) as rec:
        for t in range(14):
            rec.record_tick(t, InputState(mouse=(t, 0)), t + 1, keyframe=frames.get(t))
    with Replay.open(path, strict=True) as rp:
        assert rp.complete and rp.keyframe_ticks == [5, 10]
        for t, data in frames.items():
            assert rp.nearest_keyframe(t) == (t, data)
        assert rp.input_state_at(13) == InputState(mouse=(13, 0))


def test_identical_tells_what_equality_does_not() -> None:
    nan = float("nan")
    assert identical({"a": [1, 2.5, "x", None, b"q"]}, {"a": [1, 2.5, "x", None, b"q"]})
    assert identical(nan, float("nan")) and identical([nan], [nan])
    assert not identical(0.0, -0.0) and not identical([0.0], [-0.0])
    assert not identical(1, 1.0) and not identical(True, 1) and not identical(1, True)
    assert not identical([1, 2], (1, 2)) and not identical([1, 2], [1, 2, 3])
    assert not identical({"a": 1}, {"b": 1}) and not identical({"a": 1}, {"a": 1, "b": 2})
    assert not identical({1, 2}, {1, 2})  # sets are never taken as identical (not cached)


def test_same_input_dict() -> None:
    s = InputState(keys={"b", 3, "a"}, mouse=(1.0, -0.0), buttons={2}, axes={"y": 0.5, "x": 0.0})
    known = s.to_dict()
    assert same_input_dict(InputState.from_dict(known).to_dict(), known)
    assert same_input_dict({**known, "extra": 1}, known)
    assert not same_input_dict({**known, "mouse": [1.0, 0.0]}, known)
    assert not same_input_dict({**known, "mouse": [1, -0.0]}, known)
    assert not same_input_dict({**known, "axes": {"y": 0.5, "x": -0.0}}, known)
    assert not same_input_dict({k: v for k, v in known.items() if k != "buttons"}, known)
    assert not same_input_dict({**known, "keys": list(reversed(known["keys"]))}, known)


_floats = st.sampled_from([0.0, -0.0, 1.0, 0, float("nan"), 2.5])
_state = st.builds(
    InputState,
    keys=st.frozensets(st.sampled_from(["a", "b", 1, 2]), max_size=3),
    mouse=st.tuples(_floats, _floats),
    buttons=st.frozensets(st.sampled_from([1, 2, 3]), max_size=2),
    axes=st.dictionaries(st.sampled_from(["x", "y"]), _floats, max_size=2),
)


@settings(max_examples=60, deadline=None)
@given(_state, _state)
def test_diff_apply_round_trip_keeps_signs(prev: InputState, cur: InputState) -> None:
    got = apply(prev, diff(prev, cur))
    values = [*zip(got.mouse, cur.mouse), *((got.axes.get(k), v) for k, v in cur.axes.items())]
    assert got.keys == cur.keys and got.buttons == cur.buttons and got.axes.keys() == cur.axes.keys()
    for a, b in values:  # equal, with the sign of a zero kept (NaN stays NaN)
        assert (a != a and b != b) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    assert diff(cur, cur) == {}


def test_block_header_layout_unchanged() -> None:
    block = pack_block(BLOCK_DATA, 3, 0, 7, None)
    assert block[:4] == BLOCK_DATA and struct.unpack_from("<Q", block, 16)[0] == 3
