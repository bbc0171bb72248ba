"""Landlock: read-only access to the plugin folder and the interpreter's files.

Landlock (Linux >= 5.13) lets an unprivileged process restrict its own file
system access. We create a ruleset that *handles* every access right the
running kernel knows (so anything not granted is denied), grant read rights
beneath a short list of paths, and restrict ourselves. Nothing is writable:
no file can be created, written, truncated, renamed or removed, anywhere.

Syscalls (x86_64 and aarch64 share the numbers): ``landlock_create_ruleset``
444, ``landlock_add_rule`` 445, ``landlock_restrict_self`` 446.

Structures (``<linux/landlock.h>``)::

    struct landlock_ruleset_attr {      // size grows with the ABI
        __u64 handled_access_fs;        // ABI 1+
        __u64 handled_access_net;       // ABI 4+  (TCP bind/connect)
        __u64 scoped;                   // ABI 6+  (abstract unix sockets, signals)
    };
    struct landlock_path_beneath_attr { // packed: 12 bytes
        __u64 allowed_access;
        __s32 parent_fd;                // an O_PATH fd of the file or directory
    };

ABI differences handled here: ABI 2 adds REFER, 3 TRUNCATE, 4 TCP bind/connect
(we handle both and grant neither), 5 IOCTL_DEV, 6 scopes (we scope abstract
unix sockets and signals, so the child cannot signal the host).

What it does not do: it restricts only the calling thread and the threads it
creates later (threads that already exist, e.g. OpenBLAS workers started at
numpy import, keep their access: start children with ``OPENBLAS_NUM_THREADS=1``);
it does not hide metadata (``stat`` of any path still works); and it does not
control ``mmap(PROT_EXEC)`` of readable files.
"""

from __future__ import annotations

import ctypes
import os
import stat
import sys
from collections.abc import Iterable

from gpi.plugins.sandbox._libc import errno_error, libc
from gpi.version import PACKAGE_DIR

__all__ = ["abi_version", "default_read_paths", "restrict_to_read_only", "sys_path_entries"]

SYS_landlock_create_ruleset = 444
SYS_landlock_add_rule = 445
SYS_landlock_restrict_self = 446
LANDLOCK_CREATE_RULESET_VERSION = 1 << 0
LANDLOCK_RULE_PATH_BENEATH = 1

# File system rights (bit, first ABI that knows it).
ACCESS_FS_EXECUTE = 1 << 0
ACCESS_FS_WRITE_FILE = 1 << 1
ACCESS_FS_READ_FILE = 1 << 2
ACCESS_FS_READ_DIR = 1 << 3
ACCESS_FS_REFER = 1 << 13  # ABI 2
ACCESS_FS_TRUNCATE = 1 << 14  # ABI 3
ACCESS_FS_IOCTL_DEV = 1 << 15  # ABI 5
ACCESS_NET_BIND_TCP = 1 << 0  # ABI 4
ACCESS_NET_CONNECT_TCP = 1 << 1  # ABI 4
SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0  # ABI 6
SCOPE_SIGNAL = 1 << 1  # ABI 6

# Rights a rule on a regular file may carry (others are directory-only).
_FILE_RIGHTS = ACCESS_FS_EXECUTE | ACCESS_FS_WRITE_FILE | ACCESS_FS_READ_FILE | ACCESS_FS_TRUNCATE | ACCESS_FS_IOCTL_DEV


class _RulesetAttr(ctypes.Structure):
    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _syscall(*args: object) -> int:
    """libc ``syscall(2)``; pass ctypes-typed arguments so widths are right."""
    fn = libc().syscall
    fn.restype = ctypes.c_long
    return int(fn(*args))


def abi_version() -> tuple[int, str]:
    """The kernel's Landlock ABI version (0 if unavailable) and why."""
    rc = _syscall(
        ctypes.c_long(SYS_landlock_create_ruleset), None, ctypes.c_size_t(0),
        ctypes.c_uint32(LANDLOCK_CREATE_RULESET_VERSION),
    )
    if rc < 0:
        err = ctypes.get_errno()
        return 0, f"Landlock unavailable: {os.strerror(err)} (kernel < 5.13 or not in the LSM list)"
    return rc, f"Landlock ABI {rc}"


def _handled_fs(abi: int) -> int:
    mask = (1 << 13) - 1  # ABI 1: EXECUTE .. MAKE_SYM
    if abi >= 2:
        mask |= ACCESS_FS_REFER
    if abi >= 3:
        mask |= ACCESS_FS_TRUNCATE
    if abi >= 5:
        mask |= ACCESS_FS_IOCTL_DEV
    return mask


