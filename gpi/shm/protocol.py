"""Message framing on the channel: one msgpack map per ring frame.

Every message is a msgpack map with at least ``"v": PROTOCOL_VERSION`` and a
string ``"kind"``. :func:`encode` stamps the version; :func:`decode` checks
it, checks the kind against the channel's known kinds and ignores fields it
does not know (so either side may add fields without breaking the other).
Big arrays never travel here: they go through the output arena and the
message carries a small reference (see :mod:`gpi.shm.arena`).

Wire: ``msgpack.packb(msg, use_bin_type=True)``; strings are UTF-8, bytes are
bin. The channel's hot path encodes and decodes the common subset (nil, bool,
int, float, str, bytes, lists, str-keyed maps) in the Cython ring kernel,
byte-for-byte the same as msgpack (property-tested), and falls back to msgpack
for anything else. A frame that is not valid msgpack, not a map, too large, of another
protocol version or of an unknown kind is refused with
:class:`~gpi.shm.errors.FrameError` / :class:`~gpi.shm.errors.ProtocolError`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import msgpack

from gpi.shm.errors import FrameError, ProtocolError

__all__ = [
    "CORE_KINDS",
    "PROTOCOL_VERSION",
    "decode",
    "encode",
    "make_kinds",
    "new_packer",
]

# Bump on any incompatible change of message meaning or framing.
PROTOCOL_VERSION = 1

# Kinds every channel understands; users add theirs with Channel.create(kinds=...).
CORE_KINDS: frozenset[str] = frozenset(
    {"hello", "welcome", "ping", "pong", "call", "result", "error", "log", "shutdown", "bye"}
)

_packb = msgpack.packb
_unpackb = msgpack.unpackb


def make_kinds(extra: Iterable[str] | None = None) -> frozenset[str]:
    """The core kinds plus ``extra`` (each a non-empty string)."""
    kinds = set(CORE_KINDS)
    for k in extra or ():
        if not isinstance(k, str) or not k:
            raise ProtocolError(f"message kinds must be non-empty strings, got {k!r}")
        kinds.add(k)
    return frozenset(kinds)


def new_packer() -> Any:
    """A reusable msgpack ``pack`` function (much cheaper per call than ``msgpack.packb``)."""
    return msgpack.Packer(use_bin_type=True).pack


_default_pack = new_packer()
_V_FIELD = _packb("v") + _packb(PROTOCOL_VERSION)


def _map_header(n: int) -> bytes:
    if n < 16:
        return bytes((0x80 | n,))
    if n < 1 << 16:
        return b"\xde" + n.to_bytes(2, "big")
    return b"\xdf" + n.to_bytes(4, "big")


def encode(
    msg: Mapping[str, Any], *, kinds: frozenset[str], max_size: int, pack: Any = None
) -> bytes:
    """The frame bytes of ``msg`` with ``"v": PROTOCOL_VERSION`` stamped in (first key).

    ``pack`` is a reusable packer from :func:`new_packer` (not thread-safe: one per sender).
    """
    kind = msg.get("kind")
    if not isinstance(kind, str) or kind not in kinds:
        raise ProtocolError(
            f"cannot send a message of kind {kind!r}: not a known kind "
            f"(known: {', '.join(sorted(kinds))}); add it with kinds=..."
        )
    if type(msg) is not dict or "v" in msg:
        msg = {k: x for k, x in msg.items() if k != "v"}
    try:
        body: bytes = (pack or _default_pack)(msg)
    except (TypeError, ValueError, OverflowError) as exc:
        raise FrameError(f"message of kind {kind!r} cannot be encoded as msgpack: {exc}") from exc
    n = len(msg)
    skip = 1 if n < 16 else 3 if n < 1 << 16 else 5
    data = _map_header(n + 1) + _V_FIELD + body[skip:]
    if len(data) > max_size:
        raise FrameError(
            f"message of kind {kind!r} is {len(data)} bytes, over the size limit {max_size}; "
            "put large arrays in the arena"
        )
    return data


def decode(data: bytes, *, kinds: frozenset[str], max_size: int) -> dict[str, Any]:
    """The message map in ``data``, validated (version, kind, size)."""
    if len(data) > max_size:
        raise FrameError(f"message of {len(data)} bytes is over the size limit {max_size}")
    try:
        msg = _unpackb(data, raw=False)
    except Exception as exc:  # msgpack raises several unrelated types on garbage
        head = data[:16].hex()
        raise FrameError(
            f"garbage bytes: a {len(data)}-byte frame is not a msgpack message ({exc}); starts {head}"
        ) from exc
    if type(msg) is not dict:
        raise ProtocolError(f"a message must be a msgpack map, got {type(msg).__name__}")
    v = msg.get("v")
    if v != PROTOCOL_VERSION:
        raise ProtocolError(
            f"message has protocol version {v!r}, this side speaks {PROTOCOL_VERSION}: "
            "host and child run different GPI versions"
        )
    kind = msg.get("kind")
    if not isinstance(kind, str) or kind not in kinds:
        raise ProtocolError(f"unknown message kind {kind!r} (known: {', '.join(sorted(kinds))})")
    return msg
