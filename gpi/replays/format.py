"""The ``.gpir`` replay file format, byte by byte.

A replay is a file header followed by independently decodable blocks. All
integers are little-endian. CRCs are ``zlib.crc32``.

File header::

    offset  size  field
    0       4     magic b"GPIR"
    4       2     u16 format version (FORMAT_VERSION)
    6       4     u32 H = length of the msgpack header map
    10      4     u32 crc32 of the H header bytes
    14      H     msgpack header map (below)
    14+H    ...   blocks, until end of file

Header map (msgpack; unknown keys are ignored so later versions may add some):
``engine`` (str, ``gpi.__version__``), ``abi`` (int, ``gpi.ABI_VERSION``), ``seed``
(int), ``tick_rate`` (float, Hz), ``plugins`` (array of maps ``{name, version,
content_hash}``), ``schema`` (array of component dicts as made by
``Component.to_dict``), ``initial`` (bytes: the world snapshot before the first
tick, opaque to this layer), ``start_tick`` (int: the first recorded tick),
``keyframe_interval`` (int K), ``checksum_interval`` (int N), ``created``
(float, Unix time; informational, never read by a simulation), ``meta`` (map,
free-form).

Block::

    offset  size  field
    0       4     marker: b"GPIB" data block,
                          b"GPIK" data block whose first record holds a keyframe,
                          b"GPIE" end block (written by Recorder.close)
    4       4     u32 L = compressed payload length
    8       4     u32 R = raw (msgpack) payload length
    12      4     u32 crc32 over bytes 16..35 of this block and the L payload bytes
    16      8     u64 first tick of the block
    24      4     u32 record count (0 for an end block)
    28      8     u64 checksum chain value after the block's last tick
    36      L     lz4.block-compressed payload (no size prefix; R gives the size)

A data block's payload is a msgpack array of ``count`` records, one per tick,
ticks ``first_tick, first_tick + 1, ...`` (the tick number is implicit; see
:mod:`gpi.replays.records` for the record layout). Blocks follow each other
without gaps in ticks. An end block's payload is the map ``{"ticks": n}``.

Each block is written with one ``os.writev``; a block never refers to another
one, so a recorder killed mid-write loses at most the block it was writing. A
reader stops at the first block that is cut short or fails its CRC and reports
where the good part ends (see :mod:`gpi.replays.reader`). Keyframes always open
a block (marker ``GPIK``), so the keyframe index is built from block headers.

Checksums: a world checksum is a u64, 8 incompressible bytes; stored for
every tick that is ~500 B/s at 60 Hz, eight times the 64 B/s budget for an idle
recording. So ticks are checked at two granularities:

* Every tick's checksum is folded into a chain,
  ``chain(t) = xxh64(u64le(chain(t-1)) + u64le(checksum(t)))`` with
  ``chain(start_tick - 1) = 0``, and each block header stores the chain value
  after its last tick. A matching chain vouches for every tick up to there
  (a divergence that heals before the block ends still breaks it).
* The full checksum is stored in a record on keyframe ticks, and also on ticks
  where ``(tick - start_tick + 1) % N == 0`` when ``N = checksum_interval`` is
  positive. ``N = 0`` (the default) stores no others.

Blocks end on tick boundaries that are multiples of the block length
(``flush_interval_s * tick_rate`` ticks, 60 by default), except when the
recorder falls behind real time, so two recordings of the same run have chain
values at the same ticks and :func:`gpi.replays.verify.diff` can compare them.

Verification with the default therefore first learns a window of at most one
block (one second); it then re-simulates the window a second time from the
nearest keyframe and compares the two runs tick by tick, which pins the exact
tick for nondeterminism (the usual cause). For a deterministic change (edited
plugin code) it reports the window, or, with ``N = 1``, the exact tick from
the file alone. Measured sizes are in ``docs/replays.md``.
"""

from __future__ import annotations

import struct
import time
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import msgpack
import xxhash

from gpi.replays.errors import (
    HeaderError,
    PluginMismatchError,
    ReplayFormatError,
    ReplayVersionError,
    TruncatedReplayError,
)
from gpi.version import ABI_VERSION, ENGINE_VERSION

__all__ = [
    "BLOCK_DATA",
    "BLOCK_END",
    "BLOCK_HEADER",
    "BLOCK_KEYFRAME",
    "FILE_HEADER",
    "FORMAT_VERSION",
    "MAGIC",
    "MAX_BLOCK_BYTES",
    "MAX_HEADER_BYTES",
    "ReplayHeader",
    "chain_step",
    "check_plugins",
    "pack_file_header",
    "parse_file_header",
]

