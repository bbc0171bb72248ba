"""Supervision of plugin children inside :class:`~gpi.plugins.host.PluginHost`.

The host detects a dead or stalled child in the wave that called it (the
shared-memory channel raises ``PeerDiedError`` within milliseconds of the
child's death; a call past its deadline raises ``ChannelTimeout``). The
system is skipped for that tick and the host hands the plugin to
:class:`HostSupervision`, which

1. kills and reaps the child (exit code or signal), drains what it printed
   (its stderr carries a ``faulthandler`` traceback for hard crashes),
2. writes a :class:`~gpi.plugins.faults.CrashReport` as JSON under
   ``<data_dir>/crashes`` (plugin, system, tick, exit, traceback, last log
   lines, last command summary),
3. asks the tick-based :class:`~gpi.plugins.faults.Supervisor` what to do:
   restart at the start of the next tick (first fault), later with
   exponential backoff (consecutive faults), or disable the plugin when it
   faulted ``max_faults`` times within ``window_ticks`` (circuit breaker).

Everything is decided in ticks, so a replay of a faulty run takes the same
decisions. At most one tick of the crashed system is lost per crash with the
default policy: the child is back before the next tick starts.

Deadlines: a call may take ``max(host timeout, budget_ms * STALL_FACTOR)``
(``budget_ms`` from the manifest's ``[sandbox]`` table); the first call of a
fresh child gets at least :data:`FIRST_CALL_GRACE` seconds (lazy imports,
page faults of a new arena).

Children start through a fork-server (:mod:`gpi.plugins.zygote`) when the host
asks for it (:meth:`HostSupervision.zygote` starts it, and a new one when it
died); :mod:`gpi.plugins.host.worker` forks from it.

Supervision talks to the host only through its public members: ``plugins``,
``events`` (faults and log lines), :meth:`~gpi.plugins.host.PluginHost.worker`,
:meth:`~gpi.plugins.host.PluginHost.detach_worker`,
:meth:`~gpi.plugins.host.PluginHost.respawn` and ``drain_output``.
"""

from __future__ import annotations

import os
import re
import time
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gpi.plugins.faults import (
    CrashReport,
    FaultKind,
    PluginState,
    RestartPolicy,
    Supervisor,
    describe_exit,
    write_crash_report,
)

if TYPE_CHECKING:
    from gpi.plugins.host import PluginHost
    from gpi.plugins.zygote import ForkServer

__all__ = [
    "DEFAULT_POLICY",
    "FIRST_CALL_GRACE",
    "STALL_FACTOR",
    "HostSupervision",
    "default_data_dir",
]

#: A manifest's ``budget_ms`` times this is the call's kill deadline (when above the host's).
STALL_FACTOR = 25
#: Seconds the first call of a new child may take (imports on first use, fresh arena pages).
FIRST_CALL_GRACE = 5.0
#: Restart at the next tick, then back off 1, 2, 4 ... ticks; 5 faults in 600 ticks disable.
DEFAULT_POLICY = RestartPolicy(base_ticks=1, max_ticks=64, max_faults=5, window_ticks=600)
#: Lines of a child's output kept for its crash report.
LOG_TAIL = 40
#: Crash report paths kept in :attr:`HostSupervision.reports` (the files stay on disk).
REPORTS_KEPT = 256
# Fields of a plugin's last successful call record that its crash report shows.
_LAST_COMMAND_FIELDS = ("tick", "system", "status", "ops", "cmd_bytes")


