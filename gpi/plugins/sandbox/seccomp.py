"""seccomp-bpf filter for a plugin child, built with libseccomp through ctypes.

Two modes, chosen by ``SandboxPolicy.seccomp_mode``:

``allowlist`` (default)
    Unknown syscalls fail with ``EPERM``. Allowed: what CPython, numpy,
    msgpack, threads, futexes, shared-memory rings and fd passing over an
    *inherited* socket use at run time (measured with ``strace -f -c`` over a
    workload of that kind, then widened by family: all the read-side file
    calls, memory, time, signals, polling). Allowed only with argument checks:
    ``open``/``openat`` without ``O_WRONLY|O_RDWR|O_CREAT|O_TRUNC``; ``clone``
    with ``CLONE_THREAD`` only when the policy grants threads (processes
    never); ``kill``/``tgkill`` of this process only; every syscall that names
    a process (:data:`PID_SYSCALLS`: affinity, scheduler, session, group,
    ``pidfd_open``) only for pid 0 or this process, ``getpriority`` only for
    this process; ``prlimit64`` reads only; a few read-only ``prctl``
    options; ``fcntl`` only for the commands in :data:`FCNTL_ALLOWED` (no
    ``F_SETOWN``/``F_SETOWN_EX``/``F_SETSIG``/``F_SETLEASE``/``F_NOTIFY``/
    ``F_ADD_SEALS``, ``F_SETFL`` without ``O_ASYNC``, ``F_SETPIPE_SZ`` up to
    ``pipe_max``); ``ioctl`` except :data:`IOCTL_DENIED` (``TIOCSTI``,
    ``TIOCSPGRP``, ``FIOSETOWN``, ``SIOCSPGRP``, ``FIOASYNC``: typing into the
    terminal, and making the kernel signal another process on I/O);
    ``setsockopt`` only for ``SOL_SOCKET`` timeouts (no buffer sizes: the
    value is behind a pointer BPF cannot read, so no growth at all).
    The channel's pidfd of the host is opened before the sandbox; signalling
    or stealing fds through a pidfd is refused.
``denylist``
    Everything is allowed except an explicit list (sockets, exec, fork,
    ptrace, mount, namespaces, bpf, perf, keyctl, kexec, modules, memfd,
    userfaultfd, io_uring, file creation/removal/metadata, uid changes, ...)
    plus the same argument checks (the pid checks there allow pid 0 only,
    ``getpriority`` of this process only). A fallback for when an allow-list
    proves too tight for some plugin's library; weaker by construction.

Argument values are compared as the kernel will read them: ``cmd``, ``level``
and pid arguments are 32-bit, so a deny rule matches the low 32 bits
(``MASKED_EQ``) and an allow rule the whole register (upper garbage is refused).

In both modes ``clone3`` and ``openat2`` fail with ``ENOSYS``: their flags live
in a struct that BPF cannot read, and glibc falls back to ``clone``/``openat``
on ENOSYS. The filter is synchronised to every thread of the process
(``SCMP_FLTATR_CTL_TSYNC``); syscalls of a foreign architecture (i386
``int 0x80``, x32) kill the process.

Writing to shared world memory is not seccomp's job: the segments are sealed
memfds (``F_SEAL_FUTURE_WRITE``), so a writable ``mmap`` and an ``mprotect``
to ``PROT_WRITE`` of a read-only mapping are refused by the kernel itself.
"""

from __future__ import annotations

import ctypes
import functools
import os

__all__ = [
    "ALLOWED_SYSCALLS",
    "DENIED_SYSCALLS",
    "ENOSYS_SYSCALLS",
    "FCNTL_ALLOWED",
    "IOCTL_DENIED",
    "PID_SYSCALLS",
    "PIPE_MAX",
    "SeccompUnavailable",
    "install_filter",
    "libseccomp_version",
    "preload",
]

SCMP_ACT_KILL_PROCESS = 0x80000000
SCMP_ACT_ALLOW = 0x7FFF0000
SCMP_FLTATR_ACT_BADARCH = 2
SCMP_FLTATR_CTL_TSYNC = 4
SCMP_FLTATR_CTL_OPTIMIZE = 8  # libseccomp >= 2.5; 2 = binary tree of syscall numbers
SCMP_CMP_NE = 1
SCMP_CMP_LE = 3
SCMP_CMP_EQ = 4
SCMP_CMP_GT = 6
SCMP_CMP_MASKED_EQ = 7

