"""Reading a replay: :class:`Replay` indexes a ``.gpir`` file and yields its ticks.

:meth:`Replay.open` reads the file header strictly: a wrong magic, an unknown
format version, a header whose CRC fails or a file that ends inside the header
raise :class:`~gpi.replays.errors.ReplayFormatError` subclasses. It then scans
every block once (CRC, decompression, record decoding, tick continuity) and
keeps only a small index: per block its offset, first tick, record count and
chain value, and which ticks hold keyframes.

Damage after the header is expected after a crash, so by default the scan
stops at the first block that is cut short (``tail.kind == "truncated"``) or
fails a check (``"corrupt"``), and :attr:`Replay.tail` says where: the block
index, its byte offset, the first tick lost and why. Everything before that
point is readable. Blocks after a damaged one are not used even if intact,
since ticks must be contiguous. ``strict=True`` raises
:class:`~gpi.replays.errors.CorruptBlockError` instead. A file that was closed
cleanly ends with an end block (``complete``); bytes after it are reported as
``"trailing"``. A recording that had to stop before its run ended (a tick it
could not record) says why in its end block: :attr:`Replay.stopped`.
"""

from __future__ import annotations

import bisect
import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

import lz4.block
import msgpack

from gpi.replays.errors import CorruptBlockError, SeekError
from gpi.replays.format import (
    BLOCK_END,
    BLOCK_HEADER,
    BLOCK_KEYFRAME,
    BLOCK_MARKERS,
    FILE_HEADER,
    MAX_BLOCK_BYTES,
    ReplayHeader,
    parse_file_header,
)
from gpi.replays.inputs import EMPTY_INPUT, InputState
from gpi.replays.inputs import apply as apply_input
from gpi.replays.records import TickRecord, decode_record

__all__ = ["BlockInfo", "Replay", "TailInfo"]


@dataclass(frozen=True)
class BlockInfo:
    """Where one good data block sits and what it holds."""

    index: int
    offset: int
    size: int
    first_tick: int
    count: int
    chain: int
    keyframe: bool

    @property
    def last_tick(self) -> int:
        """The last tick in the block."""
        return self.first_tick + self.count - 1


@dataclass(frozen=True)
class TailInfo:
    """Where the readable part of a damaged replay ends, and why."""

    kind: str  # "truncated" | "corrupt" | "trailing"
    offset: int
    block_index: int
    tick: int
    reason: str
    lost_bytes: int

    def describe(self) -> str:
        """One line for humans."""
        return (
            f"{self.kind} tail at byte {self.offset} (block {self.block_index}, "
            f"from tick {self.tick}, {self.lost_bytes} bytes unused): {self.reason}"
        )


class _BadBlock(Exception):
    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


