"""GLSL 3.30 core shaders of the 2D renderer.

One program draws every draw-list vertex (float32 x, y + normalised uint8
RGBA, see :mod:`gpi.draw`): the vertex shader moves each
vertex back along its motion (float32 dx, dy: how far it moved during the
last tick; a constant zero for lists without a motion stream) by
``u_lag = 1 - alpha`` of it, so a frame drawn ``alpha`` of the way between two
ticks shows the shapes there (render interpolation; ``u_lag = 0`` and zero
motion leave ``a_pos`` exactly as it is), then maps world coordinates to clip
space with ``u_transform = (sx, sy, ox, oy)``
(:meth:`gpi.runtime.render.camera.Camera.transform`); the fragment shader
writes the vertex colour (alpha blended by the renderer).
"""

from __future__ import annotations

__all__ = ["FRAGMENT_SHADER", "VERTEX_SHADER"]

VERTEX_SHADER = """
#version 330 core
layout(location = 0) in vec2 a_pos;
layout(location = 1) in vec4 a_color;
layout(location = 2) in vec2 a_motion;
uniform vec4 u_transform;
uniform float u_lag;
out vec4 v_color;
void main() {
    vec2 p = a_pos - a_motion * u_lag;
    gl_Position = vec4(p * u_transform.xy + u_transform.zw, 0.0, 1.0);
    v_color = a_color;
}
"""

FRAGMENT_SHADER = """
#version 330 core
in vec4 v_color;
out vec4 frag_color;
void main() {
    frag_color = v_color;
}
"""
