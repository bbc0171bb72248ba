"""A fork-server (zygote) that starts plugin children in milliseconds.

Starting a child with ``python -m ...`` costs an interpreter start plus the
numpy import (around 100 ms here). The zygote pays that once: it is a
single-threaded process that has already imported numpy, msgpack and the gpi
packages a child needs, and forks a fresh child per request.

Protocol (msgpack over a Unix socketpair, fds passed with SCM_RIGHTS):

- host -> zygote ``{"kind": "spawn", "target": "pkg.mod:func", "args": {...}}``
  with the child's fds attached; the zygote forks, the child calls
  ``func(args, fds)`` and exits with its return value (0 if None).
  Reply ``{"kind": "spawned", "pid": N}``.
- host -> zygote ``{"kind": "status", "pid": N}``: reply
  ``{"kind": "status", "pid": N, "returncode": int | None}`` with the
  ``subprocess`` convention (negative = killed by that signal).
- host -> zygote ``{"kind": "shutdown"}``.

Children are children of the zygote, not of the host: the host watches them
through a pidfd (readable when the process exits) and asks the zygote for the
exit status. Each child gets ``PR_SET_PDEATHSIG(SIGKILL)`` against the zygote,
and the zygote against the host, so nothing outlives the host.

The death signal is asynchronous and has gaps, so nothing relies on it alone:

- ``os.kill(zygote, SIGKILL)`` returns before the zygote is dead; its
  children are sent their SIGKILL while it exits (before the host can reap
  it) and die some time after that. Until then they run, and answer.
- It fires when the *thread* that forked dies: the zygote forks from its
  only thread, and the host must start the zygote from a long-lived thread.
- A process whose parent dies between ``fork`` and ``prctl`` never gets it:
  both the zygote and its children check ``getppid()`` after the ``prctl``
  and exit if their parent is already gone.
- A change of uid or gid clears it: a child that drops privileges must set it
  again afterwards.

The host therefore watches the zygote itself (:meth:`ForkServer.exited`, a
pidfd) and retires the children of a dead zygote explicitly (SIGKILL through
their pidfd, then wait for their exit) instead of waiting to trip over them.
"""

from __future__ import annotations

import ctypes
import importlib
import os
import select
import signal
import socket
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

from gpi.plugins.errors import PluginError
from gpi.shm.fdpass import recv_with_fds, send_with_fds

__all__ = ["DEFAULT_PRELOAD", "ForkServer", "ZygoteError", "ZygoteChild"]

DEFAULT_PRELOAD = ("numpy", "msgpack", "gpi.ecs", "gpi.shm")
PR_SET_PDEATHSIG = 1


class ZygoteError(PluginError, RuntimeError):
    """The fork-server failed to start, died, or refused a request."""


def _set_pdeathsig(sig: int = signal.SIGKILL) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0)


class ZygoteChild:
    """A child started by the zygote: its pid and a pidfd to watch it."""

    pidfd: int = -1

    def __init__(self, server: ForkServer, pid: int) -> None:
        self.server = server
        self.pid = pid
        self.pidfd = os.pidfd_open(pid)
        self.returncode: int | None = None

    def poll(self) -> int | None:
        """The exit code once the child has exited, else None (subprocess convention).

        A child that outlived its zygote is still running until its pidfd says
        otherwise; once it is gone nobody can tell its status, and it is taken
        to be the death signal's ``-SIGKILL``.
        """
        if self.returncode is None and self.exited():
            self.returncode = self._status()
        return self.returncode

    def _status(self) -> int | None:
        try:
            return self.server.status(self.pid)
        except (ZygoteError, OSError):  # the zygote is gone (and reaped by someone else: its exit status is lost)
            return -signal.SIGKILL

    def exited(self, timeout: float = 0.0) -> bool:
        """True when the process is gone (waits up to ``timeout`` seconds)."""
        if self.pidfd < 0:
            return True
        r, _, _ = select.select([self.pidfd], [], [], timeout)
        return bool(r)

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait for the exit; returns the code (None on timeout)."""
        if self.exited(timeout if timeout is not None else 1e9):
            for _ in range(100):
                code = self._status()
                if code is not None:
                    self.returncode = code
                    return code
                select.select([], [], [], 0.002)
        return None

    def kill(self) -> None:
        """SIGKILL the child (harmless if it is gone already)."""
        try:
            signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
        except (ProcessLookupError, OSError):
            pass

    def close(self) -> None:
        fd, self.pidfd = self.pidfd, -1
        if fd >= 0:
            os.close(fd)


class ForkServer:
    """Host-side handle of a running zygote process."""

    _sock: socket.socket | None = None
    _proc: subprocess.Popen[bytes] | None = None
    _pidfd: int = -1
    #: The zygote's exit code once it has been reaped (subprocess convention).
    returncode: int | None = None

    def __init__(self, preload: Sequence[str] = DEFAULT_PRELOAD, timeout: float = 30.0,
                 env: dict[str, str] | None = None) -> None:
        host, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._sock = host
        self.timeout = timeout
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "gpi.plugins.zygote", str(child.fileno()), ",".join(preload),
                 str(os.getpid())],
                pass_fds=[child.fileno()], env=env, stdin=subprocess.DEVNULL,
            )
        except OSError as exc:
            host.close()
            raise ZygoteError(f"cannot start the fork-server: {exc}") from exc
        finally:
            child.close()
        self._pidfd = os.pidfd_open(self._proc.pid)
        reply = self._recv()
        if reply.get("kind") != "ready":
            self.close()
            raise ZygoteError(f"fork-server did not start: {reply}")

    @property
    def pid(self) -> int:
        return self._proc.pid if self._proc else -1

    def exited(self, timeout: float = 0.0) -> bool:
        """True once the zygote process is gone (waits up to ``timeout`` s on its pidfd).

        When it is, every child it forked has been sent its death signal.
        """
        if self._pidfd < 0:
            return True
        r, _, _ = select.select([self._pidfd], [], [], timeout)
        return bool(r)

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait for the zygote to exit and reap it; its exit code (None on timeout)."""
        proc = self._proc
        if proc is None:  # closed: its code if it was reaped
            return self.returncode
        if not self.exited(timeout if timeout is not None else 1e9):
            return None
        self.returncode = proc.wait()
        return self.returncode

    def spawn(self, target: str, args: dict[str, Any], fds: Sequence[int] = ()) -> ZygoteChild:
        """Fork a child that runs ``target(args, fds)``; returns its handle."""
        send_with_fds(self._conn(), {"kind": "spawn", "target": target, "args": args}, list(fds))
        reply = self._recv()
        if reply.get("kind") != "spawned":
            raise ZygoteError(f"fork-server refused to spawn {target}: {reply.get('error', reply)}")
        return ZygoteChild(self, int(reply["pid"]))

    def status(self, pid: int) -> int | None:
        """Exit code of a child the zygote reaped, or None while it runs."""
        send_with_fds(self._conn(), {"kind": "status", "pid": pid})
        reply = self._recv()
        code = reply.get("returncode")
        return None if code is None else int(code)

    def _conn(self) -> socket.socket:
        if self._sock is None:
            raise ZygoteError("fork-server is closed")
        if self._proc is not None and self._proc.poll() is not None:
            raise ZygoteError(f"fork-server died (exit status {self._proc.returncode})")
        return self._sock

    def _recv(self) -> dict[str, Any]:
        sock = self._conn()
        r, _, _ = select.select([sock], [], [], self.timeout)
        if not r:
            raise ZygoteError(f"fork-server did not answer within {self.timeout} s")
        try:
            msg, fds = recv_with_fds(sock)
        except OSError as exc:
            raise ZygoteError(f"fork-server connection lost: {exc}") from exc
        for fd in fds:
            os.close(fd)
        return dict(msg)

    def close(self) -> None:
        """Stop the zygote (its children get SIGKILL through their death signal)."""
        sock, self._sock = self._sock, None
        proc, self._proc = self._proc, None
        pidfd, self._pidfd = self._pidfd, -1
        if pidfd >= 0:
            os.close(pidfd)
        if sock is not None:
            try:
                send_with_fds(sock, {"kind": "shutdown"})
            except OSError:
                pass
            sock.close()
        if proc is not None:
            try:
                proc.wait(2)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            self.returncode = proc.returncode

    def __enter__(self) -> ForkServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()


