"""The C library through ctypes, loaded once, with errno kept."""

from __future__ import annotations

import ctypes
import functools
import os

__all__ = ["errno_error", "libc"]


@functools.cache
def libc() -> ctypes.CDLL:
    """This process's libc (``use_errno`` so failures carry their errno)."""
    return ctypes.CDLL(None, use_errno=True)


def errno_error(what: str) -> OSError:
    """An ``OSError`` for the errno the last ctypes call left behind."""
    err = ctypes.get_errno()
    return OSError(err, f"{what}: {os.strerror(err)}")
