"""GPI_PURE_PYTHON=1 forces every kernel's reference, with the same results as the compiled kernels.

The same probe runs in two fresh processes, one with the override set: it
reports each kernel module's backend, a world checksum, the bytes of a draw
list (column draws with motion, immediate shapes, text) and what a ring in a
shared-memory segment holds after a run of pushes and pops that wraps around
(all but its two futex wake counters, which only the compiled kernel's
sleeping waiters use).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from gpi.cython_ext import backend

PROBE = r'''
import hashlib, json
import numpy as np
from gpi.cython_ext import backend, checksum as ck, draw as kd, ring_ops
from gpi.draw import DrawList
from gpi.ecs import Component, World
from gpi.shm import Ring, Segment
from gpi.shm.ring import ring_region_size

out = {"pure": backend.PURE_PYTHON,
       "backends": [ck.BACKEND, kd.BACKEND, ring_ops.BACKEND],
       "ring_core": ring_ops.RingCore.__name__}

rng = np.random.default_rng(5)
with World(seed=3) as w:
    w.register(Component("P", "float32", (2,)), Component("H", "int16"), Component("T", "uint8", (4,)))
    ids = w.spawn(1500, {"P": rng.random((1500, 2)), "H": 7})
    w.spawn(40, {"T": (1, 2, 3, 4), "H": 2})
    w.despawn(ids[::9])
    w.insert_resource("cfg", {"b": [1, 2.5], "a": "x"})
    out["world_checksum"] = w.checksum()
out["bytes_checksum"] = ck.checksum_bytes(rng.integers(0, 256, 5000, dtype=np.uint8), 77)

n = 300
pos = rng.uniform(-120, 120, (n, 2)).astype(np.float32)
size = rng.uniform(0.5, 30, (n, 2)).astype(np.float32)
color = rng.integers(0, 256, (n, 4), dtype=np.uint8)
layer = rng.integers(-4, 4, n).astype(np.int32)
motion = rng.uniform(-3, 3, (n, 2)).astype(np.float32)
dl = DrawList.allocate(40_000)
dl.set_view((-50.0, -40.0, 60.0, 45.0))
dl.rect(1, 1, 2, 2, (9, 9, 9))
dl.draw_quads(pos, size, color, layer, motion=motion)
dl.draw_circles(pos, size[:, 0], color, layer, motion=motion)
dl.draw_lines(pos, size, 1.5, color, layer)
dl.text(-10, 10, "GPI 1.0", (255, 255, 255), scale=0.5, layer=3)
dl.finish()
out["draw_sha256"] = hashlib.sha256(dl.buffer.tobytes()).hexdigest()
out["draw_batches"] = dl.batches
out["draw_vertices"] = dl.vertex_count

cap = 512
with Segment.create(ring_region_size(cap), "probe") as seg:
    ring = Ring.create(seg, 0, cap)
    popped = []
    for i in range(40):  # more bytes than the capacity: the ring fills and wraps several times
        while not ring.try_push(bytes([i]) * (i * 7 % 90)):
            popped.append(ring.try_pop().hex())
        if i % 3 == 0:
            popped.append(ring.try_pop().hex())
    while (frame := ring.try_pop()) is not None:
        popped.append(frame.hex())
    out["ring_popped"] = popped
    raw = bytearray(seg.array_view())
    for off in (ring_ops.OFF_DSEQ, ring_ops.OFF_SSEQ):  # futex wake counters: the reference never sleeps
        raw[off : off + 8] = bytes(8)
    out["ring_bytes_sha256"] = hashlib.sha256(raw).hexdigest()
    ring.close()
print(json.dumps(out))
'''


def _probe(pure: bool) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k != backend.PURE_PYTHON_ENV}
    if pure:
        env[backend.PURE_PYTHON_ENV] = "1"
    proc = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


@pytest.fixture(scope="module")
def probes() -> tuple[dict[str, Any], dict[str, Any]]:
    return _probe(pure=False), _probe(pure=True)


@pytest.mark.subprocess
def test_the_override_picks_every_reference(probes: tuple[dict[str, Any], dict[str, Any]]) -> None:
    compiled, pure = probes
    assert not compiled["pure"] and compiled["backends"] == ["cython", "cython", "cython"]
    assert compiled["ring_core"] == "RingCore"
    assert pure["pure"] and pure["backends"] == ["numpy", "numpy", "python"]
    assert pure["ring_core"] == "RingCoreReference"


@pytest.mark.subprocess
def test_same_checksums(probes: tuple[dict[str, Any], dict[str, Any]]) -> None:
    compiled, pure = probes
    assert pure["world_checksum"] == compiled["world_checksum"]
    assert pure["bytes_checksum"] == compiled["bytes_checksum"]


@pytest.mark.subprocess
def test_same_draw_bytes(probes: tuple[dict[str, Any], dict[str, Any]]) -> None:
    compiled, pure = probes
    assert compiled["draw_vertices"] > 1000  # the scene draws something, culled and uncut
    assert pure["draw_batches"] == compiled["draw_batches"]
    assert pure["draw_sha256"] == compiled["draw_sha256"]


@pytest.mark.subprocess
def test_same_ring_behaviour(probes: tuple[dict[str, Any], dict[str, Any]]) -> None:
    compiled, pure = probes
    assert len(compiled["ring_popped"]) == 40
    assert pure["ring_popped"] == compiled["ring_popped"]
    assert pure["ring_bytes_sha256"] == compiled["ring_bytes_sha256"]


def test_override_values() -> None:
    code = "from gpi.cython_ext import backend; print(backend.PURE_PYTHON)"
    for value, expect in (("", "False"), ("0", "False"), ("1", "True"), ("yes", "True")):
        env = {**os.environ, backend.PURE_PYTHON_ENV: value}
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                              timeout=60, check=True)
        assert proc.stdout.strip() == expect, value
