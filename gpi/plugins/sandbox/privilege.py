"""No capabilities and, when the host is root, an unprivileged uid/gid per plugin.

A plugin child forked from a root host starts as uid 0 with every capability
(``CapEff: 000001ffffffffff``). This layer leaves it with none, in every set:

1. the **bounding set** is emptied (``PR_CAPBSET_DROP`` for each capability up
   to ``/proc/sys/kernel/cap_last_cap``; needs ``CAP_SETPCAP``, so it comes
   first), then the **ambient** set (``PR_CAP_AMBIENT_CLEAR_ALL``);
2. when the child is root, it becomes the plugin's own uid and gid
   (:func:`uid_for`: a uid derived from the plugin name in a high range
   that no account uses, so two plugins never share one unless their names
   collide in a 2**20 range): supplementary groups cleared, then
   ``setresgid``/``setresuid``, real, effective and saved ids alike, so the
   child cannot switch back;
3. ``capset`` clears **effective, permitted and inheritable**; the result is
   read back from ``/proc/self/status`` (all five sets must be zero).

With a real unprivileged uid the kernel applies what it does not apply to
root: ``RLIMIT_NPROC`` (no new tasks), the same-owner checks of ``kill``,
``sched_setaffinity``, ``setpriority`` and ``ptrace`` (another plugin's child
has another uid), and pipe/socket buffer limits (``pipe-max-size``,
``wmem_max``/``rmem_max``, which ``CAP_SYS_RESOURCE``/``CAP_NET_ADMIN`` bypass).

**File access.** The child must keep reading its plugin folder, the
interpreter's library and the ``gpi`` package after the switch (lazy
imports). Before switching, the layer checks those paths with the new ids
(``faccessat(AT_EACCESS)`` under a temporary effective uid). When one of them
is not readable by the plugin's uid (a home folder like ``/root`` is 0700, a
pytest temporary folder is 0700), the child keeps **file system uid 0** only
(``setfsuid(0)``, done with a single capability that is then dropped):
real, effective and saved uid are the plugin's, so signals, scheduling,
``ptrace``, ``RLIMIT_NPROC`` and the buffer limits are those of an
unprivileged process, but files are accessed as their owner ``root`` would
be, without any capability (no ``CAP_DAC_OVERRIDE``: mode bits apply).
Landlock (read-only) and seccomp (no write opens) bound what that reaches;
the report says so and names the unreadable path. Make the interpreter and
plugin folders world-readable (``chmod o+rX``) to get a full switch.

When the host is not root there is no uid to switch to: the layer clears
what capabilities the child has; the bounding set cannot be emptied without
``CAP_SETPCAP`` (``no_new_privs`` makes it moot: nothing can be gained on exec).
"""

from __future__ import annotations

import ctypes
import os
import zlib
from collections.abc import Iterable

from gpi.plugins.sandbox._libc import errno_error, libc

__all__ = ["UID_BASE", "UID_SPAN", "capability_sets", "drop_privileges", "uid_for"]

#: First uid of the range plugin children get (far above any account's).
UID_BASE = 1_900_000_000
#: Size of that range: ``uid_for(name)`` is ``UID_BASE + crc32(name) % UID_SPAN``.
UID_SPAN = 1 << 20

PR_SET_KEEPCAPS = 8
PR_CAPBSET_DROP = 24
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
CAP_SETUID = 7
_CAP_VERSION_3 = 0x20080522
# Files under a plugin folder that are checked before the switch (a bound, not a guess).
_MAX_CHECKED = 4000
_CAP_FIELDS = ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def uid_for(name: str) -> int:
    """The uid (and gid) of plugin ``name``'s children: stable, in ``[UID_BASE, UID_BASE + UID_SPAN)``."""
    return UID_BASE + zlib.crc32(name.encode()) % UID_SPAN


def capability_sets() -> dict[str, int]:
    """This process's capability sets from ``/proc/self/status`` (``CapEff`` ... ``CapAmb``)."""
    out: dict[str, int] = {}
    with open("/proc/self/status", "rb") as f:
        for line in f:
            key, _, value = line.decode().partition(":")
            if key in _CAP_FIELDS:
                out[key] = int(value.strip(), 16)
    return out


def _prctl(option: int, arg2: int = 0, arg3: int = 0) -> int:
    fn = libc().prctl
    fn.restype = ctypes.c_int
    fn.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    rc = int(fn(option, arg2, arg3, 0, 0))
    if rc < 0:
        raise errno_error(f"prctl({option})")
    return rc