O_WRONLY = 0o1
O_RDWR = 0o2
O_CREAT = 0o100
O_TRUNC = 0o1000
_WRITE_FLAGS = O_WRONLY | O_RDWR | O_CREAT | O_TRUNC
CLONE_THREAD = 0x00010000
TIOCSTI = 0x5412

# prctl options a plugin may use (all read-only or cosmetic).
_SAFE_PRCTL = (
    2,  # PR_GET_PDEATHSIG
    3,  # PR_GET_DUMPABLE
    15,  # PR_SET_NAME (thread name)
    16,  # PR_GET_NAME
    21,  # PR_GET_SECCOMP
    23,  # PR_CAPBSET_READ
    39,  # PR_GET_NO_NEW_PRIVS
    0x53564D41,  # PR_SET_VMA (naming anonymous mappings)
)

ALLOWED_SYSCALLS: tuple[str, ...] = (
    # files, read side (open/openat are added with a flag check)
    "read", "readv", "pread64", "preadv", "preadv2", "lseek", "close", "close_range",
    "fstat", "newfstatat", "stat", "lstat", "statx", "statfs", "fstatfs",
    "access", "faccessat", "faccessat2", "readlink", "readlinkat", "getdents", "getdents64",
    "getcwd", "chdir", "fchdir", "dup", "dup2", "dup3", "fadvise64", "flock",
    # writes to fds the child already has (pipes, inherited sockets, stdio)
    "write", "writev", "pwrite64", "pwritev", "pwritev2", "fsync", "fdatasync",
    "pipe", "pipe2",
    # memory
    "brk", "mmap", "munmap", "mremap", "mprotect", "madvise", "mincore", "msync",
    "mbind", "get_mempolicy", "set_mempolicy", "membarrier",
    # threads, scheduling, identity
    "futex", "futex_waitv", "set_robust_list", "get_robust_list", "set_tid_address", "rseq",
    "sched_yield", "sched_get_priority_max", "sched_get_priority_min",
    "arch_prctl", "gettid", "getpid", "getppid", "getpgrp",
    "getuid", "geteuid", "getgid", "getegid", "getgroups", "getresuid", "getresgid",
    "uname", "sysinfo", "getrusage", "times", "getrandom", "getcpu", "umask",
    # signals (to ourselves: kill/tgkill are checked below)
    "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait",
    "rt_sigpending", "sigaltstack", "restart_syscall", "pause", "alarm",
    "setitimer", "getitimer", "timer_create", "timer_settime", "timer_gettime",
    "timer_delete", "timer_getoverrun",
    # time
    "clock_gettime", "clock_getres", "clock_nanosleep", "nanosleep", "gettimeofday", "time",
    # waiting on fds
    "poll", "ppoll", "select", "pselect6", "epoll_create", "epoll_create1", "epoll_ctl",
    "epoll_wait", "epoll_pwait", "epoll_pwait2", "eventfd", "eventfd2",
    "timerfd_create", "timerfd_settime", "timerfd_gettime", "signalfd", "signalfd4",
    # sockets the host passed in (no new sockets: socket/socketpair/connect are absent)
    "recvfrom", "recvmsg", "recvmmsg", "sendto", "sendmsg", "sendmmsg", "shutdown",
    "getsockname", "getpeername", "getsockopt",
    # leaving
    "exit", "exit_group", "wait4", "waitid",
)

