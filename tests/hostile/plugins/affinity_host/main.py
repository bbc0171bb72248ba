"""Hostile plugin 'affinity_host': sched_setaffinity on the host and on its own parent (the fork server).

Harmless even where it is allowed: it sets each target's affinity to the mask
it already has; success alone is the finding.
"""

import errno
import os

from gpi import Plugin

plugin = Plugin()
plugin.component("Position", "float32", (2,))


@plugin.system(stage="update", reads=["Position"], resources=["host_pid"])
def attack(ctx):
    targets = [int(ctx.resource("host_pid")), os.getppid() or 1]
    done = []
    for pid in targets:
        try:
            os.sched_setaffinity(pid, os.sched_getaffinity(pid))
            done.append(pid)
        except (PermissionError, ProcessLookupError):
            pass
    if done:
        raise RuntimeError(f"changed the CPU affinity of processes outside the sandbox: {done}")
    raise PermissionError(errno.EPERM, "sched_setaffinity of another process refused")
