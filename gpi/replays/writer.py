"""Recording a replay: :class:`Recorder` appends per-tick records in blocks.

The recorder buffers records in memory and writes a block (see
:mod:`gpi.replays.format`) after every tick whose number (counted from the
start) is a multiple of the block length ``block_max_ticks`` (default:
``flush_interval_s`` worth of ticks at the header's tick rate, so blocks line
up in tick terms between recordings), when the oldest buffered record is older
than ``flush_interval_s`` by the clock (the host fell behind real time), when
the buffer holds ``block_max_bytes`` of raw data, before every keyframe
(keyframes open a block), on :meth:`Recorder.flush` and on
:meth:`Recorder.close`. Each block is
one ``os.writev`` of its pieces (header, payload) on a file opened with
``O_APPEND``, optionally followed by ``fsync``. A host killed at any moment
therefore leaves a file whose blocks up to the last completed write are
intact; at most ``flush_interval_s`` of ticks (the buffered ones) is lost.

Time is read only from the ``clock`` passed in (``time.monotonic`` by
default), never used in the file's simulation data, so tests can drive the
flush policy with a fake clock. The flush deadline is checked on each
:meth:`Recorder.record_tick`; a host that stops ticking also stops producing
records, so there is nothing to flush then.

Cost. A live host records every tick, so :meth:`Recorder.record_tick` (and
:meth:`Recorder.record_quiet`, the same without faults, swaps or keyframe) only
checks its arguments and appends them to the buffer; the input diff, the
record rows and the checksum chain are computed for the whole block when it
is written. A block whose payload does not compress (one holding a keyframe,
which is an lz4-compressed world snapshot already) is stored as an lz4 literal
run (:func:`lz4_literals`: any lz4 decoder reads it) instead of being searched
for matches, and written without copying the snapshot again.
"""

from __future__ import annotations

import operator
import os
import struct
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import lz4.block
import msgpack
from xxhash import xxh64_intdigest

from gpi.replays.errors import RecordError
from gpi.replays.format import (
    BLOCK_DATA,
    BLOCK_END,
    BLOCK_HEADER,
    BLOCK_KEYFRAME,
    ReplayHeader,
    pack_file_header,
)
from gpi.replays.inputs import DELTA_KEYS, InputState
from gpi.replays.inputs import apply as apply_input
from gpi.replays.inputs import diff as diff_input
from gpi.replays.inputs import full as full_input
from gpi.replays.records import FAULT_KINDS, encode_record

__all__ = ["Recorder", "block_parts", "lz4_literals", "pack_block"]

_U64_LIMIT = 1 << 64
_PAIR = struct.Struct("<QQ")  # chain_step inlined: (previous chain, checksum)


#: payloads at least this big are probed for compressibility before lz4 runs over them
_PROBE_MIN = 64 << 10
_PROBE_BYTES = 8 << 10


def _literal_prefix(n: int) -> bytes:
    """The bytes an lz4 block of one literal-only sequence puts before ``n`` literals."""
    if n < 15:
        return bytes((n << 4,))
    q, r = divmod(n - 15, 255)
    return b"".join((b"\xf0", b"\xff" * q, bytes((r,))))


def lz4_literals(raw: bytes) -> bytes:
    """``raw`` as an lz4 block of one literal-only sequence (valid input for ``lz4.block.decompress``).

    Layout (the lz4 block format's last sequence): a token byte whose high
    nibble is the literal length (15: more length bytes follow) and whose low
    nibble is 0 (no match); for lengths of 15 or more, ``(n - 15) // 255``
    bytes 0xFF and one byte ``(n - 15) % 255``; then the ``n`` bytes. It is
    ``n / 255`` bytes longer than ``raw``, what lz4 itself makes of
    incompressible data, and costs one copy instead of a match search.
    """
    return _literal_prefix(len(raw)) + raw


def _compressed_parts(raw: bytes) -> list[bytes]:
    """The lz4 block of ``raw`` as pieces to write one after the other.

    A big payload that does not compress (a block holding a keyframe: an
    already lz4-compressed world snapshot) becomes a literal run, written as
    its short prefix and ``raw`` itself, so the snapshot is never searched for
    matches nor copied again.
    """
    if len(raw) >= _PROBE_MIN:
        mid = len(raw) // 2
        probe = raw[mid : mid + _PROBE_BYTES]
        if len(lz4.block.compress(probe, store_size=False)) * 100 >= len(probe) * 95:
            return [_literal_prefix(len(raw)), raw]
    return [lz4.block.compress(raw, store_size=False)]


