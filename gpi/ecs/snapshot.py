"""Snapshots: the whole world state as one lz4-compressed byte string.

Byte layout (little-endian)::

    0   8  magic    b"GPISNAP\\0"
    8   4  version  uint32, FORMAT_VERSION
    12  4  flags    uint32, bit 0 (FLAG_BODY_HASH): the body hash follows the body
    16  8  checksum uint64, World.checksum() of the state
    24  8  length   uint64, bytes of the compressed body that follow
    32  .. body     lz4 frame of a msgpack map:
                    seed, epoch, components (schema dicts),
                    entities {count, capacity, generation, table, row, free}
                    (raw little-endian array bytes), tables [{id, components,
                    rows, entities, columns {name: bytes}}] (live rows only),
                    resources, events, and when used: changes (gpi.ecs.changes
                    state; tables then carry ticks {name: [added, changed]}),
                    relations [relation dicts], input_prev (last tick's keys)
    32+length 8     body hash, uint64 xxh64 of the body bytes (with FLAG_BODY_HASH)

Two checks guard a snapshot: the body hash (xxh64, ~30 µs for a 10k-entity
world, checked before anything is decompressed) catches any damaged byte,
including the fields the world checksum does not cover (seed, epoch, free
list, events); the header's world checksum, recomputed over the rebuilt
world, checks that the body reproduces the state (entities, tables, values,
resources) with this build's checksum. The lz4 frame carries no content
checksum of its own (it would repeat the body hash at ~6x its cost).
Snapshots written before the body hash (flags 0, lz4 content checksum inside
the frame) still load.

Loading rebuilds the world in fresh segments, then recomputes the checksum and
compares it with the header: a snapshot that decodes but does not reproduce
the same state is refused. Anything wrong (short, wrong magic, unknown
version, corrupt compression, bad fields) raises :class:`SnapshotError`.
:func:`decode_snapshot` returns a new :class:`~gpi.ecs.storage.Storage`, which
:meth:`World.restore` swaps in whole, so a refused snapshot leaves the world
as it was.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Any

import lz4.frame
import msgpack
import numpy as np
from xxhash import xxh64_intdigest

from gpi.ecs.changes import ChangeState
from gpi.ecs.checksum import storage_checksum
from gpi.ecs.component import Component
from gpi.ecs.errors import SnapshotError
from gpi.ecs.relations import Relation
from gpi.ecs.resources import Events, Resources
from gpi.ecs.storage import Storage
from gpi.ecs.table import MIN_ROWS

if TYPE_CHECKING:
    from gpi.ecs.reader import WorldReader

__all__ = ["FLAG_BODY_HASH", "FORMAT_VERSION", "MAGIC", "decode_snapshot", "encode_snapshot", "parse_snapshot"]

MAGIC = b"GPISNAP\0"
FORMAT_VERSION = 1
FLAG_BODY_HASH = 1
_HEADER = struct.Struct("<8sIIQQ")
_HASH = struct.Struct("<Q")


def _raw(arr: np.ndarray, dtype: str | None = None) -> Any:
    """The raw bytes of a contiguous array as msgpack ``bin`` without a copy (converted to ``dtype`` if it differs)."""
    if dtype is not None and arr.dtype != np.dtype(dtype):
        return arr.astype(dtype).tobytes()
    if not arr.flags.c_contiguous or arr.dtype.kind in "mM":  # datetimes have no buffer export
        return arr.tobytes()
    return arr.data  # a memoryview: msgpack packs it as bin (its raw bytes), copied once


def encode_snapshot(world: WorldReader) -> bytes:
    """Serialise ``world`` (see the module doc for the format)."""
    state = world.storage
    ent = state.entities
    n = ent.count
    body = {
        "seed": state.seed,
        "epoch": state.epoch,
        "components": [c.to_dict() for c in state.components.values()],
        "entities": {
            "count": n,
            "capacity": ent.capacity,
            "alive": ent.alive_count,
            "generation": _raw(ent.generation[:n], "<u4"),
            "table": _raw(ent.table[:n], "<i4"),
            "row": _raw(ent.row[:n], "<i4"),
            "free": _raw(ent.free, "<i8"),
        },
        "tables": [
            {
                "id": t.id,
                "components": list(t.names),
                "rows": t.rows,
                "entities": _raw(t.entities[: t.rows]),
                "columns": {name: _raw(t.columns[name][: t.rows]) for name in t.names},
                **({"ticks": {n: [_raw(t.added_ticks[n][: t.rows], "<u4"), _raw(t.changed_ticks[n][: t.rows], "<u4")]
                              for n in t.tracked}} if t.tracked else {}),
            }
            for t in state.tables
        ],
        "resources": state.resources.to_dict(),
        "events": state.events.to_dict(),
    }
    if state.changes.active:
        body["changes"] = state.changes.to_state()
    if state.relations:
        body["relations"] = [state.relations[n].to_dict() for n in sorted(state.relations)]
    if state.changes.prev_input:
        body["input_prev"] = state.changes.prev_input
    packed = msgpack.packb(body, use_bin_type=True)
    # No lz4 content checksum: the header's world checksum is verified on load, which covers more.
    compressed = lz4.frame.compress(packed, content_checksum=False)
    header = _HEADER.pack(MAGIC, FORMAT_VERSION, FLAG_BODY_HASH, storage_checksum(state), len(compressed))
    return b"".join((header, compressed, _HASH.pack(xxh64_intdigest(compressed))))


def parse_snapshot(data: bytes) -> tuple[int, dict[str, Any]]:
    """The header's world checksum and the decoded body map, both checks done; raises :class:`SnapshotError`."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise SnapshotError(f"a snapshot is bytes, got {type(data).__name__}")
    data = bytes(data)
    if len(data) < _HEADER.size:
        raise SnapshotError(f"snapshot truncated: {len(data)} bytes, the header alone is {_HEADER.size}")
    magic, version, flags, checksum, length = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise SnapshotError(f"not a GPI snapshot (magic {magic!r}, expected {MAGIC!r})")
    if version != FORMAT_VERSION:
        raise SnapshotError(f"snapshot format version {version} is not supported (this build reads {FORMAT_VERSION})")
    if flags & ~FLAG_BODY_HASH:
        raise SnapshotError(f"snapshot header is corrupt: unknown flags {flags:#x}")
    trailer = _HASH.size if flags & FLAG_BODY_HASH else 0
    body = memoryview(data)[_HEADER.size : len(data) - trailer]  # no copy: lz4 reads any buffer
    if len(body) != length or len(data) < _HEADER.size + trailer:
        raise SnapshotError(
            f"snapshot truncated or padded: header says {length} body bytes"
            f"{' and an 8-byte body hash' if trailer else ''}, found {len(data) - _HEADER.size} bytes after the header"
        )
    if trailer and _HASH.unpack_from(data, len(data) - trailer)[0] != xxh64_intdigest(body):
        raise SnapshotError("snapshot body is corrupt: its xxh64 hash does not match the one stored after it")
    try:
        packed = lz4.frame.decompress(body)
    except RuntimeError as exc:
        raise SnapshotError(f"snapshot body is corrupt (lz4: {exc})") from None
    try:
        obj = msgpack.unpackb(packed, raw=False, strict_map_key=False)
    except (ValueError, TypeError, msgpack.UnpackException) as exc:  # TypeError: e.g. a list as a map key
        raise SnapshotError(f"snapshot body is corrupt (msgpack: {exc})") from None
    if not isinstance(obj, dict):
        raise SnapshotError("snapshot body is not a map")
    return checksum, obj


