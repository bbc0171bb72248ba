"""The root of every error GPI Sandbox raises.

Each subpackage has its own ``errors.py`` whose classes derive from
:class:`GpiError` and from the builtin that matches the failure, so callers can
catch either ``GpiError`` or, say, ``ValueError``.
"""

__all__ = ["GpiError"]


class GpiError(Exception):
    """Base class of all GPI Sandbox errors."""
