"""WAT test modules (no compiler needed), written into plugin folders on demand."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]

_MANIFEST = """[plugin]
name = "{name}"
version = "1.0.0"
abi = 1
kind = "wasm"
library = "{name}.wat"
{extra}
"""


def _bytes(data: bytes) -> str:
    return "".join(f"\\{b:02x}" for b in data)


def _u32(*vals: int) -> str:
    return _bytes(struct.pack(f"<{len(vals)}I", *vals))


# Layout: 16 gpi_plugin; 64 shape [2]; 128 "Position"; 144 "Velocity"; 160 system name;
# 192 reads list; 200 writes list; 256 gpi_system_desc; 512 query comps; 520 nchunks; 524 buffer.
_BODY = {
    # Position += Velocity * dt (float32), one column write per chunk.
    "move": """
    (local.set $q (call $query (local.get $ctx) (i32.const 512) (i32.const 2) (i32.const 0) (i32.const 0)
                               (i32.const 520)))
    (if (i32.eqz (local.get $q)) (then (return (i32.const 1))))
    (local.set $nch (i32.load (i32.const 520)))
    (local.set $dt (f32.demote_f64 (call $dt (local.get $ctx))))
    (block $done (loop $chunks
      (br_if $done (i32.ge_u (local.get $c) (local.get $nch)))
      (local.set $n (i32.mul (i32.wrap_i64 (call $chunk_rows (local.get $ctx) (local.get $q) (local.get $c)))
                             (i32.const 2)))
      (local.set $pos (call $chunk_column (local.get $ctx) (local.get $q) (local.get $c) (i32.const 0)))
      (local.set $vel (call $chunk_column (local.get $ctx) (local.get $q) (local.get $c) (i32.const 1)))
      (local.set $out (call $output (local.get $ctx) (i32.load (i32.const 512))
                                    (i64.extend_i32_u (i32.shr_u (local.get $n) (i32.const 1))) (i32.const 524)))
      (local.set $i (i32.const 0))
      (block $d2 (loop $rows
        (br_if $d2 (i32.ge_u (local.get $i) (local.get $n)))
        (f32.store (i32.add (local.get $out) (i32.shl (local.get $i) (i32.const 2)))
          (f32.add (f32.load (i32.add (local.get $pos) (i32.shl (local.get $i) (i32.const 2))))
                   (f32.mul (f32.load (i32.add (local.get $vel) (i32.shl (local.get $i) (i32.const 2))))
                            (local.get $dt))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $rows)))
      (if (i32.ne (call $set_column (local.get $ctx) (local.get $q) (local.get $c) (i32.const {slot})
                                    (i32.load (i32.const 524))) (i32.const 0))
        (then (return (i32.const 1))))
      (local.set $c (i32.add (local.get $c) (i32.const 1)))
      (br $chunks)))
    (i32.const 0)""",
    "noop": "(i32.const 0)",
    # Spin forever: only fuel stops it.
    "loop": "(loop $forever (local.set $i (i32.add (local.get $i) (i32.const 1))) (br $forever)) (i32.const 0)",
    # Ask for 64 MiB more (over the cap: memory.grow returns -1) and store at the top of it anyway.
    "grow": """(drop (memory.grow (i32.const 1024)))
    (i32.store (i32.const 0x4000000) (i32.const 1)) (i32.const 0)""",
}


def wat(kind: str, *, reads: str = "Velocity", writes: str = "Position", slot: int = 0,
        extra_import: str = "") -> str:
    """A module declaring Position/Velocity float32[2] and one system ``run`` with body ``kind``."""
    str_at = {"Position": 128, "Velocity": 144}
    desc = _u32(48, 0, 160, 0, 192, 200, 0, 0, 0, 0, 1, 0)
    body = _BODY[kind].replace("{slot}", str(slot))
    return f"""(module
  (import "gpi" "component" (func $component (param i32 i32 i32 i32 i32) (result i32)))
  (import "gpi" "system" (func $system (param i32 i32) (result i32)))
  (import "gpi" "query" (func $query (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "gpi" "dt" (func $dt (param i32) (result f64)))
  (import "gpi" "chunk_rows" (func $chunk_rows (param i32 i32 i32) (result i64)))
  (import "gpi" "chunk_column" (func $chunk_column (param i32 i32 i32 i32) (result i32)))
  (import "gpi" "output" (func $output (param i32 i32 i64 i32) (result i32)))
  (import "gpi" "set_column" (func $set_column (param i32 i32 i32 i32 i32) (result i32)))
  {extra_import}
  (memory (export "memory") 1)
  (table (export "__indirect_function_table") 2 funcref)
  (elem (i32.const 0) $init $run)
  (data (i32.const 16) "{_u32(12)}{_bytes(struct.pack('<HHI', 1, 1, 0))}")
  (data (i32.const 64) "{_u32(2)}")
  (data (i32.const 128) "Position\\00")
  (data (i32.const 144) "Velocity\\00")
  (data (i32.const 160) "run\\00")
  (data (i32.const 192) "{_u32(str_at[reads], 0)}")
  (data (i32.const 200) "{_u32(str_at[writes], 0)}")
  (data (i32.const 256) "{desc}")
  (func (export "gpi_plugin_entry") (result i32) (i32.const 16))
  (func $init (param $host i32) (param $decl i32) (result i32)
    (i32.store (i32.const 512) (call $component (local.get $decl) (i32.const 128) (i32.const 1) (i32.const 1)
                                               (i32.const 64)))
    (i32.store (i32.const 516) (call $component (local.get $decl) (i32.const 144) (i32.const 1) (i32.const 1)
                                               (i32.const 64)))
    (call $system (local.get $decl) (i32.const 256)))
  (func $run (param $ctx i32) (param $user i32) (result i32)
    (local $q i32) (local $c i32) (local $n i32) (local $i i32) (local $pos i32) (local $vel i32)
    (local $out i32) (local $nch i32) (local $dt f32)
    {body})
)
"""


def make_plugin(root: Path, name: str, text: str, *, sandbox: str = "", caps: str = "") -> Path:
    """Plugin folder ``root/name`` holding ``text`` as ``name.wat`` and its manifest."""
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    extra = (f"capabilities = [{caps}]\n" if caps else "") + (f"\n[sandbox]\n{sandbox}\n" if sandbox else "")
    (folder / "plugin.toml").write_text(_MANIFEST.format(name=name, extra=extra))
    (folder / f"{name}.wat").write_text(text)
    return folder


@pytest.fixture
def plugins(tmp_path: Path) -> Path:
    """A fresh folder for test plugin folders."""
    return tmp_path


class Kit:
    """The helpers above, handed to tests as a fixture (test modules here are not a package)."""

    wat = staticmethod(wat)
    make_plugin = staticmethod(make_plugin)
    root = ROOT


@pytest.fixture
def kit() -> Kit:
    """:func:`wat` and :func:`make_plugin`."""
    return Kit()
