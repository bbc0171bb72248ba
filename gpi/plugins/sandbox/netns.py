"""A private, empty network namespace for a plugin child.

``unshare(CLONE_NEWNET)`` moves the child into a network namespace that has
only a loopback device, and that device is down: nothing is reachable, not
even the host's 127.0.0.1. Python 3.11 has no ``os.unshare`` (3.12 does), so we
call libc's through ctypes. It needs CAP_SYS_ADMIN; without it we try a new
user namespace too (``CLONE_NEWUSER | CLONE_NEWNET``), which the kernel allows
only in a single-threaded process and only if unprivileged user namespaces
are enabled. When neither works the layer reports inactive and seccomp's
socket denial (and Landlock's TCP rules on ABI >= 4) still apply.
"""

from __future__ import annotations

import ctypes
import os

from gpi.plugins.sandbox._libc import libc

__all__ = ["unshare_network"]

CLONE_NEWNET = 0x40000000
CLONE_NEWUSER = 0x10000000


def _unshare(flags: int) -> int:
    fn = libc().unshare
    fn.argtypes = [ctypes.c_int]
    fn.restype = ctypes.c_int
    if fn(flags) == 0:
        return 0
    return ctypes.get_errno()


def unshare_network() -> tuple[bool, str]:
    """Enter a new network namespace if the kernel lets us; ``(active, detail)``."""
    err = _unshare(CLONE_NEWNET)
    if err == 0:
        return True, "private network namespace (loopback down)"
    first = os.strerror(err)
    err2 = _unshare(CLONE_NEWUSER | CLONE_NEWNET)
    if err2 == 0:
        return True, "private user+network namespace (loopback down)"
    return False, (
        f"unshare(CLONE_NEWNET) failed: {first}; with CLONE_NEWUSER: {os.strerror(err2)} "
        "(needs root, or unprivileged user namespaces and a single-threaded child)"
    )
