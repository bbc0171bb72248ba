"""What a plugin child is confined to: limits, layers, extra readable paths.

A :class:`SandboxPolicy` is plain data. The host builds one per plugin (its own
defaults, optionally adjusted by the manifest's ``[sandbox]`` table through
``SandboxPolicy.from_dict(table, base=host_policy)``), sends ``to_dict()`` to
the child, and the child rebuilds it with ``from_dict`` and passes it to
:func:`gpi.plugins.sandbox.apply_sandbox`.

Two sets matter. ``layers`` says which layers the child applies; ``required``
(a subset) says which ones must end up active, or the child refuses to run the
plugin. A manifest may tighten a policy but never relax what the host requires:
with a ``base``, ``from_dict`` only ever adds to ``required`` and refuses to
switch off a required layer.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from gpi.plugins.sandbox.errors import SandboxPolicyError

__all__ = [
    "ALL_LAYERS",
    "CHILD_ENV",
    "DEFAULT_REQUIRED",
    "ENV_ALLOWED",
    "MAX_THREADS",
    "SECCOMP_MODES",
    "SandboxPolicy",
    "child_environment",
]

# Applied in this order by apply_sandbox (each one narrows what the next may do).
ALL_LAYERS: tuple[str, ...] = (
    "rlimits",
    "no_new_privs",
    "pdeathsig",
    "cgroup",
    "pidns",
    "netns",
    "privilege",
    "landlock",
    "seccomp",
)
# cgroup, pidns and netns need root (or a delegated cgroup / user namespaces),
# and pdeathsig is a convenience: none is required by default. The other five are.
DEFAULT_REQUIRED: frozenset[str] = frozenset({"rlimits", "no_new_privs", "privilege", "landlock", "seccomp"})
#: Most threads a manifest may ask for (``[sandbox] threads = N``).
MAX_THREADS = 64
SECCOMP_MODES: tuple[str, ...] = ("allowlist", "denylist")

_MIB = 1 << 20

# Set in every plugin child's environment: numeric libraries stay
# single-threaded (so Landlock, which covers only the calling thread and its
# later threads, covers them all, and a child with threads = 0 needs none),
# and no bytecode is written.
CHILD_ENV: Mapping[str, str] = {
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONUNBUFFERED": "1",
}
# Manifest [sandbox] keys that are not sandbox layers: the host enforces them.
# fuel: the wasm loader's instruction budget, not an OS sandbox layer.
HOST_KEYS: frozenset[str] = frozenset({"budget_ms", "spawn_per_call", "spawn_per_tick", "max_entities", "fuel"})
#: Host environment variables a plugin child keeps (exact names); nothing else passes.
ENV_ALLOWED: frozenset[str] = frozenset({
    "PATH", "LANG", "LANGUAGE", "TZ", "PYTHONPATH", "PYTHONHASHSEED", "PYTHONUNBUFFERED",
    "GPI_PURE_PYTHON", "SDL_VIDEODRIVER", "PYOPENGL_PLATFORM",
})
#: Prefixes of host environment variables a plugin child keeps (the locale). A plugin that
#: needs a ``GPI_*`` variable of the host's names it in its manifest (``[plugin] env``).
ENV_ALLOWED_PREFIXES: tuple[str, ...] = ("LC_",)


@dataclass(frozen=True)
class SandboxPolicy:
    """Limits and layers for one plugin child; the defaults are the safe ones."""

    # RLIMIT_AS. Must cover the interpreter, numpy, thread stacks and the
    # read-only world mappings; 2 GiB is plenty for the example plugins.
    address_space_bytes: int | None = 2048 * _MIB
    # RLIMIT_CPU, counted from when the sandbox is applied. A backstop for a
    # runaway child: per-tick deadlines are the host's job (it kills the child).
    cpu_seconds: int | None = 3600
    # RLIMIT_NOFILE: highest fd number + 1 the child may open.
    open_files: int | None = 256
    # RLIMIT_FSIZE: 0 means no regular file can grow (writes raise EFBIG).
    file_size_bytes: int | None = 0
    # RLIMIT_CORE: 0 means no core dumps.
    core_bytes: int | None = 0
    # RLIMIT_NPROC: 0 means no new tasks for a non-root uid (threads too!).
    # The kernel does not enforce it for root; seccomp covers that case.
    nproc: int | None = 0
    # Threads the plugin may start after the sandbox (manifest ``threads = N``):
    # 0 refuses thread creation (seccomp refuses clone; RLIMIT_NPROC = 0 too).
    # With N > 0, RLIMIT_NPROC becomes 2 * (N + 1) for the plugin's uid (the
    # child, its threads, and a hot-swap twin of the same plugin).
    threads: int = 0
    # CPUs per tick (cgroup CPU quota over a period of one tick); None: no quota.
    cpu_quota: float | None = 1.0
    layers: frozenset[str] = frozenset(ALL_LAYERS)
    required: frozenset[str] = DEFAULT_REQUIRED
    read_paths: tuple[str, ...] = ()
    seccomp_mode: str = "allowlist"
    # Add a CPython audit hook so violation records name the call (reporting only).
    audit: bool = True

    def __post_init__(self) -> None:
        unknown = (set(self.layers) | set(self.required)) - set(ALL_LAYERS)
        if unknown:
            raise SandboxPolicyError(
                f"sandbox policy: unknown layer(s) {sorted(unknown)}; known layers are {list(ALL_LAYERS)}"
            )
        missing = set(self.required) - set(self.layers)
        if missing:
            raise SandboxPolicyError(
                f"sandbox policy: layer(s) {sorted(missing)} are required but not enabled; "
                "add them to 'layers' or drop them from 'required'"
            )
        if not isinstance(self.audit, bool):
            raise SandboxPolicyError(f"sandbox policy: audit must be true or false, got {self.audit!r}")
        if self.seccomp_mode not in SECCOMP_MODES:
            raise SandboxPolicyError(
                f"sandbox policy: seccomp_mode must be one of {list(SECCOMP_MODES)}, got {self.seccomp_mode!r}"
            )
        if isinstance(self.threads, bool) or not isinstance(self.threads, int) or not 0 <= self.threads <= MAX_THREADS:
            raise SandboxPolicyError(
                f"sandbox policy: threads must be an integer from 0 to {MAX_THREADS}, got {self.threads!r}")
        q = self.cpu_quota
        if q is not None and (isinstance(q, bool) or not isinstance(q, (int, float)) or not math.isfinite(q)
                              or not 0.01 <= q <= 1024):
            raise SandboxPolicyError(f"sandbox policy: cpu_quota must be a number of CPUs from 0.01 up, or None; got {q!r}")
        for name in ("address_space_bytes", "cpu_seconds", "open_files", "file_size_bytes", "core_bytes", "nproc"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
                raise SandboxPolicyError(
                    f"sandbox policy: {name} must be a non-negative integer or None, got {value!r}"
                )

    # -- (de)serialisation -------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A msgpack/JSON-friendly dict (what the host sends to the child)."""
        return {
            "address_space_bytes": self.address_space_bytes,
            "cpu_seconds": self.cpu_seconds,
            "open_files": self.open_files,
            "file_size_bytes": self.file_size_bytes,
            "core_bytes": self.core_bytes,
            "nproc": self.nproc,
            "threads": self.threads,
            "cpu_quota": self.cpu_quota,
            "layers": sorted(self.layers),
            "required": sorted(self.required),
            "read_paths": list(self.read_paths),
            "seccomp_mode": self.seccomp_mode,
            "audit": self.audit,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, base: SandboxPolicy | None = None) -> SandboxPolicy:
        """A policy from ``data``: :meth:`to_dict` output, or a manifest ``[sandbox]`` table.

        Without ``base``, ``data`` is read as a whole policy (missing keys take
        the safe defaults): ``from_dict(p.to_dict()) == p``. With ``base`` (the
        host's policy), ``data`` adjusts it the way a plugin manifest may:
        ``required`` only adds to the base's required layers, and ``layers``
        cannot drop a layer the base requires. Accepted keys: the field names,
        plus the manifest's ``memory_mb`` (alias ``address_space_mb``) and
        ``file_size_mb``; a float ``cpu_seconds`` is rounded up; ``budget_ms`` is
        accepted and ignored here (the host enforces per-tick budgets).
        """
        if not isinstance(data, Mapping):
            raise SandboxPolicyError(f"sandbox policy: expected a table/dict, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        aliases = {
            "memory_mb": "address_space_bytes",
            "address_space_mb": "address_space_bytes",
            "file_size_mb": "file_size_bytes",
        }
        changes: dict[str, Any] = {}
        for key, value in data.items():
            if key in HOST_KEYS:
                continue  # manifest keys the host itself enforces (per-tick budget)
            if key == "cpu_seconds" and isinstance(value, float):
                if not math.isfinite(value) or value < 0:
                    raise SandboxPolicyError(f"sandbox policy: cpu_seconds must be a non-negative number, got {value!r}")
                changes[key] = max(1, math.ceil(value))
            elif key in aliases:
                if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
                    raise SandboxPolicyError(f"sandbox policy: {key} must be an integer, got {value!r}")
                changes[aliases[key]] = None if value is None else int(value) * _MIB
            elif key in ("layers", "required"):
                changes[key] = _layer_set(key, value)
            elif key == "read_paths":
                if isinstance(value, str) or not isinstance(value, Iterable):
                    raise SandboxPolicyError(f"sandbox policy: read_paths must be a list of paths, got {value!r}")
                changes[key] = tuple(str(p) for p in value)
            elif key in known:
                changes[key] = value
            else:
                raise SandboxPolicyError(
                    f"sandbox policy: unknown key {key!r}; expected one of "
                    f"{sorted(known | set(aliases))}"
                )
        if base is None:
            return cls(**changes)
        required = frozenset(base.required) | changes.get("required", frozenset())
        layers = changes.get("layers", base.layers)
        dropped = base.required - layers
        if dropped:
            raise SandboxPolicyError(
                f"sandbox policy: cannot disable required layer(s) {sorted(dropped)}; "
                "the host's policy requires them"
            )
        changes["required"] = required
        changes["layers"] = frozenset(layers) | required
        return replace(base, **changes)