def default_data_dir() -> Path:
    """``$GPI_DATA_DIR``, else ``$XDG_DATA_HOME/gpi`` (``~/.local/share/gpi``)."""
    env = os.environ.get("GPI_DATA_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "gpi"


# -- the host's supervisor ---------------------------------------------------------------------


class HostSupervision:
    """Crash reports, restarts, the circuit breaker and deadlines for one host."""

    def __init__(self, host: PluginHost, data_dir: str | os.PathLike[str] | None = None,
                 policy: RestartPolicy | None = None) -> None:
        self.host = host
        self.data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
        self.crash_dir = self.data_dir / "crashes"
        self.policy = policy or DEFAULT_POLICY
        self.supervisor = Supervisor(self.policy, immediate_first=True)  # first fault: back next tick
        #: Paths of the latest crash reports written, oldest first.
        self.reports: deque[Path] = deque(maxlen=REPORTS_KEPT)
        self._fresh: set[str] = set()  # plugins whose child has not finished a call yet
        self._last_ok: dict[str, dict[str, Any]] = {}
        self._tails: dict[str, deque[str]] = {}
        self._zygote: ForkServer | None = None
        self._zygote_failed = False
        host.on_call_record(self._on_record)

    # -- lifecycle hooks called by the host --------------------------------------------------

    def started(self, plugin: str) -> None:
        """A child for ``plugin`` started (load, restart or swap)."""
        self.supervisor.started(plugin)
        self._fresh.add(plugin)

    def succeeded(self, plugin: str) -> None:
        """A call of ``plugin`` returned (whatever its commands): the fault streak ends."""
        self._fresh.discard(plugin)
        self.supervisor.succeeded(plugin)

    def runnable(self, plugin: str) -> bool:
        """Whether ``plugin``'s systems run this tick (not disabled, not waiting for a restart)."""
        lp = self.host.plugins.get(plugin)
        return lp is not None and lp.status == PluginState.RUNNING and self.host.worker(plugin) is not None

    def deadline(self, plugin: str) -> float:
        """Seconds a call of ``plugin`` may take before its child is killed."""
        base = self.host.timeout
        lp = self.host.plugins.get(plugin)
        budget = lp.manifest.sandbox.get("budget_ms") if lp is not None else None
        if budget:
            base = max(base, float(budget) * STALL_FACTOR / 1000.0)
        if plugin in self._fresh:
            base = max(base, FIRST_CALL_GRACE)
        return base

    def output_line(self, plugin: str, line: str) -> None:
        """Keep the last :data:`LOG_TAIL` lines a plugin's child printed."""
        self._tails.setdefault(plugin, deque(maxlen=LOG_TAIL)).append(line)

    def _on_record(self, rec: dict[str, Any]) -> None:
        # Keep the record itself (a fresh dict per call); the crash report picks its fields.
        if rec.get("status") in ("ok", "rejected"):
            self._last_ok[rec["plugin"]] = rec

    def _last_commands(self, plugin: str) -> dict[str, Any]:
        rec = self._last_ok.get(plugin)
        return {} if rec is None else {k: rec.get(k) for k in _LAST_COMMAND_FIELDS}

    # -- faults ------------------------------------------------------------------------------

    def child_died(self, plugin: str) -> None:
        """A child failed during a wave: reap it, report, then schedule a restart or disable."""
        host = self.host
        lp = host.plugins.get(plugin)
        worker = host.detach_worker(plugin)
        if lp is None:
            if worker is not None:
                worker.close()
            return
        tick = host.tick_count
        fault = host.events.last_fault(plugin, tick)
        code = None
        if worker is not None:
            if fault is not None and fault.get("kind") == FaultKind.TIMEOUT:
                worker.dump_stacks()  # faulthandler in the child prints where it is stuck
            code = worker.kill()
            worker.close()  # joins the output pump: the child's last lines are in
        self._fresh.discard(plugin)
        host.drain_output()
        kind = str(fault.get("kind")) if fault else "crashed"
        report = CrashReport(
            plugin=plugin,
            system=fault.get("system") if fault else None,
            tick=tick,
            kind="stalled" if kind == FaultKind.TIMEOUT else "crashed",
            exit=describe_exit(code),
            signal=_signal_name(code),
            returncode=code,
            traceback=self._traceback(plugin),
            log_tail=list(self._tails.get(plugin, ())),
            last_commands=self._last_commands(plugin),
        )
        path = self._write(report)
        if fault is not None and report.kind == "stalled":
            where = stuck_at(report.traceback)
            if where:  # the innermost frame of the child's stack dump: where the system was stuck
                fault["stuck_at"] = where
                host.events.log(f"{plugin}/{fault.get('system') or ''}", "error", f"stalled at {where}")
        if fault is not None:
            fault["exit"] = report.exit
            fault["returncode"] = code
            if path is not None:
                fault["report"] = str(path)
        state = self.supervisor.fault(plugin, tick)
        lp.pid = None
        if state is PluginState.DISABLED:
            lp.status = PluginState.DISABLED
            msg = self.supervisor.disabled_reason[plugin] + (
                f"; last fault: {report.kind} ({report.exit}) in system {report.system!r} at tick {tick}; "
                f"crash reports in {self.crash_dir}; fix the plugin and reload it to run it again")
            host.events.fault(FaultKind.DISABLED, plugin, "", msg)
        else:
            lp.status = PluginState.RESTARTING
            host.events.log(plugin, "warning", f"child {report.kind} ({report.exit}) at tick {tick}; "
                                              f"restart scheduled (report: {path})")

    def _traceback(self, plugin: str) -> str:
        lines = list(self._tails.get(plugin, ()))
        for i, line in enumerate(lines):  # faulthandler: "Fatal Python error: ..." then stacks
            if line.startswith(("Fatal Python error", "Traceback (most recent call last)", "Thread 0x",
                                "Current thread 0x")):
                return "\n".join(lines[i:])
        return ""

    def _write(self, report: CrashReport) -> Path | None:
        try:
            path = write_crash_report(self.crash_dir, report)
        except OSError as exc:
            self.host.events.log(report.plugin, "error", f"cannot write crash report under {self.crash_dir}: {exc}")
            return None
        self.reports.append(path)
        return path

    def before_tick(self) -> list[str]:
        """Restart the plugins whose backoff ends at this tick; returns their names."""
        host = self.host
        done = []
        if self._zygote is not None and self._zygote.exited():  # one poll of its pidfd per tick
            done = self._replace_fork_server()
        if not self.supervisor.restarts_pending():  # nothing waits for a restart (the common case)
            return done
        for plugin in self.supervisor.due_restarts(host.tick_count):
            lp = host.plugins.get(plugin)
            if lp is None or lp.status == PluginState.DISABLED:
                continue
            lp.restarts = self.supervisor.restarts.get(plugin, lp.restarts + 1)
            if host.respawn(plugin):
                done.append(plugin)
            else:
                self.child_died(plugin)  # a failed start counts as another fault
        return done

    def reenable(self, plugin: str) -> None:
        """Forget the circuit-breaker state of ``plugin`` (after a successful reload)."""
        self.supervisor.forget(plugin)
        self.started(plugin)

    # -- the fork-server ---------------------------------------------------------------------

    def _replace_fork_server(self) -> list[str]:
        """The fork-server died: retire the children it forked and start them again; returns those restarted.

        Its children have been sent their death signal but may still run (and
        answer) for a while, or never get it (see :mod:`gpi.plugins.zygote`):
        each is killed through its pidfd and waited for, then started again
        through a new fork-server at this tick's boundary. Not the plugin's
        fault: no crash report and no fault against its circuit breaker.
        """
        host = self.host
        z, self._zygote = self._zygote, None
        assert z is not None
        code = z.wait(0)
        orphans = sorted(name for name in host.plugins if (w := host.worker(name)) is not None and w.zygote is z)
        host.events.log("host", "warning", f"fork-server {z.pid} died ({describe_exit(code)}); "
                                          f"restarting the children it forked: {orphans}")
        z.close()
        done = []
        for plugin in orphans:
            worker = host.detach_worker(plugin)
            assert worker is not None
            worker.kill()  # SIGKILL through its pidfd, wait for the exit
            worker.close()
            lp = host.plugins[plugin]
            lp.restarts = self.supervisor.restarts[plugin] = self.supervisor.restarts.get(plugin, 0) + 1
            if host.respawn(plugin):
                done.append(plugin)
            else:
                self.child_died(plugin)  # a failed start is a fault, as after a crash
        return done

    def zygote(self) -> ForkServer | None:
        """The host's fork-server, started on first use (None if it cannot start).

        It runs in :func:`~gpi.plugins.sandbox.policy.child_environment`, the
        environment every plugin child gets (its children inherit it).
        """
        z = self._zygote
        if z is not None and z.exited():  # it died since the tick started: start another
            self.host.events.log("host", "warning", "fork-server died; starting a new one")
            z.close()
            self._zygote = None
        if self._zygote is not None or self._zygote_failed:
            return self._zygote
        try:
            from gpi.plugins.sandbox.policy import child_environment
            from gpi.plugins.zygote import DEFAULT_PRELOAD, ForkServer

            preload = (*DEFAULT_PRELOAD, "gpi.plugins.child", "gpi.draw", "gpi.plugins._zygote_warm")
            self._zygote = ForkServer(preload=preload, env=child_environment())
        except Exception as exc:
            self._zygote_failed = True
            self.host.events.log("host", "warning", f"fork-server unavailable, children start with Popen: {exc}")
        return self._zygote

    def retained(self) -> dict[str, int]:
        """Counts of what supervision keeps between ticks (see ``PluginHost.retained``)."""
        return {"crash_reports": len(self.reports), "last_calls": len(self._last_ok),
                "output_tails": sum(len(t) for t in self._tails.values())}

    # -- status for the overlay --------------------------------------------------------------

    def status(self) -> list[dict[str, Any]]:
        """One row per plugin: name, state, restarts, pid, rss, sandbox layers, last fault."""
        rows = []
        for name, lp in self.host.plugins.items():
            layers = {}
            for lname, ls in ((lp.sandbox or {}).get("layers") or {}).items():
                layers[str(lname)] = bool(ls.get("active")) if isinstance(ls, dict) else bool(ls)
            last = self.host.events.last_fault(name)
            rows.append({"name": name, "state": lp.status, "restarts": lp.restarts, "pid": lp.pid,
                         "rss": _rss(lp.pid), "sandbox_layers": layers,
                         "last_error": str(last["error"])[:300] if last else "",
                         "disabled_reason": self.supervisor.disabled_reason.get(name, "")})
        return rows

    def close(self) -> None:
        """Stop the fork-server; safe twice."""
        z, self._zygote = self._zygote, None
        if z is not None:
            z.close()


def _signal_name(code: int | None) -> str | None:
    if code is None or code >= 0:
        return None
    import signal

    try:
        return signal.Signals(-code).name
    except ValueError:
        return f"signal {-code}"


def _rss(pid: int | None) -> int | None:
    if not pid or pid == os.getpid():
        return None
    try:
        with open(f"/proc/{pid}/statm", "rb") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def wall_ms(t0_ns: int) -> float:
    """Milliseconds since ``t0_ns`` (``time.perf_counter_ns``)."""
    return (time.perf_counter_ns() - t0_ns) / 1e6


def stuck_at(dump: str) -> str:
    """``'path:line in func'`` of the innermost frame of the main thread in a faulthandler dump, else ``""``.

    faulthandler lists the current thread last and each thread's frames most
    recent first, as ``  File "path", line N in func``.
    """
    blocks = [b for b in dump.split("\n\n") if '  File "' in b]
    if not blocks:
        return ""
    for line in blocks[-1].splitlines():
        m = re.match(r'\s*File "(.*)", line (\d+) in (.*)', line)
        if m:
            return f"{m.group(1)}:{m.group(2)} in {m.group(3).strip()}"
    return ""
