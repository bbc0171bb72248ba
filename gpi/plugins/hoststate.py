"""Host state: a world snapshot plus the save-store items of the plugins that may save.

What a replay must restore to re-run a host from some tick is the world and
everything else its systems read: for plugins with the ``save`` capability,
their saved items (``ctx.load``). A recording stores host states as its
initial snapshot and keyframes; a host with no save-granted plugin stores the
plain world snapshot, byte for byte, so the format costs nothing when unused.

Byte layout (little-endian) when there are save-granted plugins::

    0    8  magic     b"GPIHOST1"
    8    8  length    uint64, bytes of the world snapshot that follows
    16   .. world     World.snapshot() bytes (see gpi.ecs.snapshot)
    16+length .. saves msgpack map {plugin: {key: value}}

Anything else is read as a plain world snapshot (``saves`` is ``None``).
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from typing import Any

import msgpack

from gpi.errors import GpiError

__all__ = [
    "MAGIC",
    "HostStateError",
    "capture_host_state",
    "decode_host_state",
    "encode_host_state",
    "restore_host_state",
]

MAGIC = b"GPIHOST1"
_HEAD = struct.Struct("<8sQ")


class HostStateError(GpiError, ValueError):
    """Host-state bytes that start like one but are cut short or corrupt."""


def encode_host_state(world_snapshot: bytes, saves: Mapping[str, Mapping[str, Any]] | None) -> bytes:
    """``world_snapshot`` as is when ``saves`` is None or empty, else the layout above."""
    if not saves:
        return world_snapshot
    packed = msgpack.packb({str(k): dict(v) for k, v in saves.items()}, use_bin_type=True)
    return b"".join((_HEAD.pack(MAGIC, len(world_snapshot)), world_snapshot, packed))


def decode_host_state(data: bytes) -> tuple[bytes, dict[str, dict[str, Any]] | None]:
    """``(world snapshot bytes, saves or None)``; raises :class:`HostStateError` when corrupt."""
    if bytes(data[:8]) != MAGIC:
        return bytes(data), None
    if len(data) < _HEAD.size:
        raise HostStateError(f"host state cut short: {len(data)} bytes, its header alone is {_HEAD.size}")
    _, n = _HEAD.unpack_from(data)
    end = _HEAD.size + n
    if end > len(data):
        raise HostStateError(f"host state cut short: the world snapshot needs {n} bytes, {len(data) - _HEAD.size} follow")
    try:
        saves = msgpack.unpackb(bytes(data[end:]), raw=False)
    except (ValueError, TypeError, msgpack.UnpackException) as exc:
        raise HostStateError(f"host state: the saved items are corrupt ({exc})") from None
    if not isinstance(saves, dict) or not all(isinstance(v, dict) for v in saves.values()):
        raise HostStateError("host state: the saved items are not a map of plugin -> items")
    return bytes(data[_HEAD.size:end]), saves


def capture_host_state(host: Any) -> bytes:
    """The state of a :class:`~gpi.plugins.host.PluginHost` between ticks (world + saves)."""
    saves = host.saves.state() if host.saves.plugins() else None
    return encode_host_state(host.world.snapshot(), saves)


def restore_host_state(host: Any, data: bytes) -> None:
    """Load ``data`` (host state or plain world snapshot) into ``host``'s world and save store.

    A plain world snapshot empties the save-granted plugins' items (they had
    none to record).
    """
    world_bytes, saves = decode_host_state(data)
    host.world.restore(world_bytes)
    if host.saves.plugins():
        host.saves.load_state(saves or {})
