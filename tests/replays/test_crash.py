"""A recording host killed with SIGKILL keeps every tick up to its last flushed block."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gpi.replays import Replay

CHILD = textwrap.dedent(
    """
    import sys, time
    from gpi.replays import Recorder, ReplayHeader
    path = sys.argv[1]
    rec = Recorder(path, ReplayHeader(initial_snapshot=b"x" * 100), flush_interval_s=0.01,
                   block_max_ticks=100_000,  # flushes come from the time bound
                   keyframe_interval=50, checksum_interval=1)
    t = 0
    blocks = 0
    while True:
        kf = (b"snap%d" % t) * 50 if rec.keyframe_due(t) else None
        rec.record_tick(t, {"m": [t, 0]} if t % 7 == 0 else {}, (t * 0x9E3779B97F4A7C15) % (1 << 64),
                        keyframe=kf)
        if rec.blocks_written != blocks:
            blocks = rec.blocks_written
            # every tick before the buffered ones is on disk now
            print(rec.next_tick - rec.buffered_ticks - 1, flush=True)
        t += 1
        time.sleep(0.0005)
    """
)


@pytest.mark.subprocess
def test_sigkill_mid_recording(tmp_path: Path) -> None:
    path = tmp_path / "killed.gpir"
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert proc.stdout is not None
        flushed = -1
        for _ in range(40):  # wait for 40 block flushes
            line = proc.stdout.readline()
            assert line, "recording child died early"
            flushed = int(line)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    with Replay.open(path) as rp:
        assert not rp.complete
        assert rp.tail is None or rp.tail.kind == "truncated"
        # everything the child had reported as flushed is there, in order, intact
        assert rp.last_tick is not None and rp.last_tick >= flushed
        for rec in rp.iter_ticks():
            assert rec.checksum == (rec.tick * 0x9E3779B97F4A7C15) % (1 << 64)
            if rec.keyframe is None:  # keyframe ticks hold the full input state instead
                assert rec.input == ({"m": [rec.tick, 0]} if rec.tick % 7 == 0 else {})
        assert rp.keyframe_ticks == list(range(50, rp.end_tick, 50))
        assert len(rp.blocks) < rp.tick_count  # the time bound grouped ticks into blocks


@pytest.mark.subprocess
def test_killed_mid_block_write_is_a_truncated_tail(tmp_path: Path) -> None:
    # the same situation as a kill between the two halves of a block's write
    path = tmp_path / "halfway.gpir"
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                """
            import os, sys
            from gpi.replays import Recorder, ReplayHeader
            rec = Recorder(sys.argv[1], ReplayHeader(), block_max_ticks=10, keyframe_interval=0)
            for t in range(35):
                rec.record_tick(t, {}, t)
            rec.flush()
            size = os.path.getsize(sys.argv[1])
            os.truncate(sys.argv[1], size - 5)
            os.kill(os.getpid(), 9)
            """
            ),
            str(path),
        ],
        cwd=Path(__file__).resolve().parents[2],
        check=False,
    )
    assert proc.returncode == -signal.SIGKILL
    with Replay.open(path) as rp:
        assert rp.tick_count == 30
        assert rp.tail is not None and rp.tail.kind == "truncated" and rp.tail.tick == 30
