"""Draw-list kernels against their numpy references; culling, layer order, format checks."""

from __future__ import annotations

import os

import numpy as np
import pytest
from draw_scenes import VIEW, scene
from hypothesis import given, settings
from hypothesis import strategies as st

from gpi import draw as d
from gpi.draw import (
    BACKEND,
    VERTEX_DTYPE,
    DrawList,
    DrawListError,
    DrawListFormatError,
    DrawListFullError,
)
from gpi.errors import GpiError
from gpi.shm.segment import Segment


def _out(nverts: int) -> np.ndarray:
    return np.zeros(max(nverts, 1) * 12, dtype=np.uint8)


def _same_bytes(out: np.ndarray, ref: np.ndarray) -> bool:
    return bool(np.array_equal(out[: ref.nbytes], ref.view(np.uint8)))


def test_backend_is_compiled():
    assert BACKEND == "cython"


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 300), cull=st.booleans())
def test_quads_match_reference_byte_for_byte(seed, n, cull):
    pos, size, color, layer, _ = scene(seed, n)
    view = VIEW if cull else None
    out = _out(6 * n)
    res = d.build_quads(out, pos, size, color, layer, None, view)
    verts, layers, counts = d.quads_reference(pos, size, color, layer, None, view)
    assert res.shapes == counts.sum() == verts.size // 6
    assert np.array_equal(res.layers, layers) and np.array_equal(res.counts, counts)
    assert _same_bytes(out, verts)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 300))
def test_rotated_quads_match_reference_within_tolerance(seed, n):
    pos, size, color, layer, rot = scene(seed, n)
    out = _out(6 * n)
    res = d.build_quads(out, pos, size, color, layer, rot, VIEW)
    verts, layers, counts = d.quads_reference(pos, size, color, layer, rot, VIEW)
    assert res.shapes == counts.sum() and np.array_equal(res.counts, counts)
    got = out[: verts.nbytes].view(VERTEX_DTYPE)
    np.testing.assert_allclose(got["pos"], verts["pos"], rtol=0, atol=1e-4)
    assert np.array_equal(got["color"], verts["color"])


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 200), segments=st.integers(3, 40))
def test_circles_match_reference_byte_for_byte(seed, n, segments):
    pos, size, color, layer, _ = scene(seed, n)
    out = _out(3 * segments * n)
    res = d.build_circles(out, pos, size[:, 0], color, layer, VIEW, segments=segments)
    verts, layers, counts = d.circles_reference(pos, size[:, 0], color, layer, VIEW, segments=segments)
    assert res.vertices_per_shape == 3 * segments
    assert res.shapes == counts.sum() and np.array_equal(res.layers, layers)
    assert _same_bytes(out, verts)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 300))
def test_lines_match_reference_byte_for_byte(seed, n):
    pos, size, color, layer, rot = scene(seed, n)
    end = size - 15  # mixed signs
    end[::7] = 0  # zero-length segments too
    out = _out(6 * n)
    res = d.build_lines(out, pos, end, np.abs(rot), color, layer, VIEW)
    verts, layers, counts = d.lines_reference(pos, end, np.abs(rot), color, layer, VIEW)
    assert res.shapes == counts.sum() and np.array_equal(res.counts, counts)
    assert _same_bytes(out, verts)


def test_large_calls_match():
    n = 130_000
    pos, size, color, layer, _ = scene(7, n, layers=2)
    out = _out(6 * n)
    d.build_quads(out, pos, size, color, layer, None, None)
    verts, _, _ = d.quads_reference(pos, size, color, layer, None, None)
    assert _same_bytes(out, verts)
    out2 = _out(6 * n)
    d.build_lines(out2, pos, size, 2.0, color, layer, VIEW)
    assert _same_bytes(out2, d.lines_reference(pos, size, 2.0, color, layer, VIEW)[0])


def test_kernel_sine_cosine_accuracy():
    angles = np.concatenate([np.linspace(-8192, 8192, 20001), np.linspace(-7, 7, 2001),
                             [0.0, np.pi / 4, np.pi / 2, np.pi, 1e5, -3e5]]).astype(np.float32)
    n = angles.size
    out = _out(6 * n)
    # a 2x0 quad at the origin: its second corner is exactly (cos a, sin a)
    d.build_quads(out, np.zeros((n, 2), np.float32), (2.0, 0.0), (1, 2, 3, 4), 0, angles)
    corner = out.view(VERTEX_DTYPE)["pos"].reshape(n, 6, 2)[:, 1]
    a64 = angles.astype(np.float64)
    assert np.abs(corner[:, 0] - np.cos(a64)).max() < 2e-6
    assert np.abs(corner[:, 1] - np.sin(a64)).max() < 2e-6


