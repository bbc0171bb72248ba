"""A read-only world in another process, rebuilt from a layout message.

The host sends :meth:`World.layout` (a msgpack-able dict) and the fds of the
segments the child has not seen yet (segment ids are stable and never reused,
see :mod:`gpi.ecs.storage`). The child attaches them read-only
(:func:`attach_segments`) and builds a :class:`WorldView`: the same
``query``/``get``/``is_alive``/``components`` as the host world, over the very
same memory. The segments are sealed, so the child cannot get a writable
mapping even by asking the kernel directly; numpy views are read-only too.

Per frame the host may change values in place (same epoch, no new message
needed) or change the layout (new epoch): then it sends a new layout and
:meth:`WorldView.update` rebuilds the views. Resources and events travel in
the frame message and are set with :meth:`WorldView.set_frame_state`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from gpi.ecs.component import Component
from gpi.ecs.entities import EntityIndex
from gpi.ecs.errors import LayoutError
from gpi.ecs.reader import WorldReader
from gpi.ecs.resources import Events, Resources
from gpi.ecs.table import Table
from gpi.shm import Segment

__all__ = ["WorldView", "attach_segments", "layout_segment_ids", "missing_segment_ids"]

LAYOUT_VERSION = 1


def layout_segment_ids(layout: dict[str, Any]) -> list[int]:
    """Ids of every segment a layout uses, in the order the layout lists them."""
    try:
        return [int(sid) for sid, _size in layout["segments"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise LayoutError(f"layout has no valid 'segments' list: {exc!r}") from exc


def missing_segment_ids(layout: dict[str, Any], known: Iterable[int]) -> list[int]:
    """Segment ids of ``layout`` not in ``known``: the fds a host still has to send."""
    have = set(known)
    return [sid for sid in layout_segment_ids(layout) if sid not in have]


def attach_segments(
    layout: dict[str, Any], ids: Sequence[int], fds: Sequence[int], known: dict[int, Segment] | None = None
) -> dict[int, Segment]:
    """Map received ``fds`` (for segment ``ids``) read-only; returns ``known`` plus them, minus unused ones.

    Segments no longer in the layout are closed. Ownership of ``fds`` passes to the segments.
    """
    if len(ids) != len(fds):
        raise LayoutError(f"got {len(fds)} fds for {len(ids)} segment ids")
    sizes = {int(sid): int(size) for sid, size in layout["segments"]}
    out = dict(known or {})
    for sid, fd in zip(ids, fds):
        if sid not in sizes:
            raise LayoutError(f"segment {sid} is not part of the layout (epoch {layout.get('epoch')})")
        old = out.pop(sid, None)
        if old is not None:
            old.close()
        out[sid] = Segment.attach(fd, sizes[sid], readonly=True, name=f"gpi-ecs-{sid}")
    for sid in [s for s in out if s not in sizes]:
        out.pop(sid).close()
    return out


class WorldView(WorldReader):
    """Read-only world over segments mapped from the host (see the module doc)."""

    def __init__(self) -> None:
        """An empty view; use :meth:`from_layout`."""
        super().__init__()
        self._segments: dict[int, Segment] = {}

    @classmethod
    def from_layout(cls, layout: dict[str, Any], segments: dict[int, Segment]) -> WorldView:
        """Build a view of ``layout`` over ``segments`` (id -> read-only Segment; the caller owns them)."""
        view = cls()
        view.update(layout, segments)
        return view

    def update(self, layout: dict[str, Any], segments: dict[int, Segment]) -> None:
        """Rebuild the views for a new layout (epoch); raises :class:`LayoutError` if it does not fit."""
        if not isinstance(layout, dict) or layout.get("v") != LAYOUT_VERSION:
            raise LayoutError(f"unknown layout format {layout.get('v') if isinstance(layout, dict) else layout!r}; "
                              f"expected v={LAYOUT_VERSION}")
        try:
            sizes = {int(sid): int(size) for sid, size in layout["segments"]}
            for sid, size in sizes.items():
                seg = segments.get(sid)
                if seg is None:
                    raise LayoutError(f"layout (epoch {layout.get('epoch')}) needs segment {sid}, "
                                      f"which was not given; have {sorted(segments)}")
                if seg.size < size:
                    raise LayoutError(f"segment {sid} is {seg.size} bytes, layout says {size}")
            comps = {d["name"]: Component.from_dict(d) for d in layout["components"]}
            entities = EntityIndex.from_layout(layout["entities"], segments)
            tables = [Table.from_layout(e, comps, segments) for e in layout["tables"]]
            epoch = int(layout["epoch"])
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, LayoutError):
                raise
            raise LayoutError(f"malformed layout: {exc!r}") from exc
        if [t.id for t in tables] != list(range(len(tables))):
            raise LayoutError("layout tables must be listed by id, 0..n-1")
        self._components = comps
        self._entities = entities
        self._tables = tables
        self._epoch = epoch
        self._segments = segments
        self._queries.clear()

    def set_frame_state(self, resources: dict[str, Any] | None, events: dict[str, list[Any]] | None) -> None:
        """This frame's resources and events, as sent by the host."""
        self._resources = Resources(resources or {})
        self._events = Events(events or {})

    def close(self) -> None:
        """Drop every view (the segments belong to the caller). Safe to call twice."""
        self._tables = []
        self._segments = {}
        self._queries.clear()

    def __enter__(self) -> WorldView:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<WorldView entities={self.entity_count} tables={len(self._tables)} epoch={self._epoch}>"