DENIED_SYSCALLS: tuple[str, ...] = (
    # network
    "socket", "socketpair", "connect", "bind", "listen", "accept", "accept4",
    # new programs and processes
    "execve", "execveat", "fork", "vfork",
    # other processes
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp",
    "pidfd_send_signal", "pidfd_getfd", "tkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo",
    "process_madvise", "move_pages", "migrate_pages",
    # mounts and namespaces
    "mount", "umount2", "pivot_root", "chroot", "unshare", "setns", "mount_setattr",
    "fsopen", "fsmount", "fsconfig", "fspick", "move_mount", "open_tree",
    # kernel attack surface
    "bpf", "perf_event_open", "keyctl", "add_key", "request_key", "kexec_load",
    "kexec_file_load", "init_module", "finit_module", "delete_module", "reboot",
    "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register",
    "memfd_create", "memfd_secret", "lookup_dcookie", "personality", "syslog",
    "iopl", "ioperm", "modify_ldt", "swapon", "swapoff", "acct", "quotactl", "vhangup",
    "open_by_handle_at", "name_to_handle_at", "fanotify_init", "uselib",
    # files: creation, removal, metadata
    "creat", "truncate", "ftruncate", "fallocate", "rename", "renameat", "renameat2",
    "unlink", "unlinkat", "mkdir", "mkdirat", "rmdir", "link", "linkat", "symlink",
    "symlinkat", "mknod", "mknodat", "chmod", "fchmod", "fchmodat", "chown", "fchown",
    "lchown", "fchownat", "utime", "utimes", "utimensat", "futimesat",
    "setxattr", "lsetxattr", "fsetxattr", "removexattr", "lremovexattr", "fremovexattr",
    # identity, limits, clocks, host
    "setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid", "setgroups",
    "setfsuid", "setfsgid", "capset", "setrlimit", "setpriority", "sethostname",
    "setpgid", "setsid", "ioprio_set", "ioprio_get",
    "setdomainname", "settimeofday", "clock_settime", "clock_adjtime", "adjtimex",
)

ENOSYS_SYSCALLS: tuple[str, ...] = ("clone3", "openat2")

#: Syscalls whose first argument is a pid: allowed for pid 0 or this process only.
PID_SYSCALLS: tuple[str, ...] = (
    "sched_setaffinity", "sched_getaffinity", "sched_setscheduler", "sched_getscheduler",
    "sched_setparam", "sched_getparam", "sched_setattr", "sched_getattr", "sched_rr_get_interval",
    "getsid", "getpgid", "pidfd_open",
)

F_SETFL = 4
F_SETPIPE_SZ = 1031
F_ADD_SEALS = 1033  # allowed only to a process that owns a world (memfd_create lifted)
O_ASYNC = 0o20000
#: fcntl commands a child may use (``F_SETFL`` without ``O_ASYNC``, ``F_SETPIPE_SZ`` up to the bound).
FCNTL_ALLOWED: tuple[int, ...] = (
    0, 1, 2, 3, 5, 6, 7, 9, 11, 16,  # DUPFD GETFD SETFD GETFL GETLK SETLK SETLKW GETOWN GETSIG GETOWN_EX
    36, 37, 38,  # OFD_GETLK OFD_SETLK OFD_SETLKW
    1025, 1027, 1028, 1030, 1032, 1034, 1035, 1037,  # GETLEASE DUPFD_QUERY CREATED_QUERY DUPFD_CLOEXEC
    # GETPIPE_SZ GET_SEALS GET_RW_HINT GET_FILE_RW_HINT
)
#: fcntl commands refused in both modes (signal owners, leases, dnotify, seals, write hints).
FCNTL_DENIED: tuple[int, ...] = (8, 10, 15, 1024, 1026, 1033, 1036, 1038)
#: ioctl requests refused: TIOCSTI, TIOCSPGRP, FIOSETOWN, SIOCSPGRP, FIOASYNC.
IOCTL_DENIED: tuple[int, ...] = (0x5412, 0x5410, 0x8901, 0x8902, 0x5452)
SOL_SOCKET = 1
#: setsockopt(SOL_SOCKET, ...) options allowed: receive/send timeouts (old and new layouts).
SOCKOPT_ALLOWED: tuple[int, ...] = (20, 21, 66, 67)
#: setsockopt(SOL_SOCKET, ...) options refused in denylist mode: buffer sizes.
SOCKOPT_DENIED: tuple[int, ...] = (7, 8, 32, 33)  # SO_SNDBUF SO_RCVBUF SO_SNDBUFFORCE SO_RCVBUFFORCE
#: Largest pipe buffer a child may ask for (F_SETPIPE_SZ): the default size, so no growth.
PIPE_MAX = 65536
_LOW32 = 0xFFFFFFFF


