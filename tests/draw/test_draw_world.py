"""Draw lists built straight from a real World's shared-memory columns (render components)."""

from __future__ import annotations

import numpy as np

from gpi import draw as d
from gpi.draw import DrawList
from gpi.ecs import Component
from gpi.ecs.render_components import RENDER_COMPONENTS, Circle, Line, Quad, circle, line, quad
from gpi.ecs.world import World

POSITION = Component("Position", "float32", (2,))


def test_render_components_round_trip_and_layout():
    for comp in RENDER_COMPONENTS:
        assert Component.from_dict(comp.to_dict()) == comp
    assert (Quad.itemsize, Circle.itemsize, Line.itemsize) == (20, 12, 20)
    q = quad(2, (3, 4), (1, 2, 3, 4), layer=[5, 6], rotation=0.5)
    assert q["layer"].tolist() == [5, 6] and q["size"][1].tolist() == [3, 4]


def test_world_columns_draw_without_copies_and_match_reference():
    rng = np.random.default_rng(5)
    with World() as w:
        w.register(POSITION, Quad, Circle, Line)
        n = 64
        pos = rng.uniform(-50, 50, (n, 2)).astype(np.float32)
        quads = quad(n, rng.uniform(1, 5, (n, 2)), rng.integers(0, 256, (n, 4)),
                     rng.integers(-2, 3, n), rng.uniform(-3, 3, n))
        w.spawn(n, {"Position": pos, "Quad": quads})
        w.spawn(8, {"Position": pos[:8], "Circle": circle(8, 2.0, (0, 0, 255, 255), 1),
                    "Line": line(8, (3, 4), 0.5, (0, 255, 0, 255), 2)})
        dl = DrawList.allocate(1 << 14)
        for chunk in w.query("Position", "Quad"):
            column = chunk["Quad"]
            assert not column.flags.writeable  # the world's own read-only view
            dl.draw_quad_components(chunk["Position"], column)
        for chunk in w.query("Position", "Circle", "Line"):
            dl.draw_circle_components(chunk["Position"], chunk["Circle"])
            dl.draw_line_components(chunk["Position"], chunk["Line"])
        hdr = dl.finish()
        batches = d.read_batches(dl.buffer, hdr)
        assert list(batches["layer"]) == sorted(batches["layer"])
        verts = d.vertex_view(dl.buffer, hdr)
        ref, _, counts = d.quads_reference(pos, quads["size"], quads["color"], quads["layer"],
                                           quads["rotation"])
        got = verts[: ref.size]
        np.testing.assert_allclose(got["pos"], ref["pos"], atol=1e-4)
        assert np.array_equal(got["color"], ref["color"])
        assert hdr.vertex_count == 6 * n + 8 * (3 * d.DEFAULT_CIRCLE_SEGMENTS + 6)
