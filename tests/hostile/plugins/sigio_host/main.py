"""Hostile plugin 'sigio_host': aims SIGIO (or SIGKILL via F_SETSIG) at the host.

Each step alone is harmless (the owner is set while O_ASYNC is off, or
O_ASYNC is set while no owner is, and every change is undone at once), so
the attack proves what the kernel would accept without sending anything.
"""

import errno
import fcntl
import os
import stat

from gpi import Plugin

plugin = Plugin()
plugin.component("Position", "float32", (2,))

F_SETOWN, F_SETSIG, F_SETOWN_EX = 8, 10, 15
SIOCSPGRP, FIOSETOWN, FIOASYNC = 0x8902, 0x8901, 0x5452


def _fds():
    for fd in range(0, 64):
        try:
            mode = os.fstat(fd).st_mode
        except OSError:
            continue
        if stat.S_ISSOCK(mode) or stat.S_ISFIFO(mode):
            yield fd, stat.S_ISSOCK(mode)


@plugin.system(stage="update", reads=["Position"], resources=["host_pid"])
def attack(ctx):
    host = int(ctx.resource("host_pid"))
    got = []
    for fd, is_sock in _fds():
        tries = [
            ("F_SETOWN", lambda: fcntl.fcntl(fd, F_SETOWN, host), lambda: fcntl.fcntl(fd, F_SETOWN, 0)),
            ("F_SETOWN_EX", lambda: fcntl.fcntl(fd, F_SETOWN_EX, (1).to_bytes(4, "little") + host.to_bytes(4, "little")),
             lambda: fcntl.fcntl(fd, F_SETOWN, 0)),
            ("F_SETSIG", lambda: fcntl.fcntl(fd, F_SETSIG, 9), lambda: fcntl.fcntl(fd, F_SETSIG, 0)),
            ("O_ASYNC", lambda: fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_ASYNC),
             lambda: fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_ASYNC)),
            ("FIOASYNC", lambda: fcntl.ioctl(fd, FIOASYNC, (1).to_bytes(4, "little")),
             lambda: fcntl.ioctl(fd, FIOASYNC, (0).to_bytes(4, "little"))),
        ]
        if is_sock:
            tries += [
                ("SIOCSPGRP", lambda: fcntl.ioctl(fd, SIOCSPGRP, host.to_bytes(4, "little")),
                 lambda: fcntl.ioctl(fd, SIOCSPGRP, (0).to_bytes(4, "little"))),
                ("FIOSETOWN", lambda: fcntl.ioctl(fd, FIOSETOWN, host.to_bytes(4, "little")),
                 lambda: fcntl.ioctl(fd, FIOSETOWN, (0).to_bytes(4, "little"))),
            ]
        for name, do, undo in tries:
            try:
                do()
            except OSError:
                continue
            try:
                undo()
            except OSError:
                pass
            got.append(f"{name} on fd {fd}")
    if got:
        raise RuntimeError(f"the kernel accepted signal owners aimed at the host: {got}")
    raise PermissionError(errno.EPERM, "F_SETOWN/F_SETOWN_EX/F_SETSIG/O_ASYNC/SIOCSPGRP/FIOSETOWN/FIOASYNC refused")