class SeccompUnavailable(OSError):
    """libseccomp could not be loaded or the kernel refused the filter."""


class _ArgCmp(ctypes.Structure):
    _fields_ = [
        ("arg", ctypes.c_uint),
        ("op", ctypes.c_int),
        ("datum_a", ctypes.c_uint64),
        ("datum_b", ctypes.c_uint64),
    ]


class _Version(ctypes.Structure):
    _fields_ = [("major", ctypes.c_uint), ("minor", ctypes.c_uint), ("micro", ctypes.c_uint)]


@functools.cache
def _lib() -> ctypes.CDLL:
    last: OSError | None = None
    for name in ("libseccomp.so.2", "libseccomp.so"):
        try:
            lib = ctypes.CDLL(name, use_errno=True)
        except OSError as exc:
            last = exc
            continue
        lib.seccomp_init.restype = ctypes.c_void_p
        lib.seccomp_init.argtypes = [ctypes.c_uint32]
        lib.seccomp_release.argtypes = [ctypes.c_void_p]
        lib.seccomp_release.restype = None
        lib.seccomp_rule_add_array.argtypes = [
            ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint, ctypes.POINTER(_ArgCmp),
        ]
        lib.seccomp_rule_add_array.restype = ctypes.c_int
        lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
        lib.seccomp_syscall_resolve_name.restype = ctypes.c_int
        lib.seccomp_attr_set.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint32]
        lib.seccomp_attr_set.restype = ctypes.c_int
        lib.seccomp_load.argtypes = [ctypes.c_void_p]
        lib.seccomp_load.restype = ctypes.c_int
        lib.seccomp_version.restype = ctypes.POINTER(_Version)
        return lib
    raise SeccompUnavailable(f"libseccomp not found ({last}); install libseccomp2 (Debian) or libseccomp (Fedora)")


def preload() -> None:
    """Load libseccomp now (before Landlock hides the library folders); errors wait for install."""
    try:
        _lib()
    except SeccompUnavailable:
        pass


def libseccomp_version() -> str:
    """libseccomp's version, e.g. ``"2.5.4"``; raises SeccompUnavailable if absent."""
    v = _lib().seccomp_version().contents
    return f"{v.major}.{v.minor}.{v.micro}"


def _errno_action(err: int) -> int:
    return 0x00050000 | (err & 0xFFFF)


def _masked(arg: int, mask: int, value: int) -> _ArgCmp:
    return _ArgCmp(arg, SCMP_CMP_MASKED_EQ, mask, value)


def _cmp(arg: int, op: int, value: int) -> _ArgCmp:
    return _ArgCmp(arg, op, value, 0)


def _complement(values: tuple[int, ...], bits: int = 32) -> list[tuple[int, int]]:
    """``(mask, value)`` pairs whose matches together are every ``bits``-bit number not in ``values``.

    libseccomp allows one comparison per argument in a rule and an
    unconditional rule overrides conditional ones, so "any request but these"
    is written as a union of bit-prefix patterns (at most ``bits`` per value).
    """
    out: list[tuple[int, int]] = []

    def walk(mask: int, value: int, bit: int, left: list[int]) -> None:
        if not left:
            out.append((mask, value))
            return
        if bit < 0:
            return  # exactly one of ``values``
        for b in (0, 1):
            walk(mask | 1 << bit, value | b << bit, bit - 1, [v for v in left if (v >> bit) & 1 == b])

    walk(0, 0, bits - 1, sorted(set(v & ((1 << bits) - 1) for v in values)))
    return out


