"""The checksum kernel against its numpy reference on random inputs."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpi.cython_ext import checksum as ck


def test_backend_is_compiled() -> None:
    # setup.py builds the kernel; the numpy fallback is only for unbuilt trees.
    assert ck.BACKEND == "cython"


@settings(max_examples=200, deadline=None)
@given(data=st.binary(min_size=0, max_size=300), seed=st.integers(0, 2**64 - 1))
def test_kernel_matches_reference(data: bytes, seed: int) -> None:
    assert ck.checksum_bytes(data, seed) == ck.checksum_bytes_reference(data, seed)


@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 63, 64, 65, 4096 + 3])
def test_kernel_matches_reference_sizes(n: int) -> None:
    rng = np.random.default_rng(n)
    buf = rng.integers(0, 256, n, dtype=np.uint8)
    for seed in (0, 1, 2**63, 2**64 - 1):
        assert ck.checksum_bytes(buf, seed) == ck.checksum_bytes_reference(buf, seed)


def test_arrays_hash_their_raw_bytes() -> None:
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    assert ck.checksum_bytes(a) == ck.checksum_bytes(a.tobytes())
    # non-contiguous input is made contiguous first
    assert ck.checksum_bytes(a[:, ::2]) == ck.checksum_bytes(np.ascontiguousarray(a[:, ::2]).tobytes())
    ro = a.copy()
    ro.flags.writeable = False
    assert ck.checksum_bytes(ro) == ck.checksum_bytes(a)


def test_sensitive_to_content_position_length_and_seed() -> None:
    base = bytes(range(32))
    h = ck.checksum_bytes(base)
    assert ck.checksum_bytes(base[:-1] + b"\xff") != h
    assert ck.checksum_bytes(base[8:16] + base[:8] + base[16:]) != h  # swapped words
    assert ck.checksum_bytes(base + b"\0") != h  # trailing zero byte
    assert ck.checksum_bytes(base, seed=1) != h
    assert 0 <= h < 2**64


def test_reference_module_fallback_signature() -> None:
    # Same call shape as the kernel: (data, seed) -> int.
    assert isinstance(ck.checksum_bytes_reference(b"abc", 5), int)


def test_fallback_gives_the_same_world_checksum(monkeypatch: pytest.MonkeyPatch) -> None:
    from gpi.ecs import Component, World

    with World() as w:
        w.register(Component("P", "float32", (2,)), Component("H", "int16"))
        w.spawn(1001, {"P": np.random.default_rng(1).random((1001, 2)), "H": 3})
        w.insert_resource("r", {"b": 1, "a": [1.5, "x"]})
        compiled = w.checksum()
        monkeypatch.setattr(ck, "_kernel", None)
        assert w.checksum() == compiled
