"""ctypes mirror of ``gpi/sdk/include/gpi_plugin.h`` (ABI 1.1): structs and function types.

The layouts here must match the header field for field; the tests compile
plugins against the header and load them through these definitions. Only
append: a field added to the header at minor N is added here at the end of
the same struct (see docs/abi.md).
"""

from __future__ import annotations

import ctypes
import hashlib
import struct
from ctypes import (
    CFUNCTYPE,
    POINTER,
    Structure,
    c_char_p,
    c_double,
    c_float,
    c_int,
    c_int32,
    c_int64,
    c_uint16,
    c_uint32,
    c_uint64,
    c_void_p,
)

__all__ = [
    "ABI_MAJOR",
    "ABI_MINOR",
    "DrawApi",
    "ENTRY_SYMBOL",
    "EntryFn",
    "FEATURE_DRAW",
    "FEATURE_INPUT",
    "HOST_FIELDS",
    "HostTable",
    "InputApi",
    "PluginInfo",
    "SCALARS",
    "SystemDesc",
    "SystemFn",
    "rng_seed",
]

#: The ABI this host implements (the header's GPI_ABI_MAJOR / GPI_ABI_MINOR).
ABI_MAJOR, ABI_MINOR = 1, 1

#: The one symbol a native plugin exports.
ENTRY_SYMBOL = "gpi_plugin_entry"

FEATURE_DRAW = "gpi.draw.v1"
FEATURE_INPUT = "gpi.input.v1"

#: gpi_scalar values -> numpy dtype names.
SCALARS: dict[int, str] = {1: "float32", 2: "float64", 3: "int8", 4: "int16", 5: "int32", 6: "int64",
                           7: "uint8", 8: "uint16", 9: "uint32", 10: "uint64", 11: "bool"}

GPI_OK, GPI_E_INVALID, GPI_E_DENIED, GPI_E_NOSPACE, GPI_E_STATE = 0, -1, -2, -3, -4
GPI_SPAWNS, GPI_DESPAWNS = 1, 2

P_u32 = POINTER(c_uint32)
P_u64 = POINTER(c_uint64)

SystemFn = CFUNCTYPE(c_int, c_void_p, c_void_p)


class SystemDesc(Structure):
    """``gpi_system_desc``."""

    _fields_ = [
        ("struct_size", c_uint32),
        ("flags", c_uint32),
        ("name", c_char_p),
        ("stage", c_char_p),
        ("reads", POINTER(c_char_p)),
        ("writes", POINTER(c_char_p)),
        ("resources", POINTER(c_char_p)),
        ("events", POINTER(c_char_p)),
        ("before", POINTER(c_char_p)),
        ("after", POINTER(c_char_p)),
        ("fn", c_void_p),
        ("user", c_void_p),
    ]


