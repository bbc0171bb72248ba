"""``prctl`` settings for a plugin child: no new privileges, parent-death signal.

``PR_SET_NO_NEW_PRIVS`` makes ``execve`` unable to grant privileges (setuid
bits, file capabilities) and is what lets an unprivileged process install
seccomp filters and Landlock rulesets. It can never be unset.

``PR_SET_PDEATHSIG(SIGKILL)`` kills the child when the *thread* that forked it
exits: the host should start children from a long-lived thread (its main
thread). If the parent is already gone when we ask, we say so. The kernel
clears it when the process's credentials change, so the privilege layer arms
it again after switching uid.
"""

from __future__ import annotations

import ctypes
import os
import signal

from gpi.plugins.sandbox._libc import errno_error, libc

__all__ = ["get_no_new_privs", "parent_death_signal", "seccomp_mode", "set_no_new_privs",
           "set_parent_death_signal"]

PR_SET_PDEATHSIG = 1
PR_GET_PDEATHSIG = 2
PR_GET_SECCOMP = 21
PR_SET_NO_NEW_PRIVS = 38
PR_GET_NO_NEW_PRIVS = 39


def _prctl(option: int, arg2: int = 0) -> int:
    fn = libc().prctl
    fn.restype = ctypes.c_int
    fn.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    rc = int(fn(option, arg2, 0, 0, 0))
    if rc < 0:
        raise errno_error(f"prctl({option})")
    return rc


def set_no_new_privs() -> tuple[bool, str]:
    """Set ``PR_SET_NO_NEW_PRIVS``; ``(active, detail)``."""
    _prctl(PR_SET_NO_NEW_PRIVS, 1)
    active = get_no_new_privs()
    return active, "PR_SET_NO_NEW_PRIVS=1" if active else "prctl succeeded but flag reads 0"


def seccomp_mode() -> int:
    """This thread's seccomp mode: 0 none, 1 strict, 2 filter."""
    return _prctl(PR_GET_SECCOMP)


def get_no_new_privs() -> bool:
    """Whether this thread has no_new_privs set."""
    return _prctl(PR_GET_NO_NEW_PRIVS) == 1


def parent_death_signal() -> int:
    """This process's parent-death signal (0: none)."""
    sig = ctypes.c_int(0)
    fn = libc().prctl
    fn.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    if fn(PR_GET_PDEATHSIG, ctypes.addressof(sig), 0, 0, 0) < 0:
        raise errno_error("prctl(PR_GET_PDEATHSIG)")
    return sig.value


def set_parent_death_signal(sig: int = signal.SIGKILL, expected_parent: int | None = None) -> tuple[bool, str]:
    """Ask for ``sig`` when the parent dies; ``(active, detail)``."""
    _prctl(PR_SET_PDEATHSIG, int(sig))
    sig_back = ctypes.c_int(0)
    fn = libc().prctl
    fn.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    if fn(PR_GET_PDEATHSIG, ctypes.addressof(sig_back), 0, 0, 0) < 0:
        raise errno_error("prctl(PR_GET_PDEATHSIG)")
    ppid = os.getppid()
    if expected_parent is not None and ppid != expected_parent:
        return False, f"parent {expected_parent} already exited (ppid is now {ppid})"
    name = signal.Signals(sig_back.value).name if sig_back.value else "0"
    return sig_back.value == int(sig), f"{name} when parent {ppid} exits"
