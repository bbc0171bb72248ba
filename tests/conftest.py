"""Shared pytest setup: headless SDL/EGL for every test that renders."""

import os

os.environ.setdefault("SDL_VIDEODRIVER", "offscreen")
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