def test_culling_keeps_inside_and_drops_outside():
    x0, y0, x1, y1 = VIEW
    inside = np.array([[0, 0], [x0 + 1, y0 + 1], [x1 - 1, y1 - 1]], np.float32)
    outside = np.array([[x0 - 10, 0], [x1 + 10, 0], [0, y0 - 10], [0, y1 + 10]], np.float32)
    pos = np.concatenate([inside, outside])
    out = _out(6 * len(pos))
    res = d.build_quads(out, pos, (4, 4), (9, 9, 9, 255), 0, None, VIEW)
    assert res.shapes == len(inside)
    xy = out.view(VERTEX_DTYPE)["pos"][: 6 * res.shapes].reshape(-1, 6, 2).mean(axis=1)
    assert np.allclose(xy, inside, atol=1e-5)
    # a quad whose corner pokes into the view survives (bounds, not centre)
    res = d.build_quads(out, [[x0 - 2, 0]], (6, 6), (1, 1, 1, 1), 0, None, VIEW)
    assert res.shapes == 1
    res = d.build_circles(out, [[x1 + 3, 0]], 4.0, (1, 1, 1, 1), 0, VIEW, segments=8)
    assert res.shapes == 1
    res = d.build_lines(out, [[x0 - 30, 0]], [[-10, 0]], 1.0, (1, 1, 1, 1), 0, VIEW)
    assert res.shapes == 0


@settings(max_examples=20, deadline=None)
@given(layers=st.lists(st.integers(-5, 5), min_size=0, max_size=60))
def test_layer_order_is_stable_counting_sort(layers):
    n = len(layers)
    layer = np.array(layers, np.int32)
    # encode the row index in the colour, so vertex order reveals row order
    color = np.zeros((n, 4), np.uint8)
    color[:, 0] = np.arange(n)
    out = _out(6 * n)
    res = d.build_quads(out, np.zeros((n, 2), np.float32), (1, 1), color, layer)
    rows = out.view(VERTEX_DTYPE)["color"][: 6 * n : 6, 0]
    assert list(rows) == list(np.argsort(layer, kind="stable"))
    assert list(res.layers) == sorted(set(layers))


def test_drawlist_batches_sorted_by_layer_then_submission():
    dl = DrawList.allocate(4096)
    one = np.zeros((1, 2), np.float32)
    dl.draw_quads(one, (1, 1), (1, 0, 0, 255), layer=2)
    dl.draw_circles(one, 1.0, (2, 0, 0, 255), layer=1)
    dl.rect(0, 0, 1, 1, (3, 0, 0), layer=2)
    dl.line(0, 0, 1, 1, (4, 0, 0), layer=-1)
    dl.rect(0, 0, 1, 1, (5, 0, 0), layer=2)  # merges with the previous rect batch? no: line between
    hdr = dl.finish()
    batches = d.read_batches(dl.buffer, hdr)
    verts = d.vertex_view(dl.buffer, hdr)
    firsts = [int(verts["color"][b["first"], 0]) for b in batches]
    assert list(batches["layer"]) == [-1, 1, 2, 2, 2]
    assert firsts == [4, 2, 1, 3, 5]
    assert hdr.vertex_count == 6 * 4 + 3 * d.DEFAULT_CIRCLE_SEGMENTS


def test_consecutive_draws_of_one_layer_merge_into_one_batch():
    dl = DrawList.allocate(4096)
    for _ in range(5):
        dl.rect(0, 0, 1, 1, (1, 2, 3), layer=3)
    dl.draw_quads(np.zeros((4, 2), np.float32), (1, 1), (1, 2, 3, 4), 3)
    assert dl.batches == [(3, d.KIND_QUAD, 0, 54)]


def test_structured_component_columns_and_broadcasts_are_accepted_without_copies():
    from gpi.ecs.render_components import Quad, quad

    n = 50
    pos, size, color, layer, rot = scene(3, n)
    q = quad(n, size, color, layer, rot)
    assert q.dtype == Quad.dtype
    a, b = DrawList.allocate(6 * n), DrawList.allocate(6 * n)
    a.draw_quad_components(pos, q)
    b.draw_quads(pos, size, color, layer, rot)
    a.finish()
    b.finish()
    assert np.array_equal(a.buffer[64:], b.buffer[64:])
    # read-only inputs (as a child sees the world) work
    for arr in (pos, size, color, layer):
        arr.flags.writeable = False
    c = DrawList.allocate(6 * n)
    assert c.draw_quads(pos, size, color, layer) == n


def test_immediate_shapes_and_text():
    dl = DrawList.allocate(1 << 14)
    dl.text(0, 0, "Hi!\nok\u00e9", (255, 255, 255), scale=2, layer=4)
    hdr = dl.finish()
    assert hdr.batch_count == 1 and hdr.vertex_count > 0 and hdr.vertex_count % 6 == 0
    verts = d.vertex_view(dl.buffer, hdr)["pos"]
    # top-left at (0, 0), y up: everything in x >= 0, y <= 0, within 3 cells x 2 rows
    assert verts[:, 0].min() >= 0 and verts[:, 1].max() <= 0
    assert verts[:, 0].max() <= 3 * 6 * 2 and verts[:, 1].min() >= -2 * 11 * 2
    centres, sizes = d.text_quads(0, 0, "")
    assert centres.shape == (0, 2)
    assert d.text_quads(0, 0, "\u00e9")[0].shape == d.text_quads(0, 0, "?")[0].shape