MAGIC = b"GPIR"
FORMAT_VERSION = 1
#: magic, u16 version, u32 header length, u32 header crc32
FILE_HEADER = struct.Struct("<4sHII")
#: marker, u32 compressed len, u32 raw len, u32 crc32, u64 first tick, u32 count, u64 chain
BLOCK_HEADER = struct.Struct("<4sIIIQIQ")
BLOCK_DATA = b"GPIB"
BLOCK_KEYFRAME = b"GPIK"
BLOCK_END = b"GPIE"
BLOCK_MARKERS = frozenset({BLOCK_DATA, BLOCK_KEYFRAME, BLOCK_END})
#: a header bigger than this is taken as garbage rather than allocated
MAX_HEADER_BYTES = 1 << 30
#: same for one block's compressed or raw payload
MAX_BLOCK_BYTES = 1 << 30

_PAIR = struct.Struct("<QQ")
_U64 = (1 << 64) - 1


def chain_step(chain: int, checksum: int) -> int:
    """The checksum chain value after folding in one tick's ``checksum``."""
    return xxhash.xxh64_intdigest(_PAIR.pack(chain, checksum))


@dataclass(frozen=True)
class ReplayHeader:
    """What a replay says about the run it recorded (the msgpack header map)."""

    seed: int = 0
    tick_rate: float = 60.0
    plugins: tuple[Mapping[str, Any], ...] = ()
    schema: tuple[Mapping[str, Any], ...] = ()
    initial_snapshot: bytes = b""
    start_tick: int = 0
    keyframe_interval: int = 300
    checksum_interval: int = 0
    engine_version: str = ""
    abi_version: int = 0
    created: float = 0.0
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.engine_version or not self.abi_version:
            if not self.engine_version:
                object.__setattr__(self, "engine_version", ENGINE_VERSION)
            if not self.abi_version:
                object.__setattr__(self, "abi_version", ABI_VERSION)
        if self.checksum_interval < 0:
            raise ValueError(
                f"checksum_interval must be >= 0 (0 = chain only), got {self.checksum_interval}"
            )
        if self.keyframe_interval < 0:
            raise ValueError(
                f"keyframe_interval must be >= 0 (0 = none), got {self.keyframe_interval}"
            )
        if self.tick_rate <= 0:
            raise ValueError(f"tick_rate must be positive, got {self.tick_rate}")
        object.__setattr__(self, "plugins", tuple(dict(p) for p in self.plugins))
        object.__setattr__(self, "schema", tuple(dict(c) for c in self.schema))
        object.__setattr__(self, "initial_snapshot", bytes(self.initial_snapshot))

    def with_created_now(self, clock: Any = time.time) -> ReplayHeader:
        """A copy with ``created`` set from ``clock`` (informational only)."""
        return replace(self, created=float(clock()))

    def to_dict(self) -> dict[str, Any]:
        """The header map as stored in the file."""
        return {
            "engine": self.engine_version,
            "abi": self.abi_version,
            "seed": self.seed,
            "tick_rate": float(self.tick_rate),
            "plugins": [dict(p) for p in self.plugins],
            "schema": [dict(c) for c in self.schema],
            "initial": self.initial_snapshot,
            "start_tick": self.start_tick,
            "keyframe_interval": self.keyframe_interval,
            "checksum_interval": self.checksum_interval,
            "created": float(self.created),
            "meta": dict(self.meta),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ReplayHeader:
        """Parse a header map; raises :class:`HeaderError` naming a bad or missing field."""
        if not isinstance(d, Mapping):
            raise HeaderError("replay header is not a msgpack map")
        types: dict[str, tuple[type, ...]] = {
            "engine": (str,),
            "abi": (int,),
            "seed": (int,),
            "tick_rate": (float, int),
            "plugins": (list,),
            "schema": (list,),
            "initial": (bytes,),
            "start_tick": (int,),
            "keyframe_interval": (int,),
            "checksum_interval": (int,),
            "created": (float, int),
            "meta": (dict,),
        }
        for key, ok in types.items():
            if key not in d:
                raise HeaderError(
                    f"replay header lacks field {key!r}; the file is damaged or not a replay"
                )
            if not isinstance(d[key], ok) or isinstance(d[key], bool):
                raise HeaderError(
                    f"replay header field {key!r} has type {type(d[key]).__name__}, "
                    f"expected {' or '.join(t.__name__ for t in ok)}"
                )
        for p in d["plugins"]:
            if not isinstance(p, dict) or not {"name", "version", "content_hash"} <= set(p):
                raise HeaderError(
                    f"replay header plugin entry {p!r} must be a map with name, version, content_hash"
                )
        if d["checksum_interval"] < 0 or d["keyframe_interval"] < 0 or d["tick_rate"] <= 0:
            raise HeaderError(
                "replay header has an out-of-range checksum_interval, keyframe_interval or tick_rate"
            )
        try:
            return cls(
                engine_version=d["engine"],
                abi_version=d["abi"],
                seed=d["seed"],
                tick_rate=float(d["tick_rate"]),
                plugins=tuple(d["plugins"]),
                schema=tuple(d["schema"]),
                initial_snapshot=d["initial"],
                start_tick=d["start_tick"],
                keyframe_interval=d["keyframe_interval"],
                checksum_interval=d["checksum_interval"],
                created=float(d["created"]),
                meta=d["meta"],
            )
        except (TypeError, ValueError) as exc:
            raise HeaderError(f"replay header is invalid: {exc}") from exc

    def is_checkpoint(self, tick: int) -> bool:
        """Whether the record of ``tick`` stores its full checksum (keyframes aside)."""
        n = self.checksum_interval
        return n > 0 and (tick - self.start_tick + 1) % n == 0

    def keyframe_due(self, tick: int) -> bool:
        """Whether a keyframe is expected after ``tick``: every K ticks after the start.

        Keyframe ticks are multiples of K counted from ``start_tick``, so with K
        a multiple of the block length a keyframe opens an aligned block.
        """
        k = self.keyframe_interval
        return k > 0 and tick > self.start_tick and (tick - self.start_tick) % k == 0


def pack_file_header(header: ReplayHeader) -> bytes:
    """The file header bytes (magic, version, length, crc, msgpack map)."""
    body = msgpack.packb(header.to_dict(), use_bin_type=True)
    if len(body) > MAX_HEADER_BYTES:
        raise ValueError(f"replay header of {len(body)} bytes exceeds {MAX_HEADER_BYTES}")
    return FILE_HEADER.pack(MAGIC, FORMAT_VERSION, len(body), zlib.crc32(body)) + body


def parse_file_header(prefix: bytes, read_body: Any, where: str = "") -> tuple[ReplayHeader, int]:
    """Parse a file header from its first ``FILE_HEADER.size`` bytes.

    ``read_body(n)`` must return the next ``n`` bytes of the file (fewer at its
    end). Returns the header and the offset of the first block. Raises
    :class:`ReplayFormatError` subclasses with messages naming ``where``.
    """
    src = f"{where}: " if where else ""
    if len(prefix) < 4 or prefix[:4] != MAGIC:
        if len(prefix) < 4 and MAGIC.startswith(prefix):
            raise TruncatedReplayError(
                f"{src}file is {len(prefix)} bytes long, too short to be a replay"
            )
        raise ReplayFormatError(
            f"{src}not a GPI replay: starts with {bytes(prefix[:4])!r}, expected magic {MAGIC!r}"
        )
    if len(prefix) < FILE_HEADER.size:
        raise TruncatedReplayError(f"{src}file ends inside the fixed header ({len(prefix)} bytes)")
    _, version, hlen, hcrc = FILE_HEADER.unpack(prefix[: FILE_HEADER.size])
    if version != FORMAT_VERSION:
        raise ReplayVersionError(
            f"{src}replay format version {version} found, this build reads version "
            f"{FORMAT_VERSION}; convert it with the gpi version that wrote it",
            found=version,
            expected=FORMAT_VERSION,
        )
    if hlen > MAX_HEADER_BYTES:
        raise HeaderError(f"{src}header length {hlen} is implausible; the file is damaged")
    body = read_body(hlen)
    if len(body) < hlen:
        raise TruncatedReplayError(
            f"{src}file ends inside the replay header ({len(body)} of {hlen} bytes)"
        )
    if zlib.crc32(body) != hcrc:
        raise HeaderError(
            f"{src}replay header checksum mismatch (stored {hcrc:#010x}, computed "
            f"{zlib.crc32(body):#010x}); the header is damaged"
        )
    try:
        obj = msgpack.unpackb(body, raw=False, strict_map_key=False)
    except Exception as exc:  # msgpack raises several unrelated types
        raise HeaderError(f"{src}replay header is not valid msgpack: {exc}") from exc
    return ReplayHeader.from_dict(obj), FILE_HEADER.size + hlen


def check_plugins(
    header: ReplayHeader, loaded: Sequence[Mapping[str, Any]], *, force: bool = False
) -> list[str]:
    """Compare the replay's plugins with those loaded now.

    Returns a list of human-readable mismatches. Raises
    :class:`PluginMismatchError` naming the plugin and both content hashes when
    any plugin differs or is missing, unless ``force`` is true.
    """
    now = {p["name"]: p for p in loaded}
    problems: list[str] = []
    for p in header.plugins:
        cur = now.get(p["name"])
        if cur is None:
            problems.append(f"plugin {p['name']!r} {p['version']} is in the replay but not loaded")
        elif cur.get("content_hash") != p["content_hash"]:
            problems.append(
                f"plugin {p['name']!r}: replay recorded version {p['version']} "
                f"(hash {p['content_hash']}), loaded version {cur.get('version')} "
                f"(hash {cur.get('content_hash')})"
            )
    if problems and not force:
        raise PluginMismatchError(
            "replay was recorded with other plugin code: "
            + "; ".join(problems)
            + ". Load the recorded versions, or pass force to replay anyway"
        )
    return problems