def block_parts(marker: bytes, first_tick: int, count: int, chain: int, payload: Any) -> list[bytes]:
    """:func:`pack_block`'s bytes as a list of pieces (header first), for one ``os.writev``."""
    raw = msgpack.packb(payload, use_bin_type=True)
    body = _compressed_parts(raw) if raw else []
    crc = zlib.crc32(BLOCK_HEADER.pack(marker, 0, 0, 0, first_tick, count, chain)[16:])
    for part in body:
        crc = zlib.crc32(part, crc)
    clen = sum(len(part) for part in body)
    return [BLOCK_HEADER.pack(marker, clen, len(raw), crc, first_tick, count, chain), *body]


def pack_block(marker: bytes, first_tick: int, count: int, chain: int, payload: Any) -> bytes:
    """One block's bytes: header, then ``payload`` msgpack-encoded and lz4-compressed."""
    return b"".join(block_parts(marker, first_tick, count, chain, payload))


class Recorder:
    """Writes a ``.gpir`` replay tick by tick; crash-safe per block.

    ``keyframe_interval`` and ``checksum_interval`` (``None``: take the
    header's) are written into the header. Use as a context manager or call
    :meth:`close`; closing twice is safe.
    """

    _fd: int = -1
    _closed: bool = True

    def __init__(
        self,
        path: str | os.PathLike[str],
        header: ReplayHeader,
        *,
        keyframe_interval: int | None = None,
        checksum_interval: int | None = None,
        flush_interval_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        block_max_ticks: int | None = None,
        block_max_bytes: int = 4 << 20,
        fsync: bool = False,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        if flush_interval_s < 0:
            raise ValueError(f"flush_interval_s must be >= 0, got {flush_interval_s}")
        if block_max_ticks is not None and block_max_ticks < 1:
            raise ValueError(f"block_max_ticks must be >= 1, got {block_max_ticks}")
        changes: dict[str, Any] = {"created": float(wall_clock())}
        if keyframe_interval is not None:
            changes["keyframe_interval"] = keyframe_interval
        if checksum_interval is not None:
            if checksum_interval < 0:
                raise ValueError(
                    f"checksum_interval must be >= 0 (0 = chain only), got {checksum_interval}"
                )
            changes["checksum_interval"] = checksum_interval
        self.header = replace(header, **changes)
        self.path = os.fspath(path)
        self.flush_interval_s = float(flush_interval_s)
        if block_max_ticks is None:
            block_max_ticks = max(
                1, min(3600, round(self.flush_interval_s * self.header.tick_rate))
            )
        self.block_max_ticks = block_max_ticks
        self.block_max_bytes = block_max_bytes
        self.fsync = fsync
        self._clock = clock
        self._pending: list[tuple[Any, int, Any, Any, bytes | None]] = []
        self._row_bytes = 0
        self._block_first = self.header.start_tick
        self._block_started_at = 0.0
        self._block_has_keyframe = False
        self._next_tick = self.header.start_tick
        self._chain = 0
        self._start = self.header.start_tick
        self._ci = self.header.checksum_interval
        self._last_input = InputState()
        self.blocks_written = 0
        self.bytes_written = 0
        fd = os.open(
            self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND | os.O_CLOEXEC, 0o644
        )
        self._fd = fd
        try:
            self._write(pack_file_header(self.header))
        except BaseException:
            os.close(fd)
            self._fd = -1
            raise
        self._closed = False

    # -- public API ------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """True after :meth:`close`."""
        return self._closed

    @property
    def next_tick(self) -> int:
        """The tick :meth:`record_tick` expects next."""
        return self._next_tick

    @property
    def chain(self) -> int:
        """The checksum chain value after the last recorded tick."""
        chain = self._chain
        for item in self._pending:
            chain = xxh64_intdigest(_PAIR.pack(chain, item[1]))
        return chain

    @property
    def buffered_ticks(self) -> int:
        """Ticks recorded but not yet written to the file."""
        return len(self._pending)

    def keyframe_due(self, tick: int) -> bool:
        """Whether the caller should pass a keyframe snapshot for ``tick``."""
        return self.header.keyframe_due(tick)

    def record_tick(
        self,
        tick: int,
        input_delta: Mapping[str, Any] | InputState | None,
        checksum: int,
        faults: Sequence[Mapping[str, Any]] = (),
        swaps: Sequence[Mapping[str, Any]] = (),
        keyframe: bytes | None = None,
    ) -> None:
        """Append one tick.

        ``input_delta`` is the delta from :func:`gpi.replays.inputs.diff`, or
        an :class:`InputState` (the recorder then diffs it against the previous
        tick's). ``checksum`` is the world checksum (u64) after the tick;
        ``keyframe`` the world snapshot after the tick, when
        :meth:`keyframe_due` says so (or whenever the caller likes).
        """
        if self._closed:
            raise RecordError(f"recorder for {self.path!r} is closed; start a new Recorder")
        if tick != self._next_tick:
            raise RecordError(
                f"recorder for {self.path!r} expected tick {self._next_tick}, got {tick}: "
                "ticks must be recorded in order without gaps"
            )
        if checksum.__class__ is not int:
            try:  # numpy integers and other index types are fine; bools and floats are not
                checksum = operator.index(checksum) if not isinstance(checksum, bool) else -1
            except TypeError:
                checksum = -1
        if not 0 <= checksum < _U64_LIMIT:
            raise RecordError(
                f"tick {tick}: checksum must be an int in [0, 2**64), got {checksum!r}"
            )
        if faults or swaps:
            faults, swaps = self._own_events(tick, faults, swaps)
        if input_delta is not None and input_delta.__class__ is not InputState:
            input_delta = self._own_delta(tick, input_delta)
        now = self._clock()
        if keyframe is not None:
            if self._pending:
                self._flush_block()  # a keyframe always opens a block
            keyframe = bytes(keyframe)
            self._row_bytes += len(keyframe)
        self._append(tick, now, (input_delta, checksum, faults, swaps, keyframe))

    def record_quiet(
        self, tick: int, input_state: InputState | Mapping[str, Any] | None, checksum: int
    ) -> None:
        """:meth:`record_tick` for the common tick: no fault, no swap, no keyframe.

        The same record as ``record_tick(tick, input_state, checksum)``, with
        less to check per call when ``input_state`` is an :class:`InputState`
        (or ``None``) and ``checksum`` an int (anything else takes the
        :meth:`record_tick` way); a live host records most of its ticks so.
        """
        if (
            self._closed
            or tick != self._next_tick
            or checksum.__class__ is not int
            or not 0 <= checksum < _U64_LIMIT
            or (input_state is not None and input_state.__class__ is not InputState)
        ):
            self.record_tick(tick, input_state, checksum)  # raises the precise error, or records
            return
        self._append(tick, self._clock(), (input_state, checksum, (), (), None))

    def _append(self, tick: int, now: float, row: tuple[Any, int, Any, Any, bytes | None]) -> None:
        """Buffer one checked tick (a keyframe row only opens a block) and write the block when due."""
        pending = self._pending
        if not pending:
            self._block_first = tick
            self._block_started_at = now
            self._block_has_keyframe = row[4] is not None
        # encoding (input diff, msgpack row, chain) is batched at flush time: it
        # runs warm over a whole block instead of cold once per tick
        pending.append(row)
        self._next_tick = tick + 1
        if (
            (tick - self._start + 1) % self.block_max_ticks == 0
            or now - self._block_started_at >= self.flush_interval_s
            or self._row_bytes >= self.block_max_bytes
        ):
            self._flush_block()

    def _own_events(
        self, tick: int, faults: Sequence[Mapping[str, Any]], swaps: Sequence[Mapping[str, Any]]
    ) -> tuple[Sequence[Mapping[str, Any]], Sequence[Mapping[str, Any]]]:
        """Checked copies of a tick's fault events and swaps (they are encoded at flush)."""
        for f in faults:
            if not isinstance(f, Mapping) or f.get("kind") not in FAULT_KINDS:
                raise RecordError(
                    f"tick {tick}: fault event {f!r} must be a map whose 'kind' is one of "
                    f"{sorted(FAULT_KINDS)}"
                )
        for sw in swaps:
            if not isinstance(sw, Mapping):
                raise RecordError(f"tick {tick}: plugin swap {sw!r} must be a map")
        return (
            tuple(dict(f) for f in faults) if faults else (),
            tuple(dict(sw) for sw in swaps) if swaps else (),
        )

    def _own_delta(self, tick: int, input_delta: Any) -> Any:
        """A checked copy of an input given as a delta map (``None`` for an empty one)."""
        if isinstance(input_delta, InputState):
            return input_delta
        if not input_delta:
            return None
        if not isinstance(input_delta, Mapping) or not input_delta.keys() <= DELTA_KEYS:
            raise RecordError(
                f"tick {tick}: input must be an InputState or a delta map with keys from "
                f"{sorted(DELTA_KEYS)}, got {input_delta!r}"
            )
        return dict(input_delta)  # the caller may reuse its dict

    def flush(self) -> None:
        """Write buffered ticks as one block now (no-op when nothing is buffered)."""
        if self._closed:
            return
        self._flush_block()

    def close(self, stopped: str | None = None) -> None:
        """Flush, write the end block and close the file; safe to call twice.

        ``stopped``: why recording ended before the run did (a tick could not
        be recorded); the end block keeps it and :attr:`Replay.stopped
        <gpi.replays.reader.Replay.stopped>` and ``verify`` report it.
        """
        if self._closed:
            return
        try:
            self._flush_block()
            info: dict[str, Any] = {"ticks": self._next_tick - self.header.start_tick}
            if stopped:
                info["stopped"] = str(stopped)[:2000]
            end = pack_block(BLOCK_END, self._next_tick, 0, self._chain, info)
            self._write(end)
            if self.fsync:
                os.fsync(self._fd)
        finally:
            self._closed = True
            fd, self._fd = self._fd, -1
            if fd >= 0:
                os.close(fd)

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        # never flush from a finaliser (it may run at interpreter exit); just free the fd
        fd = getattr(self, "_fd", -1)
        if fd >= 0:
            try:
                os.close(fd)
            except OSError:
                pass
            self._fd = -1

    # -- internals -------------------------------------------------------------

    def _flush_block(self) -> None:
        pending = self._pending
        if not pending:
            return
        self._pending = []
        self._row_bytes = 0
        rows = self._encode(pending)
        marker = BLOCK_KEYFRAME if self._block_has_keyframe else BLOCK_DATA
        parts = block_parts(marker, self._block_first, len(rows), self._chain, rows)
        self._block_has_keyframe = False
        self._write_parts(parts)
        if self.fsync:
            os.fsync(self._fd)
        self.blocks_written += 1

    def _encode(self, pending: list[tuple[Any, int, Any, Any, bytes | None]]) -> list[Any]:
        """Rows of the buffered ticks; advances the chain and the input state."""
        rows: list[Any] = []
        append = rows.append
        chain = self._chain
        last = self._last_input
        ci = self._ci
        pos = self._block_first - self._start + 1  # 1-based tick number in the run
        pack = _PAIR.pack
        for inp, checksum, faults, swaps, keyframe in pending:
            if inp is None:
                delta = None
            elif inp is last:  # an unchanged input the caller passed again
                delta = None
            elif isinstance(inp, InputState):
                delta = diff_input(last, inp) or None
                last = inp
            else:
                delta = inp
                last = apply_input(last, delta)
            if keyframe is not None:
                # keyframe ticks carry the whole input state so seeking starts there
                append(encode_record(full_input(last), checksum, faults, swaps, keyframe))
            elif not faults and not swaps:  # the common case, without encode_record
                if ci and pos % ci == 0:
                    append([delta, checksum])
                else:
                    append(None if delta is None else [delta])
            else:
                store = ci and pos % ci == 0
                append(encode_record(delta, checksum if store else None, faults, swaps))
            chain = xxh64_intdigest(pack(chain, checksum))
            pos += 1
        self._chain = chain
        self._last_input = last
        return rows

    def _write_parts(self, parts: list[bytes]) -> None:
        """One block, written by one ``os.writev`` (the rest, after a short write, like :meth:`_write`)."""
        total = sum(len(part) for part in parts)
        n = os.writev(self._fd, parts)
        if n < total:  # a regular file never writes short unless the disk is full
            view = memoryview(b"".join(parts))[n:]
            while len(view):
                view = view[os.write(self._fd, view) :]
        self.bytes_written += total

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        n = os.write(self._fd, view)
        while n < len(view):  # a regular file never writes short unless the disk is full
            view = view[n:]
            n = os.write(self._fd, view)
        self.bytes_written += len(data)

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"next tick {self._next_tick}"
        return f"<Recorder {self.path!r} {state}, {self.blocks_written} blocks>"
