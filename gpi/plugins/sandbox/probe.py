"""Which sandbox layers work on this machine, found out in a throwaway child.

:func:`probe_layers` starts ``python -c`` with this module's ``_child_main``:
the child checks memfd sealing first, applies the full default sandbox with
nothing required, then checks from inside that the layers bite (a socket is
refused, a file outside the allowed paths cannot be read, every capability
set is empty, ``NSpid`` shows a second pid namespace), and prints one JSON
line. The host process itself is never confined.
"""

from __future__ import annotations

import json
import mmap
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from gpi.plugins.sandbox.policy import child_environment
from gpi.version import PACKAGE_DIR

__all__ = ["PROBE_EXTRA", "probe_layers"]

# Rows probe_layers adds beside the layers themselves.
PROBE_EXTRA = ("memfd_seal",)


def _memfd_seal_check() -> tuple[bool, str]:
    import fcntl

    try:
        fd = os.memfd_create("gpi-probe", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    except (AttributeError, OSError) as exc:
        return False, f"memfd_create unavailable: {exc}"
    try:
        os.ftruncate(fd, mmap.PAGESIZE)
        writable = mmap.mmap(fd, mmap.PAGESIZE)
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | 0x10)
        writable[0] = 1  # the owner's earlier mapping keeps working
        try:
            mmap.mmap(fd, mmap.PAGESIZE).close()
            return False, "F_SEAL_FUTURE_WRITE did not stop a new writable mapping"
        except PermissionError:
            pass
        ro = mmap.mmap(fd, mmap.PAGESIZE, prot=mmap.PROT_READ)
        ok = ro[0] == 1
        ro.close()
        writable.close()
        return ok, "F_SEAL_FUTURE_WRITE: new writable mappings refused, read-only works"
    except OSError as exc:
        return False, f"sealing failed: {exc}"
    finally:
        os.close(fd)


def _child_main(plugin_dir: str, secret: str) -> None:
    from gpi.plugins.sandbox.apply import apply_sandbox
    from gpi.plugins.sandbox.policy import SandboxPolicy

    out: dict[str, tuple[bool, str]] = {"memfd_seal": _memfd_seal_check()}
    # threads = 1, so that the CPU cgroup (only made for children that may start threads) is tried too
    report = apply_sandbox(SandboxPolicy(required=frozenset(), threads=1), plugin_dir)
    for name, status in report.layers.items():
        out[name] = (status.active, status.detail)
    # Prove from inside that the main layers bite.
    if report.active("seccomp"):
        import socket

        try:
            socket.socket().close()
            out["seccomp"] = (False, "filter loaded but socket() was allowed")
        except PermissionError:
            pass
    if report.active("landlock"):
        try:
            open(secret).close()
            out["landlock"] = (False, "ruleset loaded but a file outside the allowed paths was readable")
        except PermissionError:
            pass
    if report.active("privilege"):
        from gpi.plugins.sandbox.privilege import capability_sets

        left = {k: v for k, v in capability_sets().items() if v}
        if left:
            out["privilege"] = (False, f"layer applied but capabilities are left: {left}")
    if report.active("pidns"):
        from gpi.plugins.sandbox.pidns import namespace_pids

        if len(namespace_pids()) < 2:
            out["pidns"] = (False, "layer applied but /proc/self/status shows one pid namespace")
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()


def probe_layers(timeout: float = 30.0) -> dict[str, tuple[bool, str]]:
    """``{layer: (available, detail)}`` for this machine, plus ``memfd_seal``; runs a child."""

    root = str(PACKAGE_DIR.parent)
    env = child_environment()
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    with tempfile.TemporaryDirectory(prefix="gpi-probe-") as tmp:
        os.chmod(tmp, 0o755)  # a plugin folder others may read, as an installed plugin's is
        plugin_dir = os.path.join(tmp, "plugin")
        os.mkdir(plugin_dir)
        secret = os.path.join(tmp, "outside.txt")
        Path(secret).write_text("not for plugins\n")
        code = (
            "import sys; from gpi.plugins.sandbox.probe import _child_main; "
            "_child_main(sys.argv[1], sys.argv[2])"
        )
        try:
            proc = subprocess.run(
                [sys.executable, "-c", code, plugin_dir, secret],
                capture_output=True, text=True, timeout=timeout, env=env, cwd=tmp,
            )
        except subprocess.TimeoutExpired:
            return {"probe": (False, f"probe child did not answer within {timeout} s")}
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        err = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"probe": (False, f"probe child failed (exit {proc.returncode}): {err}")}
    data = json.loads(lines[-1])
    return {name: (bool(v[0]), str(v[1])) for name, v in data.items()}
