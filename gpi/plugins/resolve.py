"""Plugin dependency resolution: which plugins load, and in what order.

Each manifest's ``[dependencies]`` maps a plugin name to a PEP 440 specifier.
:func:`resolve` runs before any child starts. It takes the plugins asked for
and the plugins installed (usually from discovery), pulls in what is needed,
checks every specifier against the installed version, and returns a load
order in which every dependency comes before its dependents. Ties are broken
by name, so the order is the same on every machine.

Errors name the chain that leads to the problem:

- missing: ``game -> physics: 'physics' is not installed``
- incompatible: ``game -> physics: physics requires math>=2, found math 1.0``
- cyclic: ``a -> b -> c -> a``

Pre-releases satisfy a specifier (``2.0rc1`` matches ``>=1``): plugin
authors ship what they ship, and the host should not second-guess it.

:func:`dependency_order_edges` turns the same information into
``(dependency, dependent)`` pairs for the scheduler, which orders a
dependency's systems before its dependents' by default.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from gpi.plugins.errors import DependencyError
from gpi.plugins.manifest import Manifest

__all__ = ["Problem", "dependency_order_edges", "find_problems", "resolve"]


@dataclass(frozen=True)
class Problem:
    """One unsatisfied dependency: ``kind`` is missing, version or cycle."""

    kind: str
    chain: tuple[str, ...]
    message: str


def _index(plugins: Iterable[Manifest] | Mapping[str, Manifest], what: str) -> dict[str, Manifest]:
    items = plugins.values() if isinstance(plugins, Mapping) else plugins
    out: dict[str, Manifest] = {}
    for m in items:
        if m.name in out and out[m.name].path != m.path:
            raise DependencyError(
                f"two {what} plugins are named {m.name!r}: {out[m.name].path} and {m.path}; "
                f"remove one or rename it",
                chain=[m.name],
            )
        out[m.name] = m
    return out


def find_problems(
    requested: Iterable[Manifest] | Mapping[str, Manifest],
    available: Iterable[Manifest] | Mapping[str, Manifest] | None = None,
) -> tuple[list[Manifest], list[Problem]]:
    """The plugins to load (requested + needed, unordered by name) and every problem found."""
    wanted = _index(requested, "requested")
    pool = dict(wanted)
    if available is not None:
        for name, m in _index(available, "installed").items():
            pool.setdefault(name, m)

    problems: list[Problem] = []
    selected: dict[str, Manifest] = {}
    seen_problem: set[tuple[str, ...]] = set()

    def add(kind: str, chain: tuple[str, ...], message: str) -> None:
        key = (kind, *chain)
        if key not in seen_problem:
            seen_problem.add(key)
            problems.append(Problem(kind, chain, message))

    # breadth-first from the requested plugins, in name order: shortest chains in messages
    queue: list[tuple[str, ...]] = [(name,) for name in sorted(wanted)]
    while queue:
        chain = queue.pop(0)
        m = pool[chain[-1]]
        if m.name in selected:
            continue
        selected[m.name] = m
        for dep in sorted(m.dependencies):
            spec = m.dependencies[dep]
            path = " -> ".join((*chain, dep))
            if dep not in pool:
                add("missing", (*chain, dep), f"{path}: {dep!r} is not installed")
                continue
            found = pool[dep]
            if not spec.contains(found.parsed_version, prereleases=True):
                prefix = " -> ".join(chain) + ": " if len(chain) > 1 else ""
                add(
                    "version",
                    (*chain, dep),
                    f"{prefix}{m.name} requires {dep}{spec}, found {dep} {found.version} "
                    f"(at {found.path})",
                )
            queue.append((*chain, dep))

    for cycle in _cycles(selected):
        add("cycle", cycle, "dependency cycle: " + " -> ".join(cycle))
    return [selected[n] for n in sorted(selected)], problems


def _cycles(plugins: Mapping[str, Manifest]) -> list[tuple[str, ...]]:
    """Every elementary cycle found by a name-ordered DFS (each reported once)."""
    state: dict[str, int] = {}  # 1 = on stack, 2 = done
    stack: list[str] = []
    found: list[tuple[str, ...]] = []
    reported: set[frozenset[str]] = set()

    def visit(name: str) -> None:
        state[name] = 1
        stack.append(name)
        for dep in sorted(plugins[name].dependencies):
            if dep not in plugins:
                continue
            if state.get(dep) == 1:
                cyc = (*stack[stack.index(dep) :], dep)
                key = frozenset(cyc)
                if key not in reported:
                    reported.add(key)
                    found.append(cyc)
            elif dep not in state:
                visit(dep)
        stack.pop()
        state[name] = 2

    for name in sorted(plugins):
        if name not in state:
            visit(name)
    return found


def resolve(
    requested: Iterable[Manifest] | Mapping[str, Manifest],
    available: Iterable[Manifest] | Mapping[str, Manifest] | None = None,
) -> list[Manifest]:
    """Load order for ``requested`` plus what they need from ``available``; dependencies first.

    Raises :class:`DependencyError` naming the chain of the first problem (and
    listing the others) when a dependency is missing, incompatible or cyclic.
    """
    selected, problems = find_problems(requested, available)
    if problems:
        first = problems[0]
        msg = first.message
        if len(problems) > 1:
            msg += "; also: " + "; ".join(p.message for p in problems[1:])
        raise DependencyError(msg, chain=first.chain)
    by_name = {m.name: m for m in selected}
    indegree = {n: 0 for n in by_name}
    dependents: dict[str, list[str]] = {n: [] for n in by_name}
    for m in selected:
        for dep in m.dependencies:
            indegree[m.name] += 1
            dependents[dep].append(m.name)
    ready = [n for n, d in indegree.items() if d == 0]
    heapq.heapify(ready)
    order: list[Manifest] = []
    while ready:
        n = heapq.heappop(ready)
        order.append(by_name[n])
        for child in dependents[n]:
            indegree[child] -= 1
            if indegree[child] == 0:
                heapq.heappush(ready, child)
    assert len(order) == len(by_name), "cycles are reported above"
    return order


def dependency_order_edges(
    plugins: Iterable[Manifest] | Mapping[str, Manifest], *, transitive: bool = True
) -> list[tuple[str, str]]:
    """Sorted ``(dependency, dependent)`` pairs among ``plugins`` for the scheduler.

    Only pairs where both plugins are present are returned. With ``transitive``
    (the default) indirect dependencies are included too, so the order holds
    even when a plugin in the middle has no system in some stage.
    """
    by_name = _index(plugins, "loaded")
    direct = {n: {d for d in m.dependencies if d in by_name} for n, m in by_name.items()}
    edges: set[tuple[str, str]] = set()
    for name in by_name:
        if not transitive:
            edges.update((d, name) for d in direct[name])
            continue
        seen: set[str] = set()
        todo = list(direct[name])
        while todo:
            d = todo.pop()
            if d in seen or d == name:
                continue
            seen.add(d)
            todo.extend(direct[d])
        edges.update((d, name) for d in seen)
    return sorted(edges)
