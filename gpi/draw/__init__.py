"""Draw lists: the byte format, the builder plugins and the host draw with, the font.

A draw list is one flat byte region (usually a child's draw-list segment) that
a :class:`DrawList` fills with triangles and a renderer in another process
reads with :func:`read_header` / :func:`read_batches` / :func:`vertex_view`,
with no copy and no serialisation.

- :mod:`gpi.draw.format`: the byte layout, the header and batch table, the checked readers;
- :mod:`gpi.draw.builder`: :class:`DrawList`;
- :mod:`gpi.draw.font`: the built-in 6x11 bitmap font (:func:`text_quads`).

The kernels that write the vertices, and their numpy references, are
:mod:`gpi.cython_ext.draw`; their names are re-exported here so a plugin or a
renderer needs only ``gpi.draw``. This package imports neither SDL nor OpenGL.
"""

from gpi.cython_ext.draw import (
    BACKEND,
    DEFAULT_CIRCLE_SEGMENTS,
    LAYER_MAX,
    LAYER_MIN,
    MOTION_SIZE,
    VERTEX_DTYPE,
    VERTEX_SIZE,
    DrawListError,
    DrawListFullError,
    KernelResult,
    View,
    as_u8,
    build_circles,
    build_lines,
    build_quads,
    circles_reference,
    lines_reference,
    quads_reference,
    unit_circle,
)
from gpi.draw.builder import DrawList
from gpi.draw.font import FONT_CELL, text_quads
from gpi.draw.format import (
    BATCH_DTYPE,
    DEFAULT_BATCH_CAPACITY,
    HEADER_DTYPE,
    HEADER_SIZE,
    KIND_CIRCLE,
    KIND_LINE,
    KIND_QUAD,
    MAGIC,
    VERSION,
    DrawListFormatError,
    Header,
    layout_for,
    motion_view,
    read_batches,
    read_header,
    required_bytes,
    vertex_view,
)

__all__ = [
    "BACKEND",
    "BATCH_DTYPE",
    "DEFAULT_BATCH_CAPACITY",
    "DEFAULT_CIRCLE_SEGMENTS",
    "FONT_CELL",
    "HEADER_DTYPE",
    "HEADER_SIZE",
    "KIND_CIRCLE",
    "KIND_LINE",
    "KIND_QUAD",
    "LAYER_MAX",
    "LAYER_MIN",
    "MAGIC",
    "MOTION_SIZE",
    "VERSION",
    "VERTEX_DTYPE",
    "VERTEX_SIZE",
    "DrawList",
    "DrawListError",
    "DrawListFormatError",
    "DrawListFullError",
    "Header",
    "KernelResult",
    "View",
    "as_u8",
    "build_circles",
    "build_lines",
    "build_quads",
    "circles_reference",
    "layout_for",
    "lines_reference",
    "motion_view",
    "quads_reference",
    "read_batches",
    "read_header",
    "required_bytes",
    "text_quads",
    "unit_circle",
    "vertex_view",
]
