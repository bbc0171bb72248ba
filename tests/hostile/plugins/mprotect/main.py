"""Hostile plugin 'mprotect': makes the world's pages writable with mprotect, then remaps the sealed segment fds writable."""

import ctypes
import fcntl
import mmap
import os

from gpi import Plugin

plugin = Plugin()
plugin.component("Position", "float32", (2,))

F_SEAL_FUTURE_WRITE = 0x10


@plugin.system(stage="update", reads=["Position"])
def attack(ctx):
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    last = None
    for chunk in ctx.query("Position"):
        view = chunk["Position"]
        page = view.ctypes.data & ~(mmap.PAGESIZE - 1)
        if libc.mprotect(page, mmap.PAGESIZE, mmap.PROT_READ | mmap.PROT_WRITE) == 0:
            ctypes.memset(view.ctypes.data, 0x7F, view.nbytes)
            raise RuntimeError("mprotect made the world writable")
        err = ctypes.get_errno()
        last = OSError(err, f"mprotect(PROT_WRITE) of the world view: {os.strerror(err)}")
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        try:
            seals = fcntl.fcntl(fd, fcntl.F_GET_SEALS)
        except OSError:
            continue
        if not seals & F_SEAL_FUTURE_WRITE:
            continue  # the plugin's own rings and arena are writable by design
        try:
            m = mmap.mmap(fd, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE)
        except OSError as exc:
            last = exc
            continue
        m[:8] = b"\x7f" * 8
        raise RuntimeError(f"remapped sealed world segment fd {fd} writable")
    if last is not None:
        raise last  # the kernel's own answer: EACCES from mprotect or EPERM from mmap
    raise RuntimeError("found no world segment to attack")