def _is_library_path(entry: str, prefixes: list[str]) -> bool:
    """A ``sys.path`` entry that holds installed code, not a project or home folder."""
    real = os.path.realpath(entry)
    for prefix in prefixes:
        if real == prefix or real.startswith(prefix.rstrip("/") + "/"):
            return True
    name = os.path.basename(real.rstrip("/"))
    return name in ("site-packages", "dist-packages") or real.endswith((".zip", ".egg", ".whl"))


def sys_path_entries() -> tuple[list[str], list[str]]:
    """``sys.path`` split into (granted, skipped).

    Granted: entries inside the interpreter's prefixes, ``site-packages``/
    ``dist-packages`` folders and zip archives. Skipped: ``''``, the working
    directory (``python -m`` puts it first) and other project folders, which
    could be a whole home directory; the plugin's own imports come from its
    folder, and the child imported everything else before the sandbox.
    """
    prefixes = sorted(
        {os.path.realpath(p) for p in (sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix)}
    )
    granted: list[str] = []
    skipped: list[str] = []
    for entry in sys.path:
        if entry and _is_library_path(entry, prefixes):
            granted.append(entry)
        else:
            skipped.append(entry)
    return granted, skipped


def default_read_paths(plugin_dir: str | os.PathLike[str]) -> list[str]:
    """The plugin folder plus what the interpreter needs to keep importing."""
    paths: list[str] = [os.fspath(plugin_dir)]
    paths += [sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix]
    paths += sys_path_entries()[0]

    paths.append(str(PACKAGE_DIR))
    paths += [
        "/usr/lib", "/usr/lib64", "/usr/lib32", "/lib", "/lib64", "/lib32",
        "/usr/share/zoneinfo", "/etc/ld.so.cache", "/etc/localtime", "/etc/ssl/openssl.cnf",
        "/proc/self", "/dev/null", "/dev/zero", "/dev/urandom",
        "/sys/devices/system/cpu",
    ]
    return paths


def restrict_to_read_only(paths: Iterable[str]) -> tuple[int, list[str], str]:
    """Restrict this thread to reading ``paths``; ``(abi, granted_paths, detail)``.

    Raises ``OSError`` if Landlock is unavailable or a step fails. Paths that do
    not exist are skipped.
    """
    abi, why = abi_version()
    if abi <= 0:
        raise OSError(why)
    attr = _RulesetAttr(_handled_fs(abi), 0, 0)
    size = 8
    if abi >= 4:
        attr.handled_access_net = ACCESS_NET_BIND_TCP | ACCESS_NET_CONNECT_TCP
        size = 16
    if abi >= 6:
        attr.scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL
        size = 24
    ruleset = _syscall(ctypes.c_long(SYS_landlock_create_ruleset), ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    if ruleset < 0:
        raise errno_error("landlock_create_ruleset")
    granted: list[str] = []
    try:
        read_dir = (ACCESS_FS_READ_FILE | ACCESS_FS_READ_DIR) & attr.handled_access_fs
        seen: set[tuple[int, int]] = set()
        for raw in paths:
            try:
                fd = os.open(raw, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue  # absent paths are simply not granted
            try:
                st = os.fstat(fd)
                key = (st.st_dev, st.st_ino)
                if key in seen:
                    continue
                seen.add(key)
                allowed = read_dir if stat.S_ISDIR(st.st_mode) else read_dir & _FILE_RIGHTS
                rule = _PathBeneathAttr(allowed, fd)
                rc = _syscall(
                    ctypes.c_long(SYS_landlock_add_rule), ctypes.c_int(ruleset),
                    ctypes.c_int(LANDLOCK_RULE_PATH_BENEATH), ctypes.byref(rule), ctypes.c_uint32(0),
                )
                if rc < 0:
                    raise errno_error(f"landlock_add_rule({raw!r})")
                granted.append(raw)
            finally:
                os.close(fd)
        rc = _syscall(ctypes.c_long(SYS_landlock_restrict_self), ctypes.c_int(ruleset), ctypes.c_uint32(0))
        if rc < 0:
            raise errno_error("landlock_restrict_self")
    finally:
        os.close(ruleset)
    extras = []
    if abi >= 4:
        extras.append("TCP bind/connect denied")
    if abi >= 6:
        extras.append("signals and abstract unix sockets scoped")
    tail = ("; " + ", ".join(extras)) if extras else ""
    return abi, granted, f"ABI {abi}: read-only on {len(granted)} paths, no writes{tail}"
