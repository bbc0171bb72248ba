"""Per-tick records of a replay and their compact msgpack form.

One :class:`TickRecord` per simulated tick holds what is needed to reproduce
and to check that tick:

* ``input`` — the input delta against the previous tick (see
  :mod:`gpi.replays.inputs`); ``{}`` on an idle tick; on keyframe ticks the
  whole state (``{"=": ...}``) so a seek can start at the keyframe;
* ``checksum`` — the world checksum (u64) *after* the tick, or ``None`` on
  ticks where the recording keeps no checkpoint (see ``checksum_interval`` in
  :mod:`gpi.replays.format`);
* ``faults`` — fault events of the tick, dicts such as
  ``{"kind": "skipped", "plugin": "boids", "system": "steer"}``; ``kind`` is one
  of :data:`FAULT_KINDS`. A skipped or restarted system changed the outcome of
  the tick, so a simulator replaying it must do the same;
* ``swaps`` — plugin hot-swaps applied at the start of the tick, dicts such as
  ``{"plugin": "boids", "old": "<hash>", "new": "<hash>"}``;
* ``keyframe`` — opaque world snapshot bytes taken *after* the tick, present on
  keyframe ticks only.

Wire form (inside a block, see :mod:`gpi.replays.format`): the tick number is
implicit (``first_tick + index`` in the block), and a record is the msgpack
array ``[i, c, f, s, k]`` with trailing ``nil`` entries dropped; a record with
nothing at all (an idle tick with no checkpoint) is a single ``nil`` byte.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gpi.replays.inputs import DELTA_KEYS

__all__ = ["FAULT_KINDS", "TickRecord", "decode_record", "encode_record"]

#: Fault event kinds the runtime reports; others are kept but flagged by tools.
FAULT_KINDS = frozenset({"skipped", "crashed", "restarted", "stalled", "disabled"})


@dataclass(frozen=True)
class TickRecord:
    """What a replay holds for one tick."""

    tick: int
    input: Mapping[str, Any] = field(default_factory=dict)
    checksum: int | None = None
    faults: tuple[Mapping[str, Any], ...] = ()
    swaps: tuple[Mapping[str, Any], ...] = ()
    keyframe: bytes | None = None

    @property
    def is_idle(self) -> bool:
        """True when the input did not change and nothing else happened."""
        return not self.input and not self.faults and not self.swaps

    def to_dict(self) -> dict[str, Any]:
        """The record with the long field names of the documentation (``t i c f s k``)."""
        d: dict[str, Any] = {"t": self.tick, "i": dict(self.input)}
        if self.checksum is not None:
            d["c"] = self.checksum
        if self.faults:
            d["f"] = [dict(f) for f in self.faults]
        if self.swaps:
            d["s"] = [dict(s) for s in self.swaps]
        if self.keyframe is not None:
            d["k"] = self.keyframe
        return d


def encode_record(
    input_delta: Mapping[str, Any] | None,
    checksum: int | None,
    faults: Sequence[Mapping[str, Any]] = (),
    swaps: Sequence[Mapping[str, Any]] = (),
    keyframe: bytes | None = None,
) -> list[Any] | None:
    """The wire form of one record: ``[i, c, f, s, k]`` trimmed, or ``None`` if empty."""
    row: list[Any] = [
        dict(input_delta) if input_delta else None,
        checksum,
        [dict(f) for f in faults] if faults else None,
        [dict(s) for s in swaps] if swaps else None,
        bytes(keyframe) if keyframe is not None else None,
    ]
    while row and row[-1] is None:
        row.pop()
    return row or None


def decode_record(tick: int, row: Any) -> TickRecord:
    """A :class:`TickRecord` from its wire form; raises ``ValueError`` on a malformed row."""
    if row is None:
        return TickRecord(tick)
    if not isinstance(row, list) or len(row) > 5:
        raise ValueError(f"tick {tick}: record must be nil or an array of at most 5 items")
    row = row + [None] * (5 - len(row))
    i, c, f, s, k = row
    if i is not None and (not isinstance(i, dict) or not i.keys() <= DELTA_KEYS):
        raise ValueError(
            f"tick {tick}: input delta must be a map with keys from {sorted(DELTA_KEYS)}"
        )
    if c is not None and (not isinstance(c, int) or not 0 <= c < 1 << 64):
        raise ValueError(f"tick {tick}: checksum must be a u64")
    if f is not None and not (isinstance(f, list) and all(isinstance(x, dict) for x in f)):
        raise ValueError(f"tick {tick}: faults must be an array of maps")
    if s is not None and not (isinstance(s, list) and all(isinstance(x, dict) for x in s)):
        raise ValueError(f"tick {tick}: swaps must be an array of maps")
    if k is not None and not isinstance(k, bytes):
        raise ValueError(f"tick {tick}: keyframe must be bytes")
    return TickRecord(
        tick=tick,
        input=i or {},
        checksum=c,
        faults=tuple(f or ()),
        swaps=tuple(s or ()),
        keyframe=k,
    )