def _layer_set(key: str, value: Any) -> frozenset[str]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise SandboxPolicyError(f"sandbox policy: {key} must be a list of layer names, got {value!r}")
    names = frozenset(str(v) for v in value)
    unknown = names - set(ALL_LAYERS)
    if unknown:
        raise SandboxPolicyError(
            f"sandbox policy: {key} names unknown layer(s) {sorted(unknown)}; known layers are {list(ALL_LAYERS)}"
        )
    return names


def child_environment(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment to start a plugin child with: an allow-list of ``base`` plus :data:`CHILD_ENV`.

    ``base`` defaults to this process's environment. Only what Python and the
    child need passes: :data:`ENV_ALLOWED` (the search path, the locale, the
    time zone, ``PYTHONPATH``, ``PYTHONHASHSEED`` if the host set one, the
    ``GPI_*`` settings the child reads) and ``LC_*``; never anything else of
    the host's (tokens, keys, ``HOME``, proxies). What a plugin needs comes
    through its manifest (``[plugin] env`` names ``GPI_*`` variables the host
    passes in its hello) or its context, not the host's environment.
    """
    import os

    src = os.environ if base is None else base
    env = {k: v for k, v in src.items() if k in ENV_ALLOWED or k.startswith(ENV_ALLOWED_PREFIXES)}
    env.update(CHILD_ENV)
    return env