# -- zygote side ------------------------------------------------------------------------


def _returncode(status: int) -> int:
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def _run_child(sock: socket.socket, target: str, args: dict[str, Any], fds: list[int], zygote_pid: int) -> None:
    """In the forked child: never returns."""
    code = 1
    try:
        sock.close()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        _set_pdeathsig()
        if os.getppid() != zygote_pid:  # the zygote died before the prctl: no death signal will come
            return
        module_name, _, func_name = target.partition(":")
        func = getattr(importlib.import_module(module_name), func_name)
        result = func(args, fds)
        code = 0 if result is None else int(result)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def serve(sock: socket.socket) -> None:
    """The zygote's request loop."""
    statuses: dict[int, int] = {}
    me = os.getpid()
    send_with_fds(sock, {"kind": "ready", "pid": me})
    while True:
        while True:  # reap every exited child
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            statuses[pid] = _returncode(status)
        r, _, _ = select.select([sock], [], [], 0.05)
        if not r:
            continue
        try:
            msg, fds = recv_with_fds(sock)
        except OSError:
            return  # host gone
        kind = msg.get("kind")
        if kind == "spawn":
            pid = os.fork()
            if pid == 0:
                _run_child(sock, str(msg["target"]), dict(msg.get("args") or {}), fds, me)
            for fd in fds:
                os.close(fd)
            send_with_fds(sock, {"kind": "spawned", "pid": pid})
        elif kind == "status":
            pid = int(msg["pid"])
            if pid not in statuses:
                try:
                    got, status = os.waitpid(pid, os.WNOHANG)
                    if got:
                        statuses[pid] = _returncode(status)
                except ChildProcessError:
                    pass
            send_with_fds(sock, {"kind": "status", "pid": pid, "returncode": statuses.get(pid)})
        elif kind == "shutdown":
            return
        else:
            send_with_fds(sock, {"kind": "error", "error": f"unknown request kind {kind!r}"})


def diagnostic_child(args: dict[str, Any], fds: list[int]) -> int:
    """A tiny target for tests and ``gpi doctor``: echo ``args['text']`` to ``fds[0]``."""
    with os.fdopen(fds[0], "wb") as out:
        out.write(str(args.get("text", "")).encode())
    return int(args.get("exit", 0))


def main(argv: Sequence[str]) -> None:
    fd = int(argv[0])
    preload = [m for m in (argv[1] if len(argv) > 1 else "").split(",") if m]
    _set_pdeathsig()
    if len(argv) > 2 and os.getppid() != int(argv[2]):  # the host died before the prctl
        os._exit(1)
    for name in preload:
        importlib.import_module(name)
    sock = socket.socket(fileno=fd)
    try:
        serve(sock)
    finally:
        sock.close()


if __name__ == "__main__":
    main(sys.argv[1:])


def _test_block(args: dict[str, Any], fds: list[int]) -> int:
    """Test target: block reading ``fds[0]`` until killed or the pipe closes."""
    os.read(fds[0], 1)
    return 0
