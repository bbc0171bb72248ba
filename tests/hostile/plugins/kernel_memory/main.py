"""Hostile plugin 'kernel_memory': parks kernel memory outside RLIMIT_AS in pipe and socket buffers.

It asks for a 256 MiB pipe buffer on its inherited stdout pipe and 1 GiB
socket buffers on its inherited sockets (SO_SNDBUFFORCE/SO_RCVBUFFORCE bypass
the limits with CAP_NET_ADMIN). Where that is allowed it puts every size back
at once (nothing is filled), and reports the growth it got.
"""

import errno
import fcntl
import os
import socket
import stat

from gpi import Plugin

plugin = Plugin()
plugin.component("Position", "float32", (2,))

F_SETPIPE_SZ, F_GETPIPE_SZ = 1031, 1032
SO_SNDBUFFORCE, SO_RCVBUFFORCE = 32, 33
READ_BACK = {socket.SO_SNDBUF: socket.SO_SNDBUF, socket.SO_RCVBUF: socket.SO_RCVBUF,
             SO_SNDBUFFORCE: socket.SO_SNDBUF, SO_RCVBUFFORCE: socket.SO_RCVBUF}


def _sockets():
    for fd in range(3, 64):
        try:
            if stat.S_ISSOCK(os.fstat(fd).st_mode):
                yield fd
        except OSError:
            pass


@plugin.system(stage="update", reads=["Position"])
def attack(ctx):
    grown = []
    try:
        before = fcntl.fcntl(1, F_GETPIPE_SZ)
        got = fcntl.fcntl(1, F_SETPIPE_SZ, 256 << 20)
        fcntl.fcntl(1, F_SETPIPE_SZ, before)
        grown.append(f"pipe {got >> 20} MiB")
    except OSError:
        pass
    for fd in _sockets():
        s = socket.socket(fileno=fd)
        try:
            for opt in (socket.SO_SNDBUF, socket.SO_RCVBUF, SO_SNDBUFFORCE, SO_RCVBUFFORCE):
                before = s.getsockopt(socket.SOL_SOCKET, READ_BACK[opt])
                try:
                    s.setsockopt(socket.SOL_SOCKET, opt, 1 << 30)
                except OSError:
                    continue
                after = s.getsockopt(socket.SOL_SOCKET, READ_BACK[opt])
                s.setsockopt(socket.SOL_SOCKET, opt, before // 2)
                if after > 4 << 20:
                    grown.append(f"socket fd {fd} opt {opt}: {after >> 20} MiB")
        finally:
            s.detach()
    if grown:
        raise RuntimeError(f"kernel buffers grown beyond the limits: {grown}")
    raise PermissionError(errno.EPERM, "pipe and socket buffer growth refused")
