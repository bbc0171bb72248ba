"""Run snippets in real sandboxed children; the attack table they fill.

``run_child(code, plugin_dir, ...)`` runs a script in the plugin folder with a prelude that
imports what a plugin child imports (numpy, msgpack, ctypes, ...), runs an
optional ``setup`` snippet (what the host would hand over: sealed memfds,
sockets), applies the sandbox, then runs ``code``. The child prints one
``RESULT`` line: the layers, and either ``allowed`` (with ``value``) or
``refused`` (with the error and :func:`classify_violation`). A child killed by
a signal comes back as ``killed`` with :func:`classify_exit`. The test runner
itself is never confined.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from gpi.plugins.sandbox import SandboxPolicy, child_environment, classify_exit

ROOT = Path(__file__).resolve().parents[3]
ATTACK_TABLE: list[tuple[str, str, str, str]] = []

PRELUDE = """
import ctypes, errno, fcntl, json, mmap, os, resource, signal, socket, subprocess, sys, threading, time
import msgpack
import numpy as np
from gpi.plugins.sandbox import SandboxPolicy, apply_sandbox, classify_violation
POLICY = SandboxPolicy.from_dict(json.loads(sys.argv[1]))
PLUGIN_DIR = sys.argv[2]
ARGS = json.loads(sys.argv[3])
LIBC = ctypes.CDLL(None, use_errno=True)
def check(rc, what):
    if rc == -1:
        e = ctypes.get_errno()
        raise OSError(e, what + ": " + os.strerror(e))
    return rc
"""

BODY = """
try:
    REPORT = apply_sandbox(POLICY, PLUGIN_DIR)
except Exception as exc:
    print("RESULT " + json.dumps({"outcome": "sandbox-error", "error": f"{type(exc).__name__}: {exc}",
                                  "layer": getattr(exc, "layer", ""),
                                  "partial": exc.report.summary() if getattr(exc, "report", None) else ""}),
          flush=True)
    raise SystemExit(0)
RESULT = {"layers": {n: s.active for n, s in REPORT.layers.items()}}
try:
    value = None
{code}
    RESULT.update(outcome="allowed", value=value)
except BaseException as exc:
    RESULT.update(outcome="refused", error=f"{type(exc).__name__}: {exc}",
                  errno=getattr(exc, "errno", None), violation=REPORT.violations.record(exc, tick=0))
print("RESULT " + json.dumps(RESULT, default=str), flush=True)
"""


def _script(code: str, setup: str) -> str:
    return PRELUDE + textwrap.dedent(setup) + BODY.replace("{code}", textwrap.indent(textwrap.dedent(code), "    "))


def start_child(
    code: str,
    plugin_dir: Path,
    policy: SandboxPolicy | None = None,
    setup: str = "",
    args: dict[str, Any] | None = None,
    pass_fds: tuple[int, ...] = (),
) -> subprocess.Popen[str]:
    """Start the sandboxed child (pipes for stdout/stderr) and return it still running."""
    policy = policy or SandboxPolicy()
    # The script lives in the plugin folder, like a plugin's own code (and so
    # tracebacks can show its source lines under Landlock).
    path = plugin_dir / "attack.py"
    path.write_text(_script(code, setup))
    env = child_environment()
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.Popen(
        [sys.executable, str(path), json.dumps(policy.to_dict()), str(plugin_dir), json.dumps(args or {})],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        cwd=str(plugin_dir.parent), pass_fds=pass_fds,
    )


def child_result(proc: subprocess.Popen[str], timeout: float = 30.0) -> dict[str, Any]:
    """Wait for a child from :func:`start_child` and decode its RESULT line (or its death)."""
    stdout, stderr = proc.communicate(timeout=timeout)
    lines = [ln[7:] for ln in stdout.splitlines() if ln.startswith("RESULT ")]
    if lines:
        out: dict[str, Any] = json.loads(lines[-1])
    elif proc.returncode < 0:
        out = {"outcome": "killed", "returncode": proc.returncode, "violation": classify_exit(proc.returncode)}
    else:
        raise AssertionError(f"child exited {proc.returncode} without a result:\n{stderr[-3000:]}")
    out["stderr"] = stderr[-2000:]
    return out


def run_child(
    code: str,
    plugin_dir: Path,
    policy: SandboxPolicy | None = None,
    setup: str = "",
    args: dict[str, Any] | None = None,
    timeout: float = 30.0,
) -> dict[str, Any]:
    """Run ``code`` in a sandboxed child and return its result dict."""
    return child_result(start_child(code, plugin_dir, policy, setup, args), timeout)


def record(attack: str, result: dict[str, Any], layer: str, note: str = "") -> None:
    """Add one row to the table printed at the end of the session."""
    outcome = result["outcome"]
    if outcome == "refused":
        outcome += f" ({result.get('error', '')[:60]})"
    elif outcome == "killed":
        outcome += f" (signal {-result['returncode']})"
    if note:
        outcome += f": {note}"
    call = (result.get("violation") or {}).get("call", "")
    ATTACK_TABLE.append((attack, outcome, layer, call))