def test_drawlist_in_a_segment_is_seen_by_a_read_only_mapping():
    with Segment.create(d.required_bytes(1000), "drawlist") as seg:
        dl = DrawList(seg)
        dl.draw_circles(np.array([[1, 2]], np.float32), 3.0, (10, 20, 30, 40), layer=7)
        dl.finish()
        with Segment.attach(os.dup(seg.fd), readonly=True) as ro:
            hdr = d.read_header(ro)
            batches = d.read_batches(ro, hdr)
            verts = d.vertex_view(ro, hdr)
            assert hdr.sequence == 2 and hdr.vertex_count == 3 * d.DEFAULT_CIRCLE_SEGMENTS
            assert list(batches["layer"]) == [7] and batches["kind"][0] == d.KIND_CIRCLE
            assert tuple(verts["color"][0]) == (10, 20, 30, 40)
            with pytest.raises(DrawListError, match="read-only"):
                DrawList(ro)


def test_full_drawlist_raises_and_leaves_state_unchanged():
    dl = DrawList.allocate(12)
    dl.rect(0, 0, 1, 1, (1, 1, 1))
    dl.draw_quads(np.zeros((1, 2), np.float32), (1, 1), (1, 1, 1, 1))
    with pytest.raises(DrawListFullError, match="do not fit") as info:
        dl.draw_quads(np.zeros((5, 2), np.float32), (1, 1), (1, 1, 1, 1))
    assert isinstance(info.value, GpiError) and isinstance(info.value, BufferError)
    assert dl.vertex_count == 12
    small = DrawList.allocate(600, batch_capacity=2)
    small.rect(0, 0, 1, 1, (1, 1, 1), layer=0)
    small.rect(0, 0, 1, 1, (1, 1, 1), layer=1)
    with pytest.raises(DrawListFullError, match="batch capacity"):
        small.draw_quads(np.zeros((2, 2), np.float32), (1, 1), (1, 1, 1, 1), [5, 6])
    assert small.vertex_count == 12 and len(small.batches) == 2


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda dl: dl.draw_quads(np.zeros((3, 3)), (1, 1), (1, 1, 1, 1)), r"\[n, 2\]"),
        (lambda dl: dl.draw_quads(np.zeros((3, 2)), np.ones((2, 2)), (1, 1, 1, 1)), "size"),
        (lambda dl: dl.draw_quads(np.zeros((1, 2)), (1, 1), (1, 1, 1)), "RGB"),
        (lambda dl: dl.draw_quads(np.zeros((1, 2)), (1, 1), (1, 1, 1, 300)), "0..255"),
        (lambda dl: dl.draw_quads(np.zeros((1, 2)), (1, 1), (1, 1, 1, 1), 40000), "layer"),
        (lambda dl: dl.draw_circles(np.zeros((1, 2)), 1.0, (1, 1, 1, 1),
                                    np.array([-40000], np.int32)), "layer"),
        (lambda dl: dl.rect(0, 0, 1, 1, (1, 2)), "color"),
        (lambda dl: dl.circle(0, 0, 1, (1, 2, 3), layer=1 << 20), "layer"),
        (lambda dl: dl.draw_lines(np.zeros((1, 2)), (1, 1), 1.0, np.array([[0.5, 0, 0, 1]])), "uint8"),
    ],
)
def test_bad_inputs_raise_clear_errors(call, match):
    dl = DrawList.allocate(100)
    with pytest.raises(DrawListError, match=match):
        call(dl)
        dl.finish()


def test_header_validation_rejects_corrupt_regions():
    dl = DrawList.allocate(100)
    dl.rect(0, 0, 1, 1, (1, 1, 1))
    dl.finish()
    buf = dl.buffer.copy()
    assert d.read_header(buf).vertex_count == 6
    with pytest.raises(DrawListFormatError, match="smaller"):
        d.read_header(buf[:10])
    bad = buf.copy()
    bad[:4] = np.frombuffer(b"XXXX", np.uint8)
    with pytest.raises(DrawListFormatError, match="magic"):
        d.read_header(bad)
    bad = buf.copy()
    bad[16:20] = np.frombuffer(np.uint32(10**6).tobytes(), np.uint8)  # vertex_count
    with pytest.raises(DrawListFormatError, match="vertex_count"):
        d.read_header(bad)
    bad = buf.copy()
    bad[12:16] = np.frombuffer(np.uint32(10**9).tobytes(), np.uint8)  # vertex_capacity
    with pytest.raises(DrawListFormatError, match="exceed"):
        d.read_header(bad)
    bad = buf.copy()
    bad[64 + 12 : 64 + 16] = np.frombuffer(np.uint32(600).tobytes(), np.uint8)  # batch count
    with pytest.raises(DrawListFormatError, match="batch 0"):
        d.read_batches(bad)
    with pytest.raises(DrawListFullError):
        DrawList(np.zeros(100, np.uint8))


def test_layout_helpers():
    off, cap = d.layout_for(d.required_bytes(123, 10), 10)
    assert off % 64 == 0 and cap == 123
    assert d.unit_circle(8).shape == (9, 2)
    with pytest.raises(DrawListError):
        d.unit_circle(2)