class _Filter:
    """A libseccomp context being built; released on close."""

    def __init__(self, default_action: int) -> None:
        self.lib = _lib()
        self.default = default_action
        self.ctx = self.lib.seccomp_init(default_action)
        if not self.ctx:
            raise SeccompUnavailable("seccomp_init failed")
        self.rules = 0

    def nr(self, name: str) -> int | None:
        n = int(self.lib.seccomp_syscall_resolve_name(name.encode()))
        return None if n < 0 else n

    def add(self, action: int, name: str, *conds: _ArgCmp) -> None:
        nr = self.nr(name)
        if nr is None or action == self.default:
            return  # unknown to this libseccomp/arch, or already the default
        arr = (_ArgCmp * max(len(conds), 1))(*conds)
        rc = self.lib.seccomp_rule_add_array(self.ctx, action, nr, len(conds), arr)
        if rc < 0:
            raise SeccompUnavailable(f"seccomp rule for {name} failed: {os.strerror(-rc)}")
        self.rules += 1

    def attr(self, attr: int, value: int) -> None:
        rc = self.lib.seccomp_attr_set(self.ctx, attr, value)
        if rc < 0:
            raise SeccompUnavailable(f"seccomp_attr_set({attr}) failed: {os.strerror(-rc)}")

    def load(self) -> None:
        rc = self.lib.seccomp_load(self.ctx)
        if rc < 0:
            raise SeccompUnavailable(f"seccomp_load failed: {os.strerror(-rc)}")

    def close(self) -> None:
        if self.ctx:
            self.lib.seccomp_release(self.ctx)
            self.ctx = None


#: what a process that owns a world needs beyond a plugin child (see
#: :func:`install_filter`): new anonymous shared memory, sized and sealed
WORLD_OWNER_SYSCALLS: tuple[str, ...] = ("memfd_create", "ftruncate")