class Replay:
    """An open replay file: header, block index, keyframes, ticks.

    Use :meth:`open`; close with :meth:`close` or a ``with`` block (closing
    twice is safe).
    """

    path: str
    strict: bool
    header: ReplayHeader
    data_offset: int
    file_size: int
    blocks: list[BlockInfo]
    keyframes: dict[int, int]
    tail: TailInfo | None
    complete: bool
    stopped: str | None
    final_chain: int | None
    _cache: tuple[int, list[TickRecord]] | None
    _file: IO[bytes] | None = None

    def __init__(self) -> None:
        raise TypeError("use Replay.open(path)")

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, strict: bool = False) -> Replay:
        """Open and index ``path``; see the module docstring for the error policy."""
        self = cls.__new__(cls)
        self.path = os.fspath(path)
        self.strict = strict
        self.blocks = []
        self.keyframes = {}
        self.tail = None
        self.complete = False
        self.stopped = None
        self.final_chain = None
        self._cache = None
        f = open(self.path, "rb")  # noqa: SIM115 - kept open for the object's life
        self._file = f
        try:
            self.file_size = os.fstat(f.fileno()).st_size
            prefix = f.read(FILE_HEADER.size)
            header, data_offset = parse_file_header(prefix, f.read, where=self.path)
            self.header = header
            self.data_offset = data_offset
            self._scan()
        except BaseException:
            self.close()
            raise
        return self

    # -- index -----------------------------------------------------------------

    @property
    def start_tick(self) -> int:
        """The first tick the recording was meant to hold."""
        return self.header.start_tick

    @property
    def tick_count(self) -> int:
        """Readable ticks."""
        return sum(b.count for b in self.blocks)

    @property
    def end_tick(self) -> int:
        """One past the last readable tick."""
        return self.start_tick + self.tick_count

    @property
    def last_tick(self) -> int | None:
        """The last readable tick, or None when there is none."""
        return self.end_tick - 1 if self.blocks else None

    @property
    def keyframe_ticks(self) -> list[int]:
        """Ticks that hold keyframes, sorted."""
        return sorted(self.keyframes)

    @property
    def data_bytes(self) -> int:
        """Bytes of readable data blocks (file header, end block and tail excluded)."""
        return sum(b.size for b in self.blocks)

    def bytes_per_tick(self, *, include_keyframes: bool = True) -> float:
        """Mean stored bytes per readable tick (0 when empty)."""
        if not self.blocks:
            return 0.0
        blocks = self.blocks if include_keyframes else [b for b in self.blocks if not b.keyframe]
        ticks = sum(b.count for b in blocks)
        return sum(b.size for b in blocks) / ticks if ticks else 0.0

    def nearest_keyframe(self, tick: int) -> tuple[int, bytes]:
        """The latest state at or before ``tick``: ``(its tick, snapshot bytes)``.

        With no keyframe at or before ``tick`` this is ``(start_tick - 1,
        initial snapshot)``, the state before the first tick.
        """
        self._check_tick(tick, allow_before=True)
        ticks = self.keyframe_ticks
        i = bisect.bisect_right(ticks, tick)
        if i == 0:
            return self.start_tick - 1, self.header.initial_snapshot
        kt = ticks[i - 1]
        rec = self.record(kt)
        assert rec.keyframe is not None
        return kt, rec.keyframe

    def input_state_at(self, tick: int) -> InputState:
        """The full input state of ``tick`` (empty for ``start_tick - 1``)."""
        self._check_tick(tick, allow_before=True)
        ticks = self.keyframe_ticks
        i = bisect.bisect_right(ticks, tick)
        start = ticks[i - 1] if i else self.start_tick
        state = EMPTY_INPUT
        for rec in self.iter_ticks(start, tick + 1):
            state = apply_input(state, rec.input)
        return state

    def block_for(self, tick: int) -> BlockInfo:
        """The block holding ``tick``."""
        self._check_tick(tick)
        firsts = [b.first_tick for b in self.blocks]
        return self.blocks[bisect.bisect_right(firsts, tick) - 1]

    def record(self, tick: int) -> TickRecord:
        """The record of one tick."""
        block = self.block_for(tick)
        return self.read_block(block.index)[tick - block.first_tick]

    def read_block(self, index: int) -> list[TickRecord]:
        """All records of good block ``index``."""
        if self._cache is not None and self._cache[0] == index:
            return self._cache[1]
        b = self.blocks[index]
        records = self._decode(b.offset)[1]
        self._cache = (index, records)
        return records

    def iter_ticks(self, start: int | None = None, stop: int | None = None) -> Iterator[TickRecord]:
        """Records of ticks ``start`` (default: first) up to ``stop`` (exclusive; default: end)."""
        lo = self.start_tick if start is None else max(start, self.start_tick)
        hi = self.end_tick if stop is None else min(stop, self.end_tick)
        if lo >= hi:
            return
        first = self.block_for(lo).index
        for b in self.blocks[first:]:
            if b.first_tick >= hi:
                break
            for rec in self.read_block(b.index):
                if lo <= rec.tick < hi:
                    yield rec

    def __iter__(self) -> Iterator[TickRecord]:
        return self.iter_ticks()

    def __len__(self) -> int:
        return self.tick_count

    def close(self) -> None:
        """Close the file; safe to call twice."""
        f, self._file = self._file, None
        if f is not None:
            f.close()

    def __enter__(self) -> Replay:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "complete" if self.complete else (self.tail.kind if self.tail else "unterminated")
        return (
            f"<Replay {self.path!r} ticks {self.start_tick}..{self.end_tick - 1} "
            f"({self.tick_count}), {len(self.keyframes)} keyframes, {state}>"
        )

    # -- internals -------------------------------------------------------------

    def _check_tick(self, tick: int, *, allow_before: bool = False) -> None:
        lo = self.start_tick - 1 if allow_before else self.start_tick
        if not lo <= tick < self.end_tick:
            raise SeekError(
                f"{self.path}: tick {tick} is outside the readable ticks "
                f"{self.start_tick}..{self.end_tick - 1}"
                + (f" ({self.tail.describe()})" if self.tail else "")
            )

    def _read_at(self, offset: int, n: int) -> bytes:
        if self._file is None:
            raise ValueError(f"replay {self.path!r} is closed")
        self._file.seek(offset)
        return self._file.read(n)

    def _decode(self, offset: int) -> tuple[tuple[Any, ...], list[TickRecord], Any]:
        """Read, check and decode the block at ``offset``; raises _BadBlock."""
        head = self._read_at(offset, BLOCK_HEADER.size)
        if len(head) < BLOCK_HEADER.size:
            raise _BadBlock("truncated", f"file ends inside a block header ({len(head)} bytes)")
        fields = BLOCK_HEADER.unpack(head)
        marker, clen, rlen, crc, first, count, _chain = fields
        if marker not in BLOCK_MARKERS:
            raise _BadBlock("corrupt", f"bad block marker {marker!r} (garbage or a damaged block)")
        if clen > MAX_BLOCK_BYTES or rlen > MAX_BLOCK_BYTES or rlen > 255 * clen + 64:
            raise _BadBlock("corrupt", f"implausible block lengths (compressed {clen}, raw {rlen})")
        comp = self._read_at(offset + BLOCK_HEADER.size, clen)
        if len(comp) < clen:
            raise _BadBlock(
                "truncated", f"file ends inside a block payload ({len(comp)} of {clen} bytes)"
            )
        if zlib.crc32(comp, zlib.crc32(head[16:])) != crc:
            raise _BadBlock("corrupt", "block CRC mismatch")
        try:
            raw = lz4.block.decompress(comp, uncompressed_size=rlen) if rlen else b""
            payload = msgpack.unpackb(raw, raw=False, strict_map_key=False) if raw else None
        except Exception as exc:  # lz4 and msgpack raise assorted types on bad input
            raise _BadBlock("corrupt", f"block payload does not decode: {exc}") from exc
        records: list[TickRecord] = []
        if marker == BLOCK_END:
            if count != 0:
                raise _BadBlock("corrupt", "end block with a non-zero record count")
            return fields, records, payload
        if not isinstance(payload, list) or len(payload) != count or count == 0:
            raise _BadBlock("corrupt", f"block payload does not hold {count} records")
        try:
            records = [decode_record(first + i, row) for i, row in enumerate(payload)]
        except ValueError as exc:
            raise _BadBlock("corrupt", str(exc)) from exc
        if marker == BLOCK_KEYFRAME and records[0].keyframe is None:
            raise _BadBlock("corrupt", "keyframe block whose first record has no keyframe")
        return fields, records, payload

    def _scan(self) -> None:
        offset = self.data_offset
        next_tick = self.start_tick
        index = 0
        while offset < self.file_size:
            try:
                fields, records, payload = self._decode(offset)
                marker, clen, _rlen, _crc, first, count, chain = fields
                if first != next_tick:
                    raise _BadBlock(
                        "corrupt", f"block starts at tick {first}, expected tick {next_tick}"
                    )
            except _BadBlock as bad:
                self._stop(bad.kind, offset, index, next_tick, bad.reason)
                return
            size = BLOCK_HEADER.size + clen
            if marker == BLOCK_END:
                self.complete = True
                self.final_chain = chain
                if isinstance(payload, dict) and payload.get("stopped") is not None:
                    self.stopped = str(payload["stopped"])[:2000]  # recording ended early, and why
                offset += size
                if offset < self.file_size:
                    self._stop("trailing", offset, index, next_tick, "bytes after the end block")
                return
            self.blocks.append(
                BlockInfo(index, offset, size, first, count, chain, marker == BLOCK_KEYFRAME)
            )
            for rec in records:
                if rec.keyframe is not None:
                    self.keyframes[rec.tick] = index
            self._cache = (index, records)
            next_tick = first + count
            offset += size
            index += 1
        if self.blocks:
            self.final_chain = self.blocks[-1].chain

    def _stop(self, kind: str, offset: int, index: int, tick: int, reason: str) -> None:
        tail = TailInfo(kind, offset, index, tick, reason, self.file_size - offset)
        if self.blocks:
            self.final_chain = self.blocks[-1].chain
        if self.strict and kind != "trailing":
            raise CorruptBlockError(
                f"{self.path}: block {index} at byte {offset} (tick {tick}) is {kind}: {reason}",
                block_index=index,
                offset=offset,
                tick=tick,
            )
        self.tail = tail
