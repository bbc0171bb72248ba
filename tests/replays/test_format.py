"""The .gpir format: round trips, the keyframe index, and damaged files."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from replay_testsim import ToySim, record_run, scripted_input

import gpi
from gpi.replays import (
    CorruptBlockError,
    HeaderError,
    PluginMismatchError,
    Replay,
    ReplayError,
    ReplayFormatError,
    ReplayHeader,
    ReplayVersionError,
    SeekError,
    TruncatedReplayError,
    apply_input,
    check_plugins,
)
from gpi.replays.format import BLOCK_HEADER, FILE_HEADER, FORMAT_VERSION
from gpi.replays.inputs import EMPTY_INPUT


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[int]]:
    path = tmp_path_factory.mktemp("fmt") / "run.gpir"
    sums = record_run(
        path,
        300,
        keyframe_interval=40,
        checksum_interval=1,
        block_max_ticks=25,
        faults=lambda t: [{"kind": "skipped", "plugin": "p", "system": "move"}] if t == 33 else [],
    )
    return path, sums


def test_round_trip(sample: tuple[Path, list[int]]) -> None:
    path, sums = sample
    with Replay.open(path) as rp:
        h = rp.header
        assert h.engine_version == gpi.__version__ and h.abi_version == gpi.ABI_VERSION
        assert h.seed == 7 and h.tick_rate == 60.0 and h.keyframe_interval == 40
        assert h.initial_snapshot == ToySim().snapshot()
        assert rp.complete and rp.tail is None
        assert rp.tick_count == 300 and rp.last_tick == 299
        state = EMPTY_INPUT
        for rec in rp.iter_ticks():
            state = apply_input(state, rec.input)
            assert state == scripted_input(rec.tick)
            assert rec.checksum == sums[rec.tick]
        assert rp.record(33).faults == ({"kind": "skipped", "plugin": "p", "system": "move"},)
        assert rp.keyframe_ticks == list(range(40, 300, 40))
        assert all(rp.record(k).keyframe for k in rp.keyframe_ticks)
        assert rp.nearest_keyframe(100)[0] == 80
        assert rp.nearest_keyframe(40)[0] == 40
        assert rp.nearest_keyframe(39) == (-1, h.initial_snapshot)
        assert rp.input_state_at(123) == scripted_input(123)
        assert [r.tick for r in rp.iter_ticks(98, 103)] == [98, 99, 100, 101, 102]
        with pytest.raises(SeekError, match="outside"):
            rp.record(300)


def test_sparse_checksums_keep_checkpoints_and_keyframes(tmp_path: Path) -> None:
    path = tmp_path / "sparse.gpir"
    sums = record_run(path, 200, keyframe_interval=64, checksum_interval=60, block_max_ticks=30)
    with Replay.open(path) as rp:
        stored = {r.tick for r in rp.iter_ticks() if r.checksum is not None}
        assert stored == {59, 119, 179} | set(rp.keyframe_ticks)
        assert all(rp.record(t).checksum == sums[t] for t in stored)
        assert rp.header.checksum_interval == 60


def test_default_is_chain_only_with_aligned_blocks(tmp_path: Path) -> None:
    h = ReplayHeader(tick_rate=60)
    assert h.checksum_interval == 0 and not h.is_checkpoint(59)
    path = tmp_path / "default.gpir"
    record_run(path, 250, keyframe_interval=120, checksum_interval=0, clock=lambda: 0.0)
    with Replay.open(path) as rp:
        # blocks end on multiples of 60 ticks; keyframes (every 120) open blocks
        assert [(b.first_tick, b.count) for b in rp.blocks] == [
            (0, 60),
            (60, 60),
            (120, 60),
            (180, 60),
            (240, 10),
        ]
        assert {r.tick for r in rp if r.checksum is not None} == {120, 240}


def _damaged(tmp_path: Path, data: bytes, name: str = "bad.gpir") -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


def test_bad_magic_garbage_and_empty(tmp_path: Path) -> None:
    with pytest.raises(ReplayFormatError, match="not a GPI replay"):
        Replay.open(_damaged(tmp_path, b"PK\x03\x04" + b"\0" * 100))
    with pytest.raises(ReplayFormatError, match="not a GPI replay"):
        Replay.open(_damaged(tmp_path, bytes(range(256)) * 4))
    with pytest.raises(TruncatedReplayError):
        Replay.open(_damaged(tmp_path, b""))
    with pytest.raises(TruncatedReplayError):
        Replay.open(_damaged(tmp_path, b"GPIR\x01"))


def test_wrong_version_says_found_and_expected(
    sample: tuple[Path, list[int]], tmp_path: Path
) -> None:
    data = bytearray(sample[0].read_bytes())
    struct.pack_into("<H", data, 4, FORMAT_VERSION + 6)
    with pytest.raises(ReplayVersionError) as ei:
        Replay.open(_damaged(tmp_path, bytes(data)))
    assert ei.value.found == FORMAT_VERSION + 6 and ei.value.expected == FORMAT_VERSION
    assert f"version {FORMAT_VERSION + 6} found" in str(ei.value)
    assert f"reads version {FORMAT_VERSION}" in str(ei.value)


def test_bit_flipped_header(sample: tuple[Path, list[int]], tmp_path: Path) -> None:
    data = bytearray(sample[0].read_bytes())
    data[FILE_HEADER.size + 5] ^= 0x10
    with pytest.raises(HeaderError, match="checksum mismatch"):
        Replay.open(_damaged(tmp_path, bytes(data)))


def test_truncated_tail_reports_where(sample: tuple[Path, list[int]], tmp_path: Path) -> None:
    data = sample[0].read_bytes()
    with Replay.open(sample[0]) as full:
        b5 = full.blocks[5]
    cut = _damaged(tmp_path, data[: b5.offset + BLOCK_HEADER.size + 3])
    with Replay.open(cut) as rp:
        assert rp.tick_count == b5.first_tick and not rp.complete
        assert rp.tail is not None and rp.tail.kind == "truncated"
        assert (rp.tail.block_index, rp.tail.offset, rp.tail.tick) == (5, b5.offset, b5.first_tick)
        assert "block 5" in rp.tail.describe()
    with pytest.raises(CorruptBlockError) as ei:
        Replay.open(cut, strict=True)
    assert (ei.value.block_index, ei.value.tick) == (5, b5.first_tick)


def test_cut_at_block_boundary_is_readable_but_incomplete(
    sample: tuple[Path, list[int]], tmp_path: Path
) -> None:
    with Replay.open(sample[0]) as full:
        b = full.blocks[3]
    cut = _damaged(tmp_path, sample[0].read_bytes()[: b.offset])
    with Replay.open(cut) as rp:
        assert rp.tick_count == b.first_tick and rp.tail is None and not rp.complete


def test_bit_flipped_block_stops_there(sample: tuple[Path, list[int]], tmp_path: Path) -> None:
    data = bytearray(sample[0].read_bytes())
    with Replay.open(sample[0]) as full:
        b = full.blocks[4]
    data[b.offset + BLOCK_HEADER.size + 2] ^= 0x01
    with Replay.open(_damaged(tmp_path, bytes(data))) as rp:
        assert rp.tail is not None and rp.tail.kind == "corrupt" and "CRC" in rp.tail.reason
        assert rp.tail.block_index == 4 and rp.tail.tick == b.first_tick
        assert rp.tick_count == b.first_tick


def test_trailing_garbage_after_end_block(sample: tuple[Path, list[int]], tmp_path: Path) -> None:
    p = _damaged(tmp_path, sample[0].read_bytes() + b"junk")
    with Replay.open(p) as rp:
        assert rp.complete and rp.tick_count == 300
        assert rp.tail is not None and rp.tail.kind == "trailing"


def test_close_twice(sample: tuple[Path, list[int]]) -> None:
    rp = Replay.open(sample[0])
    rp.close()
    rp.close()


def test_check_plugins_names_plugin_and_both_hashes() -> None:
    h = ReplayHeader(plugins=({"name": "boids", "version": "1.0", "content_hash": "aaa"},))
    assert check_plugins(h, [{"name": "boids", "version": "1.0", "content_hash": "aaa"}]) == []
    loaded = [{"name": "boids", "version": "1.1", "content_hash": "bbb"}]
    with pytest.raises(PluginMismatchError, match="'boids'.*aaa.*bbb"):
        check_plugins(h, loaded)
    assert len(check_plugins(h, loaded, force=True)) == 1


@pytest.fixture(scope="module")
def fuzz_base(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("fuzz") / "f.gpir"
    record_run(path, 120, keyframe_interval=30, checksum_interval=10, block_max_ticks=16)
    return path.read_bytes()


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_fuzz_truncations_and_bit_flips(
    fuzz_base: bytes, tmp_path: Path, data: st.DataObject
) -> None:
    buf = bytearray(fuzz_base)
    cut = data.draw(st.integers(0, len(buf)), label="cut")
    flips = data.draw(st.lists(st.integers(0, len(buf) * 8 - 1), max_size=3), label="flips")
    for bit in flips:
        buf[bit // 8] ^= 1 << (bit % 8)
    del buf[cut:]
    p = tmp_path / "fuzz.gpir"
    p.write_bytes(bytes(buf))
    try:
        rp = Replay.open(p)
    except ReplayError:
        return  # a clear error is an allowed outcome
    with rp:
        ticks = [r.tick for r in rp.iter_ticks()]
        assert ticks == list(range(rp.start_tick, rp.end_tick))
        intact = not flips and cut == len(fuzz_base)
        if intact:
            assert rp.complete and rp.tick_count == 120
        elif rp.tick_count < 120:
            assert rp.tail is not None or not rp.complete
