"""Draw-list motion streams (render interpolation): kernels vs references, layout, validation."""

from __future__ import annotations

import numpy as np
import pytest
from draw_scenes import VIEW
from draw_scenes import scene as draw_scene
from hypothesis import given, settings
from hypothesis import strategies as st

from gpi import draw as d
from gpi.draw import (
    MOTION_SIZE,
    VERTEX_SIZE,
    DrawList,
    DrawListError,
    DrawListFormatError,
    DrawListFullError,
)


def _scene(seed: int, n: int, layers: int = 4):
    """test_draw's scene (positions, sizes, colours, layers) with a motion column instead of rotations."""
    pos, size, color, layer, _ = draw_scene(seed, n, layers)
    motion = np.random.default_rng(seed + 1).uniform(-3, 3, (n, 2)).astype(np.float32)
    return pos, size, color, layer, motion


def _outs(nverts: int) -> tuple[np.ndarray, np.ndarray]:
    k = max(nverts, 1)
    return np.zeros(k * VERTEX_SIZE, np.uint8), np.full(k * MOTION_SIZE, 0xAB, np.uint8)


def _check(res, out, mout, ref) -> None:
    verts, layers, counts, motion = ref
    assert res.shapes == counts.sum() and np.array_equal(res.layers, layers)
    assert np.array_equal(res.counts, counts)
    assert np.array_equal(out[: verts.nbytes], verts.view(np.uint8))
    assert motion.dtype == np.float32 and motion.shape == (verts.size, 2)
    assert np.array_equal(mout[: motion.nbytes], motion.reshape(-1).view(np.uint8))
    assert (mout[motion.nbytes :] == 0xAB).all()  # nothing past the written vertices


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 250), cull=st.booleans(),
       rotate=st.booleans())
def test_quads_with_motion_match_reference_byte_for_byte(seed, n, cull, rotate):
    pos, size, color, layer, motion = _scene(seed, n)
    rot = np.zeros(n, np.float32) if rotate else None  # angle 0: rotated path, exact corners
    view = VIEW if cull else None
    out, mout = _outs(6 * n)
    res = d.build_quads(out, pos, size, color, layer, rot, view, motion=motion, motion_out=mout)
    _check(res, out, mout, d.quads_reference(pos, size, color, layer, rot, view, motion))


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 150), segments=st.integers(3, 30))
def test_circles_with_motion_match_reference_byte_for_byte(seed, n, segments):
    pos, size, color, layer, motion = _scene(seed, n)
    out, mout = _outs(3 * segments * n)
    res = d.build_circles(out, pos, size[:, 0], color, layer, VIEW, segments=segments,
                          motion=motion, motion_out=mout)
    _check(res, out, mout, d.circles_reference(pos, size[:, 0], color, layer, VIEW,
                                               segments=segments, motion=motion))


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 250))
def test_lines_with_motion_match_reference_byte_for_byte(seed, n):
    pos, size, color, layer, motion = _scene(seed, n)
    end = size - 15
    out, mout = _outs(6 * n)
    res = d.build_lines(out, pos, end, 2.0, color, layer, VIEW, motion=motion, motion_out=mout)
    _check(res, out, mout, d.lines_reference(pos, end, 2.0, color, layer, VIEW, motion))


def test_motion_does_not_change_the_vertices_and_broadcasts():
    pos, size, color, layer, _ = _scene(5, 100)
    plain, _ = _outs(600)
    out, mout = _outs(600)
    d.build_quads(plain, pos, size, color, layer, None, VIEW)
    res = d.build_quads(out, pos, size, color, layer, None, VIEW, motion=(1.5, -2.0), motion_out=mout)
    assert np.array_equal(out, plain)
    m = mout[: res.vertices * MOTION_SIZE].view(np.float32).reshape(-1, 2)
    assert (m == np.float32([1.5, -2.0])).all()
    # a motion output without a motion column gets zeros for what was written
    res = d.build_quads(out, pos, size, color, layer, None, VIEW, motion_out=mout)
    assert (mout[: res.vertices * MOTION_SIZE] == 0).all()


def test_kernel_motion_argument_errors():
    pos, size, color, layer, motion = _scene(1, 10)
    out, mout = _outs(60)
    with pytest.raises(DrawListError, match="motion_out"):
        d.build_quads(out, pos, size, color, layer, motion=motion)
    with pytest.raises(DrawListError, match="motion"):
        d.build_quads(out, pos, size, color, layer, motion=motion[:3], motion_out=mout)
    with pytest.raises(DrawListError, match="smaller"):
        d.build_quads(out, pos, size, color, layer, motion=motion, motion_out=mout[:16])


def test_list_without_motion_is_byte_identical_to_version_1():
    pos, size, color, layer, _ = _scene(2, 50)
    dl = DrawList.allocate(1000)
    dl.draw_quads(pos, size, color, layer)
    dl.rect(0, 0, 1, 1, (1, 2, 3))
    hdr = dl.finish()
    assert hdr.motion_offset == 0 and not hdr.has_motion and dl.motion_offset == 0
    assert hdr.vertex_capacity == 1000  # the capacity asked for, as before
    assert not dl.buffer[48:64].any()  # motion_offset 0 and the reserved bytes
    assert d.motion_view(dl.buffer) is None
    assert d.read_header(dl.buffer) == hdr


