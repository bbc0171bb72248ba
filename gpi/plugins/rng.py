"""Deterministic per-system random numbers.

Every system gets, every tick, a numpy ``Generator`` seeded from the tuple
``(world seed, tick, plugin name, system name)``. Names enter through a stable
64-bit hash (BLAKE2b, never Python's salted ``hash()``), and the tuple feeds a
``SeedSequence``, so the stream is the same in every process, every run, and
whether the system runs in a child or in the host. No two systems share a
stream and no system sees another tick's stream.
"""

from __future__ import annotations

import hashlib

import numpy as np

__all__ = ["stable_hash", "system_rng", "system_seed"]


def stable_hash(text: str) -> int:
    """A 64-bit hash of ``text`` that is the same in every process and run."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little")


def system_seed(seed: int, tick: int, plugin: str, system: str) -> np.random.SeedSequence:
    """The seed sequence of ``plugin``/``system`` at ``tick`` in a world seeded with ``seed``."""
    mask = (1 << 64) - 1
    return np.random.SeedSequence(
        [int(seed) & mask, int(tick) & mask, stable_hash(plugin), stable_hash(system)]
    )


def system_rng(seed: int, tick: int, plugin: str, system: str) -> np.random.Generator:
    """A fresh generator for ``plugin``/``system`` at ``tick`` (PCG64)."""
    return np.random.Generator(np.random.PCG64(system_seed(seed, tick, plugin, system)))
