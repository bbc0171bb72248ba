"""Hostile plugin 'pid_enum': names other processes (sessions, groups, nice values) by pid."""

import errno
import os

from gpi import Plugin

plugin = Plugin()
plugin.component("Position", "float32", (2,))


@plugin.system(stage="update", reads=["Position"], resources=["host_pid"])
def attack(ctx):
    me = os.getpid()
    seen = {}
    for pid in [int(ctx.resource("host_pid")), *range(1, 4097)]:
        if pid == me:
            continue
        try:
            seen[pid] = (os.getsid(pid), os.getpgid(pid), os.getpriority(os.PRIO_PROCESS, pid))
        except (PermissionError, ProcessLookupError):
            pass
    if seen:
        raise RuntimeError(f"enumerated {len(seen)} processes outside the sandbox, e.g. {sorted(seen.items())[:3]}")
    raise PermissionError(errno.EPERM, "getsid/getpgid/getpriority of other processes refused")
