"""The checksum kernel (every SIMD path) against its numpy reference on random inputs."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpi.cython_ext import checksum as ck

kernel = pytest.importorskip("gpi.cython_ext._checksum")
LEVELS = kernel.simd_levels()
SIZES = [0, 1, 7, 8, 9, 63, 64, 65, 127, 1023, 1024, 1025, 2047, 2048, 2049, 3 * 1024 + 64 * 15 + 63, 16411]


@pytest.fixture(params=LEVELS, ids=[f"simd{lv}" for lv in LEVELS])
def level(request: pytest.FixtureRequest) -> Iterator[int]:
    old = kernel.set_simd_level(request.param)
    try:
        yield request.param
    finally:
        kernel.set_simd_level(old)


def test_backend_is_compiled() -> None:
    # setup.py builds the kernel; the numpy fallback is only for unbuilt trees.
    assert ck.BACKEND == "cython"
    assert 0 in LEVELS and kernel.simd_level() == LEVELS[-1]


def test_constants_agree() -> None:
    assert kernel.constants() == (ck._KEY_LIST, ck._INIT_LIST, ck._SCRAMBLE_LIST)


def test_format_is_pinned() -> None:
    # A literal value: the format must not drift between builds, processes or machines
    # (stored replays and snapshots hold checksums). Change it only with a new format.
    assert ck.checksum_bytes_reference(b"gpi") == ck.checksum_bytes(b"gpi") == 0x21E52A8CCAE27779
    blocks = bytes(range(256)) * 10  # two full blocks, 8 stripes, no partial stripe
    assert ck.checksum_bytes_reference(blocks, 7) == ck.checksum_bytes(blocks, 7) == 0x0D669A725D21BB9A


@settings(max_examples=150, deadline=None)
@given(data=st.binary(min_size=0, max_size=2600), seed=st.integers(0, 2**64 - 1),
       lv=st.sampled_from(LEVELS))
def test_kernel_matches_reference(data: bytes, seed: int, lv: int) -> None:
    old = kernel.set_simd_level(lv)
    try:
        assert ck.checksum_bytes(data, seed) == ck.checksum_bytes_reference(data, seed)
    finally:
        kernel.set_simd_level(old)


@pytest.mark.parametrize("n", SIZES)
def test_kernel_matches_reference_sizes(n: int, level: int) -> None:
    rng = np.random.default_rng(n)
    buf = rng.integers(0, 256, n, dtype=np.uint8)
    for seed in (0, 1, 2**63, 2**64 - 1):
        assert ck.checksum_bytes(buf, seed) == ck.checksum_bytes_reference(buf, seed)
    ones = np.full(n, 255, np.uint8)  # carries through every lane sum
    assert ck.checksum_bytes(ones) == ck.checksum_bytes_reference(ones)


def test_unaligned_input(level: int) -> None:
    raw = np.random.default_rng(5).integers(0, 256, 5000, dtype=np.uint8)
    for off in (1, 3, 8, 13):
        view = raw[off:off + 4100]
        assert ck.checksum_bytes(view) == ck.checksum_bytes_reference(view.copy())


@settings(max_examples=60, deadline=None)
@given(parts=st.lists(st.tuples(st.binary(max_size=1500), st.integers(0, 1500)), max_size=6),
       seed=st.integers(0, 2**64 - 1))
def test_buffers_chain_like_single_calls(parts: list[tuple[bytes, int]], seed: int) -> None:
    bufs = [b for b, _ in parts]
    lens = [min(n, len(b)) for b, n in parts]
    want = seed
    for b, n in zip(bufs, lens):
        want = ck.checksum_bytes(b[:n], want)
    assert ck.checksum_buffers(bufs, lens, seed) == want
    assert ck.checksum_buffers_reference(bufs, lens, seed) == want


def test_buffers_take_array_prefixes_without_copies() -> None:
    cols = [np.arange(300, dtype=np.float32).reshape(150, 2), np.arange(64, dtype=np.uint8), np.zeros(0)]
    lens = [40 * 8, 10, 0]
    want = ck.checksum_buffers([cols[0][:40].tobytes(), cols[1][:10].tobytes(), b""], lens, 3)
    assert ck.checksum_buffers(cols, lens, 3) == want == ck.checksum_buffers_reference(cols, lens, 3)


def test_buffers_refuse_bad_input() -> None:
    a = np.zeros(16, np.uint8)
    with pytest.raises(ValueError, match="outside"):
        ck.checksum_buffers([a], [17])
    with pytest.raises(ValueError, match="outside"):
        ck.checksum_buffers([a], [-1])
    with pytest.raises(ValueError, match="lengths"):
        ck.checksum_buffers([a], [])
    with pytest.raises((ValueError, BufferError)):
        ck.checksum_buffers([np.zeros((4, 4))[:, ::2]], [8])  # not contiguous: refused, not copied
    with pytest.raises(TypeError):
        ck.checksum_buffers([None], [0])
    with pytest.raises(ValueError, match="not available"):
        kernel.set_simd_level(99)


def test_arrays_hash_their_raw_bytes() -> None:
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    assert ck.checksum_bytes(a) == ck.checksum_bytes(a.tobytes())
    # non-contiguous input is made contiguous first
    assert ck.checksum_bytes(a[:, ::2]) == ck.checksum_bytes(np.ascontiguousarray(a[:, ::2]).tobytes())
    ro = a.copy()
    ro.flags.writeable = False
    assert ck.checksum_bytes(ro) == ck.checksum_bytes(a)


def test_sensitive_to_content_position_length_and_seed(level: int) -> None:
    base = np.random.default_rng(2).integers(0, 256, 3000, dtype=np.uint8).tobytes()
    h = ck.checksum_bytes(base)
    assert ck.checksum_bytes(base[:-1] + bytes([base[-1] ^ 1])) != h
    assert ck.checksum_bytes(base[8:16] + base[:8] + base[16:]) != h  # swapped words (same stripe)
    assert ck.checksum_bytes(base[64:128] + base[:64] + base[128:]) != h  # swapped stripes
    assert ck.checksum_bytes(base[1024:2048] + base[:1024] + base[2048:]) != h  # swapped blocks
    assert ck.checksum_bytes(base + b"\0") != h  # trailing zero byte
    assert ck.checksum_bytes(base, seed=1) != h
    assert 0 <= h < 2**64
    zeros = {ck.checksum_bytes(bytes(n)) for n in range(0, 2100, 7)}
    assert len(zeros) == len(range(0, 2100, 7))  # zero runs differ by length alone


@pytest.mark.subprocess
def test_same_value_in_a_fresh_process() -> None:
    data = np.random.default_rng(9).integers(0, 256, 9000, dtype=np.uint8)
    code = ("import numpy as np; from gpi.cython_ext import checksum as ck; "
            "print(ck.checksum_bytes(np.random.default_rng(9).integers(0, 256, 9000, dtype=np.uint8), 77))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert int(out.stdout) == ck.checksum_bytes(data, 77)


def test_reference_module_fallback_signature() -> None:
    # Same call shape as the kernel: (data, seed) -> int.
    assert isinstance(ck.checksum_bytes_reference(b"abc", 5), int)
