"""Discovery across search paths and entry points, with duplicates and broken plugins."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from gpi.plugins.discovery import (
    DiscoveryWarning,
    default_search_paths,
    discover,
    find_plugins,
    user_plugin_dir,
)
from gpi.plugins.errors import DiscoveryError
from gpi.plugins.signing import Keyring, generate_keypair, sign


def plugin(parent: Path, name: str, version: str = "1.0", folder: str | None = None) -> Path:
    d = parent / (folder or name)
    d.mkdir(parents=True, exist_ok=True)
    (d / "plugin.toml").write_text(
        f'[plugin]\nname = "{name}"\nversion = "{version}"\nabi = 1\nentry = "main"\n'
    )
    (d / "main.py").write_text("")
    return d


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("GPI_PLUGIN_PATH", raising=False)
    monkeypatch.setenv("GPI_KEYRING", str(tmp_path / "no-keyring"))


def test_default_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert user_plugin_dir() == tmp_path / "xdg" / "gpi" / "plugins"
    monkeypatch.setenv("GPI_PLUGIN_PATH", f"/a{__import__('os').pathsep}/b")
    assert default_search_paths(tmp_path) == [
        ("env", Path("/a")),
        ("env", Path("/b")),
        ("project", tmp_path / "plugins"),
        ("user", tmp_path / "xdg" / "gpi" / "plugins"),
    ]


def test_paths_project_user_order_and_duplicates(tmp_path: Path) -> None:
    explicit = tmp_path / "explicit"
    plugin(explicit, "boids", "3.0")
    project = tmp_path / "proj"
    plugin(project / "plugins", "boids", "2.0")
    plugin(project / "plugins", "movement")
    plugin(user_plugin_dir(), "spawner")
    plugin(user_plugin_dir(), "movement", "9.0")
    single = plugin(tmp_path / "lone", "lone")  # a path that is itself a plugin folder

    report = find_plugins([explicit, single], project_dir=project, entry_points=False)
    got = {p.name: (p.source, p.manifest.version) for p in report.plugins}
    assert got == {
        "boids": ("path", "3.0"),
        "lone": ("path", "1.0"),
        "movement": ("project", "1.0"),
        "spawner": ("user", "1.0"),
    }
    dups = [p for p in report.problems if p.kind == "duplicate"]
    assert len(dups) == 2
    assert "'boids'" in dups[0].message and "shadowed" in dups[0].message
    assert all(p.signature_state == "unsigned" for p in report.plugins)
    with pytest.warns(DiscoveryWarning, match="shadowed"):
        assert len(discover([explicit], project_dir=project, entry_points=False)) == 3


def test_broken_plugins_are_problems_not_crashes(tmp_path: Path) -> None:
    root = tmp_path / "ps"
    plugin(root, "good")
    bad = plugin(root, "bad")
    (bad / "plugin.toml").write_text('[plugin]\nname = "bad"\nversion = "banana"\n')
    report = find_plugins([root, tmp_path / "missing"], include_defaults=False, entry_points=False)
    assert [p.name for p in report.plugins] == ["good"]
    kinds = sorted(p.kind for p in report.problems)
    assert kinds == ["manifest", "path"]
    assert any("[plugin].version" in p.message for p in report.problems)
    with pytest.raises(DiscoveryError):
        discover([root], include_defaults=False, entry_points=False, strict=True)


def test_signature_state_reported(tmp_path: Path) -> None:
    root = tmp_path / "ps"
    d = plugin(root, "signed")
    priv, pub = generate_keypair(tmp_path / "k", "me")
    sign(d, priv)
    ring = Keyring()
    ring.add(pub)
    [found] = find_plugins([root], include_defaults=False, entry_points=False, keyring=ring).plugins
    assert found.signature_state == "valid"
    (d / "main.py").write_text("changed")
    [found] = find_plugins([root], include_defaults=False, entry_points=False, keyring=ring).plugins
    assert found.signature_state == "tampered"


def install_dist(site: Path, dist: str, entry_points: dict[str, str]) -> None:
    info = site / f"{dist}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    lines = ["[gpi.plugins]"] + [f"{k} = {v}" for k, v in entry_points.items()]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")


def test_entry_points(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site"
    # a package whose folder is the plugin
    pkg = plugin(site, "pkgplug", folder="gpi_pkgplug")
    (pkg / "__init__.py").write_text("raise RuntimeError('discovery must not import me')\n")
    # a plugin folder nested in a package, named by a callable
    holder = site / "gpi_holder"
    holder.mkdir()
    plugin(holder, "nested", folder="data")
    (holder / "__init__.py").write_text(
        "from pathlib import Path\ndef plugin_dir():\n    return Path(__file__).parent / 'data'\n"
    )
    # a broken entry point
    install_dist(
        site,
        "gpi_plugins_demo",
        {"pkgplug": "gpi_pkgplug", "nested": "gpi_holder:plugin_dir", "broken": "no_such_mod"},
    )
    monkeypatch.syspath_prepend(str(site))
    report = find_plugins(include_defaults=False, entry_point_path=[str(site)], keyring=Keyring())
    got = {p.name: p for p in report.plugins}
    assert set(got) == {"pkgplug", "nested"}
    assert got["pkgplug"].source == "entry_point" and got["pkgplug"].path == pkg
    assert "gpi_plugins_demo 1.0" in got["nested"].origin
    assert got["nested"].path == holder / "data"
    assert [p.kind for p in report.problems] == ["entry_point"]
    assert "no_such_mod" in report.problems[0].message
    assert "gpi_pkgplug" not in sys.modules
    # the default scan over sys.path finds them too
    names = {p.name for p in find_plugins(include_defaults=False, keyring=Keyring()).plugins}
    assert {"pkgplug", "nested"} <= names
    # a path plugin of the same name wins over the entry point
    plugin(tmp_path / "local", "nested", "5.0")
    report = find_plugins(
        [tmp_path / "local"], include_defaults=False, entry_point_path=[str(site)]
    )
    assert report.by_name()["nested"].manifest.version == "5.0"
    assert any(p.kind == "duplicate" for p in report.problems)