def _array(buf: Any, dtype: Any, count: int, what: str) -> np.ndarray:
    dt = np.dtype(dtype)
    if not isinstance(buf, bytes) or len(buf) != dt.itemsize * count:
        raise SnapshotError(f"snapshot field {what} is corrupt: expected {dt.itemsize * count} bytes")
    return np.frombuffer(buf, dtype=dt)


def _sized(buf: Any, size: int, what: str) -> None:
    """Refuse a field of the wrong size before its count is used to allocate anything."""
    if not isinstance(buf, bytes) or len(buf) != size or size < 0:
        raise SnapshotError(f"snapshot field {what} is corrupt: expected {max(size, 0)} bytes")


def _load(state: Storage, body: dict[str, Any]) -> None:
    """Fill an empty host ``state`` from a decoded body."""
    state.seed = int(body["seed"])
    epoch = int(body["epoch"])
    state.register(Component.from_dict(d) for d in body["components"])
    state.changes = ChangeState.from_state(body.get("changes"))
    state.changes.prev_input = dict(body.get("input_prev") or {})
    state.relations = {d["name"]: Relation.from_dict(d) for d in body.get("relations", ())}
    e = body["entities"]
    n = int(e["count"])
    _sized(e["generation"], 4 * n, "entities.generation")  # before anything is allocated for n
    state.grow_entities(max(n, 1))
    ent = state.entities
    ent.count = n
    ent.alive_count = int(e["alive"])
    ent.generation[:n] = _array(e["generation"], "<u4", n, "entities.generation")
    ent.table[:n] = _array(e["table"], "<i4", n, "entities.table")
    ent.row[:n] = _array(e["row"], "<i4", n, "entities.row")
    free = e["free"]
    if not isinstance(free, bytes) or len(free) % 8:
        raise SnapshotError("snapshot field entities.free is malformed")
    ent.free = np.frombuffer(free, dtype="<i8").astype(np.int64)
    for i, te in enumerate(body["tables"]):
        if int(te["id"]) != i:
            raise SnapshotError(f"snapshot tables out of order: entry {i} has id {te['id']}")
        names = frozenset(te["components"])
        comps = tuple(state.component(c) for c in sorted(names))
        rows = int(te["rows"])
        _sized(te["entities"], 8 * rows, f"tables[{i}].entities")
        cap = MIN_ROWS
        while cap < rows:
            cap *= 2
        t = state.add_table(comps, cap)
        ents = _array(te["entities"], np.uint64, rows, f"tables[{i}].entities")
        vals = {
            c.name: _array(te["columns"][c.name], c.dtype, rows * c.ncols, f"tables[{i}].{c.name}").reshape(
                (rows, *c.shape))
            for c in comps
        }
        t.append(ents, vals)
        ticks = te.get("ticks", {})
        if set(ticks) != set(t.tracked):
            raise SnapshotError(f"snapshot tables[{i}] change ticks do not match the tracked components")
        for tn, (added, changed) in ticks.items():
            t.added_ticks[tn][:rows] = _array(added, "<u4", rows, f"tables[{i}].ticks.{tn}")
            t.changed_ticks[tn][:rows] = _array(changed, "<u4", rows, f"tables[{i}].ticks.{tn}")
    state.set_epoch(epoch)
    # Cross-check the entity index against the tables.
    alive = np.flatnonzero(ent.table[:n] >= 0)
    if len(alive) != sum(t.rows for t in state.tables) or len(alive) != ent.alive_count:
        raise SnapshotError("snapshot entity index does not match its tables")
    if len(alive):
        tids = ent.table[alive]
        if tids.max() >= len(state.tables):
            raise SnapshotError("snapshot entity index names a table that does not exist")
    state.resources = Resources(body["resources"])
    state.events = Events(body["events"])


def decode_snapshot(data: bytes, *, name: str = "gpi-ecs", first_id: int = 1) -> Storage:
    """The state of a snapshot, in a new :class:`Storage` (segments named ``name``, ids from ``first_id``).

    Raises :class:`SnapshotError` (and releases whatever it built) when the
    snapshot is damaged or does not reproduce its checksum. The state keeps
    the snapshot's epoch; :meth:`World.restore` moves it on before swapping it in.
    """
    checksum, body = parse_snapshot(data)
    state = Storage.create(name, first_id=first_id)
    try:
        try:
            _load(state, body)
        except SnapshotError:
            raise
        except Exception as exc:  # KeyError, TypeError, EcsError, ... (even SyntaxError from a garbled dtype)
            raise SnapshotError(f"snapshot content is malformed or corrupt: {exc!r}") from None
        got = storage_checksum(state)
        if got != checksum:
            raise SnapshotError(
                f"snapshot does not reproduce its state (corrupt, or written by a build with another "
                f"checksum): checksum {got:#x}, header says {checksum:#x}"
            )
    except BaseException:
        state.close()
        raise
    return state
