"""The plugin author's SDK: declare components and systems.

A plugin module declares what it adds to the world and which systems it runs.
Two equivalent styles are supported; the child collects either one.

With a ``Plugin`` object (recommended; one per module, named ``plugin``)::

    from gpi import Plugin

    plugin = Plugin()
    plugin.component("Position", "float32", (2,))
    plugin.component("Velocity", "float32", (2,))

    @plugin.system(stage="update", reads=["Velocity"], writes=["Position"])
    def move(ctx):
        for chunk in ctx.query("Position", "Velocity"):
            ctx.commands.set_chunk(chunk, "Position", chunk["Position"] + chunk["Velocity"] * ctx.dt)

With free functions (no registry: the child scans the module's globals for
:class:`~gpi.ecs.Component` objects and functions decorated with
:func:`system`)::

    from gpi import component, system

    Position = component("Position", "float32", (2,))

    @system(reads=["Position"])
    def report(ctx): ...

A system is a function ``fn(ctx: SystemContext) -> None`` that reads the world
through ``ctx.query`` and answers with commands on ``ctx.commands``. Its
declaration is a contract: it may read only what it lists in ``reads`` or
``writes``, write only ``writes``, touch only its ``resources`` and
``events``, and spawn or despawn only if it says so. The host checks every
command list against it.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from gpi.ecs.component import Component
from gpi.ecs.schedule import STAGES
from gpi.plugins.errors import PluginError

__all__ = [
    "Plugin",
    "SystemFn",
    "SystemSpec",
    "collect",
    "component",
    "describe_components",
    "required_capabilities",
    "system",
]

SystemFn = Callable[[Any], None]
F = TypeVar("F", bound=Callable[..., Any])

_MARK = "__gpi_system__"


class DeclarationError(PluginError, ValueError):
    """A component or system declaration in plugin code is invalid."""


def _names(value: Iterable[str] | str | None, what: str, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    out = []
    for v in value:
        if isinstance(v, Component):
            v = v.name
        if not isinstance(v, str) or not v:
            raise DeclarationError(f"{where}: {what} must be a list of names, got {v!r}")
        out.append(v)
    return tuple(dict.fromkeys(out))


@dataclass(frozen=True)
class SystemSpec:
    """A declared system: its function, stage and access."""

    name: str
    fn: SystemFn | None = field(default=None, compare=False, repr=False)
    stage: str = "update"
    reads: tuple[str, ...] = ()
    writes: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    events: tuple[str, ...] = ()
    before: tuple[str, ...] = ()
    after: tuple[str, ...] = ()
    spawns: bool = False
    despawns: bool = False
    changed: tuple[str, ...] = ()  # change detection (gpi.ecs.changes): ctx.query(changed=...)
    added: tuple[str, ...] = ()  # ctx.query(added=...)
    removed: tuple[str, ...] = ()  # ctx.removed(name)

    @property
    def watches(self) -> bool:
        """Whether the system uses change detection (its last-run tick is kept)."""
        return bool(self.changed or self.added or self.removed)

    @property
    def readable(self) -> frozenset[str]:
        """Components the system may query (its reads and its writes)."""
        return frozenset(self.reads) | frozenset(self.writes)

    @property
    def structural(self) -> bool:
        """True when the system may spawn or despawn entities."""
        return self.spawns or self.despawns

    def to_dict(self) -> dict[str, Any]:
        """A msgpack-able description (everything but the function)."""
        return {
            "name": self.name,
            "stage": self.stage,
            "reads": list(self.reads),
            "writes": list(self.writes),
            "resources": list(self.resources),
            "events": list(self.events),
            "before": list(self.before),
            "after": list(self.after),
            "spawns": self.spawns,
            "despawns": self.despawns,
            **({"changed": list(self.changed), "added": list(self.added), "removed": list(self.removed)}
               if self.watches else {}),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SystemSpec:
        """Rebuild a spec (without its function) from :meth:`to_dict` output."""
        return _make_spec(
            None,
            name=d.get("name"),
            stage=d.get("stage", "update"),
            reads=d.get("reads"),
            writes=d.get("writes"),
            resources=d.get("resources"),
            events=d.get("events"),
            before=d.get("before"),
            after=d.get("after"),
            spawns=bool(d.get("spawns", False)),
            despawns=bool(d.get("despawns", False)),
            changed=d.get("changed"),
            added=d.get("added"),
            removed=d.get("removed"),
        )


def required_capabilities(spec: SystemSpec) -> set[str]:
    """Capabilities a system needs because of what it declares."""
    caps = set()
    if spec.spawns:
        caps.add("spawn")
    if spec.despawns:
        caps.add("despawn")
    if spec.events:
        caps.add("events")
    if spec.resources:
        caps.add("resources")
    return caps


def _make_spec(fn: SystemFn | None, *, name: Any = None, stage: Any = "update", reads: Any = None,
               writes: Any = None, resources: Any = None, events: Any = None, before: Any = None,
               after: Any = None, spawns: bool = False, despawns: bool = False, changed: Any = None,
               added: Any = None, removed: Any = None) -> SystemSpec:
    if name is None and fn is not None:
        name = getattr(fn, "__name__", None)
    if not isinstance(name, str) or not name.isidentifier():
        raise DeclarationError(f"system name {name!r} must be an identifier")
    where = f"system {name!r}"
    if stage not in STAGES:
        raise DeclarationError(f"{where}: stage {stage!r} is unknown; use one of {', '.join(STAGES)}")
    if fn is not None and not callable(fn):
        raise DeclarationError(f"{where}: {fn!r} is not callable")
    return SystemSpec(
        name=name,
        fn=fn,
        stage=stage,
        reads=_names(reads, "reads", where),
        writes=_names(writes, "writes", where),
        resources=_names(resources, "resources", where),
        events=_names(events, "events", where),
        before=_names(before, "before", where),
        after=_names(after, "after", where),
        spawns=bool(spawns),
        despawns=bool(despawns),
        changed=_names(changed, "changed", where),
        added=_names(added, "added", where),
        removed=_names(removed, "removed", where),
    )


def component(name: str, dtype: Any, shape: Any = ()) -> Component:
    """Declare a component type (``component("Position", "float32", (2,))``)."""
    return Component(name, dtype, shape)


def system(
    fn: SystemFn | None = None,
    *,
    name: str | None = None,
    stage: str = "update",
    reads: Iterable[str] | None = None,
    writes: Iterable[str] | None = None,
    resources: Iterable[str] | None = None,
    events: Iterable[str] | None = None,
    before: Iterable[str] | None = None,
    after: Iterable[str] | None = None,
    spawns: bool = False,
    despawns: bool = False,
    changed: Iterable[str] | None = None,
    added: Iterable[str] | None = None,
    removed: Iterable[str] | None = None,
) -> Any:
    """Declare a system; use as ``@system`` or ``@system(stage=..., reads=[...], ...)``.

    ``changed``/``added``: components whose change ticks it filters on
    (``ctx.query(..., changed=[...])``); ``removed``: components whose removals
    it reads (``ctx.removed(name)``).
    """

    def mark(f: F) -> F:
        spec = _make_spec(f, name=name, stage=stage, reads=reads, writes=writes, resources=resources,
                          events=events, before=before, after=after, spawns=spawns, despawns=despawns,
                          changed=changed, added=added, removed=removed)
        setattr(f, _MARK, spec)
        return f

    return mark(fn) if fn is not None else mark


class Plugin:
    """The registry one plugin module fills: its components and systems, in declaration order."""

    def __init__(self, name: str = "") -> None:
        self.name = name
        self.components: dict[str, Component] = {}
        self.systems: dict[str, SystemSpec] = {}
        self.relations: dict[str, dict[str, Any]] = {}  # relationship kinds (gpi.ecs.relations)

    def component(self, name: str, dtype: Any, shape: Any = ()) -> Component:
        """Declare a component; declaring the same schema twice is harmless."""
        c = Component(name, dtype, shape)
        self.add_component(c)
        return c

    def relation(self, name: str, *, exclusive: bool = True, on_delete: str = "remove",
                 max_targets: int = 1) -> Component:
        """Declare a relationship kind (see :mod:`gpi.ecs.relations`); returns its component.

        ``exclusive``: one target per entity (``ChildOf``), else up to
        ``max_targets``; ``on_delete``: ``"remove"`` the relation or ``"despawn"``
        the entity when its target is despawned.
        """
        from gpi.ecs.relations import Relation

        try:
            rel = Relation(name, exclusive, on_delete, max_targets)
        except ValueError as exc:
            raise DeclarationError(str(exc)) from None
        old = self.relations.get(name)
        if old is not None and old != rel.to_dict():
            raise DeclarationError(f"relation {name!r} declared twice with different settings")
        c = rel.component()
        self.add_component(c)
        self.relations[name] = rel.to_dict()
        return c

    def add_component(self, c: Component) -> None:
        """Register an existing :class:`Component`."""
        old = self.components.get(c.name)
        if old is not None and old != c:
            raise DeclarationError(f"component {c.name!r} declared twice with different schemas: {old} and {c}")
        self.components[c.name] = c

    def system(self, fn: SystemFn | None = None, **kw: Any) -> Any:
        """Declare a system (same arguments as :func:`system`)."""

        def mark(f: F) -> F:
            system(**kw)(f)
            self.add_system(getattr(f, _MARK))
            return f

        return mark(fn) if fn is not None else mark

    def add_system(self, spec: SystemSpec) -> None:
        """Register a :class:`SystemSpec` (it must carry its function)."""
        if spec.name in self.systems:
            raise DeclarationError(f"system {spec.name!r} declared twice in plugin {self.name or '?'!r}")
        self.systems[spec.name] = spec

    def __repr__(self) -> str:
        return f"<Plugin {self.name!r} components={list(self.components)} systems={list(self.systems)}>"


def describe_components(p: Plugin) -> list[dict[str, Any]]:
    """The plugin's component dicts for the handshake; relations carry ``"relation"`` too."""
    out = []
    for c in p.components.values():
        d = c.to_dict()
        if c.name in p.relations:
            d["relation"] = dict(p.relations[c.name])
        out.append(d)
    return out


def collect(module: types.ModuleType, name: str = "") -> Plugin:
    """The :class:`Plugin` a module declares: its ``plugin`` object, or what its globals hold."""
    found = [v for v in vars(module).values() if isinstance(v, Plugin)]
    if len(found) > 1:
        raise DeclarationError(f"module {module.__name__!r} holds {len(found)} Plugin objects; keep one")
    if found:
        p = found[0]
    else:
        p = Plugin(name)
        for v in list(vars(module).values()):
            if isinstance(v, Component):
                p.add_component(v)
            elif callable(v) and isinstance(getattr(v, _MARK, None), SystemSpec):
                p.add_system(getattr(v, _MARK))
    if name:
        p.name = name
    return p
