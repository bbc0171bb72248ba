"""Dependency resolution: diamond, missing, version conflict, cycle, determinism."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.specifiers import SpecifierSet

from gpi.plugins.errors import DependencyError
from gpi.plugins.manifest import Manifest
from gpi.plugins.resolve import dependency_order_edges, find_problems, resolve


def m(name: str, version: str = "1.0", **deps: str) -> Manifest:
    return Manifest(
        name=name,
        version=version,
        abi=1,
        entry="main",
        path=Path("/plugins") / name,
        dependencies={k: SpecifierSet(v) for k, v in deps.items()},
    )


def names(ms: list[Manifest]) -> list[str]:
    return [x.name for x in ms]


def test_no_dependencies_sorted_by_name() -> None:
    assert names(resolve([m("c"), m("a"), m("b")])) == ["a", "b", "c"]


def test_diamond() -> None:
    plugins = [
        m("game", a=">=1", b=">=1"),
        m("a", b="", base=">=1"),
        m("b", base="<2"),
        m("base", "1.5"),
    ]
    order = names(resolve(plugins))
    assert order == ["base", "b", "a", "game"]
    assert dependency_order_edges(plugins) == [
        ("a", "game"),
        ("b", "a"),
        ("b", "game"),
        ("base", "a"),
        ("base", "b"),
        ("base", "game"),
    ]
    assert ("base", "game") not in dependency_order_edges(plugins, transitive=False)


def test_pulls_needed_from_available_only() -> None:
    installed = [m("physics", math=">=1"), m("math", "1.2"), m("unrelated")]
    order = names(resolve([m("game", physics="")], installed))
    assert order == ["math", "physics", "game"]


def test_missing_names_chain() -> None:
    with pytest.raises(DependencyError) as info:
        resolve([m("a", b=">=1")], [m("b", c="")])
    assert str(info.value) == "a -> b -> c: 'c' is not installed"
    assert info.value.chain == ["a", "b", "c"]
    assert isinstance(info.value, ValueError)


def test_version_conflict() -> None:
    with pytest.raises(DependencyError, match=r"^a requires b>=2, found b 1\.0") as info:
        resolve([m("a", b=">=2"), m("b", "1.0")])
    assert info.value.chain == ["a", "b"]
    with pytest.raises(DependencyError, match=r"^game -> a: a requires b<1,>=0\.5, found b 1\.0"):
        resolve([m("game", a="")], [m("a", b=">=0.5,<1"), m("b", "1.0")])


def test_prerelease_satisfies() -> None:
    assert names(resolve([m("a", b=">=1"), m("b", "2.0rc1")])) == ["b", "a"]


def test_cycle() -> None:
    with pytest.raises(DependencyError) as info:
        resolve([m("a", b=""), m("b", c=""), m("c", a=""), m("d")])
    assert str(info.value) == "dependency cycle: a -> b -> c -> a"
    assert info.value.chain == ["a", "b", "c", "a"]
    with pytest.raises(DependencyError, match="^dependency cycle: x -> y -> x$"):
        resolve([m("x", y=""), m("y", x="")])


def test_all_problems_listed() -> None:
    _, problems = find_problems([m("a", b=">=2", zz=""), m("b")])
    assert [p.kind for p in problems] == ["version", "missing"]
    with pytest.raises(DependencyError, match="also: a -> zz: 'zz' is not installed"):
        resolve([m("a", b=">=2", zz=""), m("b")])


def test_duplicate_names_rejected() -> None:
    dup = Manifest(name="a", version="2.0", abi=1, entry="main", path=Path("/elsewhere/a"))
    with pytest.raises(DependencyError, match="two requested plugins are named 'a'"):
        resolve([m("a"), dup])


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_random_dag_order_respects_edges_and_is_deterministic(data: st.DataObject) -> None:
    n = data.draw(st.integers(1, 12))
    labels = [f"p{i:02d}" for i in range(n)]
    plugins = []
    for i, name in enumerate(labels):
        deps = data.draw(st.sets(st.sampled_from(labels[:i]), max_size=3)) if i else set()
        plugins.append(m(name, **{d: ">=1" for d in deps}))
    order = names(resolve(plugins))
    pos = {x: k for k, x in enumerate(order)}
    assert sorted(order) == labels
    for a, b in dependency_order_edges(plugins):
        assert pos[a] < pos[b]
    shuffled = plugins[:]
    random.Random(data.draw(st.integers())).shuffle(shuffled)
    assert names(resolve(shuffled)) == order
