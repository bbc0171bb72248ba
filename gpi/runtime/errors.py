"""Errors of the application layer (:mod:`gpi.runtime.app` and its configuration)."""

from __future__ import annotations

from gpi.errors import GpiError

__all__ = ["AppError", "SceneError"]


class AppError(GpiError, RuntimeError):
    """The application cannot do what was asked (bad configuration, missing window)."""


class SceneError(AppError, ValueError):
    """A scene file is missing, not TOML, or has a wrong field."""
