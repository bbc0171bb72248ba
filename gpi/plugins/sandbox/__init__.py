"""Linux sandbox for plugin children: rlimits, prctl, cgroup, pid and network namespaces, privilege, Landlock, seccomp.

A plugin child calls :func:`apply_sandbox` after its own imports and before
the plugin's; it gets a :class:`SandboxReport` (per layer: active, detail,
plus a :class:`~gpi.plugins.sandbox.report.ViolationLog`) or a
:class:`SandboxError` naming the required layer that could not be applied.
:func:`probe_layers` finds out, in a throwaway child, what this machine
supports (``gpi doctor`` prints it). :func:`classify_violation` turns a
refused call into ``{"layer", "what"}`` for reporting. See docs/security.md.
"""

from gpi.plugins.sandbox.apply import apply_sandbox
from gpi.plugins.sandbox.errors import SandboxError, SandboxPolicyError
from gpi.plugins.sandbox.policy import (
    ALL_LAYERS,
    CHILD_ENV,
    DEFAULT_REQUIRED,
    SandboxPolicy,
    child_environment,
)
from gpi.plugins.sandbox.probe import probe_layers
from gpi.plugins.sandbox.report import (
    LayerStatus,
    SandboxReport,
    ViolationLog,
    classify_exit,
    classify_violation,
)

__all__ = [
    "ALL_LAYERS",
    "CHILD_ENV",
    "DEFAULT_REQUIRED",
    "LayerStatus",
    "SandboxError",
    "SandboxPolicy",
    "SandboxPolicyError",
    "SandboxReport",
    "ViolationLog",
    "apply_sandbox",
    "child_environment",
    "classify_exit",
    "classify_violation",
    "probe_layers",
]
