"""Hostile plugin 'ptrace_host': tries to ptrace-attach to the host."""

import ctypes
import os

from gpi import Plugin

plugin = Plugin()
plugin.component("Position", "float32", (2,))


@plugin.system(stage="update", reads=["Position"])
def attack(ctx):
    libc = ctypes.CDLL(None, use_errno=True)
    PTRACE_ATTACH = 16
    if libc.ptrace(PTRACE_ATTACH, os.getppid(), 0, 0) == 0:
        raise RuntimeError('ptrace attached to the host')
    err = ctypes.get_errno()
    raise PermissionError(err, 'ptrace refused: ' + os.strerror(err))