#: gpi_host's function fields in header order, with their minor: (name, ctypes type, since).
HOST_FIELDS: list[tuple[str, object, int]] = [
    ("get_feature", CFUNCTYPE(c_void_p, c_void_p, c_char_p), 0),
    ("last_error", CFUNCTYPE(c_void_p, c_void_p), 0),
    ("component", CFUNCTYPE(c_uint32, c_void_p, c_char_p, c_int, c_uint32, P_u32), 0),
    ("component_ref", CFUNCTYPE(c_uint32, c_void_p, c_char_p), 0),
    ("system", CFUNCTYPE(c_int, c_void_p, POINTER(SystemDesc)), 0),
    ("tick", CFUNCTYPE(c_uint64, c_void_p), 0),
    ("dt", CFUNCTYPE(c_double, c_void_p), 0),
    ("rng_seed", CFUNCTYPE(c_uint64, c_void_p), 0),
    ("query", CFUNCTYPE(c_uint32, c_void_p, P_u32, c_uint32, P_u32, c_uint32, P_u32), 0),
    ("chunk_rows", CFUNCTYPE(c_uint64, c_void_p, c_uint32, c_uint32), 0),
    ("chunk_column", CFUNCTYPE(c_void_p, c_void_p, c_uint32, c_uint32, c_uint32), 0),
    ("chunk_entities", CFUNCTYPE(c_void_p, c_void_p, c_uint32, c_uint32), 0),
    ("output", CFUNCTYPE(c_void_p, c_void_p, c_uint32, c_uint64, P_u32), 0),
    ("set_column", CFUNCTYPE(c_int, c_void_p, c_uint32, c_uint32, c_uint32, c_uint32), 0),
    ("spawn", CFUNCTYPE(c_int, c_void_p, c_uint64, c_uint32, P_u32, P_u32), 0),
    ("despawn", CFUNCTYPE(c_int, c_void_p, c_uint64, P_u64), 0),
    ("resource_json", CFUNCTYPE(c_int64, c_void_p, c_char_p, c_void_p, c_uint64), 0),
    ("set_resource_json", CFUNCTYPE(c_int, c_void_p, c_char_p, c_char_p), 0),
    ("events_json", CFUNCTYPE(c_int64, c_void_p, c_char_p, c_void_p, c_uint64), 0),
    ("send_event_json", CFUNCTYPE(c_int, c_void_p, c_char_p, c_char_p), 0),
    ("log", CFUNCTYPE(None, c_void_p, c_int, c_char_p), 0),
    ("entity_count", CFUNCTYPE(c_uint64, c_void_p), 1),
    ("is_alive", CFUNCTYPE(c_int, c_void_p, c_uint64), 1),
]


class HostTable(Structure):
    """``gpi_host``: size prefix, the host's version, then the functions in header order."""

    _fields_ = [("struct_size", c_uint32), ("abi_major", c_uint16), ("abi_minor", c_uint16)] + [
        (name, typ) for name, typ, _ in HOST_FIELDS  # type: ignore[misc]
    ]


_P_f32 = POINTER(c_float)
_P_u8 = POINTER(ctypes.c_uint8)


class DrawApi(Structure):
    """``gpi_draw_api`` (feature ``gpi.draw.v1``)."""

    _fields_ = [
        ("struct_size", c_uint32),
        ("quads", CFUNCTYPE(c_int64, c_void_p, c_uint64, c_void_p, c_void_p, c_uint64, c_void_p, c_uint64,
                            c_int32, c_void_p)),
        ("circles", CFUNCTYPE(c_int64, c_void_p, c_uint64, c_void_p, c_void_p, c_uint64, c_void_p, c_uint64,
                              c_int32, c_void_p)),
        ("lines", CFUNCTYPE(c_int64, c_void_p, c_uint64, c_void_p, c_void_p, c_void_p, c_uint64, c_void_p,
                            c_uint64, c_int32, c_void_p)),
        ("text", CFUNCTYPE(c_int, c_void_p, c_float, c_float, c_char_p, c_void_p, c_float, c_int32)),
    ]


class InputApi(Structure):
    """``gpi_input_api`` (feature ``gpi.input.v1``)."""

    _fields_ = [("struct_size", c_uint32), ("state_json", CFUNCTYPE(c_int64, c_void_p, c_void_p, c_uint64))]


class PluginInfo(Structure):
    """``gpi_plugin``: what the entry symbol returns."""

    _fields_ = [("struct_size", c_uint32), ("abi_major", c_uint16), ("abi_minor", c_uint16),
                ("init", CFUNCTYPE(c_int, c_void_p, c_void_p))]


EntryFn = CFUNCTYPE(POINTER(PluginInfo))


_MASK = (1 << 64) - 1


def rng_seed(seed: int, tick: int, plugin_hash: int, system_hash: int) -> int:
    """``gpi_host.rng_seed``: the 64-bit seed of a system call, the same in every process and loader.

    BLAKE2b (8-byte digest, read little-endian) of the little-endian uint64s
    ``(world seed, tick, stable_hash(plugin), stable_hash(system))``, where
    ``stable_hash`` is :func:`gpi.plugins.rng.stable_hash`. docs/abi.md states
    the same formula, so a wasm loader derives the same seeds.
    """
    key = struct.pack("<QQQQ", seed & _MASK, tick & _MASK, plugin_hash & _MASK, system_hash & _MASK)
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little")
