"""Recorder flush policy (driven by a fake clock), argument checks and closing."""

from __future__ import annotations

from pathlib import Path

import pytest

from gpi.replays import InputState, Recorder, RecordError, Replay, ReplayHeader


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_time_bound_flush(tmp_path: Path) -> None:
    clock = FakeClock()
    path = tmp_path / "r.gpir"
    rec = Recorder(path, ReplayHeader(), flush_interval_s=0.5, clock=clock, keyframe_interval=0)
    for t in range(10):
        rec.record_tick(t, {}, t)
        clock.now += 0.1  # 10 Hz fake time
    # ticks 0..5 span 0.5 s: the sixth record hits the deadline and flushes the block
    assert rec.blocks_written == 1 and rec.buffered_ticks == 4
    with Replay.open(path) as rp:
        assert rp.tick_count == 6 and not rp.complete
    rec.flush()
    assert rec.buffered_ticks == 0
    rec.close()
    rec.close()
    with Replay.open(path) as rp:
        assert rp.tick_count == 10 and rp.complete
        assert rp.final_chain == rec.chain


def test_block_max_ticks_and_keyframes_open_blocks(tmp_path: Path) -> None:
    path = tmp_path / "r.gpir"
    with Recorder(
        path, ReplayHeader(), flush_interval_s=1e9, block_max_ticks=8, keyframe_interval=5
    ) as rec:
        for t in range(20):
            rec.record_tick(t, {}, 1000 + t, keyframe=b"kf" if rec.keyframe_due(t) else None)
    with Replay.open(path) as rp:
        # blocks end after multiples of 8 ticks, and every keyframe opens one
        assert [(b.first_tick, b.count, b.keyframe) for b in rp.blocks] == [
            (0, 5, False),
            (5, 3, True),
            (8, 2, False),
            (10, 5, True),
            (15, 1, True),
            (16, 4, False),
        ]
        assert rp.keyframe_ticks == [5, 10, 15]


def test_input_state_or_delta(tmp_path: Path) -> None:
    path = tmp_path / "r.gpir"
    with Recorder(path, ReplayHeader(), keyframe_interval=0) as rec:
        rec.record_tick(0, InputState(keys={"a"}), 1)
        rec.record_tick(1, {"ku": ["a"], "m": [3, 4]}, 2)
        rec.record_tick(2, InputState(mouse=(3, 4)), 3)
        rec.record_tick(3, None, 4)
    with Replay.open(path) as rp:
        assert [r.input for r in rp] == [{"kd": ["a"]}, {"ku": ["a"], "m": [3, 4]}, {}, {}]
        assert rp.input_state_at(3) == InputState(mouse=(3, 4))


def test_misuse_is_a_clear_error(tmp_path: Path) -> None:
    rec = Recorder(tmp_path / "r.gpir", ReplayHeader(start_tick=10))
    with pytest.raises(RecordError, match="expected tick 10, got 11"):
        rec.record_tick(11, {}, 0)
    with pytest.raises(RecordError, match="checksum"):
        rec.record_tick(10, {}, -1)
    with pytest.raises(RecordError, match="checksum"):
        rec.record_tick(10, {}, 1 << 64)
    with pytest.raises(RecordError, match="kind"):
        rec.record_tick(10, {}, 0, faults=[{"kind": "exploded"}])
    rec.record_tick(10, {}, 0)
    rec.close()
    with pytest.raises(RecordError, match="closed"):
        rec.record_tick(11, {}, 0)


def test_fsync_and_start_tick(tmp_path: Path) -> None:
    path = tmp_path / "r.gpir"
    with Recorder(path, ReplayHeader(start_tick=500), fsync=True, block_max_ticks=2) as rec:
        for t in range(500, 505):
            rec.record_tick(t, {}, t)
    with Replay.open(path) as rp:
        assert [r.tick for r in rp] == list(range(500, 505))
        assert rp.nearest_keyframe(499)[0] == 499


def test_idle_ticks_are_tiny(tmp_path: Path) -> None:
    path = tmp_path / "idle.gpir"
    with Recorder(
        path, ReplayHeader(), keyframe_interval=0, block_max_ticks=60, flush_interval_s=1e9
    ) as rec:
        for t in range(600):
            rec.record_tick(t, {}, (t * 0x9E3779B97F4A7C15) % (1 << 64))
    with Replay.open(path) as rp:
        # 10 s of idle 60 Hz ticks, one checkpoint per second: well under 64 B/s
        assert rp.data_bytes / 10 < 64


def test_empty_recording_and_numpy_checksums(tmp_path: Path) -> None:
    import numpy as np

    empty = tmp_path / "empty.gpir"
    Recorder(empty, ReplayHeader(initial_snapshot=b"s")).close()
    with Replay.open(empty) as rp:
        assert rp.tick_count == 0 and rp.complete and rp.last_tick is None
        assert list(rp) == [] and rp.nearest_keyframe(-1) == (-1, b"s")
    path = tmp_path / "np.gpir"
    with Recorder(path, ReplayHeader(), checksum_interval=1) as rec:
        rec.record_tick(0, {}, np.uint64(2**64 - 1))
        with pytest.raises(RecordError, match="checksum"):
            rec.record_tick(1, {}, True)  # type: ignore[arg-type]
        with pytest.raises(RecordError, match="checksum"):
            rec.record_tick(1, {}, 1.0)  # type: ignore[arg-type]
    with Replay.open(path) as rp:
        assert rp.record(0).checksum == 2**64 - 1


def test_caller_may_reuse_its_delta_and_fault_objects(tmp_path: Path) -> None:
    path = tmp_path / "reuse.gpir"
    delta: dict[str, object] = {}
    faults: list[dict[str, str]] = []
    with Recorder(path, ReplayHeader(), keyframe_interval=0) as rec:
        for t in range(6):
            delta.clear()
            faults.clear()
            if t % 2:
                delta["m"] = [t, t]
                faults.append({"kind": "skipped", "plugin": "p", "system": f"s{t}"})
            rec.record_tick(t, delta, t, faults=faults)
        with pytest.raises(RecordError, match="delta map"):
            rec.record_tick(6, {"bogus": 1}, 0)
    with Replay.open(path) as rp:
        assert [r.input for r in rp] == [{}, {"m": [1, 1]}, {}, {"m": [3, 3]}, {}, {"m": [5, 5]}]
        assert rp.record(3).faults[0]["system"] == "s3"