def _capset(effective: int, permitted: int, inheritable: int) -> None:
    header = _CapHeader(_CAP_VERSION_3, 0)
    data = (_CapData * 2)()
    for i in range(2):
        data[i].effective = (effective >> (32 * i)) & 0xFFFFFFFF
        data[i].permitted = (permitted >> (32 * i)) & 0xFFFFFFFF
        data[i].inheritable = (inheritable >> (32 * i)) & 0xFFFFFFFF
    fn = libc().capset
    fn.restype = ctypes.c_int
    if fn(ctypes.byref(header), data) < 0:
        raise errno_error("capset")


def _last_cap() -> int:
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return 63


def _walk(paths: Iterable[str]) -> Iterable[tuple[str, bool]]:
    """``(path, is_dir)`` for each path and, for the first one (the plugin folder), what it holds."""
    for i, path in enumerate(paths):
        if not os.path.exists(path):
            continue
        yield path, os.path.isdir(path)
        if i != 0 or not os.path.isdir(path):
            continue
        seen = 0
        for root, dirs, files in os.walk(path):
            for d in dirs:
                yield os.path.join(root, d), True
            for f in files:
                yield os.path.join(root, f), False
            seen += len(dirs) + len(files)
            if seen > _MAX_CHECKED:
                return


def _unreadable_as(uid: int, gid: int, paths: list[str]) -> str | None:
    """The first of ``paths`` (the first one walked) that ``uid``/``gid`` cannot read, else None."""
    entries = list(_walk(paths))  # listed as root: the new uid may not even see them
    os.setegid(gid)
    os.seteuid(uid)  # effective capabilities go away with euid 0: the check is the real one
    try:
        for path, is_dir in entries:
            mode = os.R_OK | os.X_OK if is_dir else os.R_OK
            if not os.access(path, mode, effective_ids=True):
                return path
        return None
    finally:
        os.seteuid(0)
        os.setegid(0)


def _fsuid() -> int:
    with open("/proc/self/status", "rb") as f:
        for line in f:
            if line.startswith(b"Uid:"):
                return int(line.split()[4])
    return -1


def drop_privileges(name: str, read_paths: Iterable[str] = ()) -> tuple[bool, str]:
    """Drop every capability; as root, become plugin ``name``'s uid/gid. ``(active, detail)``.

    ``read_paths`` (the plugin folder first) must stay readable after the
    switch; if one is not readable by the plugin's uid the child keeps file
    system uid 0 (see the module docstring). Raises ``OSError`` if a step fails.
    """
    notes: list[str] = []
    before = capability_sets()
    bounding_dropped = bool(before.get("CapEff", 0) >> 8 & 1)  # CAP_SETPCAP
    if bounding_dropped:
        for cap in range(_last_cap() + 1):
            _prctl(PR_CAPBSET_DROP, cap)
    _prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    uid = gid = os.getuid()
    if os.geteuid() == 0:
        uid = gid = uid_for(name)
        os.setgroups([])
        blocked = _unreadable_as(uid, gid, [os.fspath(p) for p in read_paths])
        os.setresgid(gid, gid, gid)
        if blocked is None:
            os.setresuid(uid, uid, uid)  # permitted and effective capabilities are cleared here
            notes.append(f"uid/gid {uid} (plugin {name!r})")
        else:
            _prctl(PR_SET_KEEPCAPS, 1)
            os.setresuid(uid, uid, uid)
            _capset(1 << CAP_SETUID, 1 << CAP_SETUID, 0)
            libc().setfsuid(0)
            _prctl(PR_SET_KEEPCAPS, 0)
            if _fsuid() != 0:
                raise OSError(f"setfsuid(0) did not take (fsuid {_fsuid()})")
            notes.append(f"uid/gid {uid} (plugin {name!r}), file system uid 0 kept: {blocked!r} is not "
                         f"readable by uid {uid} (chmod o+rX it for a full switch)")
    _capset(0, 0, 0)
    after = capability_sets()
    left = {k: v for k, v in after.items() if v and (k != "CapBnd" or bounding_dropped)}
    if left:
        return False, "capabilities left: " + ", ".join(f"{k}={v:x}" for k, v in sorted(left.items()))
    if not bounding_dropped and after.get("CapBnd"):
        notes.append("bounding set unchanged (no CAP_SETPCAP; no_new_privs makes it moot)")
    elif os.geteuid() != 0 and os.getuid() != 0 and not notes:
        notes.append(f"uid {os.getuid()} kept (host is not root)")
    return True, "no capabilities (eff, prm, inh, amb, bnd); " + "; ".join(notes)