def install_filter(
    mode: str = "allowlist", pid: int | None = None, extra_allowed: tuple[str, ...] = (),
    *, threads: bool = True, pipe_max: int = PIPE_MAX,
) -> tuple[bool, str]:
    """Build and load the filter for ``mode``; ``(active, detail)``. Raises SeccompUnavailable.

    ``extra_allowed`` lifts the refusal of those syscalls, e.g.
    :data:`WORLD_OWNER_SYSCALLS` for a confined replay simulator, which creates
    the world's memfd segments itself (``ftruncate`` then only reaches fds it
    could open for writing: memfds, since files cannot be opened so).
    ``threads=False`` refuses ``clone`` altogether (``clone3`` is ENOSYS in
    any case, so glibc falls back to ``clone``): no new thread can start.
    ``pipe_max`` bounds ``fcntl(F_SETPIPE_SZ)``.
    """
    pid = os.getpid() if pid is None else pid
    unknown = set(extra_allowed) - set(DENIED_SYSCALLS)
    if unknown:
        raise ValueError(f"extra_allowed may only lift denied syscalls, not {sorted(unknown)}")
    eperm, enosys = _errno_action(1), _errno_action(38)
    allow = SCMP_ACT_ALLOW
    f = _Filter(eperm if mode == "allowlist" else allow)
    try:
        f.attr(SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS)
        f.attr(SCMP_FLTATR_CTL_TSYNC, 1)
        try:
            f.attr(SCMP_FLTATR_CTL_OPTIMIZE, 2)  # O(log n) dispatch instead of a linear scan
        except SeccompUnavailable:
            pass  # older libseccomp: linear filter, same verdicts
        for name in ENOSYS_SYSCALLS:
            f.add(enosys, name)
        if mode == "allowlist":
            for name in ALLOWED_SYSCALLS + tuple(extra_allowed):
                f.add(allow, name)
            f.add(allow, "openat", _masked(2, _WRITE_FLAGS, 0))
            f.add(allow, "open", _masked(1, _WRITE_FLAGS, 0))
            if threads:
                f.add(allow, "clone", _masked(0, CLONE_THREAD, CLONE_THREAD))
            f.add(allow, "kill", _cmp(0, SCMP_CMP_EQ, pid))
            f.add(allow, "tgkill", _cmp(0, SCMP_CMP_EQ, pid))
            for name in PID_SYSCALLS:
                f.add(allow, name, _cmp(0, SCMP_CMP_EQ, pid))
                if name != "pidfd_open":
                    f.add(allow, name, _cmp(0, SCMP_CMP_EQ, 0))
            f.add(allow, "getpriority", _cmp(0, SCMP_CMP_EQ, 0), _cmp(1, SCMP_CMP_EQ, 0))
            f.add(allow, "getpriority", _cmp(0, SCMP_CMP_EQ, 0), _cmp(1, SCMP_CMP_EQ, pid))
            f.add(allow, "prlimit64", _cmp(0, SCMP_CMP_EQ, 0), _cmp(2, SCMP_CMP_EQ, 0))
            f.add(allow, "prlimit64", _cmp(0, SCMP_CMP_EQ, pid), _cmp(2, SCMP_CMP_EQ, 0))
            f.add(allow, "getrlimit")
            for option in _SAFE_PRCTL:
                f.add(allow, "prctl", _cmp(0, SCMP_CMP_EQ, option))
            for cmd in FCNTL_ALLOWED + ((F_ADD_SEALS,) if "memfd_create" in extra_allowed else ()):
                f.add(allow, "fcntl", _cmp(1, SCMP_CMP_EQ, cmd))
            f.add(allow, "fcntl", _cmp(1, SCMP_CMP_EQ, F_SETFL), _masked(2, O_ASYNC, 0))
            f.add(allow, "fcntl", _cmp(1, SCMP_CMP_EQ, F_SETPIPE_SZ), _cmp(2, SCMP_CMP_LE, pipe_max))
            for mask, value in _complement(IOCTL_DENIED):
                f.add(allow, "ioctl", _masked(1, mask, value))
            for opt in SOCKOPT_ALLOWED:
                f.add(allow, "setsockopt", _cmp(1, SCMP_CMP_EQ, SOL_SOCKET), _cmp(2, SCMP_CMP_EQ, opt))
        else:
            for name in DENIED_SYSCALLS:
                if name not in extra_allowed:
                    f.add(eperm, name)
            for flag in (O_WRONLY, O_RDWR, O_CREAT, O_TRUNC):
                f.add(eperm, "openat", _masked(2, flag, flag))
                f.add(eperm, "open", _masked(1, flag, flag))
            if threads:
                f.add(eperm, "clone", _masked(0, CLONE_THREAD, 0))
            else:
                f.add(eperm, "clone")
            f.add(eperm, "kill", _cmp(0, SCMP_CMP_NE, pid))
            f.add(eperm, "tgkill", _cmp(0, SCMP_CMP_NE, pid))
            for name in PID_SYSCALLS:
                f.add(eperm, name, _cmp(0, SCMP_CMP_NE, pid if name == "pidfd_open" else 0))
            f.add(eperm, "getpriority", _cmp(0, SCMP_CMP_NE, 0))
            f.add(eperm, "getpriority", _cmp(1, SCMP_CMP_NE, 0))
            f.add(eperm, "prlimit64", _cmp(2, SCMP_CMP_NE, 0))
            for option in (1, 4, 35, 0x59616D61):  # PDEATHSIG, DUMPABLE, SET_MM, SET_PTRACER
                f.add(eperm, "prctl", _cmp(0, SCMP_CMP_EQ, option))
            for cmd in FCNTL_DENIED:
                if not (cmd == F_ADD_SEALS and "memfd_create" in extra_allowed):
                    f.add(eperm, "fcntl", _masked(1, _LOW32, cmd))
            f.add(eperm, "fcntl", _masked(1, _LOW32, F_SETFL), _masked(2, O_ASYNC, O_ASYNC))
            f.add(eperm, "fcntl", _masked(1, _LOW32, F_SETPIPE_SZ), _cmp(2, SCMP_CMP_GT, pipe_max))
            for req in IOCTL_DENIED:
                f.add(eperm, "ioctl", _masked(1, _LOW32, req))
            for opt in SOCKOPT_DENIED:
                f.add(eperm, "setsockopt", _masked(1, _LOW32, SOL_SOCKET), _masked(2, _LOW32, opt))
        f.load()
        rules = f.rules
    finally:
        f.close()
    default = "EPERM" if mode == "allowlist" else "ALLOW"
    extra = f", also allowed: {', '.join(extra_allowed)}" if extra_allowed else ""
    who = "threads allowed" if threads else "no new threads"
    return True, (f"{mode}: {rules} rules, default {default}, libseccomp {libseccomp_version()}, "
                  f"all threads, {who}, pid/fcntl/ioctl/sockopt checks, pipes <= {pipe_max >> 10} KiB{extra}")
