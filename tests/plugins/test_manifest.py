"""plugin.toml parsing and validation: every malformed case names file, field, expectation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gpi
from gpi.errors import GpiError
from gpi.plugins.errors import ManifestError, ManifestNotFoundError, PluginError
from gpi.plugins.manifest import CAPABILITIES, Manifest, load_manifest

GOOD = """\
[plugin]
name = "boids"
version = "1.2.0"
abi = 1
entry = "main"
description = "Flocking"
capabilities = ["draw", "spawn", "draw"]

[dependencies]
physics = ">=1.0,<2"
math = "*"

[sandbox]
memory_mb = 256
cpu_seconds = 30
budget_ms = 2.5
"""


def make(tmp_path: Path, text: str, *, entry: str | None = "main.py") -> Path:
    folder = tmp_path / "boids"
    folder.mkdir(exist_ok=True)
    (folder / "plugin.toml").write_text(text)
    if entry:
        (folder / entry).write_text("")
    return folder


def fails(tmp_path: Path, text: str, *, entry: str | None = "main.py") -> ManifestError:
    folder = make(tmp_path, text, entry=entry)
    with pytest.raises(ManifestError) as info:
        load_manifest(folder)
    err = info.value
    assert str(folder / "plugin.toml") in str(err)
    return err


def replace(old: str, new: str) -> str:
    assert old in GOOD
    return GOOD.replace(old, new)


def test_good_manifest(tmp_path: Path) -> None:
    folder = make(tmp_path, GOOD)
    m = load_manifest(folder)
    assert (m.name, m.version, m.abi, m.entry) == ("boids", "1.2.0", 1, "main")
    assert m.path == folder and m.manifest_path == folder / "plugin.toml"
    assert m.capabilities == ("draw", "spawn")
    assert m.dependencies["physics"].contains("1.5") and not m.dependencies["physics"].contains(
        "2.0"
    )
    assert m.dependencies["math"].contains("0.1")
    assert m.sandbox == {"memory_mb": 256, "cpu_seconds": 30, "budget_ms": 2.5}
    assert m.limits is m.sandbox
    assert m.entry_path() == folder / "main.py"
    d = m.to_dict()
    assert d["dependencies"] == {"physics": "<2,>=1.0", "math": ""}
    assert Manifest.from_dict(d) == m
    assert m.parsed_version > gpi_version("1.1")


def gpi_version(text: str):  # noqa: ANN201
    from packaging.version import Version

    return Version(text)


def test_minimal_manifest_and_package_entry(tmp_path: Path) -> None:
    folder = tmp_path / "p"
    (folder / "pkg" / "sub").mkdir(parents=True)
    (folder / "pkg" / "__init__.py").write_text("")
    (folder / "pkg" / "sub" / "__init__.py").write_text("")
    (folder / "plugin.toml").write_text(
        '[plugin]\nname = "p"\nversion = "0.1"\nabi = 1\nentry = "pkg.sub"\n'
    )
    m = load_manifest(folder)
    assert m.capabilities == () and dict(m.dependencies) == {} and dict(m.sandbox) == {}
    assert m.entry_path() == folder / "pkg" / "sub"


def test_error_hierarchy() -> None:
    assert issubclass(ManifestError, PluginError) and issubclass(ManifestError, GpiError)
    assert issubclass(ManifestError, ValueError)
    assert issubclass(ManifestNotFoundError, FileNotFoundError)


def test_missing_folder_and_file(tmp_path: Path) -> None:
    with pytest.raises(ManifestNotFoundError, match="not a plugin folder"):
        load_manifest(tmp_path / "nope")
    with pytest.raises(ManifestNotFoundError, match=r"plugin\.toml: missing") as info:
        load_manifest(tmp_path)
    assert info.value.path == tmp_path / "plugin.toml"
    with pytest.raises(FileNotFoundError):
        load_manifest(tmp_path)


def test_bad_toml_names_line(tmp_path: Path) -> None:
    err = fails(tmp_path, '[plugin]\nname = "boids"\nversion = 1.2.0\n')
    assert "invalid TOML" in str(err) and "line 3" in str(err)


@pytest.mark.parametrize(
    "text, field, words",
    [
        (replace('name = "boids"\n', ""), "[plugin].name", "missing"),
        (replace('version = "1.2.0"\n', ""), "[plugin].version", "missing"),
        (replace("abi = 1\n", ""), "[plugin].abi", "missing"),
        (replace('entry = "main"\n', ""), "[plugin].entry", "missing"),
        ("[dependencies]\n", "[plugin]", "missing table"),
    ],
)
def test_missing_fields(tmp_path: Path, text: str, field: str, words: str) -> None:
    err = fails(tmp_path, text)
    assert err.field == field
    assert f"{field}: {words}" in str(err)


@pytest.mark.parametrize(
    "old, new, field, words",
    [
        ('name = "boids"', "name = 3", "[plugin].name", "expected a string"),
        ('version = "1.2.0"', "version = 1.2", "[plugin].version", "got float 1.2"),
        ("abi = 1", 'abi = "1"', "[plugin].abi", "expected an integer like 1, got '1'"),
        ("abi = 1", "abi = true", "[plugin].abi", "got boolean True"),
        (
            'capabilities = ["draw", "spawn", "draw"]',
            'capabilities = "draw"',
            "[plugin].capabilities",
            "expected a list",
        ),
        (
            'capabilities = ["draw", "spawn", "draw"]',
            "capabilities = [1]",
            "[plugin].capabilities[0]",
            "expected a string",
        ),
        (
            'description = "Flocking"',
            "description = 5",
            "[plugin].description",
            "expected a string",
        ),
        ("memory_mb = 256", "memory_mb = 2.5", "[sandbox].memory_mb", "positive integer"),
        ("memory_mb = 256", "memory_mb = -1", "[sandbox].memory_mb", "positive integer"),
        ("budget_ms = 2.5", 'budget_ms = "fast"', "[sandbox].budget_ms", "positive number"),
        ("budget_ms = 2.5", "budget_ms = nan", "[sandbox].budget_ms", "positive number"),
        ('physics = ">=1.0,<2"', "physics = 2", "[dependencies].physics", "specifier string"),
    ],
)
def test_wrong_types(tmp_path: Path, old: str, new: str, field: str, words: str) -> None:
    err = fails(tmp_path, replace(old, new))
    assert err.field == field, str(err)
    assert field in str(err) and words in str(err), str(err)


@pytest.mark.parametrize("bad", ["Boids", "1boids", "bo-ids", "bo ids", "", "x" * 65])
def test_bad_name(tmp_path: Path, bad: str) -> None:
    err = fails(tmp_path, replace('name = "boids"', f"name = {bad!r}".replace("'", '"')))
    assert err.field == "[plugin].name"
    assert "lowercase identifier" in str(err) or "plugin name" in str(err)


def test_bad_version_message(tmp_path: Path) -> None:
    err = fails(tmp_path, replace('version = "1.2.0"', 'version = "banana"'))
    assert str(err) == (
        f"{tmp_path / 'boids' / 'plugin.toml'}: [plugin].version: "
        "expected a PEP 440 version like '1.2.0', got 'banana'"
    )


def test_abi_mismatch_names_both(tmp_path: Path) -> None:
    err = fails(tmp_path, replace("abi = 1", "abi = 7"))
    assert err.field == "[plugin].abi"
    assert "abi = 7" in str(err) and f"abi = {gpi.ABI_VERSION}" in str(err)
    # an explicit host ABI is honoured
    folder = tmp_path / "boids"
    assert load_manifest(folder, abi=7).abi == 7


def test_unknown_capability(tmp_path: Path) -> None:
    err = fails(tmp_path, replace('["draw", "spawn", "draw"]', '["draw", "spawnn"]'))
    assert err.field == "[plugin].capabilities[1]"
    assert "'spawnn'" in str(err) and "did you mean 'spawn'" in str(err)
    for cap in CAPABILITIES:
        assert cap in str(err)


@pytest.mark.parametrize("spec", ["=>1.0", "banana", "~=1"])
def test_bad_specifier(tmp_path: Path, spec: str) -> None:
    err = fails(tmp_path, replace('">=1.0,<2"', f'"{spec}"'))
    assert err.field == "[dependencies].physics"
    assert "PEP 440 version specifier" in str(err) and repr(spec) in str(err)


def test_bad_dependency_name_and_self(tmp_path: Path) -> None:
    err = fails(tmp_path, replace("physics =", '"Phys-ics" ='))
    assert "plugin name" in str(err)
    err = fails(tmp_path, replace("physics =", "boids ="))
    assert "cannot depend on itself" in str(err)


def test_entry_missing(tmp_path: Path) -> None:
    err = fails(tmp_path, GOOD, entry=None)
    assert err.field == "[plugin].entry" and "main.py" in str(err)
    err = fails(tmp_path, replace('entry = "main"', 'entry = "main.py"'))
    assert "module name like 'main'" in str(err)
    folder = make(tmp_path, GOOD, entry=None)
    (folder / "main.py").unlink()
    assert load_manifest(folder, check_entry=False).entry == "main"


def test_unknown_keys_suggest(tmp_path: Path) -> None:
    err = fails(tmp_path, replace("description =", "descripton ="))
    assert "unknown key 'descripton'" in str(err) and "did you mean 'description'" in str(err)
    err = fails(tmp_path, GOOD + "\n[dependencys]\n")
    assert "unknown key 'dependencys'" in str(err)
    err = fails(tmp_path, replace("memory_mb =", "memory ="))
    assert err.field == "[sandbox]"


names = st.from_regex(r"[a-z][a-z0-9_]{0,15}", fullmatch=True)
versions = st.builds(
    lambda a, b, c: f"{a}.{b}.{c}", st.integers(0, 99), st.integers(0, 99), st.integers(0, 99)
)


@settings(max_examples=40, deadline=None)
@given(
    name=names,
    version=versions,
    caps=st.lists(st.sampled_from(sorted(CAPABILITIES)), max_size=4),
    deps=st.dictionaries(
        names, st.sampled_from(["", ">=1.0", ">=1,<2", "==0.3.*", "~=1.4"]), max_size=3
    ),
    memory=st.none() | st.integers(1, 4096),
    budget=st.none() | st.floats(0.01, 1000.0),
    # TOML basic strings cannot hold raw control characters (DEL included) or surrogates
    description=st.text(st.characters(exclude_categories=("Cc", "Cs")), max_size=30),
)
def test_valid_manifests_round_trip(
    tmp_path_factory: pytest.TempPathFactory,
    name: str,
    version: str,
    caps: list[str],
    deps: dict[str, str],
    memory: int | None,
    budget: float | None,
    description: str,
) -> None:
    deps.pop(name, None)
    folder = tmp_path_factory.mktemp("m")
    (folder / "main.py").write_text("")
    sandbox = {k: v for k, v in {"memory_mb": memory, "budget_ms": budget}.items() if v is not None}
    lines = [
        "[plugin]",
        f"name = {json.dumps(name)}",
        f"version = {json.dumps(version)}",
        "abi = 1",
        'entry = "main"',
        f"description = {json.dumps(description, ensure_ascii=False)}",
        f"capabilities = {json.dumps(caps)}",
        "[dependencies]",
        *(f"{k} = {json.dumps(v)}" for k, v in deps.items()),
        "[sandbox]",
        *(f"{k} = {v!r}" for k, v in sandbox.items()),
    ]
    (folder / "plugin.toml").write_text("\n".join(lines) + "\n")
    m = load_manifest(folder)
    assert (m.name, m.version, m.description) == (name, version, description)
    assert m.capabilities == tuple(dict.fromkeys(caps))
    assert set(m.dependencies) == set(deps) and dict(m.sandbox) == sandbox
    assert Manifest.from_dict(json.loads(json.dumps(m.to_dict()))) == m


def test_env_names_only_gpi_variables(tmp_path: Path) -> None:
    """``[plugin].env`` lists the host variables the child receives: GPI_* names only, each checked."""
    d = tmp_path / "p"
    d.mkdir()
    (d / "main.py").write_text("")
    base = '[plugin]\nname = "p"\nversion = "1.0"\nabi = 1\nentry = "main"\n'
    (d / "plugin.toml").write_text(base + 'env = ["GPI_P_LEVEL", "GPI_P_LEVEL"]\n')
    assert load_manifest(d).env == ("GPI_P_LEVEL",)
    (d / "plugin.toml").write_text(base + 'env = ["GPI_P_LEVEL", "AWS_SECRET_ACCESS_KEY"]\n')
    with pytest.raises(ManifestError) as err:
        load_manifest(d)
    assert "[plugin].env[1]" in str(err.value) and "AWS_SECRET_ACCESS_KEY" in str(err.value)
