"""Name the call behind a refusal, using CPython's audit hooks.

The kernel answers a refused syscall with a bare errno; it does not say which
call it was. CPython raises an *audit event* before most sensitive operations
(``socket.__new__``, ``os.fork``, ``os.exec``, ``subprocess.Popen``,
``open`` ...). :func:`install_audit_hook` adds a hook that remembers the last
such event and the frames that made it; when the child runner later records
the resulting exception (:meth:`ViolationLog.record`), the log attaches
``"call"`` (e.g. ``"os.fork()"``) if the exception's traceback shares frames
with the event's stack and every shared frame is at the same line (the call is
still in progress), so an earlier, finished call is not blamed. The one
exception: the frame that raised the event may have moved on a few lines when
it is stdlib Python code (``subprocess`` audits, then forks).

This is reporting only, never a security boundary: code using ctypes can make
syscalls without any audit event, and the kernel layers refuse them anyway.
Audit hooks cannot be removed once added; the cost is one Python call per
audit event (mostly at import time, rare in a tick).
"""

from __future__ import annotations

import os
import sys
import sysconfig
from typing import Any

from gpi.plugins.sandbox.report import ViolationLog

__all__ = ["SENSITIVE_EVENTS", "install_audit_hook"]

SENSITIVE_EVENTS: frozenset[str] = frozenset({
    "socket.__new__", "socket.connect", "socket.bind", "socket.sendto", "socket.sendmsg",
    "os.fork", "os.forkpty", "os.exec", "os.posix_spawn", "os.spawn", "os.system",
    "subprocess.Popen", "pty.spawn", "os.kill", "os.killpg",
    "resource.setrlimit", "resource.prlimit",
    "os.mkdir", "os.remove", "os.rename", "os.rmdir", "os.symlink", "os.link", "os.truncate",
    "os.chmod", "os.chown", "os.utime", "os.setxattr", "os.removexattr",
    "mmap.__new__", "ctypes.dlopen",
})
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_DEPTH = 8


def _opens_for_writing(args: tuple[Any, ...]) -> bool:
    mode = args[1] if len(args) > 1 else None
    flags = args[2] if len(args) > 2 else 0
    if isinstance(mode, str) and any(c in mode for c in "wax+"):
        return True
    return isinstance(flags, int) and flags > 0 and bool(flags & _WRITE_FLAGS)


def _describe(event: str, args: tuple[Any, ...]) -> str:
    text = ", ".join(repr(a) for a in args)
    return f"{event}({text[:200]})"


def install_audit_hook(log: ViolationLog) -> tuple[bool, str]:
    """Add the hook that feeds ``log`` the last sensitive call; ``(active, detail)``."""
    stdlib = sysconfig.get_paths()["stdlib"].rstrip("/") + "/"

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event not in SENSITIVE_EVENTS and not (event == "open" and _opens_for_writing(args)):
            return
        frames: list[tuple[int, int, int]] = []
        frame = sys._getframe(1)
        # An event raised by stdlib Python code (sys.audit in subprocess.py, say)
        # may fail a few lines further down in that same frame.
        flexible = frame.f_code.co_filename.startswith(stdlib)
        for _ in range(_DEPTH):
            if frame is None:
                break
            frames.append((id(frame), id(frame.f_code), frame.f_lineno))
            frame = frame.f_back  # type: ignore[assignment]
        log.note_call(_describe(event, args), frames, flexible)

    sys.addaudithook(hook)
    return True, "audit hook names the Python call behind each refusal"
