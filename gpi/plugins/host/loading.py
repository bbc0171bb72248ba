"""Loading plugins into a host: the loaded-plugin record and the checks made before a plugin runs.

:class:`LoadedPlugin` is what the host knows of one plugin (manifest,
granted and refused capabilities, its declarations, its state). Before any of
its systems runs, :func:`check_signatures` applies the host's signature policy
to its folder, :func:`sandbox_policy_for` works out the sandbox its child is
confined to (the host's policy, tightened by the manifest's ``[sandbox]``
table), and :func:`register_components` makes the world know its components
(the same name with another schema in two plugins is an error) and checks
every system's declared access against the registered components and the
granted capabilities.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gpi.ecs import Component, World
from gpi.ecs.relations import Relation
from gpi.plugins.errors import PluginError
from gpi.plugins.faults import PluginState
from gpi.plugins.manifest import Manifest
from gpi.plugins.sandbox.policy import SandboxPolicy
from gpi.plugins.sdk import SystemSpec, required_capabilities

__all__ = ["LoadedPlugin", "check_signatures", "register_components", "sandbox_available", "sandbox_policy_for"]


def sandbox_available() -> bool:
    """Whether :mod:`gpi.plugins.sandbox` imports (then the sandbox is on by default)."""
    try:
        import gpi.plugins.sandbox  # noqa: F401
    except Exception:
        return False
    return True


@dataclass
class LoadedPlugin:
    """A plugin the host runs: manifest, granted capabilities, declarations, worker state."""

    name: str
    manifest: Manifest
    granted: frozenset[str]
    refused: frozenset[str]
    components: list[Component] = field(default_factory=list)
    systems: dict[str, SystemSpec] = field(default_factory=dict)
    sandbox: dict[str, Any] | None = None
    status: PluginState = PluginState.STARTING
    restarts: int = 0
    pid: int | None = None
    relations: list[Relation] = field(default_factory=list)  # declared relationship kinds (gpi.ecs.relations)

    def summary(self) -> dict[str, Any]:
        """A msgpack/JSON-friendly summary (for overlays, `gpi doctor`, reports)."""
        return {"name": self.name, "version": self.manifest.version, "status": str(self.status),
                "restarts": self.restarts, "pid": self.pid, "granted": sorted(self.granted),
                "refused": sorted(self.refused), "systems": list(self.systems),
                "components": [c.name for c in self.components], "sandbox": self.sandbox}

def check_signatures(policy: Any, keyring: Any, manifests: Sequence[Manifest]) -> None:
    """Check every plugin folder with :func:`gpi.plugins.signing.check` (nothing when ``policy`` is None).

    ``keyring`` None: the default keyring folder.
    """
    if policy is None:
        return
    from gpi.plugins.signing import Keyring, check, default_keyring_dir

    ring = keyring if keyring is not None else Keyring.load(default_keyring_dir())
    for m in manifests:
        check(m.path, ring, policy)


def sandbox_policy_for(m: Manifest, enabled: bool, host_policy: Mapping[str, Any]) -> dict[str, Any] | None:
    """The sandbox policy (``to_dict``) of ``m``'s child, or None when the sandbox is off."""
    if not enabled:
        return None
    base = SandboxPolicy.from_dict(host_policy) if host_policy else SandboxPolicy()
    pol = SandboxPolicy.from_dict(dict(m.sandbox), base=base) if m.sandbox else base
    return pol.to_dict()


def register_components(world: World, plugins: Iterable[LoadedPlugin], new: Sequence[LoadedPlugin],
                        log: Callable[[str, str, str], None]) -> None:
    """Register the components of ``plugins`` (all loaded, ``new`` among them) and check ``new``'s systems.

    Raises :class:`PluginError` naming the plugin when two declare one
    component differently, a declaration differs from the world's, or a
    system names a component nobody declares; a system that needs a
    capability that was not granted is only logged (its calls then fail).
    """
    owners: dict[str, tuple[str, Component]] = {}
    for lp in plugins:
        for c in lp.components:
            prev = owners.get(c.name)
            if prev is not None and prev[1] != c:
                raise PluginError(
                    f"plugin {lp.name!r} declares component {c.name!r} as {c} but plugin "
                    f"{prev[0]!r} declared it as {prev[1]}; plugins must agree on shared schemas"
                )
            owners.setdefault(c.name, (lp.name, c))
    existing = world.components
    for name, (owner, c) in owners.items():
        have = existing.get(name)
        if have is not None and have != c:
            raise PluginError(f"plugin {owner!r} declares component {name!r} as {c} but the world has {have}")
    world.register(*[c for _, c in owners.values() if c.name not in existing])
    known = set(world.components)
    for lp in new:
        for spec in lp.systems.values():
            unknown = [n for n in (*spec.reads, *spec.writes, *spec.changed, *spec.added, *spec.removed)
                       if n not in known]
            if unknown:
                raise PluginError(
                    f"plugin {lp.name!r} system {spec.name!r} declares components {unknown} "
                    f"that no loaded plugin defines; declare them with plugin.component(...) "
                    f"or add the plugin that does as a dependency"
                )
            missing = required_capabilities(spec) - lp.granted
            if missing:
                log(lp.name, "warning", f"system {spec.name!r} needs capabilities {sorted(missing)} that were "
                                        "not granted; its calls that use them will fail")