def test_motion_turns_on_at_the_first_draw_that_passes_it():
    pos, size, color, layer, motion = _scene(3, 40)
    dl = DrawList.allocate(2000)
    dl.rect(0, 0, 1, 1, (1, 2, 3))  # immediate: zero motion
    dl.draw_circles(pos[:2], 1.0, color[:2], 0)  # before the stream existed
    dl.draw_quads(pos, size, color, 0, motion=motion)
    dl.draw_lines(pos, size, 1.0, color, 0)  # no motion column: zeros
    hdr = dl.finish()
    assert hdr.has_motion and hdr.motion_offset % 64 == 0
    assert hdr.motion_offset >= hdr.vertex_offset + hdr.vertex_capacity * VERTEX_SIZE
    assert hdr.motion_offset + hdr.vertex_capacity * MOTION_SIZE <= dl.buffer.size
    assert hdr.vertex_capacity < 2000  # the stream took room from the vertices
    mv = d.motion_view(dl.buffer, hdr)
    assert mv.shape == (hdr.vertex_count, 2)
    first = 6 + 2 * 3 * d.DEFAULT_CIRCLE_SEGMENTS
    assert not mv[:first].any()
    assert np.array_equal(mv[first : first + 6 * 40], np.repeat(motion, 6, axis=0))
    assert not mv[first + 6 * 40 :].any()
    # it stays on after clear(); the list can be re-read from another mapping
    dl.clear()
    dl.draw_quads(pos[:1], 1.0, color[:1])
    hdr2 = dl.finish()
    assert hdr2.motion_offset == hdr.motion_offset and not d.motion_view(dl.buffer).any()


def test_motion_true_false_and_required_bytes():
    n = 777
    dl = DrawList.allocate(n, motion=True)
    assert dl.vertex_capacity == n and dl.motion_offset > 0
    assert dl.buffer.size == d.required_bytes(n, motion=True)
    assert d.layout_for(dl.buffer.size, motion=True)[1] == n
    assert d.read_header(dl.buffer).has_motion
    off = DrawList.allocate(n, motion=False)
    off.draw_quads(np.zeros((2, 2), np.float32), 1.0, (1, 1, 1, 1), motion=(1, 1))
    assert off.finish().motion_offset == 0 and off.vertex_capacity == n
    # no room left for a stream: the draw that would turn it on says so
    full = DrawList.allocate(60)
    full.draw_quads(np.zeros((9, 2), np.float32), 1.0, (1, 1, 1, 1))
    with pytest.raises(DrawListFullError, match="motion"):
        full.draw_quads(np.zeros((1, 2), np.float32), 1.0, (1, 1, 1, 1), motion=(1, 1))


def test_components_helpers_pass_motion():
    from gpi.ecs.render_components import circle, line, quad

    pos, size, color, layer, motion = _scene(9, 20)
    a = DrawList.allocate(4000, motion=True)
    a.draw_quad_components(pos, quad(20, size, color, layer), motion)
    a.draw_circle_components(pos, circle(20, size[:, 0], color, layer), motion)
    a.draw_line_components(pos, line(20, size, 1.0, color, layer), motion)
    b = DrawList.allocate(4000, motion=True)
    b.draw_quads(pos, size, color, layer, np.zeros(20, np.float32), motion)
    b.draw_circles(pos, size[:, 0], color, layer, motion)
    b.draw_lines(pos, size, 1.0, color, layer, motion)
    a.finish()
    b.finish()
    assert a.batches == b.batches
    assert np.array_equal(a.buffer[64:], b.buffer[64:])


def _set_u32(buf: np.ndarray, offset: int, value: int) -> np.ndarray:
    bad = buf.copy()
    bad[offset : offset + 4] = np.frombuffer(np.uint32(value).tobytes(), np.uint8)
    return bad


def test_header_validation_rejects_a_bad_motion_offset():
    dl = DrawList.allocate(100, motion=True)
    dl.draw_quads(np.zeros((2, 2), np.float32), 1.0, (1, 1, 1, 1), motion=(1, 0))
    hdr = dl.finish()
    buf = dl.buffer.copy()
    assert d.read_header(buf).motion_offset == hdr.motion_offset
    for value in (
        64,  # inside the batch table
        hdr.vertex_offset + 12,  # overlapping the vertices
        hdr.motion_offset + 2,  # misaligned
        buf.size - 8,  # the stream runs past the region
        0xFFFFFFFF,  # far outside
    ):
        with pytest.raises(DrawListFormatError, match="motion_offset"):
            d.read_header(_set_u32(buf, 48, value))
    # 0 is valid: a reader then sees a list without motion
    assert d.motion_view(_set_u32(buf, 48, 0)) is None
    # a region cut short after the header was written is caught too
    with pytest.raises(DrawListFormatError, match="motion_offset"):
        d.read_header(buf[: hdr.motion_offset + 8])
