"""World snapshot files: save a running world to disk and load it back.

Layout of a snapshot file (little-endian)::

    offset  size  field
    0       8     magic b"GPISNAP1"
    8       4     u32 header length H
    12      H     JSON header {"tick": int, "checksum": int, "entities": int}
    12+H    ...   World.snapshot() bytes

Writes are atomic: a temporary file in the same folder, fsync, rename, fsync
of the folder; a crash leaves the old file or the new one, never a mix. On
load the world checksum is compared with the header's.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

from gpi.ecs import World
from gpi.errors import GpiError
from gpi.fsio import AtomicFile

__all__ = ["MAGIC", "SnapshotFileError", "load_world", "read_header", "save_world"]

MAGIC = b"GPISNAP1"


class SnapshotFileError(GpiError, ValueError):
    """A snapshot file is missing, truncated, of another format, or does not match its checksum."""


def save_world(world: World, path: str | os.PathLike[str], *, tick: int = 0) -> Path:
    """Write ``world`` (and the tick it is at) to ``path`` atomically; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = json.dumps({"tick": int(tick), "checksum": int(world.checksum()),
                         "entities": int(world.entity_count)}).encode()
    with AtomicFile(path) as fh:
        fh.write(MAGIC + struct.pack("<I", len(header)) + header)
        fh.write(world.snapshot())
    return path


def _split(path: Path) -> tuple[dict[str, int], bytes]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SnapshotFileError(f"snapshot {path}: cannot read: {exc}") from exc
    if len(data) < 12 or data[:8] != MAGIC:
        raise SnapshotFileError(f"snapshot {path}: not a GPI world snapshot (bad magic); save one with "
                                "PluginHost.save_world or gpi run --save-at")
    (hlen,) = struct.unpack_from("<I", data, 8)
    if 12 + hlen > len(data):
        raise SnapshotFileError(f"snapshot {path}: truncated header")
    try:
        header = json.loads(data[12:12 + hlen])
    except ValueError as exc:
        raise SnapshotFileError(f"snapshot {path}: corrupt header: {exc}") from exc
    return header, data[12 + hlen:]


def read_header(path: str | os.PathLike[str]) -> dict[str, int]:
    """The JSON header of a snapshot file (tick, checksum, entities)."""
    return _split(Path(path))[0]


def load_world(world: World, path: str | os.PathLike[str]) -> int:
    """Restore ``world`` from a snapshot file; returns the tick it was saved at."""
    path = Path(path)
    header, body = _split(path)
    try:
        world.restore(body)
    except Exception as exc:
        raise SnapshotFileError(f"snapshot {path}: cannot restore the world: {exc}") from exc
    if int(world.checksum()) != int(header.get("checksum", -1)):
        raise SnapshotFileError(f"snapshot {path}: restored world checksum differs from the file's header")
    return int(header.get("tick", 0))
